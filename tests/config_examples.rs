//! Every example under examples/ loads (with each destination it has), its secrets load, and
//! every secret the configuration names has a value; the article's example loads with the
//! warnings its README promises.

use std::path::{Path, PathBuf};

use gantry::config::{LoadOptions, Loaded, SecretsOptions, load_secrets, load_with_env};

fn load_example(dir: &Path, destination: Option<&str>) -> Loaded {
    let options = LoadOptions {
        config_file: dir.join("config/deploy.yml"),
        destination: destination.map(str::to_string),
    };
    let mut loaded = load_with_env(&options, &example_env)
        .unwrap_or_else(|error| panic!("{} -d {destination:?}: {error:?}", dir.display()));
    // Secrets paths are relative to the project root; tests run from the crate root.
    loaded.config.secrets_path = dir.join(&loaded.config.secrets_path).display().to_string();
    loaded
}

/// The values `examples/testbed` reads through ERB, as `tests/testbed/testbed.sh env` prints
/// them; no other example reads the environment.
fn example_env(name: &str) -> Option<String> {
    let value = match name {
        "TESTBED_HOST_1" => "10.77.0.11",
        "TESTBED_HOST_2" => "10.77.0.12",
        "TESTBED_HOST_3" => "10.77.0.13",
        "TESTBED_REGISTRY" => "10.77.0.1:5000",
        "TESTBED_REGISTRY_USER" => "gantry",
        "TESTBED_SSH_KEY" => "/var/lib/gantry-testbed/id_ed25519",
        _ => return None,
    };
    Some(value.to_string())
}

fn destinations(dir: &Path) -> Vec<Option<String>> {
    let mut found: Vec<Option<String>> = std::fs::read_dir(dir.join("config"))
        .expect("config dir")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let middle = name.strip_prefix("deploy.")?.strip_suffix(".yml")?;
            (!middle.is_empty()).then(|| Some(middle.to_string()))
        })
        .collect();
    found.sort();
    let base = load_with_env(
        &LoadOptions {
            config_file: dir.join("config/deploy.yml"),
            destination: None,
        },
        &example_env,
    );
    if base.is_ok() || found.is_empty() {
        found.insert(0, None);
    }
    found
}

#[test]
fn every_example_loads_with_its_secrets() {
    let mut examples: Vec<PathBuf> = std::fs::read_dir("examples")
        .expect("examples")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.join("config/deploy.yml").exists())
        .collect();
    examples.sort();
    assert!(examples.len() >= 3, "{examples:?}");
    for dir in examples {
        for destination in destinations(&dir) {
            let loaded = load_example(&dir, destination.as_deref());
            let secrets = load_secrets(
                &loaded,
                &SecretsOptions {
                    allow_commands: false,
                },
            )
            .unwrap_or_else(|error| panic!("{}: {error:?}", dir.display()));
            for role in &loaded.config.roles {
                secrets.env_values(&role.env).expect("role env resolves");
            }
            secrets
                .registry_auth(&loaded.config.registry)
                .expect("registry credentials resolve");
        }
    }
}

#[test]
fn the_article_loads_with_its_two_warnings() {
    let loaded = load_example(Path::new("examples/article"), None);
    let codes: Vec<&str> = loaded.warnings.iter().map(|w| w.code.as_str()).collect();
    assert_eq!(
        codes,
        vec![
            "gantry::config::builder_arch",
            "gantry::config::kamal1_healthcheck",
        ]
    );
    let web = loaded.config.role("web").expect("web role");
    // `network: private` joins `private` besides `kamal`, as Kamal's `docker run` does.
    assert_eq!(
        web.options.0,
        vec![(
            "network".to_string(),
            gantry::config::DockerOptionValue::Value("private".to_string())
        )]
    );
    let proxy = web.proxy.as_ref().expect("web runs the proxy");
    assert_eq!(proxy.healthcheck.path.as_deref(), Some("/up"));
    assert_eq!(proxy.healthcheck.interval, Some(3));
    assert_eq!(proxy.app_port, 3000);
    assert!(
        loaded
            .config
            .role("workers")
            .expect("workers")
            .proxy
            .is_none()
    );
    assert_eq!(loaded.config.accessories.len(), 2);
}

#[test]
fn multi_role_destinations_merge_over_the_base_file() {
    let staging = load_example(Path::new("examples/multi-role"), Some("staging"));
    let production = load_example(Path::new("examples/multi-role"), Some("production"));
    let names: Vec<&str> = production
        .config
        .roles
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(names, vec!["web", "api", "jobs"]);
    assert_eq!(staging.config.role("web").expect("web").hosts.len(), 1);
    assert_eq!(production.config.role("web").expect("web").hosts.len(), 3);
    assert_eq!(production.config.retain_containers, 10);
    assert_eq!(staging.config.retain_containers, 5);
    let api = production
        .config
        .role("api")
        .expect("api")
        .proxy
        .clone()
        .expect("api proxy");
    assert_eq!(api.app_port, 4000);
    assert_eq!(api.path_prefixes, vec!["/api".to_string()]);
    assert_eq!(api.hosts, vec!["api.shop.example.com".to_string()]);
    let redis = production
        .config
        .accessories
        .iter()
        .find(|a| a.name == "redis")
        .expect("redis");
    assert_eq!(
        redis.hosts,
        vec![
            "jobs-1.acme.internal".to_string(),
            "jobs-2.acme.internal".to_string()
        ]
    );
}
