//! Commands on a host over SSH session channels.
//!
//! sshd allows 10 sessions per connection (`MaxSessions`); gantry opens at most 8 at a time per
//! host, so a burst of commands waits for a free session instead of failing with
//! "no more sessions". Input (a file's contents, which may be secret) travels on the channel's
//! stdin, never on the command line. Output is bounded: each stream keeps its last
//! [`OUTPUT_CAP`] bytes (the tail is what explains a failure), so a runaway command cannot
//! exhaust memory, and the caller learns how much was cut.

use std::sync::Arc;
use std::time::Duration;

use russh::client::{Handle, Msg};
use russh::{Channel, ChannelMsg, ChannelOpenFailure};
use tokio::sync::Semaphore;

use crate::host::CommandOutput;
use crate::host::ssh::connect::ClientHandler;

/// Sessions open at once per host: headroom under OpenSSH's default `MaxSessions 10`.
pub const MAX_SESSIONS: usize = 8;

/// The most output kept per stream.
pub const OUTPUT_CAP: usize = 8 * 1024 * 1024;

/// A command's output and how many leading bytes of it were dropped to stay under the cap.
#[derive(Debug)]
pub struct Ran {
    /// Exit code and the kept tails of stdout and stderr.
    pub output: CommandOutput,
    /// Bytes cut from the start of stdout and stderr together; 0 when everything was kept.
    pub cut: usize,
}

/// The last `cap` bytes of a stream.
pub(super) struct Tail {
    bytes: Vec<u8>,
    cap: usize,
    cut: usize,
}

impl Tail {
    pub(super) fn new(cap: usize) -> Self {
        Tail {
            bytes: Vec::new(),
            cap,
            cut: 0,
        }
    }

    pub(super) fn push(&mut self, data: &[u8]) {
        self.bytes.extend_from_slice(data);
        // Trim in batches, not per chunk: amortised linear in the output's size.
        if self.bytes.len() > self.cap.saturating_mul(2) {
            self.trim();
        }
    }

    fn trim(&mut self) {
        let excess = self.bytes.len().saturating_sub(self.cap);
        self.bytes.drain(..excess);
        self.cut += excess;
    }

    pub(super) fn finish(mut self) -> (String, usize) {
        self.trim();
        (String::from_utf8_lossy(&self.bytes).into_owned(), self.cut)
    }
}

/// Opens a session channel, retrying for up to about 1.5 s while sshd refuses it for want of a
/// free session: sshd counts a session against `MaxSessions` until it has seen the client's
/// close, so a session opened just after another ended can find no slot for a moment (a busy
/// host shows it). Any other refusal is returned at once.
pub async fn open_session(handle: &Handle<ClientHandler>) -> Result<Channel<Msg>, russh::Error> {
    const RETRIES: usize = 8;
    let mut delay = Duration::from_millis(10);
    for _ in 0..RETRIES {
        match handle.channel_open_session().await {
            Err(russh::Error::ChannelOpenFailure(
                ChannelOpenFailure::ConnectFailed | ChannelOpenFailure::ResourceShortage,
            )) => {
                tracing::debug!(?delay, "sshd refused a session; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(500));
            }
            other => return other,
        }
    }
    handle.channel_open_session().await
}

/// Why a command could not run (as opposed to running and failing).
#[derive(Debug)]
pub struct ChannelError(pub String);

/// Runs `command` through the user's shell with optional stdin; waits for it to exit.
pub async fn run(
    handle: &Handle<ClientHandler>,
    sessions: &Arc<Semaphore>,
    command: &str,
    stdin: Option<&[u8]>,
) -> Result<Ran, ChannelError> {
    let _permit = sessions
        .acquire()
        .await
        .map_err(|error| ChannelError(error.to_string()))?;
    let mut channel = open_session(handle)
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

    let mut stdout = Tail::new(OUTPUT_CAP);
    let mut stderr = Tail::new(OUTPUT_CAP);
    let mut exit_code: Option<i64> = None;
    let mut signal: Option<String> = None;
    while let Some(message) = channel.wait().await {
        match message {
            ChannelMsg::Data { data } => stdout.push(&data),
            ChannelMsg::ExtendedData { data, ext: 1 } => stderr.push(&data),
            ChannelMsg::ExitStatus { exit_status } => exit_code = Some(i64::from(exit_status)),
            ChannelMsg::ExitSignal { signal_name, .. } => signal = Some(format!("{signal_name:?}")),
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    let (stdout, stdout_cut) = stdout.finish();
    let (mut stderr, stderr_cut) = stderr.finish();
    let exit_code = match (exit_code, signal) {
        (Some(code), _) => code,
        // Killed by a signal: a failure, and said so where errors look.
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
    Ok(Ran {
        output: CommandOutput {
            exit_code,
            stdout,
            stderr,
        },
        cut: stdout_cut + stderr_cut,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tail_keeps_the_last_bytes_and_counts_the_rest() {
        let mut tail = Tail::new(4);
        for chunk in [&b"abc"[..], b"defg", b"hij"] {
            tail.push(chunk);
        }
        assert_eq!(tail.finish(), ("ghij".to_string(), 6));
        let mut short = Tail::new(4);
        short.push(b"ok");
        assert_eq!(short.finish(), ("ok".to_string(), 0));
    }
}
