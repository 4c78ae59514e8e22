//! LastPass (`lpass`), as Kamal 2.11's `last_pass.rb`.
//!
//! - installed: `lpass --version`; signed in: `lpass status --color never` prints
//!   `Logged in as ACCOUNT.`; else `lpass login ACCOUNT`.
//! - one `lpass show NAME... --json`; each entry's `fullname` is the key, `password` the value;
//!   a name with no entry fails.

use serde_json::Value;

use super::{Adapter, AdapterError, FetchRequest, Fetched, VendorCall, VendorRunner, answer_of};

const ADAPTER: Adapter = Adapter::LastPass;

pub(super) fn fetch(
    request: &FetchRequest,
    runner: &mut dyn VendorRunner,
) -> Result<Fetched, AdapterError> {
    super::require_cli(ADAPTER, runner, "lpass", "--version", "LastPass")?;
    let account = request.account();
    let status = runner.run(&VendorCall::new("lpass", ["status", "--color", "never"]));
    if status.stdout.trim() != format!("Logged in as {account}.")
        && !runner
            .run(&VendorCall::new("lpass", ["login", account]))
            .success
    {
        return Err(AdapterError::new(ADAPTER, "Failed to login to LastPass"));
    }
    let secrets = request.prefixed_secrets();
    let mut args = vec!["show".to_string()];
    args.extend(secrets.iter().cloned());
    args.push("--json".to_string());
    let answer = answer_of(ADAPTER, runner, &VendorCall::new("lpass", args), || {
        format!(
            "Could not read {} from LastPass",
            super::inspect_list(&secrets)
        )
    })?;
    let mut results = Fetched::default();
    for entry in answer.as_array().into_iter().flatten() {
        let name = entry
            .get("fullname")
            .and_then(Value::as_str)
            .unwrap_or_default();
        results.insert(name, entry.get("password").cloned().unwrap_or(Value::Null));
    }
    let missing: Vec<&str> = secrets
        .iter()
        .map(String::as_str)
        .filter(|secret| !results.contains_key(secret))
        .collect();
    if !missing.is_empty() {
        return Err(AdapterError::new(
            ADAPTER,
            format!("Could not find {} in LastPass", missing.join(", ")),
        ));
    }
    Ok(results)
}
