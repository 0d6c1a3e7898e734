//! The prune planner: a pure function of (inventory, rules, now) -> [`Plan`].
//!
//! This module owns the input model ([`Inventory`] and friends, filled in by
//! the EC2 adapter), the rules ([`PlanRules`]), the decision for every
//! resource in scope ([`PlanItem`] with a [`Reason`]), the plan's summary,
//! and [`recheck`], which decides whether a saved plan's item may still be
//! applied. The text table is `table` ([`TableView`]); the planner itself
//! is `planner`.
//!
//! It does no I/O: no AWS calls, no clock (the caller passes `now`), no
//! environment, no files.
//!
//! # Scope
//! * images owned by the account (see [`Inventory::account_id`]) that carry
//!   the family tag or a retention tag, restricted to [`PlanRules::families`]
//!   when that is not empty;
//! * the snapshots of those images;
//! * orphaned snapshots: carrying a tag under [`PlanRules::tag_prefix_ours`]
//!   and referenced by no image in the inventory (family filter applies to
//!   their own family tag);
//! * with [`PlanRules::scheduler_snapshots`], snapshots carrying the
//!   scheduler's `auto_delete` marker (regardless of the family filter).
//!
//! # Decisions (first rule wins)
//! Images: protected (in use by an instance not terminated, a launch
//! template version, a launch configuration or an Auto Scaling group;
//! deregistration protection; shared unless `include_shared`; pinned with the
//! keep tag; retention tag excluded or malformed) -> newest `keep` builds of
//! the family -> expired (creation + retention x 24 h <= now) -> kept until it
//! expires.
//!
//! Snapshots: the scheduler's (unless `scheduler_snapshots`) -> used by an
//! image that this plan does not delete -> in use / shared / pinned /
//! retention excluded or malformed -> expired -> kept until it expires. A
//! snapshot's retention is its own (its own tags, else the default); a
//! scheduler snapshot's comes from its source instance's tags (longest
//! matching; the default when the instance is gone).
//!
//! # Builds
//! A build is one Packer run: images of one family joined by the same
//! run-UUID tag, or by the source-image tag (`<region>:<ami>`) pointing at
//! the same image, are one build. Builds are ranked per family by their
//! newest image's creation time (ties: the smallest `(region, id)` first).
//! Removing images from a build can only move it down the ranking, which
//! keeps planning idempotent.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::grammar::RetentionConfig;
use crate::ids::{AccountId, AmiId, Region, SnapshotId};

// ----------------------------------------------------------------- inputs

/// Everything the planner looks at, gathered by the EC2 adapter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Inventory {
    /// This account's id. Images whose `owner_id` differs are out of scope.
    /// `None` takes every image as the account's own.
    pub account_id: Option<AccountId>,
    pub images: Vec<Image>,
    pub snapshots: Vec<Snapshot>,
    /// Instances, for the scheduler tags behind scheduler snapshots.
    pub instances: Vec<Instance>,
    /// What uses which image (or snapshot).
    pub usage: Vec<Usage>,
    /// The regions that were listed (the plan's scope).
    pub regions: Vec<Region>,
    /// Each region's Recycle Bin rules (by region name), when they were
    /// read.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub recycle_bin: BTreeMap<String, super::recycle_bin::RegionBin>,
}

/// One AMI (`DescribeImages`, `DescribeImageAttribute`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    pub region: Region,
    pub id: AmiId,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub owner_id: String,
    pub creation_date: DateTime<Utc>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Snapshots in its block device mappings.
    #[serde(default)]
    pub snapshot_ids: Vec<SnapshotId>,
    /// Protection is on (or EC2 gave a value this version does not know).
    #[serde(default)]
    pub deregistration_protection: bool,
    /// Protection was disabled but its cooldown runs until then: EC2
    /// refuses to deregister it before ([`crate::lifecycle::Protection`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deregistration_protection_until: Option<DateTime<Utc>>,
    /// EC2's `DeprecationTime` (past or scheduled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecation_time: Option<DateTime<Utc>>,
    /// EC2's state is `disabled`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
    /// EC2's `LastLaunchedTime`: when an instance was last launched from it
    /// (reported up to 24 hours late).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_launched: Option<DateTime<Utc>>,
    /// Launch permissions beyond the owner.
    #[serde(default)]
    pub sharing: Sharing,
}

/// Who else a resource is shared with (launch or create-volume permissions).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Sharing {
    pub public: bool,
    pub accounts: Vec<String>,
    pub organizations: Vec<String>,
    pub organizational_units: Vec<String>,
}

impl Sharing {
    /// Whether it is shared with anyone.
    pub fn is_shared(&self) -> bool {
        self.public
            || !self.accounts.is_empty()
            || !self.organizations.is_empty()
            || !self.organizational_units.is_empty()
    }

