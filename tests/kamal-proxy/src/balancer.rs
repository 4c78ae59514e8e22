//! A service's load balancer: its targets, which of them are healthy, and round-robin choice.
//!
//! A deploy builds a new balancer and only installs it once every target passed its health
//! check (see `health`), so a freshly installed balancer starts with all targets healthy. As in
//! kamal-proxy, a single-target balancer stops checking then (taking its only target out would
//! not help); a multi-target one keeps checking in the background and skips unhealthy targets.
//! Read targets are stored and health-checked, but requests go to the write targets only.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::health::HealthChecker;
use crate::state::HealthCheckConfig;
use crate::target::{InvalidTarget, Target};

/// The targets of one service slot.
#[derive(Debug)]
pub struct LoadBalancer {
    writers: Vec<Arc<Target>>,
    readers: Vec<Arc<Target>>,
    healthy: Vec<AtomicBool>,
    next: AtomicUsize,
    monitor: Mutex<Option<JoinHandle<()>>>,
}

impl LoadBalancer {
    /// A balancer over the given write and read target addresses, all marked healthy.
    pub fn new(writers: &[String], readers: &[String]) -> Result<LoadBalancer, InvalidTarget> {
        let build = |addresses: &[String]| -> Result<Vec<Arc<Target>>, InvalidTarget> {
            addresses
                .iter()
                .map(|address| Target::new(address))
                .collect()
        };
        let writers = build(writers)?;
        let readers = build(readers)?;
        let healthy = (0..writers.len()).map(|_| AtomicBool::new(true)).collect();
        Ok(LoadBalancer {
            writers,
            readers,
            healthy,
            next: AtomicUsize::new(0),
            monitor: Mutex::new(None),
        })
    }

    /// Every target, writers first: the health gate checks them all.
    pub fn all_targets(&self) -> impl Iterator<Item = &Arc<Target>> {
        self.writers.iter().chain(&self.readers)
    }

    /// The write targets' addresses, for the state file and `list`.
    pub fn writer_addresses(&self) -> Vec<String> {
        self.writers
            .iter()
            .map(|target| target.address().to_string())
            .collect()
    }

    /// The read targets' addresses, for the state file.
    pub fn reader_addresses(&self) -> Vec<String> {
        self.readers
            .iter()
            .map(|target| target.address().to_string())
            .collect()
    }

    /// The next healthy write target, round robin; `None` when none is healthy.
    pub fn pick(&self) -> Option<Arc<Target>> {
        let count = self.writers.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..count)
            .map(|offset| (start + offset) % count)
            .find(|&index| self.healthy[index].load(Ordering::Relaxed))
            .map(|index| Arc::clone(&self.writers[index]))
    }

    /// Keeps checking a multi-target balancer's writers and takes unhealthy ones out of
    /// rotation until [`LoadBalancer::dispose`].
    pub fn start_monitor(self: &Arc<Self>, checker: HealthChecker, config: HealthCheckConfig) {
        if self.writers.len() < 2 {
            return;
        }
        let balancer = Arc::clone(self);
        let monitor = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(config.interval.max(Duration::from_millis(10)));
            ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
            loop {
                ticker.tick().await;
                for (target, healthy) in balancer.writers.iter().zip(&balancer.healthy) {
                    let ok = checker.check(target.address(), &config).await.is_ok();
                    healthy.store(ok, Ordering::Relaxed);
                }
            }
        });
        if let Some(previous) = self.monitor_slot().replace(monitor) {
            previous.abort();
        }
    }

    /// Stops background health checks; the balancer keeps serving its in-flight requests.
    pub fn dispose(&self) {
        if let Some(monitor) = self.monitor_slot().take() {
            monitor.abort();
        }
    }

    /// Drains every target at once (see [`Target::drain`]).
    pub async fn drain_all(&self, timeout: Duration) {
        let drains: Vec<_> = self
            .all_targets()
            .map(|target| {
                let target = Arc::clone(target);
                tokio::spawn(async move { target.drain(timeout).await })
            })
            .collect();
        for drain in drains {
            let _ = drain.await;
        }
    }

    fn monitor_slot(&self) -> std::sync::MutexGuard<'_, Option<JoinHandle<()>>> {
        self.monitor.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for LoadBalancer {
    fn drop(&mut self) {
        self.dispose();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn picks_healthy_writers_round_robin() {
        let balancer = LoadBalancer::new(
            &addresses(&["web-a:80", "web-b:80", "web-c:80"]),
            &addresses(&["reader:80"]),
        )
        .unwrap();
        balancer.healthy[1].store(false, Ordering::Relaxed);
        let picked: Vec<String> = (0..4)
            .map(|_| balancer.pick().unwrap().address().to_string())
            .collect();
        assert_eq!(picked, ["web-a:80", "web-c:80", "web-c:80", "web-a:80"]);
        assert_eq!(balancer.all_targets().count(), 4);
        assert_eq!(balancer.reader_addresses(), ["reader:80"]);
    }

    #[test]
    fn no_healthy_writer_means_no_target() {
        let balancer = LoadBalancer::new(&addresses(&["web-a:80"]), &[]).unwrap();
        balancer.healthy[0].store(false, Ordering::Relaxed);
        assert!(balancer.pick().is_none());
    }

    #[test]
    fn refuses_an_invalid_target() {
        let error = LoadBalancer::new(&addresses(&["web-a:80", "bad target"]), &[]).unwrap_err();
        assert_eq!(error.to_string(), "bad target :invalid host pattern");
    }
}
