//! `prune` against moto: a scenario with images in use, shared, pinned,
//! excluded, malformed, expired and not yet expired, a family with keep-N, a copy
//! in a second region, an orphaned snapshot and scheduler snapshots. The test
//! asserts the exact plan, applies it, and asserts exactly what is left. moto
//! cannot backdate images, so time moves through `--as-of`.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{LaunchPermission, LaunchPermissionModifications, Tag};
use chrono::{Duration, Utc};
use predicates::prelude::*;

use crate::harness::{ami_builder, block_on, ec2, moto, own_images, register_image as image};

const BASE: &str = "ami-0123456789abcdef0";

struct World {
    ids: BTreeMap<&'static str, String>,
    snaps: BTreeMap<&'static str, String>,
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

fn build_world(url: &str) -> World {
    build_world_with(url, "0900;1")
}

/// The world, with `app_retention` on the "app" family, its copy and the
/// orphan: `0900;0` makes them expire at once, for saved plans, which are
/// only applied in the present.
fn build_world_with(url: &str, app_retention: &str) -> World {
    let c = ec2(url, "us-east-1");
    let w2 = ec2(url, "us-west-2");
    block_on(async {
        let mut ids = BTreeMap::new();
        let mut snaps = BTreeMap::new();
        let fam = ("ami-builder:family", "web");
        let one_day = ("scheduler:ebs-snapshot", "0900;1");
        for (key, name, tags) in [
            ("running", "web-running", vec![one_day]),
            ("stopped", "web-stopped", vec![one_day]),
            ("lt", "web-lt", vec![one_day]),
            ("shared", "web-shared", vec![one_day]),
            (
                "pinned",
                "web-pinned",
                vec![one_day, ("ami-builder:keep", "true")],
            ),
            (
                "junk",
                "web-junk",
                vec![("scheduler:ebs-snapshot", "1 day")],
            ),
            (
                "excluded",
                "web-excluded",
                vec![("scheduler:ebs-snapshot", "none")],
            ),
            ("expired2", "web-expired2", vec![one_day]),
            (
                "expired4",
                "web-expired4",
                vec![("scheduler:ebs-snapshot", "0900;1;UTC;all")],
            ),
            (
                "fresh3",
                "web-fresh3",
                vec![("scheduler:ebs-snapshot", "0900;30;Europe/Paris")],
            ),
            ("default", "web-default", vec![fam]),
        ] {
            let (id, snap) = image(&c, name, &tags).await;
            ids.insert(key, id);
            snaps.insert(key, snap);
        }
        // in use
        let run = c
            .run_instances()
            .image_id(&ids["running"])
            .min_count(1)
            .max_count(1)
            .send()
            .await
            .expect("run");
        let _ = run;
        let stop = c
            .run_instances()
            .image_id(&ids["stopped"])
            .min_count(1)
            .max_count(1)
            .send()
            .await
            .expect("run");
        let iid = stop.instances()[0].instance_id().expect("iid").to_string();
        c.stop_instances()
            .instance_ids(&iid)
            .send()
            .await
            .expect("stop");
        let lt = c
            .create_launch_template()
            .launch_template_name("web")
            .launch_template_data(
                aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                    .image_id(BASE)
                    .build(),
            )
            .send()
            .await
            .expect("lt");
        let lt_id = lt
            .launch_template()
            .and_then(|t| t.launch_template_id())
            .expect("lt id")
            .to_string();
        c.create_launch_template_version()
            .launch_template_id(&lt_id)
            .launch_template_data(
                aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                    .image_id(&ids["lt"])
                    .build(),
            )
            .send()
            .await
            .expect("lt v2 (not the default version)");
        // an Auto Scaling group launching from that version (no instances)
        crate::harness::autoscaling(url, "us-east-1")
            .create_auto_scaling_group()
            .auto_scaling_group_name("web-asg")
            .launch_template(
                aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                    .launch_template_id(&lt_id)
                    .version("2")
                    .build(),
            )
            .min_size(0)
            .max_size(0)
            .desired_capacity(0)
            .availability_zones("us-east-1a")
            .send()
            .await
            .expect("asg");
        c.modify_image_attribute()
            .image_id(&ids["shared"])
            .launch_permission(
                LaunchPermissionModifications::builder()
                    .add(LaunchPermission::builder().user_id("111122223333").build())
                    .build(),
            )
            .send()
            .await
            .expect("share");
        // an orphaned snapshot of ours, expired
        let vol = c
            .create_volume()
            .availability_zone("us-east-1a")
            .size(4)
            .send()
            .await
            .expect("vol");
        let orphan = c
            .create_snapshot()
            .volume_id(vol.volume_id().expect("v"))
            .send()
            .await
            .expect("snap");
        let orphan = orphan.snapshot_id().expect("id").to_string();
        c.create_tags()
            .resources(&orphan)
            .tags(tag("ami-builder:family", "web"))
            .tags(tag("scheduler:ebs-snapshot", app_retention))
            .send()
            .await
            .expect("tag orphan");
        snaps.insert("orphan", orphan);
        // keep-N: family "app", three builds; the newest two are kept
        for (key, name) in [("app1", "app-1"), ("app2", "app-2"), ("app3", "app-3")] {
            tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
            let (id, snap) = image(
                &c,
                name,
                &[
                    ("ami-builder:family", "app"),
                    ("scheduler:ebs-snapshot", app_retention),
                ],
            )
            .await;
            ids.insert(key, id);
            snaps.insert(key, snap);
        }
        // the newest app build has a copy in us-west-2: one build, two regions
        let copy = w2
            .copy_image()
            .name("app-3")
            .source_image_id(&ids["app3"])
            .source_region("us-east-1")
            .send()
            .await
            .expect("copy");
        let copy = copy.image_id().expect("id").to_string();
        w2.create_tags()
            .resources(&copy)
            .tags(tag("ami-builder:family", "app"))
            .tags(tag("scheduler:ebs-snapshot", app_retention))
            .tags(tag(
                "ami-builder:source-image",
                &format!("us-east-1:{}", ids["app3"]),
            ))
            .send()
            .await
            .expect("tag copy");
        ids.insert("app3-copy", copy);
        World { ids, snaps }
    })
}

fn plan_json(url: &str, extra: &[&str]) -> serde_json::Value {
    let as_of = (Utc::now() + Duration::days(3)).to_rfc3339();
    let out = ami_builder(url)
        .args([
            "--output",
            "json",
            "prune",
            "--in-region",
            "us-east-1,us-west-2",
            "--keep",
            "2",
            "--as-of",
            &as_of,
        ])
        .args(extra)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).expect("json plan")
}

