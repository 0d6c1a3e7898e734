//! Packer `manifest` post-processor files (pure: JSON text in, artifacts out).
//!
//! Owns: reading the manifest, selecting the entries of the last run
//! (`packer_run_uuid == last_run_uuid`; the file accumulates every run), and
//! cross-checking them against what the log said. It does no I/O.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::log::Artifact;
use crate::ids::{AmiId, Region};

#[derive(Debug, Deserialize)]
struct RawManifest {
    #[serde(default)]
    builds: Vec<RawBuild>,
    #[serde(default)]
    last_run_uuid: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawBuild {
    #[serde(default)]
    name: String,
    #[serde(default)]
    builder_type: String,
    #[serde(default)]
    artifact_id: String,
    #[serde(default)]
    packer_run_uuid: Option<String>,
}

/// The last run recorded in a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// `last_run_uuid`.
    pub run_uuid: Option<String>,
    /// AMI artifacts of that run. `build` is as the manifest names it (`name`),
    /// with `builder_type` kept alongside for matching against log names.
    pub entries: Vec<ManifestEntry>,
}

/// One AMI of the last run.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ManifestEntry {
    /// `name` in the manifest (HCL2: the source name, e.g. `base`).
    pub name: String,
    /// `builder_type` (e.g. `amazon-ebs`).
    pub builder_type: String,
    pub region: Region,
    pub ami_id: AmiId,
}

impl ManifestEntry {
    /// Whether a build name printed in the log (`amazon-ebs`, `amazon-ebs.base`)
    /// names this manifest entry.
    pub fn matches_build(&self, build: &str) -> bool {
        // Informational only; see `cross_check` for why names are not compared.
        build == self.name || build == format!("{}.{}", self.builder_type, self.name)
    }
}

/// Parse manifest JSON. Errors are human-readable.
pub fn parse(text: &str) -> Result<Manifest, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not a Packer manifest: {e}"))?;
    if !value.get("builds").is_some_and(serde_json::Value::is_array) {
        return Err("not a Packer manifest: no \"builds\" array".to_string());
    }
    let raw: RawManifest =
        serde_json::from_value(value).map_err(|e| format!("not a Packer manifest: {e}"))?;
    let run_uuid = raw.last_run_uuid.clone();
    let mut entries = Vec::new();
    for b in raw.builds {
        if run_uuid.is_some() && b.packer_run_uuid != run_uuid {
            continue;
        }
        for pair in b.artifact_id.split(',') {
            if let Some((region, ami)) = pair.trim().split_once(':') {
                if let (Ok(region), Ok(ami_id)) = (Region::parse(region), AmiId::parse(ami)) {
                    entries.push(ManifestEntry {
                        name: b.name.clone(),
                        builder_type: b.builder_type.clone(),
                        region,
                        ami_id,
                    });
                }
            }
        }
    }
    entries.sort();
    entries.dedup();
    Ok(Manifest { run_uuid, entries })
}

/// Compare the manifest's last run with the log's artifacts. Returns the list of
/// disagreements (empty when they agree).
///
/// AMIs are compared by (region, id), which are unique: build names are not,
/// because Packer 1.6.6 names a build-level source override after the source
/// block it extends in the manifest (`al2023`) but after the override in the log
/// (`amazon-ebs.local`).
pub fn cross_check(manifest: &Manifest, log: &[Artifact]) -> Vec<String> {
    let log_set: BTreeSet<(&str, &str)> = log
        .iter()
        .map(|a| (a.region.as_str(), a.ami_id.as_str()))
        .collect();
    let manifest_set: BTreeSet<(&str, &str)> = manifest
        .entries
        .iter()
        .map(|e| (e.region.as_str(), e.ami_id.as_str()))
        .collect();
    let mut problems = Vec::new();
    for e in &manifest.entries {
        if !log_set.contains(&(e.region.as_str(), e.ami_id.as_str())) {
            problems.push(format!(
                "manifest has {} {} {} but the log does not",
                e.name, e.region, e.ami_id
            ));
        }
    }
    for a in log {
        if !manifest_set.contains(&(a.region.as_str(), a.ami_id.as_str())) {
            problems.push(format!(
                "log has {} {} {} but the manifest's last run does not",
                a.build, a.region, a.ami_id
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: &str = r#"{"builds":[
      {"name":"amazon-ebs","builder_type":"amazon-ebs","artifact_id":"us-east-1:ami-e17bba1c74a9e08c2,us-west-2:ami-06440139214f81529","packer_run_uuid":"old"},
      {"name":"amazon-ebs","builder_type":"amazon-ebs","artifact_id":"us-east-1:ami-4f9f4f06f1c5de194,us-west-2:ami-9c42765b3e372b126","packer_run_uuid":"new"}
    ],"last_run_uuid":"new"}"#;

    fn art(b: &str, r: &str, a: &str) -> Artifact {
        Artifact::new(b, r, a).expect("a valid artifact")
    }

    #[test]
    fn only_last_run_is_used() {
        let m = parse(M).expect("parses");
        assert_eq!(m.run_uuid.as_deref(), Some("new"));
        let ids: Vec<&str> = m.entries.iter().map(|e| e.ami_id.as_str()).collect();
        assert_eq!(ids, vec!["ami-4f9f4f06f1c5de194", "ami-9c42765b3e372b126"]);
    }

    #[test]
    fn agreement_and_disagreement() {
        let m = parse(M).expect("parses");
        let ok = vec![
            art("amazon-ebs", "us-east-1", "ami-4f9f4f06f1c5de194"),
            art("amazon-ebs", "us-west-2", "ami-9c42765b3e372b126"),
        ];
        assert!(cross_check(&m, &ok).is_empty());
        let bad = vec![art("amazon-ebs", "us-east-1", "ami-e17bba1c74a9e08c2")];
        let p = cross_check(&m, &bad);
        assert_eq!(p.len(), 3, "{p:?}");
    }

    #[test]
    fn hcl_names_match_source_name() {
        let m = parse(r#"{"builds":[{"name":"base","builder_type":"amazon-ebs","artifact_id":"us-east-1:ami-856cd5eca39c312b6","packer_run_uuid":"u"}],"last_run_uuid":"u"}"#).expect("parses");
        assert!(cross_check(
            &m,
            &[art("amazon-ebs.base", "us-east-1", "ami-856cd5eca39c312b6")]
        )
        .is_empty());
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse("{not json").is_err());
        assert!(parse("[]").is_err());
    }
}
