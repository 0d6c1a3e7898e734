//! Scenario tests for every planner rule and reason, JSON and text output,
//! and `recheck`; an ignored timing test at a million images. No I/O.
#![allow(clippy::unwrap_used)]
use super::*;
use chrono::{TimeDelta, TimeZone};

pub(crate) mod props;

pub(crate) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap()
}

fn ago(days: i64) -> DateTime<Utc> {
    now() - TimeDelta::days(days)
}

fn tagmap(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const FAMILY: &str = "ami-builder:family";
const RET: &str = "scheduler:ebs-snapshot";

fn image(region: &str, id: &str, days: i64, tags: &[(&str, &str)], snaps: &[&str]) -> Image {
    Image {
        region: region.into(),
        id: id.into(),
        name: format!("name-{id}"),
        owner_id: "111122223333".into(),
        creation_date: ago(days),
        tags: tagmap(tags),
        snapshot_ids: snaps.iter().map(|&s| s.into()).collect(),
        deregistration_protection: false,
        deregistration_protection_until: None,
        last_launched: None,
        deprecation_time: None,
        disabled: false,
        sharing: Sharing::default(),
    }
}

fn fam(region: &str, id: &str, family: &str, days: i64, snaps: &[&str]) -> Image {
    image(region, id, days, &[(FAMILY, family)], snaps)
}

fn snap(region: &str, id: &str, days: i64, tags: &[(&str, &str)]) -> Snapshot {
    Snapshot {
        region: region.into(),
        id: id.into(),
        volume_id: Some(format!("vol-{id}")),
        volume_size_gib: 8,
        start_time: ago(days),
        tags: tagmap(tags),
        description: String::new(),
        sharing: Sharing::default(),
    }
}

fn uses(image_id: &str, by: UsedBy) -> Usage {
    Usage {
        region: "us-east-1".into(),
        image_id: image_id.into(),
        by,
    }
}

fn run(inv: &Inventory, rules: &PlanRules) -> Plan {
    plan(inv, rules, now())
}

fn item<'a>(p: &'a Plan, id: &str) -> &'a PlanItem {
    p.items
        .iter()
        .find(|i| &*i.id == id)
        .unwrap_or_else(|| panic!("no item {id} in\n{p}"))
}

fn decision(p: &Plan, id: &str) -> (Action, &'static str) {
    let i = item(p, id);
    (i.action, i.reason.code())
}

const DEL: Action = Action::Delete;
const KEEP: Action = Action::Keep;

fn keep1() -> PlanRules {
    PlanRules {
        keep: 1,
        ..PlanRules::default()
    }
}

#[test]
fn keep_n_newest_then_expiry() {
    let inv = Inventory {
        images: (1..=5)
            .map(|n| fam("us-east-1", &format!("ami-{n}"), "web", 100 - n * 10, &[]))
            .chain([fam("us-east-1", "ami-6", "web", 3, &[])])
            .collect(),
        ..Inventory::default()
    };
    let p = run(&inv, &PlanRules::default());
    // ages: ami-1 90d, ami-2 80d, ami-3 70d, ami-4 60d, ami-5 50d, ami-6 3d
    assert_eq!(decision(&p, "ami-6"), (KEEP, "newest"));
    assert_eq!(decision(&p, "ami-5"), (KEEP, "newest"));
    assert_eq!(decision(&p, "ami-4"), (KEEP, "newest"));
    assert_eq!(
        item(&p, "ami-4").reason,
        Reason::Newest { rank: 3, keep: 3 }
    );
    assert_eq!(decision(&p, "ami-3"), (DEL, "expired"));
    assert_eq!(decision(&p, "ami-1"), (DEL, "expired"));
    assert_eq!(p.summary.images_to_delete, 3);
    assert_eq!(p.summary.images_to_keep, 3);
}

#[test]
fn not_expired_shows_the_expiry() {
    let inv = Inventory {
        images: vec![
            fam("us-east-1", "ami-new", "web", 1, &[]),
            fam("us-east-1", "ami-old", "web", 10, &[]),
        ],
        ..Inventory::default()
    };
    let p = run(&inv, &keep1());
    let i = item(&p, "ami-old");
    assert_eq!((i.action, i.reason.code()), (KEEP, "not-expired"));
    assert_eq!(i.expires_at, Some(ago(10) + TimeDelta::days(15)));
    assert_eq!(
        i.reason,
        Reason::NotExpired {
            retention_days: 15,
            retention: RetentionSource::Default
        }
    );
}

#[test]
fn expiry_boundary_is_inclusive() {
    let inv = Inventory {
        images: vec![
            fam("r", "ami-new", "web", 0, &[]),
            fam("r", "ami-15", "web", 15, &[]),
        ],
        ..Inventory::default()
    };
    assert_eq!(decision(&run(&inv, &keep1()), "ami-15"), (DEL, "expired"));
}

#[test]
fn a_use_in_another_account_protects_and_names_the_account() {
    let images = vec![
        fam("us-east-1", "ami-newest", "web", 1, &[]),
        fam("us-east-1", "ami-there", "web", 40, &[]),
        fam("us-east-1", "ami-gone-there", "web", 40, &[]),
    ];
    let elsewhere = |state: &str| UsedBy::InAccount {
        account: "222233334444".into(),
        by: Box::new(UsedBy::Instance {
            id: "i-9".into(),
            state: state.into(),
        }),
    };
    let inv = Inventory {
        images,
        usage: vec![
            uses("ami-there", elsewhere("running")),
            uses("ami-gone-there", elsewhere("terminated")),
        ],
        ..Inventory::default()
    };
    let p = run(&inv, &keep1());
    assert_eq!(decision(&p, "ami-there"), (KEEP, "in-use"));
    assert_eq!(
        item(&p, "ami-there").reason.to_string(),
        "in use by instance i-9 (running) in account 222233334444"
    );
    assert_eq!(decision(&p, "ami-gone-there"), (DEL, "expired"));
}

