//! Saved plans are data, not authority.
//!
//! This module owns the decision whether a plan read from a file may be
//! applied now, and what each of its deletions becomes against a fresh plan
//! made with today's facts and today's rules:
//!
//! * [`check_schema`]: a plan (or report) whose `schema_version` this build
//!   does not know is refused;
//! * [`check_saved`]: the plan must have been made with the rules, the
//!   regions and the account the run acts with now (every difference is
//!   named), its items must be well-formed and inside its own scope, and it
//!   must be neither stale nor made as of a future time;
//! * [`reconcile`]: a saved deletion proceeds only when the fresh plan
//!   deletes the same resource too, and then with the fresh plan's item
//!   (its dependencies, not the file's); anything else is skipped, with the
//!   fresh reason, or reported gone only when the fresh listing does not
//!   have it.
//!
//! Pure: the caller passes what it read, what it would plan with now, where
//! it acts, and the time. No I/O, no clock, no environment.

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use super::plan::{ItemKind, Plan, PlanIndex, PlanItem, PlanRules, Reason, Recheck};
use crate::ids::{AmiId, Region, SnapshotId};

/// The `schema_version` of plans and reports this build writes and reads.
pub const PLAN_SCHEMA_VERSION: u32 = 1;

/// How far in the future a saved plan's time may be and still count as made
/// now (clocks of two machines disagree by a little).
pub const FUTURE_SKEW: TimeDelta = TimeDelta::minutes(5);

/// Why a saved plan is not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// It was made for something else than this run (rules, regions,
    /// account), or it is malformed: a usage error, nothing was listed.
    Mismatch(Vec<String>),
    /// It is older than the allowed age.
    Stale { age: TimeDelta, max_age: TimeDelta },
    /// It was made as of a future time (`--as-of`): a saved plan is applied
    /// only in the present.
    Future { ahead: TimeDelta },
}

/// Refuses a document whose `schema_version` is missing or unknown.
/// `what` names it in the message ("plan", "report").
pub fn check_schema(doc: &Value, what: &str) -> Result<(), String> {
    match doc.get("schema_version").and_then(Value::as_u64) {
        Some(v) if v == u64::from(PLAN_SCHEMA_VERSION) => Ok(()),
        Some(v) => Err(format!(
            "the {what} has schema_version {v}; this ami-builder reads version {PLAN_SCHEMA_VERSION}: make it again with this version"
        )),
        None => Err(format!(
            "the {what} has no schema_version (it was written by an older ami-builder or by hand): make it again with this version"
        )),
    }
}

/// What the run would act with now.
#[derive(Debug, Clone)]
pub struct Present<'a> {
    pub rules: &'a PlanRules,
    pub regions: &'a [Region],
    /// The account the credentials act in; `None` before it is known (the
    /// account is then not checked: call again once it is).
    pub account_id: Option<&'a str>,
    pub now: DateTime<Utc>,
    pub max_age: TimeDelta,
}

/// Whether `saved` may be applied by a run described by `present`.
/// Mismatches come first (all of them, each named), then the plan's age.
pub fn check_saved(saved: &Plan, present: &Present<'_>) -> Result<(), Refusal> {
    let mut problems = rule_differences(&saved.rules, present.rules);
    let saved_regions: BTreeSet<&str> = saved.scope.regions.iter().map(Region::as_str).collect();
    let now_regions: BTreeSet<&str> = present.regions.iter().map(Region::as_str).collect();
    if saved_regions != now_regions {
        problems.push(format!(
            "regions: the plan is for {}, this run acts in {}",
            list(&saved_regions),
            list(&now_regions)
        ));
    }
    match (saved.scope.account_id.as_deref(), present.account_id) {
        (None, _) => problems.push("account: the plan does not say which account it is for".into()),
        (Some(a), Some(now)) if a != now => problems.push(format!(
            "account: the plan is for account {a}, these credentials act in account {now}"
        )),
        _ => {}
    }
    problems.extend(malformed_items(saved));
    if !problems.is_empty() {
        return Err(Refusal::Mismatch(problems));
    }
    let age = present.now - saved.generated_at;
    if age < -FUTURE_SKEW {
        return Err(Refusal::Future { ahead: -age });
    }
    if age > present.max_age {
        return Err(Refusal::Stale {
            age,
            max_age: present.max_age,
        });
    }
    Ok(())
}

fn list(set: &BTreeSet<&str>) -> String {
    if set.is_empty() {
        "no region".to_string()
    } else {
        set.iter().copied().collect::<Vec<_>>().join(",")
    }
}

/// The flag that sets a rule, for the message.
fn flag_of(field: &str) -> &'static str {
    match field {
        "keep" => " (--keep)",
        "families" => " (--family)",
        "include_shared" => " (--include-shared)",
        "scheduler_snapshots" => " (--scheduler-snapshots)",
        "unused_for_secs" => " (--unused-for, in seconds)",
        "retention.tag_prefix" => " (--retention-tag)",
        "retention.default_retention_days" => " (--default-retention-days)",
        _ => "",
    }
}

