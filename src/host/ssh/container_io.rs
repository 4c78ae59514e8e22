//! Inside a running container through the Engine API: exec (create, start attached, collect
//! the output, inspect the exit code), one file read out of the filesystem (`GET .../archive`,
//! a tar stream), and the tail of the logs. All three stream their bodies, so each runs under a
//! deadline of its own: bollard's timeout ends with the response headers.

use std::time::Duration;

use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::query_parameters::{DownloadFromContainerOptions, LogsOptions};
use futures_util::StreamExt;

use crate::host::ssh::SshHost;
use crate::host::{CommandOutput, HostError};

/// `docker exec` runs kamal-proxy's `deploy`, which waits for health checks and draining.
const EXEC_TIMEOUT: Duration = Duration::from_secs(600);

impl SshHost {
    pub(super) async fn docker_exec(
        &self,
        container: &str,
        argv: &[String],
    ) -> Result<CommandOutput, HostError> {
        let run = async {
            let exec = self
                .docker
                .create_exec(
                    container,
                    CreateExecOptions {
                        attach_stdout: Some(true),
                        attach_stderr: Some(true),
                        cmd: Some(argv.to_vec()),
                        ..CreateExecOptions::default()
                    },
                )
                .await?;
            let mut output = CommandOutput::default();
            if let StartExecResults::Attached {
                output: mut stream, ..
            } = self.docker.start_exec(&exec.id, None).await?
            {
                while let Some(chunk) = stream.next().await {
                    match chunk? {
                        bollard::container::LogOutput::StdErr { message } => {
                            output.stderr.push_str(&String::from_utf8_lossy(&message));
                        }
                        other => output.stdout.push_str(&other.to_string()),
                    }
                }
            }
            output.exit_code = self
                .docker
                .inspect_exec(&exec.id)
                .await?
                .exit_code
                .unwrap_or(-1);
            Ok(output)
        };
        self.call("exec", EXEC_TIMEOUT, run).await
    }

    pub(super) async fn docker_read_file(
        &self,
        container: &str,
        path: &str,
    ) -> Result<Option<Vec<u8>>, HostError> {
        let options = DownloadFromContainerOptions {
            path: path.to_string(),
        };
        let download = async {
            let mut stream = self
                .docker
                .download_from_container(container, Some(options));
            let mut archive = Vec::new();
            while let Some(chunk) = stream.next().await {
                archive.extend_from_slice(&chunk?);
            }
            Ok(archive)
        };
        let Some(archive) = self.call_optional("read file", download).await? else {
            return Ok(None);
        };
        let mut entries = tar::Archive::new(archive.as_slice());
        let mut contents = Vec::new();
        let read = entries.entries().and_then(|mut entries| {
            if let Some(entry) = entries.next() {
                std::io::Read::read_to_end(&mut entry?, &mut contents)?;
            }
            Ok(())
        });
        read.map_err(|error| HostError::Docker {
            host: self.name.clone(),
            message: format!("reading {path} from {container}: {error}"),
        })?;
        Ok(Some(contents))
    }

    pub(super) async fn docker_logs(
        &self,
        container: &str,
        tail: usize,
    ) -> Result<String, HostError> {
        let options = LogsOptions {
            stdout: true,
            stderr: true,
            tail: tail.to_string(),
            ..LogsOptions::default()
        };
        let collect = async {
            let mut stream = self.docker.logs(container, Some(options));
            let mut text = String::new();
            while let Some(chunk) = stream.next().await {
                text.push_str(&chunk?.to_string());
            }
            Ok(text)
        };
        self.call("logs", self.settings.command_timeout, collect)
            .await
    }
}
