//! A project on fake hosts, for the reliability tests: a deploy.yml and secrets file written to
//! a temporary directory and loaded as `gantry` loads them, fake hosts sharing a registry that
//! has the app (`registry.test/app:v1`, `:v2`), an accessory image and kamal-proxy, and
//! `gantry apply` on them: the same [`Session`] the binary runs (lock, plan, journal, execute,
//! audit, release), connected to the fake hosts instead of over SSH, with a UI that shows
//! nothing and remembers how the run ended.
//!
//! Only the public API is used, so what these tests exercise is what the binary runs, minus SSH.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use gantry::apply::{Outcome, QuietReporter, Reporter};
use gantry::config::{LoadOptions, Loaded, Secrets, SecretsOptions, load_secrets, load_with_env};
use gantry::desired::Selection;
use gantry::host::{ContainerStatus, Host, ImageDetails};
use gantry::naming::ServiceNames;
use gantry::pipeline::{self, Connections, PlanRequest, Planned};
use gantry::plan::Plan;
use gantry::records::lock;
use gantry::session::run::RunIdentity;
use gantry::session::{
    Answer, ConnectError, Connector, Notice, PlanChoices, Prepared, Question, RunSettings, Session,
    Ui,
};
use gantry::testkit::fake_host::FakeHost;
use gantry::testkit::world as kit;
use tokio_util::sync::CancellationToken;

/// The registry password the fake registry wants, and the secrets file's value for it.
pub const REGISTRY_PASSWORD: &str = "fake-registry-s3cret";

/// A loaded project on fake hosts.
pub struct FakeWorld {
    _dir: tempfile::TempDir,
    pub loaded: Loaded,
    pub secrets: Secrets,
    pub hosts: BTreeMap<String, Arc<FakeHost>>,
}

/// How an apply ended.
pub enum Run {
    /// The lock could not be taken (a fault hit the lock itself); nothing ran.
    Refused,
    Ran {
        outcome: Outcome,
        /// Hosts the plan could not observe.
        unreachable: Vec<String>,
        /// Whether releasing the lock worked.
        released: bool,
    },
}

impl Run {
    /// True when the run ran, every host converged and the lock was released.
    pub fn succeeded(&self) -> bool {
        matches!(self, Run::Ran { outcome, unreachable, released } if outcome.succeeded() && unreachable.is_empty() && *released)
    }
}

/// Errors of loading deploy.yml and secrets, as `code: message` lines.
pub type LoadErrors = Vec<String>;

/// Writes `deploy_yml` (given the secrets file's path, for `secrets_path:`) and `secrets` to a
/// temporary directory and loads them.
pub fn load(
    deploy_yml: &dyn Fn(&str) -> String,
    secrets: &str,
) -> Result<(tempfile::TempDir, Loaded, Secrets), LoadErrors> {
    let dir = tempfile::tempdir().expect("tempdir");
    let secrets_path = dir.path().join("secrets");
    std::fs::write(&secrets_path, secrets).expect("secrets");
    let config_file = dir.path().join("deploy.yml");
    std::fs::write(
        &config_file,
        deploy_yml(&secrets_path.display().to_string()),
    )
    .expect("deploy.yml");
    let options = LoadOptions {
        config_file,
        destination: None,
    };
    let lines = |errors: &[gantry::config::ConfigDiagnostic]| -> LoadErrors {
        errors
            .iter()
            .map(|error| format!("{}: {}", error.code.as_str(), error.message))
            .collect()
    };
    let loaded = load_with_env(&options, &|_| None).map_err(|error| lines(&error.errors))?;
    let secrets = load_secrets(
        &loaded,
        &SecretsOptions {
            allow_commands: false,
        },
    )
    .map_err(|error| lines(&error.errors))?;
    Ok((dir, loaded, secrets))
}

impl FakeWorld {
    /// Loads the project and creates `hosts`, fresh, pulling from one registry.
    pub fn new(
        hosts: &[&str],
        deploy_yml: &dyn Fn(&str) -> String,
        secrets: &str,
    ) -> Result<FakeWorld, LoadErrors> {
        let (dir, loaded, secrets) = load(deploy_yml, secrets)?;
        let hosts = kit::FakeWorld::of_service("app")
            .image(
                "registry.test/db:16",
                ImageDetails {
                    id: "sha256:db16".into(),
                    cmd: vec!["db".into()],
                    ..ImageDetails::default()
                },
            )
            .registry_password(REGISTRY_PASSWORD)
            .hosts(hosts.iter().copied())
            .hosts;
        Ok(FakeWorld {
            _dir: dir,
            loaded,
            secrets,
            hosts,
        })
    }

    pub fn names(&self) -> ServiceNames {
        ServiceNames::for_config(&self.loaded.config)
    }

    pub fn host(&self, name: &str) -> &FakeHost {
        &self.hosts[name]
    }

    /// The primary host: the first host of the primary role, where the lock lives.
    pub fn lock_host(&self) -> &FakeHost {
        let config = &self.loaded.config;
        let primary = config
            .role(&config.primary_role)
            .and_then(|role| role.hosts.first())
            .map(|host| host.host.clone())
            .expect("a primary host");
        self.host(&primary)
    }

