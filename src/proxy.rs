//! kamal-proxy: the command lines gantry sends it and the state it reads back.
//!
//! gantry drives the real kamal-proxy exactly as Kamal does, with `docker exec kamal-proxy
//! kamal-proxy deploy <service> --target=<container id>:<port> ...`, so a route deployed by either
//! tool reads the same to both. Routes are read back from the proxy's state file
//! (`kamal-proxy.state`, JSON, durations in nanoseconds), never from the ANSI table of
//! `kamal-proxy list`.
//!
//! Desired and observed routes meet as [`RouteSettings`]: the settings kamal-proxy stores, with
//! kamal-proxy's own defaults filled in for everything Kamal leaves out of its command line. Two
//! routes with equal settings need no redeploy. Everything here is pure.

use serde::{Deserialize, Serialize};

use crate::config::{Proxy, Ssl};

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// The oldest kamal-proxy Kamal 2.11 deploys through (its `Proxy::Run::MINIMUM_VERSION`), and
/// the image version it boots when the host's boot files name none.
pub const MINIMUM_VERSION: &str = "v0.9.2";

/// The version of a running kamal-proxy when it is older than [`MINIMUM_VERSION`]: the tag of
/// its image, read as Kamal reads it (the text after the last `:`). A tag that is not a plain
/// version (`latest`) is not refused.
pub fn too_old_version(image: &str) -> Option<&str> {
    let tag = image.rsplit(':').next().unwrap_or(image);
    crate::version::is_older(tag, MINIMUM_VERSION).then_some(tag)
}

/// kamal-proxy's defaults (v0.9.2), for settings Kamal does not send.
mod defaults {
    pub const HEALTH_CHECK_PATH: &str = "/up";
    pub const HEALTH_CHECK_INTERVAL_S: i64 = 1;
    pub const HEALTH_CHECK_TIMEOUT_S: i64 = 5;
    pub const TARGET_TIMEOUT_S: i64 = 30;
    pub const MAX_MEMORY_BUFFER_SIZE: i64 = 1024 * 1024;
}

/// The settings kamal-proxy keeps for one route (a "service" in its terms).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteSettings {
    /// `[""]` for the wildcard route.
    pub hosts: Vec<String>,
    pub path_prefixes: Vec<String>,
    pub tls_enabled: bool,
    pub tls_certificate_path: String,
    pub tls_private_key_path: String,
    pub tls_redirect: bool,
    pub strip_prefix: bool,
    pub error_page_path: String,
    pub health_check_path: String,
    /// Nanoseconds.
    pub health_check_interval: i64,
    /// Nanoseconds.
    pub health_check_timeout: i64,
    /// Nanoseconds.
    pub response_timeout: i64,
    pub buffer_requests: bool,
    pub buffer_responses: bool,
    pub max_memory_buffer_size: i64,
    pub max_request_body_size: i64,
    pub max_response_body_size: i64,
    pub log_request_headers: Vec<String>,
    pub log_response_headers: Vec<String>,
    pub forward_headers: bool,
}

/// A route as gantry wants it on a host: one role's (or accessory's) proxy settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProxyRoute {
    /// The kamal-proxy service name: `<svc>-<role>[-<dest>]`, or the accessory's service.
    pub service: String,
    /// The port the app listens on inside its container.
    pub app_port: u16,
    /// Seconds kamal-proxy waits for the new target to be healthy.
    pub deploy_timeout: u64,
    /// Seconds kamal-proxy lets requests to the old target finish.
    pub drain_timeout: u64,
    pub settings: RouteSettings,
    /// Values Kamal sends only when set, kept so the command line matches Kamal's byte for byte.
    sent: SentOptions,
}

/// The optional parts of Kamal's `deploy_options`, exactly as deploy.yml set them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
struct SentOptions {
    tls: bool,
    tls_certificate_path: Option<String>,
    tls_private_key_path: Option<String>,
    health_check_interval: Option<u64>,
    health_check_timeout: Option<u64>,
    health_check_path: Option<String>,
    target_timeout: Option<u64>,
    buffer_memory: Option<u64>,
    max_request_body: Option<u64>,
    max_response_body: Option<u64>,
    path_prefixes: Vec<String>,
    strip_path_prefix: Option<bool>,
    forward_headers: Option<bool>,
    tls_redirect: Option<bool>,
    error_pages: Option<String>,
}

