//! `ami-builder prune` (plan, then apply) and `ami-builder retention explain`.
//!
//! Planning is the pure `retention::plan`; this module gathers the inventory,
//! fills in sharing for deletion candidates only, enforces `--max-deletions`,
//! checks permissions with DryRun, and applies with bounded concurrency:
//! images first, then their snapshots (EC2 refuses to delete a snapshot its AMI
//! still uses). Re-running after a crash converges: NotFound counts as done, and
//! with `--plan FILE` nothing is deleted that the saved plan did not plan.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aws::ec2::{self, Deleted};
use crate::aws::inventory::{self, ApiCalls};
use crate::aws::Aws;
use crate::cli::{Global, PruneArgs, RetentionCommand};
use crate::error::{Error, Result};
use crate::events::entry::{build_entry, EventFacts};
use crate::output;
use crate::retention::{
    self, Inventory, ItemKind, Plan, PlanIndex, PlanItem, PlanRules, Recheck, RetentionConfig,
};

/// One applied item.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Applied {
    /// Image or snapshot.
    pub kind: ItemKind,
    /// Region.
    pub region: String,
    /// Id.
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
    Skipped {
        /// Why.
        why: String,
    },
    /// Not attempted because its image failed.
    NotAttempted {
        /// Why.
        why: String,
    },
}

/// The result of `prune`.
#[derive(Debug, Serialize)]
pub struct PruneReport {
    /// The plan.
    pub plan: Plan,
    /// Whether it was applied.
    pub applied: bool,
    /// Per-item results when applied.
    pub results: Vec<Applied>,
    /// API calls by operation.
    pub api_calls: BTreeMap<String, u64>,
}

impl PruneReport {
    fn failures(&self) -> Vec<String> {
        self.results
            .iter()
            .filter_map(|a| match &a.result {
                AppliedResult::Done {
                    outcome: Deleted::Failed { error },
                } => Some(format!("{} {} {}: {error}", a.kind, a.region, a.id)),
                _ => None,
            })
            .collect()
    }
}

impl fmt::Display for PruneReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.plan)?;
        if self.applied {
            writeln!(f)?;
            for a in &self.results {
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
                };
                writeln!(
                    f,
                    "{:<9} {:<14} {:<24} {what}",
                    a.kind.to_string(),
                    a.region,
                    a.id
                )?;
            }
        } else {
            writeln!(
                f,
                "\nplan only: nothing was changed (pass --apply to delete)"
            )?;
        }
        Ok(())
    }
}

fn rules_from(args: &PruneArgs) -> PlanRules {
    PlanRules {
        retention: RetentionConfig {
            tag_prefix: args.retention_tag.clone(),
            default_retention_days: args.default_retention_days,
            ..RetentionConfig::default()
        },
        keep: args.keep,
        families: args.family.clone(),
        include_shared: args.include_shared,
        scheduler_snapshots: args.scheduler_snapshots,
        ..PlanRules::default()
    }
}

/// `--in-region` values, or the one region from `--region` / the SDK.
fn regions_or_default(given: &[String], global: &Global, aws: &Aws) -> Result<Vec<String>> {
    if !given.is_empty() {
        return Ok(given.to_vec());
    }
    let r = global
        .region
        .clone()
        .or_else(|| aws.default_region())
        .ok_or_else(|| Error::Usage("no region: pass --region or --in-region".into()))?;
    Ok(vec![r])
}

async fn gather_all(aws: &Aws, regions: &[String], calls: &ApiCalls) -> Result<Inventory> {
    let mut inv = Inventory::default();
    for r in regions {
        let part = inventory::gather(aws, r, calls).await?;
        inv.account_id = inv.account_id.or(part.account_id);
        inv.images.extend(part.images);
        inv.snapshots.extend(part.snapshots);
        inv.instances.extend(part.instances);
        inv.usage.extend(part.usage);
    }
    Ok(inv)
}

