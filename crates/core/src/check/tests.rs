use super::*;
use crate::events::entry::{
    build_entry, envelope, EventFacts, DEFAULT_DETAIL_TYPE, DEFAULT_SOURCE,
};
use chrono::{TimeZone, Utc};
use proptest::prelude::*;

fn repo_file(rel: &str) -> String {
    // the repository's own pipeline files, two levels above this crate
    let path = format!("{}/../../{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// The event `build` (Created) or `prune --events` (Deregistered) sends,
/// built by the same code.
fn event_for(status: &str) -> Value {
    let mut facts = EventFacts {
        status: status.parse().unwrap_or_default(),
        commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
        build_id: Some("ami-builder:1234".into()),
        name: Some("al2023-hardened-2024".into()),
        family: Some("amazon-ebs.al2023".into()),
        ..EventFacts::default()
    };
    facts.add(
        "us-east-1".parse().expect("valid"),
        "ami-0123456789abcdef0".parse().expect("valid"),
    );
    let entry = build_entry(&facts, DEFAULT_SOURCE, DEFAULT_DETAIL_TYPE, "default").unwrap();
    let time = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    let mut event = envelope(
        &entry,
        "6f1c1f43-0000-4000-8000-000000000000",
        "123456789012",
        "us-east-1",
        time,
    );
    // a status ami-builder never sends stays as the rule wrote it
    event["detail"]["AmiStatus"] = status.into();
    event
}

fn rules(text: &str) -> Vec<CheckResult> {
    check_rules("t.yaml", text, DEFAULT_SOURCE, &event_for)
}

fn one(text: &str) -> CheckResult {
    let r = rules(text);
    assert_eq!(r.len(), 1, "{r:#?}");
    r.into_iter().next().unwrap()
}

fn rule_yaml(pattern: &str) -> String {
    format!(
            "Resources:\n  MyRule:\n    Type: AWS::Events::Rule\n    Properties:\n      EventPattern:\n{}\n",
            pattern
                .lines()
                .map(|l| format!("        {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        )
}

// ---- check_rules over the repository's own template -----------------------------------

#[test]
fn a_rule_for_one_family_is_checked_with_that_family_and_parameter_defaults() {
    let pattern = "source: [com.ami.builder]\ndetail-type: [AmiBuilder]\ndetail:\n  AmiStatus: [Created]\n  Family: [!Ref AmiFamily]";
    let with_default = format!(
        "Parameters:\n  AmiFamily:\n    Type: String\n    Default: web\n{}",
        rule_yaml(pattern)
    );
    let r = one(&with_default);
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert!(r.detail.contains("matches the Created event"), "{r:?}");
    // without a default the family cannot be known offline: checked without it, a warning
    let r = one(&rule_yaml(pattern));
    assert_eq!(r.status, Status::Warn, "{r:?}");
    // a typo in the status is still caught with a family filter
    let typo = with_default.replace("AmiStatus: [Created]", "AmiStatus: [created]");
    assert_eq!(one(&typo).status, Status::Fail);
}

#[test]
fn repo_pipeline_rules_all_match() {
    let text = repo_file("cloudformation/pipeline.yaml");
    let results = check_rules(
        "cloudformation/pipeline.yaml",
        &text,
        DEFAULT_SOURCE,
        &event_for,
    );
    // AmiCreatedRule, AmiDeregisteredRule, ForwardToCentralBusRule (every
    // AmiStatus), PromoteToDevRule (for the stack's family, read as the
    // parameter's default)
    assert_eq!(results.len(), 4, "{results:#?}");
    assert!(
        results.iter().all(|r| r.status == Status::Ok),
        "{results:#?}"
    );
    assert!(
        results
            .iter()
            .any(|r| r.detail == "rule PromoteToDevRule matches the Created event"),
        "{results:#?}"
    );
    assert!(
        results
            .iter()
            .any(|r| r.detail == "rule ForwardToCentralBusRule matches the Created event"),
        "{results:#?}"
    );
    assert_eq!(
        results[0].detail,
        "rule AmiCreatedRule matches the Created event"
    );
    assert_eq!(
        results[1].detail,
        "rule AmiDeregisteredRule matches the Deregistered event"
    );
    assert!(!CheckReport::new(results).failed());
}

#[test]
fn repo_pipeline_wrong_detail_type_fails_with_explanation() {
    let text = repo_file("cloudformation/pipeline.yaml");
    let needle = "detail-type: [AmiBuilder]";
    assert!(text.contains(needle));
    let mutated = text.replacen(needle, "detail-type: [\"AmiBuilder \"]", 1);
    let results = check_rules("pipeline.yaml", &mutated, DEFAULT_SOURCE, &event_for);
    let created = &results[0];
    assert_eq!(created.status, Status::Fail, "{results:#?}");
    assert_eq!(
        created.detail,
        r#"rule AmiCreatedRule does not match the Created event: detail-type: "AmiBuilder" is not one of ["AmiBuilder "]"#
    );
    assert_eq!(results[1].status, Status::Ok);
    assert!(CheckReport::new(results).failed());
}

#[test]
fn repo_pipeline_wrong_amistatus_fails_with_explanation() {
    let text = repo_file("cloudformation/pipeline.yaml");
    let needle = "AmiStatus: [Created]";
    assert!(text.contains(needle));
    let mutated = text.replacen(needle, "AmiStatus: [created]", 1);
    let results = check_rules("pipeline.yaml", &mutated, DEFAULT_SOURCE, &event_for);
    let created = &results[0];
    assert_eq!(created.status, Status::Fail, "{results:#?}");
    assert!(
            created.detail.starts_with(
                r#"rule AmiCreatedRule does not match the Created event: detail.AmiStatus: "Created" is not one of ["created"]"#
            ),
            "{}",
            created.detail
        );
    assert!(created.detail.contains("ami-builder sends \"Created\""));
}

#[test]
fn repo_pipeline_deregistered_rule_swapped_status_fails() {
    let text = repo_file("cloudformation/pipeline.yaml");
    let mutated = text.replacen("AmiStatus: [Deregistered]", "AmiStatus: [Deregisterd]", 1);
    let results = check_rules("pipeline.yaml", &mutated, DEFAULT_SOURCE, &event_for);
    assert_eq!(results[1].status, Status::Fail, "{results:#?}");
    assert!(results[1]
        .detail
        .contains("does not match the Deregistered event: detail.AmiStatus"));
}

#[test]
fn repo_pipeline_as_json_string_pattern() {
    let text = repo_file("cloudformation/pipeline.yaml");
    let needle = "      EventPattern:\n        source: [com.ami.builder]\n        detail-type: [AmiBuilder]\n        detail:\n          AmiStatus: [Created]\n";
    assert!(text.contains(needle));
    let as_string = "      EventPattern: '{\"source\": [\"com.ami.builder\"], \"detail-type\": [\"AmiBuilder\"], \"detail\": {\"AmiStatus\": [\"Created\"]}}'\n";
    let results = check_rules(
        "p",
        &text.replacen(needle, as_string, 1),
        DEFAULT_SOURCE,
        &event_for,
    );
    assert_eq!(results.len(), 4);
    assert!(
        results.iter().all(|r| r.status == Status::Ok),
        "{results:#?}"
    );
    let broken = as_string.replace("AmiBuilder", "Ami-Builder");
    let results = check_rules(
        "p",
        &text.replacen(needle, &broken, 1),
        DEFAULT_SOURCE,
        &event_for,
    );
    assert_eq!(results[0].status, Status::Fail);
    assert!(
        results[0].detail.contains("detail-type"),
        "{}",
        results[0].detail
    );
}

// ---- check_rules: forms and edge cases -------------------------------------------------

#[test]
fn json_template_and_json_string_pattern() {
    let tpl = r#"{
  "Resources": {
    "Notify": {
      "Type": "AWS::Events::Rule",
      "Properties": {
        "EventPattern": {"source": ["com.ami.builder"], "detail-type": ["AmiBuilder"]}
      }
    },
    "AsString": {
      "Type": "AWS::Events::Rule",
      "Properties": {
        "EventPattern": "{\"source\":[\"com.ami.builder\"],\"detail\":{\"AmiStatus\":[\"Deregistered\"]}}"
      }
    },
    "Other": {
      "Type": "AWS::Events::Rule",
      "Properties": {"EventPattern": {"source": ["aws.ec2"]}}
    }
  }
}"#;
    let r = rules(tpl);
    assert_eq!(r.len(), 2, "{r:#?}");
    assert_eq!(r[0].detail, "rule Notify matches the Created event");
    assert_eq!(r[1].detail, "rule AsString matches the Deregistered event");
    // Tab-indented JSON (not YAML) is read too.
    let tabbed = "{\n\t\"Resources\": {\n\t\t\"R\": {\"Type\": \"AWS::Events::Rule\", \"Properties\": {\"EventPattern\": {\"source\": [\"com.ami.builder\"]}}}\n\t}\n}";
    assert_eq!(one(tabbed).status, Status::Ok);
}

#[test]
fn intrinsic_in_source_warns_cannot_evaluate() {
    let r = one(&rule_yaml(
        "source: [!Sub \"${Prefix}com.ami.builder\"]\ndetail-type: [AmiBuilder]",
    ));
    assert_eq!(r.status, Status::Warn, "{r:?}");
    assert!(
        r.detail.contains("cannot evaluate !Sub at source[0]"),
        "{}",
        r.detail
    );
    // The rest is still checked: a wrong detail-type fails regardless.
    let r = one(&rule_yaml(
        "source: [!Sub \"${Prefix}com.ami.builder\"]\ndetail-type: [AmiBuilders]",
    ));
    assert_eq!(r.status, Status::Fail, "{r:?}");
    assert!(r.detail.contains("detail-type"), "{}", r.detail);
    assert!(r.detail.contains("cannot evaluate !Sub"), "{}", r.detail);
}

#[test]
fn intrinsic_json_form_and_ref_to_source() {
    let r = one(&rule_yaml(
        "source: [com.ami.builder]\nresources: [{\"Fn::Sub\": \"arn:${AWS::Partition}:x\"}]",
    ));
    assert_eq!(r.status, Status::Warn);
    assert!(r.detail.contains("Fn::Sub at resources[0]"), "{}", r.detail);
}

#[test]
fn whole_pattern_intrinsic_warns() {
    let text = rule_yaml(
        "!Sub '{\"source\": [\"com.ami.builder\"], \"detail-type\": [\"${DetailType}\"]}'",
    );
    let r = one(&text);
    assert_eq!(r.status, Status::Warn);
    assert!(
        r.detail.contains("cannot evaluate its EventPattern"),
        "{}",
        r.detail
    );
    // Someone else's intrinsic pattern is not reported.
    assert!(rules(&rule_yaml("!Sub '{\"source\": [\"aws.ec2\"]}'")).is_empty());
}

#[test]
fn other_sources_are_not_reported() {
    assert!(rules(&rule_yaml("source: [aws.codepipeline]\ndetail-type: [X]")).is_empty());
    assert!(rules("Resources: {}\n").is_empty());
    assert!(rules("AWSTemplateFormatVersion: '2010-09-09'\n").is_empty());
    // A schedule rule has no pattern.
    assert!(rules("Resources:\n  R:\n    Type: AWS::Events::Rule\n    Properties:\n      ScheduleExpression: rate(1 day)\n").is_empty());
}

#[test]
fn near_miss_source_is_reported_as_failing() {
    let r = one(&rule_yaml("source: [com.ami.buidler]"));
    assert_eq!(r.status, Status::Fail);
    assert!(
        r.detail
            .contains(r#"source: "com.ami.builder" is not one of ["com.ami.buidler"]"#),
        "{}",
        r.detail
    );
    let r = one(&rule_yaml("source: [Com.Ami.Builder]"));
    assert_eq!(r.status, Status::Fail);
}

#[test]
fn prefix_and_wildcard_sources_count_as_ours() {
    assert_eq!(
        one(&rule_yaml("source: [{prefix: com.ami}]")).status,
        Status::Ok
    );
    assert_eq!(
        one(&rule_yaml("source: [{wildcard: \"com.*.builder\"}]")).status,
        Status::Ok
    );
    // anything-but names no source of ours: not reported.
    assert!(rules(&rule_yaml(
        "source: [{anything-but: aws.ec2}]\ndetail-type: [Foo]"
    ))
    .is_empty());
}

#[test]
fn rule_without_source_but_our_detail_type_is_checked() {
    let r = one(&rule_yaml(
        "detail-type: [AmiBuilder]\ndetail:\n  AmiStatus: [Created]",
    ));
    assert_eq!(r.status, Status::Ok);
}

#[test]
fn status_from_operators_tries_known_statuses() {
    let r = one(&rule_yaml(
        "source: [com.ami.builder]\ndetail:\n  AmiStatus: [{prefix: Dereg}]",
    ));
    assert_eq!(r.detail, "rule MyRule matches the Deregistered event");
    let r = one(&rule_yaml(
        "source: [com.ami.builder]\ndetail:\n  AmiStatus: [{anything-but: Created}]",
    ));
    // the first status ami-builder sends that it matches
    assert_eq!(r.detail, "rule MyRule matches the Promoted event");
    let r = one(&rule_yaml(
        "source: [com.ami.builder]\ndetail:\n  AmiStatus: [{prefix: Copied}]",
    ));
    assert_eq!(r.status, Status::Fail);
    assert!(
        r.detail.contains("the Created event: detail.AmiStatus"),
        "{}",
        r.detail
    );
    let r = one(&rule_yaml(
        "source: [com.ami.builder]\n\"detail.AmiStatus\": [Deregistered]",
    ));
    assert_eq!(r.detail, "rule MyRule matches the Deregistered event");
}

#[test]
fn foreign_status_is_checked_as_written_but_warns() {
    let r = one(&rule_yaml(
        "source: [com.ami.builder]\ndetail:\n  AmiStatus: [Copied]",
    ));
    assert_eq!(r.status, Status::Warn);
    assert!(
        r.detail.contains("matches the Copied event"),
        "{}",
        r.detail
    );
    assert!(
        r.detail.contains("never sends AmiStatus \"Copied\""),
        "{}",
        r.detail
    );
}

#[test]
fn explanation_follows_document_order() {
    // Both fields fail; the first written is named.
    let r = one(&rule_yaml(
        "source: [com.ami.builder]\ndetail-type: [Nope]\naccount: ['000000000000']",
    ));
    assert!(r.detail.contains(": detail-type:"), "{}", r.detail);
    let r = one(&rule_yaml(
        "source: [com.ami.builder]\naccount: ['000000000000']\ndetail-type: [Nope]",
    ));
    assert!(r.detail.contains(": account:"), "{}", r.detail);
}

#[test]
fn numbers_and_booleans_keep_their_types() {
    let ok = one(&rule_yaml(
        "source: [com.ami.builder]\naccount: ['123456789012']",
    ));
    assert_eq!(ok.status, Status::Ok);
    // An unquoted account id is a number, which does not match the string.
    let bad = one(&rule_yaml(
        "source: [com.ami.builder]\naccount: [123456789012]",
    ));
    assert_eq!(bad.status, Status::Fail, "{bad:?}");
}

#[test]
fn invalid_pattern_fails_with_reason() {
    let r = one(&rule_yaml("source: [com.ami.builder]\ndetail-type: []"));
    assert_eq!(r.status, Status::Fail);
    assert!(
        r.detail
            .contains("EventPattern is invalid: Empty arrays are not allowed"),
        "{}",
        r.detail
    );
    let r = one(&rule_yaml(
        "source: [com.ami.builder]\ndetail-type: [{Prefix: Ami}]",
    ));
    assert_eq!(r.status, Status::Fail);
    assert!(r.detail.contains("invalid"), "{}", r.detail);
    let r = one(&rule_yaml("'{\"source\": [\"com.ami.builder\"], '"));
    assert_eq!(r.status, Status::Fail);
    assert!(r.detail.contains("not valid JSON"), "{}", r.detail);
}

#[test]
fn disabled_and_repeated_fields_warn() {
    let text = rule_yaml("source: [com.ami.builder]").replace(
        "    Properties:\n",
        "    Properties:\n      State: DISABLED\n",
    );
    let r = one(&text);
    assert_eq!(r.status, Status::Warn);
    assert!(r.detail.contains("DISABLED"));
    let r = one(&rule_yaml(
        "source: [com.ami.builder]\ndetail: {AmiStatus: [Created]}\ndetail.AmiStatus: [Created]",
    ));
    assert_eq!(r.status, Status::Warn, "{r:?}");
    assert!(r.detail.contains("more than once"), "{}", r.detail);
}

#[test]
fn anchors_and_aliases_are_expanded() {
    let text = "Src: &src [com.ami.builder]\nResources:\n  R:\n    Type: AWS::Events::Rule\n    Properties:\n      EventPattern:\n        source: *src\n";
    assert_eq!(one(text).status, Status::Ok);
}

#[test]
fn sam_function_events_are_checked() {
    let text = "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      Events:\n        Ami:\n          Type: EventBridgeRule\n          Properties:\n            Pattern:\n              source: [com.ami.builder]\n              detail-type: [AmiBuilderr]\n";
    let r = one(text);
    assert_eq!(r.status, Status::Fail);
    assert!(
        r.detail.starts_with("rule Fn.Ami does not match"),
        "{}",
        r.detail
    );
}

#[test]
fn unreadable_template_fails() {
    let r = rules("Resources:\n  - a\n b: [\n");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, Status::Fail);
    assert!(
        r[0].detail.starts_with("cannot read the template"),
        "{}",
        r[0].detail
    );
}

#[test]
fn alias_bombs_and_deep_nesting_are_refused() {
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 0..8 {
        let prev = if i == 0 {
            "a".to_string()
        } else {
            format!("l{}", i - 1)
        };
        bomb.push_str(&format!("l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
    }
    let r = rules(&bomb);
    assert_eq!(r[0].status, Status::Fail);
    assert!(r[0].detail.contains("more than"), "{}", r[0].detail);
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert_eq!(rules(&deep)[0].status, Status::Fail);
}

// ---- check_buildspec --------------------------------------------------------------------

fn buildspec(commands: &[&str]) -> String {
    let mut s = String::from("version: 0.2\nphases:\n  build:\n    commands:\n");
    for c in commands {
        s.push_str("      - |\n");
        for l in c.lines() {
            s.push_str(&format!("        {l}\n"));
        }
    }
    s
}

fn statuses(results: &[CheckResult]) -> Vec<Status> {
    results.iter().map(|r| r.status).collect()
}

#[test]
fn repo_buildspecs_pass() {
    for file in [
        "buildspec.yml",
        "buildspec-prune.yml",
        "buildspec-promote.yml",
    ] {
        let results = check_buildspec(file, &repo_file(file));
        assert_eq!(statuses(&results), vec![Status::Ok], "{file}: {results:#?}");
    }
}

#[test]
fn aws_sample_pipe_fails() {
    let text = "version: 0.2\nphases:\n  build:\n    commands:\n      - ./packer build -color=false packer/ami.json | tee build.log\n";
    let r = check_buildspec("buildspec.yml", text);
    assert_eq!(statuses(&r), vec![Status::Fail]);
    assert_eq!(
            r[0].detail,
            "phase build, command 1, line 1: `./packer build -color=false packer/ami.json | tee build.log` pipes Packer's output without `set -o pipefail`: the AWS sample's bug, the pipe hides Packer's exit status; start the block with `set -euo pipefail`"
        );
    let r = check_buildspec("b", &buildspec(&["packer build x.json | tee build.log"]));
    assert_eq!(statuses(&r), vec![Status::Fail]);
}

#[test]
fn pipefail_first_passes() {
    for set in [
        "set -o pipefail",
        "set -euo pipefail",
        "set -eo pipefail",
        "set -Eeuxo pipefail",
        "set -e -o pipefail",
        "set -o errexit -o pipefail",
    ] {
        let r = check_buildspec(
            "b",
            &buildspec(&[&format!("{set}\npacker build x.json | tee build.log")]),
        );
        assert_eq!(statuses(&r), vec![Status::Ok], "{set}: {r:#?}");
    }
    // Set after the pipe, or turned off again: fails.
    let r = check_buildspec(
        "b",
        &buildspec(&["packer build x.json | tee build.log\nset -o pipefail"]),
    );
    assert_eq!(statuses(&r), vec![Status::Fail]);
    let r = check_buildspec(
        "b",
        &buildspec(&["set -o pipefail\nset +o pipefail\npacker build x | tee l"]),
    );
    assert_eq!(statuses(&r), vec![Status::Fail]);
    let r = check_buildspec("b", &buildspec(&["set -eu\npacker build x | tee l"]));
    assert_eq!(statuses(&r), vec![Status::Fail]);
}

#[test]
fn pipefail_in_an_earlier_command_of_the_phase_warns() {
    let r = check_buildspec(
        "b",
        &buildspec(&["set -o pipefail", "packer build x | tee l"]),
    );
    assert_eq!(statuses(&r), vec![Status::Warn], "{r:#?}");
    assert!(
        r[0].detail.contains("phase build, command 2, line 1"),
        "{}",
        r[0].detail
    );
    // Not across phases.
    let text = "phases:\n  pre_build:\n    commands:\n      - set -o pipefail\n  build:\n    commands:\n      - packer build x | tee l\n";
    assert_eq!(statuses(&check_buildspec("b", text)), vec![Status::Fail]);
}

#[test]
fn ami_builder_build_pipe_fails() {
    let r = check_buildspec(
        "b",
        &buildspec(&["ami-builder --region us-east-1 build packer/ | tee out/build.log"]),
    );
    assert_eq!(statuses(&r), vec![Status::Fail]);
    assert!(
        r[0].detail.contains("pipes `ami-builder build`'s output"),
        "{}",
        r[0].detail
    );
    let r = check_buildspec("b", &buildspec(&["ami-builder event render | jq ."]));
    assert_eq!(statuses(&r), vec![Status::Ok]);
}

#[test]
fn shell_forms_that_pipe_packer() {
    for script in [
        "packer build x.json 2>&1 | tee build.log",
        "packer build x.json |& tee build.log",
        "packer build \\\n  -var a=b \\\n  x.json | tee build.log",
        "packer build x.json |\n  tee build.log",
        "if ! packer build x | tee l; then exit 1; fi",
        "out=$(packer build -machine-readable x | tee l)",
        "cd packer && /usr/local/bin/packer build . | tee l",
        "sudo -E timeout 3h packer build x | tee l",
        "PACKER_LOG=1 packer build x | tee l",
        "{ packer build x; } | tee l",
        "(packer build x) | tee l",
        "time packer build x | tee l",
        "{ packer build x; } 2>&1 | tee l",
        "for f in a b; do\n  packer build \"$f\"\ndone | tee l",
        "if true; then packer build x; fi | tee l",
        "( cd packer && packer build . ) | tee l",
    ] {
        let r = check_buildspec("b", &buildspec(&[script]));
        assert_eq!(statuses(&r), vec![Status::Fail], "{script:?}: {r:#?}");
    }
}

#[test]
fn shell_forms_that_do_not_pipe_packer() {
    for script in [
        "packer build x.json > build.log",
        "packer build x.json || exit 1",
        "packer build x.json && echo done | tee -a log",
        "echo x | packer build -",
        "packer build x >| build.log",
        "# packer build x | tee l",
        "echo \"packer build x | tee l\"",
        "echo 'packer | tee'",
        "echo packer | tee l",
        "cat > s.sh <<'EOF'\npacker build x | tee l\nEOF\nbash s.sh",
        "cat <<-EOF > s.sh\n\tpacker build x | tee l\n\tEOF\necho ok",
        "packer build x | tee l; exit \"${PIPESTATUS[0]}\"",
        "packer version",
        "x=\"${a//|/ }\"",
        "{ echo a; } | tee l",
        "for f in a b; do\n  packer build \"$f\"\ndone > l",
        "( packer build x ) > l; echo hi | tee -a l",
        "case $x in a) packer build x;; esac",
    ] {
        let r = check_buildspec("b", &buildspec(&[script]));
        assert_eq!(statuses(&r), vec![Status::Ok], "{script:?}: {r:#?}");
    }
}

#[test]
fn finally_blocks_and_line_numbers() {
    let text = "phases:\n  build:\n    commands:\n      - echo hi\n    finally:\n      - |\n        echo one\n        echo two\n        packer build x | tee l\n";
    let r = check_buildspec("b", text);
    assert_eq!(statuses(&r), vec![Status::Fail]);
    assert!(
        r[0].detail
            .starts_with("phase build, finally command 1, line 3: `packer build x | tee l`"),
        "{}",
        r[0].detail
    );
}

#[test]
fn buildspec_without_phases_or_unreadable() {
    assert_eq!(
        statuses(&check_buildspec("b", "version: 0.2\n")),
        vec![Status::Warn]
    );
    assert_eq!(
        statuses(&check_buildspec("b", "phases:\n  build: {}\n")),
        vec![Status::Warn]
    );
    assert_eq!(
        statuses(&check_buildspec("b", "phases: [\n")),
        vec![Status::Fail]
    );
}

// ---- check_retention_values -------------------------------------------------------------

/// A stand-in for the retention linter: flags a few of the scheduler's
/// pitfalls, with the linter's `severity[code]` prefix.
fn fake_lint(key: &str, value: &str) -> Vec<String> {
    let mut f = Vec::new();
    if value.starts_with(' ') {
        f.push(format!(
            "error[leading-space] {key}={value:?}: leading space"
        ));
    }
    if value.eq_ignore_ascii_case("none") {
        f.push(format!("warning[excluded] {key}={value:?}: excluded"));
    }
    if value.contains("EST") {
        f.push(format!(
            "error[zone-without-slash] {key}={value:?}: zone without slash"
        ));
    }
    f
}

#[test]
fn packer_hcl_tags() {
    let hcl = r#"
source "amazon-ebs" "al2023" {
  tags = {
    Name                         = "x"
    "scheduler:ebs-snapshot"     = "default;30"
  }
  snapshot_tags = {
    "scheduler:ebs-snapshot:0900" = " 0900;7"
    # "scheduler:ebs-snapshot" = " commented out"
  }
  run_tags = { "scheduler:ebs-snapshot" = "none" }
  x = { "scheduler:ebs-snapshot-b" : "2330;7;EST" }
  y = { "scheduler:ebs-snapshot" = "${var.retention}" }
  z = { "scheduler:ebs-snapshot" = "$${literal}" }
  w = { "scheduler:ebs-snapshot" = var.retention }
}
"#;
    let r = check_retention_values("packer/ami.pkr.hcl", hcl, &fake_lint);
    assert_eq!(
        statuses(&r),
        vec![
            Status::Ok,
            Status::Fail,
            Status::Warn,
            Status::Fail,
            Status::Warn,
            Status::Ok,
            Status::Warn
        ],
        "{r:#?}"
    );
    assert_eq!(
        r[0].detail,
        "tag scheduler:ebs-snapshot = \"default;30\" (line 5) passes the retention linter"
    );
    assert!(
        r[1].detail.contains("error[leading-space]"),
        "{}",
        r[1].detail
    );
    assert!(r[4].detail.contains("cannot evaluate"), "{}", r[4].detail);
    assert!(r[5].detail.contains("\"${literal}\""), "{}", r[5].detail);
    assert!(r[6].detail.contains("var.retention"), "{}", r[6].detail);
}

#[test]
fn packer_json_template_tags() {
    let json = r#"{"builders": [{"type": "amazon-ebs", "tags": {"scheduler:ebs-snapshot": "default;14"}}]}"#;
    let r = check_retention_values("packer/ami.json", json, &fake_lint);
    assert_eq!(statuses(&r), vec![Status::Ok]);
}

#[test]
fn repo_files_retention() {
    let r = check_retention_values(
        "cloudformation/pipeline.yaml",
        &repo_file("cloudformation/pipeline.yaml"),
        &fake_lint,
    );
    assert!(!r.is_empty());
    assert!(r.iter().all(|x| x.status == Status::Ok), "{r:#?}");
    assert!(r.iter().any(|x| x.detail
            == "parameter RetentionDays: Default \"30\" as tag scheduler:ebs-snapshot = \"default;30\" passes the retention linter"), "{r:#?}");
    for f in ["packer/ami.pkr.hcl", "packer/variables.pkr.hcl"] {
        let r = check_retention_values(f, &repo_file(f), &fake_lint);
        assert!(r.iter().all(|x| x.status == Status::Ok), "{f}: {r:#?}");
    }
    // The linter sees what the tag would be.
    let seen = std::cell::RefCell::new(Vec::new());
    let spy = |k: &str, v: &str| {
        seen.borrow_mut().push((k.to_string(), v.to_string()));
        Vec::new()
    };
    check_retention_values("p", &repo_file("cloudformation/pipeline.yaml"), &spy);
    assert!(seen
        .borrow()
        .contains(&("scheduler:ebs-snapshot".into(), "default;30".into())));
}

#[test]
fn cloudformation_parameters_and_tags() {
    let tpl = r#"
Parameters:
  RetentionDays: {Type: Number, Default: 30}
  SnapshotRetention: {Type: String, Default: "2330;7;EST"}
  RetentionNoDefault: {Type: Number}
  Other: {Type: String, Default: " x"}
Resources:
  Vol:
    Type: AWS::EC2::Volume
    Properties:
      Tags:
        - Key: scheduler:ebs-snapshot
          Value: !Sub "default;${RetentionDays}"
        - Key: scheduler:ebs-snapshot:b
          Value: !Ref SnapshotRetention
        - Key: scheduler:ebs-snapshot:c
          Value: !GetAtt Thing.Value
        - Key: Name
          Value: " whatever"
  Param:
    Type: AWS::SSM::Parameter
    Properties:
      Tags:
        "scheduler:ebs-snapshot": none
"#;
    let r = check_retention_values("t.yaml", tpl, &fake_lint);
    assert_eq!(
        statuses(&r),
        vec![
            Status::Ok,
            Status::Fail,
            Status::Ok,
            Status::Fail,
            Status::Warn,
            Status::Warn
        ],
        "{r:#?}"
    );
    assert!(
        r[2].detail
            .contains("\"default;30\" at Resources.Vol.Properties.Tags[0]"),
        "{}",
        r[2].detail
    );
    assert!(
        r[4].detail.contains("cannot evaluate !GetAtt"),
        "{}",
        r[4].detail
    );
    assert!(r[5].detail.contains("warning[excluded]"), "{}", r[5].detail);
}

#[test]
fn no_retention_values_no_results() {
    assert!(check_retention_values("x", "", &fake_lint).is_empty());
    assert!(check_retention_values("x", "Resources: {}\n", &fake_lint).is_empty());
}

// ---- results, report, hook --------------------------------------------------------------

#[test]
fn display_and_json() {
    let report = CheckReport::new(vec![
        CheckResult::ok("a.yaml", "fine"),
        CheckResult::warn("b", "hmm"),
        CheckResult::fail("c", "broken"),
    ]);
    assert_eq!(
        report.to_string(),
        "ok    a.yaml: fine\nwarn  b: hmm\nfail  c: broken\n"
    );
    assert!(report.failed());
    assert_eq!(report.worst(), Status::Fail);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["results"][0],
        serde_json::json!({"name": "a.yaml", "status": "ok", "detail": "fine"})
    );
    assert_eq!(json["results"][2]["status"], "fail");
    assert!(!CheckReport::default().failed());
    let mut r = CheckReport::default();
    r.push(CheckResult::warn("x", "y"));
    r.extend(vec![CheckResult::ok("x", "y")]);
    assert!(!r.failed());
    assert_eq!(r.worst(), Status::Warn);
}

#[test]
fn hook_script() {
    let hook = pre_commit_hook();
    assert!(hook.starts_with("#!/usr/bin/env bash\n"));
    assert!(hook.contains(HOOK_MARKER));
    assert!(hook.contains("set -euo pipefail"));
    assert!(hook.contains("git rev-parse --show-toplevel"));
    assert!(hook.contains("\"${ami_builder}\" check"));
    assert_eq!(classify_hook(hook.as_bytes()), HookFile::Ours);
    assert!(matches!(
        classify_hook(b"#!/bin/sh\nx\n"),
        HookFile::Foreign(_)
    ));
    assert!(matches!(classify_hook(b"\xff\xfe"), HookFile::Foreign(_)));
    assert!(matches!(
        classify_hook(b"#!/bin/sh\0\n"),
        HookFile::Foreign(_)
    ));
}

// ---- helpers and properties -------------------------------------------------------------

#[test]
fn set_pipefail_forms() {
    let w = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(set_pipefail(&w("set -o pipefail")), Some(true));
    assert_eq!(set_pipefail(&w("set -euo pipefail")), Some(true));
    assert_eq!(set_pipefail(&w("set +o pipefail")), Some(false));
    assert_eq!(set_pipefail(&w("set -e")), None);
    assert_eq!(set_pipefail(&w("set -o errexit")), None);
    assert_eq!(set_pipefail(&w("echo -o pipefail")), None);
}

#[test]
fn near_misses() {
    assert!(near_miss("created", "Created"));
    assert!(near_miss(" AmiBuilder ", "AmiBuilder"));
    // a swapped pair is one edit, two more are still near
    assert!(near_miss("com.ami.buidler", "com.ami.builder"));
    assert!(near_miss("com.amy.buidler", "com.ami.builder"));
    assert!(!near_miss("com.amy.buidlre", "com.ami.builder"));
    assert!(!near_miss("aws.ec2", "com.ami.builder"));
    // short names must match exactly (but for case)
    assert!(!near_miss("Cre", "Crx"));
}

#[test]
fn yaml_tags_become_intrinsics() {
    let doc = parse_document(
        "a: !Sub \"${X}\"\nb: !GetAtt [A, B]\nc: !!str 30\nd: 30\ne: '30'\nf: ! 7\ng: 1.50\n",
    )
    .unwrap();
    assert_eq!(
        doc.get("a").unwrap().intrinsic_name().as_deref(),
        Some("!Sub")
    );
    assert_eq!(
        doc.get("b").unwrap().to_json(),
        r#"{"Fn::GetAtt":["A","B"]}"#
    );
    assert_eq!(doc.get("c"), Some(&Node::Str("30".into())));
    assert_eq!(doc.get("d"), Some(&Node::Int(30)));
    assert_eq!(doc.get("e"), Some(&Node::Str("30".into())));
    assert_eq!(doc.get("f"), Some(&Node::Str("7".into())));
    assert_eq!(doc.get("g").unwrap().to_json(), "1.50");
    assert_eq!(
        Node::Intrinsic {
            tag: "Ref".into(),
            arg: Box::new(Node::Str("X".into()))
        }
        .to_json(),
        r#"{"Ref":"X"}"#
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn never_panics_on_any_text(text in "\\PC{0,400}") {
        let _ = rules(&text);
        let _ = check_buildspec("b", &text);
        let _ = check_retention_values("r", &text, &fake_lint);
    }

    #[test]
    fn never_panics_on_yamlish_text(parts in proptest::collection::vec(
        prop_oneof![
            Just("Resources:\n"), Just("  R:\n"), Just("    Type: AWS::Events::Rule\n"),
            Just("    Properties:\n"), Just("      EventPattern:\n"), Just("        source: [com.ami.builder]\n"),
            Just("        detail: {AmiStatus: [!Ref X]}\n"), Just("- |\n"), Just("  packer build x | tee l\n"),
            Just("phases:\n"), Just("  build:\n"), Just("    commands:\n"), Just("      - set -o pipefail\n"),
            Just("&a "), Just("*a\n"), Just("!Sub "), Just("'"), Just("\""), Just("<<EOF\n"), Just("EOF\n"),
            Just("\\\n"), Just("$("), Just(")"), Just("${"), Just("}"), Just("#"), Just("|"), Just("\t"),
            Just("\"scheduler:ebs-snapshot\" = \"x\"\n"), Just("  RetentionDays: {Default: 3}\n"), Just("Parameters:\n"),
        ],
        0..40,
    )) {
        let text: String = parts.concat();
        let _ = rules(&text);
        let _ = check_buildspec("b", &text);
        let _ = check_retention_values("r", &text, &fake_lint);
    }

    #[test]
    fn a_rule_written_from_the_event_matches_it(
        status in prop::sample::select(KNOWN_STATUSES),
        with_type in any::<bool>(),
        with_region in any::<bool>(),
    ) {
        let event = event_for(status);
        let mut pattern = format!("source: [{DEFAULT_SOURCE}]\ndetail:\n  AmiStatus: [{status}]");
        if with_type {
            pattern.push_str(&format!("\ndetail-type: [{}]", event["detail-type"].as_str().unwrap()));
        }
        if with_region {
            pattern.push_str("\nregion: [us-east-1]");
        }
        let r = one(&rule_yaml(&pattern));
        prop_assert_eq!(r.status, Status::Ok, "{:?}", r);
        prop_assert_eq!(r.detail, format!("rule MyRule matches the {status} event"));
    }
}

/// Every AmiStatus is one ami-builder sends (promote, revoke, the prune
/// ladder, prune undo), so a rule for any of them is checked, not warned
/// about as a status nothing sends; a status outside the list still warns.
#[test]
fn a_rule_for_any_status_ami_builder_sends_is_checked_as_known() {
    for status in crate::events::entry::AmiStatus::ALL {
        let r = one(&rule_yaml(&format!(
            "source: [com.ami.builder]\ndetail-type: [AmiBuilder]\ndetail:\n  AmiStatus: [{status}]"
        )));
        assert_eq!(r.status, Status::Ok, "{status}: {r:?}");
        assert!(
            r.detail.contains(&format!("matches the {status} event")),
            "{r:?}"
        );
    }
    let r = one(&rule_yaml(
        "source: [com.ami.builder]\ndetail-type: [AmiBuilder]\ndetail:\n  AmiStatus: [Exploded]",
    ));
    assert_eq!(r.status, Status::Warn, "{r:?}");
    assert!(r.detail.contains("Promoted"), "names what it sends: {r:?}");
    let sent: Vec<&str> = crate::events::entry::AmiStatus::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(super::KNOWN_STATUSES, sent.as_slice());
}
