//! Commands and file operations on the host, over SSH session channels.
//!
//! Input: paths relative to the SSH user's home directory, contents, shell commands. Output:
//! [`CommandOutput`]s, file contents, or [`HostError`]s naming the host and the operation. Every
//! call runs under the command deadline and in a tracing span that names the operation, never
//! the script (it may carry secrets); contents travel on stdin (see `files` for the scripts).
//! A path that is absolute or climbs out of the home directory is refused before anything runs.

use std::collections::BTreeMap;

use tracing::Instrument;

use crate::host::ssh::{SshHost, exec, files};
use crate::host::{CommandOutput, ExclusiveDir, FileChange, HostError, directory_check};

/// What [`SshHost::host_read_in_one_script`] reads.
#[derive(Clone, Copy, Default)]
pub(super) struct ScriptReads<'a> {
    pub(super) paths: &'a [String],
    pub(super) directories: &'a [String],
    /// A named volume and the path of a file in it.
    pub(super) volume_file: Option<(&'a str, &'a str)>,
    pub(super) exclusive_dir: Option<ExclusiveDir<'a>>,
}

/// What it answers.
#[derive(Default)]
pub(super) struct ScriptAnswers {
    pub(super) files: BTreeMap<String, Option<Vec<u8>>>,
    pub(super) directories: BTreeMap<String, bool>,
    pub(super) volume_file: Option<VolumeFile>,
    pub(super) created_dir: Option<bool>,
}

/// A file of a named volume, read where it lies on the host.
pub(super) struct VolumeFile {
    pub(super) host_path: String,
    /// `None` when it is missing or the SSH user may not read it.
    pub(super) contents: Option<Vec<u8>>,
}

impl SshHost {
    /// Asked once per connection, then cached.
    pub(super) async fn host_home_dir(&self) -> Result<String, HostError> {
        self.home
            .get_or_try_init(|| async {
                let output = self
                    .checked("home directory", Ok("pwd".to_string()), None)
                    .await?;
                Ok(output.stdout.trim().to_string())
            })
            .await
            .cloned()
    }

    pub(super) async fn host_read_files(
        &self,
        paths: &[String],
    ) -> Result<BTreeMap<String, Option<Vec<u8>>>, HostError> {
        let reads = ScriptReads {
            paths,
            ..ScriptReads::default()
        };
        Ok(self.host_read_in_one_script(&reads).await?.files)
    }

    /// Everything `reads` asks for, in one session: the lock taken first (its details on
    /// stdin), then the directories, the volume's file and the files. The home directory comes
    /// first of all (`pwd`): observe needs it too, and a session saved is a round trip and a
    /// session open saved on a host far away.
    pub(super) async fn host_read_in_one_script(
        &self,
        reads: &ScriptReads<'_>,
    ) -> Result<ScriptAnswers, HostError> {
        if reads.paths.is_empty()
            && reads.volume_file.is_none()
            && reads.directories.is_empty()
            && reads.exclusive_dir.is_none()
        {
            return Ok(ScriptAnswers::default());
        }
        for path in reads.paths {
            self.check_path(path)?;
        }
        let lock_file = reads
            .exclusive_dir
            .map(|dir| format!("{}/{}", dir.path, dir.file));
        if let (Some(dir), Some(file)) = (reads.exclusive_dir, &lock_file) {
            self.check_path(dir.path)?;
            self.check_path(file)?;
        }
        let script = (|| {
            let mut script = String::from("pwd; ");
            if let (Some(dir), Some(file)) = (reads.exclusive_dir, &lock_file) {
                // In a subshell: the script exits when it is done, and the reads go on.
                script += &format!(
                    "taken=$( ({}) ) || taken=failed; echo \"$taken\"; ",
                    files::create_dir_with_file_script(dir.path, file, dir.mode)?
                );
            }
            script += &directory_check::script(reads.directories)?;
            if let Some((volume, file)) = reads.volume_file {
                script += &files::read_volume_file_script(volume, file)?;
            }
            script += &files::read_files_script(reads.paths)?;
            Ok(script)
        })();
        let stdin = reads.exclusive_dir.map(|dir| dir.contents);
        let output = self.checked("reading files", script, stdin).await?;
        let failed = |message| HostError::Command {
            host: self.name.clone(),
            message,
        };
        let (home, mut rest) = output.stdout.split_once('\n').unwrap_or_default();
        if !home.trim().is_empty() {
            let _ = self.home.set(home.trim().to_string());
        }
        let mut answers = ScriptAnswers::default();
        if let Some(dir) = reads.exclusive_dir {
            let (taken, after) = rest.split_once('\n').unwrap_or((rest, ""));
            answers.created_dir = Some(match taken {
                "created" => true,
                "exists" => false,
                _ => {
                    return Err(failed(format!(
                        "creating {} in the script that reads files: {taken:?}",
                        dir.path
                    )));
                }
            });
            rest = after;
        }
        let (directories, after) =
            directory_check::parse(reads.directories, rest).map_err(failed)?;
        answers.directories = directories;
        rest = after;
        if reads.volume_file.is_some() {
            let (host_path, contents, after) = files::parse_volume_file(rest).map_err(failed)?;
            answers.volume_file = Some(VolumeFile {
                host_path,
                contents,
            });
            rest = after;
        }
        answers.files = files::parse_read_files(reads.paths, rest).map_err(failed)?;
        Ok(answers)
    }

