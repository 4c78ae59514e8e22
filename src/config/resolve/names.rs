//! Names that travel further than the YAML: role and accessory names (parts of container names
//! and of file paths on the hosts), env variable names (lines of env files) and the SSH user
//! (substituted into `ProxyCommand`, which runs through `sh -c`).
//!
//! Each check accepts everything that works with Kamal and Docker and refuses what could only
//! fail later (Docker rejects such container names) or change meaning on the way (a newline in
//! an env variable's name starts a new line of the env file; a `;` in the user runs a second
//! command in `ProxyCommand`, CVE-2023-51385 in OpenSSH's terms). Errors are
//! `gantry::config::invalid_name`, pointing at the name.

use super::Resolver;
use crate::config::diagnostic::{Code, Problem};
use crate::config::source::Span;

/// Characters a shell gives meaning to, refused in the SSH user as OpenSSH refuses them.
const SHELL_METACHARACTERS: &[char] = &[
    ';', '|', '&', '$', '`', '\'', '"', '<', '>', '(', ')', '*', '?', '!', '#', '{', '}', '[', ']',
    '\\', '~',
];

/// Why `name` cannot be part of a container name, if it cannot: Docker allows
/// `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub(super) fn container_name_problem(name: &str) -> Option<&'static str> {
    let mut chars = name.chars();
    match chars.next() {
        None => Some("empty name"),
        Some(first) if !first.is_ascii_alphanumeric() => {
            Some("must start with a letter or a digit")
        }
        Some(_)
            if !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) =>
        {
            Some("only letters, digits, `_`, `.` and `-` are allowed")
        }
        Some(_) => None,
    }
}

/// Why `name` cannot name an env variable, if it cannot.
pub(super) fn env_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("empty name")
    } else if name.contains('=') {
        Some("`=` ends a variable's name")
    } else if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("spaces, line breaks and control characters are not allowed")
    } else {
        None
    }
}

/// Why `user` cannot be the SSH user, if it cannot.
pub(super) fn ssh_user_problem(user: &str) -> Option<&'static str> {
    if user.is_empty() {
        Some("empty user")
    } else if user.starts_with('-') {
        Some("a leading `-` would be read as an option")
    } else if user.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("spaces, line breaks and control characters are not allowed")
    } else if user.contains(SHELL_METACHARACTERS) || user.contains('@') {
        Some("shell metacharacters and `@` are not allowed in a user")
    } else {
        None
    }
}

/// Reports `problem` (from one of the checks above) for the `what` called `name` at `path`.
pub(super) fn report(
    r: &mut Resolver,
    path: &str,
    what: &str,
    name: &str,
    span: Span,
    problem: Option<&'static str>,
    help: &str,
) {
    let Some(reason) = problem else {
        return;
    };
    r.error(
        Problem::new(
            Code::InvalidName,
            format!("{path}: invalid {what} `{}`", name.escape_debug()),
        )
        .at(span, reason)
        .help(help.to_string()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_name_parts_follow_docker() {
        for good in ["web", "web_tokyo", "api.v2", "1st", "db-primary"] {
            assert_eq!(container_name_problem(good), None, "{good}");
        }
        for bad in [
            "", "-web", ".web", "_web", "web;id", "web$(id)", "web`id`", "web\nx", "a/b", "a b",
            "../x",
        ] {
            assert!(container_name_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn env_names_cannot_break_an_env_file_line() {
        for good in ["DATABASE_URL", "a.b", "x-y", "_PRIVATE", "Ünïcode"] {
            assert_eq!(env_name_problem(good), None, "{good}");
        }
        for bad in ["", "A=B", "A\nB", "A B", "A\tB", "A\0B", "A\rB"] {
            assert!(env_name_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn ssh_users_cannot_carry_shell_code() {
        for good in ["root", "deploy", "app-user", "svc_1", "first.last"] {
            assert_eq!(ssh_user_problem(good), None, "{good}");
        }
        for bad in [
            "",
            "-oProxyCommand=x",
            "x;id",
            "$(id)",
            "`id`",
            "a b",
            "a\nb",
            "a|b",
            "a'b",
            "root@evil",
        ] {
            assert!(ssh_user_problem(bad).is_some(), "{bad:?}");
        }
    }
}
