//! Tests of lint findings (the DESIGN.md list, each with its fix) and of
//! `explain`. No I/O.
#![allow(clippy::unwrap_used)]
use super::*;
use chrono::TimeZone;
use proptest::prelude::*;

fn cfg() -> RetentionConfig {
    RetentionConfig::default()
}

const KEY: &str = "scheduler:ebs-snapshot";

fn lint(value: &str) -> Vec<(Severity, String, Option<String>)> {
    lint_value(KEY, value, &cfg())
        .into_iter()
        .map(|f| (f.severity, f.code, f.suggestion))
        .collect()
}

fn one(
    sev: Severity,
    code: &str,
    suggestion: Option<&str>,
) -> Vec<(Severity, String, Option<String>)> {
    vec![(sev, code.to_string(), suggestion.map(str::to_string))]
}

use Severity::{Error as E, Warning as W};

#[test]
fn the_design_list() {
    // none / empty: exclude (stated, nothing to fix).
    assert_eq!(lint("none"), one(W, "excluded", None));
    assert_eq!(lint(""), one(W, "excluded", None));
    // a leading space
    assert_eq!(
        lint(" default;30"),
        one(E, "whitespace", Some("default;30"))
    );
    assert_eq!(
        lint("default; 30"),
        one(E, "whitespace", Some("default;30"))
    );
    assert_eq!(lint(" none"), one(E, "whitespace", Some("none")));
    // a 3-digit time
    assert_eq!(lint("900"), one(E, "time-three-digits", Some("0900")));
    assert_eq!(
        lint("900;30;UTC"),
        one(E, "time-three-digits", Some("0900;30;UTC"))
    );
    // 0000-0003 never fire
    assert_eq!(lint("0002;30"), one(W, "time-never-fires", Some("0005;30")));
    // zones without '/'
    assert_eq!(
        lint("default;30;EST"),
        one(E, "zone-without-slash", Some("default;30;America/New_York"))
    );
    // `GMT` and `utc` are the scheduler's own names for UTC
    assert!(lint("default;GMT").is_empty());
    assert!(lint("default;30;utc").is_empty());
    // a zone the IANA database does not have
    assert_eq!(
        lint("default;30;Europe/Pariss"),
        one(E, "zone-unknown", None)
    );
    assert_eq!(lint("default;30;IST"), one(E, "zone-without-slash", None));
    // days with a space
    assert_eq!(
        lint("0900;30;UTC;mon, tue"),
        one(E, "days-with-space", Some("0900;30;UTC;mon,tue"))
    );
    // junk
    assert_eq!(lint("keep me"), one(E, "time-invalid", None));
    assert_eq!(lint("09:00;30"), one(E, "time-invalid", Some("0900;30")));
    // non-integer retention in the 4-field form
    assert_eq!(
        lint("0900;30d;UTC;all"),
        one(E, "retention-not-integer", Some("0900;30;UTC;all"))
    );
    assert_eq!(
        lint("0900;x;UTC;all"),
        one(E, "retention-not-integer", None)
    );
    // a lone number is a time, probably meant as retention
    assert_eq!(lint("30"), one(E, "time-invalid", Some("default;30")));
    // the scheduler's own marker, away from a snapshot
    assert_eq!(lint("auto_delete"), one(E, "scheduler-marker", None));
    // well-formed extras
    assert_eq!(lint("default;0"), one(W, "retention-zero", None));
    assert_eq!(
        lint("0900;30;UTC;all;x"),
        one(W, "extra-fields", Some("0900;30;UTC;all"))
    );
    // clean
    assert!(lint("default;30").is_empty());
    assert!(lint("true").is_empty());
    assert!(lint("0130;America/Los_Angeles;weekdays").is_empty());
}

#[test]
fn every_finding_has_a_message_and_the_key_and_value() {
    for value in ["900;30;EST;mon, tue;x", "none", " x"] {
        for f in lint_value(KEY, value, &cfg()) {
            assert_eq!(f.key, KEY);
            assert_eq!(f.value, value);
            assert!(!f.message.is_empty());
            assert!(f.resource_id.is_none());
        }
    }
    let all = lint("900;30;EST;mon, tue;x");
    let codes: Vec<&str> = all.iter().map(|f| f.1.as_str()).collect();
    assert_eq!(
        codes,
        [
            "time-three-digits",
            "zone-without-slash",
            "days-with-space",
            "extra-fields"
        ]
    );
    assert_eq!(
        all[0].2.as_deref(),
        Some("0900;30;America/New_York;mon,tue")
    );
}

