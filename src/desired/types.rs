//! The desired state's values: per host, the app containers, accessories, proxy, files and
//! directories it should have, with everything resolved (names, labels, env, secrets).

use sha2::{Digest, Sha256};

use crate::kamal_proxy::ProxyRoute;
use crate::model::{ContainerSpec, RegistryAuth};
use crate::naming::ServiceNames;
use crate::secret::SecretBytes;

use super::DOCKER_HUB;

/// The desired state of every selected host.
#[derive(Clone, Debug)]
pub struct Desired {
    pub names: ServiceNames,
    pub version: String,
    /// `<registry>/<image>` (what `latest` and the version are tags of).
    pub repository: String,
    /// `<repository>:<version>`.
    pub image: String,
    /// `<repository>:latest[-<dest>]`.
    pub latest_image: String,
    /// Credentials for pulls from the app's registry, when it needs any.
    pub registry_auth: Option<RegistryAuth>,
    /// Stopped containers (per role) and images kept for rollback.
    pub retain_containers: usize,
    pub primary_role: String,
    /// Hosts in the configuration's order (primary role's hosts first).
    pub hosts: Vec<DesiredHost>,
    /// `.kamal/proxy/apps-config/<svc>/error_pages` when `error_pages_path` is set: older
    /// versions' pages there are removed after a deploy.
    pub error_pages_dir: Option<String>,
}

/// What one host should run.
#[derive(Clone, Debug)]
pub struct DesiredHost {
    pub name: String,
    pub apps: Vec<DesiredApp>,
    pub accessories: Vec<DesiredAccessory>,
    /// The kamal-proxy container, when any app or accessory on this host is proxied.
    pub proxy: Option<DesiredProxy>,
    /// The Docker network every container here joins.
    pub network: Option<String>,
    /// Every role deploy.yml puts on this host, selected or not: containers of other roles are
    /// orphans, containers of unselected roles are none of this run's business.
    pub configured_roles: Vec<String>,
    /// The container names of every accessory deploy.yml puts on this host, selected or not.
    pub configured_accessories: Vec<String>,
    /// `error_pages_path`'s pages, uploaded for kamal-proxy under this version's directory on
    /// every app host, as Kamal uploads them.
    pub error_pages: Vec<DesiredFile>,
}

impl DesiredHost {
    /// The settings of every route this host's apps and accessories deploy, to apply
    /// kamal-proxy's rules that read several routes at once (TLS inherited from a root route).
    pub fn route_settings_mut(&mut self) -> Vec<&mut crate::kamal_proxy::RouteSettings> {
        self.apps
            .iter_mut()
            .filter_map(|app| app.route.as_mut())
            .chain(
                self.accessories
                    .iter_mut()
                    .filter_map(|accessory| accessory.route.as_mut()),
            )
            .map(|route| &mut route.settings)
            .collect()
    }
}

/// One role's app container on one host.
#[derive(Clone, Debug)]
pub struct DesiredApp {
    pub role: String,
    pub primary: bool,
    pub container: ContainerSpec,
    /// The role's secrets env file (written even when empty, as Kamal does).
    pub env_file: DesiredFile,
    /// The route's custom TLS certificate and key (`proxy.ssl` with PEM secrets), else empty.
    pub tls_files: Vec<DesiredFile>,
    /// The route to switch to the container, for proxied roles.
    pub route: Option<ProxyRoute>,
    /// How a new container proves it is ready before the old one stops.
    pub readiness: Readiness,
    /// `docker stop -t` for the old container; `None` is Docker's default.
    pub stop_timeout: Option<u64>,
    /// Asset bridging, for proxied roles with `asset_path`.
    pub assets: Option<DesiredAssets>,
}

/// Where one role's assets go on the host (Kamal's asset bridging): the image's `asset_path`
/// is copied out to `extracted`, and `volume` (mounted over `asset_path`) holds them merged with
/// the previous version's, so requests in flight during a switch find both versions' files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredAssets {
    /// The directory in the image, without mount options (`/rails/public/assets`).
    pub asset_path: String,
    /// The short-lived container the assets are copied out of.
    pub container: String,
    /// `<app dir>/assets/extracted`, holding `<role>-<version>` directories.
    pub extracted_dir: String,
    /// `<app dir>/assets/volumes`, holding `<role>-<version>` directories.
    pub volumes_dir: String,
}

