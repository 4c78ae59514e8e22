//! Log lines on stderr, and the two guards that keep secret values out of them at every level.
//!
//! `-v` and `-vv` raise gantry's own level only: dependencies stay at `warn`, because bollard's
//! and hyper's debug output carries whole request and response bodies (a container's create
//! request holds its environment, an inspect answer its `Config.Env`) and russh's carries
//! channel data. Whatever passes the filter (also a hand-written `GANTRY_LOG`) is written
//! through the [`Redactor`] of the secrets the command loaded, in the raw, JSON-escaped and
//! Debug-escaped forms a log line may quote them in.

use std::io::Write;
use std::sync::{LazyLock, PoisonError, RwLock};

use tracing_subscriber::fmt::MakeWriter;

use crate::secret::Redactor;

/// The secret values every log line is scrubbed of, once the command has loaded them.
static LOG_REDACTOR: LazyLock<RwLock<Redactor>> =
    LazyLock::new(|| RwLock::new(Redactor::default()));

/// Log lines go to stderr: warnings by default, more of gantry's own with `-v`, errors only
/// with `-q`; `GANTRY_LOG` (an env filter) overrides.
pub(super) fn init(quiet: bool, verbose: u8) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GANTRY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter_directives(quiet, verbose)));
    // A second initialisation (tests running several commands in one process) is harmless.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(RedactingStderr)
        .with_ansi(super::color::stderr())
        .try_init();
}

/// Scrubs `redactor`'s values (and their escaped forms) out of every later log line.
pub(crate) fn redact_secrets(redactor: &Redactor) {
    let escaped = redactor.with_escaped_forms();
    *LOG_REDACTOR.write().unwrap_or_else(PoisonError::into_inner) = escaped;
}

/// The env filter for `-q`/`-v`: `-v` raises the `gantry` target only.
fn filter_directives(quiet: bool, verbose: u8) -> String {
    let level = match (quiet, verbose) {
        (true, _) => return "error".to_string(),
        (false, 0) => return "warn".to_string(),
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    format!("warn,gantry={level}")
}

/// Hands the formatter one buffer per event, written to stderr redacted when it is dropped.
struct RedactingStderr;

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = RedactedEvent;

    fn make_writer(&'a self) -> RedactedEvent {
        RedactedEvent(Vec::new())
    }
}

/// One event's text: a secret split across two `write` calls is still found whole.
struct RedactedEvent(Vec<u8>);

impl Write for RedactedEvent {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for RedactedEvent {
    fn drop(&mut self) {
        let text = LOG_REDACTOR
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .redact(&String::from_utf8_lossy(&self.0));
        // Nowhere to report a failed write to stderr.
        let _ = std::io::stderr().write_all(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_raises_only_gantrys_own_level() {
        assert_eq!(filter_directives(true, 0), "error");
        assert_eq!(filter_directives(false, 0), "warn");
        assert_eq!(filter_directives(false, 1), "warn,gantry=info");
        assert_eq!(filter_directives(false, 2), "warn,gantry=debug");
        assert_eq!(filter_directives(false, 5), "warn,gantry=trace");
    }
}
