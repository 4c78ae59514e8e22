//! Enpass (`enpass-cli`), as Kamal 2.11's `enpass.rb`: offline, no account, no login.
//!
//! - installed: `enpass-cli version`.
//! - `--from` is the vault's directory; names are `TITLE` (every password of the item) or
//!   `TITLE/LABEL`; one `enpass-cli -json -vault VAULT show TITLE...`. An entry with a title
//!   and a non-blank password counts when its title or `TITLE/LABEL` was asked for; the key is
//!   `TITLE/LABEL` (or `TITLE` when the label is empty), and a key found twice fails.

use serde_json::Value;

use super::{Adapter, AdapterError, FetchRequest, Fetched, VendorCall, VendorRunner, parse_json};

const ADAPTER: Adapter = Adapter::Enpass;

pub(super) fn fetch(
    request: &FetchRequest,
    runner: &mut dyn VendorRunner,
) -> Result<Fetched, AdapterError> {
    super::require_cli(ADAPTER, runner, "enpass-cli", "version", "Enpass")?;
    let mut titles: Vec<String> = Vec::new();
    for secret in &request.secrets {
        let title = match secret.rsplit_once('/') {
            Some((title, _)) if !title.is_empty() => title,
            Some((_, label)) => label,
            None => secret.as_str(),
        };
        if !titles.iter().any(|known| known == title) {
            titles.push(title.to_string());
        }
    }
    let mut args = vec![
        "-json".to_string(),
        "-vault".to_string(),
        request.from.clone().unwrap_or_default(),
        "show".to_string(),
    ];
    args.extend(titles);
    let call = VendorCall::new("enpass-cli", args);
    let output = runner.run(&call);
    let answer = parse_json(ADAPTER, &call, &output.stdout)?;
    let mut results = Fetched::default();
    for entry in answer.as_array().into_iter().flatten() {
        let text = |name: &str| entry.get(name).and_then(Value::as_str);
        let (Some(title), Some(password)) = (text("title"), text("password")) else {
            continue;
        };
        if password.trim().is_empty() {
            continue;
        }
        let key = match text("label").filter(|label| !label.is_empty()) {
            Some(label) if !title.is_empty() => format!("{title}/{label}"),
            Some(label) => label.to_string(),
            None => title.to_string(),
        };
        if request
            .secrets
            .iter()
            .any(|secret| *secret == title || *secret == key)
        {
            if results.contains_key(&key) {
                return Err(AdapterError::new(
                    ADAPTER,
                    format!("{key} is present more than once"),
                ));
            }
            results.insert(key, Value::String(password.to_string()));
        }
    }
    Ok(results)
}
