//! The command lines gantry runs in the kamal-proxy container, argument for argument as Kamal
//! writes them.

use super::route::ProxyRoute;

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

/// The argv, after `kamal-proxy`, that puts a route in maintenance: kamal-proxy answers 503
/// (with `message` on its error page) until `resume`, and drains in-flight requests for
/// `drain_timeout` seconds. Kamal's `stop_command_args`: no `--message` when none is given.
pub fn stop_args(service: &str, drain_timeout: u64, message: Option<&str>) -> Vec<String> {
    let mut args = ArgList(vec!["stop".to_string(), service.to_string()]);
    args.value("drain-timeout", Some(format!("{drain_timeout}s")));
    args.value("message", message.map(str::to_string));
    args.0
}

/// The argv, after `kamal-proxy`, that takes a route out of maintenance.
pub fn resume_args(service: &str) -> Vec<String> {
    vec!["resume".to_string(), service.to_string()]
}

/// The full `docker exec` argv inside the proxy container.
pub fn exec_argv(args: Vec<String>) -> Vec<String> {
    let mut argv = vec!["kamal-proxy".to_string()];
    argv.extend(args);
    argv
}
