//! Amazon EventBridge event patterns, offline: parse and validate a pattern, match it against
//! events, and explain why an event does not match.
//!
//! This module owns the pattern language only. It is pure: no I/O, no clock, no environment,
//! no AWS calls. Callers hand it JSON values (or pattern text) and get data back.
//!
//! # Semantics
//!
//! The rules follow the EventBridge documentation and the behaviour recorded against the real
//! service in `tests/fixtures/eventbridge-patterns/cases.jsonl` (every case there passes):
//!
//! * Patterns: <https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html>
//! * Operators: <https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html>
//! * Arrays: <https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-arrays.html>
//! * Null and empty values: <https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-null-values.html>
//! * Quotas (pattern size): <https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html>
//!
//! In short:
//!
//! * A pattern is a JSON object. Nested objects name nested event fields; every leaf of the
//!   pattern is an array of alternatives (OR within a field, AND across fields). Field names
//!   are joined with `.`, exactly as EventBridge does, so `{"a": {"b": [1]}}` and
//!   `{"a.b": [1]}` are the same pattern, and an event key `"a.b"` is the field `a.b`.
//! * The event is flattened to leaf values. Arrays are transparent: every element is a value
//!   of the same field, so a field matches when any element matches. Objects, empty arrays
//!   and empty objects are not leaves (`exists` and every other operator see only leaves).
//!   When several pattern fields are matched inside an array of objects, the matching values
//!   must come from the same array element ("array-consistent" matching).
//! * Values: strings, numbers, `true`, `false` and `null` match exactly. Numbers compare
//!   numerically (`300` matches `300.0`) when they lie within ±5.0e9 and have at most six
//!   decimals, and by value otherwise. A string that is an IP address matches the same
//!   address written differently (`"::1"` matches `"0:0:0:0:0:0:0:1"`).
//! * Operators (case-sensitive): `prefix`, `suffix` (each also as
//!   `{"equals-ignore-case": "..."}`), `equals-ignore-case`, `wildcard` (`*`, with `\*` and
//!   `\\` escapes), `anything-but` (a string, a number, a list of strings or of numbers, or
//!   `{"prefix"|"suffix"|"equals-ignore-case"|"wildcard": value-or-list}`), `numeric`
//!   (`=`, `<`, `<=`, `>`, `>=`, and a range `[">"|">=", low, "<"|"<=", high]`), `exists`,
//!   `cidr` (IPv4 and IPv6) and `$or` (an array of at least two objects).
//! * `anything-but` needs the field to be present; a `null` or non-string value counts as
//!   "anything but" a string (as the service does). `exists: false` holds when the field has
//!   no leaf value at all.
//! * A key given twice in one object: the last one wins (documented by AWS). With
//!   [`Pattern::parse_str`] the text is read in document order, so this holds exactly; with
//!   [`Pattern::parse`] the `serde_json::Value` has already collapsed duplicates.
//!   [`Pattern::overridden_paths`] lists the paths concerned.
//! * CIDR as the service does it: the range runs from the address as written to that address
//!   with all host bits set, and `/32` (IPv4) or `/128` (IPv6) is rejected.
//!
//! # Limits enforced when parsing
//!
//! * [`MAX_PATTERN_CHARS`] (4096) characters of pattern JSON: the service maximum. The default
//!   account quota is lower, [`DEFAULT_PATTERN_CHARS_QUOTA`] (2048), and can be raised to 4096;
//!   callers that want to warn about the quota can compare against it. [`Pattern::parse_str`]
//!   counts the text it is given; [`Pattern::parse`] counts the compact serialization.
//! * Numbers used by `numeric` and `anything-but`: −5.0e9 to +5.0e9, at most six decimals.
//! * Wildcards: no consecutive `*`; no escape other than `\*` and `\\`; and a complexity bound
//!   ([`MAX_WILDCARD_COMPLEXITY`]) that approximates the service's "Rule is too complex" check.
//! * Our own guards (not AWS rules; no realistic pattern reaches them): nesting deeper than
//!   [`MAX_NESTING_DEPTH`] levels, and `$or` combinations expanding to more than
//!   [`MAX_OR_BRANCHES`] alternatives.
//!
//! Operators outside the documented set (for example `contains`, or the rule engine's
//! undocumented `exactly`) are rejected as `Unrecognized match type`.
//!
//! Error messages ([`PatternError::message`]) use the service's own wording where it is known,
//! so [`PatternError::aws_message`] reproduces the `InvalidEventPatternException` message.
//!
//! # Layout
//!
//! This file holds the limits, the errors and the public API ([`Pattern`]); the
//! rest is one file per concern: `json` (reading pattern JSON in document order),
//! `compile` (validation into the `model`), `wildcard`, `numbers`, `cidr`, `case`
//! (case-insensitive comparison), `event` (flattening events), `matching` and
//! `explain`. The tests, with the 156 cases recorded against AWS, are in `tests`.
//!
//! Written by hand because no crate implements EventBridge's pattern language:
//! the published rule engines are Java (`aws/event-ruler`) or partial, and ours
//! must reproduce the service's own error messages.
//!
//! # Matching limits
//!
//! Array-consistent matching is a search; it is bounded at 1,000,000 steps per event, beyond
//! which the event is reported as not matching. Only contrived events (many large arrays of
//! objects all matched by one pattern) come near it. Events of any nesting depth are fine.

