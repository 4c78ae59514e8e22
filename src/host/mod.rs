//! The one seam between gantry and the machines it manages.
//!
//! Everything gantry reads from or does to a host goes through [`Host`]: the Docker engine
//! (containers, images, networks, exec) and a few file operations in the SSH user's home
//! directory (env files, the deploy lock, the audit log, gantry's journal). Two implementations
//! exist: [`ssh::SshHost`] (one SSH connection per host, the Docker Engine API spoken over a
//! `direct-streamlocal` channel on it) and the test kit's `FakeHost` (in memory, with fault
//! injection, for fast tests and scale simulation; not compiled into the binary).
//!
//! The trait is deliberately close to the Docker Engine API, not to gantry's actions: the
//! executor composes actions out of these calls, so a fake that implements them faithfully
//! exercises the same code paths as a real host. Paths given to file operations are relative to
//! the SSH user's home directory, as Kamal's are (`.kamal/...`).

pub mod directory_check;
pub mod round_trips;
pub mod single_flight;
pub mod ssh;
mod types;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;

pub use types::*;

// The shared values the seam's methods take and return, at the path its callers know.
pub use crate::model::{
    ContainerDetails, ContainerOptions, ContainerSpec, ContainerStatus, ContainerSummary,
    DeviceMapping, DeviceRate, DirectoryMerge, EnvValue, Health, HealthcheckConfig, ImageDetails,
    ImageSummary, LogConfig, Mount, MountBindOptions, MountTmpfsOptions, MountVolumeOptions,
    PortBinding, PullProgress, RegistryAuth, RestartPolicy, Ulimit, split_reference,
};

/// What observe reads from a host's filesystem, asked at once ([`Host::read_host_files`]).
#[derive(Clone, Copy, Debug)]
pub struct HostFilesRequest<'a> {
    /// Files in the home directory.
    pub paths: &'a [String],
    /// Directories whose existence matters, absolute or relative to the home directory.
    pub directories: &'a [String],
    /// A container and the path of a file in it (kamal-proxy's state).
    pub container_file: (&'a str, &'a str),
    /// The volume that file usually lies in, and its path inside that volume.
    pub volume_file: (&'a str, &'a str),
    /// A directory to create first, exclusively, with one file in it: the deploy lock, taken
    /// in the same round trip as the reads.
    pub exclusive_dir: Option<ExclusiveDir<'a>>,
}

/// [`Host::create_dir_exclusive_with_file`]'s arguments.
#[derive(Clone, Copy, Debug)]
pub struct ExclusiveDir<'a> {
    pub path: &'a str,
    pub file: &'a str,
    pub contents: &'a [u8],
    pub mode: u32,
}

/// One change to a file in the home directory, made with others by [`Host::change_files`].
#[derive(Clone, Copy, Debug)]
pub enum FileChange<'a> {
    /// [`Host::write_file`].
    Write {
        path: &'a str,
        contents: &'a [u8],
        mode: u32,
    },
    /// [`Host::append_line`].
    AppendLine { path: &'a str, line: &'a str },
    /// [`Host::remove_dir_if_file_is`].
    RemoveDirIfFileIs {
        dir: &'a str,
        file: &'a str,
        contents: &'a [u8],
    },
}

/// What [`Host::read_host_files`] answers, each part on its own.
#[derive(Debug)]
pub struct HostFiles {
    pub files: Result<BTreeMap<String, Option<Vec<u8>>>, HostError>,
    pub container_file: Result<Option<Vec<u8>>, HostError>,
    pub directories: Result<BTreeMap<String, bool>, HostError>,
    /// Whether the exclusive directory was created by this request; `None` when none was asked
    /// for. An error leaves it unknown: the caller takes back what it may have created.
    pub created_dir: Option<Result<bool, HostError>>,
}

/// A machine gantry deploys to, reached through one connection for a whole run.
///
/// Every method is a single request (or a short, bounded sequence) against the host; none of them
/// decides anything. Errors carry the host's name through [`HostError`].
#[async_trait]
pub trait Host: Send + Sync + std::fmt::Debug {
    /// The host as deploy.yml names it (`10.0.0.1`, `web-1.example.com`).
    fn name(&self) -> &str;

    /// The sessions and Engine API requests this connection has sent so far, and in how many
    /// waves (see [`round_trips`]); `None` for a host that does not count them.
    fn round_trips(&self) -> Option<round_trips::RoundTripCounts> {
        None
    }

    /// The SSH user's home directory on the host; `$PWD` in Kamal's volume arguments expands to it.
    async fn home_dir(&self) -> Result<String, HostError>;

    /// Containers that match every filter, in any state.
    async fn list_containers(
        &self,
        filter: &ContainerFilter,
    ) -> Result<Vec<ContainerSummary>, HostError>;

