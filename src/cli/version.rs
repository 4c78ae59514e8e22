//! `gantry version`: gantry's version and the Kamal configuration level it reads.

use crate::session::Exit;

use crate::config::KAMAL_COMPATIBILITY;

/// The version `--version` prints: the release and the git commit it was built from.
pub const VERSION_AND_COMMIT: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("GANTRY_GIT_COMMIT"),
    ")"
);

/// Prints `gantry <version> (commit <commit>) (reads Kamal <level> configuration)`.
pub fn run() -> Result<Exit, miette::Report> {
    sayln!("{}", line());
    Ok(Exit::Success)
}

/// The version line.
pub fn line() -> String {
    format!(
        "gantry {VERSION_AND_COMMIT} (reads Kamal {} configuration)",
        KAMAL_COMPATIBILITY
    )
}