/// Where custom TLS certificates and error pages live inside the proxy container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteFiles {
    /// `/home/kamal-proxy/.apps-config/<svc[-dest]>/tls/<role>` when custom certificates are used.
    pub tls_directory: Option<String>,
    /// `/home/kamal-proxy/.apps-config/<svc[-dest]>/error_pages/<version>` when `error_pages_path` is set.
    pub error_pages: Option<String>,
}

impl ProxyRoute {
    /// The route for one role or accessory, from its effective `proxy:` settings.
    pub fn new(
        service: impl Into<String>,
        proxy: &Proxy,
        deploy_timeout: u64,
        drain_timeout: u64,
        files: &RouteFiles,
    ) -> Self {
        let custom_tls = matches!(proxy.ssl, Ssl::Custom { .. });
        let tls_certificate_path = custom_tls
            .then(|| {
                files
                    .tls_directory
                    .as_ref()
                    .map(|dir| format!("{dir}/cert.pem"))
            })
            .flatten();
        let tls_private_key_path = custom_tls
            .then(|| {
                files
                    .tls_directory
                    .as_ref()
                    .map(|dir| format!("{dir}/key.pem"))
            })
            .flatten();
        let sent = SentOptions {
            tls: !matches!(proxy.ssl, Ssl::Off),
            tls_certificate_path,
            tls_private_key_path,
            health_check_interval: proxy.healthcheck.interval,
            health_check_timeout: proxy.healthcheck.timeout,
            health_check_path: proxy.healthcheck.path.clone(),
            target_timeout: proxy.response_timeout,
            buffer_memory: proxy.buffering.memory,
            max_request_body: proxy.buffering.max_request_body,
            max_response_body: proxy.buffering.max_response_body,
            path_prefixes: proxy.path_prefixes.clone(),
            strip_path_prefix: proxy.strip_path_prefix,
            forward_headers: proxy.forward_headers,
            tls_redirect: proxy.ssl_redirect,
            error_pages: files.error_pages.clone(),
        };
        let settings = RouteSettings {
            hosts: normalize_hosts(&proxy.hosts),
            path_prefixes: normalize_path_prefixes(&proxy.path_prefixes),
            tls_enabled: sent.tls,
            tls_certificate_path: sent.tls_certificate_path.clone().unwrap_or_default(),
            tls_private_key_path: sent.tls_private_key_path.clone().unwrap_or_default(),
            tls_redirect: proxy.ssl_redirect.unwrap_or(true),
            strip_prefix: proxy.strip_path_prefix.unwrap_or(true),
            error_page_path: sent.error_pages.clone().unwrap_or_default(),
            health_check_path: proxy
                .healthcheck
                .path
                .clone()
                .unwrap_or_else(|| defaults::HEALTH_CHECK_PATH.to_string()),
            health_check_interval: seconds_to_nanos(
                proxy.healthcheck.interval,
                defaults::HEALTH_CHECK_INTERVAL_S,
            ),
            health_check_timeout: seconds_to_nanos(
                proxy.healthcheck.timeout,
                defaults::HEALTH_CHECK_TIMEOUT_S,
            ),
            response_timeout: seconds_to_nanos(proxy.response_timeout, defaults::TARGET_TIMEOUT_S),
            buffer_requests: proxy.buffering.requests,
            buffer_responses: proxy.buffering.responses,
            max_memory_buffer_size: proxy
                .buffering
                .memory
                .map_or(defaults::MAX_MEMORY_BUFFER_SIZE, |bytes| bytes as i64),
            max_request_body_size: proxy.buffering.max_request_body.unwrap_or(0) as i64,
            max_response_body_size: proxy.buffering.max_response_body.unwrap_or(0) as i64,
            log_request_headers: proxy.logging.request_headers.clone(),
            log_response_headers: proxy.logging.response_headers.clone(),
            forward_headers: proxy.forward_headers.unwrap_or(!sent.tls),
        };
        ProxyRoute {
            service: service.into(),
            app_port: proxy.app_port,
            deploy_timeout,
            drain_timeout,
            settings,
            sent,
        }
    }

