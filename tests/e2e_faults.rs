//! Faults during `gantry apply` on the test bed (specs/reliability.md, "Faults during apply").
//!
//! The test app runs on three hosts behind kamal-proxy, with a `db` accessory holding a data
//! file on host 1. Each scenario deploys a new version with `boot.limit: 1` (hosts one after
//! the other) and a slow start, so that "host 2 is in its route switch" and "host 2 has switched,
//! host 3 has not started" are moments a test can aim at. A fault is injected at such a point
//! while a request loop hits every host's proxy; then, after each:
//!
//! - every host serves again (v-old or v-new) and the loop saw no failed request on the hosts
//!   the fault did not take away;
//! - the accessory is the same container and its data file is intact;
//! - the deploy lock is released (or, when the lock host itself was cut off, taken over by the
//!   next run once the dead run's heartbeat is stale);
//! - once the fault is healed, one rerun converges and a plan after it is empty.
//!
//! Each scenario prints a `ROW |` line (run with `--nocapture`): the table in
//! specs/reliability.md is made of them. By default each fault is tried at one or two points
//! (the suite must fit CI's time); `GANTRY_FAULTS_ALL=1` tries every point of the table.

mod deployment;

use std::process::Command;
use std::time::{Duration, Instant};

use deployment::{Deployment, RUN_TIMEOUT};
use gantry_testsupport::gantry::{Background, GantryRun};
use gantry_testsupport::http::{LoopLimits, LoopReport, RequestLoop};
use gantry_testsupport::{Fault, Testbed, wait};

const SERVICE: &str = "gantry-faults";

/// Whether to try every point of every fault (`GANTRY_FAULTS_ALL=1`), not the CI selection.
fn every_point() -> bool {
    std::env::var_os("GANTRY_FAULTS_ALL").is_some_and(|value| value != "0")
}

/// A deployment with the accessory, hosts booted one at a time, and a slow start.
fn deployment(testbed: &Testbed) -> Deployment {
    Deployment::new(testbed, SERVICE, 3, |app| {
        app.extra_yaml = format!(
            "boot:\n  limit: 1\naccessories:\n  db:\n    image: {}/testbed/busybox:latest\n    host: {}\n    cmd: sleep 1000000\n    directories:\n      - data:/data\n",
            testbed.registry, testbed.hosts[0]
        );
    })
}

/// The accessory's container id and its data file, on host 1.
fn accessory_state(deployment: &Deployment) -> (String, String) {
    let host = &deployment.hosts[0];
    let id = deployment.testbed.run_ok(
        host,
        &format!("docker inspect -f '{{{{.Id}}}} {{{{.State.Status}}}}' {SERVICE}-db"),
    );
    let data = deployment.testbed.run_ok(
        host,
        &format!("cat ~/{SERVICE}-db/data/precious 2>&1; true"),
    );
    (id.trim().to_string(), data.trim().to_string())
}

/// One measured scenario: a line of the table.
struct Row {
    fault: String,
    point: String,
    exit: Option<i32>,
    hosts: String,
    requests: String,
    lock: String,
    rerun: String,
}

impl Row {
    fn print(&self) {
        eprintln!(
            "ROW | {} | {} | {} | {} | {} | {} | {} |",
            self.fault,
            self.point,
            self.exit
                .map_or("killed".to_string(), |code| code.to_string()),
            self.hosts,
            self.requests,
            self.lock,
            self.rerun
        );
    }
}

/// The host lines of gantry's outcome (`10.79.0.12  rolled back: ...`), shortened.
fn host_outcomes(run: &GantryRun, deployment: &Deployment) -> String {
    let mut outcomes = Vec::new();
    for (index, host) in deployment.hosts.iter().enumerate() {
        let line = run
            .stdout
            .lines()
            .find(|line| line.trim_start().starts_with(&format!("{host} ")))
            .map(|line| line.trim_start()[host.len()..].trim().to_string());
        let short = match line {
            Some(text) if text.starts_with("converged") => "converged",
            Some(text) if text.starts_with("rolled back") => "rolled back",
            Some(text) if text.starts_with("FAILED") => "FAILED (not fully rolled back)",
            Some(text) if text.starts_with("unreachable") => "unreachable, untouched",
            Some(text) if text.starts_with("unchanged, skipped") => "skipped",
            Some(text) if text.starts_with("unchanged, cancelled") => "cancelled before start",
            Some(text) if text.starts_with("no changes") => "no changes",
            Some(_) => "other",
            None if run.stdout.contains("Apply finished") => "not in the outcome",
            None => "nothing ran",
        };
        outcomes.push(format!("h{}: {short}", index + 1));
    }
    outcomes.join(", ")
}

