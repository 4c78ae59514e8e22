//! `proxy:` → [`Proxy`] (root, per role, per accessory) and `proxy.run` → [`ProxyRun`].
//!
//! A role's proxy is the root proxy hash with the role's hash deep-merged over it (Kamal's
//! `Proxy#merge`); the primary role runs the proxy unless `proxy: false`, other roles only with
//! `proxy: true` or a hash. An accessory's proxy is its own hash, not merged. SSL checks run on
//! the effective settings: automatic SSL needs a host and a single-host role.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::{Resolver, options, values};
use crate::config::diagnostic::{Code, Problem};
use crate::config::model::*;
use crate::config::node::{Node, deep_merge};

/// The root proxy section, when it is a hash.
pub(super) fn root_proxy(r: &mut Resolver) -> Option<Proxy> {
    let node = r.root.get("proxy").filter(|node| node.as_map().is_some())?;
    Some(decode(r, node, "proxy"))
}

/// The effective proxy of a role, or `None` when the role runs without it.
pub(super) fn role_proxy(
    r: &mut Resolver,
    role: &str,
    is_primary: bool,
    role_node: Option<&Node>,
    host_count: usize,
) -> Option<Proxy> {
    let running = match role_node.map(|node| node.as_bool()) {
        Some(Some(flag)) => flag,
        Some(None) => true,
        None => is_primary,
    };
    if !running {
        return None;
    }
    let path = format!("servers/{role}/proxy");
    let root = r.root.get("proxy").filter(|node| node.as_map().is_some());
    let specialized = role_node.filter(|node| node.as_map().is_some());
    let merged = match (root, specialized) {
        (Some(root), Some(specialized)) => deep_merge(root.clone(), specialized.clone()),
        (Some(root), None) => root.clone(),
        (None, Some(specialized)) => specialized.clone(),
        (None, None) => {
            return Some(Proxy::default());
        }
    };
    let proxy = decode(r, &merged, &path);
    if proxy.ssl == Ssl::Automatic && host_count > 1 {
        let span = merged.get("ssl").map_or(merged.span, |node| node.span);
        r.error(
            Problem::new(
                Code::SslHosts,
                format!(
                    "{path}/ssl: automatic SSL is only supported on a single server, found \
                     {host_count} servers for role {role}"
                ),
            )
            .at(span, "Let's Encrypt needs one host per role")
            .help(
                "use custom certificates (`ssl: {certificate_pem: SECRET, private_key_pem: \
                 SECRET}`), or terminate TLS in front of the hosts and set `ssl: false`",
            ),
        );
    }
    Some(proxy)
}

/// An accessory's proxy: its own hash, not merged with the root.
pub(super) fn accessory_proxy(r: &mut Resolver, node: Option<&Node>, path: &str) -> Option<Proxy> {
    let node = node.filter(|node| node.is_present())?;
    Some(decode(r, node, path))
}

