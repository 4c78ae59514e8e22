//! The shell scripts behind the file operations of the [`Host`](crate::host::Host) trait.
//!
//! Pure builders: each returns the command to run in the SSH user's home directory. Every path
//! is quoted with `shlex`; contents travel on stdin, never in the script. Paths are relative to
//! the home directory and may not climb out of it.

use std::collections::BTreeMap;

use base64::Engine;

/// A path gantry refuses to touch: empty, absolute, or climbing with `..`.
pub fn unsafe_path(path: &str) -> Option<String> {
    if path.is_empty() || path.starts_with('/') || path.split('/').any(|part| part == "..") {
        return Some(format!(
            "refusing path {path:?}: paths must stay under the home directory"
        ));
    }
    None
}

fn quote(text: &str) -> Result<String, String> {
    shlex::try_quote(text)
        .map(|quoted| quoted.into_owned())
        .map_err(|_| format!("{text:?} cannot be quoted for a shell"))
}

fn parent(path: &str) -> Option<&str> {
    path.rsplit_once('/')
        .map(|(parent, _)| parent)
        .filter(|parent| !parent.is_empty())
}

const PRESENT: &str = "@@gantry-file@@";
const MISSING: &str = "@@gantry-missing@@";

/// Prints every file as a marker line and one line of base64, or a missing marker.
pub fn read_files_script(paths: &[String]) -> Result<String, String> {
    let mut script = String::new();
    for path in paths {
        let quoted = quote(path)?;
        script.push_str(&format!(
            "if [ -f {quoted} ]; then echo '{PRESENT}'; base64 < {quoted} | tr -d '\\n'; echo; else echo '{MISSING}'; fi; "
        ));
    }
    Ok(script)
}

/// Reads the output of [`read_files_script`].
pub fn parse_read_files(
    paths: &[String],
    stdout: &str,
) -> Result<BTreeMap<String, Option<Vec<u8>>>, String> {
    let mut lines = stdout.lines();
    let mut files = BTreeMap::new();
    for path in paths {
        let contents = match lines.next() {
            Some(PRESENT) => {
                let encoded = lines.next().unwrap_or_default();
                Some(
                    base64::engine::general_purpose::STANDARD
                        .decode(encoded.trim())
                        .map_err(|error| format!("reading {path}: {error}"))?,
                )
            }
            Some(MISSING) => None,
            other => return Err(format!("reading {path}: unexpected output {other:?}")),
        };
        files.insert(path.clone(), contents);
    }
    Ok(files)
}

/// Writes stdin to `path` with `mode`, through a temporary file renamed into place.
pub fn write_file_script(path: &str, mode: u32) -> Result<String, String> {
    let quoted = quote(path)?;
    let temporary = quote(&format!("{path}.gantry-tmp"))?;
    let mkdir = match parent(path) {
        Some(parent) => format!("mkdir -p {} && ", quote(parent)?),
        None => String::new(),
    };
    Ok(format!(
        "set -e; {mkdir}umask 077; cat > {temporary}; chmod {mode:o} {temporary}; mv -f {temporary} {quoted}"
    ))
}

/// Appends stdin to `path`.
pub fn append_script(path: &str) -> Result<String, String> {
    let quoted = quote(path)?;
    let mkdir = match parent(path) {
        Some(parent) => format!("mkdir -p {} && ", quote(parent)?),
        None => String::new(),
    };
    Ok(format!("{mkdir}cat >> {quoted}"))
}

/// Prints `created` or `exists`; fails otherwise.
pub fn create_dir_script(path: &str) -> Result<String, String> {
    let quoted = quote(path)?;
    let mkdir = match parent(path) {
        Some(parent) => format!("mkdir -p {} && ", quote(parent)?),
        None => String::new(),
    };
    Ok(format!(
        "{mkdir}if mkdir {quoted} 2>/dev/null; then echo created; elif [ -d {quoted} ]; then echo exists; else mkdir {quoted}; fi"
    ))
}

/// Removes a file or a tree.
pub fn remove_script(path: &str) -> Result<String, String> {
    Ok(format!("rm -rf -- {}", quote(path)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_quote_every_path() {
        assert_eq!(
            write_file_script(".kamal/apps/app/env/roles/web.env", 0o600).unwrap(),
            "set -e; mkdir -p .kamal/apps/app/env/roles && umask 077; cat > .kamal/apps/app/env/roles/web.env.gantry-tmp; chmod 600 .kamal/apps/app/env/roles/web.env.gantry-tmp; mv -f .kamal/apps/app/env/roles/web.env.gantry-tmp .kamal/apps/app/env/roles/web.env"
        );
        assert_eq!(
            remove_script("a b; rm -rf /").unwrap(),
            "rm -rf -- 'a b; rm -rf /'"
        );
        assert!(unsafe_path("/etc/passwd").is_some());
        assert!(unsafe_path("a/../../etc").is_some());
        assert!(unsafe_path("").is_some());
        assert!(unsafe_path(".kamal/lock-app").is_none());
    }

    #[test]
    fn read_files_round_trip() {
        let paths = vec!["a".to_string(), "b".to_string()];
        let script = read_files_script(&paths).unwrap();
        assert!(script.contains("[ -f a ]"));
        let output = format!("{PRESENT}\naGVsbG8K\n{MISSING}\n");
        let files = parse_read_files(&paths, &output).unwrap();
        assert_eq!(files["a"], Some(b"hello\n".to_vec()));
        assert_eq!(files["b"], None);
        assert!(parse_read_files(&paths, "garbage").is_err());
    }
}
