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
/// behalf, which a cross-account key policy must allow).
pub const KEY_ACTIONS: [&str; 5] = [
    "kms:DescribeKey",
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:ReEncrypt*",
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

/// Evaluate `policy` (the key policy document, JSON text) for `consumer`.
pub fn evaluate(policy: &str, consumer: &ShareTarget) -> Verdict {
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
            let applies = statement_applies(s, consumer, action);
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
            (Applies::Yes, _) | (Applies::No, Applies::No) => refused.push(action.to_string()),
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
        ShareTarget::Organization(arn) | ShareTarget::OrganizationalUnit(arn) => {
            serde_json::json!({
                "Sid": "ami-builder-consumers",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": actions,
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": org_id(arn).unwrap_or("o-...")}}
            })
        }
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
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let t: Vec<char> = text.to_ascii_lowercase().chars().collect();
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

/// Whether an action of [`KEY_ACTIONS`] (some end in `*`: `kms:ReEncrypt*`
/// stands for ReEncryptFrom and ReEncryptTo) is covered by a pattern.
fn action_matches(pattern: &str, action: &str) -> bool {
    match action.strip_suffix('*') {
        Some(stem) => ["From", "To"]
            .iter()
            .all(|end| wildcard(pattern, &format!("{stem}{end}"))),
        None => wildcard(pattern, action),
    }
}

fn statement_applies(s: &Value, consumer: &ShareTarget, action: &str) -> Applies {
    if s.get("NotPrincipal").is_some() {
        return Applies::Maybe("a statement uses NotPrincipal".into());
    }
    let actions_ok = if let Some(not) = s.get("NotAction") {
        !strings(Some(not)).iter().any(|p| action_matches(p, action))
    } else {
        strings(s.get("Action"))
            .iter()
            .any(|p| action_matches(p, action))
    };
    if !actions_ok {
        return Applies::No;
    }
    let principal = match principal_applies(s.get("Principal"), consumer) {
        Applies::No => return Applies::No,
        other => other,
    };
    let condition = condition_applies(s.get("Condition"), consumer, action);
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
/// is `Maybe`. No condition: the statement applies.
fn condition_applies(c: Option<&Value>, consumer: &ShareTarget, action: &str) -> Applies {
    let Some(ops) = c else {
        return Applies::Yes;
    };
    let Value::Object(ops) = ops else {
        return Applies::Maybe("a Condition this check does not read".into());
    };
    for (op, keys) in ops {
        let Value::Object(keys) = keys else {
            return Applies::Maybe(format!("a condition `{op}` this check does not read"));
        };
        for (key, values) in keys {
            let vals = strings(Some(values));
            let verdict = match key.to_ascii_lowercase().as_str() {
                "aws:principalorgid" => org_condition(consumer, &vals),
                "aws:principalorgpaths" => org_path_condition(consumer, &vals),
                "kms:calleraccount" => match consumer {
                    ShareTarget::Account(a) if vals.contains(&a.as_str()) => Applies::Yes,
                    ShareTarget::Account(_) => Applies::No,
                    _ => Applies::Maybe(format!(
                        "the policy admits the accounts {} only",
                        vals.join(", ")
                    )),
                },
                // EC2's grants are for the volumes it creates: AWS resources
                "kms:grantisforawsresource" if action == "kms:CreateGrant" => {
                    if vals.iter().any(|v| v.eq_ignore_ascii_case("true")) {
                        Applies::Yes
                    } else {
                        Applies::No
                    }
                }
                "kms:viaservice" => {
                    if vals
                        .iter()
                        .any(|v| v.to_ascii_lowercase().starts_with("ec2.") || *v == "*")
                    {
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
fn org_condition(consumer: &ShareTarget, vals: &[&str]) -> Applies {
    match consumer {
        ShareTarget::Organization(arn) | ShareTarget::OrganizationalUnit(arn) => {
            let id = org_id(arn).unwrap_or_default();
            if vals.iter().any(|v| wildcard(v, id)) {
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

/// `aws:PrincipalOrgPaths` (`o-.../r-.../ou-.../`, with wildcards): a path
/// naming the OU, or the whole organization, admits an OU target.
fn org_path_condition(consumer: &ShareTarget, vals: &[&str]) -> Applies {
    let whole_org = |org: &str| vals.iter().any(|v| v.trim_end_matches(['/', '*']) == org);
    match consumer {
        ShareTarget::OrganizationalUnit(arn) => {
            let ou = ou_id(arn).unwrap_or("-");
            if vals.iter().any(|v| v.contains(ou)) || whole_org(org_id(arn).unwrap_or("-")) {
                Applies::Yes
            } else {
                Applies::Maybe(format!(
                    "the policy admits the organization paths {}; ami-builder cannot tell whether they hold {arn}",
                    vals.join(", ")
                ))
            }
        }
        ShareTarget::Organization(arn) if whole_org(org_id(arn).unwrap_or("-")) => Applies::Yes,
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

    /// The default key policy KMS gives a key: only its own account.
    const DEFAULT: &str = r#"{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;

    #[test]
    fn the_default_policy_admits_only_its_own_account() {
        assert_eq!(evaluate(DEFAULT, &t("111122223333")), Verdict::Allowed);
        let Verdict::Refused { actions } = evaluate(DEFAULT, &t("444455556666")) else {
            panic!("refused")
        };
        assert_eq!(actions.len(), KEY_ACTIONS.len());
        assert!(matches!(
            evaluate(DEFAULT, &t(ORG)),
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
        assert_eq!(evaluate(policy, &t("444455556666")), Verdict::Allowed);
        // without the grant statement, CreateGrant is missing
        let partial = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},
           "Action":["kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"}}"#;
        assert_eq!(
            evaluate(partial, &t("444455556666")),
            Verdict::Refused {
                actions: vec!["kms:CreateGrant".into()]
            }
        );
        // ReEncrypt* needs both ReEncryptFrom and ReEncryptTo
        let from_only = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"444455556666"},
           "Action":["kms:CreateGrant","kms:Decrypt","kms:ReEncryptFrom","kms:GenerateDataKeyWithoutPlaintext","kms:DescribeKey"],"Resource":"*"}}"#;
        assert_eq!(
            evaluate(from_only, &t("444455556666")),
            Verdict::Refused {
                actions: vec!["kms:ReEncrypt*".into()]
            }
        );
    }

    #[test]
    fn an_organization_is_admitted_by_its_org_id() {
        let policy = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:*","Resource":"*",
          "Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-exampleorgid"}}}]}"#;
        assert_eq!(evaluate(policy, &t(ORG)), Verdict::Allowed);
        assert_eq!(evaluate(policy, &t(OU)), Verdict::Allowed);
        let other = policy.replace("o-exampleorgid", "o-otherorgid12");
        assert!(matches!(evaluate(&other, &t(ORG)), Verdict::Refused { .. }));
        // an account may or may not be in it
        assert!(matches!(
            evaluate(policy, &t("444455556666")),
            Verdict::Unsure { .. }
        ));
    }

    #[test]
    fn a_deny_wins_and_unknown_conditions_are_unsure() {
        let deny = r#"{"Statement":[
          {"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"kms:*","Resource":"*"},
          {"Effect":"Deny","Principal":"*","Action":"kms:CreateGrant","Resource":"*"}]}"#;
        assert_eq!(
            evaluate(deny, &t("444455556666")),
            Verdict::Refused {
                actions: vec!["kms:CreateGrant".into()]
            }
        );
        let odd = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"kms:*","Resource":"*",
          "Condition":{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}}]}"#;
        let Verdict::Unsure { why } = evaluate(odd, &t("444455556666")) else {
            panic!("unsure")
        };
        assert!(why.contains("aws:SourceIp"), "{why}");
        let role = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:role/launcher"},"Action":"kms:*","Resource":"*"}]}"#;
        assert!(matches!(
            evaluate(role, &t("444455556666")),
            Verdict::Unsure { .. }
        ));
        assert!(matches!(
            evaluate("not json", &t("444455556666")),
            Verdict::Unsure { .. }
        ));
    }

    #[test]
    fn the_statement_to_add_admits_what_it_names() {
        for target in [t("444455556666"), t(ORG), t(OU)] {
            let policy = serde_json::json!({"Statement": [statement_for(&target)]}).to_string();
            assert_eq!(evaluate(&policy, &target), Verdict::Allowed, "{policy}");
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
