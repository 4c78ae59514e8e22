use super::selection::wildcard_match;
use super::*;
use crate::config::{Accessory, DockerOptionValue, DockerOptions, Env};
use crate::model::EnvValue;
use crate::testing;

#[test]
fn app_container_matches_kamals_docker_run() {
    let config = testing::config(&["10.0.0.1"]);
    let desired = testing::desired(&config, "abc123");
    assert_eq!(desired.image, "registry.test/app:abc123");
    assert_eq!(desired.latest_image, "registry.test/app:latest");
    let host = &desired.hosts[0];
    assert_eq!(host.name, "10.0.0.1");
    assert_eq!(host.network.as_deref(), Some("kamal"));
    assert!(host.proxy.is_some());
    let app = &host.apps[0];
    let spec = &app.container;
    assert_eq!(spec.name, "app-web-abc123");
    assert_eq!(spec.image, "registry.test/app:abc123");
    assert_eq!(spec.network.as_deref(), Some("kamal"));
    assert_eq!(spec.restart_policy.name, "unless-stopped");
    assert_eq!(
        spec.log_config.options.get("max-size").map(String::as_str),
        Some("10m")
    );
    let labels: Vec<(&str, &str)> = spec
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        labels,
        vec![("destination", ""), ("role", "web"), ("service", "app")]
    );
    let clear = |name: &str| match spec.env.get(name) {
        Some(EnvValue::Clear(value)) => value.clone(),
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(clear("KAMAL_CONTAINER_NAME"), "app-web-abc123");
    assert_eq!(clear("KAMAL_VERSION"), "abc123");
    assert_eq!(clear("KAMAL_HOST"), "10.0.0.1");
    assert_eq!(clear("RAILS_ENV"), "production");
    assert!(!spec.env.contains_key("KAMAL_DESTINATION"));
    assert!(matches!(
        spec.env.get("DB_PASSWORD"),
        Some(EnvValue::Secret(_))
    ));
    assert!(spec.hostname.as_deref().unwrap().starts_with("10.0.0.1-"));
    assert_eq!(
        spec.hostname.as_deref().unwrap().len(),
        "10.0.0.1-".len() + 12
    );
    assert_eq!(app.env_file.path, ".kamal/apps/app/env/roles/web.env");
    assert_eq!(app.env_file.contents.expose(), b"DB_PASSWORD=s3cret-db\n");
    assert_eq!(app.env_file.mode, 0o600);
    assert_eq!(app.readiness, Readiness::Proxy);
    assert_eq!(app.stop_timeout, None);
    assert_eq!(app.route.as_ref().unwrap().service, "app-web");
    let auth = desired.registry_auth.as_ref().unwrap();
    assert_eq!(auth.server, "registry.test");
    assert_eq!(auth.username, "deployer");
    assert_eq!(auth.password.expose(), "s3cret-registry");
}

#[test]
fn building_twice_gives_the_same_specs() {
    let config = testing::config(&["a", "b"]);
    let first = testing::desired(&config, "v1");
    let second = testing::desired(&config, "v1");
    for (one, two) in first.hosts.iter().zip(&second.hosts) {
        assert_eq!(one.apps[0].container, two.apps[0].container);
    }
    assert_ne!(
        first.hosts[0].apps[0].container.hostname,
        first.hosts[1].apps[0].container.hostname
    );
}

#[test]
fn destination_adds_kamal_destination_and_suffixes() {
    let mut config = testing::config(&["h"]);
    config.destination = Some("staging".into());
    let desired = testing::desired(&config, "v1");
    let app = &desired.hosts[0].apps[0];
    assert_eq!(app.container.name, "app-web-staging-v1");
    assert_eq!(
        app.container.labels.get("destination").map(String::as_str),
        Some("staging")
    );
    assert!(app.container.env.contains_key("KAMAL_DESTINATION"));
    assert_eq!(
        app.env_file.path,
        ".kamal/apps/app-staging/env/roles/web.env"
    );
    assert_eq!(desired.latest_image, "registry.test/app:latest-staging");
    assert_eq!(app.route.as_ref().unwrap().service, "app-web-staging");
}

