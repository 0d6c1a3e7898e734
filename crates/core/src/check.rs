//! The pure core of `ami-builder check`, the offline pre-commit check: given the
//! text of the pipeline files, say whether the pipeline would fail silently.
//!
//! It owns four things:
//!
//! * [`check_rules`]: every EventBridge rule in a CloudFormation template that
//!   targets our events matches the event `ami-builder` sends (checked with
//!   [`crate::events::pattern`], explained field by field when it does not);
//! * [`check_retention_values`]: the `scheduler:ebs-snapshot` tag values in a
//!   Packer template and the retention parameters of a CloudFormation template
//!   pass the retention linter (which the caller plugs in);
//! * [`check_buildspec`]: no buildspec command pipes Packer's (or
//!   `ami-builder build`'s) output into another command without
//!   `set -o pipefail`, the AWS sample's bug that hid Packer's exit status;
//! * [`pre_commit_hook`]: the git hook `ami-builder check --install-hook` writes.
//!
//! It does no I/O: no files, no processes, no environment, no clock, no AWS.
//! Text goes in, [`CheckResult`]s come out; the caller reads the files, runs
//! `packer validate`, builds the events (with [`crate::events::entry`]) and
//! prints the [`CheckReport`].
//!
//! YAML is read with `yaml-rust2`'s event parser into a small tree that keeps
//! key order and CloudFormation's short-form tags (`!Sub`, `!Ref`, `!GetAtt`,
//! ...), which become intrinsic-function nodes (`{"Fn::Sub": ...}` in JSON
//! form). A pattern that uses one cannot be evaluated offline; the rest of it
//! still is (see [`check_rules`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;
use serde_json::Value;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};
use yaml_rust2::Yaml;

use crate::events::pattern::Pattern;

/// The `AmiStatus` values ami-builder itself sends: `build` sends `Created`,
/// `prune --events` sends `Deregistered`. The first is the default.
pub const KNOWN_STATUSES: &[&str] = &["Created", "Deregistered"];

/// The retention tag key prefix (the EBS Snapshot Scheduler's default name).
pub const SCHEDULER_TAG_PREFIX: &str = "scheduler:ebs-snapshot";

/// A line in every hook [`pre_commit_hook`] writes, so `--install-hook` can
/// tell its own hook from someone else's before replacing it.
pub const HOOK_MARKER: &str = "# ami-builder pre-commit hook";

/// Deepest YAML nesting read; deeper documents are rejected (no template
/// comes near it, and it keeps the tree walks' recursion bounded).
const MAX_YAML_DEPTH: usize = 200;
/// Most nodes a document may expand to through aliases (against "billion
/// laughs" documents).
const MAX_YAML_NODES: usize = 1_000_000;

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

/// The verdict of one check. Ordered: `Ok < Warn < Fail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nothing wrong.
    Ok,
    /// Worth reading, does not fail the check (e.g. cannot be evaluated offline).
    Warn,
    /// The pipeline would fail silently; `ami-builder check` exits non-zero.
    Fail,
}

impl Status {
    /// `ok`, `warn` or `fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One finding: which file (or check) and what was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// What was checked, usually the file (e.g. `cloudformation/pipeline.yaml`).
    pub name: String,
    /// The verdict.
    pub status: Status,
    /// One line saying what was found, e.g. `rule AmiCreatedRule matches the Created event`.
    pub detail: String,
}

impl CheckResult {
    /// A result with the given status.
    pub fn new(name: impl Into<String>, status: Status, detail: impl Into<String>) -> Self {
        CheckResult {
            name: name.into(),
            status,
            detail: detail.into(),
        }
    }

    /// An `ok` result.
    pub fn ok(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(name, Status::Ok, detail)
    }

    /// A `warn` result.
    pub fn warn(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(name, Status::Warn, detail)
    }

    /// A `fail` result.
    pub fn fail(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(name, Status::Fail, detail)
    }
}

impl fmt::Display for CheckResult {
    /// `ok    name: detail` (the status padded so the names line up).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<5} {}: {}", self.status, self.name, self.detail)
    }
}

/// Every result of one `ami-builder check` run, in the order checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// The results.
    pub results: Vec<CheckResult>,
}

impl CheckReport {
    /// A report of these results.
    pub fn new(results: Vec<CheckResult>) -> Self {
        CheckReport { results }
    }

    /// Add one result.
    pub fn push(&mut self, result: CheckResult) {
        self.results.push(result);
    }

    /// Add several results.
    pub fn extend(&mut self, results: impl IntoIterator<Item = CheckResult>) {
        self.results.extend(results);
    }

    /// The worst status (`Ok` for an empty report).
    pub fn worst(&self) -> Status {
        self.results
            .iter()
            .map(|r| r.status)
            .max()
            .unwrap_or(Status::Ok)
    }

    /// Whether any check failed (the command then exits non-zero).
    pub fn failed(&self) -> bool {
        self.worst() == Status::Fail
    }
}

