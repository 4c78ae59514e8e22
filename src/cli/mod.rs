//! The command line: clap definitions, one handler per command, and the rendering of plans,
//! reports and prompts (`ui.rs`); no business logic. The run of a command that changes hosts is
//! [`crate::session`]'s.
//!
//! [`Cli`] holds the global flags ([`GlobalArgs`]) and one [`Command`] variant per subcommand;
//! each handler lives in its own file and turns arguments into plain options for the stages.
//! [`run`] dispatches and returns how the command ended ([`Exit`]); `main` renders errors and
//! turns the [`Exit`] into the process's status. Adding a command
//! means one enum variant and one handler file. Only commands that work are listed.
//!
//! A word that is no command is looked up in deploy.yml's `aliases:` and replaced by the gantry
//! command line it names (`console: app exec -i --reuse "bin/rails console"`). Kamal's commands
//! always win (deploy.yml cannot name an alias after one); gantry's own commands that Kamal does
//! not have (`logs`, `exec`, ...) give way to an alias of the same name, because `kamal logs`
//! runs the alias too. An alias cannot name another alias.

#[macro_use]
mod print;

mod accessory;
mod app;
mod apply;
mod audit;
mod build;
mod canary;
mod color;
mod completions;
mod config;
mod deploy;
mod details;
mod docs;
mod drift;
mod exec;
mod help;
mod hooking;
mod init;
mod kamal_view;
mod lock;
mod locked;
mod logging;
mod logs;
mod output;
mod plan;
mod proxy_cmd;
mod prune;
mod registry;
mod remove;
mod rollback;
mod secrets;
mod server;
mod session;
mod setup;
mod show;
mod terminal;
mod tree;
mod ui;
mod version;

use crate::session::Exit;
use std::path::{Path, PathBuf};

use clap::{ArgAction, Args, Parser, Subcommand};

use crate::config::{ConfigDiagnostic, LoadOptions, Loaded, SecretsOptions};

/// gantry: plan and apply Kamal 2 deployments.
#[derive(Debug, Parser)]
#[command(
    name = "gantry",
    about,
    after_help = help::AFTER_HELP,
    allow_external_subcommands = true,
    // `-h` is `--hosts`, as in Kamal; help is `--help`.
    disable_help_flag = true
)]
pub struct Cli {
    /// Print help.
    #[arg(long, action = ArgAction::Help, global = true)]
    help: Option<bool>,
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Where deploy.yml is when `-c` does not say.
const DEFAULT_CONFIG_FILE: &str = "config/deploy.yml";

/// Flags every command accepts.
#[derive(Clone, Debug, Args)]
pub struct GlobalArgs {
    /// Path to the configuration file. `plan` takes several, one per service sharing the
    /// hosts.
    #[arg(
        short = 'c',
        long = "config-file",
        global = true,
        default_value = DEFAULT_CONFIG_FILE,
        action = ArgAction::Append
    )]
    pub config_files: Vec<PathBuf>,
    /// Destination: also read deploy.DESTINATION.yml and .kamal/secrets.DESTINATION.
    #[arg(short = 'd', long, global = true)]
    pub destination: Option<String>,
    /// More output (repeat for more detail).
    #[arg(short = 'v', long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short = 'q', long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Refuse `$(...)` in secrets files, and shell commands and Ruby in deploy.yml's ERB (also
    /// GANTRY_SECRET_COMMANDS=0).
    #[arg(long, global = true)]
    pub no_secret_commands: bool,
    /// Do not run hooks from .kamal/hooks.
    #[arg(short = 'H', long, global = true)]
    pub skip_hooks: bool,
    /// When to colour output: auto (a terminal, without NO_COLOR), always or never.
    #[arg(long, global = true, value_enum, default_value_t = color::ColorChoice::Auto)]
    pub color: color::ColorChoice,
    /// The app version to work on (default: $VERSION, else git HEAD), as Kamal's `--version`;
    /// gantry's own version is `gantry version`.
    #[arg(long = "version", value_name = "VERSION", global = true)]
    pub version: Option<String>,
    /// Only the primary host (the first host of the primary role).
    #[arg(short = 'p', long, global = true)]
    pub primary: bool,
    /// Only these hosts (comma-separated, `*` wildcards).
    #[arg(short = 'h', long = "hosts", value_delimiter = ',', global = true)]
    pub hosts: Vec<String>,
    /// Only these roles (comma-separated, `*` wildcards).
    #[arg(short = 'r', long = "roles", value_delimiter = ',', global = true)]
    pub roles: Vec<String>,
}

