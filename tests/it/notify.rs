//! Provenance and notification end to end: a real Packer build in moto, tags on
//! AMIs, snapshots, copies and the copies' snapshots, the event read back from an
//! SQS queue behind the sample's rule, the S3 uploads, and the failure paths
//! (tagging failure sends no event; an event failure is exit 7 and a
//! `--no-build` re-run completes).

use predicates::prelude::*;

use crate::harness::{
    ami_builder, block_on, bucket_keys, create_bucket, drain_queue, ec2, fixture, moto,
    queue_for_pattern, read_json, tags_of, SAMPLE_PATTERN,
};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
const SHA2: &str = "fedcba9876543210fedcba9876543210fedcba98";

fn template(name: &str) -> String {
    fixture(&format!("templates/{name}"))
        .to_string_lossy()
        .into_owned()
}

#[test]
fn build_tags_everything_sends_the_event_and_uploads() {
    let m = moto();
    let q = queue_for_pattern(&m.url, "default", SAMPLE_PATTERN);
    create_bucket(&m.url, "artifacts");
    let out = tempfile::tempdir().expect("tmp");
    crate::harness::build_in_moto(&m.url, "multi-region.pkr.hcl", out.path())
        .args(["--quiet", "--commit", SHA, "--retention-days", "30"])
        .args(["--var", r#"copy_regions=["us-west-2"]"#])
        .args([
            "--family",
            "web",
            "--tag",
            "Team=platform",
            "--upload",
            "s3://artifacts/builds/7/",
        ])
        .env("CODEBUILD_BUILD_ID", "ami-build:1234")
        .assert()
        .success()
        .stderr(predicate::str::contains("event accepted by EventBridge"));
    let rec = read_json(&out.path().join("artifacts.json"));
    let arts = rec["artifacts"].as_array().expect("arts");
    let primary = arts
        .iter()
        .find(|a| a["region"] == "us-east-1")
        .expect("primary");
    let copy = arts
        .iter()
        .find(|a| a["region"] == "us-west-2")
        .expect("copy");
    let pid = primary["ami_id"].as_str().expect("id");
    let cid = copy["ami_id"].as_str().expect("id");
    for (region, a) in [("us-east-1", primary), ("us-west-2", copy)] {
        let id = a["ami_id"].as_str().expect("id");
        let mut resources = vec![id.to_string()];
        resources.extend(
            a["snapshot_ids"]
                .as_array()
                .expect("snaps")
                .iter()
                .map(|s| s.as_str().expect("s").to_string()),
        );
        assert!(resources.len() >= 2, "image and snapshot(s): {resources:?}");
        for r in &resources {
            let t = tags_of(&m.url, region, r);
            assert_eq!(
                t.get("ami-builder:commit").map(String::as_str),
                Some(SHA),
                "{region} {r} {t:?}"
            );
            assert_eq!(
                t.get("ami-builder:build-id").map(String::as_str),
                Some("ami-build:1234")
            );
            assert_eq!(t.get("ami-builder:family").map(String::as_str), Some("web"));
            assert_eq!(
                t.get("scheduler:ebs-snapshot").map(String::as_str),
                Some("default;30")
            );
            assert_eq!(t.get("Team").map(String::as_str), Some("platform"));
            assert!(t.contains_key("ami-builder:built-at"));
            let src = t.get("ami-builder:source-image").cloned();
            if region == "us-west-2" {
                assert_eq!(
                    src,
                    Some(format!("us-east-1:{pid}")),
                    "copies name their source"
                );
            } else {
                assert_eq!(src, None, "the source is not a copy");
            }
        }
    }
    let msgs = drain_queue(&m.url, &q);
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    let ev = &msgs[0];
    assert_eq!(ev["source"], "com.ami.builder");
    assert_eq!(ev["detail-type"], "AmiBuilder");
    assert_eq!(ev["detail"]["AmiStatus"], "Created");
    assert_eq!(ev["detail"]["AmiId"], pid);
    assert_eq!(ev["detail"]["Amis"]["us-west-2"], cid);
    assert_eq!(ev["detail"]["Commit"], SHA);
    assert_eq!(ev["detail"]["BuildId"], "ami-build:1234");
    assert_eq!(ev["detail"]["Family"], "web");
    let sent = read_json(&out.path().join("ami_builder_event.json"));
    assert_eq!(sent[0]["Source"], "com.ami.builder");
    assert_eq!(
        bucket_keys(&m.url, "artifacts"),
        vec![
            "builds/7/ami_builder_event.json",
            "builds/7/artifacts.json",
            "builds/7/build.log"
        ]
    );
}

#[test]
fn tagging_failure_sends_no_event_and_force_completes() {
    let m = moto();
    let q = queue_for_pattern(&m.url, "default", SAMPLE_PATTERN);
    let out = tempfile::tempdir().expect("tmp");
    crate::harness::build_in_moto(&m.url, "one-region.pkr.hcl", out.path())
        .args(["--quiet", "--commit", SHA, "--no-event"])
        .assert()
        .success();
    assert!(
        drain_queue(&m.url, &q).is_empty(),
        "--no-event sends nothing"
    );
    // a different commit on an already tagged image: refused, exit 6, no event
    ami_builder(&m.url)
        .args(["build", "--no-build", "--commit", SHA2])
        .arg("--out-dir")
        .arg(out.path())
        .assert()
        .code(6)
        .stderr(predicate::str::contains(format!(
            "already has ami-builder:commit={SHA}"
        )))
        .stderr(predicate::str::contains("no event was sent"));
    assert!(
        drain_queue(&m.url, &q).is_empty(),
        "no event after a tagging failure"
    );
    ami_builder(&m.url)
        .args(["build", "--no-build", "--commit", SHA2, "--force"])
        .arg("--out-dir")
        .arg(out.path())
        .assert()
        .success();
    let msgs = drain_queue(&m.url, &q);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["detail"]["Commit"], SHA2);
}

#[test]
fn missing_bus_is_exit_7_and_a_no_build_rerun_completes() {
    let m = moto();
    let q = queue_for_pattern(&m.url, "default", SAMPLE_PATTERN);
    let out = tempfile::tempdir().expect("tmp");
    crate::harness::build_in_moto(&m.url, "one-region.pkr.hcl", out.path())
        .args(["--quiet", "--commit", SHA, "--event-bus", "no-such-bus"])
        .assert()
        .code(7)
        .stderr(predicate::str::contains(
            "event bus `no-such-bus` does not exist",
        ))
        .stderr(predicate::str::contains("--no-build"));
    // the AMI exists and is tagged
    let rec = read_json(&out.path().join("artifacts.json"));
    let id = rec["artifacts"][0]["ami_id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(
        tags_of(&m.url, "us-east-1", &id)
            .get("ami-builder:commit")
            .map(String::as_str),
        Some(SHA)
    );
    assert!(drain_queue(&m.url, &q).is_empty());
    ami_builder(&m.url)
        .args(["build", "--no-build", "--no-tag", "--commit", SHA])
        .arg("--out-dir")
        .arg(out.path())
        .assert()
        .success();
    let msgs = drain_queue(&m.url, &q);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["detail"]["AmiId"], id.as_str());
}

