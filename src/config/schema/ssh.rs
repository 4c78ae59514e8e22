//! `ssh:` (Kamal's `docs/ssh.yml`), plus `forward_agent` from Kamal 2.12.

use super::{Section, Shape, field};
use crate::config::diagnostic::Problems;
use crate::config::node::Node;

/// How gantry connects to hosts.
pub static SSH: Section = Section {
    extensions: false,
    fields: &[
        field("user", Shape::Text),
        field("port", Shape::Text),
        field("proxy", Shape::Text),
        field("proxy_command", Shape::Text),
        field("log_level", Shape::Text),
        field("keys_only", Shape::Bool),
        field("keys", Shape::TextList),
        field("key_data", Shape::TextList),
        field("config", Shape::Custom(check_config)),
        field("forward_agent", Shape::Bool),
    ],
};

/// `true`/`false`, a path, or a list of paths.
fn check_config(node: &Node, path: &str, problems: &mut Problems) {
    if node.as_bool().is_none() {
        super::expect_text_or_list(node, path, problems);
    }
}
