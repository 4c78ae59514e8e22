//! `x-gantry: canary:`: the default canary rollout of `deploy` and `apply` (specs/canary.md).
//! Exactly one of `hosts`, `count` and `percent` says which hosts go first; `wait` is a
//! duration (`30s`, `2m`) or seconds; `check` a command run on the deploying machine.

use super::{Section, Shape, check_section, field, wrong_type};
use crate::config::diagnostic::{Code, Problem, Problems};
use crate::config::model::{CanaryHosts, parse_canary_wait};
use crate::config::node::{Node, Value};

static CANARY: Section = Section {
    extensions: false,
    fields: &[
        field("hosts", Shape::Custom(check_hosts)),
        field("count", Shape::Custom(check_count)),
        field("percent", Shape::Custom(check_percent)),
        field("wait", Shape::Custom(check_wait)),
        field("check", Shape::Text),
    ],
};

/// The section's keys, then the rule that one key chooses the canaries.
pub fn check_canary(node: &Node, path: &str, problems: &mut Problems) {
    check_section(node, &CANARY, path, problems);
    let Some(entries) = node.as_map() else {
        return;
    };
    let choosers: Vec<_> = entries
        .iter()
        .filter(|entry| ["hosts", "count", "percent"].contains(&entry.key.as_str()))
        .collect();
    match choosers.as_slice() {
        [_] => {}
        [] => problems.error(
            Problem::new(
                Code::MissingKey,
                format!("{path}: says which hosts go first with none of hosts, count or percent"),
            )
            .at(node.span, "no canary hosts")
            .help("add `count: 1`, `percent: 10` or `hosts: [host1]`"),
        ),
        [_, second, ..] => problems.error(
            Problem::new(
                Code::InvalidValue,
                format!("{path}: hosts, count and percent exclude each other"),
            )
            .at(second.key_span, "a second way to choose the canaries")
            .help("keep one of them"),
        ),
    }
}

/// `hosts: [host1, host2]` or `hosts: host1,host2`.
fn check_hosts(node: &Node, path: &str, problems: &mut Problems) {
    let valid = match &node.value {
        Value::Seq(items) => !items.is_empty() && items.iter().all(|item| item.as_str().is_some()),
        Value::Str(text) => matches!(CanaryHosts::parse(text), Some(CanaryHosts::Named(_))),
        _ => false,
    };
    if !valid {
        wrong_type(node, path, "a list of host names", problems);
    }
}

fn check_count(node: &Node, path: &str, problems: &mut Problems) {
    if node.as_int().is_none_or(|count| count < 1) {
        invalid(
            node,
            path,
            "a number of hosts, 1 or more",
            "write `count: 1`",
            problems,
        );
    }
}

/// `percent: 25` or `percent: 25%`.
fn check_percent(node: &Node, path: &str, problems: &mut Problems) {
    if percent_of(node).is_none() {
        invalid(
            node,
            path,
            "a percentage from 1 to 100",
            "write `percent: 10`",
            problems,
        );
    }
}

fn check_wait(node: &Node, path: &str, problems: &mut Problems) {
    if wait_of(node).is_none() {
        invalid(
            node,
            path,
            "a duration",
            "write `wait: 30s`, `wait: 2m` or a number of seconds",
            problems,
        );
    }
}

/// A `percent:` value, when it is one.
pub fn percent_of(node: &Node) -> Option<u32> {
    let percent = match &node.value {
        Value::Int(number) => u32::try_from(*number).ok()?,
        Value::Str(text) => text.trim().trim_end_matches('%').trim().parse().ok()?,
        _ => return None,
    };
    (1..=100).contains(&percent).then_some(percent)
}

/// A `wait:` value in seconds, when it is one.
pub fn wait_of(node: &Node) -> Option<u64> {
    match &node.value {
        Value::Int(number) => u64::try_from(*number).ok(),
        Value::Str(text) => parse_canary_wait(text),
        _ => None,
    }
}

fn invalid(node: &Node, path: &str, expected: &str, help: &str, problems: &mut Problems) {
    problems.error(
        Problem::new(Code::InvalidValue, format!("{path}: should be {expected}"))
            .at(node.span, format!("found {}", node.kind()))
            .help(help),
    );
}
