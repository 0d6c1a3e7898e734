//! The builds a Packer template has, by the names `-only` matches, and the
//! check that each `--only` pattern names one of them. Pure: the command
//! reads the files, this reads their text.
//!
//! Packer itself does not refuse an `-only` that matches nothing: 1.6.6
//! prints "Builds finished but no artifacts were created." and exits 0 (and
//! newer versions only warn), after ami-builder has already checked
//! credentials and created its output directory. So ami-builder lists the
//! builds first and names the ones there are.
//!
//! Names follow Packer's `CoreBuild.Name()` (hcl2template `GetBuilds`): a
//! build's source is `TYPE.NAME`, where NAME is the build-level source
//! block's `name` when it sets one (`source "source.amazon-ebs.al2023" {
//! name = "local" }` is `amazon-ebs.local`), prefixed with `BUILD.` when the
//! build block has a `name`. A legacy JSON template's builds are its
//! builders' `name`, else their `type`. `-only` patterns are globs over these
//! names (Packer compiles them with gobwas/glob): `*` and `?` are matched
//! here; a pattern with other glob syntax (`[...]`, `{a,b}`) is left to
//! Packer rather than refused on a guess.
//!
//! HCL is parsed with `hcl-rs` (a complete HCL2 parser); what cannot be
//! known without evaluating the template (a `name` that is an expression,
//! HCL-in-JSON `.pkr.json` files) makes the list unknown, and an unknown
//! list refuses nothing.

use std::collections::BTreeSet;

/// One file of a template: its name (for the format) and text.
pub struct TemplateFile<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

/// The build names of a template, or `None` when they cannot be known
/// without Packer (a file that does not parse is Packer's to report, with
/// its own line numbers).
pub fn build_names(files: &[TemplateFile<'_>]) -> Option<BTreeSet<String>> {
    let mut builds: Vec<&hcl::Block> = Vec::new();
    let mut bodies = Vec::new();
    let mut out = BTreeSet::new();
    for f in files {
        if f.name.ends_with(".pkr.hcl") {
            bodies.push(hcl::parse(f.text).ok()?);
        } else if f.name.ends_with(".pkr.json") {
            return None;
        } else if f.name.ends_with(".json") {
            out.extend(json_builders(f.text)?);
        } else {
            return None;
        }
    }
    for body in &bodies {
        builds.extend(body.blocks().filter(|b| b.identifier() == "build"));
    }
    for build in builds {
        let prefix = match attribute(build.body(), "name") {
            Some(Some(n)) => format!("{n}."),
            Some(None) => return None,
            None => String::new(),
        };
        if let Some(list) = build.body().attributes().find(|a| a.key() == "sources") {
            let hcl::Expression::Array(items) = list.expr() else {
                return None;
            };
            for item in items {
                let hcl::Expression::String(s) = item else {
                    return None;
                };
                out.insert(format!("{prefix}{}", source_ref(s)));
            }
        }
        for used in build.body().blocks().filter(|b| b.identifier() == "source") {
            let [label] = used.labels() else {
                return None;
            };
            let reference = source_ref(label.as_str());
            let name = match attribute(used.body(), "name") {
                Some(Some(n)) => match reference.split_once('.') {
                    Some((t, _)) => format!("{t}.{n}"),
                    None => return None,
                },
                Some(None) => return None,
                None => reference.to_string(),
            };
            out.insert(format!("{prefix}{name}"));
        }
    }
    // A build naming a source no file defines is Packer's error to report
    // (with its line numbers); the names are still what `-only` matches.
    Some(out)
}

/// `source.amazon-ebs.x` and `amazon-ebs.x` name the same source.
fn source_ref(s: &str) -> &str {
    s.strip_prefix("source.").unwrap_or(s)
}

/// An attribute's literal string: `None` when absent, `Some(None)` when it
/// is an expression only Packer can evaluate.
fn attribute(body: &hcl::Body, key: &str) -> Option<Option<String>> {
    let a = body.attributes().find(|a| a.key() == key)?;
    Some(match a.expr() {
        hcl::Expression::String(s) => Some(s.clone()),
        _ => None,
    })
}

fn json_builders(text: &str) -> Option<Vec<String>> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let builders = v.get("builders")?.as_array()?;
    builders
        .iter()
        .map(|b| {
            b.get("name")
                .or_else(|| b.get("type"))
                .and_then(|n| n.as_str())
                .map(str::to_string)
        })
        .collect()
}

