//! One module per subcommand: glue from the parsed CLI to the pure core and the
//! adapters, returning a printable result. No parsing of logs or rules here.
//! This layer is where the environment is read (for provenance).

pub mod build;
pub mod channels;
pub mod check;
pub mod config;
pub mod event;
pub mod extract;
pub mod meta;
pub mod promote;
pub mod prune;
pub mod retention;
pub mod revoke;
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
    let g = &cli.global;
    match cli.command {
        // build and prune keep their own deadlines (Packer's run is not AWS
        // time; an apply must record what it did).
        Command::Build(args) => build::run(g, *args).await,
        Command::Extract(args) => extract::run(&args, format),
        Command::Tag(args) => within(g, "tagging", tag::run(g, args)).await,
        Command::Event(cmd) => within(g, "the event", event::run(g, cmd)).await,
        Command::Prune(args) => prune::run(g, *args).await,
        Command::Promote(args) => within(g, "the promotion", promote::run(g, *args)).await,
        Command::Channels(args) => within(g, "listing channels", channels::run(g, args)).await,
        Command::Revoke(args) => within(g, "the revocation", revoke::run(g, args)).await,
        Command::Provenance(args) => {
            within(g, "resolving provenance", async {
                let aws = load_aws(g).await?;
                let p = resolve_provenance(&aws, &args, Path::new(".")).await?;
                crate::output::emit(&p, format)?;
                Ok(ExitCode::SUCCESS)
            })
            .await
        }
        Command::Retention(cmd) => within(g, "retention", retention::run(g, cmd)).await,
        Command::Check(args) => check::run(&args, format),
        Command::Completions(args) => meta::completions(&args),
        Command::Man(args) => meta::man(&args),
        Command::Config(crate::cli::ConfigCommand::Show) => config::show(g),
    }
}

/// Load the AWS configuration from the global flags, and resolve the
/// credentials before any call ([`Aws::require_credentials`]).
pub async fn load_aws(global: &Global) -> Result<Aws> {
    let aws = Aws::load(&AwsOptions {
        region: global.region.clone(),
        profile: global.profile.clone(),
        endpoint_url: global.endpoint_url.clone(),
        timeout: Some(timeout(global)),
        max_attempts: Some(global.max_attempts),
        initial_backoff: None,
    })
    .await;
    aws.require_credentials(std::time::SystemTime::now())
        .await?;
    Ok(aws)
}

/// `--timeout` as a duration.
pub fn timeout(global: &Global) -> std::time::Duration {
    global.timeout.to_std().unwrap_or(std::time::Duration::ZERO)
}

/// `fut`, or the `--timeout` error naming `what` once it runs out.
pub async fn within<T>(
    global: &Global,
    what: &str,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    within_until(
        global,
        tokio::time::Instant::now() + timeout(global),
        what,
        fut,
    )
    .await
}

/// [`within`], against a deadline set earlier.
pub async fn within_until<T>(
    global: &Global,
    deadline: tokio::time::Instant,
    what: &str,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout_at(deadline, fut).await {
        Ok(r) => r,
        Err(_) => Err(timeout_error(global, what)),
    }
}

/// What to say when `--timeout` ran out.
pub fn timeout_error(global: &Global, what: &str) -> Error {
    let target = global
        .endpoint_url
        .as_deref()
        .map_or_else(|| "AWS".to_string(), |u| u.to_string());
    Error::Other(format!(
        "{what} did not finish within --timeout {}: {target} accepted the connection but did not answer in time, or the work takes longer; check --endpoint-url and the network, or pass a larger --timeout",
        crate::cli::format_age(global.timeout)
    ))
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
        github: crate::provenance::Github {
            sha: env("GITHUB_SHA"),
            server_url: env("GITHUB_SERVER_URL"),
            repository: env("GITHUB_REPOSITORY"),
            run_id: env("GITHUB_RUN_ID"),
        },
        gitlab_commit_sha: env("CI_COMMIT_SHA"),
        gitlab_job_url: env("CI_JOB_URL"),
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
