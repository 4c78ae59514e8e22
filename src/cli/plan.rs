//! `gantry plan`: observe every host, diff against deploy.yml, show what `apply` would do.
//! Nothing changes on any host.

use crate::session::Exit;
use std::path::PathBuf;

use clap::Args;
use miette::{IntoDiagnostic, miette};

use super::GlobalArgs;
use super::session;
use super::session::{
    PlanFlags, TargetArgs, VersionNeed, color_stdout, connect, read_local_file, runtime,
};
use crate::pipeline;
use crate::plan::json::{PlanHeader, render_json};
use crate::plan::markdown::render_markdown;
use crate::plan::render::{RenderOptions, render};
use crate::plan::saved::{PlanInputs, SavedPlan};
use crate::report::reading::HostsBeingRead;

/// `gantry plan` flags.
#[derive(Clone, Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub flags: PlanFlags,
    /// Exit 0 when nothing would change, 2 when something would, 1 on errors.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Print the plan as JSON (the same as `--format json`).
    #[arg(long, conflicts_with = "graph")]
    pub json: bool,
    /// How to print the plan: text, json, or markdown (for a pull-request comment or a GitHub
    /// step summary).
    #[arg(long, value_enum, default_value_t = PlanFormat::Text, conflicts_with_all = ["json", "graph"])]
    pub format: PlanFormat,
    /// Show the action graph: `dot` (Graphviz, the default) or `svg` on stdout, or write it to
    /// FILE.svg or FILE.dot and print the plan as usual.
    #[arg(long, value_name = "dot|svg|FILE", num_args = 0..=1, default_missing_value = "dot")]
    pub graph: Option<GraphOutput>,
    /// Save the plan, for `gantry apply FILE`.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// The ways `plan` prints a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    Markdown,
}

/// Plans and prints.
pub fn run(global: &GlobalArgs, args: &PlanArgs) -> Result<Exit, miette::Report> {
    if global.config_files.len() > 1 {
        return run_several(global, args);
    }
    let prepared = super::session::load(global, VersionNeed::Required)?;
    let read = |path: &str| read_local_file(path);
    let request = prepared.request(args.flags.choices(), &read);
    let desired = pipeline::desired(&request).map_err(|error| {
        miette!(
            help = "fix the configuration or the secrets it names",
            "{error}"
        )
    })?;
    // `-q`: errors only, no progress.
    let hosts: Vec<String> = if global.quiet {
        Vec::new()
    } else {
        desired.hosts.iter().map(|host| host.name.clone()).collect()
    };
    let live = !global.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut reading = HostsBeingRead::start(hosts, live);
    let planned = runtime()?.block_on(async {
        let connections = connect(&prepared, &desired).await?;
        let width = session::observe_width(&connections);
        let planned =
            pipeline::observe_and_plan_telling(&request, desired, &connections, width, &|host| {
                reading.read(host)
            })
            .await;
        Ok::<_, miette::Report>((planned, pipeline::log_round_trips(&connections)))
    });
    reading.finish();
    let (planned, round_trips) = planned?;
    let plan = &planned.plan;
    let config = &prepared.loaded.config;
    let header = PlanHeader {
        service: config.service.clone(),
        destination: config.destination.clone(),
        version: prepared.version.clone(),
        round_trips,
    };
    let json = args.json || args.format == PlanFormat::Json;
    let output = if json {
        render_json(plan, &header, &prepared.redactor)
    } else if args.format == PlanFormat::Markdown {
        render_markdown(plan, &header, &prepared.redactor)
    } else if let Some(graph) = args.graph.as_ref().filter(|graph| graph.file.is_none()) {
        graph.render(plan, &prepared.redactor)
    } else {
        render(
            plan,
            RenderOptions {
                color: color_stdout(),
            },
            &prepared.redactor,
        )
    };
    say!("{output}");
    if let Some(GraphOutput {
        file: Some(path), ..
    }) = &args.graph
    {
        let picture = args
            .graph
            .as_ref()
            .map(|graph| graph.render(plan, &prepared.redactor))
            .unwrap_or_default();
        std::fs::write(path, picture)
            .into_diagnostic()
            .map_err(|error| error.wrap_err(format!("cannot write {}", path.display())))?;
        if !args.json {
            sayln!("\nDrew the action graph in {}.", path.display());
        }
    }
    if let Some(path) = &args.out {
        let inputs = PlanInputs {
            config_file: global.config_file().display().to_string(),
            destination: global.destination.clone(),
            version: prepared.version.clone(),
            hosts: prepared.selection.hosts.clone(),
            roles: prepared.selection.roles.clone(),
            reboot_proxy: args.flags.reboot_proxy,
            recreate_accessories: args.flags.recreate_accessories,
            atomic: args.flags.atomic,
        };
        let saved = SavedPlan::new(plan, inputs, &planned.observed);
        std::fs::write(path, saved.to_text()).into_diagnostic()?;
        if !json
            && args.graph.as_ref().is_none_or(|graph| graph.file.is_some())
            && args.format == PlanFormat::Text
        {
            sayln!(
                "\nSaved the plan to {}; `gantry apply {}` runs exactly it.",
                path.display(),
                path.display()
            );
        }
    }
    // A route another service holds fails the plan: found now, before anything changes, it
    // never fails a deploy halfway.
    refuse_conflicts(std::slice::from_ref(&plan))?;
    if plan.changes.unreachable().next().is_some() {
        return Ok(Exit::Failed);
    }
    Ok(match (args.detailed_exitcode, plan.is_empty()) {
        (true, false) => Exit::Changes,
        _ => Exit::Success,
    })
}