    /// Who it is shared with, for a reason text.
    pub fn describe(&self) -> Vec<String> {
        let mut with = Vec::new();
        if self.public {
            with.push("public".to_string());
        }
        with.extend(self.accounts.iter().map(|a| format!("account {a}")));
        with.extend(
            self.organizations
                .iter()
                .map(|o| format!("organization {o}")),
        );
        with.extend(
            self.organizational_units
                .iter()
                .map(|o| format!("organizational unit {o}")),
        );
        with
    }
}

/// One EBS snapshot (`DescribeSnapshots`, owner self).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub region: Region,
    pub id: SnapshotId,
    #[serde(default)]
    pub volume_id: Option<String>,
    /// The source volume's size: an upper bound of the stored data.
    #[serde(default)]
    pub volume_size_gib: i64,
    pub start_time: DateTime<Utc>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub sharing: Sharing,
}

/// One instance, for the scheduler tags that govern its snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub region: String,
    pub id: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// One use of an image.
///
/// Matched by id alone (ids are unique across regions; matching without the
/// region can only protect more). A snapshot id here (for example from a
/// launch template's block device mapping) protects that snapshot likewise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub region: String,
    #[serde(alias = "resource_id")]
    pub image_id: String,
    pub by: UsedBy,
}

/// What uses an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum UsedBy {
    /// An instance launched from it, in the state EC2 reports (`running`,
    /// `stopped`, ...). Only `terminated` does not protect.
    Instance {
        id: String,
        state: String,
    },
    /// Any version of a launch template (default or not).
    LaunchTemplate {
        id: String,
        version: i64,
    },
    LaunchConfiguration {
        name: String,
    },
    AutoScalingGroup {
        name: String,
    },
    /// A channel's SSM parameter: its current value, or one of the values
    /// before it kept so that `promote --rollback` stays possible.
    Channel {
        parameter: String,
        version: i64,
        current: bool,
    },
    /// A resource `DescribeImageReferences` names: an instance, a launch
    /// template, an SSM parameter, an Image Builder recipe.
    Reference {
        resource_type: String,
        arn: String,
    },
    /// A source of use could not answer for this image: kept, since
    /// nothing is deleted on partial information.
    Unknown {
        source: String,
        error: String,
    },
    /// A use in another account of the run (`prune --accounts`,
    /// `--organization`): an image shared with it and launched or named
    /// there.
    InAccount {
        account: String,
        by: Box<UsedBy>,
    },
}

impl UsedBy {
    /// Whether this use protects the resource.
    pub fn protects(&self) -> bool {
        match self {
            UsedBy::Instance { state, .. } => !state.trim().eq_ignore_ascii_case("terminated"),
            UsedBy::InAccount { by, .. } => by.protects(),
            _ => true,
        }
    }
}

impl fmt::Display for UsedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsedBy::Instance { id, state } => write!(f, "instance {id} ({state})"),
            UsedBy::LaunchTemplate { id, version } => {
                write!(f, "launch template {id} version {version}")
            }
            UsedBy::LaunchConfiguration { name } => write!(f, "launch configuration {name}"),
            UsedBy::AutoScalingGroup { name } => write!(f, "auto scaling group {name}"),
            UsedBy::Channel {
                parameter,
                version,
                current: true,
            } => write!(f, "channel {parameter} (version {version})"),
            UsedBy::Channel {
                parameter,
                version,
                current: false,
            } => write!(
                f,
                "channel {parameter} (version {version}, kept for rollback)"
            ),
            UsedBy::Reference { resource_type, arn } => write!(f, "{resource_type} {arn}"),
            UsedBy::Unknown { source, error } => write!(f, "{source} failed: {error}"),
            UsedBy::InAccount { account, by } => write!(f, "{by} in account {account}"),
        }
    }
}

// ------------------------------------------------------------------ rules

/// The knobs of a prune run. Saved in the plan, and reused when a saved plan
/// is re-checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlanRules {
    pub retention: RetentionConfig,
    /// How many newest builds per family are kept.
    pub keep: usize,
    /// Only these families; empty means all.
    pub families: Vec<String>,
    /// Shared images and snapshots are not protected by being shared.
    pub include_shared: bool,
    /// Take the scheduler's `auto_delete` snapshots into scope.
    pub scheduler_snapshots: bool,
    pub family_tag: String,
    pub keep_tag: String,
    pub source_image_tag: String,
    pub run_uuid_tag: String,
    /// Snapshots with a tag under this prefix are ours (orphan scope).
    pub tag_prefix_ours: String,
    /// USD per GiB-month of standard snapshot storage, for the estimate.
    pub price_per_gib_month: f64,
    /// `--unused-for`, in seconds: an image EC2 says was launched more
    /// recently than this is kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unused_for_secs: Option<i64>,
    /// `--deprecate-after`, in seconds: the ladder deprecates an image this
    /// long after it was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deprecate_after_secs: Option<i64>,
    /// `--disable-after`, in seconds: and disables it this long after the
    /// step before (deprecation, or its creation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_after_secs: Option<i64>,
    /// `--disable-protection`: turn off the deregistration protection of an
    /// image it alone keeps (its own step; a later run deletes it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub disable_protection: bool,
    /// `--require-recycle-bin`: a deletion no Recycle Bin rule would retain
    /// is kept instead.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub require_recycle_bin: bool,
}

