//! How the prune plan is computed: tag facts, retention reading (memoised
//! per value), build grouping and ranking, snapshot users, each decision,
//! and the final ordering. The public types and rules are in the parent
//! module; this is only the machinery behind [`super::plan`].
//!
//! It does no I/O: no AWS calls, no clock, no environment, no files.
//!
//! At a million images the cost is dominated by reading memory, so the
//! resources are walked in their listed order (which is the order their data
//! was allocated in), joins and groupings sort compact `(hash, index)` pairs
//! rather than filling large hash maps, items share their strings
//! (`Arc<str>`), and the items are put in their final order by one in-place
//! permutation. The passes over the resources run on scoped threads, each
//! over a contiguous range of the list; their results are joined in range
//! order, so the plan does not depend on the number of threads.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{
    Action, Image, Instance, InvalidTag, Inventory, ItemKind, Plan, PlanItem, PlanRules, Reason,
    RetentionSource, Sharing, Snapshot, Summary, TagRef, UsedBy,
};
use crate::retention::fast_hash::{hash_str, map_with_capacity, FastMap};
use crate::retention::grammar::{
    combine_retention_ref, expiry, matching_tags, parse_strict, source_instance_from_description,
    Issue, RetentionConfig, RetentionOutcome, SCHEDULER_MARKER,
};
use crate::retention::order::{equal_pairs, hash_parts, narrow, order_both, Ordered, UnionFind};
use crate::retention::par::{join, par_ranges};

fn pinned(keep: Option<&str>) -> Option<Reason> {
    let value = keep?;
    if value.trim().eq_ignore_ascii_case("false") {
        None
    } else {
        Some(Reason::Pinned {
            value: value.to_string(),
        })
    }
}

/// `family` entry of an image without a family (or out of scope).
const NO_FAMILY: u32 = u32::MAX;

/// What the planner reads from one resource's tags, gathered in one pass.
#[derive(Debug, Default, Clone, Copy)]
struct Facts<'a> {
    /// Non-empty family tag.
    family: Option<&'a str>,
    /// Non-empty run-UUID tag.
    uuid: Option<&'a str>,
    /// Non-empty source-image tag.
    source: Option<&'a str>,
    /// The keep tag, any value.
    keep: Option<&'a str>,
    /// The tags matching the retention prefix.
    retention: RetentionTags<'a>,
    /// Some matching retention tag is the scheduler's `auto_delete`.
    scheduler_marker: bool,
    /// Some tag is under our own prefix.
    ours: bool,
}

/// The retention tags of one resource, as the tag pass found them: the
/// common case of one tag is read without searching the tags again.
#[derive(Debug, Default, Clone, Copy)]
enum RetentionTags<'a> {
    #[default]
    None,
    One(&'a str, &'a str),
    Several,
}

impl RetentionTags<'_> {
    fn any(self) -> bool {
        !matches!(self, RetentionTags::None)
    }
}

impl<'a> Facts<'a> {
    fn read(tags: &'a BTreeMap<String, String>, rules: &PlanRules) -> Self {
        let mut f = Facts::default();
        let some = |v: &'a str| (!v.is_empty()).then_some(v);
        for (key, value) in tags {
            let (key, value) = (key.as_str(), value.as_str());
            if key == rules.family_tag {
                f.family = some(value);
            } else if key == rules.run_uuid_tag {
                f.uuid = some(value);
            } else if key == rules.source_image_tag {
                f.source = some(value);
            }
            if key == rules.keep_tag {
                f.keep = Some(value);
            }
            if key.starts_with(&rules.retention.tag_prefix) {
                f.retention = match f.retention {
                    RetentionTags::None => RetentionTags::One(key, value),
                    _ => RetentionTags::Several,
                };
                f.scheduler_marker |= value == SCHEDULER_MARKER;
            }
            f.ours |= key.starts_with(&rules.tag_prefix_ours);
        }
        f
    }
}

fn in_use(uses: Option<&Vec<&UsedBy>>) -> Option<Reason> {
    let by: Vec<String> = uses?
        .iter()
        .filter(|u| u.protects())
        .map(|u| u.to_string())
        .collect();
    (!by.is_empty()).then_some(Reason::InUse { by })
}

