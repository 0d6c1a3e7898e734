//! Gathering what `prune` plans over: images, snapshots, instances and every
//! use of an image (instances, launch template versions, launch configurations,
//! Auto Scaling groups), per region, through one page walker (every request
//! is counted by the clients: `Aws::api_calls`). Also the sharing state of images and snapshots (one attribute call
//! each, made only for deletion candidates and newest-ranked images).

use std::collections::{BTreeMap, HashMap, HashSet};

use aws_sdk_autoscaling::types::LaunchTemplateSpecification;
use aws_sdk_ec2::types::{ImageAttributeName, SnapshotAttributeName};
use chrono::{DateTime, Utc};

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_async::future::pagination_stream::PaginationStream;

use super::{aws_error, Aws};
use crate::error::{Error, Result};
use crate::ids::{InvalidId, Region};
use crate::retention::fleet::{group_images, Group, Template, TemplateRef};
use crate::retention::{Image, Instance, Inventory, Sharing, Snapshot, Usage, UsedBy};

/// EC2's tags as a map (one place for every EC2 answer that has tags).
pub(crate) fn tags(t: &[aws_sdk_ec2::types::Tag]) -> BTreeMap<String, String> {
    t.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

fn parse_time(s: Option<&str>) -> DateTime<Utc> {
    s.and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map_or(DateTime::<Utc>::UNIX_EPOCH, |d| d.with_timezone(&Utc))
}

fn smithy_time(t: Option<&aws_smithy_types::DateTime>) -> DateTime<Utc> {
    t.and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos()))
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// An id from an EC2 answer, checked; a malformed one is remembered in
/// `bad`, and [`refuse_malformed`] then fails the whole listing.
fn checked<T>(parsed: std::result::Result<T, InvalidId>, bad: &mut Vec<InvalidId>) -> Option<T> {
    parsed.map_err(|e| bad.push(e)).ok()
}

/// Nothing is planned from a listing with an id ami-builder cannot read:
/// skipping the resource could make its snapshots look orphaned.
fn refuse_malformed(bad: &[InvalidId], what: &str) -> Result<()> {
    match bad.first() {
        None => Ok(()),
        Some(e) => Err(Error::Other(format!(
            "{what}: the answer has {} malformed id(s), first {e}; nothing is planned from a listing that cannot be read (is the endpoint really EC2?)",
            bad.len()
        ))),
    }
}

/// Walk every page of a listing: name `what` was being listed in an error,
/// and hand each page to `each`. The one pagination loop of the adapter.
/// (Requests are counted by the clients themselves: `Aws::api_calls`.)
async fn each_page<T, E, R>(
    mut pages: PaginationStream<std::result::Result<T, SdkError<E, R>>>,
    what: &str,
    ep: Option<&str>,
    mut each: impl FnMut(T),
) -> Result<()>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    while let Some(page) = pages.next().await {
        each(page.map_err(|e| aws_error(what, &e, ep))?);
    }
    Ok(())
}

