//! Each image's and each snapshot's decision, from the facts, the ranks and the users.

use super::*;
use crate::retention::plan::Step;
use crate::retention::recycle_bin::{retained, RegionBin};

/// An image's decision, before it becomes a [`PlanItem`].
pub(super) struct Decision {
    pub(super) action: Action,
    pub(super) reason: Reason,
    pub(super) expires_at: Option<DateTime<Utc>>,
    pub(super) recoverable_until: Option<DateTime<Utc>>,
}

/// What the image decisions look at, besides the image.
pub(super) struct ImageContext<'p, 'a> {
    pub(super) rules: &'p PlanRules,
    pub(super) now: DateTime<Utc>,
    pub(super) usage: &'p FastMap<&'a str, Vec<&'a UsedBy>>,
    pub(super) bin: &'p BTreeMap<String, RegionBin>,
}

/// The ladder's next step for `img` and when it is due, or `None` when
/// every step configured is done (then retention decides on deletion). Each
/// step counts from the one before: deprecation from creation, disabling
/// from deprecation (or creation without `--deprecate-after`). A
/// deprecation already scheduled (`build --deprecate-after`) is waited for,
/// not moved. Disabling is the last step: once disabled, the image's own
/// retention (from its creation) decides when it goes.
pub(super) fn ladder(
    img: &Image,
    rules: &PlanRules,
    now: DateTime<Utc>,
) -> Option<(Step, DateTime<Utc>)> {
    let after = |from: DateTime<Utc>, secs: i64| {
        from.checked_add_signed(chrono::TimeDelta::seconds(secs))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    };
    let mut from = img.creation_date;
    if let Some(d) = rules.deprecate_after_secs {
        match img.deprecation_time {
            Some(t) if t <= now => from = t,
            Some(t) => return Some((Step::Deprecate, t)),
            None => return Some((Step::Deprecate, after(from, d))),
        }
    }
    if let Some(x) = rules.disable_after_secs {
        if !img.disabled {
            return Some((Step::Disable, after(from, x)));
        }
    }
    None
}

/// A deletion against the region's Recycle Bin rules: until when it stays
/// recoverable, or, with `--require-recycle-bin` and no rule that retains
/// it (or rules that could not be read), kept.
pub(super) fn against_bin(
    (action, reason): (Action, Reason),
    bin: Option<&RegionBin>,
    kind: ItemKind,
    tags: &BTreeMap<String, String>,
    rules: &PlanRules,
    now: DateTime<Utc>,
) -> (Action, Reason, Option<DateTime<Utc>>) {
    if action != Action::Delete {
        return (action, reason, None);
    }
    let days = match bin {
        Some(RegionBin::Rules { rules: r }) => Ok(retained(r, kind, tags).map(|(d, _)| d)),
        Some(RegionBin::Unreadable { error }) => {
            Err(format!("the Recycle Bin rules could not be read: {error}"))
        }
        None => Err("the Recycle Bin rules were not read".to_string()),
    };
    match days {
        Ok(Some(d)) => (
            action,
            reason,
            now.checked_add_signed(chrono::TimeDelta::days(i64::from(d))),
        ),
        Ok(None) if rules.require_recycle_bin => (
            Action::Keep,
            Reason::NotRecoverable {
                why: "no Recycle Bin rule retains it".into(),
            },
            None,
        ),
        Err(why) if rules.require_recycle_bin => {
            (Action::Keep, Reason::NotRecoverable { why }, None)
        }
        _ => (action, reason, None),
    }
}

