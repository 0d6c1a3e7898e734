# Hardened Amazon Linux 2023 AMI.
#
# Two sources share the settings of the `amazon-ebs.al2023` source block below:
#
#   amazon-ebs.al2023  the real build (CodeBuild, or a laptop with AWS credentials):
#                      latest Amazon-owned AL2023 image, SSH + ansible-local running
#                      ../ansible/playbook.yaml, then a cleanup step removing keys.
#
#   amazon-ebs.local   the same image settings pointed at a local EC2 emulator (moto),
#                      used by the tests and scripts/demo. No communicator, no
#                      provisioners, fake credentials, emulator fixture base image.
#                      Build it with:
#
#     packer build -only=amazon-ebs.local \
#       -var endpoint=http://127.0.0.1:5000 \
#       -var 'ami_regions=["us-west-2"]' \
#       packer/
#
#   or  ami-builder build packer/ --only amazon-ebs.local \
#         --var endpoint=http://127.0.0.1:5000 --var 'ami_regions=["us-west-2"]'
#
#   Variables for the local build: `endpoint` (required: the emulator URL),
#   `ami_regions` (optional, HCL list; default []), `region` (optional, default
#   us-east-1), `manifest_dir` (optional, default "out"). Everything else has a
#   default that suits the emulator. Start moto with
#   MOTO_AMIS_PATH=tests/fixtures/moto/moto-amis.json so that it knows the
#   base image `feas-base-al2-x86_64` owned by 137112412989. Packer prints
#   `--> amazon-ebs.local: AMIs were created:` with one line per region; the
#   manifest names the build "al2023" (the source block's name).
#
# Works with Packer 1.6.6 (Debian) as it is. Current Packer (>= 1.10) needs the
# Amazon plugin: see plugins.pkr.hcl.current in this directory.
#
# Provenance tags (ami-builder:commit, build-id, family, ...) are written by
# `ami-builder build` after Packer finishes, not by this template.

locals {
  # One timestamp and one random suffix per `packer build` run, so that
  # repeated builds (including several in the same second against one
  # emulator) never collide on the AMI name.
  build_time = formatdate("YYYYMMDD'T'hhmmss'Z'", timestamp())
  run_suffix = substr(uuidv4(), 0, 8)
  ami_name   = "${var.ami_name_prefix}-${local.build_time}-${local.run_suffix}"

  # ami-builder:pipeline (when `pipeline` is set) is the tag the pipeline
  # stack's CodeBuild role requires before it tags, modifies or cleans up an
  # image or snapshot. The current Amazon plugin writes run_tags onto the AMI
  # and its snapshot at CreateImage and CopyImage copies them to each regional
  # copy, so those carry it from their creation on; the copies' snapshots get
  # it with ami_tags (cloudformation/pipeline.yaml explains the policy).
  pipeline_tag = var.pipeline == "" ? {} : { "ami-builder:pipeline" = var.pipeline }
  run_tags     = merge(var.run_tags, local.pipeline_tag)

  ami_tags = merge(var.tags, {
    Name      = local.ami_name
    ManagedBy = "ami-builder"
  }, local.pipeline_tag)
}

source "amazon-ebs" "al2023" {
  region        = var.region
  ami_regions   = var.ami_regions
  instance_type = var.instance_type

  ami_name        = local.ami_name
  ami_description = "Amazon Linux 2023, patched and CIS Level 1 hardened by ami-builder"
  ena_support     = true
  sriov_support   = true

  # Networking. CodeBuild inside the VPC: private_ip + security_group_id (a
  # group admitting SSH from CodeBuild's group only). CodeBuild outside: public
  # subnet, public_ip, and a temporary group open to ssh_source_cidrs only.
  security_group_id                     = var.security_group_id
  vpc_id                                = var.vpc_id
  subnet_id                             = var.subnet_id
  associate_public_ip_address           = var.associate_public_ip_address
  ssh_interface                         = var.ssh_interface
  temporary_security_group_source_cidrs = var.ssh_source_cidrs

  ssh_username = "ec2-user"
  ssh_timeout  = "10m"
  # ed25519 rather than the default RSA key pair: Packer 1.6.6's SSH client
  # signs with RSA/SHA-1 (ssh-rsa), which current crypto policies refuse.
  temporary_key_pair_type = "ed25519"

  # IMDSv2: Packer 1.6.6 has no metadata_options/imds_support, so IMDSv2 is
  # enforced on the finished AMIs (ImdsSupport=v2.0: every instance launched
  # from them requires IMDSv2) by require_imdsv2.py, which buildspec.yml runs
  # on the manifest after the build. With the current Amazon plugin the same
  # is said in the source itself:
  #   metadata_options { http_tokens = "required" ... }  and  imds_support = "v2.0"

  # Encrypted root volume: the AMI's snapshot, and the snapshots of its regional
  # copies, are encrypted (aws/ebs key unless kms_key_id is given).
  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = var.root_volume_size
    volume_type           = "gp3"
    iops                  = 3000
    throughput            = 125
    encrypted             = true
    kms_key_id            = var.kms_key_id
    delete_on_termination = true
  }

  tags            = local.ami_tags
  snapshot_tags   = local.ami_tags
  run_tags        = local.run_tags
  run_volume_tags = local.run_tags
}

