//! Kamal's deploy lock: a directory on the primary host, taken before the first change.
//!
//! `mkdir .kamal/lock-<svc[-dest]>` is the atomic step; the `details` file inside says who holds
//! it, since when, for which version and why (base64, as Kamal writes it), so `kamal lock
//! status` and `gantry lock status` read each other's locks. gantry's automatic message names
//! its run id (`Automatic deploy lock (gantry run <id>)`): a lock left by a gantry run that was
//! killed can be matched with that run's journal and recognised as stale.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::host::{Host, HostError};
use crate::naming::{LOCK_DETAILS_FILE, LOCK_DETAILS_MODE, ServiceNames};
use crate::observe::{LockInfo, encode_lock_details, parse_lock_details};
use crate::records::journal::Journal;

/// The message of automatic locks; Kamal's `--lock-wait` only waits on these.
pub const AUTOMATIC_MESSAGE: &str = "Automatic deploy lock";

/// Why the lock could not be taken or released.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("the deploy lock on {host} is held{}", describe(.holder))]
    Held { host: String, holder: LockInfo },
    #[error("waited {seconds}s for the deploy lock on {host}; it is still held{}", describe(.holder))]
    WaitTimedOut {
        host: String,
        seconds: u64,
        holder: LockInfo,
    },
    #[error("the deploy lock on {host} was taken by hand{}; --lock-wait waits only for automatic locks", describe(.holder))]
    Manual { host: String, holder: LockInfo },
    #[error("the deploy lock on {host} is no longer this run's: it was taken over{}; it is left to its holder", describe(.holder))]
    NotOurs { host: String, holder: LockInfo },
    #[error("interrupted while waiting for the deploy lock on {host}; nothing changed")]
    Interrupted { host: String },
    #[error(transparent)]
    Host(#[from] HostError),
}

/// ` by <holder> since <time> (<message>)`, whatever of it the lock's details say.
pub fn describe(holder: &LockInfo) -> String {
    let mut text = String::new();
    if let Some(name) = &holder.holder {
        text.push_str(&format!(" by {name}"));
    }
    if let Some(since) = &holder.since {
        text.push_str(&format!(" since {since}"));
    }
    if let Some(message) = &holder.message {
        text.push_str(&format!(" ({message})"));
    }
    text
}

/// Who takes a lock, and for what.
#[derive(Clone, Debug)]
pub struct LockRequest<'a> {
    /// `git config user.name`, or the login name.
    pub holder: &'a str,
    /// RFC 3339, UTC.
    pub now: &'a str,
    pub version: &'a str,
    pub message: &'a str,
}

/// The automatic message of a gantry run.
pub fn automatic_message(run_id: &str) -> String {
    format!("{AUTOMATIC_MESSAGE} (gantry run {run_id})")
}

/// The run id in an automatic gantry lock message.
pub fn run_of(lock: &LockInfo) -> Option<&str> {
    lock.message
        .as_deref()?
        .strip_prefix(AUTOMATIC_MESSAGE)?
        .trim()
        .strip_prefix("(gantry run ")?
        .strip_suffix(')')
}

/// Takes the lock, or says who holds it. A lock released between the failed `mkdir` and the
/// look at its details is free again: the `mkdir` is tried once more.
pub async fn acquire(
    host: &dyn Host,
    names: &ServiceNames,
    request: &LockRequest<'_>,
) -> Result<(), LockError> {
    for _ in 0..3 {
        // A lock without details would confuse everyone: a failed write takes it back.
        if host
            .create_dir_exclusive_with_file(
                &names.lock_dir(),
                LOCK_DETAILS_FILE,
                details(request).as_bytes(),
                LOCK_DETAILS_MODE,
            )
            .await?
        {
            return Ok(());
        }
        if let Some(holder) = status(host, names).await? {
            return Err(LockError::Held {
                host: host.name().to_string(),
                holder,
            });
        }
    }
    Err(held(host, names).await)
}

/// The error for a lock someone else holds, naming whoever holds it now.
pub async fn held(host: &dyn Host, names: &ServiceNames) -> LockError {
    match status(host, names).await {
        Ok(holder) => LockError::Held {
            host: host.name().to_string(),
            holder: holder.unwrap_or_default(),
        },
        Err(error) => error,
    }
}

