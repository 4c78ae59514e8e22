//! gantry: a declarative deploy reconciler for Kamal 2's `config/deploy.yml`.
//!
//! The crate is one data flow, a module per stage (see `ARCHITECTURE.md` in the repository):
//!
//! ```text
//! deploy.yml + secrets ─► config ─► desired ─┐
//!                                            ├─► diff ─► plan ─► apply ─► report
//! hosts (SSH + Docker API) ─► observe ───────┘
//! ```
//!
//! Only [`observe`] and [`apply`] touch the network, and both through the [`host::Host`] trait.
//! Everything between them is a pure function of values. [`session`] is the run around the
//! stages that every command changing hosts goes through (connect, lock, signals, confirm,
//! execute, record, release); [`cli`] parses arguments, calls it and renders.

pub mod apply;
pub mod audit;
pub mod cli;
pub mod commands;
pub mod config;
pub mod desired;
pub mod details;
pub mod diff;
pub mod docker_args;
pub mod drift;
pub mod hooks;
pub mod host;
pub mod image;
pub mod journal;
pub mod lock;
pub mod naming;
pub mod observe;
pub mod pipeline;
pub mod plan;
pub mod printable;
pub mod proxy;
pub mod report;
pub mod run;
pub mod secret;
pub mod session;
#[cfg(test)]
pub(crate) mod testing;
pub mod version;
pub mod versions;
