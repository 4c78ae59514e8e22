//! End-to-end checks of the test bed itself: the hosts answer over SSH and run Docker, reach
//! each other (also through a jump host), the registry wants its credentials, sshd forwards
//! unix sockets where it should, and every fault `testbed.sh` injects has the effect it claims
//! and can be undone; `TESTBED_LATENCY_MS` and `TESTBED_SESSION_MS` cost what they say.
//!
//! Needs the test bed (`tests/testbed/testbed.sh up`); skipped without it, failed without it in
//! CI. Each test holds the test bed exclusively, because faults affect every user of a host.

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use gantry_testsupport::http;
use gantry_testsupport::{Fault, Testbed, wait};

const SETTLE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(200);

/// Puts a fault right on drop, so a failing assertion cannot leave a host broken.
struct Undo<'a> {
    testbed: &'a Testbed,
    fault: Fault,
    host: usize,
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        self.testbed.inject(self.fault, self.host);
    }
}

fn inject<'a>(testbed: &'a Testbed, fault: Fault, undo: Fault, host: usize) -> Undo<'a> {
    testbed.inject(fault, host);
    Undo {
        testbed,
        fault: undo,
        host,
    }
}

fn ssh_works(testbed: &Testbed, host: &str) -> bool {
    testbed.run_on(host, "true").success
}

fn docker_works(testbed: &Testbed, host: &str) -> bool {
    testbed
        .run_on(host, "docker info --format '{{.ServerVersion}}'")
        .success
}

#[test]
fn every_host_answers_over_ssh_and_runs_its_own_docker() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive();
    let mut docker_roots = Vec::new();
    for (index, host) in testbed.hosts.iter().enumerate() {
        let output = testbed.run_ok(
            host,
            "hostname; docker info --format '{{.DockerRootDir}}'; echo $HOME; ls -A ~",
        );
        let lines: Vec<&str> = output.lines().collect();
        assert!(
            lines[0].ends_with(&format!("-h{}", index + 1)),
            "host name of {host}: {output}"
        );
        docker_roots.push(lines[1].to_string());
        assert_eq!(lines[2], "/root");
    }
    docker_roots.dedup();
    assert_eq!(
        docker_roots.len(),
        testbed.hosts.len(),
        "each host has its own dockerd: {docker_roots:?}"
    );
    // the home directory is per host: a file made on host 1 is not on host 2
    let (first, second) = (testbed.host(1), testbed.host(2));
    testbed.run_ok(first, "touch ~/.e2e-marker");
    assert!(!testbed.run_on(second, "test -e ~/.e2e-marker").success);
    testbed.run_ok(first, "rm ~/.e2e-marker");
}

#[test]
fn hosts_reach_each_other_directly_and_through_a_jump_host() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive();
    let (jump, target) = (testbed.host(1), testbed.host(2));
    testbed.run_ok(jump, &format!("timeout 3 bash -c '</dev/tcp/{target}/22'"));

    let proxy_command = format!(
        "ssh {} -W %h:%p {}@{jump}",
        testbed.ssh_options().join(" "),
        testbed.ssh_user
    );
    let output = Command::new("ssh")
        .args(testbed.ssh_options())
        .arg("-o")
        .arg(format!("ProxyCommand={proxy_command}"))
        .arg(format!("{}@{target}", testbed.ssh_user))
        .arg("hostname -I")
        .output()
        .unwrap();
    let addresses = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        addresses
            .split_whitespace()
            .any(|address| address == target),
        "{addresses}"
    );
}

#[test]
fn the_registry_wants_credentials_and_hosts_can_log_in() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive();
    let timeout = Duration::from_secs(5);
    let anonymous = http::get(&testbed.registry, "/v2/", None, timeout).unwrap();
    assert_eq!(anonymous.status, 401);

    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        testbed.registry_user, testbed.registry_password
    ));
    let address = &testbed.registry;
    let stream = std::net::TcpStream::connect(address).unwrap();
    let authorized = http::exchange(
        stream,
        address,
        "/v2/",
        address,
        &[("Authorization", &format!("Basic {token}"))],
    )
    .unwrap();
    assert_eq!(authorized.status, 200);

    let host = testbed.host(1);
    testbed.docker_login(host);
    let wrong = testbed.run_on(
        host,
        &format!(
            "printf wrong | docker login -u {} --password-stdin {}",
            testbed.registry_user, testbed.registry
        ),
    );
    assert!(!wrong.success, "a wrong password is refused");
    testbed.docker_login(host);
}

