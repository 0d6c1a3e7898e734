//! Which deletions of a plan still being completed are settled: no fact
//! that prune has not read yet can change them, so `prune --apply` may
//! start them while it still reads the sharing and references of others.
//!
//! The facts read after listing only ever add protection (a sharing, a
//! reference, a failure to answer), with one exception: a sharing read that
//! finds the resource gone removes it, and removing an image can move older
//! builds of its family up into the newest `keep`. So an image's deletion is
//! settled when
//! * its own sharing and references are answered, and
//! * no image of a build ranked above it in its family has a sharing read
//!   unanswered (asked or still to be asked).
//!
//! Why that is enough: a build's rank only improves when a build ranked
//! above it loses images; only an unanswered sharing read removes an image;
//! and an image that no read is due for only gets one by moving into the
//! newest `keep`, which again needs a build above it to lose images. A
//! removal in the image's own build or below it can only move it down
//! (parts of a split build are never newer, nor first among equals, than
//! the build was). Protection added to other images does not move ranks.
//!
//! A snapshot's deletion is settled when its own sharing is answered and
//! every image that lists it is a settled deletion (a snapshot goes only
//! with all of its images). An image also waits until the sharing of its
//! snapshots is answered, so that it can take them along in one call
//! (`super::deletion`) instead of a call per snapshot later; that is about
//! calls, not safety.
//!
//! The property test replays random orders of answers against random
//! truths and checks that nothing settled early is missing from the final
//! plan's deletions. Pure: the caller reads, merges and applies.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::plan::{Action, BuildRanks, ItemKind, Plan, PlanItem};
use super::sharing::ItemKey;

/// What prune has not been told yet.
#[derive(Debug, Default)]
pub struct Unread {
    /// Items whose sharing read is unanswered: asked and not answered, or
    /// needed by the plan and not asked yet.
    pub sharing: HashSet<ItemKey>,
    /// Images (region, id) whose references are unanswered likewise.
    pub references: HashSet<(Arc<str>, Arc<str>)>,
}

/// The deletions of `plan` (made with `ranks`) that no unread fact can
/// change, images first.
pub fn settled_deletions<'p>(
    plan: &'p Plan,
    ranks: &BuildRanks,
    unread: &Unread,
) -> Vec<&'p PlanItem> {
    let key = |i: &PlanItem| (Arc::clone(&i.region), Arc::clone(&i.id));
    let unread_sharing = |i: &PlanItem| {
        unread
            .sharing
            .contains(&(i.kind, Arc::clone(&i.region), Arc::clone(&i.id)))
    };
    // each image's family and rank, for the unread reads to be placed
    let placed: HashMap<(&str, &str), Option<(&str, u32)>> = plan
        .items
        .iter()
        .filter(|i| i.kind == ItemKind::Image)
        .map(|i| {
            let fr = match (&i.family, ranks.get(&key(i))) {
                (Some(f), Some(r)) => Some((&**f, *r)),
                _ => None,
            };
            ((&*i.region, &*i.id), fr)
        })
        .collect();
    // per family, the best (smallest) rank with a sharing read unanswered;
    // a read of an image not in the plan (none should be out: a read is
    // only asked for a plan item, and only its answer removes one) holds
    // every family back, since its family is not known here
    let mut first_unread: HashMap<&str, u32> = HashMap::new();
    let mut stray = false;
    for (kind, region, id) in &unread.sharing {
        if *kind != ItemKind::Image {
            continue;
        }
        match placed.get(&(&**region, &**id)) {
            Some(Some((f, r))) => {
                let e = first_unread.entry(f).or_insert(u32::MAX);
                *e = (*e).min(*r);
            }
            Some(None) => {}
            None => stray = true,
        }
    }
    // snapshots and their images are matched by id alone, as the planner
    // matches them (ids are unique across regions)
    let snapshot_unread: HashSet<&str> = unread
        .sharing
        .iter()
        .filter(|(k, _, _)| *k == ItemKind::Snapshot)
        .map(|(_, _, i)| &**i)
        .collect();
    // which of the plan's snapshot deletions each image lists
    let mut snapshots_of: HashMap<&str, Vec<&str>> = HashMap::new();
    for s in plan.items.iter().filter(|i| i.kind == ItemKind::Snapshot) {
        for d in &s.depends_on {
            snapshots_of.entry(&**d).or_default().push(&s.id);
        }
    }
    let images: HashSet<&str> = plan
        .items
        .iter()
        .filter(|i| i.kind == ItemKind::Image && i.action == Action::Delete)
        .filter(|i| !unread_sharing(i) && !unread.references.contains(&key(i)))
        .filter(|i| match (&i.family, ranks.get(&key(i))) {
            (Some(f), Some(r)) => !stray && first_unread.get(&**f).is_none_or(|u| u >= r),
            // no family: no rank, nothing above it
            _ => true,
        })
        .filter(|i| {
            snapshots_of
                .get(&*i.id)
                .is_none_or(|ss| ss.iter().all(|s| !snapshot_unread.contains(s)))
        })
        .map(|i| &*i.id)
        .collect();
    let mut out: Vec<&PlanItem> = plan
        .items
        .iter()
        .filter(|i| {
            i.kind == ItemKind::Image && i.action == Action::Delete && images.contains(&*i.id)
        })
        .collect();
    out.extend(plan.items.iter().filter(|s| {
        s.kind == ItemKind::Snapshot
            && s.action == Action::Delete
            && !unread_sharing(s)
            && s.depends_on.iter().all(|d| images.contains(&**d))
    }));
    out
}

