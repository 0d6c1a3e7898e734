//! Retention rules shared with the AWS EBS Snapshot Scheduler, and prune
//! planning.
//!
//! * [`grammar`]: the scheduler's tag grammar reproduced exactly, retention
//!   reading, scheduler-snapshot recognition, expiry.
//! * [`lint`]: findings (with suggested fixes) for values the scheduler
//!   ignores or chokes on, and `retention explain`.
//! * [`plan`](mod@plan): the prune planner, a pure function of
//!   (inventory, rules, now) -> [`Plan`].
//! * [`saved`]: whether a saved plan may be applied now, and what each of its
//!   deletions becomes against a fresh plan.
//! * [`sharing`]: which items need sharing facts, and merging them in.
//! * [`settled`]: which deletions no unread fact can change, so that apply
//!   can start them while the rest is still read.
//! * [`recycle_bin`]: which Recycle Bin rule keeps a deletion recoverable.
//! * [`references`]: which images to ask `DescribeImageReferences` about.
//! * [`deletion`]: which images are deregistered together with their
//!   snapshots.
//! * [`families`]: `--family` names that no listed image carries.
//!
//! Everything here is pure: no AWS calls, no clock (callers pass `now`), no
//! environment, no I/O. The EC2 adapter gathers the [`Inventory`]; the
//! `prune` command applies the [`Plan`].

pub mod deletion;
pub mod families;
pub mod fleet;
pub mod grammar;
pub mod lint;
pub mod plan;
pub mod recycle_bin;
pub mod references;
pub mod saved;
pub mod settled;
pub mod sharing;

mod fast_hash;
mod order;
mod par;

pub use grammar::{
    check_value, combine_retention, combine_retention_ref, expiry, is_exclusion,
    is_scheduler_snapshot, matching_tags, parse_strict, parse_value, retention_days_for,
    source_instance_from_description, Form, GrammarError, Issue, Origin, RetentionConfig,
    RetentionOutcome, ScheduleSpec,
};
pub use lint::{
    explain, lint_inventory, lint_resource, lint_value, suggest_fix, Explanation, Finding, Reading,
    Severity, TagTarget,
};
pub use plan::{
    plan, plan_on, plan_ranked, recheck, Action, BuildRanks, Image, Instance, InvalidTag,
    Inventory, ItemKind, Plan, PlanIndex, PlanItem, PlanRules, Reason, Recheck, RetentionSource,
    Scope, Sharing, Snapshot, Summary, TagRef, Usage, UsedBy,
};
