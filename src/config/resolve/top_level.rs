//! The root's own keys: `service`, `image`, `require_destination`, `retain_containers`,
//! `minimum_version`, `aliases`, `hooks_output`, `output` and `x-gantry`.

use std::collections::BTreeMap;

use super::{KAMAL_COMPATIBILITY, Resolver, values};
use crate::config::diagnostic::{Code, Problem};
use crate::config::model::*;
use crate::config::node::Node;
use values::text;

/// Kamal 2.11's own top-level commands: the names Kamal refuses as aliases
/// (`Kamal::Cli::Main.commands`). gantry's other commands (`plan`, `apply`, `drift`, `exec`,
/// `logs`) are not here: Kamal accepts those names, and an alias so named runs instead of the
/// command of the same name (specs/commands.md, "Aliases").
pub const KAMAL_COMMANDS: &[&str] = &[
    "accessory",
    "app",
    "audit",
    "build",
    "config",
    "deploy",
    "details",
    "docs",
    "init",
    "lock",
    "proxy",
    "prune",
    "redeploy",
    "registry",
    "remove",
    "rollback",
    "secrets",
    "server",
    "setup",
    "upgrade",
    "version",
];

pub(super) fn resolve_service(r: &mut Resolver) -> String {
    let Some(node) = r.root.get("service") else {
        let top = r.top();
        r.error(
            Problem::new(Code::MissingKey, "service: missing required key")
                .at(top, "deploy.yml starts here")
                .help(
                    "add `service: <name>`; it prefixes every container name (lowercase \
                     letters, digits, `-`, `_`)",
                ),
        );
        return String::new();
    };
    let service = node.text().unwrap_or_default();
    let valid = !service.is_empty()
        && service
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if node.text().is_some() && !valid {
        r.error(
            Problem::new(
                Code::ServiceName,
                format!("service: invalid service name `{service}`"),
            )
            .at(node.span, "only letters, digits, `-` and `_` are allowed")
            .help("rename the service; it becomes part of container names and labels"),
        );
    } else if valid && !service.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        // Docker refuses container names that start otherwise, and kamal-proxy would read a
        // leading `-` of the route's name as an option.
        r.error(
            Problem::new(
                Code::ServiceName,
                format!("service: invalid service name `{service}`"),
            )
            .at(node.span, "must start with a letter or a digit")
            .help("rename the service; it becomes part of container names and labels"),
        );
    }
    service
}

pub(super) fn resolve_image(r: &mut Resolver, service: &str, registry: &Registry) -> String {
    match text(r.root, "image").filter(|image| !image.trim().is_empty()) {
        Some(image) => image,
        None if registry.is_local() => service.to_string(),
        None => {
            let span = r
                .root
                .entry("image")
                .map_or(r.top(), |entry| entry.key_span);
            r.error(
                Problem::new(Code::MissingKey, "image: missing required key")
                    .at(span, "no image")
                    .help(
                        "add `image: <user>/<app>` (the repository, without the registry server)",
                    ),
            );
            String::new()
        }
    }
}

pub(super) fn check_destination(r: &mut Resolver) {
    if values::boolean(r.root, "require_destination") == Some(true) && r.destination.is_none() {
        r.destination_missing = true;
        let span = r.root.get("require_destination").map(|node| node.span);
        r.error(
            Problem::new(Code::DestinationRequired, "a destination is required")
                .at_opt(span, "require_destination is set")
                .help(
                    "pass `-d <destination>`, for example `-d staging` to read \
                     config/deploy.staging.yml",
                ),
        );
    }
}

pub(super) fn resolve_retain_containers(r: &mut Resolver) -> u32 {
    let Some(node) = r.root.get("retain_containers") else {
        return 5;
    };
    match node.as_int() {
        Some(count) if count >= 1 => u32::try_from(count).unwrap_or(u32::MAX),
        Some(_) => {
            r.error(
                Problem::new(
                    Code::RetainContainers,
                    "retain_containers: must retain at least 1 container",
                )
                .at(node.span, "less than 1")
                .help("set it to 1 or more: the last stopped container is what a rollback starts"),
            );
            1
        }
        None => 5,
    }
}

