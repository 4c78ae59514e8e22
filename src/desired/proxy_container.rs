//! The kamal-proxy container of a host, as `Kamal::Commands::Proxy#run` boots it.
//!
//! With `proxy.run` in deploy.yml (Kamal 2.10+) every option comes from the YAML. Without it,
//! Kamal reads the legacy boot files under `.kamal/proxy/`; gantry uses their defaults (ports 80
//! and 443, `max-size=10m`, `basecamp/kamal-proxy:v0.9.2`), which is what those files hold unless
//! someone ran the deprecated `kamal proxy boot_config set`.

use std::collections::BTreeMap;

use crate::config::{Config, ProxyRun};
use crate::desired::{DesiredError, DesiredProxy};
use crate::docker_args::{self, Flag, FlagArity};
use crate::host::{ContainerSpec, LogConfig};
use crate::naming::{
    NETWORK, PROXY_APPS_CONFIG_DIR, PROXY_APPS_CONFIG_MOUNT, PROXY_CONFIG_MOUNT,
    PROXY_CONFIG_VOLUME, PROXY_CONTAINER,
};

use super::app::restart_policy;

/// The proxy container this configuration boots.
pub(super) fn desired_proxy(config: &Config) -> Result<DesiredProxy, DesiredError> {
    let run = &config.proxy_run;
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
    ports.extend(translated.ports.iter().cloned());
    let mut options = translated.options;
    if let Some(metrics_port) = run.metrics_port {
        options.exposed_ports.push(format!("{metrics_port}/tcp"));
    }
    let mut log_options = BTreeMap::new();
    if !run.log_max_size.is_empty() {
        log_options.insert("max-size".to_string(), run.log_max_size.clone());
    }
    log_options.extend(translated.log_options.iter().cloned());

    let mut binds = vec![
        format!("{PROXY_CONFIG_VOLUME}:{PROXY_CONFIG_MOUNT}"),
        format!("$PWD/{PROXY_APPS_CONFIG_DIR}:{PROXY_APPS_CONFIG_MOUNT}"),
    ];
    binds.extend(translated.binds.iter().cloned());

    let container = ContainerSpec {
        name: PROXY_CONTAINER.to_string(),
        image: proxy_image(run),
        cmd: run.configured.then(|| run_command(run)),
        env: translated
            .env
            .iter()
            .map(|(name, value)| (name.clone(), crate::host::EnvValue::Clear(value.clone())))
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
        options,
    };
    Ok(DesiredProxy {
        container,
        apps_config_dir: PROXY_APPS_CONFIG_DIR.to_string(),
    })
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
