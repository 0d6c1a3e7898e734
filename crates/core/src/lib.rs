//! The pure core of ami-builder: what it decides, with no I/O.
//!
//! * [`packer`]: the Packer log model and artifact extraction, the manifest;
//! * [`account_list`]: the accounts file of `prune --accounts` (c7n-org's shape);
//! * [`accounts`]: other accounts: sharing targets, copies, event bus ARNs;
//! * [`artifacts`]: the build record (`artifacts.json`, `ami_id.txt`);
//! * [`retention`]: the EBS Snapshot Scheduler's tag grammar, lint, prune
//!   planning and saved plans;
//! * [`events`]: the PutEvents entry and EventBridge's event patterns;
//! * [`provenance`]: commit and build id resolution, the provenance tags;
//! * [`check`]: the pre-commit checks over pipeline files;
//! * [`lifecycle`]: EC2's deprecation and deregistration protection, read
//!   and set;
//! * [`key_policy`]: whether a KMS key policy admits an image's consumers;
//! * [`ids`]: AMI, snapshot, region and account ids, checked where they enter;
//! * [`regions`]: the AWS regions accepted by name;
//! * [`tags`]: every tag key ami-builder writes or reads;
//! * [`table`]: the plain text tables every command prints.
//!
//! This crate is the boundary DESIGN.md draws, held by Cargo: it depends on no
//! AWS SDK, no async runtime, no process or signal crate, and chrono without its
//! clock. Everything here takes data and returns data: no AWS calls, no
//! processes, no clock, no environment, no files (callers read and pass them).

pub mod account_list;
pub mod accounts;
pub mod artifacts;
pub mod channels;
pub mod check;
pub mod events;
pub mod ids;
pub mod key_policy;
pub mod lifecycle;
pub mod packer;
pub mod provenance;
pub mod regions;
pub mod retention;
pub mod table;
pub mod tags;