/// `plan -c A -c B ...`: plans several services that share hosts at once, over one connection
/// per host, and adds to each plan the routes that claim what an earlier service's route claims
/// on the same host, so two services are checked against each other
/// before either is deployed. Each file is loaded as `-c` loads it alone (secrets and the
/// version as for one service); the text plans are printed one after the other.
fn run_several(global: &GlobalArgs, args: &PlanArgs) -> Result<Exit, miette::Report> {
    if args.json || args.graph.is_some() || args.out.is_some() {
        return Err(miette!(
            help = "plan each service alone for --json, --graph or -o",
            "several -c files print text plans only"
        ));
    }
    let mut services = Vec::new();
    for config_file in &global.config_files {
        let prepared = session::load(&global.for_config_file(config_file), VersionNeed::Required)?;
        services.push((config_file.display().to_string(), prepared));
    }
    let read = |path: &str| read_local_file(path);
    let mut planned = runtime()?.block_on(async {
        let mut desireds = Vec::new();
        let mut connections = pipeline::Connections::new();
        for (config_file, prepared) in &services {
            let request = prepared.request(args.flags.choices(), &read);
            let desired = pipeline::desired(&request).map_err(|error| {
                miette!(
                    help = "fix the configuration or the secrets it names",
                    "{config_file}: {error}"
                )
            })?;
            // One connection per host, whichever service names it first.
            let missing: Vec<String> = desired
                .hosts
                .iter()
                .map(|host| host.name.clone())
                .filter(|name| !connections.contains_key(name))
                .collect();
            connections.extend(session::connect_hosts(prepared, &missing).await?);
            desireds.push(desired);
        }
        let width = session::observe_width(&connections);
        let mut plans = Vec::new();
        for ((_, prepared), desired) in services.iter().zip(desireds) {
            let request = prepared.request(args.flags.choices(), &read);
            plans.push(pipeline::observe_and_plan(&request, desired, &connections, width).await);
        }
        Ok::<_, miette::Report>(plans)
    })?;
    add_conflicts_between_services(&mut planned);
    for ((config_file, prepared), one) in services.iter().zip(&planned) {
        let text = render(
            &one.plan,
            RenderOptions {
                color: color_stdout(),
            },
            &prepared.redactor,
        );
        say!(
            "== {} ({config_file})\n{text}",
            prepared.loaded.config.service
        );
    }
    let plans: Vec<&crate::plan::Plan> = planned.iter().map(|one| &one.plan).collect();
    refuse_conflicts(&plans)?;
    if plans
        .iter()
        .any(|plan| plan.changes.unreachable().next().is_some())
    {
        return Ok(Exit::Failed);
    }
    Ok(
        match (
            args.detailed_exitcode,
            plans.iter().all(|plan| plan.is_empty()),
        ) {
            (true, false) => Exit::Changes,
            _ => Exit::Success,
        },
    )
}

