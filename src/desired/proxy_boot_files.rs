//! The kamal-proxy container as Kamal boots it from a host's legacy boot files.
//!
//! Without `proxy.run` in deploy.yml, Kamal 2.11 boots the proxy from four files under
//! `.kamal/proxy/` on each host, written by `kamal proxy boot_config set` (deprecated since 2.10,
//! still honoured): `options` (docker run flags), `image`, `image_version` and `run_command`,
//! each falling back to a default when missing. It echoes
//! `"<options> <image>:<image_version> <run_command>"` into `xargs docker run --name kamal-proxy
//! ...`, so the files are words split as xargs splits them. A host whose files were set keeps its
//! ports, log size, image and metrics after gantry boots or reboots its proxy, exactly as after
//! Kamal's, and a proxy Kamal booted from them reads back as unchanged.

use serde::{Deserialize, Serialize};

use crate::config::{DockerOptionValue, DockerOptions};
use crate::docker_args::{self, DockerArgError, FlagArity};

/// The boot files read on one host; `None` where a file is missing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyBootFiles {
    pub options: Option<String>,
    pub image: Option<String>,
    pub image_version: Option<String>,
    pub run_command: Option<String>,
}

impl ProxyBootFiles {
    /// Whether any file is there: without one, Kamal's defaults apply, which are deploy.yml's
    /// `proxy.run` defaults.
    pub fn any(&self) -> bool {
        self.options.is_some()
            || self.image.is_some()
            || self.image_version.is_some()
            || self.run_command.is_some()
    }
}

/// What the boot files say to run, in the terms of `docker run`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootCommand {
    /// The flags of the options file, as an `options:` hash (repeated flags grouped).
    pub options: DockerOptions,
    /// `<image>:<image_version>`.
    pub image: String,
    /// The run command's words; empty for the image's own command.
    pub cmd: Vec<String>,
}

