//! Scale: plan and apply on up to 1,000 in-memory hosts, each 50 ms away for every call, and
//! every shell session costing 50 ms more to open (a PAM session module), as real servers are.
//!
//! One table, one row per fleet size (10, 100, 1,000 hosts): `plan` (observe, diff, plan; every
//! host read at once, as the binary reads them), a new-version apply at `--parallelism 100`, and
//! the process's peak resident memory so far. Targets at 1,000 hosts: plan under 2 s, apply under
//! 15 s, peak memory under 200 MB.
//!
//! `cargo bench --bench fake_fleet`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use gantry::apply::{ExecOptions, Hosts, QuietReporter, execute};
use gantry::config::{self, LoadOptions};
use gantry::desired::Selection;
use gantry::pipeline::{self, Connections, PlanRequest};
use gantry::secret::Secret;
use gantry::testkit::world::FakeWorld;
use tokio_util::sync::CancellationToken;

fn deploy_yml(hosts: usize) -> String {
    let mut yaml = String::from("service: fleet\nimage: fleet\nservers:\n  web:\n");
    for index in 0..hosts {
        yaml.push_str(&format!(
            "    - 10.{}.{}.{}\n",
            index / 65536,
            (index / 256) % 256,
            index % 256
        ));
    }
    yaml.push_str("proxy:\n  app_port: 80\nregistry:\n  server: registry.test\n  username: deployer\n  password:\n    - REGISTRY_PASSWORD\nbuilder:\n  arch: amd64\n");
    yaml
}

struct Fleet {
    config: config::Config,
    connections: Connections,
    hosts: Hosts,
}

fn fleet(count: usize, latency: Duration, session_cost: Duration) -> Fleet {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("deploy.yml");
    std::fs::write(&path, deploy_yml(count)).expect("writing deploy.yml");
    let loaded = config::load(&LoadOptions {
        config_file: path,
        destination: None,
    })
    .expect("the generated configuration loads");
    let hosts = loaded.config.roles[0]
        .hosts
        .iter()
        .map(|host| host.host.clone());
    let world = FakeWorld::of_service("fleet")
        .latency(latency)
        .session_cost(session_cost)
        .hosts(hosts);
    let (connections, hosts) = (world.connections(), world.exec_hosts());
    Fleet {
        config: loaded.config,
        connections,
        hosts,
    }
}

async fn plan(fleet: &Fleet, version: &str, parallelism: usize) -> (gantry::plan::Plan, Duration) {
    let secrets: BTreeMap<String, Secret> =
        [("REGISTRY_PASSWORD".to_string(), Secret::new("pw"))].into();
    let selection = Selection::default();
    let read = |_: &str| -> Result<Vec<u8>, String> { Ok(Vec::new()) };
    let request = PlanRequest {
        config: &fleet.config,
        secrets: &secrets,
        version,
        selection: &selection,
        diff: Default::default(),
        atomic: false,
        read_local_file: &read,
        app_boot_hooks: Vec::new(),
        canary: None,
    };
    let started = Instant::now();
    let desired = pipeline::desired(&request).expect("desired state");
    let planned =
        pipeline::observe_and_plan(&request, desired, &fleet.connections, parallelism).await;
    (planned.plan, started.elapsed())
}

async fn apply(fleet: &Fleet, version: &str, parallelism: usize) -> Duration {
    let (plan, _) = plan(fleet, version, 100).await;
    let options = ExecOptions {
        parallelism,
        ..ExecOptions::default()
    };
    let started = Instant::now();
    let outcome = execute(
        &plan,
        &fleet.hosts,
        &options,
        &QuietReporter,
        CancellationToken::new(),
    )
    .await;
    assert!(outcome.succeeded());
    started.elapsed()
}

/// The most resident memory this process has held so far, in MiB.
fn peak_memory_mib() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    usage.ru_maxrss as f64 / 1024.0
}

fn main() {
    const LATENCY: Duration = Duration::from_millis(50);
    const SESSION_COST: Duration = Duration::from_millis(50);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        println!(
            "fake hosts, {} ms per call, {} ms more per shell session",
            LATENCY.as_millis(),
            SESSION_COST.as_millis()
        );
        println!("| hosts | plan | apply a new version, --parallelism 100 | peak memory |");
        println!("|---|---|---|---|");
        // Smallest first: the peak so far is then the peak of the largest fleet yet.
        for count in [10, 100, 1000] {
            let fleet = fleet(count, LATENCY, SESSION_COST);
            apply(&fleet, "v1", 100).await;
            let (_, planned) = plan(&fleet, "v2", count).await;
            let applied = apply(&fleet, "v2", 100).await;
            println!(
                "| {count} | {:.2} s | {:.2} s | {:.0} MiB |",
                planned.as_secs_f64(),
                applied.as_secs_f64(),
                peak_memory_mib()
            );
        }
    });
}
