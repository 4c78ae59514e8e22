//! Passbolt (`passbolt`), as Kamal 2.11's `passbolt.rb`.
//!
//! - installed: `passbolt --version`; login: `passbolt verify` succeeds.
//! - names are `NAME` or `FOLDER[/SUBFOLDER...]/NAME`. Folders are looked up first: `passbolt
//!   list folders --filter 'Name == "TOP" || ...' --json`, then each subfolder level with
//!   `--filter 'Name == "SUB" && FolderParentID == "ID"'`; a folder not found fails. Then one
//!   `passbolt list resources --filter '(Name == "N" && FolderParentID == "ID") || Name ==
//!   "M"' --folder ID... --json`. Each resource's `name` is its key, `password` its value; a
//!   name not found fails.
//! - names and ids inside a filter are written as Kamal writes them: shell-escaped, then
//!   quoted as a Ruby string literal (`my folder` → `"my\\ folder"`).

use serde_json::Value;

use super::{
    Adapter, AdapterError, FetchRequest, Fetched, VendorCall, VendorRunner, answer_of, parse_json,
};
use crate::config::secrets::shell_words;

const ADAPTER: Adapter = Adapter::Passbolt;

/// A Passbolt folder as `list folders` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Folder {
    id: String,
    name: String,
    parent_id: String,
}

pub(super) fn fetch(
    request: &FetchRequest,
    runner: &mut dyn VendorRunner,
) -> Result<Fetched, AdapterError> {
    super::require_cli(ADAPTER, runner, "passbolt", "--version", "Passbolt")?;
    if !runner.run(&VendorCall::new("passbolt", ["verify"])).success {
        return Err(AdapterError::new(ADAPTER, "Failed to login to Passbolt"));
    }
    let secrets = request.prefixed_secrets();
    if secrets.is_empty() {
        return Err(AdapterError::new(ADAPTER, "No secrets given to fetch"));
    }
    let names: Vec<&str> = secrets
        .iter()
        .map(|secret| {
            super::split_path(secret)
                .last()
                .copied()
                .unwrap_or_default()
        })
        .collect();
    let folders = folders(&secrets, runner)?;
    let mut conditions = Vec::new();
    for secret in &secrets {
        let parts = super::split_path(secret);
        let name = parts.last().copied().unwrap_or_default();
        if parts.len() > 1 {
            let mut path: Vec<&str> = Vec::new();
            let mut found = None;
            for folder_name in &parts[..parts.len() - 1] {
                path.push(folder_name);
                let wanted = path.join("/");
                if let Some(folder) = folders
                    .iter()
                    .find(|folder| folder_path(folder, &folders) == wanted)
                {
                    found = Some(folder);
                }
            }
            if let Some(folder) = found {
                conditions.push(format!(
                    "(Name == {} && FolderParentID == {})",
                    quoted(name),
                    quoted(&folder.id)
                ));
            }
        } else {
            conditions.push(format!("Name == {}", quoted(name)));
        }
    }
    let mut args = vec!["list".to_string(), "resources".to_string()];
    if !conditions.is_empty() {
        args.extend(["--filter".to_string(), conditions.join(" || ")]);
    }
    for folder in &folders {
        args.extend(["--folder".to_string(), folder.id.clone()]);
    }
    args.push("--json".to_string());
    let answer = answer_of(ADAPTER, runner, &VendorCall::new("passbolt", args), || {
        format!(
            "Could not read {} from Passbolt",
            super::inspect_list(&secrets)
        )
    })?;
    let resources: Vec<&Value> = answer.as_array().into_iter().flatten().collect();
    let found: Vec<&str> = resources
        .iter()
        .filter_map(|resource| resource.get("name").and_then(Value::as_str))
        .collect();
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|name| !found.contains(name))
        .collect();
    if !missing.is_empty() {
        return Err(AdapterError::new(
            ADAPTER,
            format!(
                "Could not find the following secrets in Passbolt: {}",
                missing.join(", ")
            ),
        ));
    }
    let mut results = Fetched::default();
    for resource in resources {
        let name = resource
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        results.insert(
            name,
            resource.get("password").cloned().unwrap_or(Value::Null),
        );
    }
    Ok(results)
}

