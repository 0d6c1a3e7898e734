//! Lint and explain scheduler tag values.
//!
//! This module owns the user-facing side of the grammar: it turns the
//! [`Issue`]s that [`grammar::check_value`](super::grammar::check_value)
//! finds into [`Finding`]s (severity, stable code, message, suggested fix) for
//! `ami-builder retention lint`, and builds the [`Explanation`] shown by
//! `ami-builder retention explain VALUE`.
//!
//! It is pure: no AWS calls, no clock (callers pass `now`), no environment,
//! no I/O.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::plan::Inventory;

use super::grammar::{
    check_value, expiry, is_exclusion, matching_tags, parse_strict, parse_value, Form,
    GrammarError, Issue, Origin, RetentionConfig, ScheduleSpec, SCHEDULER_MARKER,
};

/// How serious a finding is.
///
/// `Error`: the value is malformed; the scheduler does not do what it seems
/// to say, and prune keeps anything that carries it. `Warning`: the value is
/// well-formed but has an effect worth stating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// What kind of resource a tag is on (the `auto_delete` marker is expected on
/// snapshots only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TagTarget {
    Instance,
    Image,
    Snapshot,
}

/// One lint finding about one tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The region of the resource, when it was found by listing one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The resource carrying the tag; `None` when a bare value was linted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    pub key: String,
    pub value: String,
    pub severity: Severity,
    /// Stable kebab-case code, e.g. `zone-without-slash`.
    pub code: String,
    /// What is wrong and what it does.
    pub message: String,
    /// A corrected value for the whole tag, when one can be proposed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.region, &self.resource_id) {
            (Some(r), Some(id)) => write!(f, "{r} {id}: ")?,
            (None, Some(id)) => write!(f, "{id}: ")?,
            _ => {}
        }
        write!(
            f,
            "{}[{}] {}={:?}: {}",
            self.severity, self.code, self.key, self.value, self.message
        )?;
        if let Some(s) = &self.suggestion {
            write!(f, " (suggested: {s:?})")?;
        }
        Ok(())
    }
}

fn consequence(issue: &Issue) -> &'static str {
    match issue {
        Issue::Excluded => {
            "the scheduler skips this resource and prune keeps it; remove the tag if that is not meant"
        }
        Issue::SchedulerMarker => {
            "the scheduler reads it as a time that never fires; prune keeps the resource"
        }
        Issue::Whitespace { .. } => {
            "the scheduler does not trim, so the field is read as something else; prune keeps the resource"
        }
        Issue::TimeThreeDigits { .. } | Issue::TimeInvalid { .. } => {
            "the scheduler never takes a snapshot; prune keeps the resource"
        }
        Issue::TimeNeverFires { .. } => "the scheduler never fires at such a time",
        Issue::RetentionNotInteger { .. } | Issue::RetentionOutOfRange { .. } => {
            "the scheduler fails on this value; prune keeps the resource"
        }
        Issue::RetentionZero => "anything carrying it is expired as soon as it exists",
        Issue::ZoneWithoutSlash { .. } | Issue::ZoneInvalid { .. } | Issue::ZoneUnknown { .. } => {
            "the scheduler skips the whole region; prune keeps the resource"
        }
        Issue::DaysWithSpace { .. } | Issue::DaysInvalid { .. } => {
            "the scheduler never matches these days; prune keeps the resource"
        }
        Issue::ExtraFields { .. } => "the scheduler ignores them",
    }
}

fn finding(key: &str, value: &str, issue: &Issue, suggestion: Option<&String>) -> Finding {
    Finding {
        region: None,
        resource_id: None,
        key: key.to_string(),
        value: value.to_string(),
        severity: if issue.is_error() {
            Severity::Error
        } else {
            Severity::Warning
        },
        code: issue.code().to_string(),
        message: format!("{issue}: {}", consequence(issue)),
        suggestion: match issue {
            // Intentional; nothing to fix.
            Issue::Excluded => None,
            _ => suggestion.cloned(),
        },
    }
}

/// Lints one tag value. Empty for a clean value.
///
/// Every finding of a value carries the same suggestion: the whole value
/// corrected (see [`suggest_fix`]), when a correction can be proposed.
pub fn lint_value(key: &str, value: &str, cfg: &RetentionConfig) -> Vec<Finding> {
    let issues = check_value(value, cfg);
    if issues.is_empty() {
        return Vec::new();
    }
    let suggestion = suggest_fix(value, cfg);
    issues
        .iter()
        .map(|i| finding(key, value, i, suggestion.as_ref()))
        .collect()
}

