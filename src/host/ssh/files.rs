//! The shell scripts behind the file operations of the [`Host`](crate::host::Host) trait.
//!
//! Pure builders: each returns the command to run in the SSH user's home directory. Every path
//! is quoted with `shlex`, and one that starts with `-` is written `./-...` so that no command
//! reads it as an option; contents travel on stdin, never in the script. Paths are relative to
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

pub(super) fn quote(text: &str) -> Result<String, String> {
    shlex::try_quote(text)
        .map(|quoted| quoted.into_owned())
        .map_err(|_| format!("{text:?} cannot be quoted for a shell"))
}

/// A path as a shell word: quoted, and never mistaken for an option.
pub(super) fn quote_path(path: &str) -> Result<String, String> {
    if path.starts_with('-') {
        quote(&format!("./{path}"))
    } else {
        quote(path)
    }
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
        let quoted = quote_path(path)?;
        script.push_str(&format!(
            "if [ ! -f {quoted} ]; then echo '{MISSING}'; \
             elif [ -r {quoted} ]; then echo '{PRESENT}'; base64 < {quoted} | tr -d '\\n'; echo; \
             else echo {quoted}': permission denied' >&2; exit 1; fi; "
        ));
    }
    Ok(script)
}

/// Where Docker keeps named volumes under its default data root.
const DEFAULT_VOLUMES: &str = "/var/lib/docker/volumes";

/// Prints where `file` of the named volume `volume` lies on the host, then its contents as
/// [`read_files_script`] prints a file, or the missing marker when the SSH user cannot read it
/// (never a failure). The volume is looked for under Docker's default data root, else the
/// host's `docker` CLI is asked where it is (another data root): no round trip either way.
pub fn read_volume_file_script(volume: &str, file: &str) -> Result<String, String> {
    let default = quote(&format!("{DEFAULT_VOLUMES}/{volume}/_data"))?;
    let volume = quote(volume)?;
    let file = quote(file)?;
    Ok(format!(
        "d={default}; [ -d \"$d\" ] || d=$(docker volume inspect -f '{{{{.Mountpoint}}}}' {volume} \
         2>/dev/null); f=\"$d\"/{file}; echo \"$f\"; \
         if [ -n \"$d\" ] && [ -f \"$f\" ] && [ -r \"$f\" ]; then echo '{PRESENT}'; \
         base64 < \"$f\" | tr -d '\\n'; echo; else echo '{MISSING}'; fi; "
    ))
}

/// Reads the output of [`read_volume_file_script`] at the start of `stdout`: the file's path on
/// the host and its contents (`None` when unread), then the rest of the output.
pub fn parse_volume_file(stdout: &str) -> Result<(String, Option<Vec<u8>>, &str), String> {
    let unexpected = || "reading a volume's file: unexpected output".to_string();
    let (path, rest) = stdout.split_once('\n').ok_or_else(unexpected)?;
    let (marker, rest) = rest.split_once('\n').ok_or_else(unexpected)?;
    match marker {
        PRESENT => {
            let (encoded, rest) = rest.split_once('\n').unwrap_or((rest, ""));
            let contents = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|error| format!("reading {path}: {error}"))?;
            Ok((path.to_string(), Some(contents), rest))
        }
        MISSING => Ok((path.to_string(), None, rest)),
        _ => Err(unexpected()),
    }
}

/// Prints, per path, its age in seconds by the host's clock (`date +%s` once, minus the file's
/// modification time), or `-` for a missing file.
pub fn file_ages_script(paths: &[String]) -> Result<String, String> {
    let mut script = String::from("now=$(date +%s) || exit 1; ");
    for path in paths {
        let quoted = quote_path(path)?;
        script.push_str(&format!(
            "if [ -f {quoted} ]; then echo $((now - $(stat -c %Y {quoted}))); else echo -; fi; "
        ));
    }
    Ok(script)
}

