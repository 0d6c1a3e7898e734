//! `ami-builder prune` (plan, then apply) and `ami-builder retention explain`.
//!
//! Planning is the pure `retention::plan`; this module gathers the inventory,
//! fills in sharing for deletion candidates only, enforces `--max-deletions`,
//! checks permissions with DryRun, and applies with bounded concurrency:
//! images first, then their snapshots (EC2 refuses to delete a snapshot its AMI
//! still uses). Re-running after a crash converges: NotFound counts as done, and
//! with `--plan FILE` nothing is deleted that the saved plan did not plan.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::aws::ec2::{self, Deleted};
use crate::aws::inventory;
use crate::aws::{ApiCalls, Aws};
use crate::cli::{Global, PruneArgs, RetentionCommand};
use crate::error::{Error, Result};
use crate::events::entry::{build_entry, EventFacts};
use crate::output;
use crate::retention::saved::{self, Present, Refusal, Verdict, PLAN_SCHEMA_VERSION};
use crate::retention::{self, Inventory, ItemKind, Plan, PlanItem, PlanRules, RetentionConfig};

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

/// The result of `prune`; with `--apply` also the local report file that
/// `--resend` reads.
#[derive(Debug, Serialize, Deserialize)]
pub struct PruneReport {
    /// [`PLAN_SCHEMA_VERSION`]: a report of another version is refused.
    pub schema_version: u32,
    /// The plan.
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
}

impl PruneReport {
    /// Deletions that failed, and planned ones that were not attempted (an
    /// image that failed first, or `--timeout`): each makes the run exit 8.
    fn failures(&self) -> Vec<String> {
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
                _ => None,
            })
            .collect()
    }
}

impl fmt::Display for PruneReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.plan)?;
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
        families: {
            let mut f = args.family.clone();
            f.sort();
            f.dedup();
            f
        },
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

async fn gather_all(
    aws: &Aws,
    regions: &[String],
    account: Option<&str>,
    calls: &ApiCalls,
) -> Result<Inventory> {
    let mut inv = Inventory {
        account_id: account.map(str::to_string),
        regions: regions.to_vec(),
        ..Inventory::default()
    };
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
/// Each round's calls run up to `concurrency` at once.
async fn plan_with_sharing(
    aws: &Aws,
    mut inv: Inventory,
    rules: &PlanRules,
    now: DateTime<Utc>,
    concurrency: usize,
    calls: &Arc<ApiCalls>,
) -> Result<Plan> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let mut plan = retention::plan_on(&inv, rules, now, threads);
    if rules.include_shared {
        return Ok(plan);
    }
    let mut known: HashSet<Key> = HashSet::new();
    loop {
        let need: Vec<Key> = plan
            .items
            .iter()
            .filter(|i| {
                i.action == retention::Action::Delete
                    || matches!(i.reason, retention::Reason::Newest { .. })
            })
            .map(|i| (i.kind, Arc::clone(&i.region), Arc::clone(&i.id)))
            .filter(|k| !known.contains(k))
            .collect();
        if need.is_empty() {
            return Ok(plan);
        }
        known.extend(need.iter().cloned());
        let read = read_sharing(aws, need, concurrency, calls).await?;
        for image in &mut inv.images {
            let key = (ItemKind::Image, image.region.as_str(), image.id.as_str());
            if let Some(s) = read.get(&key) {
                image.sharing.accounts.clone_from(&s.accounts);
                image.sharing.organizations.clone_from(&s.organizations);
                image
                    .sharing
                    .organizational_units
                    .clone_from(&s.organizational_units);
                image.sharing.public |= s.public;
            }
        }
        for snapshot in &mut inv.snapshots {
            let key = (
                ItemKind::Snapshot,
                snapshot.region.as_str(),
                snapshot.id.as_str(),
            );
            if let Some(s) = read.get(&key) {
                snapshot.sharing = s.clone();
            }
        }
        plan = retention::plan_on(&inv, rules, now, threads);
    }
}