impl Default for PlanRules {
    fn default() -> Self {
        Self {
            retention: RetentionConfig::default(),
            keep: 3,
            families: Vec::new(),
            include_shared: false,
            scheduler_snapshots: false,
            family_tag: crate::tags::FAMILY.to_string(),
            keep_tag: crate::tags::KEEP.to_string(),
            source_image_tag: crate::tags::SOURCE_IMAGE.to_string(),
            run_uuid_tag: crate::tags::RUN_UUID.to_string(),
            tag_prefix_ours: crate::tags::PREFIX.to_string(),
            price_per_gib_month: 0.05,
            unused_for_secs: None,
            require_recycle_bin: false,
            deprecate_after_secs: None,
            disable_after_secs: None,
            disable_protection: false,
        }
    }
}

// ---------------------------------------------------------------- outputs

/// What a plan item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ItemKind {
    Image,
    Snapshot,
}

impl fmt::Display for ItemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ItemKind::Image => "image",
            ItemKind::Snapshot => "snapshot",
        })
    }
}

pub use decision::{Action, InvalidTag, Reason, RetentionSource, Step, TagRef};

/// One decision.
///
/// Strings are shared (`Arc<str>`, plain strings in JSON): every item of a
/// region or family points at one copy of its name, and a snapshot's
/// `depends_on` at its images' ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanItem {
    pub kind: ItemKind,
    pub region: Arc<str>,
    pub id: Arc<str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<Arc<str>>,
    /// The image's name (snapshots have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Arc<str>>,
    /// When EC2 made it: an image's creation date, a snapshot's start time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
    pub action: Action,
    pub reason: Reason,
    /// When its retention runs out (when the retention could be read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Snapshot volume size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_gib: Option<i64>,
    /// Images that must be deregistered before this snapshot is deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Arc<str>>,
    /// For a deletion: until when the Recycle Bin keeps it recoverable
    /// (`prune undo`), when a rule retains it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recoverable_until: Option<DateTime<Utc>>,
}

impl PlanItem {
    /// An item in us-east-1 with only what a test of the plan's readers
    /// needs (`depends_on`: a snapshot's images).
    #[cfg(test)]
    pub(crate) fn for_tests(
        kind: ItemKind,
        id: &str,
        action: Action,
        reason: Reason,
        depends_on: &[&str],
    ) -> PlanItem {
        PlanItem {
            kind,
            region: Arc::from("us-east-1"),
            id: Arc::from(id),
            family: None,
            name: None,
            created: None,
            action,
            reason,
            expires_at: None,
            size_gib: None,
            depends_on: depends_on.iter().map(|&d| Arc::from(d)).collect(),
            recoverable_until: None,
        }
    }
}

/// Counts and the estimated saving.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub images_to_delete: usize,
    /// Ladder steps due.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub images_to_deprecate: usize,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub images_to_disable: usize,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub images_to_unprotect: usize,
    pub images_to_keep: usize,
    pub snapshots_to_delete: usize,
    pub snapshots_to_keep: usize,
    /// Sum of the deleted snapshots' volume sizes (an upper bound of the
    /// storage freed: snapshots are incremental).
    pub gib_freed: i64,
    pub est_monthly_saving_usd: f64,
}

/// Where a plan was made: the account and the regions whose listing it
/// decides on. A saved plan is only applied in the same scope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Scope {
    pub account_id: Option<AccountId>,
    pub regions: Vec<Region>,
}

/// A prune plan: saved with `--plan-out`, re-applied with `--plan`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// [`super::saved::PLAN_SCHEMA_VERSION`]; a saved plan with another is refused.
    #[serde(default)]
    pub schema_version: u32,
    pub generated_at: DateTime<Utc>,
    #[serde(default)]
    pub scope: Scope,
    pub rules: PlanRules,
    /// The images, then the snapshots, each by region then id: the order in
    /// which apply proceeds (images are deregistered before their snapshots
    /// are deleted).
    pub items: Vec<PlanItem>,
    pub summary: Summary,
}

