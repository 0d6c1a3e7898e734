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
//! rather than filling large hash maps, and the items are put in their final
//! order by one in-place permutation.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{
    Action, Image, Instance, InvalidTag, Inventory, ItemKind, Plan, PlanItem, PlanRules, Reason,
    RetentionSource, Sharing, Snapshot, Summary, TagRef, UsedBy,
};
use crate::retention::fast_hash::{hash_str, map_with_capacity, FastMap};
use crate::retention::grammar::{
    combine_retention, expiry, matching_tags, parse_strict, source_instance_from_description,
    Issue, RetentionConfig, RetentionOutcome, SCHEDULER_MARKER,
};
use crate::retention::order::{hash_parts, narrow, order_both, Ordered, UnionFind};

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
    /// Some tag matches the retention prefix.
    retention_tagged: bool,
    /// Some matching retention tag is the scheduler's `auto_delete`.
    scheduler_marker: bool,
    /// Some tag is under our own prefix.
    ours: bool,
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
                f.retention_tagged = true;
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
/// million resources usually share a handful of values).
struct Reader<'a> {
    cfg: &'a RetentionConfig,
    memo: FastMap<&'a str, Result<u32, Issue>>,
}

impl<'a> Reader<'a> {
    fn new(cfg: &'a RetentionConfig) -> Self {
        Self {
            cfg,
            memo: map_with_capacity(64),
        }
    }

