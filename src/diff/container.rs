//! Field-by-field comparison of a desired container with a live one.
//!
//! A live container's configuration mixes what its creator set with what its image supplied
//! (env, labels, command, entrypoint, user, ...). Kamal's containers carry no record of which is
//! which, so the comparison takes the image into account: a value the container merely inherited
//! from its image is not a difference, and a desired value left unset means "the image's
//! default". gantry's own labels (`gantry.*`) and the random part of the hostname are ignored.
//! Secret values are compared, never copied into the result.

use std::collections::{BTreeMap, BTreeSet};

use crate::diff::FieldChange;
use crate::model::{ContainerOptions, ContainerSpec, EnvValue, ImageDetails};
use crate::naming::GANTRY_LABEL_PREFIX;
use crate::observe::ObservedContainer;

/// Every field where `observed` differs from `desired`, in a stable order.
pub fn container_fields(desired: &ContainerSpec, observed: &ObservedContainer) -> Vec<FieldChange> {
    let details = &observed.details;
    let image = observed.image.as_ref();
    let mut fields = Vec::new();

    if desired.image != details.image {
        fields.push(FieldChange::changed(
            "image",
            &details.image,
            &desired.image,
        ));
    }
    if let Some(image) = image {
        let desired_cmd = desired.cmd.clone().unwrap_or_else(|| image.cmd.clone());
        if desired_cmd != details.cmd {
            fields.push(FieldChange::changed(
                "cmd",
                &render_argv(&details.cmd),
                &render_argv(&desired_cmd),
            ));
        }
    } else if let Some(cmd) = &desired.cmd
        && *cmd != details.cmd
    {
        fields.push(FieldChange::changed(
            "cmd",
            &render_argv(&details.cmd),
            &render_argv(cmd),
        ));
    }

    env_fields(desired, &details.env, image, &mut fields);
    label_fields(desired, &details.labels, image, &mut fields);

    if let Some(network) = &desired.network
        && !details.networks.iter().any(|name| name == network)
    {
        fields.push(FieldChange::changed(
            "network",
            &details.networks.join(","),
            network,
        ));
    }
    if desired.restart_policy.name != details.restart_policy.name
        || desired.restart_policy.maximum_retry_count.unwrap_or(0)
            != details.restart_policy.maximum_retry_count.unwrap_or(0)
    {
        fields.push(FieldChange::changed(
            "restart",
            &restart_text(&details.restart_policy),
            &restart_text(&desired.restart_policy),
        ));
    }
    if let Some(driver) = &desired.log_config.driver
        && details.log_config.driver.as_deref() != Some(driver.as_str())
    {
        fields.push(FieldChange::changed(
            "logging.driver",
            details.log_config.driver.as_deref().unwrap_or(""),
            driver,
        ));
    }
    map_fields(
        "logging.options",
        &desired.log_config.options,
        &details.log_config.options,
        &mut fields,
    );
    set_field("volumes", &desired.binds, &details.binds, &mut fields);
    let port_text = |ports: &[crate::model::PortBinding]| -> Vec<String> {
        ports
            .iter()
            .map(|port| {
                let host = match (port.host_ip.as_str(), port.host_port.as_str()) {
                    ("", "") => String::new(),
                    ("", host_port) => format!("{host_port}:"),
                    (ip, host_port) => format!("{ip}:{host_port}:"),
                };
                format!("{host}{}", port.container_port)
            })
            .collect()
    };
    set_field(
        "ports",
        &port_text(&desired.ports),
        &port_text(&details.ports),
        &mut fields,
    );
    option_fields(&desired.options, &details.options, image, &mut fields);
    fields
}

/// The env a container has beyond what its image supplies, compared with the desired env.
fn env_fields(
    desired: &ContainerSpec,
    observed_env: &[String],
    image: Option<&ImageDetails>,
    fields: &mut Vec<FieldChange>,
) {
    let observed = parse_env(observed_env);
    let image_env = image.map(|image| parse_env(&image.env)).unwrap_or_default();
    for (name, value) in &desired.env {
        let field = format!("env.{name}");
        match (observed.get(name), value) {
            (None, EnvValue::Secret(_)) => fields.push(FieldChange::added_sensitive(&field)),
            (None, EnvValue::Clear(value)) => fields.push(FieldChange::added(&field, value)),
            (Some(current), EnvValue::Secret(secret)) if current != secret.expose() => {
                fields.push(FieldChange::changed_sensitive(&field));
            }
            (Some(current), EnvValue::Clear(value)) if current != value => {
                fields.push(FieldChange::changed(&field, current, value));
            }
            _ => {}
        }
    }
    for (name, value) in &observed {
        if desired.env.contains_key(name) || image_env.get(name) == Some(value) {
            continue;
        }
        fields.push(FieldChange::removed(&format!("env.{name}")));
    }
}

fn label_fields(
    desired: &ContainerSpec,
    observed: &BTreeMap<String, String>,
    image: Option<&ImageDetails>,
    fields: &mut Vec<FieldChange>,
) {
    let empty = BTreeMap::new();
    let image_labels = image.map_or(&empty, |image| &image.labels);
    let observed: BTreeMap<String, String> = observed
        .iter()
        .filter(|(key, value)| {
            !key.starts_with(GANTRY_LABEL_PREFIX)
                && (desired.labels.contains_key(*key) || image_labels.get(*key) != Some(value))
        })
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    map_fields("labels", &desired.labels, &observed, fields);
}

