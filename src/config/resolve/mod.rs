//! Pass 2: the checked, merged tree → the resolved [`Config`].
//!
//! Applies Kamal's defaults and inheritance (reference §7.8 and kamal.md §1): roles sorted with
//! the primary first, root env/labels/logging/proxy merged into each role, accessory hosts
//! resolved from roles and tags, and so on. It also runs the checks that need meaning rather
//! than shape (primary role, hosts, SSL, reserved labels, versions, aliases, docker options),
//! records every place that names a secret ([`SecretRef`]) so a missing secret can point at its
//! line later, and keeps going after a problem so one run reports them all.
//!
//! It reads nothing but the tree: no files, no environment, no secrets.

mod accessories;
mod options;
mod proxy;
mod roles;
mod sections;
mod values;

use std::collections::BTreeMap;

use super::diagnostic::{Code, Problem, Problems};
use super::model::*;
use super::node::Node;
use super::source::Span;
use values::{text, uint};

/// The Kamal release whose configuration gantry reads; `minimum_version` above it is refused.
pub const KAMAL_COMPATIBILITY: &str = "2.12.0";

/// Commands an alias may not shadow: Kamal's and gantry's.
const BUILT_IN_COMMANDS: &[&str] = &[
    "accessory",
    "app",
    "apply",
    "audit",
    "build",
    "config",
    "deploy",
    "details",
    "docs",
    "drift",
    "help",
    "init",
    "lock",
    "logs",
    "plan",
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

/// A place in deploy.yml that names a secret, so a missing value can point at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretRef {
    /// The key looked up in the secrets files.
    pub key: String,
    /// Where it is named (`servers/web/env/secret/0`).
    pub path: String,
    pub span: Span,
}

/// State shared by the resolving functions of one load.
pub(crate) struct Resolver<'a> {
    pub root: &'a Node,
    pub destination: Option<&'a str>,
    pub problems: &'a mut Problems,
    pub secret_refs: Vec<SecretRef>,
    /// `require_destination` is set and no destination was given: hosts are expected to come
    /// from the destination file, so "no hosts" errors would only be noise.
    pub destination_missing: bool,
}

impl Resolver<'_> {
    fn error(&mut self, problem: Problem) {
        self.problems.error(problem);
    }

    fn warn(&mut self, problem: Problem) {
        self.problems.warn(problem);
    }

    /// Records that `key` is a secret named at `span`.
    fn secret(&mut self, key: &str, path: String, span: Span) {
        if self
            .secret_refs
            .iter()
            .any(|seen| seen.key == key && seen.span == span)
        {
            return;
        }
        self.secret_refs.push(SecretRef {
            key: key.to_string(),
            path,
            span,
        });
    }

    /// A zero-width span at the top of the main file, for keys that are missing altogether.
    fn top(&self) -> Span {
        Span {
            file: self.root.span.file,
            offset: 0,
            len: 0,
        }
    }
}

/// Resolves a checked tree. The returned config is complete even when problems were recorded
/// (missing values take defaults), so callers decide from `problems` whether to use it.
pub fn resolve(
    root: &Node,
    destination: Option<&str>,
    problems: &mut Problems,
) -> (Config, Vec<SecretRef>) {
    let mut resolver = Resolver {
        root,
        destination,
        problems,
        secret_refs: Vec::new(),
        destination_missing: false,
    };
    let config = resolve_config(&mut resolver);
    (config, resolver.secret_refs)
}

