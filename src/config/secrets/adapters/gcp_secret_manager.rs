//! Google Cloud Secret Manager (`gcloud`), as Kamal 2.11's `gcp_secret_manager.rb`.
//!
//! - installed: `gcloud --version`; signed in: `gcloud auth list --format=json` is a non-empty
//!   list; else `gcloud auth login`, then the check again.
//! - `--account` is `USER` or `USER|SERVICE_ACCOUNT[,...]` (`default` for gcloud's own user).
//! - names are `[PROJECT/]SECRET[/VERSION]` (project `default`, version `latest` when left
//!   out); one `gcloud secrets versions access VERSION --secret=SECRET [--project=PROJECT]
//!   [--account=USER] [--impersonate-service-account=SA] --format=json` each; the key is
//!   `PROJECT/SECRET`, the value the base64-decoded `payload.data`.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::Value;

use super::{
    Adapter, AdapterError, FetchRequest, Fetched, VendorCall, VendorRunner, answer_of, parse_json,
};

const ADAPTER: Adapter = Adapter::GcpSecretManager;

pub(super) fn fetch(
    request: &FetchRequest,
    runner: &mut dyn VendorRunner,
) -> Result<Fetched, AdapterError> {
    super::require_cli(ADAPTER, runner, "gcloud", "--version", "gcloud")?;
    if !logged_in(runner)? {
        runner.run(&VendorCall::new("gcloud", ["auth", "login"]));
        if !logged_in(runner)? {
            return Err(AdapterError::new(ADAPTER, "could not login to gcloud"));
        }
    }
    let (user, service_account) = match request.account().split_once('|') {
        Some((user, service_account)) => (user, Some(service_account)),
        None => (request.account(), None),
    };
    let mut seen: Vec<String> = Vec::new();
    let mut results = Fetched::default();
    for secret in request.prefixed_secrets() {
        if seen.contains(&secret) {
            continue;
        }
        seen.push(secret.clone());
        let mut parts = super::split_path(&secret);
        if parts.len() == 1 {
            parts.insert(0, "default");
        }
        let project = parts.first().copied().unwrap_or_default();
        let name = parts.get(1).copied().unwrap_or_default();
        let version = parts.get(2).copied().unwrap_or("latest");
        let mut args = vec![
            "secrets".to_string(),
            "versions".to_string(),
            "access".to_string(),
            version.to_string(),
            format!("--secret={name}"),
        ];
        if project != "default" {
            args.push(format!("--project={project}"));
        }
        if user != "default" {
            args.push(format!("--account={user}"));
        }
        if let Some(service_account) = service_account {
            args.push(format!("--impersonate-service-account={service_account}"));
        }
        args.push("--format=json".to_string());
        let item_name = format!("{project}/{name}");
        let answer = answer_of(ADAPTER, runner, &VendorCall::new("gcloud", args), || {
            format!("Could not read {item_name} from Google Secret Manager")
        })?;
        let data = answer
            .pointer("/payload/data")
            .and_then(Value::as_str)
            .unwrap_or_default();
        results.insert(item_name, Value::String(decode_base64(data)));
    }
    Ok(results)
}

fn logged_in(runner: &mut dyn VendorRunner) -> Result<bool, AdapterError> {
    let call = VendorCall::new("gcloud", ["auth", "list", "--format=json"]);
    let output = runner.run(&call);
    let answer = parse_json(ADAPTER, &call, &output.stdout)?;
    Ok(match answer {
        Value::Array(accounts) => !accounts.is_empty(),
        Value::Object(members) => !members.is_empty(),
        _ => false,
    })
}

/// Lenient base64, as Ruby's `Base64.decode64`: characters outside the alphabet, padding and
/// an incomplete last group are ignored.
fn decode_base64(data: &str) -> String {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireNone),
    );
    let mut text: String = data
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/'))
        .collect();
    if text.len() % 4 == 1 {
        text.pop();
    }
    String::from_utf8_lossy(&LENIENT.decode(text).unwrap_or_default()).into_owned()
}