    /// The kamal-proxy target for a container: its short id and the app port.
    pub fn target(&self, container_short_id: &str) -> String {
        format!("{container_short_id}:{}", self.app_port)
    }
}

fn seconds_to_nanos(seconds: Option<u64>, default_seconds: i64) -> i64 {
    // The configuration refuses more than `MAX_SECONDS`; saturate rather than wrap regardless.
    seconds
        .map_or(default_seconds, |s| i64::try_from(s).unwrap_or(i64::MAX))
        .saturating_mul(NANOS_PER_SECOND)
}

/// What kamal-proxy stores for a service that does not serve `/`: it takes `tls_enabled` and
/// `tls_redirect` from the service serving `/` on its first host, or `false`/`true` when there is
/// none, whatever its own deploy said (kamal-proxy v0.9.2, `syncTLSOptionsFromRootDomain`). The
/// proxy looks the root up as it routes a request, but the service's own binding makes its first
/// host's bucket exist, so neither a `*.domain` route nor the default host is ever consulted.
/// `routes` are every route one proxy serves; applying the rule to the desired routes makes them
/// equal to what the proxy reads back.
pub fn inherit_root_tls(routes: &mut [&mut RouteSettings]) {
    let roots: Vec<(String, bool, bool)> = routes
        .iter()
        .filter(|route| route.path_prefixes.iter().any(|prefix| prefix == "/"))
        .flat_map(|root| {
            root.hosts
                .iter()
                .map(|host| (host.clone(), root.tls_enabled, root.tls_redirect))
        })
        .collect();
    for route in routes.iter_mut() {
        if route.path_prefixes.iter().any(|prefix| prefix == "/") {
            continue;
        }
        let host = route.hosts.first().map_or("", String::as_str);
        let (tls_enabled, tls_redirect) = roots
            .iter()
            .find(|(root_host, _, _)| root_host == host)
            .map_or((false, true), |(_, enabled, redirect)| {
                (*enabled, *redirect)
            });
        route.tls_enabled = tls_enabled;
        route.tls_redirect = tls_redirect;
    }
}

/// [`inherit_root_tls`] for desired routes with no root among them, when another app's route
/// (`others`, observed on the same proxy) serves `/` on their first host.
pub fn inherit_foreign_root_tls(routes: &mut [&mut RouteSettings], others: &[&RouteSettings]) {
    let serves_root =
        |route: &RouteSettings| route.path_prefixes.iter().any(|prefix| prefix == "/");
    let own_roots: Vec<String> = routes
        .iter()
        .filter(|route| serves_root(route))
        .flat_map(|route| route.hosts.clone())
        .collect();
    for route in routes.iter_mut() {
        let host = route.hosts.first().map_or("", String::as_str);
        if serves_root(route) || own_roots.iter().any(|own| own == host) {
            continue;
        }
        if let Some(root) = others
            .iter()
            .find(|other| serves_root(other) && other.hosts.iter().any(|h| h == host))
        {
            route.tls_enabled = root.tls_enabled;
            route.tls_redirect = root.tls_redirect;
        }
    }
}

/// kamal-proxy stores no hosts as `[""]`, the wildcard.
fn normalize_hosts(hosts: &[String]) -> Vec<String> {
    if hosts.is_empty() {
        vec![String::new()]
    } else {
        hosts.to_vec()
    }
}

/// kamal-proxy stores path prefixes as `/` + the prefix without surrounding slashes, `["/"]` by default.
fn normalize_path_prefixes(prefixes: &[String]) -> Vec<String> {
    if prefixes.is_empty() {
        vec!["/".to_string()]
    } else {
        prefixes
            .iter()
            .map(|prefix| format!("/{}", prefix.trim_matches('/')))
            .collect()
    }
}