#[test]
fn tag_command_finds_copies_and_event_send_delivers() {
    let m = moto();
    let q = queue_for_pattern(&m.url, "default", SAMPLE_PATTERN);
    let out = tempfile::tempdir().expect("tmp");
    crate::harness::build_in_moto(&m.url, "multi-region.pkr.hcl", out.path())
        .args([
            "--quiet",
            "--no-tag",
            "--no-event",
            "--allow-unknown-commit",
        ])
        .args(["--var", r#"copy_regions=["us-west-2"]"#])
        .assert()
        .success();
    let rec = read_json(&out.path().join("artifacts.json"));
    let pid = rec["artifacts"]
        .as_array()
        .expect("a")
        .iter()
        .find(|a| a["region"] == "us-east-1")
        .expect("p")["ami_id"]
        .as_str()
        .expect("id")
        .to_string();
    let cid = rec["artifacts"]
        .as_array()
        .expect("a")
        .iter()
        .find(|a| a["region"] == "us-west-2")
        .expect("c")["ami_id"]
        .as_str()
        .expect("id")
        .to_string();
    ami_builder(&m.url)
        .args([
            "tag",
            &format!("us-east-1:{pid}"),
            "--copy-regions",
            "us-west-2",
            "--commit",
            SHA,
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("tagged us-west-2 {cid}")));
    let t = tags_of(&m.url, "us-west-2", &cid);
    assert_eq!(t.get("ami-builder:commit").map(String::as_str), Some(SHA));
    assert_eq!(
        t.get("ami-builder:source-image"),
        Some(&format!("us-east-1:{pid}"))
    );
    // idempotent
    ami_builder(&m.url)
        .args([
            "tag",
            &format!("us-east-1:{pid}"),
            "--copy-regions",
            "us-west-2",
            "--commit",
            SHA,
        ])
        .assert()
        .success();
    ami_builder(&m.url)
        .args([
            "event",
            "send",
            "--ami",
            &format!("us-east-1:{pid}"),
            "--ami",
            &format!("us-west-2:{cid}"),
            "--status",
            "Created",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("sent event"));
    let msgs = drain_queue(&m.url, &q);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["detail"]["Amis"]["us-west-2"], cid.as_str());
    // a status the rule does not match is accepted by EventBridge but not delivered
    ami_builder(&m.url)
        .args([
            "event",
            "send",
            "--ami",
            &format!("us-east-1:{pid}"),
            "--status",
            "Deregistered",
        ])
        .assert()
        .success();
    assert!(drain_queue(&m.url, &q).is_empty());
    // a status that is not one (a lowercase typo no rule would see) is refused before any call
    ami_builder(&m.url)
        .args([
            "event",
            "send",
            "--ami",
            &format!("us-east-1:{pid}"),
            "--status",
            "created",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("`created` is not an AmiStatus"));
}

#[test]
fn event_render_and_test_offline() {
    let out = crate::harness::offline()
        .args([
            "event",
            "render",
            "--ami",
            "us-east-1:ami-11111111",
            "--commit",
            SHA,
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    // an array of entries, as `aws events put-events --entries file://` reads
    let entries: serde_json::Value = serde_json::from_slice(&out).expect("json");
    assert_eq!(entries.as_array().map(Vec::len), Some(1), "{entries}");
    let entry = &entries[0];
    assert_eq!(entry["Source"], "com.ami.builder");
    let entry_text = entry.to_string();
    // the array (and a PutEvents request) is tested event by event
    crate::harness::offline()
        .args(["event", "test", "--pattern", SAMPLE_PATTERN, "--event"])
        .arg(entries.to_string())
        .assert()
        .success()
        .stdout("match\n");
    let two = serde_json::json!({ "Entries": [entry, {
        "Source": "com.ami.builder", "DetailType": "Other", "Detail": "{}"
    }] });
    crate::harness::offline()
        .args(["event", "test", "--pattern", SAMPLE_PATTERN, "--event"])
        .arg(two.to_string())
        .assert()
        .code(1)
        .stdout(predicate::str::contains("event 1 of 2: match"))
        .stdout(predicate::str::contains("event 2 of 2: no match"));
    crate::harness::offline()
        .args([
            "event",
            "test",
            "--pattern",
            SAMPLE_PATTERN,
            "--event",
            &entry_text,
        ])
        .assert()
        .success()
        .stdout("match\n");
    crate::harness::offline()
        .args(["event", "test", "--event", &entry_text, "--pattern"])
        .arg(r#"{"source":["com.ami.builder"],"detail-type":["AmiBuilder "]}"#)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            r#"detail-type: "AmiBuilder" is not one of ["AmiBuilder "]"#,
        ));
    crate::harness::offline()
        .args([
            "event",
            "test",
            "--event",
            &entry_text,
            "--pattern",
            r#"{"source":"com.ami.builder"}"#,
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid event pattern"));
    crate::harness::offline()
        .args(["event", "render", "--ami", "not-an-ami"])
        .assert()
        .code(2);
}

/// A GetPipelineExecution response in the wire shape of the CodePipeline API
/// reference's example (JSON 1.1; written from the documentation, not captured
/// from an account), replayed over loopback so the SDK parses it for real.
const RECORDED_EXECUTION: &str = r#"{"pipelineExecution":{"pipelineExecutionId":"3137f7cb-7cf7-039j-s83l-d7eu3EXAMPLE","pipelineName":"ami","pipelineVersion":2,"status":"InProgress","artifactRevisions":[{"name":"SourceArtifact","revisionId":"0123456789abcdef0123456789abcdef01234567","revisionChangeIdentifier":"2026-11-27T10:00:00.000Z","revisionSummary":"Add hardening role","created":1.795e9,"revisionUrl":"https://github.com/org/repo/commit/0123456789abcdef0123456789abcdef01234567"}]}}"#;

/// What moto answers: an execution with no artifact revisions.
const EMPTY_EXECUTION: &str = r#"{"pipelineExecution":{"pipelineExecutionId":"e-1","pipelineName":"ami","pipelineVersion":1,"status":"InProgress","artifactRevisions":[]}}"#;

#[test]
fn commit_from_a_recorded_codepipeline_response() {
    let url = crate::harness::replay_server(RECORDED_EXECUTION, 4);
    let out = ami_builder(&url)
        .args([
            "--output",
            "json",
            "provenance",
            "--pipeline-execution-id",
            "3137f7cb",
        ])
        .env("CODEBUILD_INITIATOR", "codepipeline/ami")
        .env(
            "CODEBUILD_RESOLVED_SOURCE_VERSION",
            "arn:aws:s3:::bucket/SourceArti/abc.zip",
        )
        .env("CODEBUILD_BUILD_ID", "ami-build:42")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
    assert_eq!(v["commit"], SHA);
    assert_eq!(v["commit_source"], "codepipeline-execution");
    assert_eq!(v["build_id"], "ami-build:42");
    assert!(
        v["tried"][1]
            .as_str()
            .expect("tried")
            .contains("S3 object version"),
        "{v}"
    );
}

#[test]
fn empty_codepipeline_revisions_fall_through_to_git() {
    let url = crate::harness::replay_server(EMPTY_EXECUTION, 4);
    let out = ami_builder(&url)
        .args([
            "--output",
            "json",
            "provenance",
            "--pipeline-execution-id",
            "e-1",
        ])
        .env("CODEBUILD_INITIATOR", "codepipeline/ami")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
    assert_eq!(v["commit_source"], "git", "{v}");
    assert!(
        v["tried"].as_array().expect("tried").iter().any(|t| t
            .as_str()
            .unwrap_or("")
            .contains("no artifact revision is a commit")),
        "{v}"
    );
    // and with no git either, it is an error listing what was tried
    let dir = tempfile::tempdir().expect("tmp");
    let url = crate::harness::replay_server(EMPTY_EXECUTION, 4);
    ami_builder(&url)
        .current_dir(dir.path())
        .args(["provenance", "--pipeline-execution-id", "e-1"])
        .env("CODEBUILD_INITIATOR", "codepipeline/ami")
        .env(
            "GIT_CEILING_DIRECTORIES",
            dir.path().parent().expect("parent"),
        )
        .assert()
        .code(2)
        .stderr(predicate::str::contains("could not determine the commit"))
        .stderr(predicate::str::contains("no artifact revision is a commit"))
        .stderr(predicate::str::contains("--allow-unknown-commit"));
}

#[test]
fn the_repos_own_template_builds_tags_and_records_the_run_uuid() {
    let m = moto();
    let out = tempfile::tempdir().expect("tmp");
    let manifest_dir = out.path().join("manifest");
    ami_builder(&m.url)
        .current_dir(crate::harness::repo())
        .args([
            "build",
            "packer/",
            "--only",
            "amazon-ebs.local",
            "--quiet",
            "--commit",
            SHA,
            "--no-event",
        ])
        .args([
            "--var",
            &format!("endpoint={}", m.url),
            "--var",
            r#"ami_regions=["us-west-2"]"#,
        ])
        .arg("--var")
        .arg(format!("manifest_dir={}", manifest_dir.display()))
        .arg("--manifest")
        .arg(manifest_dir.join("packer-manifest.json"))
        .arg("--out-dir")
        .arg(out.path())
        .assert()
        .success();
    let rec = read_json(&out.path().join("artifacts.json"));
    let uuid = rec["packer_run_uuid"]
        .as_str()
        .expect("run uuid from the manifest")
        .to_string();
    let arts = rec["artifacts"].as_array().expect("arts");
    assert_eq!(arts.len(), 2, "{rec}");
    for a in arts {
        assert_eq!(a["build"], "amazon-ebs.local");
        let t = tags_of(
            &m.url,
            a["region"].as_str().expect("r"),
            a["ami_id"].as_str().expect("id"),
        );
        assert_eq!(t.get("ami-builder:packer-run-uuid"), Some(&uuid));
        assert_eq!(
            t.get("ami-builder:family").map(String::as_str),
            Some("amazon-ebs.local")
        );
        assert_eq!(
            t.get("ManagedBy").map(String::as_str),
            Some("ami-builder"),
            "the template's own tags"
        );
    }
}

#[test]
fn a_copy_keeps_its_sources_family_and_provenance_is_written_once() {
    let m = moto();
    let out = tempfile::tempdir().expect("tmp");
    ami_builder(&m.url)
        .env("CODEBUILD_BUILD_ID", "ami-build:1")
        .args([
            "build",
            &template("multi-region.pkr.hcl"),
            "--quiet",
            "--no-event",
            "--commit",
            SHA,
        ])
        .args([
            "--var",
            &format!("endpoint={}", m.url),
            "--var",
            r#"copy_regions=["us-west-2"]"#,
        ])
        .arg("--out-dir")
        .arg(out.path())
        .assert()
        .success();
    let rec = read_json(&out.path().join("artifacts.json"));
    let arts = rec["artifacts"].as_array().expect("a");
    let build = arts[0]["build"].as_str().expect("build").to_string();
    let cid = arts
        .iter()
        .find(|a| a["region"] == "us-west-2")
        .expect("copy")["ami_id"]
        .as_str()
        .expect("id")
        .to_string();
    let copy_tags = || tags_of(&m.url, "us-west-2", &cid);
    let before = copy_tags();
    assert_eq!(before["ami-builder:family"], build);

    // tagging the copy on its own: its family stays its source's (not its
    // image name), its build id and time are kept
    ami_builder(&m.url)
        .env("CODEBUILD_BUILD_ID", "ami-build:2")
        .args(["tag", &format!("us-west-2:{cid}"), "--commit", SHA])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "kept ami-builder:build-id=ami-build:1 (not ami-build:2",
        ));
    assert_eq!(copy_tags(), before, "nothing rewritten");

    // another family: refused, nothing written
    ami_builder(&m.url)
        .args(["tag", &format!("us-west-2:{cid}"), "--commit", SHA])
        .args(["--family", "other", "--tag", "Team=x"])
        .assert()
        .code(6)
        .stderr(predicate::str::contains("refusing to rewrite provenance"))
        .stderr(predicate::str::contains(format!(
            "already has ami-builder:family={build}, not other"
        )));
    assert_eq!(copy_tags(), before, "nothing written on a refusal");

    // a copy that lost its family gets its source's again
    block_on(
        ec2(&m.url, "us-west-2")
            .delete_tags()
            .resources(&cid)
            .tags(
                aws_sdk_ec2::types::Tag::builder()
                    .key("ami-builder:family")
                    .build(),
            )
            .send(),
    )
    .expect("untag");
    ami_builder(&m.url)
        .args(["tag", &format!("us-west-2:{cid}"), "--commit", SHA])
        .assert()
        .success();
    assert_eq!(copy_tags()["ami-builder:family"], build);

    // --force rewrites
    ami_builder(&m.url)
        .args(["tag", &format!("us-west-2:{cid}"), "--commit", SHA])
        .args(["--family", "other", "--force"])
        .assert()
        .success();
    assert_eq!(copy_tags()["ami-builder:family"], "other");
}
