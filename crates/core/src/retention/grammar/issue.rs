//! What can be wrong with (or worth saying about) a tag value: the [`Issue`]s, their
//! severity, stable codes and wording, and the value's parts they point at.

use super::*;

/// Which part of a value an [`Issue`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Field {
    Value,
    Time,
    Retention,
    Zone,
    Days,
    Extra,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Value => "value",
            Field::Time => "time",
            Field::Retention => "retention",
            Field::Zone => "time zone",
            Field::Days => "days",
            Field::Extra => "extra field",
        })
    }
}

/// Something wrong with, or worth stating about, a tag value.
///
/// Error-level issues ([`Issue::is_error`]) make a value *malformed*: the
/// scheduler would not do what the value seems to say, so prune never reads
/// a retention from it (the resource is kept). Warnings are well-formed values
/// with a surprising effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum Issue {
    /// `none` or empty: the resource is excluded. (warning)
    Excluded,
    /// `auto_delete`, the marker on the scheduler's own snapshots, read as a
    /// schedule. (error)
    SchedulerMarker,
    /// A field with leading or trailing whitespace. (error)
    Whitespace { field: Field, text: String },
    /// A 3-digit time such as `900`, which never matches `HHMM`. (error)
    TimeThreeDigits { time: String },
    /// A time that is not `HHMM` between 0000 and 2359. (error)
    TimeInvalid { time: String },
    /// A time from 0000 to 0003, which never fires. (warning)
    TimeNeverFires { time: String },
    /// A non-integer retention in the 4-field form. (error)
    RetentionNotInteger { text: String },
    /// An integer retention too large to represent. (error)
    RetentionOutOfRange { text: String },
    /// Retention 0: expires at once. (warning)
    RetentionZero,
    /// A zone without `/` (other than `UTC`), such as `EST`: the scheduler
    /// skips the whole region. (error)
    ZoneWithoutSlash { zone: String },
    /// An empty zone or one with characters no zone name has. (error)
    ZoneInvalid { zone: String },
    /// A well-formed `Area/Location` that the IANA time zone database does
    /// not have, such as `Europe/Pariss`: the scheduler's zone lookup fails
    /// and it skips the region. (error)
    ZoneUnknown { zone: String },
    /// Days with a space, such as `mon, tue`. (error)
    DaysWithSpace { days: String },
    /// Days that are not `all`, `weekdays` or a list of `mon`..`sun`. (error)
    DaysInvalid { days: String },
    /// Fields past the fourth, which are ignored. (warning)
    ExtraFields { extra: Vec<String> },
}

impl Issue {
    /// Whether the issue makes the value malformed.
    pub fn is_error(&self) -> bool {
        !matches!(
            self,
            Issue::Excluded
                | Issue::TimeNeverFires { .. }
                | Issue::RetentionZero
                | Issue::ExtraFields { .. }
        )
    }

    /// A stable kebab-case code for the issue (also its `code` in JSON).
    pub fn code(&self) -> &'static str {
        match self {
            Issue::Excluded => "excluded",
            Issue::SchedulerMarker => "scheduler-marker",
            Issue::Whitespace { .. } => "whitespace",
            Issue::TimeThreeDigits { .. } => "time-three-digits",
            Issue::TimeInvalid { .. } => "time-invalid",
            Issue::TimeNeverFires { .. } => "time-never-fires",
            Issue::RetentionNotInteger { .. } => "retention-not-integer",
            Issue::RetentionOutOfRange { .. } => "retention-out-of-range",
            Issue::RetentionZero => "retention-zero",
            Issue::ZoneWithoutSlash { .. } => "zone-without-slash",
            Issue::ZoneInvalid { .. } => "zone-invalid",
            Issue::ZoneUnknown { .. } => "zone-unknown",
            Issue::DaysWithSpace { .. } => "days-with-space",
            Issue::DaysInvalid { .. } => "days-invalid",
            Issue::ExtraFields { .. } => "extra-fields",
        }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Issue::Excluded => f.write_str("`none` or empty means: exclude"),
            Issue::SchedulerMarker => f.write_str(
                "`auto_delete` marks the scheduler's own snapshots; it is not a schedule",
            ),
            Issue::Whitespace { field, text } => {
                write!(f, "the {field} {text:?} has leading or trailing whitespace")
            }
            Issue::TimeThreeDigits { time } => {
                write!(f, "the time {time:?} has 3 digits, not HHMM")
            }
            Issue::TimeInvalid { time } => {
                write!(f, "the time {time:?} is not HHMM between 0000 and 2359")
            }
            Issue::TimeNeverFires { time } => {
                write!(f, "the time {time:?} is between 0000 and 0003")
            }
            Issue::RetentionNotInteger { text } => {
                write!(f, "the retention {text:?} is not an integer")
            }
            Issue::RetentionOutOfRange { text } => {
                write!(f, "the retention {text:?} is out of range")
            }
            Issue::RetentionZero => f.write_str("retention 0 days expires at once"),
            Issue::ZoneWithoutSlash { zone } => {
                write!(
                    f,
                    "the time zone {zone:?} has no `/` (and is not UTC or GMT)"
                )
            }
            Issue::ZoneInvalid { zone } => write!(f, "the time zone {zone:?} is not a zone name"),
            Issue::ZoneUnknown { zone } => write!(
                f,
                "the time zone {zone:?} is not in the IANA time zone database"
            ),
            Issue::DaysWithSpace { days } => write!(f, "the days {days:?} contain a space"),
            Issue::DaysInvalid { days } => write!(
                f,
                "the days {days:?} are not `all`, `weekdays` or a list of mon..sun"
            ),
            Issue::ExtraFields { extra } => {
                write!(f, "{} field(s) past the fourth are ignored", extra.len())
            }
        }
    }
}
