//! `gantry proxy boot|reboot|start|stop|restart|remove|boot_config|logs|details`: kamal-proxy
//! on the selected hosts.
//!
//! `boot` starts the proxy where it is missing or stopped; `start`, `stop` and `restart` (stop,
//! then start, under one lock) work on the existing container; `remove` takes the container,
//! its image and `.kamal/proxy`, and, as Kamal's, only with `--force` where `.kamal/apps` still
//! lists an app. `boot_config set|get|reset` writes, prints or removes Kamal's boot files
//! (`.kamal/proxy/options`, `image`, `image_version`, `run_command`), which the next boot or
//! reboot reads when deploy.yml has no `proxy.run`. `reboot` replaces it everywhere
//! (a new image or `proxy.run` options take effect; routes survive in the `kamal-proxy-config`
//! volume), which drops traffic for a moment: it asks first (`-y` skips; without a terminal it
//! refuses unless `-y`) and runs the `pre-proxy-reboot` and `post-proxy-reboot` hooks around it.
//! Both take the deploy lock and run through the plan and the executor.

use crate::session::{Exit, Question};

use clap::{Args, Subcommand};

use super::GlobalArgs;
use super::locked::Day2;
use super::logs::connected;
use super::logs::{LogFlags, container_logs};
use super::session::{TargetArgs, runtime};
use crate::day2::proxy;
use crate::day2::proxy_boot_config::{self, BootConfigOptions};
use crate::desired::ProxyBootFiles;
use crate::naming::{PROXY_BOOT_FILES, PROXY_CONTAINER};

/// `gantry proxy` subcommands.
#[derive(Clone, Debug, Args)]
pub struct ProxyArgs {
    #[command(subcommand)]
    pub command: ProxyCommand,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// What to do with kamal-proxy.
#[derive(Clone, Debug, Subcommand)]
pub enum ProxyCommand {
    /// Boot kamal-proxy where it is missing, start it where it is stopped.
    Boot,
    /// Replace kamal-proxy on every host (drops traffic for a moment).
    Reboot {
        /// Do not ask for confirmation.
        #[arg(short = 'y', long = "yes", alias = "confirmed")]
        yes: bool,
        /// Reboot one host after the other, each between its own pre- and post-proxy-reboot
        /// hooks, instead of all at once.
        #[arg(long)]
        rolling: bool,
    },
    /// Start the existing kamal-proxy container.
    Start,
    /// Stop the kamal-proxy container (routes stay for the next start).
    Stop,
    /// Stop, then start, under one lock.
    Restart,
    /// Remove kamal-proxy's container, image and `.kamal/proxy`.
    Remove {
        /// Remove it even where apps are still installed.
        #[arg(long)]
        force: bool,
    },
    /// Set, show or reset Kamal's proxy boot files on the hosts (deprecated by Kamal in favour
    /// of `proxy.run` in deploy.yml, still honoured).
    #[command(name = "boot_config")]
    BootConfig(BootConfigArgs),
    /// Show kamal-proxy's logs.
    Logs {
        #[command(flatten)]
        flags: LogFlags,
    },
    /// Show kamal-proxy and its routes on each host.
    Details,
}

/// `boot_config`'s action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BootConfigAction {
    /// Write the files from the options (a default removes its file).
    Set,
    /// Print what a boot would run, per host.
    Get,
    /// Remove the files.
    Reset,
}

/// `gantry proxy boot_config` arguments: Kamal's options of `set`.
#[derive(Clone, Debug, Args)]
pub struct BootConfigArgs {
    pub action: BootConfigAction,
    /// Publish the proxy ports on the host (the default).
    #[arg(long, overrides_with = "no_publish")]
    pub publish: bool,
    /// Do not publish the proxy ports.
    #[arg(long)]
    pub no_publish: bool,
    /// Host IP address to bind HTTP/HTTPS traffic to (repeatable; all interfaces by default).
    #[arg(long, value_name = "IP")]
    pub publish_host_ip: Vec<String>,
    /// HTTP port to publish on the host.
    #[arg(long, value_name = "N", default_value_t = 80)]
    pub http_port: u16,
    /// HTTPS port to publish on the host.
    #[arg(long, value_name = "N", default_value_t = 443)]
    pub https_port: u16,
    /// Max size of proxy logs.
    #[arg(long, default_value = "10m")]
    pub log_max_size: String,
    /// Registry to use for the proxy image.
    #[arg(long)]
    pub registry: Option<String>,
    /// Repository for the proxy image.
    #[arg(long)]
    pub repository: Option<String>,
    /// Version of the proxy to run.
    #[arg(long, alias = "image_version")]
    pub image_version: Option<String>,
    /// Port to report prometheus metrics on.
    #[arg(long, value_name = "N")]
    pub metrics_port: Option<u16>,
    /// Run the proxy in debug mode.
    #[arg(long, overrides_with = "no_debug")]
    pub debug: bool,
    #[arg(long, hide = true)]
    pub no_debug: bool,
    /// Docker options to pass to the proxy container (`option=value option2=value2`).
    #[arg(long, num_args = 1.., value_name = "OPTION")]
    pub docker_options: Vec<String>,
}

