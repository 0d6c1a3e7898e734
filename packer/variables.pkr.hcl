# Input variables for ami.pkr.hcl. Every value can be given with
# `-var NAME=VALUE` (ami-builder: `--var NAME=VALUE`) or a `-var-file`.
# List and map values use HCL syntax, e.g. -var 'ami_regions=["us-west-2"]'.

variable "region" {
  type        = string
  default     = "us-east-1"
  description = "Region the build instance runs in and the AMI is created in."
}

variable "ami_regions" {
  type        = list(string)
  default     = []
  description = "Extra regions the finished AMI is copied to (the build region is implied)."
}

variable "vpc_id" {
  type        = string
  default     = ""
  description = "VPC for the build instance. Empty: the region's default VPC."
}

variable "subnet_id" {
  type        = string
  default     = ""
  description = "Subnet for the build instance. Empty: Packer picks one in vpc_id."
}

variable "security_group_id" {
  type        = string
  default     = ""
  description = "Existing security group for the build instance. Empty: Packer makes a temporary one open to ssh_source_cidrs."
}

variable "ssh_interface" {
  type        = string
  default     = "private_ip"
  description = "How Packer reaches the build instance: private_ip (CodeBuild in the same VPC), public_ip, ..."
}

variable "ssh_source_cidrs" {
  type        = list(string)
  default     = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
  description = "CIDRs allowed to reach SSH on the temporary security group. Narrow this to your VPC's CIDR."
}

variable "associate_public_ip_address" {
  type        = bool
  default     = false
  description = "Give the build instance a public IP (only needed with ssh_interface = public_ip)."
}

variable "instance_type" {
  type        = string
  default     = "t3.small"
  description = "Build instance type (x86_64; the source AMI filter selects x86_64)."
}

variable "root_volume_size" {
  type        = number
  default     = 10
  description = "Root volume size in GiB (the Amazon Linux 2023 base image needs 8)."
}

variable "kms_key_id" {
  type        = string
  default     = ""
  description = "KMS key for the encrypted root volume. Empty: the account's aws/ebs key."
}

variable "ami_name_prefix" {
  type        = string
  default     = "al2023-hardened"
  description = "AMI names are <prefix>-<UTC timestamp>-<8 hex chars>; unique per run."
}

variable "source_ami_name" {
  type        = string
  default     = "al2023-ami-2023.*-kernel-6.*-x86_64"
  description = "Name filter for the Amazon-owned base image (most recent match wins)."
}

variable "tags" {
  type = map(string)
  default = {
    OS      = "Amazon Linux 2023"
    Project = "ami-builder"
    CIS     = "level-1"
  }
  description = "Tags for the AMI and its snapshots. Provenance tags (ami-builder:commit, family, ...) are added afterwards by `ami-builder build`, not here."
}

variable "run_tags" {
  type = map(string)
  default = {
    Name                 = "ami-builder temporary build instance"
    "ami-builder:packer" = "build-instance"
  }
  description = "Tags on the temporary build instance, its volumes, network interface, key pair and security group (and, with the current Amazon plugin, on the AMI and its snapshot at creation). The CodeBuild role lets Packer launch, stop and terminate instances only with ami-builder:packer = build-instance."
}

variable "pipeline" {
  type        = string
  default     = ""
  description = "Name of the pipeline stack running the build (buildspec.yml passes it). Non-empty: the ami-builder:pipeline tag on everything Packer makes, which that stack's CodeBuild role requires before it tags, modifies or cleans up an image or snapshot."
}

variable "cis_level_1_exclusions" {
  type        = list(string)
  default     = []
  description = "CIS control ids the cis role must skip, e.g. [\"4.2.4\", \"1.1.9\"]."
}

variable "manifest_dir" {
  type        = string
  default     = "out"
  description = "Directory the manifest post-processor writes packer-manifest.json into."
}

# ---------------------------------------------------------------------------
# Only used by the `amazon-ebs.local` source (local emulator such as moto).
# ---------------------------------------------------------------------------

variable "endpoint" {
  type        = string
  default     = ""
  description = "EC2 endpoint URL of the local emulator, e.g. http://127.0.0.1:5000. Only the local source uses it."
}

variable "local_access_key" {
  type        = string
  default     = "testing"
  description = "Fake access key for the local emulator (never a real credential)."
}

variable "local_secret_key" {
  type        = string
  default     = "testing"
  sensitive   = true
  description = "Fake secret key for the local emulator (never a real credential)."
}

variable "local_source_ami_name" {
  type        = string
  default     = "feas-base-*"
  description = "Name filter for the emulator's base image (tests/ fixture: feas-base-al2-x86_64)."
}

variable "local_source_ami_owner" {
  type        = string
  default     = "137112412989"
  description = "Owner of the emulator's base image."
}
