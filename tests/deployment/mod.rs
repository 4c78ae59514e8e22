//! A deployment of the test app on the test bed, for the reliability end-to-end tests
//! (`e2e_faults`, `e2e_security`, `e2e_load`, `e2e_concurrency`): a Kamal project that both the
//! `gantry` binary and the real Kamal can use, versions pushed under names unique to the run,
//! and the questions those tests ask of the hosts (what serves, what runs, is the lock free,
//! does one more apply converge).

// Shared by several test binaries, each of which uses a part of it.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use gantry_testsupport::gantry::{self, Background, GantryRun};
use gantry_testsupport::http;
use gantry_testsupport::kamal::{KamalApp, KamalProject};
use gantry_testsupport::{Testbed, wait};

/// The kamal-proxy image every host must have (the test bed's stand-in, loaded, not pulled).
pub const PROXY_IMAGE: &str = "basecamp/kamal-proxy:v0.9.2";

/// How long one gantry run may take before the test calls it hung.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// The `gantry` binary under test.
pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gantry"))
}

/// The test app on some test bed hosts, as one service.
pub struct Deployment {
    pub testbed: Testbed,
    pub project: KamalProject,
    pub hosts: Vec<String>,
    pub service: String,
}

impl Deployment {
    /// A project for `service` on the first `host_count` hosts: the `web` role behind the
    /// proxy, short deploy and drain timeouts, one clear and one secret env variable; `adjust`
    /// changes the app before the files are written.
    pub fn new(
        testbed: &Testbed,
        service: &str,
        host_count: usize,
        adjust: impl FnOnce(&mut KamalApp),
    ) -> Deployment {
        let hosts: Vec<String> = testbed.hosts.iter().take(host_count).cloned().collect();
        let mut app = KamalApp::testapp(&hosts);
        app.service = service.to_string();
        app.clear_env = vec![("GREETING".into(), "hello".into())];
        app.secret_env = vec![("DB_PASSWORD".into(), "reliability-s3cret".into())];
        app.deploy_timeout = Some(10);
        app.drain_timeout = Some(5);
        adjust(&mut app);
        for host in &hosts {
            ensure_proxy_image(testbed, host);
        }
        Deployment {
            testbed: testbed.clone(),
            project: KamalProject::create(testbed, app),
            hosts,
            service: service.to_string(),
        }
    }

    /// Pushes the test app as versions `<name>-<timestamp>` for this service.
    pub fn versions(&self, names: &[&str]) -> Vec<String> {
        self.testbed.push_versions(&self.service, names)
    }

    /// Runs `gantry <args>` in the project and waits for it.
    pub fn gantry(&self, args: &[&str]) -> GantryRun {
        gantry::run(bin(), self.project.dir(), args)
    }

    /// Starts `gantry <args>` in the project with `env` added.
    pub fn background(&self, args: &[&str], env: &[(&str, &str)]) -> Background {
        gantry::spawn(bin(), self.project.dir(), args, env)
    }

    /// The version the proxy on `host` serves, from the test app's answer.
    pub fn serving(&self, host: &str) -> Option<String> {
        http::serving(host)
    }

    /// `<name> <id> <state>` of this service's containers on `host`, sorted.
    pub fn containers(&self, host: &str) -> String {
        self.testbed.run_ok(
            host,
            &format!(
                "docker ps -a --filter label=service={} --format '{{{{.Names}}}} {{{{.ID}}}} {{{{.State}}}}' | sort",
                self.service
            ),
        )
    }

    /// How many of this service's app containers run on `host`.
    pub fn running_app_containers(&self, host: &str) -> usize {
        self.containers(host)
            .lines()
            .filter(|line| line.starts_with(&format!("{}-web-", self.service)))
            .filter(|line| line.ends_with(" running"))
            .count()
    }

    /// Rewrites `config/deploy.yml`.
    pub fn edit_config(&self, edit: impl FnOnce(String) -> String) {
        let path = self.project.dir().join("config/deploy.yml");
        let yaml = std::fs::read_to_string(&path).expect("deploy.yml");
        std::fs::write(&path, edit(yaml)).expect("deploy.yml");
    }

    /// Adds clear env variables to every container (`START_DELAY`, `CRASH_AFTER`, ...).
    pub fn set_clear_env(&self, pairs: &[(&str, &str)]) {
        self.edit_config(|yaml| {
            let mut added = String::new();
            for (name, value) in pairs {
                added.push_str(&format!("    {name}: \"{value}\"\n"));
            }
            yaml.replacen(
                "    GREETING: \"hello\"\n",
                &format!("    GREETING: \"hello\"\n{added}"),
                1,
            )
        });
    }

    /// Removes what [`Deployment::set_clear_env`] added for `name`.
    pub fn unset_clear_env(&self, name: &str) {
        self.edit_config(|yaml| {
            yaml.lines()
                .filter(|line| !line.trim_start().starts_with(&format!("{name}: ")))
                .map(|line| format!("{line}\n"))
                .collect()
        });
    }

    /// Waits until the container of `version` exists on `host`.
    pub fn wait_for_container(&self, host: &str, version: &str) -> bool {
        let name = format!("{}-web-{version}", self.service);
        wait::until_true(Duration::from_secs(60), Duration::from_millis(100), || {
            self.containers(host).contains(&name)
        })
    }

    /// Whether `gantry lock status` reports no lock.
    pub fn lock_is_free(&self) -> bool {
        let status = self.gantry(&["lock", "status"]);
        status.code == Some(0) && status.stdout.contains("There is no deploy lock")
    }

    /// One more apply of `version` converges, a plan after it is empty, and every host serves
    /// `version` with one app container running.
    pub fn assert_converges(&self, version: &str) {
        self.gantry(&["apply", "-y", "--version", version])
            .assert_code(0);
        self.gantry(&["plan", "--detailed-exitcode", "--version", version])
            .assert_code(0);
        for host in &self.hosts {
            assert_eq!(
                self.serving(host).as_deref(),
                Some(version),
                "{host} after the rerun"
            );
            assert_eq!(
                self.running_app_containers(host),
                1,
                "{host}: {}",
                self.containers(host)
            );
        }
    }

    /// The addresses of the hosts' proxies (`host:80`).
    pub fn proxy_addresses(&self) -> Vec<String> {
        self.hosts.iter().map(|host| format!("{host}:80")).collect()
    }
}

/// Loads the proxy image into `host` from this machine's Docker when the host lacks it (a test
/// that pruned images may have removed it; hosts cannot pull it).
fn ensure_proxy_image(testbed: &Testbed, host: &str) {
    use std::process::{Command, Stdio};
    let present = testbed.run_on(
        host,
        &format!("docker image inspect {PROXY_IMAGE} >/dev/null 2>&1"),
    );
    if present.success {
        return;
    }
    let mut save = Command::new("docker")
        .args(["save", PROXY_IMAGE])
        .stdout(Stdio::piped())
        .spawn()
        .expect("docker save");
    let stdout = save.stdout.take().expect("docker save's output");
    let load = testbed
        .ssh_command(host)
        .arg("docker load -q")
        .stdin(stdout)
        .output()
        .expect("docker load over ssh");
    assert!(
        save.wait().expect("docker save").success(),
        "docker save {PROXY_IMAGE}"
    );
    assert!(
        load.status.success(),
        "loading {PROXY_IMAGE} into {host}: {}",
        String::from_utf8_lossy(&load.stderr)
    );
}
