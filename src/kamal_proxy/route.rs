//! Routes: the settings kamal-proxy keeps for one service, as deploy.yml asks for them
//! ([`ProxyRoute`]) and as kamal-proxy reports them ([`RouteSettings`]), with its own defaults
//! filled in for what Kamal leaves out.
use serde::{Deserialize, Serialize};

use crate::config::{Proxy, Ssl};

const NANOS_PER_SECOND: i64 = 1_000_000_000;

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
    pub(super) sent: SentOptions,
}

/// The optional parts of Kamal's `deploy_options`, exactly as deploy.yml set them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub(super) struct SentOptions {
    pub(super) tls: bool,
    pub(super) tls_certificate_path: Option<String>,
    pub(super) tls_private_key_path: Option<String>,
    pub(super) health_check_interval: Option<u64>,
    pub(super) health_check_timeout: Option<u64>,
    pub(super) health_check_path: Option<String>,
    pub(super) target_timeout: Option<u64>,
    pub(super) buffer_memory: Option<u64>,
    pub(super) max_request_body: Option<u64>,
    pub(super) max_response_body: Option<u64>,
    pub(super) path_prefixes: Vec<String>,
    pub(super) strip_path_prefix: Option<bool>,
    pub(super) forward_headers: Option<bool>,
    pub(super) tls_redirect: Option<bool>,
    pub(super) error_pages: Option<String>,
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
pub(super) fn normalize_hosts(hosts: &[String]) -> Vec<String> {
    if hosts.is_empty() {
        vec![String::new()]
    } else {
        hosts.to_vec()
    }
}

/// kamal-proxy stores path prefixes as `/` + the prefix without surrounding slashes, `["/"]` by default.
pub(super) fn normalize_path_prefixes(prefixes: &[String]) -> Vec<String> {
    if prefixes.is_empty() {
        vec!["/".to_string()]
    } else {
        prefixes
            .iter()
            .map(|prefix| format!("/{}", prefix.trim_matches('/')))
            .collect()
    }
}
