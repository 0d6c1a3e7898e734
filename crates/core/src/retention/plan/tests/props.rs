//! Property tests of the planner's invariants: never deletes a protected or
//! newest-N image, snapshots only go with all their images, one ordered item
//! per resource, idempotent, monotone in time, independent of listing order.
//! No I/O.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::retention::grammar::{is_scheduler_snapshot, retention_days_for, RetentionOutcome};
use proptest::prelude::*;
use std::collections::{BTreeSet, HashSet};

const RETENTION_VALUES: [Option<&str>; 10] = [
    None,
    Some("none"),
    Some(""),
    Some("default;5"),
    Some("default;30"),
    Some("0900;10;UTC"),
    Some("900"),
    Some("junk"),
    Some("default;20;UTC;all"),
    Some("default;0"),
];

#[derive(Debug, Clone)]
struct ImgSpec {
    region: u8,
    family: u8,
    hours_ago: i64,
    retention: usize,
    uuid: Option<u8>,
    source: Option<usize>,
    dereg: bool,
    shared: bool,
    pin: u8,
    used: u8,
    snaps: Vec<u8>,
}

#[derive(Debug, Clone)]
struct SnapSpec {
    hours_ago: i64,
    ours: bool,
    retention: usize,
    scheduler: u8,
    pin: bool,
    shared: bool,
}

fn img_spec() -> impl Strategy<Value = ImgSpec> {
    (
        (
            0u8..2,
            0u8..3,
            0i64..24 * 60,
            0usize..RETENTION_VALUES.len(),
        ),
        (
            proptest::option::weighted(0.5, 0u8..6),
            proptest::option::weighted(0.4, 0usize..64),
        ),
        (
            prop::bool::weighted(0.05),
            prop::bool::weighted(0.05),
            prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)],
            prop_oneof![10 => Just(0u8), 1 => 1u8..6],
        ),
        proptest::collection::vec(0u8..14, 0..3),
    )
        .prop_map(
            |(
                (region, family, hours_ago, retention),
                (uuid, source),
                (dereg, shared, pin, used),
                snaps,
            )| {
                ImgSpec {
                    region,
                    family,
                    hours_ago,
                    retention,
                    uuid,
                    source,
                    dereg,
                    shared,
                    pin,
                    used,
                    snaps,
                }
            },
        )
}

fn snap_spec() -> impl Strategy<Value = SnapSpec> {
    (
        0i64..24 * 60,
        any::<bool>(),
        0usize..RETENTION_VALUES.len(),
        prop_oneof![6 => Just(0u8), 1 => 1u8..5],
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.05),
    )
        .prop_map(
            |(hours_ago, ours, retention, scheduler, pin, shared)| SnapSpec {
                hours_ago,
                ours,
                retention,
                scheduler,
                pin,
                shared,
            },
        )
}

pub(crate) fn rules_strategy() -> impl Strategy<Value = PlanRules> {
    (
        0usize..4,
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.2),
    )
        .prop_map(
            |(keep, include_shared, scheduler_snapshots, filter)| PlanRules {
                keep,
                include_shared,
                scheduler_snapshots,
                families: if filter { vec!["a".into()] } else { Vec::new() },
                ..PlanRules::default()
            },
        )
}

const REGIONS: [&str; 2] = ["ap-east-1", "eu-west-1"];

