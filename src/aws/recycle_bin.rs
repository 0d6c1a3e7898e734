//! The Recycle Bin, for prune and `prune undo`: each region's retention
//! rules (`ListRules`, then `GetRule` for each, since a rule's summary
//! carries neither its tags nor its status; Recycle Bin API reference), and
//! restoring what an applied run deleted (`RestoreSnapshotFromRecycleBin`,
//! `RestoreImageFromRecycleBin`; EC2 API reference).

use aws_sdk_rbin::types::{ResourceTag, ResourceType, RuleStatus};

use super::Aws;
use crate::retention::recycle_bin::{BinRule, RegionBin};
use crate::retention::ItemKind;

fn pairs(tags: &[ResourceTag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| {
            (
                t.resource_tag_key().to_string(),
                t.resource_tag_value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The rules for images and snapshots in `region`, or why they could not be
/// read (the plan then says so, and `--require-recycle-bin` keeps every
/// deletion there).
pub async fn rules(aws: &Aws, region: &str) -> RegionBin {
    match read(aws, region).await {
        Ok(rules) => RegionBin::Rules { rules },
        Err(error) => RegionBin::Unreadable { error },
    }
}

async fn read(aws: &Aws, region: &str) -> Result<Vec<BinRule>, String> {
    let client = aws.rbin(region);
    let mut out = Vec::new();
    for (kind, resource) in [
        (ItemKind::Image, ResourceType::Ec2Image),
        (ItemKind::Snapshot, ResourceType::EbsSnapshot),
    ] {
        let pages = client
            .list_rules()
            .resource_type(resource)
            .into_paginator()
            .send()
            .collect::<Vec<_>>()
            .await;
        for page in pages {
            let page = page.map_err(|e| super::describe(&e, aws.endpoint()))?;
            for summary in page.rules() {
                let Some(id) = summary.identifier() else {
                    continue;
                };
                let rule = client
                    .get_rule()
                    .identifier(id)
                    .send()
                    .await
                    .map_err(|e| super::describe(&e, aws.endpoint()))?;
                out.push(BinRule {
                    identifier: id.to_string(),
                    kind,
                    retention_days: rule.retention_period().map_or(0, |p| {
                        u32::try_from(p.retention_period_value()).unwrap_or(0)
                    }),
                    tags: pairs(rule.resource_tags()),
                    exclude: pairs(rule.exclude_resource_tags()),
                    available: rule.status() == Some(&RuleStatus::Available),
                });
            }
        }
    }
    Ok(out)
}

/// Restore one snapshot or image from the bin: `Ok(())`, or EC2's error.
pub async fn restore(aws: &Aws, region: &str, kind: ItemKind, id: &str) -> Result<(), String> {
    let ec2 = aws.ec2(region);
    match kind {
        ItemKind::Snapshot => ec2
            .restore_snapshot_from_recycle_bin()
            .snapshot_id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| super::describe(&e, aws.endpoint())),
        ItemKind::Image => ec2
            .restore_image_from_recycle_bin()
            .image_id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| super::describe(&e, aws.endpoint())),
    }
}
