//! EC2's own lifecycle (issue #14) against moto with tests/moto_ext:
//! deregistration protection as prune sees it, and `build`/`tag`
//! `--deprecate-after` and `--deregistration-protection`.

use chrono::{DateTime, Duration, Utc};

use crate::harness::{ami_builder, block_on, ec2, moto};

fn tag(k: &str, v: &str) -> aws_sdk_ec2::types::Tag {
    aws_sdk_ec2::types::Tag::builder().key(k).value(v).build()
}

/// An image of family `web` that expires after a day.
fn expiring(url: &str, name: &str) -> String {
    let c = ec2(url, "us-east-1");
    block_on(async {
        let id = c
            .register_image()
            .name(name)
            .root_device_name("/dev/xvda")
            .send()
            .await
            .expect("register")
            .image_id()
            .expect("id")
            .to_string();
        c.create_tags()
            .resources(&id)
            .tags(tag("ami-builder:family", "web"))
            .tags(tag("scheduler:ebs-snapshot", "0900;1"))
            .send()
            .await
            .expect("tags");
        id
    })
}

fn plan(url: &str, ahead: Duration) -> serde_json::Value {
    let as_of = (Utc::now() + ahead).to_rfc3339();
    let out = ami_builder(url)
        .args(["--output", "json", "prune", "--in-region", "us-east-1"])
        .args(["--keep", "0", "--as-of", &as_of])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).expect("json plan")
}

fn item<'v>(plan: &'v serde_json::Value, id: &str) -> &'v serde_json::Value {
    plan["plan"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["id"] == id)
        .unwrap_or_else(|| panic!("{id} is not in the plan: {plan}"))
}

#[test]
fn prune_keeps_an_image_whose_protection_is_on_or_in_its_cooldown() {
    let m = moto();
    let url = &m.url;
    let c = ec2(url, "us-east-1");
    let on = expiring(url, "web-on");
    let cooling = expiring(url, "web-cooling");
    let off = expiring(url, "web-off");
    block_on(async {
        c.enable_image_deregistration_protection()
            .image_id(&on)
            .send()
            .await
            .expect("protect");
        c.enable_image_deregistration_protection()
            .image_id(&cooling)
            .with_cooldown(true)
            .send()
            .await
            .expect("protect");
        c.disable_image_deregistration_protection()
            .image_id(&cooling)
            .send()
            .await
            .expect("unprotect");
    });
    // an hour from now: both protected, the cooldown's end in the reason
    let p = plan(url, Duration::hours(1));
    assert_eq!(item(&p, &on)["reason"]["code"], "deregistration-protection");
    let i = item(&p, &cooling);
    assert_eq!(i["action"], "keep", "{i}");
    assert_eq!(i["reason"]["code"], "deregistration-protection", "{i}");
    let until: DateTime<Utc> = i["reason"]["until"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("the reason says when the cooldown ends: {i}"));
    assert!(until > Utc::now() + Duration::hours(23), "{until}");
    // three days on, all expired: protection still keeps one, the cooldown
    // is over for the other
    let p = plan(url, Duration::days(3));
    assert_eq!(item(&p, &on)["action"], "keep");
    assert_eq!(item(&p, &on)["reason"]["code"], "deregistration-protection");
    assert_eq!(item(&p, &cooling)["action"], "delete");
    assert_eq!(item(&p, &off)["action"], "delete");
}

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// What EC2 says of `id`: (DeprecationTime, DeregistrationProtection).
fn lifecycle_of(url: &str, region: &str, id: &str) -> (Option<DateTime<Utc>>, Option<String>) {
    let d = block_on(ec2(url, region).describe_images().image_ids(id).send()).expect("describe");
    let i = &d.images()[0];
    (
        i.deprecation_time().and_then(|t| t.parse().ok()),
        i.deregistration_protection().map(str::to_string),
    )
}

fn register(url: &str, region: &str, name: &str) -> String {
    block_on(
        ec2(url, region)
            .register_image()
            .name(name)
            .root_device_name("/dev/xvda")
            .send(),
    )
    .expect("register")
    .image_id()
    .expect("id")
    .to_string()
}

