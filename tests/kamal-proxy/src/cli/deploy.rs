//! `kamal-proxy deploy <service>`: every flag of kamal-proxy v0.9.2, its defaults, and the checks
//! the real client makes before it calls the server (`deploy`'s pre-run validation).

use std::time::Duration;

use clap::Args;

use super::{DEFAULT_TIMEOUT, go_bool, go_duration};
use crate::control::{Command, DeployRequest};
use crate::state::{self, HealthCheckConfig, ServiceOptions, TargetOptions};

const DEFAULT_BUFFER_MEMORY: i64 = 1 << 20;

/// `deploy <service>`: every flag of kamal-proxy v0.9.2.
#[derive(Debug, Args)]
pub struct DeployArgs {
    service: String,
    /// Target host(s) to deploy
    #[arg(long = "target", value_delimiter = ',', required = true)]
    targets: Vec<String>,
    /// Read-only target host(s) to deploy
    #[arg(long = "read-target", value_delimiter = ',')]
    read_targets: Vec<String>,
    /// Host(s) to serve this target on (empty for wildcard)
    #[arg(long = "host", value_delimiter = ',')]
    hosts: Vec<String>,
    /// Deploy the service below the specified path(s)
    #[arg(long = "path-prefix", value_delimiter = ',')]
    path_prefixes: Vec<String>,
    /// With --path-prefix, strip prefix from request before forwarding
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    strip_path_prefix: Option<bool>,
    /// Configure TLS for this target (stored; TLS is not implemented)
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    tls: Option<bool>,
    /// Use Let's Encrypt staging environment (stored; ACME is not implemented)
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    tls_staging: Option<bool>,
    /// Custom TLS certificate path (PEM format)
    #[arg(long, requires = "tls_private_key_path")]
    tls_certificate_path: Option<String>,
    /// Custom TLS private key path (PEM format)
    #[arg(long, requires = "tls_certificate_path")]
    tls_private_key_path: Option<String>,
    /// Location to store ACME assets
    #[arg(long)]
    tls_acme_cache_path: Option<String>,
    /// Redirect HTTP traffic to HTTPS (stored; not applied without TLS)
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    tls_redirect: Option<bool>,
    /// Redirect all requests to this host (e.g., force root or www)
    #[arg(long)]
    canonical_host: Option<String>,
    /// Maximum time to wait for the new target to become healthy
    #[arg(long, value_parser = go_duration)]
    deploy_timeout: Option<Duration>,
    /// Maximum time to allow existing connections to drain before removing old target
    #[arg(long, value_parser = go_duration)]
    drain_timeout: Option<Duration>,
    /// Skip health checks and force deployment
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    force: Option<bool>,
    /// Interval between health checks
    #[arg(long, value_parser = go_duration)]
    health_check_interval: Option<Duration>,
    /// Time each health check must complete in
    #[arg(long, value_parser = go_duration)]
    health_check_timeout: Option<Duration>,
    /// Path to check for health
    #[arg(long)]
    health_check_path: Option<String>,
    /// Port to check for health (default matches target port)
    #[arg(long)]
    health_check_port: Option<u16>,
    /// Host header to send with health check requests
    #[arg(long)]
    health_check_host: Option<String>,
    /// Time after a write before read requests will be routed to readers
    #[arg(long, value_parser = go_duration)]
    writer_affinity_timeout: Option<Duration>,
    /// Route WebSocket traffic to read targets, when available
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    read_target_websockets: Option<bool>,
    /// Maximum time to wait for the target server to respond when serving requests
    #[arg(long, value_parser = go_duration)]
    target_timeout: Option<Duration>,
    /// Buffer requests before forwarding to target (stored; not applied)
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    buffer_requests: Option<bool>,
    /// Buffer responses before forwarding to client (stored; not applied)
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    buffer_responses: Option<bool>,
    /// Max size of memory buffer
    #[arg(long)]
    buffer_memory: Option<i64>,
    /// Max size of request body when buffering (default of 0 means unlimited)
    #[arg(long)]
    max_request_body: Option<i64>,
    /// Max size of response body when buffering (default of 0 means unlimited)
    #[arg(long)]
    max_response_body: Option<i64>,
    /// Path to custom error pages
    #[arg(long)]
    error_pages: Option<String>,
    /// Additional request header to log (may be specified multiple times)
    #[arg(long = "log-request-header", value_delimiter = ',')]
    log_request_headers: Vec<String>,
    /// Additional response header to log (may be specified multiple times)
    #[arg(long = "log-response-header", value_delimiter = ',')]
    log_response_headers: Vec<String>,
    /// Forward X-Forwarded headers to target (default false if TLS enabled; otherwise true)
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    forward_headers: Option<bool>,
    /// Scope cookie paths to match path prefix
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    scope_cookie_paths: Option<bool>,
}

