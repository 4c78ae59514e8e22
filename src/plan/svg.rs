//! The action graph as a standalone SVG picture (`gantry plan --graph svg`), drawn without
//! Graphviz so that the one binary is enough.
//!
//! The layout is layered: an action's column is the length of the longest chain of actions that
//! must finish before it, so every "must happen before" edge points right. Each host is a lane
//! (a horizontal band), so what happens on one machine reads along one line and the edges that
//! cross lanes are the barriers between hosts. An action that can be undone has its compensation
//! drawn under it, joined by a dashed rollback edge.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::plan::{ActionId, Plan};
use crate::secret::Redactor;

/// Width of an action's box, in pixels.
const BOX_WIDTH: usize = 250;
/// Height of an action's box.
const BOX_HEIGHT: usize = 26;
/// Room between two columns, where the edges run.
const COLUMN_GAP: usize = 50;
/// Height of one slot in a lane: the action and, under it, its compensation.
const SLOT_HEIGHT: usize = 2 * BOX_HEIGHT + 22;
/// Width of the lane's title on the left.
const LANE_TITLE: usize = 120;
/// Room around the picture.
const MARGIN: usize = 16;
/// Characters that fit in a box in 11px monospace.
const LABEL_CHARS: usize = 38;

/// Where one action is drawn.
#[derive(Clone, Copy, Debug)]
struct Placed {
    x: usize,
    y: usize,
}

