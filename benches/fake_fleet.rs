//! Scale: plan and apply on hundreds of in-memory hosts with network latency on every call.
//!
//! - plan (observe, diff, plan) on 500 hosts, 50 ms per call: target under 2 s;
//! - apply of a new version on 100, 250 and 500 hosts at parallelism 50, and on 500 hosts at
//!   parallelism 10, 50 and 100 (5 ms per call): apply time follows parallelism, not host count.
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

fn fleet(count: usize, latency: Duration) -> Fleet {
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
    let world = FakeWorld::of_service("fleet").latency(latency).hosts(hosts);
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

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let big = fleet(500, Duration::from_millis(50));
        apply(&big, "v1", 100).await;
        let (plan_v2, took) = plan(&big, "v2", 100).await;
        println!(
            "plan, 500 hosts, 50 ms per call, parallelism 100: {:.2} s ({} actions)",
            took.as_secs_f64(),
            plan_v2.len()
        );
        let (_, took) = plan(&big, "v2", 500).await;
        println!(
            "plan, 500 hosts, 50 ms per call, parallelism 500: {:.2} s",
            took.as_secs_f64()
        );

        for count in [100, 250, 500] {
            let fleet = fleet(count, Duration::from_millis(5));
            apply(&fleet, "v1", 100).await;
            let took = apply(&fleet, "v2", 50).await;
            println!(
                "apply a new version, {count} hosts, 5 ms per call, parallelism 50: {:.2} s",
                took.as_secs_f64()
            );
        }
        for parallelism in [10, 50, 100] {
            let fleet = fleet(500, Duration::from_millis(5));
            apply(&fleet, "v1", 100).await;
            let took = apply(&fleet, "v2", parallelism).await;
            println!(
                "apply a new version, 500 hosts, 5 ms per call, parallelism {parallelism}: {:.2} s",
                took.as_secs_f64()
            );
        }
    });
}
