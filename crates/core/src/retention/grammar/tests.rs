//! Table-driven tests of the scheduler grammar (every row), the checks, the
//! retention reading and expiry; property tests that the parser never
//! panics. No I/O.
#![allow(clippy::unwrap_used)]
use super::*;
use chrono::TimeZone;
use proptest::prelude::*;

fn cfg() -> RetentionConfig {
    RetentionConfig::default()
}

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

use Origin::{Default as D, Given as G};

/// (value, form, time, retention, zone, days, origins time/retention/zone/days)
type Row = (
    &'static str,
    Form,
    &'static str,
    u32,
    &'static str,
    &'static str,
    [Origin; 4],
);

/// Every row of the grammar, as the scheduler reads it.
const GRAMMAR: &[Row] = &[
    // 1 field: default/true (any case) is the default time, else the time.
    (
        "default",
        Form::Time,
        "2330",
        15,
        "UTC",
        "all",
        [D, D, D, D],
    ),
    (
        "DEFAULT",
        Form::Time,
        "2330",
        15,
        "UTC",
        "all",
        [D, D, D, D],
    ),
    ("true", Form::Time, "2330", 15, "UTC", "all", [D, D, D, D]),
    ("True", Form::Time, "2330", 15, "UTC", "all", [D, D, D, D]),
    ("0900", Form::Time, "0900", 15, "UTC", "all", [G, D, D, D]),
    ("900", Form::Time, "900", 15, "UTC", "all", [G, D, D, D]),
    ("junk", Form::Time, "junk", 15, "UTC", "all", [G, D, D, D]),
    (
        " default",
        Form::Time,
        " default",
        15,
        "UTC",
        "all",
        [G, D, D, D],
    ),
    // 2 fields: integer -> retention, else zone.
    (
        "default;30",
        Form::TimeRetention,
        "2330",
        30,
        "UTC",
        "all",
        [D, G, D, D],
    ),
    (
        "0130;7",
        Form::TimeRetention,
        "0130",
        7,
        "UTC",
        "all",
        [G, G, D, D],
    ),
    (
        "0130;007",
        Form::TimeRetention,
        "0130",
        7,
        "UTC",
        "all",
        [G, G, D, D],
    ),
    (
        "default;America/New_York",
        Form::TimeZone,
        "2330",
        15,
        "America/New_York",
        "all",
        [D, D, G, D],
    ),
    (
        "default;EST",
        Form::TimeZone,
        "2330",
        15,
        "EST",
        "all",
        [D, D, G, D],
    ),
    (
        "default; 30",
        Form::TimeZone,
        "2330",
        15,
        " 30",
        "all",
        [D, D, G, D],
    ),
    (
        "default;-5",
        Form::TimeZone,
        "2330",
        15,
        "-5",
        "all",
        [D, D, G, D],
    ),
    (
        "default;",
        Form::TimeZone,
        "2330",
        15,
        "",
        "all",
        [D, D, G, D],
    ),
    // 3 fields: integer second -> retention;zone, else zone;days.
    (
        "0900;30;Europe/London",
        Form::TimeRetentionZone,
        "0900",
        30,
        "Europe/London",
        "all",
        [G, G, G, D],
    ),
    (
        "0900;Europe/London;mon,tue",
        Form::TimeZoneDays,
        "0900",
        15,
        "Europe/London",
        "mon,tue",
        [G, D, G, G],
    ),
    (
        "true;UTC;weekdays",
        Form::TimeZoneDays,
        "2330",
        15,
        "UTC",
        "weekdays",
        [D, D, G, G],
    ),
    (
        "default;;UTC",
        Form::TimeZoneDays,
        "2330",
        15,
        "",
        "UTC",
        [D, D, G, G],
    ),
    // 4 or more: retention;zone;days, extras ignored.
    (
        "0900;30;UTC;mon",
        Form::TimeRetentionZoneDays,
        "0900",
        30,
        "UTC",
        "mon",
        [G, G, G, G],
    ),
    (
        "default;0;UTC;all",
        Form::TimeRetentionZoneDays,
        "2330",
        0,
        "UTC",
        "all",
        [D, G, G, G],
    ),
    (
        "0900;30;UTC;all;x;y",
        Form::TimeRetentionZoneDays,
        "0900",
        30,
        "UTC",
        "all",
        [G, G, G, G],
    ),
];

