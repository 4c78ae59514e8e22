//! Typed reads of a checked tree, for pass 2.
//!
//! Pass 1 has already reported every wrong type, so these helpers read leniently: a value of
//! the wrong type reads as absent and pass 2 carries on, so one mistake is reported once.

use crate::config::node::{Entry, Node};

/// `key`'s value as text (strings, numbers and booleans).
pub fn text(node: &Node, key: &str) -> Option<String> {
    node.get(key).and_then(Node::text)
}

/// `key`'s value as a non-negative integer that fits `u64`.
pub fn uint(node: &Node, key: &str) -> Option<u64> {
    node.get(key)
        .and_then(Node::as_int)
        .and_then(|number| u64::try_from(number).ok())
}

/// `key`'s value as a boolean.
pub fn boolean(node: &Node, key: &str) -> Option<bool> {
    node.get(key).and_then(Node::as_bool)
}

/// `key`'s value as a list of texts (absent or wrong type: empty).
pub fn text_list(node: &Node, key: &str) -> Vec<String> {
    node.get(key).map(list_of_text).unwrap_or_default()
}

/// A node's items as texts.
pub fn list_of_text(node: &Node) -> Vec<String> {
    node.as_seq()
        .map(|items| items.iter().filter_map(Node::text).collect())
        .unwrap_or_default()
}

/// `key`'s value as a hash's entries (absent or wrong type: none).
pub fn entries<'a>(node: &'a Node, key: &str) -> &'a [Entry] {
    node.get(key).and_then(Node::as_map).unwrap_or_default()
}

/// A hash of texts, in file order, later duplicates winning.
pub fn text_map(node: Option<&Node>) -> std::collections::BTreeMap<String, String> {
    node.and_then(Node::as_map)
        .unwrap_or_default()
        .iter()
        .filter_map(|entry| entry.value.text().map(|value| (entry.key.clone(), value)))
        .collect()
}