fn shared(sharing: &Sharing, rules: &PlanRules) -> Option<Reason> {
    (!rules.include_shared && sharing.is_shared()).then(|| Reason::Shared {
        with: sharing.describe(),
    })
}

/// A readable retention, or the protection that stands in for it.
type Retention = Result<(u32, RetentionSource), Reason>;

/// Reads retentions, remembering each distinct tag value's reading (a
/// million resources usually share a handful of values) and sharing one
/// copy of each tag key and value among the items.
struct Reader<'a> {
    cfg: &'a RetentionConfig,
    memo: FastMap<&'a str, Result<u32, Issue>>,
    strings: FastMap<&'a str, Arc<str>>,
}

impl<'a> Reader<'a> {
    fn new(cfg: &'a RetentionConfig) -> Self {
        Self {
            cfg,
            memo: map_with_capacity(64),
            strings: map_with_capacity(64),
        }
    }

    fn shared(&mut self, s: &'a str) -> Arc<str> {
        Arc::clone(self.strings.entry(s).or_insert_with(|| Arc::from(s)))
    }

    fn tag(&mut self, on: &Arc<str>, key: &'a str, value: &'a str) -> Box<TagRef> {
        Box::new(TagRef {
            on: Arc::clone(on),
            key: self.shared(key),
            value: self.shared(value),
        })
    }

    /// A resource's own retention from its retention tags (without one, the
    /// default applies).
    fn own(
        &mut self,
        on: &Arc<str>,
        tags: &'a BTreeMap<String, String>,
        found: RetentionTags<'a>,
    ) -> Retention {
        let cfg = self.cfg;
        let memo = &mut self.memo;
        let read = |value| {
            memo.entry(value)
                .or_insert_with(|| parse_strict(value, cfg).map(|spec| spec.retention_days))
                .clone()
        };
        let outcome = match found {
            RetentionTags::None => {
                return Ok((cfg.default_retention_days, RetentionSource::Default))
            }
            RetentionTags::One(key, value) => {
                combine_retention_ref(std::iter::once((key, value)), cfg, read)
            }
            RetentionTags::Several => combine_retention_ref(matching_tags(tags, cfg), cfg, read),
        };
        match outcome {
            RetentionOutcome::Default { days } => Ok((days, RetentionSource::Default)),
            RetentionOutcome::Tagged { days, key, value } => {
                Ok((days, RetentionSource::Tag(self.tag(on, key, value))))
            }
            RetentionOutcome::Excluded { key, value } => {
                Err(Reason::RetentionExcluded(self.tag(on, key, value)))
            }
            RetentionOutcome::Invalid { key, value, issue } => {
                Err(Reason::RetentionInvalid(Box::new(InvalidTag {
                    on: Arc::clone(on),
                    key: self.shared(key),
                    value: self.shared(value),
                    issue,
                })))
            }
        }
    }

    /// A scheduler snapshot's retention, from its source instance's tags.
    fn of_source_instance(
        &mut self,
        snapshot: &Snapshot,
        instances: &FastMap<&str, &'a Instance>,
    ) -> Retention {
        let Some(instance) = source_instance_from_description(&snapshot.description) else {
            return Err(Reason::SchedulerSourceUnknown);
        };
        let Some(found) = instances.get(instance.as_str()) else {
            return Ok((
                self.cfg.default_retention_days,
                RetentionSource::InstanceGone { instance },
            ));
        };
        match self.own(
            &Arc::from(instance.as_str()),
            &found.tags,
            RetentionTags::Several,
        )? {
            (days, RetentionSource::Tag(tag)) => Ok((days, RetentionSource::InstanceTag(tag))),
            (days, _) => Ok((days, RetentionSource::InstanceUntagged { instance })),
        }
    }
}