#[test]
fn grammar_table() {
    for (value, form, time, retention, tz, days, origins) in GRAMMAR {
        let spec = parse_value(value, &cfg()).unwrap_or_else(|e| panic!("{value:?}: {e}"));
        assert_eq!(spec.form, *form, "{value:?}");
        assert_eq!(spec.time, *time, "{value:?}");
        assert_eq!(spec.retention_days, *retention, "{value:?}");
        assert_eq!(spec.tz, *tz, "{value:?}");
        assert_eq!(spec.days, *days, "{value:?}");
        assert_eq!(
            [
                spec.time_origin,
                spec.retention_origin,
                spec.tz_origin,
                spec.days_origin
            ],
            *origins,
            "{value:?}"
        );
    }
}

#[test]
fn extra_fields_are_kept_aside() {
    let spec = parse_value("0900;30;UTC;all;x;y", &cfg()).unwrap();
    assert_eq!(spec.extra, vec!["x", "y"]);
}

#[test]
fn grammar_errors() {
    let rows: &[(&str, GrammarError)] = &[
        (
            "",
            GrammarError::Excluded {
                value: String::new(),
            },
        ),
        (
            "none",
            GrammarError::Excluded {
                value: "none".into(),
            },
        ),
        (
            "None",
            GrammarError::Excluded {
                value: "None".into(),
            },
        ),
        (
            "0900;x;UTC;all",
            GrammarError::NonIntegerRetention { field: "x".into() },
        ),
        (
            "0900; 30;UTC;all",
            GrammarError::NonIntegerRetention {
                field: " 30".into(),
            },
        ),
        (
            "0900;;UTC;all",
            GrammarError::NonIntegerRetention {
                field: String::new(),
            },
        ),
        (
            "default;99999999999",
            GrammarError::RetentionOutOfRange {
                field: "99999999999".into(),
            },
        ),
    ];
    for (value, err) in rows {
        assert_eq!(parse_value(value, &cfg()).as_ref(), Err(err), "{value:?}");
    }
}

#[test]
fn defaults_are_configurable() {
    let c = RetentionConfig {
        tag_prefix: "Backup".into(),
        default_time: "0100".into(),
        default_retention_days: 7,
        default_tz: "Europe/Berlin".into(),
        default_days: "weekdays".into(),
    };
    let spec = parse_value("true", &c).unwrap();
    assert_eq!(
        (
            spec.time.as_str(),
            spec.retention_days,
            spec.tz.as_str(),
            spec.days.as_str()
        ),
        ("0100", 7, "Europe/Berlin", "weekdays")
    );
    assert_eq!(
        retention_days_for(&tags(&[("Name", "x")]), &c),
        RetentionOutcome::Default { days: 7 }
    );
}

#[test]
fn checks() {
    let rows: &[(&str, &[&str])] = &[
        ("default", &[]),
        ("default;30", &[]),
        ("0900;30;America/New_York;mon,tue", &[]),
        ("0900;Europe/London;MON,Fri", &[]),
        ("0900;30;UTC;weekdays", &[]),
        ("", &["excluded"]),
        ("none", &["excluded"]),
        ("auto_delete", &["scheduler-marker"]),
        (" default;30", &["whitespace"]),
        ("default; 30", &["whitespace"]),
        ("default;30 ", &["whitespace"]),
        ("900", &["time-three-digits"]),
        ("900;30", &["time-three-digits"]),
        ("2400;30", &["time-invalid"]),
        ("0960", &["time-invalid"]),
        ("09:00", &["time-invalid"]),
        ("junk", &["time-invalid"]),
        ("0000", &["time-never-fires"]),
        ("0003;30", &["time-never-fires"]),
        ("0004;30", &[]),
        ("0900;x;UTC;all", &["retention-not-integer"]),
        ("default;99999999999", &["retention-out-of-range"]),
        ("default;0", &["retention-zero"]),
        ("default;EST", &["zone-without-slash"]),
        // the scheduler normalises `utc`/`gmt` in any case
        ("default;30;utc", &[]),
        ("default;30;Gmt", &[]),
        ("default;30;Europe/Pariss", &["zone-unknown"]),
        ("default;30;America/New York", &["zone-invalid"]),
        ("default;30;America/", &["zone-invalid"]),
        ("default;;UTC", &["zone-invalid", "days-invalid"]),
        ("0900;30;UTC;mon, tue", &["days-with-space"]),
        ("0900;30;UTC;monday", &["days-invalid"]),
        ("0900;30;UTC;mon,", &["days-invalid"]),
        ("0900;30;UTC;all;x", &["extra-fields"]),
        (
            "900;30;EST;mon, tue;x",
            &[
                "time-three-digits",
                "zone-without-slash",
                "days-with-space",
                "extra-fields",
            ],
        ),
    ];
    for (value, codes) in rows {
        let got: Vec<&str> = check_value(value, &cfg()).iter().map(Issue::code).collect();
        assert_eq!(&got, codes, "{value:?}");
    }
}

