//! `extract` over every recorded log (real Packer 1.6.6 runs against moto and
//! public excerpts), through the library and through the binary, plus property
//! tests: no input panics, and CI prefixes, colours, HTML escaping and CRLF never
//! change the result.

use ami_builder::packer::{extract_bytes, Extractor};
use predicates::prelude::*;
use proptest::prelude::*;

use crate::harness::{adversarial_log, fixture, log_fixture, offline};

/// (file, expected (build, region, ami) triples; empty = no AMI).
/// (build, region, ami)
type Triple = (&'static str, &'static str, &'static str);

const EXPECTED: &[(&str, &[Triple])] = &[
    (
        "ebs1.out",
        &[
            ("amazon-ebs", "us-east-1", "ami-e17bba1c74a9e08c2"),
            ("amazon-ebs", "us-west-2", "ami-06440139214f81529"),
        ],
    ),
    (
        "ebs1.machine.out",
        &[
            ("amazon-ebs", "us-east-1", "ami-fe844d36a61c5be39"),
            ("amazon-ebs", "us-west-2", "ami-f726aecf395bcfb84"),
        ],
    ),
    (
        "ebs-color.out",
        &[
            ("amazon-ebs", "us-east-1", "ami-4f9f4f06f1c5de194"),
            ("amazon-ebs", "us-west-2", "ami-9c42765b3e372b126"),
        ],
    ),
    (
        "ebs-hcl.out",
        &[
            ("amazon-ebs.base", "us-east-1", "ami-5da1916573c3cae74"),
            ("amazon-ebs.base", "us-west-2", "ami-5011a8f540bb46042"),
        ],
    ),
    (
        "ebs-hcl.machine.out",
        &[
            ("amazon-ebs.base", "us-east-1", "ami-42caaeeb7d5125f50"),
            ("amazon-ebs.base", "us-west-2", "ami-7a0a52fd26a4d8109"),
        ],
    ),
    (
        "e2e-build.out",
        &[
            ("amazon-ebs.base", "us-east-1", "ami-856cd5eca39c312b6"),
            ("amazon-ebs.base", "us-west-2", "ami-853dbcc5f56f9c05b"),
        ],
    ),
    (
        "ebs-prov.out",
        &[("amazon-ebs", "us-east-1", "ami-fd0ffed8f6ac44742")],
    ),
    (
        "force.out",
        &[("amazon-ebs", "us-east-1", "ami-5ef14e9dcd599b538")],
    ),
    ("ebs-badami.out", &[]),
    ("ebs-fail-envtag.out", &[]),
    ("fixed2.out", &[]),
    (
        "01-multiregion-encrypted-copy-temp-ami.log",
        &[
            ("amazon-ebs", "eu-west-1", "ami-07157019afe1400c8"),
            ("amazon-ebs", "eu-west-2", "ami-05f8bfd2d13e8257b"),
        ],
    ),
    (
        "02-machine-readable-success.log",
        &[("amazon-ebs", "eu-west-1", "ami-08baad85f1d0c14c7")],
    ),
    ("03-machine-readable-failed-auth.log", &[]),
    (
        "05-multiregion-plus-postprocessor-empty-artifact.log",
        &[
            ("amazon-ebs", "ap-northeast-1", "ami-2345abcd"),
            ("amazon-ebs", "us-east-1", "ami-abcf2345"),
        ],
    ),
    ("06-machine-readable-ansi-empty-artifact.log", &[]),
    (
        "09-hcl2-ebssurrogate-named-source.log",
        &[(
            "amazon-ebssurrogate.source",
            "us-west-2",
            "ami-0cd1b262022db24e2",
        )],
    ),
];

fn triple(a: &ami_builder::artifacts::Artifact) -> (String, String, String) {
    (a.build.clone(), a.region.to_string(), a.ami_id.to_string())
}

fn triples(data: &[u8]) -> Vec<(String, String, String)> {
    extract_bytes(data).artifacts.iter().map(triple).collect()
}

fn want(exp: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    exp.iter()
        .map(|(b, r, a)| (b.to_string(), r.to_string(), a.to_string()))
        .collect()
}

#[test]
fn every_fixture_gives_the_expected_artifacts() {
    let dir = fixture("packer-logs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures dir") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".json") || name.ends_with(".md") {
            continue;
        }
        let exp = EXPECTED
            .iter()
            .find(|(f, _)| *f == name)
            .unwrap_or_else(|| panic!("fixture {name} has no expectation in EXPECTED"));
        assert_eq!(triples(&log_fixture(&name)), want(exp.1), "{name}");
        seen += 1;
    }
    assert_eq!(seen, EXPECTED.len(), "every expectation has a fixture");
}

