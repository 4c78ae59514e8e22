//! gantry against the real Kamal 2.11 on the same test bed hosts, in one run, at two distances:
//! the lab (`TESTBED_LATENCY_MS=0 TESTBED_SESSION_MS=0`) and realistic servers (20 ms each way,
//! 50 ms per session open; specs/testbed.md). One table per setting.
//!
//! Measured with GNU time (wall seconds and peak resident memory of the largest process):
//! - reading every host: `gantry plan` against `kamal details`;
//! - deploying a version never deployed before: `gantry apply -y` against `kamal deploy
//!   --skip-push` (same image, same kamal-proxy stand-in; each run gets its own new version);
//! - redeploying what already runs: `gantry apply -y` (a no-op) against `kamal redeploy
//!   --skip-push`.
//!
//! Runs alternate between the tools; each cell is the median. Beside them, per host: gantry's
//! sessions, Docker API requests and API waves (from its `--json` output), and Kamal's sessions
//! (the commands it logs as `Running ... on <host>`, one session each).
//!
//! Needs the test bed (`tests/testbed/testbed.sh up 3 && tests/testbed/testbed.sh images` and
//! `eval "$(tests/testbed/testbed.sh env)"`), Kamal 2.11 on PATH, and a release build:
//! `cargo bench --bench vs_kamal`. A setting the running test bed does not have is made by
//! taking it down and up again with that setting, then `images`. `GANTRY_BENCH_RUNS` sets the
//! repetitions (default 5), `GANTRY_BENCH_SETTINGS` the settings as `LATENCY/SESSION` pairs in
//! milliseconds (default `0/0,20/50`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gantry_testsupport::Testbed;
use gantry_testsupport::kamal::{KamalApp, KamalProject};
use serde_json::Value;

const SERVICE: &str = "gantry-bench";

/// One distance between this machine and the hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Setting {
    latency_ms: u64,
    session_ms: u64,
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = if *self
            == (Setting {
                latency_ms: 0,
                session_ms: 0,
            }) {
            "lab"
        } else {
            "realistic"
        };
        write!(
            f,
            "{name}: TESTBED_LATENCY_MS={} TESTBED_SESSION_MS={}",
            self.latency_ms, self.session_ms
        )
    }
}

fn settings() -> Vec<Setting> {
    let text = std::env::var("GANTRY_BENCH_SETTINGS").unwrap_or_else(|_| "0/0,20/50".into());
    text.split(',')
        .map(|pair| {
            let (latency, session) = pair.split_once('/').unwrap_or_else(|| {
                panic!("GANTRY_BENCH_SETTINGS: expected LATENCY/SESSION, got {pair:?}")
            });
            let number = |text: &str| {
                text.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("GANTRY_BENCH_SETTINGS: {text:?} is not a number"))
            };
            Setting {
                latency_ms: number(latency),
                session_ms: number(session),
            }
        })
        .collect()
}

/// The test bed with `setting`: the running one when it has it, else brought down and up again
/// with it (same hosts), its images loaded again.
fn testbed_with(testbed: Testbed, setting: Setting) -> Testbed {
    let current = Setting {
        latency_ms: testbed.latency.as_millis() as u64,
        session_ms: testbed.session_cost.as_millis() as u64,
    };
    if current == setting {
        return testbed;
    }
    eprintln!("bringing the test bed up again with {setting}");
    let streamlocal_off: Vec<String> = testbed
        .hosts
        .iter()
        .enumerate()
        .filter(|(_, host)| testbed.no_streamlocal_hosts.contains(host))
        .map(|(index, _)| (index + 1).to_string())
        .collect();
    // the running test bed's own settings for `down`, the new ones from `up` on
    let script = |args: &[&str]| {
        let mut command = Command::new(&testbed.script);
        if args[0] == "down" {
            command
                .env_remove("TESTBED_LATENCY_MS")
                .env_remove("TESTBED_SESSION_MS");
        } else {
            command
                .env("TESTBED_LATENCY_MS", setting.latency_ms.to_string())
                .env("TESTBED_SESSION_MS", setting.session_ms.to_string())
                .env("TESTBED_STREAMLOCAL_OFF", streamlocal_off.join(","));
        }
        let status = command
            .args(args)
            .env("TESTBED_DIR", &testbed.dir)
            .stdout(Stdio::null())
            .status()
            .unwrap_or_else(|error| panic!("running {}: {error}", testbed.script.display()));
        assert!(status.success(), "testbed.sh {} failed", args.join(" "));
    };
    script(&["down"]);
    script(&["up", &testbed.hosts.len().to_string()]);
    script(&["images"]);
    let env = Command::new(&testbed.script)
        .arg("env")
        .env("TESTBED_DIR", &testbed.dir)
        .env("TESTBED_LATENCY_MS", setting.latency_ms.to_string())
        .env("TESTBED_SESSION_MS", setting.session_ms.to_string())
        .output()
        .unwrap_or_else(|error| panic!("testbed.sh env: {error}"));
    let exports: BTreeMap<String, String> = String::from_utf8_lossy(&env.stdout)
        .lines()
        .filter_map(|line| line.strip_prefix("export ")?.split_once('='))
        .map(|(name, value)| (name.to_string(), value.trim_matches('"').to_string()))
        .collect();
    Testbed::from_lookup(|name| exports.get(name).cloned())
        .unwrap_or_else(|missing| panic!("after up: {missing}"))
}

