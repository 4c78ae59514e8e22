//! `gantry details`: what runs where, from the same observation `plan` makes.
//!
//! Kamal's `details` prints raw `docker ps` tables; this reads the observed state instead, so it
//! can say which container each route serves, which version is current and which are retained.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::{Value, json};

use crate::kamal_proxy::ObservedRoute;
use crate::naming::{LABEL_ROLE, ServiceNames};
use crate::observe::{HostState, Observed, ObservedContainer, ObservedHost};

/// The details of every host, as text.
pub fn render(observed: &Observed, names: &ServiceNames, hosts_in_order: &[String]) -> String {
    let mut out = String::new();
    for host in hosts_in_order {
        match observed.hosts.get(host) {
            Some(ObservedHost::Reachable(state)) => host_text(&mut out, host, state, names),
            Some(ObservedHost::Unreachable { reason }) => {
                let _ = writeln!(out, "{host}: unreachable: {reason}");
            }
            None => {}
        }
    }
    out
}

fn host_text(out: &mut String, host: &str, state: &HostState, names: &ServiceNames) {
    let _ = writeln!(out, "{host}");
    let routes = state.routes.as_deref().unwrap_or_default();
    if let Some(proxy) = &state.proxy {
        let _ = writeln!(
            out,
            "  proxy      {}  {}  {}",
            proxy.details.name,
            proxy.details.image,
            status_text(proxy)
        );
    } else {
        let _ = writeln!(out, "  proxy      (none)");
    }
    for container in &state.app_containers {
        let role = container
            .details
            .labels
            .get(LABEL_ROLE)
            .map(String::as_str)
            .unwrap_or_default();
        let version = names
            .version_of(role, &container.details.name)
            .unwrap_or_default();
        let served = route_for(routes, container)
            .map(|route| format!("  ← route {}", route.service))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  app {role:<6} {}  version {version}  {}{served}",
            container.details.name,
            status_text(container)
        );
    }
    for accessory in &state.accessories {
        let _ = writeln!(
            out,
            "  accessory  {}  {}  {}",
            accessory.details.name,
            accessory.details.image,
            status_text(accessory)
        );
    }
    for route in routes {
        let _ = writeln!(
            out,
            "  route      {}  hosts {}  paths {}  → {}  ({:?})",
            route.service,
            route
                .settings
                .hosts
                .iter()
                .map(|host| if host.is_empty() { "*" } else { host.as_str() })
                .collect::<Vec<_>>()
                .join(","),
            route.settings.path_prefixes.join(","),
            route.active_targets.join(","),
            route.state
        );
    }
    if let Some(lock) = &state.lock {
        let _ = writeln!(out, "  lock       {}", lock.details.replace('\n', "; "));
    }
}

fn status_text(container: &ObservedContainer) -> String {
    match container.details.health {
        Some(health) => format!("{} ({health:?})", container.details.status).to_lowercase(),
        None => container.details.status.to_string(),
    }
}

fn route_for<'a>(
    routes: &'a [ObservedRoute],
    container: &ObservedContainer,
) -> Option<&'a ObservedRoute> {
    let short_id = container.details.short_id();
    routes.iter().find(|route| {
        route
            .active_targets
            .iter()
            .any(|target| target.split(':').next() == Some(short_id))
    })
}

/// The details as JSON: per host, its containers (name, image, version, state, route) and routes.
pub fn to_json(observed: &Observed, names: &ServiceNames, hosts_in_order: &[String]) -> Value {
    let hosts: Vec<Value> = hosts_in_order
        .iter()
        .filter_map(|host| {
            let observed = observed.hosts.get(host)?;
            Some(match observed {
                ObservedHost::Unreachable { reason } => {
                    json!({"host": host, "status": "unreachable", "reason": reason})
                }
                ObservedHost::Reachable(state) => {
                    let routes = state.routes.as_deref().unwrap_or_default();
                    let container = |c: &ObservedContainer| {
                        let role = c.details.labels.get(LABEL_ROLE);
                        json!({
                            "name": c.details.name,
                            "image": c.details.image,
                            "role": role,
                            "version": role.and_then(|role| names.version_of(role, &c.details.name)),
                            "status": c.details.status,
                            "health": c.details.health,
                            "route": route_for(routes, c).map(|route| route.service.clone()),
                        })
                    };
                    json!({
                        "host": host,
                        "status": "reachable",
                        "proxy": state.proxy.as_ref().map(container),
                        "apps": state.app_containers.iter().map(container).collect::<Vec<_>>(),
                        "accessories": state.accessories.iter().map(container).collect::<Vec<_>>(),
                        "routes": routes,
                        "lock": state.lock,
                    })
                }
            })
        })
        .collect();
    json!({ "service": names.service(), "destination": names.destination(), "hosts": hosts })
}

