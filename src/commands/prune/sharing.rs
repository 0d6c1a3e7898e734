//! Completing the plan: reading sharing (one attribute call per resource)
//! and EC2's image references (one call per ten images) for the plan items
//! that need them, `--concurrency` calls at once of each kind in each
//! region, re-planning as the answers come in until nothing that could
//! change the outcome lacks them. With a [`Stream`], each deletion the
//! answers have settled is handed to apply at once, while the rest is still
//! read. What needs reading, how it is merged and what is settled are the
//! pure `retention::sharing`, `retention::references` and
//! `retention::settled`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc::UnboundedSender;

use crate::aws::references::Answer;
use crate::aws::{inventory, Aws};
use crate::error::{Error, Result};
use crate::progress::{Mode, Progress};
use crate::retention::references::{needing_references, BATCH};
use crate::retention::settled::{read_order, settled_deletions, Unread};
use crate::retention::sharing::{merge_sharing, needing_sharing, ItemKey, SharingFacts};
use crate::retention::{self, BuildRanks, Inventory, ItemKind, Plan, PlanItem, PlanRules, Sharing};

/// While deletions are handed over, answers that arrive within this long of
/// the first (or four times what the last re-plan took, when that is
/// longer) are merged before prune plans again: one re-plan per answer
/// would cost more than the answers at thousands of images, and on a
/// small machine the CPU a re-plan takes is the endpoint's too. Without
/// a stream, prune re-plans once per round of reads, when all are in.
const GATHER: Duration = Duration::from_millis(500);

/// Where settled deletions go while the plan is being completed: the
/// deletions in `kinds` (region, kind) whose permissions were checked;
/// the others wait for the final plan.
pub(super) struct Stream {
    pub(super) to_apply: UnboundedSender<Vec<PlanItem>>,
    pub(super) checked: HashSet<(Arc<str>, ItemKind)>,
    /// What has been handed over, to hand nothing over twice.
    pub(super) handed: HashSet<ItemKey>,
}

impl Stream {
    fn hand_over(&mut self, plan: &Plan, ranks: &BuildRanks, unread: &Unread) {
        let mut batch: Vec<PlanItem> = Vec::new();
        // settled_deletions gives the images first: a snapshot goes only
        // once all its images went (or go in this batch), or EC2 would
        // refuse it as in use
        for i in settled_deletions(plan, ranks, unread) {
            let key = (i.kind, Arc::clone(&i.region), Arc::clone(&i.id));
            let ready = self.checked.contains(&(Arc::clone(&i.region), i.kind))
                && !self.handed.contains(&key)
                && i.depends_on.iter().all(|d| {
                    self.handed
                        .contains(&(ItemKind::Image, Arc::clone(&i.region), Arc::clone(d)))
                });
            if ready {
                self.handed.insert(key);
                batch.push(i.clone());
            }
        }
        if !batch.is_empty() {
            tracing::debug!(
                handed = batch.len(),
                so_far = self.handed.len(),
                unread_sharing = unread.sharing.len(),
                unread_references = unread.references.len(),
                "settled deletions handed to apply"
            );
            // apply gone (its receiver dropped) only means nothing more is taken
            let _ = self.to_apply.send(batch);
        }
    }
}

/// The plan the answers gave, and the error that ended the reading early,
/// if one did (the plan is then the last one made: what was handed over
/// was settled on it).
pub(super) struct Completed {
    pub(super) plan: Plan,
    pub(super) error: Option<Error>,
    /// What the [`Stream`] handed over.
    pub(super) handed: HashSet<ItemKey>,
}

/// How the reading goes: `concurrency` calls of each kind in each region,
/// progress shown as `progress`, and until `deadline` (`--timeout`), when
/// it ends with `timed_out`.
pub(super) struct Reading {
    pub(super) concurrency: usize,
    pub(super) progress: Mode,
    pub(super) deadline: tokio::time::Instant,
    pub(super) timed_out: Error,
}

/// One answer.
enum Answered {
    Sharing(ItemKey, Result<Option<Sharing>>),
    References(Arc<str>, Vec<Arc<str>>, Answer),
}