#[test]
fn tag_deprecates_and_protects_every_image_and_copy_and_keeps_an_earlier_deprecation() {
    let m = moto();
    let url = &m.url;
    let east = register(url, "us-east-1", "web-1");
    let west = register(url, "us-west-2", "web-1");
    let tag = |extra: &[&str]| {
        let mut c = ami_builder(url);
        c.args([
            "tag",
            &format!("us-east-1:{east}"),
            "--copy-regions",
            "us-west-2",
        ])
        .args(["--commit", SHA])
        .args(extra);
        c
    };
    tag(&[
        "--deprecate-after",
        "90d",
        "--deregistration-protection",
        "--protection-cooldown",
    ])
    .assert()
    .success()
    .stdout(predicates::str::contains(format!(
        "us-west-2 {west}: deregistration protection enabled-with-cooldown"
    )));
    let in_90d = Utc::now() + Duration::days(90);
    for (region, id) in [("us-east-1", &east), ("us-west-2", &west)] {
        let (deprecated, protection) = lifecycle_of(url, region, id);
        let at = deprecated.unwrap_or_else(|| panic!("{id} in {region} is deprecated"));
        assert!((at - in_90d).num_minutes().abs() <= 2, "{at}");
        assert_eq!(protection.as_deref(), Some("enabled-with-cooldown"));
    }
    // another age later: the deprecation the images have stands, and says so
    let (before, _) = lifecycle_of(url, "us-east-1", &east);
    tag(&["--deprecate-after", "30d"])
        .assert()
        .success()
        .stdout(predicates::str::contains(format!(
            "us-east-1 {east}: kept its deprecation at"
        )));
    assert_eq!(lifecycle_of(url, "us-east-1", &east).0, before);
    // --force moves it
    tag(&["--deprecate-after", "30d", "--force"])
        .assert()
        .success();
    let (after, _) = lifecycle_of(url, "us-east-1", &east);
    let in_30d = Utc::now() + Duration::days(30);
    assert!(
        after.is_some_and(|t| (t - in_30d).num_minutes().abs() <= 2),
        "{after:?}"
    );
}

#[test]
fn prune_keeps_an_image_that_ec2_says_an_ssm_parameter_names() {
    let m = moto();
    let url = &m.url;
    let named = expiring(url, "web-named");
    let free = expiring(url, "web-free");
    // a parameter of someone's own, outside the channels' prefix: only
    // DescribeImageReferences sees it
    let ssm = aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::config::Builder::from(&crate::harness::sdk_conf(url, "us-east-1")).build(),
    );
    block_on(
        ssm.put_parameter()
            .name("/golden/web")
            .value(&named)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .data_type("aws:ec2:image")
            .send(),
    )
    .expect("parameter");
    let p = plan(url, Duration::days(3));
    let i = item(&p, &named);
    assert_eq!(i["action"], "keep", "{i}");
    assert_eq!(i["reason"]["code"], "in-use", "{i}");
    assert_eq!(
        i["reason"]["by"][0],
        "ssm:Parameter arn:aws:ssm:us-east-1:123456789012:parameter/golden/web",
        "{i}"
    );
    assert_eq!(item(&p, &free)["action"], "delete");
}

