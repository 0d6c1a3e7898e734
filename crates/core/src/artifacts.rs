//! The artifact, and the build record written to `DIR/artifacts.json` and
//! `DIR/ami_id.txt` (pure).
//!
//! Owns: [`Artifact`], the one shape an AMI has from the log to the event
//! (the extractor makes it, the record adds what EC2 confirmed, tagging and
//! the event read it), and the on-disk record that `build` writes and that
//! later steps (tagging, the event, a `--no-build` re-run) read back. No I/O
//! here: callers read and write the text.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, AmiId, Region, SnapshotId};

/// Version of the artifacts.json layout.
pub const SCHEMA_VERSION: u32 = 1;

/// One AMI that Packer reported as an artifact.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Artifact {
    /// The build name exactly as Packer printed it (`amazon-ebs`, `amazon-ebs.base`).
    pub build: String,
    pub region: Region,
    pub ami_id: AmiId,
}

impl Artifact {
    /// The artifact, when `region` and `ami` are a region name and an AMI id.
    pub fn new(build: &str, region: &str, ami: &str) -> Option<Artifact> {
        Some(Artifact {
            build: build.to_string(),
            region: Region::parse(region).ok()?,
            ami_id: AmiId::parse(ami).ok()?,
        })
    }
}

/// Everything one `ami-builder build` learned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildRecord {
    /// Layout version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The template as given.
    pub template: String,
    /// Packer's exit code (`null` if it was killed by a signal).
    pub packer_exit: Option<i32>,
    /// Packer's run uuid, when a manifest told us.
    pub packer_run_uuid: Option<String>,
    /// When Packer was started.
    pub started_at: DateTime<Utc>,
    /// When the record was written.
    pub finished_at: DateTime<Utc>,
    /// The build region (the `--region` ami-builder ran with).
    pub build_region: Option<Region>,
    /// Every AMI, sorted by build, region.
    pub artifacts: Vec<RecordedArtifact>,
    /// The copies made in other accounts (`--copy-to`), each with its
    /// account; `build` names the build they copy. Not Packer's artifacts:
    /// tagging and sharing in this account never touch them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copies: Vec<RecordedArtifact>,
}

/// One AMI in the record: the artifact and what EC2 said of it. In the
/// file the artifact's fields sit beside the others (`build`, `region`,
/// `ami_id`, `confirmed`, ...), as they always have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedArtifact {
    #[serde(flatten)]
    pub artifact: Artifact,
    /// Confirmed `available` in EC2.
    pub confirmed: bool,
    /// EC2 state when confirmed.
    pub state: Option<String>,
    pub name: Option<String>,
    /// EC2 creation date.
    pub creation_date: Option<String>,
    /// Snapshots behind the image.
    pub snapshot_ids: Vec<SnapshotId>,
    /// The account that owns it, as EC2 said when it was confirmed (absent
    /// in records written before ami-builder recorded it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<AccountId>,
}

impl RecordedArtifact {
    /// An artifact not yet confirmed in EC2.
    pub fn unconfirmed(artifact: Artifact) -> RecordedArtifact {
        RecordedArtifact {
            artifact,
            confirmed: false,
            state: None,
            name: None,
            creation_date: None,
            snapshot_ids: Vec::new(),
            account: None,
        }
    }

    pub fn build(&self) -> &str {
        &self.artifact.build
    }

    pub fn region(&self) -> &Region {
        &self.artifact.region
    }

    pub fn ami_id(&self) -> &AmiId {
        &self.artifact.ami_id
    }
}

impl BuildRecord {
    /// Distinct build names.
    pub fn builds(&self) -> Vec<&str> {
        let set: BTreeSet<&str> = self.artifacts.iter().map(RecordedArtifact::build).collect();
        set.into_iter().collect()
    }

    /// The build-region AMI of a build: the one in `build_region`, else (when the
    /// build made a single AMI) that one, else the first region in sort order.
    pub fn primary<'a>(&'a self, build: &str) -> Option<&'a RecordedArtifact> {
        let mine: Vec<&RecordedArtifact> = self
            .artifacts
            .iter()
            .filter(|a| a.build() == build)
            .collect();
        if let Some(r) = &self.build_region {
            if let Some(a) = mine.iter().find(|a| a.region() == r) {
                return Some(a);
            }
        }
        mine.first().copied()
    }

    /// The text of `ami_id.txt`: the build-region AMI id; with several builds,
    /// one `BUILD AMI_ID` line per build.
    pub fn ami_id_txt(&self) -> String {
        let builds = self.builds();
        let mut out = String::new();
        for b in &builds {
            if let Some(a) = self.primary(b) {
                if builds.len() == 1 {
                    out.push_str(a.ami_id());
                } else {
                    out.push_str(&format!("{b} {}", a.ami_id()));
                }
                out.push('\n');
            }
        }
        out
    }
}

