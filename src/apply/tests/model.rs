//! Convergence as a property (issue 15), on fake hosts. Each case builds a random starting
//! state (earlier applies of other configurations and versions, with or without an accessory,
//! then containers stopped, removed, stripped of their role label or relabelled for another
//! destination; images removed or retagged as `latest`; the route dropped; a stray env file;
//! the proxy stopped, removed or of another image; the accessory stopped or removed; the
//! journal of a run that never finished; the deploy lock left by a dead run, held by a live one
//! or taken by hand) and a random valid configuration, then runs `gantry apply`'s sequence
//! (lock, plan, journal, execute, release) and checks:
//!
//! - a lock held by a live run or by hand refuses the apply, which changes nothing; once it is
//!   released (and a dead run's lock at once), one apply converges: it succeeds, the next plan
//!   is empty and notes no interrupted run and no lock, and the lock is free;
//! - an accessory that was there is the same container after it, whatever the configuration
//!   says of it (an app deploy never replaces or removes one);
//! - an apply on converged hosts runs no action;
//! - after a fault at any call of an apply (releasing the lock included), one rerun
//!   converges, the same way; the only step before it is the `gantry lock release` the faulted
//!   run advises when no journal shows its lock to be dead
//!   ([`release_a_lock_no_journal_shows_dead`]).
//!
//! CI runs [`CI_CASES`] cases; `GANTRY_MODEL_CASES=N` runs N (the long run). Failures proptest
//! found are replayed first from `proptest-regressions/apply/tests/model.txt`, and each has a
//! named regression test in `apply::tests`.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use tokio_util::sync::CancellationToken;

use super::{World, config};
use crate::apply::{ExecOptions, Outcome, QuietReporter};
use crate::config::{Accessory, AccessoryMount, Config, Env};
use crate::diff::Note;
use crate::host::{Host, ImageDetails};
use crate::naming::ServiceNames;
use crate::records::journal::{self, ABANDONED_AFTER, Journal, RunStatus};
use crate::records::lock::{self, LockRequest};
use crate::secret::Redactor;
use crate::session::run::{Records, RunIdentity, record_and_execute};
use crate::testing;
use crate::testkit::fake_host::{Fault, FaultRule, Operation};

const CI_CASES: u32 = 256;
const HOSTS: [&str; 2] = ["h1", "h2"];
const VERSIONS: [&str; 3] = ["v1", "v2", "v3"];
/// The accessory's image and its container (on the primary host, h1).
const ACCESSORY_IMAGE: &str = "registry.test/db:16";
const ACCESSORY: &str = "app-db";

/// The configuration of one apply: which hosts, roles and settings.
#[derive(Clone, Debug)]
struct Setup {
    hosts: usize,
    with_jobs: bool,
    retain: u32,
    rails_env: &'static str,
    /// The `db` accessory's `cmd`, when the configuration has one: two values, so that a later
    /// configuration can change it.
    accessory: Option<&'static str>,
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
        if let Some(cmd) = self.accessory {
            config.accessories.push(accessory(cmd));
        }
        config
    }
}

/// A `db` accessory on h1 with a data directory.
fn accessory(cmd: &str) -> Accessory {
    Accessory {
        name: "db".into(),
        service: ACCESSORY.into(),
        image: ACCESSORY_IMAGE.into(),
        registry: None,
        hosts: vec![HOSTS[0].into()],
        cmd: Some(cmd.into()),
        ports: Vec::new(),
        labels: Default::default(),
        options: Default::default(),
        restart_policy: "unless-stopped".into(),
        env: Env::default(),
        files: Vec::new(),
        directories: vec![AccessoryMount {
            local: "data".into(),
            remote: "/var/lib/db".into(),
            mode: None,
            owner: None,
            options: None,
        }],
        volumes: Vec::new(),
        network: "kamal".into(),
        proxy: None,
    }
}

/// The deploy lock when the apply starts.
#[derive(Clone, Copy, Debug)]
enum LeftLock {
    Free,
    /// Held by a gantry run that was killed: its journal on the lock host says `running` and
    /// has been silent for the stale period. The apply takes it over.
    DeadRun,
    /// Held by a gantry run that is alive (its journal was just written). The apply is refused.
    LiveRun,
    /// Taken by hand (`lock acquire -m ...`). The apply is refused.
    ByHand,
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
    StopAccessory {
        host: usize,
    },
    RemoveAccessory {
        host: usize,
    },
    /// The journal of a gantry run that never finished here (killed, its lock released by
    /// hand since).
    UnfinishedJournal {
        host: usize,
        version: usize,
    },
}

