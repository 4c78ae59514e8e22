//! One accessory on one host, as `Kamal::Commands::Accessory#run` would create it.
//!
//! Accessories get only `KAMAL_HOST` of Kamal's variables, the root logging, the `service`
//! label (no role, no destination), their published port, and volumes for `files:` and
//! `directories:` (`accessory_files`).

use std::collections::BTreeMap;

use crate::config::{Accessory, Config};
use crate::desired::accessory_files::accessory_paths;
use crate::desired::app::{log_config, restart_policy, split_command};
use crate::desired::env::{clear_value_in_container, env_file_contents, resolve_secrets};
use crate::desired::{DesiredAccessory, DesiredError, DesiredFile, DesiredInputs, SecretValues};
use crate::docker_args::{self, DockerArgError, Flag, FlagArity};
use crate::kamal_proxy::{ProxyRoute, RouteFiles};
use crate::model::{ContainerSpec, EnvValue};
use crate::naming::{LABEL_SERVICE, ServiceNames};

/// The desired accessory `accessory` on `host`.
pub(super) fn desired_accessory(
    config: &Config,
    names: &ServiceNames,
    accessory: &Accessory,
    host: &str,
    secrets: &dyn SecretValues,
    inputs: &DesiredInputs<'_>,
) -> Result<DesiredAccessory, DesiredError> {
    let options_error = |source: DockerArgError| DesiredError::AccessoryOptions {
        accessory: accessory.name.clone(),
        source,
    };
    let translated = docker_args::translate(&accessory.options).map_err(options_error)?;
    let secret_env = resolve_secrets(&accessory.env, secrets)?;

    let mut env: BTreeMap<String, EnvValue> = BTreeMap::new();
    for (name, value) in &secret_env {
        env.insert(name.clone(), EnvValue::Secret(value.clone()));
    }
    env.insert("KAMAL_HOST".into(), EnvValue::Clear(host.to_string()));
    for (name, value) in &accessory.env.clear {
        env.insert(
            name.clone(),
            EnvValue::Clear(clear_value_in_container(value)),
        );
    }
    for (name, value) in &translated.env {
        env.insert(name.clone(), EnvValue::Clear(value.clone()));
    }

    let mut labels = BTreeMap::new();
    labels.insert(LABEL_SERVICE.to_string(), accessory.service.clone());
    labels.extend(accessory.labels.clone());
    labels.extend(translated.labels.iter().cloned());

    let publish_flag = Flag {
        name: "publish",
        short: Some('p'),
        arity: FlagArity::Repeated,
    };
    let mut ports = Vec::new();
    for port in &accessory.ports {
        ports.extend(docker_args::parse_publish(&publish_flag, port).map_err(options_error)?);
    }
    ports.extend(translated.ports.iter().cloned());

    let paths = accessory_paths(accessory, secrets, inputs)?;
    let mut binds: Vec<String> = accessory.volumes.clone();
    binds.extend(paths.binds);
    binds.extend(translated.binds.iter().cloned());

    let route = accessory.proxy.as_ref().map(|proxy| {
        ProxyRoute::new(
            accessory.service.clone(),
            proxy,
            config.deploy_timeout,
            config.drain_timeout,
            &RouteFiles::default(),
        )
    });

    let root_logging = &config.logging;
    let container = ContainerSpec {
        name: accessory.service.clone(),
        image: accessory.image.clone(),
        cmd: accessory.cmd.as_deref().map(split_command),
        env,
        labels,
        hostname: translated.hostname.clone(),
        network: Some(accessory.network.clone()),
        restart_policy: restart_policy(&accessory.restart_policy),
        log_config: log_config(&root_logging.driver, &root_logging.options, &translated),
        binds,
        ports,
        options: translated.options,
    };
    Ok(DesiredAccessory {
        name: accessory.name.clone(),
        container,
        env_file: DesiredFile::new(
            names.accessory_env_file(&accessory.name),
            env_file_contents(&secret_env),
            0o600,
        ),
        files: paths.files,
        directories: paths.directories,
        route,
        registry_auth: accessory_registry_auth(config, accessory, secrets)?,
    })
}

/// An accessory pulls with its own registry's credentials, or with the app's when its image is
/// on the app's registry (Kamal's `docker login` on the host would cover that case).
fn accessory_registry_auth(
    config: &Config,
    accessory: &Accessory,
    secrets: &dyn SecretValues,
) -> Result<Option<crate::model::RegistryAuth>, DesiredError> {
    if let Some(registry) = &accessory.registry {
        return Ok(super::registry_auth(registry, secrets)?);
    }
    match &config.registry.server {
        Some(server) if accessory.image.starts_with(&format!("{server}/")) => {
            Ok(super::registry_auth(&config.registry, secrets)?)
        }
        _ => Ok(None),
    }
}
