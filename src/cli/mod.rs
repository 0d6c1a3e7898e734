//! Command-line definitions (clap derive): global AWS options, output format and
//! one subcommand per job. Parsing only: no behaviour lives here.

use std::path::PathBuf;

use crate::ids::Region;
use clap::{Args, Parser, Subcommand, ValueEnum};

mod channels;
mod parse;
mod prune;

pub use channels::*;
pub use parse::*;
pub use prune::*;

/// The exit-code table shown in `--help` (kept in sync with README.md; tested).
pub const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    failure not covered below (AWS error, unreachable endpoint, I/O error, log/manifest disagreement)
  2    usage or configuration error (bad flags, unreadable input file, Packer or template not found, no or expired credentials)
  3    no AMI found in Packer's output
  4    Packer failed (its own exit status was non-zero)
  5    an extracted AMI could not be confirmed in EC2
  6    tagging failed (or sharing the images, or copying them into another account)
  7    the event was not accepted by EventBridge
  8    prune finished with failures (a deletion failed, or a planned one was not attempted; an account of --accounts or --organization could not be pruned); prune undo could not restore something
  9    prune refused (plan over --max-deletions, a stale saved plan, or one made as of a future time)
  10   promotion refused, nothing changed (an image unfit for the channel, a region missing, --requires or --soak not met, no rollback target)
  11   promotion incomplete (some regions or launch templates changed and others failed: the result says which; a re-run converges)
  130  interrupted by SIGINT, after Packer's cleanup
  143  interrupted by SIGTERM, after Packer's cleanup";

/// What a subcommand's help says instead of repeating the table.
pub const EXIT_CODES_SEE: &str = "Exit codes: `ami-builder --help` lists them (0 is success).";

/// Build Amazon Machine Images with Packer, honestly: keep Packer's exit code,
/// find every AMI it made, confirm them in EC2, and fail loudly when there is none.
#[derive(Debug, Parser)]
#[command(name = "ami-builder", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: Global,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// AWS region for API calls (the build region).
    #[arg(long, global = true, env = "AWS_REGION", value_name = "REGION", value_parser = parse_region)]
    pub region: Option<Region>,
    /// Named AWS profile from ~/.aws/config.
    #[arg(long, global = true, env = "AWS_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    /// Send every AWS call to this endpoint (e.g. a local emulator).
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL", value_name = "URL", value_parser = parse_endpoint)]
    pub endpoint_url: Option<String>,
    /// Output format of the result on stdout.
    #[arg(long, global = true, env = "AMI_BUILDER_OUTPUT", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Give up on AWS after this long (90s, 10m, 1h): every command that
    /// talks to AWS ends with a clear error by then. `build` counts from when
    /// Packer has finished; `prune --apply` starts no deletion after it and
    /// records what it did.
    #[arg(long, global = true, env = "AMI_BUILDER_TIMEOUT", default_value = "30m", value_name = "AGE", value_parser = parse_age)]
    pub timeout: chrono::TimeDelta,
    /// Attempts per AWS call, the first included: the SDK retries throttling
    /// and transient errors with exponential backoff, and only then is a
    /// call reported as failed.
    #[arg(long, global = true, env = "AWS_MAX_ATTEMPTS", default_value_t = 5, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=20))]
    pub max_attempts: u32,
    /// Colour on stderr: auto (a terminal, and NO_COLOR not set), always or never.
    #[arg(long, global = true, env = "AMI_BUILDER_COLOR", value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
    /// The config file (default: ami-builder.toml here or in the nearest
    /// directory above); its values are the defaults of each command's
    /// options, below flags and environment variables.
    #[arg(long, global = true, env = "AMI_BUILDER_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// No progress on stderr, and `build` does not echo Packer's output
    /// (build.log is still written). Results and errors are still printed.
    #[arg(long, short, global = true, env = "AMI_BUILDER_QUIET")]
    pub quiet: bool,
    /// More logging on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour: `auto` colours a terminal unless `NO_COLOR` is set
    /// to anything but the empty string (no-color.org); the flag wins over
    /// `NO_COLOR` because it is the more specific ask.
    pub fn enabled(self, is_terminal: bool, no_color: Option<&str>) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_terminal && no_color.is_none_or(str::is_empty),
        }
    }
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable text.
    Text,
    /// One JSON document.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run `packer build`, extract every AMI, confirm each in EC2, write artifacts.json.
    Build(Box<BuildArgs>),
    /// Print every AMI that Packer reported as an artifact in a log.
    Extract(ExtractArgs),
    /// Tag AMIs, their snapshots, their regional copies and the copies' snapshots with provenance.
    Tag(TagArgs),
    /// Print the commit and build id `build` would record, and how they were found.
    Provenance(ProvenanceArgs),
    /// Render, send or test the AmiBuilder EventBridge event.
    #[command(subcommand)]
    Event(EventCommand),
    /// Plan, then apply, the removal of old AMIs and their snapshots by retention rules.
    Prune(Box<PruneArgs>),
    /// Point a channel (an SSM parameter per region) at a build's AMIs, or
    /// roll it back; optionally a new launch-template version.
    Promote(Box<PromoteArgs>),
    /// Show each channel per region: AMI, commit, since when, previous value.
    Channels(ChannelsArgs),
    /// Revoke an image and its copies: tagged, deprecated now, rolled back
    /// out of every channel, never promoted again.
    Revoke(RevokeArgs),
    /// Retention tags: explain a value, lint the account's tags.
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Offline pre-commit check: rules match our event, retention tags lint clean,
    /// the template validates, no pipe hides Packer's exit status.
    Check(CheckArgs),
    /// The config file: `config show` prints each option's value and where it came from.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Print the man page (roff) or write man pages for every command into a directory.
    Man(ManArgs),
}