impl fmt::Display for CheckReport {
    /// One line per result.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.results {
            writeln!(f, "{r}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// 1. EventBridge rules
// ---------------------------------------------------------------------------------------------

/// Checks every EventBridge rule of a CloudFormation template (YAML or JSON
/// text) that targets `our_source` against the event ami-builder sends.
///
/// Rules are `AWS::Events::Rule` resources with an `EventPattern` (a YAML/JSON
/// map or a JSON string), and the `EventBridgeRule`/`CloudWatchEvent` events
/// of SAM functions. A rule targets us when a value of its `source` field
/// contains `our_source`, is a near miss of it (a typo, another case, a stray
/// space: such a rule is meant for us and must be reported), or is a `prefix`
/// or `wildcard` that accepts it; a rule without a `source` targets us when its
/// `detail-type` names the event's. Other rules are not reported.
///
/// The event to match is `event_for_status(status)`, an envelope as
/// EventBridge delivers it. The status is read from the pattern's
/// `detail.AmiStatus`: a value that is one of [`KNOWN_STATUSES`] is used as
/// written; one that is a near miss of a known status (`created`) is checked
/// against the known status (and fails, with the explanation); any other
/// literal is checked as written, but only warns, since ami-builder itself
/// never sends it. Without a literal, each known status is tried and the rule
/// passes when one of them matches; the default is `Created`.
///
/// One result per rule: `ok` when it matches, `fail` with [`Pattern::explain`]'s
/// reason when it does not, or when the pattern is invalid. `warn` when the
/// pattern uses intrinsic functions (`!Sub`, `!Ref`, ...): those parts cannot
/// be evaluated offline, so the rule is checked without them (which can only
/// make it match more events; a mismatch there is still a `fail`). Also `warn`
/// for a matching rule that is `DISABLED` or that gives a field twice. A
/// template that cannot be read gives one `fail`; one without rules for us
/// gives no result.
pub fn check_rules(
    template_name: &str,
    template_text: &str,
    our_source: &str,
    event_for_status: &dyn Fn(&str) -> Value,
) -> Vec<CheckResult> {
    let doc = match parse_document(template_text) {
        Ok(doc) => doc,
        Err(e) => {
            return vec![CheckResult::fail(
                template_name,
                format!("cannot read the template: {e}"),
            )]
        }
    };
    let default_event = event_for_status(KNOWN_STATUSES[0]);
    let our_detail_type = default_event
        .get("detail-type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut results = Vec::new();
    for rule in find_rules(&doc) {
        let Some(status) = check_one_rule(&rule, our_source, &our_detail_type, event_for_status)
        else {
            continue;
        };
        results.push(CheckResult::new(template_name, status.0, status.1));
    }
    results
}

/// A rule found in a template.
struct Rule<'a> {
    /// `AmiCreatedRule`, or `Function.EventName` for a SAM event.
    name: String,
    pattern: &'a Node,
    disabled: bool,
}

fn find_rules(doc: &Node) -> Vec<Rule<'_>> {
    let mut rules = Vec::new();
    let Some(Node::Map(resources)) = doc.get("Resources") else {
        return rules;
    };
    for (name, res) in resources {
        let ty = res.get("Type").and_then(Node::as_str).unwrap_or_default();
        let Some(props) = res.get("Properties") else {
            continue;
        };
        if ty == "AWS::Events::Rule" {
            if let Some(pattern) = props.get("EventPattern") {
                let disabled = props
                    .get("State")
                    .and_then(Node::as_str)
                    .is_some_and(|s| s == "DISABLED");
                rules.push(Rule {
                    name: name.clone(),
                    pattern,
                    disabled,
                });
            }
        } else if ty == "AWS::Serverless::Function" {
            let Some(Node::Map(events)) = props.get("Events") else {
                continue;
            };
            for (ev_name, ev) in events {
                let ev_ty = ev.get("Type").and_then(Node::as_str).unwrap_or_default();
                if ev_ty != "EventBridgeRule" && ev_ty != "CloudWatchEvent" {
                    continue;
                }
                let ev_props = ev.get("Properties");
                if let Some(pattern) = ev_props.and_then(|p| p.get("Pattern")) {
                    let disabled = ev_props
                        .and_then(|p| p.get("State"))
                        .and_then(Node::as_str)
                        .is_some_and(|s| s == "DISABLED")
                        || ev_props
                            .and_then(|p| p.get("Enabled"))
                            .is_some_and(|e| matches!(e, Node::Bool(false)));
                    rules.push(Rule {
                        name: format!("{name}.{ev_name}"),
                        pattern,
                        disabled,
                    });
                }
            }
        }
    }
    rules
}

/// The verdict for one rule, or `None` when it does not target us.
fn check_one_rule(
    rule: &Rule<'_>,
    our_source: &str,
    our_detail_type: &str,
    event_for_status: &dyn Fn(&str) -> Value,
) -> Option<(Status, String)> {
    let name = &rule.name;
    // The pattern as a tree (for reading it) and, when it can be compiled, as
    // JSON text in document order (for the pattern engine).
    let (tree, text, intrinsics) = match rule.pattern {
        Node::Str(s) => match serde_json::from_str::<Value>(s) {
            Ok(v) => (Node::from_value(&v), Some(s.clone()), Vec::new()),
            Err(e) => {
                // Cannot be read; report it only when it is about us.
                if !mentions(s, our_source) {
                    return None;
                }
                return Some((
                    Status::Fail,
                    format!("rule {name}: its EventPattern is not valid JSON: {e}"),
                ));
            }
        },
        node => {
            let mut found = Vec::new();
            collect_intrinsics(node, "", &mut found);
            (node.clone(), None, found)
        }
    };

    if !targets_us(&tree, our_source, our_detail_type) {
        return None;
    }

    let mut warnings = Vec::new();
    let text = match text {
        Some(t) => t,
        None if intrinsics.is_empty() => tree.to_json(),
        None => {
            let list = describe_intrinsics(&intrinsics);
            let relaxed = strip_intrinsics(&tree);
            match relaxed {
                Some(r) if !r.is_empty_map() => {
                    warnings.push(format!(
                        "cannot evaluate {list} (resolved at deploy time), checked without {}",
                        if intrinsics.len() == 1 { "it" } else { "them" }
                    ));
                    r.to_json()
                }
                _ => {
                    return Some((
                        Status::Warn,
                        format!("rule {name}: cannot evaluate its EventPattern: it is built with {list} (resolved at deploy time)"),
                    ))
                }
            }
        }
    };

    let pattern = match Pattern::parse_str(&text) {
        Ok(p) => p,
        Err(e) => {
            return Some((
                Status::Fail,
                format!("rule {name}: its EventPattern is invalid: {e}"),
            ))
        }
    };
    if !pattern.overridden_paths().is_empty() {
        warnings.push(format!(
            "the pattern gives {} more than once and only the last counts",
            pattern.overridden_paths().join(", ")
        ));
    }
    if rule.disabled {
        warnings.push("the rule is DISABLED".to_string());
    }

    let choice = choose_status(&tree);
    let (status_name, verdict) = match &choice {
        StatusChoice::Known(s) | StatusChoice::NearMiss { known: s, .. } => {
            (s.clone(), pattern.explain(&event_for_status(s)))
        }
        StatusChoice::Foreign(s) => {
            warnings.push(format!(
                "ami-builder never sends AmiStatus {s:?} itself (it sends {})",
                KNOWN_STATUSES.join(" and ")
            ));
            (s.clone(), pattern.explain(&event_for_status(s)))
        }
        StatusChoice::Any => {
            // The first known status whose event matches; else the default's
            // explanation.
            let mut verdicts = KNOWN_STATUSES
                .iter()
                .map(|s| (s.to_string(), pattern.explain(&event_for_status(s))));
            let first = verdicts.next()?;
            if first.1.is_ok() {
                first
            } else {
                verdicts.find(|(_, v)| v.is_ok()).unwrap_or(first)
            }
        }
    };
    match verdict {
        Ok(()) => {
            let mut detail = format!("rule {name} matches the {status_name} event");
            if warnings.is_empty() {
                Some((Status::Ok, detail))
            } else {
                detail.push_str(", but ");
                detail.push_str(&warnings.join("; "));
                Some((Status::Warn, detail))
            }
        }
        Err(mismatch) => {
            let mut detail =
                format!("rule {name} does not match the {status_name} event: {mismatch}");
            if let StatusChoice::NearMiss { written, known } = &choice {
                detail.push_str(&format!(
                    " (the rule asks for AmiStatus {written:?}; ami-builder sends {known:?})"
                ));
            }
            if !warnings.is_empty() {
                detail.push_str("; ");
                detail.push_str(&warnings.join("; "));
            }
            Some((Status::Fail, detail))
        }
    }
}

/// Which event a rule is checked against.
enum StatusChoice {
    /// A status ami-builder sends, written exactly.
    Known(String),
    /// A near miss of a known status: checked against the known one.
    NearMiss { written: String, known: String },
    /// Some other status: checked as written.
    Foreign(String),
    /// No literal status: try each known one.
    Any,
}

fn choose_status(pattern: &Node) -> StatusChoice {
    let literals = amistatus_literals(pattern);
    if let Some(k) = literals
        .iter()
        .find(|l| KNOWN_STATUSES.contains(&l.as_str()))
    {
        return StatusChoice::Known(k.clone());
    }
    for l in &literals {
        if let Some(k) = KNOWN_STATUSES.iter().find(|k| near_miss(l, k)) {
            return StatusChoice::NearMiss {
                written: l.clone(),
                known: (*k).to_string(),
            };
        }
    }
    match literals.into_iter().next() {
        Some(l) => StatusChoice::Foreign(l),
        None => StatusChoice::Any,
    }
}

/// The plain string values the pattern gives for `detail.AmiStatus`.
fn amistatus_literals(pattern: &Node) -> Vec<String> {
    let field = pattern
        .get("detail")
        .and_then(|d| d.get("AmiStatus"))
        .or_else(|| pattern.get("detail.AmiStatus"));
    match field {
        Some(Node::Seq(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether a rule's pattern is about our events (see [`check_rules`]).
fn targets_us(pattern: &Node, our_source: &str, our_detail_type: &str) -> bool {
    if !matches!(pattern, Node::Map(_)) {
        // A pattern built whole by an intrinsic function: any mention counts.
        let mut strings = Vec::new();
        pattern.strings(&mut strings);
        return strings.iter().any(|s| mentions(s, our_source));
    }
    let mut sources = Vec::new();
    collect_field(pattern, "source", &mut sources);
    if sources.is_empty() {
        if our_detail_type.is_empty() {
            return false;
        }
        let mut types = Vec::new();
        collect_field(pattern, "detail-type", &mut types);
        return types.iter().any(|t| {
            let mut strings = Vec::new();
            t.strings(&mut strings);
            strings.iter().any(|s| mentions(s, our_detail_type))
        });
    }
    sources.iter().any(|s| source_accepts(s, our_source))
}

/// The values of a top-level field, including those inside `$or` branches.
fn collect_field<'a>(pattern: &'a Node, field: &str, out: &mut Vec<&'a Node>) {
    let Node::Map(entries) = pattern else {
        return;
    };
    for (k, v) in entries {
        if k == field {
            out.push(v);
        } else if k == "$or" {
            if let Node::Seq(branches) = v {
                for b in branches {
                    collect_field(b, field, out);
                }
            }
        }
    }
}

/// Whether a `source` condition names our source (or nearly does).
fn source_accepts(cond: &Node, our_source: &str) -> bool {
    let mut strings = Vec::new();
    cond.strings(&mut strings);
    if strings.iter().any(|s| mentions(s, our_source)) {
        return true;
    }
    // Operators that accept it without naming it.
    let items: Vec<&Node> = match cond {
        Node::Seq(items) => items.iter().collect(),
        other => vec![other],
    };
    items.iter().any(|item| {
        if let Some(p) = item.get("prefix").and_then(Node::as_str) {
            return !p.is_empty() && our_source.starts_with(p);
        }
        if let Some(w) = item.get("wildcard").and_then(Node::as_str) {
            let text = serde_json::json!({ "source": [{ "wildcard": w }] }).to_string();
            return Pattern::parse_str(&text)
                .is_ok_and(|p| p.matches(&serde_json::json!({ "source": our_source })));
        }
        false
    })
}

/// `text` contains `ours`, or is a near miss of it.
fn mentions(text: &str, ours: &str) -> bool {
    !ours.is_empty() && (text.contains(ours) || near_miss(text, ours))
}

/// Another case, stray whitespace, or at most two edits away (for names of
/// five characters or more).
fn near_miss(text: &str, target: &str) -> bool {
    let t = text.trim().to_lowercase();
    let g = target.to_lowercase();
    if t == g {
        return true;
    }
    if g.chars().count() < 5 || t.len() > 256 || g.len() > 256 {
        return false;
    }
    edit_distance(&t, &g) <= 2
}

/// Optimal string alignment distance (Levenshtein with transpositions).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// Intrinsic functions in a pattern, with their paths.
fn collect_intrinsics(node: &Node, path: &str, out: &mut Vec<(String, String)>) {
    if let Some(name) = node.intrinsic_name() {
        out.push((path.to_string(), name));
        return;
    }
    match node {
        Node::Map(entries) => {
            for (k, v) in entries {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                collect_intrinsics(v, &p, out);
            }
        }
        Node::Seq(items) => {
            for (i, v) in items.iter().enumerate() {
                collect_intrinsics(v, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn describe_intrinsics(found: &[(String, String)]) -> String {
    let parts: Vec<String> = found
        .iter()
        .map(|(path, name)| {
            if path.is_empty() {
                name.clone()
            } else {
                format!("{name} at {path}")
            }
        })
        .collect();
    parts.join(", ")
}

/// The pattern without the fields that use intrinsic functions. Dropping a
/// field (or a whole `$or`) only widens what the pattern matches, so a
/// mismatch of what remains is a mismatch of the rule. `None` when the
/// pattern itself is an intrinsic.
fn strip_intrinsics(node: &Node) -> Option<Node> {
    if node.intrinsic_name().is_some() {
        return None;
    }
    let Node::Map(entries) = node else {
        return Some(node.clone());
    };
    let mut kept = Vec::new();
    for (k, v) in entries {
        if v.intrinsic_name().is_some() {
            continue;
        }
        match v {
            Node::Map(_) => {
                if let Some(inner) = strip_intrinsics(v) {
                    if !inner.is_empty_map() {
                        kept.push((k.clone(), inner));
                    }
                }
            }
            other => {
                if !other.contains_intrinsic() {
                    kept.push((k.clone(), other.clone()));
                }
            }
        }
    }
    Some(Node::Map(kept))
}

// ---------------------------------------------------------------------------------------------
// 2. Retention values
// ---------------------------------------------------------------------------------------------

/// Lints the retention values a file sets with `lint(tag key, tag value)`,
/// which returns the findings (empty when clean). A finding that starts with
/// `warning` makes the result `warn`; any other makes it `fail`.
///
/// * A CloudFormation template (YAML or JSON with `Resources`, `Parameters` or
///   `AWSTemplateFormatVersion`): the `Default` of every parameter whose name
///   contains `Retention` (log retention parameters excepted), as the tag value `ami-builder build --retention-days`
///   writes from it (`default;N` for a whole number N, the value itself
///   otherwise), linted under the key [`SCHEDULER_TAG_PREFIX`]; and every tag
///   written in the template whose key starts with it (`Key`/`Value` lists and
///   key-value maps). `!Ref` and `!Sub` of parameters are evaluated with the
///   parameters' defaults; other intrinsic functions give `warn`.
/// * Anything else (a Packer HCL or JSON template): every
///   `"scheduler:ebs-snapshot..." = "value"` (or `: "value"`) line, as found in
///   `tags` and `snapshot_tags`. A value built with `${...}` or an expression
///   gives `warn` (cannot be evaluated offline).
///
/// One result per value; none when the file sets no retention value.
pub fn check_retention_values(
    name: &str,
    text: &str,
    lint: &dyn Fn(&str, &str) -> Vec<String>,
) -> Vec<CheckResult> {
    match parse_document(text) {
        Ok(doc) if is_cloudformation(&doc) => cfn_retention(name, &doc, lint),
        _ => hcl_retention(name, text, lint),
    }
}

fn is_cloudformation(doc: &Node) -> bool {
    matches!(doc, Node::Map(_))
        && ["Resources", "Parameters", "AWSTemplateFormatVersion"]
            .iter()
            .any(|k| doc.get(k).is_some())
}

/// A result for one linted value.
fn lint_result(
    name: &str,
    what: &str,
    key: &str,
    value: &str,
    lint: &dyn Fn(&str, &str) -> Vec<String>,
) -> CheckResult {
    let findings = lint(key, value);
    if findings.is_empty() {
        return CheckResult::ok(name, format!("{what} passes the retention linter"));
    }
    let status = if findings
        .iter()
        .all(|f| f.trim_start().to_lowercase().starts_with("warning"))
    {
        Status::Warn
    } else {
        Status::Fail
    };
    CheckResult::new(name, status, format!("{what}: {}", findings.join("; ")))
}

static HCL_TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#""(scheduler:ebs-snapshot[^"]*)"\s*[=:]\s*(.*)$"#).expect("a valid regex")
});

fn hcl_retention(
    name: &str,
    text: &str,
    lint: &dyn Fn(&str, &str) -> Vec<String>,
) -> Vec<CheckResult> {
    let mut results = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') || trimmed.starts_with("//") {
            continue;
        }
        let Some(caps) = HCL_TAG.captures(line) else {
            continue;
        };
        let (Some(key), Some(rest)) = (caps.get(1), caps.get(2)) else {
            continue;
        };
        let key = key.as_str();
        let rest = rest.as_str().trim();
        let lineno = i + 1;
        match read_quoted(rest) {
            Some(value) if !has_interpolation(&value) => {
                let value = value.replace("$${", "${").replace("%%{", "%{");
                let what = format!("tag {key} = {value:?} (line {lineno})");
                results.push(lint_result(name, &what, key, &value, lint));
            }
            Some(value) => results.push(CheckResult::warn(
                name,
                format!("tag {key} = {value:?} (line {lineno}): cannot evaluate the interpolation offline"),
            )),
            None => {
                let expr = rest.trim_end_matches(',').trim();
                results.push(CheckResult::warn(
                    name,
                    format!("tag {key} = {expr} (line {lineno}): cannot evaluate the expression offline"),
                ));
            }
        }
    }
    results
}

/// The string literal at the start of `s` (HCL/JSON escapes), if it is one.
fn read_quoted(s: &str) -> Option<String> {
    let mut chars = s.strip_prefix('"')?.chars();
    let mut out = String::new();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

/// `${...}` or `%{...}` not escaped as `$${` / `%%{`.
fn has_interpolation(s: &str) -> bool {
    let b = s.as_bytes();
    (1..b.len()).any(|i| {
        b[i] == b'{' && (b[i - 1] == b'$' || b[i - 1] == b'%') && (i < 2 || b[i - 2] != b[i - 1])
    })
}

fn cfn_retention(
    name: &str,
    doc: &Node,
    lint: &dyn Fn(&str, &str) -> Vec<String>,
) -> Vec<CheckResult> {
    let mut results = Vec::new();
    let params: HashMap<String, String> = match doc.get("Parameters") {
        Some(Node::Map(ps)) => ps
            .iter()
            .filter_map(|(k, p)| {
                p.get("Default")
                    .and_then(Node::scalar_text)
                    .map(|d| (k.clone(), d))
            })
            .collect(),
        _ => HashMap::new(),
    };
    if let Some(Node::Map(ps)) = doc.get("Parameters") {
        for (pname, p) in ps {
            if !pname.contains("Retention") || pname.contains("Log") {
                continue;
            }
            let Some(default) = p.get("Default").and_then(Node::scalar_text) else {
                continue;
            };
            let value = if default.trim().parse::<u64>().is_ok() {
                format!("default;{}", default.trim())
            } else {
                default.clone()
            };
            let what = format!(
                "parameter {pname}: Default {default:?} as tag {SCHEDULER_TAG_PREFIX} = {value:?}"
            );
            results.push(lint_result(name, &what, SCHEDULER_TAG_PREFIX, &value, lint));
        }
    }
    let mut tags = Vec::new();
    if let Some(resources) = doc.get("Resources") {
        collect_tags(resources, "Resources", &mut tags);
    }
    for (path, key, value) in tags {
        match evaluate_with_defaults(value, &params) {
            Some(v) => {
                let what = format!("tag {key} = {v:?} at {path}");
                results.push(lint_result(name, &what, &key, &v, lint));
            }
            None => results.push(CheckResult::warn(
                name,
                format!(
                    "tag {key} at {path}: cannot evaluate {} offline",
                    value.intrinsic_name().unwrap_or_else(|| "the value".into())
                ),
            )),
        }
    }
    results
}

/// Retention tags written in a template: `{Key, Value}` maps and map entries.
fn collect_tags<'a>(node: &'a Node, path: &str, out: &mut Vec<(String, String, &'a Node)>) {
    match node {
        Node::Map(entries) => {
            if let (Some(key), Some(value)) =
                (node.get("Key").and_then(Node::as_str), node.get("Value"))
            {
                if key.starts_with(SCHEDULER_TAG_PREFIX) {
                    out.push((path.to_string(), key.to_string(), value));
                    return;
                }
            }
            for (k, v) in entries {
                let p = format!("{path}.{k}");
                if k.starts_with(SCHEDULER_TAG_PREFIX)
                    && (v.intrinsic_name().is_some() || !matches!(v, Node::Map(_) | Node::Seq(_)))
                {
                    out.push((p, k.clone(), v));
                } else {
                    collect_tags(v, &p, out);
                }
            }
        }
        Node::Seq(items) => {
            for (i, v) in items.iter().enumerate() {
                collect_tags(v, &format!("{path}[{i}]"), out);
            }
        }
        Node::Intrinsic { arg, .. } => collect_tags(arg, path, out),
        _ => {}
    }
}

/// A scalar, or `!Ref`/`!Sub` of parameters with defaults; `None` otherwise.
fn evaluate_with_defaults(node: &Node, params: &HashMap<String, String>) -> Option<String> {
    if let Some(text) = node.scalar_text() {
        return Some(text);
    }
    let name = node.intrinsic_name()?;
    let arg = node.intrinsic_arg()?;
    match name.as_str() {
        "!Ref" | "Ref" => params.get(arg.as_str()?).cloned(),
        "!Sub" | "Fn::Sub" => {
            let template = arg.as_str()?;
            let mut out = String::new();
            let mut rest = template;
            while let Some(start) = rest.find("${") {
                out.push_str(&rest[..start]);
                let after = &rest[start + 2..];
                if let Some(lit) = after.strip_prefix('!') {
                    // `${!Literal}` is written as `${Literal}`.
                    out.push_str("${");
                    rest = lit;
                    continue;
                }
                let end = after.find('}')?;
                out.push_str(params.get(&after[..end])?);
                rest = &after[end + 1..];
            }
            out.push_str(rest);
            Some(out)
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Buildspec
// ---------------------------------------------------------------------------------------------

/// Checks that no buildspec command pipes Packer's output, or
/// `ami-builder build`'s, into another command without `set -o pipefail`.
///
/// Without it a pipeline's status is its last command's (`tee`'s), so a
/// failed `packer build` passes the phase: the AWS sample's bug. Each item of
/// `phases.<phase>.commands` (and `finally`) is read as a shell script, with
/// quotes, comments, line continuations, here-documents and `$(...)`. A pipe
/// fails unless `set -o pipefail` (also `set -euo pipefail`, `set -eo pipefail`,
/// `set -o errexit -o pipefail`, ...) came earlier in the same command block,
/// or the block reads `PIPESTATUS` after it. Pipefail set only in an earlier
/// command of the same phase gives `warn`: whether CodeBuild carries shell
/// options from one command to the next depends on the buildspec version and
/// shell, so set it in the block that pipes.
///
/// One `fail`/`warn` per offending pipeline, or one `ok` when there is none.
pub fn check_buildspec(name: &str, text: &str) -> Vec<CheckResult> {
    let doc = match parse_document(text) {
        Ok(doc) => doc,
        Err(e) => {
            return vec![CheckResult::fail(
                name,
                format!("cannot read the buildspec: {e}"),
            )]
        }
    };
    let Some(Node::Map(phases)) = doc.get("phases") else {
        return vec![CheckResult::warn(name, "no phases found: nothing to check")];
    };
    let mut results = Vec::new();
    let mut blocks = 0usize;
    for (phase, body) in phases {
        let mut carried = false;
        for list in ["commands", "finally"] {
            let Some(Node::Seq(commands)) = body.get(list) else {
                continue;
            };
            for (i, cmd) in commands.iter().enumerate() {
                let Some(script) = cmd.scalar_text() else {
                    continue;
                };
                blocks += 1;
                let scan = scan_script(&script, carried);
                carried = scan.pipefail_at_end;
                let place = if list == "commands" {
                    format!("phase {phase}, command {}", i + 1)
                } else {
                    format!("phase {phase}, finally command {}", i + 1)
                };
                for p in scan.problems {
                    let snippet = snippet(&script, p.line);
                    let what = if p.ami_builder {
                        "pipes `ami-builder build`'s output"
                    } else {
                        "pipes Packer's output"
                    };
                    if p.carried {
                        results.push(CheckResult::warn(
                            name,
                            format!(
                                "{place}, line {}: `{snippet}` {what} with `set -o pipefail` only in an earlier command of the phase; set it in this block too, or the pipe may hide the exit status",
                                p.line
                            ),
                        ));
                    } else {
                        results.push(CheckResult::fail(
                            name,
                            format!(
                                "{place}, line {}: `{snippet}` {what} without `set -o pipefail`: the AWS sample's bug, the pipe hides {} exit status; start the block with `set -euo pipefail`",
                                p.line,
                                if p.ami_builder { "its" } else { "Packer's" }
                            ),
                        ));
                    }
                }
            }
        }
    }
    if blocks == 0 {
        return vec![CheckResult::warn(
            name,
            "no phase has commands: nothing to check",
        )];
    }
    if results.is_empty() {
        results.push(CheckResult::ok(
            name,
            format!("no command pipes Packer's or `ami-builder build`'s output without pipefail ({blocks} command blocks)"),
        ));
    }
    results
}

fn snippet(script: &str, line: usize) -> String {
    let text = script
        .lines()
        .nth(line.saturating_sub(1))
        .unwrap_or_default()
        .trim();
    if text.chars().count() > 100 {
        let cut: String = text.chars().take(97).collect();
        format!("{cut}...")
    } else {
        text.to_string()
    }
}

/// One unprotected pipeline.
struct PipeProblem {
    line: usize,
    ami_builder: bool,
    /// Pipefail was only set by an earlier command block of the phase.
    carried: bool,
}

struct ScriptScan {
    problems: Vec<PipeProblem>,
    pipefail_at_end: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word {
        text: String,
        line: usize,
    },
    /// `|` or `|&`.
    Pipe,
    /// `;`, `&&`, `||`, `&`, newline, a backquote: the end of a pipeline.
    Sep,
    /// `(`, `$(` or the reserved word `{`: a group of commands begins.
    Open,
    /// `)` or the reserved word `}`: the group ends.
    Close,
    /// A redirection operator; its target is the next word.
    Redir,
}

/// Splits a shell script into words and operators (enough of bash's grammar
/// to find pipelines and `set` commands).
fn lex_shell(script: &str) -> Vec<Tok> {
    let chars: Vec<char> = script.chars().collect();
    let mut toks = Vec::new();
    let mut word = String::new();
    let mut word_line = 1usize;
    let mut line = 1usize;
    let mut i = 0usize;
    let mut heredocs: Vec<(String, bool)> = Vec::new();
    let mut want_heredoc_word: Option<bool> = None;

    fn flush(
        word: &mut String,
        word_line: usize,
        toks: &mut Vec<Tok>,
        want: &mut Option<bool>,
        heredocs: &mut Vec<(String, bool)>,
    ) {
        if word.is_empty() {
            return;
        }
        let text = std::mem::take(word);
        if let Some(strip_tabs) = want.take() {
            let delim: String = text
                .chars()
                .filter(|c| *c != '\'' && *c != '"' && *c != '\\')
                .collect();
            heredocs.push((delim, strip_tabs));
        }
        if text == "{" {
            toks.push(Tok::Open);
        } else if text == "}" {
            toks.push(Tok::Close);
        } else {
            toks.push(Tok::Word {
                text,
                line: word_line,
            });
        }
    }

    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '\\' => {
                if next == Some('\n') {
                    line += 1;
                    i += 2;
                    continue;
                }
                if word.is_empty() {
                    word_line = line;
                }
                word.push(c);
                if let Some(n) = next {
                    word.push(n);
                }
                i += 2;
            }
            '\'' | '"' => {
                if word.is_empty() {
                    word_line = line;
                }
                word.push(c);
                i += 1;
                while i < chars.len() && chars[i] != c {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    if c == '"' && chars[i] == '\\' && i + 1 < chars.len() {
                        word.push(chars[i]);
                        i += 1;
                        if chars[i] == '\n' {
                            line += 1;
                        }
                    }
                    word.push(chars[i]);
                    i += 1;
                }
                word.push(c);
                i += 1;
            }
            '$' if next == Some('{') => {
                if word.is_empty() {
                    word_line = line;
                }
                let mut depth = 0usize;
                while i < chars.len() {
                    let ch = chars[i];
                    word.push(ch);
                    i += 1;
                    if ch == '{' {
                        depth += 1;
                    } else if ch == '}' {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            break;
                        }
                    } else if ch == '\n' {
                        line += 1;
                    }
                }
            }
            '$' if next == Some('(') => {
                // Command substitution (or arithmetic): its commands are
                // commands too; `$(` opens like `(`.
                flush(
                    &mut word,
                    word_line,
                    &mut toks,
                    &mut want_heredoc_word,
                    &mut heredocs,
                );
                toks.push(Tok::Open);
                i += 2;
            }
            '#' if word.is_empty() => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            ' ' | '\t' | '\r' => {
                flush(
                    &mut word,
                    word_line,
                    &mut toks,
                    &mut want_heredoc_word,
                    &mut heredocs,
                );
                i += 1;
            }
            '\n' => {
                flush(
                    &mut word,
                    word_line,
                    &mut toks,
                    &mut want_heredoc_word,
                    &mut heredocs,
                );
                // A line ending in `|` continues the pipeline.
                if toks.last() != Some(&Tok::Pipe) {
                    toks.push(Tok::Sep);
                }
                line += 1;
                i += 1;
                // Skip here-document bodies.
                for (delim, strip_tabs) in std::mem::take(&mut heredocs) {
                    while i < chars.len() {
                        let start = i;
                        while i < chars.len() && chars[i] != '\n' {
                            i += 1;
                        }
                        let body_line: String = chars[start..i].iter().collect();
                        i = (i + 1).min(chars.len());
                        line += 1;
                        let cmp = if strip_tabs {
                            body_line.trim_start_matches('\t')
                        } else {
                            body_line.as_str()
                        };
                        if cmp.trim_end() == delim || cmp.trim() == delim {
                            break;
                        }
                    }
                }
            }
            '|' => {
                flush(
                    &mut word,
                    word_line,
                    &mut toks,
                    &mut want_heredoc_word,
                    &mut heredocs,
                );
                match next {
                    Some('|') => {
                        toks.push(Tok::Sep);
                        i += 2;
                    }
                    Some('&') => {
                        toks.push(Tok::Pipe);
                        i += 2;
                    }
                    _ => {
                        toks.push(Tok::Pipe);
                        i += 1;
                    }
                }
            }
            '&' => {
                flush(
                    &mut word,
                    word_line,
                    &mut toks,
                    &mut want_heredoc_word,
                    &mut heredocs,
                );
                if next == Some('>') {
                    // `&>` / `&>>`
                    toks.push(Tok::Redir);
                    i += 2;
                    if chars.get(i) == Some(&'>') {
                        i += 1;
                    }
                } else {
                    toks.push(Tok::Sep);
                    i += if next == Some('&') { 2 } else { 1 };
                }
            }
            ';' | '(' | ')' | '`' => {
                flush(
                    &mut word,
                    word_line,
                    &mut toks,
                    &mut want_heredoc_word,
                    &mut heredocs,
                );
                toks.push(match c {
                    '(' => Tok::Open,
                    ')' => Tok::Close,
                    _ => Tok::Sep,
                });
                i += 1;
            }
            '<' | '>' => {
                // A file-descriptor number right before belongs to the redirection.
                if !word.is_empty() && word.chars().all(|ch| ch.is_ascii_digit()) {
                    word.clear();
                }
                flush(
                    &mut word,
                    word_line,
                    &mut toks,
                    &mut want_heredoc_word,
                    &mut heredocs,
                );
                let rest: String = chars[i..chars.len().min(i + 3)].iter().collect();
                let op_len = if c == '<' {
                    if rest.starts_with("<<<") {
                        3
                    } else if rest.starts_with("<<-") {
                        want_heredoc_word = Some(true);
                        3
                    } else if rest.starts_with("<<") {
                        want_heredoc_word = Some(false);
                        2
                    } else if rest.starts_with("<&") || rest.starts_with("<>") {
                        2
                    } else {
                        1
                    }
                } else if rest.starts_with(">>") || rest.starts_with(">|") || rest.starts_with(">&")
                {
                    2
                } else {
                    1
                };
                toks.push(Tok::Redir);
                i += op_len;
            }
            _ => {
                if word.is_empty() {
                    word_line = line;
                }
                word.push(c);
                i += 1;
            }
        }
    }
    flush(
        &mut word,
        word_line,
        &mut toks,
        &mut want_heredoc_word,
        &mut heredocs,
    );
    toks
}

/// Reserved words and wrappers that come before the command word.
const SHELL_KEYWORDS: &[&str] = &[
    "if", "then", "else", "elif", "do", "while", "until", "!", "time", "exec", "command",
    "builtin", "fi", "done",
];
const WRAPPERS: &[&str] = &["sudo", "env", "nice", "nohup", "stdbuf", "timeout", "xargs"];

static ASSIGNMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=").expect("a valid regex")
});
static DURATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[0-9]+(\.[0-9]+)?[smhd]?$").expect("a valid regex"));

/// One simple command: its words (redirections removed) and first line.
/// A group (`{ ...; }`, `( ... )`, `if ... fi`, a loop) piped as a whole is a
/// command without words whose `inner` is the Packer or `ami-builder build`
/// command it runs, if any.
#[derive(Default)]
struct SimpleCommand {
    words: Vec<String>,
    line: usize,
    inner: Option<(usize, bool)>,
}

/// Compound commands opened and closed by reserved words.
const GROUP_OPENERS: &[&str] = &["if", "while", "until", "for", "case", "select"];
const GROUP_CLOSERS: &[&str] = &["fi", "done", "esac"];

/// The first Packer or `ami-builder build` command in these pipelines, as
/// `(line, is ami-builder)`.
fn first_hidden_candidate(pipelines: &[(Vec<SimpleCommand>, usize)]) -> Option<(usize, bool)> {
    pipelines
        .iter()
        .flat_map(|(cmds, _)| cmds)
        .find_map(SimpleCommand::runs_build)
}

impl SimpleCommand {
    /// The words from the command name on (keywords, assignments and
    /// wrappers with their options skipped).
    fn command_words(&self) -> &[String] {
        let mut i = 0;
        let mut after_wrapper = false;
        while i < self.words.len() {
            let w = self.words[i].as_str();
            if SHELL_KEYWORDS.contains(&w) || ASSIGNMENT.is_match(w) {
                i += 1;
            } else if WRAPPERS.contains(&basename(w)) {
                after_wrapper = true;
                i += 1;
            } else if after_wrapper && (w.starts_with('-') || DURATION.is_match(w)) {
                i += 1;
            } else {
                break;
            }
        }
        &self.words[i..]
    }

    /// `(line, is ami-builder)` when this command is (or its group contains)
    /// a Packer or `ami-builder build` command.
    fn runs_build(&self) -> Option<(usize, bool)> {
        if self.inner.is_some() {
            return self.inner;
        }
        let words = self.command_words();
        if is_packer(words) {
            Some((self.line, false))
        } else if is_ami_builder_build(words) {
            Some((self.line, true))
        } else {
            None
        }
    }
}

fn basename(word: &str) -> &str {
    let w = word.trim_matches(|c| c == '"' || c == '\'');
    w.rsplit('/').next().unwrap_or(w)
}

fn is_packer(cmd: &[String]) -> bool {
    cmd.first()
        .is_some_and(|w| matches!(basename(w), "packer" | "packer.exe"))
}

fn is_ami_builder_build(cmd: &[String]) -> bool {
    cmd.first()
        .is_some_and(|w| matches!(basename(w), "ami-builder" | "ami-builder.exe"))
        && cmd.iter().skip(1).any(|w| w == "build")
}

/// How a `set` command changes pipefail: `Some(true)` on, `Some(false)` off.
fn set_pipefail(cmd: &[String]) -> Option<bool> {
    if cmd.first().map(String::as_str) != Some("set") {
        return None;
    }
    let mut result = None;
    let mut pending: Option<bool> = None;
    for w in &cmd[1..] {
        if let Some(on) = pending.take() {
            if w == "pipefail" {
                result = Some(on);
                continue;
            }
        }
        let (sign, flags) = match w.chars().next() {
            Some('-') => (true, &w[1..]),
            Some('+') => (false, &w[1..]),
            _ => continue,
        };
        // `-o`, `-euo`, `-Eeuxo`: an `o` among the flags takes the next word.
        if !flags.is_empty()
            && flags.chars().all(|c| c.is_ascii_alphabetic())
            && flags.contains('o')
        {
            pending = Some(sign);
        }
    }
    result
}

fn scan_script(script: &str, carried_in: bool) -> ScriptScan {
    let toks = lex_shell(script);
    // Group into pipelines of simple commands.
    let mut pipelines: Vec<(Vec<SimpleCommand>, usize)> = Vec::new(); // (commands, first token index)
    let mut current: Vec<SimpleCommand> = Vec::new();
    let mut cmd = SimpleCommand::default();
    let mut start_tok = 0usize;
    let mut skip_next_word = false;
    // Where each open group began, as an index into `pipelines`.
    let mut groups: Vec<usize> = Vec::new();

    fn end_pipeline(
        cmd: &mut SimpleCommand,
        current: &mut Vec<SimpleCommand>,
        pipelines: &mut Vec<(Vec<SimpleCommand>, usize)>,
        start_tok: usize,
    ) {
        if !cmd.words.is_empty() || cmd.inner.is_some() || !current.is_empty() {
            current.push(std::mem::take(cmd));
            pipelines.push((std::mem::take(current), start_tok));
        } else {
            *cmd = SimpleCommand::default();
        }
    }

    for (idx, t) in toks.iter().enumerate() {
        match t {
            Tok::Word { text, line } => {
                if skip_next_word {
                    skip_next_word = false;
                    continue;
                }
                if cmd.words.is_empty() && cmd.inner.is_none() {
                    if GROUP_CLOSERS.contains(&text.as_str()) {
                        let start = groups.pop().unwrap_or(pipelines.len()).min(pipelines.len());
                        cmd.inner = first_hidden_candidate(&pipelines[start..]);
                        cmd.line = *line;
                        continue;
                    }
                    if GROUP_OPENERS.contains(&text.as_str()) {
                        groups.push(pipelines.len());
                    }
                    cmd.line = *line;
                }
                cmd.words.push(text.clone());
            }
            Tok::Redir => skip_next_word = true,
            Tok::Pipe => {
                skip_next_word = false;
                current.push(std::mem::take(&mut cmd));
            }
            Tok::Sep => {
                skip_next_word = false;
                end_pipeline(&mut cmd, &mut current, &mut pipelines, start_tok);
                start_tok = idx + 1;
            }
            Tok::Open => {
                skip_next_word = false;
                end_pipeline(&mut cmd, &mut current, &mut pipelines, start_tok);
                // A group that starts a pipeline's first command; commands
                // already piped into it stay in `current`.
                groups.push(pipelines.len());
                start_tok = idx + 1;
            }
            Tok::Close => {
                skip_next_word = false;
                end_pipeline(&mut cmd, &mut current, &mut pipelines, start_tok);
                let start = groups.pop().unwrap_or(pipelines.len()).min(pipelines.len());
                cmd.inner = first_hidden_candidate(&pipelines[start..]);
                start_tok = idx + 1;
            }
        }
    }
    end_pipeline(&mut cmd, &mut current, &mut pipelines, start_tok);

    let mentions_pipestatus_after = |tok_index: usize| {
        toks[tok_index..].iter().any(|t| match t {
            Tok::Word { text, .. } => text.contains("PIPESTATUS"),
            _ => false,
        })
    };

    let mut pipefail = false;
    let mut problems = Vec::new();
    for (cmds, first_tok) in &pipelines {
        if cmds.len() == 1 {
            if let Some(on) = set_pipefail(cmds[0].command_words()) {
                pipefail = on;
            }
            continue;
        }
        if pipefail {
            continue;
        }
        // Every command but the last loses its status without pipefail.
        let hidden = cmds[..cmds.len() - 1]
            .iter()
            .find_map(SimpleCommand::runs_build);
        if let Some((line, ami_builder)) = hidden {
            if mentions_pipestatus_after(*first_tok) {
                continue;
            }
            problems.push(PipeProblem {
                line,
                ami_builder,
                carried: carried_in,
            });
        }
    }
    ScriptScan {
        problems,
        pipefail_at_end: pipefail || carried_in,
    }
}

// ---------------------------------------------------------------------------------------------
// 3. The pre-commit hook
// ---------------------------------------------------------------------------------------------

/// The git pre-commit hook `ami-builder check --install-hook` writes to
/// `.git/hooks/pre-commit` (mode 0755). It runs `ami-builder check` from the
/// repository root and stops the commit when it exits non-zero.
pub fn pre_commit_hook() -> &'static str {
    r#"#!/usr/bin/env bash
# ami-builder pre-commit hook
# Written by `ami-builder check --install-hook`. Before each commit it runs
# `ami-builder check` from the repository root (EventBridge rules match the
# event, retention tags lint clean, `packer validate`, no pipe hiding Packer's
# exit status in the buildspec) and stops the commit when a check fails.
# It checks the working tree, not only what is staged.
# Skip it once with `git commit --no-verify`. Set AMI_BUILDER to use another
# binary (e.g. AMI_BUILDER=target/debug/ami-builder).
set -euo pipefail

root="$(git rev-parse --show-toplevel)"
cd "${root}"

ami_builder="${AMI_BUILDER:-ami-builder}"
if ! command -v "${ami_builder}" > /dev/null 2>&1; then
  echo "pre-commit: ${ami_builder} not found; install it (cargo install --path .) or set AMI_BUILDER" >&2
  echo "pre-commit: to commit without the check: git commit --no-verify" >&2
  exit 1
fi

if ! "${ami_builder}" check; then
  echo "pre-commit: ami-builder check failed; fix the findings above (or git commit --no-verify)" >&2
  exit 1
fi
"#
}

/// What is at the hook's path, as far as replacing it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookFile {
    /// Nothing: write ours.
    Absent,
    /// A hook this command wrote: replace it.
    Ours,
    /// Anything else, said in words: never replaced without `--force`.
    Foreign(String),
}

/// Classify an existing regular file's bytes: ours only when it begins the
/// way [`pre_commit_hook`] does (its shebang, then [`HOOK_MARKER`]); a
/// binary, non-UTF-8 or other text hook is someone else's.
pub fn classify_hook(bytes: &[u8]) -> HookFile {
    let text = std::str::from_utf8(bytes)
        .ok()
        .filter(|t| !t.contains('\0'));
    let Some(text) = text else {
        return HookFile::Foreign("a binary or non-UTF-8 file".into());
    };
    let mut lines = text.lines();
    match (lines.next(), lines.next()) {
        (Some(first), Some(second)) if first.starts_with("#!") && second == HOOK_MARKER => {
            HookFile::Ours
        }
        _ => HookFile::Foreign("a hook ami-builder did not write".into()),
    }
}

/// How to run the check from a hook of one's own, for the refusal message.
pub const HOOK_CHAIN_HINT: &str = "add the line `ami-builder check \"$(git rev-parse --show-toplevel)\" || exit 1` to it to chain the check";

// ---------------------------------------------------------------------------------------------
// YAML (and JSON) documents, keeping order and CloudFormation tags
// ---------------------------------------------------------------------------------------------

/// A YAML/JSON value in document order, with CloudFormation's short-form
/// tags kept as intrinsic functions.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Null,
    Bool(bool),
    Int(i64),
    /// A number that is not an `i64`, as written.
    Float(String),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in document order (a repeated key is kept; lookups take the last).
    Map(Vec<(String, Node)>),
    /// A short-form tag such as `!Sub`, and what it was applied to.
    Intrinsic {
        tag: String,
        arg: Box<Node>,
    },
}

impl Node {
    /// The value of `key` in a map (the last one when repeated).
    fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A scalar as text (`None` for null, collections and intrinsics).
    fn scalar_text(&self) -> Option<String> {
        match self {
            Node::Bool(b) => Some(b.to_string()),
            Node::Int(i) => Some(i.to_string()),
            Node::Float(f) => Some(f.clone()),
            Node::Str(s) => Some(s.clone()),
            _ => None,
        }
    }