/// Kamal's options of `upgrade` and `accessory upgrade`, so its command lines parse; the
/// command only says there is nothing to upgrade.
#[derive(Clone, Debug, Args)]
pub struct UpgradeArgs {
    /// Kamal: upgrade one host after the other.
    #[arg(long)]
    pub rolling: bool,
    /// Kamal: do not ask for confirmation.
    #[arg(short = 'y', long = "confirmed")]
    pub confirmed: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what `apply` would change on every host (nothing changes).
    Plan(plan::PlanArgs),
    /// Converge every host to deploy.yml, or run a saved plan.
    Apply(apply::ApplyCommand),
    /// Build and push the image, then apply that version.
    Deploy(deploy::DeployArgs),
    /// The same as `deploy`: gantry converges, so there is no bootstrap step to skip.
    Redeploy(deploy::DeployArgs),
    /// Go back to an earlier version still kept on the hosts (default: the previous one).
    Rollback(rollback::RollbackArgs),
    /// Report hosts that no longer match deploy.yml (for cron: exit 2 on drift).
    Drift(drift::DriftArgs),
    /// Show what runs where: containers, versions, routes, the proxy.
    Details(details::DetailsArgs),
    /// Show, take or release the deploy lock.
    Lock(lock::LockArgs),
    /// Show the resolved configuration (secrets appear by name only).
    Config(config::ConfigArgs),
    /// Show the reference of a deploy.yml section, or list the sections.
    Docs(docs::DocsArgs),
    /// Create a starter config/deploy.yml and .kamal/secrets.
    Init(init::InitArgs),
    /// Install Docker where missing, run the docker-setup hook, then apply.
    Setup(setup::SetupArgs),
    /// Start, stop or restart the app; exec and logs as below.
    App(app::AppArgs),
    /// Run a command in a new container of the app, or in the running one (--reuse).
    Exec(exec::ExecArgs),
    /// Show the app's logs from every host (-f to follow).
    Logs(logs::LogsArgs),
    /// Boot, reboot, start, stop, restart, remove, exec in or inspect accessories.
    Accessory(accessory::AccessoryArgs),
    /// Build and push the app image, pull it on the hosts, manage the builder.
    Build(build::BuildArgs),
    /// Boot, reboot, start, stop, remove or inspect kamal-proxy; its boot files.
    Proxy(proxy_cmd::ProxyArgs),
    /// Log in to or out of the registry here and on the hosts, or run the local registry.
    Registry(registry::RegistryArgs),
    /// Remove stopped containers beyond retain_containers and unused images.
    Prune(prune::PruneArgs),
    /// Remove the app, its accessories and their data from every host.
    Remove(remove::RemoveArgs),
    /// Run a shell command on every host.
    Server(server::ServerArgs),
    /// Fetch secrets from a password manager, extract one, or print the secrets files.
    Secrets(secrets::SecretsArgs),
    /// Show the audit log (the last 50 lines) from each host.
    Audit(audit::AuditArgs),
    /// Print a tree of all available commands.
    Tree,
    /// Kamal 1 to 2 upgrade: nothing to do, gantry reads Kamal 2 only.
    Upgrade(UpgradeArgs),
    /// Show gantry's version.
    Version,
    /// Print a completion script for bash, zsh, fish or powershell.
    Completions(completions::CompletionsArgs),
    /// Print gantry's man page (roff).
    Man(completions::ManArgs),
    /// Print a plan saved with `plan -o FILE` (text, or --json), without contacting hosts.
    Show(show::ShowArgs),
    /// An alias from deploy.yml.
    #[command(external_subcommand)]
    Alias(Vec<String>),
}