/// `ami-builder build`.
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES_SEE)]
pub struct BuildArgs {
    /// Packer template file or directory.
    #[arg(
        default_value = "packer/",
        env = "AMI_BUILDER_TEMPLATE",
        value_name = "TEMPLATE"
    )]
    pub template: PathBuf,
    /// A template variable, passed to Packer as `-var K=V` (repeatable).
    #[arg(help_heading = "Packer", long = "var", value_name = "K=V", value_parser = parse_key_value)]
    pub vars: Vec<(String, String)>,
    /// A variables file, passed to Packer as `-var-file` (repeatable).
    #[arg(help_heading = "Packer", long = "var-file", value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
    /// Build only these builds (comma-separated), passed as `-only`.
    #[arg(
        help_heading = "Packer",
        long,
        env = "AMI_BUILDER_ONLY",
        value_name = "NAMES"
    )]
    pub only: Option<String>,
    #[command(flatten)]
    pub out: OutDir,
    /// The Packer executable (path, or a name looked up on PATH).
    #[arg(
        help_heading = "Packer",
        long,
        env = "AMI_BUILDER_PACKER",
        value_name = "PATH"
    )]
    pub packer: Option<PathBuf>,
    /// Seconds to wait for Packer's cleanup after a signal before killing it.
    #[arg(
        help_heading = "Packer",
        long,
        env = "AMI_BUILDER_CLEANUP_TIMEOUT",
        default_value_t = 600,
        value_name = "SECS"
    )]
    pub cleanup_timeout: u64,
    /// Seconds to wait for a pending AMI to become available.
    #[arg(
        long,
        env = "AMI_BUILDER_WAIT_TIMEOUT",
        default_value_t = 900,
        value_name = "SECS"
    )]
    pub wait_timeout: u64,
    /// Packer manifest file written by the template's manifest post-processor:
    /// its last run is cross-checked against the log and gives the run uuid.
    #[arg(
        help_heading = "Packer",
        long,
        env = "AMI_BUILDER_MANIFEST",
        value_name = "FILE"
    )]
    pub manifest: Option<PathBuf>,
    /// Skip Packer: tag and send the event for the AMIs in DIR/artifacts.json
    /// (finishes a run whose tagging or event failed).
    #[arg(long)]
    pub no_build: bool,
    /// Do not tag the AMIs and snapshots.
    #[arg(help_heading = "Tags", long)]
    pub no_tag: bool,
    /// Do not send the EventBridge event.
    #[arg(help_heading = "Events", long)]
    pub no_event: bool,
    /// Upload build.log, artifacts.json and the event file to s3://bucket/prefix/.
    #[arg(
        help_heading = "Uploads",
        long,
        env = "AMI_BUILDER_UPLOAD",
        value_name = "S3_URL"
    )]
    pub upload: Option<String>,
    /// Provenance and tagging options.
    #[command(flatten)]
    pub provenance: ProvenanceArgs,
    /// Tagging options.
    #[command(flatten)]
    pub tagging: TaggingArgs,
    /// Sharing options.
    #[command(flatten)]
    pub sharing: SharingArgs,
    /// Event options.
    #[command(flatten)]
    pub event: EventArgs,
    /// Extra arguments passed to `packer build` (after `--`).
    #[arg(help_heading = "Packer", last = true, value_name = "PACKER_ARGS")]
    pub extra: Vec<String>,
}

