//! `ami-builder build` end to end: real Packer 1.6.6 building real AMIs in moto,
//! plus a fake `packer` where Packer must say something exact (a nonexistent AMI)
//! or misbehave on a signal.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use predicates::prelude::*;

use crate::harness::{
    ami_builder, block_on, ec2, fixture, log_fixture, moto, own_images, read_json,
};

fn template(name: &str) -> String {
    fixture(&format!("templates/{name}"))
        .to_string_lossy()
        .into_owned()
}

fn artifacts(out: &Path) -> Vec<serde_json::Value> {
    read_json(&out.join("artifacts.json"))["artifacts"]
        .as_array()
        .expect("artifacts array")
        .clone()
}

fn image_state(url: &str, region: &str, ami: &str) -> Option<String> {
    let out = block_on(ec2(url, region).describe_images().image_ids(ami).send()).ok()?;
    out.images()
        .first()
        .and_then(|i| i.state())
        .map(|s| s.as_str().to_string())
}

#[test]
fn one_region_success() {
    let m = moto();
    let out = tempfile::tempdir().expect("tmp");
    let assert = crate::harness::build_in_moto(&m.url, "one-region.pkr.hcl", out.path())
        .assert()
        .success();
    // the console showed Packer's progress as text, not machine-readable records
    assert
        .stderr(predicate::str::contains("==> amazon-ebs.one: Creating AMI"))
        .stderr(predicate::str::contains(",ui,").not());
    let arts = artifacts(out.path());
    assert_eq!(arts.len(), 1, "{arts:?}");
    let a = &arts[0];
    assert_eq!(a["build"], "amazon-ebs.one");
    assert_eq!(a["region"], "us-east-1");
    assert_eq!(a["confirmed"], true);
    assert!(
        a["snapshot_ids"].as_array().is_some_and(|s| !s.is_empty()),
        "{a}"
    );
    let ami = a["ami_id"].as_str().expect("id");
    assert_eq!(
        image_state(&m.url, "us-east-1", ami).as_deref(),
        Some("available")
    );
    let txt = std::fs::read_to_string(out.path().join("ami_id.txt")).expect("ami_id.txt");
    assert_eq!(txt, format!("{ami}\n"));
    let log = std::fs::read_to_string(out.path().join("build.log")).expect("build.log");
    assert!(
        log.contains("--> amazon-ebs.one: AMIs were created:"),
        "{log}"
    );
    assert!(!log.contains(",ui,"), "build.log is human text");
    let raw = std::fs::read_to_string(out.path().join("build.machine.log")).expect("machine log");
    assert!(
        raw.contains(&format!("artifact,0,id,us-east-1:{ami}")),
        "raw stream kept"
    );
}