/// Decides by expiry, once no protection or newest rule applied.
fn by_expiry(
    retention: (u32, RetentionSource),
    created: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (Action, Reason) {
    let (retention_days, retention) = retention;
    if expiry(created, retention_days) <= now {
        (
            Action::Delete,
            Reason::Expired {
                retention_days,
                retention,
            },
        )
    } else {
        (
            Action::Keep,
            Reason::NotExpired {
                retention_days,
                retention,
            },
        )
    }
}

/// 1-based build rank within its family for every image that has a family
/// (`family[i]`, an index into the family names, is set only for in-scope
/// images; [`NO_FAMILY`] otherwise); 0 otherwise. Indexed like
/// `images`.
///
/// `by_uuid` holds `(hash, image, (family, run UUID))`; `by_place` holds
/// `(hash, image, (family, region, id))` both for each image's own place and
/// for each copy's source-image reference (each in parts, one per range). Links count within a family
/// only: a build never spans families, so removing an image of one family
/// cannot split (and re-rank) a build of another.
fn build_ranks<'a>(
    images: &[Image],
    ord: &Ordered,
    family: &[u32],
    by_uuid: Vec<Vec<UuidLink<'a>>>,
    by_place: Vec<Vec<PlaceLink<'a>>>,
    has_copies: bool,
    parallel: bool,
) -> Vec<u32> {
    let n = images.len();
    let mut uf = UnionFind::new(n);
    // Same run UUID: one build. A copy and its source image (or the other
    // copies of a source that is not listed): one build.
    let (same_uuid, same_place) = join(
        parallel,
        || equal_pairs(&by_uuid),
        || {
            if has_copies {
                equal_pairs(&by_place)
            } else {
                Vec::new()
            }
        },
    );
    drop((by_uuid, by_place));
    uf.union_pairs(&same_uuid);
    uf.union_pairs(&same_place);

    // Group members by (family, root) with one sort.
    let mut members: Vec<(u32, u32, u32)> = Vec::with_capacity(n);
    for (i, &fid) in family.iter().enumerate() {
        if fid != NO_FAMILY {
            members.push((fid, uf.find(narrow(i)), narrow(i)));
        }
    }
    drop(uf);
    members.sort_unstable();

    struct Build {
        family: u32,
        newest: DateTime<Utc>,
        /// The smallest member position, i.e. the smallest (region, id).
        first: u32,
        members: std::ops::Range<usize>,
    }
    let mut builds: Vec<Build> = Vec::new();
    let mut start = 0;
    while start < members.len() {
        let (fid, root, _) = members[start];
        let mut end = start;
        let mut newest = DateTime::<Utc>::MIN_UTC;
        let mut first = u32::MAX;
        while end < members.len() && members[end].0 == fid && members[end].1 == root {
            let i = members[end].2 as usize;
            newest = newest.max(images[i].creation_date);
            first = first.min(ord.pos[i]);
            end += 1;
        }
        builds.push(Build {
            family: fid,
            newest,
            first,
            members: start..end,
        });
        start = end;
    }
    builds.sort_unstable_by(|a, b| {
        a.family
            .cmp(&b.family)
            .then_with(|| b.newest.cmp(&a.newest))
            .then_with(|| a.first.cmp(&b.first))
    });
    let mut ranks = vec![0u32; n];
    let mut rank = 0;
    let mut current = None;
    for b in &builds {
        if current != Some(b.family) {
            current = Some(b.family);
            rank = 0;
        }
        rank += 1;
        for m in &members[b.members.clone()] {
            ranks[m.2 as usize] = rank;
        }
    }
    ranks
}

/// Which images list each snapshot: `users[ranges[s]]` are the (listed)
/// indices of the images that list snapshot `s`, in (region, id) order. A
/// sort-merge join on the hash of the id, confirmed on the id itself.
struct SnapshotUsers {
    users: Vec<u32>,
    ranges: Vec<std::ops::Range<usize>>,
}

