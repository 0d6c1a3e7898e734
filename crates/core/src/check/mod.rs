//! The pure core of `ami-builder check`, the offline pre-commit check: given the
//! text of the pipeline files, say whether the pipeline would fail silently.
//!
//! It owns four things:
//!
//! * [`check_rules`]: every EventBridge rule in a CloudFormation template that
//!   targets our events matches the event `ami-builder` sends (checked with
//!   [`crate::events::pattern`], explained field by field when it does not);
//! * [`check_retention_values`]: the `scheduler:ebs-snapshot` tag values in a
//!   Packer template and the retention parameters of a CloudFormation template
//!   pass the retention linter (which the caller plugs in);
//! * [`check_buildspec`]: no buildspec command pipes Packer's (or
//!   `ami-builder build`'s) output into another command without
//!   `set -o pipefail`, the AWS sample's bug that hid Packer's exit status;
//! * [`pre_commit_hook`]: the git hook `ami-builder check --install-hook` writes.
//!
//! It does no I/O: no files, no processes, no environment, no clock, no AWS.
//! Text goes in, [`CheckResult`]s come out; the caller reads the files, runs
//! `packer validate`, builds the events (with [`crate::events::entry`]) and
//! prints the [`CheckReport`].
//!
//! One file per check (`rules`, `retention_values`, `buildspec` with its
//! `shell` lexer, `hook`), the YAML reader (`yaml`) and the tests (`tests`);
//! this file holds the results every check returns.
//!
//! YAML is read with `yaml-rust2`'s event parser into a small tree that keeps
//! key order and CloudFormation's short-form tags (`!Sub`, `!Ref`, `!GetAtt`,
//! ...), which become intrinsic-function nodes (`{"Fn::Sub": ...}` in JSON
//! form). A pattern that uses one cannot be evaluated offline; the rest of it
//! still is (see [`check_rules`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;
use serde_json::Value;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};
use yaml_rust2::Yaml;

use crate::events::pattern::Pattern;

mod buildspec;
mod hook;
mod retention_values;
mod rules;
mod shell;
mod yaml;

pub use buildspec::*;
pub use hook::*;
pub use retention_values::*;
pub use rules::*;
use shell::*;
use yaml::*;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

/// The `AmiStatus` values ami-builder itself sends: `build` sends `Created`,
/// `promote` `Promoted` and `RolledBack`, `revoke` `Revoked`, `prune
/// --events` `Deprecated`, `Disabled` and `Deregistered`, `prune undo`
/// `Restored` (every [`crate::events::entry::AmiStatus`]; a test holds the
/// two lists together). The first is the default.
pub const KNOWN_STATUSES: &[&str] = &[
    "Created",
    "Promoted",
    "RolledBack",
    "Revoked",
    "Deprecated",
    "Disabled",
    "Deregistered",
    "Restored",
];

/// The retention tag key prefix (the EBS Snapshot Scheduler's default name).
pub const SCHEDULER_TAG_PREFIX: &str = crate::tags::SCHEDULER;

/// A line in every hook [`pre_commit_hook`] writes, so `--install-hook` can
/// tell its own hook from someone else's before replacing it.
pub const HOOK_MARKER: &str = "# ami-builder pre-commit hook";

/// Deepest YAML nesting read; deeper documents are rejected (no template
/// comes near it, and it keeps the tree walks' recursion bounded).
const MAX_YAML_DEPTH: usize = 200;
/// Most nodes a document may expand to through aliases (against "billion
/// laughs" documents).
const MAX_YAML_NODES: usize = 1_000_000;

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

/// The verdict of one check. Ordered: `Ok < Warn < Fail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nothing wrong.
    Ok,
    /// Worth reading, does not fail the check (e.g. cannot be evaluated offline).
    Warn,
    /// The pipeline would fail silently; `ami-builder check` exits non-zero.
    Fail,
}

impl Status {
    /// `ok`, `warn` or `fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One finding: which file (or check) and what was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// What was checked, usually the file (e.g. `cloudformation/pipeline.yaml`).
    pub name: String,
    pub status: Status,
    /// One line saying what was found, e.g. `rule AmiCreatedRule matches the Created event`.
    pub detail: String,
}

impl CheckResult {
    /// A result with the given status.
    pub fn new(name: impl Into<String>, status: Status, detail: impl Into<String>) -> Self {
        CheckResult {
            name: name.into(),
            status,
            detail: detail.into(),
        }
    }

    /// An `ok` result.
    pub fn ok(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(name, Status::Ok, detail)
    }

    /// A `warn` result.
    pub fn warn(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(name, Status::Warn, detail)
    }

    /// A `fail` result.
    pub fn fail(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(name, Status::Fail, detail)
    }
}

impl fmt::Display for CheckResult {
    /// `ok    name: detail` (the status padded so the names line up).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<5} {}: {}", self.status, self.name, self.detail)
    }
}

/// Every result of one `ami-builder check` run, in the order checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    pub results: Vec<CheckResult>,
}

impl CheckReport {
    /// A report of these results.
    pub fn new(results: Vec<CheckResult>) -> Self {
        CheckReport { results }
    }

    /// Add one result.
    pub fn push(&mut self, result: CheckResult) {
        self.results.push(result);
    }

    /// Add several results.
    pub fn extend(&mut self, results: impl IntoIterator<Item = CheckResult>) {
        self.results.extend(results);
    }

    /// The worst status (`Ok` for an empty report).
    pub fn worst(&self) -> Status {
        self.results
            .iter()
            .map(|r| r.status)
            .max()
            .unwrap_or(Status::Ok)
    }

    /// Whether any check failed (the command then exits non-zero).
    pub fn failed(&self) -> bool {
        self.worst() == Status::Fail
    }
}

impl fmt::Display for CheckReport {
    /// One line per result.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.results {
            writeln!(f, "{r}")?;
        }
        Ok(())
    }
}