/// The argv, after `kamal-proxy`, that deploys `route` to `target`: Kamal's `deploy_options` in
/// Kamal's order, so both tools send the same command.
pub fn deploy_args(route: &ProxyRoute, target_short_id: &str) -> Vec<String> {
    let sent = &route.sent;
    let seconds = |value: Option<u64>| value.map(|s| format!("{s}s"));
    let bytes = |value: Option<u64>| value.map(|b| b.to_string());
    let mut args = ArgList(vec!["deploy".to_string(), route.service.clone()]);
    args.value("target", Some(route.target(target_short_id)));
    for host in route.settings.hosts.iter().filter(|host| !host.is_empty()) {
        args.value("host", Some(host.clone()));
    }
    if sent.tls {
        args.flag("tls", true);
    }
    args.value("tls-certificate-path", sent.tls_certificate_path.clone());
    args.value("tls-private-key-path", sent.tls_private_key_path.clone());
    args.value("deploy-timeout", seconds(Some(route.deploy_timeout)));
    args.value("drain-timeout", seconds(Some(route.drain_timeout)));
    args.value("health-check-interval", seconds(sent.health_check_interval));
    args.value("health-check-timeout", seconds(sent.health_check_timeout));
    args.value("health-check-path", sent.health_check_path.clone());
    args.value("target-timeout", seconds(sent.target_timeout));
    args.flag("buffer-requests", route.settings.buffer_requests);
    args.flag("buffer-responses", route.settings.buffer_responses);
    args.value("buffer-memory", bytes(sent.buffer_memory));
    args.value("max-request-body", bytes(sent.max_request_body));
    args.value("max-response-body", bytes(sent.max_response_body));
    for prefix in &sent.path_prefixes {
        args.value("path-prefix", Some(prefix.clone()));
    }
    if let Some(strip) = sent.strip_path_prefix {
        args.flag("strip-path-prefix", strip);
    }
    if let Some(forward) = sent.forward_headers {
        args.flag("forward-headers", forward);
    }
    if let Some(redirect) = sent.tls_redirect {
        args.flag("tls-redirect", redirect);
    }
    for header in &route.settings.log_request_headers {
        args.value("log-request-header", Some(header.clone()));
    }
    for header in &route.settings.log_response_headers {
        args.value("log-response-header", Some(header.clone()));
    }
    args.value("error-pages", sent.error_pages.clone());
    args.0
}

/// An argv under construction, with Kamal's `optionize(..., with: "=")` spelling.
struct ArgList(Vec<String>);

impl ArgList {
    /// `--name=value`, or nothing when the value is not set.
    fn value(&mut self, name: &str, value: Option<String>) {
        if let Some(value) = value {
            self.0.push(format!("--{name}={value}"));
        }
    }

    /// `--name` for true, `--name=false` for false.
    fn flag(&mut self, name: &str, value: bool) {
        if value {
            self.0.push(format!("--{name}"));
        } else {
            self.0.push(format!("--{name}=false"));
        }
    }
}

/// The argv, after `kamal-proxy`, that removes a route.
pub fn remove_args(service: &str) -> Vec<String> {
    vec!["remove".to_string(), service.to_string()]
}

/// The full `docker exec` argv inside the proxy container.
pub fn exec_argv(args: Vec<String>) -> Vec<String> {
    let mut argv = vec!["kamal-proxy".to_string()];
    argv.extend(args);
    argv
}

/// Whether kamal-proxy serves, queues or refuses a route's traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteState {
    Running,
    Paused,
    Stopped,
}

/// A route read back from kamal-proxy's state file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedRoute {
    pub service: String,
    pub settings: RouteSettings,
    /// `<container id>:<port>` targets receiving traffic.
    pub active_targets: Vec<String>,
    pub state: RouteState,
}

/// The state file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    /// kamal-proxy writes its state by truncating the file and then writing it (even with no
    /// routes it writes `[]`), so an empty or cut-off file is one being written, not "no routes".
    #[error("kamal-proxy state file is empty or cut off (being written?)")]
    Incomplete,
    #[error("kamal-proxy state file is not valid JSON: {0}")]
    Invalid(#[source] serde_json::Error),
}

impl StateFileError {
    /// True when reading the file again soon may succeed.
    pub fn is_incomplete(&self) -> bool {
        matches!(self, StateFileError::Incomplete)
    }
}