#[test]
fn multi_region_success_confirms_every_copy() {
    let m = moto();
    let out = tempfile::tempdir().expect("tmp");
    crate::harness::build_in_moto(&m.url, "multi-region.pkr.hcl", out.path())
        .args(["--output", "json"])
        .args(["--var", r#"copy_regions=["us-west-2","eu-west-1"]"#])
        .assert()
        .success();
    let arts = artifacts(out.path());
    let regions: Vec<&str> = arts
        .iter()
        .map(|a| a["region"].as_str().expect("region"))
        .collect();
    assert_eq!(regions, vec!["eu-west-1", "us-east-1", "us-west-2"]);
    for a in &arts {
        let (r, id) = (
            a["region"].as_str().expect("r"),
            a["ami_id"].as_str().expect("id"),
        );
        assert_eq!(
            image_state(&m.url, r, id).as_deref(),
            Some("available"),
            "{r} {id}"
        );
        assert_eq!(a["confirmed"], true);
    }
    // ami_id.txt names the build-region (us-east-1) AMI
    let primary = arts
        .iter()
        .find(|a| a["region"] == "us-east-1")
        .expect("build region");
    let txt = std::fs::read_to_string(out.path().join("ami_id.txt")).expect("ami_id.txt");
    assert_eq!(txt.trim(), primary["ami_id"].as_str().expect("id"));
}

#[test]
fn two_builds_in_one_template() {
    let m = moto();
    let out = tempfile::tempdir().expect("tmp");
    crate::harness::build_in_moto(&m.url, "two-builds.pkr.hcl", out.path())
        .args(["--var", r#"copy_regions=["us-west-2"]"#, "--quiet"])
        .assert()
        .success()
        .stdout(predicate::str::contains("amazon-ebs.first"))
        .stdout(predicate::str::contains("amazon-ebs.second"));
    let arts = artifacts(out.path());
    let got: Vec<(String, String)> = arts
        .iter()
        .map(|a| {
            (
                a["build"].as_str().expect("b").to_string(),
                a["region"].as_str().expect("r").to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("amazon-ebs.first".to_string(), "us-east-1".to_string()),
            ("amazon-ebs.second".to_string(), "us-east-1".to_string()),
            ("amazon-ebs.second".to_string(), "us-west-2".to_string()),
        ]
    );
    let txt = std::fs::read_to_string(out.path().join("ami_id.txt")).expect("ami_id.txt");
    let lines: Vec<&str> = txt.lines().collect();
    assert_eq!(lines.len(), 2, "{txt}");
    assert!(
        lines[0].starts_with("amazon-ebs.first ami-")
            && lines[1].starts_with("amazon-ebs.second ami-"),
        "{txt}"
    );
}

#[test]
fn packer_failure_is_exit_4_and_still_reports_the_good_ami() {
    let m = moto();
    let out = tempfile::tempdir().expect("tmp");
    crate::harness::build_in_moto(&m.url, "one-fails.pkr.hcl", out.path())
        .arg("--quiet")
        .assert()
        .code(4)
        .stderr(predicate::str::contains(
            "packer build failed (exit status 1)",
        ))
        .stderr(predicate::str::contains(
            "amazon-ebs.bad: No AMI was found matching filters",
        ))
        .stdout(predicate::str::contains("amazon-ebs.good"));
    let arts = artifacts(out.path());
    assert_eq!(arts.len(), 1);
    assert_eq!(arts[0]["build"], "amazon-ebs.good");
    assert_eq!(
        read_json(&out.path().join("artifacts.json"))["packer_exit"],
        1
    );
    assert!(
        !out.path().join("ami_id.txt").exists(),
        "no ami_id.txt for a failed build"
    );
}

#[test]
fn successful_run_without_an_ami_is_exit_3() {
    let m = moto();
    let out = tempfile::tempdir().expect("tmp");
    ami_builder(&m.url)
        .args(["build", &template("no-ami.pkr.hcl"), "--quiet"])
        .arg("--out-dir")
        .arg(out.path())
        .assert()
        .code(3)
        .stderr(predicate::str::contains("no AMI found in Packer's output"))
        .stderr(predicate::str::contains("no AMI-producing amazon builder"));
    assert!(!out.path().join("artifacts.json").exists());
}

fn spawn_build(url: &str, args: &[&str], extra_env: &[(&str, String)]) -> std::process::Child {
    let mut c = crate::harness::std_command(url);
    for (k, v) in extra_env {
        c.env(k, v);
    }
    c.args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ami-builder")
}

/// Read stderr until a line contains `marker`; returns everything read, and the reader.
fn wait_for(
    child: &mut std::process::Child,
    marker: &str,
) -> (String, BufReader<std::process::ChildStderr>) {
    let mut r = BufReader::new(child.stderr.take().expect("stderr"));
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line).expect("read stderr");
        assert!(
            n > 0,
            "ami-builder ended before printing {marker:?}: {seen}"
        );
        seen.push_str(&line);
        if line.contains(marker) {
            return (seen, r);
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {marker:?}"
        );
    }
}

fn wait_exit(child: &mut std::process::Child, secs: u64) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return st.code().unwrap_or(-1);
        }
        assert!(Instant::now() < deadline, "ami-builder did not exit");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sigterm_waits_for_packer_cleanup_and_leaves_nothing_behind() {
    let m = moto();
    let out = tempfile::tempdir().expect("tmp");
    let out_s = out.path().to_string_lossy().into_owned();
    let endpoint = format!("endpoint={}", m.url);
    let mut child = spawn_build(
        &m.url,
        &[
            "build",
            &template("slow.pkr.hcl"),
            "--var",
            &endpoint,
            "--out-dir",
            &out_s,
        ],
        &[],
    );
    let (_, mut rest) = wait_for(&mut child, "provisioning-started");
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    kill(pid, Signal::SIGTERM).expect("send SIGTERM");
    let code = wait_exit(&mut child, 120);
    let mut tail = String::new();
    std::io::Read::read_to_string(&mut rest, &mut tail).expect("stderr tail");
    assert_eq!(code, 143, "{tail}");
    assert!(
        tail.contains("Cancelling build after receiving terminated"),
        "{tail}"
    );
    assert!(
        tail.contains("Deleting temporary keypair"),
        "Packer ran its cleanup: {tail}"
    );
    assert!(tail.contains("interrupted by SIGTERM"), "{tail}");
    // nothing left behind in moto
    assert!(own_images(&m.url, "us-east-1").is_empty());
    let client = ec2(&m.url, "us-east-1");
    let inst = block_on(client.describe_instances().send()).expect("instances");
    for r in inst.reservations() {
        for i in r.instances() {
            let state = i
                .state()
                .and_then(|s| s.name())
                .map(|n| n.as_str().to_string());
            assert_eq!(
                state.as_deref(),
                Some("terminated"),
                "instance {:?} left running",
                i.instance_id()
            );
        }
    }
    let keys = block_on(client.describe_key_pairs().send()).expect("key pairs");
    assert!(
        keys.key_pairs()
            .iter()
            .all(|k| !k.key_name().unwrap_or_default().starts_with("packer")),
        "temporary key pair left behind"
    );
    let sgs = block_on(client.describe_security_groups().send()).expect("sgs");
    assert!(
        sgs.security_groups()
            .iter()
            .all(|g| !g.group_name().unwrap_or_default().starts_with("packer")),
        "temporary security group left behind"
    );
}

/// An executable `packer` script in `dir` with `body` after its shebang.
fn script_packer(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/usr/bin/env bash\n{body}")).expect("write");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    path
}

/// `build` of the one-region template with `packer`, quiet, its outputs in
/// `out`, against an endpoint that is never reached (Packer's part only).
fn build_with_packer(packer: &Path, out: &Path) -> assert_cmd::Command {
    let mut c = ami_builder("http://127.0.0.1:9");
    c.args([
        "build",
        &template("one-region.pkr.hcl"),
        "--quiet",
        "--packer",
    ])
    .arg(packer)
    .arg("--out-dir")
    .arg(out)
    .timeout(Duration::from_secs(120));
    c
}

fn fake_packer() -> PathBuf {
    fixture("fake-packer")
}

fn fake_log(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join("ami-builder-fake-logs");
    std::fs::create_dir_all(&dir).expect("dir");
    let p = dir.join(name);
    std::fs::write(&p, log_fixture(name)).expect("write");
    p
}

#[test]
fn an_ami_that_does_not_exist_is_exit_5() {
    let m = moto();
    let out = tempfile::tempdir().expect("tmp");
    ami_builder(&m.url)
        .env("FAKE_PACKER_LOG", fake_log("ebs1.machine.out"))
        .args([
            "build",
            &template("one-region.pkr.hcl"),
            "--quiet",
            "--packer",
        ])
        .arg(fake_packer())
        .arg("--out-dir")
        .arg(out.path())
        .assert()
        .code(5)
        .stderr(predicate::str::contains("ami-fe844d36a61c5be39"))
        .stderr(predicate::str::contains("does not exist in us-east-1"));
    // the record still says what Packer claimed, unconfirmed
    let arts = artifacts(out.path());
    assert_eq!(arts.len(), 2);
    assert!(arts.iter().all(|a| a["confirmed"] == false));
    assert!(
        !out.path().join("ami_id.txt").exists(),
        "no ami_id.txt for an unconfirmed build"
    );
}

#[test]
fn unreachable_endpoint_is_exit_1_with_a_hint() {
    let out = tempfile::tempdir().expect("tmp");
    ami_builder("http://127.0.0.1:9")
        .env("FAKE_PACKER_LOG", fake_log("ebs1.machine.out"))
        .args([
            "build",
            &template("one-region.pkr.hcl"),
            "--quiet",
            "--packer",
        ])
        .arg(fake_packer())
        .arg("--out-dir")
        .arg(out.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "could not reach http://127.0.0.1:9",
        ));
}

#[test]
fn missing_packer_and_missing_template_are_usage_errors() {
    let out = tempfile::tempdir().expect("tmp");
    ami_builder("http://127.0.0.1:9")
        .args([
            "build",
            &template("one-region.pkr.hcl"),
            "--packer",
            "/nonexistent/packer",
        ])
        .arg("--out-dir")
        .arg(out.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "/nonexistent/packer does not exist",
        ));
    ami_builder("http://127.0.0.1:9")
        .env("PATH", "/nonexistent")
        .args(["build", &template("one-region.pkr.hcl")])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not found on PATH"));
    ami_builder("http://127.0.0.1:9")
        .args(["build", "/nonexistent/template.pkr.hcl", "--packer"])
        .arg(fake_packer())
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "template /nonexistent/template.pkr.hcl does not exist",
        ));
}