/// The containers of every other service on each host (`details --all`): service, role (or
/// accessory), container, the version its image tag names, state and published ports. The
/// routes of every service are in [`render`] already: kamal-proxy's state holds them all.
/// `last_deploys`: per host, the last line of each other service's audit log.
pub fn render_other_services(
    observed: &Observed,
    hosts_in_order: &[String],
    last_deploys: &BTreeMap<String, BTreeMap<String, String>>,
) -> String {
    let mut out = String::new();
    for host in hosts_in_order {
        let Some(ObservedHost::Reachable(state)) = observed.hosts.get(host) else {
            continue;
        };
        let _ = writeln!(out, "{host}: other services");
        if state.other_services.is_empty() {
            let _ = writeln!(out, "  (none)");
        }
        let mut containers: Vec<_> = state.other_services.iter().collect();
        containers.sort_by(|a, b| (service_of(a), &a.name).cmp(&(service_of(b), &b.name)));
        for container in containers {
            let kind = container
                .labels
                .get(LABEL_ROLE)
                .map_or("accessory", String::as_str);
            let version = container.image.rsplit_once(':').map_or("", |(_, tag)| tag);
            let ports: Vec<&str> = container
                .published_ports
                .iter()
                .map(|binding| binding.host_port.as_str())
                .collect();
            let ports = if ports.is_empty() {
                String::new()
            } else {
                format!("  ports {}", ports.join(","))
            };
            let _ = writeln!(
                out,
                "  {}  {kind}  {}  version {version}  {:?}{ports}",
                service_of(container),
                container.name,
                container.state
            );
        }
        for (service, line) in last_deploys.get(host).into_iter().flatten() {
            let _ = writeln!(out, "  last change {service}: {line}");
        }
    }
    out
}

/// The audit logs of the other apps on a host (`.kamal/<service>[-<destination>]-audit.log`,
/// named after their containers' labels), by the service name they are kept under.
pub fn other_audit_logs(state: &HostState) -> BTreeMap<String, String> {
    state
        .other_services
        .iter()
        .filter(|container| container.labels.contains_key(LABEL_ROLE))
        .map(|container| {
            let service = service_of(container);
            let destination = container
                .labels
                .get(crate::naming::LABEL_DESTINATION)
                .filter(|destination| !destination.is_empty());
            let name = match destination {
                Some(destination) => format!("{service}-{destination}"),
                None => service.to_string(),
            };
            let path = format!(".kamal/{name}-audit.log");
            (name, path)
        })
        .collect()
}

/// The last non-empty line of an audit log.
pub fn last_audit_line(contents: &[u8]) -> Option<String> {
    String::from_utf8_lossy(contents)
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .map(str::to_string)
}

fn service_of(container: &crate::host::ContainerSummary) -> &str {
    container
        .labels
        .get(crate::naming::LABEL_SERVICE)
        .map_or("", String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    #[test]
    fn details_show_versions_and_which_container_a_route_serves() {
        let config = testing::config(&["h1"]);
        let observed = testing::observed_of(&testing::desired(&config, "v1"));
        let names = ServiceNames::for_config(&config);
        let text = render(&observed, &names, &["h1".to_string()]);
        assert!(
            text.contains("app web    app-web-v1  version v1  running  ← route app-web"),
            "{text}"
        );
        assert!(
            text.contains("route      app-web  hosts *  paths /"),
            "{text}"
        );
        let json = to_json(&observed, &names, &["h1".to_string()]);
        assert_eq!(json["hosts"][0]["apps"][0]["version"], "v1");
        assert_eq!(json["hosts"][0]["apps"][0]["route"], "app-web");
    }

    #[test]
    fn other_apps_audit_logs_are_named_after_their_labels() {
        let container = |name: &str, labels: &[(&str, &str)]| crate::host::ContainerSummary {
            id: name.into(),
            name: name.into(),
            image: "shop:v1".into(),
            image_id: String::new(),
            labels: labels
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
            state: crate::model::ContainerStatus::Running,
            created: 0,
            published_ports: Vec::new(),
        };
        let state = HostState {
            other_services: vec![
                container("shop-web-v1", &[("service", "shop"), ("role", "web")]),
                container(
                    "blog-web-staging-v1",
                    &[
                        ("service", "blog"),
                        ("role", "web"),
                        ("destination", "staging"),
                    ],
                ),
                container("shop-db", &[("service", "shop-db")]),
            ],
            ..HostState::default()
        };
        assert_eq!(
            other_audit_logs(&state).into_iter().collect::<Vec<_>>(),
            vec![
                (
                    "blog-staging".to_string(),
                    ".kamal/blog-staging-audit.log".to_string()
                ),
                ("shop".to_string(), ".kamal/shop-audit.log".to_string()),
            ]
        );
        assert_eq!(
            last_audit_line(b"[t1] [jane] Deployed\n[t2] [joe] Rolled back\n\n").as_deref(),
            Some("[t2] [joe] Rolled back")
        );
        assert_eq!(last_audit_line(b""), None);
    }
}
