//! Directory trees on the host: copied out of an image, merged, pruned. These carry Kamal's
//! asset bridging (`Kamal::Commands::App::Assets`) and the clean-up of older error pages.
//!
//! The scripts are pure builders, one per [`Host`](crate::host::Host) call, run in the SSH
//! user's home directory with every word quoted (see `files`). Paths are relative to the home
//! directory and checked before anything runs.

use crate::host::ssh::SshHost;
use crate::host::ssh::files::{quote, quote_path};
use crate::host::{DirectoryMerge, HostError};

/// Copies `source_path` of `image` into `destination` through the container `container`,
/// which is removed first (a leftover of an interrupted run) and again on the way out.
pub fn extract_script(
    image: &str,
    container: &str,
    source_path: &str,
    destination: &str,
) -> Result<String, String> {
    let destination = quote_path(destination)?;
    let name = quote(container)?;
    let image = quote(image)?;
    let source = quote(&format!(
        "{container}:{}/.",
        source_path.trim_end_matches('/')
    ))?;
    Ok(format!(
        "set -e; mkdir -p {destination}; docker container rm {name} >/dev/null 2>&1 || true; \
         docker container create --name {name} {image} >/dev/null; \
         trap 'docker container rm {name} >/dev/null 2>&1 || true' EXIT; \
         docker container cp -L {source} {destination}"
    ))
}

/// Each merge in order; a required one stops the script when its copy fails, the others may
/// fail quietly.
pub fn merge_script(merges: &[DirectoryMerge]) -> Result<String, String> {
    let mut script = String::new();
    for merge in merges {
        let source = quote_path(&merge.source)?;
        let destination = quote_path(&merge.destination)?;
        if merge.required {
            // Whether `cp -n` fails when it skips a file depends on the coreutils version
            // (9.2 to 9.4 do): when it fails, the merge still holds if every file is there.
            script.push_str(&format!(
                "[ -d {source} ] || {{ echo {source}': no such directory' >&2; exit 1; }}; \
                 mkdir -p {destination} && {{ cp -rnT {source} {destination} 2>/dev/null || \
                 (cd {source} && find . ! -type d) | while IFS= read -r file; do \
                 [ -e {destination}/\"$file\" ] || [ -L {destination}/\"$file\" ] || exit 1; done; }} \
                 || {{ echo 'merging '{source}' into '{destination}' failed' >&2; exit 1; }}; "
            ));
        } else {
            script.push_str(&format!(
                "cp -rnT {source} {destination} 2>/dev/null || true; "
            ));
        }
    }
    script.push_str("exit 0");
    Ok(script)
}

/// Removes `directory/<prefix>*` except `directory/<keep>`.
pub fn remove_other_entries_script(
    directory: &str,
    prefix: &str,
    keep: &str,
) -> Result<String, String> {
    let directory = quote_path(directory)?;
    let pattern = quote(&format!("{prefix}*"))?;
    let keep = quote(keep)?;
    Ok(format!(
        "[ -d {directory} ] || exit 0; find {directory} -mindepth 1 -maxdepth 1 \
         -name {pattern} ! -name {keep} -exec rm -rf {{}} +"
    ))
}

impl SshHost {
    pub(super) async fn host_extract_image_directory(
        &self,
        image: &str,
        container: &str,
        source_path: &str,
        destination: &str,
    ) -> Result<(), HostError> {
        self.check_path(destination)?;
        self.checked(
            &format!("copying {source_path} out of {image}"),
            extract_script(image, container, source_path, destination),
            None,
        )
        .await
        .map(|_| ())
    }

    pub(super) async fn host_merge_directories(
        &self,
        merges: &[DirectoryMerge],
    ) -> Result<(), HostError> {
        for merge in merges {
            self.check_path(&merge.source)?;
            self.check_path(&merge.destination)?;
        }
        self.checked("merging directories", merge_script(merges), None)
            .await
            .map(|_| ())
    }

