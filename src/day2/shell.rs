//! The command lines gantry runs through a host's shell, built from plain values (Kamal's
//! `commands/app/logging.rs`, `execution.rs`, `docker.rb`): `docker logs`, one-off containers
//! (`docker run --rm`), `docker exec` in the running container, Docker's installation, and the
//! list of apps on a host. Every argument gantry supplies is shell-quoted; the user's command
//! (`gantry exec CMD`, `server exec CMD`, `--grep-options`) is shell text on the host, as with
//! Kamal. Secrets never appear: one-off containers read the role's env file on the host.

use crate::host::{ContainerSpec, EnvValue};

/// `gantry logs` options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogsOptions {
    /// Keep streaming new lines (`--follow`).
    pub follow: bool,
    /// The last N lines (`--tail`).
    pub lines: Option<u64>,
    /// Only lines since this time or duration (`--since`, as Docker reads it).
    pub since: Option<String>,
    /// Only lines that match this basic regular expression (grep).
    pub grep: Option<String>,
    /// More grep options, as shell text (`-i`).
    pub grep_options: Option<String>,
    /// Docker's timestamp on every line.
    pub timestamps: bool,
}

impl LogsOptions {
    /// Kamal's default: 100 lines, unless following or filtering by time or pattern.
    pub fn with_default_lines(mut self) -> Self {
        if self.lines.is_none() && !self.follow && self.since.is_none() && self.grep.is_none() {
            self.lines = Some(100);
        }
        self
    }
}

fn quote(word: &str) -> String {
    shlex::try_quote(word)
        .map(|quoted| quoted.into_owned())
        // A NUL byte cannot be passed through a shell at all: drop it rather than the word.
        .unwrap_or_else(|_| format!("'{}'", word.replace('\0', "").replace('\'', r"'\''")))
}

fn join(words: &[String]) -> String {
    words
        .iter()
        .map(|word| quote(word))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `docker logs [--timestamps] [--since S] [--tail N] [--follow] <container> 2>&1 [| grep ...]`.
/// A following grep is line-buffered, so matches show as they come.
pub fn logs(container: &str, options: &LogsOptions) -> String {
    let mut words = vec!["docker".to_string(), "logs".to_string()];
    if options.timestamps {
        words.push("--timestamps".into());
    }
    if let Some(since) = &options.since {
        words.extend(["--since".to_string(), since.clone()]);
    }
    if let Some(lines) = options.lines {
        words.extend(["--tail".to_string(), lines.to_string()]);
    }
    if options.follow {
        words.push("--follow".into());
    }
    words.push(container.to_string());
    let mut command = format!("{} 2>&1", join(&words));
    if let Some(pattern) = &options.grep {
        command.push_str(" | grep ");
        if options.follow {
            command.push_str("--line-buffered ");
        }
        command.push_str(&quote(pattern));
        if let Some(extra) = &options.grep_options {
            command.push(' ');
            command.push_str(extra);
        }
    }
    command
}

/// How `exec` runs its command, as Kamal's `app exec` options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecOptions {
    /// With a terminal (`-it`).
    pub interactive: bool,
    /// A one-off container left running in the background (`--detach`, no `--rm`).
    pub detach: bool,
    /// More environment variables for the command (`-e KEY:VALUE`), after the role's; a key
    /// without a value is passed as `--env KEY`, as Kamal passes it.
    pub env: Vec<(String, Option<String>)>,
}

impl ExecOptions {
    /// `--env KEY=VALUE` (or `--env KEY`) for each extra variable.
    fn env_args(&self) -> Vec<String> {
        self.env
            .iter()
            .flat_map(|(key, value)| {
                let variable = match value {
                    Some(value) => format!("{key}={value}"),
                    None => key.clone(),
                };
                ["--env".to_string(), variable]
            })
            .collect()
    }
}

/// Kamal's `<prefix>-exec-<version>-<6 hex>`.
pub fn exec_container_name(container_prefix: &str, version: &str, hex: &str) -> String {
    format!("{container_prefix}-exec-{version}-{hex}")
}

