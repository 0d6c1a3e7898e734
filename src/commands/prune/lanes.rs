//! `--concurrency` per lane: one lane for each kind of per-resource call in
//! each region (deregistering images, deleting snapshots, reading an
//! image's or a snapshot's sharing). EC2 throttles each API in each region
//! with a bucket of its own, so calls of one lane waiting out their
//! throttling (inside the SDK's adaptive retries) must not hold the places
//! of another lane's calls, which EC2 would still answer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use crate::retention::ItemKind;

/// A lane: a region and a kind of call.
type Lane = (Arc<str>, ItemKind);

/// The semaphores of the lanes, each created on first use with
/// `concurrency` places.
#[derive(Debug)]
pub(super) struct Lanes {
    concurrency: usize,
    lanes: Mutex<HashMap<Lane, Arc<Semaphore>>>,
}

impl Lanes {
    pub(super) fn new(concurrency: usize) -> Lanes {
        Lanes {
            concurrency: concurrency.max(1),
            lanes: Mutex::new(HashMap::new()),
        }
    }

    /// The semaphore of the calls about `kind` in `region`.
    pub(super) fn of(&self, region: &Arc<str>, kind: ItemKind) -> Arc<Semaphore> {
        let mut lanes = self
            .lanes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(
            lanes
                .entry((Arc::clone(region), kind))
                .or_insert_with(|| Arc::new(Semaphore::new(self.concurrency))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_region_and_kind_has_its_own_places() {
        let lanes = Lanes::new(2);
        let east: Arc<str> = Arc::from("us-east-1");
        let west: Arc<str> = Arc::from("us-west-2");
        let a = lanes.of(&east, ItemKind::Image);
        let _held = (a.try_acquire().expect("1"), a.try_acquire().expect("2"));
        assert!(a.try_acquire().is_err(), "the lane is full");
        assert!(
            lanes.of(&east, ItemKind::Image).try_acquire().is_err(),
            "the same lane"
        );
        assert!(lanes.of(&east, ItemKind::Snapshot).try_acquire().is_ok());
        assert!(lanes.of(&west, ItemKind::Image).try_acquire().is_ok());
    }
}