/// Plan, reading sharing and asking EC2 for the image references only where
/// they can change the outcome (see `retention::sharing` and
/// `retention::references`), until every such item has them. A failed
/// sharing read ends planning: prune never plans on a sharing it could not
/// read. A failed reference question keeps its images (their reason says
/// why); where the question cannot be asked at all (denied, not offered),
/// the plan rests on prune's own listing of uses, and a warning says so.
/// The reads go by build rank, each image's snapshots with it and the
/// orphans among them, which settles deletions soonest
/// (`retention::settled::read_order`).
pub(super) async fn plan_with_lookups(
    aws: &Aws,
    mut inv: Inventory,
    rules: &PlanRules,
    now: DateTime<Utc>,
    reading: Reading,
    mut stream: Option<Stream>,
) -> Completed {
    let Reading {
        concurrency,
        progress,
        deadline,
        timed_out,
    } = reading;
    let mut timed_out = Some(timed_out);
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let (mut plan, mut ranks) = retention::plan_ranked(&inv, rules, now, threads);
    let mut answered: HashSet<ItemKey> = HashSet::new();
    // every image asked about (answered or not): not asked again
    let mut asked_refs: HashSet<(Arc<str>, Arc<str>)> = HashSet::new();
    let mut unread = Unread::default();
    // what the last re-plan and hand-over took, and since when it runs
    let mut replan_cost = Duration::ZERO;
    let mut replanning: Option<std::time::Instant> = None;
    let mut without_references: HashSet<Arc<str>> = HashSet::new();
    let sharing_lanes = super::lanes::Lanes::new(concurrency);
    let reference_lanes = super::lanes::Lanes::new(concurrency);
    let mut set = tokio::task::JoinSet::new();
    // what each task asks, for a task that does not finish
    let mut asked: HashMap<tokio::task::Id, Answered> = HashMap::new();
    let mut p: Option<Progress> = None;
    loop {
        // ask what this plan needs and nobody asked yet
        let mut need: Vec<ItemKey> = if rules.include_shared {
            Vec::new()
        } else {
            needing_sharing(&plan, &answered)
                .into_iter()
                .filter(|k| !unread.sharing.contains(k))
                .collect()
        };
        read_order(&plan, &ranks, &mut need);
        let mut ref_ids: Vec<ItemKey> = needing_references(&plan, &asked_refs)
            .into_iter()
            .filter(|(region, _)| !without_references.contains(region))
            .flat_map(|(region, batches)| {
                batches
                    .into_iter()
                    .flatten()
                    .map(move |id| (ItemKind::Image, Arc::clone(&region), id))
            })
            .collect();
        read_order(&plan, &ranks, &mut ref_ids);
        let mut batches: Vec<(Arc<str>, Vec<Arc<str>>)> = Vec::new();
        let mut by_region: HashMap<Arc<str>, Vec<Arc<str>>> = HashMap::new();
        for (_, region, id) in ref_ids {
            let open = by_region.entry(Arc::clone(&region)).or_default();
            open.push(id);
            if open.len() == BATCH {
                batches.push((region, std::mem::take(open)));
            }
        }
        let mut rest: Vec<_> = by_region
            .into_iter()
            .filter(|(_, b)| !b.is_empty())
            .collect();
        rest.sort();
        batches.extend(rest);
        if !need.is_empty() || !batches.is_empty() {
            let more = (need.len() + batches.len()) as u64;
            match &p {
                Some(p) => p.grow(more),
                None => {
                    p = Some(Progress::start(
                        progress,
                        "reading sharing and image references",
                        more,
                    ));
                }
            }
        }
        for key in need {
            unread.sharing.insert(key.clone());
            let (aws, lane) = (aws.clone(), sharing_lanes.of(&key.1, key.0));
            let (kind, region, id) = key.clone();
            let handle = set.spawn(async move {
                let _permit = lane.acquire_owned().await;
                let sharing = match kind {
                    ItemKind::Image => inventory::image_sharing(&aws, &region, &id).await,
                    ItemKind::Snapshot => inventory::snapshot_sharing(&aws, &region, &id).await,
                };
                Answered::Sharing((kind, region, id), sharing)
            });
            asked.insert(
                handle.id(),
                Answered::Sharing(
                    key,
                    Err(Error::Other("a sharing read did not finish".into())),
                ),
            );
        }
        for (region, ids) in batches {
            for id in &ids {
                let k = (Arc::clone(&region), Arc::clone(id));
                asked_refs.insert(k.clone());
                unread.references.insert(k);
            }
            let (aws, lane) = (aws.clone(), reference_lanes.of(&region, ItemKind::Image));
            let (r, i) = (Arc::clone(&region), ids.clone());
            let handle = set.spawn(async move {
                let _permit = lane.acquire_owned().await;
                let answer = crate::aws::references::ask(&aws, &r, &i).await;
                Answered::References(r, i, answer)
            });
            asked.insert(
                handle.id(),
                Answered::References(
                    region,
                    ids,
                    Answer::Failed("the call did not finish".into()),
                ),
            );
        }
        // every read the plan needs is out now: what they cannot change goes
        if let Some(s) = &mut stream {
            s.hand_over(&plan, &ranks, &unread);
        }
        if let Some(t) = replanning.take() {
            replan_cost = t.elapsed();
        }
        if set.is_empty() {
            if let Some(p) = &p {
                p.finish();
            }
            return Completed {
                plan,
                error: None,
                handed: stream.map(|s| s.handed).unwrap_or_default(),
            };
        }
        // the first answer, and the others that come within the window of
        // it (without a stream: all of the round)
        let window = stream.is_some().then(|| GATHER.max(replan_cost * 4));
        let mut answers = Vec::new();
        let mut until: Option<tokio::time::Instant> = None;
        loop {
            let joined = tokio::select! {
                j = set.join_next_with_id() => j,
                () = tokio::time::sleep_until(until.unwrap_or(deadline)) => {
                    if until.is_some() {
                        break;
                    }
                    // --timeout: the reads still out are dropped with the set
                    if let Some(p) = &p {
                        p.finish();
                    }
                    return Completed {
                        plan,
                        error: timed_out.take(),
                        handed: stream.map(|s| s.handed).unwrap_or_default(),
                    };
                }
            };
            let Some(joined) = joined else { break };
            let answer = match joined {
                Ok((task, a)) => {
                    asked.remove(&task);
                    a
                }
                Err(e) => match asked.remove(&e.id()) {
                    Some(a) => a,
                    None => continue,
                },
            };
            answers.push(answer);
            if let Some(w) = window {
                until.get_or_insert_with(|| tokio::time::Instant::now() + w);
            }
        }
        replanning = Some(std::time::Instant::now());
        let mut facts = SharingFacts::default();
        for answer in answers {
            if let Some(p) = &p {
                p.item(true);
            }
            match answer {
                Answered::Sharing(key, result) => {
                    unread.sharing.remove(&key);
                    answered.insert(key.clone());
                    let (kind, region, id) = key;
                    match result {
                        Ok(Some(s)) => facts.insert(kind, region.to_string(), id.to_string(), s),
                        Ok(None) => facts.gone(kind, region.to_string(), id.to_string()),
                        Err(e) => {
                            // the reads still out are dropped with the set
                            if let Some(p) = &p {
                                p.finish();
                            }
                            return Completed {
                                plan,
                                error: Some(e),
                                handed: stream.map(|s| s.handed).unwrap_or_default(),
                            };
                        }
                    }
                }
                Answered::References(region, ids, answer) => {
                    for id in &ids {
                        let k = (Arc::clone(&region), Arc::clone(id));
                        unread.references.remove(&k);
                    }
                    let (uses, unavailable) = super::references::uses(&region, &ids, answer);
                    if let Some(why) = unavailable {
                        if without_references.insert(Arc::clone(&region)) {
                            tracing::warn!(
                                "DescribeImageReferences cannot be used in {region} ({why}): the plan there rests on ami-builder's own listing of instances, launch templates, launch configurations, Auto Scaling groups and channels; SSM parameters and Image Builder recipes that name an image are not seen"
                            );
                        }
                        // nothing more is asked there: its questions out
                        // are no longer waited for
                        unread.references.retain(|(r, _)| *r != region);
                    }
                    inv.usage.extend(uses);
                }
            }
        }
        merge_sharing(&mut inv, &facts);
        (plan, ranks) = retention::plan_ranked(&inv, rules, now, threads);
    }
}
