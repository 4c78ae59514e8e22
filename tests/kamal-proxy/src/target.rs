//! A target (`<host>:<port>`, e.g. a container id and its app port), its in-flight requests, and
//! draining.
//!
//! Every proxied request holds an [`Inflight`] guard from the moment it is sent until its
//! response body has been delivered (or abandoned). [`Target::drain`] refuses new requests,
//! waits until the in-flight ones finish or the drain timeout passes, then cancels whatever is
//! left. That is what lets `kamal-proxy deploy` return only once the old container has no work
//! in progress, so Kamal can stop it without cutting a request.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use thiserror::Error;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A `--target` value that kamal-proxy would refuse.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0} :invalid host pattern")]
pub struct InvalidTarget(String);

/// One upstream address and the requests in flight to it.
#[derive(Debug)]
pub struct Target {
    address: String,
    inflight: AtomicUsize,
    idle: Notify,
    gate: Mutex<Gate>,
}

/// Whether new requests may start, and the token that cancels the ones running.
#[derive(Debug)]
struct Gate {
    draining: bool,
    cancel: CancellationToken,
}

impl Target {
    /// A target for `address`, checked against kamal-proxy's pattern
    /// `^(\w[-_.\w+]+)(:\d+)?$`.
    pub fn new(address: &str) -> Result<Arc<Target>, InvalidTarget> {
        if !is_valid_address(address) {
            return Err(InvalidTarget(address.to_string()));
        }
        Ok(Arc::new(Target {
            address: address.to_string(),
            inflight: AtomicUsize::new(0),
            idle: Notify::new(),
            gate: Mutex::new(Gate {
                draining: false,
                cancel: CancellationToken::new(),
            }),
        }))
    }

    /// The address as given, e.g. `0123456789ab:80`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// How many requests are in flight.
    pub fn inflight(&self) -> usize {
        self.inflight.load(Ordering::SeqCst)
    }

    /// Registers a request, or `None` while the target drains.
    pub fn begin_request(self: &Arc<Self>) -> Option<Inflight> {
        let gate = self.gate();
        if gate.draining {
            return None;
        }
        self.inflight.fetch_add(1, Ordering::SeqCst);
        Some(Inflight {
            target: Arc::clone(self),
            cancel: gate.cancel.clone(),
        })
    }

    /// Waits for in-flight requests to finish, up to `timeout`, then cancels the rest. New
    /// requests are refused meanwhile; afterwards the target accepts requests again (a paused
    /// service keeps its targets).
    pub async fn drain(&self, timeout: Duration) {
        {
            let mut gate = self.gate();
            if gate.draining {
                return;
            }
            gate.draining = true;
        }
        let deadline = Instant::now() + timeout;
        loop {
            let idle = self.idle.notified();
            if self.inflight() == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                break;
            }
        }
        let mut gate = self.gate();
        let running = std::mem::replace(&mut gate.cancel, CancellationToken::new());
        running.cancel();
        gate.draining = false;
    }

    fn gate(&self) -> MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A request in flight to a target; dropping it ends the request.
#[derive(Debug)]
pub struct Inflight {
    target: Arc<Target>,
    cancel: CancellationToken,
}

impl Inflight {
    /// Cancelled when a drain gives up waiting for this request.
    pub fn cancellation(&self) -> CancellationToken {
        self.cancel.clone()
    }
}

impl Drop for Inflight {
    fn drop(&mut self) {
        if self.target.inflight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.target.idle.notify_waiters();
        }
    }
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn is_valid_address(address: &str) -> bool {
    let (host, port) = match address.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (address, None),
    };
    if port.is_some_and(|port| port.is_empty() || !port.chars().all(|c| c.is_ascii_digit())) {
        return false;
    }
    let mut chars = host.chars();
    chars.next().is_some_and(is_word)
        && host.len() >= 2
        && chars.all(|c| is_word(c) || matches!(c, '-' | '_' | '.' | '+'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_addresses_kamal_proxy_accepts() {
        for address in [
            "0123456789ab:80",
            "web:3000",
            "localhost",
            "app-1.internal:8080",
            "10.0.0.1:80",
        ] {
            assert!(Target::new(address).is_ok(), "{address}");
        }
        for address in [
            "",
            "a",
            "a:80",
            ":80",
            "-web:80",
            "web:",
            "web:x",
            "http://web",
            "we b:80",
        ] {
            assert_eq!(
                Target::new(address).unwrap_err().to_string(),
                format!("{address} :invalid host pattern")
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn drain_waits_for_inflight_requests() {
        let target = Target::new("web:80").unwrap();
        let request = target.begin_request().unwrap();
        let draining = tokio::spawn({
            let target = Arc::clone(&target);
            async move {
                let started = Instant::now();
                target.drain(Duration::from_secs(30)).await;
                started.elapsed()
            }
        });
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(
            target.begin_request().is_none(),
            "a draining target refuses requests"
        );
        assert!(!request.cancellation().is_cancelled());
        drop(request);
        let waited = draining.await.unwrap();
        assert_eq!(waited, Duration::from_secs(2));
        assert!(
            target.begin_request().is_some(),
            "a drained target serves again"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn drain_cancels_what_outlives_the_timeout() {
        let target = Target::new("web:80").unwrap();
        let request = target.begin_request().unwrap();
        let started = Instant::now();
        target.drain(Duration::from_secs(5)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        assert!(request.cancellation().is_cancelled());
        assert_eq!(target.inflight(), 1);
        drop(request);
        assert_eq!(target.inflight(), 0);
        let next = target.begin_request().unwrap();
        assert!(
            !next.cancellation().is_cancelled(),
            "new requests get a fresh token"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn draining_an_idle_target_returns_at_once() {
        let target = Target::new("web:80").unwrap();
        let started = Instant::now();
        target.drain(Duration::from_secs(30)).await;
        assert_eq!(started.elapsed(), Duration::ZERO);
    }
}