/// Failed requests over all hosts, and on the hosts the fault took away.
fn request_summary(report: &LoopReport, deployment: &Deployment, hit: &[usize]) -> (usize, String) {
    let mut spared_failures = 0;
    let mut parts = Vec::new();
    for (index, address) in deployment.proxy_addresses().iter().enumerate() {
        let sent = report
            .answers
            .iter()
            .filter(|answer| &answer.address == address)
            .count();
        let failed = report
            .failures()
            .iter()
            .filter(|answer| &answer.address == address)
            .count();
        if hit.contains(&(index + 1)) {
            parts.push(format!("h{}: {failed}/{sent} failed (fault)", index + 1));
        } else {
            spared_failures += failed;
            parts.push(format!("h{}: {failed}/{sent}", index + 1));
        }
    }
    (spared_failures, parts.join(", "))
}

/// Kills gantry's SSH connection(s) to `host` from this side (`ss -K`): the TCP connection is
/// gone, the host itself stays up.
fn drop_connection(run: &Background, host: &str) -> usize {
    let listing = Command::new("ss")
        .args(["-tnpH", "dst", host, "dport", "=", ":22"])
        .output()
        .expect("ss");
    let marker = format!("pid={},", run.pid());
    let ports: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .filter(|line| line.contains(&marker))
        .filter_map(|line| line.split_whitespace().nth(3))
        .filter_map(|local| local.rsplit(':').next().map(str::to_string))
        .collect();
    for port in &ports {
        let _ = Command::new("ss")
            .args([
                "-K",
                "dst",
                host,
                "dport",
                "=",
                ":22",
                "sport",
                "=",
                &format!(":{port}"),
            ])
            .output();
    }
    ports.len()
}

/// Where in the deploy a fault strikes.
#[derive(Clone, Copy)]
enum Point {
    /// Before gantry starts: the fault is there all along.
    Before,
    /// While host N waits for its new container to pass the proxy's health check.
    Switch(usize),
    /// Once host N serves the new version (host N+1 has not started).
    Switched(usize),
    /// As soon as the lock exists: connecting is over, planning is under way.
    Planning,
}

impl Point {
    fn describe(self) -> String {
        match self {
            Point::Before => "before the run (pull)".to_string(),
            Point::Switch(host) => format!("h{host} in its route switch"),
            Point::Switched(host) => format!("h{host} switched, h{} not started", host + 1),
            Point::Planning => "lock taken, planning".to_string(),
        }
    }

    /// Waits for the point; false if it never came.
    fn wait(self, deployment: &Deployment, version: &str) -> bool {
        match self {
            Point::Before => true,
            Point::Switch(host) => {
                deployment.wait_for_container(&deployment.hosts[host - 1], version)
            }
            Point::Switched(host) => {
                wait::until_true(Duration::from_secs(90), Duration::from_millis(50), || {
                    deployment.serving(&deployment.hosts[host - 1]).as_deref() == Some(version)
                })
            }
            Point::Planning => {
                wait::until_true(Duration::from_secs(60), Duration::from_millis(10), || {
                    deployment
                        .testbed
                        .run_on(
                            &deployment.hosts[0],
                            &format!("test -d .kamal/lock-{SERVICE}"),
                        )
                        .success
                })
            }
        }
    }
}

/// One scenario: `inject` at `point` while `gantry apply` deploys `version`, `heal` after it
/// ends; `hit` are the hosts (1-based) the fault takes away from serving.
struct Scenario<'a> {
    fault: &'a str,
    point: Point,
    hit: Vec<usize>,
    version: &'a str,
    /// Whether every host serves again once the fault is healed, before any rerun (a version
    /// that crashes keeps crashing until a rerun replaces it).
    serves_after_heal: bool,
    /// How long the request loop goes on after gantry exits, before healing: what users see
    /// of a fault that outlives the run.
    watch_after: Duration,
}

impl<'a> Scenario<'a> {
    /// A fault every host recovers from once healed, watched until the run ends.
    fn new(fault: &'a str, point: Point, hit: Vec<usize>, version: &'a str) -> Self {
        Scenario {
            fault,
            point,
            hit,
            version,
            serves_after_heal: true,
            watch_after: Duration::ZERO,
        }
    }