impl SnapshotUsers {
    fn new(images: &[Image], img: &Ordered, snapshots: &[Snapshot], snap: &Ordered) -> Self {
        let mut out = Self {
            users: Vec::new(),
            ranges: vec![0..0; snapshots.len()],
        };
        if snapshots.is_empty() {
            return out;
        }
        // (hash of the listed id, image position, slot in its list)
        let mut listed: Vec<(u64, u32, u32)> = Vec::with_capacity(snapshots.len());
        for (i, image) in images.iter().enumerate() {
            if !img.live(i) {
                continue;
            }
            for (slot, id) in image.snapshot_ids.iter().enumerate() {
                listed.push((hash_str(id), img.pos[i], narrow(slot)));
            }
        }
        listed.sort_unstable();
        let listed_id = |e: &(u64, u32, u32)| {
            images[img.order[e.1 as usize] as usize].snapshot_ids[e.2 as usize].as_str()
        };
        let mut by_hash: Vec<(u64, u32)> = snapshots
            .iter()
            .enumerate()
            .filter(|(s, _)| snap.live(*s))
            .map(|(s, snapshot)| (hash_str(&snapshot.id), narrow(s)))
            .collect();
        by_hash.sort_unstable();
        let mut j = 0;
        for (hash, s) in by_hash {
            while j < listed.len() && listed[j].0 < hash {
                j += 1;
            }
            let start = out.users.len();
            let id = snapshots[s as usize].id.as_str();
            let mut last = None;
            for e in listed[j..].iter().take_while(|e| e.0 == hash) {
                // An image listing the same snapshot twice counts once.
                if listed_id(e) == id && last != Some(e.1) {
                    last = Some(e.1);
                    out.users.push(img.order[e.1 as usize]);
                }
            }
            out.ranges[s as usize] = start..out.users.len();
        }
        out
    }

    fn of(&self, s: usize) -> &[u32] {
        &self.users[self.ranges[s].clone()]
    }
}

/// Reorders `items` in place so that the item at `order[k]` ends at `k`,
/// moving each item once (cycle by cycle). `order` is used up.
fn permute<T>(items: &mut [T], order: &mut [u32]) {
    const DONE: u32 = u32::MAX;
    for start in 0..items.len() {
        if order[start] == DONE {
            continue;
        }
        let mut k = start;
        loop {
            let source = order[k] as usize;
            order[k] = DONE;
            if source == start {
                break;
            }
            items.swap(k, source);
            k = source;
        }
    }
}

/// An image's decision, before it becomes a [`PlanItem`].
struct Decision {
    action: Action,
    reason: Reason,
    expires_at: Option<DateTime<Utc>>,
}

/// What the image decisions look at, besides the image.
struct ImageContext<'p, 'a> {
    rules: &'p PlanRules,
    now: DateTime<Utc>,
    usage: &'p FastMap<&'a str, Vec<&'a UsedBy>>,
}

impl<'a> ImageContext<'_, 'a> {
    /// An in-scope image's decision. `rank` is its build rank (0: none).
    fn decide(
        &self,
        img: &'a Image,
        id: &Arc<str>,
        scoped: &Scoped<'a>,
        rank: u32,
        reader: &mut Reader<'a>,
    ) -> Decision {
        let rules = self.rules;
        let retention = reader.own(id, &img.tags, scoped.retention);
        let expires_at = retention
            .as_ref()
            .ok()
            .map(|(d, _)| expiry(img.creation_date, *d));
        let protection = in_use(self.usage.get(img.id.as_str()))
            .or_else(|| {
                img.deregistration_protection
                    .then_some(Reason::DeregistrationProtection)
            })
            .or_else(|| shared(&img.sharing, rules))
            .or_else(|| pinned(scoped.keep));
        let rank = rank as usize;
        let (action, reason) = match (protection, retention) {
            (Some(reason), _) | (None, Err(reason)) => (Action::Keep, reason),
            (None, Ok(_)) if rank >= 1 && rank <= rules.keep => (
                Action::Keep,
                Reason::Newest {
                    rank,
                    keep: rules.keep,
                },
            ),
            (None, Ok(retention)) => by_expiry(retention, img.creation_date, self.now),
        };
        Decision {
            action,
            reason,
            expires_at,
        }
    }
}

/// One thread's copies of the region and family names, so that threads do
/// not contend on one reference count.
struct Names {
    regions: Vec<Arc<str>>,
    families: Vec<Arc<str>>,
}