/// Takes the lock, waiting for an automatic lock to be released (`--lock-wait`). A lock whose
/// details are not written yet is being taken by another run: it is waited for too. `waiting`
/// is told the holder once, when the wait begins, so the user knows why nothing happens.
/// `cancel` (Ctrl-C) ends the wait; no lock is held then.
pub async fn acquire_waiting(
    host: &dyn Host,
    names: &ServiceNames,
    request: &LockRequest<'_>,
    timeout: Duration,
    interval: Duration,
    cancel: &CancellationToken,
    waiting: impl FnOnce(&str, &LockInfo),
) -> Result<(), LockError> {
    let started = std::time::Instant::now();
    let mut waiting = Some(waiting);
    loop {
        match acquire(host, names, request).await {
            Err(LockError::Held { host: name, holder }) => {
                // Only a message saying so makes a lock manual: one without details is being
                // taken or released by a run.
                if holder.message.is_some() && !holder.is_automatic() {
                    return Err(LockError::Manual { host: name, holder });
                }
                if started.elapsed() >= timeout {
                    return Err(LockError::WaitTimedOut {
                        host: name,
                        seconds: timeout.as_secs(),
                        holder,
                    });
                }
                if let Some(waiting) = waiting.take() {
                    waiting(&name, &holder);
                }
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = cancel.cancelled() => return Err(LockError::Interrupted { host: name }),
                }
            }
            other => return other,
        }
    }
}

/// Takes over the lock of `dead_run`, a gantry run known to have died holding it. Several runs
/// may find the same dead run at once: each first claims the takeover with an atomic `mkdir`
/// of `<gantry dir>/takeover-<dead run>` (kept as a record), and only the one that creates it
/// releases the dead run's lock and takes its own; the others get `Ok(false)` and must treat
/// the lock as held. The winner rewrites the lock's details in place: the lock directory never
/// goes away, so no run can take it in between. (Releasing and taking the lock again let a
/// slow taker remove the lock a faster one had just taken: two runs deployed at once.)
pub async fn take_over(
    host: &dyn Host,
    names: &ServiceNames,
    dead_run: &str,
    request: &LockRequest<'_>,
) -> Result<bool, LockError> {
    if dead_run.is_empty()
        || !dead_run
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Ok(false);
    }
    let claim = format!("{}/takeover-{dead_run}", names.gantry_dir());
    if !host.create_dir_exclusive(&claim).await? {
        return Ok(false);
    }
    // The lock directory stays; only who holds it changes (the write is atomic), so no other
    // run can slip in between a release and a new `mkdir`.
    host.write_file(&names.lock_details(), details(request).as_bytes(), 0o644)
        .await?;
    Ok(true)
}

/// The gantry run that holds the lock, when its journal on the lock host shows it was killed:
/// unfinished, and not rewritten for `silence`. The silence is the journal's age by the lock
/// host's clock ([`Host::file_ages`]): the clocks of this machine and of the machine that ran
/// the holder may disagree by minutes, and a live run must never look dead.
pub async fn abandoned_run(
    host: &dyn Host,
    names: &ServiceNames,
    holder: &LockInfo,
    silence: Duration,
) -> Option<String> {
    let run = run_of(holder)?;
    let path = names.journal();
    let paths = std::slice::from_ref(&path);
    let files = host.read_files(paths).await.ok()?;
    let journal = Journal::parse(&String::from_utf8_lossy(files.get(&path)?.as_ref()?))?;
    if journal.run != run || !journal.unfinished() {
        return None;
    }
    let age = host.file_ages(paths).await.ok()?.remove(&path).flatten()?;
    (age >= silence).then(|| run.to_string())
}

/// The details file of a lock taken for `request` (what [`release_written`] compares).
pub fn details(request: &LockRequest<'_>) -> String {
    encode_lock_details(
        request.holder,
        request.now,
        request.version,
        request.message,
    )
}

/// Releases the lock whoever holds it (`gantry lock release`, Kamal's `lock release`); a lock
/// that is already gone is not an error.
pub async fn force_release(host: &dyn Host, names: &ServiceNames) -> Result<(), LockError> {
    host.remove_path(&names.lock_dir()).await?;
    Ok(())
}

