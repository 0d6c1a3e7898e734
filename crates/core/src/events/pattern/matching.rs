//! Matching a pattern against a flattened event, field by field, with array-consistent
//! matching bounded by a step budget.

use super::*;

// Matching

impl Matcher {
    pub(super) fn matches(&self, leaf: &Leaf<'_>) -> bool {
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
pub(super) struct FieldOutcome {
    /// Leaves that match one of the field's alternatives.
    pub(super) candidates: Vec<usize>,
    /// The field has `exists: false` and the event has no value there.
    pub(super) absent_ok: bool,
}

impl FieldOutcome {
    pub(super) fn ok(&self) -> bool {
        !self.candidates.is_empty() || self.absent_ok
    }
}

pub(super) enum Failure {
    /// This field has no acceptable value.
    Field(usize),
    /// Each field matches, but not with values from the same array elements.
    Inconsistent(Vec<usize>),
}

impl Pattern {
    pub(super) fn field_outcome(&self, index: usize, flat: &Flat<'_>) -> FieldOutcome {
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

    pub(super) fn evaluate(&self, event: &Value, want_reason: bool) -> Result<(), Mismatch> {
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

    pub(super) fn describe(&self, failure: &Failure, flat: &Flat<'_>) -> Mismatch {
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