    fn run(
        &self,
        deployment: &Deployment,
        inject: impl FnOnce(Option<&Background>),
        heal: impl FnOnce(),
    ) -> Row {
        let accessory_before = accessory_state(deployment);
        let limits = LoopLimits {
            max_requests: usize::MAX,
            max_duration: Duration::from_secs(600),
            pause: Duration::from_millis(20),
            request_timeout: Duration::from_secs(5),
        };
        let requests = RequestLoop::start(deployment.proxy_addresses(), "/", limits);
        let mut inject = Some(inject);
        if matches!(self.point, Point::Before)
            && let Some(inject) = inject.take()
        {
            inject(None);
        }
        let run = deployment.background(&["apply", "-y", "--version", self.version], &[]);
        let reached = self.point.wait(deployment, self.version);
        let inject = inject.take();
        if let Some(inject) = inject {
            assert!(reached, "{}: the point never came", self.fault);
            inject(Some(&run));
        }
        let started = Instant::now();
        let run = run.wait(RUN_TIMEOUT);
        let after_fault = started.elapsed();
        std::thread::sleep(self.watch_after);
        let report = requests.stop();
        heal();
        let label = format!("{} at {}", self.fault, self.point.describe());
        let (spared_failures, requests) = request_summary(&report, deployment, &self.hit);
        assert_eq!(
            spared_failures,
            0,
            "{label}: requests failed on hosts the fault spared: {requests}\n{:#?}",
            report.failures()
        );
        // Every host serves again once healed, whatever the fault did.
        let serving: Vec<bool> = deployment
            .hosts
            .iter()
            .map(|host| {
                wait::until_true(Duration::from_secs(45), Duration::from_millis(200), || {
                    deployment.serving(host).is_some()
                })
            })
            .collect();
        if self.serves_after_heal {
            assert!(
                serving.iter().all(|serves| *serves),
                "{label}: not every host serves after healing: {serving:?}"
            );
        }
        let accessory_after = accessory_state(deployment);
        assert_eq!(
            accessory_before, accessory_after,
            "{label}: the accessory changed"
        );
        let lock = if deployment.lock_is_free() {
            "released".to_string()
        } else {
            // The run could not release it (its lock host was gone): the next run takes it
            // over once the dead run's heartbeat is stale.
            std::thread::sleep(Duration::from_secs(6));
            let rerun = deployment
                .background(
                    &["apply", "-y", "--version", self.version],
                    &[("GANTRY_STALE_LOCK_SECONDS", "5")],
                )
                .wait(RUN_TIMEOUT);
            rerun.assert_code(0);
            assert!(rerun.stderr.contains("taking it over"), "{}", rerun.stderr);
            "left on the cut lock host; the next run took it over".to_string()
        };
        deployment.assert_converges(self.version);
        let point = match self.point {
            Point::Planning if run.stderr.contains("Interrupted before any change") => {
                "lock taken, planning: stopped before any change".to_string()
            }
            Point::Planning => "lock taken: the run was already executing".to_string(),
            other => other.describe(),
        };
        let mut requests = requests;
        if !self.watch_after.is_zero() {
            requests.push_str(&format!(
                " (the loop ran {} s past the run)",
                self.watch_after.as_secs()
            ));
        }
        let row = Row {
            fault: self.fault.to_string(),
            point,
            exit: run.code,
            hosts: host_outcomes(&run, deployment),
            requests,
            lock,
            rerun: "converged".to_string(),
        };
        row.print();
        eprintln!(
            "{label}: gantry ran {:?} ({:?} after the fault)\n{}\n{}",
            run.duration, after_fault, run.stdout, run.stderr
        );
        row
    }
}

/// A deployment of the first version, with the accessory's data written.
fn deployed(testbed: &Testbed, names: &[&str]) -> (Deployment, Vec<String>) {
    let deployment = deployment(testbed);
    let versions = deployment.versions(names);
    deployment
        .gantry(&["apply", "-y", "--version", &versions[0]])
        .assert_code(0);
    deployment.testbed.run_ok(
        &deployment.hosts[0],
        &format!("echo precious-data > ~/{SERVICE}-db/data/precious"),
    );
    deployment.set_clear_env(&[("START_DELAY", "3")]);
    (deployment, versions)
}

