//! Every tag key ami-builder writes or reads, once (DESIGN.md's tag table).
//! Keys users may rename (`--commit-tag`, `--retention-tag`) have these as
//! their defaults.

/// The commit SHA the image was built from.
pub const COMMIT: &str = "ami-builder:commit";
/// The CodeBuild build id, or `local:<host>:<utc time>`.
pub const BUILD_ID: &str = "ami-builder:build-id";
/// Packer's run uuid, when the manifest gave it.
pub const RUN_UUID: &str = "ami-builder:packer-run-uuid";
/// The keep-N group prune ranks an image in.
pub const FAMILY: &str = "ami-builder:family";
/// On copies: `<region>:<ami>` of the build-region AMI.
pub const SOURCE_IMAGE: &str = "ami-builder:source-image";
/// When the build finished, RFC 3339 UTC.
pub const BUILT_AT: &str = "ami-builder:built-at";
/// Pins an image (or snapshot) against prune: any value but `false`.
pub const KEEP: &str = "ami-builder:keep";
/// The prefix of ami-builder's own tags (orphaned snapshots carrying one
/// are prune's to consider).
pub const PREFIX: &str = "ami-builder:";
/// The EBS Snapshot Scheduler's tag (a key prefix: `scheduler:ebs-snapshot:0900`
/// counts too).
pub const SCHEDULER: &str = "scheduler:ebs-snapshot";
/// On an image prune disabled: when (RFC 3339 UTC), since EC2 does not say
/// when an image was disabled.
pub const DISABLED_AT: &str = "ami-builder:disabled-at";
/// On a shared image prune disabled: who it was shared with, written
/// before `DisableImage` removes the launch permissions (re-enabling does
/// not restore them).
pub const LAUNCH_PERMISSIONS: &str = "ami-builder:launch-permissions";
