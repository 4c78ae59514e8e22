//! `gantry proxy boot_config set|get|reset`: Kamal's legacy proxy boot files under
//! `.kamal/proxy/` on each proxy host (`options`, `image`, `image_version`, `run_command`).
//!
//! `set` turns Kamal's options into the four files' contents exactly as Kamal 2.11 writes them:
//! a file whose value is Kamal's default is removed instead of written, so a host set back to the
//! defaults has no files, as after Kamal's. `get` prints what a boot would run, each missing file
//! replaced by its default, in Kamal's words. `reset` removes the four files. The proxy is not
//! touched: the next `proxy reboot` (or a boot where it is missing) reads the files, as Kamal's
//! does, unless deploy.yml's `proxy.run` says how to run it (then the files are ignored).
//!
//! Pure: the options in, the files' contents and the printed line out.

use crate::desired::{ProxyBootFiles, boot_defaults};
use crate::naming::PROXY_BOOT_FILES;

/// Kamal's `proxy boot_config set` options, with its defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootConfigOptions {
    /// Publish the proxy's ports on the host (`--no-publish` turns it off).
    pub publish: bool,
    /// Host addresses to bind the published ports to (all interfaces when empty).
    pub publish_host_ips: Vec<String>,
    pub http_port: u16,
    pub https_port: u16,
    /// Docker's `max-size` of the proxy's logs; empty for no limit.
    pub log_max_size: String,
    pub registry: Option<String>,
    pub repository: Option<String>,
    pub image_version: Option<String>,
    pub metrics_port: Option<u16>,
    pub debug: bool,
    /// More `docker run` options, without their leading `--` (`sysctl=net.ipv4.ip_forward=1`).
    pub docker_options: Vec<String>,
}

impl Default for BootConfigOptions {
    fn default() -> Self {
        BootConfigOptions {
            publish: true,
            publish_host_ips: Vec::new(),
            http_port: DEFAULT_HTTP_PORT,
            https_port: DEFAULT_HTTPS_PORT,
            log_max_size: DEFAULT_LOG_MAX_SIZE.to_string(),
            registry: None,
            repository: None,
            image_version: None,
            metrics_port: None,
            debug: false,
            docker_options: Vec::new(),
        }
    }
}

/// Why the options cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BootConfigError {
    #[error("invalid publish IP address: {0}")]
    PublishHostIp(String),
}

const DEFAULT_HTTP_PORT: u16 = 80;
const DEFAULT_HTTPS_PORT: u16 = 443;
const DEFAULT_LOG_MAX_SIZE: &str = "10m";
const IMAGE_NAME: &str = "kamal-proxy";
const DEFAULT_REPOSITORY: &str = "basecamp";

/// What `set` leaves in each file: `Some` to write, `None` to remove.
pub fn files(options: &BootConfigOptions) -> Result<ProxyBootFiles, BootConfigError> {
    let boot_options = docker_run_options(options)?;
    let default_options = docker_run_options(&BootConfigOptions::default())?;
    let image = [
        options
            .registry
            .as_deref()
            .filter(|value| !value.is_empty()),
        Some(
            options
                .repository
                .as_deref()
                .filter(|value| !value.is_empty())
                .unwrap_or(DEFAULT_REPOSITORY),
        ),
        Some(IMAGE_NAME),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("/");
    let mut run_options = Vec::new();
    if options.debug {
        run_options.push("--debug".to_string());
    }
    if let Some(port) = options.metrics_port {
        run_options.push("--metrics-port".to_string());
        run_options.push(format!("\"{port}\""));
    }
    Ok(ProxyBootFiles {
        options: (boot_options != default_options).then(|| boot_options.join(" ")),
        image: (image != boot_defaults::IMAGE).then_some(image),
        image_version: options.image_version.clone(),
        run_command: (!run_options.is_empty())
            .then(|| format!("kamal-proxy run {}", run_options.join(" "))),
    })
}

/// The `docker run` options of the `options` file, as Kamal puts them together.
fn docker_run_options(options: &BootConfigOptions) -> Result<Vec<String>, BootConfigError> {
    let mut words = Vec::new();
    if options.publish {
        let bind_ips: Vec<Option<String>> = if options.publish_host_ips.is_empty() {
            vec![None]
        } else {
            options
                .publish_host_ips
                .iter()
                .map(|ip| bind_ip(ip).map(Some))
                .collect::<Result<_, _>>()?
        };
        for bind_ip in bind_ips {
            let publish = |host_port: u16, container_port: u16| {
                let mut parts: Vec<String> = bind_ip.iter().cloned().collect();
                parts.push(host_port.to_string());
                parts.push(container_port.to_string());
                parts.join(":")
            };
            words.push("--publish".to_string());
            words.push(publish(options.http_port, DEFAULT_HTTP_PORT));
            words.push("--publish".to_string());
            words.push(publish(options.https_port, DEFAULT_HTTPS_PORT));
        }
    }
    if !options.log_max_size.is_empty() {
        words.push("--log-opt".to_string());
        words.push(format!("max-size={}", options.log_max_size));
    }
    if let Some(port) = options.metrics_port {
        words.push(format!("--expose={port}"));
    }
    words.extend(
        options
            .docker_options
            .iter()
            .map(|option| format!("--{option}")),
    );
    Ok(words)
}

/// An address to publish on, IPv6 in brackets as Docker wants it.
fn bind_ip(ip: &str) -> Result<String, BootConfigError> {
    let bare = ip.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => Ok(ip.to_string()),
        Ok(std::net::IpAddr::V6(_)) => Ok(format!("[{bare}]")),
        Err(_) => Err(BootConfigError::PublishHostIp(ip.to_string())),
    }
}

