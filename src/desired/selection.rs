//! `-h/--hosts` and `-r/--roles`: which hosts and roles a command works on.

/// Which hosts and roles a command works on (`-h/--hosts`, `-r/--roles`, with `*` wildcards).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    pub hosts: Vec<String>,
    pub roles: Vec<String>,
}

impl Selection {
    /// True when no filter is set.
    pub fn is_all(&self) -> bool {
        self.hosts.is_empty() && self.roles.is_empty()
    }

    /// Whether a host passes the `--hosts` filter.
    pub fn includes_host(&self, host: &str) -> bool {
        self.hosts.is_empty()
            || self
                .hosts
                .iter()
                .any(|pattern| wildcard_match(pattern, host))
    }

    /// Whether a role passes the `--roles` filter.
    pub fn includes_role(&self, role: &str) -> bool {
        self.roles.is_empty()
            || self
                .roles
                .iter()
                .any(|pattern| wildcard_match(pattern, role))
    }
}

/// Kamal's filter matching: `*` matches any run of characters, everything else is literal.
pub(super) fn wildcard_match(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .filter(|&index| rest.is_char_boundary(index))
                .any(|index| wildcard_match(tail, &rest[index..]))
        }
    }
}