/// Reads the output of [`file_ages_script`]; a modification time in the host's future (its
/// clock was set back) reads as just written.
pub fn parse_file_ages(
    paths: &[String],
    stdout: &str,
) -> Result<BTreeMap<String, Option<std::time::Duration>>, String> {
    let mut lines = stdout.lines();
    paths
        .iter()
        .map(|path| {
            let age = match lines.next().map(str::trim) {
                Some("-") => None,
                Some(seconds) => Some(std::time::Duration::from_secs(
                    seconds
                        .parse::<i64>()
                        .map_err(|_| format!("reading the age of {path}: {seconds:?}"))?
                        .max(0) as u64,
                )),
                None => return Err(format!("reading the age of {path}: no answer")),
            };
            Ok((path.clone(), age))
        })
        .collect()
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

/// Writes stdin to `path` with `mode`, through a temporary file in the same directory renamed
/// into place: readers see the old contents or the new, never a part. The temporary name carries
/// the shell's pid, so two writers of one file do not share it, and it is removed on failure.
pub fn write_file_script(path: &str, mode: u32) -> Result<String, String> {
    let quoted = quote_path(path)?;
    let temporary = quote_path(&format!("{path}.gantry-tmp"))?;
    let mkdir = match parent(path) {
        Some(parent) => format!("mkdir -p {}; ", quote_path(parent)?),
        None => String::new(),
    };
    Ok(format!(
        "set -e; {mkdir}umask 077; tmp={temporary}.$$; trap 'rm -f \"$tmp\"' EXIT; \
         cat > \"$tmp\"; chmod {mode:o} \"$tmp\"; mv -f \"$tmp\" {quoted}"
    ))
}

/// Appends stdin to `path`.
pub fn append_script(path: &str) -> Result<String, String> {
    let quoted = quote_path(path)?;
    let mkdir = match parent(path) {
        Some(parent) => format!("mkdir -p {} && ", quote_path(parent)?),
        None => String::new(),
    };
    Ok(format!("{mkdir}cat >> {quoted}"))
}

/// Prints `created` or `exists`; fails otherwise.
pub fn create_dir_script(path: &str) -> Result<String, String> {
    let quoted = quote_path(path)?;
    let mkdir = match parent(path) {
        Some(parent) => format!("mkdir -p {} && ", quote_path(parent)?),
        None => String::new(),
    };
    // The directory can go between a failed `mkdir` and the look at it (a lock being released):
    // then it is tried once more, and only a third failure is reported as an error.
    let attempt = format!(
        "mkdir {quoted} 2>/dev/null; then echo created; elif [ -d {quoted} ]; then echo exists"
    );
    Ok(format!(
        "{mkdir}if {attempt}; elif {attempt}; else mkdir {quoted}; fi"
    ))
}

/// [`create_dir_script`], then, when it printed `created`, [`write_file_script`] for `file`
/// with stdin; a failed write removes the directory again and fails. (The write runs as a plain
/// statement: on the left of `||` its `set -e` would be ignored.)
pub fn create_dir_with_file_script(dir: &str, file: &str, mode: u32) -> Result<String, String> {
    Ok(format!(
        "created=$({}) || exit 1; echo \"$created\"; [ \"$created\" = created ] || exit 0; \
         ({}); [ $? = 0 ] || {{ {}; exit 1; }}",
        create_dir_script(dir)?,
        write_file_script(file, mode)?,
        remove_script(dir)?
    ))
}

/// A path deploy.yml names outright (an accessory's `directories:`): absolute paths are allowed,
/// as Kamal allows them, but not an empty path or one that climbs with `..`.
pub fn unsafe_configured_path(path: &str) -> Option<String> {
    if path.is_empty() || path.split('/').any(|part| part == "..") {
        return Some(format!(
            "refusing path {path:?}: a directory must be named without `..`"
        ));
    }
    None
}

/// `mkdir -p`, then `chmod` and `chown` when given: an accessory's directory, as Kamal prepares
/// it on every boot.
pub fn make_directory_script(
    path: &str,
    mode: Option<u32>,
    owner: Option<&str>,
) -> Result<String, String> {
    let quoted = quote_path(path)?;
    let mut script = format!("set -e; mkdir -p {quoted}");
    if let Some(mode) = mode {
        script.push_str(&format!("; chmod {mode:o} {quoted}"));
    }
    if let Some(owner) = owner {
        script.push_str(&format!("; {}", change_owner_script(path, owner)?));
    }
    Ok(script)
}

/// `chown` of one path; the owner is quoted like a path, so it cannot be read as an option.
pub fn change_owner_script(path: &str, owner: &str) -> Result<String, String> {
    if owner.starts_with('-') {
        return Err(format!(
            "refusing owner {owner:?}: it would read as an option"
        ));
    }
    Ok(format!("chown {} {}", quote(owner)?, quote_path(path)?))
}

/// Removes a file or a tree.
pub fn remove_script(path: &str) -> Result<String, String> {
    Ok(format!("rm -rf -- {}", quote_path(path)?))
}

/// Removes `dir` when `file` holds exactly stdin, in one command: `cmp` then `rm`, with nothing
/// in between that another run could act on. Prints `removed` or `kept`. (`cmp` stops reading at
/// the first difference; the rest of stdin is drained so the sender never meets a closed pipe.)
pub fn remove_dir_if_file_is_script(dir: &str, file: &str) -> Result<String, String> {
    Ok(format!(
        "if cmp -s - {} 2>/dev/null; then {} && echo removed; else cat >/dev/null; echo kept; fi",
        quote_path(file)?,
        remove_script(dir)?
    ))
}

/// What [`change_files_script`] does to one file; its stdin is the contents.
pub enum ScriptedChange<'a> {
    Write { path: &'a str, mode: u32 },
    Append { path: &'a str },
    RemoveDirIfFileIs { dir: &'a str, file: &'a str },
}

/// Runs each change's script in order on its own contents: stdin holds one line of base64 per
/// change, and each line is decoded into that change's script (the scripts above, each in a
/// subshell). Prints one line per change: `done`, `removed`, `kept` or `failed`. The contents
/// travel on stdin, never on a command line.
pub fn change_files_script(changes: &[ScriptedChange<'_>]) -> Result<String, String> {
    let mut script = String::new();
    for change in changes {
        let (inner, answers) = match change {
            ScriptedChange::Write { path, mode } => (write_file_script(path, *mode)?, false),
            ScriptedChange::Append { path } => (append_script(path)?, false),
            ScriptedChange::RemoveDirIfFileIs { dir, file } => {
                (remove_dir_if_file_is_script(dir, file)?, true)
            }
        };
        let run = format!("printf '%s' \"$data\" | base64 -d | ({inner})");
        script += "IFS= read -r data || data=; ";
        script += &if answers {
            format!("{run} || echo failed; ")
        } else {
            format!("if {run}; then echo done; else echo failed; fi; ")
        };
    }
    Ok(script)
}

/// The stdin of [`change_files_script`]: each change's contents as one line of base64.
pub fn change_files_input(contents: &[&[u8]]) -> Vec<u8> {
    let mut input = String::new();
    for bytes in contents {
        input += &base64::engine::general_purpose::STANDARD.encode(bytes);
        input.push('\n');
    }
    input.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run by `sh` on real files: ages by the clock of the machine that runs the script.
    #[test]
    fn file_ages_come_from_the_hosts_clock() {
        let scratch = tempfile::tempdir().unwrap();
        std::fs::write(scratch.path().join("journal.json"), b"{}").unwrap();
        let old = std::fs::File::options()
            .write(true)
            .open(scratch.path().join("journal.json"))
            .unwrap();
        old.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(300))
            .unwrap();
        let paths = vec!["journal.json".to_string(), "missing".to_string()];
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(file_ages_script(&paths).unwrap())
            .current_dir(scratch.path())
            .output()
            .unwrap();
        let ages = parse_file_ages(&paths, &String::from_utf8(output.stdout).unwrap()).unwrap();
        let age = ages["journal.json"].unwrap().as_secs();
        assert!((299..=310).contains(&age), "{age}");
        assert_eq!(ages["missing"], None);
        assert_eq!(
            parse_file_ages(&paths[..1], "-7\n").unwrap()["journal.json"],
            Some(std::time::Duration::ZERO)
        );
    }

    /// Run by `sh` in a scratch directory: the lock goes only while its details are unchanged.
    #[test]
    fn compare_and_delete_removes_only_an_unchanged_directory() {
        let scratch = tempfile::tempdir().unwrap();
        std::fs::create_dir(scratch.path().join("lock")).unwrap();
        std::fs::write(scratch.path().join("lock/details"), b"mine\n").unwrap();
        let script = remove_dir_if_file_is_script("lock", "lock/details").unwrap();
        let run = |stdin: &[u8]| {
            use std::io::Write as _;
            let mut child = std::process::Command::new("sh")
                .arg("-c")
                .arg(&script)
                .current_dir(scratch.path())
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(stdin).unwrap();
            String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
        };
        assert_eq!(run(b"theirs\n"), "kept\n");
        assert!(scratch.path().join("lock").exists());
        assert_eq!(run(b"mine\n"), "removed\n");
        assert!(!scratch.path().join("lock").exists());
        assert_eq!(run(b"mine\n"), "kept\n");
    }

    #[test]
    fn scripts_quote_every_path() {
        assert_eq!(
            write_file_script(".kamal/apps/app/env/roles/web.env", 0o600).unwrap(),
            "set -e; mkdir -p .kamal/apps/app/env/roles; umask 077; tmp=.kamal/apps/app/env/roles/web.env.gantry-tmp.$$; \
             trap 'rm -f \"$tmp\"' EXIT; cat > \"$tmp\"; chmod 600 \"$tmp\"; mv -f \"$tmp\" .kamal/apps/app/env/roles/web.env"
        );
        assert_eq!(
            write_file_script("my dir/f", 0o644).unwrap(),
            "set -e; mkdir -p 'my dir'; umask 077; tmp='my dir/f.gantry-tmp'.$$; \
             trap 'rm -f \"$tmp\"' EXIT; cat > \"$tmp\"; chmod 644 \"$tmp\"; mv -f \"$tmp\" 'my dir/f'"
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

    /// Runs `script` in `home` with `sh -c`, as sshd runs it in the user's home, feeding `stdin`.
    fn sh(home: &std::path::Path, script: &str, stdin: &[u8]) -> std::process::Output {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(home)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A script that reads no input may be gone before it is written: a broken pipe then.
        if let Err(error) = child.stdin.take().unwrap().write_all(stdin) {
            assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe, "{error}");
        }
        child.wait_with_output().unwrap()
    }

    /// Every path under `home`, relative, sorted.
    fn tree(home: &std::path::Path) -> Vec<String> {
        let mut paths: Vec<String> = walkdir::WalkDir::new(home)
            .min_depth(1)
            .into_iter()
            .map(|entry| {
                let entry = entry.unwrap();
                entry
                    .path()
                    .strip_prefix(home)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        paths.sort();
        paths
    }

    /// Every file operation on a path built from `name` does exactly what it says and nothing
    /// else: the tree afterwards holds exactly the expected entries (no `pwned` marker, no
    /// stray file), contents round-trip, the mode is set.
    fn check_hostile_name(name: &str) {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().unwrap();
        let dir = format!(".kamal/{name}");
        let file = format!("{dir}/{name}.env");
        let top = name.to_string();
        let created_dir = format!("{dir}/lock-{name}");
        let ok = |script: Result<String, String>, stdin: &[u8]| {
            let output = sh(home.path(), &script.unwrap(), stdin);
            assert!(
                output.status.success(),
                "{name:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8_lossy(&output.stdout).into_owned()
        };
        ok(write_file_script(&file, 0o600), b"SECRET=1\n");
        ok(write_file_script(&top, 0o644), b"top\n");
        ok(append_script(&file), b"MORE=2\n");
        assert_eq!(
            ok(create_dir_script(&created_dir), b""),
            "created\n",
            "{name:?}"
        );
        assert_eq!(
            ok(create_dir_script(&created_dir), b""),
            "exists\n",
            "{name:?}"
        );
        let taken = format!("{dir}/taken-{name}");
        let details = format!("{taken}/details");
        assert_eq!(
            ok(
                create_dir_with_file_script(&taken, &details, 0o644),
                b"mine\n"
            ),
            "created\n",
            "{name:?}"
        );
        assert_eq!(
            ok(
                create_dir_with_file_script(&taken, &details, 0o644),
                b"theirs\n"
            ),
            "exists\n",
            "{name:?}"
        );
        assert_eq!(
            std::fs::read(home.path().join(&details)).unwrap(),
            b"mine\n",
            "{name:?}: the second taker wrote nothing"
        );
        let paths = vec![file.clone(), top.clone(), format!("{dir}/missing")];
        let read = parse_read_files(&paths, &ok(read_files_script(&paths), b"")).unwrap();
        assert_eq!(
            read[&file].as_deref(),
            Some(&b"SECRET=1\nMORE=2\n"[..]),
            "{name:?}"
        );
        assert_eq!(read[&top].as_deref(), Some(&b"top\n"[..]), "{name:?}");
        assert_eq!(read[&paths[2]], None, "{name:?}");
        let mode = std::fs::metadata(home.path().join(&file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name:?}");
        let mut expected = vec![
            ".kamal".to_string(),
            dir.clone(),
            file.clone(),
            top.clone(),
            created_dir.clone(),
            taken.clone(),
            details.clone(),
        ];
        expected.sort();
        assert_eq!(tree(home.path()), expected, "{name:?}");
        ok(remove_script(&top), b"");
        ok(remove_script(".kamal"), b"");
        assert!(tree(home.path()).is_empty(), "{name:?}");
    }

    /// A lock without its details would stop every deploy with a lock no one can name.
    #[test]
    fn a_directory_whose_file_cannot_be_written_is_removed_again() {
        let home = tempfile::tempdir().unwrap();
        // chmod refuses the mode: the write fails after the directory was made.
        let script =
            create_dir_with_file_script(".kamal/lock-app", ".kamal/lock-app/details", 0o7777777);
        let output = sh(home.path(), &script.unwrap(), b"details\n");
        assert!(!output.status.success());
        assert_eq!(tree(home.path()), vec![".kamal".to_string()]);
    }

    #[test]
    fn hostile_names_are_inert_in_every_script() {
        for name in [
            "a;touch pwned",
            "$(touch pwned)",
            "`touch pwned`",
            "a\ntouch pwned",
            "x\r\ntouch pwned",
            "-rf",
            "--help",
            "-",
            "a b",
            "'",
            "\"",
            "a'b\"c",
            "*",
            "\\",
            "$HOME",
            "${IFS}",
            "a&&touch pwned",
            "|touch pwned",
            ">pwned",
            "<pwned",
            "#x",
            "~",
            "!x",
            "{a,b}",
            "tab\there",
            "ünï",
        ] {
            check_hostile_name(name);
        }
        assert!(
            write_file_script("a\0b", 0o600).is_err(),
            "NUL cannot be quoted"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 48, ..Default::default() })]

        #[test]
        fn any_name_made_of_shell_characters_is_inert(
            name in "[-a-z0-9;$()`'\"\\ \n\t*&|<>#~!{}=?\\[\\]]{1,10}"
        ) {
            proptest::prop_assume!(name != "." && name != "..");
            check_hostile_name(&name);
        }
    }

    #[test]
    fn directories_get_their_mode_and_owner() {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            make_directory_script("/var/lib/my data", Some(0o750), Some("999:999")).unwrap(),
            "set -e; mkdir -p '/var/lib/my data'; chmod 750 '/var/lib/my data'; \
             chown 999:999 '/var/lib/my data'"
        );
        assert_eq!(
            make_directory_script("app-db/data", None, None).unwrap(),
            "set -e; mkdir -p app-db/data"
        );
        assert!(change_owner_script("f", "--reference=/etc").is_err());
        assert!(unsafe_configured_path("/srv/data").is_none());
        assert!(unsafe_configured_path("/srv/../etc").is_some());

        let home = tempfile::tempdir().unwrap();
        let boot_and_read_mode = || {
            let output = sh(
                home.path(),
                &make_directory_script("db/data/x", Some(0o700), None).unwrap(),
                b"",
            );
            assert!(output.status.success());
            std::fs::metadata(home.path().join("db/data/x"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(boot_and_read_mode(), 0o700);
        // A second boot finds the directory and sets the mode again.
        std::fs::set_permissions(
            home.path().join("db/data/x"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        assert_eq!(boot_and_read_mode(), 0o700);
    }

    /// Run by `sh`: a volume outside Docker's default data root is found through the `docker`
    /// CLI (a stand-in on PATH answering `volume inspect`), read, and followed by the files.
    #[test]
    fn a_volume_file_is_read_where_docker_keeps_the_volume() {
        let scratch = tempfile::tempdir().unwrap();
        let (bin, volume) = (scratch.path().join("bin"), scratch.path().join("state"));
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&volume).unwrap();
        std::fs::write(volume.join("proxy.state"), b"{\"routes\": 1}\n").unwrap();
        let docker = bin.join("docker");
        std::fs::write(
            &docker,
            format!(
                "#!/bin/sh\n[ \"$1 $2\" = 'volume inspect' ] && echo {}\n",
                volume.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&docker, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let run = |volume_name: &str, file: &str| {
            let script = read_volume_file_script(volume_name, file).unwrap()
                + &read_files_script(&["missing".to_string()]).unwrap();
            let output = std::process::Command::new("sh")
                .arg("-c")
                .arg(script)
                .current_dir(scratch.path())
                .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
                .output()
                .unwrap();
            assert!(output.status.success(), "{output:?}");
            String::from_utf8(output.stdout).unwrap()
        };

        let stdout = run(
            "gantry-test-volume-that-docker-does-not-keep",
            "proxy.state",
        );
        let (host_path, contents, rest) = parse_volume_file(&stdout).unwrap();
        assert_eq!(host_path, format!("{}/proxy.state", volume.display()));
        assert_eq!(contents.as_deref(), Some(&b"{\"routes\": 1}\n"[..]));
        assert_eq!(
            parse_read_files(&["missing".to_string()], rest).unwrap()["missing"],
            None
        );

        // A file the volume does not hold reads as missing, and the files still follow.
        let stdout = run("gantry-test-volume-that-docker-does-not-keep", "other");
        let (_, contents, rest) = parse_volume_file(&stdout).unwrap();
        assert_eq!(contents, None);
        assert!(parse_read_files(&["missing".to_string()], rest).is_ok());
        assert!(parse_volume_file("just a path\n").is_err());
    }

    #[test]
    fn file_changes_run_in_order_on_their_own_contents() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".kamal/lock-app")).unwrap();
        std::fs::write(home.path().join(".kamal/lock-app/details"), b"ours").unwrap();
        std::fs::create_dir_all(home.path().join(".kamal/lock-other")).unwrap();
        std::fs::write(home.path().join(".kamal/lock-other/details"), b"theirs").unwrap();
        let changes = [
            ScriptedChange::Append {
                path: ".kamal/app-audit.log",
            },
            ScriptedChange::Write {
                path: ".kamal/gantry/app.json",
                mode: 0o644,
            },
            ScriptedChange::RemoveDirIfFileIs {
                dir: ".kamal/lock-app",
                file: ".kamal/lock-app/details",
            },
            ScriptedChange::RemoveDirIfFileIs {
                dir: ".kamal/lock-other",
                file: ".kamal/lock-other/details",
            },
        ];
        let script = change_files_script(&changes).unwrap();
        let input =
            change_files_input(&[b"a line\n", b"{\"run\": 1}\n\x00binary", b"ours", b"ours"]);
        let output = sh(home.path(), &script, &input);
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "done\ndone\nremoved\nkept\n"
        );
        assert_eq!(
            std::fs::read(home.path().join(".kamal/app-audit.log")).unwrap(),
            b"a line\n"
        );
        assert_eq!(
            std::fs::read(home.path().join(".kamal/gantry/app.json")).unwrap(),
            b"{\"run\": 1}\n\x00binary"
        );
        assert!(!home.path().join(".kamal/lock-app").exists());
        assert!(home.path().join(".kamal/lock-other/details").exists());
    }

    #[test]
    fn read_files_round_trip() {
        let paths = vec!["a".to_string(), "b".to_string()];
        let script = read_files_script(&paths).unwrap();
        assert!(script.contains("[ ! -f a ]"));
        let output = format!("{PRESENT}\naGVsbG8K\n{MISSING}\n");
        let files = parse_read_files(&paths, &output).unwrap();
        assert_eq!(files["a"], Some(b"hello\n".to_vec()));
        assert_eq!(files["b"], None);
        assert!(parse_read_files(&paths, "garbage").is_err());
    }
}
