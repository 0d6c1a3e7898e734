//! `ami-builder check` over the repo's own pipeline files (passes), and over
//! mutated copies (a rule with the wrong detail-type or AmiStatus, a buildspec
//! that pipes Packer without pipefail), which must fail with the explanation.

use std::path::Path;

use predicates::prelude::*;

use crate::harness::{offline, repo};

fn copy_repo_files(to: &Path) {
    std::fs::create_dir_all(to.join("cloudformation")).expect("dir");
    std::fs::copy(
        repo().join("cloudformation/pipeline.yaml"),
        to.join("cloudformation/pipeline.yaml"),
    )
    .expect("copy");
    for b in ["buildspec.yml", "buildspec-prune.yml"] {
        std::fs::copy(repo().join(b), to.join(b)).expect("copy");
    }
}

#[test]
fn the_repos_own_pipeline_passes() {
    offline()
        .arg("check")
        .arg(repo())
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "rule AmiCreatedRule matches the Created event",
        ))
        .stdout(predicate::str::contains("packer validate"))
        .stdout(
            predicate::str::is_match("(?m)^(fail|warn)")
                .expect("regex")
                .not(),
        );
}

#[test]
fn a_mutated_rule_fails_with_the_explanation() {
    for (from, to, why) in [
        (
            r#"detail-type: [AmiBuilder]"#,
            r#"detail-type: ["AmiBuilder "]"#,
            r#"detail-type: "AmiBuilder" is not one of ["AmiBuilder "]"#,
        ),
        (
            r#"AmiStatus: [Created]"#,
            r#"AmiStatus: [created]"#,
            r#"detail.AmiStatus: "Created" is not one of ["created"]"#,
        ),
    ] {
        let dir = tempfile::tempdir().expect("tmp");
        copy_repo_files(dir.path());
        let p = dir.path().join("cloudformation/pipeline.yaml");
        let text = std::fs::read_to_string(&p).expect("read");
        assert!(
            text.contains(from),
            "the template no longer contains `{from}`: update this test"
        );
        std::fs::write(&p, text.replacen(from, to, 1)).expect("write");
        offline()
            .arg("check")
            .arg(dir.path())
            .args(["--template", "/nonexistent"])
            .assert()
            .code(1)
            .stdout(predicate::str::contains("does not match"))
            .stdout(predicate::str::contains(why))
            .stderr(predicate::str::contains("check failed"));
    }
}

#[test]
fn a_pipe_without_pipefail_fails_and_json_output() {
    let dir = tempfile::tempdir().expect("tmp");
    copy_repo_files(dir.path());
    std::fs::write(
        dir.path().join("buildspec.yml"),
        "version: 0.2\nphases:\n  build:\n    commands:\n      - ./packer build -color=false packer_cis.json | tee build.log\n",
    )
    .expect("write");
    let out = offline()
        .args(["--output", "json", "check"])
        .arg(dir.path())
        .args(["--template", "/nonexistent"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
    let fails: Vec<&serde_json::Value> = v["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["status"] == "fail")
        .collect();
    assert_eq!(fails.len(), 1, "{v}");
    assert!(
        fails[0]["detail"]
            .as_str()
            .expect("detail")
            .contains("pipefail"),
        "{v}"
    );
}

#[test]
fn install_hook_writes_an_executable_hook_once() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(dir.path().join(".git/hooks")).expect("dir");
    offline()
        .args(["check", "--install-hook"])
        .arg(dir.path())
        .assert()
        .success();
    let hook = dir.path().join(".git/hooks/pre-commit");
    let text = std::fs::read_to_string(&hook).expect("hook");
    assert!(text.contains("ami-builder") && text.contains("check"));
    assert!(
        std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&hook).expect("meta").permissions()
        ) & 0o111
            != 0
    );
    // ours: replaced; someone else's: refused without --force
    offline()
        .args(["check", "--install-hook"])
        .arg(dir.path())
        .assert()
        .success();
    std::fs::write(&hook, "#!/bin/sh\necho mine\n").expect("write");
    offline()
        .args(["check", "--install-hook"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--force"));
}
