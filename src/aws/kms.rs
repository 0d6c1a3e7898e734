//! KMS adapter: what ami-builder needs to know of the key that encrypts a
//! shared image's snapshots (who manages it, and its key policy), read so
//! that a share the consumers could not use is said before it is made
//! ([`crate::key_policy`] decides).

use super::{aws_error, Aws};
use crate::error::Result;

/// One key, as KMS describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFacts {
    /// The key's ARN.
    pub arn: String,
    /// `AWS` for an AWS managed key (`aws/ebs`), whose policy no one can
    /// change and which can never be used from another account;
    /// `CUSTOMER` otherwise (KMS API reference, "KeyMetadata": KeyManager).
    pub manager: String,
    /// The key policy (`GetKeyPolicy`, policy name `default`, the only one
    /// a key has).
    pub policy: String,
}

/// The region of a key ARN (`arn:aws:kms:REGION:ACCOUNT:key/ID`), else
/// `fallback` (a bare key id is in the snapshot's region).
pub fn key_region<'a>(key: &'a str, fallback: &'a str) -> &'a str {
    key.strip_prefix("arn:")
        .and_then(|rest| rest.split(':').nth(2))
        .filter(|r| !r.is_empty())
        .unwrap_or(fallback)
}

/// Describe `key` and read its policy, in the key's region.
pub async fn key_facts(aws: &Aws, key: &str, image_region: &str) -> Result<KeyFacts> {
    let region = key_region(key, image_region);
    let kms = aws.kms(region);
    let described = kms
        .describe_key()
        .key_id(key)
        .send()
        .await
        .map_err(|e| aws_error(format!("describing the KMS key {key}"), &e, aws.endpoint()))?;
    let meta = described.key_metadata();
    let arn = meta.and_then(|m| m.arn()).unwrap_or(key).to_string();
    let manager = meta
        .and_then(|m| m.key_manager())
        .map_or_else(|| "CUSTOMER".to_string(), |m| m.as_str().to_string());
    let policy = kms
        .get_key_policy()
        .key_id(key)
        .policy_name("default")
        .send()
        .await
        .map_err(|e| {
            aws_error(
                format!("reading the key policy of {key}"),
                &e,
                aws.endpoint(),
            )
        })?
        .policy()
        .unwrap_or_default()
        .to_string();
    Ok(KeyFacts {
        arn,
        manager,
        policy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_arn_names_its_region_and_an_id_is_the_images() {
        assert_eq!(
            key_region(
                "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                "us-east-1"
            ),
            "eu-west-1"
        );
        assert_eq!(
            key_region("1234abcd-12ab-34cd-56ef-1234567890ab", "us-east-1"),
            "us-east-1"
        );
    }
}