    /// The full configuration and state of one container, `None` when it does not exist.
    async fn inspect_container(
        &self,
        id_or_name: &str,
    ) -> Result<Option<ContainerDetails>, HostError>;

    /// One image's configuration, `None` when the host does not have it.
    async fn inspect_image(&self, reference: &str) -> Result<Option<ImageDetails>, HostError>;

    /// Images carrying the given label (`service=<svc>`), with their tags.
    async fn list_images(&self, label: Option<&str>) -> Result<Vec<ImageSummary>, HostError>;

    /// Names of the Docker networks on the host.
    async fn list_networks(&self) -> Result<Vec<String>, HostError>;

    /// Creates a bridge network; an existing network of that name is not an error.
    async fn create_network(&self, name: &str) -> Result<(), HostError>;

    /// Pulls an image, with registry credentials sent along with this one request only. A pull
    /// of a reference that is being pulled or was pulled on this connection shares that pull's
    /// success ([`single_flight`]): `apply` starts the app image's pull early, and the plan's
    /// pull action must not ask the registry again. Removing an image forgets the successes.
    async fn pull_image(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
    ) -> Result<(), HostError>;

    /// How far the pull of `reference` under way on this host has come, `None` when none is
    /// (or the host cannot tell). A pull another caller started counts: `apply` asks while its
    /// pull action waits for the early pull it joined.
    fn pull_progress(&self, _reference: &str) -> Option<PullProgress> {
        None
    }

    /// Adds a tag to an image present on the host (`docker tag`).
    async fn tag_image(&self, source: &str, target: &str) -> Result<(), HostError>;

    /// The digest (`sha256:...`) of the manifest a reference names in its registry now, asked
    /// by the host's Docker with these credentials (`/distribution/<name>/json`); `None` when
    /// the registry does not know the reference.
    async fn registry_digest(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
    ) -> Result<Option<String>, HostError>;

    /// Removes an image or one of its tags.
    async fn remove_image(&self, reference: &str, force: bool) -> Result<(), HostError>;

    /// Creates (but does not start) a container and returns its full id.
    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, HostError>;

    /// Starts a created or stopped container.
    async fn start_container(&self, id_or_name: &str) -> Result<(), HostError>;

    /// Stops a container, killing it after `timeout` (Docker's default when `None`).
    async fn stop_container(
        &self,
        id_or_name: &str,
        timeout: Option<Duration>,
    ) -> Result<(), HostError>;

    /// Removes a container (forcefully when it still runs).
    async fn remove_container(&self, id_or_name: &str) -> Result<(), HostError>;

    /// Renames a container.
    async fn rename_container(&self, id_or_name: &str, new_name: &str) -> Result<(), HostError>;

    /// Runs a command inside a running container and waits for it (`docker exec`).
    async fn exec_in_container(
        &self,
        container: &str,
        argv: &[String],
    ) -> Result<CommandOutput, HostError>;

    /// Reads one file out of a container's filesystem, `None` when it does not exist.
    async fn read_container_file(
        &self,
        container: &str,
        path: &str,
    ) -> Result<Option<Vec<u8>>, HostError>;

    /// The last lines of a container's output (stdout and stderr interleaved).
    async fn container_logs(&self, container: &str, tail: usize) -> Result<String, HostError>;

    /// Reads several files of the host in one round trip; a missing file maps to `None`.
    async fn read_files(
        &self,
        paths: &[String],
    ) -> Result<BTreeMap<String, Option<Vec<u8>>>, HostError>;

    /// Everything of [`HostFilesRequest`] at once, as observe asks for it: the deploy's files,
    /// kamal-proxy's state, accessory directories and, when asked, the deploy lock taken first.
    /// A host that reads files with a script reads them all in one session, and may read the
    /// container's file in its volume, used once the container's mounts confirm the place.
    async fn read_host_files(&self, request: &HostFilesRequest<'_>) -> HostFiles {
        let created_dir = match request.exclusive_dir {
            Some(dir) => Some(
                self.create_dir_exclusive_with_file(dir.path, dir.file, dir.contents, dir.mode)
                    .await,
            ),
            None => None,
        };
        let (container, path) = request.container_file;
        let (files, container_file, directories) = tokio::join!(
            self.read_files(request.paths),
            self.read_container_file(container, path),
            directory_check::existing(self, request.directories)
        );
        HostFiles {
            files,
            container_file,
            directories,
            created_dir,
        }
    }

    /// How long ago each file was last written, by the host's own clock (`date +%s` and the
    /// files' modification times, read in one command); `None` for a missing file. Whether a
    /// run went silent is judged with it, so neither the deploying machine's clock nor that of
    /// the run that wrote the file can skew it.
    async fn file_ages(
        &self,
        paths: &[String],
    ) -> Result<BTreeMap<String, Option<std::time::Duration>>, HostError>;

