//! One module per subcommand: glue from the parsed CLI to the pure core and the
//! adapters, returning a printable result. No parsing of logs or rules here.

pub mod build;
pub mod extract;
pub mod meta;

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::error::Result;

/// Run the parsed command line. Errors carry their exit code.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    let format = cli.global.output;
    match cli.command {
        Command::Build(args) => build::run(&cli.global, args).await,
        Command::Extract(args) => extract::run(&args, format),
        Command::Completions(args) => meta::completions(&args),
        Command::Man(args) => meta::man(&args),
    }
}