#[test]
fn issue_json_code_is_its_code() {
    let issues = [
        Issue::Excluded,
        Issue::SchedulerMarker,
        Issue::Whitespace {
            field: Field::Zone,
            text: " 3".into(),
        },
        Issue::TimeThreeDigits { time: "900".into() },
        Issue::TimeInvalid { time: "x".into() },
        Issue::TimeNeverFires {
            time: "0001".into(),
        },
        Issue::RetentionNotInteger { text: "x".into() },
        Issue::RetentionOutOfRange {
            text: "99999999999".into(),
        },
        Issue::RetentionZero,
        Issue::ZoneWithoutSlash { zone: "EST".into() },
        Issue::ZoneInvalid { zone: "".into() },
        Issue::ZoneUnknown {
            zone: "Europe/Pariss".into(),
        },
        Issue::DaysWithSpace {
            days: "mon, tue".into(),
        },
        Issue::DaysInvalid { days: "x".into() },
        Issue::ExtraFields {
            extra: vec!["x".into()],
        },
    ];
    for issue in issues {
        let json = serde_json::to_value(&issue).unwrap();
        assert_eq!(json["code"], issue.code());
        assert_eq!(serde_json::from_value::<Issue>(json).unwrap(), issue);
    }
}

#[test]
fn severities() {
    assert!(!Issue::Excluded.is_error());
    assert!(!Issue::RetentionZero.is_error());
    assert!(!Issue::TimeNeverFires {
        time: "0001".into()
    }
    .is_error());
    assert!(!Issue::ExtraFields { extra: vec![] }.is_error());
    assert!(Issue::ZoneWithoutSlash { zone: "EST".into() }.is_error());
    assert!(Issue::TimeThreeDigits { time: "900".into() }.is_error());
}

#[test]
fn matching_is_a_case_sensitive_prefix() {
    let t = tags(&[
        ("scheduler:ebs-snapshot", "default"),
        ("scheduler:ebs-snapshot:0900", "0900;30"),
        ("Scheduler:ebs-snapshot", "default;99"),
        ("scheduler:ebs-snapshots-other", "default;5"),
        ("scheduler:ebs", "default;77"),
        ("zzz", "default;88"),
    ]);
    let c = cfg();
    let keys: Vec<&str> = matching_tags(&t, &c).map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        vec![
            "scheduler:ebs-snapshot",
            "scheduler:ebs-snapshot:0900",
            "scheduler:ebs-snapshots-other"
        ]
    );
}

#[test]
fn retention_outcomes() {
    let c = cfg();
    assert_eq!(
        retention_days_for(&tags(&[]), &c),
        RetentionOutcome::Default { days: 15 }
    );
    assert_eq!(
        retention_days_for(
            &tags(&[
                ("scheduler:ebs-snapshot", "default;30"),
                ("scheduler:ebs-snapshot:b", "0100;45;UTC"),
                ("scheduler:ebs-snapshot:c", "default"),
            ]),
            &c
        ),
        RetentionOutcome::Tagged {
            days: 45,
            key: "scheduler:ebs-snapshot:b".into(),
            value: "0100;45;UTC".into()
        }
    );
    // An exclusion anywhere wins.
    assert_eq!(
        retention_days_for(
            &tags(&[
                ("scheduler:ebs-snapshot", "default;30"),
                ("scheduler:ebs-snapshot:x", "none")
            ]),
            &c
        ),
        RetentionOutcome::Excluded {
            key: "scheduler:ebs-snapshot:x".into(),
            value: "none".into()
        }
    );
    // A malformed tag is never guessed around, even next to a good one.
    let out = retention_days_for(
        &tags(&[
            ("scheduler:ebs-snapshot", "default;30"),
            ("scheduler:ebs-snapshot:x", "default; 3"),
        ]),
        &c,
    );
    assert!(
        matches!(out, RetentionOutcome::Invalid { ref key, .. } if key == "scheduler:ebs-snapshot:x")
    );
    assert_eq!(out.days(), None);
    // Warnings do not make a value invalid.
    assert_eq!(
        retention_days_for(&tags(&[("scheduler:ebs-snapshot", "0001;0")]), &c).days(),
        Some(0)
    );
    // Junk is invalid.
    assert!(matches!(
        retention_days_for(&tags(&[("scheduler:ebs-snapshot", "keep forever")]), &c),
        RetentionOutcome::Invalid { .. }
    ));
}

