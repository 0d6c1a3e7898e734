//! Whether a KMS key's policy lets the consumers of a shared image use the
//! key (pure): an image whose snapshots a customer managed key encrypts
//! can be shared with EC2's launch permissions alone, but no consumer can
//! launch or copy it until the key policy admits them (EC2 User Guide,
//! "Share an AMI with specific AWS accounts"; KMS Developer Guide,
//! "Allowing users in other accounts to use a KMS key"). EC2 cannot grant
//! that, and its answer to the share says nothing of it, so `build` and
//! `tag` read the policy and say, for each consumer, whether it is let in.
//!
//! Written here rather than taken from a crate: no maintained Rust crate
//! evaluates IAM policy documents, and the question is narrow. It answers
//! for the key policy only (the consumer's own IAM policies must allow the
//! same actions; they live in the consumer's account), and it errs on the
//! side of saying it cannot tell: a condition it does not know makes a
//! statement uncertain rather than granted or ignored. The policy grammar
//! and evaluation order follow the IAM User Guide, "IAM JSON policy
//! elements reference" and "Policy evaluation logic" (an explicit deny
//! wins; otherwise something must allow).

use serde_json::Value;

use crate::accounts::ShareTarget;

/// What consumers need on the key (EBS User Guide, "Amazon EBS
/// encryption": the operations EC2 performs with the key on a consumer's
/// behalf, which a cross-account key policy must allow; `kms:ReEncrypt*`
/// there is ReEncryptFrom and ReEncryptTo, each checked on its own so that
/// a statement denying one half is not missed).
pub const KEY_ACTIONS: [&str; 6] = [
    "kms:DescribeKey",
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKeyWithoutPlaintext",
];

/// The policy's answer for one consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every action of [`KEY_ACTIONS`] is allowed, and none denied.
    Allowed,
    /// These actions are not allowed (or denied outright).
    Refused { actions: Vec<String> },
    /// A statement that could decide it has a condition or principal this
    /// module cannot evaluate: the reason names it.
    Unsure { why: String },
}

/// How a statement applies to one consumer and one action.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Applies {
    Yes,
    No,
    Maybe(String),
}

/// Evaluate `policy` (the key policy document, JSON text) for `consumer`,
/// the key being in `region` (EC2 uses it there: `kms:ViaService`).
pub fn evaluate(policy: &str, consumer: &ShareTarget, region: &str) -> Verdict {
    let doc: Value = match serde_json::from_str(policy) {
        Ok(v) => v,
        Err(e) => {
            return Verdict::Unsure {
                why: format!("the key policy is not JSON ({e})"),
            }
        }
    };
    let statements: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => {
            return Verdict::Unsure {
                why: "the key policy has no Statement".into(),
            }
        }
    };
    let mut refused = Vec::new();
    let mut unsure: Vec<String> = Vec::new();
    for action in KEY_ACTIONS {
        let mut allowed = Applies::No;
        let mut denied = Applies::No;
        for s in &statements {
            let effect = s.get("Effect").and_then(Value::as_str).unwrap_or_default();
            let applies = statement_applies(s, consumer, action, region);
            let slot = match effect {
                "Allow" => &mut allowed,
                "Deny" => &mut denied,
                _ => continue,
            };
            *slot = match (std::mem::replace(slot, Applies::No), applies) {
                (Applies::Yes, _) | (_, Applies::Yes) => Applies::Yes,
                (Applies::Maybe(w), _) | (_, Applies::Maybe(w)) => Applies::Maybe(w),
                _ => Applies::No,
            };
        }
        match (denied, allowed) {
            // denied, or allowed by nothing: refused, whatever else may apply
            (Applies::Yes, _) | (_, Applies::No) => refused.push(action.to_string()),
            (Applies::Maybe(w), _) | (_, Applies::Maybe(w)) => {
                unsure.push(format!("{action}: {w}"))
            }
            (Applies::No, Applies::Yes) => {}
        }
    }
    if !refused.is_empty() {
        Verdict::Refused { actions: refused }
    } else if !unsure.is_empty() {
        Verdict::Unsure {
            why: unsure.join("; "),
        }
    } else {
        Verdict::Allowed
    }
}