/// Parses kamal-proxy's state file (current and legacy keys).
pub fn parse_state(contents: &[u8]) -> Result<Vec<ObservedRoute>, StateFileError> {
    if contents.iter().all(u8::is_ascii_whitespace) {
        return Err(StateFileError::Incomplete);
    }
    let services: Vec<state_file::Service> = serde_json::from_slice(contents).map_err(|error| {
        if error.is_eof() {
            StateFileError::Incomplete
        } else {
            StateFileError::Invalid(error)
        }
    })?;
    let mut routes: Vec<ObservedRoute> = services
        .into_iter()
        .map(state_file::Service::into_route)
        .collect();
    routes.sort_by(|a, b| a.service.cmp(&b.service));
    Ok(routes)
}

/// The JSON shape of `kamal-proxy.state` (v0.9.x), lenient about missing fields.
mod state_file {
    use serde::Deserialize;

    use super::{
        ObservedRoute, RouteSettings, RouteState, normalize_hosts, normalize_path_prefixes,
    };

    #[derive(Deserialize, Default)]
    #[serde(default)]
    pub struct Service {
        name: String,
        options: Options,
        target_options: TargetOptions,
        active_targets: Option<Vec<String>>,
        pause_controller: Option<PauseController>,
        active_target: Option<String>,
        hosts: Option<Vec<String>>,
        path_prefixes: Option<Vec<String>>,
    }

    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Options {
        hosts: Option<Vec<String>>,
        path_prefixes: Option<Vec<String>>,
        tls_enabled: bool,
        tls_certificate_path: String,
        tls_private_key_path: String,
        tls_redirect: bool,
        error_page_path: String,
        strip_prefix: bool,
    }

    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct TargetOptions {
        health_check_config: HealthCheck,
        response_timeout: i64,
        buffer_requests: bool,
        buffer_responses: bool,
        max_memory_buffer_size: i64,
        max_request_body_size: i64,
        max_response_body_size: i64,
        log_request_headers: Option<Vec<String>>,
        log_response_headers: Option<Vec<String>>,
        forward_headers: bool,
    }

    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct HealthCheck {
        path: String,
        interval: i64,
        timeout: i64,
    }

    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct PauseController {
        state: i64,
    }