    fn is_empty_map(&self) -> bool {
        matches!(self, Node::Map(e) if e.is_empty())
    }

    /// `!Sub` for a short-form tag, `Fn::Sub`/`Ref` for the JSON form.
    fn intrinsic_name(&self) -> Option<String> {
        match self {
            Node::Intrinsic { tag, .. } => Some(format!("!{tag}")),
            Node::Map(entries) if entries.len() == 1 => {
                let k = &entries[0].0;
                (k == "Ref" || k.starts_with("Fn::")).then(|| k.clone())
            }
            _ => None,
        }
    }

    fn intrinsic_arg(&self) -> Option<&Node> {
        match self {
            Node::Intrinsic { arg, .. } => Some(arg),
            Node::Map(entries) if entries.len() == 1 => Some(&entries[0].1),
            _ => None,
        }
    }

    fn contains_intrinsic(&self) -> bool {
        if self.intrinsic_name().is_some() {
            return true;
        }
        match self {
            Node::Seq(items) => items.iter().any(Node::contains_intrinsic),
            Node::Map(entries) => entries.iter().any(|(_, v)| v.contains_intrinsic()),
            _ => false,
        }
    }

    /// Every string below this node (intrinsic arguments included).
    fn strings<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Node::Str(s) => out.push(s),
            Node::Seq(items) => items.iter().for_each(|i| i.strings(out)),
            Node::Map(entries) => entries.iter().for_each(|(_, v)| v.strings(out)),
            Node::Intrinsic { arg, .. } => arg.strings(out),
            _ => {}
        }
    }

    /// Compact JSON in document order; intrinsics in their JSON form.
    fn to_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    fn write_json(&self, out: &mut String) {
        match self {
            Node::Null => out.push_str("null"),
            Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Node::Int(i) => out.push_str(&i.to_string()),
            Node::Float(text) => {
                if serde_json::from_str::<serde_json::Number>(text).is_ok() {
                    out.push_str(text);
                } else if let Some(n) = text
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                {
                    out.push_str(&n.to_string());
                } else {
                    out.push_str(&Value::String(text.clone()).to_string());
                }
            }
            Node::Str(s) => out.push_str(&Value::String(s.clone()).to_string()),
            Node::Seq(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_json(out);
                }
                out.push(']');
            }
            Node::Map(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    v.write_json(out);
                }
                out.push('}');
            }
            Node::Intrinsic { tag, arg } => {
                let key = if tag == "Ref" || tag == "Condition" {
                    tag.clone()
                } else {
                    format!("Fn::{tag}")
                };
                out.push('{');
                out.push_str(&Value::String(key).to_string());
                out.push(':');
                arg.write_json(out);
                out.push('}');
            }
        }
    }

    fn from_value(v: &Value) -> Node {
        match v {
            Value::Null => Node::Null,
            Value::Bool(b) => Node::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Node::Int(i),
                None => Node::Float(n.to_string()),
            },
            Value::String(s) => Node::Str(s.clone()),
            Value::Array(items) => Node::Seq(items.iter().map(Node::from_value).collect()),
            Value::Object(map) => Node::Map(
                map.iter()
                    .map(|(k, v)| (k.clone(), Node::from_value(v)))
                    .collect(),
            ),
        }
    }

    /// How many nodes this value holds.
    fn size(&self) -> usize {
        match self {
            Node::Seq(items) => 1 + items.iter().map(Node::size).sum::<usize>(),
            Node::Map(entries) => 1 + entries.iter().map(|(_, v)| v.size()).sum::<usize>(),
            Node::Intrinsic { arg, .. } => 1 + arg.size(),
            _ => 1,
        }
    }
}

