//! `ami-builder revoke`: an image (and its regional copies) must never be
//! promoted again. It is tagged `ami-builder:revoked` with the reason,
//! deprecated now in EC2, every channel pointing at it is rolled back
//! ([`super::promote::rollback_plan`]), and the `Revoked` event is sent.
//!
//! The tag comes first: it is what `promote` and rollbacks refuse on, so
//! once it is written no later step can point a channel back at the image,
//! even if the rest of the run fails.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::process::ExitCode;

use chrono::Utc;
use serde::Serialize;

use super::promote::{self, Channel, Opts, PromoteResult};
use crate::aws::{ec2, ssm};
use crate::channels::{self, REVOKED_TAG};
use crate::cli::{Global, RevokeArgs};
use crate::error::{Error, Result};
use crate::events::entry::{build_entry, AmiStatus, EventFacts};
use crate::ids::{AmiId, Region};

/// Layout version of `revoke --output json`.
pub const SCHEMA_VERSION: u32 = 1;

/// One revoked image.
#[derive(Debug, Clone, Serialize)]
pub struct Revoked {
    pub region: Region,
    pub ami: AmiId,
    /// It was named, or found as a copy of (or the source of) one named.
    pub named: bool,
    pub tagged: bool,
    pub deprecated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What `revoke` did.
#[derive(Debug, Clone, Serialize)]
pub struct RevokeResult {
    pub schema_version: u32,
    pub reason: String,
    pub images: Vec<Revoked>,
    /// Each channel that pointed at a revoked image, rolled back.
    pub rollbacks: Vec<PromoteResult>,
    /// What could not be done (a channel without an earlier fit AMI stays
    /// pointing at the revoked image: the message names it).
    pub errors: Vec<String>,
    pub event_id: Option<String>,
}

impl fmt::Display for RevokeResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "revoked ({REVOKED_TAG} = {})", self.reason)?;
        let rows = self.images.iter().map(|i| {
            vec![
                i.region.to_string(),
                i.ami.to_string(),
                if i.named { "named" } else { "copy" }.to_string(),
                if i.tagged { "yes" } else { "no" }.to_string(),
                if i.deprecated { "yes" } else { "no" }.to_string(),
                i.error.clone().unwrap_or_default(),
            ]
        });
        f.write_str(&crate::table::render(
            &["REGION", "AMI", "HOW", "TAGGED", "DEPRECATED", "ERROR"],
            rows,
        ))?;
        for r in &self.rollbacks {
            write!(f, "{r}")?;
        }
        for e in &self.errors {
            writeln!(f, "error: {e}")?;
        }
        if let Some(id) = &self.event_id {
            writeln!(f, "event {id}")?;
        }
        Ok(())
    }
}

