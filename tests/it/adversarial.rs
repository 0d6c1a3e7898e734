//! The adversarial corpus beyond logs (`tests/fixtures/adversarial/`): retention
//! tag values and event patterns a careless or hostile user writes, through
//! the real binary. (The logs are read by `extract.rs` and `build.rs`.)

use predicates::prelude::*;

use crate::harness::{fixture, offline};

/// The `.json` files of a fixture directory, with their names.
fn json_files(rel: &str) -> Vec<(std::path::PathBuf, String)> {
    let mut out: Vec<_> = std::fs::read_dir(fixture(rel))
        .expect("fixture dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            (p, name)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn hostile_retention_values_are_read_as_the_scheduler_reads_them() {
    let text = std::fs::read_to_string(fixture("adversarial/retention-values.tsv")).expect("tsv");
    let mut n = 0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let mut cols = line.split('\t');
        let (value, expect, why) = (
            cols.next().expect("value"),
            cols.next().expect("expect"),
            cols.next().unwrap_or(""),
        );
        let out = offline()
            .args(["--output", "json", "retention", "explain", "--", value])
            .output()
            .expect("run");
        let code = out.status.code();
        let want = if expect == "ok" { Some(0) } else { Some(1) };
        assert_eq!(
            code,
            want,
            "{value:?} ({why}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // the reading is printed either way, as JSON
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(v["value"], value, "{value:?}");
        n += 1;
    }
    assert!(n >= 20, "{n} values");
}

#[test]
fn hostile_event_patterns_get_the_documented_exit_code() {
    let entry = offline()
        .args([
            "event",
            "render",
            "--ami",
            "us-east-1:ami-0123456789abcdef0",
        ])
        .output()
        .expect("render");
    assert!(entry.status.success());
    let event = String::from_utf8(entry.stdout).expect("utf8");
    let mut n = 0;
    for (path, name) in json_files("adversarial/patterns") {
        let want = if name.starts_with("match-") {
            0
        } else if name.starts_with("no-match-") {
            1
        } else {
            assert!(name.starts_with("invalid-"), "{name}");
            2
        };
        offline()
            .args(["event", "test", "--pattern"])
            .arg(&path)
            .args(["--event", event.trim()])
            .assert()
            .code(want);
        n += 1;
    }
    assert!(n >= 6, "{n} patterns");
}

#[test]
fn hostile_saved_plans_are_refused_before_any_call() {
    let mut n = 0;
    for (path, name) in json_files("adversarial/plans") {
        let code: i32 = name[4..5].parse().expect("exitN- prefix");
        // offline: the endpoint does not answer, so any AWS call would fail
        // with "could not reach"; the refusal must come first
        offline()
            .args([
                "prune",
                "--in-region",
                "us-east-1",
                "--keep",
                "3",
                "--apply",
                "--plan",
            ])
            .arg(&path)
            .assert()
            .code(code)
            .stderr(predicates::str::contains("could not reach").not())
            .stderr(predicates::str::contains("nothing"));
        n += 1;
    }
    assert!(n >= 10, "{n} plans");
}
