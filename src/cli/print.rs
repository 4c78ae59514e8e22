//! `print!` and `eprint!` that never panic.
//!
//! The standard macros panic when the stream is gone (`gantry apply | head`, a terminal closed
//! under a pipe). A panic half-way through a run would leave the deploy lock held and hosts
//! half-done; a run whose output nobody reads anymore should instead finish, or roll back,
//! and release the lock. What could not be shown is in the journal and the audit log.

/// `write!` or `writeln!` (`how`) to `std::io::<stream>()`, ignoring a closed stream.
macro_rules! ignoring_closed {
    ($stream:ident, $how:ident, $($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = $how!(std::io::$stream().lock(), $($arg)*);
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
