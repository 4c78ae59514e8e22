//! The Engine API path, for machines without buildx and for a remote builder reached over
//! gantry's own SSH connection: a tar of the context to a Docker engine (bollard), then a push
//! from that engine with the credentials sent with that one request.
//!
//! The engine's classic builder has no `--cache-to`: a `builder.cache` of type `registry` is
//! kept as an image instead. Before the build, the engine pulls the cache image and builds
//! with `cachefrom` it; after the build, the new image is also tagged and pushed as the cache
//! image, so the next build on an engine that has none of the layers reuses them.

use std::collections::HashMap;
use std::path::Path;

use bytes::Bytes;
use futures_util::StreamExt;

use super::BuildLog;
use super::image::{BuildOptions, BuildPlan, ImageError, failed};
use crate::model::RegistryAuth;
use crate::naming::LABEL_SERVICE;
use crate::secret::Redactor;

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::{
    BuildImageOptions, CreateImageOptions, PushImageOptions, TagImageOptions,
};

/// One build on a Docker engine.
pub struct EngineBuild<'a> {
    pub plan: &'a BuildPlan,
    pub options: &'a BuildOptions,
    /// The context directory itself.
    pub context: &'a Path,
    /// The Dockerfile on this machine (`None`: the engine's default, `Dockerfile` in the
    /// context).
    pub dockerfile: Option<&'a Path>,
    pub auth: Option<&'a RegistryAuth>,
    pub redactor: &'a Redactor,
    pub log: &'a dyn BuildLog,
}

