//! Connecting a run's hosts, once: over SSH in the binary, to in-memory hosts in tests, through
//! one [`Connector`] seam.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::host::ssh::{SshSettings, connect_all};
use crate::host::{Host, HostError};
use crate::pipeline::Connections;
use crate::secret::Redactor;

/// Why a run could not connect.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ConnectError {
    /// A changed host key stops the run before anything is sent to any host: a changed key is
    /// how a man in the middle looks, and going on with the other hosts would leave the fleet
    /// split between versions.
    #[error("refusing to go on, nothing was sent to any host: {}", .0.join("; "))]
    #[diagnostic(help(
        "if the host was reinstalled, check its new key out of band, remove the old one \
         (`ssh-keygen -R HOST` on the known_hosts file) and run again; otherwise someone may be \
         intercepting the connection"
    ))]
    HostKeyChanged(Vec<String>),
}

/// Opens connections to hosts by name. An unreachable host is a result in [`Connections`],
/// not an error: the others still run.
#[async_trait::async_trait]
pub trait Connector: Send + Sync {
    async fn connect(&self, hosts: &[String]) -> Result<Connections, ConnectError>;
}

/// deploy.yml's SSH settings, at most `max_concurrent_starts` handshakes at once.
pub struct SshConnector {
    pub settings: SshSettings,
    pub max_concurrent_starts: usize,
    /// Scrubs secrets out of connection errors (an SSH key passphrase in a message).
    pub redactor: Redactor,
}

#[async_trait::async_trait]
impl Connector for SshConnector {
    async fn connect(&self, hosts: &[String]) -> Result<Connections, ConnectError> {
        let results = connect_all(hosts, &self.settings, self.max_concurrent_starts).await;
        let changed: Vec<String> = results
            .iter()
            .filter_map(|(_, result)| match result {
                Err(error @ HostError::HostKeyChanged { .. }) => Some(error.to_string()),
                _ => None,
            })
            .collect();
        if !changed.is_empty() {
            return Err(ConnectError::HostKeyChanged(changed));
        }
        Ok(results
            .into_iter()
            .map(|(name, result)| {
                let result = result
                    .map(|host| host as Arc<dyn Host>)
                    .map_err(|error| self.redactor.redact(&error.to_string()));
                (name, result)
            })
            .collect::<BTreeMap<_, _>>())
    }
}

/// How many hosts to observe at once: all of them. The connections are already open and
/// reading state costs the hosts little, so `--parallelism` bounds only the actions of `apply`.
pub fn observe_width(connections: &Connections) -> usize {
    connections.len().max(1)
}