    /// A resource's own retention; `tagged` says whether any tag matches the
    /// retention prefix (without one, the default applies).
    fn own(&mut self, on: &str, tags: &'a BTreeMap<String, String>, tagged: bool) -> Retention {
        let cfg = self.cfg;
        if !tagged {
            return Ok((cfg.default_retention_days, RetentionSource::Default));
        }
        let memo = &mut self.memo;
        let outcome = combine_retention(matching_tags(tags, cfg), cfg, |value| {
            memo.entry(value)
                .or_insert_with(|| parse_strict(value, cfg).map(|spec| spec.retention_days))
                .clone()
        });
        match outcome {
            RetentionOutcome::Default { days } => Ok((days, RetentionSource::Default)),
            RetentionOutcome::Tagged { days, key, value } => {
                Ok((days, RetentionSource::Tag(TagRef::boxed(on, key, value))))
            }
            RetentionOutcome::Excluded { key, value } => {
                Err(Reason::RetentionExcluded(TagRef::boxed(on, key, value)))
            }
            RetentionOutcome::Invalid { key, value, issue } => {
                Err(Reason::RetentionInvalid(Box::new(InvalidTag {
                    on: on.to_string(),
                    key,
                    value,
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
        match self.own(&instance, &found.tags, true)? {
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
/// for each copy's source-image reference. Links count within a family
/// only: a build never spans families, so removing an image of one family
/// cannot split (and re-rank) a build of another.
fn build_ranks<'a>(
    images: &[Image],
    ord: &Ordered,
    family: &[u32],
    by_uuid: Vec<(u64, u32, (&'a str, &'a str))>,
    by_place: Vec<(u64, u32, (&'a str, &'a str, &'a str))>,
    has_copies: bool,
) -> Vec<u32> {
    let n = images.len();
    let mut uf = UnionFind::new(n);
    // Same run UUID: one build.
    uf.union_equal(&by_uuid);
    drop(by_uuid);
    // A copy and its source image (or the other copies of a source that is
    // not listed): one build.
    if has_copies {
        uf.union_equal(&by_place);
    }
    drop(by_place);

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
        keep: Option<&str>,
        tagged: bool,
        rank: u32,
        reader: &mut Reader<'a>,
    ) -> Decision {
        let rules = self.rules;
        let retention = reader.own(&img.id, &img.tags, tagged);
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
            .or_else(|| pinned(keep));
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

/// What the snapshot decisions look at, besides the snapshot.
struct SnapshotContext<'p, 'a> {
    rules: &'p PlanRules,
    now: DateTime<Utc>,
    images: &'a [Image],
    in_scope: &'p [bool],
    deleted: &'p [bool],
    family: &'p [u32],
    family_names: &'p [&'a str],
    region_names: &'p [&'a str],
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
    fn item(&self, s: usize, snap: &'a Snapshot, reader: &mut Reader<'a>) -> Option<PlanItem> {
        let rules = self.rules;
        let users = self.users.of(s);
        let f = Facts::read(&snap.tags, rules);
        let of_scoped_image = users.iter().any(|&i| self.in_scope[i as usize]);
        let orphan_ours = users.is_empty() && f.ours && self.family_ok(f.family);
        let scheduler_in = rules.scheduler_snapshots && f.scheduler_marker;
        if !(of_scoped_image || orphan_ours || scheduler_in) {
            return None;
        }
        // The scheduler's: its marker, or its description.
        let scheduler =
            f.scheduler_marker || source_instance_from_description(&snap.description).is_some();
        let retention = if scheduler && rules.scheduler_snapshots {
            reader.of_source_instance(snap, self.instances)
        } else {
            reader.own(&snap.id, &snap.tags, f.retention_tagged)
        };
        let expires_at = retention
            .as_ref()
            .ok()
            .map(|(d, _)| expiry(snap.start_time, *d));
        let image_id = |i: &u32| self.images[*i as usize].id.clone();
        let protection = (scheduler && !rules.scheduler_snapshots)
            .then_some(Reason::SchedulerSnapshot)
            .or_else(|| {
                let kept: Vec<String> = users
                    .iter()
                    .filter(|&&i| !self.deleted[i as usize])
                    .map(image_id)
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
            users.iter().map(image_id).collect()
        } else {
            Vec::new()
        };
        let family = f
            .family
            .or_else(|| {
                users.iter().find_map(|&i| {
                    let fid = self.family[i as usize];
                    (fid != NO_FAMILY).then(|| self.family_names[fid as usize])
                })
            })
            .map(str::to_string);
        Some(PlanItem {
            kind: ItemKind::Snapshot,
            region: self.region_names[self.region[s] as usize].to_string(),
            id: snap.id.clone(),
            family,
            action,
            reason,
            expires_at,
            size_gib: Some(snap.volume_size_gib),
            depends_on,
        })
    }
}

/// See [`super::plan`].
pub(super) fn plan(inv: &Inventory, rules: &PlanRules, now: DateTime<Utc>) -> Plan {
    let images = inv.images.as_slice();
    let snapshots = inv.snapshots.as_slice();
    // (region, id) order; a repeated listing is ignored.
    let (img_ord, snap_ord, region_names) = order_both(
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

    // One pass over the images' tags: scope, and the build links.
    let n = images.len();
    let mut in_scope = vec![false; n];
    let mut family = vec![NO_FAMILY; n];
    let mut family_ids: FastMap<&str, u32> = map_with_capacity(16);
    let mut family_names: Vec<&str> = Vec::new();
    let mut keep: Vec<Option<&str>> = vec![None; n];
    let mut tagged = vec![false; n];
    let mut by_uuid: Vec<(u64, u32, (&str, &str))> = Vec::with_capacity(n);
    let mut by_place: Vec<(u64, u32, (&str, &str, &str))> = Vec::with_capacity(n);
    let mut has_copies = false;
    for (i, img) in images.iter().enumerate() {
        if !img_ord.live(i) {
            continue;
        }
        let owned = inv
            .account_id
            .as_deref()
            .is_none_or(|acct| img.owner_id == acct);
        let f = Facts::read(&img.tags, rules);
        if !(owned && (f.family.is_some() || f.retention_tagged) && filter_ok(f.family)) {
            continue;
        }
        in_scope[i] = true;
        keep[i] = f.keep;
        tagged[i] = f.retention_tagged;
        if let Some(fam) = f.family {
            family[i] = *family_ids.entry(fam).or_insert_with(|| {
                family_names.push(fam);
                narrow(family_names.len() - 1)
            });
            if let Some(uuid) = f.uuid {
                by_uuid.push((hash_parts(&[fam, uuid]), narrow(i), (fam, uuid)));
            }
            let own = (fam, img.region.as_str(), img.id.as_str());
            by_place.push((hash_parts(&[own.0, own.1, own.2]), narrow(i), own));
            if let Some(source) = f.source {
                let (region, id) = source.split_once(':').unwrap_or(("", source));
                by_place.push((hash_parts(&[fam, region, id]), narrow(i), (fam, region, id)));
                has_copies = true;
            }
        }
    }
    let ranks = build_ranks(images, &img_ord, &family, by_uuid, by_place, has_copies);

    // Decide, walking each list in its listed order (which is the order
    // its data sits in memory); then put the items in their final order.
    let mut reader = Reader::new(&rules.retention);
    let image_ctx = ImageContext {
        rules,
        now,
        usage: &usage,
    };
    let in_scope_images = in_scope.iter().filter(|&&b| b).count();
    let mut items: Vec<PlanItem> = Vec::with_capacity(in_scope_images + snap_ord.order.len());
    // (region rank, images before snapshots, position) -> item index
    let mut item_keys: Vec<(u64, u32)> = Vec::with_capacity(items.capacity());
    let item_key = |region: u32, kind: ItemKind, pos: u32| {
        (u64::from(region) << 33) | (u64::from(kind == ItemKind::Snapshot) << 32) | u64::from(pos)
    };
    let mut deleted = vec![false; n];
    for (i, img) in images.iter().enumerate() {
        if !in_scope[i] {
            continue;
        }
        let d = image_ctx.decide(img, keep[i], tagged[i], ranks[i], &mut reader);
        deleted[i] = d.action == Action::Delete;
        item_keys.push((
            item_key(img_ord.region[i], ItemKind::Image, img_ord.pos[i]),
            narrow(items.len()),
        ));
        let fid = family[i];
        items.push(PlanItem {
            kind: ItemKind::Image,
            region: region_names[img_ord.region[i] as usize].to_string(),
            id: img.id.clone(),
            family: (fid != NO_FAMILY).then(|| family_names[fid as usize].to_string()),
            action: d.action,
            reason: d.reason,
            expires_at: d.expires_at,
            size_gib: None,
            depends_on: Vec::new(),
        });
    }
    drop((keep, tagged, ranks));

    let users = SnapshotUsers::new(images, &img_ord, snapshots, &snap_ord);
    let snapshot_ctx = SnapshotContext {
        rules,
        now,
        images,
        in_scope: &in_scope,
        deleted: &deleted,
        family: &family,
        family_names: &family_names,
        region_names: &region_names,
        region: &snap_ord.region,
        usage: &usage,
        instances: &instances,
        family_filter: &family_filter,
        users: &users,
    };
    for (s, snap) in snapshots.iter().enumerate() {
        if !snap_ord.live(s) {
            continue;
        }
        if let Some(item) = snapshot_ctx.item(s, snap, &mut reader) {
            item_keys.push((
                item_key(snap_ord.region[s], ItemKind::Snapshot, snap_ord.pos[s]),
                narrow(items.len()),
            ));
            items.push(item);
        }
    }
    if !item_keys.is_sorted() {
        item_keys.sort_unstable();
        let mut order: Vec<u32> = item_keys.into_iter().map(|(_, i)| i).collect();
        permute(&mut items, &mut order);
    }

    let summary = summarize(&items, rules.price_per_gib_month);
    Plan {
        generated_at: now,
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
