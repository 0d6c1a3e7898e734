//! Gathering what `prune` plans over: images, snapshots, instances and every
//! use of an image (instances, launch template versions, launch configurations,
//! Auto Scaling groups), per region, with paginated listing calls counted by
//! operation. Also the sharing state of images and snapshots (one attribute call
//! each, made only for deletion candidates and newest-ranked images).

use std::collections::{BTreeMap, HashMap, HashSet};

use aws_sdk_autoscaling::types::LaunchTemplateSpecification;
use aws_sdk_ec2::types::{ImageAttributeName, SnapshotAttributeName};
use chrono::{DateTime, Utc};

use super::{aws_error, ApiCalls, Aws};
use crate::error::Result;
use crate::retention::{Image, Instance, Inventory, Sharing, Snapshot, Usage, UsedBy};

fn tags(t: &[aws_sdk_ec2::types::Tag]) -> BTreeMap<String, String> {
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

/// Gather one region's inventory.
pub async fn gather(aws: &Aws, region: &str, calls: &ApiCalls) -> Result<Inventory> {
    let ec2 = aws.ec2(region);
    let ep = aws.endpoint();
    let mut inv = Inventory::default();

    let mut pages = ec2
        .describe_images()
        .owners("self")
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        calls.count("ec2:DescribeImages");
        let page = page.map_err(|e| aws_error(format!("listing images in {region}"), &e, ep))?;
        for i in page.images() {
            let Some(id) = i.image_id() else { continue };
            if inv.account_id.is_none() {
                inv.account_id = i.owner_id().map(str::to_string);
            }
            inv.images.push(Image {
                region: region.to_string(),
                id: id.to_string(),
                name: i.name().unwrap_or_default().to_string(),
                owner_id: i.owner_id().unwrap_or_default().to_string(),
                creation_date: parse_time(i.creation_date()),
                tags: tags(i.tags()),
                snapshot_ids: i
                    .block_device_mappings()
                    .iter()
                    .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()).map(str::to_string))
                    .collect(),
                deregistration_protection: i
                    .deregistration_protection()
                    .is_some_and(|p| p.starts_with("enabled")),
                sharing: Sharing {
                    public: i.public().unwrap_or(false),
                    ..Sharing::default()
                },
            });
        }
    }

    let mut pages = ec2
        .describe_snapshots()
        .owner_ids("self")
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        calls.count("ec2:DescribeSnapshots");
        let page = page.map_err(|e| aws_error(format!("listing snapshots in {region}"), &e, ep))?;
        for s in page.snapshots() {
            let Some(id) = s.snapshot_id() else { continue };
            inv.snapshots.push(Snapshot {
                region: region.to_string(),
                id: id.to_string(),
                volume_id: s.volume_id().map(str::to_string),
                volume_size_gib: i64::from(s.volume_size().unwrap_or(0)),
                start_time: smithy_time(s.start_time()),
                tags: tags(s.tags()),
                description: s.description().unwrap_or_default().to_string(),
                sharing: Sharing::default(),
            });
        }
    }

    let mut pages = ec2
        .describe_instances()
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        calls.count("ec2:DescribeInstances");
        let page = page.map_err(|e| aws_error(format!("listing instances in {region}"), &e, ep))?;
        for r in page.reservations() {
            for i in r.instances() {
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
                    inv.usage.push(Usage {
                        region: region.to_string(),
                        image_id: img.to_string(),
                        by: UsedBy::Instance {
                            id: id.to_string(),
                            state,
                        },
                    });
                }
            }
        }
    }

    // Every version of every launch template (`$Latest` and `$Default` are not enough).
    let mut templates: Vec<Template> = Vec::new();
    let mut pages = ec2
        .describe_launch_templates()
        .max_results(200)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        calls.count("ec2:DescribeLaunchTemplates");
        let page =
            page.map_err(|e| aws_error(format!("listing launch templates in {region}"), &e, ep))?;
        templates.extend(page.launch_templates().iter().filter_map(|t| {
            Some(Template {
                id: t.launch_template_id()?.to_string(),
                name: t.launch_template_name().unwrap_or_default().to_string(),
                default_version: t.default_version_number().unwrap_or(1),
                latest_version: t.latest_version_number().unwrap_or(1),
                images: BTreeMap::new(),
            })
        }));
    }
    for t in &mut templates {
        let mut pages = ec2
            .describe_launch_template_versions()
            .launch_template_id(&t.id)
            .max_results(200)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            calls.count("ec2:DescribeLaunchTemplateVersions");
            let page = page.map_err(|e| {
                aws_error(
                    format!("listing versions of launch template {} in {region}", t.id),
                    &e,
                    ep,
                )
            })?;
            for v in page.launch_template_versions() {
                if let Some(img) = v.launch_template_data().and_then(|d| d.image_id()) {
                    let version = v.version_number().unwrap_or(0);
                    t.images.insert(version, img.to_string());
                    inv.usage.push(Usage {
                        region: region.to_string(),
                        image_id: img.to_string(),
                        by: UsedBy::LaunchTemplate {
                            id: t.id.clone(),
                            version,
                        },
                    });
                }
            }
        }
    }

    let asg = aws_sdk_autoscaling::Client::from_conf(
        aws_sdk_autoscaling::config::Builder::from(aws.sdk())
            .region(aws_config::Region::new(region.to_string()))
            .build(),
    );
    let mut configurations: HashMap<String, String> = HashMap::new();
    let mut pages = asg
        .describe_launch_configurations()
        .max_records(100)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        calls.count("autoscaling:DescribeLaunchConfigurations");
        let page = page
            .map_err(|e| aws_error(format!("listing launch configurations in {region}"), &e, ep))?;
        for lc in page.launch_configurations() {
            if let (Some(img), Some(name)) = (lc.image_id(), lc.launch_configuration_name()) {
                configurations.insert(name.to_string(), img.to_string());
                inv.usage.push(Usage {
                    region: region.to_string(),
                    image_id: img.to_string(),
                    by: UsedBy::LaunchConfiguration {
                        name: name.to_string(),
                    },
                });
            }
        }
    }

    // Auto Scaling groups, through the launch configuration or the launch
    // template versions they launch from (the versions protect already; this
    // names the group in the reason).
    let mut pages = asg
        .describe_auto_scaling_groups()
        .max_records(100)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        calls.count("autoscaling:DescribeAutoScalingGroups");
        let page = page
            .map_err(|e| aws_error(format!("listing Auto Scaling groups in {region}"), &e, ep))?;
        for g in page.auto_scaling_groups() {
            let Some(name) = g.auto_scaling_group_name() else {
                continue;
            };
            let mut images: Vec<&str> = Vec::new();
            if let Some(img) = g
                .launch_configuration_name()
                .and_then(|lc| configurations.get(lc))
            {
                images.push(img);
            }
            let mut specs: Vec<&LaunchTemplateSpecification> = Vec::new();
            specs.extend(g.launch_template());
            if let Some(lt) = g.mixed_instances_policy().and_then(|p| p.launch_template()) {
                specs.extend(lt.launch_template_specification());
                specs.extend(
                    lt.overrides()
                        .iter()
                        .filter_map(|o| o.launch_template_specification()),
                );
            }
            for spec in specs {
                images.extend(template_image(&templates, spec));
            }
            images.sort_unstable();
            images.dedup();
            for img in images {
                inv.usage.push(Usage {
                    region: region.to_string(),
                    image_id: img.to_string(),
                    by: UsedBy::AutoScalingGroup {
                        name: name.to_string(),
                    },
                });
            }
        }
    }
    Ok(inv)
}