/// Wall seconds, peak RSS (KiB) and round trips per host of one command.
struct Sample {
    seconds: f64,
    peak_kib: u64,
    /// Sessions, API requests and API waves per host (the largest over hosts); Kamal has no
    /// API requests.
    per_host: [u64; 3],
}

fn measure(dir: &Path, program: &str, args: &[&str], hosts: &[String]) -> Sample {
    let output = Command::new("/usr/bin/time")
        .args(["-f", "@@time %e %M"])
        .arg(program)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("running {program}: {error} (is GNU time installed?)"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{program} {} failed:\n{stdout}\n{stderr}",
        args.join(" "),
    );
    let line = stderr
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("@@time "))
        .unwrap_or_else(|| panic!("no timing in {stderr}"));
    let mut fields = line.split_whitespace();
    Sample {
        seconds: fields
            .next()
            .and_then(|f| f.parse().ok())
            .unwrap_or(f64::NAN),
        peak_kib: fields.next().and_then(|f| f.parse().ok()).unwrap_or(0),
        per_host: if program == "kamal" {
            kamal_sessions(&format!("{stdout}{stderr}"), hosts)
        } else {
            gantry_round_trips(&stdout)
        },
    }
}

/// Kamal logs every command it runs as `Running <command> on <host>`: one session each.
fn kamal_sessions(output: &str, hosts: &[String]) -> [u64; 3] {
    let most = hosts
        .iter()
        .map(|host| {
            let suffix = format!(" on {host}");
            output
                .lines()
                .filter(|line| line.contains("Running ") && line.trim_end().ends_with(&suffix))
                .count() as u64
        })
        .max()
        .unwrap_or(0);
    [most, 0, 0]
}

