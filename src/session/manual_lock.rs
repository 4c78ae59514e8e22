//! `gantry lock status|acquire|release`: the deploy lock by hand, on the same lock hosts a run
//! takes ([`super::lock_hosts`]), so a lock taken by hand stops every run it would overlap.

use std::sync::Arc;

use crate::host::Host;
use crate::naming::ServiceNames;
use crate::observe::LockInfo;
use crate::records::lock::{self, LockError, LockRequest};

/// Who holds the lock on each of `hosts` that is locked.
pub async fn status(
    hosts: &[Arc<dyn Host>],
    names: &ServiceNames,
) -> Result<Vec<LockInfo>, LockError> {
    let mut held = Vec::new();
    for host in hosts {
        held.extend(lock::status(host.as_ref(), names).await?);
    }
    Ok(held)
}

/// Takes the lock on every one of `hosts`, in order, or on none: a lock left on the primary
/// host alone would stop deploys while the command said it failed.
pub async fn acquire(
    hosts: &[Arc<dyn Host>],
    names: &ServiceNames,
    request: &LockRequest<'_>,
) -> Result<(), LockError> {
    for (taken, host) in hosts.iter().enumerate() {
        if let Err(error) = lock::acquire(host.as_ref(), names, request).await {
            for host in hosts[..taken].iter().rev() {
                let _ = lock::force_release(host.as_ref(), names).await;
            }
            return Err(error);
        }
    }
    Ok(())
}

/// Releases the lock on every one of `hosts`, whoever holds it (Kamal's `lock release`).
pub async fn release(hosts: &[Arc<dyn Host>], names: &ServiceNames) -> Result<(), LockError> {
    for host in hosts {
        lock::force_release(host.as_ref(), names).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::fake_host::{FakeHost, FakeRegistry};

    fn hosts(names: &[&str]) -> Vec<Arc<dyn Host>> {
        names
            .iter()
            .map(|name| Arc::new(FakeHost::new(*name, FakeRegistry::default())) as Arc<dyn Host>)
            .collect()
    }

    #[tokio::test]
    async fn a_lock_by_hand_is_taken_on_every_lock_host_or_on_none() {
        let names = ServiceNames::new("app", None);
        let request = LockRequest {
            holder: "tester",
            now: "2026-12-06T09:00:00Z",
            version: "v1",
            message: "by hand",
        };
        let lock_hosts = hosts(&["h1", "h2"]);
        // h2 is locked already: nothing is left on h1.
        lock::acquire(lock_hosts[1].as_ref(), &names, &request)
            .await
            .expect("h2 locked");
        assert!(matches!(
            acquire(&lock_hosts, &names, &request).await,
            Err(LockError::Held { host, .. }) if host == "h2"
        ));
        assert!(
            lock::status(lock_hosts[0].as_ref(), &names)
                .await
                .expect("status")
                .is_none()
        );
        assert_eq!(status(&lock_hosts, &names).await.expect("status").len(), 1);
        release(&lock_hosts, &names).await.expect("released");
        acquire(&lock_hosts, &names, &request)
            .await
            .expect("both taken");
        assert_eq!(status(&lock_hosts, &names).await.expect("status").len(), 2);
    }
}
