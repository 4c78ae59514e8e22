//! How a command ended, in the words scripts and cron read: the one exit-code type.
//!
//! Every command returns an [`Exit`]; `main.rs` alone turns it into the process's status
//! (`specs/exit-codes.md` has the table). Keeping the numbers out of the handlers keeps them from
//! drifting apart: `2` means "changes" (`plan --detailed-exitcode`, `drift`) and nothing else, so
//! a mistyped flag in a crontab gets [`Exit::Usage`] and never reads as drift.

/// How a command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// It did what was asked (or there was nothing to do).
    Success,
    /// It failed, was refused (lock held, stale plan, a declined prompt) or left a host behind.
    Failed,
    /// `plan --detailed-exitcode` or `drift` found changes to apply.
    Changes,
    /// The command line did not parse (an unknown flag, a missing argument).
    Usage,
    /// A signal stopped the run: SIGINT (Ctrl-C), SIGTERM or SIGHUP, by its number.
    Interrupted { signal: i32 },
    /// The remote command of `exec` or `server exec` exited with this status (1 to 255).
    CommandExited(u8),
    /// A canary rollout's canaries failed and were rolled back; no other host was touched.
    CanaryFailed,
}

impl Exit {
    /// A remote command's exit status as this command's: 0 is success, anything out of a
    /// status's range is a failure.
    pub fn from_command_status(status: i64) -> Exit {
        match u8::try_from(status) {
            Ok(0) => Exit::Success,
            Ok(code) => Exit::CommandExited(code),
            Err(_) => Exit::Failed,
        }
    }

    /// Success when every one of a command's parts succeeded, else a failure.
    pub fn success_if(succeeded: bool) -> Exit {
        if succeeded {
            Exit::Success
        } else {
            Exit::Failed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remote_status_passes_through_and_an_impossible_one_is_a_failure() {
        assert_eq!(Exit::from_command_status(0), Exit::Success);
        assert_eq!(Exit::from_command_status(3), Exit::CommandExited(3));
        assert_eq!(Exit::from_command_status(-1), Exit::Failed);
        assert_eq!(Exit::from_command_status(300), Exit::Failed);
    }
}