use serde_json::Value;
use std::cell::OnceCell;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

mod case;
mod cidr;
mod compile;
mod event;
mod explain;
mod json;
mod matching;
mod model;
mod numbers;
mod wildcard;

use case::*;
use cidr::*;
use compile::*;
use event::*;
use explain::*;
use json::*;
use model::*;
use numbers::*;
use wildcard::*;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

/// Maximum length of an event pattern, in characters (the service's hard limit).
pub const MAX_PATTERN_CHARS: usize = 4096;
/// Default account quota for the length of an event pattern, in characters (adjustable up to
/// [`MAX_PATTERN_CHARS`]). Informational: parsing enforces only the hard limit.
pub const DEFAULT_PATTERN_CHARS_QUOTA: usize = 2048;
/// Deepest nesting of objects and arrays accepted in a pattern (our guard, not an AWS rule).
pub const MAX_NESTING_DEPTH: usize = 128;
/// Most alternatives that the `$or` combinations of one pattern may expand to (our guard).
pub const MAX_OR_BRANCHES: usize = 1024;
/// Wildcard complexity above which a pattern is rejected as "too complex".
///
/// The complexity of one field is the largest number of partial wildcard matches that a single
/// worst-case input value can keep alive at once (the states of the non-deterministic matcher,
/// summed over all `wildcard` values on that field), which is how the service's rule engine
/// describes its measure. EventBridge does not publish its limit, so this one is calibrated on
/// known outcomes: `*:*:*:*:*:event-bus/*` (complexity 11) is rejected by the service while
/// `/Users/*/dir/dir/dir/dir/dir/doc.txt` (7) is accepted (both in the recorded corpus), and
/// three `*:stack/<name>/*` values on one field (9) were reported accepted where four (12)
/// were not. Treat a rejection near the limit as a strong warning rather than a certainty.
pub const MAX_WILDCARD_COMPLEXITY: usize = 10;

/// Prefix of every `InvalidEventPatternException` message.
const AWS_PREFIX: &str = "Event pattern is not valid. Reason: ";
/// ±5.0e9 expressed in millionths.
const NUMERIC_LIMIT_MICROS: u64 = 5_000_000_000_000_000;
/// Search steps allowed for array-consistent matching of one event (a guard against
/// pathological events; realistic events need a handful).
const MATCH_STEP_BUDGET: u64 = 1_000_000;

/// Keys that may not be used as field names inside `$or` (the service reserves them).
const RESERVED_IN_OR: &[&str] = &[
    "exactly",
    "equals-ignore-case",
    "prefix",
    "suffix",
    "anything-but",
    "exists",
    "wildcard",
    "numeric",
    "cidr",
    "=",
    "<",
    "<=",
    ">",
    ">=",
    "regex",
    "not-wildcard",
    "not-equals-ignore-case",
    "date-after",
    "date-on-or-after",
    "date-before",
    "date-on-or-before",
    "in-date-range",
    "ip-address-in-range",
    "ip-address-not-in-range",
];

const MSG_ONE_KEY: &str = "Only one key allowed in match expression";
const MSG_TOO_MANY: &str = "Too many elements in numeric expression";
const MSG_RANGE: &str = "Value must be between -5.0E9 and 5.0E9, inclusive";
const MSG_DECIMALS: &str = "Only values upto 6 decimals are supported";
const MSG_TOO_COMPLEX: &str = "Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a wildcard character";

// ---------------------------------------------------------------------------------------------
// Errors and explanations
// ---------------------------------------------------------------------------------------------

/// Why a pattern was rejected, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// Location in the pattern, e.g. `detail.state[0].anything-but`; empty for the whole pattern.
    pub path: String,
    /// What is wrong, in the service's wording where known (e.g. `Empty arrays are not allowed`).
    pub message: String,
}

