//! The methods and operators ERB expressions may use on values, with Ruby's results.
//!
//! `Err` carries Ruby's complaint (`undefined method 'strip' for NilClass`); the evaluator
//! points it at the expression. Names are those of [`super::parse::METHODS`] that take a plain
//! value as receiver; `ENV`, `File` and `Dotenv` are the evaluator's.

use super::value::Value;

type Outcome = Result<Value, String>;

/// `value.method(args)`.
pub fn call(value: Value, method: &str, args: &[Value]) -> Outcome {
    let no_method = || Err(format!("undefined method `{method}` for {}", value.class()));
    Ok(match (method, &value, args) {
        ("nil?", _, []) => Value::Bool(value == Value::Nil),
        ("blank?", _, []) => Value::Bool(value.blank()),
        ("present?", _, []) => Value::Bool(!value.blank()),
        ("presence", _, []) if value.blank() => Value::Nil,
        ("presence", _, []) => value,
        ("to_s", _, []) => Value::Str(value.to_s()),
        ("inspect", _, []) => Value::Str(value.inspect()),
        ("to_i", Value::Str(text), []) => Value::Int(leading_integer(text)),
        ("to_i", Value::Int(_), []) => value,
        ("to_i", Value::Nil, []) => Value::Int(0),
        ("empty?", Value::Str(text), []) => Value::Bool(text.is_empty()),
        ("empty?", Value::Array(items), []) => Value::Bool(items.is_empty()),
        ("length" | "size", Value::Str(text), []) => count(text.chars().count()),
        ("length" | "size", Value::Array(items), []) => count(items.len()),
        ("include?", Value::Str(text), [Value::Str(part)]) => Value::Bool(text.contains(part)),
        ("include?", Value::Array(items), [item]) => Value::Bool(items.contains(item)),
        ("start_with?", Value::Str(text), [Value::Str(prefix)]) => {
            Value::Bool(text.starts_with(prefix.as_str()))
        }
        ("end_with?", Value::Str(text), [Value::Str(suffix)]) => {
            Value::Bool(text.ends_with(suffix.as_str()))
        }
        ("strip", Value::Str(text), []) => Value::Str(text.trim_matches(ruby_space).into()),
        ("lstrip", Value::Str(text), []) => Value::Str(text.trim_start_matches(ruby_space).into()),
        ("rstrip", Value::Str(text), []) => Value::Str(text.trim_end_matches(ruby_space).into()),
        ("chomp", Value::Str(text), []) => Value::Str(chomp(text).into()),
        ("upcase", Value::Str(text), []) => Value::Str(text.to_uppercase()),
        ("downcase", Value::Str(text), []) => Value::Str(text.to_lowercase()),
        ("split", Value::Str(text), []) => words(text),
        ("split", Value::Str(text), [Value::Str(separator)]) if separator == " " => words(text),
        ("split", Value::Str(text), [Value::Str(separator)]) => split(text, separator),
        ("first", Value::Array(items), []) => items.first().cloned().unwrap_or(Value::Nil),
        ("last", Value::Array(items), []) => items.last().cloned().unwrap_or(Value::Nil),
        ("join", Value::Array(items), []) => Value::Str(join(items, "")),
        ("join", Value::Array(items), [Value::Str(separator)]) => {
            Value::Str(join(items, separator))
        }
        ("compact", Value::Array(items), []) => Value::Array(
            items
                .iter()
                .filter(|item| **item != Value::Nil)
                .cloned()
                .collect(),
        ),
        ("uniq", Value::Array(items), []) => {
            let mut unique: Vec<Value> = Vec::new();
            for item in items {
                if !unique.contains(item) {
                    unique.push(item.clone());
                }
            }
            Value::Array(unique)
        }
        _ => return no_method(),
    })
}

/// `left op right` for `==`, `!=`, `<`, `<=`, `>`, `>=` and `+`.
pub fn binary(op: &str, left: Value, right: Value) -> Outcome {
    use std::cmp::Ordering;
    let ordering = match (&left, &right) {
        (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
        (Value::Str(a), Value::Str(b)) => Some(a.cmp(b)),
        _ => None,
    };
    let compare = |test: fn(Ordering) -> bool| match ordering {
        Some(ordering) => Ok(Value::Bool(test(ordering))),
        // Ruby names the right operand's value; a value may be secret, so only classes here.
        None => Err(format!(
            "comparison of {} with {} failed",
            left.class(),
            right.class()
        )),
    };
    match op {
        "==" => Ok(Value::Bool(left == right)),
        "!=" => Ok(Value::Bool(left != right)),
        "<" => compare(Ordering::is_lt),
        "<=" => compare(Ordering::is_le),
        ">" => compare(Ordering::is_gt),
        ">=" => compare(Ordering::is_ge),
        "+" => match (&left, &right) {
            (Value::Int(a), Value::Int(b)) => a
                .checked_add(*b)
                .map(Value::Int)
                .ok_or_else(|| "integer overflow".to_string()),
            (Value::Str(a), Value::Str(b)) => Ok(Value::Str(format!("{a}{b}"))),
            (Value::Array(a), Value::Array(b)) => {
                Ok(Value::Array(a.iter().chain(b).cloned().collect()))
            }
            _ => Err(format!(
                "no implicit conversion of {} into {}",
                right.class(),
                left.class()
            )),
        },
        _ => Err(format!("undefined method `{op}` for {}", left.class())),
    }
}

/// Ruby's `strip` removes ASCII whitespace and NUL.
fn ruby_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | '\0')
}

