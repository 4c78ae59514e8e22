//! One recorded run of a plan: the journal before, the executor, the audit log and the journal
//! after, on every host the plan touches.
//!
//! This is the part of `apply` (and `deploy`, `rollback`) between taking the lock and releasing
//! it. The journal written before the first change is what lets a later plan recognise a run
//! that was killed mid-way; the audit lines are Kamal's, so `kamal audit` shows gantry's runs.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::future::join_all;
use tokio_util::sync::CancellationToken;

use crate::apply::{ExecOptions, HostOutcome, Hosts, Outcome, Reporter, execute};
use crate::diff::Note;
use crate::host::FileChange;
use crate::naming::{LOCK_DETAILS_FILE, ServiceNames};
use crate::plan::Plan;
use crate::records::audit;
use crate::records::journal::{self, Journal, RunStatus};
use crate::secret::Redactor;

/// Who runs what, for the journal and the audit log.
#[derive(Clone, Debug)]
pub struct RunIdentity {
    /// A fresh id per run; also the `gantry.run` label of the containers it creates.
    pub run_id: String,
    /// `git config user.email`, else the login name (Kamal's audit performer).
    pub performer: String,
    pub command: String,
    pub version: String,
}

/// Where and how a run is recorded.
#[derive(Clone, Copy, Debug)]
pub struct Records<'a> {
    pub names: &'a ServiceNames,
    pub identity: &'a RunIdentity,
    /// Scrubs secret values out of audit lines.
    pub redactor: &'a Redactor,
    /// How often the journals are rewritten while the run lives.
    pub heartbeat: std::time::Duration,
    /// Every host the service is deployed to, for the journal (`journal::deployed_hosts`).
    pub deployed_hosts: &'a [String],
    /// The hosts holding the deploy lock. Each gets a journal and its heartbeat even when the
    /// plan changes nothing there: that journal is how a later run tells whether this one died
    /// holding the lock (`lock::abandoned_run`).
    pub lock_hosts: &'a [String],
}

/// A run id: UTC time and random hex, sortable and unique.
pub fn new_run_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}-{:06x}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        rand::random::<u32>() & 0xff_ffff
    )
}

/// The clock of the records, kept where audit lines are written.
pub use crate::records::audit::now_rfc3339;

/// Journals, executes, audits. The journal and audit writes are best effort: a host that
/// cannot take them is reported by the actions that follow. Audit lines go through `redactor`
/// (a failure's cause can quote a command's output).
pub async fn record_and_execute(
    plan: &Plan,
    hosts: &Hosts,
    records: &Records<'_>,
    options: &ExecOptions,
    reporter: &dyn Reporter,
    cancel: CancellationToken,
) -> Outcome {
    let releases = BTreeMap::new();
    let run =
        record_execute_and_release(plan, hosts, records, &releases, options, reporter, cancel);
    run.await.0
}

