//! Saved-plan checks: every mismatch named, edited plans never delete what
//! today's rules keep, foreign and future plans refused.
#![allow(clippy::unwrap_used)]
use super::*;
use crate::retention::plan::{Action, Image, Inventory};
use chrono::TimeZone;
use std::collections::BTreeMap;
use std::sync::Arc;

const ACCOUNT: &str = "111122223333";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap()
}

fn image(id: &str, days: i64, ret: &str) -> Image {
    let mut tags = BTreeMap::new();
    tags.insert("ami-builder:family".to_string(), "web".to_string());
    tags.insert("scheduler:ebs-snapshot".to_string(), ret.to_string());
    Image {
        region: "us-east-1".into(),
        id: id.into(),
        name: id.into(),
        owner_id: ACCOUNT.into(),
        creation_date: now() - TimeDelta::days(days),
        tags,
        snapshot_ids: vec![],
        deregistration_protection: false,
        deregistration_protection_until: None,
        last_launched: None,
        deprecation_time: None,
        disabled: false,
        sharing: Default::default(),
    }
}

fn inventory() -> Inventory {
    Inventory {
        account_id: Some(ACCOUNT.into()),
        regions: vec!["us-east-1".into()],
        images: vec![
            image("ami-0000000a", 1, "0900;30"),
            image("ami-0000000b", 40, "0900;30"),
            image("ami-0000000c", 50, "0900;30"),
            image("ami-0000000d", 60, "0900;90"),
        ],
        ..Inventory::default()
    }
}

fn rules() -> PlanRules {
    PlanRules {
        keep: 1,
        ..PlanRules::default()
    }
}

fn regions() -> Vec<Region> {
    vec!["us-east-1".into()]
}

fn present<'a>(rules: &'a PlanRules, regions: &'a [Region]) -> Present<'a> {
    Present {
        rules,
        regions,
        account_id: Some(ACCOUNT),
        now: now(),
        max_age: TimeDelta::hours(24),
    }
}

fn saved() -> Plan {
    crate::retention::plan(&inventory(), &rules(), now())
}

fn mismatches(plan: &Plan, rules: &PlanRules, regions: &[Region]) -> Vec<String> {
    match check_saved(plan, &present(rules, regions)) {
        Err(Refusal::Mismatch(m)) => m,
        other => panic!("expected a mismatch, got {other:?}"),
    }
}

#[test]
fn a_plan_made_here_now_is_accepted() {
    let p = saved();
    assert_eq!(p.schema_version, PLAN_SCHEMA_VERSION);
    assert_eq!(p.scope.account_id.as_deref(), Some(ACCOUNT));
    assert!(check_saved(&p, &present(&rules(), &regions())).is_ok());
    // families compare as sets
    let mut r = rules();
    r.families = vec!["b".into(), "a".into()];
    let mut p2 = p.clone();
    p2.rules.families = vec!["a".into(), "b".into(), "a".into()];
    assert!(check_saved(&p2, &present(&r, &regions())).is_ok());
}

#[test]
fn every_rule_difference_is_named_with_its_flag() {
    let p = saved();
    let mut now_rules = rules();
    now_rules.keep = 3;
    now_rules.families = vec!["web".into()];
    now_rules.retention.default_retention_days = 7;
    now_rules.include_shared = true;
    let m = mismatches(&p, &now_rules, &regions());
    let text = m.join("\n");
    assert!(
        text.contains("keep: the plan says 1, now 3 (--keep)"),
        "{text}"
    );
    assert!(
        text.contains("families: the plan says [], now [\"web\"] (--family)"),
        "{text}"
    );
    assert!(
        text.contains(
            "retention.default_retention_days: the plan says 15, now 7 (--default-retention-days)"
        ),
        "{text}"
    );
    assert!(text.contains("include_shared"), "{text}");
    assert_eq!(m.len(), 4, "{text}");
    // a rule edited in the file is caught the same way
    let mut edited = p.clone();
    edited.rules.retention.tag_prefix = "x".into();
    let text = mismatches(&edited, &rules(), &regions()).join("\n");
    assert!(text.contains("retention.tag_prefix"), "{text}");
}

#[test]
fn foreign_region_and_account_are_refused() {
    let p = saved();
    let other: Vec<Region> = vec!["eu-west-1".into()];
    let text = mismatches(&p, &rules(), &other).join("\n");
    assert!(
        text.contains("regions: the plan is for us-east-1, this run acts in eu-west-1"),
        "{text}"
    );
    let r = rules();
    let regs = regions();
    let mut pres = present(&r, &regs);
    pres.account_id = Some("999988887777");
    let Err(Refusal::Mismatch(m)) = check_saved(&p, &pres) else {
        panic!("foreign account accepted")
    };
    assert!(
        m[0].contains("account 111122223333") && m[0].contains("999988887777"),
        "{m:?}"
    );
    let mut no_account = p.clone();
    no_account.scope.account_id = None;
    assert!(mismatches(&no_account, &rules(), &regions())[0].contains("does not say"));
}

