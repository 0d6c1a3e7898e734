//! EC2 adapter: describe and confirm images.
//!
//! Owns: every EC2 call ami-builder makes. Commands get typed results
//! ([`ImageInfo`]) and crate errors with actionable messages.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{aws_error, error_code, Aws};
use crate::error::{Error, Result};
use crate::ids::{AmiId, Region, SnapshotId};

/// What EC2 says about one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    pub region: Region,
    pub ami_id: AmiId,
    pub name: Option<String>,
    /// `available`, `pending`, `failed`, ...
    pub state: String,
    /// As EC2 reports it (ISO 8601).
    pub creation_date: Option<String>,
    /// EBS snapshots behind the image's block device mappings.
    pub snapshot_ids: Vec<SnapshotId>,
    pub owner_id: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// EC2's `DeprecationTime` (RFC 3339), when set.
    pub deprecation_time: Option<String>,
}

impl ImageInfo {
    /// The account EC2 names as the owner.
    pub fn owner(&self) -> Option<crate::ids::AccountId> {
        self.owner_id
            .as_deref()
            .and_then(|o| crate::ids::AccountId::parse(o).ok())
    }
}

/// Describe one image; `Ok(None)` when EC2 says it does not exist.
pub async fn describe_image(
    aws: &Aws,
    region: &Region,
    ami_id: &AmiId,
) -> Result<Option<ImageInfo>> {
    let client = aws.ec2(region);
    let resp = client
        .describe_images()
        .image_ids(ami_id.as_str())
        .include_disabled(true)
        .send()
        .await;
    let out = match resp {
        Ok(o) => o,
        Err(e) => {
            let code = error_code(&e).unwrap_or_default();
            if code.starts_with("InvalidAMIID") {
                return Ok(None);
            }
            return Err(aws_error(
                format!("describing image {ami_id} in {region}"),
                &e,
                aws.endpoint(),
            ));
        }
    };
    let Some(img) = out
        .images()
        .iter()
        .find(|i| i.image_id() == Some(ami_id.as_str()))
    else {
        return Ok(None);
    };
    let snapshot_ids = img
        .block_device_mappings()
        .iter()
        .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()))
        .map(SnapshotId::parse)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| {
            Error::Other(format!(
                "describing image {ami_id} in {region}: EC2 answered with {e}; is the endpoint really EC2?"
            ))
        })?;
    let tags = super::inventory::tags(img.tags());
    Ok(Some(ImageInfo {
        region: region.clone(),
        ami_id: ami_id.clone(),
        name: img.name().map(str::to_string),
        state: img
            .state()
            .map_or_else(|| "unknown".to_string(), |s| s.as_str().to_string()),
        creation_date: img.creation_date().map(str::to_string),
        snapshot_ids,
        owner_id: img.owner_id().map(str::to_string),
        tags,
        deprecation_time: img.deprecation_time().map(str::to_string),
    }))
}

/// Confirm that an image exists and is `available`, polling while it is
/// `pending` until `timeout`. Errors are [`Error::NotConfirmed`] (exit 5) for
/// images that are missing or in a bad state, and [`Error::Aws`] for API failures.
pub async fn confirm_available(
    aws: &Aws,
    region: &Region,
    ami_id: &AmiId,
    timeout: Duration,
    poll: Duration,
) -> Result<ImageInfo> {
    confirm_made(
        aws,
        region,
        ami_id,
        timeout,
        poll,
        "was reported by Packer but does not exist",
        "it may have been deregistered by Packer's cleanup or by someone else, or the region/endpoint is wrong (check --region / --endpoint-url)",
    )
    .await
}

/// [`confirm_available`] for an image whatever made it: `made` and `hint`
/// say, when it is missing, who said it exists and what to check.
pub async fn confirm_made(
    aws: &Aws,
    region: &Region,
    ami_id: &AmiId,
    timeout: Duration,
    poll: Duration,
    made: &str,
    hint: &str,
) -> Result<ImageInfo> {
    let started = Instant::now();
    loop {
        match describe_image(aws, region, ami_id).await? {
            None => {
                return Err(Error::NotConfirmed(format!(
                    "AMI {ami_id} {made} in {region}: {hint}"
                )))
            }
            Some(info) if info.state == "available" => return Ok(info),
            Some(info) if info.state == "pending" => {
                if started.elapsed() >= timeout {
                    return Err(Error::NotConfirmed(format!(
                        "AMI {ami_id} in {region} is still pending after {}s: raise --wait-timeout or check the image in the EC2 console",
                        timeout.as_secs()
                    )));
                }
                tracing::info!(%ami_id, %region, "image pending; waiting");
                tokio::time::sleep(poll).await;
            }
            Some(info) => {
                return Err(Error::NotConfirmed(format!(
                    "AMI {ami_id} in {region} is in state `{}`, not `available`: the image is unusable; inspect it in EC2 and rebuild",
                    info.state
                )))
            }
        }
    }
}

