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

// ---------------------------------------------------------------------------------------------
// Pattern JSON, in document order
// ---------------------------------------------------------------------------------------------

/// A JSON value that keeps object keys in order (duplicates included) and numbers as text.
#[derive(Debug, Clone)]
enum Json {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn from_value(value: &Value) -> Json {
        match value {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => Json::Num(n.to_string()),
            Value::String(s) => Json::Str(s.clone()),
            Value::Array(a) => Json::Arr(a.iter().map(Json::from_value).collect()),
            Value::Object(o) => Json::Obj(
                o.iter()
                    .map(|(k, v)| (k.clone(), Json::from_value(v)))
                    .collect(),
            ),
        }
    }

    /// The token text a streaming parser would report for this value (used in messages).
    fn token_text(&self) -> String {
        match self {
            Json::Null => "null".into(),
            Json::Bool(b) => b.to_string(),
            Json::Num(t) => t.clone(),
            Json::Str(s) => s.clone(),
            Json::Arr(_) => "[".into(),
            Json::Obj(_) => "{".into(),
        }
    }

    /// Compact rendering with `", "` and `": "` separators, for explanations.
    fn render(&self) -> String {
        match self {
            Json::Null => "null".into(),
            Json::Bool(b) => b.to_string(),
            Json::Num(t) => t.clone(),
            Json::Str(s) => quote(s),
            Json::Arr(a) => format!(
                "[{}]",
                a.iter().map(Json::render).collect::<Vec<_>>().join(", ")
            ),
            Json::Obj(o) => format!(
                "{{{}}}",
                o.iter()
                    .map(|(k, v)| format!("{}: {}", quote(k), v.render()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

fn quote(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// A small reader for JSON text that has already been validated by `serde_json`; it keeps
/// object keys in document order. String escapes and numbers are decoded by `serde_json`.
struct OrderedReader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> OrderedReader<'a> {
    fn new(text: &'a str) -> Self {
        OrderedReader {
            text,
            bytes: text.as_bytes(),
            pos: 0,
        }
    }

    fn document(mut self) -> Result<Json, String> {
        let value = self.value(0)?;
        self.skip_ws();
        if self.pos != self.bytes.len() {
            return Err(format!("trailing characters at byte {}", self.pos));
        }
        Ok(value)
    }

    fn skip_ws(&mut self) {
        while matches!(self.bytes.get(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        self.skip_ws();
        if self.bytes.get(self.pos) == Some(&byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {}", byte as char, self.pos))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, String> {
        if depth > MAX_NESTING_DEPTH {
            return Err(format!("nesting deeper than {MAX_NESTING_DEPTH} levels"));
        }
        self.skip_ws();
        match self.bytes.get(self.pos) {
            Some(b'{') => {
                self.pos += 1;
                let mut entries = Vec::new();
                self.skip_ws();
                if self.bytes.get(self.pos) == Some(&b'}') {
                    self.pos += 1;
                    return Ok(Json::Obj(entries));
                }
                loop {
                    self.skip_ws();
                    let key = self.string()?;
                    self.expect(b':')?;
                    let value = self.value(depth + 1)?;
                    entries.push((key, value));
                    self.skip_ws();
                    match self.bytes.get(self.pos) {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(Json::Obj(entries));
                        }
                        _ => return Err(format!("expected ',' or '}}' at byte {}", self.pos)),
                    }
                }
            }
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                self.skip_ws();
                if self.bytes.get(self.pos) == Some(&b']') {
                    self.pos += 1;
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.skip_ws();
                    match self.bytes.get(self.pos) {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Json::Arr(items));
                        }
                        _ => return Err(format!("expected ',' or ']' at byte {}", self.pos)),
                    }
                }
            }
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                while matches!(
                    self.bytes.get(self.pos),
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                ) {
                    self.pos += 1;
                }
                let text = self
                    .text
                    .get(start..self.pos)
                    .ok_or_else(|| format!("bad number at byte {start}"))?;
                Ok(Json::Num(text.to_string()))
            }
            _ => Err(format!("unexpected input at byte {}", self.pos)),
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, String> {
        if self
            .bytes
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(word.as_bytes()))
        {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(format!("unexpected input at byte {}", self.pos))
        }
    }

    fn string(&mut self) -> Result<String, String> {
        let start = self.pos;
        if self.bytes.get(self.pos) != Some(&b'"') {
            return Err(format!("expected a string at byte {start}"));
        }
        self.pos += 1;
        loop {
            match self.bytes.get(self.pos) {
                Some(b'\\') => self.pos += 2,
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(_) => self.pos += 1,
                None => return Err(format!("unterminated string at byte {start}")),
            }
        }
        let raw = self
            .text
            .get(start..self.pos)
            .ok_or_else(|| format!("bad string at byte {start}"))?;
        serde_json::from_str::<String>(raw).map_err(|e| e.to_string())
    }
}

// ---------------------------------------------------------------------------------------------
// Compiled form
// ---------------------------------------------------------------------------------------------

/// One pattern field: a dotted path and its list of alternatives.
#[derive(Debug, Clone)]
struct Field {
    path: String,
    matchers: Vec<Matcher>,
    /// Rendering of each alternative as written, for explanations.
    displays: Vec<String>,
}

impl Field {
    fn requires_absence(&self) -> bool {
        self.matchers
            .iter()
            .any(|m| matches!(m, Matcher::Exists(false)))
    }
}

#[derive(Debug, Clone)]
enum Matcher {
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
enum Exact {
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
enum AnythingBut {
    Strings(Vec<String>),
    Numbers(Vec<i64>),
    IgnoreCase(Vec<String>),
    Prefixes(Vec<String>),
    Suffixes(Vec<String>),
    Wildcards(Vec<Wildcard>),
}

/// Bounds in millionths; `None` is unbounded. The flag tells whether the bound is inclusive.
#[derive(Debug, Clone, Copy)]
struct NumRange {
    low: Option<(i64, bool)>,
    high: Option<(i64, bool)>,
}

impl NumRange {
    fn contains(&self, v: i64) -> bool {
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
struct IpRange {
    low: Vec<u8>,
    high: Vec<u8>,
}

impl IpRange {
    fn contains(&self, ip: &[u8]) -> bool {
        ip.len() == self.low.len() && ip >= self.low.as_slice() && ip <= self.high.as_slice()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum WildcardToken {
    Literal(char),
    Star,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Wildcard {
    tokens: Vec<WildcardToken>,
}

impl Wildcard {
    /// Parses a wildcard value: `*` matches any run of characters, `\*` a literal star and
    /// `\\` a literal backslash; any other escape, and `**`, are errors. Positions in messages
    /// are byte offsets counted as the service does (one more than the offset in the value).
    fn parse(text: &str) -> Result<Wildcard, String> {
        let bytes = text.as_bytes();
        let mut tokens = Vec::new();
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '*' => {
                    if bytes.get(i + 1) == Some(&b'*') {
                        return Err(format!("Consecutive wildcard characters at pos {}", i + 1));
                    }
                    tokens.push(WildcardToken::Star);
                }
                '\\' => match chars.peek() {
                    Some(&(_, next @ ('*' | '\\'))) => {
                        tokens.push(WildcardToken::Literal(next));
                        chars.next();
                    }
                    _ => return Err(format!("Invalid escape character at pos {}", i + 1)),
                },
                other => tokens.push(WildcardToken::Literal(other)),
            }
        }
        Ok(Wildcard { tokens })
    }

    fn matches(&self, value: &str) -> bool {
        let text: Vec<char> = value.chars().collect();
        let tokens = &self.tokens;
        let (mut p, mut t) = (0usize, 0usize);
        let mut backtrack: Option<(usize, usize)> = None;
        while t < text.len() {
            match tokens.get(p) {
                Some(WildcardToken::Star) => {
                    backtrack = Some((p, t));
                    p += 1;
                }
                Some(WildcardToken::Literal(c)) if *c == text[t] => {
                    p += 1;
                    t += 1;
                }
                _ => match backtrack {
                    Some((star, from)) => {
                        p = star + 1;
                        t = from + 1;
                        backtrack = Some((star, from + 1));
                    }
                    None => return false,
                },
            }
        }
        tokens
            .get(p..)
            .is_some_and(|rest| rest.iter().all(|x| *x == WildcardToken::Star))
    }
}

// ---------------------------------------------------------------------------------------------
// Compilation (validation) of the pattern JSON
// ---------------------------------------------------------------------------------------------

/// A conjunction being built: field path -> index in `Compiler::fields`, in insertion order.
type Rule = Vec<(String, usize)>;

#[derive(Default)]
struct Compiler {
    fields: Vec<Field>,
    /// Paths set again after an earlier definition (the later one wins).
    overridden: Vec<String>,
}

fn child_loc(loc: &str, key: &str) -> String {
    if loc.is_empty() {
        key.to_string()
    } else {
        format!("{loc}.{key}")
    }
}

fn index_loc(loc: &str, i: usize) -> String {
    format!("{loc}[{i}]")
}

/// Joins field names the way EventBridge does: with `.`, the top level having no prefix.
fn join_path(prefix: Option<&str>, key: &str) -> String {
    match prefix {
        None => key.to_string(),
        Some(p) => format!("{p}.{key}"),
    }
}

fn compile(json: &Json) -> Result<Pattern, PatternError> {
    let Json::Obj(entries) = json else {
        return Err(PatternError::new("", "Filter is not an object"));
    };
    let mut compiler = Compiler::default();
    let mut rules: Vec<Rule> = Vec::new();
    compiler.object(entries, None, &mut rules, false, "")?;
    if rules.is_empty() {
        return Err(PatternError::new("", "Empty objects are not allowed"));
    }
    let branches: Vec<Vec<usize>> = rules
        .into_iter()
        .map(|rule| rule.into_iter().map(|(_, field)| field).collect())
        .collect();

    let mut paths = HashSet::new();
    let mut prefixes = HashSet::new();
    let mut referenced = BTreeSet::new();
    for &field in branches.iter().flatten() {
        referenced.insert(field);
    }
    for &field in &referenced {
        let path = &compiler.fields[field].path;
        for (i, _) in path.match_indices('.') {
            prefixes.insert(path[..i].to_string());
        }
        paths.insert(path.clone());
    }
    let pattern = Pattern {
        fields: compiler.fields,
        branches,
        paths,
        prefixes,
        overridden: compiler.overridden,
    };
    check_wildcard_complexity(&pattern, &referenced)?;
    Ok(pattern)
}

impl Compiler {
    fn object(
        &mut self,
        entries: &[(String, Json)],
        prefix: Option<&str>,
        rules: &mut Vec<Rule>,
        in_or: bool,
        loc: &str,
    ) -> Result<(), PatternError> {
        for (key, value) in entries {
            let key_loc = child_loc(loc, key);
            if key == "$or" {
                self.or(value, prefix, rules, &key_loc)?;
                continue;
            }
            if in_or && RESERVED_IN_OR.contains(&key.as_str()) {
                return Err(PatternError::new(
                    &key_loc,
                    format!("{key} is Ruler reserved fieldName which cannot be used inside $or."),
                ));
            }
            match value {
                Json::Obj(inner) => {
                    let path = join_path(prefix, key);
                    self.object(inner, Some(&path), rules, in_or, &key_loc)?;
                }
                Json::Arr(items) => self.field(items, join_path(prefix, key), rules, &key_loc)?,
                _ => {
                    return Err(PatternError::new(
                        &key_loc,
                        format!("\"{key}\" must be an object or an array"),
                    ))
                }
            }
        }
        if entries.is_empty() {
            return Err(PatternError::new(loc, "Empty objects are not allowed"));
        }
        Ok(())
    }

    /// `"$or": [ {...}, {...} ]`: every current conjunction is forked once per object.
    fn or(
        &mut self,
        value: &Json,
        prefix: Option<&str>,
        rules: &mut Vec<Rule>,
        loc: &str,
    ) -> Result<(), PatternError> {
        let Json::Arr(items) = value else {
            return Err(PatternError::new(
                loc,
                "It must be an Array followed with $or.",
            ));
        };
        let current = std::mem::take(rules);
        for (i, item) in items.iter().enumerate() {
            let item_loc = index_loc(loc, i);
            let Json::Obj(entries) = item else {
                return Err(PatternError::new(
                    &item_loc,
                    "Only JSON object is allowed in array of $or relationship.",
                ));
            };
            let mut forked = current.clone();
            if forked.is_empty() {
                forked.push(Vec::new());
            }
            self.object(entries, prefix, &mut forked, true, &item_loc)?;
            rules.extend(forked);
            if rules.len() > MAX_OR_BRANCHES {
                return Err(PatternError::new(
                    loc,
                    format!(
                        "Too many $or combinations: the pattern expands to more than \
                         {MAX_OR_BRANCHES} alternatives"
                    ),
                ));
            }
        }
        if items.len() < 2 {
            return Err(PatternError::new(
                loc,
                "There must have at least 2 Objects in $or relationship.",
            ));
        }
        Ok(())
    }

    /// A leaf of the pattern: the array of alternatives for one field.
    fn field(
        &mut self,
        items: &[Json],
        path: String,
        rules: &mut Vec<Rule>,
        loc: &str,
    ) -> Result<(), PatternError> {
        let mut matchers = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let item_loc = index_loc(loc, i);
            let matcher = match item {
                Json::Obj(entries) => match_expression(entries, &item_loc)?,
                Json::Str(s) => match ip_to_bytes(s) {
                    Ok(ip) => Matcher::Exact(Exact::Ip(ip)),
                    Err(_) => Matcher::Exact(Exact::Str(s.clone())),
                },
                Json::Num(text) => {
                    let (micros, value) = number_key(text);
                    Matcher::Exact(Exact::Num { micros, value })
                }
                Json::Null => Matcher::Exact(Exact::Null),
                Json::Bool(b) => Matcher::Exact(Exact::Bool(*b)),
                Json::Arr(_) => {
                    return Err(PatternError::new(
                        &item_loc,
                        "Match value must be String, number, true, false, or null",
                    ))
                }
            };
            matchers.push(matcher);
        }
        if matchers.is_empty() {
            return Err(PatternError::new(loc, "Empty arrays are not allowed"));
        }
        let index = self.fields.len();
        self.fields.push(Field {
            path: path.clone(),
            matchers,
            displays: items.iter().map(Json::render).collect(),
        });
        if rules.is_empty() {
            rules.push(Vec::new());
        }
        for rule in rules.iter_mut() {
            // A later key for the same path overrides the earlier one.
            match rule.iter_mut().find(|(p, _)| *p == path) {
                Some(entry) => {
                    entry.1 = index;
                    if !self.overridden.contains(&path) {
                        self.overridden.push(path.clone());
                    }
                }
                None => rule.push((path.clone(), index)),
            }
        }
        Ok(())
    }
}

/// An operator object such as `{"prefix": "x"}`. The first key decides; validation errors in
/// its value are reported before a second key is.
fn match_expression(entries: &[(String, Json)], loc: &str) -> Result<Matcher, PatternError> {
    let Some((op, value)) = entries.first() else {
        return Err(PatternError::new(loc, "Match expression name not found"));
    };
    let op_loc = child_loc(loc, op);
    let err = |message: &str| PatternError::new(&op_loc, message);
    let single = |message: &str| {
        if entries.len() > 1 {
            Err(PatternError::new(loc, message))
        } else {
            Ok(())
        }
    };
    let matcher = match op.as_str() {
        "prefix" | "suffix" => {
            let is_prefix = op == "prefix";
            match value {
                Json::Obj(inner) => {
                    let text = ignore_case_operand(inner, is_prefix, &op_loc)?;
                    single(MSG_ONE_KEY)?;
                    if is_prefix {
                        Matcher::PrefixIgnoreCase(text)
                    } else {
                        Matcher::SuffixIgnoreCase(text)
                    }
                }
                Json::Str(s) => {
                    single(MSG_ONE_KEY)?;
                    if is_prefix {
                        Matcher::Prefix(s.clone())
                    } else {
                        Matcher::Suffix(s.clone())
                    }
                }
                _ => return Err(err(&format!("{op} match pattern must be a string"))),
            }
        }
        "numeric" => {
            let Json::Arr(items) = value else {
                return Err(err("Value of numeric must be an array."));
            };
            let range = numeric_operand(items).map_err(|m| err(&m))?;
            single(MSG_TOO_MANY)?;
            Matcher::Numeric {
                range,
                text: value.render(),
            }
        }
        "anything-but" => anything_but(value, &op_loc, entries.len())?,
        "exists" => {
            let Json::Bool(b) = value else {
                return Err(err("exists match pattern must be either true or false."));
            };
            single(MSG_ONE_KEY)?;
            Matcher::Exists(*b)
        }
        "cidr" => {
            // The service reports a non-string CIDR with this (prefix) wording.
            let Json::Str(s) = value else {
                return Err(err("prefix match pattern must be a string"));
            };
            let range = parse_cidr(s).map_err(|m| err(&m))?;
            single(MSG_ONE_KEY)?;
            Matcher::Cidr(range)
        }
        "equals-ignore-case" => {
            let Json::Str(s) = value else {
                return Err(err("equals-ignore-case match pattern must be a string"));
            };
            single(MSG_ONE_KEY)?;
            Matcher::EqualsIgnoreCase(s.clone())
        }
        "wildcard" => {
            let Json::Str(s) = value else {
                return Err(err("wildcard match pattern must be a string"));
            };
            let wildcard = Wildcard::parse(s).map_err(|m| err(&m))?;
            single(MSG_ONE_KEY)?;
            Matcher::Wildcard(wildcard)
        }
        other => {
            return Err(PatternError::new(
                loc,
                format!("Unrecognized match type {other}"),
            ))
        }
    };
    Ok(matcher)
}

/// `{"equals-ignore-case": "..."}` inside `prefix` or `suffix`.
fn ignore_case_operand(
    inner: &[(String, Json)],
    is_prefix: bool,
    loc: &str,
) -> Result<String, PatternError> {
    let (upper, lower) = if is_prefix {
        ("Prefix", "prefix")
    } else {
        ("Suffix", "suffix")
    };
    let Some((op, value)) = inner.first() else {
        return Err(PatternError::new(
            loc,
            format!("{upper} expression name not found"),
        ));
    };
    if op != "equals-ignore-case" {
        return Err(PatternError::new(
            loc,
            format!("Unsupported {lower} pattern: {op}"),
        ));
    }
    let Json::Str(s) = value else {
        return Err(PatternError::new(
            &child_loc(loc, op),
            "equals-ignore-case match pattern must be a string",
        ));
    };
    if inner.len() > 1 {
        return Err(PatternError::new(loc, MSG_ONE_KEY));
    }
    Ok(s.clone())
}

/// The array of a `numeric` expression: `[op, n]` or `[">"|">=", low, "<"|"<=", high]`.
fn numeric_operand(items: &[Json]) -> Result<NumRange, String> {
    let token = |i: usize| {
        items
            .get(i)
            .map_or_else(|| "]".to_string(), Json::token_text)
    };
    let number = |i: usize| match items.get(i) {
        Some(Json::Num(t)) => Some(t.as_str()),
        _ => None,
    };
    let Some(Json::Str(op)) = items.first() else {
        return Err(format!("Invalid member in numeric match: {}", token(0)));
    };
    let micros = |t: &str| to_micros(t).map_err(|e| e.message().to_string());
    match op.as_str() {
        "=" => {
            let v = number(1).ok_or("Value of equals must be numeric")?;
            if items.len() > 2 {
                return Err(MSG_TOO_MANY.into());
            }
            let v = micros(v)?;
            Ok(NumRange {
                low: Some((v, true)),
                high: Some((v, true)),
            })
        }
        ">" | ">=" => {
            let open_low = op == ">";
            let low = number(1).ok_or_else(|| format!("Value of {op} must be numeric"))?;
            if items.len() == 2 {
                return Ok(NumRange {
                    low: Some((micros(low)?, !open_low)),
                    high: None,
                });
            }
            let Some(Json::Str(op2)) = items.get(2) else {
                return Err(format!("Bad value in numeric range: {}", token(2)));
            };
            if op2 != "<" && op2 != "<=" {
                return Err(format!("Bad numeric range operator: {op2}"));
            }
            let high = number(3).ok_or_else(|| format!("Value of {op2} must be numeric"))?;
            if items.len() > 4 {
                return Err("Too many terms in numeric range expression".into());
            }
            let (low, high) = (micros(low)?, micros(high)?);
            if low >= high {
                return Err("Bottom must be less than top".into());
            }
            Ok(NumRange {
                low: Some((low, !open_low)),
                high: Some((high, op2 == "<=")),
            })
        }
        "<" | "<=" => {
            let high = number(1).ok_or_else(|| format!("Value of {op} must be numeric"))?;
            if items.len() > 2 {
                return Err(MSG_TOO_MANY.into());
            }
            Ok(NumRange {
                low: None,
                high: Some((micros(high)?, op == "<=")),
            })
        }
        other => Err(format!("Unrecognized numeric range operator: {other}")),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum AnythingButKind {
    Plain,
    IgnoreCase,
    Prefix,
    Suffix,
    Wildcard,
}

impl AnythingButKind {
    /// The message for a value of the wrong type inside `anything-but: {kind: ...}`.
    fn type_error(self) -> &'static str {
        match self {
            AnythingButKind::IgnoreCase => {
                "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported."
            }
            AnythingButKind::Wildcard => "wildcard match pattern must be a string",
            _ => "prefix/suffix match pattern must be a string",
        }
    }
}

fn anything_but(value: &Json, loc: &str, outer_keys: usize) -> Result<Matcher, PatternError> {
    let err = |message: &str| PatternError::new(loc, message);
    let (kind, operand, inner_keys) = match value {
        Json::Obj(inner) => {
            let Some((op, operand)) = inner.first() else {
                return Err(err("Anything-But expression name not found"));
            };
            let kind = match op.as_str() {
                "equals-ignore-case" => AnythingButKind::IgnoreCase,
                "prefix" => AnythingButKind::Prefix,
                "suffix" => AnythingButKind::Suffix,
                "wildcard" => AnythingButKind::Wildcard,
                other => return Err(err(&format!("Unsupported anything-but pattern: {other}"))),
            };
            (kind, operand, inner.len())
        }
        other => (AnythingButKind::Plain, other, 1),
    };
    let single_values: Vec<&Json> = match operand {
        Json::Arr(items) => items.iter().collect(),
        Json::Str(_) | Json::Num(_) => vec![operand],
        _ => {
            return Err(err(
                "Value of anything-but must be an array or single string/number value.",
            ))
        }
    };
    let is_list = matches!(operand, Json::Arr(_));
    let matcher = if kind == AnythingButKind::Plain {
        let mut strings = Vec::new();
        let mut numbers = Vec::new();
        for item in &single_values {
            match item {
                Json::Str(s) => strings.push(s.clone()),
                Json::Num(t) => numbers.push(to_micros(t).map_err(|e| err(e.message()))?),
                _ => {
                    return Err(err(
                        "Inside anything but list, start|null|boolean is not supported.",
                    ))
                }
            }
        }
        if is_list && (strings.is_empty() == numbers.is_empty()) {
            return Err(err(
                "Inside anything but list, either all values are number or string, mixed type is not supported",
            ));
        }
        if numbers.is_empty() {
            AnythingBut::Strings(strings)
        } else {
            AnythingBut::Numbers(numbers)
        }
    } else {
        let mut texts = Vec::new();
        for item in &single_values {
            let Json::Str(s) = item else {
                return Err(err(kind.type_error()));
            };
            if s.is_empty() && matches!(kind, AnythingButKind::Prefix | AnythingButKind::Suffix) {
                return Err(err("Null prefix/suffix not allowed"));
            }
            texts.push(s.clone());
        }
        match kind {
            AnythingButKind::IgnoreCase => AnythingBut::IgnoreCase(texts),
            AnythingButKind::Prefix => AnythingBut::Prefixes(texts),
            AnythingButKind::Suffix => AnythingBut::Suffixes(texts),
            _ => AnythingBut::Wildcards(
                texts
                    .iter()
                    .map(|t| Wildcard::parse(t))
                    .collect::<Result<_, _>>()
                    .map_err(|m| err(&m))?,
            ),
        }
    };
    if inner_keys > 1 || outer_keys > 1 {
        return Err(err(MSG_TOO_MANY));
    }
    Ok(Matcher::AnythingBut(matcher))
}

fn check_wildcard_complexity(
    pattern: &Pattern,
    referenced: &BTreeSet<usize>,
) -> Result<(), PatternError> {
    let mut by_path: Vec<(&str, Vec<&Wildcard>)> = Vec::new();
    for &index in referenced {
        let field = &pattern.fields[index];
        for matcher in &field.matchers {
            if let Matcher::Wildcard(w) = matcher {
                match by_path.iter_mut().find(|(p, _)| *p == field.path) {
                    Some((_, list)) => {
                        if !list.contains(&w) {
                            list.push(w);
                        }
                    }
                    None => by_path.push((&field.path, vec![w])),
                }
            }
        }
    }
    for (path, wildcards) in by_path {
        if wildcard_complexity(&wildcards, MAX_WILDCARD_COMPLEXITY) > MAX_WILDCARD_COMPLEXITY {
            return Err(PatternError::new(path, MSG_TOO_COMPLEX));
        }
    }
    Ok(())
}
/// The largest number of partial matches that one input value can keep alive at once, summed
/// over `wildcards` (all on one field), found by exploring every reachable set of matcher
/// states. Stops early once `limit` is exceeded (and answers `limit + 1` if the exploration
/// itself grows too large).
///
/// A matcher state is either "before token `i`" or "inside the star at token `i`, at least one
/// character consumed". A star may match nothing, so "before a star" also acts as "before the
/// next token", without being a separate state. "Before a star" counts the star as live too,
/// since any character enters it.
fn wildcard_complexity(wildcards: &[&Wildcard], limit: usize) -> usize {
    const MAX_EXPLORED_SETS: usize = 50_000;
    /// (wildcard, token position, inside the star at that position)
    type State = (usize, usize, bool);
    let tokens: Vec<&[WildcardToken]> = wildcards.iter().map(|w| w.tokens.as_slice()).collect();
    let is_star = |w: usize, i: usize| tokens[w].get(i) == Some(&WildcardToken::Star);
    // Positions whose outgoing transitions apply at position `i` (stars may be skipped).
    let reach = |w: usize, i: usize| {
        let mut positions = vec![i];
        let mut k = i;
        while is_star(w, k) {
            k += 1;
            positions.push(k);
        }
        positions
    };
    let step = |set: &[State], symbol: Option<char>| {
        let mut next: Vec<State> = Vec::new();
        for &(w, i, inside) in set {
            let from = if inside {
                next.push((w, i, true));
                i + 1
            } else {
                i
            };
            for k in reach(w, from) {
                match tokens[w].get(k) {
                    Some(WildcardToken::Star) => next.push((w, k, true)),
                    Some(WildcardToken::Literal(c)) if symbol == Some(*c) => {
                        next.push((w, k + 1, false))
                    }
                    _ => {}
                }
            }
        }
        next.sort_unstable();
        next.dedup();
        next
    };
    let cost = |set: &[State]| {
        set.iter()
            .map(|&(w, i, inside)| {
                if inside {
                    1
                } else if i == tokens[w].len() {
                    0 // a complete match is not a prefix still being matched
                } else if is_star(w, i) && !set.contains(&(w, i, true)) {
                    2
                } else {
                    1
                }
            })
            .sum::<usize>()
    };
    let alphabet: BTreeSet<Option<char>> = tokens
        .iter()
        .flat_map(|t| t.iter())
        .filter_map(|t| match t {
            WildcardToken::Literal(c) => Some(Some(*c)),
            WildcardToken::Star => None,
        })
        .chain(std::iter::once(None))
        .collect();

    let start: Vec<State> = (0..tokens.len()).map(|w| (w, 0, false)).collect();
    let mut worst = cost(&start);
    let mut seen: HashSet<Vec<State>> = HashSet::new();
    let mut queue = VecDeque::new();
    seen.insert(start.clone());
    queue.push_back(start);
    while let Some(set) = queue.pop_front() {
        for &symbol in &alphabet {
            let next = step(&set, symbol);
            worst = worst.max(cost(&next));
            if worst > limit {
                return worst;
            }
            if !next.is_empty() && seen.insert(next.clone()) {
                if seen.len() > MAX_EXPLORED_SETS {
                    return limit + 1;
                }
                queue.push_back(next);
            }
        }
    }
    worst
}

// ---------------------------------------------------------------------------------------------
// Numbers
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumError {
    TooPrecise,
    OutOfRange,
    Malformed,
}

impl NumError {
    fn message(self) -> &'static str {
        match self {
            NumError::TooPrecise => MSG_DECIMALS,
            NumError::OutOfRange | NumError::Malformed => MSG_RANGE,
        }
    }
}

/// The exact value of a JSON number: `digits × 10^exp`, with no leading or trailing zeros in
/// `digits` (zero is empty `digits`, not negative). Equal values have equal `Decimal`s, so
/// `1E2`, `100` and `100.0` agree without going through floating point.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    digits: String,
    exp: i64,
}

impl Decimal {
    fn parse(text: &str) -> Result<Decimal, NumError> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (int_part, frac_part) = match mantissa.find('.') {
            Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
            None => (mantissa, ""),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int_part.len() + frac_part.len() == 0 || !all_digits(int_part) || !all_digits(frac_part)
        {
            return Err(NumError::Malformed);
        }
        let exp: i64 = match exponent {
            None => 0,
            Some(e) => {
                let (sign, digits) = match e.strip_prefix('-') {
                    Some(d) => (-1, d),
                    None => (1, e.strip_prefix('+').unwrap_or(e)),
                };
                if digits.is_empty() || !all_digits(digits) {
                    return Err(NumError::Malformed);
                }
                let digits = digits.trim_start_matches('0');
                // Saturate absurd exponents; such values are out of range or too precise.
                let magnitude: i64 = if digits.len() > 15 {
                    1_000_000_000_000_000
                } else if digits.is_empty() {
                    0
                } else {
                    digits.parse().map_err(|_| NumError::Malformed)?
                };
                sign * magnitude
            }
        };
        let all = format!("{int_part}{frac_part}");
        let significant = all.trim_start_matches('0');
        if significant.is_empty() {
            return Ok(Decimal {
                negative: false,
                digits: String::new(),
                exp: 0,
            });
        }
        let trimmed = significant.trim_end_matches('0');
        let trailing = (significant.len() - trimmed.len()) as i64;
        Ok(Decimal {
            negative,
            digits: trimmed.to_string(),
            exp: exp - frac_part.len() as i64 + trailing,
        })
    }

    /// The value in millionths, when it is numerically comparable: within ±5.0e9 and with at
    /// most six decimals.
    fn micros(&self) -> Result<i64, NumError> {
        if self.digits.is_empty() {
            return Ok(0);
        }
        if self.exp < -6 {
            return Err(NumError::TooPrecise);
        }
        let shift = self.exp + 6; // millionths = digits × 10^shift
        if self.digits.len() as i64 + shift > 16 {
            return Err(NumError::OutOfRange);
        }
        let base: u64 = self.digits.parse().map_err(|_| NumError::Malformed)?;
        let magnitude = base
            .checked_mul(10u64.pow(shift as u32))
            .filter(|m| *m <= NUMERIC_LIMIT_MICROS)
            .ok_or(NumError::OutOfRange)? as i64;
        Ok(if self.negative { -magnitude } else { magnitude })
    }
}

/// A number's value in millionths (see [`Decimal::micros`]).
fn to_micros(text: &str) -> Result<i64, NumError> {
    Decimal::parse(text)?.micros()
}

/// How a number takes part in exact matching: numerically when comparable, else by value.
fn number_key(text: &str) -> (Option<i64>, Option<Decimal>) {
    let decimal = Decimal::parse(text).ok();
    (decimal.as_ref().and_then(|d| d.micros().ok()), decimal)
}

// ---------------------------------------------------------------------------------------------
// IP addresses
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IpError {
    /// Not shaped like an address at all.
    Nonstandard,
    /// Shaped like an address but not a valid one.
    Invalid,
}

/// Bytes of an IPv4 (dotted quad) or IPv6 (hex and colons) literal. An IPv4-mapped IPv6
/// address (`::ffff:a00:1`) is the IPv4 address, as in the service.
fn ip_to_bytes(s: &str) -> Result<Vec<u8>, IpError> {
    let dotted_quad = {
        let parts: Vec<&str> = s.split('.').collect();
        parts.len() == 4
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    if dotted_quad {
        return s
            .parse::<Ipv4Addr>()
            .map(|a| a.octets().to_vec())
            .map_err(|_| IpError::Invalid);
    }
    if s.contains(':') && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
        return s
            .parse::<Ipv6Addr>()
            .map(|a| match a.to_ipv4_mapped() {
                Some(v4) => v4.octets().to_vec(),
                None => a.octets().to_vec(),
            })
            .map_err(|_| IpError::Invalid);
    }
    Err(IpError::Nonstandard)
}

/// Parses `address/bits`. As in the service, the range runs from the address as written to
/// the address with all host bits set, and the mask must be below 32 (IPv4) or 128 (IPv6).
fn parse_cidr(text: &str) -> Result<IpRange, String> {
    // Split like Java's String.split("/"): trailing empty parts are dropped.
    let mut parts: Vec<&str> = text.split('/').collect();
    while parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    if parts == [""] && text.contains('/') {
        parts.clear();
    }
    let [address, bits] = parts.as_slice() else {
        return Err("Malformed CIDR, one '/' required".into());
    };
    let bits = parse_java_int(bits).ok_or("Malformed CIDR, mask bits must be an integer")?;
    if bits < 0 {
        return Err("Malformed CIDR, mask bits must not be negative".into());
    }
    let low = ip_to_bytes(address).map_err(|e| match e {
        IpError::Nonstandard => format!("Nonstandard IP address: {address}"),
        IpError::Invalid => format!("Invalid IP address: {address}"),
    })?;
    let total_bits = low.len() * 8;
    if low.len() == 4 && bits > 31 {
        return Err("IPv4 mask bits must be < 32".into());
    }
    if low.len() == 16 && bits > 127 {
        return Err("IPv6 mask bits must be < 128".into());
    }
    let mut high = low.clone();
    for bit in (bits as usize)..total_bits {
        high[bit / 8] |= 0x80 >> (bit % 8);
    }
    Ok(IpRange { low, high })
}

/// `Integer.parseInt` rules: optional sign, ASCII digits, 32-bit range.
fn parse_java_int(s: &str) -> Option<i64> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 12 {
        return None;
    }
    let v: i64 = digits.parse().ok()?;
    let v = if negative { -v } else { v };
    (i64::from(i32::MIN)..=i64::from(i32::MAX))
        .contains(&v)
        .then_some(v)
}

// ---------------------------------------------------------------------------------------------
// Case-insensitive comparison
// ---------------------------------------------------------------------------------------------

/// The spellings a pattern character may take in the event: itself, its lower case and its
/// upper case (each possibly several characters, e.g. `ß` -> `SS`).
fn case_variants(c: char, reversed: bool) -> Vec<Vec<char>> {
    let mut variants: Vec<Vec<char>> = vec![vec![c]];
    for v in [c.to_lowercase().collect(), c.to_uppercase().collect()] {
        if !variants.contains(&v) {
            variants.push(v);
        }
    }
    if reversed {
        variants.iter_mut().for_each(|v| v.reverse());
    }
    variants
}

/// Lengths (in characters) of the prefixes of `text` that `pattern` matches ignoring case;
/// from the end of both strings when `from_end`.
fn ignore_case_ends(pattern: &str, text: &str, from_end: bool) -> Vec<usize> {
    let (pattern, text): (Vec<char>, Vec<char>) = if from_end {
        (
            pattern.chars().rev().collect(),
            text.chars().rev().collect(),
        )
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    let mut positions = vec![0usize];
    for &c in &pattern {
        let variants = case_variants(c, from_end);
        let mut next = Vec::new();
        for &pos in &positions {
            for v in &variants {
                let end = pos + v.len();
                if text.get(pos..end) == Some(v.as_slice()) && !next.contains(&end) {
                    next.push(end);
                }
            }
        }
        if next.is_empty() {
            return next;
        }
        positions = next;
    }
    positions
}

fn equals_ignore_case(pattern: &str, text: &str) -> bool {
    ignore_case_ends(pattern, text, false).contains(&text.chars().count())
}

fn prefix_ignore_case(pattern: &str, text: &str) -> bool {
    !ignore_case_ends(pattern, text, false).is_empty()
}

fn suffix_ignore_case(pattern: &str, text: &str) -> bool {
    !ignore_case_ends(pattern, text, true).is_empty()
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

/// (array id, element index) for every array enclosing a value, outermost first.
type Membership = Vec<(usize, usize)>;

/// A leaf value of the event at one of the pattern's paths.
struct Leaf<'a> {
    value: &'a Value,
    arrays: Membership,
    /// For numbers: millionths when comparable, and the exact value.
    number: Option<(Option<i64>, Option<Decimal>)>,
    ip: OnceCell<Option<Vec<u8>>>,
}

impl Leaf<'_> {
    fn as_str(&self) -> Option<&str> {
        self.value.as_str()
    }

    fn micros(&self) -> Option<i64> {
        self.number.as_ref().and_then(|(m, _)| *m)
    }

    fn ip(&self) -> Option<&[u8]> {
        self.ip
            .get_or_init(|| self.as_str().and_then(|s| ip_to_bytes(s).ok()))
            .as_deref()
    }

    fn consistent_with(&self, other: &Leaf<'_>) -> bool {
        let (mut i, mut j) = (0, 0);
        while i < self.arrays.len() && j < other.arrays.len() {
            let (a, b) = (self.arrays[i], other.arrays[j]);
            match a.0.cmp(&b.0) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    if a.1 != b.1 {
                        return false;
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        true
    }
}

/// The parts of an event that the pattern looks at.
#[derive(Default)]
struct Flat<'a> {
    leaves: Vec<Leaf<'a>>,
    by_path: HashMap<String, Vec<usize>>,
    /// Pattern paths where the event has a non-leaf (object or empty array), for explanations.
    non_leaf: HashMap<String, &'static str>,
}

impl Pattern {
    fn relevant(&self, path: &str) -> bool {
        self.paths.contains(path) || self.prefixes.contains(path)
    }

    /// Flattens the event (iteratively, so any depth is fine), keeping only leaves at the
    /// pattern's paths. A non-object event has no fields.
    fn flatten<'a>(&self, event: &'a Value) -> Flat<'a> {
        let mut flat = Flat::default();
        let Value::Object(root) = event else {
            return flat;
        };
        let mut stack: Vec<(String, &'a Value, Membership)> = root
            .iter()
            .rev()
            .filter(|(k, _)| self.relevant(k))
            .map(|(k, v)| (k.clone(), v, Vec::new()))
            .collect();
        let mut next_array = 0usize;
        while let Some((path, value, arrays)) = stack.pop() {
            match value {
                Value::Object(map) => {
                    if self.paths.contains(&path) {
                        let kind = if map.is_empty() {
                            "an empty object"
                        } else {
                            "an object"
                        };
                        flat.non_leaf.entry(path.clone()).or_insert(kind);
                    }
                    for (key, child) in map.iter().rev() {
                        let child_path = format!("{path}.{key}");
                        if self.relevant(&child_path) {
                            stack.push((child_path, child, arrays.clone()));
                        }
                    }
                }
                Value::Array(items) => {
                    let id = next_array;
                    next_array += 1;
                    if items.is_empty() && self.paths.contains(&path) {
                        flat.non_leaf
                            .entry(path.clone())
                            .or_insert("an empty array");
                    }
                    for (i, child) in items.iter().enumerate().rev() {
                        let mut child_arrays = arrays.clone();
                        child_arrays.push((id, i));
                        stack.push((path.clone(), child, child_arrays));
                    }
                }
                scalar => {
                    if self.paths.contains(&path) {
                        let number = match scalar {
                            Value::Number(n) => Some(number_key(&n.to_string())),
                            _ => None,
                        };
                        flat.by_path
                            .entry(path)
                            .or_default()
                            .push(flat.leaves.len());
                        flat.leaves.push(Leaf {
                            value: scalar,
                            arrays,
                            number,
                            ip: OnceCell::new(),
                        });
                    }
                }
            }
        }
        flat
    }
}

// ---------------------------------------------------------------------------------------------
// Matching
// ---------------------------------------------------------------------------------------------

impl Matcher {
    fn matches(&self, leaf: &Leaf<'_>) -> bool {
        let text = leaf.as_str();
        match self {
            Matcher::Exact(exact) => match exact {
                Exact::Str(s) => text == Some(s.as_str()),
                Exact::Ip(ip) => leaf.ip() == Some(ip.as_slice()),
                Exact::Num { micros, value } => match &leaf.number {
                    Some((event_micros, event_value)) => {
                        (micros.is_some() && micros == event_micros)
                            || (value.is_some() && value == event_value)
                    }
                    None => false,
                },
                Exact::Null => leaf.value.is_null(),
                Exact::Bool(b) => leaf.value.as_bool() == Some(*b),
            },
            Matcher::Prefix(p) => text.is_some_and(|t| t.starts_with(p.as_str())),
            Matcher::Suffix(s) => text.is_some_and(|t| t.ends_with(s.as_str())),
            Matcher::PrefixIgnoreCase(p) => text.is_some_and(|t| prefix_ignore_case(p, t)),
            Matcher::SuffixIgnoreCase(s) => text.is_some_and(|t| suffix_ignore_case(s, t)),
            Matcher::EqualsIgnoreCase(e) => text.is_some_and(|t| equals_ignore_case(e, t)),
            Matcher::Wildcard(w) => text.is_some_and(|t| w.matches(t)),
            Matcher::AnythingBut(ab) => !match ab {
                AnythingBut::Strings(list) => text.is_some_and(|t| list.iter().any(|s| s == t)),
                AnythingBut::Numbers(list) => leaf.micros().is_some_and(|m| list.contains(&m)),
                AnythingBut::IgnoreCase(list) => {
                    text.is_some_and(|t| list.iter().any(|s| equals_ignore_case(s, t)))
                }
                AnythingBut::Prefixes(list) => {
                    text.is_some_and(|t| list.iter().any(|p| t.starts_with(p.as_str())))
                }
                AnythingBut::Suffixes(list) => {
                    text.is_some_and(|t| list.iter().any(|s| t.ends_with(s.as_str())))
                }
                AnythingBut::Wildcards(list) => {
                    text.is_some_and(|t| list.iter().any(|w| w.matches(t)))
                }
            },
            Matcher::Numeric { range, .. } => leaf.micros().is_some_and(|m| range.contains(m)),
            Matcher::Cidr(range) => leaf.ip().is_some_and(|ip| range.contains(ip)),
            Matcher::Exists(present) => *present,
        }
    }
}

/// How one field fared against the event, before array consistency is considered.
struct FieldOutcome {
    /// Leaves that match one of the field's alternatives.
    candidates: Vec<usize>,
    /// The field has `exists: false` and the event has no value there.
    absent_ok: bool,
}

impl FieldOutcome {
    fn ok(&self) -> bool {
        !self.candidates.is_empty() || self.absent_ok
    }
}

enum Failure {
    /// This field has no acceptable value.
    Field(usize),
    /// Each field matches, but not with values from the same array elements.
    Inconsistent(Vec<usize>),
}

impl Pattern {
    fn field_outcome(&self, index: usize, flat: &Flat<'_>) -> FieldOutcome {
        let field = &self.fields[index];
        let leaves = flat
            .by_path
            .get(&field.path)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let candidates = leaves
            .iter()
            .copied()
            .filter(|&l| field.matchers.iter().any(|m| m.matches(&flat.leaves[l])))
            .collect();
        FieldOutcome {
            candidates,
            absent_ok: leaves.is_empty() && field.requires_absence(),
        }
    }

    fn evaluate(&self, event: &Value, want_reason: bool) -> Result<(), Mismatch> {
        let flat = self.flatten(event);
        let mut outcomes: Vec<Option<FieldOutcome>> =
            (0..self.fields.len()).map(|_| None).collect();
        let mut budget = MATCH_STEP_BUDGET;
        // (satisfied fields, failure) of the closest branch so far.
        let mut closest: Option<(usize, Failure)> = None;
        for branch in &self.branches {
            let mut satisfied = 0;
            let mut first_failure = None;
            for &index in branch {
                let outcome =
                    outcomes[index].get_or_insert_with(|| self.field_outcome(index, &flat));
                if outcome.ok() {
                    satisfied += 1;
                } else if first_failure.is_none() {
                    first_failure = Some(index);
                    if !want_reason {
                        break;
                    }
                }
            }
            let failure = match first_failure {
                Some(index) => Failure::Field(index),
                None => {
                    let domains: Vec<(usize, &[usize])> = branch
                        .iter()
                        .filter_map(|&i| {
                            outcomes[i]
                                .as_ref()
                                .filter(|o| !o.candidates.is_empty())
                                .map(|o| (i, o.candidates.as_slice()))
                        })
                        .collect();
                    match consistent_choice(&domains, &flat.leaves, &mut budget) {
                        Ok(()) => return Ok(()),
                        Err(conflict) => Failure::Inconsistent(conflict),
                    }
                }
            };
            if want_reason && closest.as_ref().is_none_or(|(best, _)| satisfied > *best) {
                closest = Some((satisfied, failure));
            }
        }
        let Some((_, failure)) = closest else {
            return Err(Mismatch {
                path: String::new(),
                reason: "event does not match".into(),
            });
        };
        let mut mismatch = self.describe(&failure, &flat);
        if self.branches.len() > 1 {
            mismatch.reason.push_str(&format!(
                " (in the closest of {} $or alternatives)",
                self.branches.len()
            ));
        }
        Err(mismatch)
    }

    fn describe(&self, failure: &Failure, flat: &Flat<'_>) -> Mismatch {
        match failure {
            Failure::Inconsistent(fields) => {
                let paths: Vec<&str> = fields
                    .iter()
                    .map(|&i| self.fields[i].path.as_str())
                    .collect();
                Mismatch {
                    path: paths.first().copied().unwrap_or_default().to_string(),
                    reason: format!(
                        "the values matching {} come from different elements of the same array \
                         (fields matched inside an array of objects must come from one element)",
                        paths.join(" and ")
                    ),
                }
            }
            Failure::Field(index) => {
                let field = &self.fields[*index];
                let leaves: Vec<&Leaf<'_>> = flat
                    .by_path
                    .get(&field.path)
                    .map(|ls| ls.iter().map(|&l| &flat.leaves[l]).collect())
                    .unwrap_or_default();
                Mismatch {
                    path: field.path.clone(),
                    reason: field_reason(field, &leaves, flat.non_leaf.get(&field.path)),
                }
            }
        }
    }
}

fn render_value(value: &Value) -> String {
    const MAX: usize = 120;
    let text = value.to_string();
    if text.chars().count() > MAX {
        let cut: String = text.chars().take(MAX - 3).collect();
        format!("{cut}...")
    } else {
        text
    }
}

fn field_reason(field: &Field, leaves: &[&Leaf<'_>], non_leaf: Option<&&str>) -> String {
    if leaves.is_empty() {
        return match non_leaf {
            Some(kind) => format!(
                "field is missing (the event has {kind} here; patterns match only leaf values)"
            ),
            None => "field is missing".into(),
        };
    }
    const MAX_VALUES: usize = 10;
    let mut values: Vec<String> = leaves
        .iter()
        .take(MAX_VALUES)
        .map(|l| render_value(l.value))
        .collect();
    if leaves.len() > MAX_VALUES {
        values.push(format!("... {} values in all", leaves.len()));
    }
    if field
        .matchers
        .iter()
        .all(|m| matches!(m, Matcher::Exists(false)))
    {
        return format!(
            "field is present ({}) but the pattern requires it to be absent",
            values.join(", ")
        );
    }
    let (single, subject) = if values.len() == 1 {
        (true, values[0].clone())
    } else {
        (false, format!("none of [{}]", values.join(", ")))
    };
    let verb = |one: &str, many: &str| {
        if single {
            one.to_string()
        } else {
            many.to_string()
        }
    };
    let all_exact = field
        .matchers
        .iter()
        .all(|m| matches!(m, Matcher::Exact(_)));
    match (field.matchers.as_slice(), all_exact) {
        (_, true) => format!(
            "{subject} {} one of [{}]",
            verb("is not", "is"),
            field.displays.join(", ")
        ),
        ([Matcher::Numeric { text, .. }], _) => {
            format!("{subject} {} in numeric range {text}", verb("is not", "is"))
        }
        ([_], _) => format!(
            "{subject} {} {}",
            verb("does not match", "matches"),
            field.displays[0]
        ),
        _ => format!(
            "{subject} {} any of [{}]",
            verb("does not match", "matches"),
            field.displays.join(", ")
        ),
    }
}

/// Chooses one candidate leaf per field so that no two chosen leaves sit in different
/// elements of the same array. Fields whose candidates share no array are independent and
/// are solved separately. `Err` carries the fields (in pattern order) that could not agree.
fn consistent_choice(
    domains: &[(usize, &[usize])],
    leaves: &[Leaf<'_>],
    budget: &mut u64,
) -> Result<(), Vec<usize>> {
    // Union fields that have candidates inside a common array.
    let mut parent: Vec<usize> = (0..domains.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut owner: HashMap<usize, usize> = HashMap::new();
    for (pos, (_, candidates)) in domains.iter().enumerate() {
        for &leaf in candidates.iter() {
            for &(array, _) in &leaves[leaf].arrays {
                let other = *owner.entry(array).or_insert(pos);
                let (a, b) = (root(&mut parent, pos), root(&mut parent, other));
                parent[a] = b;
            }
        }
    }
    let mut groups: HashMap<usize, Vec<usize>> = HashMap::new();
    for pos in 0..domains.len() {
        let r = root(&mut parent, pos);
        groups.entry(r).or_default().push(pos);
    }
    let mut groups: Vec<Vec<usize>> = groups.into_values().filter(|g| g.len() > 1).collect();
    groups.sort();
    for group in groups {
        let mut order = group.clone();
        order.sort_by_key(|&pos| domains[pos].1.len());
        let mut search: Vec<Vec<usize>> =
            order.iter().map(|&pos| domains[pos].1.to_vec()).collect();
        if !search_consistent(&mut search, 0, leaves, budget) {
            return Err(group.iter().map(|&pos| domains[pos].0).collect());
        }
    }
    Ok(())
}

/// Depth-first search with forward checking over the candidate lists in `domains`.
fn search_consistent(
    domains: &mut [Vec<usize>],
    depth: usize,
    leaves: &[Leaf<'_>],
    budget: &mut u64,
) -> bool {
    if depth == domains.len() {
        return true;
    }
    let choices = domains[depth].clone();
    for choice in choices {
        if *budget == 0 {
            return false;
        }
        *budget -= 1;
        let saved: Vec<Vec<usize>> = domains[depth + 1..].to_vec();
        let mut viable = true;
        for later in domains[depth + 1..].iter_mut() {
            later.retain(|&l| leaves[choice].consistent_with(&leaves[l]));
            if later.is_empty() {
                viable = false;
                break;
            }
        }
        if viable && search_consistent(domains, depth + 1, leaves, budget) {
            return true;
        }
        domains[depth + 1..].clone_from_slice(&saved);
    }
    false
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const CASES: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/eventbridge-patterns/cases.jsonl"
    ));

    /// Corpus cases that cannot pass, with the reason. Must stay empty unless justified.
    const KNOWN_EXCEPTIONS: &[(&str, &str)] = &[];

    fn parse_case_pattern(pattern: &Value) -> Vec<(&'static str, Result<Pattern, PatternError>)> {
        match pattern {
            // complex_multi_key: the verbatim text, with its duplicate key.
            Value::String(text) => vec![("parse_str", Pattern::parse_str(text))],
            other => vec![
                ("parse", Pattern::parse(other)),
                ("parse_str", Pattern::parse_str(&other.to_string())),
                (
                    "parse_str(pretty)",
                    Pattern::parse_str(&serde_json::to_string_pretty(other).unwrap()),
                ),
            ],
        }
    }

    #[test]
    fn conformance_corpus() {
        let mut failures = Vec::new();
        let mut counts: HashMap<String, usize> = HashMap::new();
        let mut total = 0;
        for line in CASES.lines().filter(|l| !l.trim().is_empty()) {
            let case: Value = serde_json::from_str(line).unwrap();
            let name = case["name"].as_str().unwrap();
            let expect = case["expect"].as_str().unwrap();
            total += 1;
            *counts.entry(expect.to_string()).or_default() += 1;
            if KNOWN_EXCEPTIONS.iter().any(|(n, _)| *n == name) {
                continue;
            }
            for (how, parsed) in parse_case_pattern(&case["pattern"]) {
                let problem = match (expect, parsed) {
                    ("match", Ok(p)) => (!p.matches(&case["event"]))
                        .then(|| format!("did not match: {:?}", p.explain(&case["event"]))),
                    ("no-match", Ok(p)) => p.matches(&case["event"]).then(|| "matched".to_string()),
                    ("invalid", Err(e)) => {
                        let want = case["error"].as_str().unwrap();
                        (e.aws_message() != want)
                            .then(|| format!("message {:?}, want {want:?}", e.aws_message()))
                    }
                    ("invalid", Ok(_)) => Some("accepted an invalid pattern".into()),
                    (_, Err(e)) => Some(format!("rejected: {e}")),
                    (other, _) => Some(format!("unknown expectation {other}")),
                };
                if let Some(problem) = problem {
                    failures.push(format!("{name} [{how}]: {problem}"));
                }
            }
        }
        assert_eq!(total, 156, "corpus size");
        assert_eq!(counts["match"], 67);
        assert_eq!(counts["no-match"], 51);
        assert_eq!(counts["invalid"], 38);
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    fn pat(v: Value) -> Pattern {
        Pattern::parse(&v).unwrap_or_else(|e| panic!("{v}: {e}"))
    }

    fn err(v: Value) -> PatternError {
        match Pattern::parse(&v) {
            Ok(_) => panic!("accepted {v}"),
            Err(e) => e,
        }
    }

    /// (pattern, event, expected) tables for each operator.
    fn check_table(rows: &[(Value, Value, bool)]) {
        for (p, e, want) in rows {
            let compiled = pat(p.clone());
            assert_eq!(compiled.matches(e), *want, "pattern {p} event {e}");
            assert_eq!(
                compiled.explain(e).is_ok(),
                *want,
                "explain: pattern {p} event {e}"
            );
        }
    }

    #[test]
    fn exact_values() {
        check_table(&[
            (json!({"a": ["x"]}), json!({"a": "x"}), true),
            (json!({"a": ["x"]}), json!({"a": "X"}), false),
            (json!({"a": ["x", "y"]}), json!({"a": "y"}), true),
            (json!({"a": ["x"]}), json!({"a": ["z", "x"]}), true),
            (json!({"a": ["x"]}), json!({"a": []}), false),
            (json!({"a": [""]}), json!({"a": ""}), true),
            (json!({"a": [""]}), json!({"a": null}), false),
            (json!({"a": [null]}), json!({"a": null}), true),
            (json!({"a": [null]}), json!({}), false),
            (json!({"a": [null]}), json!({"a": "null"}), false),
            (json!({"a": [true]}), json!({"a": true}), true),
            (json!({"a": [true]}), json!({"a": "true"}), false),
            (json!({"a": [300]}), json!({"a": 300.0}), true),
            (json!({"a": [3.0e2]}), json!({"a": 300}), true),
            (json!({"a": [300]}), json!({"a": "300"}), false),
            (json!({"a": ["300"]}), json!({"a": 300}), false),
            (
                json!({"a": [123456789012u64]}),
                json!({"a": 123456789012u64}),
                true,
            ),
            (
                json!({"a": [123456789012u64]}),
                json!({"a": 123456789013u64}),
                false,
            ),
            (
                json!({"a": [27.807807921694092]}),
                json!({"a": 27.807807921694092}),
                true,
            ),
            (
                json!({"a": [27.807807921694092]}),
                json!({"a": 27.8078079}),
                false,
            ),
            (json!({"a": ["10.0.0.1"]}), json!({"a": "10.0.0.1"}), true),
            (json!({"a": ["::1"]}), json!({"a": "0:0:0:0:0:0:0:1"}), true),
            (json!({"a": {"b": ["x"]}}), json!({"a": {"b": "x"}}), true),
            (json!({"a": {"b": ["x"]}}), json!({"a": "x"}), false),
            (
                json!({"a": {"b": ["x"]}}),
                json!({"a": [{"b": "y"}, {"b": "x"}]}),
                true,
            ),
            (json!({"a": ["x"]}), json!("not an object"), false),
        ]);
    }

    #[test]
    fn string_operators() {
        check_table(&[
            (json!({"a": [{"prefix": "ab"}]}), json!({"a": "abc"}), true),
            (
                json!({"a": [{"prefix": "ab"}]}),
                json!({"a": "xabc"}),
                false,
            ),
            (json!({"a": [{"prefix": "1"}]}), json!({"a": 12}), false),
            (json!({"a": [{"prefix": ""}]}), json!({"a": ""}), true),
            (
                json!({"a": [{"prefix": {"equals-ignore-case": "AB"}}]}),
                json!({"a": "aBc"}),
                true,
            ),
            (
                json!({"a": [{"suffix": ".png"}]}),
                json!({"a": "x.png"}),
                true,
            ),
            (
                json!({"a": [{"suffix": ".png"}]}),
                json!({"a": "x.PNG"}),
                false,
            ),
            (
                json!({"a": [{"suffix": {"equals-ignore-case": ".png"}}]}),
                json!({"a": "x.PnG"}),
                true,
            ),
            (
                json!({"a": [{"equals-ignore-case": "Straße"}]}),
                json!({"a": "STRASSE"}),
                true,
            ),
            (
                json!({"a": [{"equals-ignore-case": "abc"}]}),
                json!({"a": "ABC"}),
                true,
            ),
            (
                json!({"a": [{"equals-ignore-case": "abc"}]}),
                json!({"a": "ABCD"}),
                false,
            ),
            (
                json!({"a": [{"equals-ignore-case": "1"}]}),
                json!({"a": 1}),
                false,
            ),
            (
                json!({"a": [{"wildcard": "a*c"}]}),
                json!({"a": "abbbc"}),
                true,
            ),
            (
                json!({"a": [{"wildcard": "a*c"}]}),
                json!({"a": "ac"}),
                true,
            ),
            (
                json!({"a": [{"wildcard": "a*c"}]}),
                json!({"a": "acb"}),
                false,
            ),
            (json!({"a": [{"wildcard": "*"}]}), json!({"a": ""}), true),
            (
                json!({"a": [{"wildcard": "a\\*c"}]}),
                json!({"a": "a*c"}),
                true,
            ),
            (
                json!({"a": [{"wildcard": "a\\*c"}]}),
                json!({"a": "abc"}),
                false,
            ),
            (
                json!({"a": [{"wildcard": "a\\\\c"}]}),
                json!({"a": "a\\c"}),
                true,
            ),
            (
                json!({"a": [{"wildcard": "*.png"}]}),
                json!({"a": 5}),
                false,
            ),
        ]);
    }

    #[test]
    fn anything_but() {
        check_table(&[
            (
                json!({"a": [{"anything-but": "x"}]}),
                json!({"a": "y"}),
                true,
            ),
            (
                json!({"a": [{"anything-but": "x"}]}),
                json!({"a": "x"}),
                false,
            ),
            (json!({"a": [{"anything-but": "x"}]}), json!({}), false),
            (
                json!({"a": [{"anything-but": "x"}]}),
                json!({"a": null}),
                true,
            ),
            (json!({"a": [{"anything-but": "x"}]}), json!({"a": 5}), true),
            (
                json!({"a": [{"anything-but": ["x", "y"]}]}),
                json!({"a": "y"}),
                false,
            ),
            (
                json!({"a": [{"anything-but": [1, 2]}]}),
                json!({"a": 2.0}),
                false,
            ),
            (
                json!({"a": [{"anything-but": [1, 2]}]}),
                json!({"a": "2"}),
                true,
            ),
            (
                json!({"a": [{"anything-but": {"prefix": "us-"}}]}),
                json!({"a": "eu-west-1"}),
                true,
            ),
            (
                json!({"a": [{"anything-but": {"prefix": "us-"}}]}),
                json!({"a": "us-east-1"}),
                false,
            ),
            (
                json!({"a": [{"anything-but": {"suffix": ".png"}}]}),
                json!({"a": "a.jpg"}),
                true,
            ),
            (
                json!({"a": [{"anything-but": {"equals-ignore-case": "X"}}]}),
                json!({"a": "x"}),
                false,
            ),
            (
                json!({"a": [{"anything-but": {"wildcard": "*/lib/*"}}]}),
                json!({"a": "/usr/lib/x"}),
                false,
            ),
            (
                json!({"a": [{"anything-but": {"wildcard": "*/lib/*"}}]}),
                json!({"a": "/usr/bin/x"}),
                true,
            ),
            (
                json!({"a": [{"anything-but": {"prefix": []}}]}),
                json!({"a": "anything"}),
                true,
            ),
            // An array value: any element that is not excluded is enough.
            (
                json!({"a": [{"anything-but": "x"}]}),
                json!({"a": ["x", "y"]}),
                true,
            ),
            (
                json!({"a": [{"anything-but": "x"}]}),
                json!({"a": ["x"]}),
                false,
            ),
        ]);
    }

    #[test]
    fn numeric() {
        check_table(&[
            (
                json!({"n": [{"numeric": [">", 10]}]}),
                json!({"n": 11}),
                true,
            ),
            (
                json!({"n": [{"numeric": [">", 10]}]}),
                json!({"n": 10}),
                false,
            ),
            (
                json!({"n": [{"numeric": [">=", 10]}]}),
                json!({"n": 10}),
                true,
            ),
            (
                json!({"n": [{"numeric": ["<", 10]}]}),
                json!({"n": -5e9}),
                true,
            ),
            (
                json!({"n": [{"numeric": ["<=", 10]}]}),
                json!({"n": 10.0}),
                true,
            ),
            (
                json!({"n": [{"numeric": ["=", 301.8]}]}),
                json!({"n": 3.018e2}),
                true,
            ),
            (
                json!({"n": [{"numeric": [">", 0, "<=", 5]}]}),
                json!({"n": 5}),
                true,
            ),
            (
                json!({"n": [{"numeric": [">", 0, "<=", 5]}]}),
                json!({"n": 0}),
                false,
            ),
            (
                json!({"n": [{"numeric": [">", 0, "<", 5]}]}),
                json!({"n": 4.999999}),
                true,
            ),
            (
                json!({"n": [{"numeric": [">", 0]}]}),
                json!({"n": 0.000001}),
                true,
            ),
            (
                json!({"n": [{"numeric": [">", 0]}]}),
                json!({"n": 6e9}),
                false,
            ),
            (
                json!({"n": [{"numeric": [">", 0]}]}),
                json!({"n": 1.0000001}),
                false,
            ),
            (
                json!({"n": [{"numeric": [">", 0]}]}),
                json!({"n": "5"}),
                false,
            ),
            (
                json!({"n": [{"numeric": [">", 0]}]}),
                json!({"n": [-1, 3]}),
                true,
            ),
            (
                json!({"n": [{"numeric": [">=", -5e9, "<=", 5e9]}]}),
                json!({"n": 5e9}),
                true,
            ),
        ]);
    }

    #[test]
    fn exists_and_null() {
        check_table(&[
            (json!({"a": [{"exists": true}]}), json!({"a": "x"}), true),
            (json!({"a": [{"exists": true}]}), json!({"a": null}), true),
            (json!({"a": [{"exists": true}]}), json!({"a": ""}), true),
            (
                json!({"a": [{"exists": true}]}),
                json!({"a": {"b": 1}}),
                false,
            ),
            (json!({"a": [{"exists": true}]}), json!({"a": []}), false),
            (json!({"a": [{"exists": true}]}), json!({"a": [1]}), true),
            (json!({"a": [{"exists": false}]}), json!({}), true),
            (
                json!({"a": [{"exists": false}]}),
                json!({"a": {"b": 1}}),
                true,
            ),
            (json!({"a": [{"exists": false}]}), json!({"a": []}), true),
            (json!({"a": [{"exists": false}]}), json!({"a": null}), false),
            (json!({"a": [{"exists": false}]}), json!({"a": "x"}), false),
            (
                json!({"a": [{"exists": false}, "x"]}),
                json!({"a": "x"}),
                true,
            ),
            (
                json!({"a": [{"exists": false}, "x"]}),
                json!({"a": "y"}),
                false,
            ),
        ]);
    }

    #[test]
    fn cidr() {
        check_table(&[
            (
                json!({"ip": [{"cidr": "10.0.0.0/24"}]}),
                json!({"ip": "10.0.0.255"}),
                true,
            ),
            (
                json!({"ip": [{"cidr": "10.0.0.0/24"}]}),
                json!({"ip": "10.0.1.0"}),
                false,
            ),
            (
                json!({"ip": [{"cidr": "10.0.0.0/8"}]}),
                json!({"ip": "10.255.1.2"}),
                true,
            ),
            (
                json!({"ip": [{"cidr": "10.0.0.0/8"}]}),
                json!({"ip": "::ffff:a00:1"}),
                true,
            ),
            (
                json!({"ip": [{"cidr": "10.0.0.0/8"}]}),
                json!({"ip": "10.0.0.256"}),
                false,
            ),
            (
                json!({"ip": [{"cidr": "10.0.0.0/8"}]}),
                json!({"ip": 10}),
                false,
            ),
            (
                json!({"ip": [{"cidr": "10.0.0.0/0"}]}),
                json!({"ip": "200.1.1.1"}),
                true,
            ),
            (
                json!({"ip": [{"cidr": "2001:db8::/32"}]}),
                json!({"ip": "2001:DB8:ffff::1"}),
                true,
            ),
            (
                json!({"ip": [{"cidr": "2001:db8::/32"}]}),
                json!({"ip": "2001:db9::1"}),
                false,
            ),
            (
                json!({"ip": [{"cidr": "2001:db8::/32"}]}),
                json!({"ip": "10.0.0.1"}),
                false,
            ),
        ]);
    }

    #[test]
    fn or_and_dot_joining() {
        check_table(&[
            (
                json!({"$or": [{"a": ["1"]}, {"b": ["2"]}]}),
                json!({"b": "2"}),
                true,
            ),
            (
                json!({"$or": [{"a": ["1"]}, {"b": ["2"]}]}),
                json!({"a": "2"}),
                false,
            ),
            (
                json!({"c": ["3"], "$or": [{"a": ["1"]}, {"b": ["2"]}]}),
                json!({"b": "2"}),
                false,
            ),
            (
                json!({"d": {"$or": [{"a": ["1"]}, {"b": {"c": ["2"]}}]}}),
                json!({"d": {"b": {"c": "2"}}}),
                true,
            ),
            (
                json!({"$or": [{"a": ["1"]}, {"$or": [{"b": ["2"]}, {"c": ["3"]}]}]}),
                json!({"c": "3"}),
                true,
            ),
            (json!({"a.b": ["x"]}), json!({"a": {"b": "x"}}), true),
            (json!({"a": {"b": ["x"]}}), json!({"a.b": "x"}), true),
        ]);
    }

    #[test]
    fn array_consistency() {
        let p = pat(json!({"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}}));
        let event = json!({"employees": [
            {"firstName": "John", "lastName": "Doe"},
            {"firstName": "Anna", "lastName": "Smith"},
            {"firstName": "Peter", "lastName": "Jones"}
        ]});
        assert!(!p.matches(&event));
        let m = p.explain(&event).unwrap_err();
        assert_eq!(m.path, "employees.firstName");
        assert!(m.reason.contains("different elements"), "{m}");
        let p = pat(json!({"employees": {"firstName": ["Anna"], "lastName": ["Smith"]}}));
        assert!(p.matches(&event));
        // Nested arrays: consistent at the outer level is what counts.
        let p = pat(json!({"a": {"b": [1], "c": [2]}}));
        assert!(p.matches(&json!({"a": [[{"b": 1, "c": 2}], [{"b": 3}]]})));
        assert!(!p.matches(&json!({"a": [{"b": 1}, {"c": 2}]})));
        // Independent arrays do not constrain each other.
        let p = pat(json!({"x": {"a": [1]}, "y": {"b": [2]}}));
        assert!(p.matches(&json!({"x": [{"a": 0}, {"a": 1}], "y": [{"b": 2}, {"b": 0}]})));
    }

    #[test]
    fn deep_and_large_events() {
        let p = pat(json!({"a": ["x"], "b": [{"exists": false}]}));
        let mut deep = json!("x");
        for _ in 0..500 {
            deep = json!([deep]);
        }
        let mut event = json!({ "a": deep });
        let mut other = json!(1);
        for _ in 0..500 {
            other = json!({ "z": other });
        }
        event["z"] = other;
        assert!(p.matches(&event));
        let wide: Vec<Value> = (0..5000).map(|i| json!({"k": i, "v": i % 7})).collect();
        // 4999 % 7 == 1: the element with k 4999 has v 1, other elements have v 2.
        let p = pat(json!({"w": {"k": [4999], "v": [2]}}));
        assert!(!p.matches(&json!({ "w": wide.clone() })));
        let p = pat(json!({"w": {"k": [4999], "v": [1]}}));
        assert!(p.matches(&json!({ "w": wide })));
    }

    #[test]
    fn duplicate_keys_last_wins() {
        let text = r#"{"a": ["1"], "a": ["2"]}"#;
        let p = Pattern::parse_str(text).unwrap();
        assert!(p.matches(&json!({"a": "2"})));
        assert!(!p.matches(&json!({"a": "1"})));
        assert_eq!(p.overridden_paths(), ["a"]);
        assert!(pat(json!({"a": ["1"]})).overridden_paths().is_empty());
        // Different spellings of one path also override in document order.
        let p = Pattern::parse_str(r#"{"a": {"b": ["1"]}, "a.b": ["2"]}"#).unwrap();
        assert!(p.matches(&json!({"a": {"b": "2"}})));
        assert!(!p.matches(&json!({"a": {"b": "1"}})));
        // Every occurrence is still validated.
        assert!(Pattern::parse_str(r#"{"a": [], "a": ["2"]}"#).is_err());
    }

    #[test]
    fn invalid_patterns() {
        let cases: Vec<(Value, &str, &str)> = vec![
            (json!([]), "Filter is not an object", ""),
            (json!("x"), "Filter is not an object", ""),
            (json!({}), "Empty objects are not allowed", ""),
            (json!({"a": {}}), "Empty objects are not allowed", "a"),
            (json!({"a": []}), "Empty arrays are not allowed", "a"),
            (json!({"source": "x"}), "\"source\" must be an object or an array", "source"),
            (json!({"a": [["x"]]}), "Match value must be String, number, true, false, or null", "a[0]"),
            (json!({"a": [{}]}), "Match expression name not found", "a[0]"),
            (json!({"a": [{"Prefix": "x"}]}), "Unrecognized match type Prefix", "a[0]"),
            (json!({"a": [{"contains": "x"}]}), "Unrecognized match type contains", "a[0]"),
            (json!({"a": [{"prefix": "x", "suffix": "y"}]}), MSG_ONE_KEY, "a[0]"),
            (json!({"a": [{"prefix": {"equals-ignore-case": 1}}]}), "equals-ignore-case match pattern must be a string", "a[0].prefix.equals-ignore-case"),
            (json!({"a": [{"prefix": {"exact": "x"}}]}), "Unsupported prefix pattern: exact", "a[0].prefix"),
            (json!({"a": [{"exists": "yes"}]}), "exists match pattern must be either true or false.", "a[0].exists"),
            (json!({"a": [{"numeric": []}]}), "Invalid member in numeric match: ]", "a[0].numeric"),
            (json!({"a": [{"numeric": ["!=", 1]}]}), "Unrecognized numeric range operator: !=", "a[0].numeric"),
            (json!({"a": [{"numeric": ["=", "1"]}]}), "Value of equals must be numeric", "a[0].numeric"),
            (json!({"a": [{"numeric": ["<", 5, ">", 1]}]}), MSG_TOO_MANY, "a[0].numeric"),
            (json!({"a": [{"numeric": [">", 5, "<", 1]}]}), "Bottom must be less than top", "a[0].numeric"),
            (json!({"a": [{"numeric": [">=", 5, "<=", 5]}]}), "Bottom must be less than top", "a[0].numeric"),
            (json!({"a": [{"numeric": [">", 0, "<", 5, 6]}]}), "Too many terms in numeric range expression", "a[0].numeric"),
            (json!({"a": [{"numeric": [">", 5e9 + 1.0]}]}), MSG_RANGE, "a[0].numeric"),
            (json!({"a": [{"numeric": [">", 0.0000001]}]}), MSG_DECIMALS, "a[0].numeric"),
            (json!({"a": [{"numeric": [">", 1], "x": 1}]}), MSG_TOO_MANY, "a[0]"),
            (json!({"a": [{"anything-but": ["x", 1]}]}), "Inside anything but list, either all values are number or string, mixed type is not supported", "a[0].anything-but"),
            (json!({"a": [{"anything-but": []}]}), "Inside anything but list, either all values are number or string, mixed type is not supported", "a[0].anything-but"),
            (json!({"a": [{"anything-but": [true]}]}), "Inside anything but list, start|null|boolean is not supported.", "a[0].anything-but"),
            (json!({"a": [{"anything-but": {"exists": true}}]}), "Unsupported anything-but pattern: exists", "a[0].anything-but"),
            (json!({"a": [{"anything-but": [1e10]}]}), MSG_RANGE, "a[0].anything-but"),
            (json!({"a": [{"wildcard": "a**"}]}), "Consecutive wildcard characters at pos 2", "a[0].wildcard"),
            (json!({"a": [{"wildcard": "a\\b"}]}), "Invalid escape character at pos 2", "a[0].wildcard"),
            (json!({"a": [{"wildcard": "a\\"}]}), "Invalid escape character at pos 2", "a[0].wildcard"),
            (json!({"a": [{"anything-but": {"wildcard": ["ok", "x**"]}}]}), "Consecutive wildcard characters at pos 2", "a[0].anything-but"),
            (json!({"a": [{"cidr": "10.0.0.0/32"}]}), "IPv4 mask bits must be < 32", "a[0].cidr"),
            (json!({"a": [{"cidr": "::/128"}]}), "IPv6 mask bits must be < 128", "a[0].cidr"),
            (json!({"a": [{"cidr": "10.0.0.0/-1"}]}), "Malformed CIDR, mask bits must not be negative", "a[0].cidr"),
            (json!({"a": [{"cidr": "10.0.0.300/8"}]}), "Invalid IP address: 10.0.0.300", "a[0].cidr"),
            (json!({"a": [{"cidr": "10.0.0.0"}]}), "Malformed CIDR, one '/' required", "a[0].cidr"),
            (json!({"$or": [{"a": ["1"]}]}), "There must have at least 2 Objects in $or relationship.", "$or"),
            (json!({"$or": {"a": ["1"]}}), "It must be an Array followed with $or.", "$or"),
            (json!({"$or": [{"a": ["1"]}, "b"]}), "Only JSON object is allowed in array of $or relationship.", "$or[1]"),
            (json!({"$or": [{"a": ["1"]}, {"prefix": ["b"]}]}), "prefix is Ruler reserved fieldName which cannot be used inside $or.", "$or[1].prefix"),
        ];
        for (p, message, path) in cases {
            let e = err(p.clone());
            assert_eq!(e.message, message, "pattern {p}");
            assert_eq!(e.path, path, "pattern {p}");
            assert_eq!(e.aws_message(), format!("{AWS_PREFIX}{message}"));
        }
        let e = err(json!({"a": [{"prefix": 1}]}));
        assert_eq!(
            e.to_string(),
            "prefix match pattern must be a string at a[0].prefix"
        );
    }

    #[test]
    fn size_and_depth_limits() {
        let long = "x".repeat(MAX_PATTERN_CHARS);
        let e = Pattern::parse(&json!({ "a": [long] })).unwrap_err();
        assert!(e.message.contains("maximum is 4096"), "{e}");
        let fits = "x".repeat(MAX_PATTERN_CHARS - 10);
        assert!(Pattern::parse_str(&format!("{{\"a\":[\"{fits}\"]}}")).is_ok());
        let mut deep = json!(["x"]);
        for _ in 0..200 {
            deep = json!({ "a": deep });
        }
        assert!(Pattern::parse(&deep).is_err());
        assert!(Pattern::parse_str("{\"a\": [\"x\"]").is_err());
        assert!(Pattern::parse_str("{\"a\": [\"x\"]} trailing").is_err());
        let mut wide = serde_json::Map::new();
        for i in 0..11 {
            wide.insert(
                format!("k{i}"),
                json!({"$or": [{"a": ["1"]}, {"b": ["2"]}]}),
            );
        }
        let e = Pattern::parse(&Value::Object(wide)).unwrap_err();
        assert!(e.message.contains("Too many $or combinations"), "{e}");
    }

    #[test]
    fn wildcard_complexity_scores() {
        let score = |w: &str| {
            let w = Wildcard::parse(w).unwrap();
            wildcard_complexity(&[&w], 1000)
        };
        assert_eq!(score("*:*:*:*:*:event-bus/*"), 11);
        assert_eq!(score("/Users/*/dir/dir/dir/dir/dir/doc.txt"), 7);
        assert_eq!(score("arn:aws:events:us-east-1:*:event-bus/*"), 3);
        assert_eq!(score("abc"), 1);
        // The recorded corpus cases sit on either side of the limit.
        assert!(score("*:*:*:*:*:event-bus/*") > MAX_WILDCARD_COMPLEXITY);
        assert!(score("/Users/*/dir/dir/dir/dir/dir/doc.txt") <= MAX_WILDCARD_COMPLEXITY);
        // Several wildcards on one field add up.
        // (A public report: three `*:stack/<name>/*` values on one field were accepted, four
        // were rejected as too complex.)
        let many: Vec<Wildcard> = ["*:stack/a/*", "*:stack/b/*", "*:stack/c/*", "*:stack/d/*"]
            .iter()
            .map(|w| Wildcard::parse(w).unwrap())
            .collect();
        let refs: Vec<&Wildcard> = many.iter().collect();
        assert_eq!(wildcard_complexity(&refs[..3], 1000), 9);
        assert_eq!(wildcard_complexity(&refs, 1000), 12);
        assert!(wildcard_complexity(&refs[..3], 1000) <= MAX_WILDCARD_COMPLEXITY);
        assert!(wildcard_complexity(&refs, 1000) > MAX_WILDCARD_COMPLEXITY);
        // Early exit: never explores past the limit.
        assert!(wildcard_complexity(&refs, 5) > 5);
        // Through the parser, with the service's message.
        let e = err(
            json!({"f": [{"wildcard": "*:stack/a/*"}, {"wildcard": "*:stack/b/*"},
                                 {"wildcard": "*:stack/c/*"}, {"wildcard": "*:stack/d/*"}]}),
        );
        assert_eq!(e.message, MSG_TOO_COMPLEX);
        assert_eq!(e.path, "f");
        // anything-but wildcards do not count.
        assert!(
            Pattern::parse(&json!({"f": [{"anything-but": {"wildcard": "*:*:*:*:*:e/*"}}]}))
                .is_ok()
        );
    }

    #[test]
    fn explain_names_the_detail_type_typo() {
        let text = r#"{"source": ["com.ami.builder"], "detail-type": ["AmiBuilder"],
                       "detail": {"AmiStatus": ["Created"]}}"#;
        let event = json!({
            "source": "com.ami.builder",
            "detail-type": "AmiBuilder ",
            "detail": {"AmiStatus": "Created", "AmiId": "ami-0123"}
        });
        for p in [
            Pattern::parse_str(text).unwrap(),
            pat(serde_json::from_str(text).unwrap()),
        ] {
            assert!(!p.matches(&event));
            let m = p.explain(&event).unwrap_err();
            assert_eq!(m.path, "detail-type");
            assert_eq!(
                m.to_string(),
                r#"detail-type: "AmiBuilder " is not one of ["AmiBuilder"]"#
            );
        }
        let mut fixed = event.clone();
        fixed["detail-type"] = json!("AmiBuilder");
        assert_eq!(Pattern::parse_str(text).unwrap().explain(&fixed), Ok(()));
    }

    #[test]
    fn explain_reasons() {
        let p = Pattern::parse_str(
            r#"{"detail": {"AmiStatus": ["Created"], "size": [{"numeric": [">", 10]}]}}"#,
        )
        .unwrap();
        let m = p.explain(&json!({"detail": {"size": 5}})).unwrap_err();
        assert_eq!(m.to_string(), "detail.AmiStatus: field is missing");
        let m = p
            .explain(&json!({"detail": {"AmiStatus": "Created", "size": 5}}))
            .unwrap_err();
        assert_eq!(
            m.to_string(),
            r#"detail.size: 5 is not in numeric range [">", 10]"#
        );
        let m = p
            .explain(&json!({"detail": {"AmiStatus": {"x": 1}, "size": 50}}))
            .unwrap_err();
        assert!(
            m.reason
                .starts_with("field is missing (the event has an object"),
            "{m}"
        );
        let m = p
            .explain(&json!({"detail": {"AmiStatus": ["Deleted", "Failed"], "size": 50}}))
            .unwrap_err();
        assert_eq!(
            m.to_string(),
            r#"detail.AmiStatus: none of ["Deleted", "Failed"] is one of ["Created"]"#
        );
        let p = pat(json!({"a": [{"exists": false}]}));
        let m = p.explain(&json!({"a": 1})).unwrap_err();
        assert_eq!(
            m.reason,
            "field is present (1) but the pattern requires it to be absent"
        );
        let p = pat(json!({"a": [{"prefix": "x"}, "y"]}));
        let m = p.explain(&json!({"a": "z"})).unwrap_err();
        assert_eq!(
            m.reason,
            r#""z" does not match any of [{"prefix": "x"}, "y"]"#
        );
        // $or: the closest alternative is explained.
        let p = Pattern::parse_str(
            r#"{"$or": [{"a": ["1"], "b": ["2"]}, {"c": ["3"], "d": ["4"], "e": ["5"]}]}"#,
        )
        .unwrap();
        let m = p
            .explain(&json!({"c": "3", "d": "4", "e": "6"}))
            .unwrap_err();
        assert_eq!(m.path, "e");
        assert!(m.reason.contains("closest of 2 $or alternatives"), "{m}");
    }

    #[test]
    fn numbers_to_micros() {
        assert_eq!(to_micros("1"), Ok(1_000_000));
        assert_eq!(to_micros("-0"), Ok(0));
        assert_eq!(to_micros("301.8"), Ok(301_800_000));
        assert_eq!(to_micros("3.018e2"), Ok(301_800_000));
        assert_eq!(to_micros("1.000000"), Ok(1_000_000));
        assert_eq!(to_micros("1E-6"), Ok(1));
        assert_eq!(to_micros("1e-7"), Err(NumError::TooPrecise));
        assert_eq!(to_micros("5e9"), Ok(5_000_000_000_000_000));
        assert_eq!(to_micros("-5000000000.000000"), Ok(-5_000_000_000_000_000));
        assert_eq!(to_micros("5000000000.000001"), Err(NumError::OutOfRange));
        assert_eq!(to_micros("1e400"), Err(NumError::OutOfRange));
        assert_eq!(to_micros("1e-400"), Err(NumError::TooPrecise));
        assert_eq!(to_micros("0e99999999999999999999"), Ok(0));
    }

    fn arb_json(depth: u32) -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            prop_oneof![
                "[a-z*\\\\.:/ -]{0,8}",
                Just("10.0.0.1".to_string()),
                Just("::1".to_string()),
                Just("$or".to_string()),
                Just("prefix".to_string()),
                Just("anything-but".to_string()),
                Just(">".to_string()),
            ]
            .prop_map(Value::String),
        ];
        leaf.prop_recursive(depth, 64, 6, |inner| {
            let key = prop_oneof![
                "[a-c.]{0,3}",
                Just("$or".to_string()),
                Just("prefix".to_string()),
                Just("numeric".to_string()),
                Just("anything-but".to_string()),
                Just("exists".to_string()),
                Just("wildcard".to_string()),
                Just("cidr".to_string()),
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(key, inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A pattern requiring each scalar leaf of `event` (arrays and empty objects skipped).
    fn self_pattern(event: &Value) -> Option<Value> {
        match event {
            Value::Object(map) => {
                let fields: serde_json::Map<String, Value> = map
                    .iter()
                    .filter(|(k, _)| k.as_str() != "$or")
                    .filter_map(|(k, v)| self_pattern(v).map(|p| (k.clone(), p)))
                    .collect();
                (!fields.is_empty()).then_some(Value::Object(fields))
            }
            Value::Array(_) => None,
            scalar => Some(json!([scalar])),
        }
    }

    fn arb_scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-20i64..20).prop_map(|n| json!(n)),
            (-20i64..20).prop_map(|n| json!(n as f64 / 4.0)),
            prop::sample::select(vec![
                "", "x", "X", "xy", "a*b", "10.0.0.1", "10.1.2.3", "::1", "ab.png"
            ])
            .prop_map(|s| json!(s)),
        ]
    }

    fn arb_text() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["x", "X", "a", "ab", ".png", "10."]).prop_map(String::from)
    }

    /// One alternative of a valid pattern field.
    fn arb_alternative() -> impl Strategy<Value = Value> {
        let wildcard = prop::sample::select(vec!["*", "x*", "*x", "a*b", "a\\*b", "*.png"]);
        prop_oneof![
            arb_scalar(),
            arb_text().prop_map(|t| json!({"prefix": t})),
            arb_text().prop_map(|t| json!({"suffix": {"equals-ignore-case": t}})),
            arb_text().prop_map(|t| json!({"equals-ignore-case": t})),
            wildcard.prop_map(|w| json!({"wildcard": w})),
            arb_text().prop_map(|t| json!({"anything-but": t})),
            prop::collection::vec(-5i64..5, 1..3).prop_map(|v| json!({"anything-but": v})),
            arb_text().prop_map(|t| json!({"anything-but": {"prefix": [t]}})),
            (-5i64..5).prop_map(|n| json!({"numeric": [">=", n]})),
            (-5i64..5, 1i64..5).prop_map(|(n, d)| json!({"numeric": [">", n, "<=", n + d]})),
            any::<bool>().prop_map(|b| json!({"exists": b})),
            Just(json!({"cidr": "10.0.0.0/8"})),
        ]
    }

    fn arb_object(inner: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
        prop::collection::btree_map(
            prop::sample::select(vec!["a", "b", "c"]).prop_map(String::from),
            inner,
            1..3,
        )
        .prop_map(|m| Value::Object(m.into_iter().collect()))
        .boxed()
    }

    fn arb_pattern() -> impl Strategy<Value = Value> {
        let field = prop::collection::vec(arb_alternative(), 1..3)
            .prop_map(Value::Array)
            .boxed();
        let nested = arb_object(prop_oneof![field.clone(), arb_object(field)].boxed());
        (nested.clone(), prop::option::of((nested.clone(), nested))).prop_map(|(mut base, or)| {
            if let (Some((x, y)), Value::Object(map)) = (or, &mut base) {
                map.insert("$or".into(), json!([x, y]));
            }
            base
        })
    }

    fn arb_event() -> impl Strategy<Value = Value> {
        let leaf = arb_scalar();
        let value = leaf.prop_recursive(3, 24, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop::sample::select(vec!["a", "b", "c"]).prop_map(String::from),
                    inner,
                    0..3,
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        });
        prop::collection::btree_map(
            prop::sample::select(vec!["a", "b", "c"]).prop_map(String::from),
            value,
            0..4,
        )
        .prop_map(|m| Value::Object(m.into_iter().collect()))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn valid_patterns_parse_and_agree(p in arb_pattern(), events in prop::collection::vec(arb_event(), 1..8)) {
            let from_value = Pattern::parse(&p);
            prop_assert!(from_value.is_ok(), "{}: {:?}", p, from_value.err());
            let from_value = from_value.unwrap();
            let from_text = Pattern::parse_str(&serde_json::to_string_pretty(&p).unwrap()).unwrap();
            for e in &events {
                let m = from_value.matches(e);
                prop_assert_eq!(m, from_text.matches(e), "{} on {}", p, e);
                prop_assert_eq!(m, from_value.explain(e).is_ok(), "{} on {}", p, e);
            }
        }

        #[test]
        fn parsing_arbitrary_json_never_panics(v in arb_json(4)) {
            let _ = Pattern::parse(&v);
            let _ = Pattern::parse_str(&v.to_string());
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(s in "[\\[\\]{}\",:a-z0-9$.*\\\\ -]{0,40}") {
            let _ = Pattern::parse_str(&s);
        }

        #[test]
        fn matching_arbitrary_events_never_panics(p in arb_json(3), e in arb_json(4)) {
            if let Ok(p) = Pattern::parse(&p) {
                let matched = p.matches(&e);
                prop_assert_eq!(matched, p.explain(&e).is_ok());
            }
        }

        #[test]
        fn an_event_matches_a_pattern_of_its_own_leaves(
            fields in prop::collection::btree_map("[a-c.$]{0,3}", arb_json(3), 1..6)
        ) {
            let e = Value::Object(fields.into_iter().collect());
            if let Some(pattern) = self_pattern(&e) {
                for parsed in [Pattern::parse(&pattern), Pattern::parse_str(&pattern.to_string())] {
                    match parsed {
                        Ok(p) => prop_assert!(p.matches(&e), "{} vs {}: {:?}", pattern, e, p.explain(&e)),
                        Err(err) => prop_assert!(err.message.contains("maximum is"), "{}: {}", pattern, err),
                    }
                }
            }
        }
    }
}
