//! One successful run of an operation per key and connection, shared by every caller.
//!
//! `gantry apply` starts pulling the app image as soon as it holds the lock, before it observes
//! the hosts (the pull is the slowest step of a deploy); when the plan's own pull action comes,
//! it should take the result of that pull instead of pulling again. A caller that asks while a
//! run of the same key is under way waits for it and shares its success; a caller that asks
//! after a success gets it at once (a second `docker pull` of the same tag would only ask the
//! registry again, ~0.1 s on the critical path). A failure is not shared: the caller runs the
//! operation itself and reports its own error. [`SingleFlight::forget_all`] drops the
//! successes once what they made may be gone (an image was removed: by id, it may be any tag).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

/// Per key: whether a run succeeded.
type Slot = Arc<tokio::sync::Mutex<bool>>;

/// Runs of an operation, joined by key.
#[derive(Debug, Default)]
pub struct SingleFlight {
    slots: Mutex<HashMap<String, Slot>>,
}

impl SingleFlight {
    /// Runs `operation` for `key`, unless a run of it succeeded already or is under way and
    /// succeeds.
    pub async fn run<E, F>(&self, key: &str, operation: impl FnOnce() -> F) -> Result<(), E>
    where
        F: Future<Output = Result<(), E>>,
    {
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.to_string())
            .or_default()
            .clone();
        let mut succeeded = slot.lock().await;
        if *succeeded {
            return Ok(());
        }
        operation().await?;
        *succeeded = true;
        Ok(())
    }

    /// Forgets every success: the next caller of each key runs the operation again.
    pub fn forget_all(&self) {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
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
    async fn a_failure_is_not_shared() {
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
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_holds_until_forgotten() {
        let flight = SingleFlight::default();
        let runs = AtomicUsize::new(0);
        for _ in 0..2 {
            flight
                .run("image:v1", || counted(&runs, false))
                .await
                .expect("runs");
        }
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "asked after a success: shared"
        );
        flight.forget_all();
        flight
            .run("image:v1", || counted(&runs, false))
            .await
            .expect("runs");
        assert_eq!(runs.load(Ordering::SeqCst), 2, "forgotten: runs again");
    }

    #[tokio::test(start_paused = true)]
    async fn keys_do_not_wait_for_each_other() {
        let flight = SingleFlight::default();
        let runs = AtomicUsize::new(0);
        let started = tokio::time::Instant::now();
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
