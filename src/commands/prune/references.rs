//! Asking `DescribeImageReferences` (see [`crate::aws::references`]) about
//! the images the plan needs it for, `--concurrency` batches at a time in
//! each region.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::aws::references::{self, Answer};
use crate::aws::Aws;
use crate::progress::Progress;
use crate::retention::{Usage, UsedBy};

/// What a round of questions gave: the uses (failures as
/// [`UsedBy::Unknown`] for their images), and the regions where the action
/// cannot be used, with why.
pub(super) struct Round {
    pub(super) usage: Vec<Usage>,
    pub(super) unavailable: Vec<(Arc<str>, String)>,
}

pub(super) async fn ask_all(
    aws: &Aws,
    need: BTreeMap<Arc<str>, Vec<Vec<Arc<str>>>>,
    concurrency: usize,
    progress: &Progress,
) -> Round {
    // one lane per region: EC2 throttles DescribeImageReferences in each on its own
    let lanes = super::lanes::Lanes::new(concurrency);
    let mut set = tokio::task::JoinSet::new();
    // which batch each task asks about, for a task that does not finish
    let mut asked = std::collections::HashMap::new();
    for (region, batches) in need {
        for ids in batches {
            let (aws, sem) = (
                aws.clone(),
                lanes.of(&region, crate::retention::ItemKind::Image),
            );
            let (r, i) = (Arc::clone(&region), ids.clone());
            let handle = set.spawn(async move {
                let _permit = sem.acquire_owned().await;
                let answer = references::ask(&aws, &r, &i).await;
                (r, i, answer)
            });
            asked.insert(handle.id(), (Arc::clone(&region), ids));
        }
    }
    let mut round = Round {
        usage: Vec::new(),
        unavailable: Vec::new(),
    };
    while let Some(joined) = set.join_next().await {
        let (region, ids, answer) = match joined {
            Ok(done) => done,
            // a task that did not finish leaves its images unknown, and so
            // kept
            Err(e) => {
                let Some((region, ids)) = asked.remove(&e.id()) else {
                    continue;
                };
                (
                    region,
                    ids,
                    Answer::Failed(format!("the call did not finish: {e}")),
                )
            }
        };
        progress.item(true);
        match answer {
            Answer::Found(uses) => round.usage.extend(uses),
            Answer::Unavailable(why) => {
                if !round.unavailable.iter().any(|(r, _)| *r == region) {
                    round.unavailable.push((region, why));
                }
            }
            Answer::Failed(why) => round.usage.extend(ids.iter().map(|id| Usage {
                region: region.to_string(),
                image_id: id.to_string(),
                by: UsedBy::Unknown {
                    source: "DescribeImageReferences".into(),
                    error: why.clone(),
                },
            })),
        }
    }
    round
}