/// Plan, reading sharing (one attribute call each) only where it can change the
/// outcome: deletion candidates, and images ranked newest (a shared image does
/// not take one of the keep-N places, so it can change which others are newest).
/// Re-plan until no such item lacks its sharing: sharing only adds protection,
/// so this converges, and never on less information than full listing would give.
async fn plan_with_sharing(
    aws: &Aws,
    mut inv: Inventory,
    rules: &PlanRules,
    now: DateTime<Utc>,
    calls: &ApiCalls,
) -> Result<Plan> {
    let mut plan = retention::plan(&inv, rules, now);
    if rules.include_shared {
        return Ok(plan);
    }
    let mut known: std::collections::HashSet<(ItemKind, String, String)> =
        std::collections::HashSet::new();
    loop {
        let need: Vec<PlanItem> = plan
            .items
            .iter()
            .filter(|i| {
                i.action == retention::Action::Delete
                    || matches!(i.reason, retention::Reason::Newest { .. })
            })
            .filter(|i| !known.contains(&(i.kind, i.region.clone(), i.id.clone())))
            .cloned()
            .collect();
        if need.is_empty() {
            return Ok(plan);
        }
        for item in need {
            known.insert((item.kind, item.region.clone(), item.id.clone()));
            match item.kind {
                ItemKind::Image => {
                    let s = inventory::image_sharing(aws, &item.region, &item.id, calls).await?;
                    if let Some(i) = inv
                        .images
                        .iter_mut()
                        .find(|i| i.id == item.id && i.region == item.region)
                    {
                        i.sharing.accounts = s.accounts;
                        i.sharing.organizations = s.organizations;
                        i.sharing.organizational_units = s.organizational_units;
                        i.sharing.public |= s.public;
                    }
                }
                ItemKind::Snapshot => {
                    let s = inventory::snapshot_sharing(aws, &item.region, &item.id, calls).await?;
                    if let Some(sn) = inv
                        .snapshots
                        .iter_mut()
                        .find(|x| x.id == item.id && x.region == item.region)
                    {
                        sn.sharing = s;
                    }
                }
            }
        }
        plan = retention::plan(&inv, rules, now);
    }
}