/// Reads the first document of YAML (or JSON) text.
fn parse_document(text: &str) -> Result<Node, String> {
    let mut loader = Loader::default();
    let yaml = Parser::new_from_str(text)
        .load(&mut loader, false)
        .map_err(|e| e.to_string())
        .and_then(|()| match loader.error.take() {
            Some(e) => Err(e),
            None => Ok(loader.doc.take().unwrap_or(Node::Null)),
        });
    match yaml {
        Ok(doc) => Ok(doc),
        // JSON that YAML does not accept (tabs for indentation, say).
        Err(yaml_err) => match serde_json::from_str::<Value>(text) {
            Ok(v) if depth_ok(&v) => Ok(Node::from_value(&v)),
            _ => Err(format!("not valid YAML or JSON: {yaml_err}")),
        },
    }
}

fn depth_ok(v: &Value) -> bool {
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        if d > MAX_YAML_DEPTH {
            return false;
        }
        match v {
            Value::Array(a) => stack.extend(a.iter().map(|c| (c, d + 1))),
            Value::Object(o) => stack.extend(o.values().map(|c| (c, d + 1))),
            _ => {}
        }
    }
    true
}

enum Frame {
    Seq {
        items: Vec<Node>,
        anchor: usize,
        tag: Option<Tag>,
    },
    Map {
        entries: Vec<(String, Node)>,
        key: Option<String>,
        anchor: usize,
        tag: Option<Tag>,
    },
}

