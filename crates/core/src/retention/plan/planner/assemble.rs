//! The tag pass's per-range results, the items' sort keys, and putting the items of all
//! ranges in their final order with one in-place permutation.

use super::*;

/// Reorders `items` in place so that the item at `order[k]` ends at `k`,
/// moving each item once (cycle by cycle). `order` is used up.
pub(super) fn permute<T>(items: &mut [T], order: &mut [u32]) {
    const DONE: u32 = u32::MAX;
    for start in 0..items.len() {
        if order[start] == DONE {
            continue;
        }
        let mut k = start;
        loop {
            let source = order[k] as usize;
            order[k] = DONE;
            if source == start {
                break;
            }
            items.swap(k, source);
            k = source;
        }
    }
}

/// What the tag pass keeps of one image.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Scoped<'a> {
    pub(super) in_scope: bool,
    pub(super) retention: RetentionTags<'a>,
    pub(super) keep: Option<&'a str>,
}

/// A build link: `(hash of the text, image, text)`.
pub(super) type Link<T> = (u64, u32, T);
/// Same run: `(family, run UUID)`.
pub(super) type UuidLink<'a> = Link<(&'a str, &'a str)>;
/// Same place: `(family, region, id)`.
pub(super) type PlaceLink<'a> = Link<(&'a str, &'a str, &'a str)>;

/// One range's tag pass: each image's scope and family (an index into
/// `names`, this range's families in the order met), and its build links.
pub(super) struct TagPass<'a> {
    pub(super) scoped: Vec<Scoped<'a>>,
    pub(super) family: Vec<u32>,
    pub(super) names: Vec<&'a str>,
    pub(super) by_uuid: Vec<UuidLink<'a>>,
    pub(super) by_place: Vec<PlaceLink<'a>>,
    pub(super) has_copies: bool,
}

/// Resources below this many are planned on the calling thread alone.
pub(super) const PARALLEL_MIN: usize = 20_000;

/// (region rank, position): the order within a kind.
pub(super) fn item_key(region: u32, pos: u32) -> u64 {
    (u64::from(region) << 32) | u64::from(pos)
}

/// Items of one kind made by one thread over one range, with their sort keys
/// (`(key, index in items)`).
pub(super) struct Made {
    pub(super) items: Vec<PlanItem>,
    pub(super) keys: Vec<(u64, u32)>,
}

impl Made {
    pub(super) fn with_capacity(n: usize) -> Self {
        Self {
            items: Vec::with_capacity(n),
            keys: Vec::with_capacity(n),
        }
    }

    pub(super) fn push(&mut self, key: u64, item: PlanItem) {
        self.keys.push((key, narrow(self.items.len())));
        self.items.push(item);
    }
}

/// The items of one kind from all ranges, in (region, id) order.
pub(super) fn assemble(parts: Vec<Made>) -> Vec<PlanItem> {
    let mut parts = parts.into_iter();
    let Some(first) = parts.next() else {
        return Vec::new();
    };
    let (mut items, mut keys) = (first.items, first.keys);
    for mut part in parts {
        let offset = narrow(items.len());
        keys.extend(part.keys.iter().map(|&(k, i)| (k, i + offset)));
        items.append(&mut part.items);
    }
    if !keys.is_sorted() {
        keys.sort_unstable();
        let mut order: Vec<u32> = keys.into_iter().map(|(_, i)| i).collect();
        permute(&mut items, &mut order);
    }
    items
}
