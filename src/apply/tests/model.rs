//! Convergence as a property (issue 15), on fake hosts. Each case builds a random starting
//! state (earlier applies of other configurations and versions, then containers stopped,
//! removed, stripped of their role label or relabelled for another destination; images
//! removed or retagged as `latest`; the route dropped; a stray env file; the proxy stopped,
//! removed or of another image) and a random valid configuration, then checks:
//!
//! - one apply converges: it succeeds and the next plan is empty;
//! - an apply on converged hosts runs no action;
//! - after a fault at any call of an apply, one rerun converges.
//!
//! CI runs [`CI_CASES`] cases; `GANTRY_MODEL_CASES=N` runs N (the long run). Failures proptest
//! found are replayed first from `proptest-regressions/apply/tests/model.txt`, and each has a
//! named regression test in `apply::tests`.

use proptest::prelude::*;

use super::{World, config};
use crate::config::Config;
use crate::host::Host;
use crate::testing;
use crate::testkit::fake_host::{Fault, FaultRule, Operation};

const CI_CASES: u32 = 256;
const HOSTS: [&str; 2] = ["h1", "h2"];
const VERSIONS: [&str; 3] = ["v1", "v2", "v3"];

/// The configuration of one apply: which hosts, roles and settings.
#[derive(Clone, Debug)]
struct Setup {
    hosts: usize,
    with_jobs: bool,
    retain: u32,
    rails_env: &'static str,
    version: &'static str,
}

impl Setup {
    fn config(&self) -> Config {
        let mut config = config(&HOSTS[..self.hosts]);
        config.retain_containers = self.retain;
        config.roles[0]
            .env
            .clear
            .insert("RAILS_ENV".into(), self.rails_env.into());
        if self.with_jobs {
            let env = config.roles[0].env.clone();
            config
                .roles
                .push(testing::role("jobs", &HOSTS[..self.hosts], None, env));
        }
        config
    }
}

/// A change made behind gantry's back.
#[derive(Clone, Debug)]
enum Disturbance {
    StopContainer {
        host: usize,
        pick: usize,
    },
    RemoveContainer {
        host: usize,
        pick: usize,
    },
    RemoveImage {
        host: usize,
        version: usize,
    },
    TagLatest {
        host: usize,
        version: usize,
    },
    DropRoute {
        host: usize,
    },
    /// A container of the service that lost its `role` label (made by hand).
    Unlabel {
        host: usize,
        pick: usize,
    },
    /// A container of the service relabelled for another destination (made by hand).
    OtherDestination {
        host: usize,
        pick: usize,
    },
    /// An env file of a role the configuration does not have.
    StrayEnvFile {
        host: usize,
    },
    StopProxy {
        host: usize,
    },
    /// A proxy container started from another image.
    OtherProxyImage {
        host: usize,
    },
    RemoveProxy {
        host: usize,
    },
}

/// The calls a fault may hit.
const FAULT_POINTS: [Operation; 10] = [
    Operation::PullImage,
    Operation::CreateContainer,
    Operation::StartContainer,
    Operation::StopContainer,
    Operation::RemoveContainer,
    Operation::RenameContainer,
    Operation::ExecInContainer,
    Operation::WriteFile,
    Operation::TagImage,
    Operation::RemoveImage,
];

#[derive(Clone, Debug)]
struct Case {
    history: Vec<Setup>,
    disturbances: Vec<Disturbance>,
    target: Setup,
    /// The operation, how many of its calls pass first, the host it strikes, and the fault.
    fault: (usize, usize, usize, Fault),
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        1..=HOSTS.len(),
        any::<bool>(),
        1..=3u32,
        prop::sample::select(vec!["production", "staging"]),
        prop::sample::select(VERSIONS.to_vec()),
    )
        .prop_map(|(hosts, with_jobs, retain, rails_env, version)| Setup {
            hosts,
            with_jobs,
            retain,
            rails_env,
            version,
        })
}

