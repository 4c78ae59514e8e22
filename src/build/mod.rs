//! Build and push the app image with the local Docker engine, as `kamal deploy` does.
//!
//! With `docker buildx` present, gantry runs the same `docker buildx build` command line Kamal
//! runs (same builder name, tags, `service` label, build args, secrets, platforms), so users'
//! builder settings keep working. Without buildx, it builds through the local Engine API
//! (bollard) from a tar of the context and pushes with credentials sent per request. Either way
//! the image carries `LABEL service=<service>` and two tags, `<repo>:<version>` and
//! `<repo>:latest[-<dest>]`.
//!
//! The build context is Kamal's: with `builder.context` unset, a clean checkout of `HEAD` (so
//! uncommitted changes are never shipped); otherwise that directory. Secret values reach the
//! build only through the environment of the `docker` process (`--secret id=NAME`), never its
//! arguments.
//!
//! - [`version`]: which version a command deploys;
//! - [`image`]: what to build and the buildx command line;
//! - `docker`: running buildx, `docker login`, the local registry, the clean checkout;
//! - `engine`: the Engine API build and push, without buildx.
//!
//! The build's output is handed over line by line, redacted, as it comes ([`BuildLines`]): a
//! build of minutes is never silence.

mod docker;
mod engine;
pub mod image;
pub mod version;

pub use docker::{
    LOCAL_REGISTRY_CONTAINER, build_and_push, clean_checkout, ensure_local_registry, has_buildx,
};
pub use image::{BuildPlan, ImageError};

/// Receives the build's output, one line at a time, secrets already redacted.
pub type BuildLines<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// The lines of one piece of a build's output: Docker sends text in pieces that end in `\n`,
/// and progress that redraws itself with `\r`; blank lines carry nothing.
fn lines_of(piece: &str) -> impl Iterator<Item = &str> {
    piece
        .split(['\n', '\r'])
        .map(str::trim_end)
        .filter(|line| !line.trim().is_empty())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_piece_of_output_splits_into_its_non_blank_lines() {
        let lines: Vec<&str> =
            super::lines_of("Step 1/8 : FROM busybox\n ---> 1a2b\n\n#5 0.3 done\r#5 0.5 done  \n")
                .collect();
        assert_eq!(
            lines,
            [
                "Step 1/8 : FROM busybox",
                " ---> 1a2b",
                "#5 0.3 done",
                "#5 0.5 done"
            ]
        );
    }
}
