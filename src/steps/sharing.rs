//! The sharing step: launch permission on every image of a build record
//! for the accounts, organizations and OUs of `--share-with` (and the
//! accounts `--copy-to` copies into), and `createVolumePermission` on the
//! images' snapshots for the accounts that copy them
//! ([`crate::accounts::grants`] decides who gets what). `build` runs it
//! after tagging (an image is never shared without its provenance) and
//! before the event (a consumer told of an image can launch it); `tag` runs
//! it on its own.
//!
//! Granting is additive and idempotent (`ModifyImageAttribute` and
//! `ModifySnapshotAttribute` with `Add`), so a re-run after a failure grants
//! again what was granted and finishes the rest; nothing here removes a
//! permission someone else gave.

use serde::Serialize;

use crate::accounts::Grants;
use crate::artifacts::BuildRecord;
use crate::aws::{ec2, Aws};
use crate::error::{Error, Result};
use crate::ids::{AccountId, AmiId, Region, SnapshotId};
use crate::key_policy::{evaluate, statement_for, Verdict, KEY_ACTIONS};

/// One image shared.
#[derive(Debug, Clone, Serialize)]
pub struct Shared {
    pub region: Region,
    pub ami_id: AmiId,
    /// Who may launch it now (granted in this run: accounts, organization
    /// and OU ARNs).
    pub launch_permission: Vec<String>,
    /// Its snapshots, and the accounts that may read them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub snapshots: Vec<SnapshotId>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub snapshot_readers: Vec<AccountId>,
    /// The KMS keys that encrypt its snapshots: the consumers need
    /// [`KEY_ACTIONS`] on each, which only the key's policy can give
    /// (checked before anything was shared: [`check_keys`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kms_keys: Vec<String>,
    /// What the key check could not tell (a condition it does not
    /// evaluate, a key it could not read): the consumers may still be
    /// refused the key.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub key_warnings: Vec<String>,
}

impl Shared {
    /// The lines `build` and `tag` print for it.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "{} {}: launch permission for {}",
            self.region,
            self.ami_id,
            self.launch_permission.join(", ")
        )];
        if !self.snapshot_readers.is_empty() {
            out.push(format!(
                "{} {}: snapshot(s) {} readable by {} (to copy it)",
                self.region,
                self.ami_id,
                join(&self.snapshots),
                join(&self.snapshot_readers)
            ));
        }
        for k in &self.kms_keys {
            out.push(format!(
                "{} {}: encrypted with KMS key {k}; its key policy was checked for each of them",
                self.region, self.ami_id
            ));
        }
        for w in &self.key_warnings {
            out.push(format!("{} {}: warning: {w}", self.region, self.ami_id));
        }
        out
    }
}

