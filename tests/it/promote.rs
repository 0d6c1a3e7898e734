//! `promote`, `channels`, `revoke` and prune's channel protection against
//! moto (with tests/moto_ext): two regions, two channels, the SSM parameter
//! history, launch-template versions, events delivered to SQS, refusals and
//! a failure after the first region that a re-run finishes.

use predicates::prelude::*;

use crate::harness::{ami_builder, block_on, drain_queue, ec2, moto, queue_for_pattern, read_json};

const FAMILY: &str = "web";
const PARAM: &str = "/ami-builder/web/dev";

/// One build: an image in us-east-1 and its copy in us-west-2, tagged as
/// `ami-builder build` tags them.
pub struct Build {
    pub east: String,
    pub west: String,
    pub commit: String,
}

fn tag(k: &str, v: &str) -> aws_sdk_ec2::types::Tag {
    aws_sdk_ec2::types::Tag::builder().key(k).value(v).build()
}

fn register(url: &str, region: &str, name: &str, tags: &[(&str, &str)]) -> String {
    let c = ec2(url, region);
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
        if !tags.is_empty() {
            c.create_tags()
                .resources(&id)
                .set_tags(Some(tags.iter().map(|(k, v)| tag(k, v)).collect()))
                .send()
                .await
                .expect("tags");
        }
        id
    })
}

pub fn build(url: &str, n: u32) -> Build {
    let commit = format!("{n:040x}");
    let name = format!("web-{n}");
    let common = [
        ("ami-builder:commit", commit.as_str()),
        ("ami-builder:family", FAMILY),
    ];
    let east = register(url, "us-east-1", &name, &common);
    let source = format!("us-east-1:{east}");
    let mut copy_tags = common.to_vec();
    copy_tags.push(("ami-builder:source-image", &source));
    let west = register(url, "us-west-2", &name, &copy_tags);
    Build { east, west, commit }
}

pub fn amis(b: &Build) -> String {
    format!("us-east-1:{},us-west-2:{}", b.east, b.west)
}

fn param(url: &str, region: &str, name: &str) -> Option<String> {
    let ssm = aws_sdk_ssm_client(url, region);
    block_on(ssm.get_parameter().name(name).send())
        .ok()
        .and_then(|o| o.parameter().and_then(|p| p.value()).map(str::to_string))
}

fn history(url: &str, region: &str, name: &str) -> Vec<(i64, String, Vec<String>)> {
    let ssm = aws_sdk_ssm_client(url, region);
    let out = block_on(
        ssm.get_parameter_history()
            .name(name)
            .max_results(50)
            .send(),
    )
    .expect("history");
    out.parameters()
        .iter()
        .map(|p| {
            (
                p.version(),
                p.value().unwrap_or_default().to_string(),
                p.labels().to_vec(),
            )
        })
        .collect()
}

fn aws_sdk_ssm_client(url: &str, region: &str) -> aws_sdk_ssm::Client {
    let conf = aws_sdk_ssm::config::Builder::from(&crate::harness::sdk_conf(url, region)).build();
    aws_sdk_ssm::Client::from_conf(conf)
}

fn json_of(out: &assert_cmd::assert::Assert) -> serde_json::Value {
    serde_json::from_slice(&out.get_output().stdout).expect("json result")
}

