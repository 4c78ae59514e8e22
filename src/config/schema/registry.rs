//! `registry:` (Kamal's `docs/registry.yml`), also used by accessories.

use super::{Section, Shape, field};
use crate::config::diagnostic::Problems;
use crate::config::node::Node;

/// Where images are pushed and pulled, and the credentials (literal or secret names).
pub static REGISTRY: Section = Section {
    extensions: false,
    fields: &[
        field("server", Shape::Text),
        field("username", Shape::Custom(check_credential)),
        field("password", Shape::Custom(check_credential)),
    ],
};

/// A literal string, or a one-element array naming a secret (`[KAMAL_REGISTRY_PASSWORD]`).
fn check_credential(node: &Node, path: &str, problems: &mut Problems) {
    let valid = match node.as_seq() {
        Some(items) => items.len() == 1 && items[0].as_str().is_some(),
        None => node.text().is_some(),
    };
    if !valid {
        super::wrong_type(
            node,
            path,
            "a string or an array with one string (for secret lookup)",
            problems,
        );
    }
}