/// Why the boot files cannot be read as a `docker run` command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BootFilesError {
    #[error("unbalanced quotes in `.kamal/proxy/{0}`")]
    Quotes(&'static str),
    #[error("`.kamal/proxy/options`: `{0}` is not a docker run flag")]
    NotAFlag(String),
    #[error("`.kamal/proxy/options`: {0}")]
    Flag(#[source] DockerArgError),
}

/// What a missing boot file means, as Kamal's `boot_config` reads it.
pub mod boot_defaults {
    /// The `options` file's default.
    pub const OPTIONS: &str = "--publish 80:80 --publish 443:443 --log-opt max-size=10m";
    /// The `image` file's default.
    pub const IMAGE: &str = "basecamp/kamal-proxy";
    /// The `image_version` file's default.
    pub const IMAGE_VERSION: &str = crate::kamal_proxy::MINIMUM_VERSION;
}
use boot_defaults::{
    IMAGE as DEFAULT_IMAGE, IMAGE_VERSION as DEFAULT_IMAGE_VERSION, OPTIONS as DEFAULT_OPTIONS,
};

/// Reads the files as Kamal's `boot_config` line, each missing file replaced by its default.
pub fn boot_command(files: &ProxyBootFiles) -> Result<BootCommand, BootFilesError> {
    let text = |value: &Option<String>, default: &str| {
        value
            .as_deref()
            .map(str::trim)
            .unwrap_or(default)
            .to_string()
    };
    let options = text(&files.options, DEFAULT_OPTIONS);
    let image = format!(
        "{}:{}",
        text(&files.image, DEFAULT_IMAGE),
        text(&files.image_version, DEFAULT_IMAGE_VERSION)
    );
    let cmd =
        shlex::split(&text(&files.run_command, "")).ok_or(BootFilesError::Quotes("run_command"))?;
    let words = shlex::split(&options).ok_or(BootFilesError::Quotes("options"))?;
    Ok(BootCommand {
        options: flags_to_options(&words)?,
        image,
        cmd,
    })
}

/// `--publish 80:80 --log-opt=max-size=10m --init` → an `options:` hash in order, a flag given
/// several times becoming a list.
fn flags_to_options(words: &[String]) -> Result<DockerOptions, BootFilesError> {
    let mut options: Vec<(String, DockerOptionValue)> = Vec::new();
    let mut words = words.iter();
    while let Some(word) = words.next() {
        let Some(flag_text) = word.strip_prefix('-') else {
            return Err(BootFilesError::NotAFlag(word.clone()));
        };
        let (name, inline) = match flag_text.trim_start_matches('-').split_once('=') {
            Some((name, value)) => (name.to_string(), Some(value.to_string())),
            None => (flag_text.trim_start_matches('-').to_string(), None),
        };
        let flag = docker_args::lookup(&name)
            .ok_or_else(|| BootFilesError::Flag(DockerArgError::Unsupported(name.clone())))?;
        let value = match (flag.arity, inline) {
            (_, Some(value)) => value,
            (FlagArity::Switch, None) => {
                options.push((flag.name.to_string(), DockerOptionValue::Flag(true)));
                continue;
            }
            (_, None) => words
                .next()
                .cloned()
                .ok_or_else(|| BootFilesError::NotAFlag(word.clone()))?,
        };
        match options.iter_mut().find(|(key, _)| key == flag.name) {
            Some((_, DockerOptionValue::Values(values))) => values.push(value),
            Some((_, existing @ DockerOptionValue::Value(_))) => {
                let DockerOptionValue::Value(first) = existing.clone() else {
                    continue;
                };
                *existing = DockerOptionValue::Values(vec![first, value]);
            }
            _ => options.push((flag.name.to_string(), DockerOptionValue::Value(value))),
        }
    }
    Ok(DockerOptions(options))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(
        options: Option<&str>,
        image: Option<&str>,
        version: Option<&str>,
        run: Option<&str>,
    ) -> ProxyBootFiles {
        ProxyBootFiles {
            options: options.map(str::to_string),
            image: image.map(str::to_string),
            image_version: version.map(str::to_string),
            run_command: run.map(str::to_string),
        }
    }

    #[test]
    fn missing_files_are_kamals_defaults() {
        let command = boot_command(&ProxyBootFiles::default()).expect("reads");
        assert_eq!(command.image, "basecamp/kamal-proxy:v0.9.2");
        assert!(command.cmd.is_empty());
        assert_eq!(
            command.options,
            DockerOptions(vec![
                (
                    "publish".into(),
                    DockerOptionValue::Values(vec!["80:80".into(), "443:443".into()])
                ),
                (
                    "log-opt".into(),
                    DockerOptionValue::Value("max-size=10m".into())
                ),
            ])
        );
    }

    #[test]
    fn files_written_by_boot_config_set_are_read_as_xargs_reads_them() {
        // What `kamal proxy boot_config set --http-port 8080 --https-port 8443
        // --log-max-size 20m --metrics-port 9090 --registry r.example.com --image-version v0.9.3`
        // leaves on a host.
        let command = boot_command(&files(
            Some("--publish 8080:80 --publish 8443:443 --log-opt max-size=20m --expose=9090\n"),
            Some("r.example.com/basecamp/kamal-proxy"),
            Some("v0.9.3"),
            Some("kamal-proxy run --metrics-port \"9090\""),
        ))
        .expect("reads");
        assert_eq!(command.image, "r.example.com/basecamp/kamal-proxy:v0.9.3");
        assert_eq!(
            command.cmd,
            ["kamal-proxy", "run", "--metrics-port", "9090"]
        );
        assert_eq!(
            command.options.0,
            vec![
                (
                    "publish".to_string(),
                    DockerOptionValue::Values(vec!["8080:80".into(), "8443:443".into()])
                ),
                (
                    "log-opt".into(),
                    DockerOptionValue::Value("max-size=20m".into())
                ),
                ("expose".into(), DockerOptionValue::Value("9090".into())),
            ]
        );
    }

    #[test]
    fn words_that_are_not_flags_are_refused() {
        assert_eq!(
            boot_command(&files(Some("80:80"), None, None, None)),
            Err(BootFilesError::NotAFlag("80:80".into()))
        );
        assert_eq!(
            boot_command(&files(Some("--publish \"80:80"), None, None, None)),
            Err(BootFilesError::Quotes("options"))
        );
    }
}
