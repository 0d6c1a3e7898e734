//! The compiled form of a pattern: fields and their matchers, exact values, `anything-but`,
//! numeric ranges and CIDR ranges.

use super::*;

// Compiled form

/// One pattern field: a dotted path and its list of alternatives.
#[derive(Debug, Clone)]
pub(super) struct Field {
    pub(super) path: String,
    pub(super) matchers: Vec<Matcher>,
    /// Rendering of each alternative as written, for explanations.
    pub(super) displays: Vec<String>,
}

impl Field {
    pub(super) fn requires_absence(&self) -> bool {
        self.matchers
            .iter()
            .any(|m| matches!(m, Matcher::Exists(false)))
    }
}

#[derive(Debug, Clone)]
pub(super) enum Matcher {
    Exact(Exact),
    Prefix(String),
    PrefixIgnoreCase(String),
    Suffix(String),
    SuffixIgnoreCase(String),
    EqualsIgnoreCase(String),
    Wildcard(Wildcard),
    AnythingBut(AnythingBut),
    /// `numeric` comparison or range; `text` is the operand array as written.
    Numeric {
        range: NumRange,
        text: String,
    },
    Cidr(IpRange),
    Exists(bool),
}

#[derive(Debug, Clone)]
pub(super) enum Exact {
    Str(String),
    /// A string that is an IP address literal: matches the same address in any notation.
    Ip(Vec<u8>),
    /// Equal in millionths when both are numerically comparable, else equal in value.
    Num {
        micros: Option<i64>,
        value: Option<Decimal>,
    },
    Null,
    Bool(bool),
}

#[derive(Debug, Clone)]
pub(super) enum AnythingBut {
    Strings(Vec<String>),
    Numbers(Vec<i64>),
    IgnoreCase(Vec<String>),
    Prefixes(Vec<String>),
    Suffixes(Vec<String>),
    Wildcards(Vec<Wildcard>),
}

/// Bounds in millionths; `None` is unbounded. The flag tells whether the bound is inclusive.
#[derive(Debug, Clone, Copy)]
pub(super) struct NumRange {
    pub(super) low: Option<(i64, bool)>,
    pub(super) high: Option<(i64, bool)>,
}

impl NumRange {
    pub(super) fn contains(&self, v: i64) -> bool {
        let above = match self.low {
            None => true,
            Some((b, true)) => v >= b,
            Some((b, false)) => v > b,
        };
        let below = match self.high {
            None => true,
            Some((t, true)) => v <= t,
            Some((t, false)) => v < t,
        };
        above && below
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct IpRange {
    pub(super) low: Vec<u8>,
    pub(super) high: Vec<u8>,
}

impl IpRange {
    pub(super) fn contains(&self, ip: &[u8]) -> bool {
        ip.len() == self.low.len() && ip >= self.low.as_slice() && ip <= self.high.as_slice()
    }
}
