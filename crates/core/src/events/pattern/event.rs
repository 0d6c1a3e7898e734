//! Events flattened to leaf values, with array-element identities for array-consistent
//! matching.

use super::*;

// Events

/// (array id, element index) for every array enclosing a value, outermost first.
pub(super) type Membership = Vec<(usize, usize)>;

/// A leaf value of the event at one of the pattern's paths.
pub(super) struct Leaf<'a> {
    pub(super) value: &'a Value,
    pub(super) arrays: Membership,
    /// For numbers: millionths when comparable, and the exact value.
    pub(super) number: Option<(Option<i64>, Option<Decimal>)>,
    pub(super) ip: OnceCell<Option<Vec<u8>>>,
}

impl Leaf<'_> {
    pub(super) fn as_str(&self) -> Option<&str> {
        self.value.as_str()
    }

    pub(super) fn micros(&self) -> Option<i64> {
        self.number.as_ref().and_then(|(m, _)| *m)
    }

    pub(super) fn ip(&self) -> Option<&[u8]> {
        self.ip
            .get_or_init(|| self.as_str().and_then(|s| ip_to_bytes(s).ok()))
            .as_deref()
    }

    pub(super) fn consistent_with(&self, other: &Leaf<'_>) -> bool {
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
pub(super) struct Flat<'a> {
    pub(super) leaves: Vec<Leaf<'a>>,
    pub(super) by_path: HashMap<String, Vec<usize>>,
    /// Pattern paths where the event has a non-leaf (object or empty array), for explanations.
    pub(super) non_leaf: HashMap<String, &'static str>,
}

impl Pattern {
    pub(super) fn relevant(&self, path: &str) -> bool {
        self.paths.contains(path) || self.prefixes.contains(path)
    }

    /// Flattens the event (iteratively, so any depth is fine), keeping only leaves at the
    /// pattern's paths. A non-object event has no fields.
    pub(super) fn flatten<'a>(&self, event: &'a Value) -> Flat<'a> {
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