impl DeployArgs {
    /// The deploy request, after kamal-proxy's client-side checks.
    pub fn into_command(self) -> Result<Command, String> {
        if self.max_request_body.is_some() && self.buffer_requests.is_none() {
            return Err(
                "max-request-body can only be set when request buffering is enabled".into(),
            );
        }
        if self.max_response_body.is_some() && self.buffer_responses.is_none() {
            return Err(
                "max-response-body can only be set when response buffering is enabled".into(),
            );
        }
        let tls = self.tls.unwrap_or(false);
        let mut service_options = ServiceOptions {
            hosts: self.hosts,
            path_prefixes: self.path_prefixes,
            tls_enabled: tls,
            tls_certificate_path: self.tls_certificate_path.unwrap_or_default(),
            tls_private_key_path: self.tls_private_key_path.unwrap_or_default(),
            tls_redirect: self.tls_redirect.unwrap_or(true),
            canonical_host: self.canonical_host.unwrap_or_default(),
            acme_directory: if self.tls_staging.unwrap_or(false) {
                "https://acme-staging-v02.api.letsencrypt.org/directory".into()
            } else {
                String::new()
            },
            acme_cache_path: self
                .tls_acme_cache_path
                .unwrap_or_else(|| state::data_directory().join("certs").display().to_string()),
            error_page_path: self.error_pages.unwrap_or_default(),
            strip_prefix: self.strip_path_prefix.unwrap_or(true),
            writer_affinity_timeout: self
                .writer_affinity_timeout
                .unwrap_or(Duration::from_secs(1)),
            read_targets_accept_websockets: self.read_target_websockets.unwrap_or(false),
        };
        service_options.normalize();
        let named_hosts: Vec<&String> = service_options
            .hosts
            .iter()
            .filter(|host| !host.is_empty())
            .collect();
        // kamal-proxy v0.9.2 checks for a host after normalizing, which has turned no host into
        // the wildcard `""`: its "host must be set when using TLS" never fires, and `--tls`
        // without `--host` is accepted.
        if tls
            && !service_options
                .path_prefixes
                .iter()
                .any(|prefix| prefix == "/")
        {
            return Err("TLS settings must be specified on the root path service".into());
        }
        let canonical = &service_options.canonical_host;
        if !canonical.is_empty() && !named_hosts.is_empty() && !named_hosts.contains(&canonical) {
            return Err(format!(
                "canonical-host '{canonical}' must be present in the hosts list: [{}]",
                service_options.hosts.join(" ")
            ));
        }
        let target_options = TargetOptions {
            health_check_config: HealthCheckConfig {
                path: self.health_check_path.unwrap_or_else(|| "/up".into()),
                port: self.health_check_port.unwrap_or(0),
                interval: self.health_check_interval.unwrap_or(Duration::from_secs(1)),
                timeout: self.health_check_timeout.unwrap_or(Duration::from_secs(5)),
                host: self.health_check_host.unwrap_or_default(),
            },
            response_timeout: self.target_timeout.unwrap_or(DEFAULT_TIMEOUT),
            buffer_requests: self.buffer_requests.unwrap_or(false),
            buffer_responses: self.buffer_responses.unwrap_or(false),
            max_memory_buffer_size: self.buffer_memory.unwrap_or(DEFAULT_BUFFER_MEMORY),
            max_request_body_size: self.max_request_body.unwrap_or(0),
            max_response_body_size: self.max_response_body.unwrap_or(0),
            log_request_headers: self
                .log_request_headers
                .iter()
                .map(|h| canonical_header(h))
                .collect(),
            log_response_headers: self
                .log_response_headers
                .iter()
                .map(|h| canonical_header(h))
                .collect(),
            forward_headers: self.forward_headers.unwrap_or(!tls),
            scope_cookie_paths: self.scope_cookie_paths.unwrap_or(false),
        };
        Ok(Command::Deploy(Box::new(DeployRequest {
            service: self.service,
            targets: self.targets,
            readers: self.read_targets,
            service_options,
            target_options,
            deploy_timeout: self.deploy_timeout.unwrap_or(DEFAULT_TIMEOUT),
            drain_timeout: self.drain_timeout.unwrap_or(DEFAULT_TIMEOUT),
            force: self.force.unwrap_or(false),
        })))
    }
}

