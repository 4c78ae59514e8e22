//! `gantry version`: gantry's version and the Kamal configuration level it reads.

use crate::session::Exit;

use crate::config::KAMAL_COMPATIBILITY;

/// Prints `gantry <version> (Kamal <level> configuration)`.
pub fn run() -> Result<Exit, miette::Report> {
    sayln!("{}", line());
    Ok(Exit::Success)
}

/// The version line.
pub fn line() -> String {
    format!(
        "gantry {} (reads Kamal {} configuration)",
        env!("CARGO_PKG_VERSION"),
        KAMAL_COMPATIBILITY
    )
}