/// Lints every matching tag of one resource. The `auto_delete` marker is
/// expected on snapshots and not reported there.
pub fn lint_resource(
    resource_id: &str,
    target: TagTarget,
    tags: &BTreeMap<String, String>,
    cfg: &RetentionConfig,
) -> Vec<Finding> {
    matching_tags(tags, cfg)
        .filter(|(_, v)| !(target == TagTarget::Snapshot && *v == SCHEDULER_MARKER))
        .flat_map(|(k, v)| lint_value(k, v, cfg))
        .map(|mut f| {
            f.resource_id = Some(resource_id.to_string());
            f
        })
        .collect()
}

/// Every retention tag of a listing (instances, images, snapshots), each
/// finding naming its resource's region and id.
pub fn lint_inventory(inv: &Inventory, cfg: &RetentionConfig) -> Vec<Finding> {
    let resources = inv
        .instances
        .iter()
        .map(|i| (&i.region[..], &i.id[..], TagTarget::Instance, &i.tags))
        .chain(
            inv.images
                .iter()
                .map(|i| (&i.region[..], &i.id[..], TagTarget::Image, &i.tags)),
        )
        .chain(
            inv.snapshots
                .iter()
                .map(|s| (&s.region[..], &s.id[..], TagTarget::Snapshot, &s.tags)),
        );
    resources
        .flat_map(|(region, id, target, tags)| {
            lint_resource(id, target, tags, cfg)
                .into_iter()
                .map(move |mut f| {
                    f.region = Some(region.to_string());
                    f
                })
        })
        .collect()
}

/// Common zone abbreviations and near-misses, mapped to a zone the scheduler
/// accepts.
fn zone_fix(zone: &str) -> Option<&'static str> {
    let upper = zone.to_ascii_uppercase();
    Some(match upper.as_str() {
        "UTC" | "GMT" | "Z" | "ZULU" | "UCT" | "UNIVERSAL" => "UTC",
        "EST" | "EDT" | "ET" | "EST5EDT" => "America/New_York",
        "CST" | "CDT" | "CT" | "CST6CDT" => "America/Chicago",
        "MST" | "MDT" | "MT" | "MST7MDT" => "America/Denver",
        "PST" | "PDT" | "PT" | "PST8PDT" => "America/Los_Angeles",
        "AKST" | "AKDT" => "America/Anchorage",
        "HST" => "Pacific/Honolulu",
        "BST" | "WET" | "WEST" => "Europe/London",
        "CET" | "CEST" | "MET" => "Europe/Paris",
        "EET" | "EEST" => "Europe/Athens",
        "JST" => "Asia/Tokyo",
        "KST" => "Asia/Seoul",
        "SGT" => "Asia/Singapore",
        "HKT" => "Asia/Hong_Kong",
        "AEST" | "AEDT" => "Australia/Sydney",
        "NZST" | "NZDT" => "Pacific/Auckland",
        _ => return None,
    })
}

fn fix_time(time: &str) -> String {
    let t: String = time.chars().filter(|c| *c != ':').collect();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        match t.len() {
            3 => return format!("0{t}"),
            4 if matches!(t.as_str(), "0000" | "0001" | "0002" | "0003") => {
                return "0005".to_string()
            }
            _ => {}
        }
    }
    t
}

fn fix_retention(text: &str) -> String {
    let digits: String = text.chars().take_while(|c| c.is_ascii_digit()).collect();
    if digits.is_empty() {
        text.to_string()
    } else {
        digits
    }
}