/// The `round_trips` of `plan --json` or of `apply --json`'s `round_trips` event.
fn gantry_round_trips(stdout: &str) -> [u64; 3] {
    let hosts = serde_json::from_str::<Value>(stdout)
        .ok()
        .map(|document| document["round_trips"].clone())
        .filter(|hosts| !hosts.is_null())
        .or_else(|| {
            stdout
                .lines()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .find(|event| event["event"] == "round_trips")
                .map(|event| event["hosts"].clone())
        })
        .unwrap_or(Value::Null);
    let most = |field: &str| {
        hosts
            .as_object()
            .into_iter()
            .flat_map(|hosts| hosts.values())
            .filter_map(|counts| counts[field].as_u64())
            .max()
            .unwrap_or(0)
    };
    [most("sessions"), most("api_requests"), most("api_waves")]
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

struct Row {
    name: &'static str,
    gantry: Vec<Sample>,
    kamal: Vec<Sample>,
}

impl Row {
    fn new(name: &'static str) -> Row {
        Row {
            name,
            gantry: Vec::new(),
            kamal: Vec::new(),
        }
    }

    fn print(&self) {
        let seconds = |samples: &[Sample]| median(samples.iter().map(|s| s.seconds).collect());
        let mib = |samples: &[Sample]| {
            median(samples.iter().map(|s| s.peak_kib as f64 / 1024.0).collect())
        };
        let counts = |samples: &[Sample], index: usize| {
            median(samples.iter().map(|s| s.per_host[index] as f64).collect())
        };
        let (gs, ks) = (seconds(&self.gantry), seconds(&self.kamal));
        let (gm, km) = (mib(&self.gantry), mib(&self.kamal));
        println!(
            "| {:<38} | {gs:>6.2} s | {ks:>6.2} s | {:>6.3} | {gm:>6.1} MiB | {km:>6.1} MiB | {:>6.3} | {:>3} / {:>3} in {} | {:>3} |",
            self.name,
            gs / ks,
            gm / km,
            counts(&self.gantry, 0),
            counts(&self.gantry, 1),
            counts(&self.gantry, 2),
            counts(&self.kamal, 0),
        );
    }
}

fn main() {
    let Some(mut testbed) = Testbed::require() else {
        return;
    };
    let runs: usize = std::env::var("GANTRY_BENCH_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(5);
    let gantry = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/gantry");
    assert!(
        gantry.exists(),
        "build the release binary first: cargo build --release --bin gantry"
    );
    let gantry = gantry.display().to_string();
    let mut tables = Vec::new();
    // the running test bed's setting first: one restart fewer
    let mut settings = settings();
    let running = Setting {
        latency_ms: testbed.latency.as_millis() as u64,
        session_ms: testbed.session_cost.as_millis() as u64,
    };
    settings.sort_by_key(|setting| *setting != running);
    for setting in settings {
        testbed = testbed_with(testbed, setting);
        let started = std::time::Instant::now();
        let rows = bench(&testbed, &gantry, runs);
        tables.push((setting, rows, started.elapsed()));
        // each table as soon as it is measured, and all of them again at the end
        print_table(tables.last().expect("just pushed"), runs);
    }
    println!("\n== all settings ==");
    for table in &tables {
        print_table(table, runs);
    }
}

fn print_table((setting, rows, took): &(Setting, Vec<Row>, Duration), runs: usize) {
    println!(
        "\ngantry vs Kamal 2.11, 3 test bed hosts, {setting}, median of {runs} alternating runs ({:.0} s)",
        took.as_secs_f64()
    );
    println!(
        "| {:<38} | gantry   | Kamal    | time   | gantry mem | Kamal mem  | memory | gantry/host: sessions / API requests in API waves | Kamal sessions/host |",
        "operation"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for row in rows {
        row.print();
    }
}

fn bench(testbed: &Testbed, gantry: &str, runs: usize) -> Vec<Row> {
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(3).cloned().collect();
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let versions: Vec<String> = (0..=2 * runs)
        .map(|index| {
            let version = format!("bench-{stamp}-{index}");
            testbed.push_testapp(&version, SERVICE);
            version
        })
        .collect();
    let mut app = KamalApp::testapp(&hosts);
    app.service = SERVICE.to_string();
    app.drain_timeout = Some(5);
    let project = KamalProject::create(testbed, app);
    let dir = project.dir();
    project
        .setup(&versions[0], Duration::from_secs(300))
        .assert_success();

    let mut read = Row::new("read every host (plan | details)");
    for _ in 0..runs {
        read.kamal.push(measure(dir, "kamal", &["details"], &hosts));
        read.gantry.push(measure(
            dir,
            gantry,
            &["plan", "--json", "--version", &versions[0]],
            &hosts,
        ));
    }
    let mut deploy = Row::new("deploy a new version (apply | deploy)");
    let mut redeploy = Row::new("redeploy what runs (no-op apply | redeploy)");
    for pair in versions[1..].chunks(2) {
        deploy.kamal.push(measure(
            dir,
            "kamal",
            &["deploy", "--skip-push", "--version", &pair[0]],
            &hosts,
        ));
        redeploy.kamal.push(measure(
            dir,
            "kamal",
            &["redeploy", "--skip-push", "--version", &pair[0]],
            &hosts,
        ));
        deploy.gantry.push(measure(
            dir,
            gantry,
            &["apply", "-y", "--json", "--version", &pair[1]],
            &hosts,
        ));
        redeploy.gantry.push(measure(
            dir,
            gantry,
            &["apply", "-y", "--json", "--version", &pair[1]],
            &hosts,
        ));
    }
    vec![read, deploy, redeploy]
}