/// [`record_and_execute`], releasing the deploy locks in `releases` (host → the details this
/// run wrote in it) with the last records of their host, in the same session: the hosts whose
/// lock is released come back with the outcome. A lock not released so (taken over, a host
/// that failed) is left to the usual release, which says why.
pub async fn record_execute_and_release(
    plan: &Plan,
    hosts: &Hosts,
    records: &Records<'_>,
    releases: &BTreeMap<String, String>,
    options: &ExecOptions,
    reporter: &dyn Reporter,
    cancel: CancellationToken,
) -> (Outcome, BTreeSet<String>) {
    let Records {
        names,
        identity,
        redactor,
        heartbeat: beat,
        deployed_hosts,
        lock_hosts,
    } = records;
    let touched: BTreeSet<&str> = plan.actions().map(|(_, node)| node.host.as_str()).collect();
    // A host where an earlier run never finished is journaled too, even with nothing to do
    // there: this run's ending closes that record, or every later plan would name the
    // interrupted run forever (found by the model test, #15).
    let interrupted = plan
        .changes
        .hosts
        .iter()
        .filter(|host| {
            host.notes
                .iter()
                .any(|note| matches!(note, Note::Interrupted { .. }))
        })
        .map(|host| host.host.as_str());
    let journaled: BTreeSet<&str> = touched
        .iter()
        .copied()
        .chain(lock_hosts.iter().map(String::as_str))
        .chain(interrupted)
        .collect();
    let started_at = now_rfc3339();
    let journal_for = |host: &str, status: RunStatus, finished_at: Option<String>| Journal {
        run: identity.run_id.clone(),
        command: identity.command.clone(),
        by: identity.performer.clone(),
        version: identity.version.clone(),
        started_at: started_at.clone(),
        status,
        actions: plan
            .actions()
            .filter(|(_, node)| node.host == host)
            .map(|(_, node)| node.action.to_string())
            .collect(),
        finished_at,
        heartbeat_at: Some(now_rfc3339()),
        deployed_hosts: deployed_hosts.to_vec(),
    };
    join_all(journaled.iter().filter_map(|host| {
        let connection = hosts.get(*host)?;
        let journal = journal_for(host, RunStatus::Running, None);
        Some(async move {
            let _ = journal::write(connection.as_ref(), names, &journal).await;
        })
    }))
    .await;

    // While the run lives its journals say so; a killed run stops beating. Each host beats on
    // its own: one slow host must not hold back the others' beats (the lock host's journal is
    // what tells a live run from a dead one).
    let beats = join_all(journaled.iter().filter_map(|host| {
        let connection = hosts.get(*host)?;
        let journal_for = &journal_for;
        Some(async move {
            loop {
                tokio::time::sleep(*beat).await;
                let journal = journal_for(host, RunStatus::Running, None);
                let _ = journal::write(connection.as_ref(), names, &journal).await;
            }
        })
    }));
    let heartbeat = async {
        beats.await;
        // No host touched: nothing to beat, and nothing to end the run early.
        std::future::pending().await
    };
    let outcome = tokio::select! {
        outcome = execute(plan, hosts, options, reporter, cancel) => outcome,
        never = heartbeat => never,
    };

    let finished_at = now_rfc3339();
    let canary = crate::report::canary::verdict(plan, &outcome);
    let (audit_log, journal_path, lock_dir) =
        (names.audit_log(), names.journal(), names.lock_dir());
    // The records that end the run on each host, and the release of the lock held there,
    // in order and in one session.
    let released = join_all(journaled.iter().filter_map(|host| {
        let connection = hosts.get(*host)?;
        let (status, message) = if touched.contains(host) {
            ending(outcome.hosts.get(*host)?, identity, canary.is_some())?
        } else {
            // The lock host, or a host an interrupted run left, without actions: nothing was
            // to be done there, and nothing was.
            (RunStatus::Converged, String::new())
        };
        // Which stage decided, on every host of a canary rollout.
        let message = match &canary {
            Some(verdict) if !message.is_empty() => {
                format!("{message} {}", verdict.audit_note(host))
            }
            _ => message,
        };
        let journal = journal::text(&journal_for(host, status, Some(finished_at.clone())));
        let line = (!message.is_empty()).then(|| {
            redactor.redact(&audit::line(
                &finished_at,
                &identity.performer,
                names.destination(),
                None,
                &message,
            ))
        });
        let release = releases.get(*host);
        let (audit_log, journal_path, lock_dir) = (&audit_log, &journal_path, &lock_dir);
        Some(async move {
            let mut changes = Vec::new();
            if let Some(line) = &line {
                changes.push(FileChange::AppendLine {
                    path: audit_log,
                    line,
                });
            }
            changes.push(FileChange::Write {
                path: journal_path,
                contents: journal.as_bytes(),
                mode: journal::JOURNAL_MODE,
            });
            if let Some(details) = release {
                changes.push(FileChange::RemoveDirIfFileIs {
                    dir: lock_dir,
                    file: LOCK_DETAILS_FILE,
                    contents: details.as_bytes(),
                });
            }
            let answers = connection.change_files(&changes).await;
            (release.is_some() && matches!(answers.last(), Some(Ok(true))))
                .then(|| host.to_string())
        })
    }))
    .await
    .into_iter()
    .flatten()
    .collect();
    (outcome, released)
}