#[test]
fn unused_for_keeps_an_image_launched_within_it_even_when_the_instance_is_gone() {
    let m = moto();
    let url = &m.url;
    let launched = expiring(url, "web-launched");
    let idle = expiring(url, "web-idle");
    let c = ec2(url, "us-east-1");
    block_on(async {
        let i = c
            .run_instances()
            .image_id(&launched)
            .min_count(1)
            .max_count(1)
            .send()
            .await
            .expect("run");
        let id = i.instances()[0].instance_id().expect("id").to_string();
        c.terminate_instances()
            .instance_ids(id)
            .send()
            .await
            .expect("terminate");
    });
    let plan_with = |extra: &[&str]| -> serde_json::Value {
        let as_of = (Utc::now() + Duration::days(3)).to_rfc3339();
        let out = ami_builder(url)
            .args(["--output", "json", "prune", "--in-region", "us-east-1"])
            .args(["--keep", "0", "--as-of", &as_of])
            .args(extra)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        serde_json::from_slice(&out).expect("json plan")
    };
    let p = plan_with(&["--unused-for", "30d"]);
    let i = item(&p, &launched);
    assert_eq!(i["action"], "keep", "{i}");
    assert_eq!(i["reason"]["code"], "recently-launched", "{i}");
    assert_eq!(item(&p, &idle)["action"], "delete");
    // without it, a terminated instance's image is not in use
    let p = plan_with(&[]);
    assert_eq!(item(&p, &launched)["action"], "delete");
    // a window EC2's reporting delay could defeat is refused
    ami_builder(url)
        .args(["prune", "--in-region", "us-east-1", "--unused-for", "6h"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "EC2 reports a launch up to 24 hours late",
        ));
}

/// The snapshot behind `ami` (in us-east-1).
fn snapshot_of(url: &str, ami: &str) -> String {
    let d = block_on(
        ec2(url, "us-east-1")
            .describe_images()
            .image_ids(ami)
            .send(),
    )
    .expect("d");
    d.images()[0].block_device_mappings()[0]
        .ebs()
        .and_then(|e| e.snapshot_id())
        .expect("snapshot")
        .to_string()
}

/// The snapshot behind `ami`, and both tagged `tags`.
fn tag_snapshot(url: &str, ami: &str, tags: &[(&str, &str)]) -> String {
    let snap = snapshot_of(url, ami);
    let mut req = ec2(url, "us-east-1")
        .create_tags()
        .resources(ami)
        .resources(&snap);
    for (k, v) in tags {
        req = req.tags(tag(k, v));
    }
    block_on(req.send()).expect("tags");
    snap
}

/// Give account 111122223333 launch permission on `ami` (in us-east-1).
fn share_with_an_account(url: &str, ami: &str) {
    block_on(
        ec2(url, "us-east-1")
            .modify_image_attribute()
            .image_id(ami)
            .launch_permission(
                aws_sdk_ec2::types::LaunchPermissionModifications::builder()
                    .add(
                        aws_sdk_ec2::types::LaunchPermission::builder()
                            .user_id("111122223333")
                            .build(),
                    )
                    .build(),
            )
            .send(),
    )
    .expect("share");
}