#[test]
fn in_use_protects_except_terminated() {
    let mut images = vec![fam("us-east-1", "ami-newest", "web", 1, &[])];
    for id in [
        "ami-run", "ami-stop", "ami-term", "ami-lt", "ami-lc", "ami-asg", "ami-free",
    ] {
        images.push(fam("us-east-1", id, "web", 40, &[]));
    }
    let inv = Inventory {
        images,
        usage: vec![
            uses(
                "ami-run",
                UsedBy::Instance {
                    id: "i-1".into(),
                    state: "running".into(),
                },
            ),
            uses(
                "ami-stop",
                UsedBy::Instance {
                    id: "i-2".into(),
                    state: "stopped".into(),
                },
            ),
            uses(
                "ami-term",
                UsedBy::Instance {
                    id: "i-3".into(),
                    state: "terminated".into(),
                },
            ),
            uses(
                "ami-lt",
                UsedBy::LaunchTemplate {
                    id: "lt-1".into(),
                    version: 4,
                },
            ),
            uses("ami-lc", UsedBy::LaunchConfiguration { name: "lc".into() }),
            uses("ami-asg", UsedBy::AutoScalingGroup { name: "asg".into() }),
        ],
        ..Inventory::default()
    };
    let p = run(&inv, &keep1());
    for id in ["ami-run", "ami-stop", "ami-lt", "ami-lc", "ami-asg"] {
        assert_eq!(decision(&p, id), (KEEP, "in-use"), "{id}");
    }
    assert_eq!(decision(&p, "ami-term"), (DEL, "expired"));
    assert_eq!(decision(&p, "ami-free"), (DEL, "expired"));
    assert_eq!(
        item(&p, "ami-stop").reason,
        Reason::InUse {
            by: vec!["instance i-2 (stopped)".into()]
        }
    );
    assert_eq!(
        item(&p, "ami-lt").reason.to_string(),
        "in use by launch template lt-1 version 4"
    );
}

#[test]
fn a_reference_protects_and_an_unanswered_source_keeps_the_image_with_its_error() {
    let images = vec![
        fam("us-east-1", "ami-newest", "web", 1, &[]),
        fam("us-east-1", "ami-param", "web", 40, &[]),
        fam("us-east-1", "ami-unknown", "web", 40, &[]),
        fam("us-east-1", "ami-both", "web", 40, &[]),
        fam("us-east-1", "ami-free", "web", 40, &[]),
    ];
    let reference = UsedBy::Reference {
        resource_type: "ssm:Parameter".into(),
        arn: "arn:aws:ssm:us-east-1:111122223333:parameter/golden".into(),
    };
    let unknown = UsedBy::Unknown {
        source: "DescribeImageReferences".into(),
        error: "InternalError".into(),
    };
    let inv = Inventory {
        images,
        usage: vec![
            uses("ami-param", reference.clone()),
            uses("ami-unknown", unknown.clone()),
            uses("ami-both", unknown),
            uses("ami-both", reference),
        ],
        ..Inventory::default()
    };
    let p = run(&inv, &keep1());
    assert_eq!(decision(&p, "ami-param"), (KEEP, "in-use"));
    assert_eq!(
        item(&p, "ami-param").reason.to_string(),
        "in use by ssm:Parameter arn:aws:ssm:us-east-1:111122223333:parameter/golden"
    );
    assert_eq!(decision(&p, "ami-unknown"), (KEEP, "use-unknown"));
    assert!(item(&p, "ami-unknown")
        .reason
        .to_string()
        .contains("DescribeImageReferences failed: InternalError"));
    // a known use is the better reason when there is one
    assert_eq!(decision(&p, "ami-both"), (KEEP, "in-use"));
    assert_eq!(decision(&p, "ami-free"), (DEL, "expired"));
}

#[test]
fn unused_for_keeps_an_image_launched_within_it_and_says_when() {
    let mut recent = fam("us-east-1", "ami-recent", "web", 40, &[]);
    recent.last_launched = Some(ago(10));
    let mut long_ago = fam("us-east-1", "ami-old", "web", 40, &[]);
    long_ago.last_launched = Some(ago(31));
    let inv = Inventory {
        images: vec![
            fam("us-east-1", "ami-newest", "web", 1, &[]),
            recent,
            long_ago,
            fam("us-east-1", "ami-never", "web", 40, &[]),
        ],
        ..Inventory::default()
    };
    let rules = PlanRules {
        unused_for_secs: Some(30 * 86_400),
        ..keep1()
    };
    let p = run(&inv, &rules);
    assert_eq!(decision(&p, "ami-recent"), (KEEP, "recently-launched"));
    assert_eq!(
        item(&p, "ami-recent").reason.to_string(),
        format!(
            "launched {} (EC2's last launch time), within --unused-for 30d",
            ago(10).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    );
    assert_eq!(decision(&p, "ami-old"), (DEL, "expired"));
    assert_eq!(decision(&p, "ami-never"), (DEL, "expired"));
    // without --unused-for, a launch does not count
    assert_eq!(
        decision(&run(&inv, &keep1()), "ami-recent"),
        (DEL, "expired")
    );
}

#[test]
fn the_recycle_bin_says_until_when_a_deletion_is_recoverable_and_require_keeps_the_rest() {
    use crate::retention::recycle_bin::{outlived_snapshots, BinRule, RegionBin};
    let images = vec![
        fam("us-east-1", "ami-newest", "web", 1, &["snap-newest"]),
        image(
            "us-east-1",
            "ami-binned",
            40,
            &[(FAMILY, "web"), ("bin", "yes")],
            &["snap-binned"],
        ),
        fam("us-east-1", "ami-plain", "web", 40, &["snap-plain"]),
        fam("eu-west-1", "ami-unread", "web", 40, &[]),
    ];
    let snapshots = vec![
        snap("us-east-1", "snap-newest", 1, &[]),
        snap("us-east-1", "snap-binned", 40, &[("bin", "yes")]),
        snap("us-east-1", "snap-plain", 40, &[]),
    ];
    let rule = |kind, days| BinRule {
        identifier: format!("r{days}"),
        kind,
        retention_days: days,
        tags: vec![("bin".into(), "yes".into())],
        exclude: Vec::new(),
        available: true,
    };
    let mut inv = Inventory {
        images,
        snapshots,
        ..Inventory::default()
    };
    inv.recycle_bin.insert(
        "us-east-1".into(),
        RegionBin::Rules {
            rules: vec![rule(ItemKind::Image, 14), rule(ItemKind::Snapshot, 7)],
        },
    );
    inv.recycle_bin.insert(
        "eu-west-1".into(),
        RegionBin::Unreadable {
            error: "AccessDeniedException".into(),
        },
    );
    let p = run(&inv, &keep1());
    assert_eq!(decision(&p, "ami-binned"), (DEL, "expired"));
    assert_eq!(
        item(&p, "ami-binned").recoverable_until,
        Some(now() + TimeDelta::days(14))
    );
    assert_eq!(
        item(&p, "snap-binned").recoverable_until,
        Some(now() + TimeDelta::days(7))
    );
    assert_eq!(decision(&p, "ami-plain"), (DEL, "expired"));
    assert_eq!(item(&p, "ami-plain").recoverable_until, None);
    assert_eq!(
        decision(&p, "ami-unread"),
        (DEL, "expired"),
        "without --require-recycle-bin"
    );
    // the image outlives its snapshot in the bin: said
    let warned = outlived_snapshots(&p);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].contains("ami-binned") && warned[0].contains("snap-binned"));
    // --require-recycle-bin keeps what no rule retains, and what could not be read
    let p = run(
        &inv,
        &PlanRules {
            require_recycle_bin: true,
            ..keep1()
        },
    );
    assert_eq!(decision(&p, "ami-binned"), (DEL, "expired"));
    assert_eq!(decision(&p, "ami-plain"), (KEEP, "not-recoverable"));
    assert_eq!(
        decision(&p, "snap-plain"),
        (KEEP, "used-by-image"),
        "its image is kept"
    );
    assert_eq!(decision(&p, "ami-unread"), (KEEP, "not-recoverable"));
    assert!(item(&p, "ami-unread")
        .reason
        .to_string()
        .contains("could not be read: AccessDeniedException"));
}

