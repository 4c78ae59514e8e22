//! Values for unit tests: a small configuration built in code, so the pure stages can be tested
//! without the loader, and its desired state.

use std::collections::BTreeMap;

use super::fake_host::details_from_spec;
use crate::config::*;
use crate::desired::{
    self, Desired, DesiredHost, DesiredInputs, Selection, content_fingerprint, expand_home,
};
use crate::host::{ContainerStatus, ImageDetails, ImageSummary};
use crate::kamal_proxy::ObservedRoute;
use crate::observe::{HostState, Observed, ObservedContainer, ObservedHost};
use crate::secret::Secret;

/// `service: app`, `image: app`, registry `registry.test`, role `web` on `hosts` with the proxy on,
/// one clear env var and one secret.
pub fn config(hosts: &[&str]) -> Config {
    let proxy = Proxy::default();
    let env = Env {
        clear: [("RAILS_ENV".to_string(), "production".to_string())].into(),
        secrets: vec![SecretEnv {
            name: "DB_PASSWORD".into(),
            key: "DB_PASSWORD".into(),
        }],
    };
    Config {
        service: "app".into(),
        destination: None,
        image: "app".into(),
        registry: Registry {
            server: Some("registry.test".into()),
            username: Some(ValueOrSecret::Value("deployer".into())),
            password: Some(ValueOrSecret::Secret("REGISTRY_PASSWORD".into())),
        },
        roles: vec![role("web", hosts, Some(proxy.clone()), env)],
        primary_role: "web".into(),
        allow_empty_roles: false,
        require_destination: false,
        accessories: Vec::new(),
        proxy: Some(proxy),
        proxy_run: ProxyRun::default(),
        host_proxy_runs: BTreeMap::new(),
        logging: Logging::default(),
        env_tags: BTreeMap::new(),
        builder: Builder {
            arch: vec!["amd64".into()],
            ..Builder::default()
        },
        ssh: Ssh::default(),
        sshkit: Sshkit::default(),
        boot: Boot::default(),
        aliases: BTreeMap::new(),
        hooks_path: ".kamal/hooks".into(),
        hooks_output: HooksOutput::default(),
        secrets_path: ".kamal/secrets".into(),
        error_pages_path: None,
        error_pages: Vec::new(),
        retain_containers: 5,
        minimum_version: None,
        readiness_delay: 7,
        deploy_timeout: 30,
        drain_timeout: 30,
        output: None,
        gantry: GantrySettings::default(),
    }
}

/// A role with default settings.
pub fn role(name: &str, hosts: &[&str], proxy: Option<Proxy>, env: Env) -> Role {
    Role {
        name: name.into(),
        hosts: hosts
            .iter()
            .map(|host| RoleHost {
                host: host.to_string(),
                tags: Vec::new(),
            })
            .collect(),
        cmd: None,
        options: DockerOptions::default(),
        restart_policy: "unless-stopped".into(),
        labels: BTreeMap::new(),
        env,
        logging: Logging::default(),
        proxy,
        asset_path: None,
        volumes: Vec::new(),
        stop_timeout: None,
    }
}

/// The secrets `config` names.
pub fn secrets() -> BTreeMap<String, Secret> {
    [
        ("DB_PASSWORD".to_string(), Secret::new("s3cret-db")),
        (
            "REGISTRY_PASSWORD".to_string(),
            Secret::new("s3cret-registry"),
        ),
        (
            "TLS_CERTIFICATE".to_string(),
            Secret::new("-----BEGIN CERTIFICATE-----\ns3cret-cert\n"),
        ),
        (
            "TLS_PRIVATE_KEY".to_string(),
            Secret::new("-----BEGIN PRIVATE KEY-----\ns3cret-key\n"),
        ),
    ]
    .into()
}

/// The desired state of `config` at `version`, for every host.
pub fn desired(config: &Config, version: &str) -> Desired {
    desired_with_secrets(config, version, &secrets())
}

/// The desired state of `config` at `version` with these secret values.
pub fn desired_with_secrets(
    config: &Config,
    version: &str,
    secrets: &BTreeMap<String, Secret>,
) -> Desired {
    let selection = Selection::default();
    let read = |_: &str| -> Result<Vec<u8>, String> { Ok(b"file contents\n".to_vec()) };
    let inputs = DesiredInputs {
        version,
        selection: &selection,
        read_local_file: &read,
        local_env: &|_| None,
    };
    desired::build(config, secrets, &inputs).expect("desired state of the test config")
}