fn count(n: usize) -> Value {
    Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// `chomp`: one trailing `\n`, `\r\n` or `\r`.
fn chomp(text: &str) -> &str {
    text.strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .or_else(|| text.strip_suffix('\r'))
        .unwrap_or(text)
}

/// `to_i`: the leading decimal integer (sign and `_` separators allowed), else 0.
fn leading_integer(text: &str) -> i64 {
    let text = text.trim_start_matches(ruby_space);
    let (sign, digits) = match text.as_bytes().first() {
        Some(b'-') => (-1, &text[1..]),
        Some(b'+') => (1, &text[1..]),
        _ => (1, text),
    };
    let mut value: i64 = 0;
    let mut previous_underscore = true;
    for c in digits.chars() {
        match c {
            '0'..='9' => {
                value = value
                    .saturating_mul(10)
                    .saturating_add(i64::from(c as u8 - b'0'));
                previous_underscore = false;
            }
            '_' if !previous_underscore => previous_underscore = true,
            _ => break,
        }
    }
    sign * value
}

/// `split` with no argument (or `" "`): on runs of whitespace, leading whitespace ignored.
fn words(text: &str) -> Value {
    Value::Array(
        text.split(ruby_space)
            .filter(|word| !word.is_empty())
            .map(|word| Value::Str(word.into()))
            .collect(),
    )
}

/// `split(separator)`: trailing empty fields are dropped, as Ruby drops them.
fn split(text: &str, separator: &str) -> Value {
    let mut fields: Vec<&str> = if separator.is_empty() {
        text.split("").filter(|field| !field.is_empty()).collect()
    } else {
        text.split(separator).collect()
    };
    while fields.last().is_some_and(|field| field.is_empty()) {
        fields.pop();
    }
    Value::Array(fields.into_iter().map(|f| Value::Str(f.into())).collect())
}

/// `join`: nested arrays are joined too; `nil` joins as empty.
fn join(items: &[Value], separator: &str) -> String {
    items
        .iter()
        .map(|item| match item {
            Value::Array(inner) => join(inner, separator),
            other => other.to_s(),
        })
        .collect::<Vec<_>>()
        .join(separator)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Value {
        Value::Str(text.into())
    }

    #[test]
    fn string_methods_match_ruby() {
        assert_eq!(call(s(" a \n"), "strip", &[]), Ok(s("a")));
        assert_eq!(call(s("a\n\n"), "chomp", &[]), Ok(s("a\n")));
        assert_eq!(call(s(" 42abc"), "to_i", &[]), Ok(Value::Int(42)));
        assert_eq!(call(s("abc"), "to_i", &[]), Ok(Value::Int(0)));
        assert_eq!(call(s("-1_000"), "to_i", &[]), Ok(Value::Int(-1000)));
        assert_eq!(
            call(s("a,,b,,"), "split", &[s(",")]),
            Ok(Value::Array(vec![s("a"), s(""), s("b")]))
        );
        assert_eq!(
            call(s("  a  b "), "split", &[]),
            Ok(Value::Array(vec![s("a"), s("b")]))
        );
    }

    #[test]
    fn presence_and_blank() {
        assert_eq!(call(s("  "), "presence", &[]), Ok(Value::Nil));
        assert_eq!(call(s("x"), "presence", &[]), Ok(s("x")));
        assert_eq!(call(Value::Nil, "present?", &[]), Ok(Value::Bool(false)));
        assert_eq!(call(Value::Nil, "nil?", &[]), Ok(Value::Bool(true)));
    }

    #[test]
    fn arrays() {
        let list = Value::Array(vec![s("a"), Value::Nil, Value::Array(vec![s("b")])]);
        assert_eq!(call(list.clone(), "join", &[s(",")]), Ok(s("a,,b")));
        assert_eq!(call(list.clone(), "first", &[]), Ok(s("a")));
        assert_eq!(call(Value::Array(vec![]), "first", &[]), Ok(Value::Nil));
        assert_eq!(
            call(list, "compact", &[]),
            Ok(Value::Array(vec![s("a"), Value::Array(vec![s("b")])]))
        );
    }

    #[test]
    fn a_method_nil_lacks_is_an_error() {
        let error = call(Value::Nil, "strip", &[]).expect_err("NoMethodError");
        assert!(
            error.contains("strip") && error.contains("NilClass"),
            "{error}"
        );
        assert!(call(Value::Nil, "empty?", &[]).is_err());
    }

    #[test]
    fn operators() {
        assert_eq!(binary("==", s("a"), s("a")), Ok(Value::Bool(true)));
        assert_eq!(binary("==", Value::Int(1), s("1")), Ok(Value::Bool(false)));
        assert_eq!(
            binary("<", Value::Int(1), Value::Int(2)),
            Ok(Value::Bool(true))
        );
        assert!(binary("<", Value::Int(1), s("2")).is_err());
        assert_eq!(binary("+", s("a"), s("b")), Ok(s("ab")));
    }
}