#[test]
fn the_ladder_deprecates_then_disables_then_deletes_each_step_on_its_own_clock() {
    let day = 86_400;
    let rules = PlanRules {
        deprecate_after_secs: Some(30 * day),
        disable_after_secs: Some(10 * day),
        ..keep1()
    };
    let mut young = fam("r", "ami-young", "web", 20, &[]);
    young.tags.insert(RET.into(), "0900;1".into());
    let old = fam("r", "ami-old", "web", 40, &[]);
    let mut deprecated_5d = fam("r", "ami-dep5", "web", 40, &[]);
    deprecated_5d.deprecation_time = Some(ago(5));
    let mut deprecated_12d = fam("r", "ami-dep12", "web", 40, &[]);
    deprecated_12d.deprecation_time = Some(ago(12));
    let mut scheduled = fam("r", "ami-sched", "web", 40, &[]);
    scheduled.deprecation_time = Some(now() + TimeDelta::days(3));
    let mut disabled = fam("r", "ami-disabled", "web", 40, &[]);
    disabled.deprecation_time = Some(ago(20));
    disabled.disabled = true;
    let inv = Inventory {
        images: vec![
            fam("r", "ami-newest", "web", 1, &[]),
            young,
            old,
            deprecated_5d,
            deprecated_12d,
            scheduled,
            disabled,
        ],
        ..Inventory::default()
    };
    let p = run(&inv, &rules);
    // expired, but not yet 30 days old: the deprecation comes first, later
    assert_eq!(decision(&p, "ami-young"), (KEEP, "ladder"));
    assert_eq!(
        item(&p, "ami-young").reason,
        Reason::Ladder {
            step: Step::Deprecate,
            at: ago(20) + TimeDelta::days(30)
        }
    );
    assert_eq!(decision(&p, "ami-old"), (Action::Deprecate, "ladder"));
    // deprecated 5 days ago: disabled 10 days after that
    assert_eq!(
        item(&p, "ami-dep5").reason,
        Reason::Ladder {
            step: Step::Disable,
            at: ago(5) + TimeDelta::days(10)
        }
    );
    assert_eq!(item(&p, "ami-dep5").action, KEEP);
    assert_eq!(decision(&p, "ami-dep12"), (Action::Disable, "ladder"));
    // a deprecation already scheduled is waited for, not moved
    assert_eq!(
        item(&p, "ami-sched").reason,
        Reason::Ladder {
            step: Step::Deprecate,
            at: now() + TimeDelta::days(3)
        }
    );
    // every step done: retention decides, as without the ladder
    assert_eq!(decision(&p, "ami-disabled"), (DEL, "expired"));
    assert_eq!(p.summary.images_to_deprecate, 1);
    assert_eq!(p.summary.images_to_disable, 1);
    // without the flags, as today
    assert_eq!(decision(&run(&inv, &keep1()), "ami-old"), (DEL, "expired"));
}

#[test]
fn disable_protection_is_its_own_step_and_only_for_what_protection_alone_keeps() {
    let mut only_protected = fam("r", "ami-prot", "web", 40, &[]);
    only_protected.deregistration_protection = true;
    let mut also_pinned = image(
        "r",
        "ami-pinned",
        40,
        &[(FAMILY, "web"), ("ami-builder:keep", "true")],
        &[],
    );
    also_pinned.deregistration_protection = true;
    let mut fresh = fam("r", "ami-fresh", "web", 2, &[]);
    fresh.deregistration_protection = true;
    let mut cooling = fam("r", "ami-cool", "web", 40, &[]);
    cooling.deregistration_protection_until = Some(now() + TimeDelta::hours(5));
    let inv = Inventory {
        images: vec![
            fam("r", "ami-newest", "web", 1, &[]),
            only_protected,
            also_pinned,
            fresh,
            cooling,
        ],
        ..Inventory::default()
    };
    let rules = PlanRules {
        disable_protection: true,
        ..keep1()
    };
    let p = run(&inv, &rules);
    assert_eq!(decision(&p, "ami-prot"), (Action::Unprotect, "ladder"));
    assert_eq!(p.summary.images_to_unprotect, 1);
    // pinned too: not unprotected (the reason stays the first protection)
    assert_eq!(
        decision(&p, "ami-pinned"),
        (KEEP, "deregistration-protection")
    );
    // not expired: nothing to unprotect for
    assert_eq!(
        decision(&p, "ami-fresh"),
        (KEEP, "deregistration-protection")
    );
    // in its cooldown: waited for
    assert_eq!(
        decision(&p, "ami-cool"),
        (KEEP, "deregistration-protection")
    );
    // without the flag, protection keeps it
    assert_eq!(
        decision(&run(&inv, &keep1()), "ami-prot"),
        (KEEP, "deregistration-protection")
    );
}