/// The patterns of a comma-separated `--only` that match none of `names`
/// (each pattern as given). Patterns with glob syntax beyond `*` and `?` are
/// never reported.
pub fn unmatched_only<'a>(only: &'a str, names: &BTreeSet<String>) -> Vec<&'a str> {
    only.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .filter(|p| !p.contains(['[', ']', '{', '}', '\\']))
        .filter(|p| !names.iter().any(|n| glob_match(p, n)))
        .collect()
}

/// `*` (any run of characters) and `?` (one character), over chars.
fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // the classic two-pointer match with one backtrack point for `*`
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(files: &[(&str, &str)]) -> Option<Vec<String>> {
        let files: Vec<TemplateFile<'_>> = files
            .iter()
            .map(|(name, text)| TemplateFile { name, text })
            .collect();
        build_names(&files).map(|s| s.into_iter().collect())
    }

    #[test]
    fn the_repos_template_has_the_real_and_the_local_build() {
        let text = include_str!("../../../../packer/ami.pkr.hcl");
        let vars = include_str!("../../../../packer/variables.pkr.hcl");
        assert_eq!(
            names(&[("ami.pkr.hcl", text), ("variables.pkr.hcl", vars)]),
            Some(vec!["amazon-ebs.al2023".into(), "amazon-ebs.local".into()])
        );
    }

    #[test]
    fn sources_lists_and_named_builds_are_prefixed_as_packer_names_them() {
        let text = r#"
            source "null" "one" {}
            source "null" "two" {}
            build {
              name    = "fleet"
              sources = ["source.null.one", "null.two"]
            }
            build {
              source "null.one" { name = "terraform" }
            }
        "#;
        assert_eq!(
            names(&[("t.pkr.hcl", text)]),
            Some(vec![
                "fleet.null.one".into(),
                "fleet.null.two".into(),
                "null.terraform".into()
            ])
        );
    }

    #[test]
    fn what_only_packer_can_evaluate_is_unknown() {
        let dynamic = r#"build { name = var.x
          sources = ["source.null.one"] }"#;
        assert_eq!(names(&[("t.pkr.hcl", dynamic)]), None);
        let listed = r#"build { sources = local.all }"#;
        assert_eq!(names(&[("t.pkr.hcl", listed)]), None);
        assert_eq!(names(&[("t.pkr.json", "{}")]), None);
        assert_eq!(
            names(&[("t.pkr.hcl", "build {")]),
            None,
            "Packer reports a parse error"
        );
    }

    #[test]
    fn a_json_template_names_builders_by_name_else_type() {
        let text =
            r#"{"builders": [{"type": "amazon-ebs"}, {"type": "amazon-ebs", "name": "copy"}]}"#;
        assert_eq!(
            names(&[("ebs.json", text)]),
            Some(vec!["amazon-ebs".into(), "copy".into()])
        );
        assert_eq!(names(&[("ebs.json", "{\"builders\": 3}")]), None);
    }

    #[test]
    fn only_patterns_match_as_packer_globs() {
        let have: BTreeSet<String> = ["amazon-ebs.al2023", "amazon-ebs.local"]
            .map(String::from)
            .into();
        assert!(unmatched_only("amazon-ebs.local", &have).is_empty());
        assert!(unmatched_only("*.local", &have).is_empty());
        assert!(unmatched_only("amazon-ebs.al202?", &have).is_empty());
        assert!(unmatched_only("amazon-ebs.*", &have).is_empty());
        assert_eq!(
            unmatched_only("amazon-ebs.local,amazon-ebs.nope", &have),
            vec!["amazon-ebs.nope"]
        );
        assert_eq!(unmatched_only("local", &have), vec!["local"]);
        assert_eq!(unmatched_only("*.loc", &have), vec!["*.loc"]);
        assert!(
            unmatched_only("amazon-ebs.{x,y}", &have).is_empty(),
            "left to Packer"
        );
    }

    #[test]
    fn glob_match_backtracks() {
        assert!(glob_match("a*b*c", "aXbYbZc"));
        assert!(!glob_match("a*b*c", "aXbYbZ"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("?", ""));
    }
}
