//! A small, fast, non-cryptographic hasher for the planner's indices.
//!
//! The planner hashes millions of short ids (`ami-...`, `snap-...`) that come
//! from the account itself, so resistance to hash flooding is not needed and
//! the standard SipHash is the dominant cost. This owns only that hasher; it
//! does no I/O.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Word-at-a-time folded-multiply mixing with a murmur3 finaliser, so that
/// both the low bits (bucket index) and the high bits (control bytes) of the
/// hash depend on every input byte.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

const SEED_MUL: u64 = 0x9E37_79B9_7F4A_7C15;

impl FastHasher {
    /// Folded multiply: the full 128-bit product folded to 64 bits, so that
    /// every input bit reaches both halves of the state.
    #[inline]
    fn add(&mut self, word: u64) {
        let product = u128::from(self.0 ^ word) * u128::from(SEED_MUL);
        // Truncation is the point: fold the two halves together.
        #[allow(clippy::cast_possible_truncation)]
        let (low, high) = (product as u64, (product >> 64) as u64);
        self.0 = low ^ high;
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 56));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// A 64-bit hash of a string (equal strings, equal hashes; distinct strings
/// collide with negligible probability, and callers still compare text).
#[inline]
pub(crate) fn hash_str(s: &str) -> u64 {
    let mut h = FastHasher::default();
    h.write(s.as_bytes());
    h.finish()
}

pub(crate) fn map_with_capacity<K, V>(n: usize) -> FastMap<K, V> {
    FastMap::with_capacity_and_hasher(n, BuildHasherDefault::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    #[test]
    fn similar_ids_spread_over_low_bits() {
        let build = BuildHasherDefault::<FastHasher>::default();
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
        let build = BuildHasherDefault::<FastHasher>::default();
        let mut seen: HashSet<u64> = HashSet::new();
        for k in 0..200_000u32 {
            let id = format!("snap-{k:017x}");
            seen.insert(build.hash_one(id.as_str()));
        }
        assert_eq!(seen.len(), 200_000);
    }
}
