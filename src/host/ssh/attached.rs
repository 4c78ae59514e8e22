//! Commands with streamed input and output, over one SSH session channel each.
//!
//! Input: a shell command and an [`Attached`] (where input comes from, where output goes, and
//! whether a pseudo-terminal is wanted). Output: the command's exit code. Unlike the commands of
//! `exec`, these run without a deadline and keep nothing in memory: every chunk the host sends is
//! written out as it arrives, so `logs -f` and interactive shells work. The local input is copied
//! to the channel until it ends, then the channel's input is closed; the command's end (exit
//! status and channel close) ends the call, whatever the input is doing.

use std::sync::Arc;

use russh::ChannelMsg;
use russh::client::Handle;
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;

use crate::host::ssh::SshHost;
use crate::host::ssh::connect::ClientHandler;
use crate::host::ssh::exec::ChannelError;
use crate::host::{Attached, HostError};

impl SshHost {
    pub(super) async fn host_run_attached(
        &self,
        command: &str,
        io: Attached,
    ) -> Result<i64, HostError> {
        tracing::debug!(host = %self.name, "attached command");
        let _session = self.round_trips.session();
        run(&self.handle, &self.sessions, command, io)
            .await
            .map_err(|error| {
                if self.connection_closed() {
                    HostError::Unreachable {
                        host: self.name.clone(),
                        message: format!("the SSH connection was lost ({})", error.0),
                    }
                } else {
                    HostError::Command {
                        host: self.name.clone(),
                        message: error.0,
                    }
                }
            })
    }
}

/// Runs `command` through the user's shell with `io` attached; returns the exit code (`-1` when
/// a signal killed it).
pub async fn run(
    handle: &Handle<ClientHandler>,
    sessions: &Arc<Semaphore>,
    command: &str,
    io: Attached,
) -> Result<i64, ChannelError> {
    let _permit = sessions
        .acquire()
        .await
        .map_err(|error| ChannelError(error.to_string()))?;
    let channel = super::exec::open_session(handle)
        .await
        .map_err(|error| ChannelError(format!("opening a session: {error}")))?;
    if let Some(terminal) = &io.terminal {
        channel
            .request_pty(
                true,
                &terminal.term,
                terminal.columns,
                terminal.rows,
                0,
                0,
                &[],
            )
            .await
            .map_err(|error| ChannelError(format!("asking for a terminal: {error}")))?;
    }
    channel
        .exec(true, command)
        .await
        .map_err(|error| ChannelError(format!("starting the command: {error}")))?;
    let (mut reader, writer) = channel.split();
    let Attached {
        stdin,
        mut stdout,
        mut stderr,
        ..
    } = io;

    let input = async {
        if let Some(mut stdin) = stdin {
            let mut channel_input = writer.make_writer();
            // A broken input only ends the input; the command decides when it is done.
            let _ = tokio::io::copy(&mut stdin, &mut channel_input).await;
            let _ = channel_input.shutdown().await;
        }
        let _ = writer.eof().await;
        std::future::pending::<std::convert::Infallible>().await
    };
    let output = async {
        let mut exit_code: Option<i64> = None;
        let mut killed = false;
        while let Some(message) = reader.wait().await {
            match message {
                ChannelMsg::Data { data } => {
                    stdout.write_all(&data).await?;
                    stdout.flush().await?;
                }
                ChannelMsg::ExtendedData { data, ext: 1 } => {
                    stderr.write_all(&data).await?;
                    stderr.flush().await?;
                }
                ChannelMsg::ExitStatus { exit_status } => exit_code = Some(i64::from(exit_status)),
                ChannelMsg::ExitSignal { .. } => killed = true,
                ChannelMsg::Close => break,
                _ => {}
            }
        }
        Ok::<_, std::io::Error>(match (exit_code, killed) {
            (Some(code), _) => Some(code),
            (None, true) => Some(-1),
            (None, false) => None,
        })
    };
    let ended = tokio::select! {
        ended = output => ended,
        never = input => match never {},
    };
    match ended {
        Ok(Some(code)) => Ok(code),
        Ok(None) => Err(ChannelError(
            "the connection closed before the command exited".into(),
        )),
        Err(error) => Err(ChannelError(format!("writing the output: {error}"))),
    }
}
