//! `prune --accounts FILE` and `--organization`: the tooling account
//! (moto's default, where ami-builder runs), a workload account and a
//! broken one, all members of one organization made with moto's
//! Organizations (CreateAccount makes `OrganizationAccountAccessRole` in
//! each member). The extended moto refuses AssumeRole of a role that does
//! not exist once a test turns that check on.

use predicates::prelude::*;

use crate::harness::{ami_builder, block_on, http_with, in_account, moto, sdk_conf};

const TOOLING: &str = "123456789012";
const MEMBER_ROLE: &str = "OrganizationAccountAccessRole";

/// (workload, broken): two member accounts of an organization run from
/// the tooling account.
fn organization(url: &str) -> (String, String) {
    let org = aws_sdk_organizations::Client::new(&sdk_conf(url, "us-east-1"));
    block_on(async {
        org.create_organization()
            .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
            .send()
            .await
            .expect("organization");
        let ids = crate::harness::create_accounts(&org, &["workload", "broken"]).await;
        (ids[0].clone(), ids[1].clone())
    })
}

/// An image of family `web` that expires a day after it is made.
async fn image(c: &aws_sdk_ec2::Client, name: &str) -> String {
    let tags = [
        ("ami-builder:family", "web"),
        ("scheduler:ebs-snapshot", "0900;1"),
    ];
    crate::harness::register_image(c, name, &tags).await.0
}

fn own_images(conf: &aws_config::SdkConfig) -> Vec<String> {
    let ec2 = aws_sdk_ec2::Client::new(conf);
    let out = block_on(ec2.describe_images().owners("self").send()).expect("images");
    let mut ids: Vec<String> = out
        .images()
        .iter()
        .filter_map(|i| i.image_id().map(str::to_string))
        .collect();
    ids.sort();
    ids
}

