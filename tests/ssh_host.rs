//! The SSH host against real sshd and dockerd on the test bed.
//!
//! Needs the test bed (`tests/testbed/testbed.sh up`) and its environment (`testbed.sh env`).
//! Without it these tests are skipped with a message, unless `GANTRY_REQUIRE_TESTBED=1` (CI),
//! where they fail.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gantry::config::{GantrySettings, Ssh, SshConfigFiles};
use gantry::host::ssh::{DockerRoute, SshHost, SshSettings, connect_all};
use gantry::host::{
    ContainerFilter, ContainerSpec, ContainerStatus, EnvValue, Host, HostError, RegistryAuth,
};
use gantry::secret::Secret;

struct Testbed {
    hosts: Vec<String>,
    key: PathBuf,
    known_hosts: PathBuf,
    registry: String,
    user: String,
    password: String,
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
    })();
    if found.is_none() {
        if std::env::var("GANTRY_REQUIRE_TESTBED").as_deref() == Ok("1") {
            panic!("GANTRY_REQUIRE_TESTBED=1 but the test bed environment is missing");
        }
        eprintln!(
            "skipped: test bed not running; run `tests/testbed/testbed.sh up` and `eval \"$(tests/testbed/testbed.sh env)\"`"
        );
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

#[tokio::test]
async fn new_host_keys_are_recorded_and_changed_ones_refused_before_anything_runs() {
    let Some(bed) = testbed() else { return };
    let dir = tempfile::tempdir().unwrap();
    let known_hosts = dir.path().join("known_hosts");
    let host = &bed.hosts[0];
    let connection = SshHost::connect(host, &settings(&bed, known_hosts.clone()))
        .await
        .unwrap();
    assert!(connection.home_dir().await.unwrap().starts_with('/'));
    let recorded = std::fs::read_to_string(&known_hosts).unwrap();
    assert!(
        recorded.contains(&format!("{host} ssh-ed25519 ")),
        "{recorded}"
    );

    // Another host's key under this host's name: a changed key.
    let other = std::fs::read_to_string(&bed.known_hosts)
        .unwrap()
        .lines()
        .find(|line| !line.starts_with(&format!("{host} ")))
        .map(|line| line.split_once(' ').unwrap().1.to_string())
        .unwrap();
    std::fs::write(&known_hosts, format!("{host} {other}\n")).unwrap();
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
    assert_eq!(*line, 1);
    assert!(
        error.to_string().contains("the host key changed"),
        "{error}"
    );
}

#[tokio::test]
async fn docker_api_over_ssh_runs_a_container_end_to_end() {
    let Some(bed) = testbed() else { return };
    let host = connected(&bed, &bed.hosts[0]).await;
    assert_eq!(host.docker_route(), DockerRoute::StreamLocal);
    let image = format!("{}/testbed/busybox:latest", bed.registry);
    host.pull_image(&image, Some(&auth(&bed))).await.unwrap();
    assert!(host.inspect_image(&image).await.unwrap().is_some());
    host.create_network("sshtest-net").await.unwrap();
    host.create_network("sshtest-net").await.unwrap();
    assert!(
        host.list_networks()
            .await
            .unwrap()
            .contains(&"sshtest-net".to_string())
    );

    let name = "sshtest-busybox";
    let _ = host.remove_container(name).await;
    let spec = ContainerSpec {
        name: name.into(),
        image: image.clone(),
        cmd: Some(vec![
            "sh".into(),
            "-c".into(),
            "echo started; exec sleep 300".into(),
        ]),
        env: BTreeMap::from([
            ("CLEAR".to_string(), EnvValue::Clear("visible".into())),
            (
                "SECRET".to_string(),
                EnvValue::Secret(Secret::new("hidden-value")),
            ),
        ]),
        labels: BTreeMap::from([("service".to_string(), "sshtest".to_string())]),
        hostname: Some("sshtest-host".into()),
        network: Some("sshtest-net".into()),
        restart_policy: gantry::host::RestartPolicy {
            name: "unless-stopped".into(),
            maximum_retry_count: None,
        },
        log_config: gantry::host::LogConfig {
            driver: None,
            options: BTreeMap::from([("max-size".to_string(), "10m".to_string())]),
        },
        binds: vec!["/tmp:/host-tmp:ro".into()],
        ports: Vec::new(),
        options: gantry::host::ContainerOptions {
            memory: Some(64 * 1024 * 1024),
            init: Some(true),
            cap_drop: vec!["NET_RAW".into()],
            ..Default::default()
        },
    };
    let id = host.create_container(&spec).await.unwrap();
    host.start_container(&id).await.unwrap();
    let details = host.inspect_container(name).await.unwrap().unwrap();
    assert_eq!(details.status, ContainerStatus::Running);
    assert_eq!(details.options.memory, Some(64 * 1024 * 1024));
    assert_eq!(details.options.init, Some(true));
    assert_eq!(details.options.cap_drop, vec!["NET_RAW"]);
    assert_eq!(details.restart_policy.name, "unless-stopped");
    assert_eq!(details.networks, vec!["sshtest-net"]);
    assert!(details.env.contains(&"SECRET=hidden-value".to_string()));
    let listed = host
        .list_containers(&ContainerFilter::labels(["service=sshtest"]))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);

    let output = host
        .exec_in_container(
            name,
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
        .read_container_file(name, "/etc/hostname")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(String::from_utf8(hostname).unwrap().trim(), "sshtest-host");
    assert_eq!(host.read_container_file(name, "/nope").await.unwrap(), None);
    assert!(
        host.container_logs(name, 5)
            .await
            .unwrap()
            .contains("started")
    );

    host.rename_container(name, "sshtest-renamed")
        .await
        .unwrap();
    host.stop_container("sshtest-renamed", Some(Duration::from_secs(1)))
        .await
        .unwrap();
    host.remove_container("sshtest-renamed").await.unwrap();
    assert!(
        host.inspect_container("sshtest-renamed")
            .await
            .unwrap()
            .is_none()
    );
    host.tag_image(&image, "sshtest/tagged:v1").await.unwrap();
    host.remove_image("sshtest/tagged:v1", false).await.unwrap();
}

#[tokio::test]
async fn files_and_commands_on_the_host() {
    let Some(bed) = testbed() else { return };
    let host = connected(&bed, &bed.hosts[1]).await;
    let path = ".sshtest/dir/file.env";
    host.write_file(path, b"KEY=it's \"quoted\"\n", 0o600)
        .await
        .unwrap();
    let read = host
        .read_files(&[path.to_string(), ".sshtest/missing".to_string()])
        .await
        .unwrap();
    assert_eq!(read[path].as_deref(), Some(&b"KEY=it's \"quoted\"\n"[..]));
    assert_eq!(read[".sshtest/missing"], None);
    let mode = host
        .run_command(&format!("stat -c %a {path}"))
        .await
        .unwrap();
    assert_eq!(mode.stdout.trim(), "600");
    host.append_line(".sshtest/audit.log", "[t] line one")
        .await
        .unwrap();
    host.append_line(".sshtest/audit.log", "[t] line two")
        .await
        .unwrap();
    let log = host
        .read_files(&[".sshtest/audit.log".to_string()])
        .await
        .unwrap();
    assert_eq!(
        log[".sshtest/audit.log"].as_deref(),
        Some(&b"[t] line one\n[t] line two\n"[..])
    );
    assert!(host.create_dir_exclusive(".sshtest/lock").await.unwrap());
    assert!(!host.create_dir_exclusive(".sshtest/lock").await.unwrap());
    host.remove_path(".sshtest").await.unwrap();
    assert!(host.create_dir_exclusive(".sshtest/lock").await.unwrap());
    host.remove_path(".sshtest").await.unwrap();
    assert!(host.write_file("/etc/evil", b"x", 0o644).await.is_err());
    assert!(host.remove_path("../etc").await.is_err());
}

#[tokio::test]
async fn twenty_concurrent_commands_share_eight_sessions() {
    let Some(bed) = testbed() else { return };
    let host = Arc::new(connected(&bed, &bed.hosts[2]).await);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for index in 0..20 {
        let host = host.clone();
        tasks.push(tokio::spawn(async move {
            host.run_command(&format!("sleep 0.2; echo {index}")).await
        }));
    }
    for (index, task) in tasks.into_iter().enumerate() {
        let output = task.await.unwrap().unwrap();
        assert_eq!(output.stdout.trim(), index.to_string());
    }
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn unreachable_hosts_fail_within_the_connect_timeout() {
    let Some(bed) = testbed() else { return };
    let mut settings = settings(&bed, bed.known_hosts.clone());
    settings.connect_timeout = Duration::from_secs(2);
    // An address on the test bed's bridge that no host answers.
    let missing = format!("{}.250", bed.registry.rsplit_once('.').unwrap().0);
    let started = Instant::now();
    let results = connect_all(&[missing.clone(), bed.hosts[0].clone()], &settings, 4).await;
    let (_, failed) = results.iter().find(|(name, _)| *name == missing).unwrap();
    let error = failed.as_ref().unwrap_err();
    assert!(error.is_connection(), "{error}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        results
            .iter()
            .any(|(name, result)| *name == bed.hosts[0] && result.is_ok())
    );
}
