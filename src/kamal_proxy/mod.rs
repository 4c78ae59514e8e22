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
//! - [`command`]: `kamal-proxy deploy|remove|stop|resume` command lines;
//! - [`state`]: reading the state file back.

pub mod command;
pub mod route;
pub mod state;

pub use command::{deploy_args, exec_argv, remove_args, resume_args, stop_args};
pub use route::{
    ProxyRoute, RouteFiles, RouteSettings, inherit_foreign_root_tls, inherit_root_tls,
};
pub use state::{ObservedRoute, RouteState, StateFileError, parse_state};

/// The oldest kamal-proxy Kamal 2.11 deploys through (its `Proxy::Run::MINIMUM_VERSION`), and
/// the image version it boots when the host's boot files name none.
pub const MINIMUM_VERSION: &str = "v0.9.2";

/// The version of a running kamal-proxy when it is older than [`MINIMUM_VERSION`]: the tag of
/// its image, read as Kamal reads it (the text after the last `:`). A tag that is not a plain
/// version (`latest`) is not refused.
pub fn too_old_version(image: &str) -> Option<&str> {
    let tag = image.rsplit(':').next().unwrap_or(image);
    crate::model::version_number::is_older(tag, MINIMUM_VERSION).then_some(tag)
}

#[cfg(test)]
mod tests;