impl PatternError {
    fn new(path: &str, message: impl Into<String>) -> Self {
        PatternError {
            path: path.to_string(),
            message: message.into(),
        }
    }

    /// The message as EventBridge reports it in an `InvalidEventPatternException`
    /// (first line, without Jackson's location suffix).
    pub fn aws_message(&self) -> String {
        format!("{AWS_PREFIX}{}", self.message)
    }
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{} at {}", self.message, self.path)
        }
    }
}

impl std::error::Error for PatternError {}

/// Why an event does not match: the first pattern field (in pattern order) that failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// Dotted field path, e.g. `detail.AmiStatus`.
    pub path: String,
    /// Human-readable reason, e.g. `"AmiBuilder " is not one of ["AmiBuilder"]`.
    pub reason: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "{}: {}", self.path, self.reason)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

/// A compiled, validated EventBridge event pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// Every field condition written in the pattern (some may be overridden by later keys).
    fields: Vec<Field>,
    /// The pattern as a disjunction: each branch is a conjunction of field indices, in
    /// pattern order. A pattern without `$or` has one branch.
    branches: Vec<Vec<usize>>,
    /// Field paths referenced by some branch.
    paths: HashSet<String>,
    /// Every dotted prefix of a referenced path (used to skip irrelevant parts of events).
    prefixes: HashSet<String>,
    /// Paths defined more than once (the last definition wins).
    overridden: Vec<String>,
}

impl Pattern {
    /// Compiles a pattern given as a JSON value.
    ///
    /// Object keys are visited in the map's iteration order (sorted, with `serde_json`'s
    /// default features), which only affects which failing field [`Pattern::explain`] names
    /// first. Use [`Pattern::parse_str`] to keep the document order.
    pub fn parse(pattern: &Value) -> Result<Pattern, PatternError> {
        if value_depth_exceeds(pattern, MAX_NESTING_DEPTH) {
            return Err(PatternError::new(
                "",
                format!("Event pattern nests deeper than {MAX_NESTING_DEPTH} levels"),
            ));
        }
        let text = serde_json::to_string(pattern).map_err(|e| {
            PatternError::new("", format!("Event pattern cannot be serialized: {e}"))
        })?;
        check_length(&text)?;
        compile(&Json::from_value(pattern))
    }

    /// Compiles a pattern given as JSON text, reading keys in document order (so a repeated
    /// key is overridden by its last occurrence, as the service does).
    pub fn parse_str(pattern: &str) -> Result<Pattern, PatternError> {
        check_length(pattern)?;
        // serde_json validates the syntax and gives precise messages; the ordered reader below
        // then only sees well-formed JSON.
        serde_json::from_str::<Value>(pattern)
            .map_err(|e| PatternError::new("", format!("Event pattern is not valid JSON: {e}")))?;
        let json = OrderedReader::new(pattern)
            .document()
            .map_err(|e| PatternError::new("", format!("Event pattern is not valid JSON: {e}")))?;
        compile(&json)
    }

    /// Field paths that the pattern defines more than once, in the order they were redefined.
    /// EventBridge keeps only the last definition (so does this module); a linter may want
    /// to warn, since the earlier ones are silently ignored. Includes a key repeated in one
    /// object (visible to [`Pattern::parse_str`] only) and one path spelled two ways
    /// (`{"a": {"b": [1]}, "a.b": [2]}`).
    pub fn overridden_paths(&self) -> &[String] {
        &self.overridden
    }

    /// Whether `event` matches the pattern. An event that is not a JSON object has no fields.
    pub fn matches(&self, event: &Value) -> bool {
        self.evaluate(event, false).is_ok()
    }

    /// `Ok(())` when `event` matches; otherwise the first field (in pattern order) that
    /// failed and why. With `$or`, the alternative with the most satisfied fields is
    /// explained (the first such alternative on a tie).
    pub fn explain(&self, event: &Value) -> Result<(), Mismatch> {
        self.evaluate(event, true)
    }
}

fn check_length(text: &str) -> Result<(), PatternError> {
    let chars = text.chars().count();
    if chars > MAX_PATTERN_CHARS {
        return Err(PatternError::new(
            "",
            format!("Event pattern is {chars} characters long; the maximum is {MAX_PATTERN_CHARS}"),
        ));
    }
    Ok(())
}

fn value_depth_exceeds(value: &Value, max: usize) -> bool {
    let mut stack = vec![(value, 1usize)];
    while let Some((v, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(a) => Box::new(a.iter()),
            Value::Object(o) => Box::new(o.values()),
            _ => continue,
        };
        if depth > max {
            return true;
        }
        stack.extend(children.map(|c| (c, depth + 1)));
    }
    false
}
