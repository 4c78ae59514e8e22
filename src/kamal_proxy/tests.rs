use super::*;
use crate::config::{Proxy, ProxyHealthcheck, Ssl};

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
    assert!(args.contains(
        &"--tls-certificate-path=/home/kamal-proxy/.apps-config/app/tls/web/cert.pem".to_string()
    ));
    assert!(args.contains(
        &"--tls-private-key-path=/home/kamal-proxy/.apps-config/app/tls/web/key.pem".to_string()
    ));
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
        "active_target":"abc:3000","pause_controller":{"state":2,"stop_message":"back at 3"}}]"#;
    let routes = parse_state(legacy.as_bytes()).unwrap();
    assert_eq!(routes[0].settings.hosts, vec!["x.example.com"]);
    assert_eq!(routes[0].settings.path_prefixes, vec!["/api"]);
    assert_eq!(routes[0].active_targets, vec!["abc:3000"]);
    assert_eq!(routes[0].state, RouteState::Stopped);
    assert_eq!(routes[0].stop_message, "back at 3");
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

/// Kamal's `stop_command_args`: the drain timeout always, the message only when given.
#[test]
fn maintenance_and_live_command_lines_are_kamals() {
    assert_eq!(
        crate::kamal_proxy::stop_args("app-web", 30, Some("Back at 3pm")),
        [
            "stop",
            "app-web",
            "--drain-timeout=30s",
            "--message=Back at 3pm"
        ]
    );
    assert_eq!(
        crate::kamal_proxy::stop_args("app-web", 5, None),
        ["stop", "app-web", "--drain-timeout=5s"]
    );
    assert_eq!(
        crate::kamal_proxy::resume_args("app-web"),
        ["resume", "app-web"]
    );
}
