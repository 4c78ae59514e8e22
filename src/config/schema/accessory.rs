//! `accessories:` (Kamal's `docs/accessory.yml`): long-lived containers beside the app.

use super::{Field, Section, Shape, env, proxy, registry};
use crate::config::diagnostic::Problems;
use crate::config::node::{Node, Value};

/// One accessory.
pub static ACCESSORY: Section = Section {
    extensions: false,
    fields: &[
        Field { key: "service", shape: Shape::Text },
        Field { key: "image", shape: Shape::Text },
        Field { key: "registry", shape: Shape::Section(&registry::REGISTRY) },
        Field { key: "host", shape: Shape::Text },
        Field { key: "hosts", shape: Shape::TextList },
        Field { key: "role", shape: Shape::Text },
        Field { key: "roles", shape: Shape::TextList },
        Field { key: "tag", shape: Shape::Text },
        Field { key: "tags", shape: Shape::TextList },
        Field { key: "cmd", shape: Shape::Text },
        Field { key: "port", shape: Shape::Text },
        Field { key: "labels", shape: Shape::HashOfText },
        Field { key: "options", shape: Shape::AnyHash },
        Field { key: "env", shape: Shape::Custom(env::check_nested_env) },
        Field { key: "files", shape: Shape::Custom(check_paths) },
        Field { key: "directories", shape: Shape::Custom(check_paths) },
        Field { key: "volumes", shape: Shape::TextList },
        Field { key: "network", shape: Shape::Text },
        Field { key: "proxy", shape: Shape::Section(&proxy::PROXY) },
    ],
};

static PATH: Section = Section {
    extensions: false,
    fields: &[
        Field { key: "local", shape: Shape::Text },
        Field { key: "remote", shape: Shape::Text },
        Field { key: "mode", shape: Shape::Text },
        Field { key: "owner", shape: Shape::Text },
        Field { key: "options", shape: Shape::Text },
    ],
};

/// A hash of accessories by name.
pub fn check_accessories(node: &Node, path: &str, problems: &mut Problems) {
    if let Some(entries) = super::expect_map(node, path, problems) {
        for entry in entries {
            super::check_section(&entry.value, &ACCESSORY, &super::join(path, &entry.key), problems);
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