/// Tag resources (AMIs, snapshots) in one region, batching up to 100 resources per
/// `CreateTags` call. When a batch fails, each resource is retried alone so the
/// error names exactly which ones could not be tagged. Returns those failures.
pub async fn create_tags(
    aws: &Aws,
    region: &str,
    resources: &[String],
    tags: &[(String, String)],
) -> Result<Vec<String>> {
    let client = aws.ec2(region);
    let tag_list: Vec<aws_sdk_ec2::types::Tag> = tags
        .iter()
        .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
        .collect();
    let mut failures = Vec::new();
    for batch in resources.chunks(100) {
        let res = client
            .create_tags()
            .set_resources(Some(batch.to_vec()))
            .set_tags(Some(tag_list.clone()))
            .send()
            .await;
        if res.is_ok() {
            continue;
        }
        for r in batch {
            if let Err(e) = client
                .create_tags()
                .resources(r)
                .set_tags(Some(tag_list.clone()))
                .send()
                .await
            {
                failures.push(format!(
                    "{region} {r}: {}",
                    super::describe(&e, aws.endpoint())
                ));
            }
        }
    }
    Ok(failures)
}

/// Images owned by this account named `name` in `region` (regional copies).
pub async fn images_named(aws: &Aws, region: &Region, name: &str) -> Result<Vec<AmiId>> {
    let out = aws
        .ec2(region)
        .describe_images()
        .owners("self")
        .include_disabled(true)
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("name")
                .values(name)
                .build(),
        )
        .send()
        .await
        .map_err(|e| {
            aws_error(
                format!("looking for copies of {name} in {region}"),
                &e,
                aws.endpoint(),
            )
        })?;
    out.images()
        .iter()
        .filter_map(|i| i.image_id())
        .map(|id| {
            AmiId::parse(id).map_err(|e| {
                Error::Other(format!(
                    "looking for copies of {name} in {region}: EC2 answered with {e}"
                ))
            })
        })
        .collect()
}

/// Outcome of one deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Deleted {
    /// Deleted now.
    Deleted,
    /// It was already gone (NotFound): counted as done.
    AlreadyGone,
    /// It failed; the message names AWS's error code.
    Failed {
        /// What AWS said.
        error: String,
    },
}

/// Deregister an image or delete a snapshot: one call, retried by the
/// SDK's own policy (`--max-attempts`, adaptive mode with a retry partition
/// per API and region, [`Aws::ec2_per_resource`]: throttling such as
/// `RequestLimitExceeded` backs off and paces the calls), and classified
/// here ([`already_done`] is done, anything else a failure naming AWS's code).
pub async fn delete_resource(aws: &Aws, region: &str, kind_image: bool, id: &str) -> Deleted {
    let target = if kind_image {
        Target::Image {
            with_snapshots: false,
        }
    } else {
        Target::Snapshot
    };
    delete(aws, region, target, id).await.outcome
}

/// What a deletion removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `with_snapshots`: `DeleteAssociatedSnapshots` (see
    /// `retention::deletion` for when).
    Image {
        with_snapshots: bool,
    },
    Snapshot,
}

/// A deletion's outcome and, for an image deregistered with its snapshots,
/// EC2's word on each of them (`DeleteSnapshotResults`: snapshot id and
/// `success`, `skipped` (another image uses it), `missing-permissions`,
/// `internal-error` or `client-error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    pub outcome: Deleted,
    pub snapshots: Vec<(String, String)>,
}

