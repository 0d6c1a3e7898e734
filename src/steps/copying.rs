//! The copying step (`--copy-to ACCOUNT:REGION`): an account-owned copy of
//! each build's image in another account, made there, waited for, and
//! tagged there with the same provenance as the build's own copies
//! (`ami-builder:source-image` names the build-region image), since tags
//! travel neither with sharing nor with a copy.
//!
//! It runs after the sharing step, which has granted each target account
//! launch permission on the images and read access to their snapshots
//! ([`crate::accounts::grants`]): CopyImage in the target account needs
//! both. The copy is made from the build's image in the target region when
//! the build has one there (a copy within one region), else from the
//! build-region image.
//!
//! A re-run converges: a copy already in the target account (an image
//! there owned by it whose `ami-builder:source-image` names this build's
//! image) is taken instead of a second one, and a retried `CopyImage` with
//! the same client token returns the copy the first attempt made.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;

use crate::accounts::{role_arn, CopyTarget};
use crate::artifacts::{Artifact, BuildRecord, RecordedArtifact};
use crate::aws::{ec2, Aws};
use crate::cli::TaggingArgs;
use crate::error::{Error, Result};
use crate::ids::{AccountId, Region, SnapshotId};
use crate::provenance::{reconcile_tags, tag_set, Provenance, TagFacts, TagKeys};

/// What `--copy-to` asks.
#[derive(Debug, Clone)]
pub struct CopyOptions<'a> {
    pub targets: &'a [CopyTarget],
    /// The role assumed in every target account.
    pub role_name: &'a str,
    pub kms_key: Option<&'a str>,
    /// How long to wait for each copy to become available.
    pub wait: Duration,
}

/// One copy in another account.
#[derive(Debug, Clone, Serialize)]
pub struct Copied {
    /// The copy, as `artifacts.json` records it (with its account).
    #[serde(flatten)]
    pub image: RecordedArtifact,
    /// `<region>:<ami>` of the image it was copied from.
    pub copied_from: String,
    /// `copied` (made by this run) or `existing` (an earlier run made it).
    pub status: &'static str,
    /// The tags written on it and its snapshots.
    #[serde(serialize_with = "super::tagging::as_aws_tags")]
    pub tags: Vec<(String, String)>,
}

impl Copied {
    /// The line `build` and `tag` print for it.
    pub fn line(&self) -> String {
        format!(
            "{} {} {}: {} from {} ({} snapshot(s), {} tags written)",
            self.image.account.as_deref().unwrap_or("?"),
            self.image.region(),
            self.image.ami_id(),
            if self.status == "copied" {
                "copied"
            } else {
                "already copied"
            },
            self.copied_from,
            self.image.snapshot_ids.len(),
            self.tags.len()
        )
    }
}

/// What the copying step did: every copy made or found, and, when some
/// target failed, the error (exit 6) naming each; the copies are to be
/// recorded either way.
#[derive(Debug)]
pub struct Copying {
    pub done: Vec<Copied>,
    pub error: Option<Error>,
}

/// Copy each build of `record` into each target. Every copy that can be
/// made is made; the failures are reported together (exit 6, with tagging
/// and sharing: the build's own images exist, are tagged and shared; no
/// event is sent).
pub async fn copy_record(
    aws: &Aws,
    record: &BuildRecord,
    prov: &Provenance,
    opts: &TaggingArgs,
    copy: &CopyOptions<'_>,
) -> Copying {
    let mut done = Vec::new();
    let error = copy_each(aws, record, prov, opts, copy, &mut done)
        .await
        .err();
    Copying { done, error }
}

