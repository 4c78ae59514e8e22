//! Kamal's names, labels and host paths: the compatibility contract.
//!
//! A host deployed by Kamal must read back as "no changes" and a host deployed by gantry must
//! look to Kamal as if Kamal had deployed it, so every name below is exactly Kamal 2's
//! (see `specs/naming.md`). gantry adds labels and files of its own (prefixed `gantry.` and kept
//! under `.kamal/apps/<service>/gantry/`) and never changes one of Kamal's.

use crate::config::Config;

/// The Docker network every app container, accessory and the proxy join.
pub const NETWORK: &str = "kamal";
/// The kamal-proxy container's name.
pub const PROXY_CONTAINER: &str = "kamal-proxy";
/// The named volume holding kamal-proxy's state file.
pub const PROXY_CONFIG_VOLUME: &str = "kamal-proxy-config";
/// Where that volume is mounted inside the proxy container.
pub const PROXY_CONFIG_MOUNT: &str = "/home/kamal-proxy/.config/kamal-proxy";
/// kamal-proxy's state file, inside the proxy container.
pub const PROXY_STATE_FILE: &str = "/home/kamal-proxy/.config/kamal-proxy/kamal-proxy.state";
/// That state file's path inside [`PROXY_CONFIG_VOLUME`].
pub const PROXY_STATE_FILE_IN_VOLUME: &str = "kamal-proxy.state";
/// Where `.kamal/proxy/apps-config` is mounted inside the proxy container (Kamal 2.6+).
pub const PROXY_APPS_CONFIG_MOUNT: &str = "/home/kamal-proxy/.apps-config";
/// The host directory mounted there, relative to the SSH user's home.
pub const PROXY_APPS_CONFIG_DIR: &str = ".kamal/proxy/apps-config";
/// Kamal's legacy proxy boot files (`kamal proxy boot_config set`), relative to the SSH user's
/// home, in the order `ProxyBootFiles` holds them: docker run options, image, image version, run
/// command.
pub const PROXY_BOOT_FILES: [&str; 4] = [
    ".kamal/proxy/options",
    ".kamal/proxy/image",
    ".kamal/proxy/image_version",
    ".kamal/proxy/run_command",
];
/// The file inside Kamal's lock directory that says who holds it (base64).
pub const LOCK_DETAILS_FILE: &str = "details";
/// The lock details' permission bits, as Kamal leaves them (readable by `kamal lock status`).
pub const LOCK_DETAILS_MODE: u32 = 0o644;
/// The image label that kamal-proxy's release images carry; Kamal prunes old proxies by it.
pub const PROXY_IMAGE_TITLE_LABEL: &str = "org.opencontainers.image.title";

/// The label naming the service (`service=<svc>`, or `<svc>-<accessory>` on accessories).
pub const LABEL_SERVICE: &str = "service";
/// The label naming the role of an app container.
pub const LABEL_ROLE: &str = "role";
/// The label naming the destination; present with an empty value when there is none.
pub const LABEL_DESTINATION: &str = "destination";
/// gantry's own label: the id of the run that created a container (interrupted-run detection).
pub const LABEL_GANTRY_RUN: &str = "gantry.run";
/// The prefix of every label gantry adds and Kamal does not know.
pub const GANTRY_LABEL_PREFIX: &str = "gantry.";

/// The names of one service (and destination) on a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceNames {
    service: String,
    destination: Option<String>,
}

impl ServiceNames {
    /// Names for a service and an optional destination.
    pub fn new(service: impl Into<String>, destination: Option<String>) -> Self {
        ServiceNames {
            service: service.into(),
            destination,
        }
    }

    /// Names for the service a configuration deploys.
    pub fn for_config(config: &Config) -> Self {
        ServiceNames::new(config.service.clone(), config.destination.clone())
    }

    /// The service name.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The destination, if any.
    pub fn destination(&self) -> Option<&str> {
        self.destination.as_deref()
    }

    /// `<svc>[-<dest>]`: the app directory, lock and audit log are named after it.
    pub fn service_with_destination(&self) -> String {
        match &self.destination {
            Some(destination) => format!("{}-{}", self.service, destination),
            None => self.service.clone(),
        }
    }

