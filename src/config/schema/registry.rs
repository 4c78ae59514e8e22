//! `registry:` (Kamal's `docs/registry.yml`), also used by accessories.

use super::{Field, Section, Shape};
use crate::config::diagnostic::Problems;
use crate::config::node::Node;

/// Where images are pushed and pulled, and the credentials (literal or secret names).
pub static REGISTRY: Section = Section {
    extensions: false,
    fields: &[
        Field { key: "server", shape: Shape::Text },
        Field { key: "username", shape: Shape::Custom(check_credential) },
        Field { key: "password", shape: Shape::Custom(check_credential) },
    ],
};

/// A literal string, or a one-element array naming a secret (`[KAMAL_REGISTRY_PASSWORD]`).
fn check_credential(node: &Node, path: &str, problems: &mut Problems) {
    let valid = match node.as_seq() {
        Some(items) => items.len() == 1 && items[0].as_str().is_some(),
        None => node.text().is_some(),
    };
    if !valid {
        super::wrong_type(node, path, "a string or an array with one string (for secret lookup)", problems);
    }
}
