//! The action graph as Graphviz DOT (`gantry plan --graph`): one cluster per host, solid edges
//! for "must happen before", dashed edges from an action to its compensation.

use std::fmt::Write;

use crate::plan::Plan;
use crate::secret::Redactor;

/// The plan's graph in DOT.
pub fn render_dot(plan: &Plan, redactor: &Redactor) -> String {
    let mut out = String::from(
        "digraph gantry_plan {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    let mut hosts: Vec<&str> = plan.actions().map(|(_, node)| node.host.as_str()).collect();
    hosts.dedup();
    hosts.sort_unstable();
    hosts.dedup();
    for (index, host) in hosts.iter().enumerate() {
        let _ = writeln!(
            out,
            "  subgraph cluster_{index} {{\n    label={};",
            quote(host)
        );
        for (id, node) in plan.actions().filter(|(_, node)| node.host == *host) {
            let number = plan.number(id);
            let style = if node.best_effort {
                ", style=dashed"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "    a{number} [label={}{style}];",
                quote(&format!("#{number} {}", node.action))
            );
            if let Some(compensation) = &node.compensation {
                let _ = writeln!(
                    out,
                    "    c{number} [label={}, shape=note, color=gray];",
                    quote(&format!("undo #{number}: {compensation}"))
                );
            }
        }
        out.push_str("  }\n");
    }
    for (id, node) in plan.actions() {
        let number = plan.number(id);
        for dep in plan.dependencies(id) {
            let _ = writeln!(out, "  a{} -> a{number};", plan.number(dep));
        }
        if node.compensation.is_some() {
            let _ = writeln!(
                out,
                "  a{number} -> c{number} [style=dashed, color=gray, arrowhead=empty];"
            );
        }
    }
    out.push_str("}\n");
    redactor.redact(&out)
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}