    /// Writes a file (creating its directory), with the given permission bits, atomically: the
    /// contents travel on the connection, never on a command line.
    async fn write_file(&self, path: &str, contents: &[u8], mode: u32) -> Result<(), HostError>;

    /// Appends one line to a file, creating the file and its directory when missing.
    async fn append_line(&self, path: &str, line: &str) -> Result<(), HostError>;

    /// Creates a directory whose parent exists or is created; returns `false` when the directory
    /// already existed. This is the atomic step of Kamal's deploy lock (`mkdir`).
    async fn create_dir_exclusive(&self, path: &str) -> Result<bool, HostError>;

    /// [`Host::create_dir_exclusive`], then, when it created the directory, writes `file` in it
    /// (as [`Host::write_file`]); a failed write removes the directory again. Kamal's lock is a
    /// directory with its details inside: every run takes it, so one round trip matters.
    async fn create_dir_exclusive_with_file(
        &self,
        path: &str,
        file: &str,
        contents: &[u8],
        mode: u32,
    ) -> Result<bool, HostError> {
        if !self.create_dir_exclusive(path).await? {
            return Ok(false);
        }
        if let Err(error) = self
            .write_file(&format!("{path}/{file}"), contents, mode)
            .await
        {
            let _ = self.remove_path(path).await;
            return Err(error);
        }
        Ok(true)
    }

    /// Removes a file or a directory tree; a missing path is not an error.
    async fn remove_path(&self, path: &str) -> Result<(), HostError>;

    /// Removes the directory tree `dir` only if its `file` holds exactly `contents`, checked and
    /// removed in one command (compare-and-delete): releasing a lock that another run may have
    /// taken over since. `true` when removed, `false` when the file differs (or is gone).
    async fn remove_dir_if_file_is(
        &self,
        dir: &str,
        file: &str,
        contents: &[u8],
    ) -> Result<bool, HostError>;

    /// Makes `changes` in order, in one round trip where the host can: the records that end a
    /// run (the audit line, the journal, the lock's release) cost one session together. One
    /// answer per change: `true` once made (for a removal: removed, `false` when kept).
    async fn change_files(&self, changes: &[FileChange<'_>]) -> Vec<Result<bool, HostError>> {
        let mut answers = Vec::with_capacity(changes.len());
        for change in changes {
            answers.push(match *change {
                FileChange::Write {
                    path,
                    contents,
                    mode,
                } => self.write_file(path, contents, mode).await.map(|()| true),
                FileChange::AppendLine { path, line } => {
                    self.append_line(path, line).await.map(|()| true)
                }
                FileChange::RemoveDirIfFileIs {
                    dir,
                    file,
                    contents,
                } => self.remove_dir_if_file_is(dir, file, contents).await,
            });
        }
        answers
    }

    /// Copies the contents of `source_path` inside `image` into `destination` on the host
    /// (created when missing), through a short-lived container named `container` that is removed
    /// again: Kamal's asset extraction (`docker container create`, `docker container cp -L`).
    async fn extract_image_directory(
        &self,
        image: &str,
        container: &str,
        source_path: &str,
        destination: &str,
    ) -> Result<(), HostError>;

    /// Merges directory trees on the host, in order, in one round trip (see [`DirectoryMerge`]).
    async fn merge_directories(&self, merges: &[DirectoryMerge]) -> Result<(), HostError>;

    /// Removes the entries of `directory` whose names start with `prefix`, except `keep`: what
    /// is left of older versions. A missing directory is not an error.
    async fn remove_other_entries(
        &self,
        directory: &str,
        prefix: &str,
        keep: &str,
    ) -> Result<(), HostError>;
    /// Creates a directory and its parents when missing, then sets its permission bits and owner
    /// when given (an accessory's `directories:`, which may be absolute, as Kamal prepares them on
    /// every boot).
    async fn make_directory(
        &self,
        path: &str,
        mode: Option<u32>,
        owner: Option<&str>,
    ) -> Result<(), HostError>;

    /// Hands a file in the home directory to `owner` (`user`, `user:group` or numeric ids).
    async fn change_owner(&self, path: &str, owner: &str) -> Result<(), HostError>;

    /// Runs a shell command on the host (`server exec`, the few steps that have no API call).
    async fn run_command(&self, command: &str) -> Result<CommandOutput, HostError>;

    /// Runs a shell command with its input and output streamed while it runs, and returns its
    /// exit code. No deadline: it lasts as long as the user's command does (`logs -f`, `exec`,
    /// an interactive shell, installing Docker). With [`Attached::terminal`] the command gets a
    /// pseudo-terminal, as `ssh -t` gives one.
    async fn run_attached(&self, command: &str, io: Attached) -> Result<i64, HostError>;
}
