//! Desired state: what every host should run, from the configuration and a version.
//!
//! `build(config, secrets, version)` is a pure function. For each host it lists the app
//! container of each role with Kamal's exact name, labels, env, options and logging; the env
//! file each container reads; the kamal-proxy route of each proxied role; the accessories; and
//! whether the host needs the `kamal` network and the proxy. Paths under the SSH user's home are
//! written with `$PWD`, as Kamal writes them; the diff expands them with the home directory it
//! observed.
//!
//! Nothing here looks at a host: two builds from the same inputs are equal.

mod accessory;
mod accessory_files;
mod app;
pub mod env;
mod error_pages;
mod proxy_boot_files;
mod proxy_container;
mod selection;
mod tls;
mod types;

use sha2::{Digest, Sha256};

use crate::config::{Config, Registry, ValueOrSecret};
use crate::docker_args::DockerArgError;
use crate::model::{ContainerSpec, RegistryAuth};
use crate::naming::ServiceNames;
use crate::secret::Secret;

pub use env::{MissingSecret, SecretValues};
pub use proxy_boot_files::{BootFilesError, ProxyBootFiles, boot_defaults};
pub use proxy_container::proxy_for_host;
pub use selection::Selection;
pub use types::*;

/// Why the desired state cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum DesiredError {
    #[error(transparent)]
    MissingSecret(#[from] MissingSecret),
    #[error("role `{role}`: {source}")]
    RoleOptions {
        role: String,
        #[source]
        source: DockerArgError,
    },
    #[error("accessory `{accessory}`: {source}")]
    AccessoryOptions {
        accessory: String,
        #[source]
        source: DockerArgError,
    },
    #[error("proxy.run.options: {0}")]
    ProxyOptions(#[source] DockerArgError),
    #[error("accessory `{accessory}` file `{path}` could not be read: {message}")]
    AccessoryFile {
        accessory: String,
        path: String,
        message: String,
    },
    #[error("error page `{path}` could not be read: {message}")]
    ErrorPage { path: String, message: String },
    #[error("accessory `{accessory}` template `{path}`, line {line}: {message}")]
    AccessoryTemplate {
        accessory: String,
        path: String,
        line: usize,
        message: String,
    },
    #[error(
        "accessory `{accessory}` `{path}`: mode `{mode}` is not an octal mode (gantry sets modes \
         by number, such as 0644 or 755)"
    )]
    AccessoryMode {
        accessory: String,
        path: String,
        mode: String,
    },
}

/// Inputs that are not part of the configuration.
pub struct DesiredInputs<'a> {
    pub version: &'a str,
    pub selection: &'a Selection,
    /// Reads a local file named by an accessory's `files:` (relative to the project).
    pub read_local_file: &'a dyn Fn(&str) -> Result<Vec<u8>, String>,
    /// The deploying machine's environment: what an accessory's `.erb` file reads besides the
    /// accessory's own env, as Kamal's `ENV` does.
    pub local_env: &'a dyn Fn(&str) -> Option<String>,
}

/// Docker Hub's address in credentials, used when `registry.server` is not set.
const DOCKER_HUB: &str = "https://index.docker.io/v1/";

/// The credentials a registry section names, `None` when it sets no username.
pub fn registry_auth(
    registry: &Registry,
    secrets: &dyn SecretValues,
) -> Result<Option<RegistryAuth>, MissingSecret> {
    let resolve = |value: &ValueOrSecret, field: &str| -> Result<Secret, MissingSecret> {
        match value {
            ValueOrSecret::Value(value) => Ok(Secret::new(value.clone())),
            ValueOrSecret::Secret(key) => {
                secrets.secret(key).cloned().ok_or_else(|| MissingSecret {
                    name: format!("registry.{field}"),
                    key: key.clone(),
                })
            }
        }
    };
    let (Some(username), Some(password)) = (&registry.username, &registry.password) else {
        return Ok(None);
    };
    Ok(Some(RegistryAuth {
        server: registry
            .server
            .clone()
            .unwrap_or_else(|| DOCKER_HUB.to_string()),
        username: resolve(username, "username")?.expose().to_string(),
        password: resolve(password, "password")?,
    }))
}

