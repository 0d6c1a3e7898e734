//! Applying the deletions, concurrently in lanes (per kind and region), as
//! they are handed over: all at once from a finished plan, or a batch at a
//! time while prune still completes the plan (`sharing::Stream`). Images
//! and the snapshots no planned image uses start at once, each other
//! snapshot when its images are gone (EC2 refuses to delete a snapshot an
//! AMI uses). An image whose every snapshot goes with it is deregistered
//! with them (`DeleteAssociatedSnapshots`, `retention::deletion`): a
//! snapshot EC2 reports deleted then needs no call of its own, any other is
//! deleted on its own as before. One failure does not stop the rest, and no
//! deletion starts after the `--timeout` deadline.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedReceiver;

use crate::aws::ec2::{self, Deleted, Deletion, Target};
use crate::aws::Aws;
use crate::progress::Progress;
use crate::retention::deletion::{with_snapshots, SnapshotsOf};
use crate::retention::{ItemKind, PlanItem};

use super::lanes::Lanes;
use super::report::{Applied, AppliedResult};

/// Every deletion handed over through `batches` until it closes, each
/// snapshot after the images that use it. A batch holds every image that a
/// snapshot of it depends on, or an earlier batch did.
pub(super) async fn apply(
    aws: &Aws,
    batches: UnboundedReceiver<Vec<PlanItem>>,
    snapshots_of: &SnapshotsOf,
    concurrency: usize,
    deadline: tokio::time::Instant,
    progress: &Progress,
) -> Vec<Applied> {
    let aws = aws.clone();
    apply_with(
        batches,
        snapshots_of,
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

/// A channel that hands over `todo` at once and closes.
#[cfg(test)]
fn at_once(todo: Vec<PlanItem>) -> UnboundedReceiver<Vec<PlanItem>> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    if !todo.is_empty() {
        let _ = tx.send(todo);
    }
    rx
}

/// [`apply`] over any deleter (fault injection drives it in tests). Every
/// image and every snapshot that no planned image uses start when handed
/// over, each in its lane ([`Lanes`]: `concurrency` calls at a time per
/// kind and region); a snapshot that a planned image uses starts when the
/// last of those images is done, and not at all when one failed (EC2
/// refuses to delete a snapshot an AMI uses). One failure does not stop the
/// rest; a deletion task that panics counts as failed. No deletion starts
/// after `deadline` (`--timeout`): those not started are reported as not
/// attempted, so the run ends in time and still records everything it did.
async fn apply_with<D, Fut>(
    mut batches: UnboundedReceiver<Vec<PlanItem>>,
    snapshots_of: &SnapshotsOf,
    concurrency: usize,
    deadline: tokio::time::Instant,
    progress: &Progress,
    delete: D,
) -> Vec<Applied>
where
    D: Fn(Arc<str>, Target, Arc<str>) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Deletion> + Send + 'static,
{
    type Key = (Arc<str>, Arc<str>);
    let lanes = Lanes::new(concurrency);
    let mut out: Vec<Applied> = Vec::new();
    // everything handed over so far, and which of its images take their
    // snapshots along
    let mut todo: Vec<PlanItem> = Vec::new();
    let mut along: HashSet<Key> = HashSet::new();
    let mut planned_images: HashSet<Key> = HashSet::new();
    let mut image_ok: HashMap<Key, bool> = HashMap::new();
    // snapshots EC2 deleted with their image, by (region, id)
    let mut gone_with_image: HashSet<(String, String)> = HashSet::new();
    // a waiting snapshot (its index in `todo`): how many of its images are not done yet
    let mut waiting: HashMap<usize, usize> = HashMap::new();
    // an image: the snapshots that wait for it
    let mut waiters: HashMap<Key, Vec<usize>> = HashMap::new();
    let mut set = tokio::task::JoinSet::new();
    let mut spawned: HashMap<tokio::task::Id, usize> = HashMap::new();
    let spawn = |set: &mut tokio::task::JoinSet<Option<Deletion>>,
                 todo: &[PlanItem],
                 along: &HashSet<Key>,
                 idx: usize| {
        let item = &todo[idx];
        let target = match item.kind {
            ItemKind::Image => Target::Image {
                with_snapshots: along.contains(&(item.region.clone(), item.id.clone())),
            },
            ItemKind::Snapshot => Target::Snapshot,
        };
        let lane = lanes.of(&item.region, item.kind);
        let delete = delete.clone();
        let (region, id) = (item.region.clone(), item.id.clone());
        let handle = set.spawn(async move {
            let _permit = lane.acquire_owned().await;
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            Some(delete(region, target, id).await)
        });
        (handle.id(), idx)
    };
    // a snapshot whose images are all done: deleted with one of them, not
    // attempted since one failed, or its own call now
    let ready = |snap: &PlanItem,
                 image_ok: &HashMap<Key, bool>,
                 gone_with_image: &HashSet<(String, String)>|
     -> Option<AppliedResult> {
        if gone_with_image.contains(&(snap.region.to_string(), snap.id.to_string())) {
            Some(AppliedResult::Done {
                outcome: Deleted::Deleted,
            })
        } else {
            snap.depends_on
                .iter()
                .find(|d| image_ok.get(&(snap.region.clone(), Arc::clone(d))) == Some(&false))
                .map(|failed| AppliedResult::NotAttempted {
                    why: format!("its image {failed} was not deregistered"),
                })
        }
    };
    let mut open = true;
    loop {
        tokio::select! {
            batch = batches.recv(), if open => {
                let Some(batch) = batch else {
                    open = false;
                    continue;
                };
                progress.grow(batch.len() as u64);
                let first = todo.len();
                todo.extend(batch);
                planned_images.extend(
                    todo[first..]
                        .iter()
                        .filter(|i| i.kind == ItemKind::Image)
                        .map(|i| (i.region.clone(), i.id.clone())),
                );
                along = with_snapshots(&todo, snapshots_of);
                for idx in first..todo.len() {
                    let item = &todo[idx];
                    // the images it waits for: those planned and not done
                    let deps: Vec<Key> = match item.kind {
                        ItemKind::Image => Vec::new(),
                        ItemKind::Snapshot => item
                            .depends_on
                            .iter()
                            .map(|d| (item.region.clone(), Arc::clone(d)))
                            .filter(|k| planned_images.contains(k) && !image_ok.contains_key(k))
                            .collect(),
                    };
                    if deps.is_empty() {
                        if item.kind == ItemKind::Snapshot {
                            if let Some(result) = ready(item, &image_ok, &gone_with_image) {
                                progress.item(matches!(result, AppliedResult::Done { .. }));
                                out.push(Applied {
                                    kind: item.kind,
                                    region: item.region.to_string(),
                                    id: item.id.to_string(),
                                    result,
                                });
                                continue;
                            }
                        }
                        let (task, idx) = spawn(&mut set, &todo, &along, idx);
                        spawned.insert(task, idx);
                        continue;
                    }
                    waiting.insert(idx, deps.len());
                    for d in deps {
                        waiters.entry(d).or_default().push(idx);
                    }
                }
            }
            joined = set.join_next_with_id(), if !set.is_empty() => {
                let Some(joined) = joined else { continue };
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
                let Some(idx) = spawned.remove(&task) else {
                    continue;
                };
                let item = &todo[idx];
                let outcome = deletion.map(|d| {
                    for (snap, code) in d.snapshots {
                        if code == "success" {
                            gone_with_image.insert((item.region.to_string(), snap));
                        } else {
                            // skipped: another image used it at that moment; an
                            // error: EC2 could not. Either way it is deleted on its
                            // own, when the plan deletes it.
                            tracing::info!(
                                "snapshot {snap} of {} in {} was not deleted with it ({code})",
                                item.id,
                                item.region
                            );
                        }
                    }
                    d.outcome
                });
                let result = match outcome {
                    Some(outcome) => AppliedResult::Done { outcome },
                    None => AppliedResult::NotAttempted {
                        why: "--timeout ran out before it was attempted; re-run prune to finish"
                            .into(),
                    },
                };
                let done = matches!(
                    result,
                    AppliedResult::Done {
                        outcome: Deleted::Deleted | Deleted::AlreadyGone
                    }
                );
                progress.item(done);
                out.push(Applied {
                    kind: item.kind,
                    region: item.region.to_string(),
                    id: item.id.to_string(),
                    result,
                });
                if item.kind != ItemKind::Image {
                    continue;
                }
                let key = (item.region.clone(), item.id.clone());
                image_ok.insert(key.clone(), done);
                for w in waiters.remove(&key).unwrap_or_default() {
                    let Some(left) = waiting.get_mut(&w) else {
                        continue;
                    };
                    *left -= 1;
                    if *left > 0 {
                        continue;
                    }
                    waiting.remove(&w);
                    let snap = &todo[w];
                    match ready(snap, &image_ok, &gone_with_image) {
                        Some(result) => {
                            progress.item(matches!(result, AppliedResult::Done { .. }));
                            out.push(Applied {
                                kind: snap.kind,
                                region: snap.region.to_string(),
                                id: snap.id.to_string(),
                                result,
                            });
                        }
                        None => {
                            let (task, idx) = spawn(&mut set, &todo, &along, w);
                            spawned.insert(task, idx);
                        }
                    }
                }
            }
            else => break,
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

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt")
            .block_on(f)
    }

    /// A deadline no test reaches.
    fn far() -> tokio::time::Instant {
        tokio::time::Instant::now() + std::time::Duration::from_secs(3600)
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
        let out = block_on(apply_with(
            at_once(todo),
            &SnapshotsOf::new(),
            2,
            far(),
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
        let of: SnapshotsOf = [(
            ("us-east-1".to_string(), "ami-a".to_string()),
            vec!["snap-gone".to_string(), "snap-skipped".to_string()],
        )]
        .into_iter()
        .collect();
        let out = block_on(apply_with(at_once(todo), &of, 2, far(), &quiet(), deleter));
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
    fn a_snapshot_no_planned_image_uses_does_not_wait_for_the_images() {
        // The image's deletion finishes only once the orphan's has begun:
        // images and snapshots in phases would wait here forever.
        let todo = vec![
            item(ItemKind::Image, "ami-slow", &[]),
            item(ItemKind::Snapshot, "snap-of-slow", &["ami-slow"]),
            item(ItemKind::Snapshot, "snap-orphan", &[]),
        ];
        let orphan_started = Arc::new(tokio::sync::Notify::new());
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (n, l) = (Arc::clone(&orphan_started), Arc::clone(&log));
        let deleter = move |_r: Arc<str>, _t: Target, id: Arc<str>| {
            let (n, l) = (Arc::clone(&n), Arc::clone(&l));
            async move {
                l.lock().expect("lock").push(format!("start {id}"));
                match &*id {
                    "ami-slow" => n.notified().await,
                    "snap-orphan" => n.notify_one(),
                    _ => {}
                }
                l.lock().expect("lock").push(format!("end {id}"));
                Deletion {
                    outcome: Deleted::Deleted,
                    snapshots: Vec::new(),
                }
            }
        };
        let out = block_on(async {
            tokio::time::timeout(
                std::time::Duration::from_secs(20),
                apply_with(
                    at_once(todo),
                    &SnapshotsOf::new(),
                    4,
                    far(),
                    &quiet(),
                    deleter,
                ),
            )
            .await
        })
        .expect("the orphaned snapshot was deleted while the image's deletion ran");
        assert_eq!(out.len(), 3);
        let log = log.lock().expect("lock").clone();
        let at = |e: &str| log.iter().position(|x| x == e).expect(e);
        assert!(
            at("end ami-slow") < at("start snap-of-slow"),
            "the image's own snapshot waits for it: {log:?}"
        );
    }

    #[test]
    fn a_snapshot_handed_over_after_its_image_is_done_follows_what_its_image_did() {
        // the images come in one batch and finish; their snapshots come in
        // a later one, as when the snapshots' sharing is read last
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = Arc::clone(&calls);
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let deleter = move |_r: Arc<str>, _t: Target, id: Arc<str>| {
            seen.lock().expect("lock").push(id.to_string());
            let done = done_tx.clone();
            async move {
                let (outcome, snapshots) = match &*id {
                    "ami-bad" => (Deleted::Failed { error: "no".into() }, Vec::new()),
                    "ami-along" => (
                        Deleted::Deleted,
                        vec![("snap-along".to_string(), "success".to_string())],
                    ),
                    _ => (Deleted::Deleted, Vec::new()),
                };
                let _ = done.send(());
                Deletion { outcome, snapshots }
            }
        };
        let out = block_on(async move {
            let feed = async move {
                tx.send(vec![
                    item(ItemKind::Image, "ami-along", &[]),
                    item(ItemKind::Image, "ami-bad", &[]),
                    item(ItemKind::Image, "ami-alone", &[]),
                ])
                .expect("send");
                for _ in 0..3 {
                    done_rx.recv().await;
                }
                tokio::task::yield_now().await;
                tx.send(vec![
                    item(ItemKind::Snapshot, "snap-along", &["ami-along"]),
                    item(ItemKind::Snapshot, "snap-bad", &["ami-bad"]),
                    item(ItemKind::Snapshot, "snap-alone", &["ami-alone"]),
                ])
                .expect("send");
            };
            let (of, progress) = (SnapshotsOf::new(), quiet());
            let (out, ()) = tokio::join!(apply_with(rx, &of, 2, far(), &progress, deleter), feed);
            out
        });
        let by_id: HashMap<&str, &AppliedResult> =
            out.iter().map(|a| (a.id.as_str(), &a.result)).collect();
        assert_eq!(out.len(), 6, "{out:?}");
        assert!(matches!(
            by_id["snap-along"],
            AppliedResult::Done {
                outcome: Deleted::Deleted
            }
        ));
        assert!(matches!(
            by_id["snap-bad"],
            AppliedResult::NotAttempted { .. }
        ));
        let mut made = calls.lock().expect("lock").clone();
        made.sort();
        assert_eq!(made, ["ami-alone", "ami-along", "ami-bad", "snap-alone"]);
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
        let out = block_on(async {
            let past = tokio::time::Instant::now();
            apply_with(
                at_once(todo),
                &SnapshotsOf::new(),
                2,
                past,
                &quiet(),
                deleter,
            )
            .await
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
