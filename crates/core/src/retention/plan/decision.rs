//! What the planner decides for an item, and why: the [`Action`] (keep,
//! delete, or a step of the retirement ladder), and the [`Reason`] with
//! what it rests on (the retention tag read, a malformed one, where a
//! retention came from). `code` in JSON is the stable name of a reason.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::super::grammar::Issue;

/// What the plan does with an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Delete,
    Keep,
    /// The ladder's first step (`--deprecate-after`): EC2 deprecation now.
    Deprecate,
    /// Its second (`--disable-after`): `DisableImage`.
    Disable,
    /// `--disable-protection`: `DisableImageDeregistrationProtection`, so
    /// that a later run may delete it.
    Unprotect,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Delete => "delete",
            Action::Keep => "keep",
            Action::Deprecate => "deprecate",
            Action::Disable => "disable",
            Action::Unprotect => "unprotect",
        })
    }
}

/// A step of the retirement ladder before deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    Deprecate,
    Disable,
    /// Turning deregistration protection off (`--disable-protection`).
    Unprotect,
}

impl Step {
    /// The plan action that takes the step.
    pub fn action(self) -> Action {
        match self {
            Step::Deprecate => Action::Deprecate,
            Step::Disable => Action::Disable,
            Step::Unprotect => Action::Unprotect,
        }
    }

    /// The step, done (`deprecated`).
    pub fn done(self) -> &'static str {
        match self {
            Step::Deprecate => "deprecated",
            Step::Disable => "disabled",
            Step::Unprotect => "unprotected",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Deprecate => "deprecate",
            Step::Disable => "disable",
            Step::Unprotect => "unprotect",
        })
    }
}

/// One tag on one resource.
///
/// The strings are shared (`Arc<str>`): a plan of a million items holds a
/// handful of distinct tag keys and values, and `on` is the item's own id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagRef {
    /// The resource carrying the tag.
    pub on: Arc<str>,
    pub key: Arc<str>,
    pub value: Arc<str>,
}

impl fmt::Display for TagRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={:?} on {}", self.key, self.value, self.on)
    }
}

/// A malformed retention tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidTag {
    pub on: Arc<str>,
    pub key: Arc<str>,
    pub value: Arc<str>,
    /// The first error the grammar found.
    pub issue: Issue,
}

/// Where a retention came from.
///
/// Tag payloads are boxed to keep [`super::PlanItem`] small (plans can hold
/// millions of items); in JSON they are flat: `{"source": "tag", "on": ...,
/// "key": ..., "value": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "kebab-case")]
pub enum RetentionSource {
    /// No matching tag: the default.
    Default,
    /// The resource's own tag (the longest, if several).
    Tag(Box<TagRef>),
    /// A scheduler snapshot: its source instance's tag (`on` is the instance).
    InstanceTag(Box<TagRef>),
    /// A scheduler snapshot whose source instance has no matching tag.
    InstanceUntagged { instance: String },
    /// A scheduler snapshot whose source instance is gone: the default.
    InstanceGone { instance: String },
}

impl fmt::Display for RetentionSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetentionSource::Default => f.write_str("default"),
            RetentionSource::Tag(t) => write!(f, "{}={}", t.key, t.value),
            RetentionSource::InstanceTag(t) => write!(f, "{} {}={}", t.on, t.key, t.value),
            RetentionSource::InstanceUntagged { instance } => {
                write!(f, "default, {instance} untagged")
            }
            RetentionSource::InstanceGone { instance } => write!(f, "default, {instance} gone"),
        }
    }
}

/// Why an item is kept or deleted. `code` in JSON is stable kebab-case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum Reason {
    /// Used by an instance (not terminated), launch template version, launch
    /// configuration or Auto Scaling group.
    InUse {
        by: Vec<String>,
    },
    /// On, or (`until`) disabled and in its cooldown until then.
    /// Launched more recently than `--unused-for` allows.
    RecentlyLaunched {
        at: DateTime<Utc>,
        unused_for_secs: i64,
    },
    /// The retirement ladder: with an action of `deprecate` or `disable`,
    /// that step is due (since `at`); with `keep`, it is the next step, at
    /// `at`; a deletion waits for every step.
    Ladder {
        step: Step,
        at: DateTime<Utc>,
    },
    /// `--require-recycle-bin`, and no rule would retain it (`why`).
    NotRecoverable {
        why: String,
    },
    /// A source of use failed for it (`errors`: which and how): kept.
    UseUnknown {
        errors: Vec<String>,
    },
    DeregistrationProtection {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<DateTime<Utc>>,
    },
    Shared {
        with: Vec<String>,
    },
    /// The keep tag ([`super::PlanRules::keep_tag`]) is set, to anything but
    /// `false`.
    Pinned {
        value: String,
    },
    /// A retention tag says `none` or is empty: the scheduler's "exclude".
    RetentionExcluded(Box<TagRef>),
    /// A retention tag is malformed: never delete on ambiguity.
    RetentionInvalid(Box<InvalidTag>),
    /// The scheduler's snapshot, and scheduler snapshots are not in scope.
    SchedulerSnapshot,
    /// A scheduler snapshot whose description names no source instance.
    SchedulerSourceUnknown,
    /// Used by images that this plan keeps (or does not manage).
    UsedByImage {
        images: Vec<String>,
    },
    /// Among the newest `keep` builds of its family (`rank` 1 = newest).
    Newest {
        rank: usize,
        keep: usize,
    },
    Expired {
        retention_days: u32,
        retention: RetentionSource,
    },
    NotExpired {
        retention_days: u32,
        retention: RetentionSource,
    },
}