fn build(images: &[ImgSpec], snaps: &[SnapSpec]) -> Inventory {
    let hours = |h: i64| now() - TimeDelta::hours(h);
    let mut inv = Inventory::default();
    for (i, s) in images.iter().enumerate() {
        let mut tags = BTreeMap::new();
        if s.family < 2 {
            tags.insert(
                FAMILY.to_string(),
                ["a", "b"][s.family as usize].to_string(),
            );
        }
        if let Some(v) = RETENTION_VALUES[s.retention] {
            tags.insert(RET.to_string(), v.to_string());
        }
        if let Some(u) = s.uuid {
            tags.insert("ami-builder:packer-run-uuid".into(), format!("uuid-{u}"));
        }
        if let Some(src) = s.source {
            let value = if src < i {
                format!("{}:ami-{src:08x}", REGIONS[images[src].region as usize])
            } else {
                format!("r1:ami-gone{}", src % 3)
            };
            tags.insert("ami-builder:source-image".into(), value);
        }
        match s.pin {
            1 => {
                tags.insert("ami-builder:keep".into(), "true".into());
            }
            2 => {
                tags.insert("ami-builder:keep".into(), "false".into());
            }
            _ => {}
        }
        let id = format!("ami-{i:08x}");
        let mut sharing = Sharing::default();
        if s.shared {
            sharing.accounts.push("444455556666".into());
        }
        inv.images.push(Image {
            region: REGIONS[s.region as usize].into(),
            id: id.as_str().into(),
            name: id.clone(),
            owner_id: "111122223333".into(),
            creation_date: hours(s.hours_ago),
            tags,
            snapshot_ids: s
                .snaps
                .iter()
                .map(|k| format!("snap-{k:08x}").as_str().into())
                .collect(),
            deregistration_protection: s.dereg,
            deregistration_protection_until: None,
            last_launched: None,
            deprecation_time: None,
            disabled: false,
            sharing,
        });
        let by = match s.used {
            0 => None,
            1 => Some(UsedBy::Instance {
                id: "i-9".into(),
                state: "running".into(),
            }),
            2 => Some(UsedBy::Instance {
                id: "i-9".into(),
                state: "stopped".into(),
            }),
            3 => Some(UsedBy::Instance {
                id: "i-9".into(),
                state: "terminated".into(),
            }),
            4 => Some(UsedBy::LaunchTemplate {
                id: "lt-1".into(),
                version: 7,
            }),
            _ => Some(UsedBy::AutoScalingGroup { name: "asg".into() }),
        };
        if let Some(by) = by {
            inv.usage.push(Usage {
                region: "ap-east-1".into(),
                image_id: id,
                by,
            });
        }
    }
    for (k, s) in snaps.iter().enumerate() {
        let mut tags = BTreeMap::new();
        if s.ours {
            tags.insert(FAMILY.to_string(), "a".to_string());
        }
        let mut description = String::new();
        if s.scheduler > 0 {
            tags.insert(RET.to_string(), "auto_delete".to_string());
            let instance = ["i-0", "i-1", "i-2", "i-3"][s.scheduler as usize - 1];
            if s.scheduler != 4 {
                description = format!(
                    "Created by EBSSnapshotScheduler from vol-0ab({instance}) at 2024-01-01"
                );
            }
        } else if let Some(v) = RETENTION_VALUES[s.retention] {
            tags.insert(RET.to_string(), v.to_string());
        }
        if s.pin {
            tags.insert("ami-builder:keep".into(), "yes".into());
        }
        let sharing = Sharing {
            public: s.shared,
            ..Sharing::default()
        };
        inv.snapshots.push(Snapshot {
            region: "ap-east-1".into(),
            id: format!("snap-{k:08x}").as_str().into(),
            volume_id: None,
            volume_size_gib: 8,
            start_time: hours(s.hours_ago),
            tags,
            description,
            sharing,
        });
    }
    inv.instances = vec![
        Instance {
            region: "ap-east-1".into(),
            id: "i-0".into(),
            state: "running".into(),
            tags: tagmap(&[(RET, "default;40")]),
        },
        Instance {
            region: "ap-east-1".into(),
            id: "i-2".into(),
            state: "running".into(),
            tags: tagmap(&[(RET, "none")]),
        },
        Instance {
            region: "ap-east-1".into(),
            id: "i-3".into(),
            state: "stopped".into(),
            tags: tagmap(&[(RET, "0900; 3")]),
        },
    ];
    inv
}

pub(crate) fn inventory() -> impl Strategy<Value = Inventory> {
    (
        proptest::collection::vec(img_spec(), 0..24),
        proptest::collection::vec(snap_spec(), 0..14),
    )
        .prop_map(|(images, snaps)| build(&images, &snaps))
}

fn in_scope(img: &Image, rules: &PlanRules) -> bool {
    let family = img.tags.get(&rules.family_tag).filter(|f| !f.is_empty());
    let tagged = img
        .tags
        .keys()
        .any(|k| k.starts_with(&rules.retention.tag_prefix));
    (family.is_some() || tagged)
        && (rules.families.is_empty() || family.is_some_and(|f| rules.families.contains(f)))
}

