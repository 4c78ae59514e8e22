//! The root of deploy.yml (Kamal's `docs/configuration.yml`), plus gantry's `x-gantry` key.

use super::{Field, Section, Shape, accessory, alias, boot, builder, env, logging, output, proxy, registry, role, ssh, sshkit};
use crate::config::diagnostic::{Code, Problem, Problems};
use crate::config::node::Node;

/// Every top-level key Kamal 2 accepts. `x-*` keys are ignored, as Kamal ignores them.
pub static CONFIGURATION: Section = Section {
    extensions: true,
    fields: &[
        Field { key: "service", shape: Shape::Text },
        Field { key: "image", shape: Shape::Text },
        Field { key: "labels", shape: Shape::HashOfText },
        Field { key: "volumes", shape: Shape::TextList },
        Field { key: "registry", shape: Shape::Section(&registry::REGISTRY) },
        Field { key: "servers", shape: Shape::Custom(role::check_servers) },
        Field { key: "env", shape: Shape::Custom(env::check_root_env) },
        Field { key: "asset_path", shape: Shape::Text },
        Field { key: "hooks_path", shape: Shape::Text },
        Field { key: "hooks_output", shape: Shape::Custom(check_hooks_output) },
        Field { key: "secrets_path", shape: Shape::Text },
        Field { key: "error_pages_path", shape: Shape::Text },
        Field { key: "require_destination", shape: Shape::Bool },
        Field { key: "primary_role", shape: Shape::Text },
        Field { key: "allow_empty_roles", shape: Shape::Bool },
        Field { key: "retain_containers", shape: Shape::Integer },
        Field { key: "minimum_version", shape: Shape::Text },
        Field { key: "readiness_delay", shape: Shape::Integer },
        Field { key: "deploy_timeout", shape: Shape::Integer },
        Field { key: "drain_timeout", shape: Shape::Integer },
        Field { key: "stop_timeout", shape: Shape::Integer },
        Field { key: "run_directory", shape: Shape::Text },
        Field { key: "ssh", shape: Shape::Section(&ssh::SSH) },
        Field { key: "builder", shape: Shape::Section(&builder::BUILDER) },
        Field { key: "accessories", shape: Shape::Custom(accessory::check_accessories) },
        Field { key: "proxy", shape: Shape::Custom(proxy::check_root_proxy) },
        Field { key: "sshkit", shape: Shape::Section(&sshkit::SSHKIT) },
        Field { key: "boot", shape: Shape::Section(&boot::BOOT) },
        Field { key: "logging", shape: Shape::Section(&logging::LOGGING) },
        Field { key: "aliases", shape: Shape::Custom(alias::check_aliases) },
        Field { key: "output", shape: Shape::Section(&output::OUTPUT) },
        Field { key: "x-gantry", shape: Shape::Section(&GANTRY) },
    ],
};

/// `x-gantry:`: gantry's own settings, which Kamal ignores as an extension key.
static GANTRY: Section = Section {
    extensions: false,
    fields: &[
        Field { key: "drift", shape: Shape::Section(&GANTRY_DRIFT) },
        Field { key: "docker_socket", shape: Shape::Text },
    ],
};

static GANTRY_DRIFT: Section = Section {
    extensions: false,
    fields: &[Field { key: "ignore", shape: Shape::TextList }],
};

/// The levels `hooks_output` accepts, with or without Ruby's symbol colon.
pub const HOOK_OUTPUT_LEVELS: [&str; 2] = ["quiet", "verbose"];

/// `hooks_output: verbose` or `hooks_output: {pre-deploy: quiet}`.
fn check_hooks_output(node: &Node, path: &str, problems: &mut Problems) {
    let mut check_level = |level: &Node, level_path: &str| match level.text() {
        Some(text) if HOOK_OUTPUT_LEVELS.contains(&text.trim_start_matches(':')) => {}
        Some(text) => problems.error(
            Problem::new(Code::InvalidValue, format!("{level_path}: invalid hooks output `{text}`"))
                .at(level.span, "not a level")
                .help("use `quiet` or `verbose`"),
        ),
        None => super::wrong_type(level, level_path, "a string", problems),
    };
    match node.as_map() {
        Some(entries) => {
            for entry in entries {
                check_level(&entry.value, &super::join(path, &entry.key));
            }
        }
        None => check_level(node, path),
    }
}
