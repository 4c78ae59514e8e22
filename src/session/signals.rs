//! Ctrl-C, SIGTERM and SIGHUP during a run: the first stops the run where it is safe to (nothing
//! new starts, what is half done rolls back, the lock is released); a second Ctrl-C ends the
//! process at once.
//!
//! The handlers are installed when the session starts, before the lock is taken, so no moment
//! holding the lock (a prompt, a wait, planning) is left to the default action, which would end
//! the process with the lock held.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;

use super::exit::Exit;
use super::ui::{Notice, Ui};

/// The signal that interrupted this process's run (0 before any).
static INTERRUPTED_BY: AtomicI32 = AtomicI32::new(0);

/// How a run ended by a signal ends: by that signal's number, Ctrl-C's before any arrived.
pub fn interrupted() -> Exit {
    match INTERRUPTED_BY.load(Ordering::SeqCst) {
        0 => Exit::Interrupted {
            signal: libc::SIGINT,
        },
        signal => Exit::Interrupted { signal },
    }
}

/// Installs the handlers now (inside a tokio runtime) and cancels `cancel` at the first signal.
pub fn watch(cancel: CancellationToken, ui: Arc<dyn Ui>) {
    // Registered here, not when the task first runs: a signal right after this returns is
    // already ours.
    let mut interrupt = signal(SignalKind::interrupt()).ok();
    let mut terminate = signal(SignalKind::terminate()).ok();
    let mut hangup = signal(SignalKind::hangup()).ok();
    tokio::spawn(async move {
        let signal = tokio::select! {
            _ = received(interrupt.as_mut()) => libc::SIGINT,
            _ = received(terminate.as_mut()) => libc::SIGTERM,
            _ = received(hangup.as_mut()) => libc::SIGHUP,
        };
        INTERRUPTED_BY.store(signal, Ordering::SeqCst);
        ui.notice(Notice::Interrupted);
        cancel.cancel();
        received(interrupt.as_mut()).await;
        ui.notice(Notice::QuittingAtOnce);
        end_by_interrupt();
    });
}

/// Ends the process as Ctrl-C ends a program that does not catch it, so the shell sees what
/// stopped it.
fn end_by_interrupt() -> ! {
    // SAFETY: restoring the default disposition and raising a signal touch no Rust state; with
    // SIG_DFL, SIGINT terminates the process before `raise` returns.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        libc::raise(libc::SIGINT);
    }
    std::process::abort()
}

/// Waits for a signal whose handler could be installed; forever otherwise.
async fn received(stream: Option<&mut Signal>) {
    match stream {
        Some(stream) => {
            stream.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}
