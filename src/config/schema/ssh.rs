//! `ssh:` (Kamal's `docs/ssh.yml`), plus `forward_agent` from Kamal 2.12.

use super::{Field, Section, Shape};
use crate::config::diagnostic::Problems;
use crate::config::node::Node;

/// How gantry connects to hosts.
pub static SSH: Section = Section {
    extensions: false,
    fields: &[
        Field { key: "user", shape: Shape::Text },
        Field { key: "port", shape: Shape::Text },
        Field { key: "proxy", shape: Shape::Text },
        Field { key: "proxy_command", shape: Shape::Text },
        Field { key: "log_level", shape: Shape::Text },
        Field { key: "keys_only", shape: Shape::Bool },
        Field { key: "keys", shape: Shape::TextList },
        Field { key: "key_data", shape: Shape::TextList },
        Field { key: "config", shape: Shape::Custom(check_config) },
        Field { key: "forward_agent", shape: Shape::Bool },
    ],
};

/// `true`/`false`, a path, or a list of paths.
fn check_config(node: &Node, path: &str, problems: &mut Problems) {
    if node.as_bool().is_none() {
        super::expect_text_or_list(node, path, problems);
    }
}
