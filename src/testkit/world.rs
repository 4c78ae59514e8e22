//! The one fake world every test and bench starts from: fake hosts sharing one registry (the
//! app's versions under `registry.test/<service>:<version>` and kamal-proxy) and one call meter.
//!
//! Unit tests, the integration tests and the `fake_fleet` bench all build their hosts here, so a
//! change to what a deployable image looks like (its labels, its health check) is made once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::fake_host::{CallMeter, FakeHost, FakeRegistry};
use crate::apply::Hosts;
use crate::host::Host;
use crate::model::{HealthcheckConfig, ImageDetails};
use crate::pipeline::Connections;

/// The kamal-proxy image Kamal 2 and gantry boot by default.
pub const PROXY_IMAGE: &str = "basecamp/kamal-proxy:v0.9.2";

/// The registry the app's images live in.
pub const REGISTRY: &str = "registry.test";

/// The registry user whose password [`FakeWorldBuilder::registry_password`] sets.
pub const REGISTRY_USER: &str = "deployer";

/// The image of one version of the app: labelled for `service` (as Kamal's build labels it) and
/// with a health check, so a deploy waits for it to be healthy as it would on Docker.
pub fn app_image(service: &str, version: &str) -> ImageDetails {
    ImageDetails {
        id: format!("sha256:{service}-{version}"),
        env: vec!["PATH=/bin".into()],
        cmd: vec!["/bin/server".into()],
        labels: [("service".to_string(), service.to_string())].into(),
        healthcheck: Some(HealthcheckConfig {
            test: vec!["CMD".into(), "/bin/true".into()],
            ..HealthcheckConfig::default()
        }),
        ..ImageDetails::default()
    }
}

/// kamal-proxy's image, as [`PROXY_IMAGE`] holds it.
pub fn proxy_image() -> ImageDetails {
    ImageDetails {
        id: "sha256:proxy".into(),
        cmd: vec!["kamal-proxy".into(), "run".into()],
        ..ImageDetails::default()
    }
}

/// Fake hosts, fresh, sharing one registry and one call meter.
pub struct FakeWorld {
    pub registry: FakeRegistry,
    pub hosts: BTreeMap<String, Arc<FakeHost>>,
    /// Counts the calls in flight on every host, to check parallelism limits.
    pub meter: Arc<CallMeter>,
}

/// What a [`FakeWorld`]'s registry serves and how its hosts answer.
pub struct FakeWorldBuilder {
    service: String,
    versions: Vec<String>,
    images: Vec<(String, ImageDetails)>,
    registry_password: Option<String>,
    latency: Duration,
    session_cost: Duration,
    host_latency: BTreeMap<String, Duration>,
}

impl FakeWorld {
    /// A world whose registry has `registry.test/<service>:v1` and `:v2` and kamal-proxy,
    /// pulled without credentials, and whose hosts answer at once.
    pub fn of_service(service: &str) -> FakeWorldBuilder {
        FakeWorldBuilder {
            service: service.to_string(),
            versions: vec!["v1".into(), "v2".into()],
            images: Vec::new(),
            registry_password: None,
            latency: Duration::ZERO,
            session_cost: Duration::ZERO,
            host_latency: BTreeMap::new(),
        }
    }

    /// Every host, connected, as `observe` takes them.
    pub fn connections(&self) -> Connections {
        self.hosts
            .iter()
            .map(|(name, host)| (name.clone(), Ok(host.clone() as Arc<dyn Host>)))
            .collect()
    }

    /// Every host, as the executor takes them.
    pub fn exec_hosts(&self) -> Hosts {
        self.hosts
            .iter()
            .map(|(name, host)| (name.clone(), host.clone() as Arc<dyn Host>))
            .collect()
    }
}

impl FakeWorldBuilder {
    /// The app versions the registry has (`v1`, `v2` unless set).
    pub fn versions(mut self, versions: &[&str]) -> Self {
        self.versions = versions.iter().map(|version| version.to_string()).collect();
        self
    }

    /// One more image the registry serves (an accessory's).
    pub fn image(mut self, reference: &str, image: ImageDetails) -> Self {
        self.images.push((reference.to_string(), image));
        self
    }

    /// Pulls from `registry.test/` need [`REGISTRY_USER`] and this password.
    pub fn registry_password(mut self, password: &str) -> Self {
        self.registry_password = Some(password.to_string());
        self
    }

    /// How long every host takes to answer each call.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// What every shell session costs to open on every host, on top of the latency.
    pub fn session_cost(mut self, cost: Duration) -> Self {
        self.session_cost = cost;
        self
    }

    /// How long one host takes to answer each call, instead of [`Self::latency`].
    pub fn host_latency(mut self, host: &str, latency: Duration) -> Self {
        self.host_latency.insert(host.to_string(), latency);
        self
    }

    /// The registry and these hosts, fresh.
    pub fn hosts<I, S>(self, names: I) -> FakeWorld
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let registry = FakeRegistry::default();
        for version in &self.versions {
            registry.push(
                &format!("{REGISTRY}/{}:{version}", self.service),
                app_image(&self.service, version),
            );
        }
        registry.push(PROXY_IMAGE, proxy_image());
        for (reference, image) in self.images {
            registry.push(&reference, image);
        }
        if let Some(password) = &self.registry_password {
            registry.require_auth(&format!("{REGISTRY}/"), REGISTRY_USER, password);
        }
        let meter = Arc::new(CallMeter::default());
        let hosts = names
            .into_iter()
            .map(Into::into)
            .map(|name: String| {
                let latency = self.host_latency.get(&name).copied();
                let host = FakeHost::new(name.clone(), registry.clone())
                    .with_latency(latency.unwrap_or(self.latency))
                    .with_session_cost(self.session_cost)
                    .with_meter(meter.clone());
                (name, Arc::new(host))
            })
            .collect();
        FakeWorld {
            registry,
            hosts,
            meter,
        }
    }
}