/// Releases the lock `run_id` took, and only that one. A run whose lock was taken over (it
/// looked dead: a laptop asleep, a network cut longer than the stale-lock period) must not
/// remove the new holder's lock on its way out. The details are read, checked to name this
/// run, then the directory is removed only if the details still hold those exact bytes, in one
/// command on the host ([`Host::remove_dir_if_file_is`]): a takeover in between keeps the lock.
/// A lock that is already gone is not an error.
pub async fn release(host: &dyn Host, names: &ServiceNames, run_id: &str) -> Result<(), LockError> {
    let path = names.lock_details();
    let mut files = host.read_files(std::slice::from_ref(&path)).await?;
    let Some(bytes) = files.remove(&path).flatten() else {
        return Ok(());
    };
    let holder = parse_lock_details(&bytes);
    if run_of(&holder) == Some(run_id)
        && host
            .remove_dir_if_file_is(&names.lock_dir(), LOCK_DETAILS_FILE, &bytes)
            .await?
    {
        return Ok(());
    }
    Err(LockError::NotOurs {
        host: host.name().to_string(),
        holder: status(host, names).await?.unwrap_or_default(),
    })
}

/// [`release`] in one round trip while the lock still holds the details this run wrote (the
/// usual end of a run): compare-and-delete with them. Otherwise (gone, taken over) as
/// [`release`], which reads who holds it.
pub async fn release_written(
    host: &dyn Host,
    names: &ServiceNames,
    run_id: &str,
    written: &str,
) -> Result<(), LockError> {
    let removed = host
        .remove_dir_if_file_is(&names.lock_dir(), LOCK_DETAILS_FILE, written.as_bytes())
        .await?;
    if removed {
        return Ok(());
    }
    release(host, names, run_id).await
}

/// What `status` says of a lock directory that has no details file.
pub const NO_DETAILS: &str =
    "(no details: the lock was being taken, or its holder stopped before writing who it is)";

