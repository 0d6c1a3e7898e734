//! The planner's hash maps: `foldhash`'s fast hasher with a fixed seed.
//!
//! The planner hashes millions of short ids (`ami-...`, `snap-...`) that come
//! from the account itself, so resistance to hash flooding is not needed and
//! the standard SipHash would be the dominant cost. A fixed seed keeps every
//! run of the planner identical (it never depends on map order, but its speed
//! then does not vary from run to run either). This owns only the aliases.

use std::collections::HashMap;
use std::hash::BuildHasher;

pub(crate) use foldhash::fast::FixedState;

pub(crate) type FastMap<K, V> = HashMap<K, V, FixedState>;

/// A 64-bit hash of a string (equal strings, equal hashes; distinct strings
/// collide with negligible probability, and callers still compare text).
#[inline]
pub(crate) fn hash_str(s: &str) -> u64 {
    FixedState::default().hash_one(s)
}

pub(crate) fn map_with_capacity<K, V>(n: usize) -> FastMap<K, V> {
    FastMap::with_capacity_and_hasher(n, FixedState::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn similar_ids_spread_over_low_bits() {
        let build = FixedState::default();
        let mut low: HashSet<u64> = HashSet::new();
        for k in 0..4096u32 {
            let id = format!("ami-{k:08x}");
            low.insert(build.hash_one(id.as_str()) & 0xfff);
        }
        // 4096 ids into 4096 low-bit buckets: expect about 63% occupied.
        assert!(low.len() > 2300, "{}", low.len());
    }

    #[test]
    fn no_collisions_among_similar_ids() {
        let build = FixedState::default();
        let mut seen: HashSet<u64> = HashSet::new();
        for k in 0..200_000u32 {
            let id = format!("snap-{k:017x}");
            seen.insert(build.hash_one(id.as_str()));
        }
        assert_eq!(seen.len(), 200_000);
    }
}