    impl Service {
        pub fn into_route(self) -> ObservedRoute {
            let hosts = self.options.hosts.or(self.hosts).unwrap_or_default();
            let path_prefixes = self
                .options
                .path_prefixes
                .or(self.path_prefixes)
                .unwrap_or_default();
            let mut active_targets = self.active_targets.unwrap_or_default();
            if active_targets.is_empty() {
                active_targets.extend(self.active_target.filter(|t| !t.is_empty()));
            }
            let state = match self.pause_controller.map_or(0, |p| p.state) {
                1 => RouteState::Paused,
                2 => RouteState::Stopped,
                _ => RouteState::Running,
            };
            let target = self.target_options;
            ObservedRoute {
                service: self.name,
                settings: RouteSettings {
                    hosts: normalize_hosts(&hosts),
                    path_prefixes: normalize_path_prefixes(&path_prefixes),
                    tls_enabled: self.options.tls_enabled,
                    tls_certificate_path: self.options.tls_certificate_path,
                    tls_private_key_path: self.options.tls_private_key_path,
                    tls_redirect: self.options.tls_redirect,
                    strip_prefix: self.options.strip_prefix,
                    error_page_path: self.options.error_page_path,
                    health_check_path: target.health_check_config.path,
                    health_check_interval: target.health_check_config.interval,
                    health_check_timeout: target.health_check_config.timeout,
                    response_timeout: target.response_timeout,
                    buffer_requests: target.buffer_requests,
                    buffer_responses: target.buffer_responses,
                    max_memory_buffer_size: target.max_memory_buffer_size,
                    max_request_body_size: target.max_request_body_size,
                    max_response_body_size: target.max_response_body_size,
                    log_request_headers: target.log_request_headers.unwrap_or_default(),
                    log_response_headers: target.log_response_headers.unwrap_or_default(),
                    forward_headers: target.forward_headers,
                },
                active_targets,
                state,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProxyHealthcheck;

    fn proxy() -> Proxy {
        Proxy::default()
    }

    fn settings(host: &str, prefix: &str, tls_enabled: bool, tls_redirect: bool) -> RouteSettings {
        let mut proxy = proxy();
        proxy.hosts = vec![host.to_string()];
        proxy.path_prefixes = vec![prefix.to_string()];
        let mut settings = ProxyRoute::new("s", &proxy, 30, 30, &RouteFiles::default()).settings;
        settings.tls_enabled = tls_enabled;
        settings.tls_redirect = tls_redirect;
        settings
    }

    fn tls_of(routes: &[RouteSettings]) -> Vec<(bool, bool)> {
        routes
            .iter()
            .map(|route| (route.tls_enabled, route.tls_redirect))
            .collect()
    }

    /// kamal-proxy's `TestServiceMap_SyncingTLSSettingsFromRootPath`.
    #[test]
    fn path_prefix_routes_take_tls_from_their_hosts_root_route() {
        let mut routes = vec![
            settings("1.example.com", "/", true, false),
            settings("1.example.com", "/api", false, true),
            settings("2.example.com", "/", false, true),
            settings("2.example.com", "/api", true, false),
            settings("3.example.com", "/api", true, false),
            settings("x.wild.com", "/api", false, false),
            settings("*.wild.com", "/", true, true),
        ];
        inherit_root_tls(&mut routes.iter_mut().collect::<Vec<_>>());
        assert_eq!(
            tls_of(&routes),
            [
                (true, false),
                (true, false),
                (false, true),
                (false, true),
                // No root route on the host: kamal-proxy's defaults.
                (false, true),
                // Its own binding makes the exact host's bucket: the wildcard root is not asked.
                (false, true),
                (true, true),
            ]
        );

        let mut without_root = vec![settings("1.example.com", "/api", true, false)];
        inherit_root_tls(&mut without_root.iter_mut().collect::<Vec<_>>());
        assert_eq!(tls_of(&without_root), [(false, true)]);
    }

    #[test]
    fn default_deploy_command_matches_kamal() {
        let route = ProxyRoute::new("app-web", &proxy(), 30, 30, &RouteFiles::default());
        assert_eq!(
            deploy_args(&route, "0123456789ab").join(" "),
            "deploy app-web --target=0123456789ab:80 --deploy-timeout=30s --drain-timeout=30s \
             --buffer-requests --buffer-responses --log-request-header=Cache-Control \
             --log-request-header=Last-Modified --log-request-header=User-Agent"
        );
    }

    #[test]
    fn full_deploy_command_keeps_kamals_order() {
        let mut proxy = proxy();
        proxy.hosts = vec!["a.example.com".into(), "b.example.com".into()];
        proxy.app_port = 3000;
        proxy.ssl = Ssl::Automatic;
        proxy.healthcheck = ProxyHealthcheck {
            path: Some("/health".into()),
            interval: Some(3),
            timeout: Some(2),
        };
        proxy.response_timeout = Some(10);
        proxy.buffering.max_request_body = Some(40_000_000);
        proxy.path_prefixes = vec!["/api".into()];
        proxy.strip_path_prefix = Some(false);
        proxy.forward_headers = Some(true);
        proxy.ssl_redirect = Some(false);
        proxy.logging.response_headers = vec!["X-Request-ID".into()];
        let route = ProxyRoute::new("app-web-staging", &proxy, 20, 10, &RouteFiles::default());
        assert_eq!(
            deploy_args(&route, "abc").join(" "),
            "deploy app-web-staging --target=abc:3000 --host=a.example.com --host=b.example.com \
             --tls --deploy-timeout=20s --drain-timeout=10s --health-check-interval=3s \
             --health-check-timeout=2s --health-check-path=/health --target-timeout=10s \
             --buffer-requests --buffer-responses --max-request-body=40000000 --path-prefix=/api \
             --strip-path-prefix=false --forward-headers --tls-redirect=false \
             --log-request-header=Cache-Control --log-request-header=Last-Modified \
             --log-request-header=User-Agent --log-response-header=X-Request-ID"
        );
        assert_eq!(route.settings.hosts, vec!["a.example.com", "b.example.com"]);
        assert!(route.settings.tls_enabled);
        assert!(route.settings.forward_headers);
        assert!(!route.settings.tls_redirect);
    }

    #[test]
    fn custom_certificates_and_error_pages_point_into_apps_config() {
        let mut proxy = proxy();
        proxy.hosts = vec!["a.example.com".into()];
        proxy.ssl = Ssl::Custom {
            certificate_pem: "CERT".into(),
            private_key_pem: "KEY".into(),
        };
        let files = RouteFiles {
            tls_directory: Some("/home/kamal-proxy/.apps-config/app/tls/web".into()),
            error_pages: Some("/home/kamal-proxy/.apps-config/app/error_pages/v1".into()),
        };
        let route = ProxyRoute::new("app-web", &proxy, 30, 30, &files);
        let args = deploy_args(&route, "abc");
        assert!(
            args.contains(
                &"--tls-certificate-path=/home/kamal-proxy/.apps-config/app/tls/web/cert.pem"
                    .to_string()
            )
        );
        assert!(
            args.contains(
                &"--tls-private-key-path=/home/kamal-proxy/.apps-config/app/tls/web/key.pem"
                    .to_string()
            )
        );
        assert_eq!(
            args.last().map(String::as_str),
            Some("--error-pages=/home/kamal-proxy/.apps-config/app/error_pages/v1")
        );
        assert!(
            !route.settings.forward_headers,
            "TLS turns forwarding off by default"
        );
    }

    const STATE: &str = r#"[
      {"name":"app-web","options":{"hosts":[""],"path_prefixes":["/"],"tls_enabled":false,
        "tls_certificate_path":"","tls_private_key_path":"","tls_redirect":true,"canonical_host":"",
        "acme_directory":"","acme_cache_path":"/home/kamal-proxy/.config/kamal-proxy/certs",
        "error_page_path":"","strip_prefix":true,"writer_affinity_timeout":1000000000,
        "read_targets_accept_websockets":false},
       "target_options":{"health_check_config":{"path":"/up","port":0,"interval":1000000000,
        "timeout":5000000000,"host":""},"response_timeout":30000000000,"buffer_requests":true,
        "buffer_responses":true,"max_memory_buffer_size":1048576,"max_request_body_size":0,
        "max_response_body_size":0,"log_request_headers":["Cache-Control","Last-Modified","User-Agent"],
        "log_response_headers":null,"forward_headers":true,"scope_cookie_paths":false},
       "active_targets":["0123456789ab:80"],"active_readers":[],"rollout_targets":null,
       "rollout_readers":null,"pause_controller":{"state":0,"stop_message":"","fail_after":0},
       "rollout_controller":null}
    ]"#;

    #[test]
    fn state_file_reads_back_as_the_default_route() {
        let routes = parse_state(STATE.as_bytes()).unwrap();
        assert_eq!(routes.len(), 1);
        let desired = ProxyRoute::new("app-web", &proxy(), 30, 30, &RouteFiles::default());
        assert_eq!(routes[0].service, "app-web");
        assert_eq!(routes[0].settings, desired.settings);
        assert_eq!(routes[0].active_targets, vec!["0123456789ab:80"]);
        assert_eq!(routes[0].state, RouteState::Running);
    }

    #[test]
    fn legacy_keys_and_empty_files() {
        let legacy = r#"[{"name":"old","hosts":["x.example.com"],"path_prefixes":["api"],
            "active_target":"abc:3000","pause_controller":{"state":2}}]"#;
        let routes = parse_state(legacy.as_bytes()).unwrap();
        assert_eq!(routes[0].settings.hosts, vec!["x.example.com"]);
        assert_eq!(routes[0].settings.path_prefixes, vec!["/api"]);
        assert_eq!(routes[0].active_targets, vec!["abc:3000"]);
        assert_eq!(routes[0].state, RouteState::Stopped);
        assert!(parse_state(b"[]\n").unwrap().is_empty());
    }

    /// kamal-proxy truncates, then writes: a read in between sees a part of the file.
    #[test]
    fn an_empty_or_cut_off_state_file_is_incomplete_never_no_routes() {
        for length in 0..STATE.trim_end().len() {
            let error = parse_state(&STATE.as_bytes()[..length]).expect_err("a prefix");
            assert!(error.is_incomplete(), "{length}: {error}");
        }
        assert!(parse_state(b"\n").expect_err("blank").is_incomplete());
        assert!(!parse_state(b"[}").expect_err("garbage").is_incomplete());
    }
}
