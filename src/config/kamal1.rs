//! Kamal 1 keys that tutorials still show, taken out of the tree before the schema check.
//!
//! `healthcheck:` moved to `proxy.healthcheck` in Kamal 2: its `path` and `interval` are
//! carried over when the proxy does not set them already, and `port` becomes `proxy.app_port`
//! only when that is unambiguous (no `app_port`, or the same one). `traefik:` is gone
//! (kamal-proxy replaced Traefik) and is dropped. Each gets a warning that says what to write.

use super::diagnostic::{Code, Problem, Problems};
use super::node::{Entry, Node, Value};

/// Rewrites Kamal 1 keys at the root of `root` and warns about each.
pub fn translate(root: &mut Node, problems: &mut Problems) {
    let Value::Map(entries) = &mut root.value else {
        return;
    };
    if let Some(index) = entries.iter().position(|entry| entry.key == "traefik") {
        let entry = entries.remove(index);
        problems.warn(
            Problem::new(
                Code::Kamal1Traefik,
                "traefik: Kamal 2 replaced Traefik with kamal-proxy; this section is ignored",
            )
            .at(entry.key_span, "Kamal 1 setting")
            .help(
                "remove `traefik:`; routing, TLS and health checks are configured under `proxy:`",
            ),
        );
    }
    let Some(index) = entries.iter().position(|entry| entry.key == "healthcheck") else {
        return;
    };
    let healthcheck = entries.remove(index);
    let proxy_index = match entries.iter().position(|entry| entry.key == "proxy") {
        Some(index) => index,
        None => {
            entries.push(Entry {
                key: "proxy".to_string(),
                key_span: healthcheck.key_span,
                value: Node {
                    value: Value::Map(Vec::new()),
                    span: healthcheck.value.span,
                },
            });
            entries.len() - 1
        }
    };
    let proxy = &mut entries[proxy_index].value;
    let mut moved = Vec::new();
    let mut kept = Vec::new();
    if proxy.as_map().is_none() {
        kept.push("all of it (proxy is not a hash)".to_string());
    } else {
        for entry in healthcheck.value.as_map().unwrap_or_default() {
            match entry.key.as_str() {
                "path" | "interval" => {
                    let value = match entry.key.as_str() {
                        "interval" => seconds(&entry.value),
                        _ => Some(entry.value.clone()),
                    };
                    match value {
                        Some(value)
                            if proxy
                                .get("healthcheck")
                                .and_then(|h| h.get(&entry.key))
                                .is_none() =>
                        {
                            set(proxy, "healthcheck", entry, value);
                            moved.push(format!("proxy.healthcheck.{}", entry.key));
                        }
                        _ => kept.push(entry.key.clone()),
                    }
                }
                "port" => match (
                    entry.value.as_int(),
                    proxy.get("app_port").and_then(Node::as_int),
                ) {
                    (Some(port), None) => {
                        insert(
                            proxy,
                            "app_port",
                            entry.key_span,
                            Node {
                                value: Value::Int(port),
                                span: entry.value.span,
                            },
                        );
                        moved.push("proxy.app_port".to_string());
                    }
                    (Some(port), Some(app_port)) if port == app_port => {
                        moved.push("proxy.app_port (already set)".to_string())
                    }
                    _ => kept.push("port".to_string()),
                },
                other => kept.push(other.to_string()),
            }
        }
    }
    let mut help = "move it under `proxy:` as `healthcheck: {path: /up, interval: 3}` and \
                    set `proxy.app_port`"
        .to_string();
    if !moved.is_empty() {
        help = format!("read as {}; {help}", moved.join(", "));
    }
    if !kept.is_empty() {
        help = format!("{help}; not carried over: {}", kept.join(", "));
    }
    problems.warn(
        Problem::new(
            Code::Kamal1Healthcheck,
            "healthcheck: Kamal 2 moved the health check to proxy.healthcheck",
        )
        .at(healthcheck.key_span, "Kamal 1 setting")
        .help(help),
    );
}

/// `3`, `"3"` or `"3s"` as whole seconds.
fn seconds(node: &Node) -> Option<Node> {
    let number = match &node.value {
        Value::Int(number) => Some(*number),
        Value::Str(text) => text.trim().trim_end_matches('s').parse::<i128>().ok(),
        _ => None,
    }?;
    Some(Node {
        value: Value::Int(number),
        span: node.span,
    })
}

fn insert(map: &mut Node, key: &str, key_span: super::source::Span, value: Node) {
    if let Value::Map(entries) = &mut map.value {
        entries.push(Entry {
            key: key.to_string(),
            key_span,
            value,
        });
    }
}

/// Sets `section.<entry.key>` in `proxy`, creating the section when needed.
fn set(proxy: &mut Node, section: &str, entry: &Entry, value: Node) {
    let Value::Map(entries) = &mut proxy.value else {
        return;
    };
    let index = match entries.iter().position(|e| e.key == section) {
        Some(index) => index,
        None => {
            entries.push(Entry {
                key: section.to_string(),
                key_span: entry.key_span,
                value: Node {
                    value: Value::Map(Vec::new()),
                    span: entry.value.span,
                },
            });
            entries.len() - 1
        }
    };
    insert(&mut entries[index].value, &entry.key, entry.key_span, value);
}
