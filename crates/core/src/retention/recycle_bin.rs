//! The Recycle Bin as prune sees it: which retention rule, if any, keeps a
//! deleted image or snapshot recoverable, and for how long (Recycle Bin
//! API reference, "CreateRule"; EBS User Guide, "Recycle Bin").
//!
//! A tag-level rule (it has resource tags) retains the deleted resources of
//! its type that carry at least one of its tag pairs; a region-level rule
//! (none) retains every one of its type without any of its exclusion tags;
//! where several rules match, the longest retention wins. Only rules EC2
//! calls `available` retain. A rule's tag with an empty value matches only
//! an empty value: the documentation is silent, and prune must not promise
//! recovery a rule may not give.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::plan::ItemKind;

/// One retention rule, as `ListRules` and `GetRule` give it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinRule {
    pub identifier: String,
    /// `Image` for EC2_IMAGE, `Snapshot` for EBS_SNAPSHOT.
    pub kind: ItemKind,
    pub retention_days: u32,
    /// Tag-level: the (key, value) pairs it retains.
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// Region-level: the pairs it does not retain.
    #[serde(default)]
    pub exclude: Vec<(String, String)>,
    /// `Status` is `available` (a `pending` rule retains nothing yet).
    #[serde(default)]
    pub available: bool,
}

/// A region's rules, or why they could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum RegionBin {
    Rules { rules: Vec<BinRule> },
    Unreadable { error: String },
}

/// How many days the rules retain a deleted resource of `kind` tagged
/// `tags`, and which rule; `None` when none does.
pub fn retained<'r>(
    rules: &'r [BinRule],
    kind: ItemKind,
    tags: &BTreeMap<String, String>,
) -> Option<(u32, &'r BinRule)> {
    let has = |pairs: &[(String, String)]| {
        pairs
            .iter()
            .any(|(k, v)| tags.get(k).is_some_and(|t| t == v))
    };
    rules
        .iter()
        .filter(|r| r.kind == kind && r.available)
        .filter(|r| {
            if r.tags.is_empty() {
                !has(&r.exclude)
            } else {
                has(&r.tags)
            }
        })
        .max_by_key(|r| r.retention_days)
        .map(|r| (r.retention_days, r))
}

/// The images of `plan` the Recycle Bin would keep longer than one of
/// their snapshots deleted in the same plan (or keeps while the snapshot is
/// not kept at all): restored after the snapshot is gone, the image would
/// have nothing behind it (EBS User Guide: keep snapshots at least as long
/// as images). One line per image, for a warning.
pub fn outlived_snapshots(plan: &super::plan::Plan) -> Vec<String> {
    use super::plan::Action;
    let mut out = Vec::new();
    for img in plan
        .items
        .iter()
        .filter(|i| i.kind == ItemKind::Image && i.action == Action::Delete)
    {
        let Some(until) = img.recoverable_until else {
            continue;
        };
        for snap in plan.items.iter().filter(|s| {
            s.kind == ItemKind::Snapshot
                && s.action == Action::Delete
                && s.region == img.region
                && s.depends_on.contains(&img.id)
        }) {
            if snap.recoverable_until.is_none_or(|s| s < until) {
                out.push(format!(
                    "{} in {} stays recoverable until {}, but its snapshot {} {}: restored later, the image would have no snapshot; give the snapshots' Recycle Bin rule at least the images' retention",
                    img.id,
                    img.region,
                    until.format("%Y-%m-%d %H:%M"),
                    snap.id,
                    snap.recoverable_until.map_or_else(
                        || "is not retained at all".to_string(),
                        |s| format!("only until {}", s.format("%Y-%m-%d %H:%M"))
                    )
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(kind: ItemKind, days: u32, tags: &[(&str, &str)], exclude: &[(&str, &str)]) -> BinRule {
        let pairs = |p: &[(&str, &str)]| {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        BinRule {
            identifier: format!("r{days}"),
            kind,
            retention_days: days,
            tags: pairs(tags),
            exclude: pairs(exclude),
            available: true,
        }
    }

    fn tags(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn tag_level_region_level_exclusions_and_the_longest_rule() {
        let rules = vec![
            rule(ItemKind::Image, 7, &[("team", "web")], &[]),
            rule(ItemKind::Image, 30, &[("tier", "gold")], &[]),
            rule(ItemKind::Snapshot, 14, &[], &[("scratch", "yes")]),
        ];
        let days = |kind, t: &[(&str, &str)]| retained(&rules, kind, &tags(t)).map(|(d, _)| d);
        assert_eq!(days(ItemKind::Image, &[("team", "web")]), Some(7));
        assert_eq!(
            days(ItemKind::Image, &[("team", "web"), ("tier", "gold")]),
            Some(30),
            "the longest of the rules that match"
        );
        assert_eq!(days(ItemKind::Image, &[("team", "api")]), None);
        assert_eq!(days(ItemKind::Image, &[]), None);
        // region-level: everything of its type but the excluded
        assert_eq!(days(ItemKind::Snapshot, &[]), Some(14));
        assert_eq!(days(ItemKind::Snapshot, &[("scratch", "yes")]), None);
        assert_eq!(days(ItemKind::Snapshot, &[("scratch", "no")]), Some(14));
        // a pending rule retains nothing yet; an empty value is not a wildcard
        let mut pending = rule(ItemKind::Image, 90, &[("team", "")], &[]);
        assert_eq!(
            retained(
                std::slice::from_ref(&pending),
                ItemKind::Image,
                &tags(&[("team", "x")])
            ),
            None
        );
        pending.available = false;
        assert_eq!(
            retained(&[pending], ItemKind::Image, &tags(&[("team", "")])),
            None
        );
    }
}
