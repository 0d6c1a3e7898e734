//! EC2's own image lifecycle, as ami-builder reads and sets it: deprecation
//! (`EnableImageDeprecation`) and deregistration protection
//! (`EnableImageDeregistrationProtection`), at build time and when pruning.
//!
//! Owns, pure: when a build's images are deprecated (`build
//! --deprecate-after`), whether an existing deprecation time is kept, and
//! what `DescribeImages`' `DeregistrationProtection` value means, and how a
//! disabled image's launch permissions are recorded and read back. `now` is
//! given.

use chrono::{DateTime, TimeDelta, Utc};

use crate::retention::Sharing;

/// What `DescribeImages` says of an image's deregistration protection.
///
/// EC2 answers `disabled`, `enabled-with-cooldown`,
/// `enabled-without-cooldown`, or, for 24 hours after protection that had a
/// cooldown was disabled, `disabled-until <time>`: deregistration is still
/// refused until then (EC2 User Guide, "Protect an Amazon EC2 AMI from
/// deregistration").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protection {
    Off,
    On {
        cooldown: bool,
    },
    /// Disabled, in its cooldown until the time.
    Until(DateTime<Utc>),
    /// A value this version does not know: taken as protected, never
    /// guessed to be off.
    Unknown(String),
}

impl Protection {
    /// Read EC2's value; absent or empty is off.
    pub fn parse(value: Option<&str>) -> Protection {
        let v = value.unwrap_or_default().trim();
        match v {
            "" | "disabled" => Protection::Off,
            "enabled-with-cooldown" => Protection::On { cooldown: true },
            "enabled-without-cooldown" | "enabled" => Protection::On { cooldown: false },
            _ => v
                .strip_prefix("disabled-until")
                .and_then(|t| DateTime::parse_from_rfc3339(t.trim()).ok())
                .map_or_else(
                    || Protection::Unknown(v.to_string()),
                    |t| Protection::Until(t.with_timezone(&Utc)),
                ),
        }
    }

    /// Whether deregistering the image at `now` would be refused.
    pub fn blocks(&self, now: DateTime<Utc>) -> bool {
        match self {
            Protection::Off => false,
            Protection::On { .. } | Protection::Unknown(_) => true,
            Protection::Until(t) => *t > now,
        }
    }
}

/// When `build --deprecate-after AGE` deprecates a build's images: AGE
/// after the build finished, or now when that is past (EC2 refuses a
/// deprecation time in the past), rounded to the nearest minute as EC2
/// stores it (EnableImageDeprecation), so that what is reported is what
/// EC2 shows. `None` when the sum overflows.
pub fn deprecate_at(
    built_at: DateTime<Utc>,
    after: TimeDelta,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let t = built_at.checked_add_signed(after)?.max(now);
    let minute = t.timestamp().div_euclid(60) * 60;
    let rounded = if t.timestamp().rem_euclid(60) >= 30 {
        minute + 60
    } else {
        minute
    };
    DateTime::from_timestamp(rounded, 0)
}

/// What the deprecation step does to one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeprecationStep {
    Set(DateTime<Utc>),
    /// It is already deprecated at another time: that is kept (a rerun,
    /// or someone's earlier decision, is never moved silently).
    Kept {
        existing: DateTime<Utc>,
        wanted: DateTime<Utc>,
    },
    /// Already deprecated at the wanted time (within EC2's minute).
    Unchanged(DateTime<Utc>),
}

/// The step for an image deprecated at `existing` (if at all) when `wanted`
/// is asked for; `force` moves an existing time.
pub fn deprecation_step(
    existing: Option<DateTime<Utc>>,
    wanted: DateTime<Utc>,
    force: bool,
) -> DeprecationStep {
    match existing {
        // EC2 rounds to the minute: within one minute is the same time
        Some(e) if (e - wanted).num_seconds().abs() < 60 => DeprecationStep::Unchanged(e),
        Some(e) if !force => DeprecationStep::Kept {
            existing: e,
            wanted,
        },
        _ => DeprecationStep::Set(wanted),
    }
}

/// The launch permissions of an image about to be disabled, as the one tag
/// value that keeps them (`ami-builder:launch-permissions`): `public`,
/// `account:ID`, `org:ARN`, `ou:ARN`, space-separated; `None` when they do
/// not fit EC2's 256 characters (the image is then not disabled: they would
/// be lost, since `DisableImage` removes them and `EnableImage` does not
/// bring them back).
pub fn record_launch_permissions(s: &Sharing) -> Option<String> {
    let mut parts = Vec::new();
    if s.public {
        parts.push("public".to_string());
    }
    parts.extend(s.accounts.iter().map(|a| format!("account:{a}")));
    parts.extend(s.organizations.iter().map(|o| format!("org:{o}")));
    parts.extend(s.organizational_units.iter().map(|o| format!("ou:{o}")));
    let v = parts.join(" ");
    (v.chars().count() <= 256).then_some(v)
}