build {
  # The real build: Amazon's latest Amazon Linux 2023 image.
  source "source.amazon-ebs.al2023" {
    source_ami_filter {
      filters = {
        name                = var.source_ami_name
        architecture        = "x86_64"
        root-device-type    = "ebs"
        virtualization-type = "hvm"
      }
      owners      = ["amazon"]
      most_recent = true
    }
  }

  # The local emulator build: shares every setting above, overrides only what
  # an emulator needs. Selected with -only=amazon-ebs.local.
  source "source.amazon-ebs.al2023" {
    name = "local"

    communicator               = "none"
    custom_endpoint_ec2        = var.endpoint
    access_key                 = var.local_access_key
    secret_key                 = var.local_secret_key
    skip_region_validation     = true
    skip_credential_validation = true
    skip_metadata_api_check    = true

    source_ami_filter {
      filters = {
        name                = var.local_source_ami_name
        root-device-type    = "ebs"
        virtualization-type = "hvm"
      }
      owners      = [var.local_source_ami_owner]
      most_recent = true
    }

    aws_polling {
      delay_seconds = 1
      max_attempts  = 60
    }
  }

  # 0. On the machine running Packer (every source, the emulator's too): the
  #    manifest post-processor does not create its directory.
  provisioner "shell-local" {
    inline = ["mkdir -p '${var.manifest_dir}'"]
  }

  # 1. Ansible for ansible-local, from the distribution's own repository
  #    (no Galaxy, no pip).
  provisioner "shell" {
    except          = ["amazon-ebs.local"]
    execute_command = "chmod +x {{ .Path }}; sudo -n env {{ .Vars }} {{ .Path }}"
    inline = [
      "set -eu",
      "dnf -y -q install ansible-core",
      "ansible-playbook --version",
    ]
  }

  # 2. Patching and hardening: the repository's playbook and its roles.
  provisioner "ansible-local" {
    except                  = ["amazon-ebs.local"]
    playbook_file           = "${path.root}/../ansible/playbook.yaml"
    playbook_dir            = "${path.root}/../ansible"
    clean_staging_directory = true
    extra_arguments = [
      "--extra-vars", "'${jsonencode({ cis_level_1_exclusions = var.cis_level_1_exclusions })}'",
    ]
  }

  # 3. Last step: remove everything temporary. Packer's key pair is deleted
  #    from EC2 by Packer itself; here its public key, the host keys and
  #    cloud-init's state leave the image, so each instance launched from it
  #    gets fresh host keys and only its own key pair.
  provisioner "shell" {
    except          = ["amazon-ebs.local"]
    execute_command = "chmod +x {{ .Path }}; sudo -n env {{ .Vars }} {{ .Path }}"
    inline = [
      "set -eu",
      "dnf -y -q remove ansible-core",
      "dnf -q clean all",
      "rm -rf /tmp/packer-provisioner-ansible-local* /root/.ansible /home/ec2-user/.ansible",
      "rm -f /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub",
      "find /root /home -name authorized_keys -path '*/.ssh/*' -type f -delete",
      "cloud-init clean --logs",
      "rm -f /root/.bash_history /home/ec2-user/.bash_history",
      "sync",
    ]
  }

  post-processor "manifest" {
    output     = "${var.manifest_dir}/packer-manifest.json"
    strip_path = true
    custom_data = {
      ami_name = local.ami_name
      region   = var.region
    }
  }
}
