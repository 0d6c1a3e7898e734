//! Other accounts: sharing a build with accounts and organizational units,
//! the account of every image in artifacts.json and the event, and the
//! event on a bus in another account. Three accounts of one moto server:
//! the tooling account (moto's default, 123456789012, where ami-builder
//! runs) and workload accounts reached through STS `AssumeRole`
//! ([`in_account`]).

use predicates::prelude::*;

use crate::harness::{
    ami_builder, block_on, build_in_moto, drain_queue, in_account, moto, offline,
    queue_for_pattern, queue_for_pattern_in, read_json, sdk_conf, SAMPLE_PATTERN,
};

const TOOLING: &str = "123456789012";
const WORKLOAD: &str = "222222222222";
const STRANGER: &str = "333333333333";
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// An organization run from the tooling account, an OU `workloads` under
/// its root, and a new member account moved into it: (OU ARN, member id).
fn organization_with_a_workload_ou(url: &str) -> (String, String) {
    let org = aws_sdk_organizations::Client::new(&sdk_conf(url, "us-east-1"));
    block_on(async {
        org.create_organization()
            .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
            .send()
            .await
            .expect("organization");
        let roots = org.list_roots().send().await.expect("roots");
        let root = roots.roots()[0].id().expect("root id").to_string();
        let ou = org
            .create_organizational_unit()
            .parent_id(&root)
            .name("workloads")
            .send()
            .await
            .expect("ou");
        let ou = ou.organizational_unit().expect("ou");
        let member = crate::harness::create_accounts(&org, &["member"])
            .await
            .remove(0);
        org.move_account()
            .account_id(&member)
            .source_parent_id(&root)
            .destination_parent_id(ou.id().expect("ou id"))
            .send()
            .await
            .expect("move");
        (ou.arn().expect("ou arn").to_string(), member)
    })
}

/// The images of `ids` that `account` can see in `region`.
fn visible_to(url: &str, account: &str, region: &str, ids: &[&str]) -> Vec<(String, String)> {
    let ec2 = aws_sdk_ec2::Client::new(&in_account(url, account, region));
    let mut seen = Vec::new();
    for id in ids {
        // an image this account may not launch is InvalidAMIID.NotFound
        if let Ok(out) = block_on(ec2.describe_images().image_ids(*id).send()) {
            for i in out.images() {
                seen.push((
                    i.image_id().unwrap_or_default().to_string(),
                    i.owner_id().unwrap_or_default().to_string(),
                ));
            }
        }
    }
    seen
}

#[test]
fn a_build_shared_with_an_account_and_an_ou_is_launchable_there_and_nowhere_else() {
    let m = moto();
    let (ou, member) = organization_with_a_workload_ou(&m.url);
    let q = queue_for_pattern(&m.url, "default", SAMPLE_PATTERN);
    let out = tempfile::tempdir().expect("tmp");
    build_in_moto(&m.url, "multi-region.pkr.hcl", out.path())
        .args(["--quiet", "--commit", SHA])
        .args(["--var", r#"copy_regions=["us-west-2"]"#])
        .args(["--share-with", &format!("{WORKLOAD},{ou}")])
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "launch permission for {WORKLOAD}, {ou}"
        )));
    let rec = read_json(&out.path().join("artifacts.json"));
    let arts = rec["artifacts"].as_array().expect("artifacts");
    assert_eq!(arts.len(), 2, "{rec}");
    for a in arts {
        assert_eq!(a["account"], TOOLING, "every image names its owner: {a}");
    }
    let id_in = |region: &str| {
        arts.iter()
            .find(|a| a["region"] == region)
            .and_then(|a| a["ami_id"].as_str())
            .expect("image")
            .to_string()
    };
    let (east, west) = (id_in("us-east-1"), id_in("us-west-2"));

    for consumer in [WORKLOAD, member.as_str()] {
        for (region, id) in [("us-east-1", &east), ("us-west-2", &west)] {
            assert_eq!(
                visible_to(&m.url, consumer, region, &[id]),
                [(id.clone(), TOOLING.to_string())],
                "{consumer} may launch {region} {id} (the copy too)"
            );
        }
    }
    assert_eq!(
        visible_to(&m.url, STRANGER, "us-east-1", &[&east]),
        [],
        "an account neither named nor in the OU sees nothing"
    );

    // what EC2 holds, as the owner reads it
    let owner = aws_sdk_ec2::Client::new(&sdk_conf(&m.url, "us-east-1"));
    let attr = block_on(
        owner
            .describe_image_attribute()
            .image_id(&east)
            .attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission)
            .send(),
    )
    .expect("attribute");
    let perms = attr.launch_permissions();
    assert!(
        perms.iter().any(|p| p.user_id() == Some(WORKLOAD)),
        "{perms:?}"
    );
    assert!(
        perms
            .iter()
            .any(|p| p.organizational_unit_arn() == Some(ou.as_str())),
        "{perms:?}"
    );
    assert!(
        perms.iter().all(|p| p.group().is_none()),
        "never public: {perms:?}"
    );

    let events = drain_queue(&m.url, &q);
    assert_eq!(events.len(), 1, "{events:?}");
    let d = &events[0]["detail"];
    assert_eq!(d["Account"], TOOLING, "{d}");
    let images = d["Images"].as_array().expect("Images");
    assert_eq!(images.len(), 2, "{d}");
    assert!(images.iter().any(|i| i["ImageId"] == east.as_str()
        && i["Account"] == TOOLING
        && i["Region"] == "us-east-1"));
    assert!(images.iter().any(|i| i["ImageId"] == west.as_str()));
}