/// Options, with the ones an image can supply (entrypoint, user, workdir, stop signal, health
/// check, exposed ports) compared as "desired, else the image's".
fn option_fields(
    desired: &ContainerOptions,
    observed: &ContainerOptions,
    image: Option<&ImageDetails>,
    fields: &mut Vec<FieldChange>,
) {
    let mut desired = desired.clone();
    let mut observed = observed.clone();
    if let Some(image) = image {
        let non_empty = |text: &str| (!text.is_empty()).then(|| text.to_string());
        let inherit_vec = |value: &mut Option<Vec<String>>, default: &[String]| {
            if value.is_none() && !default.is_empty() {
                *value = Some(default.to_vec());
            }
        };
        for options in [&mut desired, &mut observed] {
            inherit_vec(&mut options.entrypoint, &image.entrypoint);
            if options.user.is_none() {
                options.user = non_empty(&image.user);
            }
            if options.working_dir.is_none() {
                options.working_dir = non_empty(&image.working_dir);
            }
            if options.stop_signal.is_none() {
                options.stop_signal = non_empty(&image.stop_signal);
            }
            if options.healthcheck.is_none() {
                options.healthcheck = image.healthcheck.clone();
            }
            let mut exposed: BTreeSet<String> = options.exposed_ports.drain(..).collect();
            exposed.extend(image.exposed_ports.iter().cloned());
            options.exposed_ports = exposed.into_iter().collect();
        }
    }
    // Unset, the cgroup namespace is the daemon's pick (host on cgroup v1, private on v2), which
    // it reports like a chosen one: only a chosen mode is compared.
    if desired.cgroupns_mode.is_none() {
        observed.cgroupns_mode = None;
    }
    // Ports a container publishes are exposed too; only explicitly exposed ones are compared.
    let as_map = |options: &ContainerOptions| -> BTreeMap<String, serde_json::Value> {
        match serde_json::to_value(options) {
            Ok(serde_json::Value::Object(map)) => map.into_iter().collect(),
            _ => BTreeMap::new(),
        }
    };
    let desired_map = as_map(&desired);
    let observed_map = as_map(&observed);
    for (key, desired_value) in &desired_map {
        let observed_value = observed_map.get(key).unwrap_or(&serde_json::Value::Null);
        if key == "exposed_ports" {
            let subset = |a: &serde_json::Value, b: &serde_json::Value| match (a, b) {
                (serde_json::Value::Array(a), serde_json::Value::Array(b)) => {
                    a.iter().all(|item| b.contains(item))
                }
                _ => a == b,
            };
            if !subset(desired_value, observed_value) {
                fields.push(FieldChange::changed(
                    "options.expose",
                    &observed_value.to_string(),
                    &desired_value.to_string(),
                ));
            }
            continue;
        }
        if desired_value != observed_value && !(is_unset(desired_value) && is_unset(observed_value))
        {
            fields.push(FieldChange::changed(
                &format!("options.{key}"),
                &option_text(observed_value),
                &option_text(desired_value),
            ));
        }
    }
}

fn is_unset(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Null => true,
        serde_json::Value::Bool(flag) => !flag,
        serde_json::Value::Array(items) => items.is_empty(),
        serde_json::Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

fn option_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn map_fields(
    prefix: &str,
    desired: &BTreeMap<String, String>,
    observed: &BTreeMap<String, String>,
    fields: &mut Vec<FieldChange>,
) {
    for (key, value) in desired {
        let field = format!("{prefix}.{key}");
        match observed.get(key) {
            None => fields.push(FieldChange::added(&field, value)),
            Some(current) if current != value => {
                fields.push(FieldChange::changed(&field, current, value))
            }
            _ => {}
        }
    }
    for (key, value) in observed {
        if !desired.contains_key(key) {
            fields.push(FieldChange::removed_value(
                &format!("{prefix}.{key}"),
                value,
            ));
        }
    }
}

fn set_field(name: &str, desired: &[String], observed: &[String], fields: &mut Vec<FieldChange>) {
    let desired_set: BTreeSet<&String> = desired.iter().collect();
    let observed_set: BTreeSet<&String> = observed.iter().collect();
    for added in desired_set.difference(&observed_set) {
        fields.push(FieldChange::added(name, added));
    }
    for removed in observed_set.difference(&desired_set) {
        fields.push(FieldChange::removed_value(name, removed));
    }
}

fn parse_env(pairs: &[String]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) => (name.to_string(), value.to_string()),
            None => (pair.clone(), String::new()),
        })
        .collect()
}

fn render_argv(argv: &[String]) -> String {
    argv.iter()
        .map(|arg| shlex::try_quote(arg).map_or_else(|_| arg.clone(), |quoted| quoted.into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn restart_text(policy: &crate::model::RestartPolicy) -> String {
    match policy.maximum_retry_count {
        Some(count) if count > 0 => format!("{}:{count}", policy.name),
        _ => policy.name.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed_fields(desired: &ContainerOptions, observed: &ContainerOptions) -> Vec<String> {
        let mut fields = Vec::new();
        option_fields(desired, observed, None, &mut fields);
        fields.into_iter().map(|change| change.field).collect()
    }

    /// docker 20.10 on a cgroup v1 host reports `host` for a container created without
    /// `--cgroupns`; that is no change, a mode chosen in deploy.yml is compared.
    #[test]
    fn the_daemon_s_own_cgroup_namespace_is_not_a_change() {
        let daemon_pick = ContainerOptions {
            cgroupns_mode: Some("host".into()),
            ..ContainerOptions::default()
        };
        assert!(changed_fields(&ContainerOptions::default(), &daemon_pick).is_empty());
        let chosen = ContainerOptions {
            cgroupns_mode: Some("private".into()),
            ..ContainerOptions::default()
        };
        assert_eq!(
            changed_fields(&chosen, &daemon_pick),
            ["options.cgroupns_mode"]
        );
    }
}