/// A one-off container of a role: `docker run [-it] --rm --name N --network kamal --env-file F
/// --env K=V ... --volume ... <image> CMD`, with the role's clear env (gantry's own `KAMAL_*`
/// variables aside), its env file and volumes, from the role's desired container `spec`
/// (home directory already expanded).
pub fn run_one_off(
    spec: &ContainerSpec,
    name: &str,
    env_file: &str,
    command: &str,
    options: &ExecOptions,
) -> String {
    let mut words = vec!["docker".to_string(), "run".to_string()];
    if options.interactive {
        words.push("-it".into());
    }
    if options.detach {
        words.push("--detach".into());
    } else {
        words.push("--rm".into());
    }
    words.extend(["--name".to_string(), name.to_string()]);
    if let Some(network) = &spec.network {
        words.extend(["--network".to_string(), network.clone()]);
    }
    words.extend(["--env-file".to_string(), env_file.to_string()]);
    for (key, value) in &spec.env {
        if let EnvValue::Clear(value) = value
            && !DEPLOY_VARIABLES.contains(&key.as_str())
        {
            words.extend(["--env".to_string(), format!("{key}={value}")]);
        }
    }
    words.extend(options.env_args());
    for bind in &spec.binds {
        words.extend(["--volume".to_string(), bind.clone()]);
    }
    words.push(spec.image.clone());
    format!("{} {command}", join(&words))
}

/// The variables Kamal sets on a deployed container only, not on one-off ones.
const DEPLOY_VARIABLES: &[&str] = &["KAMAL_CONTAINER_NAME", "KAMAL_VERSION"];

/// `docker exec [-it] <container> CMD`: in the running container (`--reuse`).
pub fn exec_in_container(container: &str, command: &str, options: &ExecOptions) -> String {
    let mut words = vec!["docker".to_string(), "exec".to_string()];
    if options.interactive {
        words.push("-it".into());
    }
    words.extend(options.env_args());
    words.push(container.to_string());
    format!("{} {command}", join(&words))
}

/// What [`install_docker`] prints when Docker was already there.
pub const DOCKER_PRESENT: &str = "gantry: docker is installed";

/// Installs Docker when it is missing (Kamal's `server bootstrap`): as root or with passwordless
/// sudo, from the distribution (`apt-get install docker.io`) where apt exists, else with
/// get.docker.com; adds a non-root user to the `docker` group. Exits 3 when it cannot.
pub fn install_docker() -> String {
    [
        "set -e",
        &format!("if command -v docker >/dev/null 2>&1; then echo '{DOCKER_PRESENT}'; exit 0; fi"),
        "if [ \"$(id -u)\" -eq 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO='sudo -n'; \
         else echo 'Docker is missing and installing it needs root or passwordless sudo' >&2; exit 3; fi",
        "if command -v apt-get >/dev/null 2>&1; then \
         $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q; \
         $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io; \
         else (curl -fsSL https://get.docker.com || wget -O - https://get.docker.com || echo 'exit 1') | $SUDO sh; fi",
        "if [ \"$(id -u)\" -ne 0 ] && ! id -nG | grep -qw docker; then $SUDO usermod -aG docker \"$(id -un)\"; fi",
        "$SUDO systemctl enable --now docker >/dev/null 2>&1 || true",
        "echo 'gantry: docker installed'",
    ]
    .join("\n")
}

/// `docker container ls --all --filter label=...`: every container with the `labels`
/// (`key=value`), in any state, as Kamal's `app containers` lists them.
pub fn list_containers(labels: &[String]) -> String {
    docker_with_labels(&["container", "ls", "--all"], labels)
}

/// `docker ps --filter label=...`: the running containers with the `labels` (Kamal's `app
/// details`).
pub fn list_running_containers(labels: &[String]) -> String {
    docker_with_labels(&["ps"], labels)
}

/// `docker image ls <repository>`: the app's images on a host (Kamal's `app images`).
pub fn list_images(repository: &str) -> String {
    join(&[
        "docker".into(),
        "image".into(),
        "ls".into(),
        repository.into(),
    ])
}

fn docker_with_labels(subcommand: &[&str], labels: &[String]) -> String {
    let mut words = vec!["docker".to_string()];
    words.extend(subcommand.iter().map(|word| word.to_string()));
    for label in labels {
        words.extend(["--filter".to_string(), format!("label={label}")]);
    }
    join(&words)
}

/// The apps deployed on a host, one per line: the entries of `.kamal/apps`.
pub fn list_apps() -> String {
    "ls -1A .kamal/apps 2>/dev/null || true".to_string()
}

/// `docker login <server> -u <user> --password-stdin` (`registry login` on a host): the password
/// goes on the command's standard input, never on its command line.
pub fn registry_login(server: &str, username: &str) -> String {
    join(&[
        "docker".to_string(),
        "login".to_string(),
        server.to_string(),
        "-u".to_string(),
        username.to_string(),
        "--password-stdin".to_string(),
    ])
}

/// `docker logout <server>` (`registry logout` on a host).
pub fn registry_logout(server: &str) -> String {
    join(&[
        "docker".to_string(),
        "logout".to_string(),
        server.to_string(),
    ])
}
