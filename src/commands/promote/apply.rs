//! The writing half of a promotion or rollback, once everything is decided
//! ([`Apply`]): each region's parameter, then the launch templates, then the
//! instance refreshes, then the event; what was done and what failed is the
//! [`Done`] the caller prints.

use std::collections::BTreeMap;
use std::process::ExitCode;

use crate::aws::launch_templates::{self, Found};
use crate::aws::{refresh, ssm, Aws};
use crate::channels::{self, History, Record};
use crate::cli::{Global, PromoteArgs};
use crate::error::{Error, Result};
use crate::events::entry::{build_entry, AmiStatus, EventFacts};
use crate::ids::{AmiId, Region};

use super::result::{
    PromoteResult, RefreshResult, RegionResult, Selected, TemplateResult, SCHEMA_VERSION,
};

/// The options `finish` needs, from `promote` or from `revoke`.
pub struct Opts<'a> {
    pub channel: &'a str,
    pub dry_run: bool,
    pub no_event: bool,
    pub event: &'a crate::cli::EventArgs,
    /// How to start and follow instance refreshes (`promote --refresh`).
    pub refresh: Option<RefreshOpts>,
}

/// `--min-healthy-percentage`, `--checkpoints`, `--auto-rollback`,
/// `--wait`, `--refresh-timeout`, and whether progress is printed.
pub struct RefreshOpts {
    pub prefs: refresh::Preferences,
    pub wait: Option<std::time::Duration>,
    pub quiet: bool,
}

impl<'a> Opts<'a> {
    pub(super) fn of(args: &'a PromoteArgs, global: &Global) -> Opts<'a> {
        Opts {
            channel: &args.channel,
            dry_run: args.dry_run,
            no_event: args.common.no_event,
            event: &args.common.event,
            refresh: Some(RefreshOpts {
                prefs: refresh::Preferences {
                    min_healthy_percentage: Some(args.min_healthy_percentage),
                    checkpoints: args.checkpoints.clone(),
                    auto_rollback: args.auto_rollback,
                },
                wait: args
                    .wait
                    .then(|| args.refresh_timeout.to_std().unwrap_or_default()),
                quiet: global.quiet,
            }),
        }
    }
}

/// What `finish` did: the result to print, what failed, and an event error.
pub struct Done {
    pub result: PromoteResult,
    pub failed: Vec<String>,
    pub event_error: Option<Error>,
}

impl Done {
    /// Print the result, then say what failed (exit 11) or the event error.
    pub fn report(self, global: &Global) -> Result<ExitCode> {
        crate::output::emit(&self.result, global.output)?;
        self.outcome()
    }