/// A launch template and the image of each of its versions.
struct Template {
    id: String,
    name: String,
    default_version: i64,
    latest_version: i64,
    images: BTreeMap<i64, String>,
}

/// The image a group's launch template specification launches: by id or
/// name, at `$Default` (also when no version is given), `$Latest` or a
/// version number.
fn template_image<'t>(
    templates: &'t [Template],
    spec: &LaunchTemplateSpecification,
) -> Option<&'t str> {
    let t = templates.iter().find(|t| {
        spec.launch_template_id() == Some(t.id.as_str())
            || spec.launch_template_name() == Some(t.name.as_str())
    })?;
    let version = match spec.version().unwrap_or("$Default") {
        "$Default" => t.default_version,
        "$Latest" => t.latest_version,
        n => n.parse().ok()?,
    };
    t.images.get(&version).map(String::as_str)
}

/// Fill in who an image is shared with (launch permissions).
pub async fn image_sharing(aws: &Aws, region: &str, id: &str, calls: &ApiCalls) -> Result<Sharing> {
    calls.count("ec2:DescribeImageAttribute");
    let out = aws
        .ec2(region)
        .describe_image_attribute()
        .image_id(id)
        .attribute(ImageAttributeName::LaunchPermission)
        .send()
        .await
        .map_err(|e| {
            aws_error(
                format!("reading launch permissions of {id} in {region}"),
                &e,
                aws.endpoint(),
            )
        })?;
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
    Ok(s)
}

