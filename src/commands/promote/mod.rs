//! `ami-builder promote` (and `--rollback`): glue from the CLI to the channel
//! rules ([`crate::channels`]), SSM ([`crate::aws::ssm`]), EC2 and the event.
//!
//! Order of work, so that nothing is half-done on a refusal: every input is
//! checked, every image and channel history read, and every precondition
//! decided before the first write. Then each region's parameter is set (a
//! region already pointing at the AMI is left alone, which is what makes a
//! re-run after a partial failure converge), then the launch templates,
//! then the result is printed, then the event is sent.
//!
//! This file reads the inputs and decides (targets, family, templates and
//! refresh groups, named or opted in by tag, rollback targets); `apply` writes; `result` is what
//! is printed.

mod apply;
mod result;

use std::collections::BTreeMap;
use std::process::ExitCode;

use chrono::{DateTime, Utc};

use crate::aws::launch_templates::{self, Found};
use crate::aws::{ec2, refresh, ssm, Aws};
use crate::channels::{self, ImageFacts, Record, Requires, Target};
use crate::cli::{Global, PromoteArgs};
use crate::error::{Error, Result};
use crate::events::entry::AmiStatus;
use crate::ids::{AmiId, Region};

pub use apply::{finish, Apply, Done, Opts, RefreshOpts};
pub use result::{
    PromoteResult, RefreshResult, RegionResult, Selected, TemplateResult, SCHEMA_VERSION,
};

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
    let discover = Discover::of(&args.common, true);
    let (templates, refreshes) = chosen(
        &aws,
        Named {
            templates: &args.launch_templates,
            groups: &args.refresh,
        },
        discover.as_ref(),
        (&family, &args.channel),
        &home,
        &targets,
    )
    .await?;
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
) -> Result<Vec<(Region, String, Selected)>> {
    let mut out = Vec::new();
    for spec in named {
        let (region, group) = in_promotion(spec, home, targets, "Auto Scaling group")?;
        if group.is_empty() {
            return Err(Error::Usage(format!("--refresh {spec}: no group name")));
        }
        out.push((region, group.to_string(), Selected::Named));
    }
    Ok(out)
}

/// Which opted-in resources a promotion also changes: those tagged
/// `key`=FAMILY and [`channels::CHANNEL_TAG`]=CHANNEL; the groups only when
/// refreshes are started at all (`revoke`'s rollbacks start none).
pub struct Discover<'a> {
    pub key: &'a str,
    pub groups: bool,
}

impl<'a> Discover<'a> {
    /// From `--opt-in-tag` and `--named-only`.
    pub fn of(o: &'a crate::cli::ChannelOpts, groups: bool) -> Option<Discover<'a>> {
        (!o.named_only).then_some(Discover {
            key: &o.opt_in_tag,
            groups,
        })
    }
}

/// What was named on the command line.
#[derive(Clone, Copy)]
pub struct Named<'a> {
    pub templates: &'a [String],
    pub groups: &'a [String],
}

/// Templates and groups chosen from a region's opted-in ones (`tagged`: each
/// with its tags) by the channel tag; one left alone for want of it is said.
fn following<T>(
    tagged: Vec<(T, BTreeMap<String, String>)>,
    (key, family, channel): (&str, &str, &str),
    what: impl Fn(&T) -> String,
) -> Vec<T> {
    let mut out = Vec::new();
    for (t, tags) in tagged {
        match channels::follows(&tags, key, family, channel) {
            channels::Follows::Yes => out.push(t),
            channels::Follows::NoChannel => tracing::warn!(
                "{} carries {key}={family} but no {} tag: left alone; tag it {}={channel} to have {channel} promotions change it",
                what(&t),
                channels::CHANNEL_TAG,
                channels::CHANNEL_TAG
            ),
            channels::Follows::OtherChannel(_) | channels::Follows::NotOptedIn => {}
        }
    }
    out
}

/// The templates and groups a promotion changes: those named, then those
/// opted in (`discover`) in each region of `targets` that were not named.
/// All are found before anything changes: a named one that is missing, or
/// a listing that fails, refuses the promotion.
async fn chosen(
    aws: &Aws,
    named: Named<'_>,
    discover: Option<&Discover<'_>>,
    (family, channel): (&str, &str),
    home: &Region,
    targets: &[(Region, AmiId)],
) -> Result<(
    Vec<(Region, Found, Selected)>,
    Vec<(Region, String, Selected)>,
)> {
    let mut templates = find_templates(aws, named.templates, home, targets).await?;
    let mut groups = refresh_targets(named.groups, home, targets)?;
    let Some(d) = discover else {
        return Ok((templates, groups));
    };
    for (region, _) in targets {
        let tagged = launch_templates::tagged(aws, region, d.key, family).await?;
        for t in following(tagged, (d.key, family, channel), |t: &Found| {
            format!("launch template {} ({}) in {region}", t.name, t.id)
        }) {
            if !templates
                .iter()
                .any(|(r, f, _)| r == region && f.id == t.id)
            {
                templates.push((region.clone(), t, Selected::OptedIn));
            }
        }
        if !d.groups {
            continue;
        }
        let tagged = refresh::tagged_groups(&aws.autoscaling(region), d.key, family)
            .await
            .map_err(|e| {
                Error::Other(format!(
                    "listing the Auto Scaling groups tagged {}={family} in {region}: {e}",
                    d.key
                ))
            })?;
        for g in following(tagged, (d.key, family, channel), |g: &String| {
            format!("Auto Scaling group {g} in {region}")
        }) {
            if !groups.iter().any(|(r, n, _)| r == region && *n == g) {
                groups.push((region.clone(), g, Selected::OptedIn));
            }
        }
    }
    Ok((templates, groups))
}

/// `[REGION:]NAME` of a resource the promotion changes (`what`: "launch
/// template"), in `home` without a region; refused (exit 10) when the
/// promotion has no AMI in that region.
fn in_promotion<'s>(
    spec: &'s str,
    home: &Region,
    targets: &[(Region, AmiId)],
    what: &str,
) -> Result<(Region, &'s str)> {
    let (region, name) = match spec.split_once(':') {
        Some((r, n)) => (crate::cli::parse_region(r).map_err(Error::Usage)?, n),
        None => (home.clone(), spec),
    };
    if !targets.iter().any(|(r, _)| *r == region) {
        return Err(Error::PromoteRefused(format!(
            "{what} {name} is in {region}, where this promotion has no AMI: nothing was changed"
        )));
    }
    Ok((region, name))
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
) -> Result<Vec<(Region, Found, Selected)>> {
    let mut out: Vec<(Region, Found, Selected)> = Vec::new();
    for spec in named {
        let (region, t) = in_promotion(spec, home, targets, "launch template")?;
        match launch_templates::find(aws, &region, t).await? {
            // named twice (by name and by id): changed once
            Some(f) if out.iter().any(|(r, o, _)| *r == region && o.id == f.id) => {}
            Some(f) => out.push((region, f, Selected::Named)),
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
        Named {
            templates: &args.launch_templates,
            groups: &args.refresh,
        },
        Discover::of(&args.common, true).as_ref(),
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
    named: Named<'_>,
    discover: Option<&Discover<'_>>,
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
    let (templates, refreshes) = chosen(
        aws,
        named,
        discover,
        (ch.family, ch.channel),
        &home,
        &targets,
    )
    .await?;
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
