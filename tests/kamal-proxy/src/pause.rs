//! Pause, stop and resume of a service (`kamal-proxy pause|stop|resume`).
//!
//! A running service proxies requests. A paused one holds each request until the service is
//! resumed (then it proceeds) or stopped, or until `--max-pause` passes (then 504). A stopped one
//! answers 503 with the stop message. The controller is shared by every version of a service, so
//! a deploy keeps the service paused or stopped, as kamal-proxy does.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::state::{PauseState, SavedPause};

/// What a request should do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PauseOutcome {
    Proceed,
    Stopped { message: String },
    TimedOut,
}

/// The pause state of one service.
#[derive(Debug)]
pub struct PauseController {
    status: watch::Sender<SavedPause>,
}

impl Default for PauseController {
    fn default() -> Self {
        PauseController::restore(SavedPause::default())
    }
}

impl PauseController {
    /// A controller in a saved state.
    pub fn restore(saved: SavedPause) -> Self {
        PauseController {
            status: watch::Sender::new(saved),
        }
    }

    /// The state as the state file holds it.
    pub fn snapshot(&self) -> SavedPause {
        self.status.borrow().clone()
    }

    /// Holds new requests for up to `max_pause`.
    pub fn pause(&self, max_pause: Duration) {
        self.status.send_replace(SavedPause {
            state: PauseState::Paused,
            stop_message: String::new(),
            fail_after: max_pause,
        });
    }

    /// Answers new requests with 503 and `message`.
    pub fn stop(&self, message: &str) {
        self.status.send_modify(|status| {
            status.state = PauseState::Stopped;
            status.stop_message = message.to_string();
        });
    }

    /// Serves requests again, releasing the held ones.
    pub fn resume(&self) {
        self.status.send_modify(|status| {
            status.state = PauseState::Running;
            status.stop_message.clear();
        });
    }

    /// Waits, if paused, and tells what the request should do.
    pub async fn wait(&self) -> PauseOutcome {
        let mut receiver = self.status.subscribe();
        let mut deadline = None;
        loop {
            let status = receiver.borrow_and_update().clone();
            match status.state {
                PauseState::Running => return PauseOutcome::Proceed,
                PauseState::Stopped => {
                    return PauseOutcome::Stopped {
                        message: status.stop_message,
                    };
                }
                PauseState::Paused => {
                    let deadline =
                        *deadline.get_or_insert_with(|| Instant::now() + status.fail_after);
                    match tokio::time::timeout_at(deadline, receiver.changed()).await {
                        Ok(Ok(())) => continue,
                        Ok(Err(_)) | Err(_) => return PauseOutcome::TimedOut,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn running_proceeds_and_stopped_refuses_with_its_message() {
        let controller = PauseController::default();
        assert_eq!(controller.wait().await, PauseOutcome::Proceed);
        controller.stop("down for maintenance");
        assert_eq!(
            controller.wait().await,
            PauseOutcome::Stopped {
                message: "down for maintenance".into()
            }
        );
        assert_eq!(controller.snapshot().state, PauseState::Stopped);
        controller.resume();
        assert_eq!(controller.wait().await, PauseOutcome::Proceed);
        assert_eq!(controller.snapshot().stop_message, "");
    }

    #[tokio::test(start_paused = true)]
    async fn a_paused_request_proceeds_on_resume() {
        let controller = Arc::new(PauseController::default());
        controller.pause(Duration::from_secs(30));
        let waiting = tokio::spawn({
            let controller = Arc::clone(&controller);
            async move { controller.wait().await }
        });
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(!waiting.is_finished());
        controller.resume();
        assert_eq!(waiting.await.unwrap(), PauseOutcome::Proceed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_paused_request_times_out_after_max_pause() {
        let controller = PauseController::default();
        controller.pause(Duration::from_secs(5));
        let started = Instant::now();
        assert_eq!(controller.wait().await, PauseOutcome::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        assert_eq!(controller.snapshot().fail_after, Duration::from_secs(5));
    }
}
