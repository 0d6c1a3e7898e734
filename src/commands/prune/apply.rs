//! Applying the deletions: images first, concurrently, then each snapshot
//! whose images all went (EC2 refuses to delete a snapshot an AMI uses). An
//! image whose every snapshot goes with it is deregistered with them
//! (`DeleteAssociatedSnapshots`, `retention::deletion`): a snapshot EC2
//! reports deleted then needs no call of its own, any other is deleted on
//! its own as before. One failure does not stop the rest, and no deletion
//! starts after the `--timeout` deadline.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::aws::ec2::{self, Deleted, Deletion, Target};
use crate::aws::Aws;
use crate::progress::Progress;
use crate::retention::{ItemKind, PlanItem};

use super::report::{Applied, AppliedResult};

/// Images first (concurrently), then each snapshot whose images all went.
pub(super) async fn apply(
    aws: &Aws,
    todo: &[PlanItem],
    with_snapshots: &HashSet<(Arc<str>, Arc<str>)>,
    concurrency: usize,
    deadline: tokio::time::Instant,
    progress: &Progress,
) -> Vec<Applied> {
    let aws = aws.clone();
    apply_with(
        todo,
        with_snapshots,
        concurrency,
        deadline,
        progress,
        move |region: Arc<str>, target: Target, id: Arc<str>| {
            let aws = aws.clone();
            async move { ec2::delete(&aws, &region, target, &id).await }
        },
    )
    .await
}