/// [`delete_resource`] for any [`Target`].
pub async fn delete(aws: &Aws, region: &str, target: Target, id: &str) -> Deletion {
    let ep = aws.endpoint();
    let mut snapshots = Vec::new();
    let result = match target {
        Target::Image { with_snapshots } => {
            let client = aws.ec2_per_resource(region, "DeregisterImage");
            let mut req = client.deregister_image().image_id(id);
            if with_snapshots {
                req = req.delete_associated_snapshots(true);
            }
            match req.send().await {
                Ok(out) => {
                    snapshots = out
                        .delete_snapshot_results()
                        .iter()
                        .filter_map(|r| {
                            Some((
                                r.snapshot_id()?.to_string(),
                                r.return_code()
                                    .map_or("unknown", |c| c.as_str())
                                    .to_string(),
                            ))
                        })
                        .collect();
                    Ok(())
                }
                Err(e) => Err(code_and_message(&e, ep)),
            }
        }
        Target::Snapshot => {
            let r = aws
                .ec2_per_resource(region, "DeleteSnapshot")
                .delete_snapshot()
                .snapshot_id(id)
                .send()
                .await;
            r.map(|_| ()).map_err(|e| code_and_message(&e, ep))
        }
    };
    Deletion {
        outcome: classify(result),
        snapshots,
    }
}

/// `(error code, message)` of a failed call.
fn code_and_message<E, R>(
    e: &aws_sdk_ec2::error::SdkError<E, R>,
    endpoint: Option<&str>,
) -> (String, String)
where
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    (
        error_code(e).unwrap_or_default().to_string(),
        super::describe(e, endpoint),
    )
}

/// What a deletion's result means for the plan.
pub fn classify(result: std::result::Result<(), (String, String)>) -> Deleted {
    match result {
        Ok(()) => Deleted::Deleted,
        Err((code, _)) if already_done(&code) => Deleted::AlreadyGone,
        Err((_, msg)) => Deleted::Failed { error: msg },
    }
}

/// Error codes that mean another run (or a person) deleted the resource
/// first: the end state is the plan's, so the deletion counts as done. EC2
/// answers `InvalidAMIID.Unavailable` for an image that is being or has just
/// been deregistered, and `.NotFound` once it is gone.
pub fn already_done(code: &str) -> bool {
    matches!(
        code,
        "InvalidAMIID.NotFound" | "InvalidAMIID.Unavailable" | "InvalidSnapshot.NotFound"
    )
}

/// Check with EC2's DryRun that we may deregister `image` and delete `snapshot`.
/// Returns the missing permissions (empty when allowed or when the endpoint does
/// not implement DryRun).
pub async fn dry_run_permissions(
    aws: &Aws,
    region: &str,
    image: Option<&str>,
    snapshot: Option<&str>,
) -> Vec<String> {
    let client = aws.ec2(region);
    let mut missing = Vec::new();
    if let Some(i) = image {
        if let Err(e) = client
            .deregister_image()
            .image_id(i)
            .dry_run(true)
            .send()
            .await
        {
            if error_code(&e) == Some("UnauthorizedOperation") {
                missing.push(format!("ec2:DeregisterImage in {region} ({i})"));
            }
        }
    }
    if let Some(s) = snapshot {
        if let Err(e) = client
            .delete_snapshot()
            .snapshot_id(s)
            .dry_run(true)
            .send()
            .await
        {
            if error_code(&e) == Some("UnauthorizedOperation") {
                missing.push(format!("ec2:DeleteSnapshot in {region} ({s})"));
            }
        }
    }
    missing
}

/// Images owned by this account carrying every tag of `tags` in `region`,
/// newest first (by creation date).
pub async fn images_tagged(
    aws: &Aws,
    region: &Region,
    tags: &[(&str, &str)],
) -> Result<Vec<AmiId>> {
    let mut req = aws
        .ec2(region)
        .describe_images()
        .owners("self")
        .include_disabled(true);
    for (k, v) in tags {
        req = req.filters(
            aws_sdk_ec2::types::Filter::builder()
                .name(format!("tag:{k}"))
                .values(*v)
                .build(),
        );
    }
    let out = req.send().await.map_err(|e| {
        aws_error(
            format!("looking for the images tagged {tags:?} in {region}"),
            &e,
            aws.endpoint(),
        )
    })?;
    let mut found: Vec<(String, AmiId)> = Vec::new();
    for i in out.images() {
        let Some(id) = i.image_id() else { continue };
        let id = AmiId::parse(id).map_err(|e| {
            Error::Other(format!(
                "looking for images in {region}: EC2 answered with {e}"
            ))
        })?;
        found.push((i.creation_date().unwrap_or_default().to_string(), id));
    }
    found.sort_by(|a, b| b.0.cmp(&a.0));
    Ok(found.into_iter().map(|(_, id)| id).collect())
}

