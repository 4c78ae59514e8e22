//! The sections that stand alone: `registry`, `logging`, `builder`, `ssh`, `sshkit`, `boot`.

use super::{Resolver, names, values};
use crate::config::diagnostic::{Code, Problem};
use crate::config::model::*;
use crate::config::node::Node;

/// `registry:` at the root (`required`) or of an accessory.
pub(super) fn registry(
    r: &mut Resolver,
    node: Option<&Node>,
    path: &str,
    required: bool,
) -> Registry {
    let Some(node) = node.filter(|node| node.is_present()) else {
        if required {
            let span = r
                .root
                .entry("registry")
                .map_or(r.top(), |entry| entry.key_span);
            r.error(
                Problem::new(Code::MissingKey, format!("{path}: missing required key"))
                    .at(span, "no registry")
                    .help(
                        "add `registry:` with `username:` and `password: \
                         [KAMAL_REGISTRY_PASSWORD]` (Docker Hub), or `server: localhost:5555` \
                         for a local registry",
                    ),
            );
        }
        return Registry::default();
    };
    let server = values::text(node, "server");
    let local = server
        .as_deref()
        .is_some_and(|server| server == "localhost" || server.starts_with("localhost:"));
    let credential = |r: &mut Resolver, key: &str| -> Option<ValueOrSecret> {
        let value = node.get(key).filter(|value| value.is_present());
        match value {
            Some(value) => match value.as_seq() {
                Some(items) => {
                    let item = items.first()?;
                    let name = item.text()?;
                    r.secret(&name, format!("{path}/{key}/0"), item.span);
                    Some(ValueOrSecret::Secret(name))
                }
                None => value.text().map(ValueOrSecret::Value),
            },
            None => {
                if !local {
                    r.error(
                        Problem::new(Code::MissingKey, format!("{path}/{key}: is required"))
                            .at(node.span, format!("no {key}"))
                            .help(format!(
                                "add `{key}:`, as text or as `[SECRET_NAME]` to read it \
                                 from .kamal/secrets"
                            )),
                    );
                }
                None
            }
        }
    };
    let username = credential(r, "username");
    let password = credential(r, "password");
    Registry {
        server,
        username,
        password,
    }
}

/// `logging:` as written (no defaults: Kamal adds `max-size=10m` only when nothing is set).
pub(super) fn logging(node: Option<&Node>) -> Logging {
    let Some(node) = node else {
        return Logging::default();
    };
    Logging {
        driver: values::text(node, "driver"),
        options: values::text_map(node.get("options")),
    }
}

/// `builder:`, with Kamal's checks.
pub(super) fn builder(r: &mut Resolver, registry: &Registry) -> Builder {
    let root = r.root;
    let node = root.get("builder");
    let Some(node) = node.filter(|node| node.as_map().is_some()) else {
        if root.get("servers").is_some() {
            let span = root
                .entry("builder")
                .map_or(r.top(), |entry| entry.key_span);
            r.warn(
                Problem::new(Code::BuilderArch, "builder/arch: not set")
                    .at(span, "no builder architecture")
                    .help(
                        "add `builder: {arch: amd64}` (Kamal refuses to build without \
                         it; gantry needs it only to build)",
                    ),
            );
        }
        return Builder::default();
    };
    let arch = builder_arch(r, node);
    let cache = builder_cache(r, node);
    let pack = builder_pack(r, node, arch.len());
    let remote = values::text(node, "remote");
    let local = values::boolean(node, "local");
    check_builder_places(r, node, registry, remote.as_deref(), local);
    let secrets = builder_secrets(r, node);
    Builder {
        arch,
        remote,
        local,
        context: values::text(node, "context"),
        dockerfile: values::text(node, "dockerfile"),
        target: values::text(node, "target"),
        args: values::text_map(node.get("args")),
        secrets,
        ssh: values::text(node, "ssh"),
        driver: values::text(node, "driver"),
        cache,
        pack,
        provenance: values::text(node, "provenance"),
        sbom: values::text(node, "sbom"),
    }
}