impl GlobalArgs {
    /// The configuration file (the first `-c`; only `plan` reads more).
    pub fn config_file(&self) -> &Path {
        self.config_files
            .first()
            .map_or(Path::new(DEFAULT_CONFIG_FILE), PathBuf::as_path)
    }

    /// The same flags for one of several `-c` files.
    pub fn for_config_file(&self, config_file: &Path) -> GlobalArgs {
        GlobalArgs {
            config_files: vec![config_file.to_path_buf()],
            ..self.clone()
        }
    }

    /// What to load, from `-c` and `-d`.
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            config_file: self.config_file().to_path_buf(),
            destination: self.destination.clone(),
        }
    }

    /// Whether secrets files may run commands: not with `--no-secret-commands`, nor with
    /// `GANTRY_SECRET_COMMANDS=0`.
    pub fn secrets_options(&self) -> SecretsOptions {
        let disabled_by_env =
            std::env::var("GANTRY_SECRET_COMMANDS").is_ok_and(|value| value.trim() == "0");
        SecretsOptions {
            allow_commands: !self.no_secret_commands && !disabled_by_env,
        }
    }

    /// Loads the configuration and shows its warnings on stderr (unless `-q`). ERB may run
    /// shell commands and Ruby under the same switch as secrets' `$(...)`.
    pub fn load(&self) -> Result<Loaded, miette::Report> {
        let loaded = self.load_silently()?;
        if !self.quiet {
            show_warnings(&loaded.warnings);
        }
        Ok(loaded)
    }

    /// Loads the configuration without showing anything, and keeps it for the rest of the
    /// process: looking for an alias and running the command read deploy.yml once, so its ERB
    /// commands run once per invocation.
    fn load_silently(&self) -> Result<Loaded, miette::Report> {
        let options = self.load_options();
        if let Some((loaded_options, loaded)) = LOADED.get()
            && *loaded_options == options
        {
            return Ok(loaded.clone());
        }
        let loaded = crate::config::load_with(
            &options,
            &|name| std::env::var(name).ok(),
            self.secrets_options().allow_commands,
        )?;
        let _ = LOADED.set((options, loaded.clone()));
        Ok(loaded)
    }
}

/// The first configuration this process loaded, and the files it came from (an alias may name
/// another destination).
static LOADED: std::sync::OnceLock<(crate::config::LoadOptions, Loaded)> =
    std::sync::OnceLock::new();

fn show_warnings(warnings: &[ConfigDiagnostic]) {
    for warning in warnings {
        tellln!("{:?}", miette::Report::new(warning.clone()));
    }
}

/// Parses the process's arguments. On `--help` or `--version`, prints them and says the
/// command is done ([`Exit::Success`]); on a usage error, prints clap's message and returns
/// [`Exit::Usage`], which no command uses for anything else.
pub fn parse() -> Result<Cli, Exit> {
    Cli::try_parse().map_err(|error| {
        let _ = error.print();
        if error.use_stderr() {
            Exit::Usage
        } else {
            Exit::Success
        }
    })
}

impl Command {
    /// The name of a gantry command that Kamal does not have, which an alias in deploy.yml may
    /// take over (`kamal logs` runs the user's `logs` alias; Kamal has no `logs` command).
    fn name_an_alias_may_take(&self) -> Option<&'static str> {
        match self {
            Command::Plan(_) => Some("plan"),
            Command::Apply(_) => Some("apply"),
            Command::Drift(_) => Some("drift"),
            Command::Exec(_) => Some("exec"),
            Command::Logs(_) => Some("logs"),
            Command::Completions(_) => Some("completions"),
            Command::Man(_) => Some("man"),
            Command::Show(_) => Some("show"),
            _ => None,
        }
    }
}