#[test]
fn scheduler_snapshots_are_recognised() {
    let c = cfg();
    let desc = "Created by EBSSnapshotScheduler from vol-0abc123(i-0def456) at 2024-01-02 23:30:00";
    assert_eq!(
        source_instance_from_description(desc),
        Some("i-0def456".into())
    );
    assert!(is_scheduler_snapshot(&tags(&[]), desc, &c));
    assert!(is_scheduler_snapshot(
        &tags(&[("scheduler:ebs-snapshot", "auto_delete")]),
        "",
        &c
    ));
    assert!(!is_scheduler_snapshot(
        &tags(&[("scheduler:ebs-snapshot", "default")]),
        "Created by Packer",
        &c
    ));
    for bad in [
        "",
        "Created by EBSSnapshotScheduler from vol-0abc(i-0def)",
        "Created by EBSSnapshotScheduler from (i-0def) at x",
        "Created by EBSSnapshotScheduler from vol-0abc(0def) at x",
        "Created by EBSSnapshotScheduler from vol-0abc(i-) at x",
        "created by EBSSnapshotScheduler from vol-0abc(i-0def) at x",
    ] {
        assert_eq!(source_instance_from_description(bad), None, "{bad:?}");
    }
}

#[test]
fn expiry_is_days_times_24h_and_saturates() {
    let t = Utc.with_ymd_and_hms(2024, 3, 30, 12, 0, 0).unwrap();
    assert_eq!(
        expiry(t, 2),
        Utc.with_ymd_and_hms(2024, 4, 1, 12, 0, 0).unwrap()
    );
    assert_eq!(expiry(t, 0), t);
    assert_eq!(expiry(t, u32::MAX), DateTime::<Utc>::MAX_UTC);
}

proptest! {
    #[test]
    fn parser_never_panics(value in any::<String>()) {
        let c = cfg();
        let _ = parse_value(&value, &c);
        let _ = check_value(&value, &c);
        let _ = parse_strict(&value, &c);
        let _ = source_instance_from_description(&value);
    }

    #[test]
    fn parser_never_panics_on_grammar_like_input(
        value in "[ ;0-9a-zA-Z/_,:-]{0,24}"
    ) {
        let c = cfg();
        let parsed = parse_value(&value, &c);
        // Strict parsing agrees with the scheduler's reading when it succeeds.
        if let Ok(strict) = parse_strict(&value, &c) {
            prop_assert_eq!(Ok(strict), parsed);
        }
    }

    #[test]
    fn retention_outcome_never_panics(
        pairs in proptest::collection::btree_map("scheduler:ebs-snapshot[a-z:]{0,3}", ".{0,16}", 0..4)
    ) {
        let _ = retention_days_for(&pairs, &cfg());
    }
}

#[test]
fn zones_are_normalised_as_the_scheduler_does() {
    for (given, normal) in [
        ("utc", "UTC"),
        ("Utc", "UTC"),
        ("gmt", "GMT"),
        ("GMT", "GMT"),
        ("europe/paris", "Europe/Paris"),
        ("EUROPE/PARIS", "Europe/Paris"),
        ("america/new_york", "America/New_York"),
        ("us/eastern", "US/Eastern"),
        ("US/Pacific", "US/Pacific"),
        (
            "america/argentina/buenos_aires",
            "America/Argentina/Buenos_Aires",
        ),
        ("etc/gmt+5", "Etc/Gmt+5"),
        ("EST", "EST"),
    ] {
        assert_eq!(normalize_zone(given), normal, "{given}");
    }
    let c = cfg();
    let spec = parse_value("0900;0;utc;weekdays", &c).unwrap();
    assert_eq!(spec.tz, "UTC");
    assert_eq!(spec.retention_days, 0);
}

#[test]
fn lowercase_utc_is_clean_and_unknown_zones_are_errors() {
    let c = cfg();
    // retention 0 is a warning, the zone is fine: not malformed
    let issues = check_value("0900;0;utc;weekdays", &c);
    assert!(issues.iter().all(|i| !i.is_error()), "{issues:?}");
    for ok in [
        "0900;30;gmt",
        "0900;30;europe/paris;mon",
        "0900;30;US/eastern",
        "0900;30;Etc/GMT+5",
        "0900;30;America/Port-au-Prince",
    ] {
        let issues = check_value(ok, &c);
        assert!(issues.iter().all(|i| !i.is_error()), "{ok}: {issues:?}");
    }
    for (bad, code) in [
        ("0900;30;Europe/Pariss", "zone-unknown"),
        ("0900;30;Mars/Olympus_Mons;mon", "zone-unknown"),
        ("0900;30;EST", "zone-without-slash"),
        ("0900;30;Europe//Paris", "zone-invalid"),
    ] {
        let issues = check_value(bad, &c);
        assert!(
            issues.iter().any(|i| i.code() == code && i.is_error()),
            "{bad}: {issues:?}"
        );
    }
}
