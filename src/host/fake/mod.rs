//! The in-memory host: a faithful [`Host`] without a machine behind it.
//!
//! It keeps containers, images, networks, files and a kamal-proxy's routes in memory and
//! answers every [`Host`] call as Docker, sshd and kamal-proxy would, so the whole pipeline
//! (observe, diff, plan, apply) runs against it unchanged. It serves fast tests and scale
//! simulation (hundreds of hosts, with latency per call); it never stands in where the test bed
//! can run the real thing.
//!
//! Faults are injected per operation ([`FaultRule`]): a failing call, a dropped connection (the
//! host stays unreachable until healed), or a call that never answers in time.

mod docker;
mod proxy;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use crate::host::{
    CommandOutput, ContainerDetails, ContainerFilter, ContainerSpec, ContainerStatus,
    ContainerSummary, Host, HostError, ImageDetails, ImageSummary, RegistryAuth,
};
use crate::naming::PROXY_CONTAINER;
use crate::proxy::RouteState;

pub use docker::details_from_spec;
pub use proxy::FakeRoute;

/// Images a fake registry can serve, shared by every fake host of a test.
#[derive(Clone, Debug, Default)]
pub struct FakeRegistry {
    images: Arc<Mutex<BTreeMap<String, ImageDetails>>>,
    /// `(reference prefix, username, password)`: pulls of references under the prefix need
    /// these credentials; others are anonymous.
    credentials: Arc<Mutex<Option<(String, String, String)>>>,
}

impl FakeRegistry {
    /// Publishes an image under a reference (`registry.test/app:v1`).
    pub fn push(&self, reference: &str, image: ImageDetails) {
        lock(&self.images).insert(reference.to_string(), image);
    }

    /// Makes pulls of references starting with `prefix` require these credentials.
    pub fn require_auth(&self, prefix: &str, username: &str, password: &str) {
        *lock(&self.credentials) = Some((
            prefix.to_string(),
            username.to_string(),
            password.to_string(),
        ));
    }

    fn pull(&self, reference: &str, auth: Option<&RegistryAuth>) -> Result<ImageDetails, String> {
        let credentials = lock(&self.credentials).clone();
        if let Some((_, username, password)) =
            credentials.filter(|(prefix, _, _)| reference.starts_with(prefix.as_str()))
        {
            let accepted = auth.is_some_and(|auth| {
                auth.username == username && auth.password.expose() == password
            });
            if !accepted {
                return Err(format!("pull access denied for {reference}: unauthorized"));
            }
        }
        lock(&self.images)
            .get(reference)
            .cloned()
            .ok_or_else(|| format!("manifest for {reference} not found: manifest unknown"))
    }
}

/// A [`Host`] call, named for fault injection and call logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    HomeDir,
    ListContainers,
    InspectContainer,
    InspectImage,
    ListImages,
    ListNetworks,
    CreateNetwork,
    PullImage,
    TagImage,
    RemoveImage,
    CreateContainer,
    StartContainer,
    StopContainer,
    RemoveContainer,
    RenameContainer,
    ExecInContainer,
    ReadContainerFile,
    ContainerLogs,
    ReadFiles,
    WriteFile,
    AppendLine,
    CreateDirExclusive,
    RemovePath,
    RunCommand,
}

/// What an injected fault does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The call fails with this message; the host stays reachable.
    Fail(String),
    /// The connection drops: this call and every later one fail until [`FakeHost::heal`].
    Disconnect,
    /// The call does not answer before its deadline.
    Timeout,
}

/// When to inject a fault.
#[derive(Clone, Debug)]
pub struct FaultRule {
    pub operation: Operation,
    /// Only calls whose argument (container name or id, image, path, argv) contains this.
    pub matching: Option<String>,
    pub fault: Fault,
    /// How many matching calls fail; `None` is every one.
    pub times: Option<usize>,
}

