//! `boot:` (Kamal's `docs/boot.yml`): rolling deploys.

use super::{Section, Shape, field};
use crate::config::diagnostic::{Code, Problem, Problems};
use crate::config::node::{Node, Value};

/// How many hosts boot at once, the pause between groups, and parallel roles.
pub static BOOT: Section = Section {
    extensions: false,
    fields: &[
        field("limit", Shape::Custom(check_limit)),
        field("wait", Shape::Seconds),
        field("parallel_roles", Shape::Bool),
    ],
};

/// A number of hosts (`10`) or a percentage of all hosts (`"25%"`).
fn check_limit(node: &Node, path: &str, problems: &mut Problems) {
    let valid = match &node.value {
        Value::Int(count) => *count >= 1,
        Value::Str(text) => parse_limit_text(text).is_some(),
        _ => false,
    };
    if !valid {
        problems.error(
            Problem::new(
                Code::InvalidValue,
                format!("{path}: should be a number of hosts or a percentage"),
            )
            .at(node.span, format!("found {}", node.kind()))
            .help("write a whole number of hosts (`limit: 2`) or a percentage (`limit: 25%`)"),
        );
    }
}

/// `"25%"` → percent, `"3"` → hosts; `None` for anything else.
pub fn parse_limit_text(text: &str) -> Option<(u32, bool)> {
    let text = text.trim();
    match text.strip_suffix('%') {
        Some(number) => number
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .map(|n| (n, true)),
        None => text
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .map(|n| (n, false)),
    }
}