    /// [`Host::change_files`](crate::host::Host::change_files) in one session.
    pub(super) async fn host_change_files(
        &self,
        changes: &[FileChange<'_>],
    ) -> Vec<Result<bool, HostError>> {
        let all = |error: HostError| changes.iter().map(|_| Err(error.clone())).collect();
        // Per change: the path checked and given to the script (a lock's details file by its
        // full path, as `remove_dir_if_file_is` gives it), and its contents on stdin.
        let prepared: Vec<(String, Vec<u8>)> = changes
            .iter()
            .map(|change| match *change {
                FileChange::Write { path, contents, .. } => (path.to_string(), contents.to_vec()),
                FileChange::AppendLine { path, line } => {
                    (path.to_string(), format!("{line}\n").into_bytes())
                }
                FileChange::RemoveDirIfFileIs {
                    dir,
                    file,
                    contents,
                } => (format!("{dir}/{file}"), contents.to_vec()),
            })
            .collect();
        let mut scripted = Vec::with_capacity(changes.len());
        for (change, (path, _)) in changes.iter().zip(&prepared) {
            let checked = match *change {
                FileChange::RemoveDirIfFileIs { dir, .. } => self.check_path(dir),
                _ => Ok(()),
            };
            if let Err(error) = checked.and_then(|()| self.check_path(path)) {
                return all(error);
            }
            scripted.push(match *change {
                FileChange::Write { mode, .. } => files::ScriptedChange::Write { path, mode },
                FileChange::AppendLine { .. } => files::ScriptedChange::Append { path },
                FileChange::RemoveDirIfFileIs { dir, .. } => {
                    files::ScriptedChange::RemoveDirIfFileIs { dir, file: path }
                }
            });
        }
        let contents: Vec<&[u8]> = prepared.iter().map(|(_, bytes)| bytes.as_slice()).collect();
        let script = files::change_files_script(&scripted);
        let stdin = files::change_files_input(&contents);
        let output = match self.checked("writing records", script, Some(&stdin)).await {
            Ok(output) => output,
            Err(error) => return all(error),
        };
        let mut answers: Vec<&str> = output.stdout.lines().collect();
        answers.resize(changes.len(), "");
        prepared
            .iter()
            .zip(answers)
            .map(|((path, _), answer)| match answer {
                "done" | "removed" => Ok(true),
                "kept" => Ok(false),
                _ => Err(HostError::Command {
                    host: self.name.clone(),
                    message: format!("changing {path} failed"),
                }),
            })
            .collect()
    }

    pub(super) async fn host_file_ages(
        &self,
        paths: &[String],
    ) -> Result<BTreeMap<String, Option<std::time::Duration>>, HostError> {
        if paths.is_empty() {
            return Ok(BTreeMap::new());
        }
        for path in paths {
            self.check_path(path)?;
        }
        let output = self
            .checked("reading file ages", files::file_ages_script(paths), None)
            .await?;
        files::parse_file_ages(paths, &output.stdout).map_err(|message| HostError::Command {
            host: self.name.clone(),
            message,
        })
    }

    pub(super) async fn host_write_file(
        &self,
        path: &str,
        contents: &[u8],
        mode: u32,
    ) -> Result<(), HostError> {
        self.check_path(path)?;
        self.checked(
            &format!("writing {path}"),
            files::write_file_script(path, mode),
            Some(contents),
        )
        .await
        .map(|_| ())
    }

    pub(super) async fn host_append_line(&self, path: &str, line: &str) -> Result<(), HostError> {
        self.check_path(path)?;
        let input = format!("{line}\n");
        self.checked(
            &format!("appending to {path}"),
            files::append_script(path),
            Some(input.as_bytes()),
        )
        .await
        .map(|_| ())
    }

    pub(super) async fn host_create_dir_exclusive(&self, path: &str) -> Result<bool, HostError> {
        self.check_path(path)?;
        let output = self
            .checked(
                &format!("creating {path}"),
                files::create_dir_script(path),
                None,
            )
            .await?;
        Ok(output.stdout.trim() == "created")
    }

    pub(super) async fn host_create_dir_exclusive_with_file(
        &self,
        path: &str,
        file: &str,
        contents: &[u8],
        mode: u32,
    ) -> Result<bool, HostError> {
        let file_path = format!("{path}/{file}");
        self.check_path(path)?;
        self.check_path(&file_path)?;
        let output = self
            .checked(
                &format!("creating {path} with {file}"),
                files::create_dir_with_file_script(path, &file_path, mode),
                Some(contents),
            )
            .await?;
        Ok(output.stdout.trim() == "created")
    }

    pub(super) async fn host_remove_path(&self, path: &str) -> Result<(), HostError> {
        self.check_path(path)?;
        self.checked(
            &format!("removing {path}"),
            files::remove_script(path),
            None,
        )
        .await
        .map(|_| ())
    }

    pub(super) async fn host_remove_dir_if_file_is(
        &self,
        dir: &str,
        file: &str,
        contents: &[u8],
    ) -> Result<bool, HostError> {
        let file_path = format!("{dir}/{file}");
        self.check_path(dir)?;
        self.check_path(&file_path)?;
        let output = self
            .checked(
                &format!("removing {dir} if {file} is unchanged"),
                files::remove_dir_if_file_is_script(dir, &file_path),
                Some(contents),
            )
            .await?;
        Ok(output.stdout.trim() == "removed")
    }

    pub(super) async fn host_make_directory(
        &self,
        path: &str,
        mode: Option<u32>,
        owner: Option<&str>,
    ) -> Result<(), HostError> {
        self.refuse(files::unsafe_configured_path(path))?;
        self.checked(
            &format!("creating {path}"),
            files::make_directory_script(path, mode, owner),
            None,
        )
        .await
        .map(|_| ())
    }

    pub(super) async fn host_change_owner(&self, path: &str, owner: &str) -> Result<(), HostError> {
        self.check_path(path)?;
        self.checked(
            &format!("changing the owner of {path}"),
            files::change_owner_script(path, owner),
            None,
        )
        .await
        .map(|_| ())
    }

    pub(super) async fn host_run_command(&self, command: &str) -> Result<CommandOutput, HostError> {
        Ok(self.script("command", command, None).await?.output)
    }

    /// Runs a script in the home directory, with optional stdin, under the command deadline.
    /// The span names the operation, never the script: scripts may carry secrets.
    pub(super) async fn script(
        &self,
        operation: &str,
        script: &str,
        stdin: Option<&[u8]>,
    ) -> Result<exec::Ran, HostError> {
        let limit = self.settings.command_timeout;
        let span = tracing::debug_span!("ssh_exec", host = %self.name, operation);
        let run = exec::run(&self.handle, &self.sessions, script, stdin);
        let in_flight = self.round_trips.session();
        let ran = tokio::time::timeout(limit, run).instrument(span).await;
        drop(in_flight);
        match ran {
            Ok(Ok(ran)) => {
                tracing::debug!(host = %self.name, operation, exit_code = ran.output.exit_code);
                Ok(ran)
            }
            Ok(Err(error)) if self.connection_closed() => Err(HostError::Unreachable {
                host: self.name.clone(),
                message: format!("{operation}: the SSH connection was lost ({})", error.0),
            }),
            Ok(Err(error)) => Err(HostError::Command {
                host: self.name.clone(),
                message: format!("{operation}: {}", error.0),
            }),
            Err(_) => Err(self.deadline_passed(operation, limit).await),
        }
    }

    /// A script that must exit 0 and whose output must be whole.
    pub(super) async fn checked(
        &self,
        operation: &str,
        script: Result<String, String>,
        stdin: Option<&[u8]>,
    ) -> Result<CommandOutput, HostError> {
        let script = script.map_err(|message| HostError::Command {
            host: self.name.clone(),
            message,
        })?;
        let ran = self.script(operation, &script, stdin).await?;
        if !ran.output.success() {
            return Err(HostError::Command {
                host: self.name.clone(),
                message: format!(
                    "{operation} failed (exit {}): {}",
                    ran.output.exit_code,
                    error_tail(ran.output.message())
                ),
            });
        }
        if ran.cut > 0 {
            return Err(HostError::Command {
                host: self.name.clone(),
                message: format!(
                    "{operation}: more than {} bytes of output",
                    exec::OUTPUT_CAP
                ),
            });
        }
        Ok(ran.output)
    }

    pub(super) fn check_path(&self, path: &str) -> Result<(), HostError> {
        self.refuse(files::unsafe_path(path))
    }

    /// An error naming this host when a path check found a reason to refuse.
    fn refuse(&self, reason: Option<String>) -> Result<(), HostError> {
        match reason {
            Some(message) => Err(HostError::Command {
                host: self.name.clone(),
                message,
            }),
            None => Ok(()),
        }
    }
}

/// The end of a command's message: enough to explain a failure, short enough for one error line.
fn error_tail(message: &str) -> &str {
    const ERROR_TAIL: usize = 2048;
    if message.len() <= ERROR_TAIL {
        return message;
    }
    let mut start = message.len() - ERROR_TAIL;
    while !message.is_char_boundary(start) {
        start += 1;
    }
    &message[start..]
}