/// Runs the parsed command line: an alias of deploy.yml when the command is one an alias may
/// take over and deploy.yml defines it, else the command itself.
pub fn run(cli: Cli) -> Result<Exit, miette::Report> {
    color::choose(cli.global.color);
    logging::init(cli.global.quiet, cli.global.verbose);
    if let Some(name) = cli.command.name_an_alias_may_take()
        && let Some(expansion) = alias_in_config(&cli.global, name)
    {
        return run_expansion(name, &expansion);
    }
    run_command(cli)
}

/// The command line deploy.yml's alias `name` stands for. A configuration that does not load
/// has no aliases here: the command itself runs and reports the problem.
fn alias_in_config(global: &GlobalArgs, name: &str) -> Option<String> {
    let loaded = global.load_silently().ok()?;
    loaded.config.aliases.get(name).cloned()
}

/// Runs a command without looking for aliases (so `logs: logs -f` runs the built-in `logs`).
fn run_command(cli: Cli) -> Result<Exit, miette::Report> {
    if cli.global.config_files.len() > 1 && !matches!(cli.command, Command::Plan(_)) {
        return Err(miette::miette!(
            help =
                "`gantry plan -c A -c B` plans several services at once; other commands take one",
            "only `gantry plan` reads several configuration files"
        ));
    }
    match &cli.command {
        Command::Plan(args) => plan::run(&cli.global, args),
        Command::Apply(args) => apply::run_command(&cli.global, args),
        Command::Deploy(args) | Command::Redeploy(args) => deploy::run(&cli.global, args),
        Command::Rollback(args) => rollback::run(&cli.global, args),
        Command::Drift(args) => drift::run(&cli.global, args),
        Command::Details(args) => details::run(&cli.global, args),
        Command::Lock(args) => lock::run(&cli.global, args),
        Command::Config(args) => config::run(&cli.global, args),
        Command::Docs(args) => docs::run(args),
        Command::Init(args) => init::run(&cli.global, args),
        Command::Setup(args) => setup::run(&cli.global, args),
        Command::App(args) => app::run(&cli.global, args),
        Command::Exec(args) => exec::run(&cli.global, args),
        Command::Logs(args) => logs::run(&cli.global, args),
        Command::Accessory(args) => accessory::run(&cli.global, args),
        Command::Build(args) => build::run(&cli.global, args),
        Command::Proxy(args) => proxy_cmd::run(&cli.global, args),
        Command::Registry(args) => registry::run(&cli.global, args),
        Command::Prune(args) => prune::run(&cli.global, args),
        Command::Remove(args) => remove::run(&cli.global, args),
        Command::Server(args) => server::run(&cli.global, args),
        Command::Secrets(args) => secrets::run(&cli.global, args),
        Command::Audit(args) => audit::run(&cli.global, args),
        Command::Tree => tree::run(),
        Command::Upgrade(_) => Err(kamal_1_upgrade_refused()),
        Command::Version => version::run(),
        Command::Completions(args) => completions::run_completions(&cli.global, args),
        Command::Man(args) => completions::run_man(args),
        Command::Show(args) => show::run(args),
        Command::Alias(words) => run_alias(&cli.global, words),
    }
}