fn join<T: std::fmt::Display>(v: &[T]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Share every confirmed image of `record` as `grants` says. First every
/// image's snapshots and their keys are read and each key's policy is
/// checked for every consumer: an image no consumer could launch (an AWS
/// managed key, which can never be used from another account, or a policy
/// that does not admit them) refuses the whole share before anything is
/// granted. Then each image is granted what it can be, and the failures are
/// reported together (exit 6 with the tagging step: the images exist and
/// are tagged; no event is sent). An account never gets a grant on its own
/// image: EC2 has nothing to grant there.
pub async fn share_record(aws: &Aws, record: &BuildRecord, grants: &Grants) -> Result<Vec<Shared>> {
    if grants.is_empty() {
        return Ok(Vec::new());
    }
    // what each image has: its snapshots and the keys that encrypt them
    let mut images = Vec::new();
    let mut failures = Vec::new();
    for a in record.artifacts.iter().filter(|a| a.confirmed) {
        let (region, ami) = (a.region(), a.ami_id());
        let snapshots = if a.snapshot_ids.is_empty() {
            match ec2::describe_image(aws, region, ami).await {
                Ok(Some(info)) => info.snapshot_ids,
                Ok(None) => {
                    failures.push(format!("AMI {ami} no longer exists in {region}"));
                    continue;
                }
                Err(e) => {
                    failures.push(e.to_string());
                    continue;
                }
            }
        } else {
            a.snapshot_ids.clone()
        };
        let mut keys: Vec<String> = match ec2::snapshot_encryption(aws, region, &snapshots).await {
            Ok(e) => e
                .into_iter()
                .filter(|e| e.encrypted)
                .map(|e| e.kms_key_id.unwrap_or_default())
                .collect(),
            Err(e) => {
                failures.push(e.to_string());
                continue;
            }
        };
        keys.sort();
        keys.dedup();
        images.push((a, snapshots, keys));
    }
    if !failures.is_empty() {
        return Err(Error::Tagging(format!(
            "could not read what the images are made of, nothing was shared: {}",
            failures.join("; ")
        )));
    }
    let mut key_words: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut refusals = Vec::new();
    for (a, _, keys) in &images {
        for k in keys {
            if key_words.contains_key(k) {
                continue;
            }
            let (refused, warnings) = check_keys(aws, a.region(), k, &grants.consumers).await;
            refusals.extend(refused);
            key_words.insert(k.clone(), warnings);
        }
    }
    if !refusals.is_empty() {
        return Err(Error::Tagging(format!(
            "refusing to share, nothing was shared: {}",
            refusals.join("; ")
        )));
    }

    let mut done = Vec::new();
    for (a, snapshots, kms_keys) in images {
        let (region, ami) = (a.region(), a.ami_id());
        let not_owner = |acct: &str| a.account.as_ref().is_none_or(|o| o.as_str() != acct);
        let mut launch = grants.launch.clone();
        launch.accounts.retain(|x| not_owner(x));
        let readers: Vec<AccountId> = grants
            .snapshots
            .iter()
            .filter(|x| not_owner(x))
            .cloned()
            .collect();
        if launch.is_shared() {
            if let Err(e) = ec2::grant_launch(aws, region, ami, &launch).await {
                failures.push(e.to_string());
                continue;
            }
        }
        let mut failed = false;
        if !readers.is_empty() {
            for s in &snapshots {
                if let Err(e) = ec2::grant_create_volume(aws, region, s, &readers).await {
                    failures.push(e.to_string());
                    failed = true;
                }
            }
        }
        if failed {
            continue;
        }
        let mut who: Vec<String> = launch.accounts.clone();
        who.extend(launch.organizations.iter().cloned());
        who.extend(launch.organizational_units.iter().cloned());
        let key_warnings = kms_keys
            .iter()
            .flat_map(|k| key_words.get(k).cloned().unwrap_or_default())
            .collect();
        done.push(Shared {
            region: region.clone(),
            ami_id: ami.clone(),
            launch_permission: who,
            snapshot_readers: if snapshots.is_empty() {
                Vec::new()
            } else {
                readers
            },
            snapshots,
            kms_keys,
            key_warnings,
        });
    }
    if !failures.is_empty() {
        let ok: Vec<String> = done
            .iter()
            .map(|s| format!("{} {}", s.region, s.ami_id))
            .collect();
        return Err(super::partly_done(
            "could not share",
            "Shared",
            &failures,
            &ok,
        ));
    }
    Ok(done)
}

/// Check one key for every consumer: (refusals, warnings). An AWS managed
/// key refuses (EC2 User Guide, "Share an AMI with specific AWS accounts":
/// "You can't share an AMI that has volumes that are encrypted with an AWS
/// managed key"); a policy that does not admit a consumer refuses, naming
/// the statement that would; a key that cannot be read, or a policy this
/// check cannot decide, warns.
pub async fn check_keys(
    aws: &Aws,
    region: &Region,
    key: &str,
    consumers: &[crate::accounts::ShareTarget],
) -> (Vec<String>, Vec<String>) {
    let mut refused = Vec::new();
    let mut warnings = Vec::new();
    if key.is_empty() {
        warnings.push(
            "EC2 named no KMS key for an encrypted snapshot: check that the consumers may use it"
                .to_string(),
        );
        return (refused, warnings);
    }
    let facts = match crate::aws::kms::key_facts(aws, key, region).await {
        Ok(f) => f,
        Err(e) => {
            warnings.push(format!(
                "the KMS key {key} could not be read ({e}): check that its policy lets the consumers use it ({})",
                KEY_ACTIONS.join(", ")
            ));
            return (refused, warnings);
        }
    };
    if facts.manager == "AWS" {
        refused.push(format!(
            "the snapshots are encrypted with the AWS managed key {}, which no other account can ever use: build with a customer managed key (Packer's kms_key_id) or copy the image with one",
            facts.arn
        ));
        return (refused, warnings);
    }
    for c in consumers {
        match evaluate(&facts.policy, c, crate::aws::kms::key_region(&facts.arn, region)) {
            Verdict::Allowed => {}
            Verdict::Refused { actions } => refused.push(format!(
                "the policy of KMS key {} does not let {} use it ({} not allowed), so it could not launch or copy the image: add to the key policy {}",
                facts.arn,
                c.describe(),
                actions.join(", "),
                statement_for(c)
            )),
            Verdict::Unsure { why } => warnings.push(format!(
                "whether the policy of KMS key {} lets {} use it could not be told ({why})",
                facts.arn,
                c.describe()
            )),
        }
    }
    (refused, warnings)
}
