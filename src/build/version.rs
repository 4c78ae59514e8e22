//! Which version a command deploys: `--version`, else `$VERSION`, else git, as Kamal decides.
//!
//! The git version is the full 40-character `HEAD`. When the build context is the working
//! directory (`builder.context` set) and the tree has uncommitted changes, Kamal appends
//! `_uncommitted_<16 hex>`; Kamal draws those digits at random, gantry derives them from the
//! changes themselves, so planning twice from the same dirty tree gives the same version (and no
//! spurious "new version" in the second plan). With the default git-clone context, uncommitted
//! changes are ignored, as Kamal ignores them.

use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha256};

/// Why no version could be determined.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error("no version given and {dir} is not in a git repository; pass --version or set VERSION")]
    NoGit { dir: String },
    #[error("git failed in {dir}: {message}")]
    Git { dir: String, message: String },
    #[error(
        "version `{}` cannot be an image tag: use letters, digits, `_`, `.` and `-` (128 at most), \
         starting with a letter, a digit or `_`",
        .version.escape_debug()
    )]
    Invalid { version: String },
}

/// Whether `version` is a valid Docker tag (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`): it becomes the
/// image tag and part of container names, so anything else could only fail on the hosts.
pub fn is_valid(version: &str) -> bool {
    version.len() <= 128
        && version
            .chars()
            .next()
            .is_some_and(|first| first.is_ascii_alphanumeric() || first == '_')
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn checked(version: &str) -> Result<String, VersionError> {
    if is_valid(version) {
        Ok(version.to_string())
    } else {
        Err(VersionError::Invalid {
            version: version.to_string(),
        })
    }
}

/// The version to deploy. `uses_working_tree` is true when `builder.context` is set.
pub fn resolve(
    flag: Option<&str>,
    env: Option<&str>,
    project_dir: &Path,
    uses_working_tree: bool,
) -> Result<String, VersionError> {
    if let Some(version) = flag.filter(|v| !v.is_empty()) {
        return checked(version);
    }
    if let Some(version) = env.filter(|v| !v.is_empty()) {
        return checked(version);
    }
    git_version(project_dir, uses_working_tree)
}

/// `HEAD`, with `_uncommitted_<hex>` for a dirty working tree that is the build context.
pub fn git_version(project_dir: &Path, uses_working_tree: bool) -> Result<String, VersionError> {
    let dir = project_dir.display().to_string();
    let revision = git(project_dir, &["rev-parse", "HEAD"]).map_err(|message| {
        if message.contains("not a git repository") {
            VersionError::NoGit { dir: dir.clone() }
        } else {
            VersionError::Git {
                dir: dir.clone(),
                message,
            }
        }
    })?;
    if !uses_working_tree {
        return Ok(revision);
    }
    let status =
        git(project_dir, &["status", "--porcelain"]).map_err(|message| VersionError::Git {
            dir: dir.clone(),
            message,
        })?;
    if status.is_empty() {
        return Ok(revision);
    }
    let diff = git(project_dir, &["diff", "HEAD"]).unwrap_or_default();
    let digest = Sha256::digest(format!("{status}\0{diff}").as_bytes());
    Ok(format!(
        "{revision}_uncommitted_{}",
        hex::encode(&digest[..8])
    ))
}

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|error| format!("could not run git: {error}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let status = Command::new("git")
                .args(args)
                .current_dir(dir.path())
                .output()
                .unwrap();
            assert!(status.status.success(), "{args:?}: {status:?}");
        };
        run(&["init", "-q"]);
        run(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "x",
        ]);
        dir
    }

    #[test]
    fn flag_then_env_then_git() {
        let dir = repo();
        assert_eq!(
            resolve(Some("v9"), Some("v8"), dir.path(), false).unwrap(),
            "v9"
        );
        assert_eq!(resolve(None, Some("v8"), dir.path(), false).unwrap(), "v8");
        let head = resolve(None, None, dir.path(), false).unwrap();
        assert_eq!(head.len(), 40);
    }

    #[test]
    fn a_dirty_working_tree_gets_a_stable_uncommitted_suffix() {
        let dir = repo();
        let clean = git_version(dir.path(), true).unwrap();
        std::fs::write(dir.path().join("new.txt"), "x").unwrap();
        let dirty = git_version(dir.path(), true).unwrap();
        assert!(
            dirty.starts_with(&format!("{clean}_uncommitted_")),
            "{dirty}"
        );
        assert_eq!(dirty.len(), 40 + "_uncommitted_".len() + 16);
        assert_eq!(
            git_version(dir.path(), true).unwrap(),
            dirty,
            "same tree, same version"
        );
        assert_eq!(
            git_version(dir.path(), false).unwrap(),
            clean,
            "git-clone builds ignore it"
        );
    }

    #[test]
    fn a_version_that_cannot_be_a_tag_is_refused_before_anything_runs() {
        let dir = tempfile::tempdir().unwrap();
        for bad in [
            "v1;id",
            "$(id)",
            "`id`",
            "v1\nx",
            "-v1",
            ".v1",
            "a b",
            "v1/x",
            &"x".repeat(129),
        ] {
            let error = resolve(Some(bad), None, dir.path(), false).unwrap_err();
            assert!(matches!(error, VersionError::Invalid { .. }), "{bad:?}");
            assert!(
                resolve(None, Some(bad), dir.path(), false).is_err(),
                "{bad:?}"
            );
        }
        for good in [
            "v1",
            "1.2.3",
            "_x",
            "abc_uncommitted_0123",
            "release-2026.01",
        ] {
            assert_eq!(resolve(Some(good), None, dir.path(), false).unwrap(), good);
        }
    }

    #[test]
    fn outside_git_the_error_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let error = resolve(None, None, dir.path(), false).unwrap_err();
        assert!(
            error.to_string().contains("pass --version or set VERSION"),
            "{error}"
        );
    }
}
