//! `ami-builder promote` (and `--rollback`): glue from the CLI to the channel
//! rules ([`crate::channels`]), SSM ([`crate::aws::ssm`]), EC2 and the event.
//!
//! Order of work, so that nothing is half-done on a refusal: every input is
//! checked, every image and channel history read, and every precondition
//! decided before the first write. Then each region's parameter is set (a
//! region already pointing at the AMI is left alone, which is what makes a
//! re-run after a partial failure converge), then the launch templates,
//! then the result is printed, then the event is sent.

use std::collections::BTreeMap;
use std::fmt;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::aws::launch_templates::{self, Found};
use crate::aws::{ec2, refresh, ssm, Aws};
use crate::channels::{self, History, ImageFacts, Record, Requires, Target};
use crate::cli::{Global, PromoteArgs};
use crate::error::{Error, Result};
use crate::events::entry::{build_entry, AmiStatus, EventFacts};
use crate::ids::{AmiId, Region};

/// Layout version of `promote --output json`.
pub const SCHEMA_VERSION: u32 = 1;

/// One region of a promotion.
#[derive(Debug, Clone, Serialize)]
pub struct RegionResult {
    pub region: Region,
    pub ami: AmiId,
    /// What the channel pointed at before, if anything.
    pub previous: Option<AmiId>,
    /// `changed`, `unchanged` (it already pointed there), `would-change`
    /// (--dry-run) or `failed`.
    pub status: &'static str,
    /// The parameter version written.
    pub version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One launch template of a promotion.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateResult {
    pub region: Region,
    pub launch_template_id: String,
    pub launch_template_name: String,
    /// `created` (a new default version), `resolves` (its default version
    /// reads the channel's parameter), `would-create`, `unchanged` (the
    /// default already has the AMI) or `failed`.
    pub status: &'static str,
    pub version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One instance refresh of a promotion.
#[derive(Debug, Clone, Serialize)]
pub struct RefreshResult {
    pub region: Region,
    pub group: String,
    pub instance_refresh_id: Option<String>,
    /// `started` (without --wait), `would-start`, an Auto Scaling status
    /// (`Successful`, `Failed`, `RollbackSuccessful`, ...) with --wait, or
    /// `failed` (it could not be started or followed).
    pub status: String,
    pub percentage_complete: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What `promote` did.
#[derive(Debug, Clone, Serialize)]
pub struct PromoteResult {
    pub schema_version: u32,
    /// `promote` or `rollback`.
    pub action: &'static str,
    pub channel: String,
    pub family: String,
    pub parameter: String,
    pub commit: Option<String>,
    pub dry_run: bool,
    pub regions: Vec<RegionResult>,
    pub launch_templates: Vec<TemplateResult>,
    pub refreshes: Vec<RefreshResult>,
    /// The event's id, when one was sent.
    pub event_id: Option<String>,
}

impl fmt::Display for PromoteResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.dry_run { "would set" } else { "set" };
        writeln!(
            f,
            "{} {} channel {} ({}){}",
            self.action,
            self.family,
            self.channel,
            self.parameter,
            self.commit
                .as_deref()
                .map_or_else(String::new, |c| format!(", commit {c}"))
        )?;
        let rows = self.regions.iter().map(|r| {
            vec![
                r.region.to_string(),
                r.ami.to_string(),
                r.previous.as_ref().map_or("-".into(), |p| p.to_string()),
                r.status.to_string(),
                r.version.map_or("-".into(), |v| v.to_string()),
                r.error.clone().unwrap_or_default(),
            ]
        });
        f.write_str(&crate::table::render(
            &["REGION", "AMI", "PREVIOUS", "STATUS", "VERSION", "ERROR"],
            rows,
        ))?;
        if !self.launch_templates.is_empty() {
            let rows = self.launch_templates.iter().map(|t| {
                vec![
                    t.region.to_string(),
                    format!("{} ({})", t.launch_template_name, t.launch_template_id),
                    t.status.to_string(),
                    t.version.map_or("-".into(), |v| v.to_string()),
                    t.error.clone().unwrap_or_default(),
                ]
            });
            f.write_str(&crate::table::render(
                &[
                    "REGION",
                    "LAUNCH TEMPLATE",
                    "STATUS",
                    "DEFAULT VERSION",
                    "ERROR",
                ],
                rows,
            ))?;
        }
        if !self.refreshes.is_empty() {
            let rows = self.refreshes.iter().map(|r| {
                vec![
                    r.region.to_string(),
                    r.group.clone(),
                    r.instance_refresh_id.clone().unwrap_or_else(|| "-".into()),
                    r.status.clone(),
                    r.percentage_complete
                        .map_or("-".into(), |p| format!("{p}%")),
                    r.error.clone().unwrap_or_default(),
                ]
            });
            f.write_str(&crate::table::render(
                &[
                    "REGION",
                    "AUTO SCALING GROUP",
                    "REFRESH",
                    "STATUS",
                    "DONE",
                    "ERROR",
                ],
                rows,
            ))?;
        }
        let changed = self
            .regions
            .iter()
            .filter(|r| r.status == "changed")
            .count();
        write!(f, "{verb} {changed} of {} region(s)", self.regions.len())?;
        if let Some(id) = &self.event_id {
            write!(f, "; event {id}")?;
        }
        writeln!(f)
    }
}

/// Check the names before any call: a usage error (exit 2).
fn parameter(args_prefix: &str, family: &str, channel: &str) -> Result<String> {
    channels::parameter_name(args_prefix, family, channel).map_err(Error::Usage)
}

pub(crate) fn parse_time(s: Option<&str>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
}

/// What EC2 says of `ami` in `region`, as the channel rules read it.
async fn facts(
    aws: &Aws,
    region: &Region,
    ami: &AmiId,
    account: &crate::ids::AccountId,
) -> Result<ImageFacts> {
    Ok(match ec2::describe_image(aws, region, ami).await? {
        None => ImageFacts::default(),
        Some(i) => ImageFacts {
            owner_is_self: i.owner_id.as_deref() == Some(account.as_ref()),
            state: Some(i.state),
            deprecation_time: parse_time(i.deprecation_time.as_deref()),
            tags: i.tags,
        },
    })
}

/// Run `promote`.
pub async fn run(global: &Global, args: PromoteArgs) -> Result<ExitCode> {
    channels::check_segment("channel", &args.channel).map_err(Error::Usage)?;
    channels::check_prefix(&args.common.prefix.prefix).map_err(Error::Usage)?;
    if let Some(r) = &args.requires {
        channels::check_segment("--requires channel", r).map_err(Error::Usage)?;
        if *r == args.channel {
            return Err(Error::Usage(format!(
                "--requires {r} names the channel being promoted"
            )));
        }
    }
    if let Some(f) = &args.family {
        channels::check_segment("family", f).map_err(Error::Usage)?;
    }
    let aws = super::load_aws(global).await?;
    let now = Utc::now();
    if args.rollback {
        return rollback(global, &aws, &args, now).await;
    }
    let targets = targets(&aws, &args).await?;
    // the event goes to the --region's bus when it is one of the build's
    // regions (the stack's rules live there), else to the first region's
    let home = aws
        .default_region()
        .filter(|r| targets.iter().any(|(t, _)| t == r))
        .unwrap_or_else(|| targets[0].0.clone());
    let account = aws.account_id(&home).await?;
    let mut image_facts = Vec::new();
    for (region, ami) in &targets {
        image_facts.push(facts(&aws, region, ami, &account).await?);
    }
    let family = family_of(&args, &targets, &image_facts)?;
    let name = parameter(&args.common.prefix.prefix, &family, &args.channel)?;
    let mut histories = BTreeMap::new();
    for (region, _) in &targets {
        histories.insert(region.clone(), ssm::history(&aws, region, &name).await?);
    }
    let required = match &args.requires {
        None => None,
        Some(req) => {
            let req_name = parameter(&args.common.prefix.prefix, &family, req)?;
            let mut h = BTreeMap::new();
            for (region, _) in &targets {
                let hist = ssm::history(&aws, region, &req_name).await?;
                if !hist.versions.is_empty() {
                    h.insert(region.clone(), hist);
                }
            }
            Some(h)
        }
    };
    let soak = args.soak;
    let requires = args
        .requires
        .as_deref()
        .zip(required.as_ref())
        .map(|(c, h)| Requires {
            channel: c,
            soak,
            histories: h,
        });
    let tgts: Vec<Target<'_>> = targets
        .iter()
        .zip(&image_facts)
        .map(|((region, ami), facts)| Target {
            region,
            ami,
            facts,
            history: &histories[region],
        })
        .collect();
    let refused = channels::refusals(&tgts, &args.common.commit_tag, requires.as_ref(), now);
    if !refused.is_empty() {
        return Err(Error::PromoteRefused(format!(
            "not promoting to {name}, nothing was changed: {}",
            refused.join("; ")
        )));
    }
    let commit = image_facts[0].tags.get(&args.common.commit_tag).cloned();
    let templates = find_templates(&aws, &args.launch_templates, &home, &targets).await?;
    let refreshes = refresh_targets(&args.refresh, &home, &targets)?;
    let record = Record {
        commit: commit.clone(),
        build_id: image_facts[0].tags.get(crate::tags::BUILD_ID).cloned(),
        regions: targets.iter().map(|(r, _)| r.clone()).collect(),
        action: Some("promote".into()),
    };
    let plan: Vec<(Region, AmiId)> = targets.clone();
    finish(
        &aws,
        &Opts::of(&args, global),
        Apply {
            action: "promote",
            status: AmiStatus::Promoted,
            family,
            name,
            commit,
            record,
            plan,
            histories,
            templates,
            refreshes,
            home,
        },
    )
    .await
    .report(global)
}

/// The groups of `--refresh`, each in a region of the promotion (else
/// refused before any change).
fn refresh_targets(
    named: &[String],
    home: &Region,
    targets: &[(Region, AmiId)],
) -> Result<Vec<(Region, String)>> {
    let mut out = Vec::new();
    for spec in named {
        let (region, group) = match spec.split_once(':') {
            Some((r, g)) => (crate::cli::parse_region(r).map_err(Error::Usage)?, g),
            None => (home.clone(), spec.as_str()),
        };
        if group.is_empty() {
            return Err(Error::Usage(format!("--refresh {spec}: no group name")));
        }
        if !targets.iter().any(|(r, _)| *r == region) {
            return Err(Error::PromoteRefused(format!(
                "Auto Scaling group {group} is in {region}, where this promotion has no AMI: nothing was changed"
            )));
        }
        out.push((region, group.to_string()));
    }
    Ok(out)
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
    for (region, group) in &a.refreshes {
        let mut rr = RefreshResult {
            region: region.clone(),
            group: group.clone(),
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
    fn of(args: &'a PromoteArgs, global: &Global) -> Opts<'a> {
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
    pub templates: Vec<(Region, Found)>,
    /// Auto Scaling groups to refresh, each in a region of the plan.
    pub refreshes: Vec<(Region, String)>,
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
    for (region, t) in &a.templates {
        let Some(ami) = a.plan.iter().find(|(r, _)| r == region).map(|(_, a)| a) else {
            continue;
        };
        let mut tr = TemplateResult {
            region: region.clone(),
            launch_template_id: t.id.clone(),
            launch_template_name: t.name.clone(),
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

/// The (region, AMI) pairs to promote, from --ami, --commit or the build
/// record; one per region.
async fn targets(aws: &Aws, args: &PromoteArgs) -> Result<Vec<(Region, AmiId)>> {
    let mut out: Vec<(Region, AmiId)> = Vec::new();
    if !args.amis.is_empty() {
        let default = aws.default_region();
        for s in &args.amis {
            out.push(crate::steps::parse_ami_ref(s, default.as_ref())?);
        }
    } else if let Some(commit) = &args.commit {
        let family = args.family.as_deref().unwrap_or_default();
        let regions = crate::steps::regions_or_default(&args.regions, aws)?;
        let mut missing = Vec::new();
        for region in regions {
            let found = ec2::images_tagged(
                aws,
                &region,
                &[
                    (args.common.commit_tag.as_str(), commit.as_str()),
                    (crate::tags::FAMILY, family),
                ],
            )
            .await?;
            match found.into_iter().next() {
                Some(ami) => out.push((region, ami)),
                None => missing.push(region.to_string()),
            }
        }
        if !missing.is_empty() {
            return Err(Error::PromoteRefused(format!(
                "no image of family {family} with {}={commit} in {}: nothing was changed",
                args.common.commit_tag,
                missing.join(", ")
            )));
        }
    } else {
        let path = args
            .artifacts
            .clone()
            .unwrap_or_else(|| std::path::PathBuf::from("out/artifacts.json"));
        let record = crate::steps::read_record(&path)?;
        let builds: Vec<&str> = record.builds();
        if builds.len() > 1 {
            return Err(Error::Usage(format!(
                "{} holds {} builds ({}): promote one with --ami REGION:AMI,...",
                path.display(),
                builds.len(),
                builds.join(", ")
            )));
        }
        out = record
            .artifacts
            .iter()
            .map(|a| (a.region().clone(), a.ami_id().clone()))
            .collect();
        if out.is_empty() {
            return Err(Error::Usage(format!("{} names no AMI", path.display())));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for (r, _) in &out {
        if !seen.insert(r) {
            return Err(Error::Usage(format!(
                "two AMIs for {r}: a channel points at one AMI per region"
            )));
        }
    }
    Ok(out)
}

/// `--family`, else the images' family tag (all the same).
fn family_of(
    args: &PromoteArgs,
    targets: &[(Region, AmiId)],
    facts: &[ImageFacts],
) -> Result<String> {
    let tagged: std::collections::BTreeSet<&str> = facts
        .iter()
        .filter_map(|f| f.tags.get(crate::tags::FAMILY).map(String::as_str))
        .collect();
    let family = match (&args.family, tagged.len()) {
        (Some(f), _) => {
            if let Some(other) = tagged.iter().find(|t| **t != f.as_str()) {
                return Err(Error::PromoteRefused(format!(
                    "the images are of family {other} (tag {}), not {f}: nothing was changed",
                    crate::tags::FAMILY
                )));
            }
            f.clone()
        }
        (None, 1) => tagged.into_iter().next().unwrap_or_default().to_string(),
        (None, 0) => {
            let (r, a) = &targets[0];
            return Err(Error::PromoteRefused(format!(
                "{a} in {r} has no {} tag: pass --family, or build and tag it with ami-builder",
                crate::tags::FAMILY
            )));
        }
        (None, _) => {
            return Err(Error::PromoteRefused(format!(
                "the images are of several families ({}): a promotion is one build",
                tagged.into_iter().collect::<Vec<_>>().join(", ")
            )))
        }
    };
    channels::check_segment("family", &family).map_err(Error::Usage)?;
    Ok(family)
}

/// The launch templates named, found before anything changes (a missing
/// one refuses the promotion).
async fn find_templates(
    aws: &Aws,
    named: &[String],
    home: &Region,
    targets: &[(Region, AmiId)],
) -> Result<Vec<(Region, Found)>> {
    let mut out = Vec::new();
    for spec in named {
        let (region, t) = match spec.split_once(':') {
            Some((r, t)) => (crate::cli::parse_region(r).map_err(Error::Usage)?, t),
            None => (home.clone(), spec.as_str()),
        };
        if !targets.iter().any(|(r, _)| *r == region) {
            return Err(Error::PromoteRefused(format!(
                "launch template {t} is in {region}, where this promotion has no AMI: nothing was changed"
            )));
        }
        match launch_templates::find(aws, &region, t).await? {
            Some(f) => out.push((region, f)),
            None => {
                return Err(Error::PromoteRefused(format!(
                    "there is no launch template {t} in {region}: nothing was changed"
                )))
            }
        }
    }
    Ok(out)
}

/// `promote --rollback`: each region back to its previous fit AMI.
async fn rollback(
    global: &Global,
    aws: &Aws,
    args: &PromoteArgs,
    now: DateTime<Utc>,
) -> Result<ExitCode> {
    let family = args.family.clone().unwrap_or_default();
    let regions = crate::steps::regions_or_default(&args.regions, aws)?;
    let a = rollback_plan(
        aws,
        &Channel {
            family: &family,
            channel: &args.channel,
            prefix: &args.common.prefix.prefix,
            commit_tag: &args.common.commit_tag,
        },
        &regions,
        &args.launch_templates,
        &args.refresh,
        now,
    )
    .await?;
    finish(aws, &Opts::of(args, global), a).await.report(global)
}

/// A channel, and the tag its images' commit is read from.
pub struct Channel<'a> {
    pub family: &'a str,
    pub channel: &'a str,
    pub prefix: &'a str,
    pub commit_tag: &'a str,
}

/// What a rollback of `ch` in `regions` would write: each region back to
/// its previous fit AMI; refused (exit 10) when a region has none.
pub async fn rollback_plan(
    aws: &Aws,
    ch: &Channel<'_>,
    regions: &[Region],
    launch_templates: &[String],
    refreshes: &[String],
    now: DateTime<Utc>,
) -> Result<Apply> {
    let name = parameter(ch.prefix, ch.family, ch.channel)?;
    let Some(home) = regions.first().cloned() else {
        return Err(Error::Usage("a rollback needs a region".into()));
    };
    let account = aws.account_id(&home).await?;
    let mut plan = Vec::new();
    let mut histories = BTreeMap::new();
    let mut refused = Vec::new();
    for region in regions {
        let h = ssm::history(aws, region, &name).await?;
        let mut known: BTreeMap<AmiId, ImageFacts> = BTreeMap::new();
        for v in &h.versions {
            if !known.contains_key(&v.ami) {
                let f = facts(aws, region, &v.ami, &account).await?;
                known.insert(v.ami.clone(), f);
            }
        }
        let lookup = |a: &AmiId| known.get(a).cloned().unwrap_or_default();
        match channels::rollback_target(&h, &lookup, region, ch.commit_tag, now) {
            Ok(v) => plan.push((
                region.clone(),
                v.ami.clone(),
                v.commit().map(str::to_string),
            )),
            Err(e) => refused.push(e),
        }
        histories.insert(region.clone(), h);
    }
    if !refused.is_empty() {
        return Err(Error::PromoteRefused(format!(
            "not rolling back {name}, nothing was changed: {}",
            refused.join("; ")
        )));
    }
    let commits: std::collections::BTreeSet<Option<&str>> =
        plan.iter().map(|(_, _, c)| c.as_deref()).collect();
    if commits.len() > 1 {
        tracing::warn!(?commits, "the regions roll back to different commits");
    }
    let commit = plan.first().and_then(|(_, _, c)| c.clone());
    let targets: Vec<(Region, AmiId)> = plan.into_iter().map(|(r, a, _)| (r, a)).collect();
    let templates = find_templates(aws, launch_templates, &home, &targets).await?;
    let refreshes = refresh_targets(refreshes, &home, &targets)?;
    let record = Record {
        commit: commit.clone(),
        build_id: None,
        regions: regions.to_vec(),
        action: Some("rollback".into()),
    };
    Ok(Apply {
        action: "rollback",
        status: AmiStatus::RolledBack,
        family: ch.family.to_string(),
        name,
        commit,
        record,
        plan: targets,
        histories,
        templates,
        refreshes,
        home,
    })
}
