//! Sharing facts for a plan: which items need them, and merging what was
//! read into the inventory.
//!
//! Sharing costs one attribute call per resource, so prune reads it only
//! where it can change the outcome: deletion candidates, and images ranked
//! newest (one found gone leaves its keep-N place to the next older build;
//! a build keeps its place whatever protects it, so a shared one only
//! changes its own reason). The caller re-plans after each merge until
//! [`needing_sharing`] is empty: sharing only adds protection, and a gone
//! resource only leaves, so this converges, and never on less information
//! than reading everything would
//! give. Pure: the caller does the reading.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::plan::{Action, Inventory, ItemKind, Plan, Reason, Sharing};

/// A plan item's identity: kind, region, id.
pub type ItemKey = (ItemKind, Arc<str>, Arc<str>);

/// The items of `plan` whose sharing can change the outcome and is not in
/// `known` yet.
pub fn needing_sharing(plan: &Plan, known: &HashSet<ItemKey>) -> Vec<ItemKey> {
    plan.items
        .iter()
        .filter(|i| i.action == Action::Delete || matches!(i.reason, Reason::Newest { .. }))
        .map(|i| (i.kind, Arc::clone(&i.region), Arc::clone(&i.id)))
        .filter(|k| !known.contains(k))
        .collect()
}

/// Sharing read in one round, looked up by `(kind, region, id)` (hashed on
/// the id, so that a lookup borrows).
#[derive(Debug, Default)]
pub struct SharingFacts(
    HashMap<String, Vec<(ItemKind, String, Sharing)>>,
    HashSet<(ItemKind, String, String)>,
);

impl SharingFacts {
    pub fn insert(&mut self, kind: ItemKind, region: String, id: String, s: Sharing) {
        self.0.entry(id).or_default().push((kind, region, s));
    }

    /// EC2 said the resource no longer exists (another run, or a person,
    /// deleted it since it was listed): it leaves the inventory, so that
    /// nothing is planned for it.
    pub fn gone(&mut self, kind: ItemKind, region: String, id: String) {
        self.1.insert((kind, region, id));
    }

    pub fn get(&self, kind: ItemKind, region: &str, id: &str) -> Option<&Sharing> {
        self.0
            .get(id)?
            .iter()
            .find(|(k, r, _)| *k == kind && r == region)
            .map(|(_, _, s)| s)
    }
}

/// Merge `facts` into `inv`. An image's `public` flag (from DescribeImages)
/// is kept when the attribute read says otherwise: only more protection.
pub fn merge_sharing(inv: &mut Inventory, facts: &SharingFacts) {
    let gone = |kind: ItemKind, region: &str, id: &str| {
        facts
            .1
            .contains(&(kind, region.to_string(), id.to_string()))
    };
    inv.images
        .retain(|i| !gone(ItemKind::Image, &i.region, i.id.as_str()));
    inv.snapshots
        .retain(|s| !gone(ItemKind::Snapshot, &s.region, s.id.as_str()));
    for image in &mut inv.images {
        if let Some(s) = facts.get(ItemKind::Image, &image.region, &image.id) {
            let public = image.sharing.public || s.public;
            image.sharing = s.clone();
            image.sharing.public = public;
        }
    }
    for snapshot in &mut inv.snapshots {
        if let Some(s) = facts.get(ItemKind::Snapshot, &snapshot.region, &snapshot.id) {
            snapshot.sharing = s.clone();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::retention::plan::{Image, PlanRules, Snapshot};
    use chrono::{TimeDelta, TimeZone, Utc};
    use std::collections::BTreeMap;

    fn inventory() -> Inventory {
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
        let img = |id: &str, days: i64, snap: &str| Image {
            region: "us-east-1".into(),
            id: id.into(),
            name: id.into(),
            owner_id: String::new(),
            creation_date: now - TimeDelta::days(days),
            tags: BTreeMap::from([
                ("ami-builder:family".to_string(), "web".to_string()),
                (
                    "scheduler:ebs-snapshot".to_string(),
                    "default;10".to_string(),
                ),
            ]),
            snapshot_ids: vec![snap.into()],
            deregistration_protection: false,
            deregistration_protection_until: None,
            last_launched: None,
            deprecation_time: None,
            disabled: false,
            sharing: Sharing::default(),
        };
        let snap = |id: &str, days: i64| Snapshot {
            region: "us-east-1".into(),
            id: id.into(),
            volume_id: None,
            volume_size_gib: 8,
            start_time: now - TimeDelta::days(days),
            tags: BTreeMap::from([(
                "scheduler:ebs-snapshot".to_string(),
                "default;10".to_string(),
            )]),
            description: String::new(),
            sharing: Sharing::default(),
        };
        Inventory {
            images: vec![
                img("ami-new", 1, "snap-new"),
                img("ami-old", 30, "snap-old"),
            ],
            snapshots: vec![snap("snap-new", 1), snap("snap-old", 30)],
            ..Inventory::default()
        }
    }

    fn plan(inv: &Inventory) -> Plan {
        let rules = PlanRules {
            keep: 1,
            ..PlanRules::default()
        };
        crate::retention::plan(
            inv,
            &rules,
            Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap(),
        )
    }

    #[test]
    fn candidates_and_newest_need_sharing_once() {
        let inv = inventory();
        let p = plan(&inv);
        let need = needing_sharing(&p, &HashSet::new());
        let ids: Vec<&str> = need.iter().map(|(_, _, id)| &**id).collect();
        // the newest image (rank 1), the expired one and its snapshot
        assert_eq!(ids, vec!["ami-new", "ami-old", "snap-old"]);
        let known: HashSet<ItemKey> = need.into_iter().collect();
        assert!(needing_sharing(&p, &known).is_empty());
    }

    #[test]
    fn what_ec2_says_is_gone_leaves_the_plan() {
        let mut inv = inventory();
        let mut facts = SharingFacts::default();
        facts.gone(ItemKind::Image, "us-east-1".into(), "ami-old".into());
        facts.gone(ItemKind::Snapshot, "us-east-1".into(), "snap-old".into());
        merge_sharing(&mut inv, &facts);
        let p = plan(&inv);
        assert!(
            !p.items
                .iter()
                .any(|i| &*i.id == "ami-old" || &*i.id == "snap-old"),
            "{p}"
        );
        assert!(p.items.iter().any(|i| &*i.id == "ami-new"));
    }

    #[test]
    fn merged_sharing_protects_and_public_is_never_lost() {
        let mut inv = inventory();
        inv.images[1].sharing.public = true;
        let mut facts = SharingFacts::default();
        facts.insert(
            ItemKind::Image,
            "us-east-1".into(),
            "ami-old".into(),
            Sharing {
                accounts: vec!["111122223333".into()],
                ..Sharing::default()
            },
        );
        facts.insert(
            ItemKind::Snapshot,
            "us-east-1".into(),
            "snap-old".into(),
            Sharing {
                public: true,
                ..Sharing::default()
            },
        );
        // the same id in another region is another resource
        assert!(facts.get(ItemKind::Image, "us-west-2", "ami-old").is_none());
        merge_sharing(&mut inv, &facts);
        assert!(
            inv.images[1].sharing.public,
            "public from DescribeImages kept"
        );
        assert_eq!(
            inv.images[1].sharing.accounts,
            vec!["111122223333".to_string()]
        );
        assert!(inv.snapshots[1].sharing.public);
        let p = plan(&inv);
        let old = p.items.iter().find(|i| &*i.id == "ami-old").unwrap();
        assert_eq!(old.reason.code(), "shared");
    }
}