/// Run `revoke`.
pub async fn run(global: &Global, args: RevokeArgs) -> Result<ExitCode> {
    let reason = args.reason.trim();
    if reason.is_empty() || reason.chars().count() > 256 {
        return Err(Error::Usage(
            "--reason must say why, in at most 256 characters (it is the tag's value)".into(),
        ));
    }
    channels::check_prefix(&args.common.prefix.prefix).map_err(Error::Usage)?;
    let aws = super::load_aws(global).await?;
    let default = aws.default_region();
    let mut named = Vec::new();
    for s in &args.amis {
        named.push(crate::steps::parse_ami_ref(s, default.as_ref())?);
    }
    let home = named[0].0.clone();
    let account = aws.account_id(&home).await?;
    // A copy or a channel missed is one left serving the image: without
    // --regions every region enabled for the account is searched.
    let mut scope: BTreeSet<Region> = if args.regions.is_empty() {
        ec2::enabled_regions(&aws, &home)
            .await
            .map_err(|e| {
                Error::Other(format!(
                    "{e}; nothing was revoked: name the regions to search for copies and channels with --regions"
                ))
            })?
            .into_iter()
            .collect()
    } else {
        args.regions.iter().cloned().collect()
    };
    scope.extend(named.iter().map(|(r, _)| r.clone()));

    // every image of the builds named: the sources and all their copies
    let mut sources: BTreeSet<String> = BTreeSet::new();
    let mut family = None;
    let mut commit = None;
    for (region, ami) in &named {
        let Some(info) = ec2::describe_image(&aws, region, ami).await? else {
            return Err(Error::PromoteRefused(format!(
                "{ami} does not exist in {region}: nothing was revoked"
            )));
        };
        if info.owner_id.as_deref() != Some(account.as_ref()) {
            return Err(Error::PromoteRefused(format!(
                "{ami} in {region} is not owned by this account: nothing was revoked"
            )));
        }
        family = family.or_else(|| info.tags.get(crate::tags::FAMILY).cloned());
        commit = commit.or_else(|| info.tags.get(&args.common.commit_tag).cloned());
        sources.insert(
            info.tags
                .get(crate::tags::SOURCE_IMAGE)
                .cloned()
                .unwrap_or_else(|| format!("{region}:{ami}")),
        );
    }
    let mut all: BTreeMap<(Region, AmiId), bool> =
        named.iter().map(|k| (k.clone(), true)).collect();
    for src in &sources {
        if let Ok((r, a)) = crate::steps::parse_ami_ref(src, None) {
            if scope.contains(&r) {
                all.entry((r, a)).or_insert(false);
            }
        }
        for region in &scope {
            for copy in
                ec2::images_tagged(&aws, region, &[(crate::tags::SOURCE_IMAGE, src.as_str())])
                    .await?
            {
                all.entry((region.clone(), copy)).or_insert(false);
            }
        }
    }

    // A source-image tag is anyone's to write: an image found through one
    // is revoked only when it is this account's and of the same commit as
    // the images named.
    let mut rejected = Vec::new();
    let found: Vec<(Region, AmiId)> = all
        .iter()
        .filter(|(_, named)| !**named)
        .map(|(k, _)| k.clone())
        .collect();
    for (region, ami) in found {
        let info = ec2::describe_image(&aws, &region, &ami).await?;
        let theirs = info
            .as_ref()
            .and_then(|i| i.tags.get(&args.common.commit_tag));
        let ours = info
            .as_ref()
            .is_some_and(|i| i.owner_id.as_deref() == Some(account.as_ref()));
        if !ours || commit.is_none() || theirs != commit.as_ref() {
            all.remove(&(region.clone(), ami.clone()));
            let claimed = info
                .as_ref()
                .and_then(|i| i.tags.get(crate::tags::SOURCE_IMAGE).cloned());
            let how = match claimed {
                Some(src) if sources.contains(&src) => {
                    format!("names {src} as its source but is not of its build")
                }
                _ => "is named as the source of a revoked copy but is not of its build".into(),
            };
            rejected.push(format!(
                "{ami} in {region} {how} (commit {}, not {}, or another account's): not revoked; check its tags",
                theirs.map_or("none", String::as_str),
                commit.as_deref().unwrap_or("none")
            ));
        }
    }

    // the tag first: from here on nothing promotes or rolls back to them
    let now = Utc::now();
    let mut images = Vec::new();
    let mut errors = rejected;
    for ((region, ami), was_named) in &all {
        let mut r = Revoked {
            region: region.clone(),
            ami: ami.clone(),
            named: *was_named,
            tagged: false,
            deprecated: false,
            error: None,
        };
        let failed = ec2::create_tags(
            &aws,
            region,
            &[ami.to_string()],
            &[(REVOKED_TAG.to_string(), reason.to_string())],
        )
        .await?;
        if let Some(e) = failed.into_iter().next() {
            r.error = Some(e.clone());
            errors.push(format!("tagging {ami} in {region}: {e}"));
        } else {
            r.tagged = true;
            match ec2::deprecate(&aws, region, ami, now).await {
                Ok(()) => r.deprecated = true,
                Err(e) => {
                    r.error = Some(e.to_string());
                    errors.push(e.to_string());
                }
            }
        }
        images.push(r);
    }

    // every channel pointing at one of them, rolled back where it does
    let revoked: BTreeSet<(&Region, &AmiId)> = all.keys().map(|(r, a)| (r, a)).collect();
    let mut affected: BTreeMap<(String, String), Vec<Region>> = BTreeMap::new();
    for region in &scope {
        for name in ssm::image_parameters(&aws, region, &args.common.prefix.prefix).await? {
            let Some((fam, ch)) = channels::parse_parameter_name(&args.common.prefix.prefix, &name)
            else {
                continue;
            };
            let h = ssm::history(&aws, region, &name).await?;
            if h.current()
                .is_some_and(|v| revoked.contains(&(region, &v.ami)))
            {
                affected
                    .entry((fam.to_string(), ch.to_string()))
                    .or_default()
                    .push(region.clone());
            }
        }
    }
    let mut rollbacks = Vec::new();
    let mut rollback_failed = Vec::new();
    for ((fam, ch), regions) in &affected {
        let plan = promote::rollback_plan(
            &aws,
            &Channel {
                family: fam,
                channel: ch,
                prefix: &args.common.prefix.prefix,
                commit_tag: &args.common.commit_tag,
            },
            regions,
            promote::Named {
                templates: &[],
                groups: &[],
            },
            // the opted-in templates follow the rollback; no refresh is
            // started by a revocation
            promote::Discover::of(&args.common, false).as_ref(),
            now,
        )
        .await;
        match plan {
            Err(e) => {
                let msg = format!(
                    "channel {ch} of {fam} still points at a revoked image: {e}; promote a fit build to it"
                );
                errors.push(msg.clone());
                rollback_failed.push(msg);
            }
            Ok(a) => {
                let opts = Opts {
                    channel: ch,
                    dry_run: false,
                    no_event: args.common.no_event,
                    event: &args.common.event,
                    refresh: None,
                };
                let done = promote::finish(&aws, &opts, a).await;
                errors.extend(done.failed.iter().cloned());
                if let Some(e) = &done.event_error {
                    errors.push(e.to_string());
                }
                rollbacks.push(done.result);
            }
        }
    }

    let mut result = RevokeResult {
        schema_version: SCHEMA_VERSION,
        reason: reason.to_string(),
        images,
        rollbacks,
        errors: errors.clone(),
        event_id: None,
    };
    let mut event_error = None;
    if !args.common.no_event && result.images.iter().any(|i| i.tagged) {
        let mut facts = EventFacts {
            status: AmiStatus::Revoked,
            commit,
            family,
            reason: Some(reason.to_string()),
            ..EventFacts::default()
        };
        for i in result.images.iter().filter(|i| i.tagged) {
            facts.add(i.region.clone(), i.ami.clone());
        }
        let sent = match build_entry(
            &facts,
            &args.common.event.event_source,
            &args.common.event.event_detail_type,
            &args.common.event.event_bus,
        ) {
            Ok(entry) => crate::steps::announce::send(&aws, &home, vec![entry]).await,
            Err(e) => Err(Error::EventRejected(e)),
        };
        match sent {
            Ok(ids) => result.event_id = ids.into_iter().next(),
            Err(e) => event_error = Some(e),
        }
    }
    crate::output::emit(&result, global.output)?;
    if !errors.is_empty() {
        let tagged_all = result.images.iter().all(|i| i.tagged);
        let msg = format!("revoke did not finish: {}", errors.join("; "));
        return Err(if tagged_all {
            Error::PromoteIncomplete(msg)
        } else {
            Error::Tagging(msg)
        });
    }
    match event_error {
        Some(e) => Err(e),
        None => Ok(ExitCode::SUCCESS),
    }
}