/// Builds a [`Node`] tree from parser events.
#[derive(Default)]
struct Loader {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    doc: Option<Node>,
    error: Option<String>,
    nodes: usize,
}

impl MarkedEventReceiver for Loader {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() || self.doc.is_some() {
            return;
        }
        match ev {
            Event::Scalar(value, style, anchor, tag) => {
                let node = scalar_node(value, style, tag);
                self.finish(node, anchor, 1);
            }
            Event::SequenceStart(anchor, tag) => {
                self.open(
                    Frame::Seq {
                        items: Vec::new(),
                        anchor,
                        tag,
                    },
                    mark,
                );
            }
            Event::MappingStart(anchor, tag) => {
                self.open(
                    Frame::Map {
                        entries: Vec::new(),
                        key: None,
                        anchor,
                        tag,
                    },
                    mark,
                );
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq { items, anchor, tag }) => {
                    self.finish(tagged(Node::Seq(items), tag), anchor, 1);
                }
                Some(Frame::Map {
                    entries,
                    anchor,
                    tag,
                    ..
                }) => {
                    self.finish(tagged(Node::Map(entries), tag), anchor, 1);
                }
                None => self.error = Some("unbalanced YAML collections".into()),
            },
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(node) => {
                    let node = node.clone();
                    let weight = node.size();
                    self.finish(node, 0, weight);
                }
                None => self.error = Some(format!("unknown alias at line {}", mark.line())),
            },
            _ => {}
        }
    }
}

