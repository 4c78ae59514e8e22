//! Password-manager adapters: `kamal secrets fetch --adapter NAME` without Kamal.
//!
//! Each adapter calls its vendor's CLI with the arguments Kamal 2.11's adapter of the same name
//! uses, in the same order (checks that the CLI is installed, logs in when needed, fetches),
//! and reads the answer the same way, so the JSON `fetch` prints is Kamal's, key order
//! included. Errors name the adapter and what failed (an item, a field, a vault), never a
//! value. The table of vendors, argv and parsing is in specs/config.md §5.

mod aws_secrets_manager;
mod bitwarden;
mod bitwarden_secrets_manager;
mod doppler;
mod enpass;
mod gcp_secret_manager;
mod last_pass;
pub mod members;
mod one_password;
mod passbolt;
mod test_adapter;
pub mod vendor;

use serde_json::Value;

pub use vendor::{SystemRunner, VendorCall, VendorOutput, VendorRunner};

/// The adapters Kamal 2.11 ships, by the name `--adapter` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adapter {
    OnePassword,
    Bitwarden,
    BitwardenSecretsManager,
    LastPass,
    AwsSecretsManager,
    GcpSecretManager,
    Doppler,
    Enpass,
    Passbolt,
    /// Kamal's own test adapter: each name, reversed, is its value (no CLI).
    Test,
}

/// Every adapter, for listings and tests.
pub const ADAPTERS: [Adapter; 10] = [
    Adapter::OnePassword,
    Adapter::Bitwarden,
    Adapter::BitwardenSecretsManager,
    Adapter::LastPass,
    Adapter::AwsSecretsManager,
    Adapter::GcpSecretManager,
    Adapter::Doppler,
    Adapter::Enpass,
    Adapter::Passbolt,
    Adapter::Test,
];

impl Adapter {
    /// The adapter `--adapter NAME` selects, as Kamal looks it up: the short names `1password`,
    /// `lastpass`, `gcp` and `bitwarden-sm` (any case), or the adapter's file name whose
    /// camel-cased form is the class name (`one_password`, `aws_secrets_manager`, `test`).
    pub fn lookup(name: &str) -> Option<Adapter> {
        let lower = name.to_lowercase();
        let canonical = match lower.as_str() {
            "1password" => "one_password",
            "lastpass" => "last_pass",
            "gcp" => "gcp_secret_manager",
            "bitwarden-sm" => "bitwarden_secrets_manager",
            _ => name,
        };
        let class = camelize(canonical);
        ADAPTERS
            .into_iter()
            .find(|adapter| adapter.class_name() == class)
    }

    /// The name Kamal's documentation uses, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Adapter::OnePassword => "1password",
            Adapter::Bitwarden => "bitwarden",
            Adapter::BitwardenSecretsManager => "bitwarden-sm",
            Adapter::LastPass => "lastpass",
            Adapter::AwsSecretsManager => "aws_secrets_manager",
            Adapter::GcpSecretManager => "gcp_secret_manager",
            Adapter::Doppler => "doppler",
            Adapter::Enpass => "enpass",
            Adapter::Passbolt => "passbolt",
            Adapter::Test => "test",
        }
    }

    fn class_name(self) -> &'static str {
        match self {
            Adapter::OnePassword => "OnePassword",
            Adapter::Bitwarden => "Bitwarden",
            Adapter::BitwardenSecretsManager => "BitwardenSecretsManager",
            Adapter::LastPass => "LastPass",
            Adapter::AwsSecretsManager => "AwsSecretsManager",
            Adapter::GcpSecretManager => "GcpSecretManager",
            Adapter::Doppler => "Doppler",
            Adapter::Enpass => "Enpass",
            Adapter::Passbolt => "Passbolt",
            Adapter::Test => "Test",
        }
    }

    /// Whether `--account` must be given.
    pub fn requires_account(self) -> bool {
        matches!(
            self,
            Adapter::OnePassword
                | Adapter::Bitwarden
                | Adapter::LastPass
                | Adapter::GcpSecretManager
                | Adapter::Test
        )
    }
}

/// ActiveSupport's `camelize` for a file name: `aws_secrets_manager` → `AwsSecretsManager`.
fn camelize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// What `kamal secrets fetch` was asked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FetchRequest {
    /// The secret names (or items, fields, paths: each adapter reads them its way).
    pub secrets: Vec<String>,
    pub account: Option<String>,
    /// A vault, folder or project the names are relative to.
    pub from: Option<String>,
}

impl FetchRequest {
    /// The names with `--from` and a `/` in front, as every Kamal adapter prefixes them.
    fn prefixed_secrets(&self) -> Vec<String> {
        self.secrets
            .iter()
            .map(|secret| match &self.from {
                Some(from) => format!("{from}/{secret}"),
                None => secret.clone(),
            })
            .collect()
    }

    fn account(&self) -> &str {
        self.account.as_deref().unwrap_or_default()
    }
}