#[test]
fn lost_connections_and_network_cuts() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let (deployment, v) = deployed(&testbed, &["n0", "n1", "n2", "n3", "n4", "n5", "n6"]);
    let h2 = deployment.hosts[1].clone();

    Scenario::new(
        "SSH connection to h2 dropped (TCP reset)",
        Point::Switch(2),
        vec![],
        &v[1],
    )
    .run(
        &deployment,
        |run| assert!(drop_connection(run.expect("running"), &h2) > 0),
        || {},
    );
    if every_point() {
        Scenario::new(
            "SSH connection to h2 dropped (TCP reset)",
            Point::Switched(2),
            vec![],
            &v[2],
        )
        .run(
            &deployment,
            |run| assert!(drop_connection(run.expect("running"), &h2) > 0),
            || {},
        );
    }
    Scenario::new("h2's network cut", Point::Before, vec![2], &v[3]).run(
        &deployment,
        |_| testbed.inject(Fault::Cut, 2),
        || testbed.inject(Fault::Heal, 2),
    );
    if every_point() {
        Scenario::new("h3's network cut", Point::Switch(3), vec![3], &v[4]).run(
            &deployment,
            |_| testbed.inject(Fault::Cut, 3),
            || testbed.inject(Fault::Heal, 3),
        );
    }
    if every_point() {
        Scenario::new("h2's network cut", Point::Switched(2), vec![2], &v[5]).run(
            &deployment,
            |_| testbed.inject(Fault::Cut, 2),
            || testbed.inject(Fault::Heal, 2),
        );
    }
    Scenario::new(
        "h1's network cut (the lock host)",
        Point::Switched(1),
        vec![1],
        &v[6],
    )
    .run(
        &deployment,
        |_| testbed.inject(Fault::Cut, 1),
        || testbed.inject(Fault::Heal, 1),
    );
}

#[test]
fn a_stopped_docker_engine_and_a_full_disk() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let (deployment, v) = deployed(&testbed, &["d0", "d1", "d2", "d3"]);
    Scenario::new("h3's dockerd stopped", Point::Switch(3), vec![3], &v[1]).run(
        &deployment,
        |_| testbed.inject(Fault::DockerStop, 3),
        || testbed.inject(Fault::DockerStart, 3),
    );
    if every_point() {
        Scenario::new("h2's dockerd stopped", Point::Switched(2), vec![2], &v[2]).run(
            &deployment,
            |_| testbed.inject(Fault::DockerStop, 2),
            || testbed.inject(Fault::DockerStart, 2),
        );
    }
    Scenario::new("h2's disk full (pulls fail)", Point::Before, vec![], &v[3]).run(
        &deployment,
        |_| testbed.inject(Fault::DiskFull, 2),
        || testbed.inject(Fault::DiskHeal, 2),
    );
}

#[test]
fn a_missing_image_and_a_wrong_registry_password() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let (deployment, v) = deployed(&testbed, &["r0", "r1"]);
    let missing = format!("{}-never-pushed", v[1]);
    Scenario::new(
        "image tag missing from the registry",
        Point::Before,
        vec![],
        &missing,
    )
    .run(
        &deployment,
        |_| {},
        || {
            deployment.testbed.push_testapp(&missing, SERVICE);
        },
    );
    let secrets_path = deployment.project.dir().join(".kamal/secrets");
    let secrets = std::fs::read_to_string(&secrets_path).expect("secrets");
    Scenario::new(
        "wrong registry password in .kamal/secrets",
        Point::Before,
        vec![],
        &v[1],
    )
    .run(
        &deployment,
        |_| {
            std::fs::write(
                &secrets_path,
                secrets.replace(&testbed.registry_password, "wrong-password"),
            )
            .expect("secrets");
        },
        || std::fs::write(&secrets_path, &secrets).expect("secrets"),
    );
}

#[test]
fn a_crash_after_the_switch_and_a_proxy_that_refuses_the_route() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let (deployment, v) = deployed(&testbed, &["a0", "a1", "a2"]);
    // Crashes while gantry still works: 2 s after serving, during the next host's deploy.
    Scenario {
        fault: "new version crashes 2 s after becoming healthy (CRASH_AFTER=2)",
        point: Point::Before,
        hit: vec![1, 2, 3],
        version: &v[1],
        serves_after_heal: false,
        watch_after: Duration::from_secs(15),
    }
    .run(
        &deployment,
        |_| deployment.set_clear_env(&[("CRASH_AFTER", "2")]),
        || deployment.unset_clear_env("CRASH_AFTER"),
    );
    // Another service claims the same host and path on h2: kamal-proxy refuses gantry's deploy.
    let h2 = deployment.hosts[1].clone();
    Scenario::new("kamal-proxy on h2 refuses the route (another service owns it)", Point::Before, vec![], &v[2])
    .run(
        &deployment,
        |_| {
            deployment.testbed.run_ok(
                &h2,
                "docker run -d --name intruder --network kamal --label service=intruder \
                 testbed/busybox:latest sh -c 'while true; do echo -e \"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok\" | nc -l -p 80; done' >/dev/null && \
                 docker exec kamal-proxy kamal-proxy deploy intruder --target=intruder:80 --host=refused.test >/dev/null",
            );
            // The app now answers for the hosts' addresses (what the request loop sends) and
            // for the name the intruder owns on h2.
            let mut hosts = String::from("  hosts:\n    - refused.test\n");
            for host in &deployment.hosts {
                hosts.push_str(&format!("    - \"{host}\"\n"));
            }
            deployment.edit_config(|yaml| {
                yaml.replacen("proxy:\n  app_port: 80\n", &format!("proxy:\n  app_port: 80\n{hosts}"), 1)
            });
        },
        || {
            deployment.testbed.run_ok(
                &h2,
                "docker exec kamal-proxy kamal-proxy remove intruder >/dev/null; docker rm -f intruder >/dev/null",
            );
        },
    );
}

