//! Inside a running container through the Engine API: exec (create, start attached, collect
//! the output, inspect the exit code), one file read out of the filesystem (`GET .../archive`,
//! a tar stream), and the tail of the logs. All three stream their bodies, so each runs under a
//! deadline of its own: bollard's timeout ends with the response headers. And each is bounded in
//! size as well as time: exec output and logs keep their last [`OUTPUT_CAP`] bytes per stream
//! (a container printing without end cannot exhaust memory), and a file read through the
//! archive API is refused past [`MAX_FILE_BYTES`].

use std::time::Duration;

use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::query_parameters::{DownloadFromContainerOptions, LogsOptions};
use futures_util::StreamExt;

use crate::host::ssh::commands::{ScriptAnswers, ScriptReads, VolumeFile};
use crate::host::ssh::exec::{OUTPUT_CAP, Tail};
use crate::host::ssh::{SshHost, files};
use crate::host::{CommandOutput, HostError, HostFiles, HostFilesRequest};

/// `docker exec` runs kamal-proxy's `deploy`, which waits for health checks and draining.
const EXEC_TIMEOUT: Duration = Duration::from_secs(600);

/// The largest file read out of a container (kamal-proxy's state, a config file): far above
/// anything gantry reads, far below what would hurt this machine.
const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;

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
            let (mut stdout, mut stderr) = (Tail::new(OUTPUT_CAP), Tail::new(OUTPUT_CAP));
            if let StartExecResults::Attached {
                output: mut stream, ..
            } = self.docker.start_exec(&exec.id, None).await?
            {
                while let Some(chunk) = stream.next().await {
                    match chunk? {
                        bollard::container::LogOutput::StdErr { message } => {
                            stderr.push(&message);
                        }
                        other => stdout.push(&other.into_bytes()),
                    }
                }
            }
            (output.stdout, output.stderr) = (stdout.finish().0, stderr.finish().0);
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

    /// Reads one file of a container. A file under a volume or bind mount is read from the
    /// host's side of the mount, over SSH: an inspect and one `cat` take about a third of the
    /// time of the archive API, for which dockerd mounts the container's filesystem and builds
    /// a tar (kamal-proxy's state, read by every plan, lives in a volume). Anything else, a
    /// file the SSH user may not read, or one that seems missing there, goes through the API.
    pub(super) async fn docker_read_file(
        &self,
        container: &str,
        path: &str,
    ) -> Result<Option<Vec<u8>>, HostError> {
        if let Some(contents) = self.read_through_mount(container, path).await {
            return Ok(Some(contents));
        }
        self.read_from_archive(container, path).await
    }

    /// [`Host::read_host_files`](crate::host::Host::read_host_files): everything but the
    /// container's file in one script, and the container's file in that script too when it
    /// lies in the named volume: it is kept once the container's mounts, inspected meanwhile,
    /// confirm the place. Otherwise it is read as [`SshHost::docker_read_file`] reads it.
    pub(super) async fn docker_read_host_files(&self, request: &HostFilesRequest<'_>) -> HostFiles {
        let (container, path) = request.container_file;
        let inspect = self.call_optional(
            "inspect container",
            self.docker.inspect_container(container, None),
        );
        let reads = ScriptReads {
            paths: request.paths,
            directories: request.directories,
            volume_file: Some(request.volume_file),
            exclusive_dir: request.exclusive_dir,
        };
        let (read, inspect) = tokio::join!(self.host_read_in_one_script(&reads), inspect);
        let (answers, error) = match read {
            Ok(answers) => (answers, None),
            Err(error) => (ScriptAnswers::default(), Some(error)),
        };
        let file = match (inspect, answers.volume_file) {
            // No such container: no file in it either.
            (Ok(None), _) => Ok(None),
            (
                Ok(Some(details)),
                Some(VolumeFile {
                    host_path,
                    contents: Some(contents),
                }),
            ) if details
                .mounts
                .as_deref()
                .and_then(|mounts| host_side_of(mounts, path))
                .is_some_and(|mounted| mounted == host_path) =>
            {
                Ok(Some(contents))
            }
            _ => self.docker_read_file(container, path).await,
        };
        let failed = || error.clone().map_or(Ok(()), Err);
        HostFiles {
            files: failed().map(|()| answers.files),
            container_file: file,
            directories: failed().map(|()| answers.directories),
            created_dir: request
                .exclusive_dir
                .map(|_| failed().map(|()| answers.created_dir.unwrap_or(false))),
        }
    }

    /// The file's contents read through the mount it lies under, when that works.
    async fn read_through_mount(&self, container: &str, path: &str) -> Option<Vec<u8>> {
        let inspect = self
            .call_optional(
                "inspect container",
                self.docker.inspect_container(container, None),
            )
            .await
            .ok()??;
        let host_path = host_side_of(&inspect.mounts?, path)?;
        // An absolute path from dockerd's own answer, not one of the home-relative paths that
        // `read_files` takes from deploy.yml; the same script reads it.
        let paths = [host_path];
        let output = self
            .checked("reading files", files::read_files_script(&paths), None)
            .await
            .ok()?;
        let mut contents = files::parse_read_files(&paths, &output.stdout).ok()?;
        let [host_path] = paths;
        contents.remove(&host_path)?
    }

    async fn read_from_archive(
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
                if archive.len() > MAX_FILE_BYTES {
                    return Err(bollard::errors::Error::IOError {
                        err: std::io::Error::other(format!(
                            "{path} in {container} is larger than {} MiB",
                            MAX_FILE_BYTES / (1024 * 1024)
                        )),
                    });
                }
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
            let mut text = Tail::new(OUTPUT_CAP);
            while let Some(chunk) = stream.next().await {
                text.push(&chunk?.into_bytes());
            }
            Ok(text.finish().0)
        };
        self.call("logs", self.settings.command_timeout, collect)
            .await
    }
}

