//! `gantry init`: a commented starter `config/deploy.yml`, `.kamal/secrets`, and a
//! `.gitignore` entry so secrets are never committed. Refuses to overwrite anything.

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

/// The starter secrets file: names only, values read from the environment.
pub const SECRETS: &str = "# Secrets for config/deploy.yml, one KEY=value per line (dotenv).\n\
                           # Never commit this file: gantry init added it to .gitignore.\n\
                           # Values may come from the environment ($VAR) or a command ($(op read ...)).\n\
                           KAMAL_REGISTRY_PASSWORD=$KAMAL_REGISTRY_PASSWORD\n\
                           RAILS_MASTER_KEY=$RAILS_MASTER_KEY\n";

/// The `.gitignore` line that keeps every secrets file out of git.
pub const GITIGNORE_ENTRY: &str = ".kamal/secrets*";

/// Writes the starter files in the current directory.
pub fn run(global: &GlobalArgs, _args: &InitArgs) -> Result<Exit, miette::Report> {
    let written = write_starter(
        global.config_file(),
        Path::new(".kamal/secrets"),
        Path::new(".gitignore"),
    )?;
    for path in written {
        sayln!("created {}", path.display());
    }
    Ok(Exit::Success)
}

/// Writes the files; nothing is written when one of them already exists.
pub fn write_starter(
    config_file: &Path,
    secrets_file: &Path,
    gitignore: &Path,
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
        written.push(path.to_path_buf());
    }
    if add_gitignore_entry(gitignore)? {
        written.push(gitignore.to_path_buf());
    }
    Ok(written)
}

/// Appends the secrets entry unless it is already there; returns whether the file changed.
fn add_gitignore_entry(gitignore: &Path) -> Result<bool, miette::Report> {
    let current = match std::fs::read_to_string(gitignore) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => {
            return Err(error)
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot read {}", gitignore.display()));
        }
    };
    if current.lines().any(|line| line.trim() == GITIGNORE_ENTRY) {
        return Ok(false);
    }
    let mut updated = current;
    if !updated.is_empty() && !updated.ends_with('\n') {
        updated.push('\n');
    }
    updated.push_str(GITIGNORE_ENTRY);
    updated.push('\n');
    std::fs::write(gitignore, updated)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write {}", gitignore.display()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_once_then_refuses_and_appends_gitignore_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("config/deploy.yml");
        let secrets = dir.path().join(".kamal/secrets");
        let gitignore = dir.path().join(".gitignore");
        std::fs::write(&gitignore, "/target").expect("write");
        let written = write_starter(&config, &secrets, &gitignore).expect("first run");
        assert_eq!(written.len(), 3);
        assert_eq!(
            std::fs::read_to_string(&gitignore).expect("read"),
            "/target\n.kamal/secrets*\n"
        );
        let error = write_starter(&config, &secrets, &gitignore).expect_err("second run");
        assert!(error.to_string().contains("deploy.yml and"), "{error}");
        std::fs::remove_file(&config).expect("rm");
        std::fs::remove_file(&secrets).expect("rm");
        write_starter(&config, &secrets, &gitignore).expect("third run");
        assert_eq!(
            std::fs::read_to_string(&gitignore)
                .expect("read")
                .matches(GITIGNORE_ENTRY)
                .count(),
            1
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
