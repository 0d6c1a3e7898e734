//! Check 1: every EventBridge rule in a CloudFormation template that targets our events
//! matches the event ami-builder sends, with the failing field explained; near misses
//! (a typo in the source or detail-type) are named too.

use super::*;

// 1. EventBridge rules

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
    // `!Ref`/`!Sub` of parameters read as the stack's defaults (a rule for
    // the stack's own family: `Family: [!Ref AmiFamily]`)
    let params = super::retention_values::parameter_defaults(&doc);
    let mut results = Vec::new();
    for found in find_rules(&doc) {
        let pattern = super::retention_values::with_defaults(found.pattern, &params);
        let rule = Rule {
            name: found.name.clone(),
            pattern: &pattern,
            disabled: found.disabled,
        };
        let Some(status) = check_one_rule(&rule, our_source, &our_detail_type, event_for_status)
        else {
            continue;
        };
        results.push(CheckResult::new(template_name, status.0, status.1));
    }
    results
}

/// A rule found in a template.
pub(super) struct Rule<'a> {
    /// `AmiCreatedRule`, or `Function.EventName` for a SAM event.
    pub(super) name: String,
    pub(super) pattern: &'a Node,
    pub(super) disabled: bool,
}

pub(super) fn find_rules(doc: &Node) -> Vec<Rule<'_>> {
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
pub(super) fn check_one_rule(
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

    // The family is the user's choice, as the status is the pattern's: a
    // rule for one family is checked against that family's event.
    let family = tree
        .get("detail")
        .and_then(|d| d.get("Family"))
        .and_then(|f| match f {
            Node::Seq(items) => items.iter().find_map(Node::as_str).map(str::to_string),
            _ => None,
        });
    let with_family = |s: &str| {
        let mut e = event_for_status(s);
        if let (Some(f), Some(d)) = (&family, e.get_mut("detail").and_then(Value::as_object_mut)) {
            d.insert("Family".into(), Value::String(f.clone()));
        }
        e
    };
    let event_for_status: &dyn Fn(&str) -> Value = &with_family;
    let choice = choose_status(&tree);
    let (status_name, verdict) = match &choice {
        StatusChoice::Known(s) | StatusChoice::NearMiss { known: s, .. } => {
            (s.clone(), pattern.explain(&event_for_status(s)))
        }
        StatusChoice::Foreign(s) => {
            warnings.push(format!(
                "ami-builder never sends AmiStatus {s:?} itself (it sends {})",
                KNOWN_STATUSES.join(", ")
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
pub(super) enum StatusChoice {
    /// A status ami-builder sends, written exactly.
    Known(String),
    /// A near miss of a known status: checked against the known one.
    NearMiss { written: String, known: String },
    /// Some other status: checked as written.
    Foreign(String),
    /// No literal status: try each known one.
    Any,
}

pub(super) fn choose_status(pattern: &Node) -> StatusChoice {
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
pub(super) fn amistatus_literals(pattern: &Node) -> Vec<String> {
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
pub(super) fn targets_us(pattern: &Node, our_source: &str, our_detail_type: &str) -> bool {
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
pub(super) fn collect_field<'a>(pattern: &'a Node, field: &str, out: &mut Vec<&'a Node>) {
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
pub(super) fn source_accepts(cond: &Node, our_source: &str) -> bool {
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
pub(super) fn mentions(text: &str, ours: &str) -> bool {
    !ours.is_empty() && (text.contains(ours) || near_miss(text, ours))
}

/// Another case, stray whitespace, or at most two edits away (for names of
/// five characters or more).
pub(super) fn near_miss(text: &str, target: &str) -> bool {
    let t = text.trim().to_lowercase();
    let g = target.to_lowercase();
    if t == g {
        return true;
    }
    if g.chars().count() < 5 || t.len() > 256 || g.len() > 256 {
        return false;
    }
    // optimal string alignment: a swapped pair of letters is one edit
    strsim::osa_distance(&t, &g) <= 2
}

/// Intrinsic functions in a pattern, with their paths.
pub(super) fn collect_intrinsics(node: &Node, path: &str, out: &mut Vec<(String, String)>) {
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

pub(super) fn describe_intrinsics(found: &[(String, String)]) -> String {
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
pub(super) fn strip_intrinsics(node: &Node) -> Option<Node> {
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
