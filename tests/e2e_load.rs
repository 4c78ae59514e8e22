//! Deploys under load (specs/reliability.md, "Load"): `wrk` drives every host's proxy for the
//! whole of a deploy of a new version to three hosts, and not one request may fail.
//!
//! Each round deploys the other of two versions while one `wrk` per host keeps requests going
//! from a second before `gantry apply` starts until a second after it ends. A round prints a
//! `LOAD |` line (run with `--nocapture`): requests served, errors, p99 latency. CI runs one
//! round; `GANTRY_LOAD_ROUNDS=N` runs more, for the figure in specs/reliability.md.

mod deployment;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use deployment::Deployment;
use gantry_testsupport::Testbed;

const SERVICE: &str = "gantry-load";

/// What one `wrk` run reported.
#[derive(Debug, Default)]
struct WrkReport {
    requests: u64,
    /// Responses that were not 2xx or 3xx.
    non_2xx: u64,
    /// Connect, read, write and timeout errors.
    socket_errors: u64,
    p99_ms: f64,
}

impl WrkReport {
    /// Reads wrk's text report (`--latency`).
    fn parse(text: &str) -> WrkReport {
        let mut report = WrkReport::default();
        for line in text.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
                report.non_2xx = rest.trim().parse().expect("non-2xx count");
            } else if let Some(rest) = line.strip_prefix("Socket errors:") {
                report.socket_errors = rest
                    .split(',')
                    .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                    .sum();
            } else if let Some(rest) = line.strip_prefix("99%") {
                report.p99_ms = milliseconds(rest.trim());
            } else if line.contains(" requests in ") {
                report.requests = line
                    .split_whitespace()
                    .next()
                    .and_then(|count| count.parse().ok())
                    .expect("request count");
            }
        }
        report
    }
}

/// wrk's latency figures: `850.00us`, `12.34ms`, `1.20s`.
fn milliseconds(text: &str) -> f64 {
    let (number, factor) = if let Some(number) = text.strip_suffix("us") {
        (number, 0.001)
    } else if let Some(number) = text.strip_suffix("ms") {
        (number, 1.0)
    } else if let Some(number) = text.strip_suffix('s') {
        (number, 1000.0)
    } else {
        panic!("wrk latency {text:?}")
    };
    number.parse::<f64>().expect("latency") * factor
}

/// Starts `wrk` against `address` for longer than any deploy; stopped with SIGINT, it prints
/// its report for the time it ran.
fn start_wrk(address: &str) -> Child {
    Command::new("wrk")
        .args(["-t1", "-c4", "-d300s", "--latency", "--timeout", "5s"])
        .arg(format!("http://{address}/"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| {
            panic!("wrk: {error} (the test bed's dependencies include it: testbed.sh deps)")
        })
}

fn stop_wrk(child: Child) -> WrkReport {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let output = child.wait_with_output().expect("wrk output");
    let text = String::from_utf8_lossy(&output.stdout);
    let report = WrkReport::parse(&text);
    assert!(report.requests > 0, "wrk sent nothing:\n{text}");
    report
}

/// The load on every host's proxy while `during` runs, from a second before to a second after.
struct Load {
    requests: u64,
    errors: u64,
    /// The worst host's p99.
    p99_ms: f64,
    reports: Vec<WrkReport>,
}

fn measure(deployment: &Deployment, during: impl FnOnce()) -> Load {
    let load: Vec<Child> = deployment
        .proxy_addresses()
        .iter()
        .map(|address| start_wrk(address))
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    during();
    std::thread::sleep(Duration::from_secs(1));
    let reports: Vec<WrkReport> = load.into_iter().map(stop_wrk).collect();
    Load {
        requests: reports.iter().map(|report| report.requests).sum(),
        errors: reports
            .iter()
            .map(|report| report.non_2xx + report.socket_errors)
            .sum(),
        p99_ms: reports
            .iter()
            .map(|report| report.p99_ms)
            .fold(0.0, f64::max),
        reports,
    }
}

#[test]
fn a_deploy_under_load_fails_no_request() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let rounds: usize = std::env::var("GANTRY_LOAD_ROUNDS")
        .ok()
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(1);
    let deployment = Deployment::new(&testbed, SERVICE, 3, |_| {});
    let versions = deployment.versions(&["l1", "l2"]);
    deployment
        .gantry(&["apply", "-y", "--version", &versions[0]])
        .assert_code(0);
    // The same load with nothing deploying: the test app forks a shell per request, so its own
    // latency under load is the yardstick for the figure during a deploy.
    let at_rest = measure(&deployment, || std::thread::sleep(Duration::from_secs(3)));
    eprintln!(
        "LOAD | at rest | 5s of load | {} requests | {} errors | p99 {:.1} ms",
        at_rest.requests, at_rest.errors, at_rest.p99_ms
    );
    assert_eq!(at_rest.errors, 0, "failed requests with nothing deploying");
    for round in 1..=rounds {
        let version = &versions[round % 2];
        let mut took = Duration::ZERO;
        let load = measure(&deployment, || {
            let started = Instant::now();
            deployment
                .gantry(&["apply", "-y", "--version", version])
                .assert_code(0);
            took = started.elapsed();
        });
        eprintln!(
            "LOAD | round {round} | deploy {:.1}s | {} requests | {} errors | p99 {:.1} ms",
            took.as_secs_f64(),
            load.requests,
            load.errors,
            load.p99_ms
        );
        assert_eq!(
            load.errors, 0,
            "failed requests during the deploy: {:#?}",
            load.reports
        );
        for host in &deployment.hosts {
            assert_eq!(deployment.serving(host).as_deref(), Some(version.as_str()));
        }
    }
}

#[test]
fn wrk_reports_are_read_whole() {
    let text = "Running 2s test @ http://10.77.0.11/
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.10ms  300.00us   9.00ms   90.00%
  Latency Distribution
     50%    1.00ms
     75%    1.20ms
     90%    1.50ms
     99%    2.50ms
  7000 requests in 2.00s, 1.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   3500.00
";
    let report = WrkReport::parse(text);
    assert_eq!(report.requests, 7000);
    assert_eq!(report.socket_errors, 3);
    assert_eq!(report.non_2xx, 4);
    assert!((report.p99_ms - 2.5).abs() < 1e-9);
    assert!((milliseconds("850.00us") - 0.85).abs() < 1e-9);
    assert!((milliseconds("1.20s") - 1200.0).abs() < 1e-9);
}