fn fix_days(days: &str) -> String {
    days.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

fn fix_zone(zone: &str) -> String {
    zone_fix(zone).map_or_else(|| zone.to_string(), str::to_string)
}

/// Proposes a corrected value: fields trimmed, a 3-digit or `HH:MM` time
/// written as `HHMM`, a never-firing time moved to 0005, common zone
/// abbreviations replaced by a zone name, spaces dropped from days, a
/// retention such as `30d` reduced to its digits, fields past the fourth
/// dropped, and a lone 1- or 2-digit number read as a retention
/// (`30` -> `default;30`); ` none` becomes `none`. `None` when the value is clean, is an exclusion, or
/// no well-formed correction is found.
pub fn suggest_fix(value: &str, cfg: &RetentionConfig) -> Option<String> {
    if is_exclusion(value) || value == SCHEDULER_MARKER {
        return None;
    }
    if is_exclusion(value.trim()) {
        // ` none`: meant to exclude.
        return Some("none".to_string());
    }
    let trimmed: Vec<&str> = value.split(';').map(str::trim).collect();
    let candidate = if let [only] = trimmed.as_slice() {
        if !only.is_empty() && only.len() <= 2 && only.bytes().all(|b| b.is_ascii_digit()) {
            format!("default;{only}")
        } else {
            fix_time(only)
        }
    } else {
        // Re-read the trimmed value: trimming can change which form it is.
        let joined = trimmed.join(";");
        match parse_value(&joined, cfg) {
            Ok(spec) => rebuild(&spec, &trimmed),
            Err(GrammarError::NonIntegerRetention { .. }) => {
                // 4+ fields; fix the retention and re-read.
                let mut fields: Vec<String> = trimmed.iter().map(|s| s.to_string()).collect();
                if let Some(r) = fields.get_mut(1) {
                    *r = fix_retention(r);
                }
                match parse_value(&fields.join(";"), cfg) {
                    Ok(spec) => rebuild(&spec, &trimmed),
                    Err(_) => return None,
                }
            }
            Err(_) => return None,
        }
    };
    if candidate != value && parse_strict(&candidate, cfg).is_ok() {
        Some(candidate)
    } else {
        None
    }
}

/// Writes a spec back in its own form, fixing each field. The time is taken
/// from the raw first field so that `default`/`true` stay as written.
fn rebuild(spec: &ScheduleSpec, raw: &[&str]) -> String {
    let time = match spec.time_origin {
        Origin::Default => raw.first().copied().unwrap_or("default").to_string(),
        Origin::Given => fix_time(&spec.time),
    };
    let r = spec.retention_days;
    let z = fix_zone(&spec.tz);
    let d = fix_days(&spec.days);
    match spec.form {
        Form::Time => time,
        Form::TimeRetention => format!("{time};{r}"),
        Form::TimeZone => format!("{time};{z}"),
        Form::TimeRetentionZone => format!("{time};{r};{z}"),
        Form::TimeZoneDays => format!("{time};{z};{d}"),
        Form::TimeRetentionZoneDays => format!("{time};{r};{z};{d}"),
    }
}

/// How a value is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reading", rename_all = "kebab-case")]
pub enum Reading {
    /// `none` or empty: exclude.
    Excluded,
    /// The scheduler's reading (it may still have error findings).
    Schedule { spec: ScheduleSpec },
    /// The scheduler cannot read it.
    Unreadable { error: GrammarError },
}

/// What `retention explain VALUE` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explanation {
    pub value: String,
    pub reading: Reading,
    /// The `now` passed in: the creation time of the hypothetical resource.
    pub created_at: DateTime<Utc>,
    /// When a resource created at `created_at` with this tag expires by the
    /// scheduler's reading.
    pub expires_at: Option<DateTime<Utc>>,
    /// The retention prune would use; `None` when prune keeps resources with
    /// this tag (excluded or malformed).
    pub prune_retention_days: Option<u32>,
    pub findings: Vec<Finding>,
}

/// Explains how `value` is read, for a resource created at `now`.
pub fn explain(value: &str, cfg: &RetentionConfig, now: DateTime<Utc>) -> Explanation {
    let reading = match parse_value(value, cfg) {
        Ok(spec) => Reading::Schedule { spec },
        Err(GrammarError::Excluded { .. }) => Reading::Excluded,
        Err(error) => Reading::Unreadable { error },
    };
    let expires_at = match &reading {
        Reading::Schedule { spec } => Some(expiry(now, spec.retention_days)),
        _ => None,
    };
    Explanation {
        value: value.to_string(),
        reading,
        created_at: now,
        expires_at,
        prune_retention_days: parse_strict(value, cfg).ok().map(|s| s.retention_days),
        findings: lint_value(&cfg.tag_prefix, value, cfg),
    }
}

const TIME_FORMAT: &str = "%Y-%m-%d %H:%M UTC";

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "value:      {:?}", self.value)?;
        match &self.reading {
            Reading::Excluded => {
                writeln!(f, "read as:    exclude (`none` or empty)")?;
            }
            Reading::Unreadable { error } => {
                writeln!(f, "read as:    unreadable: {error}")?;
            }
            Reading::Schedule { spec } => {
                writeln!(f, "read as:    {}", spec.form)?;
                writeln!(f, "time:       {} ({})", spec.time, spec.time_origin)?;
                writeln!(
                    f,
                    "retention:  {} days ({})",
                    spec.retention_days, spec.retention_origin
                )?;
                writeln!(f, "time zone:  {} ({})", spec.tz, spec.tz_origin)?;
                writeln!(f, "days:       {} ({})", spec.days, spec.days_origin)?;
                if !spec.extra.is_empty() {
                    writeln!(f, "ignored:    {:?}", spec.extra)?;
                }
            }
        }
        if let Some(at) = self.expires_at {
            writeln!(
                f,
                "expires:    {} for a resource created now ({})",
                at.format(TIME_FORMAT),
                self.created_at.format(TIME_FORMAT)
            )?;
        }
        match self.prune_retention_days {
            Some(days) => writeln!(f, "prune:      uses {days} days")?,
            None => writeln!(f, "prune:      keeps resources with this tag")?,
        }
        if self.findings.is_empty() {
            write!(f, "findings:   none")?;
        } else {
            write!(f, "findings:")?;
            for finding in &self.findings {
                write!(
                    f,
                    "\n  {}[{}] {}",
                    finding.severity, finding.code, finding.message
                )?;
                if let Some(s) = &finding.suggestion {
                    write!(f, " (suggested: {s:?})")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
