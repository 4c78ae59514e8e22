//! Report: what gantry shows about a run and about the hosts, as text for people and JSON for
//! machines.
//!
//! - [`progress`]: live progress while `apply` runs, and the outcome when it ends;
//! - [`build_output`]: the image build's output while `deploy` builds;
//! - [`details`]: `gantry details`, what runs where, from the observed state;
//! - [`reading`]: while `plan` reads the hosts, the ones still being read.
//! - [`timeline`]: `apply --timeline`, what ran when on which host, as a picture.
//!
//! Plans render themselves (`plan::render`, `plan::json`, `plan::dot`); host text is made safe
//! to print by [`crate::printable`].

pub mod build_output;
pub mod details;
pub mod progress;
pub mod reading;
pub mod timeline;

pub use progress::{JsonReporter, LineReporter, render_outcome};
