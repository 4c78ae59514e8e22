//! `gantry completions SHELL` and `gantry man`: shell completions and a man page, both made
//! from the same clap definitions as `--help`, so they list exactly the commands and flags
//! that exist.

use clap::{Args, CommandFactory, ValueEnum};

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
#[command(after_help = "Install, for example:\n  \
    bash:  gantry completions bash > ~/.local/share/bash-completion/completions/gantry\n  \
    zsh:   gantry completions zsh > \"${fpath[1]}/_gantry\"\n  \
    fish:  gantry completions fish > ~/.config/fish/completions/gantry.fish")]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Arguments of `gantry man` (none).
#[derive(Debug, Args)]
#[command(after_help = "Read it with: gantry man | man -l -")]
pub struct ManArgs {}

/// Writes the completion script for `args.shell` to stdout.
pub fn run_completions(args: &CompletionsArgs) -> Result<Exit, miette::Report> {
    let mut out = std::io::stdout().lock();
    write_completions(args.shell, &mut out);
    Ok(Exit::Success)
}

/// The completion script for `shell`, written to `out`.
fn write_completions(shell: Shell, out: &mut dyn std::io::Write) {
    let mut command = super::Cli::command();
    let name = command.get_name().to_string();
    match shell {
        Shell::Bash => clap_complete::generate(clap_complete::Shell::Bash, &mut command, name, out),
        Shell::Zsh => clap_complete::generate(clap_complete::Shell::Zsh, &mut command, name, out),
        Shell::Fish => clap_complete::generate(clap_complete::Shell::Fish, &mut command, name, out),
        Shell::Powershell => {
            clap_complete::generate(clap_complete::Shell::PowerShell, &mut command, name, out)
        }
    }
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
            write_completions(shell, &mut script);
            let script = String::from_utf8(script).expect("UTF-8");
            for word in ["plan", "apply", "rollback", "completions", "config-file"] {
                assert!(script.contains(word), "{shell:?} lacks {word}");
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
