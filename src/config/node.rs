//! The spanned YAML tree both passes work on.
//!
//! A [`Node`] is a YAML value with the [`Span`] it came from in the original file. Maps keep
//! their keys in file order with each key's own span, so diagnostics can point at a key or at
//! its value. Scalars keep YAML's type (Kamal's validator cares whether `port: 22` is a number)
//! and [`Node::text`] gives the "stringish" reading Kamal accepts for string keys.
//!
//! [`deep_merge`] is Kamal's destination merge (`Hash#deep_merge`): maps merge recursively,
//! everything else is replaced, and the winning node keeps its own span (its own file).

use super::source::Span;

/// A YAML scalar or collection.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// One `key: value` pair of a map.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The key as text (numbers and booleans as Ruby would print them).
    pub key: String,
    pub key_span: Span,
    pub value: Node,
}

/// A value and where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub span: Span,
}

impl Node {
    /// What the value is, for "should be ..., found ..." messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "nothing (null)",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "an array",
            Value::Map(_) => "a hash",
        }
    }

    /// Kamal's "stringish": strings, numbers and booleans read as text.
    pub fn text(&self) -> Option<String> {
        match &self.value {
            Value::Str(text) => Some(text.clone()),
            Value::Int(number) => Some(number.to_string()),
            Value::Float(number) => Some(format_float(*number)),
            Value::Bool(flag) => Some(flag.to_string()),
            _ => None,
        }
    }

    /// A string, not a number or boolean.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(text) => Some(text),
            _ => None,
        }
    }

    /// A boolean (YAML 1.1 spellings included).
    pub fn as_bool(&self) -> Option<bool> {
        match self.value {
            Value::Bool(flag) => Some(flag),
            _ => None,
        }
    }

    /// An integer, not a quoted number.
    pub fn as_int(&self) -> Option<i128> {
        match self.value {
            Value::Int(number) => Some(number),
            _ => None,
        }
    }

    /// A list's items.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// A hash's entries, in file order.
    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// `~`, `null` or nothing at all.
    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// The entry for `key` in a map (the last one, as Ruby's hashes keep the last duplicate).
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.as_map()?.iter().rev().find(|entry| entry.key == key)
    }

    /// The value of `key` in a map.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|entry| &entry.value)
    }

    /// Ruby's `present?`: not null, not an empty string, collection or `false`.
    pub fn is_present(&self) -> bool {
        match &self.value {
            Value::Null | Value::Bool(false) => false,
            Value::Str(text) => !text.trim().is_empty(),
            Value::Seq(items) => !items.is_empty(),
            Value::Map(entries) => !entries.is_empty(),
            _ => true,
        }
    }
}

impl Node {
    /// The value as plain data, without spans: what Kamal keeps as `raw_config` and prints in
    /// views such as `kamal config`. Map keys are text; an integer too large for JSON is kept as
    /// its digits.
    pub fn to_plain(&self) -> serde_json::Value {
        use serde_json::Value as Plain;
        match &self.value {
            Value::Null => Plain::Null,
            Value::Bool(flag) => Plain::Bool(*flag),
            Value::Int(number) => i64::try_from(*number)
                .map(Plain::from)
                .unwrap_or_else(|_| Plain::String(number.to_string())),
            Value::Float(number) => serde_json::Number::from_f64(*number)
                .map(Plain::Number)
                .unwrap_or_else(|| Plain::String(format_float(*number))),
            Value::Str(text) => Plain::String(text.clone()),
            Value::Seq(items) => Plain::Array(items.iter().map(Node::to_plain).collect()),
            Value::Map(entries) => Plain::Object(
                entries
                    .iter()
                    .map(|entry| (entry.key.clone(), entry.value.to_plain()))
                    .collect(),
            ),
        }
    }
}

/// Ruby's `Float#to_s` for ordinary values: `1.0`, `0.5`, `1.5e+20`.
pub fn format_float(number: f64) -> String {
    if number.is_finite() && number.fract() == 0.0 && number.abs() < 1e16 {
        format!("{number:.1}")
    } else if number.is_finite() && number.abs() >= 1e16 {
        let text = format!("{number:e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.to_string()
        } else {
            format!("{mantissa}.0")
        };
        let sign = if exponent.starts_with('-') { "" } else { "+" };
        format!("{mantissa}e{sign}{exponent}")
    } else {
        number.to_string()
    }
}

/// `overlay` deep-merged over `base`: maps merge key by key, anything else replaces.
pub fn deep_merge(base: Node, overlay: Node) -> Node {
    match (base.value, overlay.value) {
        (Value::Map(mut base_entries), Value::Map(overlay_entries)) => {
            for entry in overlay_entries {
                match base_entries
                    .iter()
                    .position(|existing| existing.key == entry.key)
                {
                    Some(index) => {
                        let existing = base_entries.remove(index);
                        let merged = deep_merge(existing.value, entry.value);
                        base_entries.insert(
                            index,
                            Entry {
                                key: entry.key,
                                key_span: entry.key_span,
                                value: merged,
                            },
                        );
                    }
                    None => base_entries.push(entry),
                }
            }
            Node {
                value: Value::Map(base_entries),
                span: base.span,
            }
        }
        (_, value) => Node {
            value,
            span: overlay.span,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::source::FileId;

    fn span(file: usize, offset: usize) -> Span {
        Span {
            file: FileId(file),
            offset,
            len: 1,
        }
    }

    fn node(value: Value, file: usize) -> Node {
        Node {
            value,
            span: span(file, 0),
        }
    }

    fn map(entries: Vec<(&str, Node)>, file: usize) -> Node {
        node(
            Value::Map(
                entries
                    .into_iter()
                    .map(|(key, value)| Entry {
                        key: key.into(),
                        key_span: span(file, 0),
                        value,
                    })
                    .collect(),
            ),
            file,
        )
    }

    #[test]
    fn deep_merge_merges_maps_and_replaces_the_rest() {
        let base = map(
            vec![
                (
                    "a",
                    map(
                        vec![("x", node(Value::Int(1), 0)), ("y", node(Value::Int(2), 0))],
                        0,
                    ),
                ),
                ("list", node(Value::Seq(vec![node(Value::Int(1), 0)]), 0)),
            ],
            0,
        );
        let overlay = map(
            vec![
                ("a", map(vec![("y", node(Value::Int(3), 1))], 1)),
                ("list", node(Value::Seq(vec![node(Value::Int(9), 1)]), 1)),
                ("b", node(Value::Bool(true), 1)),
            ],
            1,
        );
        let merged = deep_merge(base, overlay);
        let a = merged.get("a").expect("a");
        assert_eq!(a.get("x").and_then(Node::as_int), Some(1));
        assert_eq!(a.get("y").and_then(Node::as_int), Some(3));
        assert_eq!(a.get("y").map(|n| n.span.file), Some(FileId(1)));
        let list = merged.get("list").and_then(Node::as_seq).expect("list");
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].as_int(), Some(9));
        assert_eq!(merged.get("b").and_then(Node::as_bool), Some(true));
    }

    #[test]
    fn floats_print_like_ruby() {
        assert_eq!(format_float(1.0), "1.0");
        assert_eq!(format_float(0.5), "0.5");
        assert_eq!(format_float(1.5e20), "1.5e+20");
    }

    #[test]
    fn presence_follows_ruby() {
        assert!(!node(Value::Str("  ".into()), 0).is_present());
        assert!(!node(Value::Bool(false), 0).is_present());
        assert!(node(Value::Int(0), 0).is_present());
    }
}
