//! The accounts a prune covers (pure): `prune --accounts FILE`, in the
//! shape cloud-custodian's c7n-org reads (`accounts:` a list of
//! `account_id`, `name`, `role`, `regions`, `tags`, `vars`), so that a
//! team's existing file works, plus `prune:` for the overrides of one
//! account (`keep`, `families`).
//!
//! A file that crosses a boundary is checked whole before anything runs: an
//! unknown key, an account id YAML read as a number that lost its leading
//! zero, a role ARN of another account than the entry's, the same account
//! twice: each is an error naming the entry, never a guess.

use std::collections::BTreeSet;

use yaml_rust2::{Yaml, YamlLoader};

use crate::accounts::{check_role_name, role_arn};
use crate::ids::{AccountId, Region};

/// One account of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountEntry {
    pub account_id: AccountId,
    pub name: Option<String>,
    /// A role name or ARN; `None`: `--role-name`.
    pub role: Option<String>,
    /// `None`: `--regions`.
    pub regions: Option<Vec<Region>>,
    /// c7n-org's tags (`type:prod`): `--account-tag` selects by them.
    pub tags: Vec<String>,
    /// `prune: {keep: N}`: this account's `--keep`.
    pub keep: Option<usize>,
    /// `prune: {families: [...]}`: this account's `--family`.
    pub families: Option<Vec<String>>,
}

impl AccountEntry {
    /// The role to assume in this account: the entry's own (a name, or an
    /// ARN that must be of this account), else `default_name`. `None` for
    /// the caller's own account unless its entry names a role: its own
    /// credentials serve (the tooling account of an organization has no
    /// member role).
    pub fn role_arn(
        &self,
        default_name: Option<&str>,
        own: &AccountId,
        region: &Region,
    ) -> Result<Option<String>, String> {
        let label = self.label();
        let named = self
            .role
            .as_deref()
            .or(default_name.filter(|_| &self.account_id != own));
        match named {
            Some(r) if r.starts_with("arn:") => Ok(Some(r.to_string())),
            Some(name) => Ok(Some(role_arn(&self.account_id, name, region))),
            None if &self.account_id == own => Ok(None),
            None => Err(format!(
                "{label}: no role to assume there: give the entry a `role`, or pass --role-name"
            )),
        }
    }

    /// `222233334444 (dev)` or the id alone.
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("{} ({n})", self.account_id),
            None => self.account_id.to_string(),
        }
    }
}

fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Real(r) => Some(r.clone()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn strings(y: &Yaml, what: &str) -> Result<Vec<String>, String> {
    match y {
        Yaml::Array(a) => a
            .iter()
            .map(|v| scalar(v).ok_or_else(|| format!("{what}: each item must be a plain value")))
            .collect(),
        Yaml::Null => Ok(Vec::new()),
        other => scalar(other)
            .map(|s| vec![s])
            .ok_or_else(|| format!("{what} must be a list")),
    }
}

/// Parse the file. `regions_ok` says whether a region name is one AWS has
/// (the command line's list, with the user's extra regions).
pub fn parse(text: &str, regions_ok: &dyn Fn(&str) -> bool) -> Result<Vec<AccountEntry>, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| format!("not YAML: {e}"))?;
    let doc = docs
        .first()
        .ok_or("the file is empty: it needs `accounts:`, a list")?;
    let Yaml::Hash(top) = doc else {
        return Err("the file must be a mapping with `accounts:`, a list".into());
    };
    for k in top.keys() {
        let key = scalar(k).unwrap_or_default();
        // c7n-org files also hold these; they say nothing to prune
        if !["accounts", "vars"].contains(&key.as_str()) {
            return Err(format!(
                "unknown top-level key `{key}` (expected `accounts`)"
            ));
        }
    }
    let Some(Yaml::Array(list)) = top.get(&Yaml::String("accounts".into())) else {
        return Err("`accounts:` must be a list of entries with an `account_id`".into());
    };
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (n, item) in list.iter().enumerate() {
        let at = format!("accounts[{n}]");
        let Yaml::Hash(h) = item else {
            return Err(format!("{at} must be a mapping with an `account_id`"));
        };
        let get = |k: &str| h.get(&Yaml::String(k.into()));
        for k in h.keys() {
            let key = scalar(k).unwrap_or_default();
            if ![
                "account_id",
                "name",
                "role",
                "regions",
                "tags",
                "vars",
                "prune",
            ]
            .contains(&key.as_str())
            {
                return Err(format!(
                    "{at}: unknown key `{key}` (an entry has account_id, name, role, regions, tags, vars and prune)"
                ));
            }
        }
        let raw = get("account_id").ok_or_else(|| format!("{at} has no account_id"))?;
        let id_text = scalar(raw).unwrap_or_default();
        let account_id = AccountId::parse(&id_text).map_err(|e| {
            if matches!(raw, Yaml::Integer(_)) {
                format!(
                    "{at}: account_id {id_text} is not 12 digits as YAML read it: write account ids in quotes ('012345678901'), since YAML reads an unquoted one as a number and drops its leading zeros"
                )
            } else {
                format!("{at}: {e}")
            }
        })?;
        if !seen.insert(account_id.clone()) {
            return Err(format!("{at}: account {account_id} is listed twice"));
        }
        let name = get("name").and_then(scalar);
        let role = match get("role").and_then(scalar) {
            None => None,
            Some(r) if r.starts_with("arn:") => {
                let owner = r.split(':').nth(4).unwrap_or_default();
                let is_role = r.split(':').nth(2) == Some("iam")
                    && r.split(':').nth(5).is_some_and(|s| s.starts_with("role/"));
                if !is_role {
                    return Err(format!("{at}: role {r} is not an IAM role ARN"));
                }
                if owner != account_id.as_str() {
                    return Err(format!(
                        "{at}: role {r} is in account {owner}, not {account_id}: the role that prunes an account must be that account's"
                    ));
                }
                Some(r)
            }
            Some(r) => {
                check_role_name(&r).map_err(|e| format!("{at}: {e}"))?;
                Some(r)
            }
        };
        let regions = match get("regions") {
            None => None,
            Some(y) => {
                let names = strings(y, &format!("{at}: regions"))?;
                let mut rs = Vec::new();
                for r in names {
                    let region = Region::parse(&r).map_err(|e| format!("{at}: {e}"))?;
                    if !regions_ok(&r) {
                        return Err(format!("{at}: `{r}` is not an AWS region"));
                    }
                    rs.push(region);
                }
                if rs.is_empty() {
                    return Err(format!("{at}: regions is empty"));
                }
                Some(rs)
            }
        };
        let tags = match get("tags") {
            None => Vec::new(),
            Some(y) => strings(y, &format!("{at}: tags"))?,
        };
        let (mut keep, mut families) = (None, None);
        if let Some(p) = get("prune") {
            let Yaml::Hash(p) = p else {
                return Err(format!("{at}: prune must be a mapping (keep, families)"));
            };
            for (k, v) in p {
                match scalar(k).unwrap_or_default().as_str() {
                    "keep" => match v {
                        Yaml::Integer(i) if *i >= 0 => keep = usize::try_from(*i).ok(),
                        _ => return Err(format!("{at}: prune.keep must be a whole number")),
                    },
                    "families" => families = Some(strings(v, &format!("{at}: prune.families"))?),
                    other => {
                        return Err(format!(
                            "{at}: unknown key prune.{other} (an account may set keep and families)"
                        ))
                    }
                }
            }
        }
        out.push(AccountEntry {
            account_id,
            name,
            role,
            regions,
            tags,
            keep,
            families,
        });
    }
    if out.is_empty() {
        return Err("`accounts:` lists no account".into());
    }
    Ok(out)
}

