//! What ran when, on which host (`apply --timeline FILE.svg|html`): a Gantt chart of one run.
//!
//! [`TimelineRecorder`] sits beside the run's own reporter and notes when each action started
//! and ended, and when each compensation ran; [`render_timeline_svg`] draws the notes as one lane
//! per host, time running right, each action a bar coloured by how it ended (done, failed,
//! rolled back) and each compensation a bar of its own. The executor is not changed for it: the
//! recorder only listens to the events every reporter gets.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::apply::Reporter;
use crate::host::PullProgress;
use crate::plan::svg::escape;
use crate::plan::{ActionId, Plan};
use crate::secret::Redactor;

/// How a bar on the timeline ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarKind {
    Done,
    Failed,
    /// Done, then undone by its compensation.
    RolledBack,
    /// A compensation that ran.
    Undo,
    /// A compensation that failed.
    UndoFailed,
}

impl BarKind {
    fn colour(self) -> &'static str {
        match self {
            BarKind::Done => "#2da44e",
            BarKind::Failed => "#cf222e",
            BarKind::RolledBack => "#bf8700",
            BarKind::Undo => "#8250df",
            BarKind::UndoFailed => "#82071e",
        }
    }

    fn name(self) -> &'static str {
        match self {
            BarKind::Done => "done",
            BarKind::Failed => "failed",
            BarKind::RolledBack => "rolled back",
            BarKind::Undo => "undo",
            BarKind::UndoFailed => "undo failed",
        }
    }
}

/// One bar: an action (or its undo) on a host, from `start` to `end` after the run began.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bar {
    pub action: ActionId,
    pub host: String,
    pub start: Duration,
    pub end: Duration,
    pub kind: BarKind,
}

/// The bars of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timeline {
    pub bars: Vec<Bar>,
}

/// Notes the times of a run's events and passes every event on to the reporter it wraps.
pub struct TimelineRecorder {
    inner: Box<dyn Reporter>,
    notes: Arc<Mutex<Notes>>,
}

/// What the recorder has seen so far.
#[derive(Debug)]
struct Notes {
    began: Instant,
    started: BTreeMap<ActionId, Duration>,
    /// When each rollback scope last did something: its undo bars start there.
    scope_mark: BTreeMap<String, Duration>,
    timeline: Timeline,
}

/// The recorded timeline, readable once the run is over.
#[derive(Clone, Debug)]
pub struct TimelineHandle(Arc<Mutex<Notes>>);

impl TimelineHandle {
    /// The bars recorded so far.
    pub fn timeline(&self) -> Timeline {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .timeline
            .clone()
    }
}

impl TimelineRecorder {
    /// A recorder in front of `inner`, and the handle that reads what it records.
    pub fn new(inner: Box<dyn Reporter>) -> (Self, TimelineHandle) {
        let notes = Arc::new(Mutex::new(Notes {
            began: Instant::now(),
            started: BTreeMap::new(),
            scope_mark: BTreeMap::new(),
            timeline: Timeline::default(),
        }));
        let handle = TimelineHandle(notes.clone());
        (TimelineRecorder { inner, notes }, handle)
    }

    fn note(&self, record: impl FnOnce(&mut Notes, Duration)) {
        let mut notes = self.notes.lock().unwrap_or_else(PoisonError::into_inner);
        let now = notes.began.elapsed();
        record(&mut notes, now);
    }
}

impl Notes {
    fn finish(&mut self, plan: &Plan, id: ActionId, now: Duration, kind: BarKind) {
        let node = plan.node(id);
        let start = self.started.get(&id).copied().unwrap_or(now);
        self.scope_mark.insert(node.scope.clone(), now);
        self.timeline.bars.push(Bar {
            action: id,
            host: node.host.clone(),
            start,
            end: now,
            kind,
        });
    }
}

impl Reporter for TimelineRecorder {
    fn action_started(&self, plan: &Plan, id: ActionId) {
        self.note(|notes, now| {
            notes.started.insert(id, now);
        });
        self.inner.action_started(plan, id);
    }