    /// `gantry plan`: observe every host and plan `version`.
    pub async fn plan(&self, version: &str) -> Planned {
        let selection = Selection::default();
        let read = |_: &str| -> Result<Vec<u8>, String> { Ok(b"file contents\n".to_vec()) };
        let request = PlanRequest {
            config: &self.loaded.config,
            secrets: &self.secrets,
            version,
            selection: &selection,
            diff: Default::default(),
            atomic: false,
            read_local_file: &read,
            app_boot_hooks: Vec::new(),
            canary: None,
        };
        let desired = pipeline::desired(&request).expect("desired state");
        let connections: Connections = self
            .hosts
            .iter()
            .map(|(name, host)| (name.clone(), Ok(host.clone() as Arc<dyn Host>)))
            .collect();
        pipeline::observe_and_plan(&request, desired, &connections, 10).await
    }

    /// `gantry apply -y --version <version>`: the binary's session on the fake hosts.
    pub async fn apply(&self, version: &str) -> Run {
        let prepared = Prepared {
            loaded: self.loaded.clone(),
            secrets: self.secrets.clone(),
            redactor: self.secrets.redactor(),
            version: version.to_string(),
            selection: Selection::default(),
            skip_hooks: false,
        };
        let identity = RunIdentity {
            run_id: "fake-run".into(),
            performer: "tester".into(),
            command: "apply".into(),
            version: version.into(),
        };
        let ui = Arc::new(RecordingUi::default());
        let session = Session::start(
            &prepared,
            identity,
            "tester".into(),
            ui.clone(),
            RunSettings::default(),
            None,
        )
        .expect("a session");
        let read = |_: &str| -> Result<Vec<u8>, String> { Ok(b"file contents\n".to_vec()) };
        let request = prepared.request(PlanChoices::default(), &read);
        let desired = pipeline::desired(&request).expect("desired state");
        let hosts: Vec<String> = desired.hosts.iter().map(|host| host.name.clone()).collect();
        let connections = session
            .connect(self, &hosts)
            .await
            .expect("fake hosts connect");
        let run = session
            .with_lock(
                &connections,
                session.converge(&request, desired, &connections, None, Some(Question::Apply)),
            )
            .await;
        if run.is_err() {
            return Run::Refused;
        }
        let outcome = ui
            .outcome
            .lock()
            .expect("outcome")
            .take()
            .unwrap_or_default();
        let unreachable = ui.unreachable.lock().expect("unreachable").clone();
        Run::Ran {
            outcome,
            unreachable,
            released: !ui.release_failed.load(Ordering::SeqCst),
        }
    }

    /// The version `host`'s route for `service` sends traffic to, if it targets a running
    /// container named `<service>-<version>`.
    pub fn serving(&self, host: &str, service: &str) -> Option<String> {
        let fake = self.host(host);
        let route = fake.routes().into_iter().find(|r| r.service == service)?;
        let target = route.targets.first()?.split(':').next()?.to_string();
        fake.containers()
            .values()
            .find(|c| c.id.starts_with(&target) && c.status == ContainerStatus::Running)
            .map(|c| {
                c.name
                    .trim_start_matches(&format!("{service}-"))
                    .to_string()
            })
    }

    /// Whether the lock is held (by anyone, details or not).
    pub async fn lock_held(&self) -> bool {
        lock::status(self.lock_host(), &self.names())
            .await
            .map(|holder| holder.is_some())
            .unwrap_or(true)
    }
}

#[async_trait::async_trait]
impl Connector for FakeWorld {
    async fn connect(&self, hosts: &[String]) -> Result<Connections, ConnectError> {
        Ok(hosts
            .iter()
            .map(|name| {
                let host = self
                    .hosts
                    .get(name)
                    .map(|host| host.clone() as Arc<dyn Host>)
                    .ok_or_else(|| format!("{name} is not a fake host"));
                (name.clone(), host)
            })
            .collect())
    }
}

/// A UI that answers yes, shows nothing, and keeps what the test asks about afterwards.
#[derive(Default)]
struct RecordingUi {
    outcome: Mutex<Option<Outcome>>,
    /// Hosts the plan could not observe.
    unreachable: Mutex<Vec<String>>,
    release_failed: AtomicBool,
}

#[async_trait::async_trait]
impl Ui for RecordingUi {
    fn notice(&self, notice: Notice<'_>) {
        if let Notice::LockNotReleased { .. } = notice {
            self.release_failed.store(true, Ordering::SeqCst);
        }
    }

    fn show_plan(&self, plan: &Plan) {
        *self.unreachable.lock().expect("unreachable") = plan
            .changes
            .unreachable()
            .map(|(host, _)| host.to_string())
            .collect();
    }

    async fn confirm(
        &self,
        _question: &Question,
        _cancel: &CancellationToken,
    ) -> Result<Answer, miette::Report> {
        Ok(Answer::Yes)
    }

    fn reporter(&self, _plan: &Plan) -> Box<dyn Reporter> {
        Box::new(QuietReporter)
    }

    fn show_outcome(&self, _plan: &Plan, outcome: &Outcome) {
        *self.outcome.lock().expect("outcome") = Some(outcome.clone());
    }
}