#[test]
fn resources_are_linted_per_tag() {
    let tags: BTreeMap<String, String> = [
        ("scheduler:ebs-snapshot", "auto_delete"),
        ("scheduler:ebs-snapshot:b", "900"),
        ("Name", "900"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let snap = lint_resource("snap-1", TagTarget::Snapshot, &tags, &cfg());
    assert_eq!(snap.len(), 1);
    assert_eq!(snap[0].resource_id.as_deref(), Some("snap-1"));
    assert_eq!(snap[0].key, "scheduler:ebs-snapshot:b");
    let inst = lint_resource("i-1", TagTarget::Instance, &tags, &cfg());
    assert_eq!(inst.len(), 2);
    assert_eq!(inst[0].code, "scheduler-marker");
}

#[test]
fn an_inventory_is_linted_with_region_and_id_apart() {
    use crate::retention::plan::{Instance, Inventory, Snapshot};
    let tags: BTreeMap<String, String> = [(
        "scheduler:ebs-snapshot".to_string(),
        "auto_delete".to_string(),
    )]
    .into();
    let inv = Inventory {
        instances: vec![Instance {
            region: "eu-west-1".into(),
            id: "i-1".into(),
            state: "running".into(),
            tags: tags.clone(),
        }],
        snapshots: vec![Snapshot {
            region: "us-east-1".into(),
            id: "snap-1".into(),
            volume_id: None,
            volume_size_gib: 8,
            start_time: Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap(),
            tags,
            description: String::new(),
            sharing: Default::default(),
        }],
        ..Inventory::default()
    };
    let found = lint_inventory(&inv, &cfg());
    // the marker is wrong on the instance only
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].region.as_deref(), Some("eu-west-1"));
    assert_eq!(found[0].resource_id.as_deref(), Some("i-1"));
    assert!(
        found[0].to_string().starts_with("eu-west-1 i-1: "),
        "{}",
        found[0]
    );
    let json = serde_json::to_value(&found[0]).unwrap();
    assert_eq!(json["region"], "eu-west-1");
    assert_eq!(json["resource_id"], "i-1");
}

#[test]
fn explain_shows_the_reading_and_expiry() {
    let now = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    let e = explain("0900;30;Europe/London", &cfg(), now);
    assert_eq!(
        e.expires_at,
        Some(Utc.with_ymd_and_hms(2024, 5, 31, 12, 0, 0).unwrap())
    );
    assert_eq!(e.prune_retention_days, Some(30));
    let text = e.to_string();
    assert!(text.contains("time:       0900 (given)"), "{text}");
    assert!(text.contains("retention:  30 days (given)"), "{text}");
    assert!(text.contains("time zone:  Europe/London (given)"), "{text}");
    assert!(text.contains("days:       all (default)"), "{text}");
    assert!(text.contains("expires:    2024-05-31 12:00 UTC"), "{text}");
    assert!(text.contains("findings:   none"), "{text}");

    let e = explain("none", &cfg(), now);
    assert_eq!(e.reading, Reading::Excluded);
    assert_eq!(e.expires_at, None);
    assert!(e.to_string().contains("keeps resources"));

    let e = explain("default;30;EST", &cfg(), now);
    assert!(matches!(e.reading, Reading::Schedule { .. }));
    assert_eq!(e.prune_retention_days, None);
    assert!(e.to_string().contains("zone-without-slash"));

    let e = explain("0900;x;UTC;all", &cfg(), now);
    assert!(matches!(e.reading, Reading::Unreadable { .. }));
    let json = serde_json::to_string(&e).unwrap();
    let back: Explanation = serde_json::from_str(&json).unwrap();
    assert_eq!(back, e);
}

proptest! {
    /// Suggestions are always clean (no error findings) and never panic.
    #[test]
    fn suggestions_are_well_formed(value in "[ ;0-9a-zA-Z/_,:-]{0,24}") {
        let c = cfg();
        if let Some(fix) = suggest_fix(&value, &c) {
            prop_assert!(
                fix == "none" || parse_strict(&fix, &c).is_ok(),
                "{:?} -> {:?}", value, fix
            );
        }
        let _ = explain(&value, &c, Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()).to_string();
    }
}
