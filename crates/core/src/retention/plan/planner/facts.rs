//! What the planner reads of one resource: its tags in one pass, its protections (in use,
//! shared, pinned), and its retention, each distinct tag value read once.

use super::*;

pub(super) fn pinned(keep: Option<&str>) -> Option<Reason> {
    let value = keep?;
    if value.trim().eq_ignore_ascii_case("false") {
        None
    } else {
        Some(Reason::Pinned {
            value: value.to_string(),
        })
    }
}

/// `family` entry of an image without a family (or out of scope).
pub(super) const NO_FAMILY: u32 = u32::MAX;

/// What the planner reads from one resource's tags, gathered in one pass.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Facts<'a> {
    /// Non-empty family tag.
    pub(super) family: Option<&'a str>,
    /// Non-empty run-UUID tag.
    pub(super) uuid: Option<&'a str>,
    /// Non-empty source-image tag.
    pub(super) source: Option<&'a str>,
    /// The keep tag, any value.
    pub(super) keep: Option<&'a str>,
    /// The tags matching the retention prefix.
    pub(super) retention: RetentionTags<'a>,
    /// Some matching retention tag is the scheduler's `auto_delete`.
    pub(super) scheduler_marker: bool,
    /// Some tag is under our own prefix.
    pub(super) ours: bool,
}

/// The retention tags of one resource, as the tag pass found them: the
/// common case of one tag is read without searching the tags again.
#[derive(Debug, Default, Clone, Copy)]
pub(super) enum RetentionTags<'a> {
    #[default]
    None,
    One(&'a str, &'a str),
    Several,
}

impl RetentionTags<'_> {
    pub(super) fn any(self) -> bool {
        !matches!(self, RetentionTags::None)
    }
}

impl<'a> Facts<'a> {
    pub(super) fn read(tags: &'a BTreeMap<String, String>, rules: &PlanRules) -> Self {
        let mut f = Facts::default();
        let some = |v: &'a str| (!v.is_empty()).then_some(v);
        for (key, value) in tags {
            let (key, value) = (key.as_str(), value.as_str());
            if key == rules.family_tag {
                f.family = some(value);
            } else if key == rules.run_uuid_tag {
                f.uuid = some(value);
            } else if key == rules.source_image_tag {
                f.source = some(value);
            }
            if key == rules.keep_tag {
                f.keep = Some(value);
            }
            if key.starts_with(&rules.retention.tag_prefix) {
                f.retention = match f.retention {
                    RetentionTags::None => RetentionTags::One(key, value),
                    _ => RetentionTags::Several,
                };
                f.scheduler_marker |= value == SCHEDULER_MARKER;
            }
            f.ours |= key.starts_with(&rules.tag_prefix_ours);
        }
        f
    }
}

/// A known use first; else a source that could not answer for the image.
pub(super) fn in_use(uses: Option<&Vec<&UsedBy>>) -> Option<Reason> {
    let uses = uses?;
    let by: Vec<String> = uses
        .iter()
        .filter(|u| u.protects() && !matches!(u, UsedBy::Unknown { .. }))
        .map(|u| u.to_string())
        .collect();
    if !by.is_empty() {
        return Some(Reason::InUse { by });
    }
    let errors: Vec<String> = uses
        .iter()
        .filter(|u| matches!(u, UsedBy::Unknown { .. }))
        .map(|u| u.to_string())
        .collect();
    (!errors.is_empty()).then_some(Reason::UseUnknown { errors })
}

pub(super) fn shared(sharing: &Sharing, rules: &PlanRules) -> Option<Reason> {
    (!rules.include_shared && sharing.is_shared()).then(|| Reason::Shared {
        with: sharing.describe(),
    })
}

/// A readable retention, or the protection that stands in for it.
pub(super) type Retention = Result<(u32, RetentionSource), Reason>;

/// Reads retentions, remembering each distinct tag value's reading (a
/// million resources usually share a handful of values) and sharing one
/// copy of each tag key and value among the items.
pub(super) struct Reader<'a> {
    pub(super) cfg: &'a RetentionConfig,
    pub(super) memo: FastMap<&'a str, Result<u32, Issue>>,
    pub(super) strings: FastMap<&'a str, Arc<str>>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(cfg: &'a RetentionConfig) -> Self {
        Self {
            cfg,
            memo: map_with_capacity(64),
            strings: map_with_capacity(64),
        }
    }

    pub(super) fn shared(&mut self, s: &'a str) -> Arc<str> {
        Arc::clone(self.strings.entry(s).or_insert_with(|| Arc::from(s)))
    }

    pub(super) fn tag(&mut self, on: &Arc<str>, key: &'a str, value: &'a str) -> Box<TagRef> {
        Box::new(TagRef {
            on: Arc::clone(on),
            key: self.shared(key),
            value: self.shared(value),
        })
    }

    /// A resource's own retention from its retention tags (without one, the
    /// default applies).
    pub(super) fn own(
        &mut self,
        on: &Arc<str>,
        tags: &'a BTreeMap<String, String>,
        found: RetentionTags<'a>,
    ) -> Retention {
        let cfg = self.cfg;
        let memo = &mut self.memo;
        let read = |value| {
            memo.entry(value)
                .or_insert_with(|| parse_strict(value, cfg).map(|spec| spec.retention_days))
                .clone()
        };
        let outcome = match found {
            RetentionTags::None => {
                return Ok((cfg.default_retention_days, RetentionSource::Default))
            }
            RetentionTags::One(key, value) => {
                combine_retention_ref(std::iter::once((key, value)), cfg, read)
            }
            RetentionTags::Several => combine_retention_ref(matching_tags(tags, cfg), cfg, read),
        };
        match outcome {
            RetentionOutcome::Default { days } => Ok((days, RetentionSource::Default)),
            RetentionOutcome::Tagged { days, key, value } => {
                Ok((days, RetentionSource::Tag(self.tag(on, key, value))))
            }
            RetentionOutcome::Excluded { key, value } => {
                Err(Reason::RetentionExcluded(self.tag(on, key, value)))
            }
            RetentionOutcome::Invalid { key, value, issue } => {
                Err(Reason::RetentionInvalid(Box::new(InvalidTag {
                    on: Arc::clone(on),
                    key: self.shared(key),
                    value: self.shared(value),
                    issue,
                })))
            }
        }
    }

    /// A scheduler snapshot's retention, from its source instance's tags.
    pub(super) fn of_source_instance(
        &mut self,
        snapshot: &Snapshot,
        instances: &FastMap<&str, &'a Instance>,
    ) -> Retention {
        let Some(instance) = source_instance_from_description(&snapshot.description) else {
            return Err(Reason::SchedulerSourceUnknown);
        };
        let Some(found) = instances.get(instance.as_str()) else {
            return Ok((
                self.cfg.default_retention_days,
                RetentionSource::InstanceGone { instance },
            ));
        };
        match self.own(
            &Arc::from(instance.as_str()),
            &found.tags,
            RetentionTags::Several,
        )? {
            (days, RetentionSource::Tag(tag)) => Ok((days, RetentionSource::InstanceTag(tag))),
            (days, _) => Ok((days, RetentionSource::InstanceUntagged { instance })),
        }
    }
}