/// The calls a fault may hit (the last: releasing the deploy lock).
const FAULT_POINTS: [Operation; 11] = [
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
    Operation::RemoveDirIfFileIs,
];

#[derive(Clone, Debug)]
struct Case {
    history: Vec<Setup>,
    disturbances: Vec<Disturbance>,
    lock: LeftLock,
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
        prop::sample::select(vec![None, Some("db --port 1"), Some("db --port 2")]),
        prop::sample::select(VERSIONS.to_vec()),
    )
        .prop_map(
            |(hosts, with_jobs, retain, rails_env, accessory, version)| Setup {
                hosts,
                with_jobs,
                retain,
                rails_env,
                accessory,
                version,
            },
        )
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
        host.clone()
            .prop_map(|host| Disturbance::RemoveProxy { host }),
        host.clone()
            .prop_map(|host| Disturbance::StopAccessory { host }),
        host.clone()
            .prop_map(|host| Disturbance::RemoveAccessory { host }),
        (host, 0..VERSIONS.len())
            .prop_map(|(host, version)| Disturbance::UnfinishedJournal { host, version }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(setup(), 0..3),
        prop::collection::vec(disturbance(), 0..4),
        prop::sample::select(vec![
            LeftLock::Free,
            LeftLock::DeadRun,
            LeftLock::LiveRun,
            LeftLock::ByHand,
        ]),
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
        .prop_map(|(history, disturbances, lock, target, fault)| Case {
            history,
            disturbances,
            lock,
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
        Disturbance::StopAccessory { host } => {
            if host_of(*host).containers().contains_key(ACCESSORY) {
                host_of(*host).stop_container(ACCESSORY, None).await
            } else {
                Ok(())
            }
        }
        Disturbance::RemoveAccessory { host } => host_of(*host).remove_container(ACCESSORY).await,
        Disturbance::UnfinishedJournal { host, version } => {
            let names = ServiceNames::for_config(&testing::config(&HOSTS));
            journal::write(
                host_of(*host).as_ref(),
                &names,
                &unfinished_journal("killed-run", VERSIONS[*version]),
            )
            .await
        }
    };
}

/// The journal a run writes before its first change, as a killed run leaves it.
fn unfinished_journal(run: &str, version: &str) -> Journal {
    Journal {
        run: run.into(),
        command: "apply".into(),
        by: "someone".into(),
        version: version.into(),
        started_at: "2026-12-01T00:00:00Z".into(),
        status: RunStatus::Running,
        actions: vec!["start app-web".into()],
        finished_at: None,
        heartbeat_at: Some("2026-12-01T00:00:00Z".into()),
        deployed_hosts: HOSTS.iter().map(|host| host.to_string()).collect(),
    }
}

/// Leaves the deploy lock (on h1, the primary host) as `left` says.
async fn leave_lock(world: &World, left: LeftLock) {
    let names = ServiceNames::for_config(&testing::config(&HOSTS));
    let lock_host = world.hosts[HOSTS[0]].as_ref();
    let (run, message) = match left {
        LeftLock::Free => return,
        LeftLock::DeadRun => ("dead-run", lock::automatic_message("dead-run")),
        LeftLock::LiveRun => ("live-run", lock::automatic_message("live-run")),
        LeftLock::ByHand => ("", "maintenance".to_string()),
    };
    let request = LockRequest {
        holder: "someone",
        now: "2026-12-01T00:00:00Z",
        version: "v1",
        message: &message,
    };
    let _ = lock::acquire(lock_host, &names, &request).await;
    if !run.is_empty() {
        let _ = journal::write(lock_host, &names, &unfinished_journal(run, "v1")).await;
    }
}

/// Ends what held the lock: the live run finishes (its journal, then its release), a lock
/// taken by hand is released by hand.
async fn end_holder(world: &World, left: LeftLock) {
    let names = ServiceNames::for_config(&testing::config(&HOSTS));
    let lock_host = world.hosts[HOSTS[0]].as_ref();
    if let LeftLock::LiveRun = left {
        let mut finished = unfinished_journal("live-run", "v1");
        finished.status = RunStatus::Converged;
        let _ = journal::write(lock_host, &names, &finished).await;
        let _ = lock::release(lock_host, &names, "live-run").await;
    } else {
        let _ = lock::force_release(lock_host, &names).await;
    }
}

/// `gantry apply`'s run around the executor, as the CLI does it: the deploy lock on the
/// primary host, taken over from a gantry run whose journal there has been silent for
/// `stale_after`; the plan; journals, execution and the audit; the release. `Err` says why the
/// lock refused it.
async fn gantry_apply(
    world: &World,
    config: &Config,
    version: &str,
    run_id: &str,
    stale_after: Duration,
) -> Result<Outcome, String> {
    let names = ServiceNames::for_config(config);
    let lock_host = world.hosts[HOSTS[0]].as_ref();
    let message = lock::automatic_message(run_id);
    let request = LockRequest {
        holder: "model",
        now: "2026-12-06T00:00:00Z",
        version,
        message: &message,
    };
    match lock::acquire(lock_host, &names, &request).await {
        Ok(()) => {}
        Err(lock::LockError::Held { holder, .. }) => {
            let dead = lock::abandoned_run(lock_host, &names, &holder, stale_after).await;
            let taken = match dead {
                Some(run) => lock::take_over(lock_host, &names, &run, &request)
                    .await
                    .unwrap_or(false),
                None => false,
            };
            if !taken {
                return Err(format!(
                    "the deploy lock is held{}",
                    lock::describe(&holder)
                ));
            }
        }
        Err(error) => return Err(error.to_string()),
    }
    let planned = world.plan_default(config, version).await;
    let identity = RunIdentity {
        run_id: run_id.into(),
        performer: "model".into(),
        command: "apply".into(),
        version: version.into(),
    };
    let deployed_hosts = config.all_hosts();
    let redactor = Redactor::new(std::iter::empty());
    let records = Records {
        names: &names,
        identity: &identity,
        redactor: &redactor,
        heartbeat: Duration::from_secs(10),
        deployed_hosts: &deployed_hosts,
        lock_hosts: &[lock_host.name().to_string()],
    };
    let outcome = record_and_execute(
        &planned.plan,
        &world.exec_hosts(),
        &records,
        &ExecOptions::default(),
        &QuietReporter,
        CancellationToken::new(),
    )
    .await;
    let _ = lock::release(lock_host, &names, run_id).await;
    Ok(outcome)
}

/// The one manual step a rerun may need, the one the faulted run itself advises: a lock that
/// no journal on the lock host shows to be dead waits for `gantry lock release`, as Kamal's
/// does. That is a lock whose run never wrote its journal there (the connection dropped
/// between taking the lock and the first write: nothing tells it from a run still planning or
/// waiting at its prompt), or whose run's journal says it finished (its release failed: the
/// `post-app-boot` hook runs after the journal's end, holding the lock, so a finished journal
/// alone does not make a lock stale). A lock whose run's journal says `running` must be taken
/// over by the rerun.
async fn release_a_lock_no_journal_shows_dead(world: &World, config: &Config) {
    let names = ServiceNames::for_config(config);
    let lock_host = world.hosts[HOSTS[0]].as_ref();
    let Ok(Some(holder)) = lock::status(lock_host, &names).await else {
        return;
    };
    let journal = lock_host
        .file(&names.journal())
        .and_then(|(bytes, _)| Journal::parse(&String::from_utf8_lossy(&bytes)));
    let shown_dead = journal.is_some_and(|journal| {
        journal.unfinished() && Some(journal.run.as_str()) == lock::run_of(&holder)
    });
    if !shown_dead {
        let _ = lock::force_release(lock_host, &names).await;
    }
}

/// What a refused apply must leave alone: every host's containers, routes and image tags.
fn snapshot(world: &World) -> String {
    world
        .hosts
        .values()
        .map(|host| {
            let tags: Vec<(String, Option<String>)> = VERSIONS
                .iter()
                .chain(&["latest"])
                .map(|tag| {
                    let reference = format!("registry.test/app:{tag}");
                    let id = host.image_id(&reference);
                    (reference, id)
                })
                .collect();
            format!("{:?}\n{:?}\n{tags:?}", host.containers(), host.routes())
        })
        .collect()
}

/// The accessory containers on each host, by id.
fn accessory_ids(world: &World) -> BTreeMap<&'static str, String> {
    HOSTS
        .iter()
        .filter_map(|host| {
            let container = world.hosts[*host].containers().remove(ACCESSORY)?;
            Some((*host, container.id))
        })
        .collect()
}