/// Every rule that differs, as `name: the plan says X, now Y (--flag)`.
/// Families compare as sets (order and repeats do not matter).
pub fn rule_differences(saved: &PlanRules, now: &PlanRules) -> Vec<String> {
    let norm = |r: &PlanRules| {
        let mut r = r.clone();
        r.families.sort();
        r.families.dedup();
        serde_json::to_value(r).unwrap_or(Value::Null)
    };
    let (a, b) = (norm(saved), norm(now));
    let mut out = Vec::new();
    diff_objects("", &a, &b, &mut out);
    out
}

fn diff_objects(prefix: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        if a != b {
            out.push(format!("rules: the plan says {a}, now {b}"));
        }
        return;
    };
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        let name = format!("{prefix}{k}");
        let (x, y) = (
            a.get(k.as_str()).unwrap_or(&Value::Null),
            b.get(k.as_str()).unwrap_or(&Value::Null),
        );
        if x.is_object() && y.is_object() {
            diff_objects(&format!("{name}."), x, y, out);
        } else if x != y {
            out.push(format!(
                "{name}: the plan says {x}, now {y}{}",
                flag_of(&name)
            ));
        }
    }
}

/// Items that no plan of ours contains: ids that are not EC2 ids, regions
/// outside the plan's own scope, dependencies that are not image ids.
pub fn malformed_items(saved: &Plan) -> Vec<String> {
    let scope: HashSet<&str> = saved.scope.regions.iter().map(Region::as_str).collect();
    let mut out = Vec::new();
    for i in &saved.items {
        let id_ok = match i.kind {
            ItemKind::Image => AmiId::is_valid(&i.id),
            ItemKind::Snapshot => SnapshotId::is_valid(&i.id),
        };
        if !id_ok {
            out.push(format!("item {:?}: not a valid {} id", &*i.id, i.kind));
        }
        if !Region::is_valid(&i.region) || !scope.contains(&*i.region) {
            out.push(format!(
                "item {}: region {:?} is not one of the plan's regions",
                &*i.id, &*i.region
            ));
        }
        if let Some(bad) = i.depends_on.iter().find(|d| !AmiId::is_valid(d)) {
            out.push(format!(
                "item {}: depends on {:?}, not an image id",
                &*i.id, &**bad
            ));
        }
        if out.len() >= 20 {
            out.push("... (more)".into());
            break;
        }
    }
    out
}

/// What one saved deletion becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Both plans delete it: delete, as the fresh plan has it.
    Proceed(PlanItem),
    /// The fresh plan keeps it, for this reason.
    Kept { item: PlanItem, reason: Reason },
    /// The fresh listing has the resource, but it is no longer in the plan's
    /// scope (a tag changed): not deleted.
    OutOfScope(PlanItem),
    /// The fresh listing does not have it: already gone.
    Gone(PlanItem),
}

/// `(kind, region, id)` of every resource the fresh listing saw.
pub type Listed<'a> = HashSet<(ItemKind, &'a str, &'a str)>;

/// The verdict on each deletion of `saved` against `fresh` (made now, with
/// today's rules), in the saved plan's order. Nothing the saved plan did
/// not plan to delete appears here, so nothing unplanned is ever deleted;
/// nothing the fresh plan keeps proceeds, so an edited plan cannot delete
/// what today's rules keep.
pub fn reconcile(saved: &Plan, fresh: &Plan, listed: &Listed<'_>) -> Vec<Verdict> {
    let index = PlanIndex::new(fresh);
    let fresh_items: std::collections::HashMap<(ItemKind, &str, &str), &PlanItem> = fresh
        .items
        .iter()
        .map(|i| ((i.kind, &*i.region, &*i.id), i))
        .collect();
    saved
        .deletions()
        .map(|item| match index.recheck(item) {
            Recheck::Proceed => {
                let key = (item.kind, &*item.region, &*item.id);
                Verdict::Proceed(
                    fresh_items
                        .get(&key)
                        .map_or_else(|| item.clone(), |f| (*f).clone()),
                )
            }
            Recheck::Skip { reason } => Verdict::Kept {
                item: item.clone(),
                reason,
            },
            Recheck::Missing | Recheck::NotPlanned => {
                if listed.contains(&(item.kind, &*item.region, &*item.id)) {
                    Verdict::OutOfScope(item.clone())
                } else {
                    Verdict::Gone(item.clone())
                }
            }
        })
        .collect()
}

/// How many deletions `--max-deletions` counts: images, and orphaned
/// snapshots (an image's own snapshots go with it).
pub fn deletion_counts(todo: &[PlanItem]) -> (usize, usize) {
    let images = todo.iter().filter(|i| i.kind == ItemKind::Image).count();
    let orphans = todo
        .iter()
        .filter(|i| i.kind == ItemKind::Snapshot && i.depends_on.is_empty())
        .count();
    (images, orphans)
}

#[cfg(test)]
mod tests;