/// The plan's graph in SVG. Labels are redacted before they are drawn.
pub fn render_svg(plan: &Plan, redactor: &Redactor) -> String {
    let layers = layers(plan);
    let mut hosts: Vec<&str> = plan.actions().map(|(_, node)| node.host.as_str()).collect();
    hosts.sort_unstable();
    hosts.dedup();

    // Slot of each action inside its (host, column) cell, and each lane's height in slots.
    let mut cell_fill: BTreeMap<(&str, usize), usize> = BTreeMap::new();
    let mut slot = BTreeMap::new();
    for (id, node) in plan.actions() {
        let fill = cell_fill
            .entry((node.host.as_str(), layers[&id]))
            .or_default();
        slot.insert(id, *fill);
        *fill += 1;
    }
    let lane_slots = |host: &str| {
        cell_fill
            .iter()
            .filter(|((cell_host, _), _)| *cell_host == host)
            .map(|(_, count)| *count)
            .max()
            .unwrap_or(1)
    };
    let mut lane_top = BTreeMap::new();
    let mut next_top = MARGIN;
    for host in &hosts {
        lane_top.insert(*host, next_top);
        next_top += lane_slots(host) * SLOT_HEIGHT + MARGIN;
    }
    let columns = layers.values().max().map_or(0, |last| last + 1);
    let width = MARGIN * 2 + LANE_TITLE + columns * (BOX_WIDTH + COLUMN_GAP);
    let height = next_top.max(MARGIN * 2 + SLOT_HEIGHT);

    let placed: BTreeMap<ActionId, Placed> = plan
        .actions()
        .map(|(id, node)| {
            let place = Placed {
                x: MARGIN + LANE_TITLE + layers[&id] * (BOX_WIDTH + COLUMN_GAP),
                y: lane_top[node.host.as_str()] + 8 + slot[&id] * SLOT_HEIGHT,
            };
            (id, place)
        })
        .collect();

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="monospace" font-size="11">"#
    );
    out.push_str(concat!(
        "<title>gantry plan</title>\n",
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" ",
        "markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\">",
        "<path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555\"/></marker></defs>\n",
        "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n",
    ));
    for (index, host) in hosts.iter().enumerate() {
        let top = lane_top[host];
        let lane_height = lane_slots(host) * SLOT_HEIGHT;
        let fill = if index % 2 == 0 { "#f3f6fa" } else { "#faf7f0" };
        let _ = writeln!(
            out,
            r##"<g class="lane"><rect x="{MARGIN}" y="{top}" width="{}" height="{lane_height}" rx="6" fill="{fill}" stroke="#d0d7de"/><text x="{}" y="{}" font-weight="bold">{}</text></g>"##,
            width - 2 * MARGIN,
            MARGIN + 8,
            top + 20,
            escape(&redactor.redact(host)),
        );
    }
    for (id, _) in plan.actions() {
        let to = placed[&id];
        for dependency in plan.dependencies(id) {
            let from = placed[&dependency];
            let (x1, y1) = (from.x + BOX_WIDTH, from.y + BOX_HEIGHT / 2);
            let (x2, y2) = (to.x, to.y + BOX_HEIGHT / 2);
            let bend = COLUMN_GAP / 2;
            let _ = writeln!(
                out,
                r##"<path class="edge" d="M{x1},{y1} C{},{y1} {},{y2} {x2},{y2}" fill="none" stroke="#555" marker-end="url(#arrow)"/>"##,
                x1 + bend,
                x2.saturating_sub(bend),
            );
        }
    }
    for (id, node) in plan.actions() {
        let at = placed[&id];
        let number = plan.number(id);
        let label = redactor.redact(&format!("#{number} {}", node.action));
        let dash = if node.best_effort {
            r#" stroke-dasharray="4 3""#
        } else {
            ""
        };
        let _ = writeln!(
            out,
            r##"<g class="action" data-id="{number}"><title>{} ({})</title><rect x="{}" y="{}" width="{BOX_WIDTH}" height="{BOX_HEIGHT}" rx="4" fill="#ffffff" stroke="#24292f"{dash}/><text x="{}" y="{}">{}</text></g>"##,
            escape(&label),
            escape(&node.host),
            at.x,
            at.y,
            at.x + 6,
            at.y + 17,
            escape(&shorten(&label)),
        );
        if let Some(compensation) = &node.compensation {
            let undo = redactor.redact(&format!("undo #{number}: {compensation}"));
            let undo_y = at.y + BOX_HEIGHT + 14;
            let _ = writeln!(
                out,
                r##"<path class="rollback" d="M{x},{} L{x},{undo_y}" stroke="#8c959f" stroke-dasharray="4 3" marker-end="url(#arrow)"/>"##,
                at.y + BOX_HEIGHT,
                x = at.x + 20,
            );
            let _ = writeln!(
                out,
                r##"<g class="compensation" data-id="{number}"><title>{}</title><rect x="{}" y="{undo_y}" width="{BOX_WIDTH}" height="{BOX_HEIGHT}" rx="4" fill="#f6f8fa" stroke="#8c959f" stroke-dasharray="4 3"/><text x="{}" y="{}" fill="#57606a">{}</text></g>"##,
                escape(&undo),
                at.x,
                at.x + 6,
                undo_y + 17,
                escape(&shorten(&undo)),
            );
        }
    }
    out.push_str("</svg>\n");
    out
}

/// Each action's column: the longest chain of dependencies before it. The plan's order is
/// topological, so every dependency has its column when the action is reached.
fn layers(plan: &Plan) -> BTreeMap<ActionId, usize> {
    let mut layers = BTreeMap::new();
    for (id, _) in plan.actions() {
        let layer = plan
            .dependencies(id)
            .iter()
            .filter_map(|dependency| layers.get(dependency))
            .map(|layer| layer + 1)
            .max()
            .unwrap_or(0);
        layers.insert(id, layer);
    }
    layers
}

/// A label cut to the box, with an ellipsis; the full text is in the box's `<title>`.
fn shorten(label: &str) -> String {
    if label.chars().count() <= LABEL_CHARS {
        return label.to_string();
    }
    let kept: String = label.chars().take(LABEL_CHARS - 1).collect();
    format!("{kept}…")
}

/// Text safe inside an XML element or attribute.
pub(crate) fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            _ => escaped.push(character),
        }
    }
    escaped
}
