//! `accessories:` → [`Accessory`]s, hosts resolved from `host(s)`, `role(s)` or `tag(s)`.
//!
//! Kamal quirk not copied: Kamal finds `tag:` hosts only in map-form roles written as plain host
//! lists; gantry looks at every role's hosts, whatever form the role is written in.

use super::{Resolver, names, options, proxy, roles, sections, values};
use crate::config::diagnostic::{Code, Problem};
use crate::config::model::*;
use crate::config::node::{Node, Value};

/// The keys that say where an accessory runs; exactly one must be given.
const PLACEMENT_KEYS: [&str; 6] = ["host", "hosts", "role", "roles", "tag", "tags"];

/// Every accessory, in the order deploy.yml lists them.
pub(super) fn accessories(r: &mut Resolver, service: &str, roles: &[Role]) -> Vec<Accessory> {
    let root = r.root;
    values::entries(root, "accessories")
        .iter()
        .map(|entry| accessory(r, service, roles, &entry.key, entry.key_span, &entry.value))
        .collect()
}

fn accessory(
    r: &mut Resolver,
    app_service: &str,
    roles: &[Role],
    name: &str,
    name_span: crate::config::source::Span,
    node: &Node,
) -> Accessory {
    let path = format!("accessories/{name}");
    let naming_help = "rename it; an accessory's name and service become its container's name \
                       and a directory in the SSH user's home on its hosts";
    names::report(
        r,
        &path,
        "accessory name",
        name,
        name_span,
        names::container_name_problem(name),
        naming_help,
    );
    if let (Some(service_node), Some(service)) =
        (node.get("service"), values::text(node, "service"))
    {
        names::report(
            r,
            &format!("{path}/service"),
            "accessory service",
            &service,
            service_node.span,
            names::container_name_problem(&service),
            naming_help,
        );
    }
    let hosts = placement(r, roles, &path, name_span, node);
    let registry = node
        .get("registry")
        .map(|registry| sections::registry(r, Some(registry), &format!("{path}/registry"), false));
    let image_name = values::text(node, "image").unwrap_or_else(|| {
        r.error(
            Problem::new(
                Code::MissingKey,
                format!("{path}/image: missing required key"),
            )
            .at(name_span, "this accessory has no image")
            .help("add `image: <name>:<tag>`, for example `image: postgres:16`"),
        );
        String::new()
    });
    let image = match registry
        .as_ref()
        .and_then(|registry| registry.server.as_ref())
    {
        Some(server) => format!("{server}/{image_name}"),
        None => image_name,
    };
    let ports = match node.get("port").and_then(Node::text) {
        Some(port) if port.contains(':') => vec![port],
        Some(port) => vec![format!("{port}:{port}")],
        None => Vec::new(),
    };
    roles::check_reserved_labels(r, node.get("labels"), &format!("{path}/labels"));
    let (options, restart_policy) =
        options::docker_options(r, node.get("options"), &format!("{path}/options"));
    Accessory {
        name: name.to_string(),
        service: values::text(node, "service").unwrap_or_else(|| format!("{app_service}-{name}")),
        image,
        registry,
        hosts,
        cmd: values::text(node, "cmd"),
        ports,
        labels: values::text_map(node.get("labels")),
        options,
        restart_policy,
        env: roles::env(r, node.get("env"), &format!("{path}/env")),
        files: mounts(node.get("files")),
        directories: mounts(node.get("directories")),
        volumes: values::text_list(node, "volumes"),
        network: values::text(node, "network").unwrap_or_else(|| "kamal".to_string()),
        proxy: proxy::accessory_proxy(r, node.get("proxy"), &format!("{path}/proxy")),
    }
}

/// The hosts an accessory runs on, from its one placement key.
fn placement(
    r: &mut Resolver,
    roles: &[Role],
    path: &str,
    name_span: crate::config::source::Span,
    node: &Node,
) -> Vec<String> {
    let given: Vec<&str> = PLACEMENT_KEYS
        .iter()
        .copied()
        .filter(|key| node.get(key).is_some())
        .collect();
    if given.len() != 1 {
        let found = if given.is_empty() {
            "none of them".to_string()
        } else {
            given.join(", ")
        };
        r.error(
            Problem::new(
                Code::AccessoryHosts,
                format!(
                    "{path}: specify one of `host`, \
                     `hosts`, `role`, `roles`, `tag` or `tags`"
                ),
            )
            .at(name_span, format!("found {found}"))
            .help(
                "say where the accessory runs with exactly one of these keys, for \
                 example `host: 10.0.0.5`",
            ),
        );
    }
    let Some(key) = given.first().copied() else {
        return Vec::new();
    };
    let Some(value) = node.get(key) else {
        return Vec::new();
    };
    let names: Vec<(String, crate::config::source::Span)> = match &value.value {
        Value::Seq(items) => items
            .iter()
            .filter_map(|item| item.text().map(|text| (text, item.span)))
            .collect(),
        _ => value
            .text()
            .map(|text| (text, value.span))
            .into_iter()
            .collect(),
    };
    let mut hosts: Vec<String> = Vec::new();
    let mut add = |host: &str| {
        if !hosts.iter().any(|existing| existing == host) {
            hosts.push(host.to_string());
        }
    };
    match key {
        "host" | "hosts" => {
            for (host, span) in &names {
                match roles::invalid_host_reason(host) {
                    Some(reason) => r.error(
                        Problem::new(
                            Code::InvalidHost,
                            format!("{path}/{key}: invalid host `{host}`"),
                        )
                        .at(*span, reason)
                        .help("write a host name or IP address"),
                    ),
                    None => add(host),
                }
            }
        }
        "role" | "roles" => {
            for (role_name, span) in &names {
                match roles.iter().find(|role| &role.name == role_name) {
                    Some(role) => role.hosts.iter().for_each(|host| add(&host.host)),
                    None => {
                        let known: Vec<&str> =
                            roles.iter().map(|role| role.name.as_str()).collect();
                        r.error(
                            Problem::new(
                                Code::UnknownRole,
                                format!("{path}/{key}: unknown role {role_name}"),
                            )
                            .at(*span, "no role with this name")
                            .help(format!(
                                "use one of the roles under `servers:` ({})",
                                known.join(", ")
                            )),
                        );
                    }
                }
            }
        }
        _ => {
            for (tag, _) in &names {
                for host in roles.iter().flat_map(|role| role.hosts.iter()) {
                    if host.tags.contains(tag) {
                        add(&host.host);
                    }
                }
            }
        }
    }
    hosts
}

/// `files:`/`directories:` entries in either form.
fn mounts(node: Option<&Node>) -> Vec<AccessoryMount> {
    node.and_then(Node::as_seq)
        .unwrap_or_default()
        .iter()
        .filter_map(|item| match item.as_map() {
            Some(_) => Some(AccessoryMount {
                local: values::text(item, "local")?,
                remote: values::text(item, "remote")?,
                mode: values::text(item, "mode"),
                owner: values::text(item, "owner"),
                options: values::text(item, "options"),
            }),
            None => {
                let text = item.text()?;
                let mut parts = text.splitn(3, ':');
                Some(AccessoryMount {
                    local: parts.next()?.to_string(),
                    remote: parts.next()?.to_string(),
                    mode: None,
                    owner: None,
                    options: parts.next().map(str::to_string),
                })
            }
        })
        .collect()
}
