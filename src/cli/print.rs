//! `print!` and `eprint!` that never panic.
//!
//! The standard macros panic when the stream is gone (`gantry apply | head`, a terminal closed
//! under a pipe). A panic half-way through a run would leave the deploy lock held and hosts
//! half-done; a run whose output nobody reads anymore should instead finish, or roll back,
//! and release the lock. What could not be shown is in the journal and the audit log.
//!
//! Everything printed passes through [`crate::printable::for_terminal`]: printed text often
//! holds text from hosts (container names, lock details, daemon errors), and no escape sequence
//! of a host reaches the user's terminal.

/// `write!` or `writeln!` (`how`) to `std::io::<stream>()`, terminal-safe, ignoring a closed
/// stream.
macro_rules! ignoring_closed {
    ($stream:ident, $how:ident, $($arg:tt)*) => {{
        use std::io::Write as _;
        let mut text = String::new();
        let _ = {
            use std::fmt::Write as _;
            $how!(text, $($arg)*)
        };
        let _ = std::io::$stream()
            .lock()
            .write_all($crate::printable::for_terminal(&text).as_bytes());
    }};
}

/// `print!` to stdout, ignoring a closed stream.
macro_rules! say {
    ($($arg:tt)*) => { ignoring_closed!(stdout, write, $($arg)*) };
}

/// `println!` to stdout, ignoring a closed stream.
macro_rules! sayln {
    ($($arg:tt)*) => { ignoring_closed!(stdout, writeln, $($arg)*) };
}

/// `eprint!` to stderr, ignoring a closed stream.
macro_rules! tell {
    ($($arg:tt)*) => { ignoring_closed!(stderr, write, $($arg)*) };
}

/// `eprintln!` to stderr, ignoring a closed stream.
macro_rules! tellln {
    ($($arg:tt)*) => { ignoring_closed!(stderr, writeln, $($arg)*) };
}
