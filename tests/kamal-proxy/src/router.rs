//! The router: the set of services, the routing table over them, and the commands that change
//! them (deploy, remove, pause, stop, resume), with the state file written after every change.
//!
//! Deploy, in kamal-proxy's order: build a balancer for the new targets; wait until all of them
//! pass their health check (unless `--force`), else fail with "target failed to become healthy
//! within configured timeout (30s)" and leave the old target serving; check that no other
//! service owns the same host and path prefix ("host settings conflict with another service");
//! swap the new balancer in under one write lock; save the state; then drain the old targets and
//! only then answer. The routing lock is never held across an await.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use serde_json::json;
use thiserror::Error;

use crate::balancer::LoadBalancer;
use crate::control::{Command, DeployRequest, Reply, ServiceSummary};
use crate::duration;
use crate::error_pages::ErrorPages;
use crate::health::HealthChecker;
use crate::log;
use crate::pause::PauseController;
use crate::rollout::RolloutController;
use crate::routes::RouteTable;
use crate::state::{self, SavedService, ServiceOptions, TargetOptions};
use crate::target::InvalidTarget;
use crate::tls::{CertError, CertManager};
use rustls::sign::CertifiedKey;

/// Why a command failed; the text is what the client prints after `Error: `.
#[derive(Debug, Error)]
pub enum RouterError {
    #[error("service not found")]
    ServiceNotFound,
    #[error("target failed to become healthy within configured timeout ({})", duration::format(*.0))]
    TargetFailedToBecomeHealthy(Duration),
    #[error("host settings conflict with another service")]
    HostInUse,
    #[error(transparent)]
    InvalidTarget(#[from] InvalidTarget),
    #[error("unable to load error pages")]
    UnableToLoadErrorPages,
    #[error("rollout target not set")]
    RolloutTargetNotSet,
    #[error(transparent)]
    Certificate(#[from] CertError),
}

/// A deployed service: where it is served, how, and its current targets.
#[derive(Clone, Debug)]
pub struct Service {
    pub name: String,
    pub options: ServiceOptions,
    pub target_options: TargetOptions,
    pub active: Arc<LoadBalancer>,
    /// `rollout deploy`'s targets; requests reach them only while a split is set.
    rollout: Option<Arc<LoadBalancer>>,
    pub pause: Arc<PauseController>,
    /// `--error-pages`, loaded when the service was deployed (or restored).
    pub error_pages: Option<Arc<ErrorPages>>,
    /// Made from the options as deployed, before the TLS rule below rewrites them.
    certificate: Option<CertManager>,
    rollout_controller: Option<RolloutController>,
}

impl Service {
    /// The targets for a request with this `kamal-rollout` cookie value.
    pub fn balancer_for(&self, rollout_cookie: Option<&str>) -> &Arc<LoadBalancer> {
        match (&self.rollout, &self.rollout_controller, rollout_cookie) {
            (Some(rollout), Some(controller), Some(value)) if controller.uses_rollout(value) => {
                rollout
            }
            _ => &self.active,
        }
    }

    /// Every balancer of the service: drains and disposals reach both groups.
    fn balancers(&self) -> impl Iterator<Item = &Arc<LoadBalancer>> {
        std::iter::once(&self.active).chain(self.rollout.as_ref())
    }

    fn saved(&self) -> SavedService {
        SavedService {
            name: self.name.clone(),
            options: self.options.clone(),
            target_options: self.target_options.clone(),
            active_targets: self.active.writer_addresses(),
            active_readers: self.active.reader_addresses(),
            rollout_targets: self
                .rollout
                .as_ref()
                .map(|rollout| rollout.writer_addresses())
                .unwrap_or_default(),
            rollout_readers: self
                .rollout
                .as_ref()
                .map(|rollout| rollout.reader_addresses())
                .unwrap_or_default(),
            pause_controller: self.pause.snapshot(),
            rollout_controller: self.rollout_controller.clone(),
            ..SavedService::default()
        }
    }
}

#[derive(Debug, Default)]
struct Table {
    services: BTreeMap<String, Arc<Service>>,
    routes: RouteTable,
}

impl Table {
    /// Rebuilds the routing table, then applies kamal-proxy's TLS rule: a service that does
    /// not serve `/` takes `tls_enabled` and `tls_redirect` from the service serving `/` on its
    /// first host, or `false`/`true` when there is none; the state file stores the result.
    fn rebuild_routes(&mut self) {
        self.routes = RouteTable::build(self.services.values().map(|service| {
            (
                service.name.as_str(),
                service.options.hosts.as_slice(),
                service.options.path_prefixes.as_slice(),
            )
        }));
        let mut inherited = Vec::new();
        for service in self.services.values() {
            if service
                .options
                .path_prefixes
                .iter()
                .any(|prefix| prefix == "/")
            {
                continue;
            }
            let host = service.options.hosts.first().map_or("", String::as_str);
            let (tls_enabled, tls_redirect) =
                self.root_service(host).map_or((false, true), |root| {
                    (root.options.tls_enabled, root.options.tls_redirect)
                });
            if (service.options.tls_enabled, service.options.tls_redirect)
                != (tls_enabled, tls_redirect)
            {
                let mut updated = Service::clone(service);
                updated.options.tls_enabled = tls_enabled;
                updated.options.tls_redirect = tls_redirect;
                inherited.push(updated);
            }
        }
        for service in inherited {
            self.services
                .insert(service.name.clone(), Arc::new(service));
        }
    }

    /// The service serving `/` for `host` (kamal-proxy's `ServiceForHost`).
    fn root_service(&self, host: &str) -> Option<&Arc<Service>> {
        let found = self.routes.lookup(host, "/")?;
        self.services.get(found.service)
    }
}

/// All services, shared by the HTTP side (lookups) and the control side (commands).
#[derive(Debug)]
pub struct Router {
    table: RwLock<Table>,
    state_path: PathBuf,
    save_lock: Mutex<()>,
    health: HealthChecker,
}

impl Router {
    /// An empty router that saves its state to `state_path`.
    pub fn new(state_path: PathBuf) -> Router {
        Router {
            table: RwLock::new(Table::default()),
            state_path,
            save_lock: Mutex::new(()),
            health: HealthChecker::default(),
        }
    }

    /// Loads the services saved by the last run; their targets count as healthy.
    pub fn restore(&self) {
        let saved = match state::load(&self.state_path) {
            Ok(Some(saved)) => saved,
            Ok(None) => {
                log::info(
                    "No previous state to restore",
                    &[("path", json!(self.state_path))],
                );
                return;
            }
            Err(error) => {
                log::error(
                    "Failed to restore saved state",
                    &[("error", json!(error.to_string()))],
                );
                return;
            }
        };
        let mut table = self.write();
        for service in saved {
            let balancer = match LoadBalancer::new(&service.active_targets, &service.active_readers)
            {
                Ok(balancer) => Arc::new(balancer),
                Err(error) => {
                    log::error(
                        "Skipping a saved service",
                        &[
                            ("service", json!(service.name)),
                            ("error", json!(error.to_string())),
                        ],
                    );
                    continue;
                }
            };
            let certificate = match CertManager::for_service(&service.options) {
                Ok(certificate) => certificate,
                Err(error) => {
                    log::error(
                        "Skipping a saved service",
                        &[
                            ("service", json!(service.name)),
                            ("error", json!(error.to_string())),
                        ],
                    );
                    continue;
                }
            };
            let rollout = if service.rollout_targets.is_empty() {
                None
            } else {
                match LoadBalancer::new(&service.rollout_targets, &service.rollout_readers) {
                    Ok(rollout) => Some(Arc::new(rollout)),
                    Err(error) => {
                        log::error(
                            "Skipping a saved rollout",
                            &[
                                ("service", json!(service.name)),
                                ("error", json!(error.to_string())),
                            ],
                        );
                        None
                    }
                }
            };
            for balancer in std::iter::once(&balancer).chain(rollout.as_ref()) {
                balancer.start_monitor(
                    self.health.clone(),
                    service.target_options.health_check_config.clone(),
                );
            }
            let error_pages = load_error_pages(&service.options.error_page_path)
                .ok()
                .flatten();
            let restored = Service {
                name: service.name.clone(),
                options: service.options,
                target_options: service.target_options,
                active: balancer,
                rollout,
                pause: Arc::new(PauseController::restore(service.pause_controller)),
                error_pages,
                certificate,
                rollout_controller: service.rollout_controller,
            };
            table.services.insert(service.name, Arc::new(restored));
        }
        table.rebuild_routes();
        log::info("Restored saved state", &[("path", json!(self.state_path))]);
    }

    /// The service for a request and the path prefix it matched on.
    pub fn route(&self, host: &str, path: &str) -> Option<(Arc<Service>, String)> {
        let table = self.read();
        let found = table.routes.lookup(host, path)?;
        let service = table.services.get(found.service)?;
        Some((Arc::clone(service), found.prefix.to_string()))
    }

    /// Runs one control command.
    pub async fn execute(&self, command: Command) -> Reply {
        let result = match command {
            Command::Deploy(request) => self.deploy(*request).await,
            Command::Remove { service } => self.remove(&service),
            Command::List => {
                return Reply::List {
                    services: self.list(),
                };
            }
            Command::Pause {
                service,
                drain_timeout,
                max_pause,
            } => self.pause(&service, drain_timeout, max_pause).await,
            Command::Stop {
                service,
                drain_timeout,
                message,
            } => self.stop(&service, drain_timeout, &message).await,
            Command::Resume { service } => self.resume(&service),
            Command::RolloutDeploy {
                service,
                targets,
                readers,
                deploy_timeout,
                drain_timeout,
            } => {
                self.rollout_deploy(&service, &targets, &readers, deploy_timeout, drain_timeout)
                    .await
            }
            Command::RolloutSet {
                service,
                percent,
                allowlist,
            } => self.rollout_set(&service, Some(RolloutController::new(percent, allowlist))),
            Command::RolloutStop { service } => self.rollout_set(&service, None),
        };
        match result {
            Ok(()) => Reply::Done,
            Err(error) => Reply::Error {
                message: error.to_string(),
            },
        }
    }

    async fn deploy(&self, request: DeployRequest) -> Result<(), RouterError> {
        let DeployRequest {
            service: name,
            targets,
            readers,
            service_options: mut options,
            target_options,
            deploy_timeout,
            drain_timeout,
            force,
        } = request;
        options.normalize();
        let error_pages = load_error_pages(&options.error_page_path)?;
        log::info(
            "Deploying",
            &[
                ("service", json!(name)),
                ("targets", json!(targets)),
                ("hosts", json!(options.hosts)),
                ("paths", json!(options.path_prefixes)),
                ("tls", json!(options.tls_enabled)),
            ],
        );
        let balancer = Arc::new(LoadBalancer::new(&targets, &readers)?);
        if !force {
            let health_check = &target_options.health_check_config;
            if !self
                .health
                .wait_until_healthy(balancer.all_targets(), health_check, deploy_timeout)
                .await
            {
                return Err(RouterError::TargetFailedToBecomeHealthy(deploy_timeout));
            }
        }
        // kamal-proxy saves its state once the swap was tried, whatever came of it.
        let installed = self.install(&name, &options, target_options, &balancer, error_pages);
        self.save();
        if let Some(old) = installed? {
            old.dispose();
            old.drain_all(drain_timeout).await;
        }
        log::info(
            "Deployed",
            &[
                ("service", json!(name)),
                ("targets", json!(targets)),
                ("hosts", json!(options.hosts)),
                ("paths", json!(options.path_prefixes)),
                ("tls", json!(options.tls_enabled)),
            ],
        );
        Ok(())
    }

    /// Checks for a conflict, makes the certificate manager, and swaps `balancer` in under one
    /// write lock; returns the balancer it replaced.
    fn install(
        &self,
        name: &str,
        options: &ServiceOptions,
        target_options: TargetOptions,
        balancer: &Arc<LoadBalancer>,
        error_pages: Option<Arc<ErrorPages>>,
    ) -> Result<Option<Arc<LoadBalancer>>, RouterError> {
        let mut table = self.write();
        if let Some(owner) = table
            .routes
            .conflict(name, &options.hosts, &options.path_prefixes)
        {
            log::error(
                "Host settings conflict with another service",
                &[("service", json!(owner))],
            );
            return Err(RouterError::HostInUse);
        }
        let certificate = CertManager::for_service(options)?;
        {
            let previous = table.services.get(name);
            let pause =
                previous.map_or_else(Default::default, |service| Arc::clone(&service.pause));
            let rollout_controller =
                previous.and_then(|service| service.rollout_controller.clone());
            let rollout = previous.and_then(|service| service.rollout.clone());
            let health_check = target_options.health_check_config.clone();
            let service = Service {
                name: name.to_string(),
                options: options.clone(),
                target_options,
                active: Arc::clone(balancer),
                rollout,
                pause,
                error_pages,
                certificate,
                rollout_controller,
            };
            let replaced = table.services.insert(name.to_string(), Arc::new(service));
            table.rebuild_routes();
            balancer.start_monitor(self.health.clone(), health_check);
            Ok(replaced.map(|service| Arc::clone(&service.active)))
        }
    }

    fn remove(&self, name: &str) -> Result<(), RouterError> {
        let removed = {
            let mut table = self.write();
            let removed = table
                .services
                .remove(name)
                .ok_or(RouterError::ServiceNotFound)?;
            table.rebuild_routes();
            removed
        };
        for balancer in removed.balancers() {
            balancer.dispose();
        }
        self.save();
        log::info("Removed", &[("service", json!(name))]);
        Ok(())
    }

    async fn pause(
        &self,
        name: &str,
        drain_timeout: Duration,
        max_pause: Duration,
    ) -> Result<(), RouterError> {
        let service = self.service(name)?;
        service.pause.pause(max_pause);
        log::info("Service paused", &[("service", json!(name))]);
        drain(&service, drain_timeout).await;
        log::info("Service drained", &[("service", json!(name))]);
        self.save();
        Ok(())
    }

    async fn stop(
        &self,
        name: &str,
        drain_timeout: Duration,
        message: &str,
    ) -> Result<(), RouterError> {
        let service = self.service(name)?;
        service.pause.stop(message);
        log::info("Service stopped", &[("service", json!(name))]);
        drain(&service, drain_timeout).await;
        log::info("Service drained", &[("service", json!(name))]);
        self.save();
        Ok(())
    }

    /// `rollout deploy`: the new rollout targets pass the health gate, replace the service's
    /// rollout group, the state is saved, and the old rollout targets drain.
    async fn rollout_deploy(
        &self,
        name: &str,
        targets: &[String],
        readers: &[String],
        deploy_timeout: Duration,
        drain_timeout: Duration,
    ) -> Result<(), RouterError> {
        let service = self.service(name)?;
        log::info(
            "Deploying for rollout",
            &[("service", json!(name)), ("targets", json!(targets))],
        );
        let balancer = Arc::new(LoadBalancer::new(targets, readers)?);
        let health_check = &service.target_options.health_check_config;
        if !self
            .health
            .wait_until_healthy(balancer.all_targets(), health_check, deploy_timeout)
            .await
        {
            return Err(RouterError::TargetFailedToBecomeHealthy(deploy_timeout));
        }
        let replaced = self.update(name, |service| {
            let replaced = service.rollout.replace(Arc::clone(&balancer));
            balancer.start_monitor(
                self.health.clone(),
                service.target_options.health_check_config.clone(),
            );
            replaced
        });
        self.save();
        if let Some(old) = replaced? {
            old.dispose();
            old.drain_all(drain_timeout).await;
        }
        log::info(
            "Deployed for rollout",
            &[("service", json!(name)), ("targets", json!(targets))],
        );
        Ok(())
    }

    /// `rollout set` (a split) and `rollout stop` (none); saved either way, as kamal-proxy does.
    fn rollout_set(
        &self,
        name: &str,
        controller: Option<RolloutController>,
    ) -> Result<(), RouterError> {
        let setting = controller.is_some();
        let result = self.update(name, |service| {
            if setting && service.rollout.is_none() {
                return Err(RouterError::RolloutTargetNotSet);
            }
            service.rollout_controller = controller;
            Ok(())
        });
        self.save();
        result??;
        log::info(
            if setting {
                "Set rollout split"
            } else {
                "Stopped rollout"
            },
            &[("service", json!(name))],
        );
        Ok(())
    }

    /// Replaces service `name` with a changed copy, under the write lock.
    fn update<T>(
        &self,
        name: &str,
        change: impl FnOnce(&mut Service) -> T,
    ) -> Result<T, RouterError> {
        let mut table = self.write();
        let current = table
            .services
            .get(name)
            .ok_or(RouterError::ServiceNotFound)?;
        let mut updated = Service::clone(current);
        let result = change(&mut updated);
        table.services.insert(name.to_string(), Arc::new(updated));
        Ok(result)
    }

    fn resume(&self, name: &str) -> Result<(), RouterError> {
        let service = self.service(name)?;
        service.pause.resume();
        self.save();
        log::info("Service resumed", &[("service", json!(name))]);
        Ok(())
    }

    /// The rows of `kamal-proxy list`, sorted by service name.
    pub fn list(&self) -> Vec<ServiceSummary> {
        self.read()
            .services
            .values()
            .map(|service| {
                let host = service.options.hosts.join(",");
                ServiceSummary {
                    name: service.name.clone(),
                    host: if host.is_empty() {
                        "*".to_string()
                    } else {
                        host
                    },
                    path: service.options.path_prefixes.join(","),
                    target: service.active.writer_addresses().join(","),
                    state: service.pause.snapshot().state.as_str().to_string(),
                    tls: service.options.tls_enabled,
                }
            })
            .collect()
    }

    /// The certificate for a TLS handshake naming `server_name` (kamal-proxy's
    /// `GetCertificate`): the one of the service serving `/` for that name; without a name, for
    /// the first host of a TLS service.
    pub fn certificate_for(&self, server_name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let table = self.read();
        let server_name = match server_name {
            Some(name) => name.to_string(),
            None => {
                let default = table
                    .services
                    .values()
                    .find(|service| service.options.tls_enabled)
                    .and_then(|service| service.options.hosts.first().cloned())
                    .filter(|host| !host.is_empty());
                let Some(default) = default else {
                    log::debug("ACME: Unable to get certificate (no server name)", &[]);
                    return None;
                };
                log::warn(
                    "No server name; using default TLS hostname",
                    &[("host", json!(default))],
                );
                default
            }
        };
        let Some(service) = table.root_service(&server_name) else {
            log::debug("ACME: Unable to get certificate (unknown server name)", &[]);
            return None;
        };
        let Some(certificate) = &service.certificate else {
            log::debug(
                "ACME: Unable to get certificate (service does not support TLS)",
                &[],
            );
            return None;
        };
        certificate.certificate()
    }

    fn service(&self, name: &str) -> Result<Arc<Service>, RouterError> {
        self.read()
            .services
            .get(name)
            .cloned()
            .ok_or(RouterError::ServiceNotFound)
    }

    fn save(&self) {
        let _serialized = self
            .save_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let services: Vec<SavedService> = self
            .read()
            .services
            .values()
            .map(|service| service.saved())
            .collect();
        match state::save(&self.state_path, &services) {
            Ok(()) => log::debug("Saved state", &[("path", json!(self.state_path))]),
            Err(error) => log::error(
                "Unable to save state",
                &[("error", json!(error.to_string()))],
            ),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Table> {
        self.table.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Table> {
        self.table.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A service's error pages: none without `--error-pages`, an error when the directory has none.
fn load_error_pages(directory: &str) -> Result<Option<Arc<ErrorPages>>, RouterError> {
    if directory.is_empty() {
        return Ok(None);
    }
    match ErrorPages::load(std::path::Path::new(directory)) {
        Some(pages) => Ok(Some(Arc::new(pages))),
        None => {
            log::error(
                "Unable to parse custom error pages",
                &[("path", json!(directory))],
            );
            Err(RouterError::UnableToLoadErrorPages)
        }
    }
}

/// Lets in-flight requests to both target groups finish, for up to `timeout`.
async fn drain(service: &Service, timeout: Duration) {
    let rollout = async {
        if let Some(rollout) = &service.rollout {
            rollout.drain_all(timeout).await;
        }
    };
    tokio::join!(service.active.drain_all(timeout), rollout);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::PauseState;

    fn is_running(service: &Service) -> bool {
        service.pause.snapshot().state == PauseState::Running
    }

    fn temp_state(test: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("standin-router-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("kamal-proxy.state")
    }

    fn forced_deploy(service: &str, target: &str, hosts: &[&str]) -> Command {
        Command::Deploy(Box::new(DeployRequest {
            service: service.into(),
            targets: vec![target.into()],
            readers: vec![],
            service_options: ServiceOptions {
                hosts: hosts.iter().map(|h| h.to_string()).collect(),
                strip_prefix: true,
                ..ServiceOptions::default()
            },
            target_options: TargetOptions::default(),
            deploy_timeout: Duration::from_secs(1),
            drain_timeout: Duration::from_secs(1),
            force: true,
        }))
    }

    fn deploy_with(service: &str, target: &str, options: ServiceOptions) -> Command {
        let Command::Deploy(mut request) = forced_deploy(service, target, &[]) else {
            unreachable!()
        };
        request.service_options = options;
        Command::Deploy(request)
    }

    fn saved_tls(path: &std::path::Path, name: &str) -> (bool, bool) {
        let saved = state::load(path).unwrap().unwrap();
        let service = saved.iter().find(|service| service.name == name).unwrap();
        (service.options.tls_enabled, service.options.tls_redirect)
    }

    /// kamal-proxy's `TestServiceMap_SyncingTLSSettingsFromRootPath`, through deploys.
    #[tokio::test]
    async fn path_prefix_services_store_their_roots_tls_settings() {
        let path = temp_state("inherit");
        let router = Router::new(path.clone());
        let options =
            |host: &str, prefix: &str, tls_enabled: bool, tls_redirect: bool| ServiceOptions {
                hosts: vec![host.into()],
                path_prefixes: vec![prefix.into()],
                tls_enabled,
                tls_redirect,
                ..ServiceOptions::default()
            };
        let api = options("1.example.com", "/api", false, true);
        assert_eq!(
            router.execute(deploy_with("api", "api:80", api)).await,
            Reply::Done
        );
        assert_eq!(saved_tls(&path, "api"), (false, true));
        // ACME for the root: no certificate path.
        let root = options("1.example.com", "/", true, false);
        assert_eq!(
            router.execute(deploy_with("root", "root:80", root)).await,
            Reply::Done
        );
        assert_eq!(saved_tls(&path, "root"), (true, false));
        assert_eq!(saved_tls(&path, "api"), (true, false));
        assert_eq!(
            router
                .execute(Command::Remove {
                    service: "root".into()
                })
                .await,
            Reply::Done
        );
        assert_eq!(saved_tls(&path, "api"), (false, true));
    }

    #[tokio::test]
    async fn certificates_are_loaded_at_deploy_and_wildcards_refuse_acme() {
        let path = temp_state("certificates");
        let router = Router::new(path.clone());
        let missing = ServiceOptions {
            hosts: vec!["a.example.com".into()],
            tls_enabled: true,
            tls_certificate_path: "/nonexistent/cert.pem".into(),
            tls_private_key_path: "/nonexistent/key.pem".into(),
            ..ServiceOptions::default()
        };
        assert_eq!(
            router.execute(deploy_with("web", "web:80", missing)).await,
            Reply::Error {
                message: "unable to load certificate".into()
            }
        );
        assert!(router.route("a.example.com", "/").is_none());
        assert_eq!(
            state::load(&path).unwrap(),
            Some(Vec::new()),
            "saved anyway"
        );

        let wildcard = ServiceOptions {
            hosts: vec!["*.example.com".into()],
            tls_enabled: true,
            ..ServiceOptions::default()
        };
        assert_eq!(
            router.execute(deploy_with("web", "web:80", wildcard)).await,
            Reply::Error {
                message: "automatic TLS does not support wildcards".into()
            }
        );
        let acme = ServiceOptions {
            hosts: vec!["a.example.com".into()],
            tls_enabled: true,
            ..ServiceOptions::default()
        };
        assert_eq!(
            router.execute(deploy_with("web", "web:80", acme)).await,
            Reply::Done
        );
        assert!(
            router.certificate_for(Some("a.example.com")).is_none(),
            "no ACME directory answers here"
        );
        assert!(router.certificate_for(Some("b.example.com")).is_none());
    }

    #[tokio::test]
    async fn deploy_routes_saves_and_conflicts() {
        let path = temp_state("deploy");
        let router = Router::new(path.clone());
        assert_eq!(
            router
                .execute(forced_deploy("web", "web-1:80", &["a.example.com"]))
                .await,
            Reply::Done
        );
        let (service, prefix) = router.route("a.example.com", "/x").unwrap();
        assert_eq!((service.name.as_str(), prefix.as_str()), ("web", "/"));
        assert!(router.route("b.example.com", "/").is_none());

        assert_eq!(
            router
                .execute(forced_deploy("other", "other-1:80", &["a.example.com"]))
                .await,
            Reply::Error {
                message: "host settings conflict with another service".into()
            }
        );
        assert_eq!(
            router
                .execute(forced_deploy("web", "web-2:80", &["a.example.com"]))
                .await,
            Reply::Done
        );
        let saved = state::load(&path).unwrap().unwrap();
        assert_eq!(saved.len(), 1);
        assert_eq!(saved[0].active_targets, ["web-2:80"]);

        let restarted = Router::new(path.clone());
        restarted.restore();
        assert_eq!(restarted.list(), router.list());
        assert_eq!(
            restarted
                .route("a.example.com", "/")
                .unwrap()
                .0
                .active
                .writer_addresses(),
            ["web-2:80"]
        );
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[tokio::test]
    async fn pause_state_survives_a_redeploy_and_a_restart() {
        let path = temp_state("pause");
        let router = Router::new(path.clone());
        router.execute(forced_deploy("web", "web-1:80", &[])).await;
        let stop = Command::Stop {
            service: "web".into(),
            drain_timeout: Duration::from_secs(1),
            message: "maintenance".into(),
        };
        assert_eq!(router.execute(stop).await, Reply::Done);
        router.execute(forced_deploy("web", "web-2:80", &[])).await;
        let (service, _) = router.route("any", "/").unwrap();
        assert!(!is_running(&service));

        let restarted = Router::new(path.clone());
        restarted.restore();
        assert_eq!(restarted.list()[0].state, "stopped");
        assert_eq!(restarted.list()[0].host, "*");
        assert_eq!(
            restarted
                .execute(Command::Resume {
                    service: "web".into()
                })
                .await,
            Reply::Done
        );
        assert_eq!(restarted.list()[0].state, "running");
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[tokio::test]
    async fn unknown_services_and_rollouts_are_errors() {
        let path = temp_state("errors");
        let router = Router::new(path.clone());
        let reply = router
            .execute(Command::Remove {
                service: "nope".into(),
            })
            .await;
        assert_eq!(
            reply,
            Reply::Error {
                message: "service not found".into()
            }
        );
        router.execute(forced_deploy("web", "web-1:80", &[])).await;
        let reply = router
            .execute(Command::RolloutSet {
                service: "web".into(),
                percent: 10,
                allowlist: Vec::new(),
            })
            .await;
        assert_eq!(
            reply,
            Reply::Error {
                message: "rollout target not set".into()
            }
        );
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn an_unhealthy_target_fails_the_deploy_and_keeps_the_old_one() {
        let path = temp_state("unhealthy");
        let router = Router::new(path.clone());
        router.execute(forced_deploy("web", "web-1:80", &[])).await;
        let Command::Deploy(mut request) = forced_deploy("web", "127.0.0.1:9", &[]) else {
            unreachable!()
        };
        request.force = false;
        request.deploy_timeout = Duration::from_secs(2);
        request.target_options.health_check_config.interval = Duration::from_millis(100);
        request.target_options.health_check_config.timeout = Duration::from_millis(100);
        request.target_options.health_check_config.path = "/up".into();
        let reply = router.execute(Command::Deploy(request)).await;
        assert_eq!(
            reply,
            Reply::Error {
                message: "target failed to become healthy within configured timeout (2s)".into()
            }
        );
        assert_eq!(router.list()[0].target, "web-1:80");
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
