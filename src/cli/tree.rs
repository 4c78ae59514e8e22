//! `gantry tree`: every command and subcommand with its one-line description, drawn as `kamal
//! tree` draws Kamal's. Read from the parser itself, so it lists exactly what is built.

use crate::session::Exit;

/// Prints the command tree.
pub fn run() -> Result<Exit, miette::Report> {
    let command = <super::Cli as clap::CommandFactory>::command();
    sayln!("{}", render(&command));
    Ok(Exit::Success)
}

/// `command`'s subcommands, one line each, those with subcommands of their own followed by
/// their tree, indented as Kamal indents a group.
fn render(command: &clap::Command) -> String {
    let mut text = String::new();
    draw(command, command.get_name(), 0, &mut text);
    text.trim_end().to_string()
}

fn draw(command: &clap::Command, title: &str, depth: usize, text: &mut String) {
    let indent = "  ".repeat(depth);
    text.push_str(&format!("{indent}{title}\n"));
    let visible: Vec<&clap::Command> = command
        .get_subcommands()
        .filter(|subcommand| !subcommand.is_hide_set() && subcommand.get_name() != "help")
        .collect();
    for (index, subcommand) in visible.iter().enumerate() {
        let branch = if index + 1 == visible.len() {
            "└─"
        } else {
            "├─"
        };
        let about = subcommand
            .get_about()
            .map(|about| format!(" ({about})"))
            .unwrap_or_default();
        text.push_str(&format!(
            "{indent}  {branch} {}{about}\n",
            subcommand.get_name()
        ));
    }
    for subcommand in visible {
        if subcommand.has_subcommands() {
            let title = format!("{title} {}", subcommand.get_name());
            draw(subcommand, &title, depth + 1, text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_follow_the_top_level_with_their_commands() {
        let command = clap::Command::new("gantry")
            .subcommand(clap::Command::new("audit").about("Show the audit log"))
            .subcommand(
                clap::Command::new("lock")
                    .about("Manage the lock")
                    .subcommand(clap::Command::new("status").about("Report it")),
            );
        assert_eq!(
            render(&command),
            "gantry\n  ├─ audit (Show the audit log)\n  └─ lock (Manage the lock)\n  gantry lock\n    └─ status (Report it)"
        );
    }
}