#[test]
fn protection_beats_newest_and_expiry() {
    let mut shared = fam("r", "ami-shared", "web", 40, &[]);
    shared.sharing.accounts.push("444455556666".into());
    let mut public = fam("r", "ami-public", "web", 40, &[]);
    public.sharing.public = true;
    let mut org = fam("r", "ami-org", "web", 40, &[]);
    org.sharing
        .organizations
        .push("arn:aws:organizations::o-1".into());
    let mut protected = fam("r", "ami-prot", "web", 40, &[]);
    protected.deregistration_protection = true;
    let pinned = image(
        "r",
        "ami-pin",
        40,
        &[(FAMILY, "web"), ("ami-builder:keep", "true")],
        &[],
    );
    let unpinned = image(
        "r",
        "ami-unpin",
        40,
        &[(FAMILY, "web"), ("ami-builder:keep", "False")],
        &[],
    );
    let newest_used = fam("r", "ami-newest", "web", 1, &[]);
    let inv = Inventory {
        images: vec![
            shared,
            public,
            org,
            protected,
            pinned,
            unpinned,
            newest_used,
        ],
        usage: vec![uses(
            "ami-newest",
            UsedBy::AutoScalingGroup { name: "g".into() },
        )],
        ..Inventory::default()
    };
    let p = run(&inv, &keep1());
    assert_eq!(decision(&p, "ami-shared"), (KEEP, "shared"));
    assert_eq!(decision(&p, "ami-public"), (KEEP, "shared"));
    assert_eq!(decision(&p, "ami-org"), (KEEP, "shared"));
    assert_eq!(
        decision(&p, "ami-prot"),
        (KEEP, "deregistration-protection")
    );
    assert_eq!(decision(&p, "ami-pin"), (KEEP, "pinned"));
    assert_eq!(decision(&p, "ami-unpin"), (DEL, "expired"));
    // The first rule wins: protected, even though it is also the newest.
    assert_eq!(decision(&p, "ami-newest"), (KEEP, "in-use"));

    let p = run(
        &inv,
        &PlanRules {
            include_shared: true,
            ..keep1()
        },
    );
    assert_eq!(decision(&p, "ami-shared"), (DEL, "expired"));
    assert_eq!(decision(&p, "ami-public"), (DEL, "expired"));
}

#[test]
fn retention_tags_with_2_3_4_fields_and_junk() {
    let with = |id: &str, days: i64, value: &str| image("r", id, days, &[(RET, value)], &[]);
    let inv = Inventory {
        images: vec![
            with("ami-2f-young", 20, "default;30"),
            with("ami-2f-old", 31, "default;30"),
            with("ami-2f-zone", 20, "default;America/New_York"),
            with("ami-3f", 59, "0900;60;UTC"),
            with("ami-3f-old", 61, "0900;60;UTC"),
            with("ami-3f-days", 16, "0900;Europe/London;mon,tue"),
            with("ami-4f", 6, "0900;5;UTC;all"),
            with("ami-4f-bad", 99, "0900;5d;UTC;all"),
            with("ami-junk", 99, "forever"),
            with("ami-space", 99, "default; 5"),
            with("ami-est", 99, "default;5;EST"),
            with("ami-900", 99, "900;5"),
            with("ami-none", 99, "none"),
            with("ami-empty", 99, ""),
            image(
                "r",
                "ami-longest",
                40,
                &[
                    (RET, "default;10"),
                    ("scheduler:ebs-snapshot:b", "default;45"),
                ],
                &[],
            ),
            image("r", "ami-untagged", 99, &[("Name", "x")], &[]),
        ],
        ..Inventory::default()
    };
    let p = run(&inv, &PlanRules::default());
    assert_eq!(decision(&p, "ami-2f-young"), (KEEP, "not-expired"));
    assert_eq!(decision(&p, "ami-2f-old"), (DEL, "expired"));
    assert_eq!(decision(&p, "ami-2f-zone"), (DEL, "expired"));
    assert_eq!(decision(&p, "ami-3f"), (KEEP, "not-expired"));
    assert_eq!(decision(&p, "ami-3f-old"), (DEL, "expired"));
    assert_eq!(decision(&p, "ami-3f-days"), (DEL, "expired"));
    assert_eq!(decision(&p, "ami-4f"), (DEL, "expired"));
    for id in ["ami-4f-bad", "ami-junk", "ami-space", "ami-est", "ami-900"] {
        assert_eq!(decision(&p, id), (KEEP, "retention-invalid"), "{id}");
    }
    assert_eq!(decision(&p, "ami-none"), (KEEP, "retention-excluded"));
    assert_eq!(decision(&p, "ami-empty"), (KEEP, "retention-excluded"));
    assert_eq!(decision(&p, "ami-longest"), (KEEP, "not-expired"));
    assert_eq!(
        item(&p, "ami-longest").reason,
        Reason::NotExpired {
            retention_days: 45,
            retention: RetentionSource::Tag(Box::new(TagRef {
                on: "ami-longest".into(),
                key: "scheduler:ebs-snapshot:b".into(),
                value: "default;45".into()
            }))
        }
    );
    // Neither a family nor a retention tag: not ours.
    assert!(p.items.iter().all(|i| &*i.id != "ami-untagged"));
    // Retention-only images have no family and are never "newest".
    assert!(p.items.iter().all(|i| i.reason.code() != "newest"));
}