#[test]
fn prune_shows_the_recycle_bin_window_requires_it_and_undo_restores_the_run() {
    let m = moto();
    let url = &m.url;
    let rbin = aws_sdk_rbin::Client::from_conf(
        aws_sdk_rbin::config::Builder::from(&crate::harness::sdk_conf(url, "us-east-1")).build(),
    );
    block_on(async {
        for (kind, days) in [
            (aws_sdk_rbin::types::ResourceType::Ec2Image, 14),
            (aws_sdk_rbin::types::ResourceType::EbsSnapshot, 7),
        ] {
            rbin.create_rule()
                .resource_type(kind)
                .retention_period(
                    aws_sdk_rbin::types::RetentionPeriod::builder()
                        .retention_period_value(days)
                        .retention_period_unit(aws_sdk_rbin::types::RetentionPeriodUnit::Days)
                        .build()
                        .expect("period"),
                )
                .resource_tags(
                    aws_sdk_rbin::types::ResourceTag::builder()
                        .resource_tag_key("bin")
                        .resource_tag_value("yes")
                        .build()
                        .expect("tag"),
                )
                .send()
                .await
                .expect("rule");
        }
    });
    let binned = expiring(url, "web-binned");
    let binned_snap = tag_snapshot(
        url,
        &binned,
        &[("bin", "yes"), ("scheduler:ebs-snapshot", "0900;1")],
    );
    let plain = expiring(url, "web-plain");
    tag_snapshot(url, &plain, &[("scheduler:ebs-snapshot", "0900;1")]);
    let as_of = (Utc::now() + Duration::days(3)).to_rfc3339();
    let prune = |extra: &[&str]| {
        let mut c = ami_builder(url);
        c.args(["--output", "json", "prune", "--in-region", "us-east-1"])
            .args(["--keep", "0", "--as-of", &as_of])
            .args(extra);
        c
    };
    let out = prune(&[])
        .assert()
        .success()
        .stderr(predicates::str::contains(format!(
            "{binned} in us-east-1 stays recoverable until"
        )));
    let p: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).expect("json");
    let until: DateTime<Utc> = item(&p, &binned)["recoverable_until"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a window: {p}"));
    let as_of_t: DateTime<Utc> = as_of.parse().expect("t");
    assert_eq!((until - as_of_t).num_days(), 14);
    assert!(item(&p, &plain).get("recoverable_until").is_none());
    // --require-recycle-bin: the image no rule retains is kept
    let out = prune(&["--require-recycle-bin"]).assert().success();
    let p: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).expect("json");
    assert_eq!(item(&p, &plain)["reason"]["code"], "not-recoverable", "{p}");
    assert_eq!(item(&p, &binned)["action"], "delete");
    // applied, then undone: the image and its snapshot are back
    let dir = tempfile::tempdir().expect("tmp");
    let report = dir.path().join("report.json");
    prune(&["--require-recycle-bin", "--apply", "--report-file"])
        .arg(&report)
        .assert()
        .success();
    crate::schemas::assert_valid("prune-report.schema.json", &report);
    let exists = |id: &str| {
        let d = block_on(ec2(url, "us-east-1").describe_images().image_ids(id).send());
        d.map(|d| !d.images().is_empty()).unwrap_or(false)
    };
    assert!(!exists(&binned), "deregistered");
    // one rule for EC2's own AMI events and ours: State and ImageId as EC2 has them
    let q = crate::harness::queue_for_pattern(
        url,
        "default",
        &format!(
            r#"{{"source":["aws.ec2","com.ami.builder"],"detail":{{"State":["available"],"ImageId":["{binned}"]}}}}"#
        ),
    );
    let out = ami_builder(url)
        .args(["--output", "json", "prune", "undo", "--events", "--report"])
        .arg(&report)
        .assert()
        .success();
    let events = crate::harness::drain_queue(url, &q);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["detail"]["AmiStatus"], "Restored");
    let undone = dir.path().join("undo.json");
    std::fs::write(&undone, &out.get_output().stdout).expect("write");
    crate::schemas::assert_valid("undo-result.schema.json", &undone);
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).expect("json");
    let order: Vec<(String, String)> = v["restores"]
        .as_array()
        .expect("restores")
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap_or_default().to_string(),
                r["result"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            (binned_snap.clone(), "restored".to_string()),
            (binned.clone(), "restored".to_string())
        ],
        "the snapshot first: {v}"
    );
    assert!(exists(&binned), "restored");
    let snaps = block_on(
        ec2(url, "us-east-1")
            .describe_snapshots()
            .snapshot_ids(&binned_snap)
            .send(),
    )
    .expect("snapshot back");
    assert_eq!(snaps.snapshots().len(), 1);
    // a second undo finds nothing in the bin: exit 8, each named
    ami_builder(url)
        .args(["prune", "undo", "--report"])
        .arg(&report)
        .assert()
        .code(8)
        .stderr(predicates::str::contains(format!(
            "image {binned} in us-east-1"
        )));
}

#[test]
fn a_disabled_image_is_in_the_plan_and_its_snapshot_is_not_an_orphan() {
    let m = moto();
    let url = &m.url;
    let disabled = expiring(url, "web-disabled");
    let snap = snapshot_of(url, &disabled);
    block_on(
        ec2(url, "us-east-1")
            .create_tags()
            .resources(&snap)
            .tags(tag("ami-builder:family", "web"))
            .tags(tag("scheduler:ebs-snapshot", "0900;30"))
            .send(),
    )
    .expect("tags");
    block_on(
        ec2(url, "us-east-1")
            .disable_image()
            .image_id(&disabled)
            .send(),
    )
    .expect("disable");
    let p = plan(url, Duration::days(3));
    assert_eq!(item(&p, &disabled)["action"], "delete", "{p}");
    let s = item(&p, &snap);
    assert_eq!(s["action"], "keep", "{s}");
    assert_eq!(s["reason"]["code"], "not-expired", "its own 30 days: {s}");
}

