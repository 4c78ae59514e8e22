//! Round trips to one host, counted as they happen: what distance costs a run.
//!
//! A host far away charges a round trip for every request, and a session (an exec channel)
//! also costs its open on the host (a PAM session module, a shell start-up file). Requests sent
//! together share their round trips; requests sent one after the other each pay again. So
//! besides how many sessions and Engine API requests a run makes on a host, this counts their
//! *waves*: stretches of time during which at least one of them is in flight. A run's waves
//! are a floor on its round trips to that host; requests that overlap one another, even when
//! they start at different moments, are one wave.

use std::sync::atomic::{AtomicU64, Ordering};

pub use crate::model::RoundTripCounts;

/// The live counters of one connection, shared by every request on it.
#[derive(Debug, Default)]
pub struct RoundTrips {
    sessions: Tally,
    api_requests: Tally,
}

impl RoundTrips {
    /// A session opens; it counts as open until the returned guard drops.
    pub fn session(&self) -> InFlight<'_> {
        self.sessions.begin()
    }

    /// An Engine API request is sent; it counts as in flight until the returned guard drops.
    pub fn api_request(&self) -> InFlight<'_> {
        self.api_requests.begin()
    }

    /// The counts so far.
    pub fn counts(&self) -> RoundTripCounts {
        RoundTripCounts {
            sessions: self.sessions.started.load(Ordering::SeqCst),
            session_waves: self.sessions.waves.load(Ordering::SeqCst),
            api_requests: self.api_requests.started.load(Ordering::SeqCst),
            api_waves: self.api_requests.waves.load(Ordering::SeqCst),
        }
    }
}

/// Requests of one kind: how many started, how many are in flight, how many waves.
#[derive(Debug, Default)]
struct Tally {
    started: AtomicU64,
    in_flight: AtomicU64,
    waves: AtomicU64,
}

impl Tally {
    fn begin(&self) -> InFlight<'_> {
        self.started.fetch_add(1, Ordering::SeqCst);
        if self.in_flight.fetch_add(1, Ordering::SeqCst) == 0 {
            self.waves.fetch_add(1, Ordering::SeqCst);
        }
        InFlight { tally: self }
    }
}

/// One request in flight; dropping it (answered, failed or cancelled) ends it.
#[derive(Debug)]
pub struct InFlight<'a> {
    tally: &'a Tally,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.tally.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_requests_are_one_wave_and_sequential_ones_are_not() {
        let trips = RoundTrips::default();
        {
            let _first = trips.api_request();
            let _second = trips.api_request();
        }
        {
            let first = trips.api_request();
            // starts while the first is in flight, ends after it: still the same wave
            let second = trips.api_request();
            drop(first);
            drop(second);
        }
        let _third_wave = trips.api_request();
        let session = trips.session();
        drop(session);
        let _again = trips.session();
        assert_eq!(
            trips.counts(),
            RoundTripCounts {
                sessions: 2,
                session_waves: 2,
                api_requests: 5,
                api_waves: 3,
            }
        );
    }

    #[test]
    fn counts_read_as_a_sentence() {
        let counts = RoundTripCounts {
            sessions: 1,
            session_waves: 1,
            api_requests: 12,
            api_waves: 2,
        };
        assert_eq!(
            counts.to_string(),
            "1 session in 1 wave, 12 Docker API requests in 2 waves"
        );
    }
}
