//! Case-insensitive comparison for `equals-ignore-case` and the ignore-case forms of
//! `prefix` and `suffix`.

// Case-insensitive comparison

/// The spellings a pattern character may take in the event: itself, its lower case and its
/// upper case (each possibly several characters, e.g. `ß` -> `SS`).
pub(super) fn case_variants(c: char, reversed: bool) -> Vec<Vec<char>> {
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
pub(super) fn ignore_case_ends(pattern: &str, text: &str, from_end: bool) -> Vec<usize> {
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

pub(super) fn equals_ignore_case(pattern: &str, text: &str) -> bool {
    ignore_case_ends(pattern, text, false).contains(&text.chars().count())
}

pub(super) fn prefix_ignore_case(pattern: &str, text: &str) -> bool {
    !ignore_case_ends(pattern, text, false).is_empty()
}

pub(super) fn suffix_ignore_case(pattern: &str, text: &str) -> bool {
    !ignore_case_ends(pattern, text, true).is_empty()
}
