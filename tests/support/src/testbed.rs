//! The test bed as end-to-end tests see it: hosts, SSH key, registry, fault injection.
//!
//! Input: the `TESTBED_*` variables that `tests/testbed/testbed.sh env` prints. When they are
//! missing or the first host does not answer, [`Testbed::require`] skips the test with a clear
//! message, or fails it when `CI` or `GANTRY_REQUIRE_TESTBED=1` is set, so CI can never pass by
//! skipping. [`Testbed::exclusive`] serializes tests that share the hosts, across threads and
//! test processes (a file lock in the test bed's directory).

use std::env;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use thiserror::Error;

/// How to bring the test bed up, for skip and failure messages.
pub const HOW_TO_START: &str = "run `tests/testbed/testbed.sh up && tests/testbed/testbed.sh images` and `eval \"$(tests/testbed/testbed.sh env)\"`";

/// A `TESTBED_*` variable is missing.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("test bed not running: {0} is not set")]
pub struct MissingEnv(pub &'static str);

/// The running test bed.
#[derive(Clone, Debug)]
pub struct Testbed {
    /// Host addresses in order: host 1 first.
    pub hosts: Vec<String>,
    /// The user to log in as on every host (`root`).
    pub ssh_user: String,
    /// The private key every host accepts.
    pub ssh_key: PathBuf,
    /// Every host's key: the file to check host keys against, strictly.
    pub known_hosts: PathBuf,
    /// `<address>:<port>` of the registry.
    pub registry: String,
    /// The registry's only user.
    pub registry_user: String,
    /// That user's password (a test bed credential, not a secret of anyone's).
    pub registry_password: String,
    /// Repository of the test app in the registry, without a tag.
    pub testapp_image: String,
    /// Hosts whose sshd refuses `direct-streamlocal` forwarding.
    pub no_streamlocal_hosts: Vec<String>,
    /// `testbed.sh`, for fault injection.
    pub script: PathBuf,
    /// The test bed's state directory.
    pub dir: PathBuf,
    /// One-way delay between this machine and every host's sshd and the registry
    /// (`TESTBED_LATENCY_MS`).
    pub latency: Duration,
    /// What opening an SSH session costs on every host (`TESTBED_SESSION_MS`).
    pub session_cost: Duration,
}

/// A fault `testbed.sh` can inject into one host, and its inverse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The host's link goes down: nothing gets in or out.
    Cut,
    /// Undoes [`Fault::Cut`].
    Heal,
    /// The host's dockerd stops; sshd keeps answering.
    DockerStop,
    /// Starts dockerd again and waits until it answers.
    DockerStart,
    /// The host's sshd stops listening.
    SshStop,
    /// Starts sshd again and waits until it answers.
    SshStart,
    /// dockerd's temporary space fills up: pulls and loads fail.
    DiskFull,
    /// Undoes [`Fault::DiskFull`].
    DiskHeal,
    /// What reaches the host passes at 4 Mbit/s: pulls take seconds.
    Throttle,
    /// Undoes [`Fault::Throttle`].
    Unthrottle,
}

impl Fault {
    /// The `testbed.sh` subcommand.
    pub fn command(self) -> &'static str {
        match self {
            Fault::Cut => "cut",
            Fault::Heal => "heal",
            Fault::DockerStop => "docker-stop",
            Fault::DockerStart => "docker-start",
            Fault::SshStop => "ssh-stop",
            Fault::SshStart => "ssh-start",
            Fault::DiskFull => "disk-full",
            Fault::DiskHeal => "disk-heal",
            Fault::Throttle => "throttle",
            Fault::Unthrottle => "unthrottle",
        }
    }
}

/// Held while a test uses the shared hosts; dropping it lets the next test in.
#[derive(Debug)]
pub struct ExclusiveUse {
    _lock: File,
}

/// A setting in milliseconds; missing or unreadable is 0, as `testbed.sh` defaults it.
fn milliseconds(value: Option<String>) -> Duration {
    Duration::from_millis(value.and_then(|ms| ms.trim().parse().ok()).unwrap_or(0))
}

impl Testbed {
    /// Reads the test bed from `TESTBED_*` variables.
    pub fn from_env() -> Result<Testbed, MissingEnv> {
        Testbed::from_lookup(|name| env::var(name).ok())
    }

