//! `gantry docs [SECTION]`: the reference of deploy.yml's sections, as `kamal docs` prints
//! Kamal's. The text is the accepted-keys reference of specs/config.md (section 2), compiled
//! in, so `gantry docs` and the spec cannot disagree; a test checks that every section has its
//! paragraph there.

use crate::session::Exit;

use clap::Args;

/// `gantry docs` arguments.
#[derive(Clone, Debug, Args)]
pub struct DocsArgs {
    /// The section (accessory, alias, anchors, boot, builder, configuration, env, logging,
    /// proxy, registry, role, servers, ssh, sshkit); without one, the top level and the list.
    pub section: Option<String>,
}

/// The specification the text comes from.
const CONFIG_SPEC: &str = include_str!("../../specs/config.md");

/// Kamal's documentation sections, each with how its paragraph in specs/config.md's accepted
/// keys starts (several small sections share one paragraph there).
const SECTIONS: &[(&str, &str)] = &[
    ("accessory", "`accessories.NAME` ("),
    ("alias", "`ssh` ("),
    ("anchors", "Root ("),
    ("boot", "`ssh` ("),
    ("builder", "`builder` ("),
    ("configuration", "Root ("),
    ("env", "`env` ("),
    ("logging", "`ssh` ("),
    ("proxy", "`proxy` ("),
    ("registry", "`registry` ("),
    ("role", "`servers` ("),
    ("servers", "`servers` ("),
    ("ssh", "`ssh` ("),
    ("sshkit", "`ssh` ("),
];

/// Prints the section's reference, or the top level and the list of sections.
pub fn run(args: &DocsArgs) -> Result<Exit, miette::Report> {
    let section = args.section.as_deref().unwrap_or("configuration");
    let Some(text) = section_text(section) else {
        return Err(miette::miette!(
            help = format!("sections: {}", section_names().join(", ")),
            "No documentation found for {section}"
        ));
    };
    sayln!("# {section}\n\n{text}");
    if args.section.is_none() {
        sayln!(
            "\nSections (gantry docs SECTION): {}",
            section_names().join(", ")
        );
    }
    sayln!("\nThe whole reference: specs/config.md.");
    Ok(Exit::Success)
}

fn section_names() -> Vec<&'static str> {
    SECTIONS.iter().map(|(name, _)| *name).collect()
}

/// The paragraph of specs/config.md's accepted keys that documents `section`.
fn section_text(section: &str) -> Option<String> {
    let (_, start) = SECTIONS.iter().find(|(name, _)| *name == section)?;
    let accepted = CONFIG_SPEC.split("## 2. Accepted keys").nth(1)?;
    let accepted = accepted.split("\n## ").next()?;
    accepted
        .split("\n\n")
        .find(|paragraph| paragraph.starts_with(start))
        .map(|paragraph| paragraph.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_section_has_its_paragraph_in_the_spec() {
        for (name, _) in SECTIONS {
            let text = section_text(name).unwrap_or_else(|| panic!("no text for {name}"));
            let named = match *name {
                "configuration" | "anchors" => "`service`".to_string(),
                "accessory" => "`accessories.NAME`".to_string(),
                "alias" => "`aliases`".to_string(),
                "role" => "`cmd`".to_string(),
                other => format!("`{other}`"),
            };
            assert!(text.contains(&named), "{name}: {text}");
        }
        assert_eq!(section_text("nope"), None);
    }
}
