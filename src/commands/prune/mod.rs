//! `ami-builder prune`: plan, then apply.
//!
//! Glue: it reads and checks a saved plan (the decisions are the pure
//! `retention::saved`), gathers the inventory, plans (`retention::plan`)
//! with sharing read where it matters (`sharing`), enforces
//! `--max-deletions`, checks permissions with DryRun, applies (`apply`),
//! and records what it did ([`report`]) before any event or upload. Re-running
//! after a crash converges: what is gone counts as done, and with `--plan
//! FILE` nothing is deleted that both plans do not delete.

mod accounts;
mod apply;
mod lanes;
mod references;
pub mod report;
mod sharing;
mod steps;
mod undo;

use std::collections::HashSet;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use crate::aws::ec2::{self, Deleted};
use crate::aws::Aws;
use crate::cli::{Global, PruneArgs};
use crate::error::{Error, Result};
use crate::ids::{AccountId, AmiId, Region, SnapshotId};
use crate::output;
use crate::retention::saved::{self, Present, Refusal, Verdict, PLAN_SCHEMA_VERSION};
use crate::retention::{Inventory, ItemKind, Plan, PlanItem, PlanRules, RetentionConfig};

use report::deleted_images;
pub use report::{Applied, AppliedResult, PruneReport};

fn rules_from(args: &PruneArgs) -> PlanRules {
    PlanRules {
        retention: RetentionConfig {
            tag_prefix: args.retention.retention_tag.clone(),
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
        unused_for_secs: args.unused_for.map(|a| a.num_seconds()),
        require_recycle_bin: args.require_recycle_bin,
        deprecate_after_secs: args.deprecate_after.map(|a| a.num_seconds()),
        disable_after_secs: args.disable_after.map(|a| a.num_seconds()),
        disable_protection: args.disable_protection,
        ..PlanRules::default()
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
    read_ours(path, "plan", "; nothing was listed or deleted")
}

/// Read a plan or report that ami-builder wrote: the file, its
/// `schema_version`, its shape. Each failure is a usage error naming the
/// file, the `kind` and what was `not_done` because of it.
/// The local report of an applied run (for `--resend` and `prune undo`),
/// refused unless it was applied and names only EC2 ids: it is data from a
/// file, not authority.
fn read_applied(path: &Path, not_done: &str) -> Result<PruneReport> {
    let report: PruneReport = read_ours(path, "report", not_done)?;
    let not_a_report = |e: String| {
        Error::Usage(format!(
            "{} is not an ami-builder prune report: {e}{not_done}",
            path.display()
        ))
    };
    if !report.applied {
        return Err(not_a_report("it is a plan that was not applied".into()));
    }
    let bad: Vec<String> = report
        .results
        .iter()
        .filter(|a| {
            !Region::is_valid(&a.region)
                || !match a.kind {
                    ItemKind::Image => AmiId::is_valid(&a.id),
                    ItemKind::Snapshot => SnapshotId::is_valid(&a.id),
                }
        })
        .map(|a| format!("{} {}", a.region, a.id))
        .collect();
    if !bad.is_empty() {
        return Err(not_a_report(format!(
            "it names resources that are not EC2 ids: {}",
            bad.join(", ")
        )));
    }
    Ok(report)
}

fn read_ours<T: serde::de::DeserializeOwned>(path: &Path, kind: &str, not_done: &str) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::Usage(format!(
            "cannot read the {kind} {}: {e}{not_done}",
            path.display()
        ))
    })?;
    let not_ours = |e: String| {
        Error::Usage(format!(
            "{} is not an ami-builder prune {kind} ({e}){not_done}",
            path.display()
        ))
    };
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| not_ours(e.to_string()))?;
    saved::check_schema(&doc, kind).map_err(not_ours)?;
    serde_json::from_value(doc).map_err(|e| not_ours(e.to_string()))
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
    if let Some(crate::cli::PruneCommand::Undo(undo)) = &args.then {
        return undo::run(global, undo).await;
    }
    if let Some(report) = &args.resend {
        return resend(global, &args, report).await;
    }
    if let Some(url) = &args.scope.merge_reports {
        return accounts::merge(global, &args, url).await;
    }
    if args.scope.is_multi() {
        return accounts::run(global, &args).await;
    }
    let deadline = tokio::time::Instant::now() + super::timeout(global);
    let aws = super::load_aws(global).await?;
    let regions = crate::steps::regions_or_default(&args.regions, &aws)?;
    if let Some(u) = &args.report {
        crate::aws::s3::parse_url(u)?;
    }
    let rules = rules_from(&args);
    // Bad input first (the saved plan, --as-of, the report file), before
    // minutes of listing and before any call.
    let started = Utc::now();
    let saved: Option<Plan> = match &args.plan {
        Some(path) => Some(read_saved(path)?),
        None => None,
    };
    let check = |saved: &Plan, account: Option<&AccountId>| {
        saved::check_saved(
            saved,
            &Present {
                rules: &rules,
                regions: &regions,
                account_id: account.map(AccountId::as_str),
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
            crate::cli::parse_time(t, started).map_err(|e| Error::Usage(format!("--as-of {e}")))?,
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
    let inv = gather(global, &args, &aws, &regions, &account, deadline).await?;
    plan_and_apply(
        &Run {
            global,
            args: &args,
            aws: &aws,
            events_aws: &aws,
            regions: &regions,
            rules,
            deadline,
            as_of,
            saved: saved.as_ref(),
            report_file,
            plan_out: args.plan_out.clone(),
            emit: &Emit::Stdout,
        },
        inv,
    )
    .await
}

/// The inventory of one account: its images, snapshots and their users in
/// `regions`, the channels' images (in use), each region's Recycle Bin
/// rules.
pub(super) async fn gather(
    global: &Global,
    args: &PruneArgs,
    aws: &Aws,
    regions: &[Region],
    account: &AccountId,
    deadline: tokio::time::Instant,
) -> Result<Inventory> {
    let mut inv = super::within_until(
        global,
        deadline,
        "listing images, snapshots and their users",
        crate::steps::gather_all(
            aws,
            regions,
            Some(account),
            crate::progress::Mode::detect(global.quiet),
        ),
    )
    .await?;
    // a channel's AMI, and the ones before it kept for rollback, are in use
    inv.usage.extend(
        super::within_until(
            global,
            deadline,
            "reading the channels",
            crate::steps::channel_usage(
                aws,
                regions,
                &args.channel_prefix.prefix,
                args.keep_rollback,
            ),
        )
        .await?,
    );
    // each region's Recycle Bin rules: until when a deletion stays
    // recoverable (and, with --require-recycle-bin, whether it may go)
    for region in regions {
        let bin = super::within_until(global, deadline, "reading the Recycle Bin rules", async {
            Ok(crate::aws::recycle_bin::rules(aws, region).await)
        })
        .await?;
        if let crate::retention::recycle_bin::RegionBin::Unreadable { error } = &bin {
            tracing::warn!(
                "the Recycle Bin rules in {region} could not be read ({error}): deletions there are shown without a recovery window{}",
                if args.require_recycle_bin {
                    ", and --require-recycle-bin keeps them all"
                } else {
                    ""
                }
            );
        }
        inv.recycle_bin.insert(region.to_string(), bin);
    }
    Ok(inv)
}

/// Where a report goes when it is made: stdout at once (one account), or
/// kept for the combined result of several ([`accounts`]).
pub(super) enum Emit {
    Stdout,
    Keep(std::sync::Mutex<Option<(String, serde_json::Value)>>),
}

impl Emit {
    fn emit(&self, report: &PruneReport, format: crate::cli::OutputFormat) -> Result<()> {
        match self {
            Emit::Stdout => output::emit(report, format),
            Emit::Keep(kept) => {
                let json = serde_json::to_value(report)
                    .map_err(|e| Error::Other(format!("serialising the report: {e}")))?;
                if let Ok(mut k) = kept.lock() {
                    *k = Some((report.to_string(), json));
                }
                Ok(())
            }
        }
    }
}

/// One account's planning and applying, once its inventory is gathered.
pub(super) struct Run<'a> {
    pub global: &'a Global,
    pub args: &'a PruneArgs,
    /// Acting in the account pruned.
    pub aws: &'a Aws,
    /// Sending the events and uploading the report: the caller's own
    /// account, whichever account is pruned.
    pub events_aws: &'a Aws,
    pub regions: &'a [Region],
    pub rules: PlanRules,
    pub deadline: tokio::time::Instant,
    pub as_of: Option<DateTime<Utc>>,
    pub saved: Option<&'a Plan>,
    pub report_file: Option<std::path::PathBuf>,
    /// Where the plan is written (`--plan-out`; one file per account).
    pub plan_out: Option<std::path::PathBuf>,
    pub emit: &'a Emit,
}

/// Plan (completing the plan with sharing and references), apply while
/// reading, and record: the report on `run.emit`, the report file, then
/// events and upload.
pub(super) async fn plan_and_apply(run: &Run<'_>, inv: Inventory) -> Result<ExitCode> {
    let Run {
        global,
        args,
        aws,
        regions,
        deadline,
        as_of,
        saved,
        ..
    } = *run;
    let rules = &run.rules;
    let concurrency = args.concurrency.max(1);
    let now = as_of.unwrap_or_else(Utc::now);
    if let Some((missing, present)) = crate::retention::families::missing_families(&inv, rules) {
        tracing::warn!(
            "{}",
            crate::retention::families::missing_families_warning(&missing, &present, regions)
        );
    }
    let snapshots_of: crate::retention::deletion::SnapshotsOf = inv
        .images
        .iter()
        .map(|i| {
            (
                (i.region.to_string(), i.id.to_string()),
                i.snapshot_ids.iter().map(ToString::to_string).collect(),
            )
        })
        .collect();
    let listed_owned: Vec<(ItemKind, String, String)> = inv
        .images
        .iter()
        .map(|i| (ItemKind::Image, i.region.to_string(), i.id.to_string()))
        .chain(
            inv.snapshots
                .iter()
                .map(|s| (ItemKind::Snapshot, s.region.to_string(), s.id.to_string())),
        )
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let mode = crate::progress::Mode::detect(global.quiet);
    // Deletions start while the plan is still completed unless the whole
    // plan must be seen first: to hold it against a saved plan, or against
    // --max-deletions.
    let streaming = args.apply && saved.is_none() && args.max_deletions.is_none();
    // Permissions first, with DryRun: refuse before deleting anything. A
    // streaming run checks the deletions the listing alone would make; a
    // region and kind it had none of waits for the final plan.
    let mut checked: HashSet<(Arc<str>, ItemKind)> = HashSet::new();
    if streaming {
        let listed = crate::retention::plan_on(&inv, rules, now, threads);
        let candidates: Vec<&PlanItem> = listed.deletions().collect();
        check_permissions(
            aws,
            global,
            deadline,
            &candidates,
            &mut checked,
            "nothing was deleted",
        )
        .await?;
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Vec<PlanItem>>();
    let stream = streaming.then(|| sharing::Stream {
        to_apply: tx.clone(),
        checked: checked.clone(),
        handed: HashSet::new(),
    });
    let progress = args.apply.then(|| {
        crate::progress::Progress::start_growing(mode, "deleting the planned images and snapshots")
    });
    let planning = async {
        // dropped when planning ends, which tells apply that nothing more comes
        let tx = tx;
        let completed = sharing::plan_with_lookups(
            aws,
            inv,
            rules,
            now,
            sharing::Reading {
                concurrency,
                progress: mode,
                deadline,
                timed_out: super::timeout_error(
                    global,
                    "reading sharing and image references for the plan",
                ),
            },
            stream,
        )
        .await;
        let handed = completed.handed;
        let plan = completed.plan;
        if let Some(error) = completed.error {
            return Err(Unfinished {
                error,
                plan: Some(plan),
            });
        }
        decide(
            aws,
            global,
            args,
            run.plan_out.as_deref(),
            deadline,
            plan,
            saved,
            &listed_owned,
            handed,
            checked,
            &tx,
        )
        .await
    };
    let applying = async {
        match &progress {
            Some(p) => apply::apply(aws, rx, &snapshots_of, concurrency, deadline, p).await,
            None => Vec::new(),
        }
    };
    let (decided, applied) = tokio::join!(planning, applying);
    if let Some(p) = &progress {
        p.finish();
    }
    let as_of = as_of.filter(|_| saved.is_none());
    let report_file = run.report_file.clone().unwrap_or_default();
    let decided = match decided {
        Ok(d) => d,
        Err(Unfinished { error, plan }) => {
            if applied.is_empty() {
                return Err(error);
            }
            // what was settled before the failure was deleted: it is
            // recorded like any applied run, and the failure still decides
            // the exit
            let made = applied.len();
            let report = PruneReport {
                schema_version: PLAN_SCHEMA_VERSION,
                plan: plan.unwrap_or_else(|| {
                    crate::retention::plan_on(&Inventory::default(), rules, now, 1)
                }),
                as_of,
                applied: true,
                results: applied,
                api_calls: aws.api_calls(),
                view: view(args),
            };
            let also = finish_apply(run, &report, &report_file)
                .await
                .err()
                .map_or(String::new(), |e| format!(" Also: {e}"));
            return Err(error.with_note(&format!(
                "Before it, {made} deletion(s) that nothing still unread could change were started; what each did is printed above and recorded in {}.{also}",
                report_file.display()
            )));
        }
    };
    if !args.apply {
        let report = PruneReport {
            schema_version: PLAN_SCHEMA_VERSION,
            plan: decided.shown,
            as_of,
            applied: false,
            results: Vec::new(),
            api_calls: aws.api_calls(),
            view: view(args),
        };
        tracing::info!(api_calls = ?report.api_calls, "prune planned");
        run.emit.emit(&report, global.output)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut results = decided.results;
    results.extend(applied);
    let report = PruneReport {
        schema_version: PLAN_SCHEMA_VERSION,
        plan: decided.shown,
        as_of,
        applied: true,
        results,
        api_calls: aws.api_calls(),
        view: view(args),
    };
    tracing::info!(api_calls = ?report.api_calls, "prune applied");
    finish_apply(run, &report, &report_file).await
}

/// Planning ended without a plan to finish applying: the error, and the
/// last plan made, when there was one.
struct Unfinished {
    error: Error,
    plan: Option<Plan>,
}

impl From<Error> for Unfinished {
    fn from(error: Error) -> Self {
        Unfinished { error, plan: None }
    }
}

/// The final plan's outcome, once the lookups are done: the plan shown,
/// and what became of what is not applied by deleting (a saved plan's
/// deletions now kept or gone, the ladder's steps).
struct Decided {
    shown: Plan,
    results: Vec<Applied>,
}

/// From the final `plan`: writes `--plan-out`, reconciles a saved plan,
/// holds the deletions to `--max-deletions`, checks the permissions not
/// checked yet, takes the ladder's steps and hands the deletions not
/// `handed` over yet to apply.
#[allow(clippy::too_many_arguments)]
async fn decide(
    aws: &Aws,
    global: &Global,
    args: &PruneArgs,
    plan_out: Option<&Path>,
    deadline: tokio::time::Instant,
    plan: Plan,
    saved: Option<&Plan>,
    listed_owned: &[(ItemKind, String, String)],
    handed: HashSet<crate::retention::sharing::ItemKey>,
    mut checked: HashSet<(Arc<str>, ItemKind)>,
    to_apply: &tokio::sync::mpsc::UnboundedSender<Vec<PlanItem>>,
) -> std::result::Result<Decided, Unfinished> {
    let unfinished = |plan: &Plan| {
        let plan = plan.clone();
        move |error: Error| Unfinished {
            error,
            plan: Some(plan),
        }
    };
    for w in crate::retention::recycle_bin::outlived_snapshots(&plan) {
        tracing::warn!("{w}");
    }
    let shown = saved.cloned().unwrap_or_else(|| plan.clone());
    if let Some(p) = plan_out {
        let json = serde_json::to_string_pretty(&shown).map_err(|e| Error::Other(e.to_string()))?;
        std::fs::write(p, json + "\n")
            .map_err(|e| Error::io(format!("writing {}", p.display()), e))
            .map_err(unfinished(&plan))?;
    }

    // What is deleted: with a saved plan, its deletions that the fresh plan
    // (today's facts, today's rules) confirms, as the fresh plan has them.
    let verdicts: Vec<Verdict> = match saved {
        Some(s) => {
            let listed: saved::Listed<'_> = listed_owned
                .iter()
                .map(|(k, r, i)| (*k, r.as_str(), i.as_str()))
                .collect();
            saved::reconcile(s, &plan, &listed)
        }
        None => plan.deletions().cloned().map(Verdict::Proceed).collect(),
    };
    // The ladder's steps due: the fresh plan's (with a saved plan, only
    // those it has too, as the same step).
    let ladder: Vec<PlanItem> = plan
        .items
        .iter()
        .filter(|i| {
            matches!(
                i.action,
                crate::retention::Action::Deprecate
                    | crate::retention::Action::Disable
                    | crate::retention::Action::Unprotect
            )
        })
        .filter(|i| {
            saved.is_none_or(|s| {
                s.items.iter().any(|o| {
                    o.kind == i.kind && o.region == i.region && o.id == i.id && o.action == i.action
                })
            })
        })
        .cloned()
        .collect();
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
    // What was handed over early must be in the final plan: the settled
    // rules promise it (retention::settled, property-tested). Were one
    // not, it is said loudly: it was deleted on the facts known then.
    let key = |i: &PlanItem| (i.kind, Arc::clone(&i.region), Arc::clone(&i.id));
    let deleting: HashSet<_> = todo.iter().map(key).collect();
    for (kind, region, id) in handed.iter().filter(|k| !deleting.contains(*k)) {
        tracing::error!(
            "{kind:?} {id} in {region} was deleted while the plan was completed, but the final plan keeps it: this is a defect of ami-builder, please report it with the prune report"
        );
    }

    if let Some(max) = args.max_deletions {
        let (images, orphans) = saved::deletion_counts(&todo);
        if images > max || orphans > max {
            return Err(Error::PruneRefused(format!(
                "the plan deregisters {images} image(s) and deletes {orphans} orphaned snapshot(s), over --max-deletions {max}: nothing was deleted. Review it (ami-builder prune --plan-out plan.json) and raise the cap if it is right"
            ))
            .into());
        }
    }
    if !args.apply {
        return Ok(Decided { shown, results });
    }
    let rest: Vec<PlanItem> = todo
        .into_iter()
        .filter(|i| !handed.contains(&key(i)))
        .collect();
    let unchecked: Vec<&PlanItem> = rest
        .iter()
        .filter(|i| !checked.contains(&(Arc::clone(&i.region), i.kind)))
        .collect();
    let said = if handed.is_empty() {
        "nothing was deleted"
    } else {
        "nothing more was deleted"
    };
    check_permissions(aws, global, deadline, &unchecked, &mut checked, said)
        .await
        .map_err(unfinished(&plan))?;
    let _ = to_apply.send(rest);
    results.extend(
        super::within_until(global, deadline, "the ladder's steps", async {
            Ok(steps::take(aws, &ladder).await)
        })
        .await
        .map_err(unfinished(&plan))?,
    );
    Ok(Decided { shown, results })
}

/// DryRun a deregistration and a snapshot deletion in each region of
/// `candidates` (one of each, when it has one), and add the (region, kind)
/// checked to `checked`. Any missing permission refuses the run.
async fn check_permissions(
    aws: &Aws,
    global: &Global,
    deadline: tokio::time::Instant,
    candidates: &[&PlanItem],
    checked: &mut HashSet<(Arc<str>, ItemKind)>,
    said: &str,
) -> Result<()> {
    let mut regions: Vec<&Arc<str>> = candidates.iter().map(|i| &i.region).collect();
    regions.sort();
    regions.dedup();
    for r in regions {
        let first = |kind: ItemKind| {
            candidates
                .iter()
                .find(|i| i.region == *r && i.kind == kind)
                .map(|i| &*i.id)
        };
        let (img, snap) = (first(ItemKind::Image), first(ItemKind::Snapshot));
        let missing =
            super::within_until(global, deadline, "the DryRun permission checks", async {
                Ok(ec2::dry_run_permissions(aws, r, img, snap).await)
            })
            .await?;
        if !missing.is_empty() {
            return Err(Error::PruneRefused(format!(
                "missing permissions (checked with DryRun, {said}): {}",
                missing.join(", ")
            )));
        }
        if img.is_some() {
            checked.insert((Arc::clone(r), ItemKind::Image));
        }
        if snap.is_some() {
            checked.insert((Arc::clone(r), ItemKind::Snapshot));
        }
    }
    Ok(())
}

fn view(args: &PruneArgs) -> crate::retention::plan::TableView {
    crate::retention::plan::TableView {
        wide: args.wide,
        only_deletions: args.only_deletions,
    }
}

/// After the deletions: the record first (stdout, then the local report
/// file), then the events and the upload. A failure of either is reported
/// with what was deleted and how to send the rest (`--resend`); deletion
/// failures (exit 8) outrank an event failure (7), which outranks the rest.
async fn finish_apply(run: &Run<'_>, report: &PruneReport, report_file: &Path) -> Result<ExitCode> {
    let (global, args, deadline) = (run.global, run.args, run.deadline);
    let aws = run.events_aws;
    run.emit.emit(report, global.output)?;
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
            announce(
                aws,
                args,
                &report.results,
                report.plan.scope.account_id.as_ref(),
            ),
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
        None => args.out.dir.join(format!(
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
    let report = read_applied(path, "; nothing was sent")?;
    let aws = super::load_aws(global).await?;
    let deadline = tokio::time::Instant::now() + super::timeout(global);
    if args.events {
        super::within_until(
            global,
            deadline,
            "sending the events",
            announce(
                &aws,
                args,
                &report.results,
                report.plan.scope.account_id.as_ref(),
            ),
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

/// The lifecycle events of an applied run, each naming its image's
/// `account` (the account pruned).
async fn announce(
    aws: &Aws,
    args: &PruneArgs,
    results: &[Applied],
    account: Option<&AccountId>,
) -> Result<()> {
    let region = aws.require_region("--events")?;
    use crate::events::entry::AmiStatus;
    let mut entries = Vec::new();
    // each ladder step taken, then each deregistration
    // (turning protection off has no AmiStatus: nothing about the image
    // changes for its users)
    let stepped = results.iter().filter_map(|a| match a.result {
        AppliedResult::Step {
            step, done: true, ..
        } => match step {
            crate::retention::plan::Step::Deprecate => Some((a, AmiStatus::Deprecated)),
            crate::retention::plan::Step::Disable => Some((a, AmiStatus::Disabled)),
            crate::retention::plan::Step::Unprotect => None,
        },
        _ => None,
    });
    let deregistered = deleted_images(results)
        .into_iter()
        .map(|a| (a, AmiStatus::Deregistered));
    for (a, status) in stepped.chain(deregistered) {
        // the ids were checked when listed (or, for --resend, when read)
        entries.push(crate::steps::announce::image_entry(
            &a.region,
            &a.id,
            status,
            &args.event,
            account,
        )?);
    }
    if !entries.is_empty() {
        crate::steps::announce::send(aws, &region, entries).await?;
    }
    Ok(())
}

async fn upload_report(aws: &Aws, url: &str, report: &PruneReport) -> Result<()> {
    // named by its account too: the runs of several accounts (at once, or
    // resent later one by one) upload side by side
    let account = report
        .plan
        .scope
        .account_id
        .as_ref()
        .map_or_else(String::new, |a| format!("{a}-"));
    let name = format!(
        "prune-{account}{}.json",
        report.plan.generated_at.format("%Y%m%dT%H%M%SZ")
    );
    let urls = upload_json(aws, url, &name, report).await?;
    eprintln!("ami-builder: prune report written to {}", urls.join(", "));
    Ok(())
}

/// Upload `value` as JSON to `url`: an object URL ending in `.json` names
/// the object, a prefix takes `name` under it.
pub(super) async fn upload_json<T: serde::Serialize>(
    aws: &Aws,
    url: &str,
    name: &str,
    value: &T,
) -> Result<Vec<String>> {
    // a private directory that goes away however this returns
    let dir = tempfile::Builder::new()
        .prefix("ami-builder-report-")
        .tempdir()
        .map_err(|e| Error::io("creating a temporary directory for the report", e))?;
    let (prefix, name) = match url.rsplit_once('/') {
        Some((p, file)) if url.ends_with(".json") => (format!("{p}/"), file.to_string()),
        _ => (url.to_string(), name.to_string()),
    };
    let path = dir.path().join(&name);
    let json = serde_json::to_string_pretty(value).map_err(|e| Error::Other(e.to_string()))?;
    std::fs::write(&path, json).map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    crate::aws::s3::upload(aws, &prefix, &[Path::new(&path)]).await
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