/// The statement a key policy needs to admit `consumer` (for the message
/// that says what to add).
pub fn statement_for(consumer: &ShareTarget) -> Value {
    let actions = serde_json::json!(KEY_ACTIONS);
    match consumer {
        ShareTarget::Account(a) => serde_json::json!({
            "Sid": format!("ami-builder-consumer-{a}"),
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{a}:root")},
            "Action": actions,
            "Resource": "*"
        }),
        ShareTarget::Organization(arn) => serde_json::json!({
            "Sid": "ami-builder-consumers",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": actions,
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": org_id(arn).unwrap_or("o-...")}}
        }),
        // the OU and the OUs below it, not the whole organization
        ShareTarget::OrganizationalUnit(arn) => serde_json::json!({
            "Sid": "ami-builder-consumers",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": actions,
            "Resource": "*",
            "Condition": {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": format!(
                "{}/*/{}/*",
                org_id(arn).unwrap_or("o-..."),
                ou_id(arn).unwrap_or("ou-...")
            )}}
        }),
    }
}

/// The `o-...` id of an organization or OU ARN.
fn org_id(arn: &str) -> Option<&str> {
    let resource = arn.rsplit_once(':')?.1;
    resource.split('/').nth(1)
}

/// The `ou-...` id of an OU ARN.
fn ou_id(arn: &str) -> Option<&str> {
    arn.rsplit('/').next().filter(|s| s.starts_with("ou-"))
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// IAM's wildcard match (`*` any run, `?` one character); action names
/// compare without case ("IAM JSON policy elements: Action").
fn wildcard(pattern: &str, text: &str) -> bool {
    glob(&pattern.to_ascii_lowercase(), &text.to_ascii_lowercase())
}

/// `*` any run, `?` one character, case as written (`StringLike`).
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn statement_applies(s: &Value, consumer: &ShareTarget, action: &str, region: &str) -> Applies {
    if s.get("NotPrincipal").is_some() {
        return Applies::Maybe("a statement uses NotPrincipal".into());
    }
    let actions_ok = if let Some(not) = s.get("NotAction") {
        !strings(Some(not)).iter().any(|p| wildcard(p, action))
    } else {
        strings(s.get("Action")).iter().any(|p| wildcard(p, action))
    };
    if !actions_ok {
        return Applies::No;
    }
    let principal = match principal_applies(s.get("Principal"), consumer) {
        Applies::No => return Applies::No,
        other => other,
    };
    let condition = condition_applies(s.get("Condition"), consumer, action, region);
    match (principal, condition) {
        (_, Applies::No) => Applies::No,
        (Applies::Maybe(w), _) | (_, Applies::Maybe(w)) => Applies::Maybe(w),
        _ => Applies::Yes,
    }
}

/// `Yes` when the principal is `*` (the conditions then decide, see
/// [`condition_applies`]) or names the consumer's whole account (its root
/// or its id); `Maybe` when it names one role or user there (only that
/// principal is let in).
fn principal_applies(p: Option<&Value>, consumer: &ShareTarget) -> Applies {
    let names: Vec<&str> = match p {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Object(o)) => strings(o.get("AWS")),
        _ => return Applies::No,
    };
    let mut best = Applies::No;
    for n in names {
        if n == "*" {
            return Applies::Yes;
        }
        if let ShareTarget::Account(a) = consumer {
            let root = format!(":iam::{a}:root");
            if n == a.as_str() || (n.starts_with("arn:") && n.ends_with(&root)) {
                return Applies::Yes;
            }
            if n.starts_with("arn:") && n.contains(&format!(":iam::{a}:")) {
                best = Applies::Maybe(format!("the policy admits only {n} of account {a}"));
            }
        }
    }
    best
}

