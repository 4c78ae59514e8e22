//! A Docker engine in memory: what `docker create` makes of a spec, as the real daemon would.

use std::collections::BTreeMap;

use crate::host::{ContainerDetails, ContainerSpec, ContainerStatus, Health, ImageDetails};

/// The container Docker creates from `spec` with `image`'s defaults: the image's env and labels
/// under the spec's, the image's command when the spec has none, the spec's network.
pub fn details_from_spec(
    spec: &ContainerSpec,
    id: &str,
    image: &ImageDetails,
    created: &str,
) -> ContainerDetails {
    let mut env: BTreeMap<String, String> = image
        .env
        .iter()
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    for (name, value) in &spec.env {
        env.insert(name.clone(), value.expose().to_string());
    }
    let mut labels = image.labels.clone();
    labels.extend(spec.labels.clone());
    let mut options = spec.options.clone();
    let mut exposed: Vec<String> = options.exposed_ports.clone();
    exposed.extend(spec.ports.iter().map(|port| port.container_port.clone()));
    exposed.sort();
    exposed.dedup();
    options.exposed_ports = exposed;
    ContainerDetails {
        id: id.to_string(),
        name: spec.name.clone(),
        image: spec.image.clone(),
        image_id: image.id.clone(),
        created: created.to_string(),
        status: ContainerStatus::Created,
        health: None,
        exit_code: None,
        started_at: String::new(),
        cmd: spec.cmd.clone().unwrap_or_else(|| image.cmd.clone()),
        env: env
            .into_iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect(),
        labels,
        hostname: spec
            .hostname
            .clone()
            .unwrap_or_else(|| id[..12.min(id.len())].to_string()),
        networks: spec
            .network
            .iter()
            .chain(&spec.options.networks)
            .cloned()
            .collect(),
        restart_policy: spec.restart_policy.clone(),
        log_config: crate::host::LogConfig {
            driver: Some(
                spec.log_config
                    .driver
                    .clone()
                    .unwrap_or_else(|| "json-file".to_string()),
            ),
            options: spec.log_config.options.clone(),
        },
        binds: spec.binds.clone(),
        ports: spec.ports.clone(),
        options,
    }
}

/// An env var of a container, as a test app reads its instructions.
pub fn env_value<'a>(details: &'a ContainerDetails, name: &str) -> Option<&'a str> {
    details.env.iter().find_map(|pair| {
        pair.split_once('=')
            .filter(|(key, _)| *key == name)
            .map(|(_, value)| value)
    })
}

/// What a started container becomes: running (healthy when it has a check) unless its env tells
/// the fake to crash (`CRASH=1`) or to fail its health check (`FAIL_HEALTHCHECK=1`), like the
/// test bed's test app.
pub fn start(details: &mut ContainerDetails, has_healthcheck: bool, now: &str) {
    details.started_at = now.to_string();
    if env_value(details, "CRASH") == Some("1") {
        details.status = ContainerStatus::Exited;
        details.exit_code = Some(1);
        details.health = None;
        return;
    }
    details.status = ContainerStatus::Running;
    details.exit_code = None;
    details.health = has_healthcheck.then(|| {
        if env_value(details, "FAIL_HEALTHCHECK") == Some("1") {
            Health::Unhealthy
        } else {
            Health::Healthy
        }
    });
}