#[test]
fn packer_is_called_with_machine_readable_and_the_users_flags() {
    let out = tempfile::tempdir().expect("tmp");
    let args_file = out.path().join("args.txt");
    ami_builder("http://127.0.0.1:9")
        .env("FAKE_PACKER_LOG", fake_log("ebs-badami.out"))
        .env("FAKE_PACKER_EXIT", "1")
        .env("FAKE_PACKER_ARGS_FILE", &args_file)
        .args([
            "build",
            &template("one-region.pkr.hcl"),
            "--quiet",
            "--only",
            "amazon-ebs.one",
            "--var",
            "a=b",
            "--packer",
        ])
        .arg(fake_packer())
        .arg("--out-dir")
        .arg(out.path())
        .args(["--", "-on-error=cleanup"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains("Error querying AMI"));
    let args = std::fs::read_to_string(&args_file).expect("args");
    let args: Vec<&str> = args.lines().collect();
    assert_eq!(
        args,
        vec![
            "build",
            "-machine-readable",
            "-color=false",
            "-only=amazon-ebs.one",
            "-var",
            "a=b",
            "-on-error=cleanup",
            &template("one-region.pkr.hcl")
        ]
    );
}

/// A Packer that ignores SIGINT/SIGTERM and never exits by itself, run by
/// `build` with `cleanup_timeout`; returns the running child (past Packer's
/// first line), its pid and the rest of its stderr.
fn start_stuck_build(
    dir: &Path,
    cleanup_timeout: &str,
) -> (
    std::process::Child,
    Pid,
    BufReader<std::process::ChildStderr>,
) {
    let stuck = script_packer(
        dir,
        "stuck-packer",
        "trap 'echo got-signal' INT TERM\necho '1700000000,,ui,say,==> stuck: started'\nwhile true; do sleep 0.2; done\n",
    );
    let out_s = dir.join("out").to_string_lossy().into_owned();
    let packer = stuck.to_string_lossy().into_owned();
    let tpl = template("one-region.pkr.hcl");
    let mut child = spawn_build(
        "http://127.0.0.1:9",
        &[
            "build",
            &tpl,
            "--packer",
            &packer,
            "--out-dir",
            &out_s,
            "--cleanup-timeout",
            cleanup_timeout,
        ],
        &[],
    );
    let (_, rest) = wait_for(&mut child, "==> stuck: started");
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    (child, pid, rest)
}

/// Wait for the exit code and the rest of stderr.
fn finish(
    child: &mut std::process::Child,
    mut rest: BufReader<std::process::ChildStderr>,
) -> (i32, String) {
    let code = wait_exit(child, 30);
    let mut tail = String::new();
    std::io::Read::read_to_string(&mut rest, &mut tail).expect("stderr");
    (code, tail)
}

#[test]
fn sigint_forwarded_then_second_signal_kills_a_stuck_packer() {
    let dir = tempfile::tempdir().expect("tmp");
    let (mut child, pid, rest) = start_stuck_build(dir.path(), "600");
    kill(pid, Signal::SIGINT).expect("SIGINT");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "waits for Packer's cleanup"
    );
    kill(pid, Signal::SIGINT).expect("second SIGINT");
    let (code, tail) = finish(&mut child, rest);
    assert_eq!(code, 130, "{tail}");
    assert!(tail.contains("second SIGINT"), "{tail}");
    assert!(
        tail.contains("killed before its cleanup finished"),
        "{tail}"
    );
}