/// The conditions: the organization keys narrow a `*` principal to the
/// consumer's organization or OU; `kms:GrantIsForAWSResource` and
/// `kms:ViaService` are what EC2's use of the key satisfies; anything else
/// is `Maybe`. Only operators whose meaning is plain are read
/// (`StringEquals`, `StringEqualsIgnoreCase`, `StringLike`, their
/// `ForAnyValue:` forms, `Bool`): a negated one (`StringNotEquals`), `Null`,
/// an `...IfExists` or a `ForAllValues:` one is `Maybe`, never read as if it
/// were `StringEquals`. No condition: the statement applies.
fn condition_applies(
    c: Option<&Value>,
    consumer: &ShareTarget,
    action: &str,
    region: &str,
) -> Applies {
    let Some(ops) = c else {
        return Applies::Yes;
    };
    let Value::Object(ops) = ops else {
        return Applies::Maybe("a Condition this check does not read".into());
    };
    for (op, keys) in ops {
        let bare = op.strip_prefix("ForAnyValue:").unwrap_or(op);
        let like = match bare {
            "StringEquals" | "StringEqualsIgnoreCase" | "Bool" => false,
            "StringLike" => true,
            _ => {
                return Applies::Maybe(format!(
                    "a condition operator `{op}` this check does not evaluate"
                ))
            }
        };
        let Value::Object(keys) = keys else {
            return Applies::Maybe(format!("a condition `{op}` this check does not read"));
        };
        let fold = bare == "StringEqualsIgnoreCase" || bare == "Bool";
        let matches = |pattern: &str, text: &str| {
            if like {
                glob(pattern, text)
            } else if fold {
                pattern.eq_ignore_ascii_case(text)
            } else {
                pattern == text
            }
        };
        for (key, values) in keys {
            let vals = strings(Some(values));
            let verdict = match key.to_ascii_lowercase().as_str() {
                "aws:principalorgid" => org_condition(consumer, &vals, &matches),
                "aws:principalorgpaths" => org_path_condition(consumer, &vals, &matches),
                "kms:calleraccount" => match consumer {
                    ShareTarget::Account(a) if vals.iter().any(|v| matches(v, a)) => Applies::Yes,
                    ShareTarget::Account(_) => Applies::No,
                    _ => Applies::Maybe(format!(
                        "the policy admits the accounts {} only",
                        vals.join(", ")
                    )),
                },
                // EC2's grants are for the volumes it creates: AWS resources
                "kms:grantisforawsresource" if action == "kms:CreateGrant" => {
                    if vals.iter().any(|v| matches(v, "true")) {
                        Applies::Yes
                    } else {
                        Applies::No
                    }
                }
                // EC2 in the key's region is what uses it
                "kms:viaservice" => {
                    let ec2 = format!("ec2.{region}.amazonaws.com");
                    if vals.iter().any(|v| matches(v, &ec2)) {
                        Applies::Yes
                    } else {
                        Applies::No
                    }
                }
                _ => Applies::Maybe(format!(
                    "a condition on `{key}` this check does not evaluate"
                )),
            };
            if verdict != Applies::Yes {
                return verdict;
            }
        }
    }
    Applies::Yes
}

/// `aws:PrincipalOrgID`: an organization or OU target is in the named
/// organization or not; whether an account is, this check cannot know.
fn org_condition(
    consumer: &ShareTarget,
    vals: &[&str],
    matches: &dyn Fn(&str, &str) -> bool,
) -> Applies {
    match consumer {
        ShareTarget::Organization(arn) | ShareTarget::OrganizationalUnit(arn) => {
            let id = org_id(arn).unwrap_or_default();
            if vals.iter().any(|v| matches(v, id)) {
                Applies::Yes
            } else {
                Applies::No
            }
        }
        ShareTarget::Account(a) => Applies::Maybe(format!(
            "the policy admits organization {} and ami-builder does not know whether account {a} is in it",
            vals.join(", ")
        )),
    }
}

