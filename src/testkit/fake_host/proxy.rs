//! kamal-proxy in memory: the `deploy`, `remove`, `stop`, `resume` commands gantry sends, and the
//! state file they leave behind (in kamal-proxy's JSON shape, so observe parses it for real).

use serde_json::json;

use crate::host::{CommandOutput, ContainerStatus};
use crate::kamal_proxy::{RouteSettings, RouteState};
use crate::testkit::fake_host::{Engine, docker};

/// One route as the fake proxy holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeRoute {
    pub service: String,
    pub settings: RouteSettings,
    pub targets: Vec<String>,
    pub state: RouteState,
    /// `stop --message`, shown while stopped.
    pub stop_message: String,
}

/// The parsed arguments of `kamal-proxy deploy`.
pub struct DeployCommand {
    pub service: String,
    pub target: String,
    pub settings: RouteSettings,
}

/// Parses `deploy <service> --flag=value ...` with kamal-proxy's defaults for what is left out.
pub fn parse_deploy(args: &[String]) -> Result<DeployCommand, String> {
    let service = args.first().ok_or("deploy needs a service name")?.clone();
    let mut settings = RouteSettings {
        hosts: Vec::new(),
        path_prefixes: Vec::new(),
        tls_enabled: false,
        tls_certificate_path: String::new(),
        tls_private_key_path: String::new(),
        tls_redirect: true,
        strip_prefix: true,
        error_page_path: String::new(),
        health_check_path: "/up".into(),
        health_check_interval: 1_000_000_000,
        health_check_timeout: 5_000_000_000,
        response_timeout: 30_000_000_000,
        buffer_requests: false,
        buffer_responses: false,
        max_memory_buffer_size: 1024 * 1024,
        max_request_body_size: 0,
        max_response_body_size: 0,
        log_request_headers: Vec::new(),
        log_response_headers: Vec::new(),
        forward_headers: false,
    };
    let mut target = None;
    let mut forward_headers = None;
    let seconds = |value: &str| -> Result<i64, String> {
        value
            .trim_end_matches('s')
            .parse::<i64>()
            .map(|s| s * 1_000_000_000)
            .map_err(|_| format!("bad duration {value}"))
    };
    for arg in &args[1..] {
        let arg = arg.trim_start_matches("--");
        let (name, value) = arg.split_once('=').unwrap_or((arg, "true"));
        let flag = || value != "false";
        match name {
            "target" => target = Some(value.to_string()),
            "host" => settings.hosts.push(value.to_string()),
            "path-prefix" => settings.path_prefixes.push(value.to_string()),
            "tls" => settings.tls_enabled = flag(),
            "tls-certificate-path" => settings.tls_certificate_path = value.to_string(),
            "tls-private-key-path" => settings.tls_private_key_path = value.to_string(),
            "tls-redirect" => settings.tls_redirect = flag(),
            "strip-path-prefix" => settings.strip_prefix = flag(),
            "error-pages" => settings.error_page_path = value.to_string(),
            "health-check-path" => settings.health_check_path = value.to_string(),
            "health-check-interval" => settings.health_check_interval = seconds(value)?,
            "health-check-timeout" => settings.health_check_timeout = seconds(value)?,
            "target-timeout" => settings.response_timeout = seconds(value)?,
            "buffer-requests" => settings.buffer_requests = flag(),
            "buffer-responses" => settings.buffer_responses = flag(),
            "buffer-memory" => {
                settings.max_memory_buffer_size = value.parse().map_err(|_| "bad size")?
            }
            "max-request-body" => {
                settings.max_request_body_size = value.parse().map_err(|_| "bad size")?
            }
            "max-response-body" => {
                settings.max_response_body_size = value.parse().map_err(|_| "bad size")?
            }
            "log-request-header" => settings.log_request_headers.push(value.to_string()),
            "log-response-header" => settings.log_response_headers.push(value.to_string()),
            "forward-headers" => forward_headers = Some(flag()),
            "deploy-timeout" | "drain-timeout" => {}
            other => return Err(format!("unknown flag: --{other}")),
        }
    }
    settings.forward_headers = forward_headers.unwrap_or(!settings.tls_enabled);
    if settings.hosts.is_empty() {
        settings.hosts.push(String::new());
    }
    if settings.path_prefixes.is_empty() {
        settings.path_prefixes.push("/".into());
    }
    Ok(DeployCommand {
        service,
        target: target.ok_or("deploy needs --target")?,
        settings,
    })
}

/// Whether two routes claim the same host and path (kamal-proxy's conflict rule).
pub fn conflicts(a: &RouteSettings, b: &RouteSettings) -> bool {
    a.hosts.iter().any(|host| b.hosts.contains(host))
        && a.path_prefixes
            .iter()
            .any(|prefix| b.path_prefixes.contains(prefix))
}