impl Names {
    fn new(regions: &[&str], families: &[&str]) -> Self {
        Self {
            regions: regions.iter().map(|&r| Arc::from(r)).collect(),
            families: families.iter().map(|&f| Arc::from(f)).collect(),
        }
    }

    fn family(&self, fid: u32) -> Option<Arc<str>> {
        (fid != NO_FAMILY).then(|| Arc::clone(&self.families[fid as usize]))
    }
}

/// What the snapshot decisions look at, besides the snapshot.
struct SnapshotContext<'p, 'a> {
    rules: &'p PlanRules,
    now: DateTime<Utc>,
    images: &'a [Image],
    scoped: &'p [Scoped<'a>],
    deleted: &'p [bool],
    /// The id of each in-scope image's item.
    image_ids: &'p [Option<Arc<str>>],
    family: &'p [u32],
    region: &'p [u32],
    usage: &'p FastMap<&'a str, Vec<&'a UsedBy>>,
    instances: &'p FastMap<&'a str, &'a Instance>,
    family_filter: &'p FastMap<&'a str, ()>,
    users: &'p SnapshotUsers,
}

impl<'a> SnapshotContext<'_, 'a> {
    fn family_ok(&self, f: Option<&str>) -> bool {
        self.family_filter.is_empty() || f.is_some_and(|f| self.family_filter.contains_key(f))
    }

    /// The snapshot's item, or `None` when it is out of scope.
    fn item(
        &self,
        s: usize,
        snap: &'a Snapshot,
        names: &Names,
        reader: &mut Reader<'a>,
    ) -> Option<PlanItem> {
        let rules = self.rules;
        let users = self.users.of(s);
        let f = Facts::read(&snap.tags, rules);
        let of_scoped_image = users.iter().any(|&i| self.scoped[i as usize].in_scope);
        let orphan_ours = users.is_empty() && f.ours && self.family_ok(f.family);
        let scheduler_in = rules.scheduler_snapshots && f.scheduler_marker;
        if !(of_scoped_image || orphan_ours || scheduler_in) {
            return None;
        }
        let id: Arc<str> = Arc::from(snap.id.as_str());
        // The scheduler's: its marker, or its description.
        let scheduler =
            f.scheduler_marker || source_instance_from_description(&snap.description).is_some();
        let retention = if scheduler && rules.scheduler_snapshots {
            reader.of_source_instance(snap, self.instances)
        } else {
            reader.own(&id, &snap.tags, f.retention)
        };
        let expires_at = retention
            .as_ref()
            .ok()
            .map(|(d, _)| expiry(snap.start_time, *d));
        let protection = (scheduler && !rules.scheduler_snapshots)
            .then_some(Reason::SchedulerSnapshot)
            .or_else(|| {
                let kept: Vec<String> = users
                    .iter()
                    .filter(|&&i| !self.deleted[i as usize])
                    .map(|&i| self.images[i as usize].id.clone())
                    .collect();
                (!kept.is_empty()).then_some(Reason::UsedByImage { images: kept })
            })
            .or_else(|| in_use(self.usage.get(snap.id.as_str())))
            .or_else(|| shared(&snap.sharing, rules))
            .or_else(|| pinned(f.keep));
        let (action, reason) = match (protection, retention) {
            (Some(reason), _) | (None, Err(reason)) => (Action::Keep, reason),
            (None, Ok(retention)) => by_expiry(retention, snap.start_time, self.now),
        };
        let depends_on = if action == Action::Delete {
            users
                .iter()
                .map(|&i| match &self.image_ids[i as usize] {
                    Some(id) => Arc::clone(id),
                    None => Arc::from(self.images[i as usize].id.as_str()),
                })
                .collect()
        } else {
            Vec::new()
        };
        let family = match f.family {
            Some(name) => Some(reader.shared(name)),
            None => users
                .iter()
                .find_map(|&i| names.family(self.family[i as usize])),
        };
        Some(PlanItem {
            kind: ItemKind::Snapshot,
            region: Arc::clone(&names.regions[self.region[s] as usize]),
            id,
            family,
            action,
            reason,
            expires_at,
            size_gib: Some(snap.volume_size_gib),
            depends_on,
        })
    }
}