/// Runs the gantry command line an alias names: the process's arguments with the alias word
/// replaced by the alias's words.
fn run_alias(global: &GlobalArgs, words: &[String]) -> Result<Exit, miette::Report> {
    let Some(name) = words.first() else {
        return Err(miette::miette!("no command given"));
    };
    let loaded = match global.load() {
        Ok(loaded) => loaded,
        // Without a deploy.yml there is no alias: a misspelt command is the likelier mistake.
        Err(error) => match nearest_command(name, std::iter::empty()) {
            Some(nearest) => return Err(unknown_command(name, &nearest)),
            None => return Err(error),
        },
    };
    let Some(expansion) = loaded.config.aliases.get(name) else {
        if let Some(nearest) = nearest_command(name, loaded.config.aliases.keys()) {
            return Err(unknown_command(name, &nearest));
        }
        let mut known: Vec<&str> = loaded.config.aliases.keys().map(String::as_str).collect();
        known.sort();
        return Err(miette::miette!(
            help = if known.is_empty() {
                "see `gantry --help` for the commands".to_string()
            } else {
                format!(
                    "aliases in deploy.yml: {}; see `gantry --help` for the commands",
                    known.join(", ")
                )
            },
            "unknown command `{name}`"
        ));
    };
    run_expansion(name, expansion)
}

fn unknown_command(word: &str, nearest: &str) -> miette::Report {
    miette::miette!(
        help = "see `gantry --help` for the commands",
        "unknown command `{word}`: did you mean `{nearest}`?"
    )
}

/// What `gantry upgrade` and `gantry accessory upgrade` say: Kamal's upgrade from 1.x rewrites
/// hosts for Kamal 2, which is the only configuration gantry reads.
fn kamal_1_upgrade_refused() -> miette::Report {
    miette::miette!(
        help = "upgrade with Kamal 2 (`kamal upgrade`) first; gantry then manages the hosts as they are",
        "gantry reads Kamal 2 only: there is no Kamal 1.x setup to upgrade from"
    )
}

/// The command or deploy.yml alias nearest to the unknown word `word` (at most two edits away,
/// or one for short words), for "did you mean ...?".
fn nearest_command<'a>(word: &str, aliases: impl Iterator<Item = &'a String>) -> Option<String> {
    let command = <Cli as clap::CommandFactory>::command();
    let names = command
        .get_subcommands()
        .map(|subcommand| subcommand.get_name().to_string())
        .chain(aliases.cloned());
    let limit = if word.chars().count() <= 4 { 1 } else { 2 };
    names
        .map(|name| (strsim::damerau_levenshtein(word, &name), name))
        .filter(|(distance, _)| *distance <= limit)
        .min()
        .map(|(_, name)| name)
}

/// Runs alias `name`'s command line `expansion` in place of the alias word.
fn run_expansion(name: &str, expansion: &str) -> Result<Exit, miette::Report> {
    let arguments: Vec<String> = std::env::args().collect();
    run_command(parse_expansion(&arguments, name, expansion)?)
}

/// The command line that `arguments` mean once the alias word `name` is replaced by
/// `expansion`; an expansion that names another alias is refused.
fn parse_expansion(
    arguments: &[String],
    name: &str,
    expansion: &str,
) -> Result<Cli, miette::Report> {
    let argv = expand_alias(arguments, name, expansion).ok_or_else(|| {
        miette::miette!("alias `{name}`: cannot split `{expansion}` into words (unbalanced quotes)")
    })?;
    let cli = Cli::try_parse_from(&argv).map_err(|error| {
        miette::miette!(
            "alias `{name}` (`{expansion}`): {}",
            error.render().to_string().trim()
        )
    })?;
    if let Command::Alias(words) = &cli.command {
        return Err(miette::miette!(
            help = "an alias must name a gantry command, not another alias",
            "alias `{name}` names `{}`, which is not a gantry command",
            words.first().map(String::as_str).unwrap_or_default()
        ));
    }
    Ok(cli)
}

