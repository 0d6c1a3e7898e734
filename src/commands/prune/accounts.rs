//! `prune --accounts FILE` / `--organization`: one prune per account,
//! through a role assumed there, and one combined result.
//!
//! It runs in three phases so that no account is pruned on facts that
//! another account holds unread:
//! 1. each account's session (STS `AssumeRole`, checked to act in that
//!    account) and inventory, `--account-concurrency` accounts at once;
//! 2. what uses an image anywhere in the run is a use of it everywhere: an
//!    instance, launch template or Auto Scaling group in a workload account
//!    keeps the tooling account's image it launches, naming the account
//!    (`UsedBy::InAccount`). When an account could not be read, every image
//!    shared with anyone is kept in every account (as without
//!    `--include-shared`), since that account may be using it;
//! 3. each account's plan and apply, as a single-account prune does
//!    ([`super::plan_and_apply`]), its report kept for the combined result
//!    and written to its own report file.
//!
//! Files written per account (`--plan-out`, `--report-file`, the report
//! file) take the account in their name. An account that fails (its role,
//! its listing, its apply) is reported and
//! never stops the others; the run then exits 8. Events and the report
//! upload are sent with the caller's own credentials, each event naming the
//! account of its image.

use std::fmt;
use std::process::ExitCode;

use chrono::Utc;
use futures_util::stream::{self, StreamExt};
use serde::Serialize;

use super::{gather, plan_and_apply, rules_from, Emit, Run};
use crate::account_list::{self, AccountEntry};
use crate::aws::Aws;
use crate::cli::{Global, PruneArgs};
use crate::error::{Error, Result};
use crate::ids::{AccountId, Region};
use crate::retention::plan::{Usage, UsedBy};
use crate::retention::Inventory;

/// The accounts of the run: the file's (selected by `--account-tag`), or
/// the organization's active accounts.
async fn entries(global: &Global, args: &PruneArgs, aws: &Aws) -> Result<Vec<AccountEntry>> {
    if let Some(path) = &args.scope.accounts {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Usage(format!(
                "cannot read the accounts file {}: {e}",
                path.display()
            ))
        })?;
        let all = account_list::parse(&text, &|r| crate::cli::parse_region(r).is_ok())
            .map_err(|e| Error::Usage(format!("the accounts file {}: {e}", path.display())))?;
        let chosen: Vec<AccountEntry> = account_list::select(&all, &args.scope.account_tags)
            .into_iter()
            .cloned()
            .collect();
        if chosen.is_empty() {
            return Err(Error::Usage(format!(
                "no account of {} carries every tag of --account-tag {}",
                path.display(),
                args.scope.account_tags.join(",")
            )));
        }
        return Ok(chosen);
    }
    let members = super::super::within(
        global,
        "listing the organization's accounts",
        crate::aws::organizations::active_accounts(aws, &args.scope.ous),
    )
    .await?;
    if members.is_empty() {
        return Err(Error::Usage(
            "the organization (or the --ou given) has no active account".into(),
        ));
    }
    Ok(members
        .into_iter()
        .map(|m| AccountEntry {
            account_id: m.id,
            name: m.name,
            role: None,
            regions: None,
            tags: Vec::new(),
            keep: None,
            families: None,
        })
        .collect())
}

/// `DIR/NAME-ACCOUNT.EXT` for a file the run writes once per account
/// (`--plan-out`, `--report-file`): one file per account, never one
/// overwritten by the next.
fn per_account(path: &std::path::Path, account: &AccountId) -> std::path::PathBuf {
    let stem = path
        .file_stem()
        .map_or_else(|| "prune".into(), |s| s.to_string_lossy().into_owned());
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{account}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{account}"),
    };
    path.with_file_name(name)
}

/// The session acting in `entry`'s account, checked to be that account's.
async fn session(
    aws: &Aws,
    args: &PruneArgs,
    own: &AccountId,
    entry: &AccountEntry,
    home: &Region,
) -> Result<Aws> {
    let role = entry
        .role_arn(args.scope.role_name.as_deref(), own, home)
        .map_err(Error::Usage)?;
    let Some(role) = role else {
        return Ok(aws.clone());
    };
    let s = aws.assume(&role, home).await?;
    let acting = s.account_id(home).await?;
    if acting != entry.account_id {
        return Err(Error::Other(format!(
            "the role {role} acts in account {acting}, not {}: nothing is pruned through it",
            entry.account_id
        )));
    }
    Ok(s)
}

