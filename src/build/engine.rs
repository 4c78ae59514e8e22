//! The Engine API path, for machines without buildx: a tar of the context to the local daemon
//! (bollard), its output handed on as it streams, then a push with the credentials sent with
//! that one request.

use std::path::Path;

use bytes::Bytes;
use futures_util::StreamExt;

use super::image::{BuildPlan, ImageError, failed};
use super::{BuildLines, lines_of};
use crate::model::RegistryAuth;
use crate::naming::LABEL_SERVICE;
use crate::secret::Redactor;

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::{BuildImageOptions, PushImageOptions, TagImageOptions};

pub async fn build_and_push(
    plan: &BuildPlan,
    context: &Path,
    auth: Option<&RegistryAuth>,
    redactor: &Redactor,
    output: BuildLines<'_>,
) -> Result<(), ImageError> {
    if !plan.secrets.is_empty() {
        return Err(ImageError::Unsupported(
            "builder.secrets need docker buildx, which is not installed here".into(),
        ));
    }
    let docker = Docker::connect_with_local_defaults()
        .map_err(|error| failed("connecting to the local Docker", error))?;
    let tar = context_tar(context).map_err(|error| failed("packing the build context", error))?;
    let options = BuildImageOptions {
        dockerfile: plan.dockerfile.clone(),
        t: Some(plan.image.clone()),
        rm: true,
        buildargs: Some(plan.args.clone().into_iter().collect()),
        labels: Some(
            [(LABEL_SERVICE.to_string(), plan.service.clone())]
                .into_iter()
                .collect(),
        ),
        target: plan.target.clone().unwrap_or_default(),
        ..BuildImageOptions::default()
    };
    let body = bollard::body_full(Bytes::from(tar));
    let mut stream = docker.build_image(options, None, Some(body));
    let mut log: Vec<String> = Vec::new();
    while let Some(step) = stream.next().await {
        let step = step.map_err(|error| failed("docker build", error))?;
        if let Some(piece) = step.stream {
            for line in lines_of(&redactor.redact(&piece)) {
                output(line);
            }
            log.push(piece);
        }
        if let Some(error) = step.error_detail.and_then(|detail| detail.message) {
            let tail: Vec<String> = log.iter().rev().take(20).rev().cloned().collect();
            return Err(ImageError::Failed {
                what: "docker build".into(),
                detail: redactor.redact(&format!("{}{error}", tail.concat())),
            });
        }
    }
    let (repo, tag) = crate::host::split_reference(&plan.latest);
    docker
        .tag_image(
            &plan.image,
            Some(TagImageOptions {
                repo: Some(repo.to_string()),
                tag: tag.map(str::to_string),
            }),
        )
        .await
        .map_err(|error| failed("docker tag", error))?;
    let credentials = auth.map(|auth| DockerCredentials {
        username: Some(auth.username.clone()),
        password: Some(auth.password.expose().to_string()),
        serveraddress: Some(auth.server.clone()),
        ..DockerCredentials::default()
    });
    for reference in [&plan.image, &plan.latest] {
        let (name, tag) = crate::host::split_reference(reference);
        let options = PushImageOptions {
            tag: tag.map(str::to_string),
            ..PushImageOptions::default()
        };
        let mut push = docker.push_image(name, Some(options), credentials.clone());
        while let Some(progress) = push.next().await {
            let progress = progress.map_err(|error| {
                failed(
                    &format!("docker push {reference}"),
                    redactor.redact(&error.to_string()),
                )
            })?;
            if let Some(error) = progress.error_detail.and_then(|detail| detail.message) {
                return Err(ImageError::Failed {
                    what: format!("docker push {reference}"),
                    detail: redactor.redact(&error),
                });
            }
        }
    }
    Ok(())
}

/// The context directory as a tar, without `.git` and what `.dockerignore` excludes.
fn context_tar(context: &Path) -> std::io::Result<Vec<u8>> {
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
    builder.into_inner()
}
