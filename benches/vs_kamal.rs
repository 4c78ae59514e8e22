//! gantry against the real Kamal 2.11 on the same test bed hosts, in one run.
//!
//! Measured with GNU time (wall seconds and peak resident memory of the whole process tree's
//! largest process):
//! - reading every host: `gantry plan` against `kamal details`;
//! - deploying a version never deployed before: `gantry apply -y` against `kamal deploy
//!   --skip-push` (same image, same kamal-proxy stand-in; each run gets its own new version);
//! - redeploying what already runs: `gantry apply -y` (a no-op) against `kamal redeploy
//!   --skip-push`.
//!
//! Needs the test bed (`tests/testbed/testbed.sh up 3 && tests/testbed/testbed.sh images` and
//! `eval "$(tests/testbed/testbed.sh env)"`), Kamal 2.11 on PATH, and a release build:
//! `cargo bench --bench vs_kamal`. `GANTRY_BENCH_RUNS` sets the repetitions (default 3).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use gantry_testsupport::Testbed;
use gantry_testsupport::kamal::{KamalApp, KamalProject};

const SERVICE: &str = "gantry-bench";

/// Wall seconds and peak RSS (KiB) of one command, from GNU time.
struct Sample {
    seconds: f64,
    peak_kib: u64,
}

fn measure(dir: &Path, program: &str, args: &[&str]) -> Sample {
    let output = Command::new("/usr/bin/time")
        .args(["-f", "@@time %e %M"])
        .arg(program)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("running {program}: {error} (is GNU time installed?)"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{program} {} failed:\n{}\n{stderr}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout)
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
    }
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
    fn print(&self) {
        let seconds = |samples: &[Sample]| median(samples.iter().map(|s| s.seconds).collect());
        let mib = |samples: &[Sample]| {
            median(samples.iter().map(|s| s.peak_kib as f64 / 1024.0).collect())
        };
        let (gs, ks) = (seconds(&self.gantry), seconds(&self.kamal));
        let (gm, km) = (mib(&self.gantry), mib(&self.kamal));
        println!(
            "{:<34} gantry {gs:>6.2} s {gm:>6.1} MiB | kamal {ks:>6.2} s {km:>6.1} MiB | time {:.3}x memory {:.3}x",
            self.name,
            gs / ks,
            gm / km
        );
    }
}

fn main() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let runs: usize = std::env::var("GANTRY_BENCH_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(3);
    let gantry = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/gantry");
    assert!(
        gantry.exists(),
        "build the release binary first: cargo build --release --bin gantry"
    );
    let gantry = gantry.display().to_string();
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
    let project = KamalProject::create(&testbed, app);
    let dir = project.dir();
    project
        .setup(&versions[0], std::time::Duration::from_secs(300))
        .assert_success();
    let mut current = versions[0].clone();

    let mut read = Row {
        name: "read every host (plan | details)",
        gantry: Vec::new(),
        kamal: Vec::new(),
    };
    for _ in 0..runs {
        read.kamal.push(measure(dir, "kamal", &["details"]));
        read.gantry
            .push(measure(dir, &gantry, &["plan", "--version", &current]));
    }

    let mut deploy = Row {
        name: "deploy a new version to 3 hosts",
        gantry: Vec::new(),
        kamal: Vec::new(),
    };
    let mut redeploy = Row {
        name: "redeploy what runs (no-op | redeploy)",
        gantry: Vec::new(),
        kamal: Vec::new(),
    };
    for pair in versions[1..].chunks(2) {
        deploy.kamal.push(measure(
            dir,
            "kamal",
            &["deploy", "--skip-push", "--version", &pair[0]],
        ));
        redeploy.kamal.push(measure(
            dir,
            "kamal",
            &["redeploy", "--skip-push", "--version", &pair[0]],
        ));
        deploy.gantry.push(measure(
            dir,
            &gantry,
            &["apply", "-y", "--version", &pair[1]],
        ));
        redeploy.gantry.push(measure(
            dir,
            &gantry,
            &["apply", "-y", "--version", &pair[1]],
        ));
        current = pair[1].clone();
    }
    let _ = current;
    println!(
        "gantry vs Kamal 2.11 on {} test bed hosts, median of {runs} runs:",
        hosts.len()
    );
    read.print();
    deploy.print();
    redeploy.print();
}