impl Plan {
    /// The items planned for deletion, in order.
    pub fn deletions(&self) -> impl Iterator<Item = &PlanItem> {
        self.items.iter().filter(|i| i.action == Action::Delete)
    }
}

// ---------------------------------------------------------------- planner

mod decision;
mod planner;
mod table;

pub use table::{TableView, NARROW};

/// Plans a prune: one [`PlanItem`] for every resource in scope.
///
/// Pure and deterministic: the same inputs give the same plan. Runs in
/// O(n log n) over images and snapshots (sorts and merge joins, no nested
/// scans), on the calling thread.
pub fn plan(inv: &Inventory, rules: &PlanRules, now: DateTime<Utc>) -> Plan {
    planner::plan(inv, rules, now, 1)
}

/// [`plan`], spreading its passes over up to `threads` scoped threads when
/// the inventory is large (the caller says how many: this module does not
/// look at the machine). The plan is the same for any number of threads.
pub fn plan_on(inv: &Inventory, rules: &PlanRules, now: DateTime<Utc>, threads: usize) -> Plan {
    planner::plan(inv, rules, now, threads)
}

/// Each in-scope image's build rank within its family (1: the newest
/// build), by (region, id); images without a family are not in it. What
/// [`crate::retention::settled`] needs to know which deletions no fact
/// still unread can change.
pub type BuildRanks = std::collections::HashMap<(Arc<str>, Arc<str>), u32>;

/// [`plan_on`], and the build ranks it decided with.
pub fn plan_ranked(
    inv: &Inventory,
    rules: &PlanRules,
    now: DateTime<Utc>,
    threads: usize,
) -> (Plan, BuildRanks) {
    planner::plan_ranked(inv, rules, now, threads, true)
}

// ------------------------------------------------------------------- text

const TIME_FORMAT: &str = "%Y-%m-%d %H:%M";

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.images_to_deprecate + self.images_to_disable > 0 {
            write!(
                f,
                "deprecate {} image(s), disable {} image(s); ",
                self.images_to_deprecate, self.images_to_disable
            )?;
        }
        if self.images_to_unprotect > 0 {
            write!(
                f,
                "turn deregistration protection off on {} image(s); ",
                self.images_to_unprotect
            )?;
        }
        write!(
            f,
            "delete {} image(s) and {} snapshot(s), keep {} image(s) and {} snapshot(s); \
             {} GiB of snapshot storage freed (at most), about ${:.2} a month saved",
            self.images_to_delete,
            self.snapshots_to_delete,
            self.images_to_keep,
            self.snapshots_to_keep,
            self.gib_freed,
            self.est_monthly_saving_usd
        )
    }
}

// ---------------------------------------------------------------- recheck

/// The verdict on one saved plan item at apply time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Recheck {
    /// Still planned for deletion: go ahead.
    Proceed,
    /// The saved plan keeps it: nothing to do.
    NotPlanned,
    /// The fresh plan keeps it (it became protected, newest, or its tags
    /// changed): skip, and report why.
    Skip { reason: Reason },
    /// The fresh plan has no such item (gone, or out of scope now): skip.
    Missing,
}

/// Saved items looked up in a fresh plan.
///
/// For `--plan FILE` (see `retention::saved`): the inventory is gathered
/// again, planned now with today's rules (which must equal the plan's), and
/// an item is deleted only when both plans delete it. The fresh plan never
/// adds deletions: what was not planned is never deleted. A snapshot whose
/// image is skipped is kept by the fresh plan too (used by that image).
pub struct PlanIndex<'a> {
    items: HashMap<(ItemKind, &'a str, &'a str), &'a PlanItem>,
}

impl<'a> PlanIndex<'a> {
    pub fn new(fresh: &'a Plan) -> Self {
        Self {
            items: fresh
                .items
                .iter()
                .map(|i| ((i.kind, &*i.region, &*i.id), i))
                .collect(),
        }
    }

    /// The verdict on one item of the saved plan.
    pub fn recheck(&self, saved: &PlanItem) -> Recheck {
        if saved.action != Action::Delete {
            return Recheck::NotPlanned;
        }
        match self.items.get(&(saved.kind, &*saved.region, &*saved.id)) {
            None => Recheck::Missing,
            Some(fresh) if fresh.action == Action::Delete => Recheck::Proceed,
            Some(fresh) => Recheck::Skip {
                reason: fresh.reason.clone(),
            },
        }
    }
}

/// The verdict on one saved item against a fresh plan (see [`PlanIndex`];
/// build the index once when checking many items).
pub fn recheck(saved: &PlanItem, fresh: &Plan) -> Recheck {
    PlanIndex::new(fresh).recheck(saved)
}

#[cfg(test)]
pub(crate) mod tests;