impl Reason {
    /// The stable code (as in JSON).
    pub fn code(&self) -> &'static str {
        match self {
            Reason::InUse { .. } => "in-use",
            Reason::UseUnknown { .. } => "use-unknown",
            Reason::NotRecoverable { .. } => "not-recoverable",
            Reason::Ladder { .. } => "ladder",
            Reason::RecentlyLaunched { .. } => "recently-launched",
            Reason::DeregistrationProtection { .. } => "deregistration-protection",
            Reason::Shared { .. } => "shared",
            Reason::Pinned { .. } => "pinned",
            Reason::RetentionExcluded(_) => "retention-excluded",
            Reason::RetentionInvalid(_) => "retention-invalid",
            Reason::SchedulerSnapshot => "scheduler-snapshot",
            Reason::SchedulerSourceUnknown => "scheduler-source-unknown",
            Reason::UsedByImage { .. } => "used-by-image",
            Reason::Newest { .. } => "newest",
            Reason::Expired { .. } => "expired",
            Reason::NotExpired { .. } => "not-expired",
        }
    }

    /// Whether this is a protection (rule 1), as opposed to newest, expired
    /// or not expired.
    pub fn is_protection(&self) -> bool {
        !matches!(
            self,
            Reason::Newest { .. }
                | Reason::Expired { .. }
                | Reason::NotExpired { .. }
                | Reason::Ladder { .. }
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::InUse { by } => write!(f, "in use by {}", by.join(", ")),
            Reason::RecentlyLaunched {
                at,
                unused_for_secs,
            } => {
                let age = if unused_for_secs % 86_400 == 0 {
                    format!("{}d", unused_for_secs / 86_400)
                } else {
                    format!("{}h", unused_for_secs / 3_600)
                };
                write!(
                    f,
                    "launched {} (EC2's last launch time), within --unused-for {age}",
                    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )
            }
            Reason::Ladder { step, at } => write!(
                f,
                "{step} at {} (the ladder)",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            Reason::NotRecoverable { why } => {
                write!(f, "not recoverable once deleted ({why}; --require-recycle-bin)")
            }
            Reason::UseUnknown { errors } => write!(
                f,
                "whether it is in use is not known ({}): kept, nothing is deleted on partial information",
                errors.join("; ")
            ),
            Reason::DeregistrationProtection { until: None } => {
                f.write_str("deregistration protection is on")
            }
            Reason::DeregistrationProtection { until: Some(t) } => write!(
                f,
                "deregistration protection was disabled, its cooldown ends {}",
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            Reason::Shared { with } => write!(f, "shared with {}", with.join(", ")),
            Reason::Pinned { value } => write!(f, "pinned (keep={value})"),
            Reason::RetentionExcluded(t) => write!(f, "excluded by {t}"),
            Reason::RetentionInvalid(t) => write!(
                f,
                "malformed retention tag {}={:?} on {} ({}): kept until fixed",
                t.key,
                t.value,
                t.on,
                t.issue.code()
            ),
            Reason::SchedulerSnapshot => {
                f.write_str("the scheduler's snapshot (use --scheduler-snapshots)")
            }
            Reason::SchedulerSourceUnknown => {
                f.write_str("scheduler snapshot without a source instance in its description")
            }
            Reason::UsedByImage { images } => write!(f, "used by {}", images.join(", ")),
            Reason::Newest { rank, keep } => write!(f, "newest build {rank} of {keep}"),
            Reason::Expired {
                retention_days,
                retention,
            } => write!(f, "expired ({retention_days} d, {retention})"),
            Reason::NotExpired {
                retention_days,
                retention,
            } => write!(f, "not expired ({retention_days} d, {retention})"),
        }
    }
}
