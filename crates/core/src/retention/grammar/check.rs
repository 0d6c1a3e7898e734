//! Checking each part of a value the way the scheduler would read it (time, retention,
//! zone, days), and [`check_value`] over a whole value. Zones are normalised as the
//! scheduler does and looked up in the IANA database that `chrono-tz` carries.

use super::*;

pub(super) fn has_outer_whitespace(s: &str) -> bool {
    s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace)
}

pub(super) fn check_time(time: &str, issues: &mut Vec<Issue>) {
    if is_default_time(time) {
        return;
    }
    let t = time.to_string();
    if !is_integer(time) {
        issues.push(Issue::TimeInvalid { time: t });
        return;
    }
    match time.len() {
        3 => issues.push(Issue::TimeThreeDigits { time: t }),
        4 => {
            let hh: u32 = time[..2].parse().unwrap_or(99);
            let mm: u32 = time[2..].parse().unwrap_or(99);
            if hh > 23 || mm > 59 {
                issues.push(Issue::TimeInvalid { time: t });
            } else if hh == 0 && mm <= 3 {
                issues.push(Issue::TimeNeverFires { time: t });
            }
        }
        _ => issues.push(Issue::TimeInvalid { time: t }),
    }
}

pub(super) fn check_retention(text: &str, issues: &mut Vec<Issue>) {
    if !is_integer(text) {
        issues.push(Issue::RetentionNotInteger {
            text: text.to_string(),
        });
        return;
    }
    match text.parse::<u32>() {
        Ok(0) => issues.push(Issue::RetentionZero),
        Ok(_) => {}
        Err(_) => issues.push(Issue::RetentionOutOfRange {
            text: text.to_string(),
        }),
    }
}

/// A zone name as the scheduler normalises it before looking it up: `utc`
/// and `gmt` in any case are `UTC` and `GMT`; otherwise each `/`-separated
/// part is title-cased the way Python's `str.title()` does (a letter after a
/// non-letter is upper case, the others lower case: `new_york` ->
/// `New_York`), and a first part `Us` becomes `US` (`us/eastern` ->
/// `US/Eastern`). Names without `/` are left as they are.
pub fn normalize_zone(zone: &str) -> String {
    if zone.eq_ignore_ascii_case("utc") || zone.eq_ignore_ascii_case("gmt") {
        return zone.to_ascii_uppercase();
    }
    if !zone.contains('/') {
        return zone.to_string();
    }
    let parts: Vec<String> = zone.split('/').map(python_title).collect();
    let mut out = parts.join("/");
    if parts.first().is_some_and(|p| p == "Us") {
        out.replace_range(..2, "US");
    }
    out
}

pub(super) fn python_title(part: &str) -> String {
    let mut prev_cased = false;
    part.chars()
        .map(|c| {
            let cased = c.is_alphabetic();
            let out = if !cased {
                c
            } else if prev_cased {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            };
            prev_cased = cased;
            out
        })
        .collect()
}

/// Whether `zone` is acceptable to the scheduler once normalised
/// ([`normalize_zone`]): `UTC`, `GMT`, or an `Area/Location` name that the
/// IANA time zone database has (the scheduler's lookup, like pytz's, ignores
/// case; `chrono-tz` carries the same database).
pub(super) fn check_zone(zone: &str, issues: &mut Vec<Issue>) {
    let normal = normalize_zone(zone);
    if normal == "UTC" || normal == "GMT" {
        return;
    }
    let z = zone.to_string();
    let chars_ok = zone
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+' | '/'));
    if zone.is_empty() || !chars_ok {
        issues.push(Issue::ZoneInvalid { zone: z });
    } else if !zone.contains('/') {
        issues.push(Issue::ZoneWithoutSlash { zone: z });
    } else if zone.starts_with('/') || zone.ends_with('/') || zone.contains("//") {
        issues.push(Issue::ZoneInvalid { zone: z });
    } else if chrono_tz::Tz::from_str_insensitive(&normal).is_err() {
        issues.push(Issue::ZoneUnknown { zone: z });
    }
}

pub(super) const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

pub(super) fn check_days(days: &str, issues: &mut Vec<Issue>) {
    if days.eq_ignore_ascii_case("all") || days.eq_ignore_ascii_case("weekdays") {
        return;
    }
    let d = days.to_string();
    if days.contains(char::is_whitespace) {
        issues.push(Issue::DaysWithSpace { days: d });
        return;
    }
    let ok = days
        .split(',')
        .all(|part| WEEKDAYS.iter().any(|w| w.eq_ignore_ascii_case(part)));
    if !ok {
        issues.push(Issue::DaysInvalid { days: d });
    }
}

/// Everything wrong with (or worth stating about) one tag value, in field
/// order. Empty for a clean value.
///
/// A field with surrounding whitespace gets a [`Issue::Whitespace`] and no
/// further checks (its meaning is already in doubt).
pub fn check_value(value: &str, _cfg: &RetentionConfig) -> Vec<Issue> {
    let mut issues = Vec::new();
    if is_exclusion(value) {
        issues.push(Issue::Excluded);
        return issues;
    }
    if value == SCHEDULER_MARKER {
        issues.push(Issue::SchedulerMarker);
        return issues;
    }
    let s = split(value);
    let field = |role: Field, text: &str, issues: &mut Vec<Issue>| {
        if has_outer_whitespace(text) {
            issues.push(Issue::Whitespace {
                field: role,
                text: text.to_string(),
            });
            return;
        }
        match role {
            Field::Time => check_time(text, issues),
            Field::Retention => check_retention(text, issues),
            Field::Zone => check_zone(text, issues),
            Field::Days => check_days(text, issues),
            Field::Value | Field::Extra => {}
        }
    };
    field(Field::Time, s.time, &mut issues);
    if let Some(r) = s.retention {
        field(Field::Retention, r, &mut issues);
    }
    if let Some(z) = s.zone {
        field(Field::Zone, z, &mut issues);
    }
    if let Some(d) = s.days {
        field(Field::Days, d, &mut issues);
    }
    if !s.extra.is_empty() {
        issues.push(Issue::ExtraFields {
            extra: s.extra.iter().map(|e| e.to_string()).collect(),
        });
    }
    issues
}