impl Loader {
    fn open(&mut self, frame: Frame, mark: Marker) {
        if self.stack.len() >= MAX_YAML_DEPTH {
            self.error = Some(format!(
                "nesting deeper than {MAX_YAML_DEPTH} levels at line {}",
                mark.line()
            ));
            return;
        }
        self.stack.push(frame);
    }

    /// Adds a completed node; `weight` is how many values it brings (1, or
    /// the size of an alias's expansion).
    fn finish(&mut self, node: Node, anchor: usize, weight: usize) {
        self.nodes = self.nodes.saturating_add(weight);
        if self.nodes > MAX_YAML_NODES {
            self.error = Some(format!(
                "the document expands to more than {MAX_YAML_NODES} values (aliases)"
            ));
            return;
        }
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.doc = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(key_text(&node)),
                Some(k) => entries.push((k, node)),
            },
        }
    }
}

fn key_text(node: &Node) -> String {
    match node {
        Node::Null => String::new(),
        Node::Str(s) => s.clone(),
        other => other.scalar_text().unwrap_or_else(|| other.to_json()),
    }
}

fn scalar_node(value: String, style: TScalarStyle, tag: Option<Tag>) -> Node {
    let plain = style == TScalarStyle::Plain;
    let resolve = |v: String| {
        if plain {
            from_yaml_scalar(&v)
        } else {
            Node::Str(v)
        }
    };
    match tag {
        None => resolve(value),
        Some(t) if t.handle == "tag:yaml.org,2002:" => match t.suffix.as_str() {
            "str" | "binary" | "timestamp" => Node::Str(value),
            _ => from_yaml_scalar(&value),
        },
        // The non-specific tag `!`: a string.
        Some(t) if t.handle.is_empty() && t.suffix == "!" => Node::Str(value),
        Some(t) => Node::Intrinsic {
            tag: t.suffix,
            arg: Box::new(resolve(value)),
        },
    }
}

