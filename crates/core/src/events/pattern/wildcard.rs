//! The `wildcard` operator: parsing `*`, `\*` and `\\`, matching, and the complexity bound that
//! approximates the service's "Rule is too complex" check.

use super::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum WildcardToken {
    Literal(char),
    Star,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Wildcard {
    pub(super) tokens: Vec<WildcardToken>,
}

impl Wildcard {
    /// Parses a wildcard value: `*` matches any run of characters, `\*` a literal star and
    /// `\\` a literal backslash; any other escape, and `**`, are errors. Positions in messages
    /// are byte offsets counted as the service does (one more than the offset in the value).
    pub(super) fn parse(text: &str) -> Result<Wildcard, String> {
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

    pub(super) fn matches(&self, value: &str) -> bool {
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

pub(super) fn check_wildcard_complexity(
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
pub(super) fn wildcard_complexity(wildcards: &[&Wildcard], limit: usize) -> usize {
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