/// Independent restatement of rule 1 for images.
fn protected(img: &Image, inv: &Inventory, rules: &PlanRules) -> bool {
    let used = inv.usage.iter().any(|u| {
        img.id == u.image_id
            && !matches!(&u.by, UsedBy::Instance { state, .. } if state == "terminated")
    });
    let pinned = img
        .tags
        .get(&rules.keep_tag)
        .is_some_and(|v| !v.eq_ignore_ascii_case("false"));
    let retention_ok = matches!(
        retention_days_for(&img.tags, &rules.retention),
        RetentionOutcome::Default { .. } | RetentionOutcome::Tagged { .. }
    );
    used || img.deregistration_protection
        || (img.sharing.is_shared() && !rules.include_shared)
        || pinned
        || !retention_ok
}

/// Independent, quadratic restatement of "newest `keep` builds per family".
fn newest(inv: &Inventory, rules: &PlanRules) -> HashSet<String> {
    let imgs: Vec<&Image> = inv
        .images
        .iter()
        .filter(|i| {
            in_scope(i, rules) && i.tags.get(&rules.family_tag).is_some_and(|f| !f.is_empty())
        })
        .collect();
    let n = imgs.len();
    let tag = |i: usize, k: &str| imgs[i].tags.get(k).filter(|v| !v.is_empty()).cloned();
    let place = |i: usize| format!("{}:{}", imgs[i].region, imgs[i].id);
    let linked = |a: usize, b: usize| {
        let fam = |i: usize| tag(i, &rules.family_tag);
        let (ua, ub) = (tag(a, &rules.run_uuid_tag), tag(b, &rules.run_uuid_tag));
        let (sa, sb) = (
            tag(a, &rules.source_image_tag),
            tag(b, &rules.source_image_tag),
        );
        fam(a) == fam(b)
            && ((ua.is_some() && ua == ub)
                || (sa.is_some() && sa == sb)
                || sa.as_deref() == Some(place(b).as_str())
                || sb.as_deref() == Some(place(a).as_str()))
    };
    let mut group: Vec<usize> = (0..n).collect();
    let mut changed = true;
    while changed {
        changed = false;
        for a in 0..n {
            for b in 0..n {
                if linked(a, b) && group[a] != group[b] {
                    let (from, to) = (group[a].max(group[b]), group[a].min(group[b]));
                    for g in group.iter_mut() {
                        if *g == from {
                            *g = to;
                        }
                    }
                    changed = true;
                }
            }
        }
    }
    // (family, group) -> (newest, smallest (region, id), members)
    type Build = (DateTime<Utc>, (String, String), Vec<String>);
    let mut builds: BTreeMap<(String, usize), Build> = BTreeMap::new();
    for i in 0..n {
        let fam = tag(i, &rules.family_tag).unwrap_or_default();
        let key = (imgs[i].region.to_string(), imgs[i].id.to_string());
        let e = builds.entry((fam, group[i])).or_insert((
            imgs[i].creation_date,
            key.clone(),
            Vec::new(),
        ));
        e.0 = e.0.max(imgs[i].creation_date);
        e.1 = e.1.clone().min(key);
        e.2.push(imgs[i].id.to_string());
    }
    let families: BTreeSet<String> = builds.keys().map(|(f, _)| f.clone()).collect();
    let mut out = HashSet::new();
    for fam in families {
        let mut list: Vec<_> = builds
            .iter()
            .filter(|((f, _), _)| *f == fam)
            .map(|(_, b)| b)
            .collect();
        list.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        for b in list.into_iter().take(rules.keep) {
            out.extend(b.2.iter().cloned());
        }
    }
    out
}

fn deleted_ids(p: &Plan) -> BTreeSet<(ItemKind, String)> {
    p.deletions().map(|i| (i.kind, i.id.to_string())).collect()
}