/// How a run ended on a host it changed: the journal's status and the audit message (empty:
/// no audit line). `None` for a host that could not be reached: nothing is recorded there.
fn ending(
    result: &HostOutcome,
    identity: &RunIdentity,
    canary: bool,
) -> Option<(RunStatus, String)> {
    Some(match result {
        HostOutcome::Converged => (
            RunStatus::Converged,
            format!(
                "Deployed app version {} (gantry run {})",
                identity.version, identity.run_id
            ),
        ),
        HostOutcome::RolledBack { cause } => (
            RunStatus::RolledBack,
            format!(
                "Rolled back app version {} (gantry run {}): {cause}",
                identity.version, identity.run_id
            ),
        ),
        HostOutcome::Failed { cause, .. } => (
            RunStatus::Failed,
            format!(
                "Failed to deploy app version {} and to roll back (gantry run {}): {cause}",
                identity.version, identity.run_id
            ),
        ),
        HostOutcome::Skipped { .. } if canary => (
            RunStatus::Cancelled,
            format!(
                "Did not deploy app version {} (gantry run {})",
                identity.version, identity.run_id
            ),
        ),
        HostOutcome::Skipped { .. } | HostOutcome::Cancelled | HostOutcome::Unchanged => {
            (RunStatus::Cancelled, String::new())
        }
        HostOutcome::Unreachable { .. } => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::apply::QuietReporter;
    use crate::desired::Selection;
    use crate::host::Host;
    use crate::pipeline::{self, PlanRequest};
    use crate::testing;
    use crate::testkit::fake_host::{FakeHost, FakeRegistry};
    use crate::testkit::world::FakeWorld;

    /// The plan of v1 of `config` on the connected hosts.
    async fn plan_v1(
        config: &crate::config::Config,
        secrets: &std::collections::BTreeMap<String, crate::secret::Secret>,
        connections: &pipeline::Connections,
    ) -> pipeline::Planned {
        let selection = Selection::default();
        let read = |_: &str| -> Result<Vec<u8>, String> { Ok(Vec::new()) };
        let request = PlanRequest {
            config,
            secrets,
            version: "v1",
            selection: &selection,
            diff: Default::default(),
            atomic: false,
            read_local_file: &read,
            app_boot_hooks: Vec::new(),
            canary: None,
        };
        let desired = pipeline::desired(&request).unwrap();
        pipeline::observe_and_plan(&request, desired, connections, 4).await
    }

    async fn execute_quietly(
        plan: &crate::plan::Plan,
        hosts: &Hosts,
        records: &Records<'_>,
    ) -> Outcome {
        record_and_execute(
            plan,
            hosts,
            records,
            &ExecOptions::default(),
            &QuietReporter,
            CancellationToken::new(),
        )
        .await
    }

    fn identity_v1() -> RunIdentity {
        RunIdentity {
            run_id: new_run_id(),
            performer: "jane@example.com".into(),
            command: "apply".into(),
            version: "v1".into(),
        }
    }

    #[tokio::test]
    async fn a_run_leaves_a_finished_journal_and_kamal_audit_lines() {
        let world = FakeWorld::of_service("app").versions(&["v1"]).hosts(["h1"]);
        let fake = world.hosts["h1"].clone();
        let config = testing::config(&["h1"]);
        let secrets = testing::secrets();
        let connections = [("h1".to_string(), Ok(fake.clone() as Arc<dyn Host>))].into();
        let planned = plan_v1(&config, &secrets, &connections).await;
        let hosts: Hosts = [("h1".to_string(), fake.clone() as Arc<dyn Host>)].into();
        let identity = identity_v1();
        let names = ServiceNames::new("app", None);
        let redactor = Redactor::new(secrets.values());
        let records = Records {
            names: &names,
            identity: &identity,
            redactor: &redactor,
            heartbeat: std::time::Duration::from_secs(10),
            deployed_hosts: &["h1".to_string(), "h9".to_string()],
            lock_hosts: &["h1".to_string()],
        };
        let outcome = execute_quietly(&planned.plan, &hosts, &records).await;
        assert!(outcome.succeeded(), "{outcome:#?}");
        let (journal, _) = fake.file(".kamal/apps/app/gantry/journal.json").unwrap();
        let journal = Journal::parse(&String::from_utf8(journal).unwrap()).unwrap();
        assert_eq!(journal.status, RunStatus::Converged);
        assert_eq!(journal.run, identity.run_id);
        assert_eq!(journal.deployed_hosts, vec!["h1", "h9"]);
        assert!(
            journal
                .actions
                .iter()
                .any(|action| action.starts_with("run app-web-v1"))
        );
        let (audit, _) = fake.file(".kamal/app-audit.log").unwrap();
        let audit = String::from_utf8(audit).unwrap();
        assert!(
            audit.contains("] [jane@example.com] Deployed app version v1 (gantry run "),
            "{audit}"
        );
        assert_eq!(identity.run_id.len(), "20261126T100000-abcdef".len());
    }

    #[tokio::test]
    async fn the_lock_goes_with_the_last_records_only_while_it_holds_this_runs_details() {
        let world = FakeWorld::of_service("app")
            .versions(&["v1"])
            .hosts(["h1", "h2"]);
        let config = testing::config(&["h1", "h2"]);
        let secrets = testing::secrets();
        let connections = world
            .hosts
            .iter()
            .map(|(name, fake)| (name.clone(), Ok(fake.clone() as Arc<dyn Host>)))
            .collect();
        let planned = plan_v1(&config, &secrets, &connections).await;
        let hosts: Hosts = world
            .hosts
            .iter()
            .map(|(name, fake)| (name.clone(), fake.clone() as Arc<dyn Host>))
            .collect();
        let identity = identity_v1();
        let names = ServiceNames::new("app", None);
        let redactor = Redactor::new(secrets.values());
        let lock_hosts = ["h1".to_string(), "h2".to_string()];
        let records = Records {
            names: &names,
            identity: &identity,
            redactor: &redactor,
            heartbeat: std::time::Duration::from_secs(10),
            deployed_hosts: &lock_hosts,
            lock_hosts: &lock_hosts,
        };
        // h1 holds this run's details; h2's lock was taken over by another run meanwhile.
        for (host, details) in [("h1", "ours"), ("h2", "theirs")] {
            let fake = &world.hosts[host];
            assert!(
                fake.create_dir_exclusive_with_file(
                    &names.lock_dir(),
                    LOCK_DETAILS_FILE,
                    details.as_bytes(),
                    0o644
                )
                .await
                .unwrap()
            );
        }
        let releases: BTreeMap<String, String> = lock_hosts
            .iter()
            .map(|host| (host.clone(), "ours".to_string()))
            .collect();
        let (outcome, released) = record_execute_and_release(
            &planned.plan,
            &hosts,
            &records,
            &releases,
            &ExecOptions::default(),
            &QuietReporter,
            CancellationToken::new(),
        )
        .await;
        assert!(outcome.succeeded(), "{outcome:#?}");
        assert_eq!(released, BTreeSet::from(["h1".to_string()]));
        assert!(world.hosts["h1"].file(&names.lock_details()).is_none());
        assert_eq!(
            world.hosts["h2"].file(&names.lock_details()).unwrap().0,
            b"theirs"
        );
        // The records were written before the release, on both hosts.
        for host in ["h1", "h2"] {
            let (journal, _) = world.hosts[host]
                .file(".kamal/apps/app/gantry/journal.json")
                .unwrap();
            let journal = Journal::parse(&String::from_utf8(journal).unwrap()).unwrap();
            assert_eq!(journal.status, RunStatus::Converged, "{host}");
            assert!(
                world.hosts[host].file(".kamal/app-audit.log").is_some(),
                "{host}"
            );
        }
    }

    /// One slow host must not slow the others' heartbeats (#15): with the beats of all hosts
    /// joined, the lock host beat only as often as the slowest host answered, and a live run
    /// could look dead on it.
    #[tokio::test(start_paused = true)]
    async fn each_host_beats_on_its_own() {
        let world = FakeWorld::of_service("app")
            .versions(&["v1"])
            .host_latency("h2", std::time::Duration::from_secs(1))
            .hosts(["h1", "h2"]);
        let (fast, slow) = (world.hosts["h1"].clone(), world.hosts["h2"].clone());
        let config = testing::config(&["h1", "h2"]);
        let secrets = testing::secrets();
        let connections = [
            ("h1".to_string(), Ok(fast.clone() as Arc<dyn Host>)),
            ("h2".to_string(), Ok(slow.clone() as Arc<dyn Host>)),
        ]
        .into();
        let planned = plan_v1(&config, &secrets, &connections).await;
        // The lock host, connected but without actions (#15).
        let lock_host = Arc::new(FakeHost::new("h0", FakeRegistry::default()));
        let hosts: Hosts = [
            ("h0".to_string(), lock_host.clone() as Arc<dyn Host>),
            ("h1".to_string(), fast.clone() as Arc<dyn Host>),
            ("h2".to_string(), slow.clone() as Arc<dyn Host>),
        ]
        .into();
        let identity = identity_v1();
        let names = ServiceNames::new("app", None);
        let redactor = Redactor::new(secrets.values());
        let records = Records {
            names: &names,
            identity: &identity,
            redactor: &redactor,
            heartbeat: std::time::Duration::from_millis(100),
            deployed_hosts: &[],
            lock_hosts: &["h0".to_string()],
        };
        let outcome = execute_quietly(&planned.plan, &hosts, &records).await;
        assert!(outcome.succeeded(), "{outcome:#?}");
        let journal_writes = |host: &FakeHost| {
            host.calls()
                .iter()
                .filter(|(operation, argument)| {
                    *operation == crate::testkit::fake_host::Operation::WriteFile
                        && argument.ends_with("gantry/journal.json")
                })
                .count()
        };
        let (fast_beats, slow_beats) = (journal_writes(&fast), journal_writes(&slow));
        assert!(
            fast_beats >= 5 * slow_beats,
            "h1 wrote its journal {fast_beats} times, h2 {slow_beats} times"
        );
        // The lock host beats too, though the plan has nothing for it, and ends converged.
        assert!(journal_writes(&lock_host) >= 5 * slow_beats);
        let (journal, _) = lock_host
            .file(".kamal/apps/app/gantry/journal.json")
            .expect("a journal on the lock host");
        let journal = Journal::parse(&String::from_utf8(journal).unwrap()).unwrap();
        assert_eq!(
            (journal.run.as_str(), journal.status, journal.actions.len()),
            (identity.run_id.as_str(), RunStatus::Converged, 0)
        );
    }

    /// A host where a killed run wrote its journal but the next plan has nothing to do (#15,
    /// found by the model test): that run still closes the record there, so the plan after it
    /// no longer names the interrupted run. Before, the note stayed on every plan until some
    /// later run happened to change that host.
    #[tokio::test]
    async fn a_run_closes_the_journal_an_interrupted_run_left_on_a_host_it_does_not_change() {
        let world = FakeWorld::of_service("app")
            .versions(&["v1"])
            .hosts(["h1", "h2"]);
        let h2 = world.hosts["h2"].clone();
        let config = testing::config(&["h1", "h2"]);
        let secrets = testing::secrets();
        let connections = world.connections();
        let hosts = world.exec_hosts();
        let names = ServiceNames::new("app", None);
        let redactor = Redactor::new(secrets.values());
        let run = |identity: &RunIdentity| {
            let identity = identity.clone();
            let (names, redactor, hosts, connections) = (&names, &redactor, &hosts, &connections);
            let (config, secrets) = (&config, &secrets);
            async move {
                let planned = plan_v1(config, secrets, connections).await;
                let records = Records {
                    names,
                    identity: &identity,
                    redactor,
                    heartbeat: std::time::Duration::from_secs(10),
                    deployed_hosts: &[],
                    lock_hosts: &["h1".to_string()],
                };
                execute_quietly(&planned.plan, hosts, &records).await
            }
        };
        assert!(run(&identity_v1()).await.succeeded());
        // A run killed right after writing its first journals.
        let killed = Journal {
            run: "killed-run".into(),
            command: "apply".into(),
            by: "jane@example.com".into(),
            version: "v1".into(),
            started_at: "2026-12-01T00:00:00Z".into(),
            status: RunStatus::Running,
            actions: Vec::new(),
            finished_at: None,
            heartbeat_at: None,
            deployed_hosts: Vec::new(),
        };
        journal::write(h2.as_ref(), &names, &killed).await.unwrap();
        let interrupted = |planned: &pipeline::Planned| {
            planned
                .plan
                .changes
                .hosts
                .iter()
                .filter(|host| {
                    host.notes
                        .iter()
                        .any(|note| matches!(note, Note::Interrupted { .. }))
                })
                .map(|host| host.host.clone())
                .collect::<Vec<_>>()
        };
        let before = plan_v1(&config, &secrets, &connections).await;
        assert!(before.plan.is_empty(), "{}", before.plan);
        assert_eq!(interrupted(&before), ["h2"]);

        let identity = identity_v1();
        let outcome = run(&identity).await;
        assert!(
            outcome.succeeded() && outcome.actions.is_empty(),
            "{outcome:#?}"
        );
        let after = plan_v1(&config, &secrets, &connections).await;
        assert!(interrupted(&after).is_empty(), "{:?}", after.plan.changes);
        let (journal, _) = h2.file(".kamal/apps/app/gantry/journal.json").unwrap();
        let journal = Journal::parse(&String::from_utf8(journal).unwrap()).unwrap();
        assert_eq!(
            (journal.run, journal.status),
            (identity.run_id, RunStatus::Converged)
        );
    }
}