/// One account read: its session, regions and inventory.
struct Read {
    aws: Aws,
    regions: Vec<Region>,
    inv: Inventory,
}

/// What became of one account.
#[derive(Debug, Serialize)]
struct AccountResult {
    account: AccountId,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    /// The account's prune report (as a single-account prune prints it).
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<serde_json::Value>,
    /// Why it was not pruned, or how its prune failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// The exit code its failure would have had alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<u8>,
    #[serde(skip)]
    text: Option<String>,
    #[serde(skip)]
    label: String,
}

/// The combined result: one entry per account, in the file's (or the
/// organization's) order.
#[derive(Debug, Serialize)]
struct AccountsReport {
    schema_version: u32,
    accounts: Vec<AccountResult>,
}

impl fmt::Display for AccountsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for a in &self.accounts {
            writeln!(f, "== account {}", a.label)?;
            if let Some(t) = &a.text {
                writeln!(f, "{}", t.trim_end())?;
            }
            if let Some(e) = &a.error {
                writeln!(f, "not pruned: {e}")?;
            }
        }
        Ok(())
    }
}

/// Run `prune` across accounts.
pub async fn run(global: &Global, args: &PruneArgs) -> Result<ExitCode> {
    // (clap refuses these beside --accounts as flags; a config file's
    // default is not a flag)
    if let Some(p) = &args.plan {
        return Err(Error::Usage(format!(
            "--plan {}: a saved plan is one account's; with --accounts or --organization each account is planned afresh (remove `plan` from the config file)",
            p.display()
        )));
    }
    let deadline = tokio::time::Instant::now() + super::super::timeout(global);
    let aws = super::super::load_aws(global).await?;
    let regions = crate::steps::regions_or_default(&args.regions, &aws)?;
    if let Some(u) = &args.report {
        crate::aws::s3::parse_url(u)?;
        if u.ends_with(".json") {
            return Err(Error::Usage(format!(
                "--report {u}: with several accounts give a prefix (s3://bucket/prefix/): each account's report is an object of its own"
            )));
        }
    }
    let started = Utc::now();
    let as_of = match &args.as_of {
        Some(t) => Some(
            crate::cli::parse_time(t, started).map_err(|e| Error::Usage(format!("--as-of {e}")))?,
        ),
        None => None,
    };
    let home = regions[0].clone();
    // a bad file is a usage error before any call
    let from_file = match &args.scope.accounts {
        Some(_) => Some(entries(global, args, &aws).await?),
        None => None,
    };
    let own = super::super::within_until(
        global,
        deadline,
        "finding the account",
        aws.account_id(&home),
    )
    .await?;
    let entries = match from_file {
        Some(e) => e,
        None => entries(global, args, &aws).await?,
    };
    let width = args.scope.account_concurrency as usize;

    // 1. sessions and inventories
    let read: Vec<(AccountEntry, Result<Read>)> = stream::iter(entries)
        .map(|entry| {
            let (aws, own, home, regions) = (&aws, &own, &home, &regions);
            async move {
                let result = async {
                    let s = session(aws, args, own, &entry, home).await?;
                    let regions = entry.regions.clone().unwrap_or_else(|| regions.clone());
                    let inv =
                        gather(global, args, &s, &regions, &entry.account_id, deadline).await?;
                    Ok(Read {
                        aws: s,
                        regions,
                        inv,
                    })
                }
                .await;
                (entry, result)
            }
        })
        .buffered(width)
        .collect()
        .await;

    // 2. every account's uses, for the others
    let unread: Vec<String> = read
        .iter()
        .filter(|(_, r)| r.is_err())
        .map(|(e, _)| e.label())
        .collect();
    if !unread.is_empty() {
        eprintln!(
            "ami-builder: warning: account(s) {} could not be read: every image shared with anyone is kept in every account, since they may use it",
            unread.join(", ")
        );
    }
    let uses: Vec<(AccountId, Usage)> = read
        .iter()
        .filter_map(|(e, r)| r.as_ref().ok().map(|r| (e, r)))
        .flat_map(|(e, r)| {
            r.inv
                .usage
                .iter()
                .map(|u| (e.account_id.clone(), u.clone()))
        })
        .collect();

    // the regions each account was read in: a use in a region an account
    // was not read in is as unknown as an unread account's
    let regions_of: Vec<(AccountId, Vec<Region>)> = read
        .iter()
        .filter_map(|(e, r)| {
            r.as_ref()
                .ok()
                .map(|r| (e.account_id.clone(), r.regions.clone()))
        })
        .collect();
    if regions_of.windows(2).any(|w| {
        let (a, b) = (&w[0].1, &w[1].1);
        a.len() != b.len() || a.iter().any(|r| !b.contains(r))
    }) {
        eprintln!(
            "ami-builder: warning: the accounts are read in different regions: an image shared with anyone is kept where another account of the run was not read"
        );
    }

    // 3. each account's plan and apply
    let stamp = started.format("%Y%m%dT%H%M%S%.3fZ").to_string();
    let results: Vec<AccountResult> =
        stream::iter(read)
            .map(|(entry, r)| {
                let (uses, unread, aws, stamp, regions_of) =
                    (&uses, &unread, &aws, &stamp, &regions_of);
                async move {
                    let label = entry.label();
                    let mut out = AccountResult {
                        account: entry.account_id.clone(),
                        name: entry.name.clone(),
                        report: None,
                        error: None,
                        exit_code: None,
                        text: None,
                        label,
                    };
                    let mut read = match r {
                        Ok(r) => r,
                        Err(e) => {
                            out.exit_code = Some(e.exit_code());
                            out.error = Some(e.to_string());
                            return out;
                        }
                    };
                    read.inv
                        .usage
                        .extend(uses.iter().filter(|(a, _)| a != &entry.account_id).map(
                            |(a, u)| Usage {
                                region: u.region.clone(),
                                image_id: u.image_id.clone(),
                                by: UsedBy::InAccount {
                                    account: a.to_string(),
                                    by: Box::new(u.by.clone()),
                                },
                            },
                        ));
                    let mut rules = rules_from(args);
                    if let Some(k) = entry.keep {
                        rules.keep = k;
                    }
                    if let Some(f) = &entry.families {
                        rules.families = f.clone();
                    }
                    // another account not read in one of this account's
                    // regions may use a shared image there unseen
                    let unseen = regions_of.iter().any(|(a, rs)| {
                        a != &entry.account_id && read.regions.iter().any(|r| !rs.contains(r))
                    });
                    if !unread.is_empty() || unseen {
                        rules.include_shared = false;
                    }
                    let report_file = args.apply.then(|| match &args.report_file {
                        Some(p) => per_account(p, &entry.account_id),
                        None => args
                            .out
                            .dir
                            .join(format!("prune-report-{}-{stamp}.json", entry.account_id)),
                    });
                    if let Some(p) = report_file
                        .as_ref()
                        .filter(|p| p.symlink_metadata().is_ok())
                    {
                        out.exit_code = Some(2);
                        out.error = Some(format!(
                            "the report file {} exists: it is never overwritten",
                            p.display()
                        ));
                        return out;
                    }
                    let emit = Emit::Keep(std::sync::Mutex::new(None));
                    let run = Run {
                        global,
                        args,
                        aws: &read.aws,
                        events_aws: aws,
                        regions: &read.regions,
                        rules,
                        deadline,
                        as_of,
                        saved: None,
                        report_file,
                        plan_out: args
                            .plan_out
                            .as_ref()
                            .map(|p| per_account(p, &entry.account_id)),
                        emit: &emit,
                    };
                    let done = plan_and_apply(&run, read.inv).await;
                    if let Emit::Keep(kept) = emit {
                        if let Some((text, json)) = kept.into_inner().ok().flatten() {
                            out.text = Some(text);
                            out.report = Some(json);
                        }
                    }
                    if let Err(e) = done {
                        out.exit_code = Some(e.exit_code());
                        out.error = Some(e.to_string());
                    }
                    out
                }
            })
            .buffered(width)
            .collect()
            .await;

    let combined = AccountsReport {
        schema_version: crate::retention::saved::PLAN_SCHEMA_VERSION,
        accounts: results,
    };
    crate::output::emit(&combined, global.output)?;
    let failed: Vec<String> = combined
        .accounts
        .iter()
        .filter_map(|a| {
            a.error.as_ref().map(|e| {
                format!(
                    "account {}: {e} (exit {})",
                    a.label,
                    a.exit_code.unwrap_or(1)
                )
            })
        })
        .collect();
    if failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    Err(Error::PruneFailures(format!(
        "{} of {} account(s) were not pruned or finished with failures: {}. The others were pruned; a re-run converges",
        failed.len(),
        combined.accounts.len(),
        failed.join("; ")
    )))
}

