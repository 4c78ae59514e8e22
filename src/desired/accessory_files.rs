//! An accessory's `files:` and `directories:`, as `Kamal::Configuration::Accessory` reads them.
//!
//! - A file is uploaded byte for byte to `~/<accessory service><remote>`, then `chmod`ed (`755`
//!   unless `mode:` says otherwise) and, with `owner:`, `chown`ed, on every boot.
//! - A file whose name ends in `erb` is a template first: Kamal renders it with Ruby's `ENV`
//!   holding the deploying machine's environment with the accessory's env (clear values, then
//!   secrets) laid over it. gantry renders it with its own ERB renderer over the same lookup, so
//!   `<%= ENV["MYSQL_PASSWORD"] %>` in an init script gets the secret. The rendered bytes may hold
//!   secrets: they live in a [`SecretBytes`](crate::secret::SecretBytes) and plans show only
//!   that a file changed.
//! - A directory is `~/<accessory service>/<local>`, or `<local>` itself when it is absolute
//!   (`/var/lib/mysql`); `mode:` and `owner:` apply to it on every boot, and nothing when unset.
//!
//! Volumes for both follow `Kamal::Configuration::Volume`: relative host paths are written with
//! `$PWD`, which the diff replaces with the observed home directory.
//!
//! Pure: files are read through [`DesiredInputs`], the environment is a lookup.

use std::collections::BTreeMap;

use crate::config::{Accessory, AccessoryMount, render_text};
use crate::desired::{
    DesiredDirectory, DesiredError, DesiredFile, DesiredInputs, MissingSecret, SecretValues,
};
use crate::secret::SecretBytes;

/// Kamal's mode for an uploaded file without `mode:`.
const DEFAULT_FILE_MODE: u32 = 0o755;

/// What `files:` and `directories:` put on a host and mount into the container.
pub(super) struct AccessoryPaths {
    pub files: Vec<DesiredFile>,
    pub directories: Vec<DesiredDirectory>,
    /// `--volume` arguments, files first, in deploy.yml's order.
    pub binds: Vec<String>,
}

/// The files and directories of `accessory`.
pub(super) fn accessory_paths(
    accessory: &Accessory,
    secrets: &dyn SecretValues,
    inputs: &DesiredInputs<'_>,
) -> Result<AccessoryPaths, DesiredError> {
    let mut paths = AccessoryPaths {
        files: Vec::new(),
        directories: Vec::new(),
        binds: Vec::new(),
    };
    for mount in &accessory.files {
        // Kamal joins the service name and the remote path as strings: `/init.sql` lands in
        // `<service>/init.sql`.
        let host_path = format!(
            "{}/{}",
            accessory.service,
            mount.remote.trim_start_matches('/')
        );
        paths.binds.push(volume_arg(&host_path, mount));
        let read_error = |message: String| DesiredError::AccessoryFile {
            accessory: accessory.name.clone(),
            path: mount.local.clone(),
            message,
        };
        let mut contents = (inputs.read_local_file)(&mount.local).map_err(read_error)?;
        if mount.local.ends_with("erb") {
            let template = String::from_utf8(contents)
                .map_err(|_| read_error("a template must be UTF-8 text".to_string()))?;
            contents =
                render_template(accessory, &mount.local, &template, secrets, inputs)?.into_bytes();
        }
        let mode = match &mount.mode {
            Some(mode) => octal_mode(accessory, &mount.local, mode)?,
            None => DEFAULT_FILE_MODE,
        };
        paths.files.push(
            DesiredFile::new(host_path, SecretBytes::new(contents), mode)
                .owned_by(mount.owner.clone()),
        );
    }
    for mount in &accessory.directories {
        let host_path = if mount.local.starts_with('/') {
            mount.local.clone()
        } else {
            format!("{}/{}", accessory.service, mount.local)
        };
        paths.binds.push(volume_arg(&host_path, mount));
        let mode = match &mount.mode {
            Some(mode) => Some(octal_mode(accessory, &mount.local, mode)?),
            None => None,
        };
        paths.directories.push(DesiredDirectory {
            path: host_path,
            mode,
            owner: mount.owner.clone(),
        });
    }
    Ok(paths)
}