#[test]
fn snapshots_follow_their_image() {
    let ours = [(FAMILY, "web")];
    let inv = Inventory {
        images: vec![
            fam("r", "ami-new", "web", 1, &["snap-new"]),
            fam(
                "r",
                "ami-old",
                "web",
                40,
                &["snap-old-a", "snap-old-b", "snap-missing"],
            ),
            fam("r", "ami-young", "web", 10, &["snap-young"]),
        ],
        snapshots: vec![
            snap("r", "snap-new", 1, &ours),
            snap("r", "snap-old-a", 40, &ours),
            snap("r", "snap-old-b", 5, &ours),
            snap("r", "snap-young", 10, &ours),
        ],
        ..Inventory::default()
    };
    let p = run(&inv, &keep1());
    assert_eq!(decision(&p, "ami-old"), (DEL, "expired"));
    assert_eq!(decision(&p, "snap-old-a"), (DEL, "expired"));
    assert_eq!(
        item(&p, "snap-old-a").depends_on,
        vec![Arc::<str>::from("ami-old")]
    );
    assert_eq!(item(&p, "snap-old-a").family.as_deref(), Some("web"));
    // Its AMI goes, but its own retention has not run out.
    assert_eq!(decision(&p, "snap-old-b"), (KEEP, "not-expired"));
    assert_eq!(decision(&p, "snap-new"), (KEEP, "used-by-image"));
    assert_eq!(decision(&p, "snap-young"), (KEEP, "used-by-image"));
    assert_eq!(p.summary.snapshots_to_delete, 1);
    assert_eq!(p.summary.gib_freed, 8);
    assert!((p.summary.est_monthly_saving_usd - 0.40).abs() < 1e-9);
}

#[test]
fn snapshot_used_by_two_amis() {
    let ours = [(FAMILY, "web")];
    let inv = Inventory {
        images: vec![
            fam("r", "ami-new", "web", 1, &[]),
            fam("r", "ami-a", "web", 40, &["snap-shared", "snap-both"]),
            fam("r", "ami-b", "web", 10, &["snap-shared"]),
            fam("r", "ami-c", "web", 50, &["snap-both"]),
        ],
        snapshots: vec![
            snap("r", "snap-shared", 40, &ours),
            snap("r", "snap-both", 50, &ours),
        ],
        ..Inventory::default()
    };
    let p = run(&inv, &keep1());
    assert_eq!(decision(&p, "ami-a"), (DEL, "expired"));
    assert_eq!(decision(&p, "ami-b"), (KEEP, "not-expired"));
    assert_eq!(decision(&p, "ami-c"), (DEL, "expired"));
    assert_eq!(
        item(&p, "snap-shared").reason,
        Reason::UsedByImage {
            images: vec!["ami-b".into()]
        }
    );
    assert_eq!(decision(&p, "snap-both"), (DEL, "expired"));
    assert_eq!(
        item(&p, "snap-both").depends_on,
        vec![Arc::<str>::from("ami-a"), "ami-c".into()]
    );
}

#[test]
fn snapshot_of_an_unmanaged_image_is_kept() {
    let inv = Inventory {
        images: vec![
            fam("r", "ami-new", "web", 1, &[]),
            fam("r", "ami-old", "web", 40, &["snap-x"]),
            image("r", "ami-theirs", 40, &[("Name", "hand-made")], &["snap-x"]),
        ],
        snapshots: vec![snap("r", "snap-x", 40, &[])],
        ..Inventory::default()
    };
    let p = run(&inv, &keep1());
    assert_eq!(decision(&p, "ami-old"), (DEL, "expired"));
    assert_eq!(
        item(&p, "snap-x").reason,
        Reason::UsedByImage {
            images: vec!["ami-theirs".into()]
        }
    );
}

#[test]
fn orphaned_snapshots() {
    let inv = Inventory {
        snapshots: vec![
            snap("r", "snap-orphan-old", 20, &[("ami-builder:commit", "abc")]),
            snap("r", "snap-orphan-young", 5, &[(FAMILY, "web")]),
            snap(
                "r",
                "snap-orphan-long",
                20,
                &[(FAMILY, "web"), (RET, "default;30")],
            ),
            snap(
                "r",
                "snap-orphan-pinned",
                20,
                &[(FAMILY, "web"), ("ami-builder:keep", "true")],
            ),
            snap("r", "snap-not-ours", 99, &[("Name", "x")]),
        ],
        ..Inventory::default()
    };
    let p = run(&inv, &PlanRules::default());
    assert_eq!(decision(&p, "snap-orphan-old"), (DEL, "expired"));
    assert!(item(&p, "snap-orphan-old").depends_on.is_empty());
    assert_eq!(decision(&p, "snap-orphan-young"), (KEEP, "not-expired"));
    assert_eq!(decision(&p, "snap-orphan-long"), (KEEP, "not-expired"));
    assert_eq!(decision(&p, "snap-orphan-pinned"), (KEEP, "pinned"));
    assert!(p.items.iter().all(|i| &*i.id != "snap-not-ours"));
    // The family filter applies to orphans' own family tag.
    let p = run(
        &inv,
        &PlanRules {
            families: vec!["web".into()],
            ..PlanRules::default()
        },
    );
    assert!(p.items.iter().all(|i| &*i.id != "snap-orphan-old"));
    assert_eq!(decision(&p, "snap-orphan-young"), (KEEP, "not-expired"));
}

fn scheduler_snap(id: &str, days: i64, instance: &str) -> Snapshot {
    let mut s = snap("r", id, days, &[(RET, "auto_delete")]);
    s.description =
        format!("Created by EBSSnapshotScheduler from vol-0aa({instance}) at 2024-01-01 23:30:00");
    s
}