/// Where the commit comes from (see README: resolution order).
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Provenance")]
pub struct ProvenanceArgs {
    /// The commit SHA the image was built from (overrides every other source).
    #[arg(long, env = "AMI_BUILDER_COMMIT", value_name = "SHA")]
    pub commit: Option<String>,
    /// CodePipeline execution id (the buildspec passes #{codepipeline.PipelineExecutionId}).
    #[arg(long, env = "CODEPIPELINE_EXECUTION_ID", value_name = "ID")]
    pub pipeline_execution_id: Option<String>,
    /// Go on when no commit can be determined (tags then carry no commit).
    #[arg(long)]
    pub allow_unknown_commit: bool,
}

/// What goes on the images.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Tags")]
pub struct TaggingArgs {
    /// Extra tag K=V on AMIs and snapshots (repeatable).
    #[arg(long = "tag", value_name = "K=V", value_parser = parse_key_value)]
    pub tags: Vec<(String, String)>,
    /// Also write the retention tag `scheduler:ebs-snapshot` = `default;N`.
    #[arg(long, env = "AMI_BUILDER_RETENTION_DAYS", value_name = "N")]
    pub retention_days: Option<u32>,
    /// Family for keep-N pruning (default: the Packer build name).
    #[arg(long, env = "AMI_BUILDER_FAMILY", value_name = "NAME")]
    pub family: Option<String>,
    /// Tag key for the commit (default ami-builder:commit; e.g. GitCommit).
    #[arg(
        long,
        env = "AMI_BUILDER_COMMIT_TAG",
        default_value = crate::tags::COMMIT,
        value_name = "KEY"
    )]
    pub commit_tag: String,
    /// Retention tag key prefix.
    #[command(flatten)]
    pub retention: RetentionTagArg,
    /// Rewrite provenance tags the images already have with other values
    /// (commit, family, source image, run uuid; build id and build time),
    /// and move a deprecation time they already have.
    #[arg(long)]
    pub force: bool,
    /// Deprecate every AMI and copy this long after the build finished
    /// (90d; EnableImageDeprecation, as Packer's deprecate_at). An image
    /// already deprecated at another time keeps it (unless --force).
    #[arg(
        help_heading = "Lifecycle",
        long,
        env = "AMI_BUILDER_DEPRECATE_AFTER",
        value_name = "AGE",
        value_parser = parse_age
    )]
    pub deprecate_after: Option<chrono::TimeDelta>,
    /// Turn on deregistration protection on every AMI and copy
    /// (EnableImageDeregistrationProtection): no one can deregister them
    /// until it is turned off.
    #[arg(help_heading = "Lifecycle", long)]
    pub deregistration_protection: bool,
    /// With --deregistration-protection: it goes on protecting for 24 hours
    /// after it is turned off.
    #[arg(
        help_heading = "Lifecycle",
        long,
        requires = "deregistration_protection"
    )]
    pub protection_cooldown: bool,
}

