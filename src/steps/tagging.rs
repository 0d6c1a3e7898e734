//! The tagging step: provenance on every image of a build record, its
//! snapshots, its copies and their snapshots, written once; then, when
//! asked, EC2's lifecycle on each image (deprecation at a time after the
//! build, deregistration protection). `build` runs it after confirmation,
//! `tag` on its own.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::artifacts::{Artifact, BuildRecord};
use crate::aws::{ec2, Aws};
use crate::cli::TaggingArgs;
use crate::error::{Error, Result};
use crate::ids::{AmiId, Region, SnapshotId};
use crate::provenance::{reconcile_tags, tag_set, Provenance, TagFacts, TagKeys};

/// One tagged image.
#[derive(Debug, Clone, Serialize)]
pub struct Tagged {
    pub region: Region,
    pub ami_id: AmiId,
    /// Snapshots tagged with it.
    pub snapshot_ids: Vec<SnapshotId>,
    /// The tags written, as EC2 writes them (`{"Key":..,"Value":..}` in JSON).
    #[serde(serialize_with = "as_aws_tags")]
    pub tags: Vec<(String, String)>,
    /// Provenance it already had with another value, kept (`key`, `existing`,
    /// `not written`; `{"Key":..,"Value":..,"NotWritten":..}` in JSON).
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "as_kept_tags")]
    pub kept: Vec<(String, String, String)>,
    /// What `--deprecate-after` did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deprecation: Option<Deprecation>,
    /// EC2's deregistration protection setting after
    /// `--deregistration-protection` (`enabled-without-cooldown`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deregistration_protection: Option<String>,
}

impl Tagged {
    /// One line per lifecycle step done on it (for the text outputs).
    pub fn lifecycle_lines(&self) -> Vec<String> {
        let secs = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut out = Vec::new();
        if let Some(d) = &self.deprecation {
            out.push(match d.status {
                "kept" => format!(
                    "{} {}: kept its deprecation at {} (not {}; --force moves it)",
                    self.region,
                    self.ami_id,
                    secs(&d.at),
                    secs(&d.wanted)
                ),
                _ => format!(
                    "{} {}: deprecated at {}",
                    self.region,
                    self.ami_id,
                    secs(&d.at)
                ),
            });
        }
        if let Some(p) = &self.deregistration_protection {
            out.push(format!(
                "{} {}: deregistration protection {p}",
                self.region, self.ami_id
            ));
        }
        out
    }
}

/// The deprecation of one image.
#[derive(Debug, Clone, Serialize)]
pub struct Deprecation {
    /// `set`, `kept` (it was deprecated at another time: that stands) or
    /// `unchanged` (already at this time).
    pub status: &'static str,
    /// When it is deprecated now.
    pub at: DateTime<Utc>,
    /// When `--deprecate-after` asked for.
    pub wanted: DateTime<Utc>,
}

/// Tags as EC2 writes them, `{"Key":..,"Value":..}`, in JSON.
pub(crate) fn as_aws_tags<S: serde::Serializer>(
    tags: &[(String, String)],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(
        tags.iter()
            .map(|(k, v)| serde_json::json!({ "Key": k, "Value": v })),
    )
}

fn as_kept_tags<S: serde::Serializer>(
    kept: &[(String, String, String)],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(
        kept.iter()
            .map(|(k, old, new)| serde_json::json!({ "Key": k, "Value": old, "NotWritten": new })),
    )
}