/// The state file kamal-proxy would write for these routes.
pub fn state_json(routes: &[FakeRoute]) -> Vec<u8> {
    let services: Vec<serde_json::Value> = routes
        .iter()
        .map(|route| {
            let s = &route.settings;
            json!({
                "name": route.service,
                "options": {
                    "hosts": s.hosts, "path_prefixes": s.path_prefixes,
                    "tls_enabled": s.tls_enabled, "tls_certificate_path": s.tls_certificate_path,
                    "tls_private_key_path": s.tls_private_key_path, "tls_redirect": s.tls_redirect,
                    "canonical_host": "", "acme_directory": "", "acme_cache_path": "",
                    "error_page_path": s.error_page_path, "strip_prefix": s.strip_prefix,
                    "writer_affinity_timeout": 1_000_000_000_i64,
                    "read_targets_accept_websockets": false
                },
                "target_options": {
                    "health_check_config": {
                        "path": s.health_check_path, "port": 0,
                        "interval": s.health_check_interval, "timeout": s.health_check_timeout,
                        "host": ""
                    },
                    "response_timeout": s.response_timeout,
                    "buffer_requests": s.buffer_requests, "buffer_responses": s.buffer_responses,
                    "max_memory_buffer_size": s.max_memory_buffer_size,
                    "max_request_body_size": s.max_request_body_size,
                    "max_response_body_size": s.max_response_body_size,
                    "log_request_headers": s.log_request_headers,
                    "log_response_headers": s.log_response_headers,
                    "forward_headers": s.forward_headers, "scope_cookie_paths": false
                },
                "active_targets": route.targets,
                "active_readers": [],
                "rollout_targets": null,
                "rollout_readers": null,
                "pause_controller": {
                    "state": match route.state {
                        RouteState::Running => 0,
                        RouteState::Paused => 1,
                        RouteState::Stopped => 2,
                    },
                    "stop_message": route.stop_message, "fail_after": 0
                },
                "rollout_controller": null
            })
        })
        .collect();
    serde_json::to_vec(&services).unwrap_or_default()
}

/// A command's failure, as kamal-proxy prints it.
pub fn failure(message: impl Into<String>) -> CommandOutput {
    CommandOutput {
        exit_code: 1,
        stdout: String::new(),
        stderr: format!("Error: {}", message.into()),
    }
}

/// A command's success.
pub fn success() -> CommandOutput {
    CommandOutput::default()
}

/// Runs one `kamal-proxy` command against the fake proxy's routes.
pub(super) fn run_command(engine: &mut Engine, args: &[String]) -> CommandOutput {
    match args.first().map(String::as_str) {
        Some("deploy") => {
            let command = match parse_deploy(&args[1..]) {
                Ok(command) => command,
                Err(message) => return failure(message),
            };
            let target_id = command.target.split(':').next().unwrap_or_default();
            let target = engine
                .containers
                .values()
                .find(|c| c.id.starts_with(target_id) && !target_id.is_empty());
            let healthy = target.is_some_and(|c| {
                c.status == ContainerStatus::Running
                    && docker::env_value(c, "FAIL_HEALTHCHECK") != Some("1")
                    && c.health != Some(crate::host::Health::Unhealthy)
            });
            if !healthy {
                return failure("target failed to become healthy within configured timeout");
            }
            let conflict = engine.routes.iter().any(|route| {
                route.service != command.service && conflicts(&route.settings, &command.settings)
            });
            if conflict {
                return failure("host settings conflict with another service");
            }
            // A redeploy keeps the service's pause state: kamal-proxy keeps its pause
            // controller across deploys (a deploy during maintenance stays behind it).
            match engine
                .routes
                .iter_mut()
                .find(|r| r.service == command.service)
            {
                Some(existing) => {
                    existing.settings = command.settings;
                    existing.targets = vec![command.target];
                }
                None => engine.routes.push(FakeRoute {
                    service: command.service.clone(),
                    settings: command.settings,
                    targets: vec![command.target],
                    state: RouteState::Running,
                    stop_message: String::new(),
                }),
            }
            engine.routes.sort_by(|a, b| a.service.cmp(&b.service));
            success()
        }
        Some("remove" | "rm") => {
            let Some(service) = args.get(1) else {
                return failure("remove needs a service");
            };
            let before = engine.routes.len();
            engine.routes.retain(|route| &route.service != service);
            if engine.routes.len() == before {
                failure("service not found")
            } else {
                success()
            }
        }
        Some(verb @ ("stop" | "pause" | "resume")) => {
            let Some(route) = args
                .get(1)
                .and_then(|service| engine.routes.iter_mut().find(|r| &r.service == service))
            else {
                return failure("service not found");
            };
            route.state = match verb {
                "stop" => RouteState::Stopped,
                "pause" => RouteState::Paused,
                _ => RouteState::Running,
            };
            route.stop_message = match verb {
                "stop" => args
                    .iter()
                    .find_map(|arg| arg.strip_prefix("--message="))
                    .unwrap_or_default()
                    .to_string(),
                _ => String::new(),
            };
            success()
        }
        _ => failure("unknown command"),
    }
}
