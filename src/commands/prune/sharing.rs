//! Reading sharing (one attribute call per resource) and EC2's image
//! references (one call per ten images) for the plan items that need them,
//! `--concurrency` calls at once of each kind in each region, re-planning
//! until nothing that could change the outcome lacks them. What needs
//! reading and how it is merged are the pure `retention::sharing` and
//! `retention::references`.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::aws::inventory;
use crate::aws::Aws;
use crate::error::{Error, Result};
use crate::progress::{Mode, Progress};
use crate::retention::references::needing_references;
use crate::retention::sharing::{merge_sharing, needing_sharing, ItemKey, SharingFacts};
use crate::retention::{self, Inventory, ItemKind, Plan, PlanRules};

/// Plan, reading sharing and asking EC2 for the image references only where
/// they can change the outcome (see `retention::sharing` and
/// `retention::references`), until every such item has them. The first
/// failed sharing read ends planning: prune never plans on a sharing it
/// could not read. A failed reference question keeps its images (their
/// reason says why); where the question cannot be asked at all (denied,
/// not offered), the plan rests on prune's own listing of uses, and a
/// warning says so.
pub(super) async fn plan_with_lookups(
    aws: &Aws,
    mut inv: Inventory,
    rules: &PlanRules,
    now: DateTime<Utc>,
    concurrency: usize,
    progress: Mode,
) -> Result<Plan> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let mut plan = retention::plan_on(&inv, rules, now, threads);
    let mut known: HashSet<ItemKey> = HashSet::new();
    let mut asked: HashSet<(Arc<str>, Arc<str>)> = HashSet::new();
    let mut without_references: HashSet<Arc<str>> = HashSet::new();
    loop {
        let mut refs = needing_references(&plan, &asked);
        refs.retain(|region, _| !without_references.contains(region));
        let need = if rules.include_shared {
            Vec::new()
        } else {
            needing_sharing(&plan, &known)
        };
        if need.is_empty() && refs.is_empty() {
            return Ok(plan);
        }
        if !refs.is_empty() {
            for (region, batches) in &refs {
                for id in batches.iter().flatten() {
                    asked.insert((Arc::clone(region), Arc::clone(id)));
                }
            }
            let batches = refs.values().map(Vec::len).sum::<usize>();
            let p = Progress::start(
                progress,
                "asking EC2 what references the images (DescribeImageReferences)",
                batches as u64,
            );
            let round = super::references::ask_all(aws, refs, concurrency, &p).await;
            p.finish();
            for (region, why) in round.unavailable {
                tracing::warn!(
                    "DescribeImageReferences cannot be used in {region} ({why}): the plan there rests on ami-builder's own listing of instances, launch templates, launch configurations, Auto Scaling groups and channels; SSM parameters and Image Builder recipes that name an image are not seen"
                );
                without_references.insert(region);
            }
            inv.usage.extend(round.usage);
        }
        if !need.is_empty() {
            known.extend(need.iter().cloned());
            let p = Progress::start(
                progress,
                "reading who images and snapshots are shared with",
                need.len() as u64,
            );
            let facts = read_sharing(aws, need, concurrency, &p).await;
            p.finish();
            let facts = facts?;
            merge_sharing(&mut inv, &facts);
        }
        plan = retention::plan_on(&inv, rules, now, threads);
    }
}

/// The sharing of each of `need` (launch permissions of an image,
/// create-volume permissions of a snapshot), up to `concurrency` calls at
/// once of each kind in each region (EC2 throttles each API in each region
/// on its own: [`super::lanes`]). The first failure ends the reading (the
/// calls still running are dropped).
async fn read_sharing(
    aws: &Aws,
    need: Vec<ItemKey>,
    concurrency: usize,
    progress: &Progress,
) -> Result<SharingFacts> {
    let lanes = super::lanes::Lanes::new(concurrency);
    let mut set = tokio::task::JoinSet::new();
    for (kind, region, id) in need {
        let (aws, lane) = (aws.clone(), lanes.of(&region, kind));
        set.spawn(async move {
            let _permit = lane.acquire_owned().await;
            let sharing = match kind {
                ItemKind::Image => inventory::image_sharing(&aws, &region, &id).await,
                ItemKind::Snapshot => inventory::snapshot_sharing(&aws, &region, &id).await,
            };
            sharing.map(|s| ((kind, region.to_string(), id.to_string()), s))
        });
    }
    let mut facts = SharingFacts::default();
    while let Some(joined) = set.join_next().await {
        let ((kind, region, id), sharing) =
            joined.map_err(|e| Error::Other(format!("a sharing check did not finish: {e}")))??;
        progress.item(true);
        match sharing {
            Some(s) => facts.insert(kind, region, id, s),
            None => facts.gone(kind, region, id),
        }
    }
    Ok(facts)
}
