//! Text `gantry --help` adds after the commands: aliases, and the environment variables that
//! change what gantry does, so a user of the binary finds them without the source.

/// After the command list of `gantry --help`.
pub const AFTER_HELP: &str = "\
Aliases from deploy.yml (`aliases:`) run as commands too; an alias named like
plan, apply, drift, exec or logs runs instead of that command, as in Kamal.

Environment:
  VERSION                    the version to deploy without --version (git HEAD)
  GANTRY_SECRET_COMMANDS=0   refuse `$(...)` in secrets files, and shell
                             commands or Ruby in deploy.yml (as
                             --no-secret-commands)
  GANTRY_LOG                 log filter for diagnostics on stderr (`debug`,
                             `gantry=trace`, ...)
  GANTRY_STALE_LOCK_SECONDS  how long a run must be silent before its deploy
                             lock is taken for dead (default 60)
  SSH_AUTH_SOCK              the SSH agent whose keys are offered (unless
                             `ssh: keys_only: true`)
  XDG_STATE_HOME             where `drift --notify` remembers its last report
                             (default ~/.local/state)
  NO_COLOR                   no colour in any output (unless --color always)";
