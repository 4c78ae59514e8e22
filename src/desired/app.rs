//! One role's app container on one host, as Kamal's `docker run` would create it.
//!
//! The order of the pieces follows `Kamal::Commands::App#run`: name, network, hostname, the
//! `KAMAL_*` variables, the role's clear env and env file, logging, volumes, the asset volume,
//! labels, then the role's own docker options (which come last on Kamal's command line and so
//! win over everything before them).

use std::collections::BTreeMap;

use crate::config::{Config, Env, Role, RoleHost};
use crate::desired::env::{clear_value_in_container, env_file_contents, resolve_secrets};
use crate::desired::{
    DesiredApp, DesiredAssets, DesiredError, DesiredFile, DesiredInputs, Readiness, SecretValues,
    hostname_suffix,
};
use crate::docker_args::{self, TranslatedOptions};
use crate::kamal_proxy::{ProxyRoute, RouteFiles};
use crate::model::{ContainerSpec, EnvValue, LogConfig, RestartPolicy};
use crate::naming::{
    self, LABEL_DESTINATION, LABEL_ROLE, LABEL_SERVICE, ServiceNames, container_hostname,
};
use crate::secret::Secret;

/// The desired app container of `role` on `host`.
pub(super) fn desired_app(
    config: &Config,
    names: &ServiceNames,
    role: &Role,
    role_host: &RoleHost,
    secrets: &dyn SecretValues,
    inputs: &DesiredInputs<'_>,
) -> Result<DesiredApp, DesiredError> {
    let host = role_host.host.as_str();
    let version = inputs.version;
    let container_name = names.app_container(&role.name, version);
    let translated =
        docker_args::translate(&role.options).map_err(|source| DesiredError::RoleOptions {
            role: role.name.clone(),
            source,
        })?;

    let env = config.env_for(role, role_host);
    let secret_env = resolve_secrets(&env, secrets)?;
    let kamal_variables = kamal_variables(config, &container_name, version, host);
    let container_env = container_env(&secret_env, kamal_variables, &env, &translated);

    let labels = app_labels(config, role, &translated);

    let mut binds: Vec<String> = role.volumes.clone();
    let assets = role_assets(names, role, version, &mut binds);
    binds.extend(translated.binds.iter().cloned());

    let route = role_route(config, names, role, version);
    let readiness = if route.is_some() {
        Readiness::Proxy
    } else {
        Readiness::Docker {
            timeout: config.deploy_timeout,
            readiness_delay: config.readiness_delay,
        }
    };
    // Kamal stops proxied roles with Docker's default timeout and the others with drain_timeout.
    let stop_timeout = role.stop_timeout.or(if route.is_some() {
        None
    } else {
        Some(config.drain_timeout)
    });

    let container =
        ContainerSpec {
            hostname: Some(translated.hostname.clone().unwrap_or_else(|| {
                container_hostname(host, &hostname_suffix(host, &container_name))
            })),
            name: container_name,
            image: format!("{}:{version}", config.repository()),
            cmd: role.cmd.as_deref().map(split_command),
            env: container_env,
            labels,
            network: Some(naming::NETWORK.to_string()),
            restart_policy: restart_policy(&role.restart_policy),
            log_config: log_config(&role.logging.driver, &role.logging.options, &translated),
            binds,
            ports: translated.ports.clone(),
            options: translated.options,
        };

    Ok(DesiredApp {
        role: role.name.clone(),
        primary: role.name == config.primary_role,
        container,
        env_file: DesiredFile::new(
            names.role_env_file(&role.name),
            env_file_contents(&secret_env),
            0o600,
        ),
        tls_files: super::tls::tls_files(names, role, secrets)?,
        route,
        readiness,
        stop_timeout,
        assets,
    })
}

/// Variables Kamal gives every app container (`KAMAL_CONTAINER_NAME`, `KAMAL_VERSION`,
/// `KAMAL_HOST`, and `KAMAL_DESTINATION` with a destination).
fn kamal_variables(
    config: &Config,
    container_name: &str,
    version: &str,
    host: &str,
) -> Vec<(String, String)> {
    let mut variables = vec![
        (
            "KAMAL_CONTAINER_NAME".to_string(),
            container_name.to_string(),
        ),
        ("KAMAL_VERSION".to_string(), version.to_string()),
        ("KAMAL_HOST".to_string(), host.to_string()),
    ];
    if let Some(destination) = &config.destination {
        variables.push(("KAMAL_DESTINATION".to_string(), destination.clone()));
    }
    variables
}