/// Forwards a local unix socket to the host's Docker socket with `ssh -L`.
fn forward_docker_socket(testbed: &Testbed, host: &str, local: &Path) -> Child {
    Command::new("ssh")
        .args(testbed.ssh_options())
        .args(["-N", "-o", "ExitOnForwardFailure=yes", "-L"])
        .arg(format!("{}:/var/run/docker.sock", local.display()))
        .arg(format!("{}@{host}", testbed.ssh_user))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn docker_ping_through(socket: &Path) -> Option<String> {
    let stream = UnixStream::connect(socket).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    http::exchange(stream, "docker", "/_ping", "docker", &[])
        .ok()
        .map(|response| response.text())
}

#[test]
fn sshd_forwards_the_docker_socket_except_where_disabled() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive();
    let scratch = tempfile::tempdir().unwrap();
    let allowed = testbed
        .hosts
        .iter()
        .find(|host| !testbed.no_streamlocal_hosts.contains(host))
        .expect("a host with forwarding");
    let socket = scratch.path().join("allowed.sock");
    let mut forward = forward_docker_socket(&testbed, allowed, &socket);
    let pong = wait::until(SETTLE, POLL, || docker_ping_through(&socket));
    let _ = forward.kill();
    let _ = forward.wait();
    assert_eq!(
        pong.as_deref(),
        Some("OK"),
        "Docker's /_ping through direct-streamlocal on {allowed}"
    );

    for host in &testbed.no_streamlocal_hosts {
        let socket = scratch.path().join("refused.sock");
        let mut forward = forward_docker_socket(&testbed, host, &socket);
        let appeared = wait::until_true(SETTLE, POLL, || socket.exists());
        let answer = appeared.then(|| docker_ping_through(&socket)).flatten();
        let _ = forward.kill();
        let _ = forward.wait();
        assert!(
            appeared,
            "ssh -L listens locally even when the server refuses"
        );
        assert_eq!(answer, None, "{host} must refuse direct-streamlocal");
    }
}

#[test]
fn cut_takes_a_host_off_the_network_and_heal_brings_it_back() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive();
    let number = testbed.hosts.len();
    let host = testbed.host(number).to_string();
    {
        let _heal = inject(&testbed, Fault::Cut, Fault::Heal, number);
        assert!(!ssh_works(&testbed, &host), "a cut host does not answer");
        assert!(
            ssh_works(&testbed, testbed.host(1)),
            "other hosts are unaffected"
        );
    }
    assert!(
        wait::until_true(SETTLE, POLL, || ssh_works(&testbed, &host)),
        "{host} answers after heal"
    );
}

#[test]
fn docker_stop_stops_only_dockerd_and_docker_start_restarts_it() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive();
    let number = 2;
    let host = testbed.host(number).to_string();
    {
        let _start = inject(&testbed, Fault::DockerStop, Fault::DockerStart, number);
        assert!(ssh_works(&testbed, &host), "sshd keeps running");
        assert!(!docker_works(&testbed, &host), "dockerd is stopped");
    }
    assert!(
        docker_works(&testbed, &host),
        "docker-start waits until dockerd answers"
    );
}

#[test]
fn ssh_stop_refuses_connections_until_ssh_start() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive();
    let number = 2;
    let host = testbed.host(number).to_string();
    {
        let _start = inject(&testbed, Fault::SshStop, Fault::SshStart, number);
        assert!(!ssh_works(&testbed, &host));
        let refused = std::net::TcpStream::connect_timeout(
            &format!("{host}:22").parse().unwrap(),
            Duration::from_secs(3),
        );
        assert!(refused.is_err(), "nothing listens on port 22");
    }
    assert!(ssh_works(&testbed, &host));
}

#[test]
fn disk_full_makes_pulls_fail_until_disk_heal() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive();
    let number = testbed.hosts.len();
    let host = testbed.host(number).to_string();
    let image = format!("{}:v1", testbed.testapp_image);
    testbed.docker_login(&host);
    let pull = format!("docker image rm -f {image} >/dev/null 2>&1; docker pull -q {image}");
    {
        let _heal = inject(&testbed, Fault::DiskFull, Fault::DiskHeal, number);
        let full = testbed.run_on(&host, &pull);
        assert!(!full.success, "a pull on a full disk fails");
        assert!(
            full.stderr.contains("no space left on device"),
            "{}",
            full.stderr
        );
    }
    testbed.run_ok(&host, &pull);
}

