//! Test doubles for gantry's own tests and benches: an in-memory host, a world of them, values
//! (a configuration, its desired and observed state) built in code, and a writer that keeps
//! what is printed.
//!
//! Compiled for unit tests (`cfg(test)`) and, through the `testkit` feature, for the integration
//! tests and benches (the crate's dev-dependency on itself turns it on); never into the binary
//! users run. `cargo build` without the feature does not compile this module at all.

pub mod captured;
pub mod fake_host;
pub mod values;
pub mod world;