#[test]
fn non_proxy_role_waits_on_docker_and_stops_with_drain_timeout() {
    let mut config = testing::config(&["h1"]);
    let mut workers = testing::role("workers", &["h2"], None, Env::default());
    workers.cmd = Some("bin/jobs --queue 'a b'".into());
    workers.options = DockerOptions(vec![(
        "memory".into(),
        DockerOptionValue::Value("1g".into()),
    )]);
    config.roles.push(workers);
    let desired = testing::desired(&config, "v1");
    let h2 = desired.hosts.iter().find(|host| host.name == "h2").unwrap();
    assert!(h2.proxy.is_none());
    let app = &h2.apps[0];
    assert_eq!(
        app.readiness,
        Readiness::Docker {
            timeout: 30,
            readiness_delay: 7
        }
    );
    assert_eq!(app.stop_timeout, Some(30));
    assert_eq!(
        app.container.cmd,
        Some(vec!["bin/jobs".into(), "--queue".into(), "a b".into()])
    );
    assert_eq!(app.container.options.memory, Some(1 << 30));
    assert_eq!(app.env_file.contents.expose(), b"\n");
}

#[test]
fn selection_filters_hosts_and_roles_with_wildcards() {
    let config = testing::config(&["web-1", "web-2", "db-1"]);
    let selection = Selection {
        hosts: vec!["web-*".into()],
        roles: Vec::new(),
    };
    let read = |_: &str| -> Result<Vec<u8>, String> { Ok(Vec::new()) };
    let inputs = DesiredInputs {
        version: "v1",
        selection: &selection,
        read_local_file: &read,
        local_env: &|_| None,
    };
    let desired = build(&config, &testing::secrets(), &inputs).unwrap();
    let names: Vec<&str> = desired.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, vec!["web-1", "web-2"]);
    assert!(wildcard_match("*", "anything"));
    assert!(wildcard_match("a*c*e", "abcde"));
    assert!(!wildcard_match("a*c", "abd"));
}

#[test]
fn missing_secret_is_an_error_naming_it() {
    let config = testing::config(&["h"]);
    let selection = Selection::default();
    let read = |_: &str| -> Result<Vec<u8>, String> { Ok(Vec::new()) };
    let inputs = DesiredInputs {
        version: "v1",
        selection: &selection,
        read_local_file: &read,
        local_env: &|_| None,
    };
    let secrets: std::collections::BTreeMap<String, Secret> = Default::default();
    let error = build(&config, &secrets, &inputs).unwrap_err();
    assert!(error.to_string().contains("DB_PASSWORD"), "{error}");
}

#[test]
fn accessory_gets_service_label_volumes_and_port() {
    let mut config = testing::config(&["h1"]);
    config.accessories.push(Accessory {
        name: "db".into(),
        service: "app-db".into(),
        image: "postgres:16".into(),
        registry: None,
        hosts: vec!["h2".into()],
        cmd: None,
        ports: vec!["127.0.0.1:5432:5432".into()],
        labels: Default::default(),
        options: DockerOptions::default(),
        restart_policy: "unless-stopped".into(),
        env: Env::default(),
        files: vec![crate::config::AccessoryMount {
            local: "config/init.sql".into(),
            remote: "/docker-entrypoint-initdb.d/init.sql".into(),
            mode: None,
            owner: None,
            options: Some("ro".into()),
        }],
        directories: vec![crate::config::AccessoryMount {
            local: "data".into(),
            remote: "/var/lib/postgresql/data".into(),
            mode: None,
            owner: None,
            options: None,
        }],
        volumes: vec!["/backups:/backups".into()],
        network: "kamal".into(),
        proxy: None,
    });
    let desired = testing::desired(&config, "v1");
    let h2 = desired.hosts.iter().find(|host| host.name == "h2").unwrap();
    assert!(h2.apps.is_empty());
    assert_eq!(h2.network.as_deref(), Some("kamal"));
    let db = &h2.accessories[0];
    assert_eq!(db.container.name, "app-db");
    assert_eq!(db.container.labels.len(), 1);
    assert_eq!(
        db.container.binds,
        vec![
            "/backups:/backups",
            "$PWD/app-db/docker-entrypoint-initdb.d/init.sql:/docker-entrypoint-initdb.d/init.sql:ro",
            "$PWD/app-db/data:/var/lib/postgresql/data",
        ]
    );
    assert_eq!(db.container.ports[0].host_port, "5432");
    assert_eq!(
        db.files[0].path,
        "app-db/docker-entrypoint-initdb.d/init.sql"
    );
    assert_eq!(db.files[0].mode, 0o755);
    assert_eq!(db.directories[0].path, "app-db/data");
    assert_eq!(db.env_file.path, ".kamal/apps/app/env/accessories/db.env");
    assert!(db.registry_auth.is_none());
}

