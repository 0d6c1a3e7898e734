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