#[test]
fn tag_lets_the_accounts_that_copy_read_the_snapshots() {
    let m = moto();
    let owner = aws_sdk_ec2::Client::new(&sdk_conf(&m.url, "us-east-1"));
    let (ami, snap) = block_on(crate::harness::register_image(&owner, "shared-base", &[]));
    let out = ami_builder(&m.url)
        .args(["--output", "json", "tag", &format!("us-east-1:{ami}")])
        .args([
            "--commit",
            SHA,
            "--share-with",
            WORKLOAD,
            "--share-snapshots",
        ])
        .assert()
        .success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).expect("json");
    let shared = &report["shared"][0];
    assert_eq!(shared["ami_id"], ami.as_str(), "{report}");
    assert_eq!(shared["launch_permission"], serde_json::json!([WORKLOAD]));
    assert_eq!(shared["snapshot_readers"], serde_json::json!([WORKLOAD]));

    let attr = block_on(
        owner
            .describe_snapshot_attribute()
            .snapshot_id(&snap)
            .attribute(aws_sdk_ec2::types::SnapshotAttributeName::CreateVolumePermission)
            .send(),
    )
    .expect("attribute");
    let readers: Vec<&str> = attr
        .create_volume_permissions()
        .iter()
        .filter_map(|p| p.user_id())
        .collect();
    assert_eq!(readers, [WORKLOAD]);
    // and the workload account finds it among the snapshots it may restore
    let theirs = aws_sdk_ec2::Client::new(&in_account(&m.url, WORKLOAD, "us-east-1"));
    let restorable = block_on(
        theirs
            .describe_snapshots()
            .restorable_by_user_ids("self")
            .send(),
    )
    .expect("snapshots");
    assert!(
        restorable
            .snapshots()
            .iter()
            .any(|s| s.snapshot_id() == Some(snap.as_str())),
        "{restorable:?}"
    );
    // an account not named does not
    let stranger = aws_sdk_ec2::Client::new(&in_account(&m.url, STRANGER, "us-east-1"));
    let none = block_on(
        stranger
            .describe_snapshots()
            .restorable_by_user_ids("self")
            .send(),
    )
    .expect("snapshots");
    assert!(none
        .snapshots()
        .iter()
        .all(|s| s.snapshot_id() != Some(snap.as_str())));
}

/// A bus `central` in `account` whose policy admits the tooling account,
/// with a queue on it for our events: the queue's URL.
fn central_bus(url: &str, account: &str, admit: Option<&str>) -> String {
    let conf = in_account(url, account, "us-east-1");
    let eb = aws_sdk_eventbridge::Client::new(&conf);
    block_on(async {
        eb.create_event_bus()
            .name("central")
            .send()
            .await
            .expect("bus");
        if let Some(who) = admit {
            eb.put_permission()
                .event_bus_name("central")
                .action("events:PutEvents")
                .principal(who)
                .statement_id("tooling")
                .send()
                .await
                .expect("permission");
        }
    });
    queue_for_pattern_in(&conf, "central", SAMPLE_PATTERN)
}