#[test]
fn scheduler_snapshots() {
    let mut no_desc = scheduler_snap("snap-nodesc", 99, "i-x");
    no_desc.description = "copied".into();
    let inv = Inventory {
        images: vec![
            fam("r", "ami-new", "web", 1, &[]),
            fam("r", "ami-old", "web", 40, &["snap-of-ami"]),
        ],
        snapshots: vec![
            scheduler_snap("snap-of-ami", 40, "i-gone"),
            scheduler_snap("snap-30-old", 31, "i-30"),
            scheduler_snap("snap-30-young", 29, "i-30"),
            scheduler_snap("snap-longest", 40, "i-multi"),
            scheduler_snap("snap-gone", 16, "i-gone"),
            scheduler_snap("snap-untagged", 16, "i-untagged"),
            scheduler_snap("snap-excluded", 99, "i-none"),
            scheduler_snap("snap-bad", 99, "i-bad"),
            no_desc,
        ],
        instances: vec![
            Instance {
                region: "r".into(),
                id: "i-30".into(),
                state: "running".into(),
                tags: tagmap(&[(RET, "default;30")]),
            },
            Instance {
                region: "r".into(),
                id: "i-multi".into(),
                state: "stopped".into(),
                tags: tagmap(&[
                    (RET, "default;7"),
                    ("scheduler:ebs-snapshot:weekly", "0100;60;UTC;sun"),
                ]),
            },
            Instance {
                region: "r".into(),
                id: "i-untagged".into(),
                state: "running".into(),
                tags: tagmap(&[]),
            },
            Instance {
                region: "r".into(),
                id: "i-none".into(),
                state: "running".into(),
                tags: tagmap(&[(RET, "none")]),
            },
            Instance {
                region: "r".into(),
                id: "i-bad".into(),
                state: "running".into(),
                tags: tagmap(&[(RET, "default;30;EST")]),
            },
        ],
        ..Inventory::default()
    };
    // Without --scheduler-snapshots: only the AMI's snapshot is in scope, and kept.
    let p = run(&inv, &keep1());
    assert_eq!(decision(&p, "ami-old"), (DEL, "expired"));
    assert_eq!(decision(&p, "snap-of-ami"), (KEEP, "scheduler-snapshot"));
    assert_eq!(
        p.items
            .iter()
            .filter(|i| i.kind == ItemKind::Snapshot)
            .count(),
        1
    );

    let p = run(
        &inv,
        &PlanRules {
            scheduler_snapshots: true,
            ..keep1()
        },
    );
    assert_eq!(decision(&p, "snap-of-ami"), (DEL, "expired"));
    assert_eq!(decision(&p, "snap-30-old"), (DEL, "expired"));
    assert_eq!(decision(&p, "snap-30-young"), (KEEP, "not-expired"));
    assert_eq!(decision(&p, "snap-longest"), (KEEP, "not-expired"));
    assert_eq!(
        item(&p, "snap-longest").reason,
        Reason::NotExpired {
            retention_days: 60,
            retention: RetentionSource::InstanceTag(Box::new(TagRef {
                on: "i-multi".into(),
                key: "scheduler:ebs-snapshot:weekly".into(),
                value: "0100;60;UTC;sun".into()
            }))
        }
    );
    assert_eq!(decision(&p, "snap-gone"), (DEL, "expired"));
    assert_eq!(
        item(&p, "snap-gone").reason,
        Reason::Expired {
            retention_days: 15,
            retention: RetentionSource::InstanceGone {
                instance: "i-gone".into()
            }
        }
    );
    assert_eq!(decision(&p, "snap-untagged"), (DEL, "expired"));
    assert_eq!(decision(&p, "snap-excluded"), (KEEP, "retention-excluded"));
    assert_eq!(decision(&p, "snap-bad"), (KEEP, "retention-invalid"));
    assert_eq!(
        decision(&p, "snap-nodesc"),
        (KEEP, "scheduler-source-unknown")
    );
}

#[test]
fn copies_count_as_one_build() {
    // Three builds, each in us-east-1 with a copy in eu-west-1 made hours later.
    let mut images = Vec::new();
    for (n, days) in [(1, 30), (2, 20), (3, 17)] {
        let src = format!("ami-src{n}");
        images.push(fam("us-east-1", &src, "web", days, &[]));
        let mut copy = fam("eu-west-1", &format!("ami-copy{n}"), "web", days, &[]);
        copy.creation_date += TimeDelta::hours(2);
        copy.tags.insert(
            "ami-builder:source-image".into(),
            format!("us-east-1:{src}"),
        );
        images.push(copy);
    }
    // A fourth build grouped by run uuid only, oldest of all.
    for (region, id) in [
        ("us-east-1", "ami-u1"),
        ("eu-west-1", "ami-u2"),
        ("ap-south-1", "ami-u3"),
    ] {
        let mut i = fam(region, id, "web", 60, &[]);
        i.tags
            .insert("ami-builder:packer-run-uuid".into(), "uuid-4".into());
        images.push(i);
    }
    let inv = Inventory {
        images,
        ..Inventory::default()
    };
    let p = run(
        &inv,
        &PlanRules {
            keep: 2,
            ..PlanRules::default()
        },
    );
    for id in ["ami-src3", "ami-copy3"] {
        assert_eq!(
            item(&p, id).reason,
            Reason::Newest { rank: 1, keep: 2 },
            "{id}"
        );
    }
    for id in ["ami-src2", "ami-copy2"] {
        assert_eq!(
            item(&p, id).reason,
            Reason::Newest { rank: 2, keep: 2 },
            "{id}"
        );
    }
    for id in ["ami-src1", "ami-copy1", "ami-u1", "ami-u2", "ami-u3"] {
        assert_eq!(decision(&p, id), (DEL, "expired"), "{id}");
    }
    // keep 4 keeps the uuid build as one build too.
    let p = run(
        &inv,
        &PlanRules {
            keep: 4,
            ..PlanRules::default()
        },
    );
    assert_eq!(
        item(&p, "ami-u2").reason,
        Reason::Newest { rank: 4, keep: 4 }
    );
}

#[test]
fn copy_whose_source_is_gone_still_groups_with_its_siblings() {
    let mut images = vec![fam("us-east-1", "ami-new", "web", 1, &[])];
    for (region, id) in [("eu-west-1", "ami-c1"), ("ap-south-1", "ami-c2")] {
        let mut c = fam(region, id, "web", 30, &[]);
        c.tags.insert(
            "ami-builder:source-image".into(),
            "us-east-1:ami-gone".into(),
        );
        images.push(c);
    }
    let inv = Inventory {
        images,
        ..Inventory::default()
    };
    let p = run(
        &inv,
        &PlanRules {
            keep: 2,
            ..PlanRules::default()
        },
    );
    assert_eq!(
        item(&p, "ami-c1").reason,
        Reason::Newest { rank: 2, keep: 2 }
    );
    assert_eq!(
        item(&p, "ami-c2").reason,
        Reason::Newest { rank: 2, keep: 2 }
    );
}