impl FaultRule {
    /// Every call of `operation` fails with `fault`.
    pub fn always(operation: Operation, fault: Fault) -> Self {
        FaultRule {
            operation,
            matching: None,
            fault,
            times: None,
        }
    }

    /// Only the next matching call fails.
    pub fn once(operation: Operation, fault: Fault) -> Self {
        FaultRule {
            times: Some(1),
            ..FaultRule::always(operation, fault)
        }
    }

    /// Only calls whose argument contains `text`.
    pub fn matching(mut self, text: impl Into<String>) -> Self {
        self.matching = Some(text.into());
        self
    }
}

#[derive(Debug, Default)]
struct Engine {
    containers: BTreeMap<String, ContainerDetails>,
    /// Unix-ish seconds of creation, for `docker ps` order.
    created: BTreeMap<String, i64>,
    images: BTreeMap<String, ImageDetails>,
    networks: BTreeSet<String>,
    files: BTreeMap<String, (Vec<u8>, u32)>,
    directories: BTreeSet<String>,
    routes: Vec<FakeRoute>,
    clock: i64,
    next_id: u64,
}

/// An in-memory host.
#[derive(Debug)]
pub struct FakeHost {
    name: String,
    home: String,
    registry: FakeRegistry,
    latency: Duration,
    engine: Mutex<Engine>,
    faults: Mutex<Vec<FaultRule>>,
    disconnected: Mutex<bool>,
    calls: Mutex<Vec<(Operation, String)>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    meter: Option<Arc<CallMeter>>,
}