/// `arguments` with the first `alias` word after the program name replaced by `expansion`'s
/// words (split as a shell would); `None` when `expansion` does not split.
fn expand_alias(arguments: &[String], alias: &str, expansion: &str) -> Option<Vec<String>> {
    let words = shlex::split(expansion)?;
    let position = arguments.iter().skip(1).position(|word| word == alias)? + 1;
    let mut argv = arguments[..position].to_vec();
    argv.extend(words);
    argv.extend(arguments[position + 1..].iter().cloned());
    Some(argv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// clap's own checks (unique names, valid defaults) for every subcommand.
    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_reach_the_load_and_secrets_options() {
        let cli = Cli::try_parse_from([
            "gantry",
            "config",
            "-c",
            "other/deploy.yml",
            "-d",
            "staging",
            "--no-secret-commands",
        ])
        .expect("parses");
        let options = cli.global.load_options();
        assert_eq!(options.config_file, PathBuf::from("other/deploy.yml"));
        assert_eq!(options.destination.as_deref(), Some("staging"));
        assert!(!cli.global.secrets_options().allow_commands);
        let cli = Cli::try_parse_from(["gantry", "-vv", "version"]).expect("parses");
        assert_eq!(cli.global.verbose, 2);
        assert_eq!(
            cli.global.load_options().config_file,
            PathBuf::from("config/deploy.yml")
        );
        assert!(Cli::try_parse_from(["gantry", "-q", "-v", "version"]).is_err());
    }

    /// Kamal's global options go anywhere on the line, after a sub-subcommand and its
    /// arguments too (`kamal accessory reboot db -h HOST`); `-h` is `--hosts`, never help.
    #[test]
    fn kamal_s_global_options_are_accepted_anywhere() {
        for line in [
            "gantry accessory reboot db -h 10.0.0.1,10.0.0.2 -r web -p --version v1 -H",
            "gantry -h 10.0.0.1,10.0.0.2 -r web -p --version v1 -H accessory remove db -y",
            "gantry accessory -h 10.0.0.1,10.0.0.2 reboot -r web db -p --version v1 -H",
        ] {
            let cli = Cli::try_parse_from(words(line)).expect(line);
            assert_eq!(cli.global.hosts, ["10.0.0.1", "10.0.0.2"], "{line}");
            assert_eq!(cli.global.roles, ["web"], "{line}");
            assert!(cli.global.primary && cli.global.skip_hooks, "{line}");
            assert_eq!(cli.global.version.as_deref(), Some("v1"), "{line}");
        }
        let error = Cli::try_parse_from(words("gantry --version")).unwrap_err();
        assert_eq!(error.kind(), clap::error::ErrorKind::InvalidValue);
    }

    #[test]
    fn an_alias_word_is_replaced_by_its_command_line() {
        let arguments: Vec<String> = ["gantry", "-d", "staging", "console", "-h", "h1"]
            .iter()
            .map(|word| word.to_string())
            .collect();
        assert_eq!(
            expand_alias(
                &arguments,
                "console",
                "app exec -i --reuse \"bin/rails console\""
            )
            .unwrap(),
            vec![
                "gantry",
                "-d",
                "staging",
                "app",
                "exec",
                "-i",
                "--reuse",
                "bin/rails console",
                "-h",
                "h1"
            ]
        );
        assert_eq!(
            expand_alias(&arguments, "console", "app exec \"unbalanced"),
            None
        );
        let cli = Cli::try_parse_from(["gantry", "console", "-x"]).expect("parses");
        assert!(matches!(&cli.command, Command::Alias(words) if words == &["console", "-x"]));
        let cli = Cli::try_parse_from(["gantry", "logs", "-n", "5"]).expect("parses");
        assert!(matches!(cli.command, Command::Logs(_)));
        assert_eq!(cli.command.name_an_alias_may_take(), Some("logs"));
        let cli = Cli::try_parse_from(["gantry", "config"]).expect("parses");
        assert_eq!(cli.command.name_an_alias_may_take(), None);
    }

    fn words(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_string).collect()
    }

    /// Rails 8's `logs: app logs -f`: `gantry logs -n 5` follows the app's logs, as `kamal logs
    /// -n 5` does; `logs: logs -f` names the built-in command, not itself.
    #[test]
    fn an_alias_named_like_a_gantry_command_runs_its_expansion() {
        let cli =
            parse_expansion(&words("gantry -q logs -n 5"), "logs", "app logs -f").expect("parses");
        assert!(cli.global.quiet);
        let Command::App(app) = cli.command else {
            panic!("app")
        };
        let app::AppCommand::Logs(logs) = app.command else {
            panic!("app logs")
        };
        assert!(logs.flags.follow);
        assert_eq!(logs.flags.lines, Some(5));
        let cli = parse_expansion(&words("gantry logs"), "logs", "logs -f").expect("parses");
        assert!(matches!(&cli.command, Command::Logs(logs) if logs.flags.follow));
        let error = parse_expansion(&words("gantry logs"), "logs", "console").unwrap_err();
        assert_eq!(
            error.to_string(),
            "alias `logs` names `console`, which is not a gantry command"
        );
    }

    #[test]
    fn an_unknown_command_suggests_the_nearest() {
        let aliases = ["console".to_string()];
        assert_eq!(
            nearest_command("redeplyo", aliases.iter()).as_deref(),
            Some("redeploy")
        );
        assert_eq!(
            nearest_command("consle", aliases.iter()).as_deref(),
            Some("console")
        );
        assert_eq!(
            nearest_command("lokc", aliases.iter()).as_deref(),
            Some("lock")
        );
        assert_eq!(
            nearest_command("apq", aliases.iter()).as_deref(),
            Some("app")
        );
        assert_eq!(nearest_command("frobnicate", aliases.iter()), None);
    }

    /// Each gantry command is either one of Kamal's (no alias may take its name) or one an alias
    /// may take over; none falls between the two.
    #[test]
    fn every_command_is_kamal_s_or_may_be_taken_by_an_alias() {
        let may_take = [
            "plan",
            "apply",
            "drift",
            "exec",
            "logs",
            "completions",
            "man",
            "show",
        ];
        // Thor's own command, which Kamal's list of reserved names leaves out.
        let thor_s = ["tree"];
        for command in Cli::command().get_subcommands() {
            let name = command.get_name();
            if thor_s.contains(&name) {
                continue;
            }
            assert!(
                crate::config::KAMAL_COMMANDS.contains(&name) ^ may_take.contains(&name),
                "`{name}` must be exactly one of Kamal's commands or an alias-able name"
            );
            if may_take.contains(&name) {
                let cli = Cli::try_parse_from(["gantry", name, "--", "true"])
                    .or_else(|_| Cli::try_parse_from(["gantry", name]))
                    .or_else(|_| Cli::try_parse_from(["gantry", name, "bash"]))
                    .expect("parses");
                assert_eq!(cli.command.name_an_alias_may_take(), Some(name));
            }
        }
    }

    #[test]
    fn day_two_commands_parse_as_kamal_spells_them() {
        let cli = Cli::try_parse_from([
            "gantry",
            "app",
            "exec",
            "-i",
            "--reuse",
            "bin/rails",
            "console",
        ])
        .expect("parses");
        let Command::App(app) = cli.command else {
            panic!("app")
        };
        let app::AppCommand::Exec(exec) = app.command else {
            panic!("exec")
        };
        assert!(exec.interactive && exec.reuse);
        assert_eq!(exec.command, ["bin/rails", "console"]);
        let cli = Cli::try_parse_from(["gantry", "-H", "accessory", "remove", "db", "-y"])
            .expect("parses");
        assert!(cli.global.skip_hooks);
        let cli = Cli::try_parse_from([
            "gantry", "logs", "-r", "web", "-f", "-n", "20", "--grep", "GET /up",
        ])
        .expect("parses");
        let Command::Logs(logs) = cli.command else {
            panic!("logs")
        };
        assert_eq!(cli.global.roles, ["web"]);
        assert_eq!(logs.flags.options().lines, Some(20));
        assert!(Cli::try_parse_from(["gantry", "prune", "--retain", "0"]).is_err());
    }
}
