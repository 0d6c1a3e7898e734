//! Sorting, grouping and joining helpers that keep the planner O(n log n)
//! and light on memory at a million images.
//!
//! Resources are ordered by (region, id) through compact keys: the region's
//! rank among the region names and a 16-byte big-endian id prefix, with the
//! full id compared only on a tie. Groups and joins sort `(hash, index)`
//! pairs and confirm equal hashes on the text itself, instead of filling
//! large hash maps whose random access (and memory) dominates at that size.
//! This owns only those mechanics; it does no I/O.

use std::hash::{BuildHasher, Hasher};

use super::fast_hash::{FastMap, FixedState};
use super::par::join;

/// The first 16 bytes of `s`, zero-padded, as a big-endian integer: ordering
/// by it never contradicts ordering by the string itself.
#[inline]
pub(crate) fn prefix(s: &str) -> u128 {
    let bytes = s.as_bytes();
    let mut word = [0u8; 16];
    let n = bytes.len().min(16);
    word[..n].copy_from_slice(&bytes[..n]);
    u128::from_be_bytes(word)
}

/// A 64-bit hash of a sequence of strings (each one delimited).
#[inline]
pub(crate) fn hash_parts(parts: &[&str]) -> u64 {
    let mut h = FixedState::default().build_hasher();
    for part in parts {
        h.write(part.as_bytes());
        h.write_u8(0xff);
    }
    h.finish()
}

/// Region names, interned as they are met and ranked in name order at the
/// end.
#[derive(Default)]
pub(crate) struct Regions<'a> {
    ids: FastMap<&'a str, u32>,
    names: Vec<&'a str>,
    last: Option<(&'a str, u32)>,
    /// Provisional id -> rank, once finished.
    ranks: Vec<u32>,
}

impl<'a> Regions<'a> {
    /// The provisional id of `name`, interning it.
    #[inline]
    fn intern(&mut self, name: &'a str) -> u32 {
        if let Some((last, id)) = self.last {
            if last == name {
                return id;
            }
        }
        let next = narrow(self.names.len());
        let id = *self.ids.entry(name).or_insert(next);
        if id == next {
            self.names.push(name);
        }
        self.last = Some((name, id));
        id
    }

    /// Ranks the interned names.
    fn finish(&mut self) {
        let mut order: Vec<u32> = (0..narrow(self.names.len())).collect();
        order.sort_unstable_by_key(|&id| self.names[id as usize]);
        self.ranks = vec![0; self.names.len()];
        for (rank, id) in order.into_iter().enumerate() {
            self.ranks[id as usize] = narrow(rank);
        }
    }
}