/// Reads one proxy hash and checks what can be checked without the role.
fn decode(r: &mut Resolver, node: &Node, path: &str) -> Proxy {
    if let (Some(host), Some(_)) = (node.entry("host"), node.get("hosts")) {
        r.error(
            Problem::new(
                Code::ProxyHosts,
                format!("{path}: specify one of `host` or `hosts`, not both"),
            )
            .at(host.key_span, "`hosts` is set too")
            .help("keep `hosts: [a, b]` (or one comma-separated `host:`)"),
        );
    }
    let hosts = match node.get("hosts") {
        Some(list) => values::list_of_text(list),
        None => values::text(node, "host")
            .map(|host| {
                host.split(',')
                    .map(|h| h.trim().to_string())
                    .filter(|h| !h.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
    };
    let ssl = decode_ssl(r, node, path);
    if ssl == Ssl::Automatic && hosts.is_empty() {
        let span = node.get("ssl").map_or(node.span, |ssl| ssl.span);
        r.error(
            Problem::new(
                Code::SslHosts,
                format!("{path}/ssl: must set a host to enable automatic SSL"),
            )
            .at(span, "Let's Encrypt needs a host name")
            .help("add `host: app.example.com` next to `ssl: true`"),
        );
    }
    let app_port = match node.get("app_port").and_then(Node::as_int) {
        Some(port) => u16::try_from(port)
            .ok()
            .filter(|port| *port > 0)
            .unwrap_or_else(|| {
                let span = node.get("app_port").map_or(node.span, |n| n.span);
                r.error(
                    Problem::new(
                        Code::InvalidValue,
                        format!("{path}/app_port: {port} is not a TCP port"),
                    )
                    .at(span, "out of range")
                    .help("use a port between 1 and 65535"),
                );
                80
            }),
        None => 80,
    };
    let path_prefixes = match node.get("path_prefixes") {
        Some(list) => values::list_of_text(list),
        None => values::text(node, "path_prefix")
            .map(|prefixes| {
                prefixes
                    .split(',')
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
    };
    let healthcheck = node.get("healthcheck");
    let buffering = node.get("buffering");
    let logging = node.get("logging");
    let default_buffering = Buffering::default();
    Proxy {
        hosts,
        app_port,
        ssl,
        ssl_redirect: values::boolean(node, "ssl_redirect"),
        forward_headers: values::boolean(node, "forward_headers"),
        response_timeout: values::uint(node, "response_timeout"),
        path_prefixes,
        strip_path_prefix: values::boolean(node, "strip_path_prefix"),
        healthcheck: ProxyHealthcheck {
            path: healthcheck.and_then(|h| values::text(h, "path")),
            interval: healthcheck.and_then(|h| values::uint(h, "interval")),
            timeout: healthcheck.and_then(|h| values::uint(h, "timeout")),
        },
        buffering: Buffering {
            requests: buffering
                .and_then(|b| values::boolean(b, "requests"))
                .unwrap_or(default_buffering.requests),
            responses: buffering
                .and_then(|b| values::boolean(b, "responses"))
                .unwrap_or(default_buffering.responses),
            max_request_body: buffering.and_then(|b| values::uint(b, "max_request_body")),
            max_response_body: buffering.and_then(|b| values::uint(b, "max_response_body")),
            memory: buffering.and_then(|b| values::uint(b, "memory")),
        },
        logging: ProxyLogging {
            request_headers: match logging.and_then(|l| l.get("request_headers")) {
                Some(list) => values::list_of_text(list),
                None => ProxyLogging::default().request_headers,
            },
            response_headers: logging
                .map(|l| values::text_list(l, "response_headers"))
                .unwrap_or_default(),
        },
    }
}

fn decode_ssl(r: &mut Resolver, node: &Node, path: &str) -> Ssl {
    let Some(ssl) = node.get("ssl") else {
        return Ssl::Off;
    };
    if let Some(flag) = ssl.as_bool() {
        return if flag { Ssl::Automatic } else { Ssl::Off };
    }
    if ssl.as_map().is_none() {
        return Ssl::Off;
    }
    let mut names = [None, None];
    for (slot, key, other) in [
        (0, "certificate_pem", "private_key_pem"),
        (1, "private_key_pem", "certificate_pem"),
    ] {
        match ssl.get(key).filter(|value| value.is_present()) {
            Some(value) => {
                let name = value.text().unwrap_or_default();
                r.secret(&name, format!("{path}/ssl/{key}"), value.span);
                names[slot] = Some(name);
            }
            None => r.error(
                Problem::new(Code::MissingKey, format!("{path}/ssl/{key}: missing"))
                    .at(ssl.span, format!("`{other}` needs `{key}`"))
                    .help(format!(
                        "name the secret that holds the {key} next to {other}"
                    )),
            ),
        }
    }
    match names {
        [Some(certificate_pem), Some(private_key_pem)] => Ssl::Custom {
            certificate_pem,
            private_key_pem,
        },
        _ => Ssl::Off,
    }
}

/// `proxy.run` of the root proxy, with kamal-proxy's defaults.
pub(super) fn proxy_run(r: &mut Resolver) -> ProxyRun {
    match r.root.get("proxy").and_then(|proxy| proxy.get("run")) {
        Some(run) => proxy_run_at(r, run, "proxy/run"),
        None => ProxyRun::default(),
    }
}

/// Per host whose run is not the root one, the `proxy.run` its roles and accessories give, as
/// Kamal 2.11's `Configuration#proxy_run(host)` reads it: a proxy role's `proxy.run`
/// deep-merged over the root one (the role's keys win), an accessory's own. Other hosts boot
/// with the root `proxy.run` (or the boot files). Two different runs on one host are an error,
/// as in Kamal ("Conflicting proxy run configurations for host").
pub(super) fn host_proxy_runs(
    r: &mut Resolver,
    roles: &[Role],
    accessories: &[Accessory],
    root_run: &ProxyRun,
) -> BTreeMap<String, ProxyRun> {
    let root_node = r
        .root
        .get("proxy")
        .and_then(|proxy| proxy.get("run"))
        .cloned();
    let run_node = |section: &str, name: &str| {
        r.root
            .get(section)
            .and_then(|entries| entries.get(name))
            .and_then(|entry| entry.get("proxy"))
            .and_then(|proxy| proxy.get("run"))
            .cloned()
    };
    // (path, run node, hosts) of every role and accessory that gives a run; no node: the root.
    let mut sources: Vec<(String, Option<Node>, Vec<String>)> = Vec::new();
    for role in roles.iter().filter(|role| role.proxy.is_some()) {
        let own = run_node("servers", &role.name);
        let node = match (root_node.clone(), own) {
            (Some(root), Some(own)) => Some(deep_merge(root, own)),
            (None, Some(own)) => Some(own),
            // The root run, already read (and its errors reported) once.
            (Some(_), None) => None,
            (None, None) => continue,
        };
        let hosts = role.hosts.iter().map(|host| host.host.clone()).collect();
        sources.push((format!("servers/{}/proxy/run", role.name), node, hosts));
    }
    for accessory in accessories
        .iter()
        .filter(|accessory| accessory.proxy.is_some())
    {
        if let Some(own) = run_node("accessories", &accessory.name) {
            let path = format!("accessories/{}/proxy/run", accessory.name);
            sources.push((path, Some(own), accessory.hosts.clone()));
        }
    }
    let mut runs: BTreeMap<String, ProxyRun> = BTreeMap::new();
    for (path, node, hosts) in sources {
        let run = match &node {
            Some(node) => proxy_run_at(r, node, &path),
            None => root_run.clone(),
        };
        for host in hosts {
            match runs.get(&host) {
                Some(existing) if *existing != run => {
                    let span = node.as_ref().map_or(r.top(), |node| node.span);
                    r.error(
                        Problem::new(
                            Code::ProxyRunConflict,
                            format!("{path}: conflicting proxy run configurations for host {host}"),
                        )
                        .at(span, "another proxy.run on the same host")
                        .help(
                            "one kamal-proxy container serves every role and accessory on a \
                             host: give them the same `proxy.run`",
                        ),
                    );
                }
                Some(_) => {}
                None => {
                    runs.insert(host, run.clone());
                }
            }
        }
    }
    // Only what differs from the root run is kept: the others boot with it anyway.
    runs.retain(|_, run| run != root_run);
    runs
}

/// One `proxy.run` section at `path`, with kamal-proxy's defaults.
fn proxy_run_at(r: &mut Resolver, run: &Node, path: &str) -> ProxyRun {
    let defaults = ProxyRun::default();
    let publish = values::boolean(run, "publish").unwrap_or(true);
    if !publish {
        for key in ["http_port", "https_port", "bind_ips"] {
            if let Some(entry) = run.entry(key) {
                r.error(
                    Problem::new(
                        Code::InvalidValue,
                        format!(
                            "{path}: cannot set \
                             http_port, https_port or bind_ips when publish is false"
                        ),
                    )
                    .at(entry.key_span, "not published")
                    .help(format!("remove `{key}` or set `publish: true`")),
                );
            }
        }
    }
    let bind_ips = values::text_list(run, "bind_ips");
    for (index, ip) in bind_ips.iter().enumerate() {
        if ip
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_err()
        {
            let span = run
                .get("bind_ips")
                .and_then(Node::as_seq)
                .and_then(|items| items.get(index))
                .map_or(run.span, |n| n.span);
            r.error(
                Problem::new(
                    Code::InvalidValue,
                    format!("{path}/bind_ips/{index}: invalid publish IP address `{ip}`"),
                )
                .at(span, "not an IP address")
                .help("write an IPv4 or IPv6 address, such as 0.0.0.0 or ::1"),
            );
        }
    }
    let port = |r: &mut Resolver, key: &str, default: Option<u16>| -> Option<u16> {
        let node = run.get(key)?;
        let number = node.as_int()?;
        match u16::try_from(number).ok().filter(|port| *port > 0) {
            Some(port) => Some(port),
            None => {
                r.error(
                    Problem::new(
                        Code::InvalidValue,
                        format!("{path}/{key}: {number} is not a TCP port"),
                    )
                    .at(node.span, "out of range")
                    .help("use a port between 1 and 65535"),
                );
                default
            }
        }
    };
    let http_port = port(r, "http_port", Some(defaults.http_port)).unwrap_or(defaults.http_port);
    let https_port =
        port(r, "https_port", Some(defaults.https_port)).unwrap_or(defaults.https_port);
    let metrics_port = port(r, "metrics_port", None);
    let (run_options, _) =
        options::docker_options(r, run.get("options"), &format!("{path}/options"));
    ProxyRun {
        configured: true,
        http_port,
        https_port,
        metrics_port,
        debug: values::boolean(run, "debug").unwrap_or(false),
        log_max_size: values::text(run, "log_max_size").unwrap_or(defaults.log_max_size),
        publish,
        bind_ips,
        registry: values::text(run, "registry"),
        repository: values::text(run, "repository").unwrap_or(defaults.repository),
        version: values::text(run, "version").unwrap_or(defaults.version),
        options: run_options,
    }
}

/// Two roles with automatic SSL cannot serve the same host name.
pub(super) fn check_shared_ssl_hosts(r: &mut Resolver, roles: &[Role]) {
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for role in roles {
        let Some(proxy) = role.proxy.as_ref().filter(|proxy| proxy.ssl != Ssl::Off) else {
            continue;
        };
        for host in &proxy.hosts {
            if let Some((_, other)) = seen.iter().find(|(seen_host, _)| seen_host == host) {
                let span = r
                    .root
                    .get("servers")
                    .and_then(|servers| servers.entry(&role.name))
                    .map(|entry| entry.key_span);
                r.error(
                    Problem::new(
                        Code::SslHosts,
                        format!("different roles can't share the same host for SSL: {host}"),
                    )
                    .at_opt(
                        span,
                        format!(
                            "role {} and role {other} both serve {host} with SSL",
                            role.name
                        ),
                    )
                    .help("give each SSL role its own host names"),
                );
            } else {
                seen.push((host, &role.name));
            }
        }
    }
}