/// `EnableImageDeprecation`: the image is deprecated at `at` (EC2 rounds to
/// the nearest minute).
pub async fn deprecate(
    aws: &Aws,
    region: &Region,
    ami: &AmiId,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    aws.ec2(region)
        .enable_image_deprecation()
        .image_id(ami.as_str())
        .deprecate_at(aws_smithy_types::DateTime::from_secs(at.timestamp()))
        .send()
        .await
        .map_err(|e| aws_error(format!("deprecating {ami} in {region}"), &e, aws.endpoint()))?;
    Ok(())
}

/// The regions enabled for this account (`DescribeRegions` without
/// `AllRegions`: those not needing opt-in, and those opted in to), asked
/// in `region`.
pub async fn enabled_regions(aws: &Aws, region: &Region) -> Result<Vec<Region>> {
    let out = aws
        .ec2(region)
        .describe_regions()
        .send()
        .await
        .map_err(|e| {
            aws_error(
                "listing the account's regions (DescribeRegions)".to_string(),
                &e,
                aws.endpoint(),
            )
        })?;
    let mut regions = Vec::new();
    for r in out.regions() {
        let Some(name) = r.region_name() else {
            continue;
        };
        regions.push(
            Region::parse(name)
                .map_err(|e| Error::Other(format!("DescribeRegions answered with {e}")))?,
        );
    }
    regions.sort();
    Ok(regions)
}

/// `EnableImageDeregistrationProtection` (`cooldown`: `WithCooldown`); the
/// setting EC2 answers.
pub async fn protect(aws: &Aws, region: &Region, ami: &AmiId, cooldown: bool) -> Result<String> {
    let out = aws
        .ec2(region)
        .enable_image_deregistration_protection()
        .image_id(ami.as_str())
        .with_cooldown(cooldown)
        .send()
        .await
        .map_err(|e| {
            aws_error(
                format!("turning on deregistration protection of {ami} in {region}"),
                &e,
                aws.endpoint(),
            )
        })?;
    Ok(out.r#return().unwrap_or("enabled").to_string())
}

/// One image call that answers only success or failure, for the lifecycle
/// (`what` names it in the error).
fn image_call<T, E, R>(
    aws: &Aws,
    what: String,
    sent: std::result::Result<T, aws_sdk_ec2::error::SdkError<E, R>>,
) -> Result<()>
where
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    sent.map(|_| ())
        .map_err(|e| aws_error(what, &e, aws.endpoint()))
}

/// `DisableImage`.
pub async fn disable_image(aws: &Aws, region: &Region, ami: &AmiId) -> Result<()> {
    let sent = aws
        .ec2(region)
        .disable_image()
        .image_id(ami.as_str())
        .send()
        .await;
    image_call(aws, format!("disabling {ami} in {region}"), sent)
}

/// `EnableImage`.
pub async fn enable_image(aws: &Aws, region: &Region, ami: &AmiId) -> Result<()> {
    let sent = aws
        .ec2(region)
        .enable_image()
        .image_id(ami.as_str())
        .send()
        .await;
    image_call(aws, format!("enabling {ami} in {region}"), sent)
}

/// `DisableImageDeprecation`: the image is no longer deprecated.
pub async fn undeprecate(aws: &Aws, region: &Region, ami: &AmiId) -> Result<()> {
    let sent = aws
        .ec2(region)
        .disable_image_deprecation()
        .image_id(ami.as_str())
        .send()
        .await;
    image_call(
        aws,
        format!("cancelling the deprecation of {ami} in {region}"),
        sent,
    )
}

/// `DisableImageDeregistrationProtection`.
pub async fn unprotect(aws: &Aws, region: &Region, ami: &AmiId) -> Result<()> {
    let sent = aws
        .ec2(region)
        .disable_image_deregistration_protection()
        .image_id(ami.as_str())
        .send()
        .await;
    image_call(
        aws,
        format!("turning off deregistration protection of {ami} in {region}"),
        sent,
    )
}

/// Grant `to` launch permission on the image (`ModifyImageAttribute`, add).
pub async fn grant_launch(
    aws: &Aws,
    region: &Region,
    ami: &AmiId,
    to: &crate::retention::Sharing,
) -> Result<()> {
    use aws_sdk_ec2::types::{LaunchPermission, LaunchPermissionModifications, PermissionGroup};
    let mut add = Vec::new();
    if to.public {
        add.push(
            LaunchPermission::builder()
                .group(PermissionGroup::All)
                .build(),
        );
    }
    add.extend(
        to.accounts
            .iter()
            .map(|a| LaunchPermission::builder().user_id(a).build()),
    );
    add.extend(
        to.organizations
            .iter()
            .map(|o| LaunchPermission::builder().organization_arn(o).build()),
    );
    add.extend(to.organizational_units.iter().map(|o| {
        LaunchPermission::builder()
            .organizational_unit_arn(o)
            .build()
    }));
    let sent = aws
        .ec2(region)
        .modify_image_attribute()
        .image_id(ami.as_str())
        .launch_permission(
            LaunchPermissionModifications::builder()
                .set_add(Some(add))
                .build(),
        )
        .send()
        .await;
    image_call(
        aws,
        format!("granting launch permissions on {ami} in {region}"),
        sent,
    )
}

