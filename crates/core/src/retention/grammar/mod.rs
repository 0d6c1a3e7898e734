//! The EBS Snapshot Scheduler's tag grammar, reproduced exactly, and the
//! retention arithmetic built on it.
//!
//! This module owns: which tags count (`matching_tags`), how one tag value is
//! split into time / retention / zone / days (`parse_value`), what is wrong
//! with a value (`check_value`, turned into user-facing findings by
//! [`super::lint`]), how a resource's retention is read from all its tags
//! (`retention_days_for`), how the scheduler's own snapshots are recognised,
//! and `expiry`.
//!
//! It is pure: no AWS calls, no clock, no environment, no I/O.
//!
//! # The grammar (as the scheduler reads it)
//! * A tag counts when its key starts with the configured prefix
//!   (case-sensitive); each matching tag is read on its own.
//! * The value is split on `;` with no trimming.
//!   * 1 field: `default` or `true` (any case) is the default time, anything
//!     else is the time.
//!   * 2 fields: `time;retention` if the second field is an integer, else
//!     `time;zone`.
//!   * 3 fields: `time;retention;zone` if the second field is an integer, else
//!     `time;zone;days`.
//!   * 4 or more: `time;retention;zone;days`, extra fields ignored; a
//!     non-integer retention is an error.
//! * Missing fields take the defaults (2330, 15 days, `UTC`, `all`).
//! * `none` or an empty value means "exclude".
//!
//! "Integer" here means one or more ASCII digits and nothing else. Where the
//! scheduler's own notion might be looser (a sign, surrounding spaces), the
//! value also carries an error-level [`Issue`] (whitespace, a zone without
//! `/`), so such values are treated as malformed and never make anything
//! deletable.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Bound;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

mod check;
mod issue;

pub use check::*;
pub use issue::*;

/// The scheduler's default tag name, used as a key prefix.
pub const DEFAULT_TAG_PREFIX: &str = crate::tags::SCHEDULER;
/// The value the scheduler writes on the snapshots it creates.
pub const SCHEDULER_MARKER: &str = "auto_delete";
/// How the scheduler's snapshot descriptions begin.
pub const SCHEDULER_DESCRIPTION_PREFIX: &str = "Created by EBSSnapshotScheduler from ";

/// The tag name and the defaults that missing fields take.
///
/// These mirror the scheduler's deployment parameters (`--retention-tag`,
/// `--default-retention-days`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetentionConfig {
    /// Tag keys starting with this (case-sensitive) are read.
    pub tag_prefix: String,
    /// Snapshot time used for `default`/`true` and when no time is given.
    pub default_time: String,
    /// Retention used when a value gives none, and for untagged resources.
    pub default_retention_days: u32,
    /// Time zone used when a value gives none.
    pub default_tz: String,
    /// Active days used when a value gives none.
    pub default_days: String,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            tag_prefix: DEFAULT_TAG_PREFIX.to_string(),
            default_time: "2330".to_string(),
            default_retention_days: 15,
            default_tz: "UTC".to_string(),
            default_days: "all".to_string(),
        }
    }
}

/// Whether a field's value was written in the tag or came from the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    Given,
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Given => "given",
            Origin::Default => "default",
        })
    }
}

/// Which of the grammar's shapes a value was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Form {
    /// One field: the time (or `default`/`true`).
    Time,
    /// Two fields, the second an integer.
    TimeRetention,
    /// Two fields, the second not an integer.
    TimeZone,
    /// Three fields, the second an integer.
    TimeRetentionZone,
    /// Three fields, the second not an integer.
    TimeZoneDays,
    /// Four or more fields; anything past the fourth is ignored.
    TimeRetentionZoneDays,
}

impl fmt::Display for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Form::Time => "time",
            Form::TimeRetention => "time;retention",
            Form::TimeZone => "time;zone",
            Form::TimeRetentionZone => "time;retention;zone",
            Form::TimeZoneDays => "time;zone;days",
            Form::TimeRetentionZoneDays => "time;retention;zone;days",
        })
    }
}