impl DesiredAssets {
    /// `<role>-<version>`: the name of a version's directory under both parents.
    pub fn entry(role: &str, version: &str) -> String {
        format!("{role}-{version}")
    }
}

/// How gantry knows a new container is ready to take over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// kamal-proxy's health-checked deploy is the gate.
    Proxy,
    /// Docker's own health check (or, without one, `running` plus `readiness_delay` seconds),
    /// waited for up to `timeout` seconds.
    Docker { timeout: u64, readiness_delay: u64 },
}

/// A file gantry keeps on a host, with a fingerprint so it can be compared without reading
/// the contents back into a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredFile {
    /// Relative to the SSH user's home.
    pub path: String,
    pub contents: SecretBytes,
    pub mode: u32,
    /// `chown`'s argument (`user`, `user:group`, numeric ids), set after every write as Kamal
    /// does for an accessory's `files:`; `None` leaves the SSH user as the owner.
    pub owner: Option<String>,
    /// SHA-256 of the contents, hex.
    pub fingerprint: String,
}

impl DesiredFile {
    /// A file with these contents and permission bits, owned by the SSH user.
    pub fn new(path: String, contents: impl Into<SecretBytes>, mode: u32) -> Self {
        let contents = contents.into();
        let fingerprint = content_fingerprint(contents.expose());
        DesiredFile {
            path,
            contents,
            mode,
            owner: None,
            fingerprint,
        }
    }

    /// The same file, handed to `owner` after it is written.
    pub fn owned_by(mut self, owner: Option<String>) -> Self {
        self.owner = owner;
        self
    }
}

/// A directory created before an accessory boots (`directories:`), with the mode and owner
/// Kamal sets on every boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredDirectory {
    /// Relative to the SSH user's home, or absolute when deploy.yml says so (`/var/lib/mysql`).
    pub path: String,
    pub mode: Option<u32>,
    pub owner: Option<String>,
}

/// The SHA-256 of some bytes, hex: how files on hosts are compared with desired contents.
pub fn content_fingerprint(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// One accessory on one host.
#[derive(Clone, Debug)]
pub struct DesiredAccessory {
    /// The key under `accessories:`.
    pub name: String,
    pub container: ContainerSpec,
    pub env_file: DesiredFile,
    /// Files uploaded from the repository (`files:`), relative to the home directory.
    pub files: Vec<DesiredFile>,
    /// Directories created before boot (`directories:`).
    pub directories: Vec<DesiredDirectory>,
    pub route: Option<ProxyRoute>,
    pub registry_auth: Option<RegistryAuth>,
}

/// The kamal-proxy container of a host.
#[derive(Clone, Debug)]
pub struct DesiredProxy {
    pub container: ContainerSpec,
    /// `.kamal/proxy/apps-config`, created before the proxy boots.
    pub apps_config_dir: String,
    /// No `proxy.run` in deploy.yml: a host's `.kamal/proxy/` boot files decide, as in Kamal.
    pub from_boot_files: bool,
    /// The app registry's credentials: Kamal logs in to it before it boots the proxy, so a proxy
    /// image on that registry (`proxy.run.registry`) is pulled with them.
    pub registry_auth: Option<RegistryAuth>,
}

impl DesiredProxy {
    /// The credentials for pulling `image`: the app registry's, when the image is on it.
    pub fn auth_for(&self, image: &str) -> Option<RegistryAuth> {
        let auth = self.registry_auth.as_ref()?;
        let first = image.split('/').next().unwrap_or_default();
        let on_a_registry =
            image.contains('/') && (first.contains(['.', ':']) || first == "localhost");
        let same = if on_a_registry {
            first == auth.server
        } else {
            auth.server == DOCKER_HUB
        };
        same.then(|| auth.clone())
    }
}
