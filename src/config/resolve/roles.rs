//! Roles: `servers:` in its three forms → [`Role`]s with root settings merged in, and `env`.
//!
//! Order follows Kamal: role names sorted, then the primary role moved to the front; a role's
//! hosts stay in the order written. Env merges as Kamal's `Env#merge`: clear values override,
//! secret names accumulate (a later `NAME` replaces an earlier entry for the same variable).

use std::collections::BTreeMap;

use super::{Resolver, names, options, proxy, sections, values};
use crate::config::diagnostic::{Code, Problem};
use crate::config::model::*;
use crate::config::node::{Node, Value};

/// Labels Kamal sets itself and filters containers by.
const RESERVED_LABELS: [&str; 3] = ["service", "role", "destination"];

/// Characters that make a host name unusable or dangerous in a shell or SSH argument.
const FORBIDDEN_HOST_CHARS: &[char] = &[
    ';', '|', '&', '$', '`', '\'', '"', '<', '>', '(', ')', '*', '?', '!', '#', '{', '}', '\\',
    ',', '=',
];

/// The roles, and `env.tags` for per-host env.
pub(super) fn roles(
    r: &mut Resolver,
    primary_role: &str,
    allow_empty_roles: bool,
    logging: &Logging,
) -> (Vec<Role>, BTreeMap<String, Env>) {
    let root = r.root;
    let root_env_node = root.get("env");
    let root_env = env(r, root_env_node, "env");
    let env_tags = env_tags(r, root_env_node);
    check_reserved_labels(r, root.get("labels"), "labels");
    let root_labels = values::text_map(root.get("labels"));
    let volumes = values::text_list(root, "volumes");
    let root_stop_timeout = values::uint(root, "stop_timeout");
    let root_asset_path = values::text(root, "asset_path");

    let servers = root.get("servers");
    check_role_names(r, servers);
    let role_nodes = role_nodes(r, servers, primary_role);

    let mut roles = Vec::with_capacity(role_nodes.len());
    for (name, hosts_node, role_node) in role_nodes {
        let path = format!("servers/{name}");
        let list_form = servers.and_then(Node::as_seq).is_some();
        let hosts_path = match (list_form, role_node) {
            (true, _) => "servers".to_string(),
            (false, Some(_)) => format!("{path}/hosts"),
            (false, None) => path.clone(),
        };
        let hosts = hosts(r, hosts_node, &hosts_path);
        let is_primary = name == primary_role;
        // Hosts written but unusable (wrong type, invalid) were reported already.
        let hosts_written =
            hosts_node.is_some_and(|node| node.as_seq().is_none_or(|items| !items.is_empty()));
        if hosts.is_empty() && !hosts_written && !r.destination_missing {
            let span = role_node
                .map(|node| node.span)
                .or(hosts_node.map(|node| node.span))
                .or_else(|| root.entry("servers").map(|entry| entry.key_span));
            report_role_without_hosts(r, &name, is_primary, allow_empty_roles, span);
        }
        let role_env = match role_node.and_then(|node| node.get("env")) {
            Some(node) => merge_env(&root_env, &env(r, Some(node), &format!("{path}/env"))),
            None => root_env.clone(),
        };
        let mut labels = root_labels.clone();
        if let Some(node) = role_node.and_then(|node| node.get("labels")) {
            check_reserved_labels(r, Some(node), &format!("{path}/labels"));
            labels.extend(values::text_map(Some(node)));
        }
        let role_logging = match role_node.and_then(|node| node.get("logging")) {
            Some(node) => merge_logging(logging, &sections::logging(Some(node))),
            None => logging.clone(),
        };
        let (options, restart_policy) = options::docker_options(
            r,
            role_node.and_then(|node| node.get("options")),
            &format!("{path}/options"),
        );
        let proxy = proxy::role_proxy(
            r,
            &name,
            is_primary,
            role_node.and_then(|node| node.get("proxy")),
            hosts.len(),
        );
        roles.push(Role {
            cmd: role_node.and_then(|node| values::text(node, "cmd")),
            asset_path: role_node
                .and_then(|node| values::text(node, "asset_path"))
                .or_else(|| root_asset_path.clone()),
            stop_timeout: role_node
                .and_then(|node| values::uint(node, "stop_timeout"))
                .or(root_stop_timeout),
            name,
            hosts,
            options,
            restart_policy,
            labels,
            env: role_env,
            logging: role_logging,
            proxy,
            volumes: volumes.clone(),
        });
    }
    (roles, env_tags)
}

/// `env.tags`: the env each tag adds for the hosts that carry it.
fn env_tags(r: &mut Resolver, root_env_node: Option<&Node>) -> BTreeMap<String, Env> {
    let mut env_tags = BTreeMap::new();
    if let Some(tags) = root_env_node
        .and_then(|node| node.get("tags"))
        .and_then(Node::as_map)
    {
        for tag in tags {
            let tag_env = env(r, Some(&tag.value), &format!("env/tags/{}", tag.key));
            env_tags.insert(tag.key.clone(), tag_env);
        }
    }
    env_tags
}

