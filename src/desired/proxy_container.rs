//! The kamal-proxy container of a host, as `Kamal::Commands::Proxy#run` boots it.
//!
//! With `proxy.run` in deploy.yml (Kamal 2.10+) every option comes from the YAML. Without it,
//! Kamal reads the legacy boot files under `.kamal/proxy/` on each host, whose defaults (ports 80
//! and 443, `max-size=10m`, `basecamp/kamal-proxy:v0.9.2`) are `proxy.run`'s: the desired
//! container is built from deploy.yml, and [`proxy_for_host`] reads a host's files when it has
//! any (see `proxy_boot_files`).

use std::collections::BTreeMap;

use crate::config::ProxyRun;
use crate::desired::proxy_boot_files::{BootFilesError, ProxyBootFiles, boot_command};
use crate::desired::{DesiredError, DesiredProxy};
use crate::docker_args::{self, Flag, FlagArity};
use crate::model::{ContainerSpec, LogConfig};
use crate::naming::{
    NETWORK, PROXY_APPS_CONFIG_DIR, PROXY_APPS_CONFIG_MOUNT, PROXY_CONFIG_MOUNT,
    PROXY_CONFIG_VOLUME, PROXY_CONTAINER,
};

use super::app::restart_policy;

/// The proxy container a host's `proxy.run` boots
/// ([`crate::config::Config::proxy_run_for`]). Without `proxy.run`, a host's boot files may say
/// otherwise: [`proxy_for_host`].
pub(super) fn desired_proxy(run: &ProxyRun) -> Result<DesiredProxy, DesiredError> {
    let translated = docker_args::translate(&run.options).map_err(DesiredError::ProxyOptions)?;
    let publish_flag = Flag {
        name: "publish",
        short: Some('p'),
        arity: FlagArity::Repeated,
    };
    let mut ports = Vec::new();
    for publish in publish_args(run) {
        ports.extend(
            docker_args::parse_publish(&publish_flag, &publish)
                .map_err(DesiredError::ProxyOptions)?,
        );
    }
    let mut log_options = BTreeMap::new();
    if !run.log_max_size.is_empty() {
        log_options.insert("max-size".to_string(), run.log_max_size.clone());
    }
    let mut container = proxy_container(
        proxy_image(run),
        run.configured.then(|| run_command(run)),
        translated,
        ports,
        log_options,
    );
    if let Some(metrics_port) = run.metrics_port {
        container
            .options
            .exposed_ports
            .push(format!("{metrics_port}/tcp"));
    }
    Ok(DesiredProxy {
        container,
        apps_config_dir: PROXY_APPS_CONFIG_DIR.to_string(),
        from_boot_files: !run.configured,
        registry_auth: None,
    })
}

/// The proxy container for one host: deploy.yml's, unless deploy.yml has no `proxy.run` and the
/// host has boot files (`kamal proxy boot_config set`), which Kamal then boots from.
pub fn proxy_for_host(
    proxy: &DesiredProxy,
    boot_files: Option<&ProxyBootFiles>,
) -> Result<ContainerSpec, BootFilesError> {
    match boot_files {
        Some(files) if proxy.from_boot_files && files.any() => {
            let command = boot_command(files)?;
            let translated =
                docker_args::translate(&command.options).map_err(BootFilesError::Flag)?;
            let cmd = (!command.cmd.is_empty()).then_some(command.cmd);
            Ok(proxy_container(
                command.image,
                cmd,
                translated,
                Vec::new(),
                BTreeMap::new(),
            ))
        }
        _ => Ok(proxy.container.clone()),
    }
}

/// `docker run --name kamal-proxy --network kamal --detach --restart unless-stopped --volume
/// kamal-proxy-config:... --volume $PWD/.kamal/proxy/apps-config:...` with the given flags:
/// Kamal's proxy command, whichever way its options were given.
fn proxy_container(
    image: String,
    cmd: Option<Vec<String>>,
    translated: docker_args::TranslatedOptions,
    mut ports: Vec<crate::model::PortBinding>,
    mut log_options: BTreeMap<String, String>,
) -> ContainerSpec {
    ports.extend(translated.ports.iter().cloned());
    log_options.extend(translated.log_options.iter().cloned());
    let mut binds = vec![
        format!("{PROXY_CONFIG_VOLUME}:{PROXY_CONFIG_MOUNT}"),
        format!("$PWD/{PROXY_APPS_CONFIG_DIR}:{PROXY_APPS_CONFIG_MOUNT}"),
    ];
    binds.extend(translated.binds.iter().cloned());
    ContainerSpec {
        name: PROXY_CONTAINER.to_string(),
        image,
        cmd,
        env: translated
            .env
            .iter()
            .map(|(name, value)| (name.clone(), crate::model::EnvValue::Clear(value.clone())))
            .collect(),
        labels: translated.labels.iter().cloned().collect(),
        hostname: translated.hostname.clone(),
        network: Some(NETWORK.to_string()),
        restart_policy: restart_policy("unless-stopped"),
        log_config: LogConfig {
            driver: translated.log_driver.clone(),
            options: log_options,
        },
        binds,
        ports,
        options: translated.options,
    }
}

/// `[<registry>/]<repository>:<version>`.
pub fn proxy_image(run: &ProxyRun) -> String {
    match &run.registry {
        Some(registry) => format!("{registry}/{}:{}", run.repository, run.version),
        None => format!("{}:{}", run.repository, run.version),
    }
}

/// `--publish` values: http and https for each bind address (IPv6 bracketed), none when
/// publishing is off.
fn publish_args(run: &ProxyRun) -> Vec<String> {
    if !run.publish {
        return Vec::new();
    }
    let bind_ips: Vec<Option<String>> = if run.bind_ips.is_empty() {
        vec![None]
    } else {
        run.bind_ips
            .iter()
            .map(|ip| Some(bracket_ipv6(ip)))
            .collect()
    };
    let mut publishes = Vec::new();
    for ip in bind_ips {
        for (host_port, container_port) in [(run.http_port, 80), (run.https_port, 443)] {
            publishes.push(match &ip {
                Some(ip) => format!("{ip}:{host_port}:{container_port}"),
                None => format!("{host_port}:{container_port}"),
            });
        }
    }
    publishes
}

fn bracket_ipv6(ip: &str) -> String {
    if ip.contains(':') && !ip.starts_with('[') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    }
}

/// `kamal-proxy run [--debug] [--metrics-port N]`.
fn run_command(run: &ProxyRun) -> Vec<String> {
    let mut command = vec!["kamal-proxy".to_string(), "run".to_string()];
    if run.debug {
        command.push("--debug".to_string());
    }
    if let Some(port) = run.metrics_port {
        command.push("--metrics-port".to_string());
        command.push(port.to_string());
    }
    command
}
