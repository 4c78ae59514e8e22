//! The plan for machines: a stable JSON document (`specs/plan-json.md`).
//!
//! `format_version` changes only when a field changes meaning or goes away; new fields may be
//! added. Values of sensitive fields are never present: their `before`/`after` are
//! `"[REDACTED]"`, and the whole document goes through the [`Redactor`].

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use crate::diff::{Change, FieldChange, Reach};
use crate::model::RoundTripCounts;
use crate::plan::render::{reason_text, resource_text};
use crate::plan::{Plan, Summary};
use crate::secret::{REDACTED, Redactor};

/// The version of the JSON layout.
pub const FORMAT_VERSION: &str = "1";

/// What the plan is of, for the document's header.
#[derive(Clone, Debug, Serialize)]
pub struct PlanHeader {
    pub service: String,
    pub destination: Option<String>,
    pub version: String,
    /// Sessions and Docker API requests each host was sent to make the plan (none when the
    /// plan was not made from live hosts).
    pub round_trips: BTreeMap<String, RoundTripCounts>,
}

/// The plan as a JSON value.
pub fn to_json(plan: &Plan, header: &PlanHeader) -> Value {
    let hosts: Vec<Value> = plan
        .changes
        .hosts
        .iter()
        .map(|host| {
            let (status, reason) = match &host.reach {
                Reach::Reachable => ("reachable", None),
                Reach::Unreachable { reason } => ("unreachable", Some(reason.clone())),
            };
            json!({
                "host": host.host,
                "status": status,
                "unreachable_reason": reason,
                "changes": host.changes.iter().map(|change| change_json(&host.host, change)).collect::<Vec<_>>(),
                "notes": host.notes.iter().map(|note| json!({
                    "note": note,
                    "text": crate::plan::render::note_text(note),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let actions: Vec<Value> = plan
        .actions()
        .map(|(id, node)| {
            let change = &plan.changes.hosts[node.change.0].changes[node.change.1];
            let (before, after) = before_after(&change.fields);
            json!({
                "id": plan.number(id),
                "host": node.host,
                "address": format!("{}/{}", node.host, change.resource.path()),
                "kind": node.action.kind(),
                "description": node.action.to_string(),
                "reason": reason_text(&change.reason),
                "before": before,
                "after": after,
                "depends_on": plan.dependencies(id).iter().map(|dep| plan.number(*dep)).collect::<Vec<_>>(),
                "compensation": node.compensation.as_ref().map(ToString::to_string),
                "scope": node.scope,
                "best_effort": node.best_effort,
                "timeout_seconds": node.action.timeout().as_secs(),
            })
        })
        .collect();
    let summary: Summary = plan.summary();
    let mut document = json!({
        "format_version": FORMAT_VERSION,
        "gantry_version": env!("CARGO_PKG_VERSION"),
        "service": header.service,
        "destination": header.destination,
        "version": header.version,
        "changes": !plan.is_empty(),
        "summary": summary,
        "hosts": hosts,
        "actions": actions,
    });
    if !header.round_trips.is_empty() {
        document["round_trips"] = json!(header.round_trips);
    }
    if let Some(stage) = &plan.canary {
        document["canary"] = json!(stage);
    }
    document
}

/// The plan as pretty JSON text, scrubbed of known secret values.
pub fn render_json(plan: &Plan, header: &PlanHeader, redactor: &Redactor) -> String {
    let text = serde_json::to_string_pretty(&to_json(plan, header)).unwrap_or_default();
    redactor.redact(&text)
}

fn change_json(host: &str, change: &Change) -> Value {
    let (before, after) = before_after(&change.fields);
    json!({
        "address": format!("{host}/{}", change.resource.path()),
        "resource": change.resource,
        "description": resource_text(change),
        "kind": change.kind,
        "reason": change.reason,
        "reason_text": reason_text(&change.reason),
        "fields": change.fields.iter().map(field_json).collect::<Vec<_>>(),
        "before": before,
        "after": after,
    })
}

fn field_json(field: &FieldChange) -> Value {
    let value = |value: &Option<String>| match (field.sensitive, value) {
        (true, _) => Value::String(REDACTED.to_string()),
        (false, Some(text)) => Value::String(text.clone()),
        (false, None) => Value::Null,
    };
    json!({
        "field": field.field,
        "before": value(&field.before),
        "after": value(&field.after),
        "sensitive": field.sensitive,
    })
}

/// The changed fields as two objects, field name to value.
fn before_after(fields: &[FieldChange]) -> (Value, Value) {
    let mut before = serde_json::Map::new();
    let mut after = serde_json::Map::new();
    for field in fields {
        let field_value = field_json(field);
        before.insert(field.field.clone(), field_value["before"].clone());
        after.insert(field.field.clone(), field_value["after"].clone());
    }
    (Value::Object(before), Value::Object(after))
}