#[test]
fn the_event_reaches_a_bus_in_another_account_that_admits_this_one() {
    let m = moto();
    let q = central_bus(&m.url, WORKLOAD, Some(TOOLING));
    let arn = format!("arn:aws:events:us-east-1:{WORKLOAD}:event-bus/central");
    ami_builder(&m.url)
        .args(["event", "send", "--ami", "us-east-1:ami-0123456789abcdef0"])
        .args(["--event-bus", &arn])
        .assert()
        .success();
    let events = crate::harness::drain_queue_in(&in_account(&m.url, WORKLOAD, "us-east-1"), &q);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["detail"]["AmiId"], "ami-0123456789abcdef0");
    assert_eq!(
        events[0]["account"], TOOLING,
        "EventBridge keeps the sender's account"
    );
}

#[test]
fn a_bus_in_another_account_that_does_not_admit_this_one_is_exit_7() {
    let m = moto();
    let q = central_bus(&m.url, STRANGER, None);
    let arn = format!("arn:aws:events:us-east-1:{STRANGER}:event-bus/central");
    ami_builder(&m.url)
        .args(["event", "send", "--ami", "us-east-1:ami-0123456789abcdef0"])
        .args(["--event-bus", &arn])
        .assert()
        .code(7)
        .stderr(predicate::str::contains("did not accept"));
    assert_eq!(
        crate::harness::drain_queue_in(&in_account(&m.url, STRANGER, "us-east-1"), &q),
        Vec::<serde_json::Value>::new()
    );
}