#[test]
fn proxy_container_matches_kamals_boot() {
    let config = testing::config(&["h"]);
    let desired = testing::desired(&config, "v1");
    let proxy = desired.hosts[0].proxy.as_ref().unwrap();
    let spec = &proxy.container;
    assert_eq!(spec.name, "kamal-proxy");
    assert_eq!(spec.image, "basecamp/kamal-proxy:v0.9.2");
    assert_eq!(spec.cmd, None, "legacy boot runs the image's own command");
    assert_eq!(
        spec.binds,
        vec![
            "kamal-proxy-config:/home/kamal-proxy/.config/kamal-proxy",
            "$PWD/.kamal/proxy/apps-config:/home/kamal-proxy/.apps-config",
        ]
    );
    let ports: Vec<(&str, &str)> = spec
        .ports
        .iter()
        .map(|p| (p.host_port.as_str(), p.container_port.as_str()))
        .collect();
    assert_eq!(ports, vec![("80", "80/tcp"), ("443", "443/tcp")]);
}

#[test]
fn assets_are_bridged_only_for_proxied_roles_and_error_pages_go_to_every_app_host() {
    let mut config = testing::config(&["h1"]);
    config.destination = Some("staging".into());
    let asset_path = Some("/rails/public/assets:ro".to_string());
    config.roles[0].asset_path = asset_path.clone();
    let mut workers = testing::role("workers", &["h2"], None, Env::default());
    workers.asset_path = asset_path;
    config.roles.push(workers);
    config.error_pages_path = Some("public".into());
    config.error_pages = vec!["public/404.html".into(), "public/5xx.html".into()];
    let selection = Selection::default();
    let read = |path: &str| -> Result<Vec<u8>, String> { Ok(format!("page {path}").into_bytes()) };
    let inputs = DesiredInputs {
        version: "v1",
        selection: &selection,
        read_local_file: &read,
        local_env: &|_| None,
    };
    let desired = build(&config, &testing::secrets(), &inputs).unwrap();
    let web = &desired.hosts[0].apps[0];
    assert_eq!(
        web.assets,
        Some(DesiredAssets {
            asset_path: "/rails/public/assets".into(),
            container: "app-web-staging-assets".into(),
            extracted_dir: ".kamal/apps/app-staging/assets/extracted".into(),
            volumes_dir: ".kamal/apps/app-staging/assets/volumes".into(),
        })
    );
    assert!(web.container.binds.contains(
        &"$PWD/.kamal/apps/app-staging/assets/volumes/web-v1:/rails/public/assets:ro".to_string()
    ));
    // Kamal bridges assets only where the proxy serves them.
    let workers = &desired.hosts[1].apps[0];
    assert_eq!(workers.assets, None);
    assert!(
        !workers
            .container
            .binds
            .iter()
            .any(|bind| bind.contains("assets"))
    );

    assert_eq!(
        desired.error_pages_dir.as_deref(),
        Some(".kamal/proxy/apps-config/app-staging/error_pages")
    );
    for host in &desired.hosts {
        let pages: Vec<(&str, &[u8], u32)> = host
            .error_pages
            .iter()
            .map(|page| (page.path.as_str(), page.contents.expose(), page.mode))
            .collect();
        assert_eq!(
            pages,
            [
                (
                    ".kamal/proxy/apps-config/app-staging/error_pages/v1/404.html",
                    b"page public/404.html".as_slice(),
                    0o644
                ),
                (
                    ".kamal/proxy/apps-config/app-staging/error_pages/v1/5xx.html",
                    b"page public/5xx.html".as_slice(),
                    0o644
                ),
            ],
            "{}",
            host.name
        );
    }
}

#[test]
fn volumes_read_home_as_the_hosts_shell_does() {
    let cases = [
        (
            "~/storage:/rails/storage",
            "/home/deploy/storage:/rails/storage",
        ),
        ("~", "/home/deploy"),
        ("$HOME/data:/data:ro", "/home/deploy/data:/data:ro"),
        ("${HOME}/data:/data", "/home/deploy/data:/data"),
        (
            "$PWD/app-db/data:/var/lib/mysql",
            "/home/deploy/app-db/data:/var/lib/mysql",
        ),
        ("/srv/x:${PWD}", "/srv/x:/home/deploy"),
        ("$HOME/a/$HOME", "/home/deploy/a//home/deploy"),
        // Not the home directory: left for the user to notice.
        ("~other/data:/data", "~other/data:/data"),
        ("~:/data", "~:/data"),
        ("/data/~/x:/x", "/data/~/x:/x"),
        ("$HOMEDIR/x:/x", "$HOMEDIR/x:/x"),
        ("${HOME:-/x}/y:/y", "${HOME:-/x}/y:/y"),
        ("$USER/x:/x", "$USER/x:/x"),
        ("data:/var/lib/data", "data:/var/lib/data"),
        ("x$:/y$", "x$:/y$"),
    ];
    for (written, expanded) in cases {
        assert_eq!(
            crate::desired::expand_home_in_word(written, "/home/deploy"),
            expanded,
            "{written}"
        );
    }
}