impl BootConfigArgs {
    fn options(&self) -> BootConfigOptions {
        BootConfigOptions {
            publish: !self.no_publish,
            publish_host_ips: self.publish_host_ip.clone(),
            http_port: self.http_port,
            https_port: self.https_port,
            log_max_size: self.log_max_size.clone(),
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            image_version: self.image_version.clone(),
            metrics_port: self.metrics_port,
            debug: self.debug && !self.no_debug,
            docker_options: self.docker_options.clone(),
        }
    }
}

/// Runs a proxy subcommand.
pub fn run(global: &GlobalArgs, args: &ProxyArgs) -> Result<Exit, miette::Report> {
    let word = match &args.command {
        ProxyCommand::Boot => "boot",
        ProxyCommand::Reboot { .. } => "reboot",
        ProxyCommand::Start => "start",
        ProxyCommand::Stop => "stop",
        ProxyCommand::Restart => "restart",
        ProxyCommand::Remove { .. } => "remove",
        ProxyCommand::BootConfig(_) => "boot_config",
        ProxyCommand::Logs { .. } => "logs",
        ProxyCommand::Details => "details",
    };
    let mut day2 = Day2::load(global, &args.target, "proxy", Some(word))?;
    day2.desired.hosts.retain(|host| host.proxy.is_some());
    runtime()?.block_on(async {
        match &args.command {
            ProxyCommand::BootConfig(boot_config) => run_boot_config(&day2, boot_config).await,
            ProxyCommand::Start | ProxyCommand::Stop | ProxyCommand::Restart => {
                let session = day2.start(false)?;
                let connections = day2.connect_for(&session).await?;
                session
                    .with_lock(&connections, async {
                        let label = &day2.identity.command;
                        if !matches!(args.command, ProxyCommand::Start) {
                            let observed = day2.observe(&connections).await;
                            let changes = proxy::stop(&day2.desired, &observed, label);
                            let stopped = session
                                .execute_changes(changes, &observed, &connections, None)
                                .await?;
                            if stopped != Exit::Success
                                || matches!(args.command, ProxyCommand::Stop)
                            {
                                return Ok(stopped);
                            }
                        }
                        let observed = day2.observe(&connections).await;
                        let changes = proxy::start(&day2.desired, &observed, label);
                        session
                            .execute_changes(changes, &observed, &connections, None)
                            .await
                    })
                    .await
            }
            ProxyCommand::Remove { force } => {
                let session = day2.start(false)?;
                let connections = day2.connect_for(&session).await?;
                session
                    .with_lock(&connections, async {
                        let apps = super::remove::apps_on_hosts(&day2, &connections).await;
                        if !*force && apps.values().any(|apps| !apps.is_empty()) {
                            sayln!(
                                "Not removing the proxy, as other apps are installed, ignore this check with gantry proxy remove --force"
                            );
                            return Ok(Exit::Success);
                        }
                        let observed = day2.observe(&connections).await;
                        let changes =
                            proxy::remove(&day2.desired, &observed, &day2.identity.command);
                        session
                            .execute_changes(changes, &observed, &connections, None)
                            .await
                    })
                    .await
            }
            ProxyCommand::Details => {
                let connections = day2.connect().await?;
                let observed = day2.observe(&connections).await;
                say!("{}", proxy::details(&day2.desired, &observed));
                Ok(Exit::Success)
            }
            ProxyCommand::Logs { flags } => {
                let connections = day2.connect().await?;
                let containers = day2
                    .desired
                    .hosts
                    .iter()
                    .map(|host| (host.name.clone(), PROXY_CONTAINER.to_string()))
                    .collect();
                Ok(container_logs(&connections, containers, &flags.options()).await)
            }
            ProxyCommand::Boot => {
                let session = day2.start(false)?;
                let connections = day2.connect_for(&session).await?;
                session.with_lock(&connections, async {
                    let observed = day2.observe(&connections).await;
                    let changes = proxy::boot(&day2.desired, &observed);
                    session.execute_changes(changes, &observed, &connections, None).await
                })
                .await
            }
            ProxyCommand::Reboot { yes, rolling } => {
                let session = day2.start(*yes)?;
                let connections = day2.connect_for(&session).await?;
                session.with_lock(&connections, async {
                    let observed = day2.observe(&connections).await;
                    let changes = proxy::reboot(&day2.desired, &observed, &day2.identity.command);
                    // Asked before the hooks run: a "no" changes nothing at all.
                    let question = Question::Destructive(
                        "This reboots kamal-proxy: each host drops traffic for a moment. Are you sure?".to_string(),
                    );
                    if let Some(exit) = session.ask(&question).await? {
                        return Ok(exit);
                    }
                    if !*rolling {
                        day2.hooks.run("pre-proxy-reboot", true, None).await?;
                        let code = session
                            .execute_changes(changes, &observed, &connections, None)
                            .await?;
                        if code == Exit::Success {
                            day2.hooks.run("post-proxy-reboot", true, None).await?;
                        }
                        return Ok(code);
                    }
                    // Host by host, as Kamal's `--rolling`: a host that fails stops the rest.
                    for host_changes in changes.hosts {
                        let host = vec![host_changes.host.clone()];
                        day2.hooks.run_on("pre-proxy-reboot", true, &host).await?;
                        let one = crate::diff::Changes {
                            hosts: vec![host_changes],
                        };
                        let code = session.execute_changes(one, &observed, &connections, None).await?;
                        if code != Exit::Success {
                            return Ok(code);
                        }
                        day2.hooks.run_on("post-proxy-reboot", true, &host).await?;
                    }
                    Ok(Exit::Success)
                })
                .await
            }
        }
    })
}

