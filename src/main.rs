//! The `ami-builder` binary: parse arguments, run, map the error to an exit code.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

/// mimalloc: a prune plan of a million images makes millions of small
/// allocations on several threads; with it the planner runs about 20%
/// faster than with the system allocator (`scripts/bench-prune`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    forget_empty_variables();
    let cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let filter = match cli.global.verbose {
        0 => "warn,aws_config=error,aws_runtime=error",
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

/// An empty `AMI_BUILDER_*` variable is no value: pipelines hand over their
/// unset parameters as empty variables (a CloudFormation parameter left
/// empty, `docker run -e NAME=`), and clap would read them as an empty bus
/// name or an empty --share-with target. `config show` reads them the same
/// way. Done before anything else runs: the process has one thread here.
fn forget_empty_variables() {
    let empty: Vec<std::ffi::OsString> = std::env::vars_os()
        .filter(|(k, v)| v.is_empty() && k.to_string_lossy().starts_with("AMI_BUILDER_"))
        .map(|(k, _)| k)
        .collect();
    for k in empty {
        std::env::remove_var(k);
    }
}

/// The command line over the config file's defaults
/// (`ami_builder::config`): a bad file is exit 2 before anything runs.
fn parse() -> Result<ami_builder::cli::Cli, ExitCode> {
    use ami_builder::config;
    let base = ami_builder::cli::Cli::command();
    let cfg = match config::from_process(&base) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Err(ExitCode::from(ami_builder::error::code::USAGE));
        }
    };
    let matches = config::apply(base, &cfg).get_matches();
    match ami_builder::cli::Cli::from_arg_matches(&matches) {
        Ok(cli) => Ok(cli),
        Err(e) => e.exit(),
    }
}