/// The property after a run that should have converged: the next plan is empty and notes no
/// interrupted run and no lock, and the lock is free.
async fn converged(world: &World, config: &Config, version: &str) -> Result<(), String> {
    let next = world.plan_default(config, version).await;
    if !next.plan.is_empty() {
        return Err(format!("not converged:\n{}", next.plan));
    }
    let lingering: Vec<String> = next
        .plan
        .changes
        .hosts
        .iter()
        .flat_map(|host| host.notes.iter().map(move |note| (host, note)))
        .filter(|(_, note)| matches!(note, Note::Interrupted { .. } | Note::Locked(_)))
        .map(|(host, note)| format!("{}: {note:?}", host.host))
        .collect();
    if !lingering.is_empty() {
        return Err(format!("converged, but the plan still notes {lingering:?}"));
    }
    let names = ServiceNames::for_config(config);
    match lock::status(world.hosts[HOSTS[0]].as_ref(), &names).await {
        Ok(None) => Ok(()),
        held => Err(format!("the deploy lock is left behind: {held:?}")),
    }
}

/// Runs one case; `Err` says which property failed.
async fn check(case: &Case) -> Result<(), String> {
    let world = World::new(&HOSTS);
    world.registry.push(
        ACCESSORY_IMAGE,
        ImageDetails {
            id: "sha256:db16".into(),
            cmd: vec!["db".into()],
            ..ImageDetails::default()
        },
    );
    // Earlier runs ended long ago: any lock they left is stale.
    let long_ago = Duration::ZERO;
    for (index, earlier) in case.history.iter().enumerate() {
        let run = format!("earlier-{index}");
        let _ = gantry_apply(&world, &earlier.config(), earlier.version, &run, long_ago).await;
    }
    for disturbance in &case.disturbances {
        disturb(&world, disturbance).await;
    }
    leave_lock(&world, case.lock).await;
    let accessories = accessory_ids(&world);
    let config = case.target.config();
    let version = case.target.version;

    // A dead run's lock is taken over; a live run's or a hand-taken one refuses, untouched.
    let stale_after = match case.lock {
        LeftLock::LiveRun => ABANDONED_AFTER,
        _ => long_ago,
    };
    if let LeftLock::LiveRun | LeftLock::ByHand = case.lock {
        let before = snapshot(&world);
        if let Ok(outcome) = gantry_apply(&world, &config, version, "refused", stale_after).await {
            return Err(format!("an apply ran under a held lock: {outcome:#?}"));
        }
        if snapshot(&world) != before {
            return Err("a refused apply changed the hosts".into());
        }
        end_holder(&world, case.lock).await;
    }

    let outcome = gantry_apply(&world, &config, version, "target", stale_after)
        .await
        .map_err(|refused| format!("the first apply was refused: {refused}"))?;
    if !outcome.succeeded() {
        return Err(format!("the first apply failed: {outcome:#?}"));
    }
    converged(&world, &config, version)
        .await
        .map_err(|why| format!("one apply: {why}"))?;
    for (host, id) in &accessories {
        let now = world.hosts[*host]
            .containers()
            .remove(ACCESSORY)
            .map(|c| c.id);
        if now.as_ref() != Some(id) {
            return Err(format!("the accessory on {host} was {id}, now {now:?}"));
        }
    }
    let idle = gantry_apply(&world, &config, version, "idle", long_ago)
        .await
        .map_err(|refused| format!("the idle apply was refused: {refused}"))?;
    if !idle.actions.is_empty() {
        return Err(format!("an apply on converged hosts acted: {idle:#?}"));
    }

    // A fault during a change of version, then one rerun once the faulted run is over.
    let (operation, skip, host, fault) = case.fault.clone();
    let next = VERSIONS[(VERSIONS.iter().position(|v| *v == version).unwrap_or(0) + 1) % 3];
    world.hosts[HOSTS[host]].inject(FaultRule::once(FAULT_POINTS[operation], fault).after(skip));
    let _ = gantry_apply(&world, &config, next, "faulted", long_ago).await;
    world.hosts[HOSTS[host]].heal();
    release_a_lock_no_journal_shows_dead(&world, &config).await;
    let rerun = gantry_apply(&world, &config, next, "rerun", long_ago)
        .await
        .map_err(|refused| format!("the rerun after a fault was refused: {refused}"))?;
    if !rerun.succeeded() {
        return Err(format!("the rerun after a fault failed: {rerun:#?}"));
    }
    converged(&world, &config, next)
        .await
        .map_err(|why| format!("the rerun after a fault: {why}"))
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