pub fn image(id: &str, tags: &[&str]) -> ImageDetails {
    ImageDetails {
        id: id.to_string(),
        repo_tags: tags.iter().map(|tag| tag.to_string()).collect(),
        env: vec!["PATH=/usr/bin:/bin".into()],
        cmd: vec!["/bin/httpd".into()],
        labels: [("service".to_string(), "app".to_string())].into(),
        ..ImageDetails::default()
    }
}

pub fn running(
    spec: &crate::host::ContainerSpec,
    id: &str,
    image: &ImageDetails,
) -> ObservedContainer {
    let mut details = details_from_spec(spec, id, image, "2026-01-01T00:00:00Z");
    details.status = ContainerStatus::Running;
    ObservedContainer {
        details,
        image: Some(image.clone()),
    }
}

pub fn id(n: u32) -> String {
    format!("{n:0>12}{}", "f".repeat(52))
}

/// The state of `host` right after a deploy of `desired` (as Kamal or gantry leave it).
pub fn converged(desired: &Desired, host: &DesiredHost) -> HostState {
    let home = "/root";
    let app_image = image("sha256:app-v1", &[&desired.image, &desired.latest_image]);
    let mut state = HostState {
        home: home.to_string(),
        networks: vec!["bridge".into(), "kamal".into()],
        routes: Some(Vec::new()),
        ..HostState::default()
    };
    state
        .present_images
        .insert(desired.image.clone(), Some(app_image.id.clone()));
    state
        .present_images
        .insert(desired.latest_image.clone(), Some(app_image.id.clone()));
    state.service_images.push(ImageSummary {
        id: app_image.id.clone(),
        repo_tags: app_image.repo_tags.clone(),
        labels: app_image.labels.clone(),
        created: 0,
    });
    for (index, app) in host.apps.iter().enumerate() {
        let spec = expand_home(&app.container, home);
        let container = running(&spec, &id(index as u32 + 1), &app_image);
        if let (Some(route), Some(routes)) = (&app.route, state.routes.as_mut()) {
            routes.push(ObservedRoute {
                service: route.service.clone(),
                settings: route.settings.clone(),
                active_targets: vec![route.target(container.details.short_id())],
                state: crate::kamal_proxy::RouteState::Running,
                stop_message: String::new(),
            });
        }
        state.app_containers.push(container);
        for file in std::iter::once(&app.env_file).chain(&app.tls_files) {
            state.file_fingerprints.insert(
                file.path.clone(),
                Some(content_fingerprint(file.contents.expose())),
            );
        }
    }
    if let Some(proxy) = &host.proxy {
        let proxy_image = ImageDetails {
            id: "sha256:proxy".into(),
            repo_tags: vec![proxy.container.image.clone()],
            cmd: vec!["kamal-proxy".into(), "run".into()],
            ..ImageDetails::default()
        };
        state
            .present_images
            .insert(proxy.container.image.clone(), Some(proxy_image.id.clone()));
        let spec = expand_home(&proxy.container, home);
        state.proxy = Some(running(&spec, &id(900), &proxy_image));
    }
    for (index, accessory) in host.accessories.iter().enumerate() {
        let accessory_image = ImageDetails {
            id: format!("sha256:acc{index}"),
            repo_tags: vec![accessory.container.image.clone()],
            ..ImageDetails::default()
        };
        state.present_images.insert(
            accessory.container.image.clone(),
            Some(accessory_image.id.clone()),
        );
        let spec = expand_home(&accessory.container, home);
        state
            .accessories
            .push(running(&spec, &id(800 + index as u32), &accessory_image));
        for file in std::iter::once(&accessory.env_file).chain(&accessory.files) {
            state.file_fingerprints.insert(
                file.path.clone(),
                Some(content_fingerprint(file.contents.expose())),
            );
        }
    }
    state
}

pub fn observed_of(desired: &Desired) -> Observed {
    Observed {
        hosts: desired
            .hosts
            .iter()
            .map(|host| {
                (
                    host.name.clone(),
                    ObservedHost::Reachable(Box::new(converged(desired, host))),
                )
            })
            .collect(),
    }
}

pub fn state_mut<'a>(observed: &'a mut Observed, host: &str) -> &'a mut HostState {
    match observed.hosts.get_mut(host) {
        Some(ObservedHost::Reachable(state)) => state,
        _ => panic!("host {host} not reachable"),
    }
}
