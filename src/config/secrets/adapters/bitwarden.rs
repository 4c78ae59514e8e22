//! Bitwarden (`bw`), as Kamal 2.11's `bitwarden.rb`.
//!
//! - installed: `bw --version`; `bw status` (JSON); `unauthenticated` → `bw login ACCOUNT`;
//!   `locked` → `bw unlock --raw` gives the session, passed as `BW_SESSION` from then on;
//!   anything but `unlocked` afterwards fails; then `bw sync`.
//! - names are `ITEM` or `ITEM/FIELD`; one `bw get item ITEM` per item. With fields: each
//!   custom field by name (`ITEM/FIELD`); without: the login password (`ITEM`), or else every
//!   custom field.

use serde_json::Value;

use super::{
    Adapter, AdapterError, FetchRequest, Fetched, VendorCall, VendorRunner, answer_of, parse_json,
};

const ADAPTER: Adapter = Adapter::Bitwarden;

pub(super) fn fetch(
    request: &FetchRequest,
    runner: &mut dyn VendorRunner,
) -> Result<Fetched, AdapterError> {
    super::require_cli(ADAPTER, runner, "bw", "--version", "Bitwarden")?;
    let session = login(request.account(), runner)?;
    let mut results = Fetched::default();
    for (item, fields) in items_fields(&request.prefixed_secrets()) {
        let call = bw(["get", "item", item.as_str()], session.as_deref());
        let answer = answer_of(ADAPTER, runner, &call, || {
            format!("Could not read {item} from Bitwarden")
        })?;
        if fields.iter().any(Option::is_some) {
            // As in Kamal, a bare item next to `ITEM/FIELD` asks for a field with no name.
            let named: Vec<String> = fields.into_iter().map(Option::unwrap_or_default).collect();
            add_fields(&mut results, &named, &item, &answer)?;
        } else if let Some(password) = answer
            .pointer("/login/password")
            .filter(|password| !password.is_null())
        {
            results.insert(item.clone(), password.clone());
        } else if let Some(fields) = answer
            .get("fields")
            .and_then(Value::as_array)
            .filter(|fields| !fields.is_empty())
        {
            let names: Vec<String> = fields
                .iter()
                .map(|field| {
                    field
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                })
                .collect();
            add_fields(&mut results, &names, &item, &answer)?;
        } else {
            return Err(AdapterError::new(
                ADAPTER,
                format!("Item {item} is not a login type item and no fields were specified"),
            ));
        }
    }
    Ok(results)
}

fn bw<'a>(args: impl IntoIterator<Item = &'a str>, session: Option<&str>) -> VendorCall {
    let call = VendorCall::new("bw", args);
    match session {
        Some(session) => call.env("BW_SESSION", session),
        None => call,
    }
}

fn status(runner: &mut dyn VendorRunner, session: Option<&str>) -> Result<String, AdapterError> {
    let call = bw(["status"], session);
    let output = runner.run(&call);
    let answer = parse_json(ADAPTER, &call, &output.stdout)?;
    Ok(answer
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string())
}

/// Logs in and unlocks as needed; the session when an unlock made one.
fn login(account: &str, runner: &mut dyn VendorRunner) -> Result<Option<String>, AdapterError> {
    let mut state = status(runner, None)?;
    if state == "unauthenticated" {
        runner.run(&bw(["login", account], None));
        state = status(runner, None)?;
    }
    let mut session = None;
    if state == "locked" {
        let unlocked = runner.run(&bw(["unlock", "--raw"], None));
        let token = unlocked.stdout.trim().to_string();
        session = (!token.is_empty()).then_some(token);
        state = status(runner, session.as_deref())?;
    }
    if state != "unlocked" {
        return Err(AdapterError::new(
            ADAPTER,
            "Failed to login to and unlock Bitwarden",
        ));
    }
    if !runner.run(&bw(["sync"], session.as_deref())).success {
        return Err(AdapterError::new(ADAPTER, "Failed to sync Bitwarden"));
    }
    Ok(session)
}

/// Items in first-seen order, each with the fields named for it (`None` for the bare item).
fn items_fields(secrets: &[String]) -> Vec<(String, Vec<Option<String>>)> {
    let mut items: Vec<(String, Vec<Option<String>>)> = Vec::new();
    for secret in secrets {
        let parts = super::split_path(secret);
        let item = parts.first().copied().unwrap_or_default().to_string();
        let field = parts.get(1).map(|field| field.to_string());
        match items.iter_mut().find(|(name, _)| *name == item) {
            Some((_, fields)) => fields.push(field),
            None => items.push((item, vec![field])),
        }
    }
    items
}

fn add_fields(
    results: &mut Fetched,
    names: &[String],
    item: &str,
    answer: &Value,
) -> Result<(), AdapterError> {
    let fields = answer.get("fields").and_then(Value::as_array);
    for name in names {
        let field = fields
            .into_iter()
            .flatten()
            .find(|field| field.get("name").and_then(Value::as_str) == Some(name.as_str()))
            .ok_or_else(|| {
                AdapterError::new(
                    ADAPTER,
                    format!("Could not find field {name} in item {item} in Bitwarden"),
                )
            })?;
        results.insert(
            format!("{item}/{name}"),
            field.get("value").cloned().unwrap_or(Value::Null),
        );
    }
    Ok(())
}
