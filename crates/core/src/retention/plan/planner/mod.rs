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

mod assemble;
mod decide;
mod facts;
mod rank;

use assemble::*;
use decide::*;
use facts::*;
use rank::*;
/// See [`super::plan_on`]: on up to `threads` threads, or on the calling
/// thread alone for fewer than [`PARALLEL_MIN`] resources.
pub(super) fn plan(inv: &Inventory, rules: &PlanRules, now: DateTime<Utc>, threads: usize) -> Plan {
    plan_ranked(inv, rules, now, threads, false).0
}

/// [`plan`], and with `want_ranks` the build rank of every in-scope image
/// that has a family (see [`super::BuildRanks`]).
pub(super) fn plan_ranked(
    inv: &Inventory,
    rules: &PlanRules,
    now: DateTime<Utc>,
    threads: usize,
    want_ranks: bool,
) -> (Plan, super::BuildRanks) {
    let threads = if inv.images.len() + inv.snapshots.len() < PARALLEL_MIN {
        1
    } else {
        threads.max(1)
    };
    plan_with(inv, rules, now, threads, want_ranks)
}

/// [`plan`] on exactly `threads` threads (the plan is the same for any
/// number; tests compare them on small inventories).
#[cfg(test)]
pub(super) fn plan_with_threads(
    inv: &Inventory,
    rules: &PlanRules,
    now: DateTime<Utc>,
    threads: usize,
) -> Plan {
    plan_with(inv, rules, now, threads, false).0
}

fn plan_with(
    inv: &Inventory,
    rules: &PlanRules,
    now: DateTime<Utc>,
    threads: usize,
    want_ranks: bool,
) -> (Plan, super::BuildRanks) {
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
        bin: &inv.recycle_bin,
    };
    type ImageRange = (
        Made,
        Vec<bool>,
        Vec<Option<Arc<str>>>,
        Vec<((Arc<str>, Arc<str>), u32)>,
    );
    let image_parts: Vec<ImageRange> = par_ranges(n, threads, |range| {
        let names = Names::new(&region_names, &family_names);
        let mut reader = Reader::new(&rules.retention);
        let mut made = Made::with_capacity(range.len());
        let mut deleted = vec![false; range.len()];
        let mut ids: Vec<Option<Arc<str>>> = vec![None; range.len()];
        let mut ranked = Vec::new();
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
                    name: (!img.name.is_empty()).then(|| Arc::from(img.name.as_str())),
                    created: Some(img.creation_date),
                    action: d.action,
                    reason: d.reason,
                    expires_at: d.expires_at,
                    size_gib: None,
                    depends_on: Vec::new(),
                    recoverable_until: d.recoverable_until,
                },
            );
            if want_ranks && ranks[i] > 0 {
                ranked.push((
                    (Arc::clone(&names.regions[region as usize]), Arc::clone(&id)),
                    ranks[i],
                ));
            }
            ids[k] = Some(id);
        }
        (made, deleted, ids, ranked)
    });
    drop(ranks);
    let mut image_made: Vec<Made> = Vec::with_capacity(threads);
    let mut deleted: Vec<bool> = Vec::with_capacity(n);
    let mut image_ids: Vec<Option<Arc<str>>> = Vec::with_capacity(n);
    let mut build_ranks = super::BuildRanks::new();
    for (made, d, ids, ranked) in image_parts {
        build_ranks.extend(ranked);
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
        bin: &inv.recycle_bin,
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
    let plan = Plan {
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
    };
    (plan, build_ranks)
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
            (ItemKind::Image, Action::Deprecate) => s.images_to_deprecate += 1,
            (ItemKind::Image, Action::Disable) => s.images_to_disable += 1,
            (ItemKind::Image, Action::Unprotect) => s.images_to_unprotect += 1,
            // the ladder steps only images; a snapshot never has one
            (ItemKind::Snapshot, Action::Deprecate | Action::Disable | Action::Unprotect) => {
                s.snapshots_to_keep += 1;
            }
        }
    }
    // Exact for any realistic size; the estimate is rounded to cents anyway.
    #[allow(clippy::cast_precision_loss)]
    let gib = s.gib_freed as f64;
    s.est_monthly_saving_usd = (gib * price_per_gib_month * 100.0).round() / 100.0;
    s
}