/// Role names become part of container names and paths: each must be usable there.
fn check_role_names(r: &mut Resolver, servers: Option<&Node>) {
    for entry in servers.and_then(Node::as_map).unwrap_or_default() {
        names::report(
            r,
            &format!("servers/{}", entry.key),
            "role name",
            &entry.key,
            entry.key_span,
            names::container_name_problem(&entry.key),
            "rename the role; it becomes part of container names (`<service>-<role>-<version>`) \
             and of the env file's path on the hosts",
        );
    }
}

/// `servers:`'s roles as `(name, hosts node, role node)`: sorted by name, the primary first
/// (as Kamal orders them); a primary role that is not there is an error.
fn role_nodes<'a>(
    r: &mut Resolver<'a>,
    servers: Option<&'a Node>,
    primary_role: &str,
) -> Vec<(String, Option<&'a Node>, Option<&'a Node>)> {
    let root = r.root;
    let mut role_nodes: Vec<(String, Option<&Node>, Option<&Node>)> =
        match servers.map(|node| &node.value) {
            // List form: one role, `web`, whose hosts are the list.
            Some(Value::Seq(_)) => vec![("web".to_string(), servers, None)],
            Some(Value::Map(entries)) => entries
                .iter()
                .map(|entry| match &entry.value.value {
                    Value::Map(_) => (
                        entry.key.clone(),
                        entry.value.get("hosts"),
                        Some(&entry.value),
                    ),
                    _ => (entry.key.clone(), Some(&entry.value), None),
                })
                .collect(),
            _ => Vec::new(),
        };
    role_nodes.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(index) = role_nodes
        .iter()
        .position(|(name, _, _)| name == primary_role)
    {
        let primary = role_nodes.remove(index);
        role_nodes.insert(0, primary);
    } else if servers.is_some_and(|node| !node.is_null()) {
        let span = root
            .get("primary_role")
            .map(|node| node.span)
            .or_else(|| root.entry("servers").map(|entry| entry.key_span));
        let known: Vec<&str> = role_nodes
            .iter()
            .map(|(name, _, _)| name.as_str())
            .collect();
        r.error(
            Problem::new(
                Code::PrimaryRole,
                format!("the primary_role {primary_role} isn't defined"),
            )
            .at_opt(span, "no role with this name")
            .help(format!(
                "name one of the roles ({}) in `primary_role:`, or add a `{primary_role}` role",
                known.join(", ")
            )),
        );
    }
    role_nodes
}

/// A role with no hosts: an error for the primary role (the lock lives on its first host) and,
/// unless `allow_empty_roles`, for any other.
fn report_role_without_hosts(
    r: &mut Resolver,
    name: &str,
    is_primary: bool,
    allow_empty_roles: bool,
    span: Option<crate::config::source::Span>,
) {
    if is_primary {
        r.error(
            Problem::new(
                Code::PrimaryRole,
                format!(
                    "no servers specified for the \
                         {name} primary_role"
                ),
            )
            .at_opt(span, "no hosts")
            .help(
                "add at least one host to the primary role; the deploy lock \
                     lives on its first host",
            ),
        );
    } else if !allow_empty_roles {
        r.error(
            Problem::new(
                Code::EmptyRole,
                format!("no servers specified for the {name} role"),
            )
            .at_opt(span, "no hosts")
            .help("add hosts, remove the role, or set `allow_empty_roles: true`"),
        );
    }
}

/// A role's hosts with their tags; reports malformed and duplicate hosts.
fn hosts(r: &mut Resolver, node: Option<&Node>, path: &str) -> Vec<RoleHost> {
    let mut hosts: Vec<RoleHost> = Vec::new();
    for (index, item) in node
        .and_then(Node::as_seq)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let (host, tags, span) = match &item.value {
            Value::Map(entries) if entries.len() == 1 => {
                let entry = &entries[0];
                let tags = match entry.value.as_seq() {
                    Some(_) => values::list_of_text(&entry.value),
                    None => entry.value.text().into_iter().collect(),
                };
                (entry.key.clone(), tags, entry.key_span)
            }
            _ => match item.text() {
                Some(host) => (host, Vec::new(), item.span),
                None => continue,
            },
        };
        let item_path = format!("{path}/{index}");
        if let Some(reason) = invalid_host_reason(&host) {
            r.error(
                Problem::new(
                    Code::InvalidHost,
                    format!("{item_path}: invalid host `{host}`"),
                )
                .at(span, reason)
                .help("write a host name or IP address (set the SSH user and port under `ssh:`)"),
            );
            continue;
        }
        if hosts.iter().any(|existing| existing.host == host) {
            r.error(
                Problem::new(
                    Code::DuplicateHost,
                    format!(
                        "{item_path}: host `{host}` is \
                         listed twice in this role"
                    ),
                )
                .at(span, "duplicate")
                .help(
                    "remove the second entry; to tag a host, give all its tags in \
                     one entry: `- host: [tag1, tag2]`",
                ),
            );
            continue;
        }
        hosts.push(RoleHost { host, tags });
    }
    hosts
}

