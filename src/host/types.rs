//! The values only the [`Host`](super::Host) seam uses: its error, its container query, and
//! what running a command gives back. The values several stages share live in
//! [`crate::model`].

use std::fmt;

use crate::model::RegistryAuth;

/// What went wrong talking to one host. The host's name is always part of it.
#[derive(Clone, Debug, thiserror::Error)]
pub enum HostError {
    /// The host could not be reached or the connection broke (SSH, network, timeout).
    #[error("{host}: {message}")]
    Unreachable { host: String, message: String },
    /// The SSH server presented a key other than the one recorded in known_hosts.
    #[error(
        "{host}: the host key changed (now {fingerprint}; known_hosts line {line} records another key)"
    )]
    HostKeyChanged {
        host: String,
        fingerprint: String,
        line: usize,
    },
    /// SSH authentication was refused.
    #[error("{host}: authentication as {user} failed ({message})")]
    AuthFailed {
        host: String,
        user: String,
        message: String,
    },
    /// The Docker engine answered with an error.
    #[error("{host}: docker: {message}")]
    Docker { host: String, message: String },
    /// A command or file operation on the host failed.
    #[error("{host}: {message}")]
    Command { host: String, message: String },
    /// The operation did not finish in time.
    #[error("{host}: {operation} timed out after {seconds}s")]
    Timeout {
        host: String,
        operation: String,
        seconds: u64,
    },
}

impl HostError {
    /// The host the error came from.
    pub fn host(&self) -> &str {
        match self {
            HostError::Unreachable { host, .. }
            | HostError::HostKeyChanged { host, .. }
            | HostError::AuthFailed { host, .. }
            | HostError::Docker { host, .. }
            | HostError::Command { host, .. }
            | HostError::Timeout { host, .. } => host,
        }
    }

    /// True when the host (not the request) is the problem: a rerun after the host is back will
    /// do better, and observe records the host as unreachable instead of failing.
    pub fn is_connection(&self) -> bool {
        matches!(
            self,
            HostError::Unreachable { .. }
                | HostError::HostKeyChanged { .. }
                | HostError::AuthFailed { .. }
                | HostError::Timeout { .. }
        )
    }
}

/// Filters for [`Host::list_containers`](super::Host::list_containers); all must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerFilter {
    /// `key=value` label filters; `key=` matches an empty value (Kamal's "no destination"), and a
    /// bare `key` matches any value.
    pub labels: Vec<String>,
    /// An exact container name.
    pub name: Option<String>,
}

impl ContainerFilter {
    /// Matches containers that carry every one of these `key=value` labels.
    pub fn labels<I, S>(labels: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ContainerFilter {
            labels: labels.into_iter().map(Into::into).collect(),
            name: None,
        }
    }

    /// Matches the one container with this exact name.
    pub fn name(name: impl Into<String>) -> Self {
        ContainerFilter {
            labels: Vec::new(),
            name: Some(name.into()),
        }
    }
}

/// What makes two pulls the same pull: the reference and the credentials (by fingerprint),
/// the key under which a pull's success is shared ([`crate::host::single_flight`]).
pub fn pull_key(reference: &str, auth: Option<&RegistryAuth>) -> String {
    match auth {
        Some(auth) => format!(
            "{reference} {}@{} {}",
            auth.username,
            auth.server,
            auth.password.fingerprint(reference)
        ),
        None => reference.to_string(),
    }
}

/// What a command printed and how it ended.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CommandOutput {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
}

impl CommandOutput {
    /// True when the command exited 0.
    pub fn success(&self) -> bool {
        self.exit_code == 0
    }

    /// stderr when it says something, else stdout: the part worth showing in an error.
    pub fn message(&self) -> &str {
        let stderr = self.stderr.trim();
        if stderr.is_empty() {
            self.stdout.trim()
        } else {
            stderr
        }
    }
}

/// The user's terminal, for a command that needs one on the host (`gantry exec -i`): the
/// remote side gets a pseudo-terminal of this type and size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terminal {
    /// `$TERM` (`xterm-256color`).
    pub term: String,
    pub columns: u32,
    pub rows: u32,
}

/// Where a command run with [`Host::run_attached`](super::Host::run_attached) reads its input
/// and writes its output, as it runs: logs that follow, one-off containers, interactive shells.
pub struct Attached {
    /// `None`: the command's input is closed at once.
    pub stdin: Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>>,
    pub stdout: Box<dyn tokio::io::AsyncWrite + Send + Unpin>,
    /// Unused with a terminal: a pseudo-terminal merges both streams into `stdout`.
    pub stderr: Box<dyn tokio::io::AsyncWrite + Send + Unpin>,
    /// Ask for a pseudo-terminal (interactive commands).
    pub terminal: Option<Terminal>,
}

impl fmt::Debug for Attached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attached")
            .field("stdin", &self.stdin.is_some())
            .field("terminal", &self.terminal)
            .finish()
    }
}
