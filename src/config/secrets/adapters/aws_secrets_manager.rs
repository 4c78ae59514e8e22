//! AWS Secrets Manager (`aws`), as Kamal 2.11's `aws_secrets_manager.rb`.
//!
//! - installed: `aws --version`; no login step (the CLI's own credentials and profiles).
//! - one `aws secretsmanager batch-get-secret-value --secret-id-list NAME... [--profile
//!   ACCOUNT] --output json`; any `Errors` fail with each `SecretId: Message`.
//! - a `SecretString` holding a JSON object gives one key per member (`NAME/MEMBER`); any
//!   other string is the value of `NAME`.

use serde_json::Value;

use super::members::Members;
use super::{Adapter, AdapterError, FetchRequest, Fetched, VendorCall, VendorRunner, answer_of};

const ADAPTER: Adapter = Adapter::AwsSecretsManager;

pub(super) fn fetch(
    request: &FetchRequest,
    runner: &mut dyn VendorRunner,
) -> Result<Fetched, AdapterError> {
    super::require_cli(ADAPTER, runner, "aws", "--version", "AWS")?;
    let secrets = request.prefixed_secrets();
    let mut args: Vec<String> = [
        "secretsmanager",
        "batch-get-secret-value",
        "--secret-id-list",
    ]
    .map(String::from)
    .into();
    args.extend(secrets.iter().cloned());
    if let Some(profile) = &request.account {
        args.extend(["--profile".to_string(), profile.clone()]);
    }
    args.extend(["--output".to_string(), "json".to_string()]);
    let answer = answer_of(ADAPTER, runner, &VendorCall::new("aws", args), || {
        format!(
            "Could not read {} from AWS Secrets Manager",
            super::inspect_list(&secrets)
        )
    })?;
    if let Some(errors) = answer
        .get("Errors")
        .and_then(Value::as_array)
        .filter(|errors| !errors.is_empty())
    {
        let described: Vec<String> = errors
            .iter()
            .map(|error| {
                format!(
                    "{}: {}",
                    error
                        .get("SecretId")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                    error
                        .get("Message")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                )
            })
            .collect();
        return Err(AdapterError::new(ADAPTER, described.join(" ")));
    }
    let mut results = Fetched::default();
    for secret in answer
        .get("SecretValues")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = secret
            .get("Name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let text = secret
            .get("SecretString")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match Members::parse(text) {
            Some(members) => {
                for (member, value) in members.0 {
                    results.insert(format!("{name}/{member}"), value);
                }
            }
            None => results.insert(name, Value::String(text.to_string())),
        }
    }
    Ok(results)
}
