//! `gantry completions SHELL` and `gantry man`: shell completions and a man page, both made
//! from the same clap definitions as `--help`, so they list exactly the commands and flags
//! that exist. Completions written in a project also offer its deploy.yml aliases, which run
//! as commands.

use std::collections::BTreeMap;

use clap::{Args, CommandFactory, ValueEnum};

use super::GlobalArgs;
use crate::session::Exit;

/// The shells completions are written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
}

/// Arguments of `gantry completions`.
#[derive(Debug, Args)]
#[command(
    after_help = "Run in a project, the script also completes the aliases of its deploy.yml.\n\n\
    Install, for example:\n  \
    bash:  gantry completions bash > ~/.local/share/bash-completion/completions/gantry\n  \
    zsh:   gantry completions zsh > \"${fpath[1]}/_gantry\"\n  \
    fish:  gantry completions fish > ~/.config/fish/completions/gantry.fish"
)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Arguments of `gantry man` (none).
#[derive(Debug, Args)]
#[command(after_help = "Read it with: gantry man | man -l -")]
pub struct ManArgs {}

/// Writes the completion script for `args.shell` to stdout, with the aliases of the project's
/// deploy.yml when one loads here.
pub fn run_completions(
    global: &GlobalArgs,
    args: &CompletionsArgs,
) -> Result<Exit, miette::Report> {
    let aliases = global
        .load_silently()
        .map(|loaded| loaded.config.aliases)
        .unwrap_or_default();
    let mut out = std::io::stdout().lock();
    write_completions(args.shell, &aliases, &mut out);
    Ok(Exit::Success)
}

/// The completion script for `shell`, written to `out`; each alias is offered as a command
/// described by what it runs. An alias named like a command completes as that command.
fn write_completions(
    shell: Shell,
    aliases: &BTreeMap<String, String>,
    out: &mut dyn std::io::Write,
) {
    let mut command = super::Cli::command();
    for (alias, expansion) in aliases {
        if command.find_subcommand(alias).is_none() {
            command = command.subcommand(
                clap::Command::new(alias.clone()).about(format!("runs gantry {expansion}")),
            );
        }
    }
    let name = command.get_name().to_string();
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
        Shell::Powershell => clap_complete::Shell::PowerShell,
    };
    clap_complete::generate(shell, &mut command, name, out);
}

/// Writes gantry's man page (roff, section 1) to stdout.
pub fn run_man(_args: &ManArgs) -> Result<Exit, miette::Report> {
    let page = man_page().map_err(|error| miette::miette!("writing the man page: {error}"))?;
    std::io::Write::write_all(&mut std::io::stdout().lock(), &page)
        .map_err(|error| miette::miette!("writing the man page: {error}"))?;
    Ok(Exit::Success)
}

/// The man page: gantry's help, then a section per command.
fn man_page() -> std::io::Result<Vec<u8>> {
    let command = super::Cli::command();
    let mut page = Vec::new();
    // `--version` is Kamal's global option here, so the version is set for the page only.
    let command = command
        .clone()
        .version(super::version::VERSION_AND_COMMIT)
        .disable_version_flag(true);
    let man = clap_mangen::Man::new(command);
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    man.render_subcommands_section(&mut page)?;
    man.render_extra_section(&mut page)?;
    man.render_version_section(&mut page)?;
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_that_names_the_commands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::Powershell] {
            let mut script = Vec::new();
            write_completions(shell, &BTreeMap::new(), &mut script);
            let script = String::from_utf8(script).expect("UTF-8");
            for word in ["plan", "apply", "rollback", "completions", "config-file"] {
                assert!(script.contains(word), "{shell:?} lacks {word}");
            }
        }
    }

    /// deploy.yml's aliases complete like commands, described by what they run; one named like
    /// a command leaves that command as it is.
    #[test]
    fn aliases_complete_as_commands() {
        let aliases = BTreeMap::from([
            ("shipit".to_string(), "deploy -y".to_string()),
            ("logs".to_string(), "logs -f".to_string()),
        ]);
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::Powershell] {
            let mut script = Vec::new();
            write_completions(shell, &aliases, &mut script);
            let script = String::from_utf8(script).expect("UTF-8");
            assert!(script.contains("shipit"), "{shell:?} lacks the alias");
            assert!(!script.contains("runs gantry logs -f"), "{shell:?}");
            if shell != Shell::Bash {
                assert!(
                    script.contains("runs gantry deploy -y"),
                    "{shell:?} describes the alias"
                );
            }
        }
    }

    #[test]
    fn the_man_page_is_roff_with_the_commands() {
        let page = String::from_utf8(man_page().expect("renders")).expect("UTF-8");
        assert!(
            page.starts_with(".ie") || page.contains(".TH gantry 1"),
            "{page}"
        );
        assert!(page.contains(".TH gantry 1"));
        assert!(page.contains("plan") && page.contains("apply") && page.contains("completions"));
    }
}