#[test]
fn the_ladder_deprecates_disables_then_deletes_one_step_per_run_and_says_so() {
    let m = moto();
    let url = &m.url;
    let img = expiring(url, "web-ladder");
    let shared = expiring(url, "web-shared");
    let c = ec2(url, "us-east-1");
    share_with_an_account(url, &shared);
    let q = crate::harness::queue_for_pattern(
        url,
        "default",
        r#"{"source":["com.ami.builder"],"detail":{"AmiStatus":["Deprecated","Disabled","Deregistered"]}}"#,
    );
    let as_of = (Utc::now() + Duration::days(3)).to_rfc3339();
    let dir = tempfile::tempdir().expect("tmp");
    let run = || {
        let out = ami_builder(url)
            .args(["--output", "json", "prune", "--in-region", "us-east-1"])
            .args(["--keep", "0", "--as-of", &as_of, "--include-shared"])
            .args(["--deprecate-after", "1d", "--disable-after", "1d"])
            .args(["--apply", "--events", "--out-dir"])
            .arg(dir.path())
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        serde_json::from_slice::<serde_json::Value>(&out).expect("json")
    };
    let step_of = |r: &serde_json::Value, id: &str| {
        r["results"]
            .as_array()
            .expect("results")
            .iter()
            .find(|x| x["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no result for {id}: {r}"))
    };
    let state = |id: &str| {
        let d = block_on(
            c.describe_images()
                .image_ids(id)
                .include_disabled(true)
                .send(),
        )
        .expect("describe");
        d.images().first().map(|i| {
            (
                i.state().map(|s| s.as_str().to_string()),
                i.deprecation_time().is_some(),
            )
        })
    };
    // run 1: both 3 days old (as of then): deprecated
    let r = run();
    let doc = dir.path().join("ladder-report.json");
    std::fs::write(&doc, r.to_string()).expect("write");
    crate::schemas::assert_valid("prune-report.schema.json", &doc);
    assert_eq!(step_of(&r, &img)["step"], "deprecate", "{r}");
    assert_eq!(step_of(&r, &img)["done"], true);
    assert_eq!(state(&img), Some((Some("available".into()), true)));
    // run 2: a day after the deprecation (as of then): disabled; the shared
    // image's launch permissions recorded first
    let r = run();
    assert_eq!(step_of(&r, &img)["step"], "disable", "{r}");
    assert_eq!(state(&img), Some((Some("disabled".into()), true)));
    let t = crate::harness::tags_of(url, "us-east-1", &shared);
    assert_eq!(
        t.get("ami-builder:launch-permissions").map(String::as_str),
        Some("account:111122223333"),
        "{t:?}"
    );
    assert!(t.contains_key("ami-builder:disabled-at"), "{t:?}");
    // run 3: every step taken and expired: deleted
    let r = run();
    assert_eq!(step_of(&r, &img)["outcome"], "deleted", "{r}");
    assert_eq!(state(&img), None, "deregistered");
    let mut seen: Vec<(String, String)> = crate::harness::drain_queue(url, &q)
        .iter()
        .filter(|e| e["detail"]["ImageId"] == img.as_str())
        .map(|e| {
            (
                e["detail"]["AmiStatus"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                e["detail"]["State"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("Deprecated".to_string(), "-".to_string()),
            ("Deregistered".to_string(), "deregistered".to_string()),
            ("Disabled".to_string(), "disabled".to_string()),
        ]
    );
}

#[test]
fn disable_protection_turns_it_off_as_a_step_and_the_next_run_deletes() {
    let m = moto();
    let url = &m.url;
    let img = expiring(url, "web-protected");
    let c = ec2(url, "us-east-1");
    block_on(
        c.enable_image_deregistration_protection()
            .image_id(&img)
            .send(),
    )
    .expect("protect");
    let dir = tempfile::tempdir().expect("tmp");
    let as_of = (Utc::now() + Duration::days(3)).to_rfc3339();
    let run = || {
        let out = ami_builder(url)
            .args(["--output", "json", "prune", "--in-region", "us-east-1"])
            .args(["--keep", "0", "--as-of", &as_of, "--disable-protection"])
            .args(["--apply", "--out-dir"])
            .arg(dir.path())
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        serde_json::from_slice::<serde_json::Value>(&out).expect("json")
    };
    let r = run();
    assert_eq!(item(&r, &img)["action"], "unprotect", "{r}");
    let doc = dir.path().join("unprotect-report.json");
    std::fs::write(&doc, r.to_string()).expect("write");
    crate::schemas::assert_valid("prune-report.schema.json", &doc);
    let d = block_on(c.describe_images().image_ids(&img).send()).expect("d");
    assert_eq!(d.images()[0].deregistration_protection(), Some("disabled"));
    let r = run();
    assert_eq!(item(&r, &img)["action"], "delete", "{r}");
    let d = block_on(c.describe_images().image_ids(&img).send()).expect("d");
    assert!(d.images().is_empty(), "deleted");
}

#[test]
fn undo_reverses_the_ladders_steps_and_gives_back_the_launch_permissions() {
    let m = moto();
    let url = &m.url;
    let img = expiring(url, "web-shared-ladder");
    let c = ec2(url, "us-east-1");
    share_with_an_account(url, &img);
    let dir = tempfile::tempdir().expect("tmp");
    let as_of = (Utc::now() + Duration::days(3)).to_rfc3339();
    let step = |flag: &str, name: &str| {
        let report = dir.path().join(name);
        ami_builder(url)
            .args(["prune", "--in-region", "us-east-1", "--keep", "0"])
            .args(["--as-of", &as_of, "--include-shared", flag, "1d"])
            .args(["--apply", "--report-file"])
            .arg(&report)
            .assert()
            .success();
        report
    };
    let undo = |report: &std::path::Path| {
        let out = ami_builder(url)
            .args(["--output", "json", "prune", "undo", "--report"])
            .arg(report)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        serde_json::from_slice::<serde_json::Value>(&out).expect("json")
    };
    let described = || {
        let d = block_on(
            c.describe_images()
                .image_ids(&img)
                .include_disabled(true)
                .send(),
        )
        .expect("d");
        let i = &d.images()[0];
        (
            i.state().map(|s| s.as_str().to_string()),
            i.deprecation_time().is_some(),
        )
    };
    let shared_with = || {
        let a = block_on(
            c.describe_image_attribute()
                .image_id(&img)
                .attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission)
                .send(),
        )
        .expect("attribute");
        a.launch_permissions()
            .iter()
            .filter_map(|p| p.user_id().map(str::to_string))
            .collect::<Vec<_>>()
    };
    // deprecated, then undone
    let r = step("--deprecate-after", "deprecate.json");
    assert_eq!(described(), (Some("available".into()), true));
    let v = undo(&r);
    assert_eq!(v["restores"][0]["action"], "undeprecate", "{v}");
    assert_eq!(described(), (Some("available".into()), false));
    // disabled (its sharing gone, as EC2 does), then enabled with it back
    let r = step("--disable-after", "disable.json");
    assert_eq!(described().0.as_deref(), Some("disabled"));
    assert!(shared_with().is_empty());
    // the tag is anyone's to edit: an account added to it is not granted
    // (only what the run's own report recorded too)
    block_on(
        c.create_tags()
            .resources(&img)
            .tags(tag(
                "ami-builder:launch-permissions",
                "account:111122223333 account:444455556666",
            ))
            .send(),
    )
    .expect("retag");
    let v = undo(&r);
    assert_eq!(v["restores"][0]["action"], "enable", "{v}");
    assert_eq!(v["restores"][0]["result"], "restored", "{v}");
    assert_eq!(described().0.as_deref(), Some("available"));
    assert_eq!(shared_with(), ["111122223333"]);
    let doc = dir.path().join("undo.json");
    std::fs::write(&doc, v.to_string()).expect("write");
    crate::schemas::assert_valid("undo-result.schema.json", &doc);
}
