//! `x-gantry: canary:` read for meaning: the shape was checked by the schema; here the canary
//! hosts are checked against the roles' hosts, so a misspelled name points at its line instead
//! of quietly choosing no canary.

use super::Resolver;
use crate::config::diagnostic::{Code, Problem};
use crate::config::model::{Canary, CanaryHosts, DEFAULT_CANARY_WAIT_SECONDS, Role};
use crate::config::node::{Node, Value};
use crate::config::schema::{canary_percent, canary_wait};

/// The canary rollout deploy.yml asks for, if any.
pub(super) fn resolve_canary(r: &mut Resolver, roles: &[Role]) -> Option<Canary> {
    let canary = r.root.get("x-gantry")?.get("canary")?;
    let hosts = if let Some(node) = canary.get("hosts") {
        CanaryHosts::Named(named_hosts(r, node, roles))
    } else if let Some(count) = canary.get("count").and_then(Node::as_int) {
        CanaryHosts::Count(u32::try_from(count).unwrap_or(u32::MAX))
    } else {
        CanaryHosts::Percent(canary.get("percent").and_then(canary_percent)?)
    };
    Some(Canary {
        hosts,
        wait_seconds: canary
            .get("wait")
            .and_then(canary_wait)
            .unwrap_or(DEFAULT_CANARY_WAIT_SECONDS),
        check: canary.get("check").and_then(Node::text),
    })
}

/// The names under `hosts:`, each one a host of a role.
fn named_hosts(r: &mut Resolver, node: &Node, roles: &[Role]) -> Vec<String> {
    let written: Vec<(String, &Node)> = match &node.value {
        Value::Seq(items) => items
            .iter()
            .filter_map(|item| Some((item.as_str()?.to_string(), item)))
            .collect(),
        Value::Str(text) => text
            .split(',')
            .map(|name| (name.trim().to_string(), node))
            .collect(),
        _ => Vec::new(),
    };
    let known = |name: &str| {
        roles
            .iter()
            .any(|role| role.hosts.iter().any(|host| host.host == name))
    };
    for (name, at) in &written {
        if !known(name) && !r.destination_missing {
            r.error(
                Problem::new(
                    Code::InvalidValue,
                    format!("x-gantry/canary/hosts: {name} is not a host of any role"),
                )
                .at(at.span, "not in servers")
                .help("name hosts listed under `servers:`"),
            );
        }
    }
    written.into_iter().map(|(name, _)| name).collect()
}
