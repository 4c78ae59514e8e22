//! The values ERB expressions produce, with Ruby's truthiness and Ruby's printing.
//!
//! Only what deploy.yml templates use: `nil`, booleans, strings, integers and arrays. Printing
//! follows Ruby: `<%= %>` calls `to_s` (`nil` prints nothing, an array prints as its `inspect`),
//! and `inspect` quotes strings the way Ruby does, so `<%= hosts %>` renders byte for byte as
//! Kamal renders it.

use std::fmt::Write as _;

/// A Ruby value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Nil,
    Bool(bool),
    Str(String),
    Int(i64),
    Array(Vec<Value>),
}

impl Value {
    /// Ruby's truthiness: only `nil` and `false` are false.
    pub fn truthy(&self) -> bool {
        !matches!(self, Value::Nil | Value::Bool(false))
    }

    /// ActiveSupport's `blank?`: nil, false, whitespace-only strings and empty arrays.
    pub fn blank(&self) -> bool {
        match self {
            Value::Nil | Value::Bool(false) => true,
            Value::Str(text) => text.chars().all(char::is_whitespace),
            Value::Array(items) => items.is_empty(),
            Value::Bool(true) | Value::Int(_) => false,
        }
    }

    /// Ruby's class name, for error messages.
    pub fn class(&self) -> &'static str {
        match self {
            Value::Nil => "NilClass",
            Value::Bool(true) => "TrueClass",
            Value::Bool(false) => "FalseClass",
            Value::Str(_) => "String",
            Value::Int(_) => "Integer",
            Value::Array(_) => "Array",
        }
    }

    /// `to_s`, which is what `<%= %>` and `"#{}"` print.
    pub fn to_s(&self) -> String {
        match self {
            Value::Nil => String::new(),
            Value::Str(text) => text.clone(),
            other => other.inspect(),
        }
    }

    /// `inspect`: how `p` and `Array#to_s` show a value.
    pub fn inspect(&self) -> String {
        match self {
            Value::Nil => "nil".to_string(),
            Value::Bool(value) => value.to_string(),
            Value::Int(value) => value.to_string(),
            Value::Str(text) => inspect_string(text),
            Value::Array(items) => {
                let inner: Vec<String> = items.iter().map(Value::inspect).collect();
                format!("[{}]", inner.join(", "))
            }
        }
    }
}

/// Ruby's `String#inspect` for UTF-8 text.
fn inspect_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '#' if matches!(chars.peek(), Some('{' | '$' | '@')) => out.push_str("\\#"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_nil_and_false_are_falsy() {
        assert!(!Value::Nil.truthy());
        assert!(!Value::Bool(false).truthy());
        assert!(Value::Str(String::new()).truthy());
        assert!(Value::Int(0).truthy());
        assert!(Value::Array(Vec::new()).truthy());
    }

    #[test]
    fn prints_as_ruby_does() {
        assert_eq!(Value::Nil.to_s(), "");
        assert_eq!(Value::Bool(true).to_s(), "true");
        let array = Value::Array(vec![
            Value::Int(1),
            Value::Nil,
            Value::Str("a \"b\"\n#{c}".into()),
            Value::Array(vec![Value::Bool(false)]),
        ]);
        assert_eq!(array.to_s(), r#"[1, nil, "a \"b\"\n\#{c}", [false]]"#);
    }

    #[test]
    fn blank_follows_active_support() {
        assert!(Value::Str(" \t".into()).blank());
        assert!(Value::Array(Vec::new()).blank());
        assert!(!Value::Int(0).blank());
        assert!(!Value::Str("x".into()).blank());
    }
}