/// The container's env: the env file's secrets, then Kamal's variables, the clear env and the
/// `--env` options. The env file comes first on docker's side; `--env` values given later
/// replace its entries.
fn container_env(
    secret_env: &[(String, Secret)],
    kamal_variables: Vec<(String, String)>,
    env: &Env,
    translated: &TranslatedOptions,
) -> BTreeMap<String, EnvValue> {
    let mut container_env: BTreeMap<String, EnvValue> = BTreeMap::new();
    for (name, value) in secret_env {
        container_env.insert(name.clone(), EnvValue::Secret(value.clone()));
    }
    let clear = env
        .clear
        .iter()
        .map(|(name, value)| (name.clone(), clear_value_in_container(value)));
    let clear = kamal_variables
        .into_iter()
        .chain(clear)
        .chain(translated.env.iter().cloned());
    for (name, value) in clear {
        container_env.insert(name, EnvValue::Clear(value));
    }
    container_env
}

/// Kamal's labels (service, role, destination), then the role's, then `--label` options.
fn app_labels(
    config: &Config,
    role: &Role,
    translated: &TranslatedOptions,
) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    labels.insert(LABEL_SERVICE.to_string(), config.service.clone());
    labels.insert(LABEL_ROLE.to_string(), role.name.clone());
    labels.insert(
        LABEL_DESTINATION.to_string(),
        config.destination.clone().unwrap_or_default(),
    );
    labels.extend(role.labels.clone());
    labels.extend(translated.labels.iter().cloned());
    labels
}

/// The role's asset bridging, whose volume joins `binds`. Kamal bridges assets only for roles
/// behind the proxy (`Role#assets?`).
fn role_assets(
    names: &ServiceNames,
    role: &Role,
    version: &str,
    binds: &mut Vec<String>,
) -> Option<DesiredAssets> {
    let (Some(asset_path), Some(_)) = (&role.asset_path, &role.proxy) else {
        return None;
    };
    binds.push(asset_volume(names, &role.name, version, asset_path));
    Some(DesiredAssets {
        asset_path: asset_path
            .split_once(':')
            .map_or(asset_path.as_str(), |(path, _)| path)
            .to_string(),
        container: names.assets_container(&role.name),
        extracted_dir: names.assets_extracted_dir(),
        volumes_dir: names.assets_volumes_dir(),
    })
}

/// The role's kamal-proxy route, with its TLS directory and error pages inside the proxy
/// container; `None` for a role without the proxy.
fn role_route(
    config: &Config,
    names: &ServiceNames,
    role: &Role,
    version: &str,
) -> Option<ProxyRoute> {
    let proxy = role.proxy.as_ref()?;
    let apps_config = format!(
        "{}/{}",
        naming::PROXY_APPS_CONFIG_MOUNT,
        names.service_with_destination()
    );
    let files = RouteFiles {
        tls_directory: Some(format!("{apps_config}/tls/{}", role.name)),
        error_pages: config
            .error_pages_path
            .as_ref()
            .map(|_| format!("{apps_config}/error_pages/{version}")),
    };
    Some(ProxyRoute::new(
        names.proxy_service(&role.name),
        proxy,
        config.deploy_timeout,
        config.drain_timeout,
        &files,
    ))
}

/// The asset bridging volume of a role (Kamal's `asset_volume`).
fn asset_volume(names: &ServiceNames, role: &str, version: &str, asset_path: &str) -> String {
    let (path, options) = match asset_path.split_once(':') {
        Some((path, options)) => (path, Some(options)),
        None => (asset_path, None),
    };
    let mut volume = format!(
        "$PWD/{}/{}:{path}",
        names.assets_volumes_dir(),
        DesiredAssets::entry(role, version)
    );
    if let Some(options) = options {
        volume.push(':');
        volume.push_str(options);
    }
    volume
}

/// `cmd:` as the docker CLI splits it when Kamal appends it to `docker run`.
pub(super) fn split_command(cmd: &str) -> Vec<String> {
    shlex::split(cmd).unwrap_or_else(|| cmd.split_whitespace().map(str::to_string).collect())
}

/// `unless-stopped`, `on-failure:3`, ...
pub(super) fn restart_policy(policy: &str) -> RestartPolicy {
    match policy.split_once(':') {
        Some((name, count)) => RestartPolicy {
            name: name.to_string(),
            maximum_retry_count: count.parse().ok(),
        },
        None => RestartPolicy {
            name: policy.to_string(),
            maximum_retry_count: None,
        },
    }
}

/// Kamal's logging arguments: the configured driver and options, or `max-size=10m` when nothing
/// is configured; `--log-driver`/`--log-opt` in `options:` come later and win.
pub(super) fn log_config(
    driver: &Option<String>,
    options: &BTreeMap<String, String>,
    translated: &TranslatedOptions,
) -> LogConfig {
    let mut log = LogConfig {
        driver: driver.clone(),
        options: options.clone(),
    };
    if log.driver.is_none() && log.options.is_empty() {
        log.options.insert("max-size".into(), "10m".into());
    }
    if let Some(driver) = &translated.log_driver {
        log.driver = Some(driver.clone());
    }
    log.options.extend(translated.log_options.iter().cloned());
    log
}
