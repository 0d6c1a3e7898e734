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
pub async fn run(cli: cli::Cli) -> error::Result<ExitCode> {
    commands::run(cli).await
}