fn without(inv: &Inventory, gone: &BTreeSet<(ItemKind, String)>) -> Inventory {
    let mut next = inv.clone();
    next.images
        .retain(|i| !gone.contains(&(ItemKind::Image, i.id.to_string())));
    next.snapshots
        .retain(|s| !gone.contains(&(ItemKind::Snapshot, s.id.to_string())));
    next
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn never_deletes_a_protected_or_newest_image(inv in inventory(), rules in rules_strategy()) {
        let p = plan(&inv, &rules, now());
        let newest = newest(&inv, &rules);
        for item in p.deletions().filter(|i| i.kind == ItemKind::Image) {
            let img = inv.images.iter().find(|i| *i.id == *item.id).unwrap();
            prop_assert!(!protected(img, &inv, &rules), "deleted protected {}\n{}", item.id, p);
            prop_assert!(!newest.contains(&*item.id), "deleted newest {}\n{}", item.id, p);
        }
        // And the planner's own newest verdicts agree with the restatement.
        for item in p.items.iter().filter(|i| i.reason.code() == "newest") {
            prop_assert!(newest.contains(&*item.id), "{} is not among the newest\n{}", item.id, p);
        }
    }

    #[test]
    fn snapshots_go_only_with_all_their_images(inv in inventory(), rules in rules_strategy()) {
        let p = plan(&inv, &rules, now());
        let deleted = deleted_ids(&p);
        for item in p.deletions().filter(|i| i.kind == ItemKind::Snapshot) {
            for img in inv.images.iter().filter(|i| i.snapshot_ids.iter().any(|s| *s == *item.id)) {
                prop_assert!(deleted.contains(&(ItemKind::Image, img.id.to_string())),
                    "{} deleted while {} stays\n{}", item.id, img.id, p);
                prop_assert!(item.depends_on.iter().any(|d| img.id == **d));
            }
            let snap = inv.snapshots.iter().find(|s| *s.id == *item.id).unwrap();
            prop_assert!(rules.scheduler_snapshots
                || !is_scheduler_snapshot(&snap.tags, &snap.description, &rules.retention));
            prop_assert!(!snap.sharing.is_shared() || rules.include_shared);
        }
    }

    #[test]
    fn one_item_per_resource_in_order(inv in inventory(), rules in rules_strategy()) {
        let p = plan(&inv, &rules, now());
        let mut seen = HashSet::new();
        for item in &p.items {
            prop_assert!(seen.insert((item.kind, item.id.to_string())), "twice: {}", item.id);
        }
        // Images, then snapshots; each by region, then id.
        let keys: Vec<_> = p.items.iter().map(|i| (i.kind, i.region.clone(), i.id.clone())).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        prop_assert_eq!(keys, sorted);
        for img in inv.images.iter().filter(|i| in_scope(i, &rules)) {
            prop_assert!(seen.contains(&(ItemKind::Image, img.id.to_string())), "missing {}", img.id);
        }
        let s = &p.summary;
        prop_assert_eq!(s.images_to_delete + s.images_to_keep + s.snapshots_to_delete + s.snapshots_to_keep, p.items.len());
        let back: Plan = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        prop_assert_eq!(back, p);
    }

    #[test]
    fn the_same_plan_on_any_number_of_threads(inv in inventory(), rules in rules_strategy(), threads in 2usize..6) {
        let one = super::planner::plan_with_threads(&inv, &rules, now(), 1);
        let many = super::planner::plan_with_threads(&inv, &rules, now(), threads);
        prop_assert_eq!(one, many);
    }

    #[test]
    fn idempotent(inv in inventory(), rules in rules_strategy()) {
        let first = plan(&inv, &rules, now());
        let gone = deleted_ids(&first);
        let second = plan(&without(&inv, &gone), &rules, now());
        prop_assert!(second.deletions().next().is_none(),
            "new deletions after applying:\n{}\nthen\n{}", first, second);
    }

    #[test]
    fn decisions_only_move_towards_delete_with_time(
        inv in inventory(),
        rules in rules_strategy(),
        later in 1i64..24 * 90,
    ) {
        let at = plan(&inv, &rules, now());
        let after = plan(&inv, &rules, now() + TimeDelta::hours(later));
        let before = deleted_ids(&at);
        let then = deleted_ids(&after);
        prop_assert!(before.is_subset(&then), "{:?} not in {:?}", before, then);
    }

    #[test]
    fn input_order_does_not_matter(inv in inventory(), rules in rules_strategy()) {
        let mut reversed = inv.clone();
        reversed.images.reverse();
        reversed.snapshots.reverse();
        reversed.usage.reverse();
        prop_assert_eq!(plan(&inv, &rules, now()), plan(&reversed, &rules, now()));
    }
}
