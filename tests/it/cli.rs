//! The command line itself: help text, exit-code documentation, completions,
//! man page and usage errors.

use predicates::prelude::*;

use crate::harness::{offline, repo};

#[test]
fn help_documents_every_exit_code() {
    let out = offline()
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let help = String::from_utf8(out).expect("utf8");
    for code in [
        "0 ", "1 ", "2 ", "3 ", "4 ", "5 ", "6 ", "7 ", "8 ", "9 ", "130 ", "143 ",
    ] {
        assert!(
            help.contains(&format!("  {code}")),
            "--help lacks exit code {code}: {help}"
        );
    }
    offline()
        .args(["build", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("no AMI found in Packer's output"));
}

#[test]
fn readme_exit_code_table_matches_help() {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    for line in ami_builder::cli::EXIT_CODES.lines().skip(1) {
        let code = line.split_whitespace().next().expect("code");
        assert!(
            readme.contains(&format!("| {code} |")),
            "README.md exit-code table lacks `| {code} |`"
        );
    }
}

#[test]
fn bad_flags_are_usage_errors() {
    offline().args(["build", "--no-such-flag"]).assert().code(2);
    offline()
        .args(["extract", "--output", "yaml", "-"])
        .assert()
        .code(2);
    offline()
        .args(["build", "--var", "novalue", "x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("expected KEY=VALUE"));
    // prune: a saved plan plans as of its own time, so --as-of conflicts
    offline()
        .args(["prune", "--in-region", "us-east-1", "--plan", "p.json"])
        .args(["--as-of", "2026-01-01T00:00:00Z"])
        .assert()
        .code(2);
    offline()
        .args(["prune", "--in-region", "us-east-1", "--max-plan-age", "1w"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("expected an age such as 90m"));
    // A bad saved plan is named before any AWS call (the endpoint is closed:
    // listing first would fail on the connection instead).
    let dir = tempfile::tempdir().expect("tmp");
    let garbled = dir.path().join("plan.json");
    std::fs::write(&garbled, "{\"items\": [").expect("write");
    offline()
        .args(["prune", "--in-region", "us-east-1", "--apply", "--plan"])
        .arg(&garbled)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not an ami-builder prune plan"));
    offline()
        .args(["prune", "--in-region", "us-east-1", "--apply", "--plan"])
        .arg(dir.path().join("missing.json"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read the plan"));
}

#[test]
fn completions_and_man_page() {
    offline()
        .args(["completions", "bash"])
        .assert()
        .success()
        .stdout(predicate::str::contains("ami-builder"));
    offline()
        .arg("man")
        .assert()
        .success()
        .stdout(predicate::str::contains(".TH ami-builder"));
    let dir = tempfile::tempdir().expect("tmp");
    offline()
        .args(["man", "--out-dir"])
        .arg(dir.path())
        .assert()
        .success();
    assert!(dir.path().join("ami-builder-build.1").exists());
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    // `ami-builder ... | head -1`: stdout closes early; no panic, exit 0.
    for args in [
        vec!["completions", "zsh"],
        vec!["man"],
        vec!["event", "render", "--ami", "us-east-1:ami-11111111"],
    ] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("ami-builder"))
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("panicked"),
            "{args:?}"
        );
    }
}