/// Dotted numeric segments; `None` when a segment is not a number.
pub(super) fn resolve_minimum_version(r: &mut Resolver) -> Option<String> {
    let node = r.root.get("minimum_version")?;
    let version = node.text()?;
    let compatible =
        crate::model::version_number::numeric_segments(KAMAL_COMPATIBILITY).unwrap_or_default();
    match crate::model::version_number::numeric_segments(&version) {
        Some(mut wanted) => {
            wanted.resize(compatible.len().max(wanted.len()), 0);
            let mut have = compatible.clone();
            have.resize(wanted.len(), 0);
            if wanted > have {
                r.error(
                    Problem::new(
                        Code::MinimumVersion,
                        format!(
                            "minimum_version: this config needs Kamal {version}, \
                             gantry reads Kamal {KAMAL_COMPATIBILITY} configurations"
                        ),
                    )
                    .at(node.span, "newer than gantry understands")
                    .help(
                        "upgrade gantry, or lower minimum_version if the config uses \
                         nothing newer",
                    ),
                );
            }
        }
        None => r.error(
            Problem::new(
                Code::InvalidValue,
                format!("minimum_version: `{version}` is not a version"),
            )
            .at(node.span, "expected digits and dots")
            .help("write a version like `2.5.0`"),
        ),
    }
    Some(version)
}

pub(super) fn resolve_aliases(r: &mut Resolver) -> BTreeMap<String, String> {
    let mut aliases = BTreeMap::new();
    for entry in values::entries(r.root, "aliases") {
        let path = format!("aliases/{}", entry.key);
        let valid_name = !entry.key.is_empty()
            && entry
                .key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !valid_name {
            r.error(
                Problem::new(
                    Code::InvalidAlias,
                    format!("{path}: invalid alias name `{}`", entry.key),
                )
                .at(entry.key_span, "not a valid name")
                .help("alias names may only contain lowercase letters, digits, `-` and `_`"),
            );
        } else if KAMAL_COMMANDS.contains(&entry.key.as_str()) {
            r.error(
                Problem::new(
                    Code::InvalidAlias,
                    format!(
                        "{path}: alias `{}` conflicts with a built-in command",
                        entry.key
                    ),
                )
                .at(entry.key_span, "a Kamal command has this name")
                .help("rename the alias; Kamal refuses it too"),
            );
        }
        if let Some(command) = entry.value.text() {
            aliases.insert(entry.key.clone(), command);
        }
    }
    aliases
}

pub(super) fn resolve_hooks_output(root: &Node) -> HooksOutput {
    let level = |node: &Node| {
        node.text()
            .map(|text| text.trim_start_matches(':').to_string())
    };
    match root.get("hooks_output") {
        Some(node) if node.as_map().is_some() => HooksOutput {
            default: None,
            per_hook: node
                .as_map()
                .unwrap_or_default()
                .iter()
                .filter_map(|entry| level(&entry.value).map(|value| (entry.key.clone(), value)))
                .collect(),
        },
        Some(node) => HooksOutput {
            default: level(node),
            per_hook: BTreeMap::new(),
        },
        None => HooksOutput::default(),
    }
}

/// A tree node as JSON, for sections gantry keeps but does not interpret.
pub(super) fn to_json(node: &Node) -> serde_json::Value {
    use crate::config::node::Value;
    match &node.value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(flag) => serde_json::Value::Bool(*flag),
        Value::Int(number) => i64::try_from(*number)
            .map(serde_json::Value::from)
            .unwrap_or_else(|_| serde_json::Value::String(number.to_string())),
        Value::Float(number) => serde_json::Number::from_f64(*number)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::Str(text) => serde_json::Value::String(text.clone()),
        Value::Seq(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => serde_json::Value::Object(
            entries
                .iter()
                .map(|entry| (entry.key.clone(), to_json(&entry.value)))
                .collect(),
        ),
    }
}

pub(super) fn resolve_output(root: &Node) -> Option<BTreeMap<String, serde_json::Value>> {
    let entries = root.get("output")?.as_map()?;
    Some(
        entries
            .iter()
            .map(|entry| (entry.key.clone(), to_json(&entry.value)))
            .collect(),
    )
}

pub(super) fn resolve_gantry(root: &Node) -> GantrySettings {
    let Some(gantry) = root.get("x-gantry") else {
        return GantrySettings::default();
    };
    GantrySettings {
        drift_ignore: gantry
            .get("drift")
            .map(|drift| values::text_list(drift, "ignore"))
            .unwrap_or_default(),
        docker_socket: text(gantry, "docker_socket"),
        canary: None,
    }
}
