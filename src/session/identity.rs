//! Who runs: Kamal's names for the person behind a run, in the audit log and the lock.

/// Kamal's audit performer: git email, else the login name.
pub fn performer() -> String {
    git_config("user.email").unwrap_or_else(login_name)
}

/// Kamal's lock holder: git user name, else the login name.
pub fn holder() -> String {
    git_config("user.name").unwrap_or_else(login_name)
}

fn git_config(key: &str) -> Option<String> {
    std::process::Command::new("git")
        .args(["config", key])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
        .filter(|value| !value.is_empty())
}

fn login_name() -> String {
    std::env::var("USER").unwrap_or_else(|_| "unknown".to_string())
}
