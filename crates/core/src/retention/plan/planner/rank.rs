//! Decisions by expiry, builds grouped and ranked within each family, and which images
//! list each snapshot.

use super::*;

/// Decides by expiry, once no protection or newest rule applied.
pub(super) fn by_expiry(
    retention: (u32, RetentionSource),
    created: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (Action, Reason) {
    let (retention_days, retention) = retention;
    if expiry(created, retention_days) <= now {
        (
            Action::Delete,
            Reason::Expired {
                retention_days,
                retention,
            },
        )
    } else {
        (
            Action::Keep,
            Reason::NotExpired {
                retention_days,
                retention,
            },
        )
    }
}

/// 1-based build rank within its family for every image that has a family
/// (`family[i]`, an index into the family names, is set only for in-scope
/// images; [`NO_FAMILY`] otherwise); 0 otherwise. Indexed like
/// `images`.
///
/// `by_uuid` holds `(hash, image, (family, run UUID))`; `by_place` holds
/// `(hash, image, (family, region, id))` both for each image's own place and
/// for each copy's source-image reference (each in parts, one per range). Links count within a family
/// only: a build never spans families, so removing an image of one family
/// cannot split (and re-rank) a build of another.
pub(super) fn build_ranks<'a>(
    images: &[Image],
    ord: &Ordered,
    family: &[u32],
    by_uuid: Vec<Vec<UuidLink<'a>>>,
    by_place: Vec<Vec<PlaceLink<'a>>>,
    has_copies: bool,
    parallel: bool,
) -> Vec<u32> {
    let n = images.len();
    let mut uf = UnionFind::new(n);
    // Same run UUID: one build. A copy and its source image (or the other
    // copies of a source that is not listed): one build.
    let (same_uuid, same_place) = join(
        parallel,
        || equal_pairs(&by_uuid),
        || {
            if has_copies {
                equal_pairs(&by_place)
            } else {
                Vec::new()
            }
        },
    );
    drop((by_uuid, by_place));
    uf.union_pairs(&same_uuid);
    uf.union_pairs(&same_place);

    // Group members by (family, root) with one sort.
    let mut members: Vec<(u32, u32, u32)> = Vec::with_capacity(n);
    for (i, &fid) in family.iter().enumerate() {
        if fid != NO_FAMILY {
            members.push((fid, uf.find(narrow(i)), narrow(i)));
        }
    }
    drop(uf);
    members.sort_unstable();

    struct Build {
        family: u32,
        newest: DateTime<Utc>,
        /// The smallest member position, i.e. the smallest (region, id).
        first: u32,
        members: std::ops::Range<usize>,
    }
    let mut builds: Vec<Build> = Vec::new();
    let mut start = 0;
    while start < members.len() {
        let (fid, root, _) = members[start];
        let mut end = start;
        let mut newest = DateTime::<Utc>::MIN_UTC;
        let mut first = u32::MAX;
        while end < members.len() && members[end].0 == fid && members[end].1 == root {
            let i = members[end].2 as usize;
            newest = newest.max(images[i].creation_date);
            first = first.min(ord.pos[i]);
            end += 1;
        }
        builds.push(Build {
            family: fid,
            newest,
            first,
            members: start..end,
        });
        start = end;
    }
    builds.sort_unstable_by(|a, b| {
        a.family
            .cmp(&b.family)
            .then_with(|| b.newest.cmp(&a.newest))
            .then_with(|| a.first.cmp(&b.first))
    });
    let mut ranks = vec![0u32; n];
    let mut rank = 0;
    let mut current = None;
    for b in &builds {
        if current != Some(b.family) {
            current = Some(b.family);
            rank = 0;
        }
        rank += 1;
        for m in &members[b.members.clone()] {
            ranks[m.2 as usize] = rank;
        }
    }
    ranks
}

/// Which images list each snapshot: `users[ranges[s]]` are the (listed)
/// indices of the images that list snapshot `s`, in (region, id) order. A
/// sort-merge join on the hash of the id, confirmed on the id itself.
pub(super) struct SnapshotUsers {
    pub(super) users: Vec<u32>,
    pub(super) ranges: Vec<std::ops::Range<usize>>,
}

impl SnapshotUsers {
    pub(super) fn new(
        images: &[Image],
        img: &Ordered,
        snapshots: &[Snapshot],
        snap: &Ordered,
    ) -> Self {
        let mut out = Self {
            users: Vec::new(),
            ranges: vec![0..0; snapshots.len()],
        };
        if snapshots.is_empty() {
            return out;
        }
        // (hash of the listed id, image position, slot in its list)
        let mut listed: Vec<(u64, u32, u32)> = Vec::with_capacity(snapshots.len());
        for (i, image) in images.iter().enumerate() {
            if !img.live(i) {
                continue;
            }
            for (slot, id) in image.snapshot_ids.iter().enumerate() {
                listed.push((hash_str(id), img.pos[i], narrow(slot)));
            }
        }
        listed.sort_unstable();
        let listed_id = |e: &(u64, u32, u32)| {
            images[img.order[e.1 as usize] as usize].snapshot_ids[e.2 as usize].as_str()
        };
        let mut by_hash: Vec<(u64, u32)> = snapshots
            .iter()
            .enumerate()
            .filter(|(s, _)| snap.live(*s))
            .map(|(s, snapshot)| (hash_str(&snapshot.id), narrow(s)))
            .collect();
        by_hash.sort_unstable();
        let mut j = 0;
        for (hash, s) in by_hash {
            while j < listed.len() && listed[j].0 < hash {
                j += 1;
            }
            let start = out.users.len();
            let id = snapshots[s as usize].id.as_str();
            let mut last = None;
            for e in listed[j..].iter().take_while(|e| e.0 == hash) {
                // An image listing the same snapshot twice counts once.
                if listed_id(e) == id && last != Some(e.1) {
                    last = Some(e.1);
                    out.users.push(img.order[e.1 as usize]);
                }
            }
            out.ranges[s as usize] = start..out.users.len();
        }
        out
    }

    pub(super) fn of(&self, s: usize) -> &[u32] {
        &self.users[self.ranges[s].clone()]
    }
}
