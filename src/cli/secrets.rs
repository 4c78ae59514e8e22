//! `gantry secrets fetch | extract | print`: Kamal's `kamal secrets` commands, with its flags
//! and its output, and no Ruby.
//!
//! `fetch` prints the JSON Kamal prints, `extract` one value of it, and `print` every secret of
//! the secrets files as `KEY=value`, in the files' order: the values are shown because the user
//! asked for them. `print` then warns on stderr about secrets deploy.yml names that no file
//! sets, at the YAML line naming them (stdout stays exactly Kamal's).
//!
//! `--inline` (hidden, as in Kamal) prints the text a `$(kamal secrets ...)` in a secrets file
//! is replaced by, without a line break: `fetch`'s JSON shell-escaped, `extract`'s value.

use crate::session::Exit;

use clap::{Args, Subcommand};
use miette::Severity;

use super::GlobalArgs;
use crate::config::secrets::adapters::{FetchRequest, SystemRunner};
use crate::config::secrets::kamal_command::{self, KamalCommandError};
use crate::config::{missing_secrets, read_secrets};

/// `gantry secrets` subcommands.
#[derive(Clone, Debug, Args)]
pub struct SecretsArgs {
    #[command(subcommand)]
    pub command: SecretsCommand,
}

/// What `gantry secrets` does.
#[derive(Clone, Debug, Subcommand)]
pub enum SecretsCommand {
    /// Fetch secrets from a password manager and print them as JSON.
    Fetch(FetchArgs),
    /// Print one secret out of `fetch`'s JSON.
    Extract(ExtractArgs),
    /// Print every secret of the secrets files as KEY=value (values included).
    Print,
}

/// `gantry secrets fetch` flags, as Kamal's.
#[derive(Clone, Debug, Args)]
pub struct FetchArgs {
    /// Password manager: 1password, bitwarden, bitwarden-sm, lastpass, aws_secrets_manager,
    /// gcp_secret_manager (gcp), doppler, enpass, passbolt.
    #[arg(short = 'a', long)]
    pub adapter: String,
    /// The account identifier or username.
    #[arg(long)]
    pub account: Option<String>,
    /// A vault, folder or project to fetch the secrets from.
    #[arg(long)]
    pub from: Option<String>,
    /// Print the JSON shell-escaped, without a line break (what a secrets file substitutes).
    #[arg(long, hide = true)]
    pub inline: bool,
    /// The secrets to fetch.
    pub secrets: Vec<String>,
}

/// `gantry secrets extract` arguments.
#[derive(Clone, Debug, Args)]
pub struct ExtractArgs {
    /// The secret's name (or the last part of its path).
    pub name: String,
    /// The JSON that `fetch` printed.
    pub secrets: String,
    /// Print the value without a line break (what a secrets file substitutes).
    #[arg(long, hide = true)]
    pub inline: bool,
}

/// Runs a `gantry secrets` command.
pub fn run(global: &GlobalArgs, args: &SecretsArgs) -> Result<Exit, miette::Report> {
    match &args.command {
        SecretsCommand::Fetch(fetch) => {
            let request = FetchRequest {
                secrets: fetch.secrets.clone(),
                account: fetch.account.clone(),
                from: fetch.from.clone(),
            };
            let json = kamal_command::fetch_json(&fetch.adapter, &request, &mut SystemRunner)
                .map_err(command_error)?;
            if fetch.inline {
                say!("{}", crate::config::secrets::shell_words::escape(&json));
            } else {
                sayln!("{json}");
            }
        }
        SecretsCommand::Extract(extract) => {
            let value =
                kamal_command::extract(&extract.name, &extract.secrets).map_err(command_error)?;
            match (&value, extract.inline) {
                (serde_json::Value::String(text), true) => say!("{text}"),
                _ => say!("{}", kamal_command::puts_text(&value)),
            }
        }
        SecretsCommand::Print => {
            let loaded = global.load()?;
            let secrets = read_secrets(&loaded.config, &global.secrets_options())?;
            for (key, value) in secrets.in_file_order() {
                let line = format!("{key}={}", value.expose());
                say!(
                    "{}",
                    kamal_command::puts_text(&serde_json::Value::String(line))
                );
            }
            if !global.quiet {
                for warning in missing_secrets(&loaded, &secrets, Severity::Warning) {
                    tellln!("{:?}", miette::Report::new(warning));
                }
            }
        }
    }
    Ok(Exit::Success)
}

fn command_error(error: KamalCommandError) -> miette::Report {
    miette::miette!("{error}")
}
