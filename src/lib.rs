//! gantry: a declarative deploy reconciler for Kamal 2's `config/deploy.yml`.
//!
//! The crate is one data flow, a module per stage:
//!
//! ```text
//! deploy.yml + secrets ─► config ─► desired ─┐
//!                                            ├─► diff ─► plan ─► apply ─► report
//! hosts (SSH + Docker API) ─► observe ───────┘
//! ```
//!
//! Only [`observe`] and [`apply`] touch the network, and both through the [`host::Host`] trait.
//! Everything between them is a pure function of values. Around the stages: [`session`] (the
//! run every command changing hosts goes through: connect, lock, signals, confirm, execute,
//! record, release), [`day2`] (planners of the day-2 commands), [`kamal_proxy`], [`build`]
//! (version, image build and push), [`model`] (values several stages share; a leaf) and [`cli`]
//! (parses arguments, calls the session, renders). Imports point down only: the pure stages
//! never reach `host`, `apply` or `cli`, and no two modules import each other
//! (`tests/layers.rs` keeps it so).

pub mod apply;
pub mod build;
pub mod cli;
pub mod config;
pub mod day2;
pub mod desired;
pub mod diff;
pub mod docker_args;
pub mod drift;
pub mod hooks;
pub mod host;
pub mod kamal_proxy;
pub mod model;
pub mod naming;
pub mod observe;
pub mod pipeline;
pub mod plan;
pub mod printable;
pub mod records;
pub mod report;
pub mod session;
/// Secret values and their redaction; they live in [`model`], the path stays for its many users.
pub use model::secret;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
/// The test kit's values under the short name the unit tests use.
#[cfg(test)]
pub(crate) use testkit::values as testing;