fn decisions(plan: &serde_json::Value) -> BTreeMap<String, (String, String)> {
    plan["plan"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["id"].as_str().expect("id").to_string(),
                (
                    i["action"].as_str().expect("a").to_string(),
                    i["reason"]["code"].as_str().unwrap_or("?").to_string(),
                ),
            )
        })
        .collect()
}

#[test]
fn prune_plans_exactly_then_applies_exactly() {
    let m = moto();
    let w = build_world(&m.url);
    let plan = plan_json(&m.url, &[]);
    let d = decisions(&plan);
    let want_image = |k: &str, action: &str, code: &str| {
        let got = d
            .get(&w.ids[k])
            .unwrap_or_else(|| panic!("{k} ({}) not in the plan: {d:?}", w.ids[k]));
        assert_eq!((got.0.as_str(), got.1.as_str()), (action, code), "{k}");
    };
    // The "web" images carry only a retention tag (no family), so keep-N never
    // applies to them: each decision below is the rule under test. Keep-N is
    // exercised by the "app" family, whose builds are a second apart.
    want_image("running", "keep", "in-use");
    want_image("stopped", "keep", "in-use");
    want_image("lt", "keep", "in-use");
    let lt_reason = plan["plan"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["id"] == w.ids["lt"].as_str())
        .map(|i| i["reason"]["by"].clone())
        .expect("lt item");
    assert!(
        lt_reason
            .as_array()
            .is_some_and(|by| by.iter().any(|b| b == "auto scaling group web-asg")
                && by
                    .iter()
                    .any(|b| b.as_str().is_some_and(|b| b.ends_with("version 2")))),
        "named by its template version and its group: {lt_reason}"
    );
    want_image("shared", "keep", "shared");
    want_image("pinned", "keep", "pinned");
    want_image("junk", "keep", "retention-invalid");
    want_image("excluded", "keep", "retention-excluded");
    want_image("fresh3", "keep", "not-expired");
    want_image("app1", "delete", "expired");
    want_image("app2", "keep", "newest");
    want_image("app3", "keep", "newest");
    want_image("app3-copy", "keep", "newest");
    // the 2- and 4-field expired tags; the default (15 days, alone in its family) is kept
    want_image("expired2", "delete", "expired");
    want_image("expired4", "delete", "expired");
    assert_ne!(
        d[&w.ids["default"]].1, "expired",
        "15-day default has not expired after 3 days"
    );
    // snapshots go with their image; an in-use image's snapshot stays
    assert_eq!(d[&w.snaps["expired4"]].0, d[&w.ids["expired4"]].0);
    assert_eq!(
        d[&w.snaps["orphan"]],
        ("delete".to_string(), "expired".to_string())
    );
    assert_eq!(d[&w.snaps["running"]].0, "keep");

    // apply, then exactly the planned deletions are gone
    let deleted: Vec<String> = plan["plan"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["action"] == "delete")
        .map(|i| i["id"].as_str().expect("id").to_string())
        .collect();
    assert!(deleted.contains(&w.ids["app1"]));
    let as_of = (Utc::now() + Duration::days(3)).to_rfc3339();
    ami_builder(&m.url)
        .args([
            "prune",
            "--in-region",
            "us-east-1,us-west-2",
            "--keep",
            "2",
            "--as-of",
            &as_of,
            "--apply",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("deleted"));
    let left: Vec<String> = own_images(&m.url, "us-east-1")
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    for (k, id) in &w.ids {
        if k.ends_with("-copy") {
            continue;
        }
        assert_eq!(left.contains(id), !deleted.contains(id), "image {k} {id}");
    }
    let snaps = block_on(
        ec2(&m.url, "us-east-1")
            .describe_snapshots()
            .owner_ids("self")
            .send(),
    )
    .expect("snaps");
    let snap_left: Vec<String> = snaps
        .snapshots()
        .iter()
        .filter_map(|s| s.snapshot_id().map(str::to_string))
        .collect();
    for (k, id) in &w.snaps {
        assert_eq!(
            snap_left.contains(id),
            !deleted.contains(id),
            "snapshot {k} {id}"
        );
    }
    // idempotent: planning again deletes nothing new
    let again = plan_json(&m.url, &[]);
    let n = again["plan"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["action"] == "delete")
        .count();
    assert_eq!(n, 0, "{again}");
}

#[test]
fn max_deletions_refuses_before_deleting_and_saved_plans_skip_what_became_protected() {
    let m = moto();
    let w = build_world_with(&m.url, "0900;0");
    let as_of = (Utc::now() + Duration::days(3)).to_rfc3339();
    let before = own_images(&m.url, "us-east-1").len();
    ami_builder(&m.url)
        .args([
            "prune",
            "--in-region",
            "us-east-1",
            "--keep",
            "2",
            "--as-of",
            &as_of,
            "--apply",
            "--max-deletions",
            "0",
        ])
        .assert()
        .code(9)
        .stderr(predicate::str::contains("over --max-deletions 0"));
    assert_eq!(
        own_images(&m.url, "us-east-1").len(),
        before,
        "nothing deleted"
    );
    // save a plan, then pin app1 before applying it: it is skipped
    let dir = tempfile::tempdir().expect("tmp");
    let plan_file = dir.path().join("plan.json");
    ami_builder(&m.url)
        .args([
            "prune",
            "--in-region",
            "us-east-1",
            "--keep",
            "2",
            "--plan-out",
        ])
        .arg(&plan_file)
        .assert()
        .success()
        .stdout(predicate::str::contains("plan only"));
    // the same plan, made as of two days ago: stale, refused before anything
    let mut stale: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&plan_file).expect("plan")).expect("json");
    stale["generated_at"] = (Utc::now() - Duration::days(2)).to_rfc3339().into();
    let stale_file = dir.path().join("stale.json");
    std::fs::write(&stale_file, stale.to_string()).expect("write");
    apply_saved(&m.url, &stale_file)
        .assert()
        .code(9)
        .stderr(predicate::str::contains("older than --max-plan-age 1d 0h"));
    assert_eq!(
        own_images(&m.url, "us-east-1").len(),
        before,
        "nothing deleted from a stale plan"
    );
    block_on(
        ec2(&m.url, "us-east-1")
            .create_tags()
            .resources(&w.ids["app1"])
            .tags(tag("ami-builder:keep", "true"))
            .send(),
    )
    .expect("pin");
    apply_saved(&m.url, &plan_file)
        .assert()
        .success()
        .stdout(predicate::str::contains(w.ids["app1"].clone()))
        .stdout(predicate::str::contains("skipped: now kept"));
    let left: Vec<String> = own_images(&m.url, "us-east-1")
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    assert!(left.contains(&w.ids["app1"]), "pinned since the plan: kept");
    // applying the same saved plan again converges (already gone counts as done)
    apply_saved(&m.url, &plan_file).assert().success();
}

