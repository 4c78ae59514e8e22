//! The in-memory host: a faithful [`Host`](crate::host::Host) without a machine behind it.
//!
//! It keeps containers, images, networks, files and a kamal-proxy's routes in memory and
//! answers every [`Host`](crate::host::Host) call as Docker, sshd and kamal-proxy would, so the whole pipeline
//! (observe, diff, plan, apply) runs against it unchanged. It serves fast tests and scale
//! simulation (hundreds of hosts, with latency per call); it never stands in where the test bed
//! can run the real thing.
//!
//! Faults are injected per operation ([`FaultRule`]): a failing call, a dropped connection (the
//! host stays unreachable until healed), or a call that never answers in time.

mod docker;
mod engine;
mod proxy;
mod trees;

use engine::find_image;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::host::{ContainerDetails, HostError, ImageDetails, RegistryAuth};

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

    /// The manifest digest the registry gives for a reference: derived from the image id, so a
    /// reference pushed again with another image gets another digest.
    pub fn digest(&self, reference: &str) -> Option<String> {
        lock(&self.images)
            .get(reference)
            .map(|image| crate::desired::content_fingerprint(image.id.as_bytes()))
            .map(|hex| format!("sha256:{hex}"))
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
        let mut image = lock(&self.images)
            .get(reference)
            .cloned()
            .ok_or_else(|| format!("manifest for {reference} not found: manifest unknown"))?;
        if let Some(digest) = self.digest(reference) {
            let (repository, _) = crate::host::split_reference(reference);
            image.repo_digests = vec![format!("{repository}@{digest}")];
        }
        Ok(image)
    }
}

/// A [`Host`](crate::host::Host) call, named for fault injection and call logs.
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
    RegistryDigest,
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
    FileAges,
    WriteFile,
    AppendLine,
    CreateDirExclusive,
    MakeDirectory,
    ChangeOwner,
    RemovePath,
    RemoveDirIfFileIs,
    ExtractImageDirectory,
    MergeDirectories,
    RemoveOtherEntries,
    RunCommand,
    RunAttached,
}

impl Operation {
    /// Whether a real host runs this in a shell session of its own (an exec channel), which
    /// pays the session's opening cost besides the round trip.
    pub fn opens_a_session(self) -> bool {
        matches!(
            self,
            Operation::HomeDir
                | Operation::ReadFiles
                | Operation::FileAges
                | Operation::WriteFile
                | Operation::AppendLine
                | Operation::CreateDirExclusive
                | Operation::MakeDirectory
                | Operation::ChangeOwner
                | Operation::RemovePath
                | Operation::RemoveDirIfFileIs
                | Operation::ExtractImageDirectory
                | Operation::MergeDirectories
                | Operation::RemoveOtherEntries
                | Operation::RunCommand
                | Operation::RunAttached
        )
    }
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
    /// A file read answers with only the first half of the file, as a read can while the file
    /// is rewritten in place (kamal-proxy truncates its state file, then writes it).
    CutShort,
    /// gantry's own code panics in the middle of the call (a bug), as `panic!` would.
    Panic(String),
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
    /// How many matching calls pass before the fault strikes, to aim at the n-th call of a run.
    pub skip: usize,
}

impl FaultRule {
    /// Every call of `operation` fails with `fault`.
    pub fn always(operation: Operation, fault: Fault) -> Self {
        FaultRule {
            operation,
            matching: None,
            fault,
            times: None,
            skip: 0,
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

    /// Lets the first `calls` matching calls pass: the fault strikes the next one.
    pub fn after(mut self, calls: usize) -> Self {
        self.skip = calls;
        self
    }
}

#[derive(Debug, Default)]
pub(super) struct Engine {
    containers: BTreeMap<String, ContainerDetails>,
    /// Unix-ish seconds of creation, for `docker ps` order.
    created: BTreeMap<String, i64>,
    images: BTreeMap<String, ImageDetails>,
    networks: BTreeSet<String>,
    files: BTreeMap<String, (Vec<u8>, u32)>,
    /// When each file was last written ([`Host::file_ages`]), on tokio's clock so that tests
    /// can let time pass.
    written_at: BTreeMap<String, tokio::time::Instant>,
    directories: BTreeSet<String>,
    /// Modes and owners set on paths (`make_directory`, `change_owner`).
    attributes: BTreeMap<String, (Option<u32>, Option<String>)>,
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
    /// What opening a shell session costs on top of `latency` (a PAM session module).
    session_cost: Duration,
    engine: Mutex<Engine>,
    faults: Mutex<Vec<FaultRule>>,
    disconnected: Mutex<bool>,
    calls: Mutex<Vec<(Operation, String)>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    meter: Option<Arc<CallMeter>>,
    /// Pulls in flight, joined by reference, as on a real host.
    pulls: crate::host::single_flight::SingleFlight,
    /// References being pulled now ([`Host::pull_progress`]).
    pulling: Mutex<BTreeSet<String>>,
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

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
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
            session_cost: Duration::ZERO,
            engine: Mutex::new(engine),
            faults: Mutex::new(Vec::new()),
            disconnected: Mutex::new(false),
            calls: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            meter: None,
            pulls: Default::default(),
            pulling: Mutex::new(BTreeSet::new()),
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

    /// Every call that opens a shell session waits this long more.
    pub fn with_session_cost(mut self, cost: Duration) -> Self {
        self.session_cost = cost;
        self
    }

    /// Adds a fault rule.
    pub fn inject(&self, rule: FaultRule) {
        lock(&self.faults).push(rule);
    }

    /// Fault rules that have not struck yet (every-call rules count until healed).
    pub fn faults_pending(&self) -> usize {
        lock(&self.faults).len()
    }

    /// Removes every fault rule and reconnects.
    pub fn heal(&self) {
        lock(&self.faults).clear();
        *lock(&self.disconnected) = false;
    }

    /// A new connection, as the next gantry run makes: pulls shared on the old one are
    /// forgotten, so a tag pushed again is pulled again.
    pub fn reconnect(&self) {
        self.pulls.forget_all();
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

    /// Whether a directory exists.
    pub fn has_directory(&self, path: &str) -> bool {
        lock(&self.engine).directories.contains(path)
    }

    /// The mode and owner last set on a path, beyond a file's own mode.
    pub fn attributes(&self, path: &str) -> Option<(Option<u32>, Option<String>)> {
        lock(&self.engine).attributes.get(path).cloned()
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
        let mut guard = CallGuard {
            host: self,
            cut_short: false,
        };
        let wait = if operation.opens_a_session() {
            self.latency + self.session_cost
        } else {
            self.latency
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
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
            // A rule aimed at a later call lets this one pass, counting it.
            let position = position.filter(|index| {
                let rule = &mut faults[*index];
                if rule.skip > 0 {
                    rule.skip -= 1;
                    false
                } else {
                    true
                }
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
            Some(Fault::CutShort) => {
                guard.cut_short = true;
                Ok(guard)
            }
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
            Some(Fault::Panic(message)) => panic!("{message}"),
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
    /// [`Fault::CutShort`]: a read returns half of what it found.
    cut_short: bool,
}

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        self.host.in_flight.fetch_sub(1, Ordering::SeqCst);
        if let Some(meter) = &self.host.meter {
            meter.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
