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
use crate::plan::render::{RenderOptions, render};
use crate::plan::saved::{PlanInputs, SavedPlan};

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
    /// Print the plan as JSON (specs/plan-json.md).
    #[arg(long, conflicts_with = "graph")]
    pub json: bool,
    /// Show the action graph: `dot` (Graphviz, the default) or `svg` on stdout, or write it to
    /// FILE.svg or FILE.dot and print the plan as usual.
    #[arg(long, value_name = "dot|svg|FILE", num_args = 0..=1, default_missing_value = "dot")]
    pub graph: Option<GraphOutput>,
    /// Save the plan, for `gantry apply FILE`.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Plans and prints.
pub fn run(global: &GlobalArgs, args: &PlanArgs) -> Result<Exit, miette::Report> {
    let prepared = super::session::load(global, &args.target, VersionNeed::Required)?;
    let read = |path: &str| read_local_file(path);
    let request = prepared.request(args.flags.choices(), &read);
    let desired = pipeline::desired(&request).map_err(|error| {
        miette!(
            help = "fix the configuration or the secrets it names",
            "{error}"
        )
    })?;
    let planned = runtime()?.block_on(async {
        let connections = connect(&prepared, &desired).await?;
        Ok::<_, miette::Report>(
            pipeline::observe_and_plan(
                &request,
                desired,
                &connections,
                session::observe_width(&connections),
            )
            .await,
        )
    })?;
    let plan = &planned.plan;
    let config = &prepared.loaded.config;
    let output = if args.json {
        let header = PlanHeader {
            service: config.service.clone(),
            destination: config.destination.clone(),
            version: prepared.version.clone(),
        };
        render_json(plan, &header, &prepared.redactor)
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
            config_file: global.config_file.display().to_string(),
            destination: global.destination.clone(),
            version: prepared.version.clone(),
            hosts: args.target.hosts.clone(),
            roles: args.target.roles.clone(),
            reboot_proxy: args.flags.reboot_proxy,
            recreate_accessories: args.flags.recreate_accessories,
            atomic: args.flags.atomic,
        };
        let saved = SavedPlan::new(plan, inputs, &planned.observed);
        std::fs::write(path, saved.to_text()).into_diagnostic()?;
        if !args.json && args.graph.as_ref().is_none_or(|graph| graph.file.is_some()) {
            sayln!(
                "\nSaved the plan to {}; `gantry apply {}` runs exactly it.",
                path.display(),
                path.display()
            );
        }
    }
    if plan.changes.unreachable().next().is_some() {
        return Ok(Exit::Failed);
    }
    Ok(match (args.detailed_exitcode, plan.is_empty()) {
        (true, false) => Exit::Changes,
        _ => Exit::Success,
    })
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
