//! `builder.remote` without buildx: the remote engine reached over gantry's own SSH connection
//! (the transport every host uses), so the build runs there through the Engine API.

use bollard::Docker;

use super::image::ImageError;
use crate::host::ssh::{SshHost, SshSettings};

/// A connection to the remote builder's Docker engine.
pub struct RemoteEngine {
    host: SshHost,
}

/// `ssh://[user@]host[:port]`: the host, with deploy.yml's SSH settings under the URI's user and
/// port.
pub fn parse(uri: &str, settings: &SshSettings) -> Result<(String, SshSettings), ImageError> {
    let unsupported = || {
        ImageError::Unsupported(format!(
            "builder.remote `{uri}`: without docker buildx gantry builds on an `ssh://user@host` \
             engine only"
        ))
    };
    let rest = uri.strip_prefix("ssh://").ok_or_else(unsupported)?;
    let rest = rest.trim_end_matches('/');
    let mut settings = settings.clone();
    let address = match rest.rsplit_once('@') {
        Some((user, address)) => {
            settings.user = user.to_string();
            address
        }
        None => rest,
    };
    let host = match address.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') || host.starts_with('[') => {
            settings.port = port.parse().map_err(|_| unsupported())?;
            host.trim_start_matches('[').trim_end_matches(']')
        }
        _ => address,
    };
    if host.is_empty() {
        return Err(unsupported());
    }
    Ok((host.to_string(), settings))
}

impl RemoteEngine {
    /// Connects to the engine `uri` names.
    pub async fn connect(uri: &str, settings: &SshSettings) -> Result<RemoteEngine, ImageError> {
        let (host, settings) = parse(uri, settings)?;
        let host = SshHost::connect(&host, &settings).await.map_err(|error| {
            super::image::failed(&format!("connecting to the builder {uri}"), error)
        })?;
        Ok(RemoteEngine { host })
    }

    /// Makes Kamal's local registry on this machine (`localhost:<port>`) reachable as the same
    /// address on the builder, through the SSH connection, so the builder pushes to it.
    pub async fn forward_local_registry(&self, port: u16) -> Result<(), ImageError> {
        self.host
            .forward_local_registry(port)
            .await
            .map_err(|error| super::image::failed("forwarding the local registry", error))
    }

    /// Its Docker engine.
    pub fn docker(&self) -> &Docker {
        self.host.docker_engine()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_uri_gives_the_host_and_overrides_user_and_port() {
        let base = SshSettings::from_config(
            &crate::config::Ssh::default(),
            &crate::config::GantrySettings::default(),
            Vec::new(),
        );
        let (host, settings) = parse("ssh://deploy@10.0.0.5:2222", &base).unwrap();
        assert_eq!(
            (host.as_str(), settings.user.as_str(), settings.port),
            ("10.0.0.5", "deploy", 2222)
        );
        let (host, settings) = parse("ssh://builder.internal", &base).unwrap();
        assert_eq!(
            (host.as_str(), settings.port),
            ("builder.internal", base.port)
        );
        assert!(parse("tcp://10.0.0.5:2375", &base).is_err());
    }
}