/// Run `prune`.
pub async fn run(global: &Global, args: PruneArgs) -> Result<ExitCode> {
    let aws = super::load_aws(global).await;
    let regions = regions_or_default(&args.regions, global, &aws)?;
    if let Some(u) = &args.report {
        crate::aws::s3::parse_url(u)?;
    }
    let calls = ApiCalls::default();
    let inv = gather_all(&aws, &regions, &calls).await?;

    let (plan, saved) = match &args.plan {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::Usage(format!("cannot read the plan {}: {e}", path.display()))
            })?;
            let saved: Plan = serde_json::from_str(&text).map_err(|e| {
                Error::Usage(format!(
                    "{} is not an ami-builder prune plan: {e}",
                    path.display()
                ))
            })?;
            let fresh =
                plan_with_sharing(&aws, inv, &saved.rules, saved.generated_at, &calls).await?;
            (fresh, Some(saved))
        }
        None => {
            let now = match &args.as_of {
                Some(t) => DateTime::parse_from_rfc3339(t)
                    .map_err(|e| {
                        Error::Usage(format!("--as-of `{t}` is not an RFC 3339 time: {e}"))
                    })?
                    .with_timezone(&Utc),
                None => Utc::now(),
            };
            (
                plan_with_sharing(&aws, inv, &rules_from(&args), now, &calls).await?,
                None,
            )
        }
    };
    let shown = saved.clone().unwrap_or_else(|| plan.clone());
    if let Some(p) = &args.plan_out {
        let json = serde_json::to_string_pretty(&shown).map_err(|e| Error::Other(e.to_string()))?;
        std::fs::write(p, json + "\n")
            .map_err(|e| Error::io(format!("writing {}", p.display()), e))?;
    }

    // What would actually be deleted: the saved plan's deletions that the fresh plan confirms.
    let index = PlanIndex::new(&plan);
    let mut todo: Vec<PlanItem> = Vec::new();
    let mut results: Vec<Applied> = Vec::new();
    for item in shown.deletions() {
        match index.recheck(item) {
            Recheck::Proceed => todo.push(item.clone()),
            Recheck::NotPlanned => {}
            Recheck::Skip { reason } => results.push(Applied {
                kind: item.kind,
                region: item.region.clone(),
                id: item.id.clone(),
                result: AppliedResult::Skipped {
                    why: format!("now kept: {reason}"),
                },
            }),
            Recheck::Missing => results.push(Applied {
                kind: item.kind,
                region: item.region.clone(),
                id: item.id.clone(),
                result: AppliedResult::Done {
                    outcome: Deleted::AlreadyGone,
                },
            }),
        }
    }

    if let Some(max) = args.max_deletions {
        let images = todo.iter().filter(|i| i.kind == ItemKind::Image).count();
        let orphans = todo
            .iter()
            .filter(|i| i.kind == ItemKind::Snapshot && i.depends_on.is_empty())
            .count();
        if images > max || orphans > max {
            return Err(Error::PruneRefused(format!(
                "the plan deregisters {images} image(s) and deletes {orphans} orphaned snapshot(s), over --max-deletions {max}: nothing was deleted. Review it (ami-builder prune --plan-out plan.json) and raise the cap if it is right"
            )));
        }
    }

    if !args.apply {
        let report = PruneReport {
            plan: shown,
            applied: false,
            results: Vec::new(),
            api_calls: calls.snapshot(),
        };
        tracing::info!(api_calls = ?report.api_calls, "prune planned");
        output::emit(&report, global.output)?;
        return Ok(ExitCode::SUCCESS);
    }

    // Permissions first, with DryRun: refuse before deleting anything.
    for r in &regions {
        let img = todo
            .iter()
            .find(|i| &i.region == r && i.kind == ItemKind::Image)
            .map(|i| i.id.as_str());
        let snap = todo
            .iter()
            .find(|i| &i.region == r && i.kind == ItemKind::Snapshot)
            .map(|i| i.id.as_str());
        let missing = ec2::dry_run_permissions(&aws, r, img, snap).await;
        if !missing.is_empty() {
            return Err(Error::PruneRefused(format!(
                "missing permissions (checked with DryRun, nothing was deleted): {}",
                missing.join(", ")
            )));
        }
    }

    let applied = apply(&aws, &todo, args.concurrency.max(1)).await;
    results.extend(applied);

    if args.events {
        announce(&aws, global, &args, &results).await?;
    }
    let report = PruneReport {
        plan: shown,
        applied: true,
        results,
        api_calls: calls.snapshot(),
    };
    tracing::info!(api_calls = ?report.api_calls, "prune applied");
    if let Some(url) = &args.report {
        upload_report(&aws, url, &report).await?;
    }
    output::emit(&report, global.output)?;
    let failures = report.failures();
    if !failures.is_empty() {
        return Err(Error::PruneFailures(format!(
            "{} deletion(s) failed: {}. Everything else was done; re-run prune to retry (it converges)",
            failures.len(),
            failures.join("; ")
        )));
    }
    Ok(ExitCode::SUCCESS)
}

/// Images first (concurrently), then each snapshot whose images all went.
async fn apply(aws: &Aws, todo: &[PlanItem], concurrency: usize) -> Vec<Applied> {
    let aws = aws.clone();
    apply_with(
        todo,
        concurrency,
        move |region: String, image: bool, id: String| {
            let aws = aws.clone();
            async move { ec2::delete_resource(&aws, &region, image, &id).await }
        },
    )
    .await
}