fn statuses(v: &serde_json::Value) -> Vec<(String, String)> {
    v["regions"]
        .as_array()
        .expect("regions")
        .iter()
        .map(|r| {
            (
                r["region"].as_str().unwrap_or_default().to_string(),
                r["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn promote_requires_soak_rollback_channels_and_the_parameter_history() {
    let m = moto();
    let url = &m.url;
    let b1 = build(url, 1);
    let b2 = build(url, 2);
    let q = queue_for_pattern(
        url,
        "default",
        r#"{"source":["com.ami.builder"],"detail":{"AmiStatus":["Promoted","RolledBack"]}}"#,
    );

    // b1 to dev, in both regions
    let out = ami_builder(url)
        .args([
            "--output",
            "json",
            "promote",
            "--channel",
            "dev",
            "--ami",
            &amis(&b1),
        ])
        .assert()
        .success();
    let v = json_of(&out);
    assert_eq!(
        statuses(&v),
        [
            ("us-east-1".into(), "changed".into()),
            ("us-west-2".into(), "changed".into())
        ]
    );
    assert_eq!(v["parameter"], PARAM);
    assert_eq!(
        param(url, "us-east-1", PARAM).as_deref(),
        Some(b1.east.as_str())
    );
    assert_eq!(
        param(url, "us-west-2", PARAM).as_deref(),
        Some(b1.west.as_str())
    );
    let h = history(url, "us-east-1", PARAM);
    assert_eq!(h.len(), 1);
    assert_eq!(
        h[0].2,
        vec![format!("commit-{}", b1.commit)],
        "labelled with the commit"
    );

    // the same promotion again changes nothing (no new version)
    let out = ami_builder(url)
        .args([
            "--output",
            "json",
            "promote",
            "--channel",
            "dev",
            "--ami",
            &amis(&b1),
        ])
        .assert()
        .success();
    assert_eq!(statuses(&json_of(&out))[0].1, "unchanged");
    assert_eq!(history(url, "us-east-1", PARAM).len(), 1);

    // prod requires dev: b2 was never there; b1 was, but not for a day
    ami_builder(url)
        .args([
            "promote",
            "--channel",
            "prod",
            "--requires",
            "dev",
            "--ami",
            &amis(&b2),
        ])
        .assert()
        .code(10)
        .stderr(predicate::str::contains(format!(
            "commit {} was never in channel dev in us-east-1",
            b2.commit
        )));
    ami_builder(url)
        .args([
            "promote",
            "--channel",
            "prod",
            "--requires",
            "dev",
            "--soak",
            "24h",
        ])
        .args(["--ami", &amis(&b1)])
        .assert()
        .code(10)
        .stderr(predicate::str::contains("less than --soak 1d 0h"));
    assert_eq!(
        param(url, "us-east-1", "/ami-builder/web/prod"),
        None,
        "nothing changed"
    );
    ami_builder(url)
        .args([
            "promote",
            "--channel",
            "prod",
            "--requires",
            "dev",
            "--ami",
            &amis(&b1),
        ])
        .assert()
        .success();
    assert_eq!(
        param(url, "us-west-2", "/ami-builder/web/prod").as_deref(),
        Some(b1.west.as_str())
    );

    // b2 to dev; channels shows it with b1 as the previous value
    ami_builder(url)
        .args(["promote", "--channel", "dev", "--ami", &amis(&b2)])
        .assert()
        .success();
    let out = ami_builder(url)
        .args([
            "--output",
            "json",
            "channels",
            "--regions",
            "us-east-1,us-west-2",
        ])
        .assert()
        .success();
    let rows = json_of(&out)["channels"].as_array().expect("rows").clone();
    let dev_west = rows
        .iter()
        .find(|r| r["channel"] == "dev" && r["region"] == "us-west-2")
        .expect("dev in us-west-2");
    assert_eq!(dev_west["ami"], b2.west.as_str());
    assert_eq!(dev_west["previous"], b1.west.as_str());
    assert_eq!(dev_west["commit"], b2.commit.as_str());
    assert_eq!(rows.len(), 4, "dev and prod in two regions: {rows:?}");
    ami_builder(url)
        .args(["channels", "--family", "web"])
        .assert()
        .success()
        .stdout(predicate::str::contains("FAMILY"))
        .stdout(predicate::str::contains(&b2.east));

    // rollback: dev back to b1 in both regions, a third version
    let out = ami_builder(url)
        .args([
            "--output",
            "json",
            "promote",
            "--rollback",
            "--channel",
            "dev",
        ])
        .args(["--family", "web", "--regions", "us-east-1,us-west-2"])
        .assert()
        .success();
    assert_eq!(json_of(&out)["action"], "rollback");
    assert_eq!(
        param(url, "us-east-1", PARAM).as_deref(),
        Some(b1.east.as_str())
    );
    assert_eq!(
        param(url, "us-west-2", PARAM).as_deref(),
        Some(b1.west.as_str())
    );
    let values: Vec<String> = history(url, "us-east-1", PARAM)
        .into_iter()
        .map(|h| h.1)
        .collect();
    assert_eq!(values, [b1.east.clone(), b2.east.clone(), b1.east.clone()]);

    // the events, as delivered
    let events = drain_queue(url, &q);
    let kinds: Vec<&str> = events
        .iter()
        .filter_map(|e| e["detail"]["AmiStatus"].as_str())
        .collect();
    assert_eq!(
        kinds,
        ["Promoted", "Promoted", "Promoted", "RolledBack"],
        "{events:?}"
    );
    let rolled = &events[3]["detail"];
    assert_eq!(rolled["Channel"], "dev");
    assert_eq!(rolled["Amis"]["us-west-2"], b1.west.as_str());
    assert_eq!(rolled["PreviousAmis"]["us-west-2"], b2.west.as_str());
}

#[test]
fn unfit_images_missing_regions_and_bad_names_are_refused_before_any_change() {
    let m = moto();
    let url = &m.url;
    let b1 = build(url, 1);
    let untagged = register(url, "us-east-1", "hand-made", &[]);
    ami_builder(url)
        .args(["promote", "--channel", "dev", "--family", "web"])
        .args(["--ami", &format!("us-east-1:{untagged}")])
        .assert()
        .code(10)
        .stderr(predicate::str::contains(
            "carries no ami-builder provenance",
        ));
    ami_builder(url)
        .args([
            "promote",
            "--channel",
            "dev",
            "--ami",
            "us-east-1:ami-0fffffffffffffff0",
        ])
        .args(["--family", "web"])
        .assert()
        .code(10)
        .stderr(predicate::str::contains("does not exist"));
    // the emulator's base image is another account's
    ami_builder(url)
        .args(["promote", "--channel", "dev", "--family", "web"])
        .args(["--ami", "us-east-1:ami-0123456789abcdef0"])
        .assert()
        .code(10)
        .stderr(predicate::str::contains("is not owned by this account"));
    ami_builder(url)
        .args(["promote", "--channel", "de v", "--ami", &amis(&b1)])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("SSM does not accept"));
    // a deprecated image (EnableImageDeprecation, in tests/moto_ext)
    let c = ec2(url, "us-west-2");
    let soon = chrono::Utc::now() + chrono::Duration::seconds(70);
    block_on(
        c.enable_image_deprecation()
            .image_id(&b1.west)
            .deprecate_at(aws_smithy_types::DateTime::from_secs(soon.timestamp()))
            .send(),
    )
    .expect("deprecate");
    ami_builder(url)
        .args(["promote", "--channel", "dev", "--ami", &amis(&b1)])
        .assert()
        .success();
    // dev is in two regions now: a promotion of one region only would leave
    // the other behind
    let b2 = build(url, 2);
    ami_builder(url)
        .args([
            "promote",
            "--channel",
            "dev",
            "--ami",
            &format!("us-east-1:{}", b2.east),
        ])
        .assert()
        .code(10)
        .stderr(predicate::str::contains("also set in us-west-2"));
    assert_eq!(
        param(url, "us-east-1", PARAM).as_deref(),
        Some(b1.east.as_str())
    );
}

#[test]
fn a_failure_after_the_first_region_is_reported_and_a_rerun_converges() {
    let m = moto();
    let url = &m.url;
    let b1 = build(url, 1);
    // us-west-2's parameter is at SSM's 100 versions with its oldest
    // labelled: the next PutParameter fails (ParameterMaxVersionLimitExceeded)
    let ssm = aws_sdk_ssm_client(url, "us-west-2");
    block_on(async {
        for _ in 0..100 {
            ssm.put_parameter()
                .name(PARAM)
                .value(&b1.west)
                .r#type(aws_sdk_ssm::types::ParameterType::String)
                .data_type("aws:ec2:image")
                .overwrite(true)
                .send()
                .await
                .expect("put");
        }
        ssm.label_parameter_version()
            .name(PARAM)
            .parameter_version(1)
            .labels("pinned")
            .send()
            .await
            .expect("label");
    });
    let b2 = build(url, 2);
    let out = ami_builder(url)
        .args([
            "--output",
            "json",
            "promote",
            "--channel",
            "dev",
            "--ami",
            &amis(&b2),
        ])
        .assert()
        .code(11)
        .stderr(predicate::str::contains("run the same command again"));
    let v = json_of(&out);
    assert_eq!(
        statuses(&v),
        [
            ("us-east-1".into(), "changed".into()),
            ("us-west-2".into(), "failed".into())
        ]
    );
    assert_eq!(
        param(url, "us-east-1", PARAM).as_deref(),
        Some(b2.east.as_str())
    );
    assert_eq!(
        param(url, "us-west-2", PARAM).as_deref(),
        Some(b1.west.as_str())
    );
    block_on(
        ssm.unlabel_parameter_version()
            .name(PARAM)
            .parameter_version(1)
            .labels("pinned")
            .send(),
    )
    .expect("unlabel");
    let out = ami_builder(url)
        .args([
            "--output",
            "json",
            "promote",
            "--channel",
            "dev",
            "--ami",
            &amis(&b2),
        ])
        .assert()
        .success();
    assert_eq!(
        statuses(&json_of(&out)),
        [
            ("us-east-1".into(), "unchanged".into()),
            ("us-west-2".into(), "changed".into())
        ]
    );
    assert_eq!(
        param(url, "us-west-2", PARAM).as_deref(),
        Some(b2.west.as_str())
    );
}

#[test]
fn launch_templates_get_a_new_default_version_with_only_the_image_changed() {
    let m = moto();
    let url = &m.url;
    let b1 = build(url, 1);
    let c = ec2(url, "us-east-1");
    block_on(
        c.create_launch_template()
            .launch_template_name("web-fleet")
            .launch_template_data(
                aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                    .image_id("ami-0123456789abcdef0")
                    .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
                    .build(),
            )
            .send(),
    )
    .expect("template");
    let out = ami_builder(url)
        .args([
            "--output",
            "json",
            "promote",
            "--channel",
            "dev",
            "--ami",
            &amis(&b1),
        ])
        .args(["--launch-template", "web-fleet"])
        .assert()
        .success();
    let v = json_of(&out);
    assert_eq!(v["launch_templates"][0]["status"], "created");
    assert_eq!(v["launch_templates"][0]["version"], 2);
    let d = block_on(
        c.describe_launch_template_versions()
            .launch_template_name("web-fleet")
            .versions("$Default")
            .send(),
    )
    .expect("versions");
    let data = d.launch_template_versions()[0]
        .launch_template_data()
        .expect("data");
    assert_eq!(data.image_id(), Some(b1.east.as_str()));
    assert_eq!(
        data.instance_type(),
        Some(&aws_sdk_ec2::types::InstanceType::T3Micro),
        "everything but the image is the previous default's"
    );
    // a template that does not exist refuses the promotion before any change
    let b2 = build(url, 2);
    ami_builder(url)
        .args(["promote", "--channel", "dev", "--ami", &amis(&b2)])
        .args(["--launch-template", "nope"])
        .assert()
        .code(10)
        .stderr(predicate::str::contains(
            "no launch template nope in us-east-1",
        ));
    assert_eq!(
        param(url, "us-east-1", PARAM).as_deref(),
        Some(b1.east.as_str())
    );
}

/// A launch template in `region` tagged `tags`; its id.
fn template(url: &str, region: &str, name: &str, tags: &[(&str, &str)]) -> String {
    let c = ec2(url, region);
    let mut req = c
        .create_launch_template()
        .launch_template_name(name)
        .launch_template_data(
            aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                .image_id("ami-0123456789abcdef0")
                .build(),
        );
    if !tags.is_empty() {
        req = req.tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::LaunchTemplate)
                .set_tags(Some(tags.iter().map(|(k, v)| tag(k, v)).collect()))
                .build(),
        );
    }
    block_on(req.send())
        .expect("template")
        .launch_template()
        .and_then(|t| t.launch_template_id())
        .expect("id")
        .to_string()
}

/// The default version of template `id` in `region`: (number, image).
fn default_of(url: &str, region: &str, id: &str) -> (i64, String) {
    let d = block_on(
        ec2(url, region)
            .describe_launch_template_versions()
            .launch_template_id(id)
            .versions("$Default")
            .send(),
    )
    .expect("versions");
    let v = &d.launch_template_versions()[0];
    (
        v.version_number().unwrap_or_default(),
        v.launch_template_data()
            .and_then(|d| d.image_id())
            .unwrap_or_default()
            .to_string(),
    )
}

fn names(v: &serde_json::Value, list: &str, key: &str) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = v[list]
        .as_array()
        .expect(list)
        .iter()
        .map(|t| {
            (
                t["region"].as_str().unwrap_or_default().to_string(),
                t[key].as_str().unwrap_or_default().to_string(),
                t["selected_by"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn opted_in_templates_and_groups_follow_their_own_channel_only() {
    let m = moto();
    let url = &m.url;
    let b1 = build(url, 1);
    let b2 = build(url, 2);
    let opt = "ami-builder:promote";
    let ch = "ami-builder:channel";
    let dev = template(url, "us-east-1", "dev-fleet", &[(opt, FAMILY), (ch, "dev")]);
    let west = template(url, "us-west-2", "dev-west", &[(opt, FAMILY), (ch, "dev")]);
    let prod = template(
        url,
        "us-east-1",
        "prod-fleet",
        &[(opt, FAMILY), (ch, "prod")],
    );
    let vague = template(url, "us-east-1", "vague-fleet", &[(opt, FAMILY)]);
    let other = template(url, "us-east-1", "api-fleet", &[(opt, "api"), (ch, "dev")]);
    let plain = template(url, "us-east-1", "plain-fleet", &[]);
    let asg = crate::harness::autoscaling(url, "us-east-1");
    for (name, channel) in [("dev-asg", "dev"), ("prod-asg", "prod")] {
        block_on(
            asg.create_auto_scaling_group()
                .auto_scaling_group_name(name)
                .launch_template(
                    aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                        .launch_template_id(&dev)
                        .build(),
                )
                .availability_zones("us-east-1a")
                .min_size(0)
                .max_size(1)
                .desired_capacity(0)
                .tags(
                    aws_sdk_autoscaling::types::Tag::builder()
                        .key(opt)
                        .value(FAMILY)
                        .build(),
                )
                .tags(
                    aws_sdk_autoscaling::types::Tag::builder()
                        .key(ch)
                        .value(channel)
                        .build(),
                )
                .send(),
        )
        .expect("group");
    }
    let promote = |b: &Build, extra: &[&str]| {
        let mut c = ami_builder(url);
        c.args(["--output", "json", "promote", "--channel", "dev", "--ami"])
            .arg(amis(b))
            .args(extra);
        c
    };
    // what a promotion would change: the dev templates in both regions, the
    // dev group; the one named too; not prod's, not another family's
    let out = promote(&b1, &["--dry-run", "--launch-template", "plain-fleet"])
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "launch template vague-fleet ({vague}) in us-east-1 carries {opt}={FAMILY} but no {ch} tag: left alone"
        )));
    let v = json_of(&out);
    let t = |r: &str, n: &str, by: &str| (r.to_string(), n.to_string(), by.to_string());
    assert_eq!(
        names(&v, "launch_templates", "launch_template_name"),
        [
            t("us-east-1", "dev-fleet", "opted-in"),
            t("us-east-1", "plain-fleet", "named"),
            t("us-west-2", "dev-west", "opted-in"),
        ],
        "{v}"
    );
    assert_eq!(
        names(&v, "refreshes", "group"),
        [t("us-east-1", "dev-asg", "opted-in")],
        "{v}"
    );
    // --named-only: the channel, nothing opted in
    let out = promote(&b1, &["--named-only"]).assert().success();
    assert_eq!(json_of(&out)["launch_templates"], serde_json::json!([]));
    assert_eq!(default_of(url, "us-east-1", &dev).0, 1);
    // a real promotion changes the dev templates; moto has no instance
    // refresh, so starting the dev group's fails: the run says what was
    // done and what was not, exit 11
    let out = promote(&b2, &[])
        .assert()
        .code(11)
        .stderr(predicate::str::contains(
            "starting a refresh of dev-asg in us-east-1",
        ));
    let v = json_of(&out);
    assert_eq!(v["refreshes"][0]["status"], "failed", "{v}");
    assert_eq!(default_of(url, "us-east-1", &dev), (2, b2.east.clone()));
    assert_eq!(default_of(url, "us-west-2", &west), (2, b2.west.clone()));
    for id in [&prod, &vague, &other, &plain] {
        assert_eq!(default_of(url, "us-east-1", id).0, 1, "{id} left alone");
    }
    // a revocation's rollback takes the opted-in templates back with the
    // channel (and starts no refresh)
    ami_builder(url)
        .args(["revoke", &format!("us-east-1:{}", b2.east)])
        .args(["--reason", "bad", "--regions", "us-west-2"])
        .assert()
        .success();
    assert_eq!(default_of(url, "us-east-1", &dev), (3, b1.east.clone()));
    assert_eq!(default_of(url, "us-west-2", &west), (3, b1.west.clone()));
    assert_eq!(default_of(url, "us-east-1", &prod).0, 1);
}

#[test]
fn a_refresh_outside_the_promotions_regions_is_refused_and_a_dry_run_would_start_it() {
    let m = moto();
    let url = &m.url;
    let b1 = build(url, 1);
    ami_builder(url)
        .args([
            "promote",
            "--channel",
            "dev",
            "--ami",
            &format!("us-east-1:{}", b1.east),
        ])
        .args(["--refresh", "eu-west-1:web-asg"])
        .assert()
        .code(10)
        .stderr(predicate::str::contains(
            "Auto Scaling group web-asg is in eu-west-1, where this promotion has no AMI",
        ));
    assert_eq!(param(url, "us-east-1", PARAM), None, "nothing changed");
    let out = ami_builder(url)
        .args([
            "--output",
            "json",
            "promote",
            "--channel",
            "dev",
            "--dry-run",
        ])
        .args(["--ami", &amis(&b1), "--refresh", "web-asg", "--wait"])
        .assert()
        .success();
    let v = json_of(&out);
    assert_eq!(v["refreshes"][0]["status"], "would-start", "{v}");
    assert_eq!(v["refreshes"][0]["region"], "us-east-1", "{v}");
    assert_eq!(
        param(url, "us-east-1", PARAM),
        None,
        "a dry run changes nothing"
    );
}

#[test]
fn revoke_tags_deprecates_rolls_back_and_refuses_later_promotion() {
    let m = moto();
    let url = &m.url;
    let b1 = build(url, 1);
    let b2 = build(url, 2);
    for b in [&b1, &b2] {
        ami_builder(url)
            .args(["promote", "--channel", "dev", "--ami", &amis(b)])
            .assert()
            .success();
    }
    let q = queue_for_pattern(
        url,
        "default",
        r#"{"source":["com.ami.builder"],"detail":{"AmiStatus":["Revoked","RolledBack"]}}"#,
    );
    // naming the build-region image revokes its copy too
    let out = ami_builder(url)
        .args([
            "--output",
            "json",
            "revoke",
            &format!("us-east-1:{}", b2.east),
        ])
        .args(["--reason", "CVE-2026-0001", "--regions", "us-west-2"])
        .assert()
        .success();
    let v = json_of(&out);
    assert_eq!(v["images"].as_array().map(Vec::len), Some(2), "{v}");
    for (region, id) in [("us-east-1", &b2.east), ("us-west-2", &b2.west)] {
        let t = crate::harness::tags_of(url, region, id);
        assert_eq!(
            t.get("ami-builder:revoked").map(String::as_str),
            Some("CVE-2026-0001")
        );
        let d = block_on(ec2(url, region).describe_images().image_ids(id).send()).expect("d");
        assert!(
            d.images()[0].deprecation_time().is_some(),
            "{region} deprecated"
        );
    }
    assert_eq!(
        param(url, "us-east-1", PARAM).as_deref(),
        Some(b1.east.as_str())
    );
    assert_eq!(
        param(url, "us-west-2", PARAM).as_deref(),
        Some(b1.west.as_str())
    );
    let kinds: Vec<String> = drain_queue(url, &q)
        .iter()
        .filter_map(|e| e["detail"]["AmiStatus"].as_str().map(str::to_string))
        .collect();
    assert_eq!(kinds, ["RolledBack", "Revoked"]);
    ami_builder(url)
        .args(["promote", "--channel", "dev", "--ami", &amis(&b2)])
        .assert()
        .code(10)
        .stderr(predicate::str::contains(
            "is revoked (ami-builder:revoked: CVE-2026-0001)",
        ));
}

#[test]
fn revoke_without_regions_searches_every_region_of_the_account() {
    let m = moto();
    let url = &m.url;
    let b1 = build(url, 1);
    let b2 = build(url, 2);
    for b in [&b1, &b2] {
        ami_builder(url)
            .args(["promote", "--channel", "dev", "--ami", &amis(b)])
            .assert()
            .success();
    }
    // only the build-region image named, no --regions: the copy in
    // us-west-2 and the channel there are found all the same
    ami_builder(url)
        .args(["revoke", &format!("us-east-1:{}", b2.east)])
        .args(["--reason", "CVE-2026-0003"])
        .assert()
        .success();
    let t = crate::harness::tags_of(url, "us-west-2", &b2.west);
    assert_eq!(
        t.get("ami-builder:revoked").map(String::as_str),
        Some("CVE-2026-0003"),
        "the copy is revoked: {t:?}"
    );
    assert_eq!(
        param(url, "us-west-2", PARAM).as_deref(),
        Some(b1.west.as_str()),
        "the channel in us-west-2 is rolled back"
    );
}

#[test]
fn revoke_takes_as_copies_only_this_accounts_images_of_the_same_commit() {
    let m = moto();
    let url = &m.url;
    let b1 = build(url, 1);
    // an unrelated image that claims, by its tag, to be a copy of b1
    let source = format!("us-east-1:{}", b1.east);
    let decoy = register(
        url,
        "us-west-2",
        "unrelated",
        &[
            ("ami-builder:commit", &"f".repeat(40)),
            ("ami-builder:family", "other"),
            ("ami-builder:source-image", &source),
        ],
    );
    ami_builder(url)
        .args([
            "revoke",
            &source,
            "--reason",
            "CVE-2026-0002",
            "--regions",
            "us-west-2",
        ])
        .assert()
        .code(11)
        .stderr(predicate::str::contains(format!(
            "{decoy} in us-west-2 names {source} as its source but is not of its build"
        )));
    let t = crate::harness::tags_of(url, "us-west-2", &decoy);
    assert!(
        !t.contains_key("ami-builder:revoked"),
        "the decoy is left alone: {t:?}"
    );
    let t = crate::harness::tags_of(url, "us-west-2", &b1.west);
    assert_eq!(
        t.get("ami-builder:revoked").map(String::as_str),
        Some("CVE-2026-0002"),
        "the real copy is revoked"
    );
}

#[test]
fn prune_keeps_each_channels_ami_and_the_one_before_it() {
    let m = moto();
    let url = &m.url;
    let builds: Vec<Build> = (1..=3).map(|n| build(url, n)).collect();
    for b in &builds {
        ami_builder(url)
            .args(["promote", "--channel", "dev", "--ami", &amis(b)])
            .assert()
            .success();
    }
    let dir = tempfile::tempdir().expect("tmp");
    let plan = dir.path().join("plan.json");
    ami_builder(url)
        .args(["prune", "--regions", "us-east-1,us-west-2", "--keep", "0"])
        .args(["--default-retention-days", "0", "--plan-out"])
        .arg(&plan)
        .assert()
        .success();
    let p = read_json(&plan);
    let items = p["items"].as_array().expect("items");
    let action_of = |id: &str| {
        items
            .iter()
            .find(|i| i["id"] == id)
            .map(|i| (i["action"].to_string(), i["reason"].to_string()))
            .unwrap_or_default()
    };
    let (a3, r3) = action_of(&builds[2].east);
    assert!(
        a3.contains("keep") && r3.contains("channel /ami-builder/web/dev"),
        "{a3} {r3}"
    );
    let (a2, r2) = action_of(&builds[1].west);
    assert!(
        a2.contains("keep") && r2.contains("kept for rollback"),
        "{a2} {r2}"
    );
    let (a1, _) = action_of(&builds[0].east);
    assert!(
        a1.contains("delete") || a1.contains("deregister"),
        "b1 is not protected: {a1}"
    );
}
