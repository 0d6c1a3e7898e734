//! The arguments of `prune` and `prune undo`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::*;
use crate::ids::Region;

/// `ami-builder prune`.
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES_SEE, args_conflicts_with_subcommands = true)]
pub struct PruneArgs {
    /// `prune undo`.
    #[command(subcommand)]
    pub then: Option<PruneCommand>,
    /// Regions to prune (repeatable or comma-separated; default: --region).
    #[arg(long = "regions", alias = "in-region", env = "AMI_BUILDER_REGIONS", value_delimiter = ',', value_name = "REGION", value_parser = parse_region)]
    pub regions: Vec<Region>,
    /// Only these families (repeatable or comma-separated; default: all).
    #[arg(
        long,
        env = "AMI_BUILDER_FAMILY",
        value_delimiter = ',',
        value_name = "FAMILY"
    )]
    pub family: Vec<String>,
    /// Newest builds of each family that are always kept.
    #[arg(long, env = "AMI_BUILDER_KEEP", default_value_t = 3, value_name = "N")]
    pub keep: usize,
    /// Delete what the plan says (without it, prune only prints the plan).
    #[arg(long)]
    pub apply: bool,
    /// Print the plan and change nothing: what prune does without --apply,
    /// under the name the AWS CLI uses.
    #[arg(long, conflicts_with = "apply")]
    pub dry_run: bool,
    /// Show every column of the plan at full width (KIND, GIB, EXPIRES,
    /// times to the minute); without it the table fits 120 columns.
    #[arg(long)]
    pub wide: bool,
    /// Show only what the plan deletes (the summary still counts all).
    #[arg(long)]
    pub only_deletions: bool,
    /// Write the plan as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub plan_out: Option<PathBuf>,
    /// Apply a saved plan: it must have been made with the same rules, regions
    /// and account as this run (exit 2 otherwise); every item is planned again
    /// now and deleted only when both plans delete it. It is applied in the
    /// present, so --as-of cannot be given with it.
    #[arg(long, value_name = "FILE", conflicts_with = "as_of")]
    pub plan: Option<PathBuf>,
    /// Refuse (exit 9) to apply a saved plan (--plan) made as of longer ago than this: 90m, 12h, 2d.
    #[arg(long, default_value = "24h", value_name = "AGE", value_parser = parse_age)]
    pub max_plan_age: chrono::TimeDelta,
    /// Refuse (exit 9) a plan that deregisters more than N images or deletes more than N orphaned snapshots.
    #[arg(long, env = "AMI_BUILDER_MAX_DELETIONS", value_name = "N")]
    pub max_deletions: Option<usize>,
    /// Also prune snapshots the EBS Snapshot Scheduler created (`auto_delete`).
    #[arg(long)]
    pub scheduler_snapshots: bool,
    /// Also prune images and snapshots shared with other accounts or the public.
    #[arg(long)]
    pub include_shared: bool,
    /// The retirement ladder's first step: deprecate an image this long
    /// after it was made (EnableImageDeprecation), before it is deleted.
    #[arg(
        help_heading = "The retirement ladder",
        long,
        env = "AMI_BUILDER_PRUNE_DEPRECATE_AFTER",
        value_name = "AGE",
        value_parser = parse_age
    )]
    pub deprecate_after: Option<chrono::TimeDelta>,
    /// Its second: disable an image (DisableImage) this long after the step
    /// before (its deprecation, or its creation); it is deleted only once
    /// disabled and expired.
    #[arg(
        help_heading = "The retirement ladder",
        long,
        env = "AMI_BUILDER_DISABLE_AFTER",
        value_name = "AGE",
        value_parser = parse_age
    )]
    pub disable_after: Option<chrono::TimeDelta>,
    /// Turn off the deregistration protection of an image it alone keeps
    /// (a step of its own, shown in the plan; a later run deletes the
    /// image, after the protection's cooldown if it has one).
    #[arg(help_heading = "The retirement ladder", long)]
    pub disable_protection: bool,
    /// Keep (instead of deleting) what no Recycle Bin retention rule would
    /// retain, so that every deletion can be undone (`prune undo`).
    #[arg(long, env = "AMI_BUILDER_REQUIRE_RECYCLE_BIN")]
    pub require_recycle_bin: bool,
    /// Keep any image EC2 says was launched within this long (30d; its
    /// LastLaunchedTime). At least a day: EC2 reports a launch up to 24
    /// hours late.
    #[arg(long, env = "AMI_BUILDER_UNUSED_FOR", value_name = "AGE", value_parser = parse_unused_for)]
    pub unused_for: Option<chrono::TimeDelta>,
    /// Retention days where no retention tag says otherwise.
    #[arg(
        long,
        env = "AMI_BUILDER_DEFAULT_RETENTION_DAYS",
        default_value_t = 15,
        value_name = "DAYS"
    )]
    pub default_retention_days: u32,
    /// Retention tag key prefix.
    #[command(flatten)]
    pub retention: RetentionTagArg,
    /// Channels' earlier AMIs kept in use per channel and region, so that
    /// `promote --rollback` stays possible (the current one always is).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub keep_rollback: usize,
    #[command(flatten)]
    pub channel_prefix: ChannelPrefix,
    /// Announce each deregistered AMI with AmiStatus=Deregistered.
    #[arg(long)]
    pub events: bool,
    /// Event options (with --events).
    #[command(flatten)]
    pub event: EventArgs,
    /// Write the applied plan and its results to s3://bucket/prefix/.
    #[arg(long, value_name = "S3_URL")]
    pub report: Option<String>,
    /// Where --apply writes its report locally, before any event or upload
    /// (default DIR/prune-report-TIME.json with DIR from --out-dir). Never
    /// overwritten: an existing file is a usage error.
    #[arg(long, value_name = "FILE")]
    pub report_file: Option<PathBuf>,
    #[command(flatten)]
    pub out: OutDir,
    /// Send the events (--events) and upload the report (--report) of an
    /// earlier --apply from its local report, deleting and listing nothing:
    /// finishes a run whose events or upload failed.
    #[arg(long, value_name = "REPORT", conflicts_with_all = ["apply", "plan", "plan_out", "as_of"])]
    pub resend: Option<PathBuf>,
    /// Plan as if it were this time: 2027-01-10, an RFC 3339 time, or an
    /// offset from now (+40d, -12h); default now.
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// AWS calls in flight at once of each kind in each region (EC2 throttles
    /// each API in each region on its own): the sharing checks and image
    /// references while planning, the deletions when applying.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub concurrency: usize,
    /// Accounts across which a run prunes.
    #[command(flatten)]
    pub scope: AccountScope,
}