/// Builds the desired state of every selected host.
pub fn build(
    config: &Config,
    secrets: &dyn SecretValues,
    inputs: &DesiredInputs<'_>,
) -> Result<Desired, DesiredError> {
    let names = ServiceNames::for_config(config);
    let repository = config.repository();
    let mut hosts: Vec<DesiredHost> = Vec::new();
    let host_entry = |hosts: &mut Vec<DesiredHost>, name: &str| -> usize {
        if let Some(index) = hosts.iter().position(|host| host.name == name) {
            return index;
        }
        hosts.push(DesiredHost {
            name: name.to_string(),
            apps: Vec::new(),
            accessories: Vec::new(),
            proxy: None,
            network: None,
            configured_roles: Vec::new(),
            configured_accessories: Vec::new(),
            error_pages: Vec::new(),
        });
        hosts.len() - 1
    };

    for role in &config.roles {
        if !inputs.selection.includes_role(&role.name) {
            continue;
        }
        for role_host in &role.hosts {
            if !inputs.selection.includes_host(&role_host.host) {
                continue;
            }
            let app = app::desired_app(config, &names, role, role_host, secrets, inputs)?;
            let index = host_entry(&mut hosts, &role_host.host);
            hosts[index].apps.push(app);
        }
    }
    // Accessories belong to no role: a --roles filter leaves them out, as Kamal's does.
    if inputs.selection.roles.is_empty() {
        for accessory in &config.accessories {
            for host in &accessory.hosts {
                if !inputs.selection.includes_host(host) {
                    continue;
                }
                let desired =
                    accessory::desired_accessory(config, &names, accessory, host, secrets, inputs)?;
                let index = host_entry(&mut hosts, host);
                hosts[index].accessories.push(desired);
            }
        }
    }
    let error_pages = error_pages::desired_error_pages(config, &names, inputs)?;
    for host in &mut hosts {
        if !host.apps.is_empty() {
            host.error_pages = error_pages.clone();
        }
        host.configured_roles = config
            .roles
            .iter()
            .filter(|role| role.hosts.iter().any(|h| h.host == host.name))
            .map(|role| role.name.clone())
            .collect();
        host.configured_accessories = config
            .accessories
            .iter()
            .filter(|accessory| accessory.hosts.contains(&host.name))
            .map(|accessory| accessory.service.clone())
            .collect();
        crate::kamal_proxy::inherit_root_tls(&mut host.route_settings_mut());
        let proxied = host.apps.iter().any(|app| app.route.is_some())
            || host.accessories.iter().any(|acc| acc.route.is_some());
        if proxied {
            let mut proxy = proxy_container::desired_proxy(config.proxy_run_for(&host.name))?;
            proxy.registry_auth = registry_auth(&config.registry, secrets)?;
            host.proxy = Some(proxy);
        }
        let needs_network = !host.apps.is_empty()
            || proxied
            || host
                .accessories
                .iter()
                .any(|acc| acc.container.network.as_deref() == Some(crate::naming::NETWORK));
        if needs_network {
            host.network = Some(crate::naming::NETWORK.to_string());
        }
    }

    let error_pages_dir = config
        .error_pages_path
        .as_ref()
        .map(|_| names.error_pages_dir());
    Ok(Desired {
        error_pages_dir,
        image: format!("{repository}:{}", inputs.version),
        latest_image: format!("{repository}:{}", names.latest_tag()),
        repository,
        names,
        version: inputs.version.to_string(),
        registry_auth: registry_auth(&config.registry, secrets)?,
        retain_containers: config.retain_containers as usize,
        primary_role: config.primary_role.clone(),
        hosts,
    })
}

/// 12 hex digits derived from the host and container name: the unique suffix of Kamal's container
/// hostname. Kamal draws it at random; a derived one keeps desired state a pure function.
fn hostname_suffix(host: &str, container_name: &str) -> String {
    let digest = Sha256::digest(format!("{host}\0{container_name}").as_bytes());
    hex::encode(&digest[..6])
}

#[cfg(test)]
mod tests;

/// The spec with its volumes read as the host's shell reads them: Kamal hands `volumes:` to a
/// shell unquoted (`--volume ~/storage:/rails/storage`), so a leading `~`, `$HOME`, `${HOME}`,
/// `$PWD` and `${PWD}` (Kamal's own spelling of the home directory, where SSH commands start)
/// all become the home directory observed on the host. Other shell syntax passes as written.
pub fn expand_home(spec: &ContainerSpec, home: &str) -> ContainerSpec {
    let mut spec = spec.clone();
    let home = home.trim_end_matches('/');
    for bind in &mut spec.binds {
        *bind = expand_home_in_word(bind, home);
    }
    spec
}

/// One shell word with the home directory's spellings expanded: a leading `~` that is the whole
/// word or is followed by `/` (the shell's tilde prefix; `~user` and `~:` are left alone), and `$HOME`,
/// `${HOME}`, `$PWD`, `${PWD}` anywhere, unless `$HOME` runs on into a longer name (`$HOMEDIR`).
pub fn expand_home_in_word(word: &str, home: &str) -> String {
    let mut rest = word;
    let mut out = String::with_capacity(word.len());
    if let Some(after) = rest.strip_prefix('~')
        && (after.is_empty() || after.starts_with('/'))
    {
        out.push_str(home);
        rest = after;
    }
    while let Some(index) = rest.find('$') {
        out.push_str(&rest[..index]);
        let after = &rest[index + 1..];
        let expanded = ["HOME", "PWD"].iter().find_map(|name| {
            if let Some(tail) = after
                .strip_prefix('{')
                .and_then(|braced| braced.strip_prefix(name))
                .and_then(|braced| braced.strip_prefix('}'))
            {
                return Some(tail);
            }
            let tail = after.strip_prefix(name)?;
            let runs_on = tail
                .chars()
                .next()
                .is_some_and(|next| next.is_ascii_alphanumeric() || next == '_');
            (!runs_on).then_some(tail)
        });
        match expanded {
            Some(tail) => {
                out.push_str(home);
                rest = tail;
            }
            None => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}