/// Who else may use the images (`build`, `tag`).
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Sharing")]
pub struct SharingArgs {
    /// Grant launch permission on every AMI and copy, after tagging, to an
    /// account (123456789012), an organization or an organizational unit
    /// (their ARNs; an OU covers the OUs below it). Repeatable or
    /// comma-separated. Never public.
    #[arg(
        long = "share-with",
        env = "AMI_BUILDER_SHARE_WITH",
        value_delimiter = ',',
        value_name = "ACCOUNT|ARN",
        value_parser = parse_share_target
    )]
    pub share_with: Vec<crate::accounts::ShareTarget>,
    /// Also let the --share-with accounts read the images' snapshots
    /// (createVolumePermission), so that they can copy the images: launching
    /// needs none. Accounts only: EC2 shares snapshots with no organization.
    #[arg(long, env = "AMI_BUILDER_SHARE_SNAPSHOTS")]
    pub share_snapshots: bool,
    /// Make an account-owned copy of each build's image in another account
    /// and region (repeatable or comma-separated): ami-builder shares the
    /// image and its snapshots with the account, assumes --role-name there,
    /// runs CopyImage, waits for the copy and writes the provenance tags on
    /// it (tags do not travel with sharing or copies).
    #[arg(
        long = "copy-to",
        env = "AMI_BUILDER_COPY_TO",
        value_delimiter = ',',
        value_name = "ACCOUNT:REGION",
        value_parser = parse_copy_target,
        requires = "role_name"
    )]
    pub copy_to: Vec<crate::accounts::CopyTarget>,
    /// The IAM role assumed (STS AssumeRole) in each --copy-to account:
    /// its name, the same in every account (cloudformation/member-account.yaml
    /// makes it: ami-builder-copy).
    #[arg(long, env = "AMI_BUILDER_ROLE_NAME", value_name = "NAME", value_parser = parse_role_name)]
    pub role_name: Option<String>,
    /// Encrypt the --copy-to copies with this KMS key of the target account
    /// (key id, alias or ARN; CopyImage's KmsKeyId), whatever the source's
    /// encryption.
    #[arg(
        long,
        env = "AMI_BUILDER_COPY_KMS_KEY",
        value_name = "KEY",
        requires = "copy_to"
    )]
    pub kms_key: Option<String>,
}

/// The retention tag, shared by every command that reads or writes it.
#[derive(Debug, Args, Clone, Default)]
pub struct RetentionTagArg {
    /// Tag key (a prefix: any key starting with it counts, as for the EBS
    /// Snapshot Scheduler) for retention rules.
    #[arg(
        long = "retention-tag",
        env = "AMI_BUILDER_RETENTION_TAG",
        default_value = crate::tags::SCHEDULER,
        value_name = "KEY"
    )]
    pub retention_tag: String,
}

/// Event options.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Events")]
pub struct EventArgs {
    /// Event bus name, or ARN
    /// (arn:aws:events:REGION:ACCOUNT:event-bus/NAME): a bus in another
    /// account or region, such as an organization's central bus, whose
    /// policy admits this account.
    #[arg(
        long,
        env = "AMI_BUILDER_EVENT_BUS",
        default_value = "default",
        value_name = "NAME|ARN",
        value_parser = parse_event_bus
    )]
    pub event_bus: String,
    /// Event source.
    #[arg(
        long,
        env = "AMI_BUILDER_EVENT_SOURCE",
        default_value = "com.ami.builder",
        value_name = "SOURCE"
    )]
    pub event_source: String,
    /// Event detail-type.
    #[arg(
        long,
        env = "AMI_BUILDER_EVENT_DETAIL_TYPE",
        default_value = "AmiBuilder",
        value_name = "TYPE"
    )]
    pub event_detail_type: String,
}

/// `ami-builder tag`.
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES_SEE)]
pub struct TagArgs {
    /// AMIs as REGION:AMI_ID (or AMI_ID in --region).
    #[arg(value_name = "[REGION:]AMI", required_unless_present = "artifacts")]
    pub amis: Vec<String>,
    /// Tag every AMI of a build's artifacts.json (copies get ami-builder:source-image).
    #[arg(long, value_name = "FILE")]
    pub artifacts: Option<PathBuf>,
    /// Also find copies (same image name) in these regions (repeatable or
    /// comma-separated).
    #[arg(long = "regions", alias = "copy-regions", value_delimiter = ',', value_name = "REGION", value_parser = parse_region)]
    pub copy_regions: Vec<Region>,
    /// Provenance options.
    #[command(flatten)]
    pub provenance: ProvenanceArgs,
    /// Tagging options.
    #[command(flatten)]
    pub tagging: TaggingArgs,
    /// Sharing options.
    #[command(flatten)]
    pub sharing: SharingArgs,
}

/// `ami-builder event ...`.
#[derive(Debug, Subcommand)]
pub enum EventCommand {
    /// Print the PutEvents entry for AMIs.
    Render(EventRenderArgs),
    /// Publish the event with PutEvents, checking that EventBridge accepted it.
    Send(EventRenderArgs),
    /// Does an event pattern match an event? Exit 0 match, 1 no match, 2 invalid pattern.
    Test(EventTestArgs),
}

