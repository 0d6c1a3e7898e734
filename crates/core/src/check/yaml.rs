//! YAML (and JSON) documents as a small tree that keeps key order and CloudFormation's
//! short-form tags (`!Sub`, `!Ref`, ...) as intrinsic-function nodes, with bounded depth
//! and alias expansion. Written on `yaml-rust2`'s event parser because no YAML crate keeps
//! CloudFormation's tags: `serde_yaml`-style loaders reject or drop unknown tags.

use super::*;

// YAML (and JSON) documents, keeping order and CloudFormation tags

/// A YAML/JSON value in document order, with CloudFormation's short-form
/// tags kept as intrinsic functions.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    Null,
    Bool(bool),
    Int(i64),
    /// A number that is not an `i64`, as written.
    Float(String),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in document order (a repeated key is kept; lookups take the last).
    Map(Vec<(String, Node)>),
    /// A short-form tag such as `!Sub`, and what it was applied to.
    Intrinsic {
        tag: String,
        arg: Box<Node>,
    },
}

impl Node {
    /// The value of `key` in a map (the last one when repeated).
    pub(super) fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A scalar as text (`None` for null, collections and intrinsics).
    pub(super) fn scalar_text(&self) -> Option<String> {
        match self {
            Node::Bool(b) => Some(b.to_string()),
            Node::Int(i) => Some(i.to_string()),
            Node::Float(f) => Some(f.clone()),
            Node::Str(s) => Some(s.clone()),
            _ => None,
        }
    }

    pub(super) fn is_empty_map(&self) -> bool {
        matches!(self, Node::Map(e) if e.is_empty())
    }

    /// `!Sub` for a short-form tag, `Fn::Sub`/`Ref` for the JSON form.
    pub(super) fn intrinsic_name(&self) -> Option<String> {
        match self {
            Node::Intrinsic { tag, .. } => Some(format!("!{tag}")),
            Node::Map(entries) if entries.len() == 1 => {
                let k = &entries[0].0;
                (k == "Ref" || k.starts_with("Fn::")).then(|| k.clone())
            }
            _ => None,
        }
    }

    pub(super) fn intrinsic_arg(&self) -> Option<&Node> {
        match self {
            Node::Intrinsic { arg, .. } => Some(arg),
            Node::Map(entries) if entries.len() == 1 => Some(&entries[0].1),
            _ => None,
        }
    }

    pub(super) fn contains_intrinsic(&self) -> bool {
        if self.intrinsic_name().is_some() {
            return true;
        }
        match self {
            Node::Seq(items) => items.iter().any(Node::contains_intrinsic),
            Node::Map(entries) => entries.iter().any(|(_, v)| v.contains_intrinsic()),
            _ => false,
        }
    }

    /// Every string below this node (intrinsic arguments included).
    pub(super) fn strings<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Node::Str(s) => out.push(s),
            Node::Seq(items) => items.iter().for_each(|i| i.strings(out)),
            Node::Map(entries) => entries.iter().for_each(|(_, v)| v.strings(out)),
            Node::Intrinsic { arg, .. } => arg.strings(out),
            _ => {}
        }
    }

    /// Compact JSON in document order; intrinsics in their JSON form.
    pub(super) fn to_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    pub(super) fn write_json(&self, out: &mut String) {
        match self {
            Node::Null => out.push_str("null"),
            Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Node::Int(i) => out.push_str(&i.to_string()),
            Node::Float(text) => {
                if serde_json::from_str::<serde_json::Number>(text).is_ok() {
                    out.push_str(text);
                } else if let Some(n) = text
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                {
                    out.push_str(&n.to_string());
                } else {
                    out.push_str(&Value::String(text.clone()).to_string());
                }
            }
            Node::Str(s) => out.push_str(&Value::String(s.clone()).to_string()),
            Node::Seq(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_json(out);
                }
                out.push(']');
            }
            Node::Map(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    v.write_json(out);
                }
                out.push('}');
            }
            Node::Intrinsic { tag, arg } => {
                let key = if tag == "Ref" || tag == "Condition" {
                    tag.clone()
                } else {
                    format!("Fn::{tag}")
                };
                out.push('{');
                out.push_str(&Value::String(key).to_string());
                out.push(':');
                arg.write_json(out);
                out.push('}');
            }
        }
    }

    pub(super) fn from_value(v: &Value) -> Node {
        match v {
            Value::Null => Node::Null,
            Value::Bool(b) => Node::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Node::Int(i),
                None => Node::Float(n.to_string()),
            },
            Value::String(s) => Node::Str(s.clone()),
            Value::Array(items) => Node::Seq(items.iter().map(Node::from_value).collect()),
            Value::Object(map) => Node::Map(
                map.iter()
                    .map(|(k, v)| (k.clone(), Node::from_value(v)))
                    .collect(),
            ),
        }
    }

    /// How many nodes this value holds.
    pub(super) fn size(&self) -> usize {
        match self {
            Node::Seq(items) => 1 + items.iter().map(Node::size).sum::<usize>(),
            Node::Map(entries) => 1 + entries.iter().map(|(_, v)| v.size()).sum::<usize>(),
            Node::Intrinsic { arg, .. } => 1 + arg.size(),
            _ => 1,
        }
    }
}

