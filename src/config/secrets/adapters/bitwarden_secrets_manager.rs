//! Bitwarden Secrets Manager (`bws`), as Kamal 2.11's `bitwarden_secrets_manager.rb`.
//!
//! - installed: `bws --version`; authenticated: `bws project list` succeeds (the access token
//!   comes from the environment).
//! - one name `all` → `bws secret list`; one name `PROJECT/all` → `bws secret list PROJECT`;
//!   otherwise each name is a secret id → `bws secret get ID`. Each secret's `key` is its key.

use serde_json::Value;

use super::{Adapter, AdapterError, FetchRequest, Fetched, VendorCall, VendorRunner, answer_of};

const ADAPTER: Adapter = Adapter::BitwardenSecretsManager;

pub(super) fn fetch(
    request: &FetchRequest,
    runner: &mut dyn VendorRunner,
) -> Result<Fetched, AdapterError> {
    super::require_cli(
        ADAPTER,
        runner,
        "bws",
        "--version",
        "Bitwarden Secrets Manager",
    )?;
    if !runner
        .run(&VendorCall::new("bws", ["project", "list"]))
        .success
    {
        return Err(AdapterError::new(
            ADAPTER,
            "Could not authenticate to Bitwarden Secrets Manager. Did you set a valid access token?",
        ));
    }
    if request.secrets.is_empty() {
        return Err(AdapterError::new(
            ADAPTER,
            "You must specify what to retrieve from Bitwarden Secrets Manager",
        ));
    }
    let secrets = request.prefixed_secrets();
    let mut results = Fetched::default();
    if let Some(list) = list_call(&secrets) {
        let answer = answer_of(ADAPTER, runner, &list, || {
            "Could not read secrets from Bitwarden Secrets Manager".to_string()
        })?;
        for secret in answer.as_array().into_iter().flatten() {
            add(&mut results, secret);
        }
    } else {
        for id in &secrets {
            let call = VendorCall::new("bws", ["secret", "get", id.as_str()]);
            let answer = answer_of(ADAPTER, runner, &call, || {
                format!("Could not read {id} from Bitwarden Secrets Manager")
            })?;
            add(&mut results, &answer);
        }
    }
    Ok(results)
}

/// `bws secret list [PROJECT]` when the only name is `all` or `PROJECT/all`.
fn list_call(secrets: &[String]) -> Option<VendorCall> {
    let [only] = secrets else { return None };
    if only == "all" {
        return Some(VendorCall::new("bws", ["secret", "list"]));
    }
    let project = only.strip_suffix("/all")?;
    // Ruby's `split("/all").first`: the text before the first `/all`.
    let project = project.split("/all").next().unwrap_or_default();
    Some(VendorCall::new("bws", ["secret", "list", project]))
}

fn add(results: &mut Fetched, secret: &Value) {
    let key = match secret.get("key") {
        Some(Value::String(key)) => key.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    results.insert(key, secret.get("value").cloned().unwrap_or(Value::Null));
}