/// `event render` / `event send`.
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES_SEE)]
pub struct EventRenderArgs {
    /// AMIs as REGION:AMI_ID; the first is the build-region AMI.
    #[arg(long = "ami", value_name = "REGION:AMI", required = true)]
    pub amis: Vec<String>,
    /// The event's AmiStatus: Created, Promoted, RolledBack, Revoked,
    /// Deprecated, Disabled, Deregistered or Restored (as written: rules
    /// match case-sensitively).
    #[arg(long, default_value = "Created", value_name = "STATUS")]
    pub status: crate::events::entry::AmiStatus,
    /// Image name for the detail.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Family for the detail.
    #[arg(long, value_name = "NAME")]
    pub family: Option<String>,
    /// Commit for the detail (default: resolved like `build`, or none).
    #[arg(long, value_name = "SHA")]
    pub commit: Option<String>,
    /// Event options.
    #[command(flatten)]
    pub event: EventArgs,
}

/// `event test`.
#[derive(Debug, Args)]
pub struct EventTestArgs {
    /// The event pattern: a file or inline JSON.
    #[arg(long, value_name = "FILE|JSON")]
    pub pattern: String,
    /// The event: a file or inline JSON; an envelope, a PutEvents entry, an
    /// array of them (`event render`'s output, the build's
    /// ami_builder_event.json) or a PutEvents request ({"Entries": [...]}).
    /// Exit 0 only when every event matches.
    #[arg(long, value_name = "FILE|JSON")]
    pub event: String,
}

/// `ami-builder retention ...`.
#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Show how the EBS Snapshot Scheduler reads a tag value, and when a resource created now expires.
    Explain(RetentionExplainArgs),
    /// Lint the retention tags on the account's instances, AMIs and snapshots.
    Lint(RetentionLintArgs),
}

/// `retention lint`.
#[derive(Debug, Args)]
pub struct RetentionLintArgs {
    /// Regions to lint (repeatable or comma-separated; default: --region).
    #[arg(long = "regions", alias = "in-region", env = "AMI_BUILDER_REGIONS", value_delimiter = ',', value_name = "REGION", value_parser = parse_region)]
    pub regions: Vec<Region>,
    /// Retention tag key prefix.
    #[command(flatten)]
    pub retention: RetentionTagArg,
}

/// `retention explain`.
#[derive(Debug, Args)]
pub struct RetentionExplainArgs {
    /// The tag value, e.g. `0900;30;Europe/Paris;mon,fri`.
    #[arg(value_name = "VALUE", allow_hyphen_values = true)]
    pub value: String,
    /// Retention days where the value has none.
    #[arg(long, default_value_t = 15, value_name = "DAYS")]
    pub default_retention_days: u32,
}

/// `ami-builder check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The repository root (with packer/, cloudformation/, buildspec*.yml).
    #[arg(default_value = ".", value_name = "DIR")]
    pub dir: PathBuf,
    /// CloudFormation templates to check (default: DIR/cloudformation/*.yaml|yml|json).
    #[arg(long = "cloudformation", value_name = "FILE")]
    pub cloudformation: Vec<PathBuf>,
    /// Buildspecs to check (default: DIR/buildspec*.yml).
    #[arg(long = "buildspec", value_name = "FILE")]
    pub buildspecs: Vec<PathBuf>,
    /// The Packer template (default: DIR/packer).
    #[arg(long = "template", value_name = "PATH")]
    pub template: Option<PathBuf>,
    /// The Packer executable for `packer validate` (skipped with a notice when absent).
    #[arg(long, env = "AMI_BUILDER_PACKER", value_name = "PATH")]
    pub packer: Option<PathBuf>,
    /// The event source our rules match.
    #[arg(long, default_value = "com.ami.builder", value_name = "SOURCE")]
    pub event_source: String,
    /// Write a git pre-commit hook running `ami-builder check` into DIR/.git/hooks.
    #[arg(long)]
    pub install_hook: bool,
    /// With --install-hook: replace an existing pre-commit hook that is not ours.
    #[arg(long)]
    pub force: bool,
}

