//! The image build's output while `deploy` builds: on a terminal, one spinner line showing the
//! latest line of the build (a build of minutes is visibly alive without flooding the screen);
//! without one, every line, indented under `Building ...`, for CI logs. Lines arrive redacted
//! from the build; escape sequences in them are printed as text.

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where the build's lines go.
pub struct BuildOutput {
    shown: Shown,
}

enum Shown {
    Live(ProgressBar),
    Plain(Mutex<Box<dyn Write + Send>>),
}

impl BuildOutput {
    /// Lines to stderr: a spinner when `live` (a terminal), plain lines otherwise.
    pub fn start(live: bool) -> BuildOutput {
        if !live {
            return Self::plain(Box::new(std::io::stderr()));
        }
        let spinner = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        spinner.set_style(
            ProgressStyle::with_template("{spinner} {elapsed:>4} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        spinner.enable_steady_tick(Duration::from_millis(120));
        BuildOutput {
            shown: Shown::Live(spinner),
        }
    }

    /// Plain lines to `out`.
    fn plain(out: Box<dyn Write + Send>) -> BuildOutput {
        BuildOutput {
            shown: Shown::Plain(Mutex::new(out)),
        }
    }

    /// One line of the build's output.
    pub fn line(&self, text: &str) {
        let text = crate::printable::for_terminal(text);
        match &self.shown {
            Shown::Live(spinner) => spinner.set_message(text.into_owned()),
            Shown::Plain(out) => {
                let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
                let _ = writeln!(out, "  {text}");
                let _ = out.flush();
            }
        }
    }
}

impl Drop for BuildOutput {
    /// The spinner leaves the screen: `Pushed ...` follows in its place.
    fn drop(&mut self) {
        if let Shown::Live(spinner) = &self.shown {
            spinner.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::captured::Captured;

    #[test]
    fn without_a_terminal_every_line_is_printed_indented_and_escapes_as_text() {
        let captured = Captured::default();
        let output = BuildOutput::plain(Box::new(captured.clone()));
        output.line("Step 1/8 : FROM busybox");
        output.line("echo \u{1b}[2J");
        drop(output);
        let written = captured.text();
        assert_eq!(
            written, "  Step 1/8 : FROM busybox\n  echo \\u{1b}[2J\n",
            "{written:?}"
        );
    }
}
