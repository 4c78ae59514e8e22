//! Polling with a deadline: the one way end-to-end tests wait for something to become true.

use std::thread;
use std::time::{Duration, Instant};

/// Calls `check` every `interval` until it returns `Some`, or `None` once `timeout` has passed.
pub fn until<T>(
    timeout: Duration,
    interval: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(interval.min(deadline.saturating_duration_since(Instant::now())));
    }
}

/// Like [`until`] for a yes/no condition.
pub fn until_true(timeout: Duration, interval: Duration, mut check: impl FnMut() -> bool) -> bool {
    until(timeout, interval, || check().then_some(())).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_first_value_that_holds() {
        let mut calls = 0;
        let found = until(Duration::from_secs(5), Duration::from_millis(1), || {
            calls += 1;
            (calls == 3).then_some(calls)
        });
        assert_eq!(found, Some(3));
    }

    #[test]
    fn gives_up_after_the_timeout() {
        let started = Instant::now();
        assert!(!until_true(
            Duration::from_millis(50),
            Duration::from_millis(10),
            || false
        ));
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