#[test]
fn what_ec2_cannot_grant_is_a_usage_error_before_anything_runs() {
    let ou =
        "arn:aws:organizations::123456789012:ou/o-exampleorgid/ou-examplerootid111-exampleouid111";
    for (args, says) in [
        (vec!["--share-with", "all"], "never makes an image public"),
        (vec!["--share-with", "12345"], "is not an account id"),
        (vec!["--share-with", "o-exampleorgid"], "takes the ARN"),
        (
            vec!["--share-with", ou, "--share-snapshots"],
            "accounts only",
        ),
    ] {
        offline()
            .args(["tag", "us-east-1:ami-0123456789abcdef0"])
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(says));
    }
    offline()
        .args([
            "event",
            "render",
            "--ami",
            "us-east-1:ami-0123456789abcdef0",
        ])
        .args([
            "--event-bus",
            "arn:aws:events:us-east-1:123456789012:rule/central",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not an event bus ARN"));
}

#[test]
fn a_copy_into_a_workload_account_is_owned_there_tagged_there_and_found_again() {
    let m = moto();
    let q = queue_for_pattern(&m.url, "default", SAMPLE_PATTERN);
    let out = tempfile::tempdir().expect("tmp");
    let key = format!("arn:aws:kms:us-west-2:{WORKLOAD}:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    build_in_moto(&m.url, "one-region.pkr.hcl", out.path())
        .args(["--quiet", "--commit", SHA, "--family", "web"])
        .args(["--copy-to", &format!("{WORKLOAD}:us-west-2")])
        .args(["--role-name", "ami-builder-copy", "--kms-key", &key])
        .assert()
        .success()
        .stderr(predicate::str::contains(format!("{WORKLOAD} us-west-2 ")));
    let rec = read_json(&out.path().join("artifacts.json"));
    let primary = rec["artifacts"][0]["ami_id"]
        .as_str()
        .expect("id")
        .to_string();
    let copies = rec["copies"].as_array().expect("copies recorded");
    assert_eq!(copies.len(), 1, "{rec}");
    assert_eq!(copies[0]["account"], WORKLOAD);
    assert_eq!(copies[0]["region"], "us-west-2");
    let copy = copies[0]["ami_id"].as_str().expect("id").to_string();

    // the workload account owns it, and it carries the provenance there
    let theirs = aws_sdk_ec2::Client::new(&in_account(&m.url, WORKLOAD, "us-west-2"));
    let own = block_on(theirs.describe_images().owners("self").send()).expect("images");
    let ids: Vec<&str> = own.images().iter().filter_map(|i| i.image_id()).collect();
    assert_eq!(ids, [copy.as_str()], "one copy, in the workload account");
    let img = &own.images()[0];
    assert_eq!(img.owner_id(), Some(WORKLOAD));
    let tag = |tags: &[aws_sdk_ec2::types::Tag], k: &str| {
        tags.iter()
            .find(|t| t.key() == Some(k))
            .and_then(|t| t.value())
            .map(str::to_string)
    };
    assert_eq!(tag(img.tags(), "ami-builder:commit").as_deref(), Some(SHA));
    assert_eq!(
        tag(img.tags(), "ami-builder:family").as_deref(),
        Some("web")
    );
    assert_eq!(
        tag(img.tags(), "ami-builder:source-image"),
        Some(format!("us-east-1:{primary}"))
    );
    let snap = img
        .block_device_mappings()
        .iter()
        .find_map(|b| b.ebs().and_then(|e| e.snapshot_id()))
        .expect("a snapshot of its own");
    let snaps = block_on(theirs.describe_snapshots().snapshot_ids(snap).send()).expect("snapshot");
    let s = &snaps.snapshots()[0];
    assert_eq!(s.owner_id(), Some(WORKLOAD));
    assert_eq!(s.encrypted(), Some(true), "re-encrypted with --kms-key");
    assert_eq!(s.kms_key_id(), Some(key.as_str()));
    assert_eq!(tag(s.tags(), "ami-builder:commit").as_deref(), Some(SHA));

    let events = drain_queue(&m.url, &q);
    assert_eq!(events.len(), 1, "{events:?}");
    let images = events[0]["detail"]["Images"].as_array().expect("Images");
    assert!(
        images.iter().any(|i| i["ImageId"] == copy.as_str()
            && i["Account"] == WORKLOAD
            && i["Region"] == "us-west-2"),
        "{images:?}"
    );

    // a re-run finds the copy instead of making a second one
    let rerun = ami_builder(&m.url)
        .args(["--output", "json", "build", "--no-build", "--no-event"])
        .arg("--out-dir")
        .arg(out.path())
        .args(["--commit", SHA, "--family", "web"])
        .args(["--copy-to", &format!("{WORKLOAD}:us-west-2")])
        .args(["--role-name", "ami-builder-copy", "--kms-key", &key])
        .assert()
        .success();
    let result: serde_json::Value =
        serde_json::from_slice(&rerun.get_output().stdout).expect("json");
    assert_eq!(result["copied"][0]["status"], "existing", "{result}");
    let doc = out.path().join("result.json");
    std::fs::write(&doc, &rerun.get_output().stdout).expect("write");
    crate::schemas::assert_valid("build-result.schema.json", &doc);
    crate::schemas::assert_valid("artifacts.schema.json", &out.path().join("artifacts.json"));
    assert_eq!(result["copied"][0]["ami_id"], copy.as_str());
    let own = block_on(theirs.describe_images().owners("self").send()).expect("images");
    assert_eq!(own.images().len(), 1, "still one copy");
}

#[test]
fn an_encrypted_image_is_shared_only_when_its_key_policy_admits_the_consumer() {
    let m = moto();
    let conf = sdk_conf(&m.url, "us-east-1");
    let owner = aws_sdk_ec2::Client::new(&conf);
    let kms = aws_sdk_kms::Client::new(&conf);
    let (ami, key) = block_on(async {
        let key = kms
            .create_key()
            .description("ami key")
            .send()
            .await
            .expect("key");
        let key = key
            .key_metadata()
            .and_then(|k| k.arn())
            .expect("arn")
            .to_string();
        (encrypted_image(&owner, Some(&key)).await, key)
    });
    let launch_permissions = || {
        block_on(
            owner
                .describe_image_attribute()
                .image_id(&ami)
                .attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission)
                .send(),
        )
        .expect("attribute")
        .launch_permissions()
        .len()
    };
    // KMS's default policy admits only the key's own account
    ami_builder(&m.url)
        .args(["tag", &format!("us-east-1:{ami}"), "--commit", SHA])
        .args(["--share-with", WORKLOAD])
        .assert()
        .code(6)
        .stderr(
            predicate::str::contains(format!("does not let account {WORKLOAD} use it"))
                .and(predicate::str::contains(&key))
                .and(predicate::str::contains("kms:CreateGrant"))
                .and(predicate::str::contains(format!(
                    "arn:aws:iam::{WORKLOAD}:root"
                )))
                .and(predicate::str::contains("nothing was shared")),
        );
    assert_eq!(launch_permissions(), 0, "nothing was shared");

    // the statement the message names, added to the policy, lets it through
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "owner", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{TOOLING}:root")},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "consumer", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{WORKLOAD}:root")},
         "Action": ["kms:DescribeKey", "kms:CreateGrant", "kms:Decrypt", "kms:ReEncrypt*",
                    "kms:GenerateDataKeyWithoutPlaintext"], "Resource": "*"}]});
    block_on(
        kms.put_key_policy()
            .key_id(&key)
            .policy_name("default")
            .policy(policy.to_string())
            .send(),
    )
    .expect("policy");
    ami_builder(&m.url)
        .args(["tag", &format!("us-east-1:{ami}"), "--commit", SHA])
        .args(["--share-with", WORKLOAD])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "encrypted with KMS key {key}"
        )));
    assert_eq!(launch_permissions(), 1);
}

