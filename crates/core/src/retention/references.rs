//! Which images a prune plan asks EC2's `DescribeImageReferences` about.
//!
//! EC2 knows the instances, launch templates, SSM parameters and Image
//! Builder recipes that name an image (launch configurations and Auto
//! Scaling groups it does not cover: prune still lists those). One call
//! takes at most [`BATCH`] image ids, so prune asks only where the answer
//! can change the outcome, as for sharing ([`super::sharing`]): deletion
//! candidates, and images ranked newest (for their reason: a build keeps
//! its keep-N place whatever protects it). The caller re-plans after each round until nothing is left to
//! ask: references only add protection, so this converges. Pure: the
//! caller does the asking.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use super::plan::{Action, ItemKind, Plan, Reason};

/// At most this many image ids per `DescribeImageReferences` call (EC2 API
/// reference: `ImageId.N`, 1 to 10 items).
pub const BATCH: usize = 10;

/// The images of `plan` not in `known` (region, id) whose references can
/// change the outcome, by region, each region's ids in batches.
pub fn needing_references(
    plan: &Plan,
    known: &HashSet<(Arc<str>, Arc<str>)>,
) -> BTreeMap<Arc<str>, Vec<Vec<Arc<str>>>> {
    let mut by_region: BTreeMap<Arc<str>, Vec<Arc<str>>> = BTreeMap::new();
    for i in &plan.items {
        let matters = i.action == Action::Delete || matches!(i.reason, Reason::Newest { .. });
        if i.kind == ItemKind::Image
            && matters
            && !known.contains(&(Arc::clone(&i.region), Arc::clone(&i.id)))
        {
            by_region
                .entry(Arc::clone(&i.region))
                .or_default()
                .push(Arc::clone(&i.id));
        }
    }
    by_region
        .into_iter()
        .map(|(r, ids)| (r, ids.chunks(BATCH).map(<[_]>::to_vec).collect()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::plan::{PlanItem, PlanRules, Scope};

    fn item(kind: ItemKind, id: &str, action: Action, reason: Reason) -> PlanItem {
        PlanItem::for_tests(kind, id, action, reason, &[])
    }

    #[test]
    fn deletion_candidates_and_newest_images_are_asked_about_in_batches_of_ten() {
        let mut items: Vec<PlanItem> = (0..23)
            .map(|n| {
                item(
                    ItemKind::Image,
                    &format!("ami-{n:017x}"),
                    Action::Delete,
                    Reason::Expired {
                        retention_days: 1,
                        retention: crate::retention::RetentionSource::Default,
                    },
                )
            })
            .collect();
        items.push(item(
            ItemKind::Image,
            "ami-newest",
            Action::Keep,
            Reason::Newest { rank: 1, keep: 1 },
        ));
        items.push(item(
            ItemKind::Image,
            "ami-pinned",
            Action::Keep,
            Reason::Pinned {
                value: "true".into(),
            },
        ));
        items.push(item(
            ItemKind::Snapshot,
            "snap-1",
            Action::Delete,
            Reason::Expired {
                retention_days: 1,
                retention: crate::retention::RetentionSource::Default,
            },
        ));
        let plan = Plan {
            schema_version: 1,
            generated_at: chrono::DateTime::UNIX_EPOCH,
            scope: Scope::default(),
            rules: PlanRules::default(),
            items,
            summary: Default::default(),
        };
        let need = needing_references(&plan, &HashSet::new());
        let batches = &need[&Arc::from("us-east-1")];
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            [10, 10, 4]
        );
        assert!(batches.iter().flatten().any(|i| &**i == "ami-newest"));
        assert!(!batches.iter().flatten().any(|i| &**i == "ami-pinned"));
        let known: HashSet<_> = batches
            .iter()
            .flatten()
            .map(|i| (Arc::from("us-east-1"), Arc::clone(i)))
            .collect();
        assert!(needing_references(&plan, &known).is_empty());
    }
}