/// One tag value as the scheduler reads it, defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    /// Snapshot time `HHMM`, exactly as given (or the default time).
    pub time: String,
    /// Retention in days.
    pub retention_days: u32,
    /// Time zone name, as given.
    pub tz: String,
    /// Active days, as given.
    pub days: String,
    /// The shape the value was read as.
    pub form: Form,
    pub time_origin: Origin,
    pub retention_origin: Origin,
    pub tz_origin: Origin,
    pub days_origin: Origin,
    /// Fields past the fourth, which the scheduler ignores.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<String>,
}

/// A value the scheduler cannot read as a schedule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "kebab-case")]
pub enum GrammarError {
    /// `none` or empty: the scheduler's "exclude this resource".
    #[error("the value {value:?} means \"exclude\", not a schedule")]
    Excluded { value: String },
    /// The 4-field form with a retention that is not an integer.
    #[error("retention {field:?} is not an integer")]
    NonIntegerRetention { field: String },
    /// An integer retention too large to represent.
    #[error("retention {field:?} is out of range")]
    RetentionOutOfRange { field: String },
}

/// The raw fields of a value, assigned to their roles by the field rules.
struct Split<'v> {
    form: Form,
    time: &'v str,
    retention: Option<&'v str>,
    zone: Option<&'v str>,
    days: Option<&'v str>,
    extra: Vec<&'v str>,
}

/// The scheduler's integer test: one or more ASCII digits, nothing else.
fn is_integer(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_default_time(s: &str) -> bool {
    s.eq_ignore_ascii_case("default") || s.eq_ignore_ascii_case("true")
}

fn split(value: &str) -> Split<'_> {
    let mut fields = value.split(';');
    // `split` always yields at least one item.
    let time = fields.next().unwrap_or("");
    let rest: Vec<&str> = fields.collect();
    match rest.as_slice() {
        [] => Split {
            form: Form::Time,
            time,
            retention: None,
            zone: None,
            days: None,
            extra: Vec::new(),
        },
        [second] if is_integer(second) => Split {
            form: Form::TimeRetention,
            time,
            retention: Some(second),
            zone: None,
            days: None,
            extra: Vec::new(),
        },
        [second] => Split {
            form: Form::TimeZone,
            time,
            retention: None,
            zone: Some(second),
            days: None,
            extra: Vec::new(),
        },
        [second, third] if is_integer(second) => Split {
            form: Form::TimeRetentionZone,
            time,
            retention: Some(second),
            zone: Some(third),
            days: None,
            extra: Vec::new(),
        },
        [second, third] => Split {
            form: Form::TimeZoneDays,
            time,
            retention: None,
            zone: Some(second),
            days: Some(third),
            extra: Vec::new(),
        },
        [second, third, fourth, extra @ ..] => Split {
            form: Form::TimeRetentionZoneDays,
            time,
            retention: Some(second),
            zone: Some(third),
            days: Some(fourth),
            extra: extra.to_vec(),
        },
    }
}

/// `true` for the values that mean "exclude": `none` (any case) or empty.
pub fn is_exclusion(value: &str) -> bool {
    value.is_empty() || value.eq_ignore_ascii_case("none")
}

/// Reads one tag value exactly as the scheduler does, filling in defaults.
///
/// Errors only where the scheduler cannot read a schedule at all: an
/// exclusion value, or a 4-field value whose retention is not an integer
/// (plus an integer too large to hold). Everything else the scheduler
/// accepts, however odd, is returned; use [`check_value`] or
/// [`parse_strict`] to find out whether it is well-formed.
pub fn parse_value(value: &str, cfg: &RetentionConfig) -> Result<ScheduleSpec, GrammarError> {
    if is_exclusion(value) {
        return Err(GrammarError::Excluded {
            value: value.to_string(),
        });
    }
    let s = split(value);
    let (time, time_origin) = if is_default_time(s.time) {
        (cfg.default_time.clone(), Origin::Default)
    } else {
        (s.time.to_string(), Origin::Given)
    };
    let (retention_days, retention_origin) = match s.retention {
        None => (cfg.default_retention_days, Origin::Default),
        Some(r) if !is_integer(r) => {
            return Err(GrammarError::NonIntegerRetention {
                field: r.to_string(),
            })
        }
        Some(r) => match r.parse::<u32>() {
            Ok(days) => (days, Origin::Given),
            Err(_) => {
                return Err(GrammarError::RetentionOutOfRange {
                    field: r.to_string(),
                })
            }
        },
    };
    let (tz, tz_origin) = match s.zone {
        Some(z) => (normalize_zone(z), Origin::Given),
        None => (cfg.default_tz.clone(), Origin::Default),
    };
    let (days, days_origin) = match s.days {
        Some(d) => (d.to_string(), Origin::Given),
        None => (cfg.default_days.clone(), Origin::Default),
    };
    Ok(ScheduleSpec {
        time,
        retention_days,
        tz,
        days,
        form: s.form,
        time_origin,
        retention_origin,
        tz_origin,
        days_origin,
        extra: s.extra.iter().map(|e| e.to_string()).collect(),
    })
}

