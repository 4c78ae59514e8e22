//! One run of a command on hosts, below the command line and above the stages: load once,
//! connect once, take the lock on the lock hosts, handle signals from before the lock is held,
//! observe → plan → confirm → execute → record, release, and say how it ended ([`Exit`]).
//!
//! No clap and no printing here: what the user sees and answers goes through the [`Ui`] trait
//! (the command line implements it for a terminal, for JSON and for `-y`), and hosts are reached
//! through a [`Connector`] (SSH in the binary, in-memory hosts in tests), so tests drive the same
//! path the binary runs.
//!
//! - [`prepared`]: the loaded project, handed from command to command instead of loaded again;
//! - [`connect`]: the connection seam;
//! - [`lock_hosts`]: which hosts hold the deploy lock, defined once; [`manual_lock`]: `gantry
//!   lock` on them;
//! - [`signals`]: Ctrl-C, SIGTERM, SIGHUP;
//! - [`ui`]: what a run shows and asks;
//! - [`workflow`]: the run itself, [`Session`];
//! - [`exit`]: the one exit-code type.

pub mod connect;
pub mod exit;
pub mod identity;
pub mod lock_hosts;
pub mod manual_lock;
pub mod prepared;
pub mod run;
pub mod signals;
pub mod ui;
pub mod workflow;

pub use connect::{ConnectError, Connector, SshConnector, observe_width};
pub use exit::Exit;
pub use lock_hosts::lock_hosts;
pub use prepared::{PlanChoices, Prepared, read_local_file};
pub use ui::{Answer, Notice, Question, Ui};
pub use workflow::{LockWait, RunSettings, Session, SessionError, lock_connections};