/// [`apply`] over any deleter (fault injection drives it in tests). One failure
/// does not stop the rest; a snapshot whose image failed is not attempted; a
/// deletion task that panics counts as failed.
async fn apply_with<D, Fut>(todo: &[PlanItem], concurrency: usize, delete: D) -> Vec<Applied>
where
    D: Fn(String, bool, String) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Deleted> + Send + 'static,
{
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut out: Vec<Applied> = Vec::new();
    let mut image_ok: HashMap<(String, String), bool> = HashMap::new();
    for phase in [ItemKind::Image, ItemKind::Snapshot] {
        let mut set = tokio::task::JoinSet::new();
        let mut spawned: HashMap<tokio::task::Id, PlanItem> = HashMap::new();
        for item in todo.iter().filter(|i| i.kind == phase) {
            if phase == ItemKind::Snapshot {
                if let Some(failed) = item
                    .depends_on
                    .iter()
                    .find(|d| image_ok.get(&(item.region.clone(), (*d).clone())) == Some(&false))
                {
                    out.push(Applied {
                        kind: item.kind,
                        region: item.region.clone(),
                        id: item.id.clone(),
                        result: AppliedResult::NotAttempted {
                            why: format!("its image {failed} could not be deregistered"),
                        },
                    });
                    continue;
                }
            }
            let sem = sem.clone();
            let delete = delete.clone();
            let (region, image, id) = (
                item.region.clone(),
                item.kind == ItemKind::Image,
                item.id.clone(),
            );
            let handle = set.spawn(async move {
                let _permit = sem.acquire_owned().await;
                delete(region, image, id).await
            });
            spawned.insert(handle.id(), item.clone());
        }
        while let Some(joined) = set.join_next_with_id().await {
            let (task, outcome) = match joined {
                Ok((task, outcome)) => (task, outcome),
                Err(e) => (
                    e.id(),
                    Deleted::Failed {
                        error: format!("the deletion task failed: {e}"),
                    },
                ),
            };
            let Some(item) = spawned.remove(&task) else {
                continue;
            };
            if item.kind == ItemKind::Image {
                image_ok.insert(
                    (item.region.clone(), item.id.clone()),
                    !matches!(outcome, Deleted::Failed { .. }),
                );
            }
            out.push(Applied {
                kind: item.kind,
                region: item.region,
                id: item.id,
                result: AppliedResult::Done { outcome },
            });
        }
    }
    out.sort_by(|a, b| {
        (a.region.as_str(), a.kind, a.id.as_str()).cmp(&(b.region.as_str(), b.kind, b.id.as_str()))
    });
    out
}

async fn announce(aws: &Aws, global: &Global, args: &PruneArgs, results: &[Applied]) -> Result<()> {
    let region = global
        .region
        .clone()
        .or_else(|| aws.default_region())
        .ok_or_else(|| {
            Error::Usage("--events needs a region for EventBridge: pass --region".into())
        })?;
    let mut entries = Vec::new();
    for a in results.iter().filter(|a| {
        a.kind == ItemKind::Image
            && matches!(
                a.result,
                AppliedResult::Done {
                    outcome: Deleted::Deleted
                }
            )
    }) {
        let mut facts = EventFacts {
            status: "Deregistered".into(),
            primary: Some((a.region.clone(), a.id.clone())),
            ..EventFacts::default()
        };
        facts.amis.insert(a.region.clone(), a.id.clone());
        entries.push(
            build_entry(
                &facts,
                &args.event.event_source,
                &args.event.event_detail_type,
                &args.event.event_bus,
            )
            .map_err(Error::EventRejected)?,
        );
    }
    for chunk in entries.chunks(crate::events::entry::MAX_ENTRIES) {
        super::event::send(aws, &region, chunk.to_vec()).await?;
    }
    Ok(())
}

async fn upload_report(aws: &Aws, url: &str, report: &PruneReport) -> Result<()> {
    let dir = tempfile_dir()?;
    let name = if url.ends_with(".json") {
        url.rsplit('/').next().unwrap_or("prune.json").to_string()
    } else {
        format!(
            "prune-{}.json",
            report.plan.generated_at.format("%Y%m%dT%H%M%SZ")
        )
    };
    let path = dir.join(&name);
    let json = serde_json::to_string_pretty(report).map_err(|e| Error::Other(e.to_string()))?;
    std::fs::write(&path, json).map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    let prefix = if url.ends_with(".json") {
        url.rsplit_once('/')
            .map_or(url.to_string(), |(p, _)| format!("{p}/"))
    } else {
        url.to_string()
    };
    let urls = crate::aws::s3::upload(aws, &prefix, &[Path::new(&path)]).await?;
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("ami-builder: prune report written to {}", urls.join(", "));
    Ok(())
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("ami-builder-report-{}", std::process::id()));
    std::fs::create_dir_all(&d).map_err(|e| Error::io(format!("creating {}", d.display()), e))?;
    Ok(d)
}