    pub(super) async fn host_remove_other_entries(
        &self,
        directory: &str,
        prefix: &str,
        keep: &str,
    ) -> Result<(), HostError> {
        self.check_path(directory)?;
        self.checked(
            &format!("removing older entries of {directory}"),
            remove_other_entries_script(directory, prefix, keep),
            None,
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a script with `sh -c` in `home`.
    fn sh(home: &std::path::Path, script: &str) -> std::process::Output {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(home)
            .output()
            .unwrap()
    }

    fn write(home: &std::path::Path, path: &str, text: &str) {
        let path = home.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn read(home: &std::path::Path, path: &str) -> Option<String> {
        std::fs::read_to_string(home.join(path)).ok()
    }

    #[test]
    fn extraction_quotes_every_word_and_always_removes_its_container() {
        assert_eq!(
            extract_script("r/app:v1", "app-web-assets", "/rails/public/", "a b/web-v1").unwrap(),
            "set -e; mkdir -p 'a b/web-v1'; docker container rm app-web-assets >/dev/null 2>&1 || true; \
             docker container create --name app-web-assets r/app:v1 >/dev/null; \
             trap 'docker container rm app-web-assets >/dev/null 2>&1 || true' EXIT; \
             docker container cp -L app-web-assets:/rails/public/. 'a b/web-v1'"
        );
    }

    #[test]
    fn merges_keep_what_the_destination_has_and_tolerate_missing_neighbours() {
        let home = tempfile::tempdir().unwrap();
        let home = home.path();
        write(home, "extracted/web-v2/app-v2.css", "v2");
        write(home, "extracted/web-v2/shared.css", "new");
        write(home, "extracted/web-v1/app-v1.css", "v1");
        write(home, "extracted/web-v1/shared.css", "old");
        write(home, "volumes/web-v1/app-v1.css", "v1");
        let merges = [
            DirectoryMerge {
                source: "extracted/web-v2".into(),
                destination: "volumes/web-v2".into(),
                required: true,
            },
            DirectoryMerge {
                source: "extracted/web-v2".into(),
                destination: "volumes/web-v1".into(),
                required: false,
            },
            DirectoryMerge {
                source: "extracted/web-v1".into(),
                destination: "volumes/web-v2".into(),
                required: false,
            },
            DirectoryMerge {
                source: "extracted/gone".into(),
                destination: "volumes/web-v2".into(),
                required: false,
            },
        ];
        let script = merge_script(&merges).unwrap();
        let output = sh(home, &script);
        assert!(output.status.success(), "{output:?}");
        assert_eq!(
            read(home, "volumes/web-v2/app-v1.css").as_deref(),
            Some("v1")
        );
        assert_eq!(
            read(home, "volumes/web-v2/app-v2.css").as_deref(),
            Some("v2")
        );
        assert_eq!(
            read(home, "volumes/web-v2/shared.css").as_deref(),
            Some("new")
        );
        assert_eq!(
            read(home, "volumes/web-v1/app-v2.css").as_deref(),
            Some("v2")
        );
        // A rerun converges.
        assert!(sh(home, &script).status.success());

        let missing = merge_script(&[DirectoryMerge {
            source: "extracted/gone".into(),
            destination: "volumes/x".into(),
            required: true,
        }])
        .unwrap();
        assert!(!sh(home, &missing).status.success());
    }

    #[test]
    fn a_cp_that_fails_when_it_skips_files_still_merges_when_every_file_is_there() {
        let home = tempfile::tempdir().unwrap();
        let home = home.path();
        write(home, "extracted/web-v2/app.css", "v2");
        write(home, "extracted/web-v2/new.css", "v2");
        write(home, "volumes/web-v2/app.css", "v2");
        // coreutils 9.2 to 9.4: `cp -n` exits 1 when it skipped a file. This one copies only
        // when asked to, and always fails.
        write(
            home,
            "bin/cp",
            "#!/bin/sh\n[ -z \"$CP_COPIES\" ] || /bin/cp \"$@\"; exit 1\n",
        );
        let bin = home.join("bin");
        std::fs::set_permissions(
            bin.join("cp"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let script = merge_script(&[DirectoryMerge {
            source: "extracted/web-v2".into(),
            destination: "volumes/web-v2".into(),
            required: true,
        }])
        .unwrap();
        let run = |copies: &str| {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(&script)
                .current_dir(home)
                .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
                .env("CP_COPIES", copies)
                .output()
                .unwrap()
        };
        let missed = run("");
        assert!(!missed.status.success(), "new.css was not copied");
        assert!(
            String::from_utf8_lossy(&missed.stderr)
                .contains("merging extracted/web-v2 into volumes/web-v2 failed"),
            "{missed:?}"
        );
        let merged = run("1");
        assert!(merged.status.success(), "{merged:?}");
        assert_eq!(read(home, "volumes/web-v2/new.css").as_deref(), Some("v2"));
    }

    #[test]
    fn older_entries_go_and_the_kept_one_and_other_roles_stay() {
        let home = tempfile::tempdir().unwrap();
        let home = home.path();
        for path in ["d/web-v1/a", "d/web-v2/a", "d/web-v3/a", "d/job-v1/a"] {
            write(home, path, "x");
        }
        let script = remove_other_entries_script("d", "web-", "web-v3").unwrap();
        assert!(sh(home, &script).status.success());
        assert_eq!(read(home, "d/web-v1/a"), None);
        assert_eq!(read(home, "d/web-v2/a"), None);
        assert!(read(home, "d/web-v3/a").is_some());
        assert!(read(home, "d/job-v1/a").is_some());
        let absent = remove_other_entries_script("nowhere", "", "v1").unwrap();
        assert!(sh(home, &absent).status.success());
    }
}