/// Gather one region's inventory: images, snapshots, instances, and every
/// use of an image the fleet makes (instances, launch template versions,
/// launch configurations, Auto Scaling groups, resolved by
/// `retention::fleet`).
pub async fn gather(aws: &Aws, region: &Region) -> Result<Inventory> {
    let ec2 = aws.ec2(region);
    let mut bad = Vec::new();
    let ep = aws.endpoint();
    let mut inv = Inventory::default();
    let uses = |image_id: &str, by: UsedBy| Usage {
        region: region.to_string(),
        image_id: image_id.to_string(),
        by,
    };

    // disabled images too (EC2 leaves them out by default): unlisted, a
    // disabled image's snapshots would look orphaned
    let pages = ec2
        .describe_images()
        .owners("self")
        .include_disabled(true)
        .max_results(1000);
    let what = format!("listing images in {region}");
    each_page(pages.into_paginator().send(), &what, ep, |page| {
        for i in page.images() {
            let Some(id) = i.image_id() else { continue };
            let Some(id) = checked(id.parse(), &mut bad) else {
                continue;
            };
            if inv.account_id.is_none() {
                inv.account_id = i.owner_id().and_then(|o| checked(o.parse(), &mut bad));
            }
            let protection = crate::lifecycle::Protection::parse(i.deregistration_protection());
            inv.images.push(Image {
                region: region.clone(),
                id,
                name: i.name().unwrap_or_default().to_string(),
                owner_id: i.owner_id().unwrap_or_default().to_string(),
                creation_date: parse_time(i.creation_date()),
                tags: tags(i.tags()),
                snapshot_ids: i
                    .block_device_mappings()
                    .iter()
                    .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()))
                    .filter_map(|s| checked(s.parse(), &mut bad))
                    .collect(),
                deregistration_protection: matches!(
                    protection,
                    crate::lifecycle::Protection::On { .. }
                        | crate::lifecycle::Protection::Unknown(_)
                ),
                deregistration_protection_until: match protection {
                    crate::lifecycle::Protection::Until(t) => Some(t),
                    _ => None,
                },
                deprecation_time: i
                    .deprecation_time()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc)),
                disabled: i
                    .state()
                    .is_some_and(|s| *s == aws_sdk_ec2::types::ImageState::Disabled),
                last_launched: i
                    .last_launched_time()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc)),
                sharing: Sharing {
                    public: i.public().unwrap_or(false),
                    ..Sharing::default()
                },
            });
        }
    })
    .await?;
    refuse_malformed(&bad, &what)?;

    let pages = ec2.describe_snapshots().owner_ids("self").max_results(1000);
    let what = format!("listing snapshots in {region}");
    each_page(pages.into_paginator().send(), &what, ep, |page| {
        for s in page.snapshots() {
            let Some(id) = s.snapshot_id() else { continue };
            let Some(id) = checked(id.parse(), &mut bad) else {
                continue;
            };
            inv.snapshots.push(Snapshot {
                region: region.clone(),
                id,
                volume_id: s.volume_id().map(str::to_string),
                volume_size_gib: i64::from(s.volume_size().unwrap_or(0)),
                start_time: smithy_time(s.start_time()),
                tags: tags(s.tags()),
                description: s.description().unwrap_or_default().to_string(),
                sharing: Sharing::default(),
            });
        }
    })
    .await?;
    refuse_malformed(&bad, &what)?;

    let pages = ec2.describe_instances().max_results(1000);
    let what = format!("listing instances in {region}");
    each_page(pages.into_paginator().send(), &what, ep, |page| {
        for i in page.reservations().iter().flat_map(|r| r.instances()) {
            let Some(id) = i.instance_id() else { continue };
            let state = i
                .state()
                .and_then(|s| s.name())
                .map_or("unknown", |n| n.as_str())
                .to_string();
            inv.instances.push(Instance {
                region: region.to_string(),
                id: id.to_string(),
                state: state.clone(),
                tags: tags(i.tags()),
            });
            if let Some(img) = i.image_id() {
                let by = UsedBy::Instance {
                    id: id.to_string(),
                    state,
                };
                inv.usage.push(uses(img, by));
            }
        }
    })
    .await?;

    // Every version of every launch template (`$Latest` and `$Default` are not enough).
    let mut templates: Vec<Template> = Vec::new();
    let pages = ec2.describe_launch_templates().max_results(200);
    let what = format!("listing launch templates in {region}");
    each_page(pages.into_paginator().send(), &what, ep, |page| {
        templates.extend(page.launch_templates().iter().filter_map(|t| {
            Some(Template {
                id: t.launch_template_id()?.to_string(),
                name: t.launch_template_name().unwrap_or_default().to_string(),
                default_version: t.default_version_number().unwrap_or(1),
                latest_version: t.latest_version_number().unwrap_or(1),
                images: BTreeMap::new(),
            })
        }));
    })
    .await?;
    for t in &mut templates {
        let pages = ec2
            .describe_launch_template_versions()
            .launch_template_id(&t.id)
            .max_results(200);
        let what = format!("listing versions of launch template {} in {region}", t.id);
        each_page(pages.into_paginator().send(), &what, ep, |page| {
            for v in page.launch_template_versions() {
                if let Some(img) = v.launch_template_data().and_then(|d| d.image_id()) {
                    let version = v.version_number().unwrap_or(0);
                    t.images.insert(version, img.to_string());
                    let by = UsedBy::LaunchTemplate {
                        id: t.id.clone(),
                        version,
                    };
                    inv.usage.push(uses(img, by));
                }
            }
        })
        .await?;
    }

    let asg = aws.autoscaling(region);
    let mut configurations: HashMap<String, String> = HashMap::new();
    let pages = asg.describe_launch_configurations().max_records(100);
    let what = format!("listing launch configurations in {region}");
    each_page(pages.into_paginator().send(), &what, ep, |page| {
        for lc in page.launch_configurations() {
            if let (Some(img), Some(name)) = (lc.image_id(), lc.launch_configuration_name()) {
                configurations.insert(name.to_string(), img.to_string());
                let by = UsedBy::LaunchConfiguration {
                    name: name.to_string(),
                };
                inv.usage.push(uses(img, by));
            }
        }
    })
    .await?;

    // Auto Scaling groups, through the launch configuration or the launch
    // template versions they launch from (the versions protect already; this
    // names the group in the reason).
    let mut groups: Vec<Group> = Vec::new();
    let pages = asg.describe_auto_scaling_groups().max_records(100);
    let what = format!("listing Auto Scaling groups in {region}");
    each_page(pages.into_paginator().send(), &what, ep, |page| {
        groups.extend(page.auto_scaling_groups().iter().filter_map(group_facts));
    })
    .await?;
    for g in &groups {
        for img in group_images(g, &templates, &configurations) {
            let by = UsedBy::AutoScalingGroup {
                name: g.name.clone(),
            };
            inv.usage.push(uses(img, by));
        }
    }
    Ok(inv)
}

