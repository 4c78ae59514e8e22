//! `servers:` and its roles (Kamal's `docs/servers.yml` and `docs/role.yml`).

use super::{Section, Shape, env, field, logging, proxy};
use crate::config::diagnostic::{Code, Problem, Problems};
use crate::config::node::{Node, Value};

/// A role written as a hash (`servers.workers: {hosts: [...], cmd: ...}`).
pub static ROLE: Section = Section {
    extensions: false,
    fields: &[
        field("hosts", Shape::Custom(check_hosts)),
        field("cmd", Shape::Text),
        field("options", Shape::AnyHash),
        field("logging", Shape::Section(&logging::LOGGING)),
        field("proxy", Shape::Custom(proxy::check_role_proxy)),
        field("labels", Shape::HashOfText),
        field("env", Shape::Custom(env::check_nested_env)),
        field("asset_path", Shape::Text),
        field("stop_timeout", Shape::Seconds),
    ],
};

/// A list of hosts (role `web`), or a hash of roles; empty means "accessories only".
pub fn check_servers(node: &Node, path: &str, problems: &mut Problems) {
    match &node.value {
        Value::Null => {}
        Value::Seq(_) => check_hosts(node, path, problems),
        Value::Map(entries) => {
            for entry in entries {
                let role_path = super::join(path, &entry.key);
                match &entry.value.value {
                    Value::Seq(_) => check_hosts(&entry.value, &role_path, problems),
                    Value::Map(_) => {
                        super::check_section(&entry.value, &ROLE, &role_path, problems)
                    }
                    _ => {
                        super::wrong_type(&entry.value, &role_path, "an array or a hash", problems)
                    }
                }
            }
        }
        _ => super::wrong_type(node, path, "an array or a hash", problems),
    }
}

/// Hosts: `- 1.2.3.4`, `- 1.2.3.4: tag` or `- 1.2.3.4: [tag1, tag2]`.
pub fn check_hosts(node: &Node, path: &str, problems: &mut Problems) {
    let Some(items) = node.as_seq() else {
        super::wrong_type(node, path, "an array", problems);
        return;
    };
    for (index, item) in items.iter().enumerate() {
        let item_path = super::join(path, &index.to_string());
        match &item.value {
            Value::Map(entries) if entries.len() == 1 => {
                let entry = &entries[0];
                let tag_path = super::join(&item_path, &entry.key);
                match &entry.value.value {
                    Value::Seq(_) => super::expect_text_list(&entry.value, &tag_path, problems),
                    _ => super::expect_text(&entry.value, &tag_path, problems),
                }
            }
            Value::Map(_) => problems.error(
                Problem::new(
                    Code::InvalidHost,
                    format!("{item_path}: multiple hosts found"),
                )
                .at(item.span, "one entry may name one host")
                .help("write each tagged host as its own list item: `- host: tag`"),
            ),
            _ => super::expect_text(item, &item_path, problems),
        }
    }
}