/// What the tag pass keeps of one image.
#[derive(Debug, Default, Clone, Copy)]
struct Scoped<'a> {
    in_scope: bool,
    retention: RetentionTags<'a>,
    keep: Option<&'a str>,
}

/// A build link: `(hash of the text, image, text)`.
type Link<T> = (u64, u32, T);
/// Same run: `(family, run UUID)`.
type UuidLink<'a> = Link<(&'a str, &'a str)>;
/// Same place: `(family, region, id)`.
type PlaceLink<'a> = Link<(&'a str, &'a str, &'a str)>;

/// One range's tag pass: each image's scope and family (an index into
/// `names`, this range's families in the order met), and its build links.
struct TagPass<'a> {
    scoped: Vec<Scoped<'a>>,
    family: Vec<u32>,
    names: Vec<&'a str>,
    by_uuid: Vec<UuidLink<'a>>,
    by_place: Vec<PlaceLink<'a>>,
    has_copies: bool,
}

/// Resources below this many are planned on the calling thread alone.
const PARALLEL_MIN: usize = 20_000;

/// (region rank, position): the order within a kind.
fn item_key(region: u32, pos: u32) -> u64 {
    (u64::from(region) << 32) | u64::from(pos)
}

/// Items of one kind made by one thread over one range, with their sort keys
/// (`(key, index in items)`).
struct Made {
    items: Vec<PlanItem>,
    keys: Vec<(u64, u32)>,
}