/// The result of `retention lint`.
#[derive(Debug, Serialize)]
pub struct LintReport {
    /// Resources looked at.
    pub resources: usize,
    /// Findings.
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

/// Run `retention ...`.
pub async fn retention(global: &Global, cmd: RetentionCommand) -> Result<ExitCode> {
    let format = global.output;
    match cmd {
        RetentionCommand::Lint(a) => {
            let aws = super::load_aws(global).await;
            let regions = regions_or_default(&a.regions, global, &aws)?;
            let cfg = RetentionConfig {
                tag_prefix: a.retention_tag.clone(),
                ..RetentionConfig::default()
            };
            let inv = gather_all(&aws, &regions, &ApiCalls::default()).await?;
            let mut findings = Vec::new();
            for i in &inv.instances {
                findings.extend(retention::lint_resource(
                    &format!("{} {}", i.region, i.id),
                    retention::TagTarget::Instance,
                    &i.tags,
                    &cfg,
                ));
            }
            for i in &inv.images {
                findings.extend(retention::lint_resource(
                    &format!("{} {}", i.region, i.id),
                    retention::TagTarget::Image,
                    &i.tags,
                    &cfg,
                ));
            }
            for s in &inv.snapshots {
                findings.extend(retention::lint_resource(
                    &format!("{} {}", s.region, s.id),
                    retention::TagTarget::Snapshot,
                    &s.tags,
                    &cfg,
                ));
            }
            let report = LintReport {
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
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::{Action, Reason};

    fn item(kind: ItemKind, id: &str, depends_on: &[&str]) -> PlanItem {
        PlanItem {
            kind,
            region: "us-east-1".into(),
            id: id.into(),
            family: None,
            action: Action::Delete,
            reason: Reason::Pinned { value: "x".into() },
            expires_at: None,
            size_gib: None,
            depends_on: depends_on.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn one_failure_does_not_stop_the_rest_and_its_snapshots_wait() {
        let todo = vec![
            item(ItemKind::Image, "ami-bad", &[]),
            item(ItemKind::Image, "ami-good", &[]),
            item(ItemKind::Snapshot, "snap-bad", &["ami-bad"]),
            item(ItemKind::Snapshot, "snap-good", &["ami-good"]),
            item(ItemKind::Snapshot, "snap-orphan", &[]),
            item(ItemKind::Image, "ami-panics", &[]),
        ];
        let deleter = |_region: String, _image: bool, id: String| async move {
            match id.as_str() {
                "ami-bad" => Deleted::Failed {
                    error: "UnauthorizedOperation: no".into(),
                },
                "snap-orphan" => Deleted::AlreadyGone,
                "ami-panics" => panic!("boom"),
                _ => Deleted::Deleted,
            }
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        let out = rt.block_on(apply_with(&todo, 2, deleter));
        let by_id: HashMap<&str, &AppliedResult> =
            out.iter().map(|a| (a.id.as_str(), &a.result)).collect();
        assert_eq!(out.len(), 6, "{out:?}");
        assert!(matches!(
            by_id["ami-good"],
            AppliedResult::Done {
                outcome: Deleted::Deleted
            }
        ));
        assert!(matches!(
            by_id["snap-good"],
            AppliedResult::Done {
                outcome: Deleted::Deleted
            }
        ));
        assert!(matches!(
            by_id["snap-orphan"],
            AppliedResult::Done {
                outcome: Deleted::AlreadyGone
            }
        ));
        assert!(matches!(
            by_id["snap-bad"],
            AppliedResult::NotAttempted { .. }
        ));
        assert!(matches!(
            by_id["ami-bad"],
            AppliedResult::Done {
                outcome: Deleted::Failed { .. }
            }
        ));
        assert!(matches!(
            by_id["ami-panics"],
            AppliedResult::Done {
                outcome: Deleted::Failed { .. }
            }
        ));
        let report = PruneReport {
            plan: retention::plan(&Inventory::default(), &PlanRules::default(), Utc::now()),
            applied: true,
            results: out,
            api_calls: BTreeMap::new(),
        };
        assert_eq!(
            report.failures().len(),
            2,
            "the failures that make prune exit 8"
        );
    }
}