/// Each account's plan items, by image id: (action, reason code, reason).
fn items(result: &serde_json::Value, account: &str) -> Vec<(String, String, String, String)> {
    result["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .filter(|a| a["account"] == account)
        .flat_map(|a| {
            a["report"]["plan"]["items"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|i| i["kind"] == "image")
        .map(|i| {
            (
                i["id"].as_str().unwrap_or_default().to_string(),
                i["action"].as_str().unwrap_or_default().to_string(),
                i["reason"]["code"].as_str().unwrap_or_default().to_string(),
                i["reason"].to_string(),
            )
        })
        .collect()
}

#[test]
fn an_organization_is_pruned_account_by_account_and_a_use_anywhere_keeps_an_image() {
    let m = moto();
    let (workload, broken) = organization(&m.url);
    let tooling = sdk_conf(&m.url, "us-east-1");
    let theirs = in_account(&m.url, &workload, "us-east-1");
    let (used, shared, their_old) = block_on(async {
        let ec2 = aws_sdk_ec2::Client::new(&tooling);
        let used = image(&ec2, "web-used").await;
        let shared = image(&ec2, "web-shared").await;
        image(&ec2, "web-free").await;
        // both shared with the workload account, which runs an instance of
        // the first
        for id in [&used, &shared] {
            crate::harness::share_image(&ec2, id, &workload).await;
        }
        let w = aws_sdk_ec2::Client::new(&theirs);
        w.run_instances()
            .image_id(&used)
            .min_count(1)
            .max_count(1)
            .send()
            .await
            .expect("instance in the workload account");
        let their_old = image(&w, "web-theirs").await;
        (used, shared, their_old)
    });
    let (status, body) = http_with(
        m.port,
        "POST",
        "/moto-api/ami-builder/assume-role-checks",
        "on",
    )
    .expect("checks");
    assert_eq!(status, 200, "{body}");
    let deregistered = crate::harness::queue_for_pattern(
        &m.url,
        "default",
        r#"{"source":["com.ami.builder"],"detail":{"AmiStatus":["Deregistered"]}}"#,
    );
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("accounts.yml");
    std::fs::write(
        &file,
        format!(
            "accounts:\n- account_id: '{TOOLING}'\n  name: tooling\n- account_id: '{workload}'\n  name: workload\n  role: {MEMBER_ROLE}\n- account_id: '{broken}'\n  name: broken\n  role: not-there\n"
        ),
    )
    .expect("file");
    let prune = |scope: &[&str], apply: bool| {
        let mut c = ami_builder(&m.url);
        c.args(["--output", "json", "prune", "--regions", "us-east-1"])
            .args(["--keep", "0", "--include-shared", "--as-of", "+40d"])
            .arg("--out-dir")
            .arg(dir.path())
            .args(scope);
        if apply {
            c.arg("--apply");
        }
        c
    };

    // one account's role is missing: it is reported, the others are
    // pruned, and every shared image is kept since it may be used there
    let plan_out = dir.path().join("plan.json");
    let run = prune(
        &[
            "--accounts",
            file.to_str().expect("path"),
            "--events",
            "--plan-out",
            plan_out.to_str().expect("path"),
        ],
        true,
    )
    .assert()
    .code(8)
    .stderr(
        predicate::str::contains(format!("account {broken} (broken)"))
            .and(predicate::str::contains("AccessDenied"))
            .and(predicate::str::contains("could not be read")),
    );
    let result: serde_json::Value =
        serde_json::from_slice(&run.get_output().stdout).expect("one combined JSON result");
    let doc = dir.path().join("result.json");
    std::fs::write(&doc, &run.get_output().stdout).expect("write");
    crate::schemas::assert_valid("prune-accounts.schema.json", &doc);
    assert_eq!(
        result["accounts"].as_array().map(Vec::len),
        Some(3),
        "{result}"
    );
    assert!(result["accounts"][2]["error"].is_string(), "{result}");
    let kept = items(&result, TOOLING);
    let decision = |id: &str| {
        kept.iter()
            .find(|(i, ..)| i == id)
            .map(|(_, action, code, _)| (action.clone(), code.clone()))
    };
    assert_eq!(
        decision(&used),
        Some(("keep".into(), "in-use".into())),
        "{kept:?}"
    );
    assert_eq!(
        decision(&shared),
        Some(("keep".into(), "shared".into())),
        "--include-shared does not reach an image an unread account may use: {kept:?}"
    );
    let mut left = vec![used.clone(), shared.clone()];
    left.sort();
    assert_eq!(own_images(&tooling), left, "web-free went");
    // (the session taken before the check: the test's own role is not there)
    let their_images = own_images(&theirs);
    assert!(
        !their_images.contains(&their_old),
        "the workload account's own expired image went: {their_images:?}"
    );
    // a file written per account is one per account, never one overwritten
    for account in [TOOLING, workload.as_str()] {
        let p = dir.path().join(format!("plan-{account}.json"));
        let plan = crate::harness::read_json(&p);
        assert_eq!(plan["scope"]["account_id"], account, "{}", p.display());
    }
    assert!(!plan_out.exists());
    // each deregistration announced on the caller's bus, naming its account
    let events = crate::harness::drain_queue(&m.url, &deregistered);
    let owner_of = |id: &str| {
        events
            .iter()
            .find(|e| e["detail"]["ImageId"] == id)
            .map(|e| {
                e["detail"]["Account"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
    };
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        owner_of(&their_old).as_deref(),
        Some(workload.as_str()),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| e["detail"]["Account"] == TOOLING),
        "{events:?}"
    );
    for account in [TOOLING, workload.as_str()] {
        assert!(
            std::fs::read_dir(dir.path())
                .expect("dir")
                .filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().contains(account)),
            "a report file per account pruned ({account})"
        );
    }

    // the whole organization, every role there: the image the workload
    // account runs is kept, naming the account; the re-run converges
    let plan = prune(&["--organization", "--role-name", MEMBER_ROLE], false)
        .assert()
        .success();
    let result: serde_json::Value =
        serde_json::from_slice(&plan.get_output().stdout).expect("json");
    let mine = items(&result, TOOLING);
    let (_, action, code, reason) = mine
        .iter()
        .find(|(id, ..)| id == &used)
        .unwrap_or_else(|| panic!("the tooling account is pruned too: {result}"));
    assert_eq!(
        (action.as_str(), code.as_str()),
        ("keep", "in-use"),
        "{reason}"
    );
    assert!(
        reason.contains(&format!("in account {workload}")),
        "the reason names the account: {reason}"
    );
    assert!(
        mine.iter()
            .any(|(id, action, ..)| id == &shared && action == "delete"),
        "with every account read, the image shared but used nowhere goes: {mine:?}"
    );
    let again = prune(&["--organization", "--role-name", MEMBER_ROLE], true)
        .assert()
        .success();
    let result: serde_json::Value =
        serde_json::from_slice(&again.get_output().stdout).expect("json");
    let deleted: Vec<&serde_json::Value> = result["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .flat_map(|a| {
            a["report"]["results"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .collect::<Vec<_>>()
        })
        .filter(|x| x["kind"] == "image" && x["outcome"] == "deleted")
        .map(|_| &result)
        .collect();
    assert_eq!(deleted.len(), 1, "the shared, unused image: {result}");
    assert_eq!(own_images(&tooling), std::slice::from_ref(&used));
    // and once more: nothing left to do; each account's report goes to one
    // prefix, and they merge back into one organization report
    crate::harness::create_bucket(&m.url, "org-reports");
    let last = prune(
        &[
            "--organization",
            "--role-name",
            MEMBER_ROLE,
            "--report",
            "s3://org-reports/run/",
        ],
        true,
    )
    .assert()
    .success();
    let result: serde_json::Value =
        serde_json::from_slice(&last.get_output().stdout).expect("json");
    for a in result["accounts"].as_array().expect("accounts") {
        let n = a["report"]["results"].as_array().map_or(0, |r| {
            r.iter().filter(|x| x["outcome"] == "deleted").count()
        });
        assert_eq!(n, 0, "converged: {a}");
    }
    assert_eq!(own_images(&tooling), [used]);
    let keys = crate::harness::bucket_keys(&m.url, "org-reports");
    assert_eq!(keys.len(), 3, "one report per account: {keys:?}");
    let merged = ami_builder(&m.url)
        .args([
            "--output",
            "json",
            "prune",
            "--merge-reports",
            "s3://org-reports/run/",
        ])
        .args(["--report", "s3://org-reports/run/organization.json"])
        .assert()
        .success();
    let doc = dir.path().join("merged.json");
    std::fs::write(&doc, &merged.get_output().stdout).expect("write");
    crate::schemas::assert_valid("prune-accounts.schema.json", &doc);
    let result: serde_json::Value =
        serde_json::from_slice(&merged.get_output().stdout).expect("json");
    let mut accounts: Vec<String> = result["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .map(|a| a["account"].as_str().unwrap_or_default().to_string())
        .collect();
    let mut want = vec![TOOLING.to_string(), workload.clone(), broken.clone()];
    want.sort();
    accounts.sort();
    assert_eq!(accounts, want);
    assert!(crate::harness::bucket_keys(&m.url, "org-reports")
        .contains(&"run/organization.json".to_string()));
    // what is not a report of ours is refused, naming it, and nothing merged
    let conf = aws_sdk_s3::config::Builder::from(&sdk_conf(&m.url, "us-east-1"))
        .force_path_style(true)
        .build();
    block_on(
        aws_sdk_s3::Client::from_conf(conf)
            .put_object()
            .bucket("org-reports")
            .key("run/prune-999999999999-forged.json")
            .body(aws_sdk_s3::primitives::ByteStream::from_static(
                b"{\"plan\": 1}",
            ))
            .send(),
    )
    .expect("put");
    ami_builder(&m.url)
        .args(["prune", "--merge-reports", "s3://org-reports/run/"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("prune-999999999999-forged.json")
                .and(predicate::str::contains("nothing was merged")),
        );
}

#[test]
fn a_bad_accounts_file_is_a_usage_error_naming_the_entry() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("accounts.yml");
    std::fs::write(&file, "accounts:\n- account_id: 012345678901\n").expect("file");
    crate::harness::offline()
        .args(["prune", "--regions", "us-east-1", "--accounts"])
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("accounts[0]").and(predicate::str::contains("quotes")));
    crate::harness::offline()
        .args(["prune", "--regions", "us-east-1", "--organization"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--role-name"));
    // a saved plan is one account's, from a flag or from the config file
    std::fs::write(&file, "accounts:\n- account_id: '123456789012'\n").expect("file");
    let config = dir.path().join("ami-builder.toml");
    std::fs::write(&config, "[prune]\nplan = \"plan.json\"\n").expect("config");
    crate::harness::offline()
        .args(["prune", "--regions", "us-east-1", "--accounts"])
        .arg(&file)
        .env("AMI_BUILDER_CONFIG", &config)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("a saved plan is one account's"));
}

/// Review finding: an account read in other regions than another's
/// cannot vouch for what it runs in the regions it was not read in.
#[test]
fn an_account_read_in_other_regions_keeps_the_shared_images_of_the_rest() {
    let m = moto();
    let (workload, _) = organization(&m.url);
    let tooling = sdk_conf(&m.url, "us-east-1");
    let theirs = in_account(&m.url, &workload, "us-east-1");
    let used = block_on(async {
        let ec2 = aws_sdk_ec2::Client::new(&tooling);
        let used = image(&ec2, "web-used").await;
        crate::harness::share_image(&ec2, &used, &workload).await;
        aws_sdk_ec2::Client::new(&theirs)
            .run_instances()
            .image_id(&used)
            .min_count(1)
            .max_count(1)
            .send()
            .await
            .expect("instance in us-east-1 of the workload account");
        used
    });
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("accounts.yml");
    // the workload account is read in us-west-2 only: its us-east-1
    // instance is not seen
    std::fs::write(
        &file,
        format!(
            "accounts:\n- account_id: '{TOOLING}'\n  regions: [us-east-1]\n- account_id: '{workload}'\n  role: {MEMBER_ROLE}\n  regions: [us-west-2]\n"
        ),
    )
    .expect("file");
    let out = ami_builder(&m.url)
        .args(["--output", "json", "prune", "--accounts"])
        .arg(&file)
        .args(["--keep", "0", "--include-shared", "--as-of", "+40d"])
        .assert()
        .success()
        .stderr(predicate::str::contains("read in different regions"));
    let result: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).expect("json");
    let mine = items(&result, TOOLING);
    let (_, action, code, _) = mine
        .iter()
        .find(|(id, ..)| id == &used)
        .unwrap_or_else(|| panic!("{result}"));
    assert_eq!(
        (action.as_str(), code.as_str()),
        ("keep", "shared"),
        "{mine:?}"
    );
}