#[test]
fn families_are_ranked_separately_and_filtered() {
    let inv = Inventory {
        images: vec![
            fam("r", "ami-web1", "web", 1, &[]),
            fam("r", "ami-web2", "web", 40, &[]),
            fam("r", "ami-db1", "db", 50, &[]),
            fam("r", "ami-db2", "db", 60, &[]),
        ],
        ..Inventory::default()
    };
    let p = run(&inv, &keep1());
    assert_eq!(decision(&p, "ami-db1"), (KEEP, "newest"));
    assert_eq!(decision(&p, "ami-db2"), (DEL, "expired"));
    assert_eq!(decision(&p, "ami-web2"), (DEL, "expired"));
    let p = run(
        &inv,
        &PlanRules {
            families: vec!["db".into()],
            ..keep1()
        },
    );
    assert_eq!(p.items.len(), 2);
    assert!(p.items.iter().all(|i| i.family.as_deref() == Some("db")));
}

#[test]
fn other_accounts_images_are_out_of_scope() {
    let mut theirs = fam("r", "ami-theirs", "web", 40, &[]);
    theirs.owner_id = "999999999999".into();
    let inv = Inventory {
        account_id: Some("111122223333".into()),
        images: vec![fam("r", "ami-new", "web", 1, &[]), theirs],
        ..Inventory::default()
    };
    let p = run(
        &inv,
        &PlanRules {
            keep: 0,
            ..PlanRules::default()
        },
    );
    assert_eq!(p.items.len(), 1);
    assert_eq!(decision(&p, "ami-new"), (KEEP, "not-expired"));
}

#[test]
fn duplicates_get_one_item_and_order_is_deterministic() {
    let ours = [(FAMILY, "web")];
    let inv = Inventory {
        images: vec![
            fam("us-west-2", "ami-b", "web", 40, &["snap-2"]),
            fam("eu-west-1", "ami-z", "web", 40, &["snap-1"]),
            fam("us-west-2", "ami-a", "web", 40, &["snap-3"]),
            fam("us-west-2", "ami-a", "web", 40, &["snap-3"]),
        ],
        snapshots: vec![
            snap("us-west-2", "snap-3", 40, &ours),
            snap("us-west-2", "snap-2", 40, &ours),
            snap("eu-west-1", "snap-1", 40, &ours),
            snap("us-west-2", "snap-2", 40, &ours),
        ],
        ..Inventory::default()
    };
    let p = run(
        &inv,
        &PlanRules {
            keep: 0,
            ..PlanRules::default()
        },
    );
    let order: Vec<&str> = p.items.iter().map(|i| &*i.id).collect();
    assert_eq!(
        order,
        ["ami-z", "ami-a", "ami-b", "snap-1", "snap-2", "snap-3"]
    );
    assert_eq!(p.deletions().count(), 6);
}

#[test]
fn plan_round_trips_through_json_and_reads_as_text() {
    let ours = [(FAMILY, "web")];
    let mut inv = Inventory {
        images: vec![
            fam("us-east-1", "ami-new", "web", 1, &["snap-new"]),
            fam("us-east-1", "ami-old", "web", 40, &["snap-old"]),
            image("us-east-1", "ami-bad", 40, &[(RET, "900;5")], &[]),
        ],
        snapshots: vec![
            snap("us-east-1", "snap-new", 1, &ours),
            snap("us-east-1", "snap-old", 40, &ours),
        ],
        ..Inventory::default()
    };
    inv.snapshots[1].volume_size_gib = 30;
    let p = run(&inv, &keep1());
    let json = serde_json::to_string_pretty(&p).unwrap();
    let back: Plan = serde_json::from_str(&json).unwrap();
    assert_eq!(back, p);
    assert!(json.contains("\"code\": \"retention-invalid\""), "{json}");
    let text = p.to_string();
    assert!(text.contains("ACTION  ID"), "{text}");
    assert!(text.contains("delete  ami-old"), "{text}");
    assert!(text.contains("malformed retention tag"), "{text}");
    let wide = p.render(TableView {
        wide: true,
        only_deletions: false,
    });
    assert!(wide.contains("delete  image"), "{wide}");
    assert!(wide.contains("EXPIRES"), "{wide}");
    assert!(
        text.ends_with(
            "delete 1 image(s) and 1 snapshot(s), keep 2 image(s) and 1 snapshot(s); \
             30 GiB of snapshot storage freed (at most), about $1.50 a month saved"
        ),
        "{text}"
    );
    // The inventory is a documented JSON input too, and its ids are checked
    // when it is read (this test's mnemonic ids are not EC2 ids).
    let inv_json = serde_json::to_string(&inv).unwrap();
    let err = serde_json::from_str::<Inventory>(&inv_json).unwrap_err();
    assert!(err.to_string().contains("is not an AMI id"), "{err}");
    let minimal: Inventory = serde_json::from_str(
        r#"{"images":[{"region":"us-east-1","id":"ami-00000001","creation_date":"2024-01-01T00:00:00Z"}],
            "usage":[{"region":"us-east-1","image_id":"ami-00000001","by":{"type":"launch-template","id":"lt-1","version":2}}]}"#,
    )
    .unwrap();
    assert_eq!(minimal.images[0].snapshot_ids.len(), 0);
    let back: Inventory = serde_json::from_str(&serde_json::to_string(&minimal).unwrap()).unwrap();
    assert_eq!(back, minimal);
}

