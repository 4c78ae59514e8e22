//! The user's terminal for interactive commands (`exec -i`, `server exec -i`): its size and type
//! for the remote pseudo-terminal, and raw mode while the remote side owns the screen (every
//! key, Ctrl-C included, goes to the remote program). Raw mode is undone when the guard drops,
//! also on errors.

use std::io::IsTerminal;

use crate::host::Terminal;

/// The local terminal as the remote side should see it; 80×24 when stdout is not a terminal.
pub fn describe() -> Terminal {
    let term = std::env::var("TERM").unwrap_or_else(|_| "xterm".to_string());
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the pointer we own; the result is checked.
    let known = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0
        && size.ws_col > 0
        && size.ws_row > 0;
    let (columns, rows) = if known {
        (u32::from(size.ws_col), u32::from(size.ws_row))
    } else {
        (80, 24)
    };
    Terminal {
        term,
        columns,
        rows,
    }
}

/// Raw mode on stdin while it lives (nothing when stdin is not a terminal).
pub struct RawMode {
    saved: Option<libc::termios>,
}

impl RawMode {
    /// Puts stdin in raw mode, if it is a terminal.
    pub fn enter() -> RawMode {
        if !std::io::stdin().is_terminal() {
            return RawMode { saved: None };
        }
        // SAFETY: an all-zero termios is a valid value for tcgetattr to overwrite.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: tcgetattr/tcsetattr read and write the termios we own; results are checked.
        unsafe {
            if libc::tcgetattr(libc::STDIN_FILENO, &mut saved) != 0 {
                return RawMode { saved: None };
            }
            let mut raw = saved;
            libc::cfmakeraw(&mut raw);
            if libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &raw) != 0 {
                return RawMode { saved: None };
            }
        }
        RawMode { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            // SAFETY: restores the settings read in `enter` on the same descriptor.
            unsafe {
                libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, saved);
            }
        }
    }
}