/// Tag every image of a record (AMIs, snapshots, copies and their snapshots).
///
/// Provenance is written once ([`reconcile_tags`]): missing tags are filled
/// in, a different commit, family, source image or run uuid refuses the
/// whole tagging before anything is written (unless `force`), and the build
/// id and time an image already has are kept. A copy's family is its
/// source's: the `--family` flag, else the family the image already has,
/// else the family of its source image (the build-region AMI of the record,
/// or the image its `ami-builder:source-image` tag names), else the build.
pub async fn tag_record(
    aws: &Aws,
    record: &BuildRecord,
    prov: &Provenance,
    opts: &TaggingArgs,
) -> Result<Vec<Tagged>> {
    let keys = TagKeys {
        commit: opts.commit_tag.clone(),
        retention: opts.retention.retention_tag.clone(),
        ..TagKeys::default()
    };
    let mut done = Vec::new();
    let mut failures = Vec::new();
    // (image, what to write, what was kept, its snapshots, its deprecation)
    type Planned = (
        Artifact,
        Vec<(String, String)>,
        Vec<(String, String, String)>,
        Vec<SnapshotId>,
        Option<DateTime<Utc>>,
    );
    let mut planned: Vec<Planned> = Vec::new();
    let mut conflicts: Vec<String> = Vec::new();
    for build in record.builds() {
        let primary = record.primary(build).map(|p| p.artifact.clone());
        let mut infos = Vec::new();
        for a in record
            .artifacts
            .iter()
            .filter(|a| a.build() == build)
            .map(|a| &a.artifact)
        {
            let info = ec2::describe_image(aws, &a.region, &a.ami_id)
                .await?
                .ok_or_else(|| {
                    Error::Tagging(format!(
                        "AMI {} does not exist in {}: nothing was tagged for it",
                        a.ami_id, a.region
                    ))
                })?;
            infos.push((a, info));
        }
        let primary_family = primary.as_ref().and_then(|p| {
            infos
                .iter()
                .find(|(a, _)| a.ami_id == p.ami_id)
                .and_then(|(_, i)| i.tags.get(&keys.family).cloned())
        });
        for (a, info) in &infos {
            let source_image = primary
                .as_ref()
                .filter(|p| p.ami_id != a.ami_id)
                .map(|p| format!("{}:{}", p.region, p.ami_id));
            let family = match (&opts.family, info.tags.get(&keys.family)) {
                (Some(f), _) => f.clone(),
                (None, Some(existing)) => existing.clone(),
                (None, None) => match (&source_image, &primary_family) {
                    (Some(_), Some(f)) => f.clone(),
                    _ => source_family(aws, info, &keys)
                        .await?
                        .unwrap_or_else(|| build.to_string()),
                },
            };
            let tags = tag_set(
                &keys,
                &TagFacts {
                    provenance: Some(prov),
                    run_uuid: record.packer_run_uuid.as_deref(),
                    family: Some(&family),
                    source_image,
                    built_at: Some(record.finished_at),
                    retention_days: opts.retention_days,
                    extra: &opts.tags,
                },
            )
            .map_err(|e| Error::Usage(format!("invalid tag: {e}")))?;
            let w = reconcile_tags(&keys, &info.tags, &tags, opts.force);
            conflicts.extend(w.conflicts.iter().map(|(k, old, new)| {
                format!(
                    "AMI {} in {} already has {k}={old}, not {new}",
                    a.ami_id, a.region
                )
            }));
            let deprecated = info
                .deprecation_time
                .as_deref()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc));
            planned.push((
                (*a).clone(),
                w.write,
                w.kept,
                info.snapshot_ids.clone(),
                deprecated,
            ));
        }
    }
    if !conflicts.is_empty() {
        return Err(Error::Tagging(format!(
            "refusing to rewrite provenance, nothing was tagged: {}. Provenance is written once; pass --force if this is intended",
            conflicts.join("; ")
        )));
    }
    let wanted = match opts.deprecate_after {
        None => None,
        Some(after) => Some(
            crate::lifecycle::deprecate_at(record.finished_at, after, Utc::now()).ok_or_else(
                || Error::Usage(format!("--deprecate-after {after}: too far in the future")),
            )?,
        ),
    };
    for (a, tags, kept, snaps, deprecated) in planned {
        let mut resources = vec![a.ami_id.to_string()];
        resources.extend(snaps.iter().map(SnapshotId::to_string));
        let failed = if tags.is_empty() {
            Vec::new()
        } else {
            ec2::create_tags(aws, &a.region, &resources, &tags).await?
        };
        if !failed.is_empty() {
            failures.extend(failed);
            continue;
        }
        let mut t = Tagged {
            region: a.region.clone(),
            ami_id: a.ami_id.clone(),
            snapshot_ids: snaps,
            tags,
            kept,
            deprecation: None,
            deregistration_protection: None,
        };
        // the lifecycle after the tags: an image is never protected or
        // deprecated without its provenance
        if let Some(wanted) = wanted {
            use crate::lifecycle::DeprecationStep;
            let step = crate::lifecycle::deprecation_step(deprecated, wanted, opts.force);
            let (status, at) = match step {
                DeprecationStep::Set(at) => ("set", at),
                DeprecationStep::Kept { existing, .. } => ("kept", existing),
                DeprecationStep::Unchanged(at) => ("unchanged", at),
            };
            if status == "set" {
                if let Err(e) = ec2::deprecate(aws, &a.region, &a.ami_id, at).await {
                    failures.push(e.to_string());
                    continue;
                }
            }
            t.deprecation = Some(Deprecation { status, at, wanted });
        }
        if opts.deregistration_protection {
            match ec2::protect(aws, &a.region, &a.ami_id, opts.protection_cooldown).await {
                Ok(setting) => t.deregistration_protection = Some(setting),
                Err(e) => {
                    failures.push(e.to_string());
                    continue;
                }
            }
        }
        done.push(t);
    }
    if !failures.is_empty() {
        let ok: Vec<String> = done
            .iter()
            .map(|t| format!("{} {}", t.region, t.ami_id))
            .collect();
        return Err(super::partly_done(
            "could not tag (or deprecate, or protect)",
            "Done",
            &failures,
            &ok,
        ));
    }
    Ok(done)
}

/// The family of the image that `info`'s `ami-builder:source-image` tag
/// names, if it has that tag and the source still exists and has one.
async fn source_family(aws: &Aws, info: &ec2::ImageInfo, keys: &TagKeys) -> Result<Option<String>> {
    let Some((region, ami)) = info
        .tags
        .get(&keys.source_image)
        .and_then(|s| s.split_once(':'))
        .and_then(|(r, a)| Some((Region::parse(r).ok()?, AmiId::parse(a).ok()?)))
    else {
        return Ok(None);
    };
    Ok(ec2::describe_image(aws, &region, &ami)
        .await?
        .and_then(|src| src.tags.get(&keys.family).cloned()))
}