    /// `<svc>-<role>[-<dest>]`: the container prefix, which is also the kamal-proxy service name.
    pub fn container_prefix(&self, role: &str) -> String {
        match &self.destination {
            Some(destination) => format!("{}-{}-{}", self.service, role, destination),
            None => format!("{}-{}", self.service, role),
        }
    }

    /// `<svc>-<role>[-<dest>]-<version>`.
    pub fn app_container(&self, role: &str, version: &str) -> String {
        format!("{}-{}", self.container_prefix(role), version)
    }

    /// The version in an app container's name, when the name belongs to this role.
    pub fn version_of<'a>(&self, role: &str, container_name: &'a str) -> Option<&'a str> {
        let prefix = self.container_prefix(role);
        container_name
            .strip_prefix(prefix.as_str())
            .and_then(|rest| rest.strip_prefix('-'))
            .filter(|version| !version.is_empty())
    }

    /// The route name kamal-proxy knows a role by.
    pub fn proxy_service(&self, role: &str) -> String {
        self.container_prefix(role)
    }

    /// `key=value` filters that find this service's app containers, as Kamal's lookups do.
    pub fn app_filters(&self, role: Option<&str>) -> Vec<String> {
        let mut filters = vec![
            format!("{LABEL_SERVICE}={}", self.service),
            format!(
                "{LABEL_DESTINATION}={}",
                self.destination.as_deref().unwrap_or("")
            ),
        ];
        if let Some(role) = role {
            filters.push(format!("{LABEL_ROLE}={role}"));
        }
        filters
    }

    /// `<repo>:latest` or `<repo>:latest-<dest>`.
    pub fn latest_tag(&self) -> String {
        match &self.destination {
            Some(destination) => format!("latest-{destination}"),
            None => "latest".to_string(),
        }
    }

    /// `.kamal/apps/<svc[-dest]>`: kept while the app is deployed (Kamal counts these to decide
    /// whether the proxy is still in use).
    pub fn app_dir(&self) -> String {
        format!(".kamal/apps/{}", self.service_with_destination())
    }

    /// The secrets env file of a role (0600).
    pub fn role_env_file(&self, role: &str) -> String {
        format!("{}/env/roles/{role}.env", self.app_dir())
    }

    /// The secrets env file of an accessory (0600).
    pub fn accessory_env_file(&self, accessory: &str) -> String {
        format!("{}/env/accessories/{accessory}.env", self.app_dir())
    }

    /// `<app dir>/assets/extracted`: each `<role>-<version>` in it holds one image's assets, as
    /// `docker cp` took them out (Kamal's `asset_extracted_directory`).
    pub fn assets_extracted_dir(&self) -> String {
        format!("{}/assets/extracted", self.app_dir())
    }

    /// `<app dir>/assets/volumes`: each `<role>-<version>` in it is mounted over `asset_path`
    /// and holds that version's assets merged with its neighbours' (Kamal's
    /// `asset_volume_directory`).
    pub fn assets_volumes_dir(&self) -> String {
        format!("{}/assets/volumes", self.app_dir())
    }

    /// `<svc>-<role>[-<dest>]-assets`: the short-lived container assets are copied out of.
    pub fn assets_container(&self, role: &str) -> String {
        format!("{}-assets", self.container_prefix(role))
    }

    /// `.kamal/proxy/apps-config/<svc[-dest]>/error_pages`: one directory per version of the
    /// `4xx.html`/`5xx.html` pages kamal-proxy serves.
    pub fn error_pages_dir(&self) -> String {
        format!("{}/error_pages", self.proxy_apps_config_dir())
    }

    /// The deploy lock directory, on the primary host only.
    pub fn lock_dir(&self) -> String {
        format!(".kamal/lock-{}", self.service_with_destination())
    }

    /// The lock's details file (base64).
    pub fn lock_details(&self) -> String {
        format!("{}/{LOCK_DETAILS_FILE}", self.lock_dir())
    }

    /// The audit log on each host.
    pub fn audit_log(&self) -> String {
        format!(".kamal/{}-audit.log", self.service_with_destination())
    }

    /// This app's directory under the proxy's apps-config mount.
    pub fn proxy_apps_config_dir(&self) -> String {
        format!(
            "{PROXY_APPS_CONFIG_DIR}/{}",
            self.service_with_destination()
        )
    }

    /// Where a role's custom TLS certificate and key live on the host (`proxy.ssl` with PEMs).
    pub fn role_tls_dir(&self, role: &str) -> String {
        format!("{}/tls/{role}", self.proxy_apps_config_dir())
    }

    /// gantry's own directory for this app: the journal of the last run lives there.
    pub fn gantry_dir(&self) -> String {
        format!("{}/gantry", self.app_dir())
    }

    /// gantry's journal: what the last run intended and how far it got.
    pub fn journal(&self) -> String {
        format!("{}/journal.json", self.gantry_dir())
    }
}