/// `keys` in the order that settles deletions soonest. Images by their
/// build's rank, newest builds first, each family abreast (a build spans
/// regions, and its images are settled only once every build above it is
/// answered, in every region), then newest first; each image's snapshots
/// right with it (at the best place of the images listing it), since an
/// image waits for them; and the snapshots no image lists (orphans,
/// whatever their age) spread evenly among the rest, so that the snapshot
/// deletions are fed from the start as well as the image deletions: EC2
/// paces each on its own.
pub fn read_order(plan: &Plan, ranks: &BuildRanks, keys: &mut Vec<ItemKey>) {
    type Place = (
        u32,
        std::cmp::Reverse<Option<chrono::DateTime<chrono::Utc>>>,
    );
    let items: HashMap<(ItemKind, &str, &str), &PlanItem> = plan
        .items
        .iter()
        .map(|i| ((i.kind, &*i.region, &*i.id), i))
        .collect();
    let image_place = |region: &Arc<str>, id: &Arc<str>| -> Place {
        let created = items
            .get(&(ItemKind::Image, &**region, &**id))
            .and_then(|i| i.created);
        let rank = ranks
            .get(&(Arc::clone(region), Arc::clone(id)))
            .copied()
            .unwrap_or(0);
        (rank, std::cmp::Reverse(created))
    };
    // the place of the image it goes with; None: an orphan
    let place = |(kind, region, id): &ItemKey| -> Option<Place> {
        match kind {
            ItemKind::Image => Some(image_place(region, id)),
            ItemKind::Snapshot => items
                .get(&(*kind, &**region, &**id))?
                .depends_on
                .iter()
                .map(|d| image_place(region, d))
                .min(),
        }
    };
    let tie = |k: &ItemKey| (k.0, Arc::clone(&k.1), Arc::clone(&k.2));
    let (mut with, mut orphans): (Vec<_>, Vec<_>) = keys
        .drain(..)
        .map(|k| (place(&k), k))
        .partition(|(p, _)| p.is_some());
    with.sort_by_cached_key(|(p, k)| (*p, tie(k)));
    orphans.sort_by_cached_key(|(_, k)| {
        let created = items.get(&(k.0, &*k.1, &*k.2)).and_then(|i| i.created);
        (std::cmp::Reverse(created), tie(k))
    });
    // merge by each one's place within its own list
    let (a, b) = (with.len(), orphans.len());
    let (mut with, mut orphans) = (with.into_iter().peekable(), orphans.into_iter().peekable());
    let (mut i, mut j) = (0usize, 0usize);
    while with.peek().is_some() || orphans.peek().is_some() {
        // i / a <= j / b, in integers
        let take_with = orphans.peek().is_none() || (with.peek().is_some() && i * b <= j * a);
        let next = if take_with {
            i += 1;
            with.next()
        } else {
            j += 1;
            orphans.next()
        };
        if let Some((_, k)) = next {
            keys.push(k);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::retention::plan::tests::now;
    use crate::retention::plan::tests::props::{inventory, rules_strategy};
    use crate::retention::plan::{Inventory, PlanRules, Sharing, Usage, UsedBy};
    use crate::retention::references::needing_references;
    use crate::retention::sharing::{merge_sharing, needing_sharing, SharingFacts};
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// What a read of one resource answers, chosen by the test.
    #[derive(Debug, Clone, Copy)]
    enum Truth {
        NotShared,
        Shared,
        Gone,
    }

    fn truth(seed: u8) -> Truth {
        match seed % 8 {
            0 | 1 => Truth::Shared,
            2 | 3 => Truth::Gone,
            _ => Truth::NotShared,
        }
    }

    type Deleted = BTreeSet<(ItemKind, String, String)>;

    fn deletions(items: &[&PlanItem]) -> Deleted {
        items
            .iter()
            .map(|i| (i.kind, i.region.to_string(), i.id.to_string()))
            .collect()
    }

    /// Prune's lookups with answers arriving in the order `order` picks:
    /// each step plans, asks what the plan needs, takes what is settled,
    /// and answers one outstanding read. Returns what was taken early and
    /// the final plan.
    fn replay(
        mut inv: Inventory,
        rules: &PlanRules,
        seeds: &[u8],
        order: &[u16],
    ) -> (Deleted, Plan, BuildRanks) {
        let seed = |id: &str| {
            let n: usize = id.bytes().map(usize::from).sum();
            seeds[n % seeds.len()]
        };
        let mut answered_sharing: HashSet<ItemKey> = HashSet::new();
        let mut answered_refs: HashSet<(Arc<str>, Arc<str>)> = HashSet::new();
        // outstanding reads: a sharing read, or a reference question
        let mut out: Vec<(bool, ItemKey)> = Vec::new();
        let mut taken = Deleted::new();
        let mut step = 0;
        loop {
            let (plan, ranks) = crate::retention::plan_ranked(&inv, rules, now(), 1);
            let sharing = if rules.include_shared {
                Vec::new()
            } else {
                needing_sharing(&plan, &answered_sharing)
            };
            let refs: Vec<ItemKey> = needing_references(&plan, &answered_refs)
                .into_iter()
                .flat_map(|(r, batches)| {
                    batches
                        .into_iter()
                        .flatten()
                        .map(move |id| (ItemKind::Image, Arc::clone(&r), id))
                })
                .collect();
            for k in sharing.iter().cloned() {
                if !out.contains(&(true, k.clone())) {
                    out.push((true, k));
                }
            }
            for k in refs.iter().cloned() {
                if !out.contains(&(false, k.clone())) {
                    out.push((false, k));
                }
            }
            let unread = Unread {
                sharing: out
                    .iter()
                    .filter(|(s, _)| *s)
                    .map(|(_, k)| k.clone())
                    .collect(),
                references: out
                    .iter()
                    .filter(|(s, _)| !*s)
                    .map(|(_, (_, r, i))| (Arc::clone(r), Arc::clone(i)))
                    .collect(),
            };
            taken.extend(deletions(&settled_deletions(&plan, &ranks, &unread)));
            if out.is_empty() {
                return (taken, plan, ranks);
            }
            let pick = order.get(step).map_or(0, |&o| usize::from(o) % out.len());
            step += 1;
            let (is_sharing, (kind, region, id)) = out.remove(pick);
            if is_sharing {
                answered_sharing.insert((kind, Arc::clone(&region), Arc::clone(&id)));
                let mut facts = SharingFacts::default();
                match truth(seed(&id)) {
                    Truth::Gone => facts.gone(kind, region.to_string(), id.to_string()),
                    t => facts.insert(
                        kind,
                        region.to_string(),
                        id.to_string(),
                        Sharing {
                            accounts: if matches!(t, Truth::Shared) {
                                vec!["444455556666".into()]
                            } else {
                                Vec::new()
                            },
                            ..Sharing::default()
                        },
                    ),
                }
                merge_sharing(&mut inv, &facts);
            } else {
                answered_refs.insert((Arc::clone(&region), Arc::clone(&id)));
                if seed(&id) % 3 == 0 {
                    inv.usage.push(Usage {
                        region: region.to_string(),
                        image_id: id.to_string(),
                        by: UsedBy::Reference {
                            resource_type: "ec2:Instance".into(),
                            arn: "arn:aws:ec2:ap-east-1:111122223333:instance/i-1".into(),
                        },
                    });
                }
            }
        }
    }

    #[test]
    fn reads_go_newest_first_with_their_snapshots_and_the_orphans_spread_among_them() {
        use crate::retention::plan::Reason;
        let at = |h: i64| Some(now() - chrono::TimeDelta::hours(h));
        let item = |kind, id: &str, hours: i64, depends_on: &[&str]| {
            let mut i = PlanItem::for_tests(
                kind,
                id,
                Action::Delete,
                Reason::Pinned { value: "x".into() },
                depends_on,
            );
            i.created = at(hours);
            i
        };
        let plan = Plan {
            items: vec![
                item(ItemKind::Image, "ami-old", 30, &[]),
                item(ItemKind::Image, "ami-new", 10, &[]),
                item(ItemKind::Snapshot, "snap-old", 30, &["ami-old"]),
                item(ItemKind::Snapshot, "snap-new", 10, &["ami-new"]),
                // orphans, all newer than every image
                item(ItemKind::Snapshot, "snap-o1", 1, &[]),
                item(ItemKind::Snapshot, "snap-o2", 2, &[]),
            ],
            ..crate::retention::plan(&Inventory::default(), &PlanRules::default(), now())
        };
        let mut keys: Vec<ItemKey> = plan
            .items
            .iter()
            .map(|i| (i.kind, Arc::clone(&i.region), Arc::clone(&i.id)))
            .collect();
        // ranks first: the old image's build ranks above the new one's (a
        // copy of it is newer, say)
        let ranks: BuildRanks = [(("us-east-1", "ami-old"), 1), (("us-east-1", "ami-new"), 2)]
            .into_iter()
            .map(|((r, i), n)| ((Arc::from(r), Arc::from(i)), n))
            .collect();
        read_order(&plan, &BuildRanks::new(), &mut keys);
        let ids: Vec<&str> = keys.iter().map(|(_, _, i)| &**i).collect();
        assert_eq!(
            ids,
            ["ami-new", "snap-o1", "snap-new", "ami-old", "snap-o2", "snap-old"]
        );
        read_order(&plan, &ranks, &mut keys);
        let ids: Vec<&str> = keys.iter().map(|(_, _, i)| &**i).collect();
        assert_eq!(
            ids,
            ["ami-old", "snap-o1", "snap-old", "ami-new", "snap-o2", "snap-new"]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Whatever the truth and whatever order the answers come in,
        /// nothing taken early is missing from the final plan's deletions;
        /// and once everything is answered, every deletion is settled.
        #[test]
        fn what_is_settled_early_is_deleted_by_the_final_plan(
            inv in inventory(),
            rules in rules_strategy(),
            seeds in proptest::collection::vec(any::<u8>(), 1..16),
            order in proptest::collection::vec(any::<u16>(), 0..80),
        ) {
            let (taken, last, ranks) = replay(inv, &rules, &seeds, &order);
            let finally: Deleted = deletions(&last.deletions().collect::<Vec<_>>());
            prop_assert!(taken.is_subset(&finally), "taken early but not in the final plan: {:?}", taken.difference(&finally).collect::<Vec<_>>());
            let all = deletions(&settled_deletions(&last, &ranks, &Unread::default()));
            prop_assert_eq!(all, finally);
        }
    }
}
