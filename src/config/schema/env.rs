//! `env:` (Kamal's `docs/env.yml`): the simple form (a flat hash) or the complex form
//! (`clear`, `secret`, and at the root only `tags`).

use super::Problems;
use crate::config::diagnostic::{Code, Problem};
use crate::config::node::Node;

/// The keys that switch `env` to the complex form.
pub const SPECIAL_KEYS: [&str; 3] = ["clear", "secret", "tags"];

/// The root `env`, where `tags` is allowed.
pub fn check_root_env(node: &Node, path: &str, problems: &mut Problems) {
    check_env(node, path, true, problems);
}

/// A role's, tag's or accessory's `env`, where `tags` is not allowed.
pub fn check_nested_env(node: &Node, path: &str, problems: &mut Problems) {
    check_env(node, path, false, problems);
}

fn check_env(node: &Node, path: &str, allow_tags: bool, problems: &mut Problems) {
    let Some(entries) = super::expect_map(node, path, problems) else {
        return;
    };
    let complex = entries
        .iter()
        .any(|entry| SPECIAL_KEYS.contains(&entry.key.as_str()));
    if !complex {
        for entry in entries {
            super::expect_text(&entry.value, &super::join(path, &entry.key), problems);
        }
        return;
    }
    for entry in entries {
        let key_path = super::join(path, &entry.key);
        match entry.key.as_str() {
            "clear" => super::check(&entry.value, super::Shape::HashOfText, &key_path, problems),
            "secret" => super::expect_text_list(&entry.value, &key_path, problems),
            "tags" if allow_tags => {
                if let Some(tags) = super::expect_map(&entry.value, &key_path, problems) {
                    for tag in tags {
                        check_env(
                            &tag.value,
                            &super::join(&key_path, &tag.key),
                            false,
                            problems,
                        );
                    }
                }
            }
            "tags" => problems.error(
                Problem::new(
                    Code::UnknownKey,
                    format!("{key_path}: tags are only allowed in the root env"),
                )
                .at(entry.key_span, "not allowed here")
                .help("move tag-specific env to the root `env.tags.<tag>` and tag the hosts"),
            ),
            _ => problems.error(
                Problem::new(Code::UnknownKey, format!("{key_path}: unknown key"))
                    .at(entry.key_span, "unknown key")
                    .help(format!(
                        "with `clear`/`secret`, every variable goes under `clear:` (or `secret:`); \
                         move `{}` there",
                        entry.key
                    )),
            ),
        }
    }
}