#[test]
fn sigint_and_sigterm_at_every_stage() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let (deployment, v) = deployed(
        &testbed,
        &[
            "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11",
        ],
    );
    let mut next = v.iter().skip(1);
    // SIGHUP: the terminal (or the SSH session to the machine running gantry) went away.
    for signal in ["INT", "TERM", "HUP"] {
        for point in [Point::Planning, Point::Switch(2), Point::Switched(2)] {
            let version = next.next().expect("a version");
            // CI: SIGINT and SIGHUP in a route switch, SIGTERM while planning and after a switch.
            let chosen = matches!(
                (signal, point),
                ("INT" | "HUP", Point::Switch(_)) | ("TERM", Point::Planning | Point::Switched(_))
            );
            if !chosen && !every_point() {
                continue;
            }
            let fault = format!("SIG{signal} to gantry");
            let row = Scenario {
                fault: &fault,
                point,
                hit: vec![],
                version,
                serves_after_heal: true,
                watch_after: Duration::ZERO,
            }
            .run(
                &deployment,
                |run| run.expect("running").signal(signal),
                || {},
            );
            // 128 + the signal's number, as a shell reports a run a signal ended.
            let expected = match signal {
                "INT" => 130,
                "TERM" => 143,
                _ => 129,
            };
            assert_eq!(row.exit, Some(expected), "{fault}: exit code");
        }
    }

    // Interrupted while waiting for the lock another run holds: out at once, nothing changed.
    let version = next.next().expect("a version");
    let holder = deployment.background(&["apply", "-y", "--version", version], &[]);
    assert!(Point::Planning.wait(&deployment, version));
    let waiter = deployment.background(
        &[
            "apply",
            "-y",
            "--lock-wait",
            "--lock-wait-interval",
            "1",
            "--version",
            version,
        ],
        &[],
    );
    std::thread::sleep(Duration::from_secs(2));
    let interrupted_at = Instant::now();
    waiter.signal("INT");
    let waiter = waiter.wait(Duration::from_secs(30));
    let took = interrupted_at.elapsed();
    assert_eq!(waiter.code, Some(130), "{}", waiter.stderr);
    assert!(took < Duration::from_secs(5), "took {took:?} to stop");
    holder.wait(RUN_TIMEOUT).assert_code(0);
    assert!(deployment.lock_is_free());
    Row {
        fault: "SIGINT to gantry --lock-wait".to_string(),
        point: "waiting for another run's lock".to_string(),
        exit: waiter.code,
        hosts: "nothing ran; the lock holder converged".to_string(),
        requests: "-".to_string(),
        lock: format!("not taken; stopped in {:.1} s", took.as_secs_f64()),
        rerun: "-".to_string(),
    }
    .print();

    // Nobody reads the output any more (`gantry apply | head -1`, a closed pipe): the run goes
    // on, converges and releases the lock; printing to a closed stream used to panic half-way.
    let version = next.next().expect("a version");
    let mut unread = Command::new(deployment::bin())
        .args(["apply", "-y", "--version", version])
        .current_dir(deployment.project.dir())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("gantry");
    drop(unread.stdout.take());
    drop(unread.stderr.take());
    let status = unread.wait().expect("gantry");
    assert_eq!(status.code(), Some(0), "with its output closed");
    assert!(deployment.lock_is_free());
    for host in &deployment.hosts {
        assert_eq!(
            deployment.serving(host).as_deref(),
            Some(version.as_str()),
            "{host}"
        );
    }
    Row {
        fault: "gantry's stdout and stderr closed (a pipe whose reader quit)".to_string(),
        point: "before the run".to_string(),
        exit: status.code(),
        hosts: "every host converged".to_string(),
        requests: "-".to_string(),
        lock: "released".to_string(),
        rerun: "-".to_string(),
    }
    .print();
}