fn tagged(node: Node, tag: Option<Tag>) -> Node {
    match tag {
        Some(t)
            if t.handle != "tag:yaml.org,2002:" && !(t.handle.is_empty() && t.suffix == "!") =>
        {
            Node::Intrinsic {
                tag: t.suffix,
                arg: Box::new(node),
            }
        }
        _ => node,
    }
}

/// A plain scalar resolved as YAML 1.2's core schema does.
fn from_yaml_scalar(v: &str) -> Node {
    match Yaml::from_str(v) {
        Yaml::Null => Node::Null,
        Yaml::Boolean(b) => Node::Bool(b),
        Yaml::Integer(i) => Node::Int(i),
        Yaml::Real(r) => Node::Float(r),
        Yaml::String(s) => Node::Str(s),
        _ => Node::Str(v.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::events::entry::{
        build_entry, envelope, EventFacts, DEFAULT_DETAIL_TYPE, DEFAULT_SOURCE,
    };
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn repo_file(rel: &str) -> String {
        // the repository's own pipeline files, two levels above this crate
        let path = format!("{}/../../{rel}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
    }

    /// The event `build` (Created) or `prune --events` (Deregistered) sends,
    /// built by the same code.
    fn event_for(status: &str) -> Value {
        let mut amis = BTreeMap::new();
        amis.insert("us-east-1".to_string(), "ami-0123456789abcdef0".to_string());
        let facts = EventFacts {
            status: status.to_string(),
            primary: Some(("us-east-1".into(), "ami-0123456789abcdef0".into())),
            amis,
            commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            build_id: Some("ami-builder:1234".into()),
            name: Some("al2023-hardened-2024".into()),
            family: Some("amazon-ebs.al2023".into()),
        };
        let entry = build_entry(&facts, DEFAULT_SOURCE, DEFAULT_DETAIL_TYPE, "default").unwrap();
        let time = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
        envelope(
            &entry,
            "6f1c1f43-0000-4000-8000-000000000000",
            "123456789012",
            "us-east-1",
            time,
        )
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
    fn repo_pipeline_rules_all_match() {
        let text = repo_file("cloudformation/pipeline.yaml");
        let results = check_rules(
            "cloudformation/pipeline.yaml",
            &text,
            DEFAULT_SOURCE,
            &event_for,
        );
        assert_eq!(results.len(), 2, "{results:#?}");
        assert!(
            results.iter().all(|r| r.status == Status::Ok),
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
        assert_eq!(results.len(), 2);
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
        assert_eq!(r.detail, "rule MyRule matches the Deregistered event");
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
        let r = one(&rule_yaml("source: [com.ami.builder]\ndetail: {AmiStatus: [Created]}\ndetail.AmiStatus: [Created]"));
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
        for file in ["buildspec.yml", "buildspec-prune.yml"] {
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
    fn edit_distance_basics() {
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("abc", "acb"), 1);
        assert_eq!(edit_distance("com.ami.buidler", "com.ami.builder"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert!(near_miss("created", "Created"));
        assert!(!near_miss("aws.ec2", "com.ami.builder"));
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
}
