//! `gantry init`: the files `kamal init` writes, in gantry's words: a commented starter
//! `config/deploy.yml` with the same keys, a `.kamal/secrets` that references secrets (from the
//! environment, a command or a password manager) and holds none, so it can be committed, and
//! a sample of each hook in `.kamal/hooks/`. Refuses to overwrite anything.

use crate::session::Exit;
use std::path::{Path, PathBuf};

use clap::Args;
use miette::{IntoDiagnostic, WrapErr};

use super::GlobalArgs;

/// `gantry init` flags (none yet).
#[derive(Clone, Debug, Args)]
pub struct InitArgs {}

/// The starter configuration: loads as it is, and says what to change.
pub const DEPLOY_YML: &str = include_str!("init_deploy.yml");

/// The starter secrets file: every line a comment showing where a secret can come from.
pub const SECRETS: &str = "\
# Where the secrets that config/deploy.yml names come from (registry/password, env/secret,
# builder/secrets, accessories/*/env/secret), one KEY=... per line. Reference secrets here,
# never write their values: this file is meant to be committed.

# From the environment:
# KAMAL_REGISTRY_PASSWORD=$KAMAL_REGISTRY_PASSWORD

# From a command:
# RAILS_MASTER_KEY=$(cat config/master.key)

# From a password manager, fetched once for several secrets (adapters: 1password, bitwarden,
# lastpass, aws_secrets_manager, gcp, doppler, ...; see `gantry secrets fetch --help`):
# SECRETS=$(kamal secrets fetch --adapter 1password --account my-account --from MyVault/MyItem KAMAL_REGISTRY_PASSWORD RAILS_MASTER_KEY)
# KAMAL_REGISTRY_PASSWORD=$(kamal secrets extract KAMAL_REGISTRY_PASSWORD $SECRETS)
# RAILS_MASTER_KEY=$(kamal secrets extract RAILS_MASTER_KEY $SECRETS)
";

/// The sample hooks, by file name: what each hook is for, to rename and edit.
pub const HOOK_SAMPLES: [(&str, &str); 9] = [
    (
        "docker-setup.sample",
        include_str!("init_hooks/docker-setup.sample"),
    ),
    (
        "pre-connect.sample",
        include_str!("init_hooks/pre-connect.sample"),
    ),
    (
        "pre-build.sample",
        include_str!("init_hooks/pre-build.sample"),
    ),
    (
        "pre-deploy.sample",
        include_str!("init_hooks/pre-deploy.sample"),
    ),
    (
        "pre-app-boot.sample",
        include_str!("init_hooks/pre-app-boot.sample"),
    ),
    (
        "post-app-boot.sample",
        include_str!("init_hooks/post-app-boot.sample"),
    ),
    (
        "post-deploy.sample",
        include_str!("init_hooks/post-deploy.sample"),
    ),
    (
        "pre-proxy-reboot.sample",
        include_str!("init_hooks/pre-proxy-reboot.sample"),
    ),
    (
        "post-proxy-reboot.sample",
        include_str!("init_hooks/post-proxy-reboot.sample"),
    ),
];

/// Writes the starter files in the current directory.
pub fn run(global: &GlobalArgs, _args: &InitArgs) -> Result<Exit, miette::Report> {
    let written = write_starter(
        global.config_file(),
        Path::new(".kamal/secrets"),
        Path::new(".kamal/hooks"),
    )?;
    for path in written {
        sayln!("created {}", path.display());
    }
    Ok(Exit::Success)
}

/// Writes the files; nothing is written when the configuration or the secrets file already
/// exists. Hook samples already there are kept.
pub fn write_starter(
    config_file: &Path,
    secrets_file: &Path,
    hooks_dir: &Path,
) -> Result<Vec<PathBuf>, miette::Report> {
    let existing: Vec<String> = [config_file, secrets_file]
        .iter()
        .filter(|path| path.exists())
        .map(|path| path.display().to_string())
        .collect();
    if !existing.is_empty() {
        return Err(miette::miette!(
            code = "gantry::init::exists",
            help = "move or delete them first; gantry init never overwrites files",
            "{} already {}",
            existing.join(" and "),
            if existing.len() == 1 {
                "exists"
            } else {
                "exist"
            }
        ));
    }
    let mut written = Vec::new();
    for (path, contents) in [(config_file, DEPLOY_YML), (secrets_file, SECRETS)] {
        write_file(path, contents, false)?;
        written.push(path.to_path_buf());
    }
    for (name, contents) in HOOK_SAMPLES {
        let path = hooks_dir.join(name);
        if !path.exists() {
            write_file(&path, contents, true)?;
            written.push(path);
        }
    }
    Ok(written)
}

/// Writes `contents` to `path`, creating its directory; `executable` sets mode 0755.
fn write_file(path: &Path, contents: &str, executable: bool) -> Result<(), miette::Report> {
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, contents)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write {}", path.display()))?;
    if executable {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot make {} executable", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_once_then_refuses_and_keeps_hook_samples() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("config/deploy.yml");
        let secrets = dir.path().join(".kamal/secrets");
        let hooks = dir.path().join(".kamal/hooks");
        let written = write_starter(&config, &secrets, &hooks).expect("first run");
        assert_eq!(written.len(), 2 + HOOK_SAMPLES.len());
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(hooks.join("pre-deploy.sample"))
                .expect("sample")
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o755);
        let error = write_starter(&config, &secrets, &hooks).expect_err("second run");
        assert!(error.to_string().contains("deploy.yml and"), "{error}");
        std::fs::remove_file(&config).expect("rm");
        std::fs::remove_file(&secrets).expect("rm");
        let again = write_starter(&config, &secrets, &hooks).expect("third run");
        assert_eq!(again.len(), 2, "hook samples already there are kept");
    }

    #[test]
    fn the_secrets_file_holds_no_secret() {
        assert!(
            SECRETS
                .lines()
                .all(|line| line.is_empty() || line.starts_with('#')),
            "{SECRETS}"
        );
    }

    #[test]
    fn the_starter_config_loads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("deploy.yml");
        std::fs::write(&config, DEPLOY_YML).expect("write");
        let options = crate::config::LoadOptions {
            config_file: config,
            destination: None,
        };
        let loaded = crate::config::load_with_env(&options, &|_| None).expect("loads");
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert_eq!(loaded.config.service, "my-app");
    }
}
