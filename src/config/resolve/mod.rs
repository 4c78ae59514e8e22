//! Pass 2: the checked, merged tree → the resolved [`Config`].
//!
//! Applies Kamal's defaults and inheritance (specs/config.md §3): roles sorted with
//! the primary first, root env/labels/logging/proxy merged into each role, accessory hosts
//! resolved from roles and tags, and so on. It also runs the checks that need meaning rather
//! than shape (primary role, hosts, SSL, reserved labels, versions, aliases, docker options),
//! records every place that names a secret ([`SecretRef`]) so a missing secret can point at its
//! line later, and keeps going after a problem so one run reports them all.
//!
//! It reads nothing but the tree: no files, no environment, no secrets.

mod accessories;
mod canary;
mod names;
mod options;
mod proxy;
mod roles;
mod sections;
mod top_level;

pub use top_level::KAMAL_COMMANDS;
mod values;

use super::diagnostic::{Code, Problem, Problems};
use super::model::*;
use super::node::Node;
use super::source::Span;
pub use roles::invalid_host_reason;
use values::{text, uint};

/// The Kamal release whose configuration gantry reads; `minimum_version` above it is refused.
pub const KAMAL_COMPATIBILITY: &str = "2.12.0";

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
    let service = top_level::resolve_service(r);
    let registry = sections::registry(r, root.get("registry"), "registry", true);
    let image = top_level::resolve_image(r, &service, &registry);
    top_level::check_destination(r);
    let primary_role = text(root, "primary_role").unwrap_or_else(|| "web".to_string());
    let allow_empty_roles = values::boolean(root, "allow_empty_roles").unwrap_or(false);
    let logging = sections::logging(root.get("logging"));
    let root_proxy = proxy::root_proxy(r);
    let proxy_run = proxy::proxy_run(r);
    let (roles, env_tags) = roles::roles(r, &primary_role, allow_empty_roles, &logging);
    let accessories = accessories::accessories(r, &service, &roles);
    let host_proxy_runs = proxy::host_proxy_runs(r, &roles, &accessories, &proxy_run);
    if root.get("servers").is_none_or(Node::is_null) && accessories.is_empty() {
        let top = r.top();
        r.error(
            Problem::new(Code::MissingKey, "no servers or accessories specified")
                .at(top, "nothing to deploy")
                .help("add `servers:` with at least one host (or `accessories:`)"),
        );
    }
    proxy::check_shared_ssl_hosts(r, &roles);
    let canary = canary::resolve_canary(r, &roles);
    let builder = sections::builder(r, &registry);
    let ssh = sections::ssh(r);
    let retain_containers = top_level::resolve_retain_containers(r);
    let minimum_version = top_level::resolve_minimum_version(r);
    let aliases = top_level::resolve_aliases(r);
    let hooks_output = top_level::resolve_hooks_output(root);
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
        host_proxy_runs,
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
        error_pages: Vec::new(),
        retain_containers,
        minimum_version,
        readiness_delay: uint(root, "readiness_delay").unwrap_or(7),
        deploy_timeout: uint(root, "deploy_timeout").unwrap_or(30),
        drain_timeout: uint(root, "drain_timeout").unwrap_or(30),
        output: top_level::resolve_output(root),
        gantry: GantrySettings {
            canary,
            ..top_level::resolve_gantry(root)
        },
    }
}

#[cfg(test)]
mod tests;