/// Reads a value and insists that it is well-formed: `Err` with the first
/// error-level [`Issue`] (or [`Issue::Excluded`]) otherwise.
pub fn parse_strict(value: &str, cfg: &RetentionConfig) -> Result<ScheduleSpec, Issue> {
    let issues = check_value(value, cfg);
    if let Some(first) = issues
        .into_iter()
        .find(|i| i.is_error() || *i == Issue::Excluded)
    {
        return Err(first);
    }
    parse_value(value, cfg).map_err(|e| match e {
        GrammarError::Excluded { .. } => Issue::Excluded,
        GrammarError::NonIntegerRetention { field } => Issue::RetentionNotInteger { text: field },
        GrammarError::RetentionOutOfRange { field } => Issue::RetentionOutOfRange { text: field },
    })
}

/// The tags whose key starts with the configured prefix (case-sensitive), in
/// key order.
pub fn matching_tags<'a>(
    tags: &'a BTreeMap<String, String>,
    cfg: &'a RetentionConfig,
) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
    tags_with_prefix(tags, &cfg.tag_prefix)
}

/// The tags whose key starts with `prefix` (case-sensitive), in key order.
pub fn tags_with_prefix<'a>(
    tags: &'a BTreeMap<String, String>,
    prefix: &'a str,
) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
    tags.range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
        .take_while(move |(k, _)| k.starts_with(prefix))
        .map(|(k, v)| (k.as_str(), v.as_str()))
}

/// How a resource's retention reads from all of its matching tags.
///
/// `S` is the string type of the tag's key and value: owned by default,
/// borrowed from the tags in [`combine_retention_ref`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum RetentionOutcome<S = String> {
    /// No matching tag: the configured default applies.
    Default { days: u32 },
    /// The longest retention among the matching, well-formed tags.
    Tagged { days: u32, key: S, value: S },
    /// A matching tag says `none` or is empty: exclude (keep).
    Excluded { key: S, value: S },
    /// A matching tag is malformed: nothing is guessed (keep).
    Invalid { key: S, value: S, issue: Issue },
}

impl<S> RetentionOutcome<S> {
    /// The retention in days, when it could be read.
    pub fn days(&self) -> Option<u32> {
        match self {
            RetentionOutcome::Default { days } | RetentionOutcome::Tagged { days, .. } => {
                Some(*days)
            }
            RetentionOutcome::Excluded { .. } | RetentionOutcome::Invalid { .. } => None,
        }
    }
}

impl RetentionOutcome<&str> {
    /// The same outcome with owned strings.
    pub fn to_owned_strings(&self) -> RetentionOutcome {
        match self {
            RetentionOutcome::Default { days } => RetentionOutcome::Default { days: *days },
            RetentionOutcome::Tagged { days, key, value } => RetentionOutcome::Tagged {
                days: *days,
                key: key.to_string(),
                value: value.to_string(),
            },
            RetentionOutcome::Excluded { key, value } => RetentionOutcome::Excluded {
                key: key.to_string(),
                value: value.to_string(),
            },
            RetentionOutcome::Invalid { key, value, issue } => RetentionOutcome::Invalid {
                key: key.to_string(),
                value: value.to_string(),
                issue: issue.clone(),
            },
        }
    }
}

