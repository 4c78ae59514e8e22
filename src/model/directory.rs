//! Directory trees copied between versions on a host (asset paths).

use serde::{Deserialize, Serialize};

/// One directory tree merged into another on a host: files the destination already has are kept
/// (`cp -rnT`), so two versions' files end up side by side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryMerge {
    /// Relative to the SSH user's home.
    pub source: String,
    /// Relative to the SSH user's home; created when missing.
    pub destination: String,
    /// When false, a missing source or a failed copy is not an error (the neighbouring
    /// version's directories may be gone, as Kamal allows).
    pub required: bool,
}
