//! Helpers for gantry's end-to-end tests on the test bed (`tests/testbed/testbed.sh`).
//!
//! - [`testbed`]: the test bed as `testbed.sh env` describes it; skipping (or failing, in CI)
//!   when it is absent; an exclusive lock so tests that share hosts never overlap; fault
//!   injection.
//! - [`ssh`]: run a command on a host with the system `ssh` client and the test bed's key.
//! - [`http`]: a small blocking HTTP/1.1 client, and request loops that count every answer.
//! - [`https`]: HTTPS through `curl`, trusting the test bed's CA.
//! - [`wait`]: poll until a condition holds, with a deadline.
//! - [`images`]: build and push the test app image with the machine's Docker.
//! - [`kamal`]: a Kamal 2 project in a temporary directory (`config/deploy.yml`,
//!   `.kamal/secrets`, an ssh config that trusts the test bed's host keys) and a runner for the
//!   real `kamal` binary.
//!
//! Nothing here knows gantry's internals: the same helpers drive Kamal, gantry, or both.

pub mod fixtures;
pub mod gantry;
pub mod git;
pub mod http;
pub mod https;
pub mod images;
pub mod kamal;
pub mod ssh;
pub mod testbed;
pub mod wait;

pub use testbed::{Fault, Testbed};
