//! Kamal's `options:` hashes as written in deploy.yml: docker `run` flags and their values,
//! before gantry translates them (`crate::docker_args`). The configuration reads them, the
//! translation and the SSH host's create body consume them.

use serde::Serialize;

/// Docker `run` options from an `options:` hash, in the order written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DockerOptions(pub Vec<(String, DockerOptionValue)>);

/// One option's value: `true` gives a bare flag, a list repeats the flag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum DockerOptionValue {
    Flag(bool),
    Value(String),
    Values(Vec<String>),
}