/// The entries carrying every tag of `wanted` (c7n-org's `--tags`: all
/// must match); all of them when `wanted` is empty.
pub fn select<'a>(entries: &'a [AccountEntry], wanted: &[String]) -> Vec<&'a AccountEntry> {
    entries
        .iter()
        .filter(|e| wanted.iter().all(|w| e.tags.contains(w)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(_: &str) -> bool {
        true
    }

    /// The example of c7n-org's documentation, as teams have it.
    const C7N_ORG: &str = r#"
accounts:
- account_id: '123456789012'
  name: account-1
  regions:
  - us-east-1
  - us-west-2
  role: arn:aws:iam::123456789012:role/CloudCustodian
  vars:
    charge_code: xyz
  tags:
    - type:prod
    - division:some division
- account_id: "112233445566"
  name: account-2
  role: ami-builder-prune
  tags: [type:dev]
  prune:
    keep: 1
    families: [web]
"#;

    #[test]
    fn a_c7n_org_file_reads_with_our_overrides() {
        let e = parse(C7N_ORG, &ok).expect("parses");
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].account_id, "123456789012");
        assert_eq!(e[0].name.as_deref(), Some("account-1"));
        assert_eq!(
            e[0].regions.as_ref().map(|r| r.len()),
            Some(2),
            "{:?}",
            e[0]
        );
        assert_eq!(e[0].tags, ["type:prod", "division:some division"]);
        assert_eq!(e[1].keep, Some(1));
        assert_eq!(e[1].families.as_deref(), Some(&["web".to_string()][..]));
        let own = AccountId::parse("999988887777").unwrap();
        let r = Region::parse("us-east-1").unwrap();
        assert_eq!(
            e[0].role_arn(None, &own, &r).unwrap().as_deref(),
            Some("arn:aws:iam::123456789012:role/CloudCustodian")
        );
        assert_eq!(
            e[1].role_arn(Some("other"), &own, &r).unwrap().as_deref(),
            Some("arn:aws:iam::112233445566:role/ami-builder-prune"),
            "the entry's role wins over --role-name"
        );
        assert_eq!(select(&e, &["type:dev".into()]).len(), 1);
        assert_eq!(select(&e, &[]).len(), 2);
    }

    #[test]
    fn the_callers_own_account_needs_no_role() {
        let e = parse("accounts:\n- account_id: '123456789012'\n", &ok).unwrap();
        let own = AccountId::parse("123456789012").unwrap();
        let r = Region::parse("us-east-1").unwrap();
        assert_eq!(e[0].role_arn(None, &own, &r), Ok(None));
        assert_eq!(
            e[0].role_arn(Some("ami-builder-prune"), &own, &r),
            Ok(None),
            "--role-name is for the other accounts"
        );
        let other = AccountId::parse("111111111111").unwrap();
        let err = e[0].role_arn(None, &other, &r).unwrap_err();
        assert!(err.contains("--role-name"), "{err}");
        let named = parse(
            "accounts:\n- account_id: '123456789012'\n  role: audit\n",
            &ok,
        )
        .unwrap();
        assert_eq!(
            named[0].role_arn(None, &own, &r).unwrap().as_deref(),
            Some("arn:aws:iam::123456789012:role/audit"),
            "a role the entry names is assumed even in the caller's account"
        );
    }

    #[test]
    fn what_would_be_a_guess_is_an_error() {
        for (text, says) in [
            ("", "empty"),
            ("- 1", "mapping"),
            ("accounts: []", "no account"),
            ("accounts:\n- name: x\n", "no account_id"),
            ("accounts:\n- account_id: 012345678901\n", "in quotes"),
            ("accounts:\n- account_id: '12345'\n", "not an account id"),
            (
                "accounts:\n- account_id: '123456789012'\n- account_id: '123456789012'\n",
                "listed twice",
            ),
            (
                "accounts:\n- account_id: '123456789012'\n  role: arn:aws:iam::999999999999:role/x\n",
                "not 123456789012",
            ),
            (
                "accounts:\n- account_id: '123456789012'\n  role: arn:aws:s3:::bucket\n",
                "not an IAM role",
            ),
            ("accounts:\n- account_id: '123456789012'\n  role: a b\n", "not an IAM role name"),
            ("accounts:\n- account_id: '123456789012'\n  regoins: [x]\n", "unknown key `regoins`"),
            ("accounts:\n- account_id: '123456789012'\n  regions: [mars-1]\n", "not"),
            ("accounts:\n- account_id: '123456789012'\n  prune: {keeep: 1}\n", "prune.keeep"),
            ("accounts:\n- account_id: '123456789012'\n  prune: {keep: -1}\n", "whole number"),
            ("acounts: []", "unknown top-level key"),
        ] {
            let e = parse(text, &|r| r.starts_with("us-")).expect_err(text);
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }
}
