//! `aliases:` (Kamal's `docs/alias.yml`): shortcuts for command lines.
//!
//! Only the shape is checked here; names are checked against Kamal's commands when resolving.

use super::Problems;
use crate::config::node::Node;

/// A hash of `name: "command line"`.
pub fn check_aliases(node: &Node, path: &str, problems: &mut Problems) {
    if let Some(entries) = super::expect_map(node, path, problems) {
        for entry in entries {
            super::expect_text(&entry.value, &super::join(path, &entry.key), problems);
        }
    }
}
