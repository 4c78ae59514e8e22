//! Kamal's `test` adapter, which its own tests use: no CLI; each name (with `--from/` in
//! front) is its key, and the value is the key reversed, with `LPAREN`/`RPAREN` turned into
//! parentheses first.

use serde_json::Value;

use super::{FetchRequest, Fetched};

pub(super) fn fetch(request: &FetchRequest) -> Fetched {
    let mut results = Fetched::default();
    for secret in request.prefixed_secrets() {
        let value: String = secret
            .replace("LPAREN", "(")
            .replace("RPAREN", ")")
            .chars()
            .rev()
            .collect();
        results.insert(secret, Value::String(value));
    }
    results
}
