//! One module per subcommand: glue from the parsed CLI to the pure core and the
//! adapters, returning a printable result. No parsing of logs or rules here.
//! This layer is where the environment is read (for provenance).

pub mod build;
pub mod check;
pub mod event;
pub mod extract;
pub mod meta;
pub mod prune;
pub mod tag;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::aws::{codepipeline, Aws, AwsOptions};
use crate::cli::{Cli, Command, Global, ProvenanceArgs};
use crate::error::{Error, Result};
use crate::provenance::{self, Inputs, Lookups, Provenance};

/// Run the parsed command line. Errors carry their exit code.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    let format = cli.global.output;
    match cli.command {
        Command::Build(args) => build::run(&cli.global, *args).await,
        Command::Extract(args) => extract::run(&args, format),
        Command::Tag(args) => tag::run(&cli.global, args).await,
        Command::Event(cmd) => event::run(&cli.global, cmd).await,
        Command::Prune(args) => prune::run(&cli.global, args).await,
        Command::Provenance(args) => {
            let aws = load_aws(&cli.global).await;
            let p = resolve_provenance(&aws, &args, Path::new(".")).await?;
            crate::output::emit(&p, format)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Retention(cmd) => prune::retention(&cli.global, cmd).await,
        Command::Check(args) => check::run(&args, format),
        Command::Completions(args) => meta::completions(&args),
        Command::Man(args) => meta::man(&args),
    }
}

/// Load the AWS configuration from the global flags.
pub async fn load_aws(global: &Global) -> Aws {
    Aws::load(&AwsOptions {
        region: global.region.clone(),
        profile: global.profile.clone(),
        endpoint_url: global.endpoint_url.clone(),
    })
    .await
}

struct RealLookups<'a> {
    aws: &'a Aws,
    dir: PathBuf,
}

impl Lookups for RealLookups<'_> {
    async fn pipeline_revisions(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> Result<Vec<String>, String> {
        codepipeline::execution_revisions(self.aws, pipeline, execution_id)
            .await
            .map_err(|e| e.to_string())
    }
    fn git_head(&self) -> Result<(String, bool), String> {
        crate::proc::git_head(&self.dir)
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Resolve commit and build id (flag, CodeBuild env, CodePipeline, git in `dir`).
pub async fn resolve_provenance(
    aws: &Aws,
    args: &ProvenanceArgs,
    dir: &Path,
) -> Result<Provenance> {
    let inputs = Inputs {
        flag: args.commit.clone(),
        codebuild_source_version: env("CODEBUILD_RESOLVED_SOURCE_VERSION"),
        codebuild_initiator: env("CODEBUILD_INITIATOR"),
        pipeline_execution_id: args.pipeline_execution_id.clone(),
        codebuild_build_id: env("CODEBUILD_BUILD_ID"),
        host: env("HOSTNAME")
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|h| h.trim().to_string())
            })
            .unwrap_or_else(|| "unknown-host".into()),
        now: chrono::Utc::now(),
    };
    let lookups = RealLookups {
        aws,
        dir: dir.to_path_buf(),
    };
    let p = provenance::resolve(&inputs, &lookups, args.allow_unknown_commit)
        .await
        .map_err(Error::Usage)?;
    tracing::info!(commit = ?p.commit, source = %p.commit_source, build_id = %p.build_id, tried = ?p.tried, "provenance resolved");
    Ok(p)
}
