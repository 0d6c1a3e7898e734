//! Why an event does not match: the first field that failed, in words, and the search for
//! an array-consistent choice of values.

use super::*;

pub(super) fn render_value(value: &Value) -> String {
    const MAX: usize = 120;
    let text = value.to_string();
    if text.chars().count() > MAX {
        let cut: String = text.chars().take(MAX - 3).collect();
        format!("{cut}...")
    } else {
        text
    }
}

pub(super) fn field_reason(field: &Field, leaves: &[&Leaf<'_>], non_leaf: Option<&&str>) -> String {
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
pub(super) fn consistent_choice(
    domains: &[(usize, &[usize])],
    leaves: &[Leaf<'_>],
    budget: &mut u64,
) -> Result<(), Vec<usize>> {
    // Union fields that have candidates inside a common array.
    let mut parent: Vec<usize> = (0..domains.len()).collect();
    pub(super) fn root(parent: &mut [usize], mut i: usize) -> usize {
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
pub(super) fn search_consistent(
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
