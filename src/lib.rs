//! ami-builder: build Amazon Machine Images with Packer, honestly.
//!
//! Layout (see DESIGN.md): `cli` parses, `commands` glue, the pure core (the
//! `ami-builder-core` crate: log model, manifest, build record, retention and
//! planning, events, provenance rules, checks) has no I/O, `aws` is the only
//! place that calls AWS, and `packer::runner` and `proc` the only places that
//! spawn processes.

pub mod aws;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod output;
pub mod packer;
pub mod proc;
pub mod progress;
pub mod steps;

// The pure core lives in its own crate (crates/core), so that Cargo holds the
// boundary; its modules keep their paths here.
pub use ami_builder_core::{
    account_list, accounts, artifacts, channels, check, events, ids, key_policy, lifecycle,
    provenance, regions, retention, table, tags,
};

use std::process::ExitCode;

/// Parse nothing, run everything: the binary's `main` calls this with parsed args.
///
/// The command future is boxed behind `dyn Future`: each command's state
/// machine nests the deadlines and steps it awaits, and without the box the
/// binary crate recomputes that whole nested layout (past rustc's query depth
/// limit once every command has its `--timeout`).
pub async fn run(cli: cli::Cli) -> error::Result<ExitCode> {
    let fut: std::pin::Pin<Box<dyn std::future::Future<Output = error::Result<ExitCode>>>> =
        Box::pin(commands::run(cli));
    fut.await
}
