//! Which directories exist on a host, asked with one shell command: accessory `directories:`
//! (absolute or relative to the home directory, as deploy.yml names them) and the lock
//! directory. Pure builders, so every [`super::Host`] asks and reads it the same way, alone or
//! inside a larger script.

use std::collections::BTreeMap;

use super::{Host, HostError};

/// Which of `directories` exist on `host`, in one command; no command at all when there are
/// none.
pub async fn existing<H: Host + ?Sized>(
    host: &H,
    directories: &[String],
) -> Result<BTreeMap<String, bool>, HostError> {
    if directories.is_empty() {
        return Ok(BTreeMap::new());
    }
    let failed = |message: String| HostError::Command {
        host: host.name().to_string(),
        message,
    };
    let output = host
        .run_command(&script(directories).map_err(failed)?)
        .await?;
    if !output.success() {
        return Err(failed(format!(
            "checking directories: {}",
            output.message()
        )));
    }
    parse(directories, &output.stdout)
        .map(|(answers, _)| answers)
        .map_err(failed)
}

/// Prints `y` or `n` per directory, one line each, in order.
pub fn script(directories: &[String]) -> Result<String, String> {
    let mut script = String::new();
    for directory in directories {
        let quoted = shlex::try_quote(directory)
            .map_err(|_| format!("directory name {directory:?} cannot be quoted"))?;
        script.push_str(&format!(
            "if [ -d {quoted} ]; then echo y; else echo n; fi; "
        ));
    }
    Ok(script)
}

/// Reads [`script`]'s answers from the start of `stdout`; the rest of the output after them.
pub fn parse<'a>(
    directories: &[String],
    stdout: &'a str,
) -> Result<(BTreeMap<String, bool>, &'a str), String> {
    let mut rest = stdout;
    let mut answers = BTreeMap::new();
    for directory in directories {
        let (answer, after) = rest.split_once('\n').unwrap_or((rest, ""));
        let exists = match answer {
            "y" => true,
            "n" => false,
            _ => return Err("checking directories: unexpected output".to_string()),
        };
        answers.insert(directory.clone(), exists);
        rest = after;
    }
    Ok((answers, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_come_back_in_order_and_leave_the_rest() {
        let directories = vec!["/srv/db data".to_string(), "db/conf".to_string()];
        let script = script(&directories).unwrap();
        assert!(script.contains("'/srv/db data'"), "{script}");
        let (answers, rest) = parse(&directories, "n\ny\nmore\n").unwrap();
        assert!(!answers["/srv/db data"]);
        assert!(answers["db/conf"]);
        assert_eq!(rest, "more\n");
        assert!(parse(&directories, "y\n").is_err());
    }

    #[test]
    fn the_script_answers_on_a_real_shell() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join("there")).unwrap();
        let directories = vec!["there".to_string(), "absent".to_string()];
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(script(&directories).unwrap())
            .current_dir(home.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        let (answers, rest) = parse(&directories, &stdout).unwrap();
        assert!(answers["there"]);
        assert!(!answers["absent"]);
        assert_eq!(rest, "");
    }
}