/// `builder.arch`: one or a list; Kamal refuses to build without it.
fn builder_arch(r: &mut Resolver, node: &Node) -> Vec<String> {
    let root = r.root;
    let arch = match node.get("arch") {
        Some(arch) if arch.as_seq().is_some() => values::list_of_text(arch),
        Some(arch) => arch.text().into_iter().collect(),
        None => Vec::new(),
    };
    if arch.is_empty() {
        let span = root
            .entry("builder")
            .map_or(node.span, |entry| entry.key_span);
        r.warn(
            Problem::new(Code::BuilderArch, "builder/arch: not set")
                .at(span, "no builder architecture")
                .help("add `arch: amd64` (or a list); Kamal refuses to build without it"),
        );
    }
    arch
}

/// `builder.cache`: `gha` or `registry`.
fn builder_cache(r: &mut Resolver, node: &Node) -> Option<BuilderCache> {
    let cache = node.get("cache").map(|cache| BuilderCache {
        kind: values::text(cache, "type").unwrap_or_default(),
        options: values::text(cache, "options"),
        image: values::text(cache, "image"),
    });
    if let Some(cache) = &cache
        && !["gha", "registry"].contains(&cache.kind.as_str())
    {
        let span = node
            .get("cache")
            .map_or(node.span, |c| c.get("type").map_or(c.span, |t| t.span));
        r.error(
            Problem::new(
                Code::InvalidValue,
                format!("builder/cache/type: invalid cache type `{}`", cache.kind),
            )
            .at(span, "not a cache type")
            .help("use `type: registry` or `type: gha`"),
        );
    }
    cache
}

/// `builder.pack`: buildpacks, which build for one architecture only.
fn builder_pack(r: &mut Resolver, node: &Node, arch_count: usize) -> Option<BuilderPack> {
    let pack = node.get("pack").map(|pack| BuilderPack {
        builder: values::text(pack, "builder").unwrap_or_default(),
        buildpacks: values::text_list(pack, "buildpacks"),
    });
    if pack.is_some() && arch_count > 1 {
        let span = node.entry("pack").map_or(node.span, |entry| entry.key_span);
        r.error(
            Problem::new(
                Code::InvalidValue,
                "builder/pack: buildpacks only support building for one arch",
            )
            .at(span, "several architectures are set")
            .help("set one `arch:` when building with buildpacks"),
        );
    }
    pack
}

/// `builder.local` and `builder.remote`: local builds can be turned off only with a remote, and a
/// local registry needs the remote reached over SSH.
fn check_builder_places(
    r: &mut Resolver,
    node: &Node,
    registry: &Registry,
    remote: Option<&str>,
    local: Option<bool>,
) {
    if local == Some(false) && remote.is_none() {
        let span = node.get("local").map_or(node.span, |n| n.span);
        r.error(
            Problem::new(
                Code::InvalidValue,
                "builder/local: cannot disable local builds, no remote is set",
            )
            .at(span, "local builds are off")
            .help("set `remote: ssh://user@builder-host`, or remove `local: false`"),
        );
    }
    if let Some(remote) = remote
        && registry.is_local()
        && !remote.starts_with("ssh://")
    {
        let span = node.get("remote").map_or(node.span, |n| n.span);
        r.error(
            Problem::new(
                Code::InvalidValue,
                "builder/remote: a local registry with a remote builder requires an SSH URL",
            )
            .at(span, "not an ssh:// URL")
            .help("write the remote as `ssh://user@host`"),
        );
    }
}

/// `builder.secrets`: names of secrets the build gets, each of which must be set.
fn builder_secrets(r: &mut Resolver, node: &Node) -> Vec<String> {
    let secrets = values::text_list(node, "secrets");
    if let Some(items) = node.get("secrets").and_then(Node::as_seq) {
        for (index, item) in items.iter().enumerate() {
            if let Some(name) = item.text() {
                r.secret(&name, format!("builder/secrets/{index}"), item.span);
            }
        }
    }
    secrets
}