    /// The exit of a printed result.
    pub fn outcome(self) -> Result<ExitCode> {
        if !self.failed.is_empty() {
            let changed = self.result.regions.iter().any(|r| r.status == "changed");
            return Err(Error::PromoteIncomplete(format!(
                "{} of {} {}: {}; run the same command again to finish (regions already set are left alone)",
                self.result.action,
                self.result.parameter,
                if changed {
                    "changed some regions and failed on others"
                } else {
                    "changed nothing"
                },
                self.failed.join("; ")
            )));
        }
        match self.event_error {
            Some(e) => Err(e),
            None => Ok(ExitCode::SUCCESS),
        }
    }
}

/// Everything decided before the first write.
pub struct Apply {
    pub action: &'static str,
    pub status: AmiStatus,
    pub family: String,
    pub name: String,
    pub commit: Option<String>,
    pub record: Record,
    pub plan: Vec<(Region, AmiId)>,
    pub histories: BTreeMap<Region, History>,
    pub templates: Vec<(Region, Found, Selected)>,
    /// Auto Scaling groups to refresh, each in a region of the plan.
    pub refreshes: Vec<(Region, String, Selected)>,
    pub home: Region,
}

pub async fn finish(aws: &Aws, args: &Opts<'_>, a: Apply) -> Done {
    let labels: Vec<String> = a.commit.iter().map(|c| channels::commit_label(c)).collect();
    let mut regions = Vec::new();
    let mut failed = Vec::new();
    for (region, ami) in &a.plan {
        let current = a.histories.get(region).and_then(|h| h.current());
        let previous = current.map(|v| v.ami.clone());
        let mut r = RegionResult {
            region: region.clone(),
            ami: ami.clone(),
            previous: previous.clone().filter(|p| p != ami),
            status: "changed",
            version: None,
            error: None,
        };
        if previous.as_ref() == Some(ami) {
            r.status = "unchanged";
            r.version = current.map(|v| v.version);
            r.previous = a
                .histories
                .get(region)
                .and_then(|h| h.previous())
                .map(|v| v.ami.clone());
        } else if args.dry_run {
            r.status = "would-change";
        } else {
            match ssm::put(aws, region, &a.name, ami, &a.record, &labels).await {
                Ok(v) => r.version = Some(v),
                Err(e) => {
                    r.status = "failed";
                    r.error = Some(e.to_string());
                    failed.push(format!("{region}: {e}"));
                }
            }
        }
        regions.push(r);
    }
    let mut lts = Vec::new();
    for (region, t, selected_by) in &a.templates {
        let Some(ami) = a.plan.iter().find(|(r, _)| r == region).map(|(_, a)| a) else {
            continue;
        };
        let mut tr = TemplateResult {
            region: region.clone(),
            launch_template_id: t.id.clone(),
            launch_template_name: t.name.clone(),
            selected_by: *selected_by,
            status: "created",
            version: None,
            error: None,
        };
        let region_failed = regions
            .iter()
            .any(|r| &r.region == region && r.status == "failed");
        if t.image.as_deref() == Some(format!("resolve:ssm:{}", a.name).as_str()) {
            tr.status = "resolves";
            tr.version = Some(t.default_version);
        } else if t.image.as_deref() == Some(ami.as_str()) {
            tr.status = "unchanged";
            tr.version = Some(t.default_version);
        } else if args.dry_run {
            tr.status = "would-create";
        } else if region_failed {
            // the channel was not set there: the template follows it or not at all
            tr.status = "failed";
            tr.error = Some(format!("the channel was not set in {region}"));
            failed.push(format!("launch template {} in {region}: not changed", t.id));
        } else {
            let desc = format!(
                "ami-builder {} {} {}",
                a.action,
                args.channel,
                a.commit.as_deref().unwrap_or("")
            );
            match launch_templates::new_default_version(aws, region, t, ami, desc.trim()).await {
                Ok(v) => tr.version = Some(v),
                Err(e) => {
                    tr.status = "failed";
                    tr.error = Some(e.to_string());
                    failed.push(format!("launch template {} in {region}: {e}", t.id));
                }
            }
        }
        lts.push(tr);
    }
    let refreshes = refresh_all(aws, args, &a, &regions, &mut failed).await;
    let mut result = PromoteResult {
        schema_version: SCHEMA_VERSION,
        action: a.action,
        channel: args.channel.to_string(),
        family: a.family.clone(),
        parameter: a.name.clone(),
        commit: a.commit.clone(),
        dry_run: args.dry_run,
        regions,
        launch_templates: lts,
        refreshes,
        event_id: None,
    };
    let changed = result.regions.iter().any(|r| r.status == "changed")
        || result
            .launch_templates
            .iter()
            .any(|t| t.status == "created");
    // the event after the record of what was done, and only for a change
    let mut event_error = None;
    if changed && !args.no_event && !args.dry_run {
        match announce(aws, args, &a, &result).await {
            Ok(id) => result.event_id = id,
            Err(e) => event_error = Some(e),
        }
    }
    Done {
        result,
        failed,
        event_error,
    }
}

async fn announce(
    aws: &Aws,
    args: &Opts<'_>,
    a: &Apply,
    result: &PromoteResult,
) -> Result<Option<String>> {
    let mut facts = EventFacts {
        status: a.status,
        commit: a.commit.clone(),
        family: Some(a.family.clone()),
        channel: Some(args.channel.to_string()),
        ..EventFacts::default()
    };
    for r in result.regions.iter().filter(|r| r.status != "failed") {
        facts.add(r.region.clone(), r.ami.clone());
        if let Some(p) = &r.previous {
            facts.previous.insert(r.region.clone(), p.clone());
        }
    }
    facts.launch_templates = result
        .launch_templates
        .iter()
        .filter_map(|t| Some((t.region.clone(), t.launch_template_id.clone(), t.version?)))
        .collect();
    let entry = build_entry(
        &facts,
        &args.event.event_source,
        &args.event.event_detail_type,
        &args.event.event_bus,
    )
    .map_err(Error::EventRejected)?;
    let ids = crate::steps::announce::send(aws, &a.home, vec![entry]).await?;
    Ok(ids.into_iter().next())
}

/// Start (and with --wait follow) each refresh of `a`, where the channel
/// was set; what failed goes to `failed`.
async fn refresh_all(
    aws: &Aws,
    args: &Opts<'_>,
    a: &Apply,
    regions: &[RegionResult],
    failed: &mut Vec<String>,
) -> Vec<RefreshResult> {
    let mut out = Vec::new();
    for (region, group, selected_by) in &a.refreshes {
        let mut rr = RefreshResult {
            region: region.clone(),
            group: group.clone(),
            selected_by: *selected_by,
            instance_refresh_id: None,
            status: "started".into(),
            percentage_complete: None,
            error: None,
        };
        let region_failed = regions
            .iter()
            .any(|r| &r.region == region && r.status == "failed");
        match (&args.refresh, args.dry_run) {
            (_, true) => rr.status = "would-start".into(),
            (Some(o), false) if !region_failed => {
                let client = aws.autoscaling(region);
                match refresh::start(&client, group, &o.prefs).await {
                    Err(e) => {
                        rr.status = "failed".into();
                        rr.error = Some(e.clone());
                        failed.push(format!("starting a refresh of {group} in {region}: {e}"));
                    }
                    Ok(id) => {
                        rr.instance_refresh_id = Some(id.clone());
                        if let Some(limit) = o.wait {
                            follow_one(
                                &client,
                                (region, group, &id),
                                o.quiet,
                                limit,
                                &mut rr,
                                failed,
                            )
                            .await;
                        }
                    }
                }
            }
            _ => {
                rr.status = "failed".into();
                rr.error = Some(format!("the channel was not set in {region}"));
                failed.push(format!("refresh of {group} in {region}: not started"));
            }
        }
        out.push(rr);
    }
    out
}

async fn follow_one(
    client: &aws_sdk_autoscaling::Client,
    (region, group, id): (&Region, &str, &str),
    quiet: bool,
    limit: std::time::Duration,
    rr: &mut RefreshResult,
    failed: &mut Vec<String>,
) {
    let mut show = |s: &refresh::State| {
        if !quiet {
            eprintln!(
                "ami-builder: refresh {id} of {group} in {region}: {}{}",
                s.status,
                s.percentage_complete
                    .map_or_else(String::new, |p| format!(", {p}% done"))
            );
        }
    };
    let poll = std::time::Duration::from_secs(15);
    match refresh::follow(client, group, id, poll, limit, &mut show).await {
        Ok(s) => {
            rr.status = s.status.clone();
            rr.percentage_complete = s.percentage_complete;
            if s.outcome != channels::RefreshOutcome::Succeeded {
                let why = s.status_reason.clone().unwrap_or_default();
                rr.error = Some(why.clone());
                failed.push(format!(
                    "the refresh of {group} in {region} ended {}: {why}",
                    s.status
                ));
            }
        }
        Err(e) => {
            rr.error = Some(e.clone());
            failed.push(e);
        }
    }
}
