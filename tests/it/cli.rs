//! The command line itself: help text, exit-code documentation, completions,
//! man page and usage errors.

use predicates::prelude::*;

use crate::harness::{offline, repo};

#[test]
fn help_documents_every_exit_code() {
    let out = offline()
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let help = String::from_utf8(out).expect("utf8");
    for code in [
        "0 ", "1 ", "2 ", "3 ", "4 ", "5 ", "6 ", "7 ", "8 ", "9 ", "10 ", "11 ", "130 ", "143 ",
    ] {
        assert!(
            help.contains(&format!("  {code}")),
            "--help lacks exit code {code}: {help}"
        );
    }
    // the table is on the top-level help only; a subcommand points there
    for sub in ["build", "prune", "tag", "promote"] {
        offline()
            .args([sub, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains("`ami-builder --help` lists them"))
            .stdout(predicate::str::contains("no AMI found in Packer's output").not());
    }
}

#[test]
fn readme_exit_code_table_matches_help() {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    // the same words, not only the same codes (README's backticks aside)
    let readme = readme.replace('`', "");
    for line in ami_builder::cli::EXIT_CODES.lines().skip(1) {
        let (code, text) = line.trim().split_once(' ').expect("code and text");
        let row = format!("| {code} | {} |", text.trim());
        assert!(
            readme.contains(&row),
            "README.md's exit-code table lacks `{row}`"
        );
    }
}

#[test]
fn bad_flags_are_usage_errors() {
    offline().args(["build", "--no-such-flag"]).assert().code(2);
    offline()
        .args(["extract", "--output", "yaml", "-"])
        .assert()
        .code(2);
    offline()
        .args(["build", "--var", "novalue", "x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("expected KEY=VALUE"));
    // prune: a saved plan plans as of its own time, so --as-of conflicts
    offline()
        .args(["prune", "--in-region", "us-east-1", "--plan", "p.json"])
        .args(["--as-of", "2026-01-01T00:00:00Z"])
        .assert()
        .code(2);
    offline()
        .args([
            "prune",
            "--in-region",
            "us-east-1",
            "--max-plan-age",
            "1 parsec",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("expected an age such as 90m"));
    offline()
        .args(["prune", "--regions", "us-east-1", "--as-of", "tomorrow"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("`tomorrow` is not a time"))
        .stderr(predicate::str::contains("could not reach").not());
    // A bad saved plan is named before any AWS call (the endpoint is closed:
    // listing first would fail on the connection instead).
    let dir = tempfile::tempdir().expect("tmp");
    let garbled = dir.path().join("plan.json");
    std::fs::write(&garbled, "{\"items\": [").expect("write");
    offline()
        .args(["prune", "--in-region", "us-east-1", "--apply", "--plan"])
        .arg(&garbled)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not an ami-builder prune plan"));
    offline()
        .args(["prune", "--in-region", "us-east-1", "--apply", "--plan"])
        .arg(dir.path().join("missing.json"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read the plan"));
}

#[test]
fn completions_and_man_page() {
    offline()
        .args(["completions", "bash"])
        .assert()
        .success()
        .stdout(predicate::str::contains("ami-builder"));
    offline()
        .arg("man")
        .assert()
        .success()
        .stdout(predicate::str::contains(".TH ami-builder"));
    let dir = tempfile::tempdir().expect("tmp");
    offline()
        .args(["man", "--out-dir"])
        .arg(dir.path())
        .assert()
        .success();
    assert!(dir.path().join("ami-builder-build.1").exists());
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    // `ami-builder ... | head -1`: stdout closes early; no panic, exit 0.
    for args in [
        vec!["completions", "zsh"],
        vec!["man"],
        vec!["event", "render", "--ami", "us-east-1:ami-11111111"],
    ] {
        let mut child = crate::harness::std_command("http://127.0.0.1:1")
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("panicked"),
            "{args:?}"
        );
    }
}

/// A loopback server that accepts every connection and never answers; the
/// connections stay open until the test binary exits.
fn silent_server() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming() {
            held.push(s);
        }
    });
    format!("http://127.0.0.1:{port}")
}

#[test]
fn a_server_that_never_answers_ends_with_a_clear_error_within_the_timeout() {
    let url = silent_server();
    let ami = "us-east-1:ami-0123456789abcdef0";
    let sha = "0123456789abcdef0123456789abcdef01234567";
    for args in [
        &["prune", "--in-region", "us-east-1"][..],
        &["prune", "--in-region", "us-east-1", "--apply"][..],
        &["retention", "lint", "--in-region", "us-east-1"][..],
        &["event", "send", "--ami", ami][..],
        &["tag", ami, "--commit", sha][..],
    ] {
        // the guard only keeps a hang from hanging the suite; the command
        // itself must give up after --timeout, naming it
        crate::harness::ami_builder(&url)
            .args(["--timeout", "3s"])
            .args(args)
            .timeout(std::time::Duration::from_secs(90))
            .assert()
            .code(1)
            .stderr(predicate::str::contains(
                "did not finish within --timeout 3s",
            ))
            .stderr(predicate::str::contains(&url));
    }
}

#[test]
fn region_lists_reject_empty_items_and_unknown_names_before_any_call() {
    for (args, says) in [
        (
            &["prune", "--in-region", "us-east-1,,us-west-2"][..],
            "empty region name",
        ),
        (
            &["prune", "--in-region", "us-east-1,"][..],
            "empty region name",
        ),
        (
            &["prune", "--in-region", "us-east-9"][..],
            "`us-east-9` is not an AWS region",
        ),
        (
            &["retention", "lint", "--in-region", "x"][..],
            "`x` is not an AWS region",
        ),
        (
            &["--region", "useast1", "retention", "lint"][..],
            "did you mean us-east-1",
        ),
        (
            &[
                "tag",
                "us-east-1:ami-0123456789abcdef0",
                "--copy-regions",
                "us-west-2,,",
            ][..],
            "empty region name",
        ),
        (
            &[
                "event",
                "render",
                "--ami",
                "us-east-9:ami-0123456789abcdef0",
            ][..],
            "`us-east-9` is not an AWS region",
        ),
        (
            &["tag", "eu-west-10:ami-0123456789abcdef0"][..],
            "`eu-west-10` is not an AWS region",
        ),
    ] {
        offline()
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(says));
    }
    // a region newer than this release can be admitted
    offline()
        .env("AMI_BUILDER_EXTRA_REGIONS", "us-east-9")
        .args(["--timeout", "1s", "prune", "--in-region", "us-east-9"])
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not an AWS region").not());
}

/// `retention lint` with the AWS configuration in `dir` (config file
/// `config`, no credentials in the environment, HOME there so no SSO token
/// cache is found) and `profile`: its exit code and stderr. The endpoint is
/// closed, so a call that was made would fail as a dispatch failure instead.
fn lint_with_config(config: &str, profile: Option<&str>) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("config");
    std::fs::write(&cfg, config).expect("write config");
    std::fs::write(dir.path().join("credentials"), "").expect("write credentials");
    let mut c = offline();
    c.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_CONFIG_FILE", &cfg)
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.path().join("credentials"),
        )
        .env("HOME", dir.path());
    if let Some(p) = profile {
        c.env("AWS_PROFILE", p);
    }
    let out = c.args(["retention", "lint"]).output().expect("runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn credential_problems_are_named_in_the_users_words_before_any_call() {
    // a credential_process whose credentials expired in 2020 (a file that is
    // closed before it runs: an open one is "text file busy")
    let bin = tempfile::tempdir().expect("tmp");
    let process = bin.path().join("creds");
    std::fs::write(
        &process,
        "#!/bin/sh\necho '{\"Version\":1,\"AccessKeyId\":\"AKIAEXAMPLE\",\"SecretAccessKey\":\"s\",\"SessionToken\":\"t\",\"Expiration\":\"2020-01-01T00:00:00Z\"}'\n",
    )
    .expect("write");
    let status = std::process::Command::new("chmod")
        .arg("+x")
        .arg(&process)
        .status()
        .expect("chmod");
    assert!(status.success());
    let expired = format!(
        "[profile old]\nregion = us-east-1\ncredential_process = {}\n",
        process.display()
    );
    let sso = "[profile sso]\nregion = us-east-1\nsso_start_url = https://example.awsapps.com/start\nsso_region = us-east-1\nsso_account_id = 123456789012\nsso_role_name = Builder\n";
    for (config, profile, says) in [
        ("", None, "no AWS credentials found"),
        (
            "[profile other]\nregion = us-east-1\n",
            Some("nope"),
            "the AWS profile `nope` does not exist",
        ),
        (sso, Some("sso"), "run `aws sso login --profile sso`"),
        (
            &expired,
            Some("old"),
            "the AWS session has expired (profile `old`)",
        ),
    ] {
        let (code, err) = lint_with_config(config, profile);
        assert_eq!(code, Some(2), "{says}: {err}");
        assert!(err.contains(says), "{says}: {err}");
        assert!(!err.contains("could not reach"), "no call was made: {err}");
    }
}

#[test]
fn an_endpoint_without_a_scheme_is_refused_before_any_call() {
    for bad in [
        "localhost:5000",
        "127.0.0.1:5000",
        "ftp://127.0.0.1/",
        "http://",
    ] {
        offline()
            .args(["--endpoint-url", bad, "retention", "lint"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("is not an endpoint URL"));
    }
    offline()
        .env("AWS_ENDPOINT_URL", "localhost:4566")
        .args(["retention", "lint"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("write it with its scheme"));
}

#[test]
fn dry_run_is_the_plan_and_cannot_go_with_apply() {
    offline()
        .args(["prune", "--dry-run", "--apply"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot be used with"));
}

/// `ami-builder ARGS` run in DIR/sub/dir with no config named, so that the
/// file is looked for upward from there (DIR is a repository: the search
/// stops at its root).
fn in_subdir(dir: &std::path::Path) -> assert_cmd::Command {
    let sub = dir.join("sub/dir");
    std::fs::create_dir_all(&sub).expect("mkdir");
    std::fs::create_dir_all(dir.join(".git")).expect("mkdir .git");
    let mut c = offline();
    c.env_remove("AMI_BUILDER_CONFIG").current_dir(sub);
    c
}

#[test]
fn the_config_file_sets_defaults_below_flags_and_environment() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("ami-builder.toml"),
        "[global]\nregion = \"us-east-1\"\n[prune]\nkeep = 7\nregions = [\"us-east-1\"]\n",
    )
    .expect("write");
    let plan = repo().join("tests/fixtures/adversarial/plans/exit2-other-region.json");
    // a saved plan made with keep 3 is refused for the file's keep 7, before any call
    in_subdir(dir.path())
        .args(["prune", "--plan"])
        .arg(&plan)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("keep: the plan says 3, now 7"));
    // the environment beats the file
    in_subdir(dir.path())
        .env("AMI_BUILDER_KEEP", "5")
        .args(["prune", "--plan"])
        .arg(&plan)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("keep: the plan says 3, now 5"));
    // a flag beats both
    in_subdir(dir.path())
        .env("AMI_BUILDER_KEEP", "5")
        .args(["prune", "--keep", "3", "--plan"])
        .arg(&plan)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("keep:").not());
    // config show names where each value came from
    let out = in_subdir(dir.path())
        .env("AMI_BUILDER_MAX_DELETIONS", "9")
        .args(["--output", "json", "config", "show"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let shown: serde_json::Value = serde_json::from_slice(&out).expect("json");
    assert_eq!(shown["schema_version"], 1);
    let find = |cmd: &str, key: &str| {
        shown["values"]
            .as_array()
            .expect("values")
            .iter()
            .find(|v| v["command"] == cmd && v["key"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("{cmd} {key} in {shown}"))
    };
    assert_eq!(find("prune", "keep")["value"], serde_json::json!(["7"]));
    assert_eq!(find("prune", "keep")["from"], "file");
    assert_eq!(find("prune", "max-deletions")["from"], "env");
    assert_eq!(
        find("prune", "max-deletions")["name"],
        "AMI_BUILDER_MAX_DELETIONS"
    );
    assert_eq!(find("prune", "max-plan-age")["from"], "default");
    // the text shows the file too
    in_subdir(dir.path())
        .args(["config", "show"])
        .assert()
        .success()
        .stdout(predicate::str::contains("ami-builder.toml"))
        .stdout(predicate::str::is_match(r"(?m)^prune +keep +7 +file$").expect("regex"));
}

#[test]
fn a_bad_config_file_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("ami-builder.toml");
    std::fs::write(&file, "[prune]\nkep = 3\n").expect("write");
    in_subdir(dir.path())
        .args(["prune", "--dry-run"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "[prune] `kep` is not an option of prune (did you mean `keep`?)",
        ))
        .stderr(predicate::str::contains(file.display().to_string()));
    // named with --config, and missing
    offline()
        .args([
            "--config",
            "/nonexistent/ami-builder.toml",
            "config",
            "show",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot read the config file /nonexistent/ami-builder.toml",
        ));
}

#[test]
fn an_argument_that_is_not_utf8_is_a_usage_error_not_a_panic() {
    use std::os::unix::ffi::OsStrExt;
    offline()
        .args(["prune", "--regions"])
        .arg(std::ffi::OsStr::from_bytes(b"us-east-1\xff"))
        .assert()
        .code(2);
}

#[test]
fn only_naming_a_build_the_template_lacks_lists_the_builds_it_has_before_packer_runs() {
    let dir = tempfile::tempdir().expect("tmp");
    let marker = dir.path().join("packer-ran");
    // a Packer that only records that it was started
    let packer = dir.path().join("packer");
    std::fs::write(
        &packer,
        format!("#!/bin/sh\ntouch '{}'\nexit 1\n", marker.display()),
    )
    .expect("write");
    std::fs::set_permissions(&packer, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let out = dir.path().join("out");
    let build = |only: &str| {
        let mut c = offline();
        c.arg("build")
            .arg(crate::harness::repo().join("packer"))
            .args(["--only", only, "--packer"])
            .arg(&packer)
            .arg("--out-dir")
            .arg(&out);
        c
    };
    build("amazon-ebs.local,amazon-ebs.nope")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--only amazon-ebs.nope:"))
        .stderr(predicate::str::contains(
            "its builds are amazon-ebs.al2023, amazon-ebs.local",
        ));
    assert!(!marker.exists(), "Packer must not start");
    assert!(!out.exists(), "nothing is written");
    // a glob that matches is Packer's to run
    build("*.local").assert().failure();
    assert!(marker.exists(), "a matching --only reaches Packer");
}

/// A pipeline hands over its unset parameters as empty variables (a
/// CloudFormation parameter left empty, `docker run -e NAME=`): an empty
/// AMI_BUILDER_* variable is no value, as `config show` says, never an
/// empty one (an empty bus name, an empty --share-with target).
#[test]
fn an_empty_ami_builder_variable_counts_as_unset() {
    let out = offline()
        .args([
            "event",
            "render",
            "--ami",
            "us-east-1:ami-0123456789abcdef0",
        ])
        .env("AMI_BUILDER_EVENT_BUS", "")
        .env("AMI_BUILDER_SHARE_WITH", "")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let entry: serde_json::Value = serde_json::from_slice(&out).expect("json");
    assert_eq!(entry[0]["EventBusName"], "default", "{entry}");
    offline()
        .args([
            "tag",
            "us-east-1:ami-0123456789abcdef0",
            "--commit",
            "0123456789abcdef0123456789abcdef01234567",
        ])
        .args(["--timeout", "2s"])
        .env("AMI_BUILDER_SHARE_WITH", "")
        .env("AMI_BUILDER_COPY_TO", "")
        .assert()
        .stderr(predicate::str::contains("--share-with").not())
        .stderr(predicate::str::contains("--copy-to").not());
}