/// `prune --accounts FILE` / `--organization`: plan and apply in each
/// account through an assumed role, with one combined result.
#[derive(Debug, Args, Default)]
#[command(next_help_heading = "Accounts")]
pub struct AccountScope {
    /// Prune every account of FILE (YAML in c7n-org's shape: `accounts:`, a
    /// list of account_id, name, role (name or ARN), regions, tags, and
    /// `prune: {keep, families}` for one account's overrides). An image used
    /// in any account of the run is kept, naming the account.
    #[arg(long, env = "AMI_BUILDER_ACCOUNTS", value_name = "FILE",
          conflicts_with_all = ["organization", "plan", "resend"])]
    pub accounts: Option<PathBuf>,
    /// With --accounts: only the accounts carrying each of these tags
    /// (repeatable; all must match, as c7n-org's --tags).
    #[arg(long = "account-tag", value_name = "TAG", requires = "accounts")]
    pub account_tags: Vec<String>,
    /// Prune every active account of the organization (Organizations
    /// ListAccounts: run from the management account or a delegated
    /// administrator), assuming --role-name in each.
    #[arg(long, env = "AMI_BUILDER_ORGANIZATION",
          conflicts_with_all = ["plan", "resend"], requires = "role_name")]
    pub organization: bool,
    /// With --organization: only the accounts in these OUs and the OUs
    /// below them (ou-... ids; repeatable).
    #[arg(long = "ou", value_name = "OU_ID", requires = "organization", value_parser = parse_parent_id)]
    pub ous: Vec<String>,
    /// The role assumed (STS AssumeRole) in each account of --accounts or
    /// --organization that does not name its own
    /// (cloudformation/member-account.yaml makes ami-builder-prune). The
    /// caller's own account needs none.
    #[arg(long, env = "AMI_BUILDER_ROLE_NAME", value_name = "NAME", value_parser = parse_role_name)]
    pub role_name: Option<String>,
    /// Merge the prune reports under s3://bucket/prefix/ (the per-account
    /// runs of an organization, each uploaded with --report) into one
    /// result, as --accounts prints it; with --report S3_URL it is uploaded
    /// there too. Lists and deletes nothing in EC2.
    #[arg(long, value_name = "S3_URL", conflicts_with_all = ["apply", "plan", "accounts", "organization", "resend"])]
    pub merge_reports: Option<String>,
    /// Accounts planned and applied at once.
    #[arg(long, default_value_t = 4, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub account_concurrency: u32,
}

impl AccountScope {
    /// Whether the run spans accounts.
    pub fn is_multi(&self) -> bool {
        self.accounts.is_some() || self.organization
    }
}

/// What `prune` does besides planning and applying.
#[derive(Debug, Subcommand)]
pub enum PruneCommand {
    /// Restore what an applied run deleted, from the Recycle Bin: its
    /// snapshots first, then its images (`RestoreSnapshotFromRecycleBin`,
    /// `RestoreImageFromRecycleBin`).
    #[command(after_help = EXIT_CODES_SEE)]
    Undo(UndoArgs),
}

/// `ami-builder prune undo`.
#[derive(Debug, Args)]
pub struct UndoArgs {
    /// The local report of the applied run (`prune --apply --report-file`).
    #[arg(long, value_name = "FILE")]
    pub report: PathBuf,
    /// Announce each restored AMI with AmiStatus=Restored.
    #[arg(long)]
    pub events: bool,
    /// Event options.
    #[command(flatten)]
    pub event: EventArgs,
}