impl EngineBuild<'_> {
    /// Builds on `docker`, then pushes both tags (and the cache image) from it when the output
    /// is the registry.
    pub async fn run(&self, docker: &Docker) -> Result<(), ImageError> {
        let plan = self.plan;
        if !plan.secrets.is_empty() || plan.ssh.is_some() {
            return Err(ImageError::Unsupported(
                "builder.secrets and builder.ssh need docker buildx, which is not installed here: \
                 install the docker-buildx plugin"
                    .into(),
            ));
        }
        if !matches!(self.options.output.as_str(), "registry" | "docker") {
            return Err(ImageError::Unsupported(format!(
                "--output {} needs docker buildx, which is not installed here",
                self.options.output
            )));
        }
        let credentials = self.auth.map(|auth| DockerCredentials {
            username: Some(auth.username.clone()),
            password: Some(auth.password.expose().to_string()),
            serveraddress: Some(auth.server.clone()),
            ..DockerCredentials::default()
        });
        let cache_image = self.cache_image();
        if let Some(cache) = &cache_image {
            self.pull_cache(docker, cache, credentials.clone()).await;
        }
        let [image, latest] = plan.tags(self.options);
        self.build(docker, &image, cache_image.as_deref()).await?;
        let mut pushed = vec![image.clone(), latest.clone()];
        if let Some(cache) = &cache_image {
            pushed.push(cache.clone());
        }
        for target in &pushed[1..] {
            let (repo, tag) = crate::model::split_reference(target);
            docker
                .tag_image(
                    &image,
                    Some(TagImageOptions {
                        repo: Some(repo.to_string()),
                        tag: tag.map(str::to_string),
                    }),
                )
                .await
                .map_err(|error| failed("docker tag", error))?;
        }
        if self.options.output == "registry" {
            for reference in &pushed {
                self.push(docker, reference, credentials.clone()).await?;
            }
        }
        Ok(())
    }

    /// `builder.cache` of type `registry` as an image reference, without `--no-cache`.
    fn cache_image(&self) -> Option<String> {
        if self.options.no_cache {
            return None;
        }
        let from = self.plan.cache_from.as_deref()?;
        from.strip_prefix("type=registry,ref=").map(str::to_string)
    }

    /// Pulls the cache image; absent (the first build) is fine.
    async fn pull_cache(
        &self,
        docker: &Docker,
        cache: &str,
        credentials: Option<DockerCredentials>,
    ) {
        let (name, tag) = crate::model::split_reference(cache);
        let options = CreateImageOptions {
            from_image: Some(name.to_string()),
            tag: Some(tag.unwrap_or("latest").to_string()),
            ..CreateImageOptions::default()
        };
        let mut pull = docker.create_image(Some(options), None, credentials);
        let mut pulled = true;
        while let Some(progress) = pull.next().await {
            if progress.is_err() {
                pulled = false;
                break;
            }
        }
        self.log.line(&if pulled {
            format!("Using the build cache {cache}")
        } else {
            format!("No build cache at {cache} yet")
        });
    }

    async fn build(
        &self,
        docker: &Docker,
        image: &str,
        cache: Option<&str>,
    ) -> Result<(), ImageError> {
        let plan = self.plan;
        let (dockerfile, outside) = match self.dockerfile {
            Some(path) => dockerfile_in_context(self.context, path)
                .map_err(|error| failed("reading the Dockerfile", error))?,
            None => (plan.dockerfile.clone(), None),
        };
        let tar = context_tar(self.context, outside.as_deref())
            .map_err(|error| failed("packing the build context", error))?;
        let options = BuildImageOptions {
            dockerfile,
            t: Some(image.to_string()),
            rm: true,
            nocache: self.options.no_cache,
            cachefrom: cache.map(|cache| vec![cache.to_string()]),
            buildargs: Some(plan.args.clone().into_iter().collect()),
            labels: Some(HashMap::from([(
                LABEL_SERVICE.to_string(),
                plan.service.clone(),
            )])),
            target: plan.target.clone().unwrap_or_default(),
            ..BuildImageOptions::default()
        };
        let body = bollard::body_full(Bytes::from(tar));
        let mut stream = docker.build_image(options, None, Some(body));
        let mut partial = String::new();
        let mut tail: Vec<String> = Vec::new();
        while let Some(step) = stream.next().await {
            let step = step.map_err(|error| {
                failed("docker build", self.redactor.redact(&error.to_string()))
            })?;
            if let Some(text) = step.stream {
                partial.push_str(&text);
                while let Some(end) = partial.find('\n') {
                    let line = self.redactor.redact(partial[..end].trim_end_matches('\r'));
                    partial.drain(..=end);
                    self.log.line(&line);
                    tail.push(line);
                    if tail.len() > 20 {
                        tail.remove(0);
                    }
                }
            }
            if let Some(error) = step.error_detail.and_then(|detail| detail.message) {
                return Err(ImageError::Failed {
                    what: "docker build".into(),
                    detail: self
                        .redactor
                        .redact(&format!("{}\n{error}", tail.join("\n"))),
                });
            }
        }
        Ok(())
    }

    async fn push(
        &self,
        docker: &Docker,
        reference: &str,
        credentials: Option<DockerCredentials>,
    ) -> Result<(), ImageError> {
        let (name, tag) = crate::model::split_reference(reference);
        let options = PushImageOptions {
            tag: tag.map(str::to_string),
            ..PushImageOptions::default()
        };
        let mut push = docker.push_image(name, Some(options), credentials);
        while let Some(progress) = push.next().await {
            let progress = progress.map_err(|error| {
                failed(
                    &format!("docker push {reference}"),
                    self.redactor.redact(&error.to_string()),
                )
            })?;
            if let Some(error) = progress.error_detail.and_then(|detail| detail.message) {
                return Err(ImageError::Failed {
                    what: format!("docker push {reference}"),
                    detail: self.redactor.redact(&error),
                });
            }
            // Per-layer progress bars would flood the output; their outcomes do not.
            if progress.progress_detail.is_none()
                && let Some(status) = progress.status
            {
                self.log.line(&self.redactor.redact(&status));
            }
        }
        Ok(())
    }
}

/// The context directory as a tar, without `.git` and what `.dockerignore` excludes.
/// The name a Dockerfile from outside the context takes inside its tar (the docker CLI adds such
/// a file the same way, under a name of its own).
const OUTSIDE_DOCKERFILE: &str = ".gantry.Dockerfile";

