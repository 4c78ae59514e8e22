//! libFuzzer target: a deploy.yml, a destination file and an ERB variable's value through the
//! loader and the pure stages (`fuzz/harness.rs` says what is checked).
//!
//! Input bytes: `deploy.yml`, optionally followed by NUL and `deploy.fuzz.yml`, optionally
//! followed by NUL and the value of `ENV["X"]`/`ENV["Y"]` (invalid UTF-8 is replaced). Plain
//! YAML files are therefore valid seeds.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn workdir() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap_or_else(|error| panic!("tempdir: {error}")))
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\0');
    let base = parts.next().unwrap_or_default();
    let destination = parts.next();
    let erb_value = parts.next().unwrap_or("value");
    gantry_fuzz::check_config(
        workdir().path(),
        &gantry_fuzz::ConfigInput {
            base,
            destination,
            erb_value,
        },
    );
});
