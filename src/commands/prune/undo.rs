//! `ami-builder prune undo --report FILE`: an applied run, undone. What it
//! deleted comes back from the Recycle Bin, snapshots first, then images
//! (EC2 restores an image only once its snapshots are back: EBS User Guide,
//! "Recover deleted AMIs from the Recycle Bin"; an image whose snapshot
//! could not be restored is still tried, and EC2's refusal is its result).
//! Then each ladder step it took is reversed: a deprecation cancelled
//! (`DisableImageDeprecation`), a disabled image enabled (`EnableImage`) with
//! the launch permissions its `ami-builder:launch-permissions` tag and the
//! report both recorded (the tag is anyone's to edit), a protection turned off turned on again (without a cooldown:
//! the report does not say whether it had one). The report is read as data
//! and checked (`read_applied`), and so is the tag (only the forms prune
//! writes are granted); what the report says was already gone is not this
//! run's to restore.

use std::fmt;
use std::process::ExitCode;

use serde::Serialize;

use super::report::AppliedResult;
use crate::aws::ec2::{self, Deleted};
use crate::cli::{Global, UndoArgs};
use crate::error::{Error, Result};
use crate::events::entry::AmiStatus;
use crate::ids::{AmiId, Region};
use crate::retention::plan::Step;
use crate::retention::ItemKind;

/// Layout version of `prune undo --output json`.
pub const SCHEMA_VERSION: u32 = 1;

/// One restore.
#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub kind: ItemKind,
    pub region: String,
    pub id: String,
    /// `restore` (from the Recycle Bin), `undeprecate`, `enable` or
    /// `protect`.
    pub action: &'static str,
    /// `restored` or `failed`.
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What `prune undo` did.
#[derive(Debug, Clone, Serialize)]
pub struct UndoResult {
    pub schema_version: u32,
    pub report: String,
    pub restores: Vec<Restored>,
    pub event_ids: Vec<String>,
}

impl fmt::Display for UndoResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "undo of {}", self.report)?;
        let rows = self.restores.iter().map(|r| {
            vec![
                r.region.clone(),
                r.kind.to_string(),
                r.id.clone(),
                r.action.to_string(),
                r.result.to_string(),
                r.error.clone().unwrap_or_default(),
            ]
        });
        f.write_str(&crate::table::render(
            &["REGION", "KIND", "ID", "UNDO", "RESULT", "ERROR"],
            rows,
        ))?;
        let done = self
            .restores
            .iter()
            .filter(|r| r.result == "restored")
            .count();
        writeln!(f, "restored {done} of {}", self.restores.len())
    }
}

