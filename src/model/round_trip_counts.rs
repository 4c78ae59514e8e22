//! What one host was sent during a run: counted by the SSH connection (`host::round_trips`),
//! shown by plan, drift and apply.

use serde::{Deserialize, Serialize};

/// What one host was sent during a run, as counted by the connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundTripCounts {
    /// Shell sessions (exec channels) opened: one per command or script.
    pub sessions: u64,
    /// Stretches of time with at least one session open.
    pub session_waves: u64,
    /// Docker Engine API requests (Docker's version check included).
    pub api_requests: u64,
    /// Stretches of time with at least one API request in flight.
    pub api_waves: u64,
}

impl std::fmt::Display for RoundTripCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} session{} in {} wave{}, {} Docker API request{} in {} wave{}",
            self.sessions,
            plural(self.sessions),
            self.session_waves,
            plural(self.session_waves),
            self.api_requests,
            plural(self.api_requests),
            self.api_waves,
            plural(self.api_waves),
        )
    }
}

fn plural(count: u64) -> &'static str {
    if count == 1 { "" } else { "s" }
}
