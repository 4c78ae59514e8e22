//! Doppler (`doppler`), as Kamal 2.11's `doppler.rb`.
//!
//! - installed: `doppler --version`; signed in: `doppler me --json` succeeds (stderr
//!   discarded); else `doppler login -y`.
//! - names are `PROJECT/CONFIG/NAME` (usually `--from PROJECT/CONFIG`); one `doppler secrets
//!   get NAME... --json -p PROJECT -c CONFIG`, without `-p`/`-c` when `DOPPLER_TOKEN` is a
//!   service token (`dp.st...`, which names both). Each secret's value is its `computed`.

use serde_json::Value;

use super::members::Members;
use super::{Adapter, AdapterError, FetchRequest, Fetched, VendorCall, VendorRunner};

const ADAPTER: Adapter = Adapter::Doppler;

pub(super) fn fetch(
    request: &FetchRequest,
    runner: &mut dyn VendorRunner,
) -> Result<Fetched, AdapterError> {
    super::require_cli(ADAPTER, runner, "doppler", "--version", "Doppler")?;
    let signed_in = runner
        .run(&VendorCall::new("doppler", ["me", "--json"]).quiet())
        .success;
    if !signed_in
        && !runner
            .run(&VendorCall::new("doppler", ["login", "-y"]))
            .success
    {
        return Err(AdapterError::new(ADAPTER, "Failed to login to Doppler"));
    }
    let secrets = request.prefixed_secrets();
    let service_token =
        std::env::var("DOPPLER_TOKEN").is_ok_and(|token| token.starts_with("dp.st"));
    let mut args = vec!["secrets".to_string(), "get".to_string()];
    args.extend(secrets.iter().map(|secret| {
        super::split_path(secret)
            .last()
            .copied()
            .unwrap_or_default()
            .to_string()
    }));
    args.push("--json".to_string());
    if !service_token {
        let first = secrets.first().map(String::as_str).unwrap_or_default();
        let parts = super::split_path(first);
        let (Some(project), Some(config)) = (parts.first(), parts.get(1)) else {
            return Err(AdapterError::new(
                ADAPTER,
                "Missing project or config from '--from=project/config' option",
            ));
        };
        args.extend([
            "-p".to_string(),
            project.to_string(),
            "-c".to_string(),
            config.to_string(),
        ]);
    }
    let call = VendorCall::new("doppler", args);
    let output = runner.run(&call);
    if !output.success {
        return Err(AdapterError::new(
            ADAPTER,
            format!(
                "Could not read {} from Doppler",
                super::inspect_list(&secrets)
            ),
        ));
    }
    let answer = Members::parse(&output.stdout).ok_or_else(|| {
        AdapterError::new(
            ADAPTER,
            "the answer of `doppler secrets get` is not a JSON object",
        )
    })?;
    let mut results = Fetched::default();
    for (name, secret) in answer.0 {
        results.insert(name, secret.get("computed").cloned().unwrap_or(Value::Null));
    }
    Ok(results)
}