/// Run `prune undo`.
pub async fn run(global: &Global, args: &UndoArgs) -> Result<ExitCode> {
    let report = super::read_applied(&args.report, "; nothing was restored")?;
    let deleted: Vec<_> = report
        .results
        .iter()
        .filter(|a| {
            matches!(
                a.result,
                AppliedResult::Done {
                    outcome: Deleted::Deleted
                }
            )
        })
        .collect();
    let aws = super::super::load_aws(global).await?;
    let mut restores = Vec::new();
    let mut push = |a: &super::report::Applied, action, r: std::result::Result<(), String>| {
        restores.push(Restored {
            kind: a.kind,
            region: a.region.clone(),
            id: a.id.clone(),
            action,
            result: if r.is_ok() { "restored" } else { "failed" },
            error: r.err(),
        });
    };
    for kind in [ItemKind::Snapshot, ItemKind::Image] {
        for a in deleted.iter().filter(|a| a.kind == kind) {
            let r = crate::aws::recycle_bin::restore(&aws, &a.region, kind, &a.id).await;
            push(a, "restore", r);
        }
    }
    for a in &report.results {
        let AppliedResult::Step {
            step,
            done: true,
            launch_permissions: ref recorded,
            ..
        } = a.result
        else {
            continue;
        };
        let (action, r) = reverse(&aws, &a.region, &a.id, step, recorded.as_deref()).await;
        push(a, action, r);
    }
    let mut result = UndoResult {
        schema_version: SCHEMA_VERSION,
        report: args.report.display().to_string(),
        restores,
        event_ids: Vec::new(),
    };
    let mut event_error = None;
    if args.events {
        match announce(&aws, args, &result).await {
            Ok(ids) => result.event_ids = ids,
            Err(e) => event_error = Some(e),
        }
    }
    crate::output::emit(&result, global.output)?;
    let failed: Vec<String> = result
        .restores
        .iter()
        .filter(|r| r.result == "failed")
        .map(|r| {
            format!(
                "{} {} in {}: {}",
                r.kind,
                r.id,
                r.region,
                r.error.as_deref().unwrap_or_default()
            )
        })
        .collect();
    if !failed.is_empty() {
        return Err(Error::PruneFailures(format!(
            "{} of {} could not be restored from the Recycle Bin (not retained by a rule, its retention ran out, or restored already): {}",
            failed.len(),
            result.restores.len(),
            failed.join("; ")
        )));
    }
    match event_error {
        Some(e) => Err(e),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// Undo one ladder step; which undo, and how it went.
async fn reverse(
    aws: &crate::aws::Aws,
    region: &str,
    id: &str,
    step: Step,
    recorded: Option<&str>,
) -> (&'static str, std::result::Result<(), String>) {
    let (region, ami) = match (Region::parse(region), AmiId::parse(id)) {
        (Ok(r), Ok(a)) => (r, a),
        // read_applied checked both: unreachable for a report it passed
        (Err(e), _) | (_, Err(e)) => return ("restore", Err(e.to_string())),
    };
    let err = |e: Error| e.to_string();
    match step {
        Step::Deprecate => (
            "undeprecate",
            ec2::undeprecate(aws, &region, &ami).await.map_err(err),
        ),
        Step::Unprotect => (
            "protect",
            ec2::protect(aws, &region, &ami, false)
                .await
                .map(|_| ())
                .map_err(err),
        ),
        Step::Disable => ("enable", enable(aws, &region, &ami, recorded).await),
    }
}

/// `EnableImage`, then the launch permissions that both the image's tag
/// and the run's report (`recorded`) hold: the tag is anyone's to edit, so
/// an account added to it is not granted (and said).
async fn enable(
    aws: &crate::aws::Aws,
    region: &Region,
    ami: &AmiId,
    recorded: Option<&str>,
) -> std::result::Result<(), String> {
    use crate::lifecycle::parse_launch_permissions;
    let tagged = ec2::describe_image(aws, region, ami)
        .await
        .map_err(|e| e.to_string())?
        .and_then(|i| i.tags.get(crate::tags::LAUNCH_PERMISSIONS).cloned());
    // both are read before anything changes: a value prune would not have
    // written is refused, and the image stays disabled
    let not_ours =
        |what: &str, e: String| format!("its {what} is not one prune writes ({e}): not enabled");
    let tagged = tagged
        .as_deref()
        .map(parse_launch_permissions)
        .transpose()
        .map_err(|e| not_ours(&format!("{} tag", crate::tags::LAUNCH_PERMISSIONS), e))?
        .unwrap_or_default();
    let recorded = recorded
        .map(parse_launch_permissions)
        .transpose()
        .map_err(|e| not_ours("report's launch_permissions", e))?
        .unwrap_or_default();
    let grant = crate::retention::Sharing {
        public: tagged.public && recorded.public,
        accounts: both(&tagged.accounts, &recorded.accounts),
        organizations: both(&tagged.organizations, &recorded.organizations),
        organizational_units: both(&tagged.organizational_units, &recorded.organizational_units),
    };
    let refused: Vec<String> = tagged
        .describe()
        .into_iter()
        .filter(|w| !grant.describe().contains(w))
        .collect();
    if !refused.is_empty() {
        tracing::warn!(
            "{ami} in {region}: its {} tag names {} that the report does not record: not granted",
            crate::tags::LAUNCH_PERMISSIONS,
            refused.join(", ")
        );
    }
    ec2::enable_image(aws, region, ami)
        .await
        .map_err(|e| e.to_string())?;
    if !grant.is_shared() {
        return Ok(());
    }
    ec2::grant_launch(aws, region, ami, &grant)
        .await
        .map_err(|e| format!("enabled, but its launch permissions were not restored: {e}"))
}

fn both(a: &[String], b: &[String]) -> Vec<String> {
    a.iter().filter(|x| b.contains(x)).cloned().collect()
}

async fn announce(
    aws: &crate::aws::Aws,
    args: &UndoArgs,
    result: &UndoResult,
) -> Result<Vec<String>> {
    let home = aws.require_region("--events")?;
    let mut entries = Vec::new();
    for r in result
        .restores
        .iter()
        .filter(|r| r.kind == ItemKind::Image && r.result == "restored" && r.action == "restore")
    {
        entries.push(crate::steps::announce::image_entry(
            &r.region,
            &r.id,
            AmiStatus::Restored,
            &args.event,
            None,
        )?);
    }
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    crate::steps::announce::send(aws, &home, entries).await
}