#[test]
fn cleanup_deadline_escalates() {
    let dir = tempfile::tempdir().expect("tmp");
    let (mut child, pid, rest) = start_stuck_build(dir.path(), "1");
    kill(pid, Signal::SIGTERM).expect("SIGTERM");
    let (code, tail) = finish(&mut child, rest);
    assert_eq!(code, 143, "{tail}");
    assert!(
        tail.contains("did not finish its cleanup within 1s"),
        "{tail}"
    );
}

#[test]
fn a_straggler_holding_packers_output_does_not_hang_the_build() {
    let dir = tempfile::tempdir().expect("tmp");
    // Packer exits, but a process it started keeps the output pipe open.
    let fake = script_packer(
        dir.path(),
        "leaky-packer",
        &format!(
            "cat '{}'\nsleep 300 &\nexit 0\n",
            fake_log("ebs-badami.out").display()
        ),
    );
    // Without the fix the run never ends; the timeout turns that into a failure.
    build_with_packer(&fake, &dir.path().join("out"))
        .assert()
        .code(3)
        .stderr(predicate::str::contains("still hold its output open"));
}

#[test]
fn a_spoofed_artifact_block_is_never_confirmed_tagged_or_announced() {
    let m = moto();
    let queue =
        crate::harness::queue_for_pattern(&m.url, "default", r#"{"source":["com.ami.builder"]}"#);
    let dir = tempfile::tempdir().expect("tmp");
    // The spoof names moto's real base AMI, which a confirmation would find.
    let (_, log) = crate::harness::adversarial_log("spoof-only.machine.log");
    let log_path = dir.path().join("spoof.log");
    std::fs::write(&log_path, log).expect("write");
    for (packer_exit, code) in [("0", 3), ("1", 4)] {
        let out = dir.path().join(format!("out-{packer_exit}"));
        let assert = ami_builder(&m.url)
            .env("FAKE_PACKER_LOG", &log_path)
            .env("FAKE_PACKER_EXIT", packer_exit)
            .args([
                "build",
                &template("one-region.pkr.hcl"),
                "--quiet",
                "--commit",
                "0123456789abcdef0123456789abcdef01234567",
                "--packer",
            ])
            .arg(fake_packer())
            .arg("--out-dir")
            .arg(&out)
            .assert()
            .code(code);
        if code == 3 {
            assert.stderr(predicate::str::contains(
                "Packer did not print as an artifact",
            ));
        }
        for f in ["ami_id.txt", "ami_builder_event.json", "artifacts.json"] {
            assert!(!out.join(f).exists(), "{f} written for a spoofed block");
        }
    }
    let tags = crate::harness::tags_of(&m.url, "us-east-1", "ami-0123456789abcdef0");
    assert!(
        tags.keys().all(|k| !k.starts_with("ami-builder:")),
        "the spoofed AMI was tagged: {tags:?}"
    );
    assert!(
        crate::harness::drain_queue(&m.url, &queue).is_empty(),
        "an event was sent"
    );
}

#[test]
fn a_log_cut_inside_an_id_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, log) = crate::harness::adversarial_log("truncated-record.machine.log");
    let log_path = dir.path().join("cut.log");
    std::fs::write(&log_path, log).expect("write");
    ami_builder("http://127.0.0.1:9")
        .env("FAKE_PACKER_LOG", &log_path)
        .args([
            "build",
            &template("one-region.pkr.hcl"),
            "--quiet",
            "--packer",
        ])
        .arg(fake_packer())
        .arg("--out-dir")
        .arg(dir.path().join("out"))
        .assert()
        .code(3)
        .stderr(predicate::str::contains("ends inside an artifact line"));
}

#[test]
fn a_log_that_cannot_be_written_stops_packer_after_its_cleanup() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).expect("out");
    // every write to build.log fails (ENOSPC)
    std::os::unix::fs::symlink("/dev/full", out.join("build.log")).expect("symlink");
    let marker = dir.path().join("cleaned-up");
    let pid_file = dir.path().join("pid");
    let fake = script_packer(
        dir.path(),
        "packer",
        &format!(
            "echo $$ > '{pid}'\ntrap 'echo done > \"{marker}\"; exit 1' TERM\necho '1700000000,,ui,say,==> x: started'\nwhile true; do sleep 0.1; done\n",
            pid = pid_file.display(),
            marker = marker.display()
        ),
    );
    build_with_packer(&fake, &out)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("writing Packer's output"))
        .stderr(predicate::str::contains("cleanup awaited"));
    assert!(marker.exists(), "Packer got SIGTERM and ran its cleanup");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid")
        .trim()
        .parse()
        .expect("pid number");
    assert!(
        kill(Pid::from_raw(pid), None).is_err(),
        "Packer {pid} is still running"
    );
}
