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

fn git(dir: &std::path::Path, args: &[&str]) {
    let ok = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git");
    assert!(
        ok.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

fn install_hook(dir: &std::path::Path) -> assert_cmd::assert::Assert {
    offline()
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args(["check", "--install-hook"])
        .arg(dir)
        .assert()
}

#[test]
fn install_hook_writes_an_executable_hook_once() {
    let dir = tempfile::tempdir().expect("tmp");
    git(dir.path(), &["init", "-q"]);
    install_hook(dir.path()).success();
    let hook = dir.path().join(".git/hooks/pre-commit");
    let text = std::fs::read_to_string(&hook).expect("hook");
    assert!(text.contains("ami-builder") && text.contains("check"));
    assert!(
        std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&hook).expect("meta").permissions()
        ) & 0o111
            != 0
    );
    // ours: replaced; someone else's: refused without --force, saying how to chain
    install_hook(dir.path()).success();
    std::fs::write(&hook, "#!/bin/sh\necho mine\n").expect("write");
    install_hook(dir.path())
        .code(2)
        .stderr(predicate::str::contains("--force"))
        .stderr(predicate::str::contains("|| exit 1"));
    assert_eq!(
        std::fs::read_to_string(&hook).expect("hook"),
        "#!/bin/sh\necho mine\n"
    );
    // a hook that only mentions our marker further down is not ours
    let mention = format!(
        "#!/bin/sh\necho mine\n{}\n",
        ami_builder::check::HOOK_MARKER
    );
    std::fs::write(&hook, &mention).expect("write");
    install_hook(dir.path()).code(2);
    assert_eq!(std::fs::read_to_string(&hook).expect("hook"), mention);
}

#[test]
fn install_hook_never_replaces_binary_or_linked_hooks() {
    let dir = tempfile::tempdir().expect("tmp");
    git(dir.path(), &["init", "-q"]);
    let hook = dir.path().join(".git/hooks/pre-commit");
    for bytes in [
        &b"\x7fELF\x02\x01\x01\0\0\0"[..],
        &b"\x7fELF\x02\x01\xb7\xff"[..],
        &b"#!/bin/sh\n\xff\xfe bad\n"[..],
    ] {
        std::fs::write(&hook, bytes).expect("write");
        install_hook(dir.path())
            .code(2)
            .stderr(predicate::str::contains("binary or non-UTF-8"));
        assert_eq!(std::fs::read(&hook).expect("hook"), bytes, "left as it is");
    }
    std::fs::remove_file(&hook).expect("rm");
    // a link to someone's hook: neither the link nor its target is touched
    let target = dir.path().join("team-hook.sh");
    std::fs::write(&target, "#!/bin/sh\nexit 0\n").expect("write");
    std::os::unix::fs::symlink(&target, &hook).expect("link");
    install_hook(dir.path())
        .code(2)
        .stderr(predicate::str::contains("symbolic link"));
    assert_eq!(
        std::fs::read_to_string(&target).expect("t"),
        "#!/bin/sh\nexit 0\n"
    );
    // a dangling link: nothing is created where it points
    std::fs::remove_file(&hook).expect("rm");
    let nowhere = dir.path().join("not-there");
    std::os::unix::fs::symlink(&nowhere, &hook).expect("link");
    install_hook(dir.path())
        .code(2)
        .stderr(predicate::str::contains("dangling"));
    assert!(!nowhere.exists(), "written through a dangling link");
    // --force replaces the link itself, never its target
    std::fs::remove_file(&hook).expect("rm");
    std::os::unix::fs::symlink(&target, &hook).expect("link");
    offline()
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .args(["check", "--install-hook", "--force"])
        .arg(dir.path())
        .assert()
        .success();
    assert!(!std::fs::symlink_metadata(&hook)
        .expect("m")
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::read_to_string(&target).expect("t"),
        "#!/bin/sh\nexit 0\n"
    );
}

#[test]
fn install_hook_in_a_worktree_goes_where_git_runs_hooks() {
    let dir = tempfile::tempdir().expect("tmp");
    let main = dir.path().join("main");
    std::fs::create_dir_all(&main).expect("dir");
    git(&main, &["init", "-q"]);
    git(
        &main,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "x",
        ],
    );
    git(&main, &["worktree", "add", "-q", "../wt"]);
    let wt = dir.path().join("wt");
    assert!(wt.join(".git").is_file(), "a worktree's .git is a file");
    install_hook(&wt).success();
    assert!(main.join(".git/hooks/pre-commit").is_file());
    // outside any repository: a usage error
    let bare = tempfile::tempdir().expect("tmp");
    install_hook(bare.path())
        .code(2)
        .stderr(predicate::str::contains("not in a git repository"));
}

#[test]
fn the_hook_is_valid_bash_and_stops_a_commit_when_the_check_fails() {
    let dir = tempfile::tempdir().expect("tmp");
    let repo = dir.path();
    git(repo, &["init", "-q"]);
    let hook = repo.join("hook.sh");
    std::fs::write(&hook, ami_builder::check::pre_commit_hook()).expect("write");
    let bash = |envs: &[(&str, &std::path::Path)]| {
        let mut c = std::process::Command::new("bash");
        c.arg(&hook).current_dir(repo);
        for (k, v) in envs {
            c.env(k, v);
        }
        c.output().expect("bash")
    };
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .arg(&hook)
        .output()
        .expect("bash -n");
    assert!(
        syntax.status.success(),
        "{}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    for (code, ok) in [(0, true), (1, false)] {
        let fake = repo.join(format!("fake-{code}"));
        std::fs::write(
            &fake,
            format!("#!/bin/sh\n[ \"$1\" = check ] || exit 9\nexit {code}\n"),
        )
        .expect("write");
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let out = bash(&[("AMI_BUILDER", &fake)]);
        assert_eq!(
            out.status.success(),
            ok,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let missing = repo.join("missing");
    let out = bash(&[("AMI_BUILDER", &missing)]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
}