/// A plan item's identity: kind, region, id.
type Key = (ItemKind, Arc<str>, Arc<str>);

/// The sharing of each of `need` (launch permissions of an image,
/// create-volume permissions of a snapshot), up to `concurrency` calls at
/// once. The first failure ends the reading (the calls still running are
/// dropped): prune never plans on a sharing it could not read.
async fn read_sharing(
    aws: &Aws,
    need: Vec<Key>,
    concurrency: usize,
    calls: &Arc<ApiCalls>,
) -> Result<Sharings> {
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for (kind, region, id) in need {
        let (aws, calls, sem) = (aws.clone(), Arc::clone(calls), Arc::clone(&sem));
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let sharing = match kind {
                ItemKind::Image => inventory::image_sharing(&aws, &region, &id, &calls).await,
                ItemKind::Snapshot => inventory::snapshot_sharing(&aws, &region, &id, &calls).await,
            };
            sharing.map(|s| ((kind, region.to_string(), id.to_string()), s))
        });
    }
    let mut read = Sharings::default();
    while let Some(joined) = set.join_next().await {
        let ((kind, region, id), sharing) =
            joined.map_err(|e| Error::Other(format!("a sharing check did not finish: {e}")))??;
        read.insert(kind, region, id, sharing);
    }
    Ok(read)
}

/// Sharing read in one round, looked up by `(kind, region, id)` (hashed on the
/// id, so that a lookup borrows).
#[derive(Default)]
struct Sharings(HashMap<String, Vec<(ItemKind, String, retention::Sharing)>>);

impl Sharings {
    fn insert(&mut self, kind: ItemKind, region: String, id: String, s: retention::Sharing) {
        self.0.entry(id).or_default().push((kind, region, s));
    }

    fn get(&self, key: &(ItemKind, &str, &str)) -> Option<&retention::Sharing> {
        let (kind, region, id) = *key;
        self.0
            .get(id)?
            .iter()
            .find(|(k, r, _)| *k == kind && r == region)
            .map(|(_, _, s)| s)
    }
}

/// The error for a saved plan that is not applied: a mismatch is a usage
/// error (exit 2), a stale or future plan a refusal (exit 9). Nothing was
/// listed or deleted in either case.
fn refusal_error(r: Refusal, path: &Path) -> Error {
    match r {
        Refusal::Mismatch(problems) => Error::Usage(format!(
            "the saved plan {} was not made for this run, so nothing was listed or deleted: {}. Make a fresh plan with the flags you apply with (ami-builder prune --plan-out FILE), or apply with the plan's own flags",
            path.display(),
            problems.join("; ")
        )),
        Refusal::Stale { age, max_age } => Error::PruneRefused(format!(
            "the saved plan {} is {} old, older than --max-plan-age {}: nothing was deleted. Make a fresh plan (ami-builder prune --plan-out FILE) and apply that, or pass a larger --max-plan-age",
            path.display(),
            fmt_age(age),
            fmt_age(max_age)
        )),
        Refusal::Future { ahead } => Error::PruneRefused(format!(
            "the saved plan {} is made as of {} from now (--as-of): a saved plan is only applied in the present, so nothing was deleted. Make a plan now and apply that",
            path.display(),
            fmt_age(ahead)
        )),
    }
}

/// Read a saved plan: unreadable, not a plan, or of an unknown schema is a
/// usage error before anything is listed.
fn read_saved(path: &Path) -> Result<Plan> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::Usage(format!(
            "cannot read the plan {}: {e}; nothing was listed or deleted",
            path.display()
        ))
    })?;
    let not_a_plan = |e: String| {
        Error::Usage(format!(
            "{} is not an ami-builder prune plan ({e}): nothing was listed or deleted",
            path.display()
        ))
    };
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| not_a_plan(e.to_string()))?;
    saved::check_schema(&doc, "plan").map_err(not_a_plan)?;
    serde_json::from_value(doc).map_err(|e| not_a_plan(e.to_string()))
}

