//! The `ami-builder` binary: parse arguments, run, map the error to an exit code.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: a prune plan of a million images makes millions of small
/// allocations on several threads; with it the planner runs about 20%
/// faster than with the system allocator (`scripts/bench-prune`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = ami_builder::cli::Cli::parse();
    let filter = match cli.global.verbose {
        0 => "warn,aws_config=error",
        1 => "ami_builder=info,warn",
        2 => "ami_builder=debug,info",
        _ => "trace",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AMI_BUILDER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(cli.global.color.enabled(
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
            std::env::var("NO_COLOR").ok().as_deref(),
        ))
        .with_target(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(ami_builder::error::code::FAILURE);
        }
    };
    match runtime.block_on(ami_builder::run(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
