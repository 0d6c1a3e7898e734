//! The identifiers that cross ami-builder's boundaries: [`AmiId`],
//! [`SnapshotId`], [`Region`] and [`AccountId`].
//!
//! Each is checked once, where the text enters (Packer's log, a manifest, a
//! saved plan or report, an `artifacts.json`, the command line, an EC2
//! answer), and from then on the type says it was: a function that takes an
//! `AmiId` cannot be handed a region, a snapshot id, or provisioner text that
//! merely looks like an id. Deserialising one runs the same check, so a
//! hand-edited file cannot smuggle an unchecked value past it.
//!
//! The checks are syntax only. Whether a region is one AWS has is a question
//! for [`crate::regions::check`] at the command line, because the answer
//! depends on the user's `AMI_BUILDER_EXTRA_REGIONS`; a file written by an
//! earlier run may name a region that this release does not list and is still
//! read.
//!
//! The types deref to `str` and borrow as `str`, so maps keyed by them are
//! looked up with plain text and formatting needs no conversion.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A value that is not the identifier it was meant to be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not {what} (e.g. {example})")]
pub struct InvalidId {
    pub value: String,
    pub what: &'static str,
    pub example: &'static str,
}

/// `prefix` then 8 or 17 lowercase hex digits, nothing else: the two id
/// lengths EC2 has issued (8 before 2016, 17 since).
fn is_ec2_id(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17)
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// `us-east-1`, `ap-southeast-7`, `us-gov-west-1`, `eusc-de-east-1`: a 2-4
/// letter partition prefix, one or more lowercase words, a 1-2 digit number.
fn is_region_name(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return false;
    };
    let lower = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    (2..=4).contains(&first.len())
        && lower(first)
        && !middle.is_empty()
        && middle.iter().all(|p| lower(p))
        && (1..=2).contains(&last.len())
        && last.bytes().all(|b| b.is_ascii_digit())
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $example:literal, $valid:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Check `s` and take it, or say what it is not.
            pub fn parse(s: &str) -> Result<Self, InvalidId> {
                Self::try_from(s.to_string())
            }

            /// True when `s` would parse.
            pub fn is_valid(s: &str) -> bool {
                let valid: fn(&str) -> bool = $valid;
                valid(s)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(s: String) -> Result<Self, InvalidId> {
                if Self::is_valid(&s) {
                    Ok(Self(s))
                } else {
                    Err(InvalidId {
                        value: s,
                        what: $what,
                        example: $example,
                    })
                }
            }
        }

        /// The core's own tests name resources for readability (`ami-new`,
        /// `snap-orphan-old`), and what they test (planning, reconciling)
        /// never looks at an id's syntax, so there a literal is taken as it
        /// is. Only under `cfg(test)` of this crate: nothing else can make an
        /// id without [`Self::parse`].
        #[cfg(test)]
        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_string())
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                Self::parse(s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }
    };
}

id_type!(
    /// An AMI id: `ami-` and 8 or 17 lowercase hex digits.
    AmiId,
    "an AMI id",
    "ami-0123456789abcdef0",
    |s| is_ec2_id(s, "ami-")
);

id_type!(
    /// An EBS snapshot id: `snap-` and 8 or 17 lowercase hex digits.
    SnapshotId,
    "a snapshot id",
    "snap-0123456789abcdef0",
    |s| is_ec2_id(s, "snap-")
);

id_type!(
    /// A region name, syntactically (see the module doc for why not by list).
    Region,
    "a region name",
    "us-east-1",
    is_region_name
);

id_type!(
    /// A 12-digit AWS account id.
    AccountId,
    "an account id",
    "123456789012",
    is_account_id
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ami_ids_are_the_two_lengths_ec2_issues_in_lowercase_hex() {
        for ok in ["ami-12345678", "ami-0123456789abcdef0"] {
            assert!(AmiId::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "ami-",
            "ami-1234567",
            "ami-123456789",
            "ami-0123456789ABCDEF0",
            "ami-0123456789abcdef0 ",
            " ami-12345678",
            "snap-12345678",
            "ami-0123456789abcdefg",
            "ami-0123456789abcdef01",
        ] {
            assert!(AmiId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(SnapshotId::parse("snap-0123456789abcdef0").is_ok());
        assert!(SnapshotId::parse("ami-0123456789abcdef0").is_err());
    }

    #[test]
    fn region_names_follow_aws_shape() {
        for ok in [
            "us-east-1",
            "ap-southeast-7",
            "us-gov-west-1",
            "cn-northwest-1",
            "eusc-de-east-1",
            "eu-west-10",
        ] {
            assert!(Region::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "us",
            "us-1",
            "useast-1",
            "US-EAST-1",
            "us-east-",
            "us-east-100",
            "u-east-1",
            "abcde-east-1",
            "us--east-1",
            "us-east-1a",
            "us-east-1\n",
        ] {
            assert!(Region::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn account_ids_are_twelve_digits() {
        assert!(AccountId::parse("123456789012").is_ok());
        for bad in ["12345678901", "1234567890123", "12345678901a", ""] {
            assert!(AccountId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn deserialising_runs_the_same_check() {
        let ok: AmiId = serde_json::from_str("\"ami-12345678\"").expect("valid");
        assert_eq!(ok, "ami-12345678");
        let err = serde_json::from_str::<AmiId>("\"ami-1234\"").expect_err("invalid");
        assert!(err.to_string().contains("is not an AMI id"), "{err}");
        assert_eq!(
            serde_json::to_string(&Region::parse("eu-west-1").expect("valid")).expect("ser"),
            "\"eu-west-1\""
        );
    }

    #[test]
    fn the_error_names_the_value_and_an_example() {
        let e = Region::parse("us-east").expect_err("invalid");
        assert_eq!(
            e.to_string(),
            "`us-east` is not a region name (e.g. us-east-1)"
        );
    }
}