impl<'a> ImageContext<'_, 'a> {
    /// An in-scope image's decision. `rank` is its build rank (0: none).
    pub(super) fn decide(
        &self,
        img: &'a Image,
        id: &Arc<str>,
        scoped: &Scoped<'a>,
        rank: u32,
        reader: &mut Reader<'a>,
    ) -> Decision {
        let rules = self.rules;
        let retention = reader.own(id, &img.tags, scoped.retention);
        let expires_at = retention
            .as_ref()
            .ok()
            .map(|(d, _)| expiry(img.creation_date, *d));
        let protections = |with_deregistration: bool| {
            in_use(self.usage.get(img.id.as_str()))
                .or_else(|| {
                    with_deregistration
                        .then(|| protection(img, self.now))
                        .flatten()
                })
                .or_else(|| recently_launched(img, rules, self.now))
                .or_else(|| shared(&img.sharing, rules))
                .or_else(|| pinned(scoped.keep))
        };
        let mut protection = protections(true);
        // --disable-protection: an image kept only by its (enabled)
        // deregistration protection is decided as if it had none; if that
        // deletes it, turning the protection off is its step instead
        let unprotect = rules.disable_protection
            && matches!(
                protection,
                Some(Reason::DeregistrationProtection { until: None })
            );
        if unprotect {
            protection = protections(false);
        }
        let rank = rank as usize;
        let decided = match (protection, retention) {
            (Some(reason), _) | (None, Err(reason)) => (Action::Keep, reason),
            (None, Ok(_)) if rank >= 1 && rank <= rules.keep => (
                Action::Keep,
                Reason::Newest {
                    rank,
                    keep: rules.keep,
                },
            ),
            (None, Ok(retention)) => match ladder(img, rules, self.now) {
                Some((step, at)) if at <= self.now => (step.action(), Reason::Ladder { step, at }),
                Some((step, at)) => (Action::Keep, Reason::Ladder { step, at }),
                None => by_expiry(retention, img.creation_date, self.now),
            },
        };
        let decided = match decided {
            (Action::Delete, _) if unprotect => (
                Action::Unprotect,
                Reason::Ladder {
                    step: Step::Unprotect,
                    at: self.now,
                },
            ),
            (Action::Keep, _) if unprotect => (
                Action::Keep,
                Reason::DeregistrationProtection { until: None },
            ),
            other => other,
        };
        let (action, reason, recoverable_until) = against_bin(
            decided,
            self.bin.get(img.region.as_str()),
            ItemKind::Image,
            &img.tags,
            rules,
            self.now,
        );
        Decision {
            action,
            reason,
            expires_at,
            recoverable_until,
        }
    }
}

/// Deregistration protection that EC2 would still enforce at `now`.
fn protection(img: &Image, now: DateTime<Utc>) -> Option<Reason> {
    if img.deregistration_protection {
        return Some(Reason::DeregistrationProtection { until: None });
    }
    img.deregistration_protection_until
        .filter(|t| *t > now)
        .map(|t| Reason::DeregistrationProtection { until: Some(t) })
}

/// A launch within `--unused-for` of `now`.
fn recently_launched(img: &Image, rules: &PlanRules, now: DateTime<Utc>) -> Option<Reason> {
    let secs = rules.unused_for_secs?;
    let at = img.last_launched?;
    (now.signed_duration_since(at).num_seconds() < secs).then_some(Reason::RecentlyLaunched {
        at,
        unused_for_secs: secs,
    })
}

/// One thread's copies of the region and family names, so that threads do
/// not contend on one reference count.
pub(super) struct Names {
    pub(super) regions: Vec<Arc<str>>,
    pub(super) families: Vec<Arc<str>>,
}

impl Names {
    pub(super) fn new(regions: &[&str], families: &[&str]) -> Self {
        Self {
            regions: regions.iter().map(|&r| Arc::from(r)).collect(),
            families: families.iter().map(|&f| Arc::from(f)).collect(),
        }
    }

    pub(super) fn family(&self, fid: u32) -> Option<Arc<str>> {
        (fid != NO_FAMILY).then(|| Arc::clone(&self.families[fid as usize]))
    }
}

