//! Kamal's deploy lock: a directory on the primary host, taken before the first change.
//!
//! `mkdir .kamal/lock-<svc[-dest]>` is the atomic step; the `details` file inside says who holds
//! it, since when, for which version and why (base64, as Kamal writes it), so `kamal lock
//! status` and `gantry lock status` read each other's locks. gantry's automatic message names
//! its run id (`Automatic deploy lock (gantry run <id>)`): a lock left by a gantry run that was
//! killed can be matched with that run's journal and recognised as stale.

use std::time::Duration;

use crate::host::{Host, HostError};
use crate::naming::ServiceNames;
use crate::observe::{LockInfo, encode_lock_details, parse_lock_details};

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
    #[error(transparent)]
    Host(#[from] HostError),
}

fn describe(holder: &LockInfo) -> String {
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

/// Takes the lock, or says who holds it.
pub async fn acquire(
    host: &dyn Host,
    names: &ServiceNames,
    request: &LockRequest<'_>,
) -> Result<(), LockError> {
    if host.create_dir_exclusive(&names.lock_dir()).await? {
        let details = encode_lock_details(
            request.holder,
            request.now,
            request.version,
            request.message,
        );
        if let Err(error) = host
            .write_file(&names.lock_details(), details.as_bytes(), 0o644)
            .await
        {
            // A lock without details would confuse everyone: take it back.
            let _ = host.remove_path(&names.lock_dir()).await;
            return Err(error.into());
        }
        return Ok(());
    }
    Err(LockError::Held {
        host: host.name().to_string(),
        holder: status(host, names).await?.unwrap_or_default(),
    })
}

/// Takes the lock, waiting for an automatic lock to be released (`--lock-wait`).
pub async fn acquire_waiting(
    host: &dyn Host,
    names: &ServiceNames,
    request: &LockRequest<'_>,
    timeout: Duration,
    interval: Duration,
) -> Result<(), LockError> {
    let started = std::time::Instant::now();
    loop {
        match acquire(host, names, request).await {
            Err(LockError::Held { host: name, holder }) => {
                if !holder.is_automatic() {
                    return Err(LockError::Manual { host: name, holder });
                }
                if started.elapsed() >= timeout {
                    return Err(LockError::WaitTimedOut {
                        host: name,
                        seconds: timeout.as_secs(),
                        holder,
                    });
                }
                tokio::time::sleep(interval).await;
            }
            other => return other,
        }
    }
}

/// Releases the lock; a lock that is already gone is not an error.
pub async fn release(host: &dyn Host, names: &ServiceNames) -> Result<(), LockError> {
    host.remove_path(&names.lock_dir()).await?;
    Ok(())
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
    let exists = crate::observe::existing_directories(host, std::slice::from_ref(&lock_dir))
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
    use crate::host::fake::{FakeHost, FakeRegistry};

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
        release(&host, &names).await.unwrap();
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
        release(&host, &names).await.unwrap();
        assert!(status(&host, &names).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn waiting_refuses_manual_locks_and_times_out_on_automatic_ones() {
        let host = FakeHost::new("h1", FakeRegistry::default());
        let names = ServiceNames::new("app", None);
        acquire(&host, &names, &request("maintenance"))
            .await
            .unwrap();
        let error = acquire_waiting(
            &host,
            &names,
            &request("x"),
            Duration::from_millis(50),
            Duration::from_millis(10),
        )
        .await
        .unwrap_err();
        assert!(matches!(error, LockError::Manual { .. }), "{error}");
        release(&host, &names).await.unwrap();
        acquire(&host, &names, &request(&automatic_message("r")))
            .await
            .unwrap();
        let error = acquire_waiting(
            &host,
            &names,
            &request("x"),
            Duration::from_millis(50),
            Duration::from_millis(10),
        )
        .await
        .unwrap_err();
        assert!(matches!(error, LockError::WaitTimedOut { .. }), "{error}");
    }
}
