//! `options:` hashes (docker `run` flags) → [`DockerOptions`] and the restart policy.
//!
//! Every key must be a flag gantry can express (`crate::docker_args`); an unknown key is an
//! error with the closest supported flag, because an option that silently does nothing is worse
//! than an error. `restart` is taken out and validated (`no`, `always`, `unless-stopped`,
//! `on-failure[:N]`). `network` is a network joined besides `kamal`, as Kamal's
//! `docker run --network kamal --network NAME` joins both.

use super::Resolver;
use crate::config::diagnostic::{Code, Problem};
use crate::config::model::{DockerOptionValue, DockerOptions};
use crate::config::node::{Node, Value};
use crate::config::schema::did_you_mean;
use crate::docker_args;

/// The default restart policy, as Kamal's.
pub const DEFAULT_RESTART_POLICY: &str = "unless-stopped";

/// Reads an `options:` hash; returns the options without `restart`, and the restart policy.
pub(super) fn docker_options(
    r: &mut Resolver,
    node: Option<&Node>,
    path: &str,
) -> (DockerOptions, String) {
    let mut options = Vec::new();
    let mut restart_policy = DEFAULT_RESTART_POLICY.to_string();
    for entry in node.and_then(Node::as_map).unwrap_or_default() {
        let key = entry.key.trim_start_matches('-');
        let key_path = format!("{path}/{}", entry.key);
        if key == "restart" {
            match entry.value.text() {
                Some(policy) if valid_restart_policy(&policy) => restart_policy = policy,
                _ => r.error(
                    Problem::new(
                        Code::RestartPolicy,
                        format!("{key_path}: invalid restart policy"),
                    )
                    .at(entry.value.span, "not a restart policy")
                    .help("use `no`, `always`, `unless-stopped` or `on-failure[:max-retries]`"),
                ),
            }
            continue;
        }
        if let Some(instead) = docker_args::inexpressible(key) {
            r.error(
                Problem::new(
                    Code::DockerOption,
                    format!("{key_path}: docker option `{key}` cannot be expressed through the Engine API"),
                )
                .at(entry.key_span, "the docker CLI acts on this flag itself")
                .help(instead),
            );
            continue;
        }
        if docker_args::NOT_SUPPORTED_YET.contains(&key) {
            r.error(
                Problem::new(
                    Code::DockerOption,
                    format!("{key_path}: docker option `{key}` is not supported by gantry yet"),
                )
                .at(
                    entry.key_span,
                    "Kamal passes this flag to docker run; gantry cannot yet",
                )
                .help("remove it, or see specs/config.md for where it would land"),
            );
            continue;
        }
        if docker_args::lookup(key).is_none() {
            let mut problem = Problem::new(
                Code::DockerOption,
                format!("{key_path}: unsupported docker option `{key}`"),
            )
            .at(entry.key_span, "not a docker run flag gantry supports");
            problem = match did_you_mean(key, docker_args::flag_names()) {
                Some(suggestion) => problem.help(format!("did you mean `{suggestion}`?")),
                None => problem.help("see specs/config.md for the supported docker options"),
            };
            r.error(problem);
            continue;
        }
        let value = match &entry.value.value {
            Value::Bool(flag) => DockerOptionValue::Flag(*flag),
            Value::Null => DockerOptionValue::Flag(true),
            Value::Seq(items) => {
                DockerOptionValue::Values(items.iter().filter_map(Node::text).collect())
            }
            _ => match entry.value.text() {
                Some(text) => DockerOptionValue::Value(text),
                None => {
                    super::super::schema::wrong_type(
                        &entry.value,
                        &key_path,
                        "a string, a boolean or an array",
                        r.problems,
                    );
                    continue;
                }
            },
        };
        let single = DockerOptions(vec![(key.to_string(), value.clone())]);
        if let Err(error) = docker_args::translate(&single) {
            r.error(
                Problem::new(Code::DockerOption, format!("{key_path}: {error}"))
                    .at(entry.value.span, "docker would refuse this value")
                    .help("fix the value as you would on a `docker run` command line"),
            );
            continue;
        }
        options.push((key.to_string(), value));
    }
    (DockerOptions(options), restart_policy)
}

/// `no`, `always`, `unless-stopped`, `on-failure` or `on-failure:N`.
pub fn valid_restart_policy(policy: &str) -> bool {
    match policy {
        "no" | "always" | "unless-stopped" | "on-failure" => true,
        _ => policy
            .strip_prefix("on-failure:")
            .is_some_and(|count| !count.is_empty() && count.chars().all(|c| c.is_ascii_digit())),
    }
}