/// A group as `retention::fleet` reads it: its launch configuration and
/// every launch template it names (its own, its mixed-instances policy's
/// and the overrides').
fn group_facts(g: &aws_sdk_autoscaling::types::AutoScalingGroup) -> Option<Group> {
    let spec = |s: &LaunchTemplateSpecification| TemplateRef {
        id: s.launch_template_id().map(str::to_string),
        name: s.launch_template_name().map(str::to_string),
        version: s.version().map(str::to_string),
    };
    let mut templates: Vec<TemplateRef> = g.launch_template().map(spec).into_iter().collect();
    if let Some(lt) = g.mixed_instances_policy().and_then(|p| p.launch_template()) {
        templates.extend(lt.launch_template_specification().map(spec));
        templates.extend(
            lt.overrides()
                .iter()
                .filter_map(|o| o.launch_template_specification())
                .map(spec),
        );
    }
    Some(Group {
        name: g.auto_scaling_group_name()?.to_string(),
        launch_configuration: g.launch_configuration_name().map(str::to_string),
        templates,
    })
}

/// Fill in who an image is shared with (launch permissions).
///
/// `Ok(None)`: EC2 says the image no longer exists (another run, or a
/// person, deregistered it since it was listed).
pub async fn image_sharing(aws: &Aws, region: &str, id: &str) -> Result<Option<Sharing>> {
    let out = match aws
        .ec2_per_resource(region, "DescribeImageAttribute")
        .describe_image_attribute()
        .image_id(id)
        .attribute(ImageAttributeName::LaunchPermission)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) if super::error_code(&e).is_some_and(super::ec2::already_done) => return Ok(None),
        Err(e) => {
            return Err(aws_error(
                format!("reading launch permissions of {id} in {region}"),
                &e,
                aws.endpoint(),
            ))
        }
    };
    let mut s = Sharing::default();
    for p in out.launch_permissions() {
        if p.group().is_some_and(|g| g.as_str() == "all") {
            s.public = true;
        }
        if let Some(a) = p.user_id() {
            s.accounts.push(a.to_string());
        }
        if let Some(o) = p.organization_arn() {
            s.organizations.push(o.to_string());
        }
        if let Some(o) = p.organizational_unit_arn() {
            s.organizational_units.push(o.to_string());
        }
    }
    Ok(Some(s))
}

/// Fill in who a snapshot is shared with (create-volume permissions).
///
/// `Ok(None)`: EC2 says the snapshot no longer exists.
pub async fn snapshot_sharing(aws: &Aws, region: &str, id: &str) -> Result<Option<Sharing>> {
    let out = match aws
        .ec2_per_resource(region, "DescribeSnapshotAttribute")
        .describe_snapshot_attribute()
        .snapshot_id(id)
        .attribute(SnapshotAttributeName::CreateVolumePermission)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) if super::error_code(&e).is_some_and(super::ec2::already_done) => return Ok(None),
        Err(e) => {
            return Err(aws_error(
                format!("reading volume permissions of {id} in {region}"),
                &e,
                aws.endpoint(),
            ))
        }
    };
    let mut s = Sharing::default();
    for p in out.create_volume_permissions() {
        if p.group().is_some_and(|g| g.as_str() == "all") {
            s.public = true;
        }
        if let Some(a) = p.user_id() {
            s.accounts.push(a.to_string());
        }
    }
    Ok(Some(s))
}

/// Ids of a set, for lookups.
pub fn id_set<'a>(ids: impl Iterator<Item = &'a str>) -> HashSet<&'a str> {
    ids.collect()
}
