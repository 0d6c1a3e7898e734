//! `ami-builder retention lint` and `ami-builder retention explain`: the
//! retention linter over the account's tags, and how the EBS Snapshot
//! Scheduler reads one value.

use std::fmt;
use std::process::ExitCode;

use chrono::Utc;
use serde::Serialize;

use crate::cli::{Global, RetentionCommand};
use crate::error::{Error, Result};
use crate::output;
use crate::retention::{self, RetentionConfig};

use crate::steps::{gather_all, regions_or_default};

/// The result of `retention lint`.
#[derive(Debug, Serialize)]
pub struct LintReport {
    /// [`LINT_SCHEMA_VERSION`] (`schemas/retention-lint.schema.json`).
    pub schema_version: u32,
    /// Resources looked at.
    pub resources: usize,
    pub findings: Vec<retention::Finding>,
}

impl fmt::Display for LintReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for x in &self.findings {
            writeln!(f, "{x}")?;
        }
        writeln!(
            f,
            "{} finding(s) on {} resource(s)",
            self.findings.len(),
            self.resources
        )
    }
}

/// The layout version of `retention lint --output json`.
pub const LINT_SCHEMA_VERSION: u32 = 1;

/// Run `retention ...`.
pub async fn run(global: &Global, cmd: RetentionCommand) -> Result<ExitCode> {
    let format = global.output;
    match cmd {
        RetentionCommand::Lint(a) => {
            let aws = super::load_aws(global).await?;
            let regions = regions_or_default(&a.regions, &aws)?;
            let cfg = RetentionConfig {
                tag_prefix: a.retention.retention_tag.clone(),
                ..RetentionConfig::default()
            };
            let progress = crate::progress::Mode::detect(global.quiet);
            let inv = gather_all(&aws, &regions, None, progress).await?;
            let findings = retention::lint_inventory(&inv, &cfg);
            let report = LintReport {
                schema_version: LINT_SCHEMA_VERSION,
                resources: inv.instances.len() + inv.images.len() + inv.snapshots.len(),
                findings,
            };
            output::emit(&report, format)?;
            if report
                .findings
                .iter()
                .any(|f| f.severity == retention::Severity::Error)
            {
                return Err(Error::Other(
                    "retention tags with errors found: the scheduler ignores or misreads them, and prune keeps those resources; fix them as suggested"
                        .into(),
                ));
            }
            Ok(ExitCode::SUCCESS)
        }
        RetentionCommand::Explain(a) => {
            let cfg = RetentionConfig {
                default_retention_days: a.default_retention_days,
                ..RetentionConfig::default()
            };
            let e = retention::explain(&a.value, &cfg, Utc::now());
            output::emit(&e, format)?;
            // An error finding means the scheduler misreads the value and
            // prune keeps what carries it: fail, so `explain` can gate CI.
            if e.findings
                .iter()
                .any(|f| f.severity == retention::Severity::Error)
            {
                return Err(Error::Other(format!(
                    "the value {:?} has errors: the scheduler ignores or misreads it, and prune keeps what carries it; fix it as suggested",
                    a.value
                )));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
