use super::*;
use crate::config::erb::OffsetMap;
use crate::config::source::FileId;

fn resolve_text(text: &str, destination: Option<&str>) -> (Config, Vec<SecretRef>, Problems) {
    let mut problems = Problems::default();
    let root = crate::config::yaml::parse(
        text,
        FileId(0),
        &OffsetMap::identity(text.len()),
        &mut problems,
    )
    .expect("valid YAML");
    let (config, refs) = resolve(&root, destination, &mut problems);
    (config, refs, problems)
}

const BASE: &str = "service: app\nimage: u/app\nregistry:\n  username: u\n  password: [PW]\nbuilder:\n  arch: amd64\n";

#[test]
fn roles_are_sorted_with_the_primary_first() {
    let text = format!("{BASE}primary_role: m\nservers:\n  z: [h1]\n  m: [h2]\n  a: [h3]\n");
    let (config, _, problems) = resolve_text(&text, None);
    assert!(!problems.has_errors(), "{:?}", problems.errors());
    let names: Vec<&str> = config.roles.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, vec!["m", "a", "z"]);
    assert!(
        config.roles[0].proxy.is_some(),
        "the primary role runs the proxy"
    );
    assert!(config.roles[1].proxy.is_none());
}

#[test]
fn role_env_merges_over_root_env_and_records_secret_references() {
    let text = format!(
        "{BASE}env:\n  clear: {{A: root, B: root}}\n  secret: [S1, X:S2]\nservers:\n  web:\n    hosts: [h]\n    env:\n      clear: {{B: role}}\n      secret: [X:S3]\n"
    );
    let (config, refs, _) = resolve_text(&text, None);
    let env = &config.roles[0].env;
    assert_eq!(env.clear.get("A").map(String::as_str), Some("root"));
    assert_eq!(env.clear.get("B").map(String::as_str), Some("role"));
    let secrets: Vec<(&str, &str)> = env
        .secrets
        .iter()
        .map(|s| (s.name.as_str(), s.key.as_str()))
        .collect();
    assert_eq!(secrets, vec![("S1", "S1"), ("X", "S3")]);
    let keys: Vec<&str> = refs.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, vec!["PW", "S1", "S2", "S3"]);
    assert_eq!(refs[3].path, "servers/web/env/secret/0");
}

#[test]
fn host_names_that_would_break_a_shell_are_refused() {
    assert_eq!(roles::invalid_host_reason("10.0.0.1"), None);
    assert_eq!(roles::invalid_host_reason("web-1.example.com"), None);
    assert_eq!(roles::invalid_host_reason("[::1]"), None);
    assert!(roles::invalid_host_reason("a b").is_some());
    assert!(roles::invalid_host_reason("-oFoo").is_some());
    assert!(roles::invalid_host_reason("a$(b)").is_some());
    assert!(roles::invalid_host_reason("").is_some());
    assert!(roles::invalid_host_reason("web\u{1b}[2J").is_some());
}

#[test]
fn restart_policies_follow_docker() {
    for valid in [
        "no",
        "always",
        "unless-stopped",
        "on-failure",
        "on-failure:3",
    ] {
        assert!(options::valid_restart_policy(valid), "{valid}");
    }
    for invalid in ["sometimes", "on-failure:", "on-failure:x", ""] {
        assert!(!options::valid_restart_policy(invalid), "{invalid}");
    }
}

#[test]
fn minimum_version_compares_numerically() {
    for (version, ok) in [
        ("2.5.0", true),
        ("2.12", true),
        ("2.12.0", true),
        ("2.12.1", false),
        ("2.100", false),
        ("3", false),
    ] {
        let text = format!("{BASE}servers: [h]\nminimum_version: \"{version}\"\n");
        let (_, _, problems) = resolve_text(&text, None);
        assert_eq!(
            !problems.has_errors(),
            ok,
            "{version}: {:?}",
            problems.errors()
        );
    }
}

#[test]
fn a_missing_destination_suppresses_empty_role_noise() {
    let text = format!("{BASE}require_destination: true\nservers:\n  web: []\n");
    let (_, _, problems) = resolve_text(&text, None);
    let codes: Vec<Code> = problems.errors().iter().map(|p| p.code).collect();
    assert_eq!(codes, vec![Code::DestinationRequired]);
    let (_, _, problems) = resolve_text(&text, Some("staging"));
    let codes: Vec<Code> = problems.errors().iter().map(|p| p.code).collect();
    assert_eq!(codes, vec![Code::PrimaryRole]);
}

#[test]
fn automatic_ssl_on_a_shared_root_proxy_is_reported_once() {
    let text = format!(
        "{BASE}servers:\n  web: [h1, h2]\n  api:\n    hosts: [h3, h4]\n    proxy: true\nproxy:\n  host: x.example.com\n  ssl: true\n"
    );
    let (_, _, problems) = resolve_text(&text, None);
    let single_server: Vec<&Problem> = problems
        .errors()
        .iter()
        .filter(|p| p.code == Code::SslHosts && p.message.contains("single server"))
        .collect();
    assert_eq!(single_server.len(), 1, "{single_server:?}");
    assert!(
        problems
            .errors()
            .iter()
            .any(|p| p.message.contains("can't share the same host"))
    );
}

#[test]
fn a_roles_proxy_run_merges_over_the_root_one_on_its_hosts_and_conflicts_are_refused() {
    let text = format!(
        "{BASE}proxy:\n  run:\n    log_max_size: 30m\nservers:\n  web: [h1]\n  api:\n    hosts: [h2]\n    proxy:\n      run:\n        http_port: 8080\n"
    );
    let (config, _, problems) = resolve_text(&text, None);
    assert!(!problems.has_errors(), "{:?}", problems.errors());
    let api = config.proxy_run_for("h2");
    assert_eq!((api.http_port, api.log_max_size.as_str()), (8080, "30m"));
    let web = config.proxy_run_for("h1");
    assert_eq!((web.http_port, web.log_max_size.as_str()), (80, "30m"));
    assert!(web.configured);

    // Without a root run, a role's own run still counts on its hosts.
    let text = format!(
        "{BASE}servers:\n  web:\n    hosts: [h1]\n    proxy:\n      run:\n        http_port: 8080\n"
    );
    let (config, _, problems) = resolve_text(&text, None);
    assert!(!problems.has_errors(), "{:?}", problems.errors());
    assert!(config.proxy_run_for("h1").configured);
    assert_eq!(config.proxy_run_for("h1").http_port, 8080);
    assert!(!config.proxy_run_for("h9").configured);

    // Two runs on one host: one kamal-proxy cannot boot both ways.
    let text = format!(
        "{BASE}servers:\n  web:\n    hosts: [h1]\n    proxy:\n      run:\n        http_port: 8080\n  api:\n    hosts: [h1]\n    proxy:\n      run:\n        http_port: 9090\n"
    );
    let (_, _, problems) = resolve_text(&text, None);
    let codes: Vec<Code> = problems.errors().iter().map(|p| p.code).collect();
    assert_eq!(
        codes,
        vec![Code::ProxyRunConflict],
        "{:?}",
        problems.errors()
    );
}
