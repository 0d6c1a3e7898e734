//! Reading sharing (one attribute call per resource) for the plan items
//! that need it, `--concurrency` at a time, re-planning until nothing that
//! could change the outcome lacks its sharing. What needs reading and how it
//! is merged are the pure `retention::sharing`.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::aws::inventory;
use crate::aws::Aws;
use crate::error::{Error, Result};
use crate::progress::{Mode, Progress};
use crate::retention::sharing::{merge_sharing, needing_sharing, ItemKey, SharingFacts};
use crate::retention::{self, Inventory, ItemKind, Plan, PlanRules};

/// Plan, reading sharing only where it can change the outcome (see
/// `retention::sharing`), until every such item has it. The first failed
/// read ends planning: prune never plans on a sharing it could not read.
pub(super) async fn plan_with_sharing(
    aws: &Aws,
    mut inv: Inventory,
    rules: &PlanRules,
    now: DateTime<Utc>,
    concurrency: usize,
    progress: Mode,
) -> Result<Plan> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let mut plan = retention::plan_on(&inv, rules, now, threads);
    if rules.include_shared {
        return Ok(plan);
    }
    let mut known: HashSet<ItemKey> = HashSet::new();
    loop {
        let need = needing_sharing(&plan, &known);
        if need.is_empty() {
            return Ok(plan);
        }
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
        plan = retention::plan_on(&inv, rules, now, threads);
    }
}

/// The sharing of each of `need` (launch permissions of an image,
/// create-volume permissions of a snapshot), up to `concurrency` calls at
/// once. The first failure ends the reading (the calls still running are
/// dropped).
async fn read_sharing(
    aws: &Aws,
    need: Vec<ItemKey>,
    concurrency: usize,
    progress: &Progress,
) -> Result<SharingFacts> {
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for (kind, region, id) in need {
        let (aws, sem) = (aws.clone(), Arc::clone(&sem));
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
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
        facts.insert(kind, region, id, sharing);
    }
    Ok(facts)
}