#[test]
fn failed_logs_explain_themselves() {
    let x = extract_bytes(&log_fixture("ebs-fail-envtag.out"));
    assert!(x.no_artifacts_reported);
    assert!(
        x.errors
            .iter()
            .any(|e| e.contains("env vars are not allowed here")),
        "{:?}",
        x.errors
    );
    let x = extract_bytes(&log_fixture("03-machine-readable-failed-auth.log"));
    assert_eq!(
        x.errors.len(),
        1,
        "the same error once, whole: {:?}",
        x.errors
    );
    assert!(x.errors[0].contains("status code: 401"), "{:?}", x.errors);
}

#[test]
fn several_runs_pasted_together_give_the_union() {
    let mut log = log_fixture("ebs1.out");
    log.extend(log_fixture("ebs-badami.out"));
    log.extend(log_fixture("ebs-color.out"));
    let got = triples(&log);
    assert_eq!(got.len(), 4, "{got:?}");
}

#[test]
fn cli_text_json_and_stdin() {
    offline()
        .args([
            "extract",
            fixture("packer-logs/ebs1.out").to_str().expect("utf8"),
        ])
        .assert()
        .success()
        .stdout("us-east-1 ami-e17bba1c74a9e08c2\nus-west-2 ami-06440139214f81529\n");
    let out = offline()
        .args(["--output", "json", "extract", "-"])
        .write_stdin(log_fixture("ebs-hcl.machine.out"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
    assert_eq!(
        v,
        serde_json::json!({"artifacts": [
            {"build": "amazon-ebs.base", "region": "us-east-1", "ami_id": "ami-42caaeeb7d5125f50"},
            {"build": "amazon-ebs.base", "region": "us-west-2", "ami_id": "ami-7a0a52fd26a4d8109"}
        ]})
    );
}

#[test]
fn cli_several_builds_print_the_build_name() {
    let log = "==> Builds finished. The artifacts of successful builds are:\n--> b: AMIs were created:\nus-east-1: ami-22222222\n\n--> a: AMIs were created:\nus-east-1: ami-11111111\n";
    offline()
        .args(["extract", "-"])
        .write_stdin(log)
        .assert()
        .success()
        .stdout("a us-east-1 ami-11111111\nb us-east-1 ami-22222222\n");
}

#[test]
fn cli_no_ami_is_exit_3_with_causes() {
    offline()
        .args([
            "extract",
            fixture("packer-logs/fixed2.out").to_str().expect("utf8"),
        ])
        .assert()
        .code(3)
        .stdout("")
        .stderr(predicate::str::contains("no AMI found"))
        .stderr(predicate::str::contains("is used by an existing AMI"))
        .stderr(predicate::str::contains("skip_create_ami"));
    offline()
        .args(["extract", "-"])
        .write_stdin("")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("empty"));
    offline()
        .args(["extract", "-"])
        .write_stdin(vec![0u8, 1, 2, 255, 254, 0, 10, 0])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("NUL bytes"));
    // a truncated log: the artifact block never came
    let log = log_fixture("ebs1.out");
    offline()
        .args(["extract", "-"])
        .write_stdin(&log[..log.len() / 2])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("truncated"));
}

#[test]
fn cli_unreadable_log_is_a_usage_error() {
    offline()
        .args(["extract", "/nonexistent/build.log"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot read the log /nonexistent/build.log",
        ));
}