/// The time from a TCP connect to the first byte the server sends: with the test bed's latency,
/// the relay opens its own connect one delay after the accept, and the banner comes back one
/// delay later, so this is one round trip.
fn time_to_first_byte(address: &str) -> Duration {
    use std::io::Read;
    let started = std::time::Instant::now();
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut first = [0u8; 1];
    stream.read_exact(&mut first).unwrap();
    started.elapsed()
}

/// One HTTP request on an open connection: a round trip to the registry.
fn registry_round_trip(registry: &str) -> Duration {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(registry).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let request = format!("GET /v2/ HTTP/1.1\r\nHost: {registry}\r\nConnection: close\r\n\r\n");
    let started = std::time::Instant::now();
    stream.write_all(request.as_bytes()).unwrap();
    let mut status = [0u8; 12];
    stream.read_exact(&mut status).unwrap();
    let round_trip = started.elapsed();
    assert_eq!(
        &status, b"HTTP/1.1 401",
        "the registry asks for credentials"
    );
    round_trip
}

#[test]
fn ssh_and_the_registry_are_as_far_away_as_testbed_latency_ms_says() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let round_trip = 2 * testbed.latency;
    // generous: a shared machine, and tokio's timer rounds up to the next millisecond
    let ceiling = round_trip + Duration::from_millis(500);
    for host in &testbed.hosts {
        let banner = time_to_first_byte(&format!("{host}:22"));
        assert!(
            banner >= round_trip && banner < ceiling,
            "{host}'s SSH banner after {banner:?}, expected one round trip of {round_trip:?}"
        );
    }
    // the hosts reach the registry through the same delay (pulls are far away too)
    let registry = registry_round_trip(&testbed.registry);
    assert!(
        registry >= round_trip && registry < ceiling,
        "registry answered after {registry:?}, expected one round trip of {round_trip:?}"
    );
    let host = testbed.host(1);
    let from_host = testbed.run_ok(
        host,
        &format!(
            "s=$(date +%s%N); curl -s -o /dev/null http://{}/v2/; echo $(( ($(date +%s%N) - s) / 1000000 ))",
            testbed.registry
        ),
    );
    // whole milliseconds, cut down: 79.6 ms reads 79
    let from_host = Duration::from_millis(from_host.trim().parse::<u64>().unwrap() + 1);
    // The relay's accept is local: a client that speaks first (HTTP) pays the connect's round
    // trip only where the upstream connection opens late, so one round trip is the floor.
    assert!(
        from_host >= round_trip,
        "{host} reached the registry in {from_host:?} (at least a round trip of {round_trip:?})"
    );
}

#[test]
fn each_ssh_session_costs_testbed_session_ms() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let control = tempfile::tempdir().unwrap();
    let socket = control.path().join("master");
    let host = testbed.host(1);
    let target = format!("{}@{host}", testbed.ssh_user);
    let mut master = Command::new("ssh")
        .args(testbed.ssh_options())
        .args(["-N", "-o", "ControlMaster=yes", "-o"])
        .arg(format!("ControlPath={}", socket.display()))
        .arg(&target)
        .spawn()
        .unwrap();
    let ready = wait::until_true(SETTLE, POLL, || socket.exists());
    assert!(ready, "the master connection to {host} did not come up");
    // sessions on the open connection: each costs its open, beside one round trip
    let mut fastest = Duration::MAX;
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let status = Command::new("ssh")
            .args(testbed.ssh_options())
            .arg("-o")
            .arg(format!("ControlPath={}", socket.display()))
            .arg(&target)
            .arg("true")
            .status()
            .unwrap();
        assert!(status.success());
        fastest = fastest.min(started.elapsed());
    }
    let _ = master.kill();
    let _ = master.wait();
    let expected = testbed.session_cost + 2 * testbed.latency;
    assert!(
        fastest >= expected,
        "a session on {host} opened and ran `true` in {fastest:?}, expected at least {expected:?}"
    );
    assert!(
        fastest < expected + Duration::from_secs(1),
        "a session on {host} took {fastest:?}, far more than {expected:?}"
    );
}