/// An index as `u32` (inventories are far below 4 billion resources).
#[inline]
pub(crate) fn narrow(i: usize) -> u32 {
    debug_assert!(u32::try_from(i).is_ok());
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// Sort key of one listed resource: compact, so that sorting a million of
/// them moves little memory.
#[derive(Clone, Copy)]
struct Key {
    region: u32,
    index: u32,
    prefix: u128,
}

/// The (region, id) order of one inventory list, leaving the list itself in
/// place: work that reads the resources walks them in their listed order
/// (which is also the order their data was allocated in, so memory is read
/// sequentially), and only the output follows this order.
pub(crate) struct Ordered {
    /// Listed index of the first listing of each (region, id), in
    /// (region, id) order.
    pub(crate) order: Vec<u32>,
    /// Listed index -> region rank.
    pub(crate) region: Vec<u32>,
    /// Listed index -> position in `order`; `u32::MAX` for a repeated
    /// listing, which is ignored.
    pub(crate) pos: Vec<u32>,
}

impl Ordered {
    /// Whether the listed index is the first listing of its (region, id).
    #[inline]
    pub(crate) fn live(&self, i: usize) -> bool {
        self.pos[i] != u32::MAX
    }
}

fn keys<'a, T>(
    all: &'a [T],
    regions: &mut Regions<'a>,
    key: &impl Fn(&'a T) -> (&'a str, &'a str),
) -> Vec<Key> {
    all.iter()
        .enumerate()
        .map(|(n, x)| {
            let (region, id) = key(x);
            Key {
                region: regions.intern(region),
                index: narrow(n),
                prefix: prefix(id),
            }
        })
        .collect()
}

fn order<'a, T>(
    all: &'a [T],
    mut keyed: Vec<Key>,
    ranks: &[u32],
    key: &impl Fn(&'a T) -> (&'a str, &'a str),
) -> Ordered {
    let mut region = vec![0; all.len()];
    for k in &mut keyed {
        k.region = ranks[k.region as usize];
        region[k.index as usize] = k.region;
    }
    let id = |k: &Key| key(&all[k.index as usize]).1;
    let cmp = |a: &Key, b: &Key| {
        (a.region, a.prefix)
            .cmp(&(b.region, b.prefix))
            .then_with(|| id(a).cmp(id(b)))
            .then_with(|| a.index.cmp(&b.index))
    };
    if !keyed.is_sorted_by(|a, b| cmp(a, b).is_le()) {
        keyed.sort_unstable_by(cmp);
    }
    keyed.dedup_by(|later, earlier| {
        (later.region, later.prefix) == (earlier.region, earlier.prefix) && id(later) == id(earlier)
    });
    let mut pos = vec![u32::MAX; all.len()];
    for (p, k) in keyed.iter().enumerate() {
        pos[k.index as usize] = narrow(p);
    }
    Ordered {
        order: keyed.into_iter().map(|k| k.index).collect(),
        region,
        pos,
    }
}

/// The (region, id) order of one list with its own region names: the
/// order, and the names by rank.
fn order_one<'a, T>(
    all: &'a [T],
    key: &impl Fn(&'a T) -> (&'a str, &'a str),
) -> (Ordered, Vec<&'a str>) {
    let mut regions = Regions::default();
    let keyed = keys(all, &mut regions, key);
    regions.finish();
    let ordered = order(all, keyed, &regions.ranks, key);
    let mut names = regions.names.clone();
    for (id, name) in regions.names.iter().enumerate() {
        names[regions.ranks[id] as usize] = name;
    }
    (ordered, names)
}

/// Re-ranks `ordered`'s regions from `names` (its own names by rank) to
/// `all` (a sorted superset). Ranks keep their relative order, so `order`
/// and `pos` stay valid.
fn rerank(ordered: &mut Ordered, names: &[&str], all: &[&str]) {
    let map: Vec<u32> = names
        .iter()
        .map(|n| narrow(all.binary_search(n).unwrap_or_default()))
        .collect();
    for r in &mut ordered.region {
        *r = map[*r as usize];
    }
}

/// The (region, id) order of two inventory lists, with region ranks shared
/// between them, and the region names by rank. With `parallel`, the two
/// lists are ordered at once, `b` on a scoped thread.
pub(crate) fn order_both<'a, A: Sync, B: Sync>(
    parallel: bool,
    a: &'a [A],
    key_a: impl Fn(&'a A) -> (&'a str, &'a str) + Sync,
    b: &'a [B],
    key_b: impl Fn(&'a B) -> (&'a str, &'a str) + Sync,
) -> (Ordered, Ordered, Vec<&'a str>) {
    let ((mut b, names_b), (mut a, names_a)) =
        join(parallel, || order_one(b, &key_b), || order_one(a, &key_a));
    let mut names: Vec<&str> = names_a.iter().chain(&names_b).copied().collect();
    names.sort_unstable();
    names.dedup();
    rerank(&mut a, &names_a, &names);
    rerank(&mut b, &names_b, &names);
    (a, b, names)
}

/// A small union-find over build nodes (path halving, union by size), with
/// `u32` nodes to keep it compact.
pub(crate) struct UnionFind {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl UnionFind {
    pub(crate) fn new(n: usize) -> Self {
        Self {
            parent: (0..narrow(n)).collect(),
            size: vec![1; n],
        }
    }

    pub(crate) fn find(&mut self, x: u32) -> u32 {
        let mut x = x as usize;
        while self.parent[x] as usize != x {
            let grandparent = self.parent[self.parent[x] as usize];
            self.parent[x] = grandparent;
            x = grandparent as usize;
        }
        narrow(x)
    }

    pub(crate) fn union(&mut self, a: u32, b: u32) {
        let (mut a, mut b) = (self.find(a), self.find(b));
        if a == b {
            return;
        }
        if self.size[a as usize] < self.size[b as usize] {
            std::mem::swap(&mut a, &mut b);
        }
        self.parent[b as usize] = a;
        self.size[a as usize] += self.size[b as usize];
    }

    /// Unions each pair.
    pub(crate) fn union_pairs(&mut self, pairs: &[(u32, u32)]) {
        for &(a, b) in pairs {
            self.union(a, b);
        }
    }
}

/// Pairs of nodes whose text is equal, enough to join every group of equal
/// text. `parts` hold `(hash of the text, node, text)`; equal hashes are
/// confirmed on the text. Sorts a compact `(hash, part, entry)` index rather
/// than the entries themselves.
pub(crate) fn equal_pairs<T: PartialEq + Copy>(parts: &[Vec<(u64, u32, T)>]) -> Vec<(u32, u32)> {
    let total = parts.iter().map(Vec::len).sum();
    let mut index: Vec<(u64, u32, u32)> = Vec::with_capacity(total);
    for (p, part) in parts.iter().enumerate() {
        index.extend(
            part.iter()
                .enumerate()
                .map(|(k, e)| (e.0, narrow(p), narrow(k))),
        );
    }
    index.sort_unstable();
    let entry = |&(_, p, k): &(u64, u32, u32)| parts[p as usize][k as usize];
    let mut pairs = Vec::new();
    for run in index.chunk_by(|a, b| a.0 == b.0) {
        for (k, e) in run.iter().enumerate().skip(1) {
            let (_, node, text) = entry(e);
            // Equal hashes almost always mean equal text; check anyway.
            if let Some(same) = run[..k].iter().find(|m| entry(m).2 == text) {
                pairs.push((entry(same).1, node));
            }
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_order_agrees_with_string_order() {
        let mut words = vec![
            "",
            "a",
            "a\0",
            "ab",
            "ami-0123456789abcdef0",
            "ami-0123456789abcdef1",
            "ami-0123456789abcdee9",
            "snap-1",
            "snap-10",
            "snap-9",
            "zz",
        ];
        let mut by_prefix = words.clone();
        by_prefix.sort_by(|a, b| prefix(a).cmp(&prefix(b)).then_with(|| a.cmp(b)));
        words.sort_unstable();
        assert_eq!(by_prefix, words);
    }

    #[test]
    fn first_listing_in_region_then_id_order() {
        let items = [
            ("r2", "b", 1),
            ("r1", "z", 2),
            ("r2", "a", 3),
            ("r2", "b", 4),
            ("r1", "a", 5),
        ];
        let others = [("r3", "x", 6), ("r0", "x", 7)];
        let (a, b, names) = order_both(false, &items, |x| (x.0, x.1), &others, |x| (x.0, x.1));
        assert_eq!(names, ["r0", "r1", "r2", "r3"]);
        assert_eq!(a.order, [4, 1, 2, 0]);
        assert_eq!(a.region, [2, 1, 2, 2, 1]);
        assert_eq!(a.pos, [3, 1, 2, u32::MAX, 0]);
        assert!(!a.live(3));
        assert_eq!(b.order, [1, 0]);
        assert_eq!(b.region, [3, 0]);
    }

    #[test]
    fn long_ids_with_a_common_prefix_sort_by_the_full_id() {
        let items = [
            ("r", "ami-0123456789abcdef9"),
            ("r", "ami-0123456789abcdef0"),
            ("r", "ami-0123456789abcdef5"),
            ("r", "ami-0123456789abcdef0"),
        ];
        let (a, _, _) = order_both(false, &items, |x| (x.0, x.1), &items[..0], |x| (x.0, x.1));
        assert_eq!(a.order, [1, 2, 0]);
    }

    #[test]
    fn union_equal_confirms_text() {
        let texts = ["a", "b", "a", "c", "b"];
        // Force every hash equal: only equal text may be joined.
        let keyed: Vec<(u64, u32, &str)> = (0..5).map(|i| (7, i, texts[i as usize])).collect();
        let mut uf = UnionFind::new(5);
        uf.union_pairs(&equal_pairs(&[keyed]));
        assert_eq!(uf.find(0), uf.find(2));
        assert_eq!(uf.find(1), uf.find(4));
        assert_ne!(uf.find(0), uf.find(1));
        assert_ne!(uf.find(3), uf.find(0));
    }
}