/// `aws:PrincipalOrgPaths` (`o-.../r-.../ou-.../`): a path that covers the
/// target and everything below it admits it (`.../ou-x/*` for an OU ending
/// in it, `o-x/*` for the whole organization). A path to the OU alone (its
/// direct accounts, not the OUs below), to an OU inside it, or one this
/// check cannot place is `Maybe`.
fn org_path_condition(
    consumer: &ShareTarget,
    vals: &[&str],
    matches: &dyn Fn(&str, &str) -> bool,
) -> Applies {
    // the value ends in `<tail>/*` and, under the operator, matches a path
    // below it
    let covers = |v: &str, tail: &str| {
        v.ends_with(&format!("{tail}/*")) && matches(v, &format!("{}x/", &v[..v.len() - 1]))
    };
    let whole = |arn: &str| {
        let org = org_id(arn).unwrap_or("-");
        vals.iter()
            .any(|v| *v == format!("{org}/*") && covers(v, org))
    };
    match consumer {
        ShareTarget::OrganizationalUnit(arn) => {
            let ou = ou_id(arn).unwrap_or("-");
            if whole(arn) || vals.iter().any(|v| covers(v, ou)) {
                Applies::Yes
            } else {
                Applies::Maybe(format!(
                    "the policy admits the organization paths {}; ami-builder cannot tell whether they cover {arn} and the OUs below it",
                    vals.join(", ")
                ))
            }
        }
        ShareTarget::Organization(arn) if whole(arn) => Applies::Yes,
        _ => Applies::Maybe(format!(
            "the policy admits the organization paths {} only",
            vals.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: &str = "arn:aws:organizations::111122223333:organization/o-exampleorgid";
    const OU: &str = "arn:aws:organizations::111122223333:ou/o-exampleorgid/ou-ab12-cdefgh34";

    fn t(s: &str) -> ShareTarget {
        s.parse().expect("target")
    }

    fn evaluate_in(policy: &str, consumer: &ShareTarget) -> Verdict {
        evaluate(policy, consumer, "us-east-1")
    }

    /// The default key policy KMS gives a key: only its own account.
    const DEFAULT: &str = r#"{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;

    #[test]
    fn the_default_policy_admits_only_its_own_account() {
        assert_eq!(evaluate_in(DEFAULT, &t("111122223333")), Verdict::Allowed);
        let Verdict::Refused { actions } = evaluate_in(DEFAULT, &t("444455556666")) else {
            panic!("refused")
        };
        assert_eq!(actions.len(), KEY_ACTIONS.len());
        assert!(matches!(
            evaluate_in(DEFAULT, &t(ORG)),
            Verdict::Refused { .. }
        ));
    }

    /// The KMS Developer Guide's cross-account example: use of the key, and
    /// grants for AWS resources.
    #[test]
    fn the_documented_cross_account_statements_admit_the_account() {
        let policy = r#"{"Statement":[
          {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
          {"Sid":"Allow use of the key","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::444455556666:root"]},
           "Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"},
          {"Sid":"Allow attachment of persistent resources","Effect":"Allow","Principal":{"AWS":"444455556666"},
           "Action":["kms:CreateGrant","kms:ListGrants","kms:RevokeGrant"],"Resource":"*",
           "Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}}]}"#;
        assert_eq!(evaluate_in(policy, &t("444455556666")), Verdict::Allowed);
        // without the grant statement, CreateGrant is missing
        let partial = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},
           "Action":["kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"}}"#;
        assert_eq!(
            evaluate_in(partial, &t("444455556666")),
            Verdict::Refused {
                actions: vec!["kms:CreateGrant".into()]
            }
        );
        // ReEncrypt* needs both ReEncryptFrom and ReEncryptTo
        let from_only = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"444455556666"},
           "Action":["kms:CreateGrant","kms:Decrypt","kms:ReEncryptFrom","kms:GenerateDataKeyWithoutPlaintext","kms:DescribeKey"],"Resource":"*"}}"#;
        assert_eq!(
            evaluate_in(from_only, &t("444455556666")),
            Verdict::Refused {
                actions: vec!["kms:ReEncryptTo".into()]
            }
        );
    }

    #[test]
    fn an_organization_is_admitted_by_its_org_id() {
        let policy = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:*","Resource":"*",
          "Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-exampleorgid"}}}]}"#;
        assert_eq!(evaluate_in(policy, &t(ORG)), Verdict::Allowed);
        assert_eq!(evaluate_in(policy, &t(OU)), Verdict::Allowed);
        let other = policy.replace("o-exampleorgid", "o-otherorgid12");
        assert!(matches!(
            evaluate_in(&other, &t(ORG)),
            Verdict::Refused { .. }
        ));
        // an account may or may not be in it
        assert!(matches!(
            evaluate_in(policy, &t("444455556666")),
            Verdict::Unsure { .. }
        ));
    }

    #[test]
    fn a_deny_wins_and_unknown_conditions_are_unsure() {
        let deny = r#"{"Statement":[
          {"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"kms:*","Resource":"*"},
          {"Effect":"Deny","Principal":"*","Action":"kms:CreateGrant","Resource":"*"}]}"#;
        assert_eq!(
            evaluate_in(deny, &t("444455556666")),
            Verdict::Refused {
                actions: vec!["kms:CreateGrant".into()]
            }
        );
        let odd = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"kms:*","Resource":"*",
          "Condition":{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}}]}"#;
        let Verdict::Unsure { why } = evaluate_in(odd, &t("444455556666")) else {
            panic!("unsure")
        };
        assert!(why.contains("IpAddress"), "{why}");
        let role = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:role/launcher"},"Action":"kms:*","Resource":"*"}]}"#;
        assert!(matches!(
            evaluate_in(role, &t("444455556666")),
            Verdict::Unsure { .. }
        ));
        assert!(matches!(
            evaluate_in("not json", &t("444455556666")),
            Verdict::Unsure { .. }
        ));
    }

    /// Review findings: each of these was Allowed.
    #[test]
    fn half_a_wildcard_denied_negated_operators_and_narrow_paths_are_not_allowed() {
        let acct = t("444455556666");
        // a deny of one half of ReEncrypt* beside an allow of everything
        let deny_from = r#"{"Statement":[
          {"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"kms:*","Resource":"*"},
          {"Effect":"Deny","Principal":"*","Action":"kms:ReEncryptFrom","Resource":"*"}]}"#;
        assert_eq!(
            evaluate_in(deny_from, &acct),
            Verdict::Refused {
                actions: vec!["kms:ReEncryptFrom".into()]
            }
        );
        // NotAction naming one half
        let not_action = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"444455556666"},
          "NotAction":"kms:ReEncryptFrom","Resource":"*"}]}"#;
        assert_eq!(
            evaluate_in(not_action, &acct),
            Verdict::Refused {
                actions: vec!["kms:ReEncryptFrom".into()]
            }
        );
        // a negated operator is not read as StringEquals
        let negated = r#"{"Statement":[
          {"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"kms:*","Resource":"*"},
          {"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*",
           "Condition":{"StringNotEquals":{"kms:CallerAccount":["111122223333"]}}}]}"#;
        assert!(
            matches!(evaluate_in(negated, &acct), Verdict::Unsure { .. }),
            "{:?}",
            evaluate_in(negated, &acct)
        );
        // StringEquals takes `*` literally; StringLike as a wildcard
        let literal = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*",
          "Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-*"}}}]}"#;
        assert!(matches!(
            evaluate_in(literal, &t(ORG)),
            Verdict::Refused { .. }
        ));
        let like = literal.replace("StringEquals", "StringLike");
        assert_eq!(evaluate_in(&like, &t(ORG)), Verdict::Allowed);
        // a path to a child OU, or to the OU's direct accounts only, does
        // not cover the OU and what is below it; the OU's own subtree does
        let paths = |v: &str| {
            format!(
                r#"{{"Statement":[{{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*",
                  "Condition":{{"ForAnyValue:StringLike":{{"aws:PrincipalOrgPaths":["{v}"]}}}}}}]}}"#
            )
        };
        let ou = t(OU);
        assert_eq!(
            evaluate_in(&paths("o-exampleorgid/r-ab12/ou-ab12-cdefgh34/*"), &ou),
            Verdict::Allowed
        );
        assert_eq!(
            evaluate_in(&paths("o-exampleorgid/*"), &ou),
            Verdict::Allowed
        );
        for narrow in [
            "o-exampleorgid/r-ab12/ou-ab12-cdefgh34/ou-ab12-child000/*",
            "o-exampleorgid/r-ab12/ou-ab12-cdefgh34/",
        ] {
            assert!(
                matches!(evaluate_in(&paths(narrow), &ou), Verdict::Unsure { .. }),
                "{narrow}"
            );
        }
        // kms:ViaService: EC2 in the key's region, not any region
        let via = |svc: &str| {
            format!(
                r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"444455556666"}},"Action":"kms:*","Resource":"*",
                  "Condition":{{"StringEquals":{{"kms:ViaService":"{svc}"}}}}}}]}}"#
            )
        };
        assert_eq!(
            evaluate(&via("ec2.eu-west-1.amazonaws.com"), &acct, "eu-west-1"),
            Verdict::Allowed
        );
        assert!(matches!(
            evaluate(&via("ec2.us-west-2.amazonaws.com"), &acct, "eu-west-1"),
            Verdict::Refused { .. }
        ));
        // a deny that may apply beside no allow at all is refused, not unsure
        let only_deny = r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*",
          "Condition":{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}}]}"#;
        assert!(matches!(
            evaluate_in(only_deny, &acct),
            Verdict::Refused { .. }
        ));
    }

    #[test]
    fn the_statement_to_add_admits_what_it_names() {
        for target in [t("444455556666"), t(ORG), t(OU)] {
            let policy = serde_json::json!({"Statement": [statement_for(&target)]}).to_string();
            assert_eq!(evaluate_in(&policy, &target), Verdict::Allowed, "{policy}");
        }
    }

    #[test]
    fn wildcards_follow_iam() {
        assert!(wildcard("kms:*", "kms:Decrypt"));
        assert!(wildcard("KMS:decrypt", "kms:Decrypt"));
        assert!(wildcard(
            "kms:GenerateDataKey*",
            "kms:GenerateDataKeyWithoutPlaintext"
        ));
        assert!(wildcard("kms:?ecrypt", "kms:Decrypt"));
        assert!(!wildcard("kms:Encrypt", "kms:Decrypt"));
        assert!(!wildcard("kms:De", "kms:Decrypt"));
        assert!(wildcard("*", ""));
    }
}