/// What [`record_launch_permissions`] wrote, read back; an error naming
/// the first token it would not have written (the tag is anyone's to edit,
/// and what is read back is granted).
pub fn parse_launch_permissions(v: &str) -> Result<Sharing, String> {
    let arn = |s: &str, kind: &str| {
        s.starts_with("arn:aws")
            && s.contains(":organizations::")
            && s.contains(kind)
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || ":/-_".contains(c))
    };
    let mut out = Sharing::default();
    for token in v.split_whitespace() {
        if token == "public" {
            out.public = true;
        } else if let Some(a) = token
            .strip_prefix("account:")
            .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
        {
            out.accounts.push(a.to_string());
        } else if let Some(o) = token
            .strip_prefix("org:")
            .filter(|o| arn(o, ":organization/"))
        {
            out.organizations.push(o.to_string());
        } else if let Some(o) = token.strip_prefix("ou:").filter(|o| arn(o, ":ou/")) {
            out.organizational_units.push(o.to_string());
        } else {
            return Err(format!("`{token}`"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launch_permissions_are_recorded_whole_or_not_at_all_and_read_back_strictly() {
        let s = Sharing {
            public: true,
            accounts: vec!["111122223333".into()],
            organizations: vec!["arn:aws:organizations::111122223333:organization/o-abc".into()],
            organizational_units: Vec::new(),
        };
        let v = record_launch_permissions(&s).expect("fits");
        assert_eq!(
            v,
            "public account:111122223333 org:arn:aws:organizations::111122223333:organization/o-abc"
        );
        assert_eq!(parse_launch_permissions(&v), Ok(s));
        let many = Sharing {
            accounts: (0..30).map(|n| format!("{n:012}")).collect(),
            ..Sharing::default()
        };
        assert_eq!(record_launch_permissions(&many), None);
        for bad in [
            "account:12",
            "group:all",
            "org:arn:aws:iam::1:role/x",
            "account:111122223333;x",
        ] {
            assert!(parse_launch_permissions(bad).is_err(), "{bad}");
        }
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn protection_values_read_as_ec2_means_them_and_an_unknown_one_protects() {
        let now = t("2026-12-02T10:00:00Z");
        assert_eq!(Protection::parse(None), Protection::Off);
        assert_eq!(Protection::parse(Some("disabled")), Protection::Off);
        assert_eq!(
            Protection::parse(Some("enabled-with-cooldown")),
            Protection::On { cooldown: true }
        );
        assert_eq!(
            Protection::parse(Some("enabled-without-cooldown")),
            Protection::On { cooldown: false }
        );
        let cooling = Protection::parse(Some("disabled-until 2026-12-03T09:00:00.000Z"));
        assert_eq!(cooling, Protection::Until(t("2026-12-03T09:00:00Z")));
        assert!(cooling.blocks(now), "still in its cooldown");
        assert!(!cooling.blocks(t("2026-12-03T09:00:01Z")), "cooldown over");
        let odd = Protection::parse(Some("paused-for-audit"));
        assert!(odd.blocks(now), "{odd:?}");
        assert!(Protection::parse(Some("disabled-until soon")).blocks(now));
        assert!(!Protection::Off.blocks(now));
    }

    #[test]
    fn a_build_is_deprecated_its_age_after_it_finished_never_in_the_past() {
        let built = t("2026-12-01T00:00:00Z");
        let d90 = TimeDelta::days(90);
        assert_eq!(
            deprecate_at(built, d90, t("2026-12-01T00:05:00Z")),
            Some(t("2027-03-01T00:00:00Z"))
        );
        let late = t("2027-06-01T00:00:00Z");
        assert_eq!(deprecate_at(built, d90, late), Some(late));
        // to the nearest minute, as EC2 keeps it
        let odd = t("2026-12-01T07:23:48.5Z");
        assert_eq!(deprecate_at(odd, d90, odd), Some(t("2027-03-01T07:24:00Z")));
        let early = t("2026-12-01T07:23:29Z");
        assert_eq!(
            deprecate_at(early, d90, early),
            Some(t("2027-03-01T07:23:00Z"))
        );
    }

    #[test]
    fn an_existing_deprecation_time_is_kept_unless_forced() {
        let wanted = t("2027-03-01T00:00:00Z");
        let other = t("2027-01-01T00:00:00Z");
        assert_eq!(
            deprecation_step(None, wanted, false),
            DeprecationStep::Set(wanted)
        );
        assert_eq!(
            deprecation_step(Some(other), wanted, false),
            DeprecationStep::Kept {
                existing: other,
                wanted
            }
        );
        assert_eq!(
            deprecation_step(Some(other), wanted, true),
            DeprecationStep::Set(wanted)
        );
        let rounded = t("2027-03-01T00:00:30Z");
        assert_eq!(
            deprecation_step(Some(rounded), wanted, false),
            DeprecationStep::Unchanged(rounded)
        );
    }
}
