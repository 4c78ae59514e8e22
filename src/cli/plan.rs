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
    /// Print the action graph as Graphviz DOT.
    #[arg(long)]
    pub graph: bool,
    /// Save the plan, for `gantry apply FILE`.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Plans and prints.
pub fn run(global: &GlobalArgs, args: &PlanArgs) -> Result<Exit, miette::Report> {
    let prepared = super::session::load(global, VersionNeed::Required)?;
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
    } else if args.graph {
        crate::plan::dot::render_dot(plan, &prepared.redactor)
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
    if let Some(path) = &args.out {
        let inputs = PlanInputs {
            config_file: global.config_file.display().to_string(),
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
        if !args.json && !args.graph {
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