/// The Dockerfile's path as the engine reads it, inside the context's tar, and its contents
/// when it lies outside the context and must be added to the tar.
fn dockerfile_in_context(
    context: &Path,
    dockerfile: &Path,
) -> std::io::Result<(String, Option<Vec<u8>>)> {
    let context = context.canonicalize()?;
    let dockerfile = dockerfile.canonicalize()?;
    match dockerfile.strip_prefix(&context) {
        Ok(inside) => Ok((inside.to_string_lossy().into_owned(), None)),
        Err(_) => Ok((
            OUTSIDE_DOCKERFILE.to_string(),
            Some(std::fs::read(&dockerfile)?),
        )),
    }
}

/// The context directory as a tar (`.dockerignore` honoured, `.git` left out), with a
/// Dockerfile from outside it added as [`OUTSIDE_DOCKERFILE`].
fn context_tar(context: &Path, outside_dockerfile: Option<&[u8]>) -> std::io::Result<Vec<u8>> {
    let mut ignore = ignore::gitignore::GitignoreBuilder::new(context);
    let dockerignore = context.join(".dockerignore");
    if dockerignore.is_file() {
        ignore.add(dockerignore);
    }
    let ignore = ignore.build().map_err(std::io::Error::other)?;
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    let walker = walkdir::WalkDir::new(context)
        .min_depth(1)
        .sort_by_file_name();
    for entry in walker.into_iter().filter_entry(|entry| {
        let relative = entry.path().strip_prefix(context).unwrap_or(entry.path());
        relative != Path::new(".git")
            && !ignore
                .matched_path_or_any_parents(relative, entry.file_type().is_dir())
                .is_ignore()
    }) {
        let entry = entry.map_err(std::io::Error::other)?;
        let relative = entry
            .path()
            .strip_prefix(context)
            .map_err(std::io::Error::other)?;
        if entry.file_type().is_dir() {
            builder.append_dir(relative, entry.path())?;
        } else {
            builder.append_path_with_name(entry.path(), relative)?;
        }
    }
    if let Some(contents) = outside_dockerfile {
        let mut header = tar::Header::new_ustar();
        header.set_size(contents.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, OUTSIDE_DOCKERFILE, contents)?;
    }
    builder.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paths of the tar's entries, and the contents of one of them.
    fn entries(tar: &[u8], wanted: &str) -> (Vec<String>, Option<String>) {
        let mut archive = tar::Archive::new(tar);
        let mut names = Vec::new();
        let mut contents = None;
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            if name == wanted {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
                contents = Some(text);
            }
            names.push(name);
        }
        (names, contents)
    }

    #[test]
    fn a_dockerfile_outside_the_context_travels_in_its_tar() {
        let project = tempfile::tempdir().unwrap();
        let context = project.path().join("app");
        std::fs::create_dir_all(&context).unwrap();
        std::fs::write(context.join("index.html"), "hi").unwrap();
        std::fs::write(project.path().join("Dockerfile.web"), "FROM scratch\n").unwrap();
        std::fs::write(context.join("Dockerfile"), "FROM busybox\n").unwrap();

        let inside = dockerfile_in_context(&context, &context.join("Dockerfile")).unwrap();
        assert_eq!(inside, ("Dockerfile".to_string(), None));

        let (name, outside) =
            dockerfile_in_context(&context, &project.path().join("Dockerfile.web")).unwrap();
        assert_eq!(name, OUTSIDE_DOCKERFILE);
        let tar = context_tar(&context, outside.as_deref()).unwrap();
        let (names, contents) = entries(&tar, OUTSIDE_DOCKERFILE);
        assert_eq!(names, ["Dockerfile", "index.html", OUTSIDE_DOCKERFILE]);
        assert_eq!(contents.as_deref(), Some("FROM scratch\n"));
    }
}
