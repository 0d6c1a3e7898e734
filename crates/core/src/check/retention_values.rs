//! Check 2: the retention tag values in a Packer template and the retention parameters'
//! defaults in a CloudFormation template pass the retention linter.

use super::*;

// 2. Retention values

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

pub(super) fn is_cloudformation(doc: &Node) -> bool {
    matches!(doc, Node::Map(_))
        && ["Resources", "Parameters", "AWSTemplateFormatVersion"]
            .iter()
            .any(|k| doc.get(k).is_some())
}

/// A result for one linted value.
pub(super) fn lint_result(
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

pub(super) static HCL_TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#""(scheduler:ebs-snapshot[^"]*)"\s*[=:]\s*(.*)$"#).expect("a valid regex")
});

pub(super) fn hcl_retention(
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
pub(super) fn read_quoted(s: &str) -> Option<String> {
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
pub(super) fn has_interpolation(s: &str) -> bool {
    let b = s.as_bytes();
    (1..b.len()).any(|i| {
        b[i] == b'{' && (b[i - 1] == b'$' || b[i - 1] == b'%') && (i < 2 || b[i - 2] != b[i - 1])
    })
}

pub(super) fn cfn_retention(
    name: &str,
    doc: &Node,
    lint: &dyn Fn(&str, &str) -> Vec<String>,
) -> Vec<CheckResult> {
    let mut results = Vec::new();
    let params = parameter_defaults(doc);
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
pub(super) fn collect_tags<'a>(
    node: &'a Node,
    path: &str,
    out: &mut Vec<(String, String, &'a Node)>,
) {
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

/// Every parameter of a template that has a scalar `Default`, by name.
pub(super) fn parameter_defaults(doc: &Node) -> HashMap<String, String> {
    match doc.get("Parameters") {
        Some(Node::Map(ps)) => ps
            .iter()
            .filter_map(|(k, p)| {
                p.get("Default")
                    .and_then(Node::scalar_text)
                    .map(|d| (k.clone(), d))
            })
            .collect(),
        _ => HashMap::new(),
    }
}

/// `node` with every `!Ref`/`!Sub` of defaulted parameters replaced by its
/// value (what the stack deploys with its defaults); other intrinsics stay.
pub(super) fn with_defaults(node: &Node, params: &HashMap<String, String>) -> Node {
    if node.intrinsic_name().is_some() {
        return match evaluate_with_defaults(node, params) {
            Some(v) => Node::Str(v),
            None => node.clone(),
        };
    }
    match node {
        Node::Map(m) => Node::Map(
            m.iter()
                .map(|(k, v)| (k.clone(), with_defaults(v, params)))
                .collect(),
        ),
        Node::Seq(s) => Node::Seq(s.iter().map(|v| with_defaults(v, params)).collect()),
        other => other.clone(),
    }
}

/// A scalar, or `!Ref`/`!Sub` of parameters with defaults; `None` otherwise.
pub(super) fn evaluate_with_defaults(
    node: &Node,
    params: &HashMap<String, String>,
) -> Option<String> {
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
