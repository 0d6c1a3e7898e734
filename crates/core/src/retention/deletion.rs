//! Which images prune may deregister together with their snapshots
//! (`DeregisterImage` with `DeleteAssociatedSnapshots`: one call instead of
//! one per image and one per snapshot).
//!
//! EC2 then deletes every snapshot of the image that no other image uses,
//! whatever the plan says of it. So only an image each of whose snapshots
//! (as `DescribeImages` listed them) the run deletes, and whose snapshots
//! depend on no image the run keeps, is deregistered that way; any other
//! keeps the separate calls, where the plan decides each snapshot. A
//! snapshot EC2 reports `skipped` (another image still used it at that
//! moment) or that failed is then deleted on its own, as before. Pure: the
//! caller applies.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::plan::{ItemKind, PlanItem};

/// An image by (region, id), and its snapshot ids as listed.
pub type SnapshotsOf = HashMap<(String, String), Vec<String>>;

/// (region, image id) of the images of `todo` that may be deregistered with
/// their snapshots.
pub fn with_snapshots(
    todo: &[PlanItem],
    snapshots_of: &SnapshotsOf,
) -> HashSet<(Arc<str>, Arc<str>)> {
    let images: HashSet<(&str, &str)> = todo
        .iter()
        .filter(|i| i.kind == ItemKind::Image)
        .map(|i| (&*i.region, &*i.id))
        .collect();
    // each snapshot the run deletes, and whether all its images go too
    let snaps: HashMap<(&str, &str), bool> = todo
        .iter()
        .filter(|i| i.kind == ItemKind::Snapshot)
        .map(|s| {
            let all_go = s
                .depends_on
                .iter()
                .all(|d| images.contains(&(&*s.region, &**d)));
            ((&*s.region, &*s.id), all_go)
        })
        .collect();
    todo.iter()
        .filter(|i| i.kind == ItemKind::Image)
        .filter(|i| {
            snapshots_of
                .get(&(i.region.to_string(), i.id.to_string()))
                .is_some_and(|ss| {
                    !ss.is_empty()
                        && ss
                            .iter()
                            .all(|s| snaps.get(&(&*i.region, s.as_str())) == Some(&true))
                })
        })
        .map(|i| (Arc::clone(&i.region), Arc::clone(&i.id)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::plan::{Action, Reason};

    fn item(kind: ItemKind, id: &str, depends_on: &[&str]) -> PlanItem {
        let pinned = Reason::Pinned { value: "x".into() };
        PlanItem::for_tests(kind, id, Action::Delete, pinned, depends_on)
    }

    #[test]
    fn only_an_image_whose_every_snapshot_goes_with_it_takes_them_along() {
        let todo = vec![
            item(ItemKind::Image, "ami-all", &[]),
            item(ItemKind::Snapshot, "snap-all-1", &["ami-all"]),
            item(ItemKind::Snapshot, "snap-all-2", &["ami-all"]),
            // one of its snapshots is kept by the plan
            item(ItemKind::Image, "ami-part", &[]),
            item(ItemKind::Snapshot, "snap-part-1", &["ami-part"]),
            // its snapshot is shared with an image the run keeps
            item(ItemKind::Image, "ami-shares", &[]),
            item(
                ItemKind::Snapshot,
                "snap-shared",
                &["ami-shares", "ami-kept"],
            ),
            // an image that lists no snapshot
            item(ItemKind::Image, "ami-none", &[]),
            // not listed at all
            item(ItemKind::Image, "ami-unlisted", &[]),
        ];
        let of = |img: &str, snaps: &[&str]| {
            (
                ("us-east-1".to_string(), img.to_string()),
                snaps.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            )
        };
        let snapshots: SnapshotsOf = [
            of("ami-all", &["snap-all-1", "snap-all-2"]),
            of("ami-part", &["snap-part-1", "snap-part-kept"]),
            of("ami-shares", &["snap-shared"]),
            of("ami-none", &[]),
        ]
        .into_iter()
        .collect();
        let got = with_snapshots(&todo, &snapshots);
        let ids: Vec<&str> = got.iter().map(|(_, i)| &**i).collect();
        assert_eq!(ids, ["ami-all"], "{got:?}");
    }
}