/// The files `set` writes or removes and `reset` removes, with their contents.
pub fn writes(files: &ProxyBootFiles) -> [(&'static str, Option<&str>); 4] {
    [
        (PROXY_BOOT_FILES[0], files.options.as_deref()),
        (PROXY_BOOT_FILES[1], files.image.as_deref()),
        (PROXY_BOOT_FILES[2], files.image_version.as_deref()),
        (PROXY_BOOT_FILES[3], files.run_command.as_deref()),
    ]
}

/// What `get` prints for a host whose files are `files`: `<options> <image>:<version>
/// <run command>`, each missing file replaced by its default, words joined by single spaces
/// (Kamal echoes the files unquoted).
pub fn line(files: &ProxyBootFiles) -> String {
    let text = |value: &Option<String>, default: &str| {
        value.clone().unwrap_or_else(|| default.to_string())
    };
    let image = format!(
        "{}:{}",
        text(&files.image, boot_defaults::IMAGE).trim(),
        text(&files.image_version, boot_defaults::IMAGE_VERSION).trim()
    );
    let joined = [
        text(&files.options, boot_defaults::OPTIONS),
        image,
        text(&files.run_command, ""),
    ]
    .join(" ");
    joined.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kamal_s_defaults_write_no_file() {
        assert_eq!(
            files(&BootConfigOptions::default()),
            Ok(ProxyBootFiles::default())
        );
        assert_eq!(
            line(&ProxyBootFiles::default()),
            format!(
                "--publish 80:80 --publish 443:443 --log-opt max-size=10m basecamp/kamal-proxy:{}",
                crate::kamal_proxy::MINIMUM_VERSION
            )
        );
    }

    #[test]
    fn set_writes_what_kamal_writes() {
        let options = BootConfigOptions {
            publish_host_ips: vec!["10.0.0.1".into(), "::1".into()],
            http_port: 8080,
            log_max_size: "20m".into(),
            registry: Some("registry.test:5000".into()),
            image_version: Some("v0.9.3".into()),
            metrics_port: Some(9090),
            debug: true,
            docker_options: vec!["sysctl=net.ipv4.ip_forward=1".into()],
            ..BootConfigOptions::default()
        };
        let written = files(&options).expect("valid");
        assert_eq!(
            written,
            ProxyBootFiles {
                options: Some(
                    "--publish 10.0.0.1:8080:80 --publish 10.0.0.1:443:443 \
                     --publish [::1]:8080:80 --publish [::1]:443:443 --log-opt max-size=20m \
                     --expose=9090 --sysctl=net.ipv4.ip_forward=1"
                        .into()
                ),
                image: Some("registry.test:5000/basecamp/kamal-proxy".into()),
                image_version: Some("v0.9.3".into()),
                run_command: Some("kamal-proxy run --debug --metrics-port \"9090\"".into()),
            }
        );
        assert_eq!(
            line(&written),
            "--publish 10.0.0.1:8080:80 --publish 10.0.0.1:443:443 --publish [::1]:8080:80 \
             --publish [::1]:443:443 --log-opt max-size=20m --expose=9090 \
             --sysctl=net.ipv4.ip_forward=1 registry.test:5000/basecamp/kamal-proxy:v0.9.3 \
             kamal-proxy run --debug --metrics-port \"9090\""
        );
        let unpublished = BootConfigOptions {
            publish: false,
            log_max_size: String::new(),
            repository: Some("mirror".into()),
            ..BootConfigOptions::default()
        };
        let written = files(&unpublished).expect("valid");
        assert_eq!(written.options.as_deref(), Some(""));
        assert_eq!(written.image.as_deref(), Some("mirror/kamal-proxy"));
        assert_eq!(
            files(&BootConfigOptions {
                publish_host_ips: vec!["not-an-ip".into()],
                ..BootConfigOptions::default()
            }),
            Err(BootConfigError::PublishHostIp("not-an-ip".into()))
        );
    }
}
