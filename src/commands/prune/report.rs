//! What `prune` did: each applied item's result, the report printed on
//! stdout and written as the local report file that `--resend` reads.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aws::ec2::Deleted;
use crate::retention::plan::TableView;
use crate::retention::{ItemKind, Plan};

/// One applied item.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Applied {
    /// Image or snapshot.
    pub kind: ItemKind,
    pub region: String,
    pub id: String,
    /// What happened.
    #[serde(flatten)]
    pub result: AppliedResult,
}

/// What happened to one planned deletion.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum AppliedResult {
    /// Done (deleted now, or already gone), or failed.
    Done {
        /// Deleted, already gone, or failed.
        #[serde(flatten)]
        outcome: Deleted,
    },
    /// Skipped at apply time (re-check said keep).
    Skipped { why: String },
    /// Not attempted because its image failed.
    NotAttempted { why: String },
    /// A ladder step (`deprecate`, `disable`), taken or failed (`error`).
    Step {
        step: crate::retention::plan::Step,
        done: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// For a shared image disabled: the launch permissions recorded (as
        /// in its tag). `prune undo` grants only what this and the tag both
        /// say: the tag is anyone's to edit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        launch_permissions: Option<String>,
    },
}

/// The result of `prune`; with `--apply` also the local report file that
/// `--resend` reads.
#[derive(Debug, Serialize, Deserialize)]
pub struct PruneReport {
    /// `retention::saved::PLAN_SCHEMA_VERSION`: a report of another version is refused.
    pub schema_version: u32,
    pub plan: Plan,
    /// Set when `--as-of` planned (and with `--apply` deleted) as of that
    /// time instead of now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<DateTime<Utc>>,
    /// Whether it was applied.
    pub applied: bool,
    /// Per-item results when applied.
    pub results: Vec<Applied>,
    /// API calls by operation.
    #[serde(default)]
    pub api_calls: BTreeMap<String, u64>,
    /// How the text shows the plan (`--wide`, `--only-deletions`); not
    /// part of the document.
    #[serde(skip)]
    pub view: TableView,
}

impl PruneReport {
    /// Deletions that failed, and planned ones that were not attempted (an
    /// image that failed first, or `--timeout`): each makes the run exit 8.
    pub(crate) fn failures(&self) -> Vec<String> {
        self.results
            .iter()
            .filter_map(|a| match &a.result {
                AppliedResult::Done {
                    outcome: Deleted::Failed { error },
                } => Some(format!("{} {} {}: {error}", a.kind, a.region, a.id)),
                AppliedResult::NotAttempted { why } => Some(format!(
                    "{} {} {}: not attempted: {why}",
                    a.kind, a.region, a.id
                )),
                AppliedResult::Step {
                    step,
                    done: false,
                    error,
                    ..
                } => Some(format!(
                    "{} {} {}: {step} failed: {}",
                    a.kind,
                    a.region,
                    a.id,
                    error.as_deref().unwrap_or_default()
                )),
                _ => None,
            })
            .collect()
    }
}

impl fmt::Display for PruneReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.plan.render(self.view))?;
        if let Some(t) = self.as_of {
            write!(
                f,
                "\nnote: planned as of {} (--as-of), not now{}",
                t.format("%Y-%m-%d %H:%M UTC"),
                if self.applied {
                    ": what was deleted had expired as of that time"
                } else {
                    ""
                }
            )?;
        }
        if self.applied {
            writeln!(f)?;
            let rows = self.results.iter().map(|a| {
                let what = match &a.result {
                    AppliedResult::Done {
                        outcome: Deleted::Deleted,
                    } => "deleted".to_string(),
                    AppliedResult::Done {
                        outcome: Deleted::AlreadyGone,
                    } => "already gone".to_string(),
                    AppliedResult::Done {
                        outcome: Deleted::Failed { error },
                    } => format!("FAILED: {error}"),
                    AppliedResult::Skipped { why } => format!("skipped: {why}"),
                    AppliedResult::NotAttempted { why } => format!("not attempted: {why}"),
                    AppliedResult::Step {
                        step, done: true, ..
                    } => step.done().to_string(),
                    AppliedResult::Step { step, error, .. } => {
                        format!("{step} FAILED: {}", error.as_deref().unwrap_or_default())
                    }
                };
                vec![a.kind.to_string(), a.region.clone(), a.id.clone(), what]
            });
            let header = ["KIND", "REGION", "ID", "RESULT"];
            write!(f, "{}", crate::table::render(&header, rows))?;
        } else {
            writeln!(
                f,
                "\nplan only: nothing was changed (pass --apply to delete)"
            )?;
        }
        Ok(())
    }
}

pub(crate) fn deleted_images(results: &[Applied]) -> Vec<&Applied> {
    results
        .iter()
        .filter(|a| {
            a.kind == ItemKind::Image
                && matches!(
                    a.result,
                    AppliedResult::Done {
                        outcome: Deleted::Deleted
                    }
                )
        })
        .collect()
}
