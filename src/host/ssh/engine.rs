//! The Docker half of [`SshHost`], its plumbing: every Engine API call runs through
//! [`SshHost::call`], under a deadline and in a tracing span naming the host, and its errors
//! become [`HostError`]s with the host's name and the operation.
//!
//! The calls themselves live by subject: `containers` (lifecycle and networks), `images`
//! (pull, tag, inspect), `container_io` (exec, files, logs).

use std::future::Future;
use std::time::Duration;

use tracing::Instrument;

use crate::host::HostError;
use crate::host::ssh::SshHost;

impl SshHost {
    /// The Engine API client on this connection, for a long request of its own (an image build
    /// on the remote builder) that the deadline of [`SshHost::call`] would cut short.
    pub fn docker_engine(&self) -> &bollard::Docker {
        &self.docker
    }

    /// An answer from dockerd (an error status, an error in a stream, a body gantry cannot read)
    /// is a Docker error: the request failed. Failing to reach dockerd at all (the SSH
    /// connection dropped, the socket refused because dockerd is down) makes the host
    /// unreachable for this run.
    pub(super) fn docker_error(&self, operation: &str, error: bollard::errors::Error) -> HostError {
        use bollard::errors::Error;
        let docker = |message: String| HostError::Docker {
            host: self.name.clone(),
            message: format!("{operation}: {message}"),
        };
        match error {
            Error::DockerResponseServerError { message, .. } => docker(message),
            Error::DockerStreamError { error } => docker(error),
            error @ (Error::JsonDataError { .. }
            | Error::JsonSerdeError { .. }
            | Error::DockerContainerWaitError { .. }
            | Error::APIVersionParseError { .. }
            | Error::StrParseError { .. }
            | Error::StrFmtError { .. }
            | Error::URLEncodedError { .. }
            | Error::URLParseError { .. }
            | Error::InvalidURIError { .. }
            | Error::InvalidURIPartsError { .. }
            | Error::HttpHeaderNotFoundError(_)
            | Error::HttpHeaderToStrError { .. }) => docker(error.to_string()),
            other => HostError::Unreachable {
                host: self.name.clone(),
                message: if self.connection_closed() {
                    format!("{operation}: the SSH connection was lost ({other})")
                } else {
                    format!("{operation}: cannot reach dockerd: {other}")
                },
            },
        }
    }

    /// Runs one API call (streamed bodies included) under `limit`, in a span naming the host.
    pub(super) async fn call<T>(
        &self,
        operation: &str,
        limit: Duration,
        request: impl Future<Output = Result<T, bollard::errors::Error>>,
    ) -> Result<T, HostError> {
        let span = tracing::debug_span!("docker", host = %self.name, operation);
        let request = async {
            let _in_flight = self.round_trips.api_request();
            tokio::time::timeout(limit, request).instrument(span).await
        };
        let (checked, answer) = tokio::join!(self.version_check.clone(), request);
        if let Err(absent) = checked {
            return Err(absent.error(&self.name));
        }
        match answer {
            Ok(Ok(value)) => Ok(value),
            // bollard's own deadline (the command timeout, headers only) is a deadline too.
            Ok(Err(bollard::errors::Error::RequestTimeoutError)) | Err(_) => {
                Err(self.deadline_passed(operation, limit).await)
            }
            Ok(Err(error)) => Err(self.docker_error(operation, error)),
        }
    }

    /// Like [`SshHost::call`] under the command deadline, with "404 Not Found" read as `None`.
    pub(super) async fn call_optional<T>(
        &self,
        operation: &str,
        request: impl Future<Output = Result<T, bollard::errors::Error>>,
    ) -> Result<Option<T>, HostError> {
        let not_found_is_none = async {
            match request.await {
                Ok(value) => Ok(Some(value)),
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => Ok(None),
                Err(error) => Err(error),
            }
        };
        self.call(operation, self.settings.command_timeout, not_found_is_none)
            .await
    }
}
