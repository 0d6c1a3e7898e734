//! The arguments of the channel commands: `promote` (and `--rollback`),
//! `revoke` and `channels`.

use std::path::PathBuf;

use clap::Args;

use super::{parse_age, parse_region, EventArgs, EXIT_CODES_SEE};
use crate::ids::Region;

/// Where the channels live.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Channels")]
pub struct ChannelPrefix {
    /// The SSM parameter prefix: channels are PREFIX/FAMILY/CHANNEL.
    #[arg(
        long = "channel-prefix",
        env = "AMI_BUILDER_CHANNEL_PREFIX",
        default_value = crate::channels::DEFAULT_PREFIX,
        value_name = "PATH"
    )]
    pub prefix: String,
}

/// What `promote` and `revoke` share: the commit tag, the channels' prefix
/// and the events.
#[derive(Debug, Args, Clone)]
pub struct ChannelOpts {
    /// Tag key of the commit (as `build --commit-tag`).
    #[arg(long, env = "AMI_BUILDER_COMMIT_TAG", default_value = crate::tags::COMMIT, value_name = "KEY")]
    pub commit_tag: String,
    #[command(flatten)]
    pub prefix: ChannelPrefix,
    /// The opt-in tag: launch templates (and, for promote, Auto Scaling
    /// groups) tagged KEY=FAMILY and ami-builder:channel=CHANNEL follow the
    /// channel without being named.
    #[arg(
        help_heading = "Launch templates and Auto Scaling",
        long,
        env = "AMI_BUILDER_OPT_IN_TAG",
        default_value = crate::channels::DEFAULT_OPT_IN_TAG,
        value_name = "KEY"
    )]
    pub opt_in_tag: String,
    /// Change only the launch templates and groups named, not the opted-in
    /// ones.
    #[arg(help_heading = "Launch templates and Auto Scaling", long)]
    pub named_only: bool,
    /// Do not send the events (Promoted, RolledBack, Revoked).
    #[arg(help_heading = "Events", long)]
    pub no_event: bool,
    /// Event options.
    #[command(flatten)]
    pub event: EventArgs,
}