/// `ssh:`.
pub(super) fn ssh(r: &mut Resolver) -> Ssh {
    let defaults = Ssh::default();
    let Some(node) = r.root.get("ssh").filter(|node| node.as_map().is_some()) else {
        return defaults;
    };
    let port = match node.get("port") {
        Some(port_node) => match port_node
            .text()
            .and_then(|text| text.trim().parse::<u16>().ok())
            .filter(|p| *p > 0)
        {
            Some(port) => port,
            None => {
                r.error(
                    Problem::new(Code::InvalidValue, "ssh/port: not a TCP port")
                        .at(port_node.span, "expected a number between 1 and 65535")
                        .help("write the SSH port, for example `port: 22`"),
                );
                defaults.port
            }
        },
        None => defaults.port,
    };
    let mut key_data = Vec::new();
    for (index, item) in node
        .get("key_data")
        .and_then(Node::as_seq)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let Some(value) = item.text() else { continue };
        if value.contains("-----BEGIN") {
            r.warn(
                Problem::new(
                    Code::Deprecated,
                    format!(
                        "ssh/key_data/{index}: inline \
                         private keys are not read"
                    ),
                )
                .at(item.span, "a private key written into deploy.yml")
                .help(
                    "move the key into .kamal/secrets and list the secret's name \
                     here (Kamal 3 drops inline keys too)",
                ),
            );
            continue;
        }
        r.secret(&value, format!("ssh/key_data/{index}"), item.span);
        key_data.push(value);
    }
    let config = match node.get("config") {
        Some(config) => match config.as_bool() {
            Some(true) => SshConfigFiles::Default,
            Some(false) => SshConfigFiles::None,
            None => match config.as_seq() {
                Some(_) => SshConfigFiles::Files(values::list_of_text(config)),
                None => SshConfigFiles::Files(config.text().into_iter().collect()),
            },
        },
        None => SshConfigFiles::Default,
    };
    if let (Some(user_node), Some(user)) = (node.get("user"), values::text(node, "user")) {
        names::report(
            r,
            "ssh/user",
            "SSH user",
            &user,
            user_node.span,
            names::ssh_user_problem(&user),
            "write the login name alone (`deploy`); it is substituted into `ProxyCommand`, \
             which runs through a shell",
        );
    }
    Ssh {
        user: values::text(node, "user").unwrap_or(defaults.user),
        port,
        proxy: values::text(node, "proxy").map(|proxy| {
            if proxy.contains('@') {
                proxy
            } else {
                format!("root@{proxy}")
            }
        }),
        proxy_command: values::text(node, "proxy_command"),
        log_level: values::text(node, "log_level"),
        keys_only: values::boolean(node, "keys_only").unwrap_or(false),
        keys: values::text_list(node, "keys"),
        key_data,
        config,
        forward_agent: values::boolean(node, "forward_agent").unwrap_or(false),
    }
}

/// `sshkit:` with SSHKit's defaults.
pub(super) fn sshkit(root: &Node) -> Sshkit {
    let defaults = Sshkit::default();
    let Some(node) = root.get("sshkit") else {
        return defaults;
    };
    let small = |key: &str, default: u32| {
        values::uint(node, key)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(default)
    };
    Sshkit {
        max_concurrent_starts: small("max_concurrent_starts", defaults.max_concurrent_starts),
        pool_idle_timeout: values::uint(node, "pool_idle_timeout")
            .unwrap_or(defaults.pool_idle_timeout),
        dns_retries: small("dns_retries", defaults.dns_retries),
    }
}

/// `boot:`.
pub(super) fn boot(root: &Node) -> Boot {
    let Some(node) = root.get("boot") else {
        return Boot::default();
    };
    let limit = node.get("limit").and_then(|limit| match limit.as_int() {
        Some(count) => u32::try_from(count)
            .ok()
            .filter(|n| *n >= 1)
            .map(BootLimit::Hosts),
        None => limit
            .as_str()
            .and_then(crate::config::schema::parse_boot_limit)
            .map(|(number, percent)| {
                if percent {
                    BootLimit::Percent(number)
                } else {
                    BootLimit::Hosts(number)
                }
            }),
    });
    Boot {
        limit,
        wait: values::uint(node, "wait"),
        parallel_roles: values::boolean(node, "parallel_roles").unwrap_or(false),
    }
}