/// The first route or port another service holds, in any of `plans`, as the plan's error.
fn refuse_conflicts(plans: &[&crate::plan::Plan]) -> Result<(), miette::Report> {
    let conflict = plans.iter().find_map(|plan| {
        plan.changes.refusals().find(|(_, note)| {
            matches!(
                note,
                crate::diff::Note::RouteConflict { .. } | crate::diff::Note::PortConflict { .. }
            )
        })
    });
    match conflict {
        Some((host, note)) => Err(miette!(
            help = crate::plan::render::refusal_help(note),
            "{host}: {}",
            crate::plan::render::note_text(note)
        )),
        None => Ok(()),
    }
}

/// Notes on each service's plan for its routes that claim what an earlier service's routes
/// claim on the same host.
fn add_conflicts_between_services(planned: &mut [pipeline::Planned]) {
    for later in 1..planned.len() {
        let (earlier, rest) = planned.split_at_mut(later);
        let current = &mut rest[0];
        for host in &current.desired.hosts {
            let notes: Vec<crate::diff::Note> = earlier
                .iter()
                .flat_map(|service| service.desired.hosts.iter())
                .filter(|other| other.name == host.name)
                .flat_map(|other| crate::diff::conflicts_between(other, host))
                .collect();
            if let Some(changes) = current
                .plan
                .changes
                .hosts
                .iter_mut()
                .find(|changes| changes.host == host.name)
            {
                for note in notes {
                    if !changes.notes.contains(&note) {
                        changes.notes.push(note);
                    }
                }
            }
        }
    }
}

/// Where `--graph` sends the action graph, and in which format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphOutput {
    pub svg: bool,
    /// `None`: stdout, instead of the plan.
    pub file: Option<PathBuf>,
}

impl GraphOutput {
    fn render(&self, plan: &crate::plan::Plan, redactor: &crate::secret::Redactor) -> String {
        if self.svg {
            crate::plan::svg::render_svg(plan, redactor)
        } else {
            crate::plan::dot::render_dot(plan, redactor)
        }
    }
}

impl std::str::FromStr for GraphOutput {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let path = PathBuf::from(value);
        match (
            value,
            path.extension().and_then(|extension| extension.to_str()),
        ) {
            ("dot", _) => Ok(Self {
                svg: false,
                file: None,
            }),
            ("svg", _) => Ok(Self {
                svg: true,
                file: None,
            }),
            (_, Some("svg")) => Ok(Self {
                svg: true,
                file: Some(path),
            }),
            (_, Some("dot" | "gv")) => Ok(Self {
                svg: false,
                file: Some(path),
            }),
            _ => Err(format!(
                "`{value}` is neither `dot`, `svg`, nor a file ending in .svg or .dot"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::GraphOutput;
    use std::path::PathBuf;

    #[test]
    fn graph_takes_a_format_or_a_file_named_by_its_format() {
        let parse = |text: &str| text.parse::<GraphOutput>();
        assert_eq!(
            parse("dot"),
            Ok(GraphOutput {
                svg: false,
                file: None
            })
        );
        assert_eq!(
            parse("svg"),
            Ok(GraphOutput {
                svg: true,
                file: None
            })
        );
        assert_eq!(
            parse("out/plan.svg"),
            Ok(GraphOutput {
                svg: true,
                file: Some(PathBuf::from("out/plan.svg"))
            })
        );
        assert_eq!(parse("plan.dot").map(|graph| graph.svg), Ok(false));
        let refused = parse("plan.png").expect_err("not a graph format");
        assert!(refused.contains("plan.png"), "{refused}");
    }
}