    fn pull_progress(&self, plan: &Plan, id: ActionId, progress: &PullProgress) {
        self.inner.pull_progress(plan, id, progress);
    }

    fn action_finished(&self, plan: &Plan, id: ActionId, took: Duration) {
        self.note(|notes, now| notes.finish(plan, id, now, BarKind::Done));
        self.inner.action_finished(plan, id, took);
    }

    fn action_failed(&self, plan: &Plan, id: ActionId, error: &str, best_effort: bool) {
        self.note(|notes, now| notes.finish(plan, id, now, BarKind::Failed));
        self.inner.action_failed(plan, id, error, best_effort);
    }

    fn rollback_started(&self, scope: &str, cause: &str) {
        self.note(|notes, now| {
            notes.scope_mark.insert(scope.to_string(), now);
        });
        self.inner.rollback_started(scope, cause);
    }

    fn compensated(&self, plan: &Plan, id: ActionId, result: Result<(), &str>) {
        self.note(|notes, now| {
            let node = plan.node(id);
            let start = notes.scope_mark.get(&node.scope).copied().unwrap_or(now);
            notes.scope_mark.insert(node.scope.clone(), now);
            if let Some(bar) = notes
                .timeline
                .bars
                .iter_mut()
                .find(|bar| bar.action == id && bar.kind == BarKind::Done)
            {
                bar.kind = BarKind::RolledBack;
            }
            notes.timeline.bars.push(Bar {
                action: id,
                host: node.host.clone(),
                start,
                end: now,
                kind: if result.is_ok() {
                    BarKind::Undo
                } else {
                    BarKind::UndoFailed
                },
            });
        });
        self.inner.compensated(plan, id, result);
    }

    fn cancelled(&self, why: &str) {
        self.inner.cancelled(why);
    }
}

const LANE_TITLE: usize = 130;
const CHART_WIDTH: usize = 900;
const BAR_HEIGHT: usize = 18;
const ROW: usize = BAR_HEIGHT + 4;
const MARGIN: usize = 16;
const AXIS: usize = 28;