async fn copy_each(
    aws: &Aws,
    record: &BuildRecord,
    prov: &Provenance,
    opts: &TaggingArgs,
    copy: &CopyOptions<'_>,
    done: &mut Vec<Copied>,
) -> Result<()> {
    let keys = TagKeys {
        commit: opts.commit_tag.clone(),
        retention: opts.retention.retention_tag.clone(),
        ..TagKeys::default()
    };
    let mut sessions: HashMap<AccountId, Aws> = HashMap::new();
    let mut failures = Vec::new();
    for build in record.builds() {
        let Some(primary) = record.primary(build).filter(|p| p.confirmed) else {
            continue;
        };
        let family = match &opts.family {
            Some(f) => f.clone(),
            None => match ec2::describe_image(aws, primary.region(), primary.ami_id()).await {
                Ok(i) => i
                    .and_then(|i| i.tags.get(&keys.family).cloned())
                    .unwrap_or_else(|| build.to_string()),
                Err(e) => {
                    failures.push(format!("build {build}: {e}"));
                    continue;
                }
            },
        };
        let primary_ref = format!("{}:{}", primary.region(), primary.ami_id());
        let wanted = tag_set(
            &keys,
            &TagFacts {
                provenance: Some(prov),
                run_uuid: record.packer_run_uuid.as_deref(),
                family: Some(&family),
                source_image: Some(primary_ref.clone()),
                built_at: Some(record.finished_at),
                retention_days: opts.retention_days,
                extra: &opts.tags,
            },
        )
        .map_err(|e| Error::Usage(format!("invalid tag: {e}")))?;
        for t in copy.targets {
            let in_region = record
                .artifacts
                .iter()
                .find(|a| a.build() == build && a.region() == &t.region && a.confirmed);
            let source = in_region.unwrap_or(primary);
            if source.account.as_ref() == Some(&t.account) {
                if in_region.is_some() {
                    tracing::info!(target = %t, "--copy-to names the build's own account and region: the build's image is there");
                } else {
                    // only Packer names the build's own images
                    failures.push(format!(
                        "{t}: that is the build's own account, whose copies come from Packer (the template's ami_regions), not from --copy-to"
                    ));
                }
                continue;
            }
            let session = match sessions.get(&t.account) {
                Some(s) => s.clone(),
                None => {
                    let arn = role_arn(&t.account, copy.role_name, &t.region);
                    match aws.assume(&arn, &t.region).await {
                        Ok(s) => {
                            sessions.insert(t.account.clone(), s.clone());
                            s
                        }
                        Err(e) => {
                            failures.push(format!("{t}: {e}"));
                            continue;
                        }
                    }
                }
            };
            let name = source
                .name
                .clone()
                .unwrap_or_else(|| format!("{build}-{}", source.ami_id()));
            match copy_one(
                &session,
                t,
                source,
                &name,
                &primary_ref,
                &wanted,
                &keys,
                opts.force,
                copy,
            )
            .await
            {
                Ok((image, status, tags)) => done.push(Copied {
                    image: RecordedArtifact {
                        artifact: Artifact {
                            build: build.to_string(),
                            region: t.region.clone(),
                            ami_id: image.ami_id,
                        },
                        confirmed: true,
                        state: Some(image.state),
                        name: image.name,
                        creation_date: image.creation_date,
                        snapshot_ids: image.snapshot_ids,
                        account: Some(t.account.clone()),
                    },
                    copied_from: format!("{}:{}", source.region(), source.ami_id()),
                    status,
                    tags,
                }),
                Err(e) => failures.push(format!("{t}: {e}")),
            }
        }
    }
    if !failures.is_empty() {
        let ok: Vec<String> = done
            .iter()
            .map(|c| {
                format!(
                    "{}:{} {}",
                    c.image.account.as_deref().unwrap_or("?"),
                    c.image.region(),
                    c.image.ami_id()
                )
            })
            .collect();
        return Err(super::partly_done(
            "could not copy into every --copy-to account",
            "Copied",
            &failures,
            &ok,
        ));
    }
    Ok(())
}

/// Find or make the copy in `t`, wait for it, fill in its provenance.
#[allow(clippy::too_many_arguments)]
async fn copy_one(
    session: &Aws,
    t: &CopyTarget,
    source: &RecordedArtifact,
    name: &str,
    primary_ref: &str,
    wanted: &[(String, String)],
    keys: &TagKeys,
    force: bool,
    copy: &CopyOptions<'_>,
) -> Result<(ec2::ImageInfo, &'static str, Vec<(String, String)>)> {
    let region: &Region = &t.region;
    // an earlier copy: this build's (its source-image tag), of this name,
    // and alive; a failed or disabled one, or another image that merely
    // carries the tag, is not taken for it
    let mut existing = None;
    for id in ec2::images_tagged(
        session,
        region,
        &[(keys.source_image.as_str(), primary_ref)],
    )
    .await?
    {
        if let Some(i) = ec2::describe_image(session, region, &id).await? {
            if i.name.as_deref() == Some(name) && (i.state == "available" || i.state == "pending") {
                existing = Some(id);
                break;
            }
        }
    }
    let (id, status) = match existing {
        Some(id) => (id, "existing"),
        None => {
            let id = ec2::copy_image(
                session,
                region,
                &ec2::CopyRequest {
                    source_region: source.region(),
                    source: source.ami_id(),
                    name,
                    kms_key: copy.kms_key,
                    tags: wanted,
                },
            )
            .await?;
            (id, "copied")
        }
    };
    let info = ec2::confirm_made(
        session,
        region,
        &id,
        copy.wait,
        Duration::from_secs(5),
        "was made by CopyImage but does not exist",
        "it may have been deregistered since; run again to make a new copy",
    )
    .await?;
    let w = reconcile_tags(keys, &info.tags, wanted, force);
    if !w.conflicts.is_empty() {
        let c: Vec<String> = w
            .conflicts
            .iter()
            .map(|(k, old, new)| format!("{k}={old}, not {new}"))
            .collect();
        return Err(Error::Tagging(format!(
            "the copy {id} already has {}: provenance is written once; pass --force if this is intended",
            c.join(", ")
        )));
    }
    // the image and its snapshots get what the image lacks: a copy born
    // with its tags (TagSpecifications) lacks nothing
    let mut resources = vec![id.to_string()];
    resources.extend(info.snapshot_ids.iter().map(SnapshotId::to_string));
    if !w.write.is_empty() {
        let failed = ec2::create_tags(session, region, &resources, &w.write).await?;
        if !failed.is_empty() {
            return Err(Error::Tagging(failed.join("; ")));
        }
    }
    let written = if status == "copied" {
        wanted.to_vec()
    } else {
        w.write
    };
    Ok((info, status, written))
}
