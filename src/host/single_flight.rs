//! One run of an operation per key at a time, shared by every caller that asked while it ran.
//!
//! `gantry apply` starts pulling the app image as soon as it holds the lock, before it observes
//! the hosts (the pull is the slowest step of a deploy); when the plan's own pull action comes, it should
//! take the result of that pull instead of starting another. A caller that asks while a run of
//! the same key is under way waits for it and, when it succeeded, shares its success; a failure
//! is not shared (the caller runs the operation itself and reports its own error), and a caller
//! that asks after a run finished starts a new one, so nothing is cached beyond the overlap.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::time::Instant;

/// Per key: when the last successful run finished.
type Slot = Arc<tokio::sync::Mutex<Option<Instant>>>;

/// Runs of an operation, joined by key.
#[derive(Debug, Default)]
pub struct SingleFlight {
    slots: Mutex<HashMap<String, Slot>>,
}

impl SingleFlight {
    /// Runs `operation` for `key`, or shares the success of a run that was under way when this
    /// call was made.
    pub async fn run<E, F>(&self, key: &str, operation: impl FnOnce() -> F) -> Result<(), E>
    where
        F: Future<Output = Result<(), E>>,
    {
        let asked = Instant::now();
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.to_string())
            .or_default()
            .clone();
        let mut last_success = slot.lock().await;
        if last_success.is_some_and(|finished| finished > asked) {
            return Ok(());
        }
        operation().await?;
        *last_success = Some(Instant::now());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    async fn counted(runs: &AtomicUsize, fail: bool) -> Result<(), String> {
        runs.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        if fail {
            Err("refused".to_string())
        } else {
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_during_a_run_shares_its_success() {
        let flight = SingleFlight::default();
        let runs = AtomicUsize::new(0);
        let (first, second) =
            tokio::join!(flight.run("image:v1", || counted(&runs, false)), async {
                tokio::time::sleep(Duration::from_millis(10)).await;
                flight.run("image:v1", || counted(&runs, false)).await
            });
        assert_eq!((first, second), (Ok(()), Ok(())));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_is_not_shared_and_a_later_caller_runs_again() {
        let flight = SingleFlight::default();
        let runs = AtomicUsize::new(0);
        let (first, second) =
            tokio::join!(flight.run("image:v1", || counted(&runs, true)), async {
                tokio::time::sleep(Duration::from_millis(10)).await;
                flight.run("image:v1", || counted(&runs, false)).await
            });
        assert_eq!(first, Err("refused".to_string()));
        assert_eq!(second, Ok(()));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        // Asked after the last run finished: runs again.
        flight
            .run("image:v1", || counted(&runs, false))
            .await
            .expect("runs");
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn keys_do_not_wait_for_each_other() {
        let flight = SingleFlight::default();
        let runs = AtomicUsize::new(0);
        let started = Instant::now();
        let (a, b) = tokio::join!(
            flight.run("image:v1", || counted(&runs, false)),
            flight.run("image:v2", || counted(&runs, false)),
        );
        assert_eq!((a, b), (Ok(()), Ok(())));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        // Virtual time: two runs side by side take one run's time.
        assert_eq!(started.elapsed(), Duration::from_millis(50));
    }
}