/// Go's `http.CanonicalHeaderKey`: `cache-control` becomes `Cache-Control`.
fn canonical_header(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let mapped = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            mapped
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<Option<Command>, String> {
        let mut argv = vec!["kamal-proxy"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv)
            .map_err(|error| error.to_string())?
            .command
            .into_command()
    }

    fn deploy(args: &[&str]) -> DeployRequest {
        match parse(args) {
            Ok(Some(Command::Deploy(request))) => *request,
            other => panic!("not a deploy: {other:?}"),
        }
    }

    #[test]
    fn parses_the_deploy_line_kamal_sends() {
        let request = deploy(&[
            "deploy",
            "app-web",
            "--target=0123456789ab:80",
            "--deploy-timeout=30s",
            "--drain-timeout=30s",
            "--buffer-requests",
            "--buffer-responses",
            "--log-request-header=Cache-Control",
            "--log-request-header=Last-Modified",
            "--log-request-header=User-Agent",
        ]);
        assert_eq!(request.service, "app-web");
        assert_eq!(request.targets, ["0123456789ab:80"]);
        assert_eq!(request.service_options.hosts, [""]);
        assert_eq!(request.service_options.path_prefixes, ["/"]);
        assert!(request.service_options.strip_prefix);
        assert!(request.service_options.tls_redirect);
        assert!(request.target_options.buffer_requests);
        assert!(request.target_options.buffer_responses);
        assert!(request.target_options.forward_headers);
        assert_eq!(
            request.target_options.log_request_headers,
            ["Cache-Control", "Last-Modified", "User-Agent"]
        );
        assert_eq!(request.target_options.health_check_config.path, "/up");
        assert_eq!(
            request.target_options.health_check_config.interval,
            Duration::from_secs(1)
        );
        assert_eq!(
            request.target_options.health_check_config.timeout,
            Duration::from_secs(5)
        );
        assert_eq!(request.deploy_timeout, Duration::from_secs(30));
        assert!(!request.force);
    }

    #[test]
    fn accepts_pflag_forms() {
        let request = deploy(&[
            "deploy",
            "api",
            "--target",
            "web-a:80,web-b:80",
            "--host=one.example.com,two.example.com",
            "--host",
            "three.example.com",
            "--path-prefix=/api",
            "--strip-path-prefix=false",
            "--tls-redirect=0",
            "--health-check-interval=500ms",
            "--health-check-path",
            "/health",
            "--target-timeout=1m30s",
            "--log-response-header=x-request-id",
        ]);
        assert_eq!(request.targets, ["web-a:80", "web-b:80"]);
        assert_eq!(
            request.service_options.hosts,
            ["one.example.com", "two.example.com", "three.example.com"]
        );
        assert_eq!(request.service_options.path_prefixes, ["/api"]);
        assert!(!request.service_options.strip_prefix);
        assert!(!request.service_options.tls_redirect);
        assert_eq!(
            request.target_options.health_check_config.interval,
            Duration::from_millis(500)
        );
        assert_eq!(request.target_options.health_check_config.path, "/health");
        assert_eq!(
            request.target_options.response_timeout,
            Duration::from_secs(90)
        );
        assert_eq!(
            request.target_options.log_response_headers,
            ["X-Request-Id"]
        );
    }

    #[test]
    fn runs_kamal_proxys_client_side_checks() {
        let error = |args: &[&str]| parse(args).unwrap_err();
        assert!(error(&["deploy", "app"]).contains("--target"));
        assert_eq!(
            error(&[
                "deploy",
                "app",
                "--target=web-a:80",
                "--max-request-body=10"
            ]),
            "max-request-body can only be set when request buffering is enabled"
        );
        let no_host = parse(&["deploy", "app", "--target=web-a:80", "--tls"])
            .expect("--tls without --host is accepted");
        let Some(Command::Deploy(no_host)) = no_host else {
            panic!("not a deploy: {no_host:?}")
        };
        assert_eq!(no_host.service_options.hosts, [""]);
        assert!(no_host.service_options.tls_enabled);
        assert_eq!(
            error(&[
                "deploy",
                "app",
                "--target=web-a:80",
                "--tls",
                "--host=a.com",
                "--path-prefix=/api"
            ]),
            "TLS settings must be specified on the root path service"
        );
        assert!(
            error(&[
                "deploy",
                "app",
                "--target=web-a:80",
                "--host=a.com",
                "--canonical-host=b.com"
            ])
            .contains("canonical-host 'b.com'")
        );
        assert!(
            error(&[
                "deploy",
                "app",
                "--target=web-a:80",
                "--client-ip-header=X-Real-IP"
            ])
            .contains("--client-ip-header")
        );
        assert!(
            error(&["deploy", "app", "--target=web-a:80", "--deploy-timeout=30"])
                .contains("invalid duration")
        );
        let tls = deploy(&[
            "deploy",
            "app",
            "--target=web-a:80",
            "--tls",
            "--host=a.com",
        ]);
        assert!(
            !tls.target_options.forward_headers,
            "forward-headers defaults to !tls"
        );
    }

    #[test]
    fn canonicalizes_header_names_like_go() {
        assert_eq!(canonical_header("cache-control"), "Cache-Control");
        assert_eq!(canonical_header("X-REQUEST-ID"), "X-Request-Id");
        assert_eq!(canonical_header("user-agent"), "User-Agent");
    }
}