#[test]
fn recheck_skips_what_became_protected() {
    let ours = [(FAMILY, "web")];
    let mut inv = Inventory {
        images: vec![
            fam("r", "ami-new", "web", 1, &[]),
            fam("r", "ami-a", "web", 40, &["snap-a"]),
            fam("r", "ami-b", "web", 40, &["snap-b"]),
            fam("r", "ami-c", "web", 40, &[]),
        ],
        snapshots: vec![
            snap("r", "snap-a", 40, &ours),
            snap("r", "snap-b", 40, &ours),
        ],
        ..Inventory::default()
    };
    let saved = run(&inv, &keep1());
    assert_eq!(saved.deletions().count(), 5);

    // Since then: ami-a launched, ami-c deleted by someone else.
    inv.usage.push(uses(
        "ami-a",
        UsedBy::Instance {
            id: "i-9".into(),
            state: "pending".into(),
        },
    ));
    inv.images.retain(|i| i.id != "ami-c");
    let fresh = plan(&inv, &saved.rules, saved.generated_at);
    let index = PlanIndex::new(&fresh);
    let verdict = |id: &str| index.recheck(item(&saved, id));
    assert!(matches!(
        verdict("ami-a"),
        Recheck::Skip {
            reason: Reason::InUse { .. }
        }
    ));
    assert!(matches!(
        verdict("snap-a"),
        Recheck::Skip {
            reason: Reason::UsedByImage { .. }
        }
    ));
    assert_eq!(verdict("ami-b"), Recheck::Proceed);
    assert_eq!(verdict("snap-b"), Recheck::Proceed);
    assert_eq!(verdict("ami-c"), Recheck::Missing);
    assert_eq!(verdict("ami-new"), Recheck::NotPlanned);
    assert_eq!(recheck(item(&saved, "ami-b"), &fresh), Recheck::Proceed);
}

#[test]
fn builds_do_not_span_families() {
    // A copy tagged with another family's image as its source, and an image
    // sharing another family's run UUID: separate builds per family.
    let mut web = fam("us-east-1", "ami-web", "web", 30, &[]);
    web.tags
        .insert("ami-builder:packer-run-uuid".into(), "u1".into());
    let mut db_copy = fam("eu-west-1", "ami-dbcopy", "db", 30, &[]);
    db_copy.tags.insert(
        "ami-builder:source-image".into(),
        "us-east-1:ami-web".into(),
    );
    let mut db_uuid = fam("us-east-1", "ami-dbuuid", "db", 40, &[]);
    db_uuid
        .tags
        .insert("ami-builder:packer-run-uuid".into(), "u1".into());
    let inv = Inventory {
        images: vec![web, db_copy, db_uuid],
        ..Inventory::default()
    };
    let p = run(&inv, &keep1());
    assert_eq!(
        item(&p, "ami-web").reason,
        Reason::Newest { rank: 1, keep: 1 }
    );
    assert_eq!(
        item(&p, "ami-dbcopy").reason,
        Reason::Newest { rank: 1, keep: 1 }
    );
    assert_eq!(decision(&p, "ami-dbuuid"), (DEL, "expired"));
}

#[test]
fn zones_read_as_the_scheduler_reads_them() {
    let inv = Inventory {
        images: vec![
            fam("us-east-1", "ami-new", "web", 1, &[]),
            image(
                "us-east-1",
                "ami-utc",
                20,
                &[(FAMILY, "web"), (RET, "0900;5;utc;weekdays")],
                &[],
            ),
            image(
                "us-east-1",
                "ami-typo",
                20,
                &[(FAMILY, "web"), (RET, "0900;5;Europe/Pariss;mon")],
                &[],
            ),
        ],
        ..Inventory::default()
    };
    let p = run(&inv, &keep1());
    // `utc` is the scheduler's UTC: the 5-day retention applies
    assert_eq!(decision(&p, "ami-utc"), (DEL, "expired"));
    // a zone that does not exist: malformed, kept
    assert_eq!(decision(&p, "ami-typo"), (KEEP, "retention-invalid"));
}

#[test]
fn the_table_sorts_by_family_then_newest_and_fits_120_columns() {
    let long = "a-very-long-image-name-that-goes-on-and-on-".repeat(3);
    let mut inv = Inventory {
        images: vec![
            fam("us-east-1", "ami-web-old", "web", 40, &[]),
            fam("us-east-1", "ami-app-new", "app", 1, &[]),
            fam("us-east-1", "ami-web-new", "web", 2, &[]),
            fam("us-east-1", "ami-app-old", "app", 50, &[]),
        ],
        usage: vec![uses(
            "ami-app-old",
            UsedBy::LaunchTemplate {
                id: "lt-0123456789abcdef0-with-a-long-name".repeat(3),
                version: 1,
            },
        )],
        ..Inventory::default()
    };
    inv.images[1].name = long.clone();
    let p = run(&inv, &keep1());
    // items keep the apply order; created and name are carried
    let item_names: Vec<&str> = p.items.iter().map(|i| &*i.id).collect();
    assert_eq!(
        item_names,
        ["ami-app-new", "ami-app-old", "ami-web-new", "ami-web-old"]
    );
    assert_eq!(item(&p, "ami-app-new").name.as_deref(), Some(long.as_str()));
    assert_eq!(item(&p, "ami-web-old").created, Some(ago(40)));
    let text = p.to_string();
    let rows: Vec<&str> = text.lines().skip(2).take(4).collect();
    let order: Vec<&str> = rows
        .iter()
        .map(|r| r.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(
        order,
        ["ami-app-new", "ami-app-old", "ami-web-new", "ami-web-old"],
        "{text}"
    );
    // the table itself (between the title line and the summary) fits
    let lines: Vec<&str> = text.lines().collect();
    for line in &lines[1..lines.len() - 1] {
        assert!(
            line.chars().count() <= NARROW,
            "{} columns: {line}",
            line.chars().count()
        );
    }
    assert!(
        text.contains('…'),
        "the long name and reason are clipped: {text}"
    );
    let wide = p.render(TableView {
        wide: true,
        only_deletions: false,
    });
    assert!(wide.contains(&long), "--wide shows it whole: {wide}");
    let deletions = p.render(TableView {
        wide: false,
        only_deletions: true,
    });
    assert!(deletions.contains("ami-web-old"), "{deletions}");
    assert!(!deletions.contains("ami-web-new"), "{deletions}");
    assert!(
        deletions.ends_with(&p.summary.to_string()),
        "the summary counts all"
    );
}
