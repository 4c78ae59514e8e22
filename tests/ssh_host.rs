//! The SSH host against real sshd and dockerd on the test bed.
//!
//! Needs the test bed and its environment (`testbed.sh env` prints `TESTBED_HOSTS`,
//! `TESTBED_SSH_KEY`, `TESTBED_KNOWN_HOSTS`, `TESTBED_REGISTRY`, `TESTBED_REGISTRY_USER`,
//! `TESTBED_REGISTRY_PASSWORD`). Without it these tests are skipped with a message, unless
//! `GANTRY_REQUIRE_TESTBED=1`, where they fail. The fault-injection test also needs
//! `TESTBED_SCRIPT` (the path of `testbed.sh`, for `cut` and `heal`).
//!
//! The test bed's hosts share one filesystem (each is a network namespace with its own sshd and
//! dockerd), so every path and container name here carries this process's id.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gantry::config::{GantrySettings, Ssh, SshConfigFiles};
use gantry::host::ssh::{DockerRoute, SshHost, SshSettings, connect_all};
use gantry::host::{
    ContainerFilter, ContainerOptions, ContainerSpec, ContainerStatus, DeviceMapping, EnvValue,
    HealthcheckConfig, Host, HostError, LogConfig, RegistryAuth, RestartPolicy, Ulimit,
};
use gantry::secret::Secret;
use tokio::sync::RwLock;

/// Tests share the hosts; the one that cuts a host off the network runs alone.
static BED: RwLock<()> = RwLock::const_new(());

const BUSYBOX: &str = "testbed/busybox:latest";

struct Testbed {
    hosts: Vec<String>,
    key: PathBuf,
    known_hosts: PathBuf,
    registry: String,
    user: String,
    password: String,
}

/// Writes past the test harness's output capture, so it shows in every run.
fn note(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// Says why a test did nothing.
fn skip(why: &str) {
    note(&format!("skipped: {why}"));
}

fn required() -> bool {
    std::env::var("GANTRY_REQUIRE_TESTBED").as_deref() == Ok("1")
}

fn testbed() -> Option<Testbed> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let found = (|| {
        Some(Testbed {
            hosts: var("TESTBED_HOSTS")?
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            key: var("TESTBED_SSH_KEY")?.into(),
            known_hosts: var("TESTBED_KNOWN_HOSTS")?.into(),
            registry: var("TESTBED_REGISTRY")?,
            user: var("TESTBED_REGISTRY_USER")?,
            password: var("TESTBED_REGISTRY_PASSWORD")?,
        })
    })()
    .filter(|bed| bed.hosts.len() >= 3);
    if found.is_none() {
        assert!(
            !required(),
            "GANTRY_REQUIRE_TESTBED=1 but the test bed environment (3 hosts) is missing"
        );
        skip("no test bed; start it with `testbed.sh up` and `eval \"$(testbed.sh env)\"`");
    }
    found
}

fn settings(bed: &Testbed, known_hosts: PathBuf) -> SshSettings {
    let ssh = Ssh {
        keys: vec![bed.key.display().to_string()],
        keys_only: true,
        config: SshConfigFiles::None,
        ..Ssh::default()
    };
    let mut settings = SshSettings::from_config(&ssh, &GantrySettings::default(), Vec::new());
    settings.known_hosts = Some(known_hosts);
    settings.connect_timeout = Duration::from_secs(5);
    settings.command_timeout = Duration::from_secs(30);
    settings
}

fn auth(bed: &Testbed) -> RegistryAuth {
    RegistryAuth {
        server: bed.registry.clone(),
        username: bed.user.clone(),
        password: Secret::new(bed.password.clone()),
    }
}

async fn connected(bed: &Testbed, host: &str) -> SshHost {
    SshHost::connect(host, &settings(bed, bed.known_hosts.clone()))
        .await
        .unwrap_or_else(|error| panic!("{host}: {error}"))
}

/// A name no other test run uses.
fn unique(what: &str) -> String {
    format!("sshtest-{what}-{}", std::process::id())
}

/// Makes `testbed/busybox:latest` present on the host, pulling it from the test bed's registry
/// through the Host API when missing.
async fn ensure_busybox(bed: &Testbed, host: &SshHost) {
    if host.inspect_image(BUSYBOX).await.unwrap().is_some() {
        return;
    }
    let remote = format!("{}/{BUSYBOX}", bed.registry);
    host.pull_image(&remote, Some(&auth(bed)))
        .await
        .unwrap_or_else(|error| {
            panic!("{error}: push {BUSYBOX} to the registry first (`testbed.sh base`, docker push)")
        });
    host.tag_image(&remote, BUSYBOX).await.unwrap();
}

fn sleeper(name: &str) -> ContainerSpec {
    ContainerSpec {
        name: name.into(),
        image: BUSYBOX.into(),
        cmd: Some(vec!["sleep".into(), "300".into()]),
        env: BTreeMap::new(),
        labels: BTreeMap::from([("service".to_string(), "sshtest".to_string())]),
        hostname: None,
        network: None,
        restart_policy: RestartPolicy::default(),
        log_config: LogConfig::default(),
        binds: Vec::new(),
        ports: Vec::new(),
        options: ContainerOptions::default(),
    }
}

