//! Output of commands that run on several hosts at once (`logs`, `exec`, `server exec`): every
//! line goes out whole, prefixed with the host (and role) it came from, so lines of different
//! hosts never mix within a line.

use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Where prefixed lines go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// An [`tokio::io::AsyncWrite`] that writes each complete line as `<prefix>  <line>`.
pub struct PrefixedLines {
    prefix: String,
    partial: Vec<u8>,
    stream: Stream,
}

impl PrefixedLines {
    /// Lines prefixed with `prefix`, to `stream`.
    pub fn new(prefix: impl Into<String>, stream: Stream) -> Self {
        PrefixedLines {
            prefix: prefix.into(),
            partial: Vec::new(),
            stream,
        }
    }

    fn emit(&self, line: &[u8]) {
        let mut text = Vec::with_capacity(self.prefix.len() + line.len() + 3);
        text.extend_from_slice(self.prefix.as_bytes());
        text.extend_from_slice(b"  ");
        let line = String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line));
        text.extend_from_slice(crate::printable::for_terminal(&line).as_bytes());
        text.push(b'\n');
        // One write per line under the stream's lock: lines of other hosts never cut in.
        let _ = match self.stream {
            Stream::Stdout => std::io::stdout().lock().write_all(&text),
            Stream::Stderr => std::io::stderr().lock().write_all(&text),
        };
    }

    fn emit_complete_lines(&mut self) {
        for line in take_lines(&mut self.partial) {
            self.emit(&line);
        }
    }

    fn finish(&mut self) {
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            self.emit(&rest);
        }
    }
}

impl tokio::io::AsyncWrite for PrefixedLines {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.partial.extend_from_slice(buf);
        self.emit_complete_lines();
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.finish();
        Poll::Ready(Ok(()))
    }
}

impl Drop for PrefixedLines {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The longest line kept whole: a host that sends output without line breaks is shown in pieces
/// of this size rather than held in memory until it ends.
const MAX_LINE_BYTES: usize = 64 * 1024;

/// Takes the complete lines (without their `\n`) out of `partial`, and pieces of
/// [`MAX_LINE_BYTES`] of a line longer than that; what is left is shorter than the bound.
fn take_lines(partial: &mut Vec<u8>) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    loop {
        match partial
            .iter()
            .take(MAX_LINE_BYTES + 1)
            .position(|byte| *byte == b'\n')
        {
            Some(end) => {
                let mut line: Vec<u8> = partial.drain(..=end).collect();
                line.pop();
                lines.push(line);
            }
            None if partial.len() >= MAX_LINE_BYTES => {
                lines.push(partial.drain(..MAX_LINE_BYTES).collect());
            }
            None => return lines,
        }
    }
}

/// The prefix of a host's lines: the host, and the role when the host runs several.
pub fn prefix(host: &str, role: &str, roles_on_host: usize) -> String {
    if roles_on_host > 1 {
        format!("{host} {role}")
    } else {
        host.to_string()
    }
}

/// One command to run on one host, its output prefixed.
pub struct Job {
    pub host: std::sync::Arc<dyn crate::host::Host>,
    pub command: String,
    pub prefix: String,
}

/// Runs every job at once, each streaming prefixed lines; returns each job's exit code (or
/// why it could not run), in job order.
pub async fn run_prefixed(jobs: Vec<Job>) -> Vec<Result<i64, crate::host::HostError>> {
    futures_util::future::join_all(jobs.into_iter().map(|job| async move {
        let io = crate::host::Attached {
            stdin: None,
            stdout: Box::new(PrefixedLines::new(job.prefix.clone(), Stream::Stdout)),
            stderr: Box::new(PrefixedLines::new(job.prefix, Stream::Stderr)),
            terminal: None,
        };
        job.host.run_attached(&job.command, io).await
    }))
    .await
}

