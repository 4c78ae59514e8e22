//! Which hosts hold a run's deploy lock, defined once for every command.
//!
//! Kamal 2.11 takes its lock on `KAMAL.primary_host` (`cli/base.rb`, `acquire_lock`), which is
//! the first host `--hosts` selects, else the primary host of the first selected role (the
//! primary role when it is among them), else the configuration's primary host
//! (`commander/specifics.rb`). gantry takes the configuration's primary host always, so that
//! `gantry lock acquire` stops every run whatever it selects, and Kamal's host for the same
//! selection too, so that a gantry run and a Kamal run with the same `-h`/`-r` never overlap.
//! The primary host comes first: every run takes the locks in the same order.

use crate::config::Config;
use crate::desired::Selection;

/// The hosts whose deploy lock a run on `selection` takes, in the order it takes them.
pub fn lock_hosts(config: &Config, selection: &Selection) -> Vec<String> {
    let mut hosts: Vec<String> = config
        .primary_host()
        .map(str::to_string)
        .into_iter()
        .collect();
    if let Some(kamal_host) = kamal_lock_host(config, selection)
        && !hosts.contains(&kamal_host)
    {
        hosts.push(kamal_host);
    }
    hosts
}

/// The host Kamal 2.11 locks for the same selection.
fn kamal_lock_host(config: &Config, selection: &Selection) -> Option<String> {
    let only = |pattern: &String| Selection {
        hosts: vec![pattern.clone()],
        roles: vec![pattern.clone()],
    };
    if !selection.hosts.is_empty() {
        // Kamal's `filter_specific_items`: the matches of each pattern in turn, in deploy.yml's
        // order of hosts.
        let all_hosts = config.all_hosts();
        return selection.hosts.iter().find_map(|pattern| {
            all_hosts
                .iter()
                .find(|host| only(pattern).includes_host(host))
                .cloned()
        });
    }
    if !selection.roles.is_empty() {
        let mut roles = Vec::new();
        for pattern in &selection.roles {
            for role in &config.roles {
                if only(pattern).includes_role(&role.name) && !roles.contains(&role) {
                    roles.push(role);
                }
            }
        }
        let role = roles
            .iter()
            .find(|role| role.name == config.primary_role)
            .or(roles.first())?;
        return role.hosts.first().map(|host| host.host.clone());
    }
    config.primary_host().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LoadOptions, load_with_env};

    fn config() -> (tempfile::TempDir, Config) {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("deploy.yml");
        std::fs::write(
            &file,
            "service: app\nimage: app\nservers:\n  web: [h1, h2]\n  workers:\n    hosts: [h3, h2]\n\
             registry:\n  server: registry.test\n  username: u\n  password: p\n\
             accessories:\n  db:\n    image: postgres:16\n    host: h4\n",
        )
        .expect("write");
        let loaded = load_with_env(
            &LoadOptions {
                config_file: file,
                destination: None,
            },
            &|_| None,
        )
        .expect("loads");
        (dir, loaded.config)
    }

    fn selecting(hosts: &[&str], roles: &[&str]) -> Selection {
        Selection {
            hosts: hosts.iter().map(|host| host.to_string()).collect(),
            roles: roles.iter().map(|role| role.to_string()).collect(),
        }
    }

    #[test]
    fn the_primary_host_always_and_kamal_s_host_for_the_same_selection() {
        let (_dir, config) = config();
        assert_eq!(lock_hosts(&config, &selecting(&[], &[])), ["h1"]);
        // Kamal locks the first host `-h` names, in the order the patterns come.
        assert_eq!(lock_hosts(&config, &selecting(&["h2"], &[])), ["h1", "h2"]);
        assert_eq!(
            lock_hosts(&config, &selecting(&["h3", "h2"], &[])),
            ["h1", "h3"]
        );
        assert_eq!(lock_hosts(&config, &selecting(&["h*"], &[])), ["h1"]);
        assert_eq!(lock_hosts(&config, &selecting(&["h4"], &[])), ["h1", "h4"]);
        // With `-r`, the first host of the primary role if selected, else of the first role.
        assert_eq!(
            lock_hosts(&config, &selecting(&[], &["workers"])),
            ["h1", "h3"]
        );
        assert_eq!(
            lock_hosts(&config, &selecting(&[], &["workers", "web"])),
            ["h1"]
        );
        // `-h` wins over `-r`, as in Kamal.
        assert_eq!(
            lock_hosts(&config, &selecting(&["h2"], &["workers"])),
            ["h1", "h2"]
        );
    }
}
