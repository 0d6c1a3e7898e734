//! ami-builder: build Amazon Machine Images with Packer, honestly.
//!
//! Layout (see DESIGN.md): `cli` parses, `commands` glue, the pure core
//! (`packer::log`, `packer::manifest`, `artifacts`) has no I/O, `aws` is the only
//! place that calls AWS and `packer::runner` the only place that spawns Packer.

pub mod artifacts;
pub mod aws;
pub mod check;
pub mod cli;
pub mod commands;
pub mod error;
pub mod events;
pub mod output;
pub mod packer;
pub mod proc;
pub mod provenance;
pub mod regions;
pub mod retention;

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
