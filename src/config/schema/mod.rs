//! Pass 1b: the shape of Kamal 2's deploy.yml as tables, and the walk that checks a tree
//! against them.
//!
//! One module per section of Kamal's `configuration/docs/*.yml` declares its keys and each
//! key's [`Shape`]; [`check`] walks a [`Node`] tree against the root section and records every
//! unknown key (with "did you mean"), wrong type and malformed special form. Nothing here reads
//! values for meaning (defaults, cross-references, hosts): that is pass 2, `resolve`. The walk
//! never stops early, so one run reports every mistake.

mod accessory;
mod alias;
mod boot;
mod builder;
mod canary;
mod configuration;
mod env;
mod logging;
mod output;
mod proxy;
mod registry;
mod role;
mod ssh;
mod sshkit;

pub use boot::parse_limit_text as parse_boot_limit;
pub use canary::{percent_of as canary_percent, wait_of as canary_wait};
pub use configuration::CONFIGURATION;

use super::diagnostic::{Code, Problem, Problems};
use super::node::{Node, Value};

/// What a key's value must look like.
#[derive(Clone, Copy)]
pub enum Shape {
    /// A string; numbers and booleans are accepted and read as text (Kamal's "stringish").
    Text,
    Integer,
    /// A whole number of seconds, 0 to [`MAX_SECONDS`].
    Seconds,
    /// A whole number of bytes, 0 to `i64::MAX` (what kamal-proxy and Docker store).
    Bytes,
    Bool,
    /// An array of stringish values.
    TextList,
    /// A hash with the keys of a section.
    Section(&'static Section),
    /// A hash whose values are stringish (`labels`, simple `env`).
    HashOfText,
    /// Any hash (`options`, `args`): its keys are checked elsewhere or passed through.
    AnyHash,
    /// A form the tables cannot express; the function checks it and records problems.
    Custom(fn(&Node, &str, &mut Problems)),
}

/// The keys a hash may have.
pub struct Section {
    pub fields: &'static [Field],
    /// `x-*` keys are allowed and ignored (the root only, as in Kamal).
    pub extensions: bool,
}

/// One allowed key.
pub struct Field {
    pub key: &'static str,
    pub shape: Shape,
}

/// A table entry; `const` so the tables stay plain statics.
pub const fn field(key: &'static str, shape: Shape) -> Field {
    Field { key, shape }
}

/// Checks `node` (at key path `path`) against `shape`.
pub fn check(node: &Node, shape: Shape, path: &str, problems: &mut Problems) {
    match shape {
        Shape::Text => expect_text(node, path, problems),
        Shape::Integer => {
            if node.as_int().is_none() {
                wrong_type(node, path, "an integer", problems);
            }
        }
        Shape::Seconds => expect_in_range(node, path, MAX_SECONDS, "seconds", problems),
        Shape::Bytes => expect_in_range(node, path, i64::MAX, "bytes", problems),
        Shape::Bool => {
            if node.as_bool().is_none() {
                wrong_type(node, path, "a boolean", problems);
            }
        }
        Shape::TextList => expect_text_list(node, path, problems),
        Shape::Section(section) => check_section(node, section, path, problems),
        Shape::HashOfText => {
            if let Some(entries) = expect_map(node, path, problems) {
                for entry in entries {
                    expect_text(&entry.value, &join(path, &entry.key), problems);
                }
            }
        }
        Shape::AnyHash => {
            expect_map(node, path, problems);
        }
        Shape::Custom(check_custom) => check_custom(node, path, problems),
    }
}

/// Checks a hash against a section's keys.
pub fn check_section(node: &Node, section: &Section, path: &str, problems: &mut Problems) {
    let Some(entries) = expect_map(node, path, problems) else {
        return;
    };
    for entry in entries {
        let key_path = join(path, &entry.key);
        match section.fields.iter().find(|field| field.key == entry.key) {
            Some(field) => check(&entry.value, field.shape, &key_path, problems),
            None if section.extensions && entry.key.starts_with("x-") => {}
            None => {
                let known: Vec<&str> = section.fields.iter().map(|field| field.key).collect();
                let mut problem =
                    Problem::new(Code::UnknownKey, format!("{key_path}: unknown key"))
                        .at(entry.key_span, "unknown key");
                problem = match did_you_mean(&entry.key, known.iter().copied()) {
                    Some(suggestion) => problem.help(format!("did you mean `{suggestion}`?")),
                    None => problem.help(format!(
                        "remove it; keys allowed here: {}",
                        known.join(", ")
                    )),
                };
                problems.error(problem);
            }
        }
    }
}

/// `a/b` (or `b` at the root).
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}/{key}")
    }
}