/// Reads the first document of YAML (or JSON) text.
pub(super) fn parse_document(text: &str) -> Result<Node, String> {
    let mut loader = Loader::default();
    let yaml = Parser::new_from_str(text)
        .load(&mut loader, false)
        .map_err(|e| e.to_string())
        .and_then(|()| match loader.error.take() {
            Some(e) => Err(e),
            None => Ok(loader.doc.take().unwrap_or(Node::Null)),
        });
    match yaml {
        Ok(doc) => Ok(doc),
        // JSON that YAML does not accept (tabs for indentation, say).
        Err(yaml_err) => match serde_json::from_str::<Value>(text) {
            Ok(v) if depth_ok(&v) => Ok(Node::from_value(&v)),
            _ => Err(format!("not valid YAML or JSON: {yaml_err}")),
        },
    }
}

pub(super) fn depth_ok(v: &Value) -> bool {
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        if d > MAX_YAML_DEPTH {
            return false;
        }
        match v {
            Value::Array(a) => stack.extend(a.iter().map(|c| (c, d + 1))),
            Value::Object(o) => stack.extend(o.values().map(|c| (c, d + 1))),
            _ => {}
        }
    }
    true
}

pub(super) enum Frame {
    Seq {
        items: Vec<Node>,
        anchor: usize,
        tag: Option<Tag>,
    },
    Map {
        entries: Vec<(String, Node)>,
        key: Option<String>,
        anchor: usize,
        tag: Option<Tag>,
    },
}

/// Builds a [`Node`] tree from parser events.
#[derive(Default)]
pub(super) struct Loader {
    pub(super) stack: Vec<Frame>,
    pub(super) anchors: HashMap<usize, Node>,
    pub(super) doc: Option<Node>,
    pub(super) error: Option<String>,
    pub(super) nodes: usize,
}

impl MarkedEventReceiver for Loader {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() || self.doc.is_some() {
            return;
        }
        match ev {
            Event::Scalar(value, style, anchor, tag) => {
                let node = scalar_node(value, style, tag);
                self.finish(node, anchor, 1);
            }
            Event::SequenceStart(anchor, tag) => {
                self.open(
                    Frame::Seq {
                        items: Vec::new(),
                        anchor,
                        tag,
                    },
                    mark,
                );
            }
            Event::MappingStart(anchor, tag) => {
                self.open(
                    Frame::Map {
                        entries: Vec::new(),
                        key: None,
                        anchor,
                        tag,
                    },
                    mark,
                );
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq { items, anchor, tag }) => {
                    self.finish(tagged(Node::Seq(items), tag), anchor, 1);
                }
                Some(Frame::Map {
                    entries,
                    anchor,
                    tag,
                    ..
                }) => {
                    self.finish(tagged(Node::Map(entries), tag), anchor, 1);
                }
                None => self.error = Some("unbalanced YAML collections".into()),
            },
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(node) => {
                    let node = node.clone();
                    let weight = node.size();
                    self.finish(node, 0, weight);
                }
                None => self.error = Some(format!("unknown alias at line {}", mark.line())),
            },
            _ => {}
        }
    }
}

impl Loader {
    pub(super) fn open(&mut self, frame: Frame, mark: Marker) {
        if self.stack.len() >= MAX_YAML_DEPTH {
            self.error = Some(format!(
                "nesting deeper than {MAX_YAML_DEPTH} levels at line {}",
                mark.line()
            ));
            return;
        }
        self.stack.push(frame);
    }

    /// Adds a completed node; `weight` is how many values it brings (1, or
    /// the size of an alias's expansion).
    pub(super) fn finish(&mut self, node: Node, anchor: usize, weight: usize) {
        self.nodes = self.nodes.saturating_add(weight);
        if self.nodes > MAX_YAML_NODES {
            self.error = Some(format!(
                "the document expands to more than {MAX_YAML_NODES} values (aliases)"
            ));
            return;
        }
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.doc = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(key_text(&node)),
                Some(k) => entries.push((k, node)),
            },
        }
    }
}

pub(super) fn key_text(node: &Node) -> String {
    match node {
        Node::Null => String::new(),
        Node::Str(s) => s.clone(),
        other => other.scalar_text().unwrap_or_else(|| other.to_json()),
    }
}

pub(super) fn scalar_node(value: String, style: TScalarStyle, tag: Option<Tag>) -> Node {
    let plain = style == TScalarStyle::Plain;
    let resolve = |v: String| {
        if plain {
            from_yaml_scalar(&v)
        } else {
            Node::Str(v)
        }
    };
    match tag {
        None => resolve(value),
        Some(t) if t.handle == "tag:yaml.org,2002:" => match t.suffix.as_str() {
            "str" | "binary" | "timestamp" => Node::Str(value),
            _ => from_yaml_scalar(&value),
        },
        // The non-specific tag `!`: a string.
        Some(t) if t.handle.is_empty() && t.suffix == "!" => Node::Str(value),
        Some(t) => Node::Intrinsic {
            tag: t.suffix,
            arg: Box::new(resolve(value)),
        },
    }
}

pub(super) fn tagged(node: Node, tag: Option<Tag>) -> Node {
    match tag {
        Some(t)
            if t.handle != "tag:yaml.org,2002:" && !(t.handle.is_empty() && t.suffix == "!") =>
        {
            Node::Intrinsic {
                tag: t.suffix,
                arg: Box::new(node),
            }
        }
        _ => node,
    }
}

/// A plain scalar resolved as YAML 1.2's core schema does.
pub(super) fn from_yaml_scalar(v: &str) -> Node {
    match Yaml::from_str(v) {
        Yaml::Null => Node::Null,
        Yaml::Boolean(b) => Node::Bool(b),
        Yaml::Integer(i) => Node::Int(i),
        Yaml::Real(r) => Node::Float(r),
        Yaml::String(s) => Node::Str(s),
        _ => Node::Str(v.to_string()),
    }
}