impl Made {
    fn with_capacity(n: usize) -> Self {
        Self {
            items: Vec::with_capacity(n),
            keys: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, key: u64, item: PlanItem) {
        self.keys.push((key, narrow(self.items.len())));
        self.items.push(item);
    }
}

/// The items of one kind from all ranges, in (region, id) order.
fn assemble(parts: Vec<Made>) -> Vec<PlanItem> {
    let mut parts = parts.into_iter();
    let Some(first) = parts.next() else {
        return Vec::new();
    };
    let (mut items, mut keys) = (first.items, first.keys);
    for mut part in parts {
        let offset = narrow(items.len());
        keys.extend(part.keys.iter().map(|&(k, i)| (k, i + offset)));
        items.append(&mut part.items);
    }
    if !keys.is_sorted() {
        keys.sort_unstable();
        let mut order: Vec<u32> = keys.into_iter().map(|(_, i)| i).collect();
        permute(&mut items, &mut order);
    }
    items
}

/// See [`super::plan_on`]: on up to `threads` threads, or on the calling
/// thread alone for fewer than [`PARALLEL_MIN`] resources.
pub(super) fn plan(inv: &Inventory, rules: &PlanRules, now: DateTime<Utc>, threads: usize) -> Plan {
    let threads = if inv.images.len() + inv.snapshots.len() < PARALLEL_MIN {
        1
    } else {
        threads.max(1)
    };
    plan_with_threads(inv, rules, now, threads)
}

/// [`plan`] on exactly `threads` threads (the plan is the same for any
/// number; tests compare them on small inventories).
pub(super) fn plan_with_threads(
    inv: &Inventory,
    rules: &PlanRules,
    now: DateTime<Utc>,
    threads: usize,
) -> Plan {
    let images = inv.images.as_slice();
    let snapshots = inv.snapshots.as_slice();
    let parallel = threads > 1;
    // (region, id) order; a repeated listing is ignored.
    let (img_ord, snap_ord, region_names) = order_both(
        parallel,
        images,
        |i| (i.region.as_str(), i.id.as_str()),
        snapshots,
        |s| (s.region.as_str(), s.id.as_str()),
    );

    let mut usage: FastMap<&str, Vec<&UsedBy>> = map_with_capacity(inv.usage.len());
    for u in &inv.usage {
        usage.entry(u.image_id.as_str()).or_default().push(&u.by);
    }
    let mut instances: FastMap<&str, &Instance> = map_with_capacity(inv.instances.len());
    for i in &inv.instances {
        instances.entry(i.id.as_str()).or_insert(i);
    }
    let family_filter: FastMap<&str, ()> =
        rules.families.iter().map(|f| (f.as_str(), ())).collect();
    let filter_ok = |f: Option<&str>| {
        family_filter.is_empty() || f.is_some_and(|f| family_filter.contains_key(f))
    };

    // One pass over the images' tags: scope, family, and the build links.
    let n = images.len();
    let parts: Vec<TagPass> = par_ranges(n, threads, |range| {
        let mut out = TagPass {
            scoped: vec![Scoped::default(); range.len()],
            family: vec![NO_FAMILY; range.len()],
            names: Vec::new(),
            by_uuid: Vec::with_capacity(range.len()),
            by_place: Vec::with_capacity(range.len()),
            has_copies: false,
        };
        let mut ids: FastMap<&str, u32> = map_with_capacity(16);
        let mut last: Option<(&str, u32)> = None;
        for (k, i) in range.enumerate() {
            let img = &images[i];
            if !img_ord.live(i) {
                continue;
            }
            let owned = inv
                .account_id
                .as_deref()
                .is_none_or(|acct| img.owner_id == acct);
            let f = Facts::read(&img.tags, rules);
            if !(owned && (f.family.is_some() || f.retention.any()) && filter_ok(f.family)) {
                continue;
            }
            out.scoped[k] = Scoped {
                in_scope: true,
                retention: f.retention,
                keep: f.keep,
            };
            let Some(fam) = f.family else { continue };
            out.family[k] = match last {
                Some((name, id)) if name == fam => id,
                _ => {
                    let id = *ids.entry(fam).or_insert_with(|| {
                        out.names.push(fam);
                        narrow(out.names.len() - 1)
                    });
                    last = Some((fam, id));
                    id
                }
            };
            if let Some(uuid) = f.uuid {
                out.by_uuid
                    .push((hash_parts(&[fam, uuid]), narrow(i), (fam, uuid)));
            }
            let own = (fam, img.region.as_str(), img.id.as_str());
            out.by_place
                .push((hash_parts(&[own.0, own.1, own.2]), narrow(i), own));
            if let Some(source) = f.source {
                let (region, id) = source.split_once(':').unwrap_or(("", source));
                out.by_place
                    .push((hash_parts(&[fam, region, id]), narrow(i), (fam, region, id)));
                out.has_copies = true;
            }
        }
        out
    });
    // Family ids in the order the families are first met in the list.
    let mut scoped: Vec<Scoped> = Vec::with_capacity(n);
    let mut family: Vec<u32> = Vec::with_capacity(n);
    let mut family_ids: FastMap<&str, u32> = map_with_capacity(16);
    let mut family_names: Vec<&str> = Vec::new();
    let mut by_uuid = Vec::with_capacity(parts.len());
    let mut by_place = Vec::with_capacity(parts.len());
    let mut has_copies = false;
    for part in parts {
        let global: Vec<u32> = part
            .names
            .iter()
            .map(|&name| {
                *family_ids.entry(name).or_insert_with(|| {
                    family_names.push(name);
                    narrow(family_names.len() - 1)
                })
            })
            .collect();
        scoped.extend(part.scoped);
        family.extend(part.family.into_iter().map(|f| {
            if f == NO_FAMILY {
                f
            } else {
                global[f as usize]
            }
        }));
        by_uuid.push(part.by_uuid);
        by_place.push(part.by_place);
        has_copies |= part.has_copies;
    }

    // Build ranks, and (at the same time) which images list each snapshot.
    let (ranks, users) = join(
        parallel,
        || {
            build_ranks(
                images, &img_ord, &family, by_uuid, by_place, has_copies, parallel,
            )
        },
        || SnapshotUsers::new(images, &img_ord, snapshots, &snap_ord),
    );

    // Decide, each thread walking its range in listed order (which is the
    // order the data sits in memory); then put the items in their final
    // order.
    let image_ctx = ImageContext {
        rules,
        now,
        usage: &usage,
    };
    type ImageRange = (Made, Vec<bool>, Vec<Option<Arc<str>>>);
    let image_parts: Vec<ImageRange> = par_ranges(n, threads, |range| {
        let names = Names::new(&region_names, &family_names);
        let mut reader = Reader::new(&rules.retention);
        let mut made = Made::with_capacity(range.len());
        let mut deleted = vec![false; range.len()];
        let mut ids: Vec<Option<Arc<str>>> = vec![None; range.len()];
        for (k, i) in range.enumerate() {
            let sc = &scoped[i];
            if !sc.in_scope {
                continue;
            }
            let img = &images[i];
            let id: Arc<str> = Arc::from(img.id.as_str());
            let d = image_ctx.decide(img, &id, sc, ranks[i], &mut reader);
            deleted[k] = d.action == Action::Delete;
            let region = img_ord.region[i];
            made.push(
                item_key(region, img_ord.pos[i]),
                PlanItem {
                    kind: ItemKind::Image,
                    region: Arc::clone(&names.regions[region as usize]),
                    id: Arc::clone(&id),
                    family: names.family(family[i]),
                    action: d.action,
                    reason: d.reason,
                    expires_at: d.expires_at,
                    size_gib: None,
                    depends_on: Vec::new(),
                },
            );
            ids[k] = Some(id);
        }
        (made, deleted, ids)
    });
    drop(ranks);
    let mut image_made: Vec<Made> = Vec::with_capacity(threads);
    let mut deleted: Vec<bool> = Vec::with_capacity(n);
    let mut image_ids: Vec<Option<Arc<str>>> = Vec::with_capacity(n);
    for (made, d, ids) in image_parts {
        image_made.push(made);
        deleted.extend(d);
        image_ids.extend(ids);
    }

    let snapshot_ctx = SnapshotContext {
        rules,
        now,
        images,
        scoped: &scoped,
        deleted: &deleted,
        image_ids: &image_ids,
        family: &family,
        region: &snap_ord.region,
        usage: &usage,
        instances: &instances,
        family_filter: &family_filter,
        users: &users,
    };
    let snapshot_made = par_ranges(snapshots.len(), threads, |range| {
        let names = Names::new(&region_names, &family_names);
        let mut reader = Reader::new(&rules.retention);
        let mut made = Made::with_capacity(range.len());
        for s in range {
            if !snap_ord.live(s) {
                continue;
            }
            if let Some(item) = snapshot_ctx.item(s, &snapshots[s], &names, &mut reader) {
                made.push(item_key(snap_ord.region[s], snap_ord.pos[s]), item);
            }
        }
        made
    });
    drop(image_ids);
    // Images, then snapshots: each kind put in order on its own thread.
    let (mut items, mut snapshot_items) = join(
        parallel,
        || assemble(image_made),
        || assemble(snapshot_made),
    );
    items.reserve_exact(snapshot_items.len());
    items.append(&mut snapshot_items);

    let summary = summarize(&items, rules.price_per_gib_month);
    Plan {
        schema_version: crate::retention::saved::PLAN_SCHEMA_VERSION,
        generated_at: now,
        scope: super::Scope {
            account_id: inv.account_id.clone(),
            regions: {
                let mut r = inv.regions.clone();
                r.sort();
                r.dedup();
                r
            },
        },
        rules: rules.clone(),
        items,
        summary,
    }
}

fn summarize(items: &[PlanItem], price_per_gib_month: f64) -> Summary {
    let mut s = Summary::default();
    for item in items {
        match (item.kind, item.action) {
            (ItemKind::Image, Action::Delete) => s.images_to_delete += 1,
            (ItemKind::Image, Action::Keep) => s.images_to_keep += 1,
            (ItemKind::Snapshot, Action::Delete) => {
                s.snapshots_to_delete += 1;
                s.gib_freed += item.size_gib.unwrap_or(0).max(0);
            }
            (ItemKind::Snapshot, Action::Keep) => s.snapshots_to_keep += 1,
        }
    }
    // Exact for any realistic size; the estimate is rounded to cents anyway.
    #[allow(clippy::cast_precision_loss)]
    let gib = s.gib_freed as f64;
    s.est_monthly_saving_usd = (gib * price_per_gib_month * 100.0).round() / 100.0;
    s
}