/// `proxy boot_config set|get|reset` on every selected proxy host, as Kamal's: no lock (the
/// proxy is not touched), `get` prints `Host <host>: <what a boot runs>`.
async fn run_boot_config(day2: &Day2, args: &BootConfigArgs) -> Result<Exit, miette::Report> {
    let writes = match args.action {
        BootConfigAction::Set => Some(
            proxy_boot_config::files(&args.options())
                .map_err(|error| miette::miette!("{error}"))?,
        ),
        BootConfigAction::Reset => Some(ProxyBootFiles::default()),
        BootConfigAction::Get => None,
    };
    tellln!(
        "The proxy boot_config command is deprecated - set the config in deploy.yml at proxy/run instead"
    );
    let connections = day2.connect().await?;
    let mut failed = false;
    for host in &day2.desired.hosts {
        let result = match connected(&connections, &host.name) {
            Ok(connection) => match &writes {
                Some(files) => write_boot_files(connection.as_ref(), files).await,
                None => read_boot_files(connection.as_ref()).await.map(|files| {
                    sayln!("Host {}: {}", host.name, proxy_boot_config::line(&files));
                }),
            },
            Err(error) => Err(error),
        };
        if let Err(error) = result {
            failed = true;
            tellln!("{}: {error}", host.name);
        }
    }
    Ok(if failed { Exit::Failed } else { Exit::Success })
}

/// Writes each file that has contents and removes the others.
async fn write_boot_files(
    host: &dyn crate::host::Host,
    files: &ProxyBootFiles,
) -> Result<(), crate::host::HostError> {
    for (path, contents) in proxy_boot_config::writes(files) {
        match contents {
            Some(contents) => host.write_file(path, contents.as_bytes(), 0o644).await?,
            None => host.remove_path(path).await?,
        }
    }
    Ok(())
}

async fn read_boot_files(
    host: &dyn crate::host::Host,
) -> Result<ProxyBootFiles, crate::host::HostError> {
    let paths: Vec<String> = PROXY_BOOT_FILES
        .iter()
        .map(|path| path.to_string())
        .collect();
    let mut read = host.read_files(&paths).await?;
    let mut text = |path: &str| {
        read.remove(path)
            .flatten()
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    };
    Ok(ProxyBootFiles {
        options: text(PROXY_BOOT_FILES[0]),
        image: text(PROXY_BOOT_FILES[1]),
        image_version: text(PROXY_BOOT_FILES[2]),
        run_command: text(PROXY_BOOT_FILES[3]),
    })
}