/// What the snapshot decisions look at, besides the snapshot.
pub(super) struct SnapshotContext<'p, 'a> {
    pub(super) rules: &'p PlanRules,
    pub(super) now: DateTime<Utc>,
    pub(super) images: &'a [Image],
    pub(super) scoped: &'p [Scoped<'a>],
    pub(super) deleted: &'p [bool],
    /// The id of each in-scope image's item.
    pub(super) image_ids: &'p [Option<Arc<str>>],
    pub(super) family: &'p [u32],
    pub(super) region: &'p [u32],
    pub(super) usage: &'p FastMap<&'a str, Vec<&'a UsedBy>>,
    pub(super) instances: &'p FastMap<&'a str, &'a Instance>,
    pub(super) family_filter: &'p FastMap<&'a str, ()>,
    pub(super) users: &'p SnapshotUsers,
    pub(super) bin: &'p BTreeMap<String, RegionBin>,
}

impl<'a> SnapshotContext<'_, 'a> {
    pub(super) fn family_ok(&self, f: Option<&str>) -> bool {
        self.family_filter.is_empty() || f.is_some_and(|f| self.family_filter.contains_key(f))
    }

    /// The snapshot's item, or `None` when it is out of scope.
    pub(super) fn item(
        &self,
        s: usize,
        snap: &'a Snapshot,
        names: &Names,
        reader: &mut Reader<'a>,
    ) -> Option<PlanItem> {
        let rules = self.rules;
        let users = self.users.of(s);
        let f = Facts::read(&snap.tags, rules);
        let of_scoped_image = users.iter().any(|&i| self.scoped[i as usize].in_scope);
        let orphan_ours = users.is_empty() && f.ours && self.family_ok(f.family);
        let scheduler_in = rules.scheduler_snapshots && f.scheduler_marker;
        if !(of_scoped_image || orphan_ours || scheduler_in) {
            return None;
        }
        let id: Arc<str> = Arc::from(snap.id.as_str());
        // The scheduler's: its marker, or its description.
        let scheduler =
            f.scheduler_marker || source_instance_from_description(&snap.description).is_some();
        let retention = if scheduler && rules.scheduler_snapshots {
            reader.of_source_instance(snap, self.instances)
        } else {
            reader.own(&id, &snap.tags, f.retention)
        };
        let expires_at = retention
            .as_ref()
            .ok()
            .map(|(d, _)| expiry(snap.start_time, *d));
        let protection = (scheduler && !rules.scheduler_snapshots)
            .then_some(Reason::SchedulerSnapshot)
            .or_else(|| {
                let kept: Vec<String> = users
                    .iter()
                    .filter(|&&i| !self.deleted[i as usize])
                    .map(|&i| self.images[i as usize].id.to_string())
                    .collect();
                (!kept.is_empty()).then_some(Reason::UsedByImage { images: kept })
            })
            .or_else(|| in_use(self.usage.get(snap.id.as_str())))
            .or_else(|| shared(&snap.sharing, rules))
            .or_else(|| pinned(f.keep));
        let decided = match (protection, retention) {
            (Some(reason), _) | (None, Err(reason)) => (Action::Keep, reason),
            (None, Ok(retention)) => by_expiry(retention, snap.start_time, self.now),
        };
        let (action, reason, recoverable_until) = against_bin(
            decided,
            self.bin.get(snap.region.as_str()),
            ItemKind::Snapshot,
            &snap.tags,
            rules,
            self.now,
        );
        let depends_on = if action == Action::Delete {
            users
                .iter()
                .map(|&i| match &self.image_ids[i as usize] {
                    Some(id) => Arc::clone(id),
                    None => Arc::from(self.images[i as usize].id.as_str()),
                })
                .collect()
        } else {
            Vec::new()
        };
        let family = match f.family {
            Some(name) => Some(reader.shared(name)),
            None => users
                .iter()
                .find_map(|&i| names.family(self.family[i as usize])),
        };
        Some(PlanItem {
            kind: ItemKind::Snapshot,
            region: Arc::clone(&names.regions[self.region[s] as usize]),
            id,
            family,
            name: None,
            created: Some(snap.start_time),
            action,
            reason,
            expires_at,
            size_gib: Some(snap.volume_size_gib),
            depends_on,
            recoverable_until,
        })
    }
}