/// Runs every target's job at once (see [`run_prefixed`]); a target whose job could not be
/// prepared (no connection, no container) is a failure of its own. Results in target order,
/// labelled for [`summarize`].
pub async fn run_labelled(
    targets: Vec<(String, Result<Job, crate::host::HostError>)>,
) -> Vec<(String, Result<i64, crate::host::HostError>)> {
    let mut labels = Vec::new();
    let mut jobs = Vec::new();
    let mut results: Vec<(String, Option<Result<i64, crate::host::HostError>>)> = Vec::new();
    for (label, job) in targets {
        match job {
            Ok(job) => {
                labels.push(results.len());
                jobs.push(job);
                results.push((label, None));
            }
            Err(error) => results.push((label, Some(Err(error)))),
        }
    }
    for (index, ran) in labels.into_iter().zip(run_prefixed(jobs).await) {
        results[index].1 = Some(ran);
    }
    results
        .into_iter()
        .filter_map(|(label, result)| result.map(|result| (label, result)))
        .collect()
}

/// Runs `command` on `host` with the user's terminal attached (raw mode, a remote
/// pseudo-terminal) and returns its exit code.
pub async fn run_interactive(
    host: &dyn crate::host::Host,
    command: &str,
) -> Result<i64, crate::host::HostError> {
    let terminal = super::terminal::describe();
    let _raw = super::terminal::RawMode::enter();
    let io = crate::host::Attached {
        stdin: Some(Box::new(stdin_reader())),
        stdout: Box::new(Direct(Stream::Stdout)),
        stderr: Box::new(Direct(Stream::Stderr)),
        terminal: Some(terminal),
    };
    host.run_attached(command, io).await
}

/// The process's standard input as an async reader: a thread copies it into a pipe (the thread
/// is left behind when the command ends first; it never holds the runtime up).
fn stdin_reader() -> tokio::io::DuplexStream {
    let (reader, mut writer) = tokio::io::duplex(64 * 1024);
    let runtime = tokio::runtime::Handle::current();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut buffer = [0u8; 4096];
        let mut input = std::io::stdin();
        loop {
            let read = match input.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(read) => read,
            };
            let sent = runtime.block_on(tokio::io::AsyncWriteExt::write_all(
                &mut writer,
                &buffer[..read],
            ));
            if sent.is_err() {
                break;
            }
        }
    });
    reader
}

/// Bytes straight to stdout or stderr, flushed at once (a terminal's output).
struct Direct(Stream);

impl tokio::io::AsyncWrite for Direct {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let written = match self.0 {
            Stream::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(buf).and_then(|()| out.flush())
            }
            Stream::Stderr => std::io::stderr().lock().write_all(buf),
        };
        Poll::Ready(written.map(|()| buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The exit code of several jobs: 0 when all succeeded, else 1 (the failures are reported).
pub fn summarize(
    results: &[(String, Result<i64, crate::host::HostError>)],
) -> crate::session::Exit {
    let mut failed = false;
    for (label, result) in results {
        match result {
            Ok(0) => {}
            Ok(code) => {
                failed = true;
                tellln!("{label}: exited with {code}");
            }
            Err(error) => {
                failed = true;
                tellln!("{label}: {error}");
            }
        }
    }
    if failed {
        crate::session::Exit::Failed
    } else {
        crate::session::Exit::Success
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_taken_whole_and_endless_lines_in_bounded_pieces() {
        let mut partial = b"one\ntwo\nthr".to_vec();
        assert_eq!(
            take_lines(&mut partial),
            vec![b"one".to_vec(), b"two".to_vec()]
        );
        assert_eq!(partial, b"thr");

        // A host that never sends a line break (#15): memory stays under the bound.
        let mut partial = vec![b'x'; 3 * MAX_LINE_BYTES + 10];
        let pieces = take_lines(&mut partial);
        assert_eq!(pieces.len(), 3);
        assert!(pieces.iter().all(|piece| piece.len() == MAX_LINE_BYTES));
        assert_eq!(partial.len(), 10);
    }
}
