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

mod docker;
mod engine;
pub mod image;
pub mod version;

pub use docker::{
    LOCAL_REGISTRY_CONTAINER, build_and_push, clean_checkout, docker_login, docker_logout,
    ensure_local_registry, has_buildx, remove_local_registry,
};
pub use image::{BuildPlan, ImageError};