/// The timeline as an SVG Gantt chart: a lane per host, a row per action within it, an axis in
/// seconds and a legend. Labels are redacted.
pub fn render_timeline_svg(plan: &Plan, timeline: &Timeline, redactor: &Redactor) -> String {
    let mut hosts: Vec<&str> = timeline.bars.iter().map(|bar| bar.host.as_str()).collect();
    hosts.sort_unstable();
    hosts.dedup();
    let total = timeline
        .bars
        .iter()
        .map(|bar| bar.end)
        .max()
        .unwrap_or_default()
        .max(Duration::from_millis(1));
    let scale = |at: Duration| {
        MARGIN + LANE_TITLE + (at.as_secs_f64() / total.as_secs_f64() * CHART_WIDTH as f64) as usize
    };
    // One row per bar, in start order within each host.
    let mut rows: Vec<(&str, Vec<&Bar>)> = hosts
        .iter()
        .map(|host| {
            let mut bars: Vec<&Bar> = timeline
                .bars
                .iter()
                .filter(|bar| bar.host == *host)
                .collect();
            bars.sort_by_key(|bar| (bar.start, bar.end));
            (*host, bars)
        })
        .collect();
    rows.retain(|(_, bars)| !bars.is_empty());
    let lanes_height: usize = rows.iter().map(|(_, bars)| bars.len() * ROW + MARGIN).sum();
    let width = 2 * MARGIN + LANE_TITLE + CHART_WIDTH + 40;
    let height = MARGIN + AXIS + lanes_height + AXIS + MARGIN;

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="monospace" font-size="11">"#
    );
    out.push_str("<title>gantry apply timeline</title>\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
    // The axis: a tick every tenth of the run.
    for tick in 0..=10 {
        let at = total.mul_f64(f64::from(tick) / 10.0);
        let x = scale(at);
        let _ = writeln!(
            out,
            r##"<g class="tick"><line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="#eaeef2"/><text x="{x}" y="{}" text-anchor="middle" fill="#57606a">{:.1}s</text></g>"##,
            MARGIN + AXIS - 6,
            MARGIN + AXIS + lanes_height,
            MARGIN + 14,
            at.as_secs_f64(),
        );
    }
    let mut top = MARGIN + AXIS;
    for (index, (host, bars)) in rows.iter().enumerate() {
        let lane_height = bars.len() * ROW + MARGIN / 2;
        let fill = if index % 2 == 0 { "#f3f6fa" } else { "#faf7f0" };
        let _ = writeln!(
            out,
            r##"<g class="lane"><rect x="{MARGIN}" y="{top}" width="{}" height="{lane_height}" fill="{fill}" fill-opacity="0.6"/><text x="{}" y="{}" font-weight="bold">{}</text></g>"##,
            width - 2 * MARGIN,
            MARGIN + 6,
            top + 16,
            escape(&redactor.redact(host)),
        );
        for (row, bar) in bars.iter().enumerate() {
            let node = plan.node(bar.action);
            let number = plan.number(bar.action);
            let text = match (bar.kind, &node.compensation) {
                (BarKind::Undo | BarKind::UndoFailed, Some(undo)) => {
                    format!("undo #{number}: {undo}")
                }
                _ => format!("#{number} {}", node.action),
            };
            let text = redactor.redact(&text);
            let x = scale(bar.start);
            let bar_width = scale(bar.end).saturating_sub(x).max(2);
            let y = top + MARGIN / 4 + row * ROW;
            let (text_x, anchor, ink) = label_place(x, bar_width, &text, width - MARGIN);
            let _ = writeln!(
                out,
                r##"<g class="bar" data-kind="{}"><title>{} on {}: {} ({:.2}s to {:.2}s)</title><rect x="{x}" y="{y}" width="{bar_width}" height="{BAR_HEIGHT}" rx="3" fill="{}"/><text x="{text_x}" y="{}" text-anchor="{anchor}" fill="{ink}">{}</text></g>"##,
                bar.kind.name(),
                escape(&text),
                escape(host),
                bar.kind.name(),
                bar.start.as_secs_f64(),
                bar.end.as_secs_f64(),
                bar.kind.colour(),
                y + 13,
                escape(&text),
            );
        }
        top += lane_height + MARGIN / 2;
    }
    let legend_y = top + 18;
    let mut x = MARGIN + LANE_TITLE;
    for kind in [
        BarKind::Done,
        BarKind::Failed,
        BarKind::RolledBack,
        BarKind::Undo,
        BarKind::UndoFailed,
    ] {
        let _ = writeln!(
            out,
            r##"<g class="legend"><rect x="{x}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{legend_y}">{}</text></g>"##,
            legend_y - 10,
            kind.colour(),
            x + 16,
            kind.name(),
        );
        x += 120;
    }
    out.push_str("</svg>\n");
    out
}

/// Where a bar's label goes so that it stays in the picture: right of the bar, else inside it
/// (light on the bar's colour), else ending left of it. Returns x, `text-anchor` and colour.
fn label_place(
    x: usize,
    bar_width: usize,
    text: &str,
    right_edge: usize,
) -> (usize, &'static str, &'static str) {
    let text_width = text.chars().count() * 7;
    if x + bar_width + 4 + text_width <= right_edge {
        (x + bar_width + 4, "start", "#24292f")
    } else if bar_width >= text_width + 8 {
        (x + 4, "start", "#ffffff")
    } else {
        (x.saturating_sub(4), "end", "#24292f")
    }
}

/// The timeline as a page of its own: the SVG chart inside a minimal HTML document.
pub fn render_timeline_html(plan: &Plan, timeline: &Timeline, redactor: &Redactor) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>gantry apply timeline</title></head>\n<body style=\"font-family: sans-serif\">\n<h1>gantry apply timeline</h1>\n{}</body>\n</html>\n",
        render_timeline_svg(plan, timeline, redactor)
    )
}
