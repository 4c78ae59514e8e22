//! Commands on a host over SSH session channels.
//!
//! sshd allows 10 sessions per connection (`MaxSessions`); gantry opens at most 8 at a time per
//! host, so a burst of commands waits for a free session instead of failing with
//! "no more sessions". Input (a file's contents, which may be secret) travels on the channel's
//! stdin, never on the command line. Output is capped: a runaway command cannot exhaust memory.

use std::sync::Arc;

use russh::ChannelMsg;
use russh::client::Handle;
use tokio::sync::Semaphore;

use crate::host::CommandOutput;
use crate::host::ssh::connect::ClientHandler;

/// Sessions open at once per host: headroom under OpenSSH's default `MaxSessions 10`.
pub const MAX_SESSIONS: usize = 8;

/// The most output kept per stream.
const OUTPUT_CAP: usize = 4 * 1024 * 1024;

/// Why a command could not run (as opposed to running and failing).
#[derive(Debug)]
pub struct ChannelError(pub String);

/// Runs `command` through the user's shell with optional stdin; waits for it to exit.
pub async fn run(
    handle: &Handle<ClientHandler>,
    sessions: &Arc<Semaphore>,
    command: &str,
    stdin: Option<&[u8]>,
) -> Result<CommandOutput, ChannelError> {
    let _permit = sessions
        .acquire()
        .await
        .map_err(|error| ChannelError(error.to_string()))?;
    let mut channel = handle
        .channel_open_session()
        .await
        .map_err(|error| ChannelError(format!("opening a session: {error}")))?;
    channel
        .exec(true, command)
        .await
        .map_err(|error| ChannelError(format!("starting the command: {error}")))?;
    if let Some(input) = stdin {
        channel
            .data(input)
            .await
            .map_err(|error| ChannelError(format!("sending input: {error}")))?;
    }
    channel
        .eof()
        .await
        .map_err(|error| ChannelError(format!("closing input: {error}")))?;

    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let mut exit_code: Option<i64> = None;
    let mut signal: Option<String> = None;
    while let Some(message) = channel.wait().await {
        match message {
            ChannelMsg::Data { data } => append_capped(&mut stdout, &data),
            ChannelMsg::ExtendedData { data, ext: 1 } => append_capped(&mut stderr, &data),
            ChannelMsg::ExitStatus { exit_status } => exit_code = Some(i64::from(exit_status)),
            ChannelMsg::ExitSignal { signal_name, .. } => signal = Some(format!("{signal_name:?}")),
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    let mut stderr = String::from_utf8_lossy(&stderr).into_owned();
    let exit_code = match (exit_code, signal) {
        (Some(code), _) => code,
        (None, Some(signal)) => {
            stderr.push_str(&format!("\nkilled by signal {signal}"));
            -1
        }
        (None, None) => {
            return Err(ChannelError(
                "the connection closed before the command exited".into(),
            ));
        }
    };
    Ok(CommandOutput {
        exit_code,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr,
    })
}

fn append_capped(buffer: &mut Vec<u8>, data: &[u8]) {
    let room = OUTPUT_CAP.saturating_sub(buffer.len());
    buffer.extend_from_slice(&data[..data.len().min(room)]);
}