/// Kamal's `Volume#docker_args_string`: relative host paths are rooted at `$PWD`.
fn volume_arg(host_path: &str, mount: &AccessoryMount) -> String {
    let host = if host_path.starts_with('/') {
        host_path.to_string()
    } else {
        format!("$PWD/{host_path}")
    };
    match &mount.options {
        Some(options) if !options.is_empty() => format!("{host}:{}:{options}", mount.remote),
        _ => format!("{host}:{}", mount.remote),
    }
}

/// `mode:` as permission bits. Kamal hands the text to `chmod`, which also takes symbolic modes
/// (`u+x`); gantry writes files with a number and refuses what is not one.
fn octal_mode(accessory: &Accessory, path: &str, mode: &str) -> Result<u32, DesiredError> {
    let digits = mode.strip_prefix("0o").unwrap_or(mode);
    match u32::from_str_radix(digits, 8) {
        Ok(bits) if !digits.is_empty() && bits <= 0o7777 => Ok(bits),
        _ => Err(DesiredError::AccessoryMode {
            accessory: accessory.name.clone(),
            path: path.to_string(),
            mode: mode.to_string(),
        }),
    }
}

/// Renders an accessory's `.erb` file with the environment Kamal's template sees: the deploying
/// machine's, with the accessory's clear env and then its secrets laid over it.
fn render_template(
    accessory: &Accessory,
    path: &str,
    template: &str,
    secrets: &dyn SecretValues,
    inputs: &DesiredInputs<'_>,
) -> Result<String, DesiredError> {
    let mut env: BTreeMap<String, String> = accessory.env.clear.clone();
    for entry in &accessory.env.secrets {
        let value = secrets.secret(&entry.key).ok_or_else(|| MissingSecret {
            name: entry.name.clone(),
            key: entry.key.clone(),
        })?;
        env.insert(entry.name.clone(), value.expose().to_string());
    }
    let lookup = |name: &str| -> Option<String> {
        env.get(name).cloned().or_else(|| (inputs.local_env)(name))
    };
    render_text(template, &lookup).map_err(|error| DesiredError::AccessoryTemplate {
        accessory: accessory.name.clone(),
        path: path.to_string(),
        line: error.line,
        message: error.message,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::{AccessoryMount, SecretEnv};
    use crate::desired::{DesiredDirectory, DesiredError, DesiredInputs, Selection, build};
    use crate::secret::Secret;
    use crate::testing;

    fn mount(local: &str, remote: &str) -> AccessoryMount {
        AccessoryMount {
            local: local.into(),
            remote: remote.into(),
            mode: None,
            owner: None,
            options: None,
        }
    }

    /// The config of `testing::config` with one accessory `db` on h1 holding these mounts.
    fn config(
        files: Vec<AccessoryMount>,
        directories: Vec<AccessoryMount>,
    ) -> crate::config::Config {
        let mut config = testing::config(&["h1"]);
        let mut env = crate::config::Env::default();
        env.clear.insert("MYSQL_DATABASE".into(), "app".into());
        env.secrets.push(SecretEnv {
            name: "MYSQL_PASSWORD".into(),
            key: "DB_PASSWORD".into(),
        });
        config.accessories.push(crate::config::Accessory {
            name: "db".into(),
            service: "app-db".into(),
            image: "mysql:8".into(),
            registry: None,
            hosts: vec!["h1".into()],
            cmd: None,
            ports: Vec::new(),
            labels: Default::default(),
            options: Default::default(),
            restart_policy: "unless-stopped".into(),
            env,
            files,
            directories,
            volumes: Vec::new(),
            network: "kamal".into(),
            proxy: None,
        });
        config
    }

    fn desired_db(
        config: &crate::config::Config,
        local_env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<crate::desired::DesiredAccessory, DesiredError> {
        let read = |path: &str| -> Result<Vec<u8>, String> {
            match path {
                "init.sql.erb" => Ok(b"CREATE DATABASE <%= ENV[\"MYSQL_DATABASE\"] %>;\n\
                    -- <%= ENV[\"MYSQL_PASSWORD\"] %> by <%= ENV[\"DEPLOYER\"] %>\n"
                    .to_vec()),
                "bad.erb" => Ok(b"one\n<% 3.times do %>x<% end %>\n".to_vec()),
                "logo.png" => Ok(vec![0x89, b'P', b'N', b'G', 0xff, 0xfe, 0x00, b'\n']),
                other => Err(format!("{other}: No such file or directory")),
            }
        };
        let mut secrets = testing::secrets();
        secrets.insert("DB_PASSWORD".to_string(), Secret::new("pa$$word"));
        let inputs = DesiredInputs {
            version: "v1",
            selection: &Selection::default(),
            read_local_file: &read,
            local_env,
        };
        let desired = build(config, &secrets, &inputs)?;
        Ok(desired.hosts[0].accessories[0].clone())
    }

    #[test]
    fn erb_files_are_rendered_with_the_accessory_env_over_the_local_one() {
        let mut template = mount("init.sql.erb", "/docker-entrypoint-initdb.d/init.sql");
        template.mode = Some("0644".into());
        template.owner = Some("999:999".into());
        let config = config(
            vec![template, mount("logo.png", "/srv/logo.png")],
            Vec::new(),
        );
        let local_env = |name: &str| match name {
            "DEPLOYER" => Some("ci".to_string()),
            // The accessory's own value wins over the deploying machine's.
            "MYSQL_DATABASE" => Some("from-the-shell".to_string()),
            _ => None,
        };
        let db = desired_db(&config, &local_env).unwrap();
        let init = &db.files[0];
        assert_eq!(init.path, "app-db/docker-entrypoint-initdb.d/init.sql");
        assert_eq!(
            init.contents.expose(),
            b"CREATE DATABASE app;\n-- pa$$word by ci\n"
        );
        assert_eq!(init.mode, 0o644);
        assert_eq!(init.owner.as_deref(), Some("999:999"));
        assert_eq!(
            init.fingerprint,
            crate::desired::content_fingerprint(b"CREATE DATABASE app;\n-- pa$$word by ci\n")
        );
        let logo = &db.files[1];
        assert_eq!(
            logo.contents.expose(),
            [0x89, b'P', b'N', b'G', 0xff, 0xfe, 0x00, b'\n'],
            "a binary file is uploaded as it is"
        );
        assert_eq!(logo.mode, 0o755, "Kamal's default mode");
        assert_eq!(logo.owner, None);
        assert!(
            !format!("{db:?}").contains("pa$$word"),
            "the rendered file is never printed"
        );
    }

    #[test]
    fn directories_may_be_absolute_and_carry_mode_and_owner() {
        let mut absolute = mount("/var/lib/mysql", "/var/lib/mysql");
        absolute.mode = Some("750".into());
        absolute.owner = Some("mysql".into());
        let mut relative = mount("backups", "/backups");
        relative.options = Some("ro".into());
        let config = config(Vec::new(), vec![absolute, relative]);
        let db = desired_db(&config, &|_| None).unwrap();
        assert_eq!(
            db.directories,
            [
                DesiredDirectory {
                    path: "/var/lib/mysql".into(),
                    mode: Some(0o750),
                    owner: Some("mysql".into()),
                },
                DesiredDirectory {
                    path: "app-db/backups".into(),
                    mode: None,
                    owner: None,
                },
            ]
        );
        assert_eq!(
            db.container.binds,
            [
                "/var/lib/mysql:/var/lib/mysql",
                "$PWD/app-db/backups:/backups:ro"
            ]
        );
    }

    #[test]
    fn a_template_gantry_cannot_render_or_a_symbolic_mode_is_an_error_naming_it() {
        let config = config(vec![mount("bad.erb", "/x")], Vec::new());
        let error = desired_db(&config, &|_| None).unwrap_err().to_string();
        assert!(
            error.starts_with("accessory `db` template `bad.erb`, line 2: `3.times do` needs Ruby"),
            "{error}"
        );
        let mut symbolic = mount("logo.png", "/logo.png");
        symbolic.mode = Some("u+x".into());
        let error = desired_db(&config_with(symbolic), &|_| None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("mode `u+x` is not an octal mode"), "{error}");
        let error = desired_db(&config_with(mount("missing.txt", "/m")), &|_| None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("`missing.txt` could not be read"), "{error}");
    }

    fn config_with(file: AccessoryMount) -> crate::config::Config {
        config(vec![file], Vec::new())
    }
}
