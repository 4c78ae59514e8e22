//! When output is coloured: `--color auto|always|never`, and `NO_COLOR`. One choice for the
//! whole process, made before anything prints, read by every renderer and by the log lines.

use std::io::IsTerminal;
use std::sync::OnceLock;

/// `--color`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour on a terminal, unless `NO_COLOR` is set.
    #[default]
    Auto,
    /// Colour everywhere, also in files and pipes.
    Always,
    /// No colour.
    Never,
}

static CHOICE: OnceLock<ColorChoice> = OnceLock::new();

/// Records the process's choice (the first call wins).
pub fn choose(choice: ColorChoice) {
    let _ = CHOICE.set(choice);
}

/// Whether what goes to stdout is coloured.
pub fn stdout() -> bool {
    wanted(current(), std::io::stdout().is_terminal(), no_color())
}

/// Whether what goes to stderr (progress, log lines) is coloured.
pub fn stderr() -> bool {
    wanted(current(), std::io::stderr().is_terminal(), no_color())
}

fn current() -> ColorChoice {
    CHOICE.get().copied().unwrap_or_default()
}

/// `NO_COLOR` set to anything but the empty string (no-color.org).
fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty())
}

/// The decision: an explicit choice wins over `NO_COLOR`; `auto` needs a terminal.
fn wanted(choice: ColorChoice, terminal: bool, no_color: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal && !no_color,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_choice_wins_and_auto_needs_a_terminal_without_no_color() {
        for (terminal, no_color) in [(false, false), (false, true), (true, false), (true, true)] {
            assert!(wanted(ColorChoice::Always, terminal, no_color));
            assert!(!wanted(ColorChoice::Never, terminal, no_color));
            assert_eq!(
                wanted(ColorChoice::Auto, terminal, no_color),
                terminal && !no_color
            );
        }
    }
}