/// Who holds the lock, if anyone. A lock directory without its details file is still a lock
/// (every `acquire` is refused by it): it is reported with [`NO_DETAILS`].
pub async fn status(host: &dyn Host, names: &ServiceNames) -> Result<Option<LockInfo>, LockError> {
    let details = names.lock_details();
    let mut files = host.read_files(std::slice::from_ref(&details)).await?;
    if let Some(bytes) = files.remove(&details).flatten() {
        return Ok(Some(parse_lock_details(&bytes)));
    }
    let lock_dir = names.lock_dir();
    let exists = crate::host::directory_check::existing(host, std::slice::from_ref(&lock_dir))
        .await?
        .get(&lock_dir)
        .copied()
        .unwrap_or(false);
    Ok(exists.then(|| LockInfo {
        details: NO_DETAILS.to_string(),
        ..LockInfo::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::fake_host::{FakeHost, FakeRegistry};

    fn request<'a>(message: &'a str) -> LockRequest<'a> {
        LockRequest {
            holder: "Jane",
            now: "2026-11-26T10:00:00Z",
            version: "v1",
            message,
        }
    }

    #[tokio::test]
    async fn the_second_acquire_is_refused_with_the_holder() {
        let host = FakeHost::new("h1", FakeRegistry::default());
        let names = ServiceNames::new("app", None);
        let message = automatic_message("run-1");
        acquire(&host, &names, &request(&message)).await.unwrap();
        let error = acquire(&host, &names, &request("other")).await.unwrap_err();
        let LockError::Held { holder, .. } = &error else {
            panic!("{error}");
        };
        assert_eq!(holder.holder.as_deref(), Some("Jane"));
        assert_eq!(run_of(holder), Some("run-1"));
        assert_eq!(
            error.to_string(),
            "the deploy lock on h1 is held by Jane since 2026-11-26T10:00:00Z (Automatic deploy lock (gantry run run-1))"
        );
        release(&host, &names, "run-1").await.unwrap();
        assert!(status(&host, &names).await.unwrap().is_none());
        acquire(&host, &names, &request("again")).await.unwrap();
    }

    /// A holder that stopped between `mkdir` and writing its details left a lock that refuses
    /// every deploy: `status` must not call it free.
    #[tokio::test]
    async fn a_lock_without_details_is_still_reported() {
        let host = FakeHost::new("h1", FakeRegistry::default());
        let names = ServiceNames::new("app", None);
        assert!(host.create_dir_exclusive(&names.lock_dir()).await.unwrap());
        let holder = status(&host, &names).await.unwrap().expect("a lock");
        assert_eq!(holder.details, NO_DETAILS);
        assert!(acquire(&host, &names, &request("x")).await.is_err());
        force_release(&host, &names).await.unwrap();
        assert!(status(&host, &names).await.unwrap().is_none());
    }

    /// `acquire_waiting` for 50 ms, asking every 10 ms: the error it ends with.
    async fn wait_briefly(host: &FakeHost, names: &ServiceNames) -> LockError {
        acquire_waiting(
            host,
            names,
            &request("x"),
            Duration::from_millis(50),
            Duration::from_millis(10),
            &CancellationToken::new(),
            |_, _| {},
        )
        .await
        .unwrap_err()
    }

    #[tokio::test]
    async fn waiting_refuses_manual_locks_and_times_out_on_automatic_ones() {
        let host = FakeHost::new("h1", FakeRegistry::default());
        let names = ServiceNames::new("app", None);
        acquire(&host, &names, &request("maintenance"))
            .await
            .unwrap();
        let error = wait_briefly(&host, &names).await;
        assert!(matches!(error, LockError::Manual { .. }), "{error}");
        force_release(&host, &names).await.unwrap();
        acquire(&host, &names, &request(&automatic_message("r")))
            .await
            .unwrap();
        let error = wait_briefly(&host, &names).await;
        assert!(matches!(error, LockError::WaitTimedOut { .. }), "{error}");
    }

    /// Seen by `--lock-wait` between another run's `mkdir` and its details: that run is taking
    /// the lock, not a person (found by twenty waiting runs, tests/e2e_concurrency.rs).
    #[tokio::test]
    async fn waiting_waits_for_a_lock_being_taken() {
        let host = FakeHost::new("h1", FakeRegistry::default());
        let names = ServiceNames::new("app", None);
        assert!(host.create_dir_exclusive(&names.lock_dir()).await.unwrap());
        let error = wait_briefly(&host, &names).await;
        assert!(matches!(error, LockError::WaitTimedOut { .. }), "{error}");
        let cancel = CancellationToken::new();
        cancel.cancel();
        let error = acquire_waiting(
            &host,
            &names,
            &request("x"),
            Duration::from_secs(60),
            Duration::from_secs(60),
            &cancel,
            |_, _| {},
        )
        .await
        .unwrap_err();
        assert!(matches!(error, LockError::Interrupted { .. }), "{error}");
    }

    /// Twenty runs found the same dead run's lock; two took it over and deployed at once
    /// (tests/e2e_concurrency.rs). Only the first claim wins now.
    #[tokio::test]
    async fn only_one_run_takes_over_a_dead_runs_lock() {
        let host = FakeHost::new("h1", FakeRegistry::default());
        let names = ServiceNames::new("app", None);
        let dead = automatic_message("20260101T000000-dead01");
        acquire(&host, &names, &request(&dead)).await.unwrap();
        let first = automatic_message("first");
        let second = automatic_message("second");
        assert!(
            take_over(&host, &names, "20260101T000000-dead01", &request(&first))
                .await
                .unwrap()
        );
        assert!(
            !take_over(&host, &names, "20260101T000000-dead01", &request(&second))
                .await
                .unwrap()
        );
        let holder = status(&host, &names).await.unwrap().unwrap();
        assert_eq!(run_of(&holder), Some("first"));
        assert!(
            !take_over(&host, &names, "../../etc", &request(&second))
                .await
                .unwrap()
        );
    }

    /// A run that looked dead (asleep, cut off) and had its lock taken over must not remove the
    /// new holder's lock when it ends (#15); nor may a run release a lock it never took.
    #[tokio::test]
    async fn a_run_releases_only_its_own_lock() {
        let host = FakeHost::new("h1", FakeRegistry::default());
        let names = ServiceNames::new("app", None);
        let slow = automatic_message("20260101T000000-slow01");
        acquire(&host, &names, &request(&slow)).await.unwrap();
        let taker = automatic_message("20260101T000100-new001");
        assert!(
            take_over(&host, &names, "20260101T000000-slow01", &request(&taker))
                .await
                .unwrap()
        );
        let error = release(&host, &names, "20260101T000000-slow01")
            .await
            .unwrap_err();
        assert!(matches!(error, LockError::NotOurs { .. }), "{error}");
        let holder = status(&host, &names).await.unwrap().expect("still held");
        assert_eq!(run_of(&holder), Some("20260101T000100-new001"));

        release(&host, &names, "20260101T000100-new001")
            .await
            .unwrap();
        assert!(status(&host, &names).await.unwrap().is_none());
        // Already gone: nothing to do.
        release(&host, &names, "20260101T000100-new001")
            .await
            .unwrap();
    }

    /// The end of a run releases with what it wrote, in one step; a lock taken over since
    /// stays with its new holder, and one already gone is no error.
    #[tokio::test]
    async fn a_run_releases_with_the_details_it_wrote() {
        let host = FakeHost::new("h1", FakeRegistry::default());
        let names = ServiceNames::new("app", None);
        let mine = automatic_message("20260101T000000-mine01");
        acquire(&host, &names, &request(&mine)).await.unwrap();
        let written = details(&request(&mine));
        release_written(&host, &names, "20260101T000000-mine01", &written)
            .await
            .unwrap();
        assert!(status(&host, &names).await.unwrap().is_none());
        release_written(&host, &names, "20260101T000000-mine01", &written)
            .await
            .unwrap();

        acquire(&host, &names, &request(&mine)).await.unwrap();
        let taker = automatic_message("20260101T000100-new001");
        assert!(
            take_over(&host, &names, "20260101T000000-mine01", &request(&taker))
                .await
                .unwrap()
        );
        let error = release_written(&host, &names, "20260101T000000-mine01", &written)
            .await
            .unwrap_err();
        assert!(matches!(error, LockError::NotOurs { .. }), "{error}");
        let holder = status(&host, &names).await.unwrap().expect("still held");
        assert_eq!(run_of(&holder), Some("20260101T000100-new001"));
    }

    /// The check and the removal are one step on the host: details that changed after they
    /// were read keep the lock.
    #[tokio::test]
    async fn the_lock_is_removed_only_while_its_details_are_unchanged() {
        let host = FakeHost::new("h1", FakeRegistry::default());
        let names = ServiceNames::new("app", None);
        acquire(&host, &names, &request(&automatic_message("mine")))
            .await
            .unwrap();
        assert!(
            !host
                .remove_dir_if_file_is(&names.lock_dir(), LOCK_DETAILS_FILE, b"other details")
                .await
                .unwrap()
        );
        assert!(status(&host, &names).await.unwrap().is_some());
    }

    /// A live run whose machine's clock is behind (its journal says it beat hours ago) keeps its
    /// lock; a dead run is judged by how long its journal went unwritten on the lock host (#15).
    #[tokio::test(start_paused = true)]
    async fn staleness_is_judged_by_the_lock_hosts_clock() {
        let host = FakeHost::new("h1", FakeRegistry::default());
        let names = ServiceNames::new("app", None);
        let run = "20260101T000000-live01";
        acquire(&host, &names, &request(&automatic_message(run)))
            .await
            .unwrap();
        let journal = serde_json::json!({
            "run": run, "command": "apply", "by": "jane", "version": "v1",
            "started_at": "2000-01-01T00:00:00Z", "status": "running", "actions": [],
            "finished_at": null, "heartbeat_at": "2000-01-01T00:00:00Z",
        });
        host.write_file(&names.journal(), journal.to_string().as_bytes(), 0o644)
            .await
            .unwrap();
        let holder = status(&host, &names).await.unwrap().unwrap();
        let silence = Duration::from_secs(60);
        assert_eq!(abandoned_run(&host, &names, &holder, silence).await, None);
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(abandoned_run(&host, &names, &holder, silence).await, None);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(
            abandoned_run(&host, &names, &holder, silence)
                .await
                .as_deref(),
            Some(run)
        );
    }
}
