//! What kamal-proxy reports: its state file (`kamal-proxy.state`, JSON, durations in
//! nanoseconds), read instead of `kamal-proxy list`'s ANSI table.

use serde::{Deserialize, Serialize};

use super::route::{RouteSettings, normalize_hosts, normalize_path_prefixes};

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
    /// The message a stopped route shows (`kamal-proxy stop --message`), `""` otherwise.
    #[serde(default)]
    pub stop_message: String,
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
        stop_message: String,
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
            let pause = self.pause_controller.unwrap_or_default();
            let state = match pause.state {
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
                stop_message: pause.stop_message,
            }
        }
    }
}
