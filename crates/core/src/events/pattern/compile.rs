//! Compiling (validating) pattern JSON into the [`super::Pattern`] model, with the service's
//! own error messages.

use super::*;

// Compilation (validation) of the pattern JSON

/// A conjunction being built: field path -> index in `Compiler::fields`, in insertion order.
pub(super) type Rule = Vec<(String, usize)>;

#[derive(Default)]
pub(super) struct Compiler {
    pub(super) fields: Vec<Field>,
    /// Paths set again after an earlier definition (the later one wins).
    pub(super) overridden: Vec<String>,
}

pub(super) fn child_loc(loc: &str, key: &str) -> String {
    if loc.is_empty() {
        key.to_string()
    } else {
        format!("{loc}.{key}")
    }
}

pub(super) fn index_loc(loc: &str, i: usize) -> String {
    format!("{loc}[{i}]")
}

/// Joins field names the way EventBridge does: with `.`, the top level having no prefix.
pub(super) fn join_path(prefix: Option<&str>, key: &str) -> String {
    match prefix {
        None => key.to_string(),
        Some(p) => format!("{p}.{key}"),
    }
}

pub(super) fn compile(json: &Json) -> Result<Pattern, PatternError> {
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
    pub(super) fn object(
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
    pub(super) fn or(
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
    pub(super) fn field(
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
pub(super) fn match_expression(
    entries: &[(String, Json)],
    loc: &str,
) -> Result<Matcher, PatternError> {
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
pub(super) fn ignore_case_operand(
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
pub(super) fn numeric_operand(items: &[Json]) -> Result<NumRange, String> {
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
pub(super) enum AnythingButKind {
    Plain,
    IgnoreCase,
    Prefix,
    Suffix,
    Wildcard,
}

impl AnythingButKind {
    /// The message for a value of the wrong type inside `anything-but: {kind: ...}`.
    pub(super) fn type_error(self) -> &'static str {
        match self {
            AnythingButKind::IgnoreCase => {
                "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported."
            }
            AnythingButKind::Wildcard => "wildcard match pattern must be a string",
            _ => "prefix/suffix match pattern must be a string",
        }
    }
}

pub(super) fn anything_but(
    value: &Json,
    loc: &str,
    outer_keys: usize,
) -> Result<Matcher, PatternError> {
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