/// `2d 3h`, `5h 10m`, `45m`, `30s`.
fn fmt_age(age: TimeDelta) -> String {
    let s = age.num_seconds().max(0);
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// Run `prune`.
pub async fn run(global: &Global, args: PruneArgs) -> Result<ExitCode> {
    if let Some(report) = &args.resend {
        return resend(global, &args, report).await;
    }
    let deadline = tokio::time::Instant::now() + super::timeout(global);
    let aws = super::load_aws(global).await;
    let regions = regions_or_default(&args.regions, global, &aws)?;
    if let Some(u) = &args.report {
        crate::aws::s3::parse_url(u)?;
    }
    let calls = Arc::new(ApiCalls::default());
    let concurrency = args.concurrency.max(1);
    let rules = rules_from(&args);
    // Bad input first (the saved plan, --as-of, the report file), before
    // minutes of listing and before any call.
    let started = Utc::now();
    let saved: Option<Plan> = match &args.plan {
        Some(path) => Some(read_saved(path)?),
        None => None,
    };
    let check = |saved: &Plan, account: Option<&str>| {
        saved::check_saved(
            saved,
            &Present {
                rules: &rules,
                regions: &regions,
                account_id: account,
                now: Utc::now(),
                max_age: args.max_plan_age,
            },
        )
    };
    if let (Some(s), Some(path)) = (&saved, &args.plan) {
        check(s, None).map_err(|r| refusal_error(r, path))?;
    }
    let as_of = match &args.as_of {
        Some(t) => Some(
            DateTime::parse_from_rfc3339(t)
                .map_err(|e| Error::Usage(format!("--as-of `{t}` is not an RFC 3339 time: {e}")))?
                .with_timezone(&Utc),
        ),
        None => None,
    };
    let report_file = if args.apply {
        Some(report_path(&args, started)?)
    } else {
        None
    };

    let account = super::within_until(
        global,
        deadline,
        "finding the account",
        aws.account_id(&regions[0]),
    )
    .await?;
    if let (Some(s), Some(path)) = (&saved, &args.plan) {
        check(s, Some(&account)).map_err(|r| refusal_error(r, path))?;
    }
    let now = as_of.unwrap_or_else(Utc::now);
    let inv = super::within_until(
        global,
        deadline,
        "listing images, snapshots and their users",
        gather_all(&aws, &regions, Some(&account), &calls),
    )
    .await?;
    let listed_owned: Vec<(ItemKind, String, String)> = inv
        .images
        .iter()
        .map(|i| (ItemKind::Image, i.region.clone(), i.id.clone()))
        .chain(
            inv.snapshots
                .iter()
                .map(|s| (ItemKind::Snapshot, s.region.clone(), s.id.clone())),
        )
        .collect();
    let plan = super::within_until(
        global,
        deadline,
        "reading sharing for the plan",
        plan_with_sharing(&aws, inv, &rules, now, concurrency, &calls),
    )
    .await?;
    let shown = saved.clone().unwrap_or_else(|| plan.clone());
    if let Some(p) = &args.plan_out {
        let json = serde_json::to_string_pretty(&shown).map_err(|e| Error::Other(e.to_string()))?;
        std::fs::write(p, json + "\n")
            .map_err(|e| Error::io(format!("writing {}", p.display()), e))?;
    }

    // What is deleted: with a saved plan, its deletions that the fresh plan
    // (today's facts, today's rules) confirms, as the fresh plan has them.
    let verdicts: Vec<Verdict> = match &saved {
        Some(s) => {
            let listed: saved::Listed<'_> = listed_owned
                .iter()
                .map(|(k, r, i)| (*k, r.as_str(), i.as_str()))
                .collect();
            saved::reconcile(s, &plan, &listed)
        }
        None => plan.deletions().cloned().map(Verdict::Proceed).collect(),
    };
    let mut todo: Vec<PlanItem> = Vec::new();
    let mut results: Vec<Applied> = Vec::new();
    for v in verdicts {
        let (item, result) = match v {
            Verdict::Proceed(item) => {
                todo.push(item);
                continue;
            }
            Verdict::Kept { item, reason } => (
                item,
                AppliedResult::Skipped {
                    why: format!("now kept: {reason}"),
                },
            ),
            Verdict::OutOfScope(item) => (
                item,
                AppliedResult::Skipped {
                    why: "no longer in the plan's scope (its tags changed since the plan)".into(),
                },
            ),
            Verdict::Gone(item) => (
                item,
                AppliedResult::Done {
                    outcome: Deleted::AlreadyGone,
                },
            ),
        };
        results.push(Applied {
            kind: item.kind,
            region: item.region.to_string(),
            id: item.id.to_string(),
            result,
        });
    }

    if let Some(max) = args.max_deletions {
        let (images, orphans) = saved::deletion_counts(&todo);
        if images > max || orphans > max {
            return Err(Error::PruneRefused(format!(
                "the plan deregisters {images} image(s) and deletes {orphans} orphaned snapshot(s), over --max-deletions {max}: nothing was deleted. Review it (ami-builder prune --plan-out plan.json) and raise the cap if it is right"
            )));
        }
    }

    let as_of = as_of.filter(|_| saved.is_none());
    if !args.apply {
        let report = PruneReport {
            schema_version: PLAN_SCHEMA_VERSION,
            plan: shown,
            as_of,
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
            .find(|i| *i.region == **r && i.kind == ItemKind::Image)
            .map(|i| &*i.id);
        let snap = todo
            .iter()
            .find(|i| *i.region == **r && i.kind == ItemKind::Snapshot)
            .map(|i| &*i.id);
        let missing =
            super::within_until(global, deadline, "the DryRun permission checks", async {
                Ok(ec2::dry_run_permissions(&aws, r, img, snap, &calls).await)
            })
            .await?;
        if !missing.is_empty() {
            return Err(Error::PruneRefused(format!(
                "missing permissions (checked with DryRun, nothing was deleted): {}",
                missing.join(", ")
            )));
        }
    }

    let applied = apply(&aws, &todo, concurrency, &calls, deadline).await;
    results.extend(applied);
    let report = PruneReport {
        schema_version: PLAN_SCHEMA_VERSION,
        plan: shown,
        as_of,
        applied: true,
        results,
        api_calls: calls.snapshot(),
    };
    tracing::info!(api_calls = ?report.api_calls, "prune applied");
    let report_file = report_file.unwrap_or_default();
    finish_apply(&aws, global, &args, &report, &report_file, deadline).await
}

/// After the deletions: the record first (stdout, then the local report
/// file), then the events and the upload. A failure of either is reported
/// with what was deleted and how to send the rest (`--resend`); deletion
/// failures (exit 8) outrank an event failure (7), which outranks the rest.
async fn finish_apply(
    aws: &Aws,
    global: &Global,
    args: &PruneArgs,
    report: &PruneReport,
    report_file: &Path,
    deadline: tokio::time::Instant,
) -> Result<ExitCode> {
    output::emit(report, global.output)?;
    let written = write_report_file(report_file, report);
    match &written {
        Ok(()) => eprintln!(
            "ami-builder: prune report written to {}",
            report_file.display()
        ),
        Err(e) => eprintln!("ami-builder: {e}"),
    }
    let deleted_list: Vec<String> = deleted_images(&report.results)
        .iter()
        .map(|a| format!("{} {}", a.region, a.id))
        .collect();
    let deleted = if deleted_list.is_empty() {
        "no image was deregistered".to_string()
    } else {
        format!(
            "{} image(s) were deregistered ({})",
            deleted_list.len(),
            deleted_list.join(", ")
        )
    };
    let resend = format!("ami-builder prune --resend {}", report_file.display());
    let mut problems: Vec<Error> = Vec::new();
    if args.events {
        let sent = super::within_until(
            global,
            deadline,
            "sending the events",
            announce(aws, global, args, &report.results),
        )
        .await;
        if let Err(e) = sent {
            problems.push(Error::EventRejected(format!(
                "{e}. {deleted}, recorded above and in {}; to send their events, run `{resend} --events`",
                report_file.display()
            )));
        }
    }
    if let Some(url) = &args.report {
        let uploaded = super::within_until(
            global,
            deadline,
            "uploading the report",
            upload_report(aws, url, report),
        )
        .await;
        if let Err(e) = uploaded {
            problems.push(Error::Other(format!(
                "{e}. The report was not uploaded; it is in {}: run `{resend} --report {url}`",
                report_file.display()
            )));
        }
    }
    if let Err(e) = written {
        problems.push(e);
    }
    let failures = report.failures();
    if !failures.is_empty() {
        let also: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(Error::PruneFailures(format!(
            "{} deletion(s) failed or were not attempted: {}. Everything else was done; re-run prune to retry (it converges){}",
            failures.len(),
            failures.join("; "),
            if also.is_empty() {
                String::new()
            } else {
                format!(". Also: {}", also.join("; "))
            }
        )));
    }
    // The gravest first (an event not sent, 7, over an upload, 1), each named.
    problems.sort_by_key(|e| std::cmp::Reverse(e.exit_code()));
    let mut problems = problems.into_iter();
    match problems.next() {
        None => Ok(ExitCode::SUCCESS),
        Some(first) => {
            let rest: Vec<String> = problems.map(|e| e.to_string()).collect();
            if rest.is_empty() {
                Err(first)
            } else {
                Err(first.with_note(&format!("Also: {}", rest.join("; "))))
            }
        }
    }
}

/// `--report-file`, or a new file in `--out-dir` named after the run's
/// start. Checked before anything is deleted: an existing file is never
/// overwritten (it may be the only record of an earlier run's deletions).
fn report_path(args: &PruneArgs, started: DateTime<Utc>) -> Result<std::path::PathBuf> {
    let path = match &args.report_file {
        Some(p) => p.clone(),
        None => args.out_dir.join(format!(
            "prune-report-{}.json",
            started.format("%Y%m%dT%H%M%S%.3fZ")
        )),
    };
    if path.symlink_metadata().is_ok() {
        return Err(Error::Usage(format!(
            "the report file {} exists: it may be the record of an earlier run, so it is never overwritten; choose another --report-file or move it away",
            path.display()
        )));
    }
    Ok(path)
}

fn write_report_file(path: &Path, report: &PruneReport) -> Result<()> {
    use std::io::Write;
    let fail = |e: std::io::Error| {
        Error::io(
            format!(
                "writing the prune report {} (the results are printed above)",
                path.display()
            ),
            e,
        )
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let json = serde_json::to_string_pretty(report).map_err(|e| Error::Other(e.to_string()))?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(fail)?;
    f.write_all(json.as_bytes()).map_err(fail)?;
    f.write_all(b"\n").map_err(fail)?;
    f.sync_all().map_err(fail)
}

/// `--resend REPORT`: the events and the upload of an earlier apply, from
/// its local report. Deletes and lists nothing.
async fn resend(global: &Global, args: &PruneArgs, path: &Path) -> Result<ExitCode> {
    if !args.events && args.report.is_none() {
        return Err(Error::Usage(
            "--resend sends nothing without --events and/or --report s3://...".into(),
        ));
    }
    if let Some(u) = &args.report {
        crate::aws::s3::parse_url(u)?;
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Usage(format!("cannot read the report {}: {e}", path.display())))?;
    let not_a_report = |e: String| {
        Error::Usage(format!(
            "{} is not an ami-builder prune report: {e}",
            path.display()
        ))
    };
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| not_a_report(e.to_string()))?;
    saved::check_schema(&doc, "report").map_err(not_a_report)?;
    let report: PruneReport =
        serde_json::from_value(doc).map_err(|e| not_a_report(e.to_string()))?;
    if !report.applied {
        return Err(not_a_report("it is a plan that was not applied".into()));
    }
    let bad: Vec<String> = report
        .results
        .iter()
        .filter(|a| {
            !crate::packer::log::is_region(&a.region)
                || !saved::is_ec2_id(
                    &a.id,
                    if a.kind == ItemKind::Image {
                        "ami-"
                    } else {
                        "snap-"
                    },
                )
        })
        .map(|a| format!("{} {}", a.region, a.id))
        .collect();
    if !bad.is_empty() {
        return Err(not_a_report(format!(
            "it names resources that are not EC2 ids: {}",
            bad.join(", ")
        )));
    }
    let aws = super::load_aws(global).await;
    let deadline = tokio::time::Instant::now() + super::timeout(global);
    if args.events {
        super::within_until(
            global,
            deadline,
            "sending the events",
            announce(&aws, global, args, &report.results),
        )
        .await?;
        eprintln!(
            "ami-builder: sent the Deregistered events of {} image(s) from {}",
            deleted_images(&report.results).len(),
            path.display()
        );
    }
    if let Some(url) = &args.report {
        super::within_until(
            global,
            deadline,
            "uploading the report",
            upload_report(&aws, url, &report),
        )
        .await?;
    }
    Ok(ExitCode::SUCCESS)
}

fn deleted_images(results: &[Applied]) -> Vec<&Applied> {
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

/// Images first (concurrently), then each snapshot whose images all went.
async fn apply(
    aws: &Aws,
    todo: &[PlanItem],
    concurrency: usize,
    calls: &Arc<ApiCalls>,
    deadline: tokio::time::Instant,
) -> Vec<Applied> {
    let aws = aws.clone();
    let calls = Arc::clone(calls);
    apply_with(
        todo,
        concurrency,
        deadline,
        move |region: Arc<str>, image: bool, id: Arc<str>| {
            let (aws, calls) = (aws.clone(), Arc::clone(&calls));
            async move { ec2::delete_resource(&aws, &region, image, &id, &calls).await }
        },
    )
    .await
}

/// [`apply`] over any deleter (fault injection drives it in tests). One failure
/// does not stop the rest; a snapshot whose image failed is not attempted; a
/// deletion task that panics counts as failed. No deletion starts after
/// `deadline` (`--timeout`): those not started are reported as not attempted,
/// so the run ends in time and still records everything it did.
async fn apply_with<D, Fut>(
    todo: &[PlanItem],
    concurrency: usize,
    deadline: tokio::time::Instant,
    delete: D,
) -> Vec<Applied>
where
    D: Fn(Arc<str>, bool, Arc<str>) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Deleted> + Send + 'static,
{
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut out: Vec<Applied> = Vec::new();
    let mut image_ok: HashMap<(Arc<str>, Arc<str>), bool> = HashMap::new();
    for phase in [ItemKind::Image, ItemKind::Snapshot] {
        let mut set = tokio::task::JoinSet::new();
        let mut spawned: HashMap<tokio::task::Id, PlanItem> = HashMap::new();
        for item in todo.iter().filter(|i| i.kind == phase) {
            if phase == ItemKind::Snapshot {
                if let Some(failed) = item
                    .depends_on
                    .iter()
                    .find(|d| image_ok.get(&(item.region.clone(), Arc::clone(d))) == Some(&false))
                {
                    out.push(Applied {
                        kind: item.kind,
                        region: item.region.to_string(),
                        id: item.id.to_string(),
                        result: AppliedResult::NotAttempted {
                            why: format!("its image {failed} was not deregistered"),
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
                if tokio::time::Instant::now() >= deadline {
                    return None;
                }
                Some(delete(region, image, id).await)
            });
            spawned.insert(handle.id(), item.clone());
        }
        while let Some(joined) = set.join_next_with_id().await {
            let (task, outcome) = match joined {
                Ok((task, outcome)) => (task, outcome),
                Err(e) => (
                    e.id(),
                    Some(Deleted::Failed {
                        error: format!("the deletion task failed: {e}"),
                    }),
                ),
            };
            let Some(item) = spawned.remove(&task) else {
                continue;
            };
            if item.kind == ItemKind::Image {
                image_ok.insert(
                    (item.region.clone(), item.id.clone()),
                    matches!(outcome, Some(Deleted::Deleted | Deleted::AlreadyGone)),
                );
            }
            let result = match outcome {
                Some(outcome) => AppliedResult::Done { outcome },
                None => AppliedResult::NotAttempted {
                    why: "--timeout ran out before it was attempted; re-run prune to finish".into(),
                },
            };
            out.push(Applied {
                kind: item.kind,
                region: item.region.to_string(),
                id: item.id.to_string(),
                result,
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
    for a in deleted_images(results) {
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
            let inv = gather_all(&aws, &regions, None, &ApiCalls::default()).await?;
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
            depends_on: depends_on.iter().map(|&s| Arc::from(s)).collect(),
        }
    }

    #[test]
    fn refusals_name_the_plan_and_carry_their_exit_codes() {
        let path = Path::new("plan.json");
        let e = refusal_error(
            Refusal::Stale {
                age: TimeDelta::hours(50),
                max_age: TimeDelta::hours(24),
            },
            path,
        );
        assert_eq!(e.exit_code(), 9);
        let msg = e.to_string();
        assert!(
            msg.contains("2d 2h old") && msg.contains("--max-plan-age 1d 0h"),
            "{msg}"
        );
        let e = refusal_error(
            Refusal::Future {
                ahead: TimeDelta::days(3),
            },
            path,
        );
        assert_eq!(e.exit_code(), 9);
        assert!(e.to_string().contains("only applied in the present"), "{e}");
        let e = refusal_error(Refusal::Mismatch(vec!["keep: x".into()]), path);
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("keep: x"), "{e}");
        assert_eq!(fmt_age(TimeDelta::minutes(90)), "1h 30m");
        assert_eq!(fmt_age(TimeDelta::seconds(30)), "30s");
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
        let deleter = |_region: Arc<str>, _image: bool, id: Arc<str>| async move {
            match &*id {
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
        let far = tokio::time::Instant::now() + std::time::Duration::from_secs(3600);
        let out = rt.block_on(apply_with(&todo, 2, far, deleter));
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
            schema_version: PLAN_SCHEMA_VERSION,
            plan: retention::plan(&Inventory::default(), &PlanRules::default(), Utc::now()),
            as_of: None,
            applied: true,
            results: out,
            api_calls: BTreeMap::new(),
        };
        assert_eq!(
            report.failures().len(),
            3,
            "the failures that make prune exit 8 (and the snapshot that waited)"
        );
    }

    #[test]
    fn no_deletion_starts_after_the_deadline() {
        let todo = vec![
            item(ItemKind::Image, "ami-a", &[]),
            item(ItemKind::Snapshot, "snap-a", &["ami-a"]),
            item(ItemKind::Snapshot, "snap-orphan", &[]),
        ];
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let deleter = move |_r: Arc<str>, _i: bool, _id: Arc<str>| {
            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { Deleted::Deleted }
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        let out = rt.block_on(async {
            let past = tokio::time::Instant::now();
            apply_with(&todo, 2, past, deleter).await
        });
        assert_eq!(
            calls.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "nothing deleted"
        );
        assert_eq!(out.len(), 3);
        assert!(
            out.iter()
                .all(|a| matches!(a.result, AppliedResult::NotAttempted { .. })),
            "{out:?}"
        );
    }
}