/// Why a host name cannot be used, if it cannot. Applied to deploy.yml's hosts and to every host
/// name read back from a host (journals), since each may reach an SSH argument or `ProxyCommand`.
pub fn invalid_host_reason(host: &str) -> Option<&'static str> {
    if host.trim().is_empty() {
        Some("empty host")
    } else if host.chars().any(char::is_whitespace) {
        Some("host names cannot contain spaces")
    } else if host.chars().any(char::is_control) {
        Some("host names cannot contain control characters")
    } else if host.starts_with('-') {
        Some("a leading `-` would be read as an SSH option")
    } else if host.contains(FORBIDDEN_HOST_CHARS) {
        Some("shell metacharacters are not allowed in a host")
    } else {
        None
    }
}

/// An `env` section (simple or complex form), recording the secrets it names.
pub(super) fn env(r: &mut Resolver, node: Option<&Node>, path: &str) -> Env {
    let Some(node) = node else {
        return Env::default();
    };
    let complex = node
        .as_map()
        .unwrap_or_default()
        .iter()
        .any(|entry| ["clear", "secret", "tags"].contains(&entry.key.as_str()));
    let clear_node = if complex {
        node.get("clear")
    } else {
        Some(node)
    };
    for entry in clear_node.and_then(Node::as_map).unwrap_or_default() {
        check_env_name(
            r,
            &format!("{path}/{}", entry.key),
            &entry.key,
            entry.key_span,
        );
    }
    if !complex {
        return Env {
            clear: values::text_map(Some(node)),
            secrets: Vec::new(),
        };
    }
    let mut env = Env {
        clear: values::text_map(node.get("clear")),
        secrets: Vec::new(),
    };
    for (index, item) in node
        .get("secret")
        .and_then(Node::as_seq)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let Some(entry) = item.text() else { continue };
        let (name, key) = match entry.split_once(':') {
            Some((name, key)) => (name.to_string(), key.to_string()),
            None => (entry.clone(), entry.clone()),
        };
        check_env_name(r, &format!("{path}/secret/{index}"), &name, item.span);
        r.secret(&key, format!("{path}/secret/{index}"), item.span);
        add_secret(&mut env, SecretEnv { name, key });
    }
    env
}

/// An env variable's name must survive an env file line (`NAME=value`) unchanged.
fn check_env_name(r: &mut Resolver, path: &str, name: &str, span: crate::config::source::Span) {
    names::report(
        r,
        path,
        "env variable name",
        name,
        span,
        names::env_name_problem(name),
        "rename the variable: a name cannot contain `=`, spaces or line breaks",
    );
}

fn add_secret(env: &mut Env, secret: SecretEnv) {
    match env
        .secrets
        .iter_mut()
        .find(|existing| existing.name == secret.name)
    {
        Some(existing) => *existing = secret,
        None => env.secrets.push(secret),
    }
}

/// `over` merged onto `base`: clear values override, secrets accumulate.
pub(super) fn merge_env(base: &Env, over: &Env) -> Env {
    let mut merged = base.clone();
    merged.clear.extend(over.clear.clone());
    for secret in &over.secrets {
        add_secret(&mut merged, secret.clone());
    }
    merged
}

/// Root logging deep-merged with a role's.
fn merge_logging(base: &Logging, over: &Logging) -> Logging {
    let mut options = base.options.clone();
    options.extend(over.options.clone());
    Logging {
        driver: over.driver.clone().or_else(|| base.driver.clone()),
        options,
    }
}

/// `service`, `role` and `destination` are set by gantry (and Kamal) and filtered on.
pub(super) fn check_reserved_labels(r: &mut Resolver, node: Option<&Node>, path: &str) {
    for entry in node.and_then(Node::as_map).unwrap_or_default() {
        if RESERVED_LABELS.contains(&entry.key.as_str()) {
            r.error(
                Problem::new(
                    Code::ReservedLabel,
                    format!("{path}/{}: reserved label", entry.key),
                )
                .at(entry.key_span, "set by gantry")
                .help(format!(
                    "remove it: `{}` is one of the labels (service, role, destination) \
                     gantry and Kamal set and use to find containers; overriding it hides \
                     containers from both",
                    entry.key
                )),
            );
        }
    }
}