/// Fill in who a snapshot is shared with (create-volume permissions).
pub async fn snapshot_sharing(
    aws: &Aws,
    region: &str,
    id: &str,
    calls: &ApiCalls,
) -> Result<Sharing> {
    calls.count("ec2:DescribeSnapshotAttribute");
    let out = aws
        .ec2(region)
        .describe_snapshot_attribute()
        .snapshot_id(id)
        .attribute(SnapshotAttributeName::CreateVolumePermission)
        .send()
        .await
        .map_err(|e| {
            aws_error(
                format!("reading volume permissions of {id} in {region}"),
                &e,
                aws.endpoint(),
            )
        })?;
    let mut s = Sharing::default();
    for p in out.create_volume_permissions() {
        if p.group().is_some_and(|g| g.as_str() == "all") {
            s.public = true;
        }
        if let Some(a) = p.user_id() {
            s.accounts.push(a.to_string());
        }
    }
    Ok(s)
}

/// Ids of a set, for lookups.
pub fn id_set<'a>(ids: impl Iterator<Item = &'a str>) -> HashSet<&'a str> {
    ids.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(id: &str, name: &str, default: i64, latest: i64) -> Template {
        Template {
            id: id.into(),
            name: name.into(),
            default_version: default,
            latest_version: latest,
            images: (1..=latest).map(|v| (v, format!("ami-{id}-{v}"))).collect(),
        }
    }

    fn spec(
        id: Option<&str>,
        name: Option<&str>,
        version: Option<&str>,
    ) -> LaunchTemplateSpecification {
        LaunchTemplateSpecification::builder()
            .set_launch_template_id(id.map(str::to_string))
            .set_launch_template_name(name.map(str::to_string))
            .set_version(version.map(str::to_string))
            .build()
    }

    #[test]
    fn a_group_launches_the_version_its_specification_names() {
        let all = [template("lt-a", "web", 2, 3), template("lt-b", "db", 1, 1)];
        let image = |s| template_image(&all, &s);
        // no version is $Default
        assert_eq!(image(spec(Some("lt-a"), None, None)), Some("ami-lt-a-2"));
        assert_eq!(
            image(spec(Some("lt-a"), None, Some("$Default"))),
            Some("ami-lt-a-2")
        );
        assert_eq!(
            image(spec(Some("lt-a"), None, Some("$Latest"))),
            Some("ami-lt-a-3")
        );
        assert_eq!(
            image(spec(Some("lt-a"), None, Some("1"))),
            Some("ami-lt-a-1")
        );
        // by name
        assert_eq!(image(spec(None, Some("db"), None)), Some("ami-lt-b-1"));
        // unknown template, version or a garbled version: nothing (the template's
        // versions protect their images anyway)
        assert_eq!(image(spec(Some("lt-zz"), None, None)), None);
        assert_eq!(image(spec(Some("lt-a"), None, Some("9"))), None);
        assert_eq!(image(spec(Some("lt-a"), None, Some("latest"))), None);
    }
}