#[test]
fn malformed_or_out_of_scope_items_are_refused() {
    let mut p = saved();
    let mut bad = p.items[0].clone();
    bad.id = Arc::from("ami-123; rm -rf /");
    p.items.push(bad);
    let mut elsewhere = p.items[0].clone();
    elsewhere.region = Arc::from("eu-west-1");
    p.items.push(elsewhere);
    let mut dep = p.items[0].clone();
    dep.kind = ItemKind::Snapshot;
    dep.id = Arc::from("snap-0000000f");
    dep.depends_on = vec![Arc::from("snap-00000001")];
    p.items.push(dep);
    let text = mismatches(&p, &rules(), &regions()).join("\n");
    assert!(text.contains("not a valid image id"), "{text}");
    assert!(text.contains("not one of the plan's regions"), "{text}");
    assert!(text.contains("not an image id"), "{text}");
}

#[test]
fn stale_and_future_plans_are_refused() {
    let r = rules();
    let regs = regions();
    let mut p = saved();
    p.generated_at = now() - TimeDelta::hours(25);
    assert!(matches!(
        check_saved(&p, &present(&r, &regs)),
        Err(Refusal::Stale { .. })
    ));
    p.generated_at = now() + TimeDelta::days(3);
    assert_eq!(
        check_saved(&p, &present(&r, &regs)),
        Err(Refusal::Future {
            ahead: TimeDelta::days(3)
        })
    );
    // a little clock skew is the present
    p.generated_at = now() + TimeDelta::minutes(2);
    assert!(check_saved(&p, &present(&r, &regs)).is_ok());
}

#[test]
fn unknown_schema_versions_are_refused() {
    let v = serde_json::to_value(saved()).unwrap();
    assert!(check_schema(&v, "plan").is_ok());
    let mut old = v.clone();
    old.as_object_mut().unwrap().remove("schema_version");
    assert!(check_schema(&old, "plan")
        .unwrap_err()
        .contains("no schema_version"));
    let mut future = v;
    future["schema_version"] = 2.into();
    assert!(check_schema(&future, "plan")
        .unwrap_err()
        .contains("schema_version 2"));
}

fn listed(inv: &Inventory) -> Vec<(ItemKind, String, String)> {
    inv.images
        .iter()
        .map(|i| (ItemKind::Image, i.region.to_string(), i.id.to_string()))
        .collect()
}

fn verdicts(saved: &Plan, inv: &Inventory) -> Vec<Verdict> {
    let fresh = crate::retention::plan(inv, &rules(), now());
    let l = listed(inv);
    let set: Listed<'_> = l
        .iter()
        .map(|(k, r, i)| (*k, r.as_str(), i.as_str()))
        .collect();
    reconcile(saved, &fresh, &set)
}

#[test]
fn an_edited_plan_never_deletes_what_todays_rules_keep() {
    let inv = inventory();
    let mut p = saved();
    // flip every decision to delete, and add an id the account never had
    for i in &mut p.items {
        i.action = Action::Delete;
    }
    let mut extra = p.items[0].clone();
    extra.id = Arc::from("ami-0000000e");
    p.items.push(extra);
    let v = verdicts(&p, &inv);
    let proceed: Vec<&str> = v
        .iter()
        .filter_map(|v| match v {
            Verdict::Proceed(i) => Some(&*i.id),
            _ => None,
        })
        .collect();
    // only the expired, not-newest images: b and c (a is newest, d not expired)
    assert_eq!(proceed, vec!["ami-0000000b", "ami-0000000c"]);
    assert!(v
        .iter()
        .any(|v| matches!(v, Verdict::Kept { item, .. } if &*item.id == "ami-0000000a")));
    assert!(v
        .iter()
        .any(|v| matches!(v, Verdict::Kept { item, .. } if &*item.id == "ami-0000000d")));
    assert!(v
        .iter()
        .any(|v| matches!(v, Verdict::Gone(item) if &*item.id == "ami-0000000e")));
}

#[test]
fn deletions_take_the_fresh_items_and_scope_changes_are_not_gone() {
    let mut inv = inventory();
    let mut p = saved();
    // the file says the snapshot depends on nothing; the fresh plan knows better
    for i in &mut p.items {
        i.depends_on.clear();
    }
    // c left the family since the plan: still listed, out of scope now
    inv.images[2].tags.clear();
    let v = verdicts(&p, &inv);
    assert!(
        v.iter()
            .any(|v| matches!(v, Verdict::OutOfScope(item) if &*item.id == "ami-0000000c")),
        "{v:?}"
    );
    // b is gone from the account
    inv.images.remove(1);
    let v = verdicts(&p, &inv);
    assert!(
        v.iter()
            .any(|v| matches!(v, Verdict::Gone(item) if &*item.id == "ami-0000000b")),
        "{v:?}"
    );
}

#[test]
fn deletion_counts_count_images_and_orphans() {
    let p = saved();
    let todo: Vec<PlanItem> = p.deletions().cloned().collect();
    assert_eq!(deletion_counts(&todo), (2, 0));
}