#[test]
fn cli_manifest_cross_check() {
    // ebs-color.out is the manifest's last run
    offline()
        .args([
            "extract",
            fixture("packer-logs/ebs-color.out").to_str().expect("utf8"),
        ])
        .args([
            "--manifest",
            fixture("packer-logs/manifest.json").to_str().expect("utf8"),
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("ami-4f9f4f06f1c5de194"));
    offline()
        .args([
            "extract",
            fixture("packer-logs/e2e-build.out").to_str().expect("utf8"),
        ])
        .args([
            "--manifest",
            fixture("packer-logs/manifest-hcl.json")
                .to_str()
                .expect("utf8"),
        ])
        .assert()
        .success();
    // ebs1.out is an older run: disagreement, non-zero, says which
    offline()
        .args([
            "extract",
            fixture("packer-logs/ebs1.out").to_str().expect("utf8"),
        ])
        .args([
            "--manifest",
            fixture("packer-logs/manifest.json").to_str().expect("utf8"),
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("disagree"))
        .stderr(predicate::str::contains("ami-e17bba1c74a9e08c2"));
    offline()
        .args([
            "extract",
            fixture("packer-logs/ebs1.out").to_str().expect("utf8"),
        ])
        .args([
            "--manifest",
            fixture("packer-logs/ebs1.out").to_str().expect("utf8"),
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a Packer manifest"));
}

fn decorate(log: &[u8], prefix: &str, ansi: u8, crlf: bool, html: bool) -> Vec<u8> {
    let text = String::from_utf8_lossy(log);
    let mut out = String::new();
    for line in text.lines() {
        let mut l = line.to_string();
        if html && !l.starts_with(|c: char| c.is_ascii_digit()) {
            l = l.replace('>', "&gt;");
        }
        match ansi {
            1 => l = format!("\x1b[1;32m{l}\x1b[0m"),
            2 => l = format!("[0;32m{l}[0m"),
            _ => {}
        }
        out.push_str(prefix);
        out.push_str(&l);
        out.push_str(if crlf { "\r\n" } else { "\n" });
    }
    out.into_bytes()
}

const DECORATED: &[&str] = &[
    "ebs1.out",
    "ebs-hcl.machine.out",
    "01-multiregion-encrypted-copy-temp-ami.log",
    "05-multiregion-plus-postprocessor-empty-artifact.log",
    "09-hcl2-ebssurrogate-named-source.log",
    "ebs-fail-envtag.out",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn never_panics_and_only_valid_ids(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        // the ids are checked types now; their text must still parse back
        let x = extract_bytes(&data);
        for a in x.artifacts {
            prop_assert!(ami_builder::ids::AmiId::is_valid(a.ami_id.as_str()));
            prop_assert!(ami_builder::ids::Region::is_valid(a.region.as_str()));
        }
    }

    #[test]
    fn never_panics_on_log_like_text(lines in proptest::collection::vec(
        prop_oneof![
            Just("==> Builds finished. The artifacts of successful builds are:".to_string()),
            Just("--> amazon-ebs: AMIs were created:".to_string()),
            Just("us-east-1: ami-12345678".to_string()),
            Just("".to_string()),
            Just("1592842958,amazon-ebs,artifact,0,id,eu-west-1:ami-08baad85f1d0c14c7".to_string()),
            Just("==> Some builds didn't complete successfully and had errors:".to_string()),
            "[ -~]{0,80}",
        ], 0..40)) {
        let text = lines.join("\n");
        let _ = extract_bytes(text.as_bytes());
    }

    #[test]
    fn decorations_do_not_change_the_result(
        idx in 0..DECORATED.len(),
        prefix in prop_oneof![
            Just(String::new()),
            Just("07:08:11 ".to_string()),
            Just("[2025-02-27T14:06:26.227Z] ".to_string()),
            Just("2026-11-27T18:04:20Z: ".to_string()),
            Just("[Container] 2025/02/27 14:06:26.227 ".to_string()),
        ],
        ansi in 0u8..3,
        crlf in any::<bool>(),
        html in any::<bool>(),
        chunk in 1usize..5000,
    ) {
        let plain = log_fixture(DECORATED[idx]);
        let want = triples(&plain);
        let fancy = decorate(&plain, &prefix, ansi, crlf, html);
        let mut x = Extractor::new();
        for c in fancy.chunks(chunk) {
            x.feed(c);
        }
        let got: Vec<_> = x.finish().artifacts.iter().map(triple).collect();
        prop_assert_eq!(got, want);
    }
}

// ---------------------------------------------------------------- adversarial

#[test]
fn adversarial_logs_name_only_what_packer_named() {
    let dir = fixture("adversarial/logs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("dir") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        let (notes, log) = adversarial_log(&name);
        let expect = notes
            .iter()
            .find_map(|n| n.strip_prefix("expect: "))
            .unwrap_or_else(|| panic!("{name} has no `# expect:` line"));
        let exit: i32 = notes
            .iter()
            .find_map(|n| n.strip_prefix("exit: "))
            .map_or(0, |e| e.parse().expect("exit code"));
        let want: Vec<(String, String, String)> = if expect == "none" {
            Vec::new()
        } else {
            expect
                .split(';')
                .map(|t| {
                    let v: Vec<&str> = t.split_whitespace().collect();
                    (v[0].to_string(), v[1].to_string(), v[2].to_string())
                })
                .collect()
        };
        let x = extract_bytes(&log);
        let usable = !x.truncated_artifact_line && x.summary_disagreements().is_empty();
        let got: Vec<_> = if usable {
            x.artifacts.iter().map(triple).collect()
        } else {
            Vec::new()
        };
        assert_eq!(got, want, "{name}");
        // the binary agrees, with the documented exit code
        let assert = offline().args(["extract", "-"]).write_stdin(log).assert();
        if exit == 0 {
            let out = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
            for (_, region, ami) in &want {
                assert!(out.contains(&format!("{region} {ami}")), "{name}: {out}");
            }
            assert.success();
        } else {
            assert.code(exit).stdout("");
        }
        seen += 1;
    }
    assert!(seen >= 6, "the corpus is there ({seen} logs)");
}

fn payloads() -> Vec<String> {
    std::fs::read_to_string(fixture("adversarial/provisioner-payloads.txt"))
        .expect("payloads")
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.replace("\\n", "\n"))
        .collect()
}

/// `payload` as Packer passes on a provisioner's output for `build`: one line
/// per output line, prefixed with the build name (human), or one `ui,message`
/// (or `ui,error`, for stderr) record per line with commas escaped.
fn as_provisioner_output(payload: &str, build: &str, machine: bool, stderr: bool) -> String {
    let mut out = String::new();
    for line in payload.split('\n') {
        if machine {
            let level = if stderr { "error" } else { "message" };
            let text = line.replace(',', "%!(PACKER_COMMA)");
            out.push_str(&format!("1795802656,,ui,{level},    {build}: {text}\n"));
        } else {
            out.push_str(&format!("    {build}: {line}\n"));
        }
    }
    out
}

/// Logs with a known build name, and whether they are machine-readable.
const HOSTS: &[(&str, &str, bool)] = &[
    ("ebs1.out", "amazon-ebs", false),
    ("ebs-hcl.out", "amazon-ebs.base", false),
    ("ebs-color.out", "amazon-ebs", false),
    ("ebs1.machine.out", "amazon-ebs", true),
    ("ebs-hcl.machine.out", "amazon-ebs.base", true),
    ("02-machine-readable-success.log", "amazon-ebs", true),
    (
        "09-hcl2-ebssurrogate-named-source.log",
        "amazon-ebssurrogate.source",
        false,
    ),
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    /// No provisioner-controlled text, wherever a provisioner can print it,
    /// changes the extracted artifacts. A provisioner prints while builds
    /// run, so in human logs it lands anywhere before Packer's final summary;
    /// in machine-readable logs each line is its own record, so anywhere.
    #[test]
    fn provisioner_text_never_changes_the_artifacts(
        host in 0..HOSTS.len(),
        inserts in proptest::collection::vec(
            (any::<proptest::sample::Index>(), any::<proptest::sample::Index>(),
             proptest::option::of("[ -~]{0,60}"), any::<bool>()),
            1..6),
        chunk in 1usize..3000,
    ) {
        let (name, build, machine) = HOSTS[host];
        let plain = log_fixture(name);
        let want = triples(&plain);
        prop_assert!(!want.is_empty());
        let text = String::from_utf8_lossy(&plain).into_owned();
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let limit = if machine {
            lines.len()
        } else {
            lines.iter().position(|l| l.contains("==> Builds finished")).unwrap_or(lines.len())
        };
        let payloads = payloads();
        let mut at: Vec<(usize, String)> = inserts
            .iter()
            .map(|(pos, which, random, stderr)| {
                let payload = random.clone().unwrap_or_else(|| which.get(&payloads).clone());
                (pos.index(limit + 1), as_provisioner_output(&payload, build, machine, *stderr))
            })
            .collect();
        at.sort_by_key(|(p, _)| *p);
        let mut log = String::new();
        let mut next = at.iter().peekable();
        for (i, line) in lines.iter().enumerate() {
            while let Some((_, ins)) = next.next_if(|(p, _)| *p == i) {
                log.push_str(ins);
            }
            log.push_str(line);
        }
        for (_, ins) in next {
            log.push_str(ins);
        }
        let mut x = Extractor::new();
        for c in log.as_bytes().chunks(chunk) {
            x.feed(c);
        }
        let x = x.finish();
        let got: Vec<_> = x.artifacts.iter().map(triple).collect();
        prop_assert_eq!(got, want, "{}", log);
        prop_assert!(!x.truncated_artifact_line);
        prop_assert!(x.summary_disagreements().is_empty());
        // build's own stream reads the machine-readable logs the same way
        if machine {
            let mut s = Extractor::packer_stream();
            s.feed(log.as_bytes());
            prop_assert_eq!(s.finish().artifacts, x.artifacts);
        }
    }
}