/// Counts calls in flight over several fake hosts, for tests of global parallelism.
#[derive(Debug, Default)]
pub struct CallMeter {
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl CallMeter {
    /// The most calls that were in flight at once, over every host sharing this meter.
    pub fn max_concurrent_calls(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl FakeHost {
    /// A fresh host (Docker installed, nothing running) that pulls from `registry`.
    pub fn new(name: impl Into<String>, registry: FakeRegistry) -> Self {
        let mut engine = Engine::default();
        engine
            .networks
            .extend(["bridge", "host", "none"].map(String::from));
        FakeHost {
            name: name.into(),
            home: "/root".to_string(),
            registry,
            latency: Duration::ZERO,
            engine: Mutex::new(engine),
            faults: Mutex::new(Vec::new()),
            disconnected: Mutex::new(false),
            calls: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            meter: None,
        }
    }

    /// Counts this host's calls on a meter shared with other hosts.
    pub fn with_meter(mut self, meter: Arc<CallMeter>) -> Self {
        self.meter = Some(meter);
        self
    }

    /// Every call waits this long first (network and engine time).
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Adds a fault rule.
    pub fn inject(&self, rule: FaultRule) {
        lock(&self.faults).push(rule);
    }

    /// Removes every fault rule and reconnects.
    pub fn heal(&self) {
        lock(&self.faults).clear();
        *lock(&self.disconnected) = false;
    }

    /// Drops the connection until [`FakeHost::heal`].
    pub fn disconnect(&self) {
        *lock(&self.disconnected) = true;
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<(Operation, String)> {
        lock(&self.calls).clone()
    }

    /// The most calls that were in flight at once.
    pub fn max_concurrent_calls(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    /// Every container, by name.
    pub fn containers(&self) -> BTreeMap<String, ContainerDetails> {
        lock(&self.engine)
            .containers
            .values()
            .map(|container| (container.name.clone(), container.clone()))
            .collect()
    }

    /// The proxy's routes.
    pub fn routes(&self) -> Vec<FakeRoute> {
        lock(&self.engine).routes.clone()
    }

    /// A file's contents and mode.
    pub fn file(&self, path: &str) -> Option<(Vec<u8>, u32)> {
        lock(&self.engine).files.get(path).cloned()
    }

    /// The image id a reference names on this host.
    pub fn image_id(&self, reference: &str) -> Option<String> {
        let engine = lock(&self.engine);
        find_image(&engine, reference).map(|image| image.id.clone())
    }

    /// Changes a container as someone with `docker` on the host might (for drift tests).
    pub fn tamper(&self, name: &str, change: impl FnOnce(&mut ContainerDetails)) {
        let mut engine = lock(&self.engine);
        if let Some(container) = engine.containers.values_mut().find(|c| c.name == name) {
            change(container);
        }
    }

    /// Removes a route behind gantry's back.
    pub fn drop_route(&self, service: &str) {
        lock(&self.engine)
            .routes
            .retain(|route| route.service != service);
    }

    /// Records the call, applies latency and faults.
    async fn call(&self, operation: Operation, argument: &str) -> Result<CallGuard<'_>, HostError> {
        lock(&self.calls).push((operation, argument.to_string()));
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        if let Some(meter) = &self.meter {
            let now = meter.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            meter.max_in_flight.fetch_max(now, Ordering::SeqCst);
        }
        let guard = CallGuard { host: self };
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        if *lock(&self.disconnected) {
            return Err(self.unreachable());
        }
        let fault = {
            let mut faults = lock(&self.faults);
            let position = faults.iter().position(|rule| {
                rule.operation == operation
                    && rule
                        .matching
                        .as_deref()
                        .is_none_or(|text| argument.contains(text))
            });
            position.map(|index| {
                let fault = faults[index].fault.clone();
                if let Some(times) = &mut faults[index].times {
                    *times -= 1;
                    if *times == 0 {
                        faults.remove(index);
                    }
                }
                fault
            })
        };
        match fault {
            None => Ok(guard),
            Some(Fault::Fail(message)) => Err(HostError::Docker {
                host: self.name.clone(),
                message,
            }),
            Some(Fault::Disconnect) => {
                *lock(&self.disconnected) = true;
                Err(self.unreachable())
            }
            Some(Fault::Timeout) => Err(HostError::Timeout {
                host: self.name.clone(),
                operation: format!("{operation:?}"),
                seconds: 30,
            }),
        }
    }

    fn unreachable(&self) -> HostError {
        HostError::Unreachable {
            host: self.name.clone(),
            message: "connection lost".to_string(),
        }
    }

    fn docker_error(&self, message: impl Into<String>) -> HostError {
        HostError::Docker {
            host: self.name.clone(),
            message: message.into(),
        }
    }
}

/// Counts a call as in flight until dropped.
struct CallGuard<'a> {
    host: &'a FakeHost,
}

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        self.host.in_flight.fetch_sub(1, Ordering::SeqCst);
        if let Some(meter) = &self.host.meter {
            meter.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn find_image<'a>(engine: &'a Engine, reference: &str) -> Option<&'a ImageDetails> {
    engine.images.get(reference).or_else(|| {
        engine
            .images
            .values()
            .find(|image| image.repo_tags.iter().any(|tag| tag == reference))
    })
}

fn find_container_id(engine: &Engine, id_or_name: &str) -> Option<String> {
    engine
        .containers
        .values()
        .find(|c| c.name == id_or_name || c.id == id_or_name || c.id.starts_with(id_or_name))
        .map(|c| c.id.clone())
}

fn label_matches(container: &ContainerDetails, filter: &str) -> bool {
    match filter.split_once('=') {
        Some((key, value)) => container.labels.get(key).map(String::as_str) == Some(value),
        None => container.labels.contains_key(filter),
    }
}

fn has_healthcheck(container: &ContainerDetails, image: Option<&ImageDetails>) -> bool {
    let check = container
        .options
        .healthcheck
        .as_ref()
        .or_else(|| image.and_then(|image| image.healthcheck.as_ref()));
    check.is_some_and(|check| check.test.first().map(String::as_str) != Some("NONE"))
}

#[async_trait]
impl Host for FakeHost {
    fn name(&self) -> &str {
        &self.name
    }

    async fn home_dir(&self) -> Result<String, HostError> {
        let _call = self.call(Operation::HomeDir, "").await?;
        Ok(self.home.clone())
    }

    async fn list_containers(
        &self,
        filter: &ContainerFilter,
    ) -> Result<Vec<ContainerSummary>, HostError> {
        let _call = self
            .call(Operation::ListContainers, &filter.labels.join(","))
            .await?;
        let engine = lock(&self.engine);
        let mut summaries: Vec<ContainerSummary> = engine
            .containers
            .values()
            .filter(|c| filter.labels.iter().all(|label| label_matches(c, label)))
            .filter(|c| filter.name.as_ref().is_none_or(|name| &c.name == name))
            .map(|c| ContainerSummary {
                id: c.id.clone(),
                name: c.name.clone(),
                image: c.image.clone(),
                image_id: c.image_id.clone(),
                labels: c.labels.clone(),
                state: c.status,
                created: engine.created.get(&c.id).copied().unwrap_or_default(),
            })
            .collect();
        summaries.sort_by_key(|summary| std::cmp::Reverse(summary.created));
        Ok(summaries)
    }

    async fn inspect_container(
        &self,
        id_or_name: &str,
    ) -> Result<Option<ContainerDetails>, HostError> {
        let _call = self.call(Operation::InspectContainer, id_or_name).await?;
        let engine = lock(&self.engine);
        Ok(find_container_id(&engine, id_or_name)
            .and_then(|id| engine.containers.get(&id).cloned()))
    }

    async fn inspect_image(&self, reference: &str) -> Result<Option<ImageDetails>, HostError> {
        let _call = self.call(Operation::InspectImage, reference).await?;
        Ok(find_image(&lock(&self.engine), reference).cloned())
    }

    async fn list_images(&self, label: Option<&str>) -> Result<Vec<ImageSummary>, HostError> {
        let _call = self
            .call(Operation::ListImages, label.unwrap_or(""))
            .await?;
        let engine = lock(&self.engine);
        Ok(engine
            .images
            .values()
            .filter(|image| {
                label.is_none_or(|label| match label.split_once('=') {
                    Some((key, value)) => image.labels.get(key).map(String::as_str) == Some(value),
                    None => image.labels.contains_key(label),
                })
            })
            .map(|image| ImageSummary {
                id: image.id.clone(),
                repo_tags: image.repo_tags.clone(),
                labels: image.labels.clone(),
                created: 0,
            })
            .collect())
    }

    async fn list_networks(&self) -> Result<Vec<String>, HostError> {
        let _call = self.call(Operation::ListNetworks, "").await?;
        Ok(lock(&self.engine).networks.iter().cloned().collect())
    }

    async fn create_network(&self, name: &str) -> Result<(), HostError> {
        let _call = self.call(Operation::CreateNetwork, name).await?;
        lock(&self.engine).networks.insert(name.to_string());
        Ok(())
    }

    async fn pull_image(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
    ) -> Result<(), HostError> {
        let _call = self.call(Operation::PullImage, reference).await?;
        let image = self
            .registry
            .pull(reference, auth)
            .map_err(|message| self.docker_error(message))?;
        let mut engine = lock(&self.engine);
        // A tag moves to the pulled image, as in Docker.
        for other in engine.images.values_mut() {
            other.repo_tags.retain(|tag| tag != reference);
        }
        let entry = engine.images.entry(image.id.clone()).or_insert(image);
        if !entry.repo_tags.iter().any(|tag| tag == reference) {
            entry.repo_tags.push(reference.to_string());
        }
        Ok(())
    }

    async fn tag_image(&self, source: &str, target: &str) -> Result<(), HostError> {
        let _call = self
            .call(Operation::TagImage, &format!("{source} {target}"))
            .await?;
        let mut engine = lock(&self.engine);
        let id = find_image(&engine, source)
            .map(|image| image.id.clone())
            .ok_or_else(|| self.docker_error(format!("No such image: {source}")))?;
        for image in engine.images.values_mut() {
            image.repo_tags.retain(|tag| tag != target);
        }
        if let Some(image) = engine.images.get_mut(&id) {
            image.repo_tags.push(target.to_string());
        }
        Ok(())
    }

    async fn remove_image(&self, reference: &str, force: bool) -> Result<(), HostError> {
        let _call = self.call(Operation::RemoveImage, reference).await?;
        let mut engine = lock(&self.engine);
        let Some(id) = find_image(&engine, reference).map(|image| image.id.clone()) else {
            return Err(self.docker_error(format!("No such image: {reference}")));
        };
        let in_use = engine.containers.values().any(|c| c.image_id == id);
        let Some(image) = engine.images.get_mut(&id) else {
            return Ok(());
        };
        if image.repo_tags.len() > 1 && reference != id {
            image.repo_tags.retain(|tag| tag != reference);
            return Ok(());
        }
        if in_use && !force {
            return Err(self.docker_error(format!(
                "conflict: unable to remove repository reference \"{reference}\" (must force) - container is using its referenced image"
            )));
        }
        engine.images.remove(&id);
        Ok(())
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, HostError> {
        let _call = self.call(Operation::CreateContainer, &spec.name).await?;
        let mut engine = lock(&self.engine);
        if engine.containers.values().any(|c| c.name == spec.name) {
            return Err(self.docker_error(format!(
                "Conflict. The container name \"/{}\" is already in use",
                spec.name
            )));
        }
        let image = find_image(&engine, &spec.image)
            .cloned()
            .ok_or_else(|| self.docker_error(format!("No such image: {}", spec.image)))?;
        if let Some(network) = &spec.network
            && !engine.networks.contains(network)
        {
            return Err(self.docker_error(format!("network {network} not found")));
        }
        engine.next_id += 1;
        engine.clock += 1;
        // Distinct from the first character on, as Docker's random ids are: the 12-character
        // short id must tell containers apart.
        let id = crate::desired::content_fingerprint(
            format!("{}/{}", self.name, engine.next_id).as_bytes(),
        );
        let created = format!("2026-01-01T00:00:{:02}Z", engine.clock % 60);
        let details = docker::details_from_spec(spec, &id, &image, &created);
        let clock = engine.clock;
        engine.created.insert(id.clone(), clock);
        engine.containers.insert(id.clone(), details);
        Ok(id)
    }

    async fn start_container(&self, id_or_name: &str) -> Result<(), HostError> {
        let _call = self.call(Operation::StartContainer, id_or_name).await?;
        let mut engine = lock(&self.engine);
        let id = find_container_id(&engine, id_or_name)
            .ok_or_else(|| self.docker_error(format!("No such container: {id_or_name}")))?;
        engine.clock += 1;
        let now = format!("2026-01-01T00:01:{:02}Z", engine.clock % 60);
        let image = engine
            .containers
            .get(&id)
            .and_then(|c| engine.images.get(&c.image_id))
            .cloned();
        if let Some(container) = engine.containers.get_mut(&id) {
            let check = has_healthcheck(container, image.as_ref());
            docker::start(container, check, &now);
        }
        Ok(())
    }

    async fn stop_container(
        &self,
        id_or_name: &str,
        _timeout: Option<Duration>,
    ) -> Result<(), HostError> {
        let _call = self.call(Operation::StopContainer, id_or_name).await?;
        let mut engine = lock(&self.engine);
        let id = find_container_id(&engine, id_or_name)
            .ok_or_else(|| self.docker_error(format!("No such container: {id_or_name}")))?;
        if let Some(container) = engine.containers.get_mut(&id) {
            container.status = ContainerStatus::Exited;
            container.exit_code = Some(0);
            container.health = None;
        }
        Ok(())
    }

    async fn remove_container(&self, id_or_name: &str) -> Result<(), HostError> {
        let _call = self.call(Operation::RemoveContainer, id_or_name).await?;
        let mut engine = lock(&self.engine);
        let id = find_container_id(&engine, id_or_name)
            .ok_or_else(|| self.docker_error(format!("No such container: {id_or_name}")))?;
        engine.containers.remove(&id);
        engine.created.remove(&id);
        Ok(())
    }

    async fn rename_container(&self, id_or_name: &str, new_name: &str) -> Result<(), HostError> {
        let _call = self.call(Operation::RenameContainer, id_or_name).await?;
        let mut engine = lock(&self.engine);
        if engine.containers.values().any(|c| c.name == new_name) {
            return Err(self.docker_error(format!("name {new_name} is already in use")));
        }
        let id = find_container_id(&engine, id_or_name)
            .ok_or_else(|| self.docker_error(format!("No such container: {id_or_name}")))?;
        if let Some(container) = engine.containers.get_mut(&id) {
            container.name = new_name.to_string();
        }
        Ok(())
    }

    async fn exec_in_container(
        &self,
        container: &str,
        argv: &[String],
    ) -> Result<CommandOutput, HostError> {
        let _call = self
            .call(
                Operation::ExecInContainer,
                &format!("{container} {}", argv.join(" ")),
            )
            .await?;
        let mut engine = lock(&self.engine);
        let id = find_container_id(&engine, container)
            .ok_or_else(|| self.docker_error(format!("No such container: {container}")))?;
        let running = engine
            .containers
            .get(&id)
            .is_some_and(|c| c.status == ContainerStatus::Running);
        if !running {
            return Err(self.docker_error(format!("container {container} is not running")));
        }
        if container != PROXY_CONTAINER || argv.first().map(String::as_str) != Some("kamal-proxy") {
            return Ok(CommandOutput::default());
        }
        Ok(run_proxy_command(&mut engine, &argv[1..]))
    }

    async fn read_container_file(
        &self,
        container: &str,
        path: &str,
    ) -> Result<Option<Vec<u8>>, HostError> {
        let _call = self.call(Operation::ReadContainerFile, path).await?;
        let engine = lock(&self.engine);
        if find_container_id(&engine, container).is_none() {
            return Err(self.docker_error(format!("No such container: {container}")));
        }
        if container == PROXY_CONTAINER && path == crate::naming::PROXY_STATE_FILE {
            return Ok(Some(proxy::state_json(&engine.routes)));
        }
        Ok(None)
    }

    async fn container_logs(&self, container: &str, _tail: usize) -> Result<String, HostError> {
        let _call = self.call(Operation::ContainerLogs, container).await?;
        Ok(String::new())
    }

    async fn read_files(
        &self,
        paths: &[String],
    ) -> Result<BTreeMap<String, Option<Vec<u8>>>, HostError> {
        let _call = self.call(Operation::ReadFiles, &paths.join(",")).await?;
        let engine = lock(&self.engine);
        Ok(paths
            .iter()
            .map(|path| {
                (
                    path.clone(),
                    engine.files.get(path).map(|(bytes, _)| bytes.clone()),
                )
            })
            .collect())
    }

    async fn write_file(&self, path: &str, contents: &[u8], mode: u32) -> Result<(), HostError> {
        let _call = self.call(Operation::WriteFile, path).await?;
        lock(&self.engine)
            .files
            .insert(path.to_string(), (contents.to_vec(), mode));
        Ok(())
    }

    async fn append_line(&self, path: &str, line: &str) -> Result<(), HostError> {
        let _call = self.call(Operation::AppendLine, path).await?;
        let mut engine = lock(&self.engine);
        let entry = engine
            .files
            .entry(path.to_string())
            .or_insert_with(|| (Vec::new(), 0o644));
        entry.0.extend_from_slice(line.as_bytes());
        entry.0.push(b'\n');
        Ok(())
    }

    async fn create_dir_exclusive(&self, path: &str) -> Result<bool, HostError> {
        let _call = self.call(Operation::CreateDirExclusive, path).await?;
        Ok(lock(&self.engine).directories.insert(path.to_string()))
    }

    async fn remove_path(&self, path: &str) -> Result<(), HostError> {
        let _call = self.call(Operation::RemovePath, path).await?;
        let mut engine = lock(&self.engine);
        let prefix = format!("{}/", path.trim_end_matches('/'));
        engine
            .files
            .retain(|file, _| file != path && !file.starts_with(&prefix));
        engine
            .directories
            .retain(|dir| dir != path && !dir.starts_with(&prefix));
        Ok(())
    }

    async fn run_command(&self, command: &str) -> Result<CommandOutput, HostError> {
        let _call = self.call(Operation::RunCommand, command).await?;
        // The one script gantry itself runs is the directory check of observe.
        let engine = lock(&self.engine);
        let mut stdout = String::new();
        for part in command.split("if [ -d ").skip(1) {
            let quoted = part.split(" ]").next().unwrap_or_default();
            let path = shlex::split(quoted)
                .and_then(|mut words| words.pop())
                .unwrap_or_default();
            let exists = engine.directories.contains(&path);
            stdout.push_str(if exists { "y\n" } else { "n\n" });
        }
        Ok(CommandOutput {
            exit_code: 0,
            stdout,
            stderr: String::new(),
        })
    }
}

/// Runs one `kamal-proxy` command against the fake proxy's routes.
fn run_proxy_command(engine: &mut Engine, args: &[String]) -> CommandOutput {
    match args.first().map(String::as_str) {
        Some("deploy") => {
            let command = match proxy::parse_deploy(&args[1..]) {
                Ok(command) => command,
                Err(message) => return proxy::failure(message),
            };
            let target_id = command.target.split(':').next().unwrap_or_default();
            let target = engine
                .containers
                .values()
                .find(|c| c.id.starts_with(target_id) && !target_id.is_empty());
            let healthy = target.is_some_and(|c| {
                c.status == ContainerStatus::Running
                    && docker::env_value(c, "FAIL_HEALTHCHECK") != Some("1")
                    && c.health != Some(crate::host::Health::Unhealthy)
            });
            if !healthy {
                return proxy::failure("target failed to become healthy within configured timeout");
            }
            let conflict = engine.routes.iter().any(|route| {
                route.service != command.service
                    && proxy::conflicts(&route.settings, &command.settings)
            });
            if conflict {
                return proxy::failure("host settings conflict with another service");
            }
            let route = FakeRoute {
                service: command.service.clone(),
                settings: command.settings,
                targets: vec![command.target],
                state: RouteState::Running,
            };
            match engine
                .routes
                .iter_mut()
                .find(|r| r.service == command.service)
            {
                Some(existing) => *existing = route,
                None => engine.routes.push(route),
            }
            engine.routes.sort_by(|a, b| a.service.cmp(&b.service));
            proxy::success()
        }
        Some("remove" | "rm") => {
            let Some(service) = args.get(1) else {
                return proxy::failure("remove needs a service");
            };
            let before = engine.routes.len();
            engine.routes.retain(|route| &route.service != service);
            if engine.routes.len() == before {
                proxy::failure("service not found")
            } else {
                proxy::success()
            }
        }
        Some(verb @ ("stop" | "pause" | "resume")) => {
            let Some(route) = args
                .get(1)
                .and_then(|service| engine.routes.iter_mut().find(|r| &r.service == service))
            else {
                return proxy::failure("service not found");
            };
            route.state = match verb {
                "stop" => RouteState::Stopped,
                "pause" => RouteState::Paused,
                _ => RouteState::Running,
            };
            proxy::success()
        }
        _ => proxy::failure("unknown command"),
    }
}