/// Reads a resource's retention from its tags.
///
/// An exclusion (`none`/empty) on any matching tag wins; otherwise any
/// malformed matching tag makes the outcome [`RetentionOutcome::Invalid`]
/// (never guessed: a malformed tag must not make something deletable);
/// otherwise the longest retention among the matching tags (the first key in
/// order on a tie); with no matching tag, the default.
pub fn retention_days_for(
    tags: &BTreeMap<String, String>,
    cfg: &RetentionConfig,
) -> RetentionOutcome {
    combine_retention(matching_tags(tags, cfg), cfg, |value| {
        parse_strict(value, cfg).map(|spec| spec.retention_days)
    })
}

/// The rule of [`retention_days_for`] over already-matched `(key, value)`
/// tags, with `read` giving one value's retention (or its first error).
/// Lets a caller that reads many resources cache `read` per distinct value.
pub fn combine_retention<'t>(
    matching: impl IntoIterator<Item = (&'t str, &'t str)>,
    cfg: &RetentionConfig,
    read: impl FnMut(&'t str) -> Result<u32, Issue>,
) -> RetentionOutcome {
    combine_retention_ref(matching, cfg, read).to_owned_strings()
}

/// [`combine_retention`], borrowing the key and value from the tags (no
/// allocation: the planner reads millions of resources).
pub fn combine_retention_ref<'t>(
    matching: impl IntoIterator<Item = (&'t str, &'t str)>,
    cfg: &RetentionConfig,
    mut read: impl FnMut(&'t str) -> Result<u32, Issue>,
) -> RetentionOutcome<&'t str> {
    let mut best: Option<(u32, &str, &str)> = None;
    let mut invalid: Option<(&str, &str, Issue)> = None;
    for (key, value) in matching {
        if is_exclusion(value) {
            return RetentionOutcome::Excluded { key, value };
        }
        match read(value) {
            Ok(days) => {
                if best.is_none_or(|(d, _, _)| days > d) {
                    best = Some((days, key, value));
                }
            }
            Err(issue) => {
                if invalid.is_none() {
                    invalid = Some((key, value, issue));
                }
            }
        }
    }
    match (invalid, best) {
        (Some((key, value, issue)), _) => RetentionOutcome::Invalid { key, value, issue },
        (None, Some((days, key, value))) => RetentionOutcome::Tagged { days, key, value },
        (None, None) => RetentionOutcome::Default {
            days: cfg.default_retention_days,
        },
    }
}

/// Whether any matching tag carries the scheduler's `auto_delete` marker.
pub fn has_scheduler_marker(tags: &BTreeMap<String, String>, cfg: &RetentionConfig) -> bool {
    matching_tags(tags, cfg).any(|(_, v)| v == SCHEDULER_MARKER)
}

/// Whether a snapshot is the scheduler's: it carries the `auto_delete`
/// marker on a matching tag, or its description is the scheduler's
/// (`Created by EBSSnapshotScheduler from vol-...(i-...) at ...`).
pub fn is_scheduler_snapshot(
    tags: &BTreeMap<String, String>,
    description: &str,
    cfg: &RetentionConfig,
) -> bool {
    has_scheduler_marker(tags, cfg) || source_instance_from_description(description).is_some()
}

fn is_resource_id(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix)
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The source instance id in a scheduler snapshot's description
/// `Created by EBSSnapshotScheduler from vol-...(i-...) at ...`.
pub fn source_instance_from_description(description: &str) -> Option<String> {
    let rest = description.strip_prefix(SCHEDULER_DESCRIPTION_PREFIX)?;
    let (volume, rest) = rest.split_once('(')?;
    let (instance, rest) = rest.split_once(')')?;
    if is_resource_id(volume, "vol-") && is_resource_id(instance, "i-") && rest.starts_with(" at ")
    {
        Some(instance.to_string())
    } else {
        None
    }
}

/// When a resource created at `created` with `days` of retention expires:
/// `created + days x 24 h` (UTC). Saturates at the latest representable time.
pub fn expiry(created: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    TimeDelta::try_days(i64::from(days))
        .and_then(|d| created.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests;
