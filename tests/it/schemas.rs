//! Every JSON document ami-builder writes has a JSON Schema under `schemas/`;
//! these tests validate real outputs (a moto build's `artifacts.json`, a
//! saved plan, the prune report on stdout and in its local file, lint
//! results) with the PyPI `jsonschema` validator (`tests/schemas/validate.py`),
//! and show the validator is not vacuous: a broken document fails.

use std::path::Path;

use crate::harness::{ami_builder, build_in_moto, moto, repo, venv_bin};

/// `validate.py SCHEMA DOC`: Ok, or the validator's complaint.
fn validate(schema: &str, doc: &Path) -> Result<(), String> {
    let out = std::process::Command::new(venv_bin("python"))
        .arg(repo().join("tests/schemas/validate.py"))
        .arg(schema)
        .arg(doc)
        .output()
        .expect("runs the validator");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

pub fn assert_valid(schema: &str, doc: &Path) {
    if let Err(e) = validate(schema, doc) {
        panic!(
            "{} does not match schemas/{schema}: {e}\n{}",
            doc.display(),
            std::fs::read_to_string(doc).unwrap_or_default()
        );
    }
}

#[test]
fn real_outputs_match_their_schemas() {
    let m = moto();
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("out");
    let stdout = build_in_moto(&m.url, "one-region.pkr.hcl", &out)
        .args(["--quiet", "--output", "json"])
        .args(["--deprecate-after", "90d", "--deregistration-protection"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_valid("artifacts.schema.json", &out.join("artifacts.json"));
    let result = dir.path().join("build-result.json");
    std::fs::write(&result, &stdout).expect("write");
    assert_valid("build-result.schema.json", &result);
    let built: serde_json::Value = serde_json::from_slice(&stdout).expect("json");
    // what tagging and the event did is in the result, tags as EC2 has them
    let tags = built["tagged"][0]["tags"].as_array().expect("tagged");
    assert!(
        tags.iter().any(|t| t["Key"] == "ami-builder:family"),
        "{built}"
    );
    assert_eq!(
        built["tagged"][0]["deprecation"]["status"], "set",
        "{built}"
    );
    assert_eq!(
        built["tagged"][0]["deregistration_protection"], "enabled-without-cooldown",
        "{built}"
    );
    assert_eq!(built["event"]["sent"], true, "{built}");
    assert!(built["event"]["event_ids"][0].is_string(), "{built}");
    // the protection off again, so that prune may delete the image below
    let ami = built["tagged"][0]["ami_id"].as_str().expect("ami");
    crate::harness::block_on(
        crate::harness::ec2(&m.url, "us-east-1")
            .disable_image_deregistration_protection()
            .image_id(ami)
            .send(),
    )
    .expect("unprotect");

    // a saved plan, and the report of the same run on stdout
    let plan = dir.path().join("plan.json");
    // every image of the build is expired as of a month from now
    let prune = || {
        let mut c = ami_builder(&m.url);
        c.args(["--output", "json", "prune", "--regions", "us-east-1"])
            .args(["--keep", "0", "--as-of", "+30d"]);
        c
    };
    let stdout = prune()
        .arg("--plan-out")
        .arg(&plan)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_valid("prune-plan.schema.json", &plan);
    let report = dir.path().join("report-stdout.json");
    std::fs::write(&report, &stdout).expect("write");
    assert_valid("prune-report.schema.json", &report);
    let planned: serde_json::Value = serde_json::from_slice(&stdout).expect("json");
    assert!(
        planned["plan"]["items"]
            .as_array()
            .is_some_and(|i| !i.is_empty()),
        "the plan is not empty, so its items were validated too: {planned}"
    );

    // an apply's local report file, with its per-item results
    let report_file = dir.path().join("applied.json");
    prune()
        .args(["--apply", "--report-file"])
        .arg(&report_file)
        .assert()
        .success();
    assert_valid("prune-report.schema.json", &report_file);
    let applied: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_file).expect("read")).expect("json");
    assert!(
        applied["results"].as_array().is_some_and(|r| !r.is_empty()),
        "{applied}"
    );

    // lint results
    let lint = dir.path().join("lint.json");
    let stdout = ami_builder(&m.url)
        .args([
            "--output",
            "json",
            "retention",
            "lint",
            "--regions",
            "us-east-1",
        ])
        .output()
        .expect("runs")
        .stdout;
    std::fs::write(&lint, stdout).expect("write");
    assert_valid("retention-lint.schema.json", &lint);
}

#[test]
fn the_schemas_refuse_what_ami_builder_refuses() {
    let dir = tempfile::tempdir().expect("tmp");
    // (and config show, offline, matches its own)
    let cfg = dir.path().join("ami-builder.toml");
    std::fs::write(&cfg, "[prune]\nkeep = 7\n").expect("write");
    let shown = crate::harness::offline()
        .env("AMI_BUILDER_KEEP", "5")
        .arg("--config")
        .arg(&cfg)
        .args(["--output", "json", "config", "show"])
        .output()
        .expect("runs")
        .stdout;
    let shown_file = dir.path().join("config-show.json");
    std::fs::write(&shown_file, shown).expect("write");
    assert_valid("config-show.schema.json", &shown_file);
    let fixtures = repo().join("tests/fixtures/adversarial/plans");
    // a plan ami-builder refuses for its shape is refused by the schema too
    for (file, why) in [
        ("exit2-malformed-id.json", "does not match"),
        ("exit2-no-schema.json", "schema_version"),
        ("exit2-schema-99.json", "1 was expected"),
    ] {
        let e = validate("prune-plan.schema.json", &fixtures.join(file)).expect_err(file);
        assert!(e.contains(why), "{file}: {e}");
    }
    // and a well-formed record with one id that is not an id
    let bad = dir.path().join("artifacts.json");
    std::fs::write(
        &bad,
        r#"{"schema_version":1,"template":"t","packer_exit":0,"started_at":"2026-01-01T00:00:00Z","finished_at":"2026-01-01T00:00:00Z","build_region":"us-east-1","artifacts":[{"build":"b","region":"us-east-1","ami_id":"ami-1234","confirmed":true,"snapshot_ids":[]}]}"#,
    )
    .expect("write");
    let e = validate("artifacts.schema.json", &bad).expect_err("bad id");
    assert!(e.contains("artifacts/0/ami_id"), "{e}");
}

#[test]
fn promote_channels_and_revoke_results_match_their_schemas() {
    use crate::promote::{amis, build};
    let m = moto();
    let dir = tempfile::tempdir().expect("tmp");
    let b1 = build(&m.url, 1);
    let b2 = build(&m.url, 2);
    let run = |args: &[&str], name: &str| {
        let out = ami_builder(&m.url)
            .arg("--output")
            .arg("json")
            .args(args)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let p = dir.path().join(name);
        std::fs::write(&p, out).expect("write");
        p
    };
    let first = run(
        &["promote", "--channel", "dev", "--ami", &amis(&b1)],
        "p1.json",
    );
    assert_valid("promote-result.schema.json", &first);
    // a template opted in, a group named: both lists have rows
    let c = crate::harness::ec2(&m.url, "us-east-1");
    crate::harness::block_on(
        c.create_launch_template()
            .launch_template_name("fleet")
            .launch_template_data(
                aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                    .image_id("ami-0123456789abcdef0")
                    .build(),
            )
            .tag_specifications(
                aws_sdk_ec2::types::TagSpecification::builder()
                    .resource_type(aws_sdk_ec2::types::ResourceType::LaunchTemplate)
                    .tags(
                        aws_sdk_ec2::types::Tag::builder()
                            .key("ami-builder:promote")
                            .value("web")
                            .build(),
                    )
                    .tags(
                        aws_sdk_ec2::types::Tag::builder()
                            .key("ami-builder:channel")
                            .value("dev")
                            .build(),
                    )
                    .build(),
            )
            .send(),
    )
    .expect("template");
    let dry = run(
        &[
            "promote",
            "--channel",
            "dev",
            "--dry-run",
            "--ami",
            &amis(&b2),
            "--refresh",
            "web-asg",
        ],
        "dry.json",
    );
    assert_valid("promote-result.schema.json", &dry);
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&dry).expect("read")).expect("json");
    assert_eq!(v["launch_templates"][0]["selected_by"], "opted-in", "{v}");
    assert_eq!(v["refreshes"][0]["selected_by"], "named", "{v}");
    run(
        &["promote", "--channel", "dev", "--ami", &amis(&b2)],
        "p2.json",
    );
    let listed = run(
        &["channels", "--regions", "us-east-1,us-west-2"],
        "channels.json",
    );
    assert_valid("channels.schema.json", &listed);
    let revoked = run(
        &[
            "revoke",
            &format!("us-east-1:{}", b2.east),
            "--reason",
            "test",
            "--regions",
            "us-west-2",
        ],
        "revoke.json",
    );
    assert_valid("revoke-result.schema.json", &revoked);
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&revoked).expect("read")).expect("json");
    assert_eq!(v["rollbacks"][0]["action"], "rollback", "{v}");
}
