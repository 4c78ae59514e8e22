//! The root of deploy.yml (Kamal's `docs/configuration.yml`), plus gantry's `x-gantry` key.

use super::{
    Section, Shape, accessory, alias, boot, builder, canary, env, field, logging, output, proxy,
    registry, role, ssh, sshkit,
};
use crate::config::diagnostic::{Code, Problem, Problems};
use crate::config::node::Node;

/// Every top-level key Kamal 2 accepts. `x-*` keys are ignored, as Kamal ignores them.
pub static CONFIGURATION: Section = Section {
    extensions: true,
    fields: &[
        field("service", Shape::Text),
        field("image", Shape::Text),
        field("labels", Shape::HashOfText),
        field("volumes", Shape::TextList),
        field("registry", Shape::Section(&registry::REGISTRY)),
        field("servers", Shape::Custom(role::check_servers)),
        field("env", Shape::Custom(env::check_root_env)),
        field("asset_path", Shape::Text),
        field("hooks_path", Shape::Text),
        field("hooks_output", Shape::Custom(check_hooks_output)),
        field("secrets_path", Shape::Text),
        field("error_pages_path", Shape::Text),
        field("require_destination", Shape::Bool),
        field("primary_role", Shape::Text),
        field("allow_empty_roles", Shape::Bool),
        field("retain_containers", Shape::Integer),
        field("minimum_version", Shape::Text),
        field("readiness_delay", Shape::Seconds),
        field("deploy_timeout", Shape::Seconds),
        field("drain_timeout", Shape::Seconds),
        field("stop_timeout", Shape::Seconds),
        field("run_directory", Shape::Text),
        field("ssh", Shape::Section(&ssh::SSH)),
        field("builder", Shape::Section(&builder::BUILDER)),
        field("accessories", Shape::Custom(accessory::check_accessories)),
        field("proxy", Shape::Custom(proxy::check_root_proxy)),
        field("sshkit", Shape::Section(&sshkit::SSHKIT)),
        field("boot", Shape::Section(&boot::BOOT)),
        field("logging", Shape::Section(&logging::LOGGING)),
        field("aliases", Shape::Custom(alias::check_aliases)),
        field("output", Shape::Section(&output::OUTPUT)),
        field("x-gantry", Shape::Section(&GANTRY)),
    ],
};

/// `x-gantry:`: gantry's own settings, which Kamal ignores as an extension key.
static GANTRY: Section = Section {
    extensions: false,
    fields: &[
        field("drift", Shape::Section(&GANTRY_DRIFT)),
        field("docker_socket", Shape::Text),
        field("canary", Shape::Custom(canary::check_canary)),
    ],
};

static GANTRY_DRIFT: Section = Section {
    extensions: false,
    fields: &[field("ignore", Shape::TextList)],
};

/// The levels `hooks_output` accepts, with or without Ruby's symbol colon.
pub const HOOK_OUTPUT_LEVELS: [&str; 2] = ["quiet", "verbose"];

/// `hooks_output: verbose` or `hooks_output: {pre-deploy: quiet}`.
fn check_hooks_output(node: &Node, path: &str, problems: &mut Problems) {
    let mut check_level = |level: &Node, level_path: &str| match level.text() {
        Some(text) if HOOK_OUTPUT_LEVELS.contains(&text.trim_start_matches(':')) => {}
        Some(text) => problems.error(
            Problem::new(
                Code::InvalidValue,
                format!("{level_path}: invalid hooks output `{text}`"),
            )
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
