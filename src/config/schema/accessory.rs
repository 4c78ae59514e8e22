//! `accessories:` (Kamal's `docs/accessory.yml`): long-lived containers beside the app.

use super::{Section, Shape, env, field, proxy, registry};
use crate::config::diagnostic::Problems;
use crate::config::node::{Node, Value};

/// One accessory.
pub static ACCESSORY: Section = Section {
    extensions: false,
    fields: &[
        field("service", Shape::Text),
        field("image", Shape::Text),
        field("registry", Shape::Section(&registry::REGISTRY)),
        field("host", Shape::Text),
        field("hosts", Shape::TextList),
        field("role", Shape::Text),
        field("roles", Shape::TextList),
        field("tag", Shape::Text),
        field("tags", Shape::TextList),
        field("cmd", Shape::Text),
        field("port", Shape::Text),
        field("labels", Shape::HashOfText),
        field("options", Shape::AnyHash),
        field("env", Shape::Custom(env::check_nested_env)),
        field("files", Shape::Custom(check_paths)),
        field("directories", Shape::Custom(check_paths)),
        field("volumes", Shape::TextList),
        field("network", Shape::Text),
        field("proxy", Shape::Section(&proxy::PROXY)),
    ],
};

static PATH: Section = Section {
    extensions: false,
    fields: &[
        field("local", Shape::Text),
        field("remote", Shape::Text),
        field("mode", Shape::Text),
        field("owner", Shape::Text),
        field("options", Shape::Text),
    ],
};

/// A hash of accessories by name.
pub fn check_accessories(node: &Node, path: &str, problems: &mut Problems) {
    if let Some(entries) = super::expect_map(node, path, problems) {
        for entry in entries {
            super::check_section(
                &entry.value,
                &ACCESSORY,
                &super::join(path, &entry.key),
                problems,
            );
        }
    }
}

/// `files`/`directories`: `local:remote[:options]` strings or `{local, remote, ...}` hashes.
fn check_paths(node: &Node, path: &str, problems: &mut Problems) {
    let Some(items) = node.as_seq() else {
        super::wrong_type(node, path, "an array", problems);
        return;
    };
    for (index, item) in items.iter().enumerate() {
        let item_path = super::join(path, &index.to_string());
        match &item.value {
            Value::Map(_) => super::check_section(item, &PATH, &item_path, problems),
            _ => super::expect_text(item, &item_path, problems),
        }
    }
}
