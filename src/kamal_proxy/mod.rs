//! kamal-proxy: the command lines gantry sends it and the state it reads back.
//!
//! gantry drives the real kamal-proxy exactly as Kamal does, with `docker exec kamal-proxy
//! kamal-proxy deploy <service> --target=<container id>:<port> ...`, so a route deployed by either
//! tool reads the same to both. Routes are read back from the proxy's state file
//! (`kamal-proxy.state`, JSON, durations in nanoseconds), never from the ANSI table of
//! `kamal-proxy list`.
//!
//! Desired and observed routes meet as [`RouteSettings`]: the settings kamal-proxy stores, with
//! kamal-proxy's own defaults filled in for everything Kamal leaves out of its command line. Two
//! routes with equal settings need no redeploy. Everything here is pure.
//!
//! - [`route`]: desired and observed route settings, TLS inheritance between routes;
//! - [`command`]: `kamal-proxy deploy|remove` command lines;
//! - [`state`]: reading the state file back.

pub mod command;
pub mod route;
pub mod state;

pub use command::{deploy_args, exec_argv, remove_args};
pub use route::{
    ProxyRoute, RouteFiles, RouteSettings, inherit_foreign_root_tls, inherit_root_tls,
};
pub use state::{ObservedRoute, RouteState, StateFileError, parse_state};

#[cfg(test)]
mod tests;