#[test]
fn custom_certificates_go_where_kamal_uploads_them() {
    let mut config = testing::config(&["10.0.0.1"]);
    config.destination = Some("staging".into());
    if let Some(proxy) = config.roles[0].proxy.as_mut() {
        proxy.ssl = crate::config::Ssl::Custom {
            certificate_pem: "TLS_CERTIFICATE".into(),
            private_key_pem: "TLS_PRIVATE_KEY".into(),
        };
    }
    let desired = testing::desired(&config, "abc123");
    let app = &desired.hosts[0].apps[0];
    let files: Vec<(&str, u32, &[u8])> = app
        .tls_files
        .iter()
        .map(|file| (file.path.as_str(), file.mode, file.contents.expose()))
        .collect();
    assert_eq!(
        files,
        [
            (
                ".kamal/proxy/apps-config/app-staging/tls/web/cert.pem",
                0o644,
                b"-----BEGIN CERTIFICATE-----\ns3cret-cert\n".as_slice()
            ),
            (
                ".kamal/proxy/apps-config/app-staging/tls/web/key.pem",
                0o644,
                b"-----BEGIN PRIVATE KEY-----\ns3cret-key\n".as_slice()
            ),
        ]
    );
    let route = app.route.as_ref().expect("a proxied role");
    assert_eq!(
        route.settings.tls_certificate_path,
        "/home/kamal-proxy/.apps-config/app-staging/tls/web/cert.pem"
    );

    let mut secrets = testing::secrets();
    secrets.remove("TLS_PRIVATE_KEY");
    let selection = Selection::default();
    let read = |_: &str| -> Result<Vec<u8>, String> { Ok(Vec::new()) };
    let inputs = DesiredInputs {
        version: "abc123",
        selection: &selection,
        read_local_file: &read,
        local_env: &|_| None,
    };
    let error = build(&config, &secrets, &inputs).expect_err("a PEM secret is missing");
    assert_eq!(
        error.to_string(),
        "secret `TLS_PRIVATE_KEY` (for env var proxy.ssl.private_key_pem) is not set in any \
         .kamal/secrets file"
    );
}

#[test]
fn automatic_tls_and_accessories_write_no_certificate_files() {
    let mut config = testing::config(&["10.0.0.1"]);
    if let Some(proxy) = config.roles[0].proxy.as_mut() {
        proxy.ssl = crate::config::Ssl::Automatic;
    }
    let desired = testing::desired(&config, "abc123");
    assert!(desired.hosts[0].apps[0].tls_files.is_empty());
}

#[test]
fn a_path_prefixed_role_reads_back_with_its_hosts_root_tls() {
    let mut config = testing::config(&["10.0.0.1"]);
    let mut root = config.roles[0].proxy.clone().expect("a proxied role");
    root.hosts = vec!["app.example.com".into()];
    root.ssl = crate::config::Ssl::Automatic;
    root.ssl_redirect = Some(false);
    let mut api = root.clone();
    api.ssl = crate::config::Ssl::Off;
    api.ssl_redirect = None;
    api.path_prefixes = vec!["/api".into()];
    config.roles[0].proxy = Some(root);
    let mut api_role = testing::role("api", &["10.0.0.1"], Some(api), Env::default());
    api_role.env = Env::default();
    config.roles.push(api_role);

    let desired = testing::desired(&config, "abc123");
    let settings: Vec<(&str, bool, bool)> = desired.hosts[0]
        .apps
        .iter()
        .map(|app| {
            let route = app.route.as_ref().expect("proxied");
            (
                app.role.as_str(),
                route.settings.tls_enabled,
                route.settings.tls_redirect,
            )
        })
        .collect();
    assert_eq!(settings, [("web", true, false), ("api", true, false)]);
    let api_route = desired.hosts[0].apps[1].route.as_ref().expect("proxied");
    let args = crate::kamal_proxy::deploy_args(api_route, "0123456789ab");
    assert!(!args.iter().any(|arg| arg.starts_with("--tls")), "{args:?}");
}