/// `ami-builder promote`.
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES_SEE)]
pub struct PromoteArgs {
    /// The channel to set (`dev`, `prod`): the SSM parameter
    /// PREFIX/FAMILY/CHANNEL in each region of the build.
    #[arg(long, value_name = "NAME")]
    pub channel: String,
    /// The build to promote: its artifacts.json (default out/artifacts.json
    /// when neither --ami nor --commit is given).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["amis", "commit"])]
    pub artifacts: Option<PathBuf>,
    /// The build to promote as its AMIs, REGION:AMI_ID (repeatable or
    /// comma-separated; one per region).
    #[arg(
        long = "ami",
        value_name = "REGION:AMI",
        value_delimiter = ',',
        conflicts_with = "commit"
    )]
    pub amis: Vec<String>,
    /// The build to promote by its commit: the newest image of --family with
    /// this ami-builder:commit in each of --regions.
    #[arg(long, value_name = "SHA", requires = "family")]
    pub commit: Option<String>,
    /// The family (default: the images' ami-builder:family tag).
    #[arg(long, env = "AMI_BUILDER_FAMILY", value_name = "NAME")]
    pub family: Option<String>,
    /// Regions for --commit and --rollback (repeatable or comma-separated;
    /// default: --region).
    #[arg(long = "regions", env = "AMI_BUILDER_REGIONS", value_delimiter = ',', value_name = "REGION", value_parser = parse_region)]
    pub regions: Vec<Region>,
    /// Promotion order: the same commit must have been in CHANNEL first
    /// (in every region of this promotion).
    #[arg(long, value_name = "CHANNEL")]
    pub requires: Option<String>,
    /// With --requires: the commit must have been in that channel at least
    /// this long (24h, 2d).
    #[arg(long, value_name = "AGE", value_parser = parse_age, requires = "requires")]
    pub soak: Option<chrono::TimeDelta>,
    /// Point the channel back at its previous fit AMI in each region (not
    /// revoked, deprecated, disabled or gone).
    #[arg(long, conflicts_with_all = ["artifacts", "amis", "commit", "requires"], requires = "family")]
    pub rollback: bool,
    /// A launch template to give a new default version with the channel's
    /// AMI, `[REGION:]NAME` or ID (repeatable; default region: the build
    /// region), besides those that opted in (--opt-in-tag). A template whose
    /// default version already resolves the channel's parameter
    /// (`resolve:ssm:`) is left as it is.
    #[arg(
        help_heading = "Launch templates and Auto Scaling",
        long = "launch-template",
        value_name = "[REGION:]TEMPLATE"
    )]
    pub launch_templates: Vec<String>,
    /// Start an Auto Scaling instance refresh of this group once the channel
    /// and launch templates are set, `[REGION:]GROUP` (repeatable; default
    /// region: the build region), besides the groups that opted in.
    #[arg(
        help_heading = "Launch templates and Auto Scaling",
        long = "refresh",
        value_name = "[REGION:]GROUP"
    )]
    pub refresh: Vec<String>,
    /// The refresh's minimum healthy percentage.
    #[arg(help_heading = "Launch templates and Auto Scaling", long, default_value_t = 90, value_name = "PERCENT", value_parser = clap::value_parser!(i32).range(0..=100))]
    pub min_healthy_percentage: i32,
    /// The refresh's checkpoints, ascending percentages (comma-separated; the
    /// last must be 100).
    #[arg(help_heading = "Launch templates and Auto Scaling", long, value_delimiter = ',', value_name = "PERCENT", value_parser = clap::value_parser!(i32).range(1..=100))]
    pub checkpoints: Vec<i32>,
    /// Roll the group back to its previous instances if the refresh fails.
    #[arg(help_heading = "Launch templates and Auto Scaling", long)]
    pub auto_rollback: bool,
    /// Follow each refresh to its end, with progress on stderr: a refresh that
    /// fails or rolls back is exit 11.
    #[arg(help_heading = "Launch templates and Auto Scaling", long)]
    pub wait: bool,
    /// How long --wait follows a refresh (90m, 2h).
    #[arg(help_heading = "Launch templates and Auto Scaling", long, default_value = "1h", value_name = "AGE", value_parser = parse_age)]
    pub refresh_timeout: chrono::TimeDelta,
    /// Check everything and print what would change; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Tag key of the commit (as `build --commit-tag`).
    #[command(flatten)]
    pub common: ChannelOpts,
}

/// `ami-builder revoke`.
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES_SEE)]
pub struct RevokeArgs {
    /// The images, REGION:AMI_ID (or AMI_ID in --region); their regional
    /// copies (and, for a copy, its source) are revoked with them.
    #[arg(value_name = "[REGION:]AMI", required = true)]
    pub amis: Vec<String>,
    /// Why: the value of the ami-builder:revoked tag (at most 256 characters).
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// Look for copies and channels in these regions (repeatable or
    /// comma-separated; the named images' regions always count; default:
    /// every region enabled for the account).
    #[arg(long = "regions", env = "AMI_BUILDER_REGIONS", value_delimiter = ',', value_name = "REGION", value_parser = parse_region)]
    pub regions: Vec<Region>,
    #[command(flatten)]
    pub common: ChannelOpts,
}

/// `ami-builder channels`.
#[derive(Debug, Args)]
pub struct ChannelsArgs {
    /// Only this family's channels.
    #[arg(long, env = "AMI_BUILDER_FAMILY", value_name = "NAME")]
    pub family: Option<String>,
    /// Regions to list (repeatable or comma-separated; default: --region).
    #[arg(long = "regions", env = "AMI_BUILDER_REGIONS", value_delimiter = ',', value_name = "REGION", value_parser = parse_region)]
    pub regions: Vec<Region>,
    #[command(flatten)]
    pub prefix: ChannelPrefix,
}