/// `prune --apply --plan FILE` with the flags the saved plans here were made with.
fn apply_saved(url: &str, plan: &std::path::Path) -> assert_cmd::Command {
    let mut c = ami_builder(url);
    c.args([
        "prune",
        "--in-region",
        "us-east-1",
        "--keep",
        "2",
        "--apply",
        "--plan",
    ])
    .arg(plan);
    c
}

#[test]
fn retention_explain_reads_like_the_scheduler() {
    crate::harness::offline()
        .args(["retention", "explain", "0900;30;Europe/Paris;mon,fri"])
        .assert()
        .success()
        .stdout(predicate::str::contains("30"))
        .stdout(predicate::str::contains("Europe/Paris"));
    // an error finding fails the command (exit 1), still printing the reading
    crate::harness::offline()
        .args(["retention", "explain", "900;30;EST"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("EST"))
        .stderr(predicate::str::contains("has errors"));
    crate::harness::offline()
        .args(["retention", "explain", "0900;30;Europe/Pariss"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("IANA"));
    // the scheduler reads `utc` as UTC: clean (retention 0 is only a warning)
    crate::harness::offline()
        .args(["retention", "explain", "0900;0;utc;weekdays"])
        .assert()
        .success()
        .stdout(predicate::str::contains("UTC"));
}

#[test]
fn a_crash_mid_apply_then_a_rerun_converges_and_deletes_nothing_unplanned() {
    let m = moto();
    let w = build_world_with(&m.url, "0900;0");
    let dir = tempfile::tempdir().expect("tmp");
    let plan_file = dir.path().join("plan.json");
    ami_builder(&m.url)
        .args([
            "prune",
            "--in-region",
            "us-east-1,us-west-2",
            "--keep",
            "2",
            "--plan-out",
        ])
        .arg(&plan_file)
        .assert()
        .success();
    let saved = crate::harness::read_json(&plan_file);
    let planned: Vec<String> = saved["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["action"] == "delete")
        .map(|i| i["id"].as_str().expect("id").to_string())
        .collect();
    assert!(
        planned.contains(&w.ids["app1"]) && planned.contains(&w.snaps["app1"]),
        "{planned:?}"
    );
    // The crash: app1 was deregistered, its snapshot not yet deleted; meanwhile
    // someone else deleted the orphan snapshot too.
    let c = ec2(&m.url, "us-east-1");
    block_on(c.deregister_image().image_id(&w.ids["app1"]).send()).expect("deregister");
    block_on(c.delete_snapshot().snapshot_id(&w.snaps["orphan"]).send()).expect("delete");
    let before_imgs: Vec<String> = own_images(&m.url, "us-east-1")
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    ami_builder(&m.url)
        .args([
            "prune",
            "--in-region",
            "us-east-1,us-west-2",
            "--keep",
            "2",
            "--apply",
            "--plan",
        ])
        .arg(&plan_file)
        .assert()
        .success()
        .stdout(predicate::str::contains("already gone"));
    let after_imgs: Vec<String> = own_images(&m.url, "us-east-1")
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    for id in &before_imgs {
        assert_eq!(after_imgs.contains(id), !planned.contains(id), "image {id}");
    }
    let snaps = block_on(c.describe_snapshots().owner_ids("self").send()).expect("snaps");
    let left: Vec<String> = snaps
        .snapshots()
        .iter()
        .filter_map(|s| s.snapshot_id().map(str::to_string))
        .collect();
    assert!(
        !left.contains(&w.snaps["app1"]),
        "the crashed deletion was finished"
    );
    for (k, id) in &w.snaps {
        if !planned.contains(id) {
            assert!(left.contains(id), "unplanned snapshot {k} {id} must stay");
        }
    }
}

#[test]
fn scheduler_snapshots_events_report_and_lint() {
    let m = moto();
    let w = build_world(&m.url);
    let c = ec2(&m.url, "us-east-1");
    // An instance with a scheduler tag (1 day), and a snapshot the scheduler made of its volume.
    let sched_snap = block_on(async {
        let run = c
            .run_instances()
            .image_id(BASE)
            .min_count(1)
            .max_count(1)
            .send()
            .await
            .expect("run");
        let iid = run.instances()[0].instance_id().expect("iid").to_string();
        c.create_tags()
            .resources(&iid)
            .tags(tag("scheduler:ebs-snapshot", "0900;1"))
            .send()
            .await
            .expect("tag");
        let vol = c
            .create_volume()
            .availability_zone("us-east-1a")
            .size(2)
            .send()
            .await
            .expect("vol");
        let vid = vol.volume_id().expect("v").to_string();
        let s = c
            .create_snapshot()
            .volume_id(&vid)
            .description(format!(
                "Created by EBSSnapshotScheduler from {vid}({iid}) at 2026-11-01 09:00:00"
            ))
            .send()
            .await
            .expect("snap");
        let sid = s.snapshot_id().expect("id").to_string();
        c.create_tags()
            .resources(&sid)
            .tags(tag("scheduler:ebs-snapshot", "auto_delete"))
            .send()
            .await
            .expect("tag");
        sid
    });
    let without = decisions(&plan_json(&m.url, &[]));
    assert!(
        without.get(&sched_snap).is_none_or(|(a, _)| a == "keep"),
        "the scheduler's snapshots are left alone by default: {:?}",
        without.get(&sched_snap)
    );
    let with = decisions(&plan_json(&m.url, &["--scheduler-snapshots"]));
    assert_eq!(
        with.get(&sched_snap).map(|(a, _)| a.as_str()),
        Some("delete"),
        "{:?}",
        with.get(&sched_snap)
    );

    // apply with events and an S3 report
    let pattern = r#"{"source":["com.ami.builder"],"detail-type":["AmiBuilder"],"detail":{"AmiStatus":["Deregistered"]}}"#;
    let q = crate::harness::queue_for_pattern(&m.url, "default", pattern);
    crate::harness::create_bucket(&m.url, "audit");
    let as_of = (Utc::now() + Duration::days(3)).to_rfc3339();
    let out = ami_builder(&m.url)
        .args([
            "--output",
            "json",
            "prune",
            "--in-region",
            "us-east-1,us-west-2",
            "--keep",
            "2",
            "--as-of",
            &as_of,
        ])
        .args(["--apply", "--events", "--report", "s3://audit/prune/"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let report: serde_json::Value = serde_json::from_slice(&out).expect("json");
    let deregistered: Vec<String> = report["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["kind"] == "image" && r["outcome"] == "deleted")
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect();
    assert!(deregistered.contains(&w.ids["app1"]), "{report}");
    assert!(
        report["api_calls"]["ec2:DescribeImages"]
            .as_u64()
            .unwrap_or(0)
            >= 2,
        "calls counted per operation: {report}"
    );
    // Deletions are counted too (one call each here: moto does not throttle),
    // and so are the DryRun permission checks before them. An image whose
    // every snapshot goes is deregistered with them (DeleteAssociatedSnapshots):
    // only the orphans take a DeleteSnapshot of their own.
    let done = |kind: &str, orphan: Option<bool>| {
        report["results"]
            .as_array()
            .expect("results")
            .iter()
            .filter(|r| r["kind"] == kind && r["result"] == "done")
            .filter(|r| {
                let item = report["plan"]["items"]
                    .as_array()
                    .expect("items")
                    .iter()
                    .find(|i| i["id"] == r["id"])
                    .expect("planned");
                let no_image = item["depends_on"].as_array().is_none_or(|d| d.is_empty());
                orphan.is_none_or(|o| o == no_image)
            })
            .count() as u64
    };
    let calls = &report["api_calls"];
    assert_eq!(
        calls["ec2:DeregisterImage"].as_u64(),
        Some(done("image", None)),
        "{report}"
    );
    assert!(done("snapshot", Some(false)) > 0, "{report}");
    assert_eq!(
        calls["ec2:DeleteSnapshot"].as_u64(),
        Some(done("snapshot", Some(true))),
        "{report}"
    );
    assert!(
        calls["ec2:DeregisterImage (dry run)"].as_u64() >= Some(1),
        "{report}"
    );
    let msgs = crate::harness::drain_queue(&m.url, &q);
    let mut announced: Vec<String> = msgs
        .iter()
        .map(|e| e["detail"]["AmiId"].as_str().expect("id").to_string())
        .collect();
    announced.sort();
    let mut want = deregistered.clone();
    want.sort();
    assert_eq!(
        announced, want,
        "one Deregistered event per deregistered AMI"
    );
    let keys = crate::harness::bucket_keys(&m.url, "audit");
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(
        keys[0].starts_with("prune/prune-123456789012-") && keys[0].ends_with(".json"),
        "named by the account, as the reports of several accounts are: {keys:?}"
    );

    // the junk tag is an error finding; exit 1 with the advice
    ami_builder(&m.url)
        .args(["retention", "lint", "--in-region", "us-east-1"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(w.ids["junk"].clone()))
        .stdout(predicate::str::contains("\"1 day\""))
        .stderr(predicate::str::contains("fix them as suggested"));
}

/// Images left in `region`, by id.
fn image_ids(url: &str, region: &str) -> Vec<String> {
    own_images(url, region)
        .into_iter()
        .map(|(id, _, _)| id)
        .collect()
}

fn save_plan(url: &str, path: &std::path::Path) -> serde_json::Value {
    ami_builder(url)
        .args([
            "prune",
            "--in-region",
            "us-east-1",
            "--keep",
            "2",
            "--plan-out",
        ])
        .arg(path)
        .assert()
        .success();
    crate::harness::read_json(path)
}

#[test]
fn a_foreign_edited_or_future_plan_deletes_nothing_todays_rules_keep() {
    let m = moto();
    let w = build_world_with(&m.url, "0900;0");
    let dir = tempfile::tempdir().expect("tmp");
    let plan_file = dir.path().join("plan.json");
    let plan = save_plan(&m.url, &plan_file);
    let before = image_ids(&m.url, "us-east-1");
    let write = |name: &str, v: &serde_json::Value| {
        let p = dir.path().join(name);
        std::fs::write(&p, v.to_string()).expect("write");
        p
    };
    // other rules now than in the plan: refused, each difference named
    ami_builder(&m.url)
        .args([
            "prune",
            "--in-region",
            "us-east-1",
            "--keep",
            "1",
            "--family",
            "app",
        ])
        .args(["--apply", "--plan"])
        .arg(&plan_file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "keep: the plan says 2, now 1 (--keep)",
        ))
        .stderr(predicate::str::contains(
            "families: the plan says [], now [\"app\"] (--family)",
        ));
    // another region
    ami_builder(&m.url)
        .args([
            "prune",
            "--in-region",
            "us-west-2",
            "--keep",
            "2",
            "--apply",
            "--plan",
        ])
        .arg(&plan_file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "regions: the plan is for us-east-1, this run acts in us-west-2",
        ));
    // another account
    let mut foreign = plan.clone();
    foreign["scope"]["account_id"] = "999988887777".into();
    apply_saved(&m.url, &write("foreign.json", &foreign))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "the plan is for account 999988887777",
        ));
    // made as of a future time
    let mut future = plan.clone();
    future["generated_at"] = (Utc::now() + Duration::days(3)).to_rfc3339().into();
    apply_saved(&m.url, &write("future.json", &future))
        .assert()
        .code(9)
        .stderr(predicate::str::contains("only applied in the present"));
    // an unknown schema, and no schema at all
    let mut schema = plan.clone();
    schema["schema_version"] = 99.into();
    apply_saved(&m.url, &write("schema.json", &schema))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("schema_version 99"));
    assert_eq!(
        image_ids(&m.url, "us-east-1"),
        before,
        "nothing deleted so far"
    );

    // edited: every item flipped to delete, plus an id the plan never had
    let mut edited = plan.clone();
    let items = edited["items"].as_array_mut().expect("items");
    for i in items.iter_mut() {
        i["action"] = "delete".into();
    }
    let mut extra = items[0].clone();
    extra["id"] = "ami-0000000000000000e".into();
    items.push(extra);
    let out = apply_saved(&m.url, &write("edited.json", &edited))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8_lossy(&out);
    let left = image_ids(&m.url, "us-east-1");
    for (k, id) in &w.ids {
        if k.ends_with("-copy") {
            continue;
        }
        assert_eq!(
            left.contains(id),
            *k != "app1",
            "image {k} {id}: only what today's rules delete is gone\n{out}"
        );
    }
    assert!(out.contains("skipped: now kept: in use"), "{out}");
    assert!(out.contains("skipped: now kept: newest build"), "{out}");
}

#[test]
fn a_failed_event_or_upload_after_deletions_keeps_the_record_and_resend_finishes() {
    let m = moto();
    let w = build_world_with(&m.url, "0900;0");
    let dir = tempfile::tempdir().expect("tmp");
    let report_file = dir.path().join("report.json");
    let out = ami_builder(&m.url)
        .args([
            "--output",
            "json",
            "prune",
            "--in-region",
            "us-east-1",
            "--keep",
            "2",
        ])
        .args(["--apply", "--events", "--event-bus", "late-bus"])
        .args(["--report", "s3://late-bucket/prune/", "--report-file"])
        .arg(&report_file)
        .assert()
        .code(7)
        .stderr(predicate::str::contains("late-bus"))
        .stderr(predicate::str::contains(format!(
            "us-east-1 {}",
            w.ids["app1"]
        )))
        .stderr(predicate::str::contains("--resend"))
        .stderr(predicate::str::contains("not uploaded"))
        .get_output()
        .stdout
        .clone();
    // the deletions are on stdout and in the local report
    let printed: serde_json::Value = serde_json::from_slice(&out).expect("json on stdout");
    let saved = crate::harness::read_json(&report_file);
    assert_eq!(
        printed, saved,
        "stdout and the report file are the same record"
    );
    assert_eq!(saved["schema_version"], 1);
    let deleted: Vec<&str> = saved["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["kind"] == "image" && r["outcome"] == "deleted")
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert_eq!(deleted, vec![w.ids["app1"].as_str()]);
    assert!(!image_ids(&m.url, "us-east-1").contains(&w.ids["app1"]));
    // the report file is never overwritten
    ami_builder(&m.url)
        .args([
            "prune",
            "--in-region",
            "us-east-1",
            "--keep",
            "2",
            "--apply",
            "--report-file",
        ])
        .arg(&report_file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("never overwritten"));
    assert_eq!(crate::harness::read_json(&report_file), saved);

    // the bus and the bucket exist now: --resend sends and uploads, deleting nothing
    crate::harness::create_event_bus(&m.url, "late-bus");
    let q = crate::harness::queue_for_pattern(
        &m.url,
        "late-bus",
        r#"{"detail":{"AmiStatus":["Deregistered"]}}"#,
    );
    crate::harness::create_bucket(&m.url, "late-bucket");
    let images_before = image_ids(&m.url, "us-east-1");
    ami_builder(&m.url)
        .args(["prune", "--events", "--event-bus", "late-bus"])
        .args(["--report", "s3://late-bucket/prune/", "--resend"])
        .arg(&report_file)
        .assert()
        .success();
    let msgs = crate::harness::drain_queue(&m.url, &q);
    let announced: Vec<&str> = msgs
        .iter()
        .map(|e| e["detail"]["AmiId"].as_str().expect("id"))
        .collect();
    assert_eq!(announced, vec![w.ids["app1"].as_str()]);
    assert_eq!(crate::harness::bucket_keys(&m.url, "late-bucket").len(), 1);
    assert_eq!(
        image_ids(&m.url, "us-east-1"),
        images_before,
        "resend deletes nothing"
    );

    // a tampered report is refused before anything is sent
    let mut bad = saved.clone();
    bad["results"][0]["id"] = "ami-x; rm -rf /".into();
    let bad_file = dir.path().join("bad.json");
    std::fs::write(&bad_file, bad.to_string()).expect("write");
    ami_builder(&m.url)
        .args(["prune", "--events", "--resend"])
        .arg(&bad_file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not EC2 ids"));
}

#[test]
fn two_applies_at_once_converge_and_both_succeed() {
    let m = moto();
    let w = build_world_with(&m.url, "0900;0");
    let dir = tempfile::tempdir().expect("tmp");
    let spawn = |n: usize| {
        let mut c = crate::harness::std_command(&m.url);
        c.args(["prune", "--in-region", "us-east-1,us-west-2", "--keep", "2"])
            .args(["--apply", "--concurrency", "1", "--report-file"])
            .arg(dir.path().join(format!("report-{n}.json")))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let (a, b) = (spawn(1), spawn(2));
    for (n, child) in [a, b].into_iter().enumerate() {
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "apply {n}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let left = image_ids(&m.url, "us-east-1");
    assert!(!left.contains(&w.ids["app1"]));
    for k in ["app2", "app3", "running", "pinned"] {
        assert!(left.contains(&w.ids[k]), "{k} kept");
    }
    let snaps = block_on(
        ec2(&m.url, "us-east-1")
            .describe_snapshots()
            .owner_ids("self")
            .send(),
    )
    .expect("snaps");
    let snap_left: Vec<&str> = snaps
        .snapshots()
        .iter()
        .filter_map(|s| s.snapshot_id())
        .collect();
    assert!(!snap_left.contains(&w.snaps["app1"].as_str()));
    assert!(!snap_left.contains(&w.snaps["orphan"].as_str()));
}

/// What EC2, Auto Scaling and STS call a read: the only kind of request a
/// plan may send.
fn is_read(op: &str) -> bool {
    let name = op.split_once(':').map_or(op, |(_, n)| n);
    ["Describe", "Get", "List"]
        .iter()
        .any(|p| name.starts_with(p))
}

#[test]
fn a_plan_sends_no_mutating_request_and_an_apply_counts_its_writes() {
    let m = moto();
    let _w = build_world_with(&m.url, "0900;0");
    // every HTTP request the clients send is counted, by operation
    let plan = plan_json(&m.url, &[]);
    let calls = plan["api_calls"].as_object().expect("api_calls");
    assert!(calls.contains_key("ec2:DescribeImages"), "{calls:?}");
    assert!(calls.contains_key("sts:GetCallerIdentity"), "{calls:?}");
    let writes: Vec<&String> = calls.keys().filter(|op| !is_read(op)).collect();
    assert!(
        writes.is_empty(),
        "a plan sent mutating requests: {writes:?}"
    );
    // a --family no image has is named, with the families there are
    ami_builder(&m.url)
        .args(["prune", "--regions", "us-east-1", "--family", "app,ap"])
        .assert()
        .success()
        .stderr(predicates::str::contains(
            "--family ap: no image in us-east-1 has it (the families there are ",
        ))
        .stderr(predicates::str::contains("--family app").not());
    // --quiet: no progress lines
    ami_builder(&m.url)
        .args(["--quiet", "prune", "--regions", "us-east-1"])
        .assert()
        .success()
        .stderr(predicates::str::contains("listing images").not());
    // --dry-run is that plan, under the AWS CLI's name
    let dry = plan_json(&m.url, &["--dry-run"]);
    assert_eq!(dry["applied"], false);
    assert_eq!(dry["plan"]["items"], plan["plan"]["items"]);
    let calls = dry["api_calls"].as_object().expect("api_calls");
    assert!(calls.keys().all(|op| is_read(op)), "{calls:?}");
    // the same counter sees an apply's writes
    let out = ami_builder(&m.url)
        .args([
            "--output",
            "json",
            "prune",
            "--in-region",
            "us-east-1",
            "--keep",
            "2",
            "--apply",
        ])
        .assert()
        .success()
        .get_output()
        .clone();
    let applied: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    // stderr is not a terminal here: progress comes as plain lines, a
    // start and an end (and one every 10 s between), results stay on stdout;
    // deletions start while the plan is still completed, so the start line
    // names no total
    let deleted = applied["results"].as_array().expect("results").len();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ami-builder: deleting the planned images and snapshots...\n"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "ami-builder: deleting the planned images and snapshots: {deleted}/{deleted} done"
        )),
        "{err}"
    );
    assert!(
        err.contains(
            "ami-builder: listing images, snapshots and their users, region by region: 1/1 done"
        ),
        "{err}"
    );
    let calls = applied["api_calls"].as_object().expect("api_calls");
    assert!(calls.contains_key("ec2:DeregisterImage"), "{calls:?}");
    assert!(
        calls.contains_key("ec2:DeregisterImage (dry run)"),
        "{calls:?}"
    );
    assert!(calls.keys().any(|op| !is_read(op)));
}

/// Three builds of family "pipe" in us-east-1, expired at once, oldest first.
fn three_builds(url: &str) -> Vec<String> {
    let c = ec2(url, "us-east-1");
    block_on(async {
        let mut ids = Vec::new();
        for name in ["pipe-1", "pipe-2", "pipe-3"] {
            let (id, _) = image(
                &c,
                name,
                &[
                    ("ami-builder:family", "pipe"),
                    ("scheduler:ebs-snapshot", "0900;0"),
                ],
            )
            .await;
            ids.push(id);
            // builds are ranked by creation, which EC2 gives to the second
            tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        }
        ids
    })
}

/// Deletions start while prune still reads: the sharing read of the oldest
/// build is held until a deregistration arrives, which only a run that
/// deletes what is already settled sends (one that reads everything first
/// waits out the hold, and the test fails on it).
#[test]
fn deletions_start_while_the_older_builds_are_still_read() {
    let m = moto();
    let ids = three_builds(&m.url);
    let (oldest, middle, newest) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    let held = oldest.clone();
    let (url, state) = crate::harness::holding_proxy(
        &m.url,
        move |body| body.contains("Action=DescribeImageAttribute") && body.contains(&held),
        |body| body.contains("Action=DeregisterImage") && !body.contains("DryRun=true"),
    );
    let out = ami_builder(&url)
        .args([
            "--output",
            "json",
            "prune",
            "--in-region",
            "us-east-1",
            "--family",
            "pipe",
            "--keep",
            "1",
            "--apply",
        ])
        .assert()
        .success()
        .get_output()
        .clone();
    {
        let held = state.0.lock().unwrap_or_else(|e| e.into_inner());
        assert!(
            held.released && !held.timed_out,
            "the oldest build's sharing read was let through by a deregistration: {held:?}"
        );
    }
    // and what was done is the final plan's: both older builds, nothing else
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let mut deleted: Vec<String> = report["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["kind"] == "image")
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect();
    deleted.sort();
    let mut expected = vec![oldest, middle];
    expected.sort();
    assert_eq!(deleted, expected);
    let left: Vec<String> = own_images(&m.url, "us-east-1")
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    assert!(left.contains(&newest), "{left:?}");
    assert!(!left.iter().any(|i| expected.contains(i)), "{left:?}");
}

/// `--timeout` running out while a read is still held, after a settled
/// deletion began: that deletion is printed and recorded in the report
/// file, and the run still fails with the timeout.
#[test]
fn a_timeout_after_deletions_began_records_them_and_fails() {
    let m = moto();
    let ids = three_builds(&m.url);
    let (oldest, middle) = (ids[0].clone(), ids[1].clone());
    let held = oldest.clone();
    // nothing releases the oldest build's read before the timeout
    let (url, _) = crate::harness::holding_proxy(
        &m.url,
        move |body| body.contains("Action=DescribeImageAttribute") && body.contains(&held),
        |_| false,
    );
    let dir = tempfile::tempdir().expect("tmp");
    let report = dir.path().join("report.json");
    let out = ami_builder(&url)
        .args(["--timeout", "8s", "--output", "json", "prune"])
        .args([
            "--in-region",
            "us-east-1",
            "--family",
            "pipe",
            "--keep",
            "1",
        ])
        .args(["--apply", "--report-file"])
        .arg(&report)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did not finish within --timeout"), "{err}");
    assert!(err.contains("recorded in"), "{err}");
    let recorded: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("the report file"))
            .expect("json");
    let deleted: Vec<&str> = recorded["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["kind"] == "image" && r["outcome"] == "deleted")
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert_eq!(deleted, [middle.as_str()], "{recorded}");
    let left: Vec<String> = own_images(&m.url, "us-east-1")
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    assert!(left.contains(&oldest), "the unread one is kept: {left:?}");
}