impl fmt::Display for BuildRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows = self.artifacts.iter().map(|a| {
            let state = a.state.as_deref().unwrap_or(if a.confirmed {
                "available"
            } else {
                "unconfirmed"
            });
            let snapshots = if a.snapshot_ids.is_empty() {
                "-".to_string()
            } else {
                a.snapshot_ids
                    .iter()
                    .map(SnapshotId::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            };
            vec![
                a.build().to_string(),
                a.region().to_string(),
                a.ami_id().to_string(),
                state.to_string(),
                snapshots,
            ]
        });
        f.write_str(&crate::table::render(
            &["BUILD", "REGION", "AMI", "STATE", "SNAPSHOTS"],
            rows,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn art(b: &str, r: &str, id: &str) -> RecordedArtifact {
        RecordedArtifact {
            artifact: Artifact::new(b, r, id).expect("valid"),
            confirmed: true,
            state: Some("available".into()),
            name: None,
            creation_date: None,
            snapshot_ids: vec![],
            account: None,
        }
    }

    fn rec(region: Option<&str>, arts: Vec<RecordedArtifact>) -> BuildRecord {
        BuildRecord {
            schema_version: SCHEMA_VERSION,
            template: "t".into(),
            packer_exit: Some(0),
            packer_run_uuid: None,
            started_at: DateTime::<Utc>::MIN_UTC,
            finished_at: DateTime::<Utc>::MIN_UTC,
            build_region: region.map(|r| Region::parse(r).expect("valid")),
            artifacts: arts,
            copies: Vec::new(),
        }
    }

    #[test]
    fn ami_id_txt_single_build_uses_build_region() {
        let r = rec(
            Some("us-west-2"),
            vec![
                art("a", "us-east-1", "ami-11111111"),
                art("a", "us-west-2", "ami-22222222"),
            ],
        );
        assert_eq!(r.ami_id_txt(), "ami-22222222\n");
    }

    #[test]
    fn ami_id_txt_several_builds() {
        let r = rec(
            Some("us-east-1"),
            vec![
                art("a", "us-east-1", "ami-11111111"),
                art("b", "us-east-1", "ami-22222222"),
            ],
        );
        assert_eq!(r.ami_id_txt(), "a ami-11111111\nb ami-22222222\n");
    }

    #[test]
    fn record_round_trips_as_json() {
        let r = rec(None, vec![art("a", "eu-west-1", "ami-11111111")]);
        let text = serde_json::to_string(&r).expect("serialises");
        let back: BuildRecord = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, r);
        assert_eq!(r.ami_id_txt(), "ami-11111111\n");
    }

    #[test]
    fn the_file_keeps_its_flat_shape() {
        let r = rec(None, vec![art("a", "eu-west-1", "ami-11111111")]);
        let v = serde_json::to_value(&r).expect("serialises");
        let a = &v["artifacts"][0];
        assert_eq!(a["build"], "a");
        assert_eq!(a["region"], "eu-west-1");
        assert_eq!(a["ami_id"], "ami-11111111");
        assert_eq!(a["confirmed"], true);
        assert!(a.get("artifact").is_none(), "{a}");
    }

    #[test]
    fn a_record_with_a_bad_id_is_refused_when_read() {
        let r = rec(None, vec![art("a", "eu-west-1", "ami-11111111")]);
        let good = serde_json::to_string(&r).expect("serialises");
        for (from, to) in [
            ("ami-11111111", "ami-1111111; rm -rf /"),
            ("eu-west-1", "eu west 1"),
        ] {
            let bad = good.replace(from, to);
            let err = serde_json::from_str::<BuildRecord>(&bad).expect_err("refused");
            assert!(err.to_string().contains("is not"), "{err}");
        }
        let snap = good.replace("\"snapshot_ids\":[]", "\"snapshot_ids\":[\"vol-12345678\"]");
        assert!(serde_json::from_str::<BuildRecord>(&snap).is_err());
    }
}