/// The closest candidate to a misspelled name, if one is close enough to be a likely typo.
pub fn did_you_mean<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|candidate| (strsim::jaro_winkler(name, candidate), candidate))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

/// Records "should be ..." for a value of the wrong type.
pub fn wrong_type(node: &Node, path: &str, expected: &str, problems: &mut Problems) {
    let help = match expected {
        "an array" => format!(
            "write a list, for example `{}: [a, b]` or one `- item` per line",
            last(path)
        ),
        "a hash" => format!(
            "write `{}:` followed by indented `key: value` lines",
            last(path)
        ),
        "a boolean" => "write `true` or `false`".to_string(),
        "an integer" => "write a whole number without quotes".to_string(),
        _ => format!("write {expected} here"),
    };
    problems.error(
        Problem::new(Code::WrongType, format!("{path}: should be {expected}"))
            .at(node.span, format!("found {}", node.kind()))
            .help(help),
    );
}

/// The most seconds a setting may hold: Docker takes a stop timeout as a 32-bit count of
/// seconds and kamal-proxy its timeouts in 64-bit nanoseconds; beyond this either would wrap.
pub const MAX_SECONDS: i64 = i32::MAX as i64;

/// An integer from 0 to `max` `unit`, or an error at the value.
fn expect_in_range(node: &Node, path: &str, max: i64, unit: &str, problems: &mut Problems) {
    let Some(number) = node.as_int() else {
        wrong_type(node, path, "an integer", problems);
        return;
    };
    if !(0..=i128::from(max)).contains(&number) {
        problems.error(
            Problem::new(
                Code::InvalidValue,
                format!("{path}: {number} is out of range"),
            )
            .at(node.span, format!("should be 0 to {max} {unit}"))
            .help(format!("write a whole number of {unit} from 0 to {max}")),
        );
    }
}

fn last(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// A hash's entries, or a wrong-type error.
pub fn expect_map<'a>(
    node: &'a Node,
    path: &str,
    problems: &mut Problems,
) -> Option<&'a [super::node::Entry]> {
    let entries = node.as_map();
    if entries.is_none() {
        wrong_type(node, path, "a hash", problems);
    }
    entries
}

/// A stringish value, or a wrong-type error.
pub fn expect_text(node: &Node, path: &str, problems: &mut Problems) {
    if node.text().is_none() {
        wrong_type(node, path, "a string", problems);
    }
}

/// An array of stringish values.
pub fn expect_text_list(node: &Node, path: &str, problems: &mut Problems) {
    match &node.value {
        Value::Seq(items) => {
            for (index, item) in items.iter().enumerate() {
                expect_text(item, &join(path, &index.to_string()), problems);
            }
        }
        _ => wrong_type(node, path, "an array", problems),
    }
}

/// A string or an array of strings (`arch`, `ssh.config`).
pub fn expect_text_or_list(node: &Node, path: &str, problems: &mut Problems) {
    if node.as_seq().is_some() {
        expect_text_list(node, path, problems);
    } else if node.text().is_none() {
        wrong_type(node, path, "a string or an array", problems);
    }
}

#[cfg(test)]
mod tests;
