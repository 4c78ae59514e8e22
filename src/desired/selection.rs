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

    /// Kamal's `-p/--primary`, which wins over `--hosts`: only the first host of the first
    /// selected role in deploy.yml's order, or of the primary role when no role is selected.
    /// An unknown role keeps the selection as it is (the role check reports it).
    pub fn primary_only(mut self, config: &crate::config::Config) -> Selection {
        let role = if self.roles.is_empty() {
            config.role(&config.primary_role)
        } else {
            config
                .roles
                .iter()
                .find(|role| self.includes_role(&role.name))
        };
        if let Some(host) = role.and_then(|role| role.hosts.first()) {
            self.hosts = vec![host.host.clone()];
        }
        self
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    #[test]
    fn primary_wins_over_hosts_and_follows_the_selected_role() {
        let config = testing::config(&["h1", "h2"]);
        let primary = |hosts: &[&str], roles: &[&str]| {
            Selection {
                hosts: hosts.iter().map(|host| host.to_string()).collect(),
                roles: roles.iter().map(|role| role.to_string()).collect(),
            }
            .primary_only(&config)
            .hosts
        };
        assert_eq!(primary(&[], &[]), ["h1"]);
        assert_eq!(primary(&["h2"], &[]), ["h1"]);
        assert_eq!(primary(&[], &["w*"]), ["h1"]);
        assert_eq!(primary(&["h2"], &["no-such-role"]), ["h2"]);
    }
}