/// Let `accounts` create volumes from (and so copy) a snapshot
/// (`ModifySnapshotAttribute`, `createVolumePermission` add).
pub async fn grant_create_volume(
    aws: &Aws,
    region: &Region,
    snapshot: &SnapshotId,
    accounts: &[crate::ids::AccountId],
) -> Result<()> {
    use aws_sdk_ec2::types::{CreateVolumePermission, CreateVolumePermissionModifications};
    let add: Vec<CreateVolumePermission> = accounts
        .iter()
        .map(|a| {
            CreateVolumePermission::builder()
                .user_id(a.as_str())
                .build()
        })
        .collect();
    let sent = aws
        .ec2(region)
        .modify_snapshot_attribute()
        .snapshot_id(snapshot.as_str())
        .create_volume_permission(
            CreateVolumePermissionModifications::builder()
                .set_add(Some(add))
                .build(),
        )
        .send()
        .await;
    image_call(
        aws,
        format!("granting createVolumePermission on {snapshot} in {region}"),
        sent,
    )
}

/// How a snapshot is encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotEncryption {
    /// The KMS key (its ARN, as EC2 gives it) when the snapshot is encrypted.
    pub kms_key_id: Option<String>,
    pub encrypted: bool,
}

/// The encryption of each of `ids` (`DescribeSnapshots`).
pub async fn snapshot_encryption(
    aws: &Aws,
    region: &Region,
    ids: &[SnapshotId],
) -> Result<Vec<SnapshotEncryption>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let out = aws
        .ec2(region)
        .describe_snapshots()
        .set_snapshot_ids(Some(ids.iter().map(|s| s.to_string()).collect()))
        .send()
        .await
        .map_err(|e| {
            aws_error(
                format!("describing the snapshots of the image in {region}"),
                &e,
                aws.endpoint(),
            )
        })?;
    Ok(out
        .snapshots()
        .iter()
        .map(|s| SnapshotEncryption {
            kms_key_id: s.kms_key_id().map(str::to_string),
            encrypted: s.encrypted().unwrap_or(false),
        })
        .collect())
}

/// What `CopyImage` is asked.
#[derive(Debug, Clone)]
pub struct CopyRequest<'a> {
    pub source_region: &'a Region,
    pub source: &'a AmiId,
    pub name: &'a str,
    /// Re-encrypt with this key (`Encrypted` and `KmsKeyId`).
    pub kms_key: Option<&'a str>,
    /// The tags the copy and its snapshots are born with.
    pub tags: &'a [(String, String)],
}

/// `CopyImage` into `region` (of the account `aws` acts in). The client
/// token makes a retried request return the copy the first one made
/// instead of a second copy (EC2 API reference, "Ensuring idempotency").
pub async fn copy_image(aws: &Aws, region: &Region, req: &CopyRequest<'_>) -> Result<AmiId> {
    use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
    let tags: Vec<Tag> = req
        .tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    let spec = |kind: ResourceType| {
        TagSpecification::builder()
            .resource_type(kind)
            .set_tags(Some(tags.clone()))
            .build()
    };
    let mut call = aws
        .ec2(region)
        .copy_image()
        .source_region(req.source_region.as_str())
        .source_image_id(req.source.as_str())
        .name(req.name)
        .client_token(format!("{}-{region}", req.source))
        .tag_specifications(spec(ResourceType::Image))
        .tag_specifications(spec(ResourceType::Snapshot));
    if let Some(k) = req.kms_key {
        call = call.encrypted(true).kms_key_id(k);
    }
    let out = call.send().await.map_err(|e| {
        aws_error(
            format!(
                "copying {} from {} into {region}",
                req.source, req.source_region
            ),
            &e,
            aws.endpoint(),
        )
    })?;
    let id = out
        .image_id()
        .ok_or_else(|| Error::Other(format!("CopyImage into {region} named no image")))?;
    AmiId::parse(id).map_err(|e| Error::Other(format!("CopyImage into {region} answered {e}")))
}