/// OpenSSH's host key options against a real sshd (#15): under `StrictHostKeyChecking yes` an
/// unknown host is refused and nothing recorded; a host pinned only in a `GlobalKnownHostsFile`
/// (under its `HostKeyAlias`) connects, and a wrong pin there is refused, with nothing learned.
#[tokio::test]
async fn openssh_host_key_options_are_followed_against_a_real_sshd() {
    let Some(bed) = testbed() else { return };
    let _shared = BED.read().await;
    let dir = tempfile::tempdir().unwrap();
    let host = &bed.hosts[0];
    let user_file = dir.path().join("user_known_hosts");
    let global_file = dir.path().join("global_known_hosts");
    let config = dir.path().join("config");
    let connect = |config_text: String| {
        std::fs::write(&config, config_text).unwrap();
        let mut settings = settings(&bed, PathBuf::new());
        settings.known_hosts = None;
        settings.config_files = vec![config.clone()];
        async move { SshHost::connect(host, &settings).await }
    };
    let options = |extra: &str| {
        format!(
            "Host *\n  UserKnownHostsFile {}\n  GlobalKnownHostsFile {}\n{extra}",
            user_file.display(),
            global_file.display()
        )
    };

    let Err(error) = connect(options("  StrictHostKeyChecking yes\n")).await else {
        panic!("an unknown host was trusted under StrictHostKeyChecking yes");
    };
    assert!(
        error.to_string().contains("StrictHostKeyChecking"),
        "{error}"
    );
    assert!(!user_file.exists(), "a key was recorded");

    let host_key = std::fs::read_to_string(&bed.known_hosts)
        .unwrap()
        .lines()
        .find(|line| line.starts_with(&format!("{host} ")))
        .map(|line| line.split_once(' ').unwrap().1.to_string())
        .expect("the test bed's known_hosts names the host");
    std::fs::write(&global_file, format!("pinned-alias {host_key}\n")).unwrap();
    let pinned = options("  HostKeyAlias pinned-alias\n  StrictHostKeyChecking yes\n");
    let connection = connect(pinned).await.unwrap();
    assert!(connection.home_dir().await.unwrap().starts_with('/'));

    let other_key = std::fs::read_to_string(&bed.known_hosts)
        .unwrap()
        .lines()
        .find(|line| !line.starts_with(&format!("{host} ")))
        .map(|line| line.split_once(' ').unwrap().1.to_string())
        .expect("another host in the test bed's known_hosts");
    std::fs::write(&global_file, format!("{host} {other_key}\n")).unwrap();
    let Err(error) = connect(options("")).await else {
        panic!("a key other than the global pin was accepted");
    };
    assert!(error.to_string().contains("host key changed"), "{error}");
    assert!(!user_file.exists(), "the changed key was learned");
}

/// A container that floods (#15): 20 MB of exec output, and 20 MB of logs (one line without a
/// break, which dockerd stores in 16 KiB pieces), reach gantry as their last 8 MiB, not whole.
#[tokio::test]
async fn exec_output_and_logs_are_bounded_in_size() {
    const CAP: usize = 8 * 1024 * 1024;
    let Some(bed) = testbed() else { return };
    let _shared = BED.read().await;
    let host = connected(&bed, &bed.hosts[0]).await;
    ensure_busybox(&bed, &host).await;
    let name = unique("flood");
    let _ = host.remove_container(&name).await;
    let spec = ContainerSpec {
        cmd: Some(vec![
            "sh".into(),
            "-c".into(),
            "yes | head -c 20000000 | tr -d '\\n'; echo; echo end; sleep 300".into(),
        ]),
        ..sleeper(&name)
    };
    let id = host.create_container(&spec).await.unwrap();
    host.start_container(&id).await.unwrap();

    let output = host
        .exec_in_container(
            &name,
            &[
                "sh".into(),
                "-c".into(),
                "yes | head -c 20000000; yes | head -c 20000000 >&2".into(),
            ],
        )
        .await
        .unwrap();
    assert_eq!(output.exit_code, 0);
    assert_eq!((output.stdout.len(), output.stderr.len()), (CAP, CAP));

    let mut logs = String::new();
    for _ in 0..100 {
        logs = host.container_logs(&name, 100_000).await.unwrap();
        if logs.ends_with("end\n") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(logs.ends_with("y\nend\n"), "the tail is kept");
    assert_eq!(logs.len(), CAP);
    host.remove_container(&name).await.unwrap();
}

#[tokio::test]
async fn new_host_keys_are_recorded_and_changed_ones_refused_before_anything_runs() {
    let Some(bed) = testbed() else { return };
    let _shared = BED.read().await;
    let dir = tempfile::tempdir().unwrap();
    let known_hosts = dir.path().join("fresh").join("known_hosts");
    let host = &bed.hosts[0];
    let connection = SshHost::connect(host, &settings(&bed, known_hosts.clone()))
        .await
        .unwrap();
    assert!(connection.home_dir().await.unwrap().starts_with('/'));
    let recorded = std::fs::read_to_string(&known_hosts).unwrap();
    assert!(
        recorded.starts_with(&format!("{host} ssh-ed25519 ")),
        "{recorded}"
    );
    assert_eq!(recorded.lines().count(), 1);
    // Trusted the second time: nothing more is appended.
    SshHost::connect(host, &settings(&bed, known_hosts.clone()))
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(&known_hosts).unwrap(), recorded);

    // Another host's key under this host's name, after a comment: a changed key, refused during
    // the key exchange, so before authentication and before any command.
    let other = std::fs::read_to_string(&bed.known_hosts)
        .unwrap()
        .lines()
        .find(|line| !line.starts_with(&format!("{host} ")))
        .map(|line| line.split_once(' ').unwrap().1.to_string())
        .unwrap();
    std::fs::write(&known_hosts, format!("# pinned\n{host} {other}\n")).unwrap();
    let error = SshHost::connect(host, &settings(&bed, known_hosts.clone()))
        .await
        .unwrap_err();
    let HostError::HostKeyChanged {
        fingerprint, line, ..
    } = &error
    else {
        panic!("expected a changed key, got {error}");
    };
    assert!(fingerprint.starts_with("SHA256:"));
    assert_eq!(*line, 2);
    assert!(error.is_connection());
    assert!(
        error.to_string().contains("the host key changed"),
        "{error}"
    );
    assert_eq!(
        std::fs::read_to_string(&known_hosts).unwrap(),
        format!("# pinned\n{host} {other}\n"),
        "a refused key is not recorded"
    );
}