fn resolve_config(r: &mut Resolver) -> Config {
    let root = r.root;
    let service = resolve_service(r);
    let registry = sections::registry(r, root.get("registry"), "registry", true);
    let image = resolve_image(r, &service, &registry);
    check_destination(r);
    let primary_role = text(root, "primary_role").unwrap_or_else(|| "web".to_string());
    let allow_empty_roles = values::boolean(root, "allow_empty_roles").unwrap_or(false);
    let logging = sections::logging(root.get("logging"));
    let root_proxy = proxy::root_proxy(r);
    let proxy_run = proxy::proxy_run(r);
    let (roles, env_tags) = roles::roles(r, &primary_role, allow_empty_roles, &logging);
    let accessories = accessories::accessories(r, &service, &roles);
    if root.get("servers").is_none_or(Node::is_null) && accessories.is_empty() {
        let top = r.top();
        r.error(
            Problem::new(Code::MissingKey, "no servers or accessories specified")
                .at(top, "nothing to deploy")
                .help("add `servers:` with at least one host (or `accessories:`)"),
        );
    }
    proxy::check_shared_ssl_hosts(r, &roles);
    let builder = sections::builder(r, &registry);
    let ssh = sections::ssh(r);
    let retain_containers = resolve_retain_containers(r);
    let minimum_version = resolve_minimum_version(r);
    let aliases = resolve_aliases(r);
    let hooks_output = resolve_hooks_output(root);
    if root.get("run_directory").is_some() {
        let span = root.entry("run_directory").map(|entry| entry.key_span);
        r.warn(
            Problem::new(Code::IgnoredKey, "run_directory is ignored")
                .at_opt(span, "Kamal 2 documents this key but always uses .kamal")
                .help("remove it; files on the hosts live under ~/.kamal"),
        );
    }
    Config {
        service,
        destination: r.destination.map(str::to_string),
        image,
        registry,
        roles,
        primary_role,
        allow_empty_roles,
        require_destination: values::boolean(root, "require_destination").unwrap_or(false),
        accessories,
        proxy: root_proxy,
        proxy_run,
        logging,
        env_tags,
        builder,
        ssh,
        sshkit: sections::sshkit(root),
        boot: sections::boot(root),
        aliases,
        hooks_path: text(root, "hooks_path").unwrap_or_else(|| ".kamal/hooks".to_string()),
        hooks_output,
        secrets_path: text(root, "secrets_path").unwrap_or_else(|| ".kamal/secrets".to_string()),
        error_pages_path: text(root, "error_pages_path"),
        retain_containers,
        minimum_version,
        readiness_delay: uint(root, "readiness_delay").unwrap_or(7),
        deploy_timeout: uint(root, "deploy_timeout").unwrap_or(30),
        drain_timeout: uint(root, "drain_timeout").unwrap_or(30),
        output: resolve_output(root),
        gantry: resolve_gantry(root),
    }
}

fn resolve_service(r: &mut Resolver) -> String {
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
    }
    service
}

fn resolve_image(r: &mut Resolver, service: &str, registry: &Registry) -> String {
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

fn check_destination(r: &mut Resolver) {
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

fn resolve_retain_containers(r: &mut Resolver) -> u32 {
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
fn version_segments(version: &str) -> Option<Vec<u64>> {
    version
        .trim()
        .trim_start_matches('v')
        .split('.')
        .map(|segment| segment.parse::<u64>().ok())
        .collect()
}

fn resolve_minimum_version(r: &mut Resolver) -> Option<String> {
    let node = r.root.get("minimum_version")?;
    let version = node.text()?;
    let compatible = version_segments(KAMAL_COMPATIBILITY).unwrap_or_default();
    match version_segments(&version) {
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

fn resolve_aliases(r: &mut Resolver) -> BTreeMap<String, String> {
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
        } else if BUILT_IN_COMMANDS.contains(&entry.key.as_str()) {
            r.error(
                Problem::new(
                    Code::InvalidAlias,
                    format!(
                        "{path}: alias `{}` conflicts with a built-in command",
                        entry.key
                    ),
                )
                .at(entry.key_span, "a command has this name")
                .help("rename the alias"),
            );
        }
        if let Some(command) = entry.value.text() {
            aliases.insert(entry.key.clone(), command);
        }
    }
    aliases
}

fn resolve_hooks_output(root: &Node) -> HooksOutput {
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
fn to_json(node: &Node) -> serde_json::Value {
    use super::node::Value;
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

fn resolve_output(root: &Node) -> Option<BTreeMap<String, serde_json::Value>> {
    let entries = root.get("output")?.as_map()?;
    Some(
        entries
            .iter()
            .map(|entry| (entry.key.clone(), to_json(&entry.value)))
            .collect(),
    )
}

fn resolve_gantry(root: &Node) -> GantrySettings {
    let Some(gantry) = root.get("x-gantry") else {
        return GantrySettings::default();
    };
    GantrySettings {
        drift_ignore: gantry
            .get("drift")
            .map(|drift| values::text_list(drift, "ignore"))
            .unwrap_or_default(),
        docker_socket: text(gantry, "docker_socket"),
    }
}

#[cfg(test)]
mod tests;