/// Kamal's container hostname: the host name cut to 51 characters without a trailing dot, then
/// `-` and 12 hex digits that make it unique.
pub fn container_hostname(host: &str, unique_hex: &str) -> String {
    let mut base: String = host.chars().take(51).collect();
    while base.ends_with('.') {
        base.pop();
    }
    format!("{base}-{unique_hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_without_destination() {
        let names = ServiceNames::new("app", None);
        assert_eq!(names.container_prefix("web"), "app-web");
        assert_eq!(names.app_container("web", "999"), "app-web-999");
        assert_eq!(names.proxy_service("web"), "app-web");
        assert_eq!(names.app_dir(), ".kamal/apps/app");
        assert_eq!(
            names.role_env_file("web"),
            ".kamal/apps/app/env/roles/web.env"
        );
        assert_eq!(
            names.accessory_env_file("mysql"),
            ".kamal/apps/app/env/accessories/mysql.env"
        );
        assert_eq!(names.lock_dir(), ".kamal/lock-app");
        assert_eq!(names.lock_details(), ".kamal/lock-app/details");
        assert_eq!(names.audit_log(), ".kamal/app-audit.log");
        assert_eq!(names.latest_tag(), "latest");
        assert_eq!(
            names.app_filters(Some("web")),
            vec!["service=app", "destination=", "role=web"]
        );
        assert_eq!(
            names.proxy_apps_config_dir(),
            ".kamal/proxy/apps-config/app"
        );
    }

    #[test]
    fn names_with_destination() {
        let names = ServiceNames::new("app", Some("staging".into()));
        assert_eq!(names.container_prefix("web"), "app-web-staging");
        assert_eq!(names.app_container("web", "abc"), "app-web-staging-abc");
        assert_eq!(names.lock_dir(), ".kamal/lock-app-staging");
        assert_eq!(names.audit_log(), ".kamal/app-staging-audit.log");
        assert_eq!(names.latest_tag(), "latest-staging");
        assert_eq!(
            names.app_filters(None),
            vec!["service=app", "destination=staging"]
        );
    }

    #[test]
    fn version_is_what_follows_the_prefix() {
        let names = ServiceNames::new("app", None);
        assert_eq!(names.version_of("web", "app-web-999"), Some("999"));
        assert_eq!(
            names.version_of("web", "app-web-999_replaced_0123456789abcdef"),
            Some("999_replaced_0123456789abcdef")
        );
        assert_eq!(names.version_of("web", "app-workers-999"), None);
        assert_eq!(names.version_of("web", "app-web-"), None);
        assert_eq!(names.version_of("web", "app-webby"), None);
    }

    #[test]
    fn hostname_is_cut_to_51_characters_without_trailing_dot() {
        assert_eq!(
            container_hostname("10.0.0.1", "0123456789ab"),
            "10.0.0.1-0123456789ab"
        );
        let long = format!("{}.example.com", "a".repeat(50));
        let hostname = container_hostname(&long, "0123456789ab");
        assert_eq!(hostname, format!("{}-0123456789ab", "a".repeat(50)));
    }
}