/// An `ssh-agent` of this test's own, stopped when dropped.
struct Agent {
    child: std::process::Child,
    socket: PathBuf,
}

impl Agent {
    fn start(dir: &std::path::Path) -> Option<Agent> {
        let socket = dir.join("agent.sock");
        let child = std::process::Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let agent = Agent { child, socket };
        for _ in 0..50 {
            if agent.socket.exists() {
                return Some(agent);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn add(&self, key: &std::path::Path) -> bool {
        std::process::Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", &self.socket)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn encrypted_keys_need_the_agent_and_work_through_it() {
    let Some(bed) = testbed() else { return };
    let _shared = BED.read().await;
    let dir = tempfile::tempdir().unwrap();
    let encrypted = dir.path().join("id_encrypted");
    std::fs::copy(&bed.key, &encrypted).unwrap();
    let reencrypted = std::process::Command::new("ssh-keygen")
        .args(["-q", "-p", "-P", "", "-N", "a passphrase", "-f"])
        .arg(&encrypted)
        .status();
    if !reencrypted.is_ok_and(|status| status.success()) {
        assert!(!required(), "ssh-keygen is needed to encrypt a key");
        skip("no ssh-keygen");
        return;
    }
    let mut settings = settings(&bed, bed.known_hosts.clone());
    settings.keys = vec![encrypted.clone()];
    settings.keys_only = false;
    settings.agent = None;
    let error = SshHost::connect(&bed.hosts[0], &settings)
        .await
        .unwrap_err();
    assert!(matches!(error, HostError::AuthFailed { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains("is encrypted; add it to ssh-agent"),
        "{error}"
    );

    let Some(agent) = Agent::start(dir.path()) else {
        assert!(!required(), "ssh-agent is needed");
        skip("no ssh-agent");
        return;
    };
    assert!(agent.add(&bed.key));
    settings.agent = Some(agent.socket.clone());
    let host = SshHost::connect(&bed.hosts[0], &settings).await.unwrap();
    assert!(host.run_command("true").await.unwrap().success());
    // keys_only: the agent is not asked, so the encrypted key alone cannot log in.
    settings.keys_only = true;
    assert!(matches!(
        SshHost::connect(&bed.hosts[0], &settings).await,
        Err(HostError::AuthFailed { .. })
    ));
}

#[tokio::test]
async fn hashed_known_hosts_entries_are_trusted() {
    let Some(bed) = testbed() else { return };
    let _shared = BED.read().await;
    let dir = tempfile::tempdir().unwrap();
    let known_hosts = dir.path().join("known_hosts");
    std::fs::copy(&bed.known_hosts, &known_hosts).unwrap();
    let hashed = std::process::Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(&known_hosts)
        .output();
    if !hashed.is_ok_and(|output| output.status.success()) {
        assert!(!required(), "ssh-keygen is needed to hash known_hosts");
        skip("no ssh-keygen to hash known_hosts");
        return;
    }
    let before = std::fs::read_to_string(&known_hosts).unwrap();
    assert!(before.starts_with("|1|"), "{before}");
    SshHost::connect(&bed.hosts[2], &settings(&bed, known_hosts.clone()))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&known_hosts).unwrap(),
        before,
        "a host found hashed is not recorded again"
    );
}

#[tokio::test]
async fn every_docker_call_over_ssh_against_a_real_daemon() {
    let Some(bed) = testbed() else { return };
    let _shared = BED.read().await;
    let host = connected(&bed, &bed.hosts[0]).await;
    assert_eq!(host.docker_route(), DockerRoute::StreamLocal);
    let remote = format!("{}/{BUSYBOX}", bed.registry);
    host.pull_image(&remote, Some(&auth(&bed))).await.unwrap();
    let image = host.inspect_image(&remote).await.unwrap().unwrap();
    assert!(image.id.starts_with("sha256:"));
    assert!(image.repo_tags.contains(&remote), "{:?}", image.repo_tags);
    assert_eq!(image.cmd, vec!["/bin/sh"]);
    assert!(
        host.inspect_image("sshtest/absent:v0")
            .await
            .unwrap()
            .is_none()
    );
    ensure_busybox(&bed, &host).await;
    let images = host.list_images(None).await.unwrap();
    assert!(images.iter().any(|i| i.repo_tags.contains(&remote)));
    assert!(
        host.list_images(Some("sshtest-no-such-label"))
            .await
            .unwrap()
            .is_empty()
    );

    let digest = host
        .run_command(&format!(
            "docker image inspect --format '{{{{index .RepoDigests 0}}}}' {remote}"
        ))
        .await
        .unwrap();
    let by_digest = digest.stdout.trim();
    assert!(by_digest.contains("@sha256:"), "{digest:?}");
    host.pull_image(by_digest, Some(&auth(&bed))).await.unwrap();

    // A pull error arrives in the stream, not as a status: it must still fail the pull.
    let missing = host
        .pull_image(
            &format!("{}/sshtest/absent:v0", bed.registry),
            Some(&auth(&bed)),
        )
        .await
        .unwrap_err();
    assert!(matches!(missing, HostError::Docker { .. }), "{missing}");
    let refused = host
        .pull_image(
            &remote,
            Some(&RegistryAuth {
                password: Secret::new("wrong-password"),
                ..auth(&bed)
            }),
        )
        .await
        .unwrap_err();
    assert!(matches!(refused, HostError::Docker { .. }), "{refused}");
    assert!(!refused.to_string().contains("wrong-password"));

    let network = unique("net");
    host.create_network(&network).await.unwrap();
    host.create_network(&network).await.unwrap();
    let networks = host.list_networks().await.unwrap();
    assert_eq!(networks.iter().filter(|n| **n == network).count(), 1);

    let name = unique("busybox");
    let renamed = unique("renamed");
    let _ = host.remove_container(&name).await;
    let _ = host.remove_container(&renamed).await;
    let spec = ContainerSpec {
        cmd: Some(vec![
            "sh".into(),
            "-c".into(),
            "echo started; echo warming >&2; sleep 0.3; echo ready; exec sleep 300".into(),
        ]),
        env: BTreeMap::from([
            ("CLEAR".to_string(), EnvValue::Clear("visible".into())),
            (
                "SECRET".to_string(),
                EnvValue::Secret(Secret::new("hidden-value")),
            ),
        ]),
        hostname: Some("sshtest-host".into()),
        network: Some(network.clone()),
        restart_policy: RestartPolicy {
            name: "unless-stopped".into(),
            maximum_retry_count: None,
        },
        log_config: LogConfig {
            driver: None,
            options: BTreeMap::from([("max-size".to_string(), "10m".to_string())]),
        },
        binds: vec!["/tmp:/host-tmp:ro".into()],
        ports: vec![gantry::host::PortBinding {
            container_port: "8080/tcp".into(),
            host_ip: "127.0.0.1".into(),
            host_port: String::new(),
        }],
        ..sleeper(&name)
    };
    let id = host.create_container(&spec).await.unwrap();
    let created = host.inspect_container(&id).await.unwrap().unwrap();
    assert_eq!(created.status, ContainerStatus::Created);
    assert_eq!(created.started_at, "");
    host.start_container(&id).await.unwrap();
    let details = host.inspect_container(&name).await.unwrap().unwrap();
    assert_eq!(details.id, id);
    assert_eq!(details.status, ContainerStatus::Running);
    assert!(
        details.started_at.starts_with("20"),
        "{}",
        details.started_at
    );
    assert_eq!(details.exit_code, Some(0));
    assert_eq!(details.health, None);
    assert_eq!(details.image, BUSYBOX);
    assert!(details.image_id.starts_with("sha256:"));
    assert_eq!(details.hostname, "sshtest-host");
    assert_eq!(details.restart_policy.name, "unless-stopped");
    assert_eq!(details.log_config.options["max-size"], "10m");
    assert_eq!(details.binds, vec!["/tmp:/host-tmp:ro"]);
    assert_eq!(details.ports, spec.ports);
    assert_eq!(details.networks, vec![network.clone()]);
    assert!(details.env.contains(&"SECRET=hidden-value".to_string()));
    assert!(
        details.env.iter().any(|pair| pair.starts_with("PATH=")),
        "the image's env is merged in: {:?}",
        details.env
    );
    assert_eq!(details.labels["service"], "sshtest");
    let listed = host
        .list_containers(&ContainerFilter::labels(["service=sshtest"]))
        .await
        .unwrap();
    assert!(listed.iter().any(|c| c.id == id && c.name == name));
    let by_name = host
        .list_containers(&ContainerFilter::name(name.clone()))
        .await
        .unwrap();
    assert_eq!(by_name.len(), 1);
    assert_eq!(by_name[0].state, ContainerStatus::Running);

    let output = host
        .exec_in_container(
            &name,
            &[
                "sh".into(),
                "-c".into(),
                "echo $CLEAR; echo oops >&2; exit 3".into(),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            output.exit_code,
            output.stdout.as_str(),
            output.stderr.trim()
        ),
        (3, "visible\n", "oops")
    );
    let hostname = host
        .read_container_file(&name, "/etc/hostname")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(String::from_utf8(hostname).unwrap().trim(), "sshtest-host");
    assert_eq!(
        host.read_container_file(&name, "/nope").await.unwrap(),
        None
    );
    let mut logs = String::new();
    for _ in 0..30 {
        logs = host.container_logs(&name, 5).await.unwrap();
        if logs.contains("ready") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        logs.contains("started") && logs.contains("warming") && logs.contains("ready"),
        "stdout and stderr: {logs}"
    );
    assert_eq!(
        host.container_logs(&name, 1).await.unwrap(),
        "ready\n",
        "tail 1 keeps only the last line"
    );
    let absent = host
        .exec_in_container("sshtest-absent", &["true".into()])
        .await;
    assert!(
        matches!(absent, Err(HostError::Docker { .. })),
        "{absent:?}"
    );

    host.rename_container(&name, &renamed).await.unwrap();
    host.stop_container(&renamed, Some(Duration::from_secs(1)))
        .await
        .unwrap();
    let stopped = host.inspect_container(&renamed).await.unwrap().unwrap();
    assert_eq!(stopped.status, ContainerStatus::Exited);
    assert_eq!(stopped.exit_code, Some(137));
    host.remove_container(&renamed).await.unwrap();
    assert!(host.inspect_container(&renamed).await.unwrap().is_none());
    let tag = format!("sshtest/tagged:{}", std::process::id());
    host.tag_image(BUSYBOX, &tag).await.unwrap();
    assert!(host.inspect_image(&tag).await.unwrap().is_some());
    host.remove_image(&tag, false).await.unwrap();
    assert!(host.inspect_image(&tag).await.unwrap().is_none());
    host.run_command(&format!("docker network rm {network}"))
        .await
        .unwrap();
}

/// Everything in [`ContainerOptions`] the test bed's daemon accepts at create time.
fn many_options() -> ContainerOptions {
    ContainerOptions {
        user: Some("1000:1000".into()),
        working_dir: Some("/tmp".into()),
        entrypoint: Some(vec!["/bin/sh".into(), "-c".into()]),
        stop_signal: Some("SIGQUIT".into()),
        stop_timeout: Some(25),
        healthcheck: Some(HealthcheckConfig {
            test: vec!["CMD-SHELL".into(), "true".into()],
            interval: Some(2_000_000_000),
            timeout: Some(1_000_000_000),
            start_period: Some(3_000_000_000),
            retries: Some(4),
        }),
        exposed_ports: vec!["9000/tcp".into()],
        tty: true,
        interactive: true,
        nano_cpus: Some(500_000_000),
        cpu_shares: Some(512),
        cpuset_cpus: Some("0".into()),
        memory: Some(96 << 20),
        memory_reservation: Some(32 << 20),
        memory_swap: None,
        shm_size: Some(32 << 20),
        pids_limit: Some(200),
        oom_score_adj: Some(100),
        oom_kill_disable: false,
        ulimits: vec![Ulimit {
            name: "nofile".into(),
            soft: 1024,
            hard: 2048,
        }],
        extra_hosts: vec!["db.internal:10.0.0.9".into()],
        cap_add: vec!["NET_ADMIN".into()],
        cap_drop: vec!["MKNOD".into()],
        devices: vec![DeviceMapping {
            path_on_host: "/dev/null".into(),
            path_in_container: "/dev/nothing".into(),
            permissions: "rwm".into(),
        }],
        dns: vec!["10.0.0.2".into()],
        dns_search: vec!["internal".into()],
        dns_options: vec!["ndots:2".into()],
        init: Some(true),
        privileged: false,
        read_only: true,
        security_opt: vec!["no-new-privileges".into()],
        sysctls: BTreeMap::from([("net.core.somaxconn".to_string(), "1024".to_string())]),
        tmpfs: BTreeMap::from([("/run".to_string(), "rw,size=64m".to_string())]),
        group_add: vec!["audio".into()],
        ipc_mode: None,
        pid_mode: None,
        userns_mode: None,
        uts_mode: None,
        runtime: None,
        gpus: None,
        network_aliases: vec!["web".into(), "api".into()],
        mounts: [
            "type=bind,src=/tmp,dst=/host-tmp,readonly,bind-propagation=rprivate",
            "type=tmpfs,dst=/scratch,tmpfs-size=8m,tmpfs-mode=1770",
            "src=rt-cache,dst=/cache,volume-nocopy,volume-label=team=web",
        ]
        .iter()
        .map(|mount| gantry::docker_args::parse_mount(mount).expect("mount"))
        .collect(),
        cpuset_mems: Some("0".into()),
        device_cgroup_rules: vec!["c 1:3 mr".into()],
        domainname: Some("internal".into()),
        publish_all_ports: true,
        auto_remove: true,
        volume_driver: Some("local".into()),
        isolation: Some("default".into()),
        cgroupns_mode: Some("private".into()),
        // Extra networks: the test bed's daemon (API 1.41) refuses two at creation.
        ..ContainerOptions::default()
    }
}

#[tokio::test]
async fn container_options_round_trip_through_a_real_daemon() {
    let Some(bed) = testbed() else { return };
    let _shared = BED.read().await;
    let host = connected(&bed, &bed.hosts[2]).await;
    ensure_busybox(&bed, &host).await;
    let network = unique("rt-net");
    host.create_network(&network).await.unwrap();
    let cases = [
        ("rt-many", many_options()),
        (
            "rt-host-modes",
            ContainerOptions {
                privileged: true,
                ipc_mode: Some("none".into()),
                pid_mode: Some("host".into()),
                uts_mode: Some("host".into()),
                memory: Some(64 << 20),
                memory_swap: Some(256 << 20),
                // Not with `--cpus` (the daemon refuses both).
                cpu_period: Some(100_000),
                cpu_quota: Some(50_000),
                ..ContainerOptions::default()
            },
        ),
        ("rt-none", ContainerOptions::default()),
    ];
    for (what, options) in cases {
        let name = unique(what);
        let _ = host.remove_container(&name).await;
        let spec = ContainerSpec {
            network: Some(network.clone()),
            options: options.clone(),
            ..sleeper(&name)
        };
        host.create_container(&spec)
            .await
            .unwrap_or_else(|error| panic!("{what}: {error}"));
        let details = host.inspect_container(&name).await.unwrap().unwrap();
        host.remove_container(&name).await.unwrap();
        let mut observed = details.options;
        // Unset, the cgroup namespace is the daemon's pick; the diff ignores it then.
        if options.cgroupns_mode.is_none() {
            observed.cgroupns_mode = None;
        }
        assert_eq!(observed, options, "{what}");
    }
    host.run_command(&format!("docker network rm {network}"))
        .await
        .unwrap();
}

#[tokio::test]
async fn files_and_commands_on_the_host() {
    let Some(bed) = testbed() else { return };
    let _shared = BED.read().await;
    let host = connected(&bed, &bed.hosts[1]).await;
    let root = format!(".{}", unique("files"));
    let path = format!("{root}/dir/file.env");
    let secret = b"KEY=it's \"quoted\" $(not run) `nor this`\n\0binary\xff\n";
    host.write_file(&path, secret, 0o600).await.unwrap();
    let missing = format!("{root}/missing");
    let read = host
        .read_files(&[path.clone(), missing.clone()])
        .await
        .unwrap();
    assert_eq!(read[&path].as_deref(), Some(&secret[..]));
    assert_eq!(read[&missing], None);
    let mode = host
        .run_command(&format!("stat -c %a {path}; ls -a {root}/dir"))
        .await
        .unwrap();
    assert_eq!(
        mode.stdout, "600\n.\n..\nfile.env\n",
        "no temporary file left"
    );
    host.write_file(&path, b"second\n", 0o640).await.unwrap();
    let read = host.read_files(std::slice::from_ref(&path)).await.unwrap();
    assert_eq!(read[&path].as_deref(), Some(&b"second\n"[..]));
    let mode = host
        .run_command(&format!("stat -c %a {path}"))
        .await
        .unwrap();
    assert_eq!(mode.stdout.trim(), "640");

    let log = format!("{root}/audit/audit.log");
    host.append_line(&log, "[t] line one").await.unwrap();
    host.append_line(&log, "[t] line 'two'").await.unwrap();
    let read = host.read_files(std::slice::from_ref(&log)).await.unwrap();
    assert_eq!(
        read[&log].as_deref(),
        Some(&b"[t] line one\n[t] line 'two'\n"[..])
    );

    let lock = format!("{root}/lock dir");
    assert!(host.create_dir_exclusive(&lock).await.unwrap());
    assert!(!host.create_dir_exclusive(&lock).await.unwrap());
    host.remove_path(&lock).await.unwrap();
    host.remove_path(&lock).await.unwrap();
    assert!(host.create_dir_exclusive(&lock).await.unwrap());

    let home = host.home_dir().await.unwrap();
    assert!(home.starts_with('/'));
    assert_eq!(host.home_dir().await.unwrap(), home);
    let pwd = host.run_command("pwd").await.unwrap();
    assert_eq!(
        pwd.stdout.trim(),
        home,
        "commands run in the home directory"
    );

    let failed = host
        .run_command("echo out; echo err >&2; exit 7")
        .await
        .unwrap();
    assert_eq!(
        (
            failed.exit_code,
            failed.stdout.as_str(),
            failed.stderr.as_str()
        ),
        (7, "out\n", "err\n")
    );
    let killed = host.run_command("kill -9 $$").await.unwrap();
    assert!(!killed.success());
    assert!(killed.stderr.contains("killed by signal"), "{killed:?}");

    host.remove_path(&root).await.unwrap();
    let gone = host.read_files(std::slice::from_ref(&path)).await.unwrap();
    assert_eq!(gone[&path], None);
    assert!(host.write_file("/etc/evil", b"x", 0o644).await.is_err());
    assert!(host.remove_path("../etc").await.is_err());
}

#[tokio::test]
async fn twenty_concurrent_commands_share_eight_sessions() {
    let Some(bed) = testbed() else { return };
    let _shared = BED.read().await;
    let host = Arc::new(connected(&bed, &bed.hosts[2]).await);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for index in 0..20 {
        let host = host.clone();
        tasks.push(tokio::spawn(async move {
            host.run_command(&format!("sleep 0.3; echo {index}")).await
        }));
    }
    for (index, task) in tasks.into_iter().enumerate() {
        let output = task.await.unwrap().unwrap();
        assert_eq!(output.stdout.trim(), index.to_string());
    }
    let elapsed = started.elapsed();
    // 8 at a time: three waves of 0.3 s. All 20 at once would take one wave (and sshd would
    // refuse the 11th session).
    assert!(elapsed >= Duration::from_millis(850), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

#[tokio::test]
async fn a_slow_command_times_out_while_the_host_stays_reachable() {
    let Some(bed) = testbed() else { return };
    let _shared = BED.read().await;
    let mut settings = settings(&bed, bed.known_hosts.clone());
    settings.command_timeout = Duration::from_secs(1);
    let host = SshHost::connect(&bed.hosts[2], &settings).await.unwrap();
    let started = Instant::now();
    let error = host.run_command("sleep 5").await.unwrap_err();
    assert!(
        matches!(&error, HostError::Timeout { operation, seconds: 1, .. } if operation == "command"),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(host.run_command("true").await.unwrap().success());
}

/// A second sshd on the first host, with socket forwarding off, on a port of this run's own.
struct ForwardingOffSshd<'a> {
    host: &'a SshHost,
    dir: String,
    port: u16,
}

impl<'a> ForwardingOffSshd<'a> {
    async fn start(bed: &Testbed, host: &'a SshHost) -> ForwardingOffSshd<'a> {
        let dir = format!(".{}", unique("sshd"));
        let port = 20000 + (std::process::id() % 20000) as u16;
        let home = host.home_dir().await.unwrap();
        let public_key = russh::keys::load_secret_key(&bed.key, None)
            .unwrap()
            .public_key()
            .to_openssh()
            .unwrap();
        host.write_file(
            &format!("{dir}/authorized_keys"),
            format!("{public_key}\n").as_bytes(),
            0o600,
        )
        .await
        .unwrap();
        let address = &bed.hosts[0];
        let script = format!(
            "set -e; ssh-keygen -q -t ed25519 -N '' -f {dir}/host_key; \
             /usr/sbin/sshd -f /dev/null -p {port} -o ListenAddress={address} \
             -h {home}/{dir}/host_key -o AuthorizedKeysFile={home}/{dir}/authorized_keys \
             -o StrictModes=no -o PermitRootLogin=prohibit-password \
             -o AllowStreamLocalForwarding=no -o PidFile={home}/{dir}/sshd.pid"
        );
        let started = host.run_command(&script).await.unwrap();
        assert!(started.success(), "{started:?}");
        ForwardingOffSshd { host, dir, port }
    }

    async fn stop(self) {
        let stopped = self
            .host
            .run_command(&format!(
                "kill $(cat {dir}/sshd.pid) && rm -rf {dir}",
                dir = self.dir
            ))
            .await
            .unwrap();
        assert!(stopped.success(), "{stopped:?}");
    }
}

/// API calls over the dial-stdio route: many at once (each holds a session while it runs), and
/// exec, which needs the HTTP upgrade.
async fn exercise_dial_stdio(host: Arc<SshHost>) -> Result<(), String> {
    if host.docker_route() != DockerRoute::DialStdio {
        return Err("socket forwarding is off, yet the route is not dial-stdio".into());
    }
    let mut calls = Vec::new();
    for _ in 0..12 {
        let host = host.clone();
        calls.push(tokio::spawn(async move {
            host.list_containers(&ContainerFilter::default()).await
        }));
    }
    for call in calls {
        call.await
            .map_err(|error| error.to_string())?
            .map_err(|error| error.to_string())?;
    }
    let name = unique("dial");
    let _ = host.remove_container(&name).await;
    let steps = async {
        host.create_container(&sleeper(&name)).await?;
        host.start_container(&name).await?;
        host.exec_in_container(&name, &["echo".into(), "through dial-stdio".into()])
            .await
    };
    let output = steps.await;
    let _ = host.remove_container(&name).await;
    let output = output.map_err(|error| error.to_string())?;
    if output.stdout != "through dial-stdio\n" {
        return Err(format!("exec output lost: {output:?}"));
    }
    Ok(())
}

#[tokio::test]
async fn docker_falls_back_to_dial_stdio_when_socket_forwarding_is_off() {
    let Some(bed) = testbed() else { return };
    let _shared = BED.read().await;
    // The test bed's own host with forwarding off, when it has one.
    let forwarding_off = std::env::var("TESTBED_NO_STREAMLOCAL_HOSTS").unwrap_or_default();
    if let Some(address) = forwarding_off.split_whitespace().next() {
        let host = Arc::new(connected(&bed, address).await);
        ensure_busybox(&bed, &host).await;
        exercise_dial_stdio(host).await.unwrap();
        return;
    }
    // Else a second sshd on the first host, started through the Host API.
    let first = connected(&bed, &bed.hosts[0]).await;
    ensure_busybox(&bed, &first).await;
    let sshd = ForwardingOffSshd::start(&bed, &first).await;
    let entry = format!("{}:{}", bed.hosts[0], sshd.port);
    let dir = tempfile::tempdir().unwrap();
    let outcome = async {
        let mut last_error = String::new();
        for _ in 0..30 {
            match SshHost::connect(&entry, &settings(&bed, dir.path().join("known_hosts"))).await {
                Ok(host) => return exercise_dial_stdio(Arc::new(host)).await,
                Err(error) => last_error = error.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "the second sshd never accepted a connection: {last_error}"
        ))
    }
    .await;
    sshd.stop().await;
    outcome.unwrap();
}

/// Whether the test bed puts its latency relay in front of each host's sshd
/// (`TESTBED_LATENCY_MS` above 0): sshd then sees every client at the relay's loopback address,
/// so which host a connection came through cannot be read from `$SSH_CLIENT`.
fn sshd_sees_the_relay() -> bool {
    std::env::var("TESTBED_LATENCY_MS")
        .ok()
        .and_then(|value| value.parse::<u64>().ok())
        .is_some_and(|latency| latency > 0)
}

/// The client address sshd saw, or `expected` itself behind the relay (see
/// [`sshd_sees_the_relay`]), where the address is the relay's.
fn ssh_client_address_or_relayed(output: &gantry::host::CommandOutput, expected: &str) -> String {
    let address = ssh_client_address(output);
    if sshd_sees_the_relay() && address == "127.0.0.1" {
        return expected.to_string();
    }
    address
}

fn ssh_client_address(output: &gantry::host::CommandOutput) -> String {
    output
        .stdout
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_jump_host_carries_the_connection_and_the_docker_api() {
    let Some(bed) = testbed() else { return };
    let _shared = BED.read().await;
    let mut settings = settings(&bed, bed.known_hosts.clone());
    // deploy.yml `ssh.proxy: <h1>`: Kamal logs in to it as root.
    settings.jump = Some(bed.hosts[0].clone());
    let host = SshHost::connect(&bed.hosts[1], &settings).await.unwrap();
    let client = host.run_command("echo $SSH_CLIENT").await.unwrap();
    assert_eq!(
        ssh_client_address_or_relayed(&client, &bed.hosts[0]),
        bed.hosts[0],
        "{client:?}"
    );
    assert_eq!(host.docker_route(), DockerRoute::StreamLocal);
    assert!(!host.list_networks().await.unwrap().is_empty());

    // A jump host whose key changed fails the connection as the target's, naming the jump.
    let dir = tempfile::tempdir().unwrap();
    let known_hosts = dir.path().join("known_hosts");
    let other_key = std::fs::read_to_string(&bed.known_hosts)
        .unwrap()
        .lines()
        .find(|line| line.starts_with(&format!("{} ", bed.hosts[2])))
        .map(|line| line.split_once(' ').unwrap().1.to_string())
        .unwrap();
    std::fs::write(&known_hosts, format!("{} {other_key}\n", bed.hosts[0])).unwrap();
    settings.known_hosts = Some(known_hosts);
    let error = SshHost::connect(&bed.hosts[1], &settings)
        .await
        .unwrap_err();
    assert_eq!(error.host(), bed.hosts[1]);
    assert!(error.is_connection());
    assert!(
        error.to_string().contains("jump host root@") && error.to_string().contains("changed"),
        "{error}"
    );
}

#[tokio::test]
async fn a_proxy_command_carries_the_connection() {
    let Some(bed) = testbed() else { return };
    let _shared = BED.read().await;
    let mut settings = settings(&bed, bed.known_hosts.clone());
    settings.proxy_command = Some(format!(
        "ssh -F none -i {} -o UserKnownHostsFile={} -o BatchMode=yes -W %h:%p root@{}",
        bed.key.display(),
        bed.known_hosts.display(),
        bed.hosts[0]
    ));
    let host = SshHost::connect(&bed.hosts[2], &settings).await.unwrap();
    let client = host.run_command("echo $SSH_CLIENT").await.unwrap();
    assert_eq!(
        ssh_client_address_or_relayed(&client, &bed.hosts[0]),
        bed.hosts[0],
        "{client:?}"
    );
    assert!(!host.list_networks().await.unwrap().is_empty());
}

#[tokio::test]
async fn unreachable_addresses_fail_within_the_connect_timeout() {
    let Some(bed) = testbed() else { return };
    let _shared = BED.read().await;
    let mut settings = settings(&bed, bed.known_hosts.clone());
    settings.connect_timeout = Duration::from_secs(2);
    // An address on the test bed's bridge that no host answers.
    let missing = format!("{}.250", bed.registry.rsplit_once('.').unwrap().0);
    let started = Instant::now();
    let results = connect_all(
        &[missing.clone(), bed.hosts[0].clone(), bed.hosts[1].clone()],
        &settings,
        2,
    )
    .await;
    let names: Vec<&str> = results.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [missing.as_str(), &bed.hosts[0], &bed.hosts[1]],
        "input order"
    );
    let (_, failed) = results.iter().find(|(name, _)| *name == missing).unwrap();
    let error = failed.as_ref().unwrap_err();
    assert!(matches!(error, HostError::Unreachable { .. }), "{error}");
    assert_eq!(error.host(), missing);
    assert!(started.elapsed() < Duration::from_secs(5));
    for host in &bed.hosts[..2] {
        assert!(
            results
                .iter()
                .any(|(name, result)| name == host && result.is_ok())
        );
    }
}

/// Puts a cut host back even when the test fails half-way.
struct Heal {
    script: PathBuf,
    index: String,
}

impl Drop for Heal {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(&self.script)
            .args(["heal", &self.index])
            .status();
    }
}

#[tokio::test]
async fn a_host_cut_off_the_network_becomes_unreachable_within_the_timeouts() {
    let Some(bed) = testbed() else { return };
    let Some(script) = std::env::var_os("TESTBED_SCRIPT").map(PathBuf::from) else {
        skip("set TESTBED_SCRIPT to testbed.sh to cut a host off the network");
        return;
    };
    let _alone = BED.write().await;
    let mut settings = settings(&bed, bed.known_hosts.clone());
    settings.connect_timeout = Duration::from_secs(3);
    settings.command_timeout = Duration::from_secs(3);
    let name = &bed.hosts[1];
    let host = SshHost::connect(name, &settings).await.unwrap();
    host.list_networks().await.unwrap();

    let cut = std::process::Command::new("bash")
        .arg(&script)
        .args(["cut", "2"])
        .status()
        .unwrap();
    assert!(cut.success());
    let heal = Heal {
        script,
        index: "2".into(),
    };
    let started = Instant::now();
    let api = host
        .list_containers(&ContainerFilter::default())
        .await
        .unwrap_err();
    let exec = host.run_command("true").await.unwrap_err();
    let fresh = SshHost::connect(name, &settings).await.unwrap_err();
    let elapsed = started.elapsed();
    drop(heal);
    note(&format!(
        "cut host: API call -> {api}; command -> {exec}; new connection -> {fresh}; {elapsed:?} in all"
    ));
    // Each within its deadline (3 s) and the liveness probe (3 s).
    for error in [&api, &exec, &fresh] {
        assert!(matches!(error, HostError::Unreachable { .. }), "{error}");
        assert_eq!(error.host(), name);
    }
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");

    // Back on the network: a new connection works again.
    let mut back = None;
    for _ in 0..50 {
        if let Ok(host) = SshHost::connect(name, &settings).await {
            back = Some(host);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    back.expect("the host is back after heal")
        .list_networks()
        .await
        .unwrap();
}

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::test]
async fn connection_costs_on_the_test_bed() {
    let Some(bed) = testbed() else { return };
    let _alone = BED.write().await;
    let settings = settings(&bed, bed.known_hosts.clone());
    let mut connects = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        SshHost::connect(&bed.hosts[0], &settings).await.unwrap();
        connects.push(started.elapsed());
    }
    let host = connected(&bed, &bed.hosts[0]).await;
    let mut calls = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        host.list_networks().await.unwrap();
        calls.push(started.elapsed());
    }
    let paths: Vec<String> = (0..3).map(|i| format!(".sshtest-absent-{i}")).collect();
    let mut reads = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        host.read_files(&paths).await.unwrap();
        reads.push(started.elapsed());
    }
    let before = resident_kib();
    let hosts: Vec<String> = bed.hosts.iter().cycle().take(30).cloned().collect();
    let all = connect_all(&hosts, &settings, 30).await;
    assert!(all.iter().all(|(_, result)| result.is_ok()));
    let after = resident_kib();
    let (connect, call, read) = (median(connects), median(calls), median(reads));
    note(&format!(
        "connect (median of 5): {connect:?}; one API call (median of 20): {call:?}; \
         read_files of 3 paths (median of 20): {read:?}; resident memory: {before} KiB, \
         {after} KiB with 30 more connections ({} KiB each)",
        after.saturating_sub(before) / 30
    ));
    assert!(connect < Duration::from_secs(2), "{connect:?}");
    assert!(call < Duration::from_millis(500), "{call:?}");
    assert!(read < Duration::from_millis(500), "{read:?}");
}