/// [`apply`] over any deleter (fault injection drives it in tests). One failure
/// does not stop the rest; a snapshot whose image failed is not attempted; a
/// deletion task that panics counts as failed. No deletion starts after
/// `deadline` (`--timeout`): those not started are reported as not attempted,
/// so the run ends in time and still records everything it did.
async fn apply_with<D, Fut>(
    todo: &[PlanItem],
    with_snapshots: &HashSet<(Arc<str>, Arc<str>)>,
    concurrency: usize,
    deadline: tokio::time::Instant,
    progress: &Progress,
    delete: D,
) -> Vec<Applied>
where
    D: Fn(Arc<str>, Target, Arc<str>) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Deletion> + Send + 'static,
{
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut out: Vec<Applied> = Vec::new();
    let mut image_ok: HashMap<(Arc<str>, Arc<str>), bool> = HashMap::new();
    // snapshots EC2 deleted with their image, by (region, id)
    let mut gone_with_image: HashSet<(String, String)> = HashSet::new();
    for phase in [ItemKind::Image, ItemKind::Snapshot] {
        let mut set = tokio::task::JoinSet::new();
        let mut spawned: HashMap<tokio::task::Id, PlanItem> = HashMap::new();
        for item in todo.iter().filter(|i| i.kind == phase) {
            if phase == ItemKind::Snapshot
                && gone_with_image.contains(&(item.region.to_string(), item.id.to_string()))
            {
                out.push(Applied {
                    kind: item.kind,
                    region: item.region.to_string(),
                    id: item.id.to_string(),
                    result: AppliedResult::Done {
                        outcome: Deleted::Deleted,
                    },
                });
                progress.item(true);
                continue;
            }
            if phase == ItemKind::Snapshot {
                if let Some(failed) = item
                    .depends_on
                    .iter()
                    .find(|d| image_ok.get(&(item.region.clone(), Arc::clone(d))) == Some(&false))
                {
                    out.push(Applied {
                        kind: item.kind,
                        region: item.region.to_string(),
                        id: item.id.to_string(),
                        result: AppliedResult::NotAttempted {
                            why: format!("its image {failed} was not deregistered"),
                        },
                    });
                    progress.item(false);
                    continue;
                }
            }
            let sem = sem.clone();
            let delete = delete.clone();
            let target = match item.kind {
                ItemKind::Image => Target::Image {
                    with_snapshots: with_snapshots
                        .contains(&(item.region.clone(), item.id.clone())),
                },
                ItemKind::Snapshot => Target::Snapshot,
            };
            let (region, id) = (item.region.clone(), item.id.clone());
            let handle = set.spawn(async move {
                let _permit = sem.acquire_owned().await;
                if tokio::time::Instant::now() >= deadline {
                    return None;
                }
                Some(delete(region, target, id).await)
            });
            spawned.insert(handle.id(), item.clone());
        }
        while let Some(joined) = set.join_next_with_id().await {
            let (task, deletion) = match joined {
                Ok((task, deletion)) => (task, deletion),
                Err(e) => (
                    e.id(),
                    Some(Deletion {
                        outcome: Deleted::Failed {
                            error: format!("the deletion task failed: {e}"),
                        },
                        snapshots: Vec::new(),
                    }),
                ),
            };
            let Some(item) = spawned.remove(&task) else {
                continue;
            };
            let outcome = deletion.map(|d| {
                for (snap, code) in d.snapshots {
                    if code == "success" {
                        gone_with_image.insert((item.region.to_string(), snap));
                    } else {
                        // skipped: another image used it at that moment;
                        // an error: EC2 could not. Either way it is deleted
                        // on its own below, when the plan deletes it.
                        tracing::info!(
                            "snapshot {snap} of {} in {} was not deleted with it ({code})",
                            item.id,
                            item.region
                        );
                    }
                }
                d.outcome
            });
            if item.kind == ItemKind::Image {
                image_ok.insert(
                    (item.region.clone(), item.id.clone()),
                    matches!(outcome, Some(Deleted::Deleted | Deleted::AlreadyGone)),
                );
            }
            let result = match outcome {
                Some(outcome) => AppliedResult::Done { outcome },
                None => AppliedResult::NotAttempted {
                    why: "--timeout ran out before it was attempted; re-run prune to finish".into(),
                },
            };
            progress.item(matches!(
                result,
                AppliedResult::Done {
                    outcome: Deleted::Deleted | Deleted::AlreadyGone
                }
            ));
            out.push(Applied {
                kind: item.kind,
                region: item.region.to_string(),
                id: item.id.to_string(),
                result,
            });
        }
    }
    out.sort_by(|a, b| {
        (a.region.as_str(), a.kind, a.id.as_str()).cmp(&(b.region.as_str(), b.kind, b.id.as_str()))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::prune::report::PruneReport;
    use crate::retention::saved::PLAN_SCHEMA_VERSION;
    use crate::retention::{self, Action, Inventory, PlanRules, Reason};
    use chrono::Utc;
    use std::collections::BTreeMap;

    fn quiet() -> Progress {
        Progress::start(crate::progress::Mode::Off, "deleting", 0)
    }

    fn item(kind: ItemKind, id: &str, depends_on: &[&str]) -> PlanItem {
        PlanItem {
            kind,
            region: "us-east-1".into(),
            id: id.into(),
            family: None,
            name: None,
            created: None,
            action: Action::Delete,
            reason: Reason::Pinned { value: "x".into() },
            expires_at: None,
            size_gib: None,
            depends_on: depends_on.iter().map(|&s| Arc::from(s)).collect(),
            recoverable_until: None,
        }
    }

    #[test]
    fn one_failure_does_not_stop_the_rest_and_its_snapshots_wait() {
        let todo = vec![
            item(ItemKind::Image, "ami-bad", &[]),
            item(ItemKind::Image, "ami-good", &[]),
            item(ItemKind::Snapshot, "snap-bad", &["ami-bad"]),
            item(ItemKind::Snapshot, "snap-good", &["ami-good"]),
            item(ItemKind::Snapshot, "snap-orphan", &[]),
            item(ItemKind::Image, "ami-panics", &[]),
        ];
        let deleter = |_region: Arc<str>, _target: Target, id: Arc<str>| async move {
            let outcome = match &*id {
                "ami-bad" => Deleted::Failed {
                    error: "UnauthorizedOperation: no".into(),
                },
                "snap-orphan" => Deleted::AlreadyGone,
                "ami-panics" => panic!("boom"),
                _ => Deleted::Deleted,
            };
            Deletion {
                outcome,
                snapshots: Vec::new(),
            }
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        let far = tokio::time::Instant::now() + std::time::Duration::from_secs(3600);
        let out = rt.block_on(apply_with(
            &todo,
            &HashSet::new(),
            2,
            far,
            &quiet(),
            deleter,
        ));
        let by_id: HashMap<&str, &AppliedResult> =
            out.iter().map(|a| (a.id.as_str(), &a.result)).collect();
        assert_eq!(out.len(), 6, "{out:?}");
        assert!(matches!(
            by_id["ami-good"],
            AppliedResult::Done {
                outcome: Deleted::Deleted
            }
        ));
        assert!(matches!(
            by_id["snap-good"],
            AppliedResult::Done {
                outcome: Deleted::Deleted
            }
        ));
        assert!(matches!(
            by_id["snap-orphan"],
            AppliedResult::Done {
                outcome: Deleted::AlreadyGone
            }
        ));
        assert!(matches!(
            by_id["snap-bad"],
            AppliedResult::NotAttempted { .. }
        ));
        assert!(matches!(
            by_id["ami-bad"],
            AppliedResult::Done {
                outcome: Deleted::Failed { .. }
            }
        ));
        assert!(matches!(
            by_id["ami-panics"],
            AppliedResult::Done {
                outcome: Deleted::Failed { .. }
            }
        ));
        let report = PruneReport {
            schema_version: PLAN_SCHEMA_VERSION,
            plan: retention::plan(&Inventory::default(), &PlanRules::default(), Utc::now()),
            as_of: None,
            applied: true,
            results: out,
            api_calls: BTreeMap::new(),
            view: Default::default(),
        };
        assert_eq!(
            report.failures().len(),
            3,
            "the failures that make prune exit 8 (and the snapshot that waited)"
        );
    }

    #[test]
    fn a_snapshot_ec2_deleted_with_its_image_takes_no_call_and_a_skipped_one_does() {
        let todo = vec![
            item(ItemKind::Image, "ami-a", &[]),
            item(ItemKind::Snapshot, "snap-gone", &["ami-a"]),
            item(ItemKind::Snapshot, "snap-skipped", &["ami-a"]),
            item(ItemKind::Image, "ami-b", &[]),
            item(ItemKind::Snapshot, "snap-b", &["ami-b"]),
        ];
        let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = Arc::clone(&calls);
        let deleter = move |_r: Arc<str>, target: Target, id: Arc<str>| {
            seen.lock().expect("lock").push((id.to_string(), target));
            async move {
                let snapshots = if &*id == "ami-a" {
                    vec![
                        ("snap-gone".to_string(), "success".to_string()),
                        ("snap-skipped".to_string(), "skipped".to_string()),
                    ]
                } else {
                    Vec::new()
                };
                Deletion {
                    outcome: Deleted::Deleted,
                    snapshots,
                }
            }
        };
        let with: HashSet<(Arc<str>, Arc<str>)> = [(Arc::from("us-east-1"), Arc::from("ami-a"))]
            .into_iter()
            .collect();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        let far = tokio::time::Instant::now() + std::time::Duration::from_secs(3600);
        let out = rt.block_on(apply_with(&todo, &with, 2, far, &quiet(), deleter));
        let mut made = calls.lock().expect("lock").clone();
        made.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            made,
            [
                (
                    "ami-a".to_string(),
                    Target::Image {
                        with_snapshots: true
                    }
                ),
                (
                    "ami-b".to_string(),
                    Target::Image {
                        with_snapshots: false
                    }
                ),
                ("snap-b".to_string(), Target::Snapshot),
                ("snap-skipped".to_string(), Target::Snapshot),
            ]
        );
        assert_eq!(out.len(), 5);
        assert!(out.iter().all(|a| matches!(
            a.result,
            AppliedResult::Done {
                outcome: Deleted::Deleted
            }
        )));
    }

    #[test]
    fn no_deletion_starts_after_the_deadline() {
        let todo = vec![
            item(ItemKind::Image, "ami-a", &[]),
            item(ItemKind::Snapshot, "snap-a", &["ami-a"]),
            item(ItemKind::Snapshot, "snap-orphan", &[]),
        ];
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let deleter = move |_r: Arc<str>, _t: Target, _id: Arc<str>| {
            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async {
                Deletion {
                    outcome: Deleted::Deleted,
                    snapshots: Vec::new(),
                }
            }
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        let out = rt.block_on(async {
            let past = tokio::time::Instant::now();
            apply_with(&todo, &HashSet::new(), 2, past, &quiet(), deleter).await
        });
        assert_eq!(
            calls.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "nothing deleted"
        );
        assert_eq!(out.len(), 3);
        assert!(
            out.iter()
                .all(|a| matches!(a.result, AppliedResult::NotAttempted { .. })),
            "{out:?}"
        );
    }
}