    /// Reads the test bed through `lookup` (the environment, or a map in unit tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Testbed, MissingEnv> {
        let required = |name: &'static str| {
            lookup(name)
                .filter(|value| !value.trim().is_empty())
                .ok_or(MissingEnv(name))
        };
        let words = |value: String| {
            value
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        Ok(Testbed {
            hosts: words(required("TESTBED_HOSTS")?),
            ssh_user: lookup("TESTBED_SSH_USER").unwrap_or_else(|| "root".to_string()),
            ssh_key: required("TESTBED_SSH_KEY")?.into(),
            known_hosts: required("TESTBED_KNOWN_HOSTS")?.into(),
            registry: required("TESTBED_REGISTRY")?,
            registry_user: required("TESTBED_REGISTRY_USER")?,
            registry_password: required("TESTBED_REGISTRY_PASSWORD")?,
            testapp_image: required("TESTBED_TESTAPP_IMAGE")?,
            no_streamlocal_hosts: words(lookup("TESTBED_NO_STREAMLOCAL_HOSTS").unwrap_or_default()),
            script: required("TESTBED_SCRIPT")?.into(),
            dir: required("TESTBED_DIR")?.into(),
            latency: milliseconds(lookup("TESTBED_LATENCY_MS")),
            session_cost: milliseconds(lookup("TESTBED_SESSION_MS")),
        })
    }

    /// The test bed, or `None` after printing why the test is skipped. Panics instead of
    /// skipping when `CI` or `GANTRY_REQUIRE_TESTBED=1` is set.
    pub fn require() -> Option<Testbed> {
        let problem = match Testbed::from_env() {
            Ok(testbed) => match testbed.first_host_answers() {
                Ok(()) => return Some(testbed),
                Err(problem) => problem,
            },
            Err(missing) => missing.to_string(),
        };
        if must_have_testbed(|name| env::var(name).ok()) {
            panic!(
                "{problem}; the test bed is required here (CI or GANTRY_REQUIRE_TESTBED=1); {HOW_TO_START}"
            );
        }
        eprintln!("skipped: {problem}; {HOW_TO_START}");
        None
    }

    /// Whether sshd answers on the first host: its banner, not just a TCP connect (a network
    /// in between may accept connections to addresses that have no host behind them).
    fn first_host_answers(&self) -> Result<(), String> {
        let host = self
            .hosts
            .first()
            .ok_or("test bed not running: TESTBED_HOSTS is empty")?;
        let address: SocketAddr = format!("{host}:22")
            .parse()
            .map_err(|error| format!("test bed host {host:?} is not an address: {error}"))?;
        let unreachable =
            |error: std::io::Error| format!("test bed not running: no sshd at {address}: {error}");
        let mut stream =
            TcpStream::connect_timeout(&address, Duration::from_secs(3)).map_err(unreachable)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(3)))
            .map_err(unreachable)?;
        let mut banner = [0u8; 4];
        stream.read_exact(&mut banner).map_err(unreachable)?;
        if &banner == b"SSH-" {
            Ok(())
        } else {
            Err(format!(
                "test bed not running: {address} does not speak SSH"
            ))
        }
    }

    /// Waits for, then holds, the exclusive use of the hosts.
    pub fn exclusive(&self) -> ExclusiveUse {
        let path = self.dir.join("e2e.lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .unwrap_or_else(|error| panic!("opening {}: {error}", path.display()));
        lock.lock()
            .unwrap_or_else(|error| panic!("locking {}: {error}", path.display()));
        ExclusiveUse { _lock: lock }
    }

    /// [`Testbed::exclusive`], then every host as `testbed.sh images` left it: no containers,
    /// no routes, no `kamal` network, no app images, nothing in the home directory but `.ssh`.
    /// Each end-to-end test starts from there, whatever the one before it left.
    pub fn exclusive_clean(&self) -> ExclusiveUse {
        let exclusive = self.exclusive();
        let reset = "docker ps -aq | xargs -r docker rm -f >/dev/null; \
             docker volume ls -q | xargs -r docker volume rm -f >/dev/null; \
             docker network rm kamal >/dev/null 2>&1; \
             docker image ls -q --filter label=service | sort -u | xargs -r docker rmi -f >/dev/null 2>&1; \
             find ~ -mindepth 1 -maxdepth 1 ! -name .ssh -exec rm -rf {} +; true";
        std::thread::scope(|scope| {
            for host in &self.hosts {
                scope.spawn(move || self.run_ok(host, reset));
            }
        });
        exclusive
    }

    /// Host `number` (1-based, as `testbed.sh` counts).
    pub fn host(&self, number: usize) -> &str {
        self.hosts.get(number.wrapping_sub(1)).unwrap_or_else(|| {
            panic!(
                "the test bed has no host {number} (hosts: {:?})",
                self.hosts
            )
        })
    }

    /// Injects (or removes) a fault on host `number`; panics if `testbed.sh` fails.
    pub fn inject(&self, fault: Fault, number: usize) {
        let output = self.script(&[fault.command(), &number.to_string()]);
        assert!(
            output.status.success(),
            "testbed.sh {} {number} failed: {}",
            fault.command(),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Runs `testbed.sh` with `args` and the test bed's own settings.
    pub fn script(&self, args: &[&str]) -> Output {
        Command::new(&self.script)
            .args(args)
            .env("TESTBED_DIR", &self.dir)
            .output()
            .unwrap_or_else(|error| panic!("running {}: {error}", self.script.display()))
    }
}

/// Whether a missing test bed is a failure: `CI` set (to anything but empty or `false`), or
/// `GANTRY_REQUIRE_TESTBED=1`.
pub fn must_have_testbed(lookup: impl Fn(&str) -> Option<String>) -> bool {
    let ci =
        lookup("CI").is_some_and(|value| !value.is_empty() && value != "false" && value != "0");
    ci || lookup("GANTRY_REQUIRE_TESTBED").as_deref() == Some("1")
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    const FULL: &[(&str, &str)] = &[
        ("TESTBED_HOSTS", "10.77.0.11 10.77.0.12 10.77.0.13"),
        ("TESTBED_SSH_KEY", "/var/lib/gantry-testbed/id_ed25519"),
        ("TESTBED_KNOWN_HOSTS", "/var/lib/gantry-testbed/known_hosts"),
        ("TESTBED_REGISTRY", "10.77.0.1:5000"),
        ("TESTBED_REGISTRY_USER", "deployer"),
        ("TESTBED_REGISTRY_PASSWORD", "testbed-secret"),
        ("TESTBED_TESTAPP_IMAGE", "10.77.0.1:5000/gantry-testapp"),
        ("TESTBED_NO_STREAMLOCAL_HOSTS", "10.77.0.13"),
        ("TESTBED_SCRIPT", "/repo/tests/testbed/testbed.sh"),
        ("TESTBED_DIR", "/var/lib/gantry-testbed"),
    ];

    #[test]
    fn reads_what_testbed_sh_env_prints() {
        let testbed = Testbed::from_lookup(env_of(FULL)).unwrap();
        assert_eq!(testbed.hosts, ["10.77.0.11", "10.77.0.12", "10.77.0.13"]);
        assert_eq!(testbed.host(2), "10.77.0.12");
        assert_eq!(testbed.ssh_user, "root");
        assert_eq!(testbed.no_streamlocal_hosts, ["10.77.0.13"]);
        assert_eq!(testbed.registry, "10.77.0.1:5000");
    }

    #[test]
    fn names_the_first_missing_variable() {
        let partial: Vec<(&str, &str)> = FULL
            .iter()
            .copied()
            .filter(|(k, _)| *k != "TESTBED_SSH_KEY")
            .collect();
        assert_eq!(
            Testbed::from_lookup(env_of(&partial)).unwrap_err(),
            MissingEnv("TESTBED_SSH_KEY")
        );
        assert_eq!(
            Testbed::from_lookup(env_of(&[])).unwrap_err(),
            MissingEnv("TESTBED_HOSTS")
        );
    }

    #[test]
    fn ci_or_the_explicit_switch_makes_the_test_bed_required() {
        assert!(must_have_testbed(env_of(&[("CI", "true")])));
        assert!(must_have_testbed(env_of(&[(
            "GANTRY_REQUIRE_TESTBED",
            "1"
        )])));
        assert!(!must_have_testbed(env_of(&[("CI", "false")])));
        assert!(!must_have_testbed(env_of(&[(
            "GANTRY_REQUIRE_TESTBED",
            "0"
        )])));
        assert!(!must_have_testbed(env_of(&[])));
    }

    #[test]
    fn fault_commands_are_testbed_sh_subcommands() {
        assert_eq!(Fault::DockerStop.command(), "docker-stop");
        assert_eq!(Fault::DiskHeal.command(), "disk-heal");
    }
}
