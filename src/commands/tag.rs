//! `ami-builder tag`: the tagging step (`steps::tagging`) on its own, for
//! AMIs named on the command line or a build's artifacts.json.

use std::fmt;
use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;

use super::resolve_provenance;
use crate::artifacts::{Artifact, BuildRecord, RecordedArtifact, SCHEMA_VERSION};
use crate::aws::ec2;
use crate::cli::{Global, TagArgs};
use crate::error::{Error, Result};
use crate::output;
use crate::provenance::Provenance;
use crate::steps::copying::{copy_record, Copied, CopyOptions};
use crate::steps::sharing::{share_record, Shared};
use crate::steps::tagging::{tag_record, Tagged};
use crate::steps::{parse_ami_ref, read_record};

/// The result of tagging.
#[derive(Debug, Clone, Serialize)]
pub struct TagReport {
    pub provenance: Provenance,
    pub images: Vec<Tagged>,
    /// The images shared with other accounts (`--share-with`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shared: Vec<Shared>,
    /// The copies made in other accounts (`--copy-to`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub copied: Vec<Copied>,
}

impl fmt::Display for TagReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "commit {} (from {}), build {}",
            self.provenance.commit.as_deref().unwrap_or("unknown"),
            self.provenance.commit_source,
            self.provenance.build_id
        )?;
        for t in &self.images {
            writeln!(
                f,
                "tagged {} {} and {} snapshot(s) with {} tags",
                t.region,
                t.ami_id,
                t.snapshot_ids.len(),
                t.tags.len()
            )?;
            for (k, old, new) in &t.kept {
                writeln!(
                    f,
                    "  kept {k}={old} (not {new}: provenance is written once)"
                )?;
            }
            for line in t.lifecycle_lines() {
                writeln!(f, "  {line}")?;
            }
        }
        for line in self.shared.iter().flat_map(Shared::lines) {
            writeln!(f, "shared {line}")?;
        }
        for c in &self.copied {
            writeln!(f, "copy {}", c.line())?;
        }
        Ok(())
    }
}

/// Run `tag`.
pub async fn run(global: &Global, args: TagArgs) -> Result<ExitCode> {
    let grants = crate::accounts::grants(
        &args.sharing.share_with,
        args.sharing.share_snapshots,
        &args.sharing.copy_to,
    )
    .map_err(Error::Usage)?;
    let aws = super::load_aws(global).await?;
    // Resolve provenance first: fail before touching anything.
    let prov = resolve_provenance(&aws, &args.provenance, Path::new(".")).await?;
    let record = match &args.artifacts {
        Some(p) => read_record(p)?,
        None => {
            let default_region = aws.default_region();
            let mut artifacts = Vec::new();
            for s in &args.amis {
                let (region, ami) = parse_ami_ref(s, default_region.as_ref())?;
                let info = ec2::describe_image(&aws, &region, &ami)
                    .await?
                    .ok_or_else(|| {
                        Error::Tagging(format!("AMI {ami} does not exist in {region}"))
                    })?;
                let build = info.name.clone().unwrap_or_else(|| ami.to_string());
                artifacts.push(RecordedArtifact {
                    artifact: Artifact {
                        build: build.clone(),
                        region: region.clone(),
                        ami_id: ami.clone(),
                    },
                    confirmed: true,
                    state: Some(info.state.clone()),
                    name: info.name.clone(),
                    creation_date: info.creation_date.clone(),
                    snapshot_ids: info.snapshot_ids.clone(),
                    account: info.owner(),
                });
                if let Some(name) = &info.name {
                    for r in args.copy_regions.iter().filter(|r| **r != region) {
                        for copy in ec2::images_named(&aws, r, name).await? {
                            artifacts.push(RecordedArtifact {
                                artifact: Artifact {
                                    build: build.clone(),
                                    region: r.clone(),
                                    ami_id: copy,
                                },
                                confirmed: true,
                                state: None,
                                name: info.name.clone(),
                                creation_date: None,
                                snapshot_ids: vec![],
                                account: None,
                            });
                        }
                    }
                }
            }
            BuildRecord {
                schema_version: SCHEMA_VERSION,
                template: String::new(),
                packer_exit: None,
                packer_run_uuid: None,
                started_at: chrono::Utc::now(),
                finished_at: chrono::Utc::now(),
                build_region: default_region,
                artifacts,
                copies: Vec::new(),
            }
        }
    };
    let images = tag_record(&aws, &record, &prov, &args.tagging).await?;
    let shared = share_record(&aws, &record, &grants).await?;
    let copied = if args.sharing.copy_to.is_empty() {
        Vec::new()
    } else {
        let copy = CopyOptions {
            targets: &args.sharing.copy_to,
            role_name: args.sharing.role_name.as_deref().unwrap_or_default(),
            kms_key: args.sharing.kms_key.as_deref(),
            wait: super::timeout(global),
        };
        let copying = copy_record(&aws, &record, &prov, &args.tagging, &copy).await;
        if let Some(e) = copying.error {
            return Err(e);
        }
        copying.done
    };
    output::emit(
        &TagReport {
            provenance: prov,
            images,
            shared,
            copied,
        },
        global.output,
    )?;
    Ok(ExitCode::SUCCESS)
}