/// Every folder the names go through: the top-level ones in one call, then each deeper level
/// under its parent.
fn folders(secrets: &[String], runner: &mut dyn VendorRunner) -> Result<Vec<Folder>, AdapterError> {
    let mut paths: Vec<Vec<&str>> = Vec::new();
    for secret in secrets.iter().filter(|secret| secret.contains('/')) {
        let parts = super::split_path(secret);
        let path = parts[..parts.len().saturating_sub(1)].to_vec();
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let mut tops: Vec<&str> = Vec::new();
    for path in &paths {
        let top = path.first().copied().unwrap_or_default();
        if !tops.contains(&top) {
            tops.push(top);
        }
    }
    let filter: Vec<String> = tops
        .iter()
        .map(|name| format!("Name == {}", quoted(name)))
        .collect();
    let top_folders = list_folders(&filter.join(" || "), runner)
        .ok_or_else(|| AdapterError::new(ADAPTER, "Could not read folders from Passbolt"))??;
    let mut all = top_folders.clone();
    for path in paths.iter().filter(|path| path.len() > 1) {
        let Some(mut parent) = top_folders
            .iter()
            .find(|folder| folder.name == path[0])
            .cloned()
        else {
            continue;
        };
        for folder_name in &path[1..] {
            let filter = format!(
                "Name == {} && FolderParentID == {}",
                quoted(folder_name),
                quoted(&parent.id)
            );
            let Some(nested) = list_folders(&filter, runner) else {
                continue;
            };
            let nested = nested?;
            let Some(first) = nested.first().cloned() else {
                break;
            };
            all.extend(nested);
            parent = first;
        }
    }
    let found: Vec<String> = all.iter().map(|folder| folder_path(folder, &all)).collect();
    let missing: Vec<String> = paths
        .iter()
        .map(|path| path.join("/"))
        .filter(|path| !found.contains(path))
        .collect();
    if !missing.is_empty() {
        return Err(AdapterError::new(
            ADAPTER,
            format!(
                "Could not find the following folders in Passbolt: {}",
                missing.join(", ")
            ),
        ));
    }
    Ok(all)
}

/// `passbolt list folders --filter FILTER --json`: `None` when the call failed.
fn list_folders(
    filter: &str,
    runner: &mut dyn VendorRunner,
) -> Option<Result<Vec<Folder>, AdapterError>> {
    let call = VendorCall::new(
        "passbolt",
        ["list", "folders", "--filter", filter, "--json"],
    );
    let output = runner.run(&call);
    if !output.success {
        return None;
    }
    Some(parse_json(ADAPTER, &call, &output.stdout).map(|answer| {
        answer
            .as_array()
            .into_iter()
            .flatten()
            .map(|folder| {
                let text = |name: &str| match folder.get(name) {
                    Some(Value::String(text)) => text.clone(),
                    Some(Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                };
                Folder {
                    id: text("id"),
                    name: text("name"),
                    parent_id: text("folder_parent_id"),
                }
            })
            .collect()
    }))
}

/// The folder's path from the top, through the parents among `all`.
fn folder_path(folder: &Folder, all: &[Folder]) -> String {
    let mut names = vec![folder.name.as_str()];
    let mut current = folder;
    while !current.parent_id.is_empty() {
        match all
            .iter()
            .find(|candidate| candidate.id == current.parent_id)
        {
            Some(parent) if names.len() <= all.len() => {
                names.insert(0, parent.name.as_str());
                current = parent;
            }
            _ => break,
        }
    }
    names.join("/")
}

/// A name as Kamal puts it into a filter: `shellescape`, then Ruby's `String#inspect`.
fn quoted(text: &str) -> String {
    let escaped = shell_words::escape(text);
    let chars: Vec<char> = escaped.chars().collect();
    let mut out = String::from("\"");
    for (index, c) in chars.iter().enumerate() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '#' if matches!(chars.get(index + 1), Some('{' | '$' | '@')) => out.push_str("\\#"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            c if (*c as u32) < 0x20 || *c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02X}", *c as u32));
            }
            c => out.push(*c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_filters_are_written_as_kamal_writes_them() {
        assert_eq!(quoted("DB_PASSWORD"), "\"DB_PASSWORD\"");
        assert_eq!(quoted("My Folder"), r#""My\\ Folder""#);
        // After shell-escaping, `#` is followed by a backslash, so Ruby does not escape it.
        assert_eq!(quoted("a\"b#{c}"), r#""a\\\"b\\#\\{c\\}""#);
    }

    #[test]
    fn a_folder_path_goes_up_through_its_parents() {
        let folder = |id: &str, name: &str, parent_id: &str| Folder {
            id: id.to_string(),
            name: name.to_string(),
            parent_id: parent_id.to_string(),
        };
        let all = [
            folder("1", "Deploy", ""),
            folder("2", "Prod", "1"),
            folder("3", "Loop", "3"),
        ];
        assert_eq!(folder_path(&all[1], &all), "Deploy/Prod");
        assert_eq!(folder_path(&all[0], &all), "Deploy");
        // A folder that is its own parent ends the walk instead of looping.
        assert!(folder_path(&all[2], &all).starts_with("Loop"));
    }
}