#[test]
fn an_image_under_the_aws_managed_ebs_key_is_never_shared() {
    let m = moto();
    let owner = aws_sdk_ec2::Client::new(&sdk_conf(&m.url, "us-east-1"));
    // encrypted without a key: EBS's default, the AWS managed aws/ebs
    let ami = block_on(encrypted_image(&owner, None));
    ami_builder(&m.url)
        .args(["tag", &format!("us-east-1:{ami}"), "--commit", SHA])
        .args([
            "--copy-to",
            &format!("{WORKLOAD}:us-west-2"),
            "--role-name",
            "copy",
        ])
        .assert()
        .code(6)
        .stderr(
            predicate::str::contains("AWS managed key")
                .and(predicate::str::contains("kms_key_id"))
                .and(predicate::str::contains("nothing was shared")),
        );
    let perms = block_on(
        owner
            .describe_image_attribute()
            .image_id(&ami)
            .attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission)
            .send(),
    )
    .expect("attribute");
    assert!(perms.launch_permissions().is_empty());
    let theirs = aws_sdk_ec2::Client::new(&in_account(&m.url, WORKLOAD, "us-west-2"));
    let copies = block_on(theirs.describe_images().owners("self").send()).expect("images");
    assert!(copies.images().is_empty(), "and nothing was copied");
}

#[test]
fn copies_made_before_a_failure_are_recorded_and_the_build_account_is_not_a_target() {
    let m = moto();
    // a member whose OrganizationAccountAccessRole exists, and an account
    // with no role at all, once AssumeRole checks that a role exists
    let org = aws_sdk_organizations::Client::new(&sdk_conf(&m.url, "us-east-1"));
    let member = block_on(async {
        org.create_organization()
            .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
            .send()
            .await
            .expect("organization");
        crate::harness::create_accounts(&org, &["member"])
            .await
            .remove(0)
    });
    let (status, _) = crate::harness::http_with(
        m.port,
        "POST",
        "/moto-api/ami-builder/assume-role-checks",
        "on",
    )
    .expect("checks");
    assert_eq!(status, 200);
    let out = tempfile::tempdir().expect("tmp");
    build_in_moto(&m.url, "one-region.pkr.hcl", out.path())
        .args(["--quiet", "--commit", SHA])
        .args([
            "--copy-to",
            &format!("{member}:us-west-2,{STRANGER}:us-west-2,{TOOLING}:eu-west-1"),
        ])
        .args(["--role-name", "OrganizationAccountAccessRole"])
        .assert()
        .code(6)
        .stderr(
            predicate::str::contains(format!("{STRANGER}:us-west-2"))
                .and(predicate::str::contains("AccessDenied"))
                .and(predicate::str::contains(format!(
                    "{TOOLING}:eu-west-1: that is the build's own account"
                )))
                .and(predicate::str::contains(format!(
                    "Copied fine: {member}:us-west-2 ami-"
                )))
                .and(predicate::str::contains("no event was sent")),
        );
    let rec = read_json(&out.path().join("artifacts.json"));
    let copies = rec["copies"].as_array().expect("the copy made is recorded");
    assert_eq!(copies.len(), 1, "{rec}");
    assert_eq!(copies[0]["account"], member.as_str());
}

#[test]
fn no_tag_refuses_to_share_or_copy() {
    let m = moto();
    let out = tempfile::tempdir().expect("tmp");
    build_in_moto(&m.url, "one-region.pkr.hcl", out.path())
        .args(["--quiet", "--no-tag", "--share-with", WORKLOAD])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "never shared or copied without its provenance",
        ));
}

/// An image whose snapshot is encrypted with `key` (without one, with
/// EBS's default, the AWS managed `aws/ebs`): a copy of a registered image,
/// as moto encrypts only what CopyImage makes.
async fn encrypted_image(owner: &aws_sdk_ec2::Client, key: Option<&str>) -> String {
    let plain = owner
        .register_image()
        .name("plain")
        .root_device_name("/dev/xvda")
        .send()
        .await
        .expect("register");
    owner
        .copy_image()
        .source_image_id(plain.image_id().expect("id"))
        .source_region("us-east-1")
        .name("encrypted")
        .encrypted(true)
        .set_kms_key_id(key.map(str::to_string))
        .send()
        .await
        .expect("copy")
        .image_id()
        .expect("id")
        .to_string()
}