/// Where `path` inside a container is on the host: under the mount with the longest destination
/// that contains it (`None` when no mount does).
fn host_side_of(mounts: &[bollard::models::MountPoint], path: &str) -> Option<String> {
    mounts
        .iter()
        .filter_map(|mount| {
            let destination = mount.destination.as_deref()?.trim_end_matches('/');
            let source = mount
                .source
                .as_deref()
                .filter(|source| !source.is_empty())?;
            let rest = path.strip_prefix(destination)?.strip_prefix('/')?;
            Some((
                destination.len(),
                format!("{}/{rest}", source.trim_end_matches('/')),
            ))
        })
        .max_by_key(|(length, _)| *length)
        .map(|(_, host_path)| host_path)
}

#[cfg(test)]
mod tests {
    use bollard::models::MountPoint;

    use super::host_side_of;

    fn mount(source: &str, destination: &str) -> MountPoint {
        MountPoint {
            source: Some(source.to_string()),
            destination: Some(destination.to_string()),
            ..MountPoint::default()
        }
    }

    #[test]
    fn a_path_is_found_under_the_deepest_mount_that_holds_it() {
        let mounts = [
            mount("/srv/home", "/home"),
            mount(
                "/var/lib/docker/volumes/kamal-proxy-config/_data",
                "/home/kamal-proxy/.config/kamal-proxy",
            ),
        ];
        assert_eq!(
            host_side_of(
                &mounts,
                "/home/kamal-proxy/.config/kamal-proxy/kamal-proxy.state"
            )
            .as_deref(),
            Some("/var/lib/docker/volumes/kamal-proxy-config/_data/kamal-proxy.state")
        );
        assert_eq!(
            host_side_of(&mounts, "/home/app/x").as_deref(),
            Some("/srv/home/app/x")
        );
        // A name that only starts like a mount is not under it.
        assert_eq!(host_side_of(&mounts, "/homework/x"), None);
        assert_eq!(host_side_of(&mounts, "/etc/passwd"), None);
        assert_eq!(host_side_of(&[mount("", "/data")], "/data/x"), None);
    }
}
