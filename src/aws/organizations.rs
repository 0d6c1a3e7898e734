//! Organizations adapter: the active accounts of the organization, or of
//! some of its organizational units and the OUs below them, for
//! `prune --organization` (run from the management account or a delegated
//! administrator, as `ListAccounts` requires).

use super::{aws_error, Aws};
use crate::error::{Error, Result};
use crate::ids::AccountId;

/// One member account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: AccountId,
    pub name: Option<String>,
}

fn member(a: &aws_sdk_organizations::types::Account) -> Result<Option<Member>> {
    use aws_sdk_organizations::types::AccountStatus;
    // SUSPENDED and PENDING_CLOSURE accounts can be neither read nor pruned
    if a.status() != Some(&AccountStatus::Active) {
        return Ok(None);
    }
    let id = a.id().unwrap_or_default();
    let id = AccountId::parse(id)
        .map_err(|e| Error::Other(format!("Organizations listed an account that is {e}")))?;
    Ok(Some(Member {
        id,
        name: a.name().map(str::to_string),
    }))
}

/// Every active account (`ListAccounts`), or with `ous` those in each OU
/// and the OUs below it (`ListAccountsForParent`,
/// `ListOrganizationalUnitsForParent`), each once.
pub async fn active_accounts(aws: &Aws, ous: &[String]) -> Result<Vec<Member>> {
    let org = aws.organizations();
    let mut out: Vec<Member> = Vec::new();
    if ous.is_empty() {
        let mut pages = org.list_accounts().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                aws_error(
                    "listing the organization's accounts (organizations:ListAccounts: run from the management account or a delegated administrator)",
                    &e,
                    aws.endpoint(),
                )
            })?;
            for a in page.accounts() {
                out.extend(member(a)?);
            }
        }
    } else {
        let mut todo: Vec<String> = ous.to_vec();
        let mut seen = std::collections::BTreeSet::new();
        while let Some(parent) = todo.pop() {
            if !seen.insert(parent.clone()) {
                continue;
            }
            let mut pages = org
                .list_accounts_for_parent()
                .parent_id(&parent)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| {
                    aws_error(
                        format!("listing the accounts of {parent}"),
                        &e,
                        aws.endpoint(),
                    )
                })?;
                for a in page.accounts() {
                    out.extend(member(a)?);
                }
            }
            let mut pages = org
                .list_organizational_units_for_parent()
                .parent_id(&parent)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| {
                    aws_error(
                        format!("listing the OUs below {parent}"),
                        &e,
                        aws.endpoint(),
                    )
                })?;
                todo.extend(
                    page.organizational_units()
                        .iter()
                        .filter_map(|u| u.id().map(str::to_string)),
                );
            }
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out.dedup_by(|a, b| a.id == b.id);
    Ok(out)
}