/// The largest report object merged (a prune report of a very large account
/// is a few MiB).
const MAX_REPORT_BYTES: usize = 256 * 1024 * 1024;

/// `prune --merge-reports s3://bucket/prefix/`: every report under the
/// prefix that ami-builder uploaded (`prune-*.json`), read as hostile data
/// (each must parse as a report of this version, with its account), into
/// one result in the shape `--accounts` prints, one entry per report, by
/// account then time. With `--report`, the result is uploaded as well.
pub async fn merge(global: &Global, args: &PruneArgs, url: &str) -> Result<ExitCode> {
    crate::aws::s3::parse_url(url)?;
    let aws = super::super::load_aws(global).await?;
    let (bucket, keys) = super::super::within(global, "listing the reports", async {
        crate::aws::s3::list(&aws, url).await
    })
    .await?;
    let ours: Vec<&String> = keys
        .iter()
        .filter(|k| {
            let name = k.rsplit('/').next().unwrap_or_default();
            name.starts_with("prune-") && name.ends_with(".json")
        })
        .collect();
    if ours.is_empty() {
        return Err(Error::Usage(format!(
            "{url} holds no prune report (prune-*.json, as prune --report uploads them)"
        )));
    }
    let mut merged: Vec<(AccountId, chrono::DateTime<Utc>, AccountResult)> = Vec::new();
    for key in ours {
        let text = super::super::within(global, "reading the reports", async {
            crate::aws::s3::get_text(&aws, &bucket, key, MAX_REPORT_BYTES).await
        })
        .await?;
        let not_ours = |why: String| {
            Error::Usage(format!(
                "s3://{bucket}/{key} is not a prune report ami-builder wrote ({why}); nothing was merged"
            ))
        };
        let report: super::PruneReport =
            serde_json::from_str(&text).map_err(|e| not_ours(e.to_string()))?;
        if report.schema_version != crate::retention::saved::PLAN_SCHEMA_VERSION {
            return Err(not_ours(format!(
                "schema_version {}, not {}",
                report.schema_version,
                crate::retention::saved::PLAN_SCHEMA_VERSION
            )));
        }
        let account = report
            .plan
            .scope
            .account_id
            .clone()
            .ok_or_else(|| not_ours("it names no account".into()))?;
        let json = serde_json::to_value(&report).map_err(|e| Error::Other(e.to_string()))?;
        merged.push((
            account.clone(),
            report.plan.generated_at,
            AccountResult {
                label: account.to_string(),
                account,
                name: None,
                text: Some(report.to_string()),
                report: Some(json),
                error: None,
                exit_code: None,
            },
        ));
    }
    merged.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let combined = AccountsReport {
        schema_version: crate::retention::saved::PLAN_SCHEMA_VERSION,
        accounts: merged.into_iter().map(|(_, _, r)| r).collect(),
    };
    crate::output::emit(&combined, global.output)?;
    if let Some(to) = &args.report {
        let name = format!("organization-{}.json", Utc::now().format("%Y%m%dT%H%M%SZ"));
        let urls = super::super::within(global, "uploading the merged report", async {
            super::upload_json(&aws, to, &name, &combined).await
        })
        .await?;
        eprintln!("ami-builder: merged report written to {}", urls.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}
