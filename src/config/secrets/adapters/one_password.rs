//! 1Password (`op`), as Kamal 2.11's `one_password.rb`.
//!
//! - installed: `op --version`; signed in: `op account get --account ACCOUNT` (stderr
//!   discarded); else `op signin --account ACCOUNT --force --raw`, whose output is the session.
//! - names are `VAULT/ITEM[/SECTION]/FIELD` (`op://` allowed; a name without a field means the
//!   `password` field); one `op item get ITEM --vault VAULT --format json --account ACCOUNT
//!   [--session S] --fields label=F1,label=F2` per item. With no names, `--from VAULT/ITEM`
//!   fetches every field of the item.
//! - each field's key is its `reference` without `op://` and without a final `/password`.

use serde_json::Value;

use super::{Adapter, AdapterError, FetchRequest, Fetched, VendorCall, VendorRunner, answer_of};

const ADAPTER: Adapter = Adapter::OnePassword;

pub(super) fn fetch(
    request: &FetchRequest,
    runner: &mut dyn VendorRunner,
) -> Result<Fetched, AdapterError> {
    super::require_cli(ADAPTER, runner, "op", "--version", "1Password")?;
    let account = request.account();
    let session = login(account, runner)?;
    let mut results = Fetched::default();
    if request.secrets.is_empty() {
        let from = request.from.as_deref().unwrap_or_default();
        let from = from.strip_prefix("op://").unwrap_or(from);
        let mut parts = super::split_path(from).into_iter();
        let vault = parts.next().unwrap_or_default();
        let item = parts.next().unwrap_or_default();
        let answer = item_get(vault, item, &[], account, session.as_deref(), runner)?;
        let fields = answer.get("fields").cloned().unwrap_or(Value::Null);
        add_fields(&mut results, &fields);
    } else {
        for (vault, items) in vaults_items_fields(&request.prefixed_secrets()) {
            for (item, fields) in items {
                let mut answer =
                    item_get(&vault, &item, &fields, account, session.as_deref(), runner)?;
                if fields.len() == 1 {
                    answer = Value::Array(vec![answer]);
                }
                add_fields(&mut results, &answer);
            }
        }
    }
    Ok(results)
}

/// The session token when a sign-in was needed, `None` when already signed in.
fn login(account: &str, runner: &mut dyn VendorRunner) -> Result<Option<String>, AdapterError> {
    let check = VendorCall::new("op", ["account", "get", "--account", account]).quiet();
    if runner.run(&check).success {
        return Ok(None);
    }
    let signin = VendorCall::new("op", ["signin", "--account", account, "--force", "--raw"]);
    let output = runner.run(&signin);
    if !output.success {
        return Err(AdapterError::new(ADAPTER, "Failed to login to 1Password"));
    }
    let session = output.stdout.trim().to_string();
    Ok((!session.is_empty()).then_some(session))
}

/// An item's name and the fields asked of it.
type ItemFields = (String, Vec<String>);

/// Names grouped by vault, then by item (in first-seen order), with their fields joined by
/// `.` (`section/field` → `section.field`).
fn vaults_items_fields(secrets: &[String]) -> Vec<(String, Vec<ItemFields>)> {
    let mut vaults: Vec<(String, Vec<ItemFields>)> = Vec::new();
    for secret in secrets {
        let secret = secret.strip_prefix("op://").unwrap_or(secret);
        let mut parts = super::split_path(secret).into_iter();
        let vault = parts.next().unwrap_or_default().to_string();
        let item = parts.next().unwrap_or_default().to_string();
        let mut fields: Vec<&str> = parts.collect();
        if fields.is_empty() {
            fields.push("password");
        }
        let field = fields.join(".");
        let position = match vaults.iter().position(|(name, _)| *name == vault) {
            Some(position) => position,
            None => {
                vaults.push((vault, Vec::new()));
                vaults.len() - 1
            }
        };
        let items = &mut vaults[position].1;
        match items.iter_mut().find(|(name, _)| *name == item) {
            Some((_, fields)) => fields.push(field),
            None => items.push((item, vec![field])),
        }
    }
    vaults
}

fn item_get(
    vault: &str,
    item: &str,
    fields: &[String],
    account: &str,
    session: Option<&str>,
    runner: &mut dyn VendorRunner,
) -> Result<Value, AdapterError> {
    let mut args = vec![
        "item".to_string(),
        "get".to_string(),
        item.to_string(),
        "--vault".to_string(),
        vault.to_string(),
        "--format".to_string(),
        "json".to_string(),
        "--account".to_string(),
        account.to_string(),
    ];
    if let Some(session) = session {
        args.extend(["--session".to_string(), session.to_string()]);
    }
    if !fields.is_empty() {
        let labels: Vec<String> = fields
            .iter()
            .map(|field| format!("label={field}"))
            .collect();
        args.extend(["--fields".to_string(), labels.join(",")]);
    }
    answer_of(ADAPTER, runner, &VendorCall::new("op", args), || {
        let what = if fields.is_empty() {
            String::new()
        } else {
            format!("{} ", fields.join(", "))
        };
        format!("Could not read {what}from {item} in the {vault} 1Password vault")
    })
}

/// Adds each field of `op`'s answer under its reference.
fn add_fields(results: &mut Fetched, fields: &Value) {
    for field in fields.as_array().into_iter().flatten() {
        let reference = field
            .get("reference")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let reference = reference.strip_prefix("op://").unwrap_or(reference);
        let key = reference.strip_suffix("/password").unwrap_or(reference);
        results.insert(key, field.get("value").cloned().unwrap_or(Value::Null));
    }
}