/// `ami-builder extract`.
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES_SEE)]
pub struct ExtractArgs {
    /// Packer log file, or `-` for stdin.
    #[arg(default_value = "-", value_name = "LOG")]
    pub log: PathBuf,
    /// Packer manifest file to cross-check against the log (its last run only).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
}

/// `ami-builder completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Where a command writes its files: `build` its logs, `artifacts.json`,
/// `ami_id.txt` and event; `prune --apply` its report.
#[derive(Debug, Args)]
pub struct OutDir {
    /// Directory for the files this command writes (build: build.log,
    /// build.machine.log, artifacts.json, ami_id.txt; prune --apply: its report).
    #[arg(
        long = "out-dir",
        env = "AMI_BUILDER_OUT_DIR",
        default_value = "out",
        value_name = "DIR"
    )]
    pub dir: PathBuf,
}

/// `ami-builder config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print every option that has a value without a flag, and where it came
    /// from: an environment variable, the config file, or the built-in default.
    Show,
}

/// `ami-builder man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write `ami-builder.1` and one page per subcommand into this directory.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn colour_follows_the_flag_then_no_color_then_the_terminal() {
        use ColorChoice::*;
        assert!(Auto.enabled(true, None));
        assert!(Auto.enabled(true, Some("")));
        assert!(!Auto.enabled(true, Some("1")));
        assert!(!Auto.enabled(false, None));
        assert!(Always.enabled(false, Some("1")));
        assert!(!Never.enabled(true, None));
    }

    #[test]
    fn endpoints_need_a_scheme_and_a_host() {
        assert!(parse_endpoint("http://127.0.0.1:5000").is_ok());
        assert!(parse_endpoint("https://ec2.us-east-1.amazonaws.com").is_ok());
        for bad in [
            "localhost:5000",
            "127.0.0.1",
            "ftp://h/",
            "http://",
            "http://h/?a=1",
        ] {
            let e = parse_endpoint(bad).expect_err(bad);
            assert!(
                e.contains(bad) && e.contains("http://127.0.0.1:5000"),
                "{e}"
            );
        }
    }

    #[test]
    fn times_are_dates_rfc3339_or_offsets_from_now() {
        use chrono::TimeZone;
        let now = chrono::Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).unwrap();
        let at = |y, m, d, h| chrono::Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap();
        assert_eq!(parse_time("2027-01-10", now), Ok(at(2027, 1, 10, 0)));
        assert_eq!(
            parse_time("2027-01-10T09:00:00Z", now),
            Ok(at(2027, 1, 10, 9))
        );
        assert_eq!(
            parse_time("2027-01-10T10:00:00+01:00", now),
            Ok(at(2027, 1, 10, 9))
        );
        assert_eq!(parse_time("+40d", now), Ok(at(2027, 1, 11, 10)));
        assert_eq!(parse_time("-12h", now), Ok(at(2026, 12, 1, 22)));
        assert_eq!(parse_time("+1w", now), Ok(at(2026, 12, 9, 10)));
        for bad in [
            "",
            "tomorrow",
            "2027-13-01",
            "+",
            "+40",
            "40d",
            "2027/01/10",
        ] {
            let e = parse_time(bad, now).expect_err(bad);
            assert!(e.contains("+40d"), "{e}");
        }
    }

    #[test]
    fn age_parsing() {
        assert_eq!(parse_age("90m"), Ok(chrono::TimeDelta::minutes(90)));
        assert_eq!(parse_age("24h"), Ok(chrono::TimeDelta::hours(24)));
        assert_eq!(parse_age("2d"), Ok(chrono::TimeDelta::days(2)));
        assert_eq!(parse_age("0s"), Ok(chrono::TimeDelta::zero()));
        assert_eq!(parse_age("1w"), Ok(chrono::TimeDelta::days(7)));
        assert_eq!(parse_age("1d 12h"), Ok(chrono::TimeDelta::hours(36)));
        assert_eq!(parse_age("1.5h"), Ok(chrono::TimeDelta::minutes(90)));
        for bad in ["", "h", "24", "-1h", "99999999999999999d", "1 parsec"] {
            assert!(parse_age(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn key_value_parsing() {
        assert_eq!(parse_key_value("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(parse_key_value("a="), Ok(("a".into(), String::new())));
        assert!(parse_key_value("=b").is_err());
        assert!(parse_key_value("ab").is_err());
    }
}