/// Fetched secrets in the order the adapter found them; a key found again keeps its place and
/// takes the new value (a Ruby hash), so the JSON matches Kamal's byte for byte.
#[derive(Clone, Default, PartialEq)]
pub struct Fetched {
    entries: Vec<(String, Value)>,
}

impl std::fmt::Debug for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|(key, _)| key))
            .finish()
    }
}

impl Fetched {
    /// Sets `key`, in place when it is already there.
    pub fn insert(&mut self, key: impl Into<String>, value: Value) {
        let key = key.into();
        match self
            .entries
            .iter_mut()
            .find(|(existing, _)| *existing == key)
        {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key, value)),
        }
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.entries.iter().any(|(existing, _)| existing == key)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(key, _)| key.as_str())
    }

    /// Compact JSON, keys in their order: what `kamal secrets fetch` prints.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        for (index, (key, value)) in self.entries.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            out.push_str(&Value::String(key.clone()).to_string());
            out.push(':');
            out.push_str(&value.to_string());
        }
        out.push('}');
        out
    }
}

/// An adapter could not fetch: which adapter, and what failed (names only, never a value).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{adapter} adapter: {message}")]
pub struct AdapterError {
    pub adapter: &'static str,
    pub message: String,
}

impl AdapterError {
    fn new(adapter: Adapter, message: impl Into<String>) -> Self {
        AdapterError {
            adapter: adapter.name(),
            message: message.into(),
        }
    }
}

/// Fetches `request` with `adapter`, running vendor CLIs through `runner`: Kamal's order of
/// steps (account check, CLI installed, login, fetch).
pub fn fetch(
    adapter: Adapter,
    request: &FetchRequest,
    runner: &mut dyn VendorRunner,
) -> Result<Fetched, AdapterError> {
    if adapter.requires_account() && request.account.as_deref().is_none_or(is_blank) {
        return Err(AdapterError::new(
            adapter,
            "Missing required option '--account'",
        ));
    }
    match adapter {
        Adapter::OnePassword => one_password::fetch(request, runner),
        Adapter::Bitwarden => bitwarden::fetch(request, runner),
        Adapter::BitwardenSecretsManager => bitwarden_secrets_manager::fetch(request, runner),
        Adapter::LastPass => last_pass::fetch(request, runner),
        Adapter::AwsSecretsManager => aws_secrets_manager::fetch(request, runner),
        Adapter::GcpSecretManager => gcp_secret_manager::fetch(request, runner),
        Adapter::Doppler => doppler::fetch(request, runner),
        Adapter::Enpass => enpass::fetch(request, runner),
        Adapter::Passbolt => passbolt::fetch(request, runner),
        Adapter::Test => Ok(test_adapter::fetch(request)),
    }
}

/// Ruby's `blank?` for a string: empty or only whitespace.
fn is_blank(text: &str) -> bool {
    text.trim().is_empty()
}

/// Fails with "`<Vendor> CLI is not installed`" unless `program VERSION_ARG` runs and succeeds.
fn require_cli(
    adapter: Adapter,
    runner: &mut dyn VendorRunner,
    program: &'static str,
    version_arg: &str,
    vendor: &str,
) -> Result<(), AdapterError> {
    if runner
        .run(&VendorCall::new(program, [version_arg]).quiet())
        .success
    {
        Ok(())
    } else {
        Err(AdapterError::new(
            adapter,
            format!("{vendor} CLI is not installed"),
        ))
    }
}

/// Runs `call` and reads its answer as JSON; a call that fails is `failure` (Kamal's message,
/// which names what could not be read).
fn answer_of(
    adapter: Adapter,
    runner: &mut dyn VendorRunner,
    call: &VendorCall,
    failure: impl FnOnce() -> String,
) -> Result<Value, AdapterError> {
    let output = runner.run(call);
    if !output.success {
        return Err(AdapterError::new(adapter, failure()));
    }
    parse_json(adapter, call, &output.stdout)
}

/// Parses a CLI's answer; the error says which call answered, not what it answered.
fn parse_json(adapter: Adapter, call: &VendorCall, text: &str) -> Result<Value, AdapterError> {
    serde_json::from_str(text.trim()).map_err(|_| {
        AdapterError::new(
            adapter,
            format!(
                "the answer of `{} {}` is not JSON",
                call.program,
                call.args.first().map(String::as_str).unwrap_or_default()
            ),
        )
    })
}

/// Ruby's `Array#inspect` of names, as Kamal's messages show lists: `["a", "b"]`.
fn inspect_list(names: &[String]) -> String {
    let quoted: Vec<String> = names
        .iter()
        .map(|name| Value::String(name.clone()).to_string())
        .collect();
    format!("[{}]", quoted.join(", "))
}

#[cfg(test)]
mod tests;

/// Ruby's `String#split("/")`: trailing empty parts are dropped (`"a/b/"` → `["a", "b"]`).
fn split_path(text: &str) -> Vec<&str> {
    let mut parts: Vec<&str> = text.split('/').collect();
    while parts.last().is_some_and(|part| part.is_empty()) {
        parts.pop();
    }
    parts
}