fn disturbance() -> impl Strategy<Value = Disturbance> {
    let host = 0..HOSTS.len();
    prop_oneof![
        (host.clone(), 0..8usize)
            .prop_map(|(host, pick)| Disturbance::StopContainer { host, pick }),
        (host.clone(), 0..8usize)
            .prop_map(|(host, pick)| Disturbance::RemoveContainer { host, pick }),
        (host.clone(), 0..VERSIONS.len())
            .prop_map(|(host, version)| Disturbance::RemoveImage { host, version }),
        (host.clone(), 0..VERSIONS.len())
            .prop_map(|(host, version)| Disturbance::TagLatest { host, version }),
        host.clone()
            .prop_map(|host| Disturbance::DropRoute { host }),
        (host.clone(), 0..8usize).prop_map(|(host, pick)| Disturbance::Unlabel { host, pick }),
        host.clone()
            .prop_map(|host| Disturbance::StrayEnvFile { host }),
        (host.clone(), 0..8usize)
            .prop_map(|(host, pick)| Disturbance::OtherDestination { host, pick }),
        host.clone()
            .prop_map(|host| Disturbance::StopProxy { host }),
        host.clone()
            .prop_map(|host| Disturbance::OtherProxyImage { host }),
        host.prop_map(|host| Disturbance::RemoveProxy { host }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(setup(), 0..3),
        prop::collection::vec(disturbance(), 0..4),
        setup(),
        (
            0..FAULT_POINTS.len(),
            0..3usize,
            0..HOSTS.len(),
            // A call that fails, one that times out, a connection that drops.
            prop::sample::select(vec![
                Fault::Fail("injected failure".into()),
                Fault::Timeout,
                Fault::Disconnect,
            ]),
        ),
    )
        .prop_map(|(history, disturbances, target, fault)| Case {
            history,
            disturbances,
            target,
            fault,
        })
}

/// Makes the change on the fake host; one that Docker would refuse (an image in use) is
/// simply not made.
async fn disturb(world: &World, disturbance: &Disturbance) {
    let host_of = |index: usize| &world.hosts[HOSTS[index]];
    let app_container = |index: usize, pick: usize| {
        let names: Vec<String> = host_of(index)
            .containers()
            .into_values()
            .map(|container| container.name)
            .filter(|name| name != "kamal-proxy")
            .collect();
        (!names.is_empty()).then(|| names[pick % names.len()].clone())
    };
    let _ = match disturbance {
        Disturbance::StopContainer { host, pick } => match app_container(*host, *pick) {
            Some(name) => host_of(*host).stop_container(&name, None).await,
            None => Ok(()),
        },
        Disturbance::RemoveContainer { host, pick } => match app_container(*host, *pick) {
            Some(name) => host_of(*host).remove_container(&name).await,
            None => Ok(()),
        },
        Disturbance::RemoveImage { host, version } => {
            let reference = format!("registry.test/app:{}", VERSIONS[*version]);
            host_of(*host).remove_image(&reference, false).await
        }
        Disturbance::TagLatest { host, version } => {
            let reference = format!("registry.test/app:{}", VERSIONS[*version]);
            host_of(*host)
                .tag_image(&reference, "registry.test/app:latest")
                .await
        }
        Disturbance::DropRoute { host } => {
            host_of(*host).drop_route("app-web");
            Ok(())
        }
        Disturbance::Unlabel { host, pick } => {
            if let Some(name) = app_container(*host, *pick) {
                host_of(*host).tamper(&name, |container| {
                    container.labels.remove("role");
                });
            }
            Ok(())
        }
        Disturbance::OtherDestination { host, pick } => {
            if let Some(name) = app_container(*host, *pick) {
                host_of(*host).tamper(&name, |container| {
                    container
                        .labels
                        .insert("destination".into(), "staging".into());
                });
            }
            Ok(())
        }
        Disturbance::StrayEnvFile { host } => {
            host_of(*host)
                .write_file(".kamal/apps/app/env/roles/old.env", b"A=1\n", 0o600)
                .await
        }
        Disturbance::OtherProxyImage { host } => {
            if host_of(*host).containers().contains_key("kamal-proxy") {
                host_of(*host).tamper("kamal-proxy", |container| {
                    container.image = "basecamp/kamal-proxy:v0.8.0".into();
                    container.image_id = "sha256:old-proxy".into();
                });
            }
            Ok(())
        }
        Disturbance::StopProxy { host } => host_of(*host).stop_container("kamal-proxy", None).await,
        Disturbance::RemoveProxy { host } => host_of(*host).remove_container("kamal-proxy").await,
    };
}

/// Runs one case; `Err` says which property failed.
async fn check(case: &Case) -> Result<(), String> {
    let world = World::new(&HOSTS);
    for earlier in &case.history {
        let _ = world.apply(&earlier.config(), earlier.version).await;
    }
    for disturbance in &case.disturbances {
        disturb(&world, disturbance).await;
    }
    let config = case.target.config();
    let version = case.target.version;

    let outcome = world.apply(&config, version).await;
    if !outcome.succeeded() {
        return Err(format!("the first apply failed: {outcome:#?}"));
    }
    let again = world.plan_default(&config, version).await;
    if !again.plan.is_empty() {
        return Err(format!("one apply did not converge:\n{}", again.plan));
    }
    let idle = world.apply(&config, version).await;
    if !idle.actions.is_empty() {
        return Err(format!("an apply on converged hosts acted: {idle:#?}"));
    }

    // A fault during a change of version, then one rerun.
    let (operation, skip, host, fault) = case.fault.clone();
    let next = VERSIONS[(VERSIONS.iter().position(|v| *v == version).unwrap_or(0) + 1) % 3];
    world.hosts[HOSTS[host]].inject(FaultRule::once(FAULT_POINTS[operation], fault).after(skip));
    let _ = world.apply(&config, next).await;
    world.hosts[HOSTS[host]].heal();
    let rerun = world.apply(&config, next).await;
    if !rerun.succeeded() {
        return Err(format!("the rerun after a fault failed: {rerun:#?}"));
    }
    let after = world.plan_default(&config, next).await;
    if !after.plan.is_empty() {
        return Err(format!(
            "the rerun after a fault did not converge:\n{}",
            after.plan
        ));
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("GANTRY_MODEL_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(CI_CASES)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn one_apply_converges_from_any_state(case in case()) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| TestCaseError::fail(error.to_string()))?;
        runtime
            .block_on(check(&case))
            .map_err(TestCaseError::fail)?;
    }
}
