//! The fake host's answers to every [`Host`] call, as Docker, sshd and kamal-proxy would give
//! them.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;

use crate::host::{
    Attached, CommandOutput, ContainerDetails, ContainerFilter, ContainerSpec, ContainerStatus,
    ContainerSummary, DirectoryMerge, Host, HostError, ImageDetails, ImageSummary, PullProgress,
    RegistryAuth, pull_key,
};
use crate::naming::PROXY_CONTAINER;
use crate::testkit::fake_host::{Engine, FakeHost, Operation, docker, lock, proxy};

pub(super) fn find_image<'a>(engine: &'a Engine, reference: &str) -> Option<&'a ImageDetails> {
    engine.images.get(reference).or_else(|| {
        engine
            .images
            .values()
            .find(|image| image.repo_tags.iter().any(|tag| tag == reference))
    })
}

pub(super) fn find_container_id(engine: &Engine, id_or_name: &str) -> Option<String> {
    engine
        .containers
        .values()
        .find(|c| c.name == id_or_name || c.id == id_or_name || c.id.starts_with(id_or_name))
        .map(|c| c.id.clone())
}

fn label_matches(container: &ContainerDetails, filter: &str) -> bool {
    match filter.split_once('=') {
        Some((key, value)) => container.labels.get(key).map(String::as_str) == Some(value),
        None => container.labels.contains_key(filter),
    }
}

fn has_healthcheck(container: &ContainerDetails, image: Option<&ImageDetails>) -> bool {
    let check = container
        .options
        .healthcheck
        .as_ref()
        .or_else(|| image.and_then(|image| image.healthcheck.as_ref()));
    check.is_some_and(|check| check.test.first().map(String::as_str) != Some("NONE"))
}

#[async_trait]
impl Host for FakeHost {
    fn name(&self) -> &str {
        &self.name
    }

    async fn home_dir(&self) -> Result<String, HostError> {
        let _call = self.call(Operation::HomeDir, "").await?;
        Ok(self.home.clone())
    }

    async fn list_containers(
        &self,
        filter: &ContainerFilter,
    ) -> Result<Vec<ContainerSummary>, HostError> {
        let _call = self
            .call(Operation::ListContainers, &filter.labels.join(","))
            .await?;
        let engine = lock(&self.engine);
        let mut summaries: Vec<ContainerSummary> = engine
            .containers
            .values()
            .filter(|c| filter.labels.iter().all(|label| label_matches(c, label)))
            .filter(|c| filter.name.as_ref().is_none_or(|name| &c.name == name))
            .map(|c| ContainerSummary {
                id: c.id.clone(),
                name: c.name.clone(),
                image: c.image.clone(),
                image_id: c.image_id.clone(),
                labels: c.labels.clone(),
                state: c.status,
                created: engine.created.get(&c.id).copied().unwrap_or_default(),
                published_ports: c
                    .ports
                    .iter()
                    .filter(|binding| !binding.host_port.is_empty())
                    .cloned()
                    .collect(),
            })
            .collect();
        summaries.sort_by_key(|summary| std::cmp::Reverse(summary.created));
        Ok(summaries)
    }

    async fn inspect_container(
        &self,
        id_or_name: &str,
    ) -> Result<Option<ContainerDetails>, HostError> {
        let _call = self.call(Operation::InspectContainer, id_or_name).await?;
        let engine = lock(&self.engine);
        Ok(find_container_id(&engine, id_or_name)
            .and_then(|id| engine.containers.get(&id).cloned()))
    }

    async fn inspect_image(&self, reference: &str) -> Result<Option<ImageDetails>, HostError> {
        let _call = self.call(Operation::InspectImage, reference).await?;
        Ok(find_image(&lock(&self.engine), reference).cloned())
    }

    async fn list_images(&self, label: Option<&str>) -> Result<Vec<ImageSummary>, HostError> {
        let _call = self
            .call(Operation::ListImages, label.unwrap_or(""))
            .await?;
        let engine = lock(&self.engine);
        Ok(engine
            .images
            .values()
            .filter(|image| {
                label.is_none_or(|label| match label.split_once('=') {
                    Some((key, value)) => image.labels.get(key).map(String::as_str) == Some(value),
                    None => image.labels.contains_key(label),
                })
            })
            .map(|image| ImageSummary {
                id: image.id.clone(),
                repo_tags: image.repo_tags.clone(),
                labels: image.labels.clone(),
                created: 0,
            })
            .collect())
    }

    async fn list_networks(&self) -> Result<Vec<String>, HostError> {
        let _call = self.call(Operation::ListNetworks, "").await?;
        Ok(lock(&self.engine).networks.iter().cloned().collect())
    }

    async fn create_network(&self, name: &str) -> Result<(), HostError> {
        let _call = self.call(Operation::CreateNetwork, name).await?;
        lock(&self.engine).networks.insert(name.to_string());
        Ok(())
    }

    async fn pull_image(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
    ) -> Result<(), HostError> {
        self.pulls
            .run(&pull_key(reference, auth), || {
                self.pull_now(reference, auth)
            })
            .await
    }

    /// A fake pull is one layer that arrives whole when the call's latency has passed.
    fn pull_progress(&self, reference: &str) -> Option<PullProgress> {
        lock(&self.pulling)
            .contains(reference)
            .then_some(PullProgress {
                layers_done: 0,
                layers: 1,
                bytes_done: 0,
                bytes: 0,
            })
    }

    async fn registry_digest(
        &self,
        reference: &str,
        _auth: Option<&RegistryAuth>,
    ) -> Result<Option<String>, HostError> {
        let _call = self.call(Operation::RegistryDigest, reference).await?;
        Ok(self.registry.digest(reference))
    }

    async fn tag_image(&self, source: &str, target: &str) -> Result<(), HostError> {
        let _call = self
            .call(Operation::TagImage, &format!("{source} {target}"))
            .await?;
        let mut engine = lock(&self.engine);
        let id = find_image(&engine, source)
            .map(|image| image.id.clone())
            .ok_or_else(|| self.docker_error(format!("No such image: {source}")))?;
        for image in engine.images.values_mut() {
            image.repo_tags.retain(|tag| tag != target);
        }
        if let Some(image) = engine.images.get_mut(&id) {
            image.repo_tags.push(target.to_string());
        }
        Ok(())
    }

    async fn remove_image(&self, reference: &str, force: bool) -> Result<(), HostError> {
        let _call = self.call(Operation::RemoveImage, reference).await?;
        self.pulls.forget_all();
        let mut engine = lock(&self.engine);
        let Some(id) = find_image(&engine, reference).map(|image| image.id.clone()) else {
            return Err(self.docker_error(format!("No such image: {reference}")));
        };
        let in_use = engine.containers.values().any(|c| c.image_id == id);
        let Some(image) = engine.images.get_mut(&id) else {
            return Ok(());
        };
        if image.repo_tags.len() > 1 && reference != id {
            image.repo_tags.retain(|tag| tag != reference);
            return Ok(());
        }
        if in_use && !force {
            return Err(self.docker_error(format!(
                "conflict: unable to remove repository reference \"{reference}\" (must force) - container is using its referenced image"
            )));
        }
        engine.images.remove(&id);
        Ok(())
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, HostError> {
        let _call = self.call(Operation::CreateContainer, &spec.name).await?;
        let mut engine = lock(&self.engine);
        if engine.containers.values().any(|c| c.name == spec.name) {
            return Err(self.docker_error(format!(
                "Conflict. The container name \"/{}\" is already in use",
                spec.name
            )));
        }
        let image = find_image(&engine, &spec.image)
            .cloned()
            .ok_or_else(|| self.docker_error(format!("No such image: {}", spec.image)))?;
        if let Some(network) = spec
            .network
            .iter()
            .chain(&spec.options.networks)
            .find(|network| !engine.networks.contains(*network))
        {
            return Err(self.docker_error(format!("network {network} not found")));
        }
        engine.next_id += 1;
        engine.clock += 1;
        // Distinct from the first character on, as Docker's random ids are: the 12-character
        // short id must tell containers apart.
        let id = crate::desired::content_fingerprint(
            format!("{}/{}", self.name, engine.next_id).as_bytes(),
        );
        let created = format!("2026-01-01T00:00:{:02}Z", engine.clock % 60);
        let details = docker::details_from_spec(spec, &id, &image, &created);
        let clock = engine.clock;
        engine.created.insert(id.clone(), clock);
        engine.containers.insert(id.clone(), details);
        Ok(id)
    }

    async fn start_container(&self, id_or_name: &str) -> Result<(), HostError> {
        let _call = self.call(Operation::StartContainer, id_or_name).await?;
        let mut engine = lock(&self.engine);
        let id = find_container_id(&engine, id_or_name)
            .ok_or_else(|| self.docker_error(format!("No such container: {id_or_name}")))?;
        engine.clock += 1;
        let now = format!("2026-01-01T00:01:{:02}Z", engine.clock % 60);
        let image = engine
            .containers
            .get(&id)
            .and_then(|c| engine.images.get(&c.image_id))
            .cloned();
        if let Some(container) = engine.containers.get_mut(&id) {
            let check = has_healthcheck(container, image.as_ref());
            docker::start(container, check, &now);
        }
        Ok(())
    }

    async fn stop_container(
        &self,
        id_or_name: &str,
        _timeout: Option<Duration>,
    ) -> Result<(), HostError> {
        let _call = self.call(Operation::StopContainer, id_or_name).await?;
        let mut engine = lock(&self.engine);
        let id = find_container_id(&engine, id_or_name)
            .ok_or_else(|| self.docker_error(format!("No such container: {id_or_name}")))?;
        if let Some(container) = engine.containers.get_mut(&id) {
            container.status = ContainerStatus::Exited;
            container.exit_code = Some(0);
            container.health = None;
        }
        Ok(())
    }

    async fn remove_container(&self, id_or_name: &str) -> Result<(), HostError> {
        let _call = self.call(Operation::RemoveContainer, id_or_name).await?;
        let mut engine = lock(&self.engine);
        let id = find_container_id(&engine, id_or_name)
            .ok_or_else(|| self.docker_error(format!("No such container: {id_or_name}")))?;
        engine.containers.remove(&id);
        engine.created.remove(&id);
        Ok(())
    }

    async fn rename_container(&self, id_or_name: &str, new_name: &str) -> Result<(), HostError> {
        let _call = self.call(Operation::RenameContainer, id_or_name).await?;
        let mut engine = lock(&self.engine);
        if engine.containers.values().any(|c| c.name == new_name) {
            return Err(self.docker_error(format!("name {new_name} is already in use")));
        }
        let id = find_container_id(&engine, id_or_name)
            .ok_or_else(|| self.docker_error(format!("No such container: {id_or_name}")))?;
        if let Some(container) = engine.containers.get_mut(&id) {
            // As dockerd: between two restarts a container counts as running but has no
            // network sandbox, and renaming it fails.
            if container.status == ContainerStatus::Restarting {
                return Err(self.docker_error(format!("sandbox {id} not found")));
            }
            container.name = new_name.to_string();
        }
        Ok(())
    }

    async fn exec_in_container(
        &self,
        container: &str,
        argv: &[String],
    ) -> Result<CommandOutput, HostError> {
        let _call = self
            .call(
                Operation::ExecInContainer,
                &format!("{container} {}", argv.join(" ")),
            )
            .await?;
        let mut engine = lock(&self.engine);
        let id = find_container_id(&engine, container)
            .ok_or_else(|| self.docker_error(format!("No such container: {container}")))?;
        let running = engine
            .containers
            .get(&id)
            .is_some_and(|c| c.status == ContainerStatus::Running);
        if !running {
            return Err(self.docker_error(format!("container {container} is not running")));
        }
        if container != PROXY_CONTAINER || argv.first().map(String::as_str) != Some("kamal-proxy") {
            return Ok(CommandOutput::default());
        }
        Ok(proxy::run_command(&mut engine, &argv[1..]))
    }

    async fn read_container_file(
        &self,
        container: &str,
        path: &str,
    ) -> Result<Option<Vec<u8>>, HostError> {
        let call = self.call(Operation::ReadContainerFile, path).await?;
        let engine = lock(&self.engine);
        if find_container_id(&engine, container).is_none() {
            return Err(self.docker_error(format!("No such container: {container}")));
        }
        if container == PROXY_CONTAINER && path == crate::naming::PROXY_STATE_FILE {
            let mut contents = proxy::state_json(&engine.routes);
            if call.cut_short {
                contents.truncate(contents.len() / 2);
            }
            return Ok(Some(contents));
        }
        Ok(None)
    }

    async fn container_logs(&self, container: &str, _tail: usize) -> Result<String, HostError> {
        let _call = self.call(Operation::ContainerLogs, container).await?;
        Ok(String::new())
    }

    async fn read_files(
        &self,
        paths: &[String],
    ) -> Result<BTreeMap<String, Option<Vec<u8>>>, HostError> {
        let _call = self.call(Operation::ReadFiles, &paths.join(",")).await?;
        let engine = lock(&self.engine);
        Ok(paths
            .iter()
            .map(|path| {
                (
                    path.clone(),
                    engine.files.get(path).map(|(bytes, _)| bytes.clone()),
                )
            })
            .collect())
    }

    async fn file_ages(
        &self,
        paths: &[String],
    ) -> Result<BTreeMap<String, Option<std::time::Duration>>, HostError> {
        let _call = self.call(Operation::FileAges, &paths.join(",")).await?;
        let engine = lock(&self.engine);
        let now = tokio::time::Instant::now();
        Ok(paths
            .iter()
            .map(|path| {
                let age = engine.files.contains_key(path).then(|| {
                    engine
                        .written_at
                        .get(path)
                        .map_or(std::time::Duration::ZERO, |at| now.duration_since(*at))
                });
                (path.clone(), age)
            })
            .collect())
    }

    async fn write_file(&self, path: &str, contents: &[u8], mode: u32) -> Result<(), HostError> {
        let _call = self.call(Operation::WriteFile, path).await?;
        let mut engine = lock(&self.engine);
        engine
            .files
            .insert(path.to_string(), (contents.to_vec(), mode));
        engine
            .written_at
            .insert(path.to_string(), tokio::time::Instant::now());
        Ok(())
    }

    async fn append_line(&self, path: &str, line: &str) -> Result<(), HostError> {
        let _call = self.call(Operation::AppendLine, path).await?;
        let mut engine = lock(&self.engine);
        let entry = engine
            .files
            .entry(path.to_string())
            .or_insert_with(|| (Vec::new(), 0o644));
        entry.0.extend_from_slice(line.as_bytes());
        entry.0.push(b'\n');
        engine
            .written_at
            .insert(path.to_string(), tokio::time::Instant::now());
        Ok(())
    }

    async fn create_dir_exclusive(&self, path: &str) -> Result<bool, HostError> {
        let _call = self.call(Operation::CreateDirExclusive, path).await?;
        Ok(lock(&self.engine).directories.insert(path.to_string()))
    }

    async fn make_directory(
        &self,
        path: &str,
        mode: Option<u32>,
        owner: Option<&str>,
    ) -> Result<(), HostError> {
        let _call = self.call(Operation::MakeDirectory, path).await?;
        let mut engine = lock(&self.engine);
        engine.directories.insert(path.to_string());
        engine
            .attributes
            .insert(path.to_string(), (mode, owner.map(str::to_string)));
        Ok(())
    }

    async fn change_owner(&self, path: &str, owner: &str) -> Result<(), HostError> {
        let _call = self.call(Operation::ChangeOwner, path).await?;
        let mut engine = lock(&self.engine);
        if !engine.files.contains_key(path) && !engine.directories.contains(path) {
            return Err(self.docker_error(format!("chown: cannot access '{path}'")));
        }
        let entry = engine.attributes.entry(path.to_string()).or_default();
        entry.1 = Some(owner.to_string());
        Ok(())
    }

    async fn remove_path(&self, path: &str) -> Result<(), HostError> {
        let _call = self.call(Operation::RemovePath, path).await?;
        let mut engine = lock(&self.engine);
        let prefix = format!("{}/", path.trim_end_matches('/'));
        engine
            .files
            .retain(|file, _| file != path && !file.starts_with(&prefix));
        engine
            .directories
            .retain(|dir| dir != path && !dir.starts_with(&prefix));
        Ok(())
    }

    async fn remove_dir_if_file_is(
        &self,
        dir: &str,
        file: &str,
        contents: &[u8],
    ) -> Result<bool, HostError> {
        let _call = self.call(Operation::RemoveDirIfFileIs, dir).await?;
        let mut engine = lock(&self.engine);
        let file_path = format!("{dir}/{file}");
        if engine
            .files
            .get(&file_path)
            .map(|(bytes, _)| bytes.as_slice())
            != Some(contents)
        {
            return Ok(false);
        }
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        engine
            .files
            .retain(|path, _| path != dir && !path.starts_with(&prefix));
        engine
            .directories
            .retain(|path| path != dir && !path.starts_with(&prefix));
        Ok(true)
    }

    async fn extract_image_directory(
        &self,
        image: &str,
        _container: &str,
        source_path: &str,
        destination: &str,
    ) -> Result<(), HostError> {
        let _call = self
            .call(
                Operation::ExtractImageDirectory,
                &format!("{image} {destination}"),
            )
            .await?;
        lock(&self.engine)
            .extract_image_directory(image, source_path, destination)
            .map_err(|message| self.docker_error(message))
    }

    async fn merge_directories(&self, merges: &[DirectoryMerge]) -> Result<(), HostError> {
        let described: Vec<String> = merges
            .iter()
            .map(|merge| format!("{} {}", merge.source, merge.destination))
            .collect();
        let _call = self
            .call(Operation::MergeDirectories, &described.join(" "))
            .await?;
        lock(&self.engine)
            .merge_directories(merges)
            .map_err(|message| self.docker_error(message))
    }

    async fn remove_other_entries(
        &self,
        directory: &str,
        prefix: &str,
        keep: &str,
    ) -> Result<(), HostError> {
        let _call = self
            .call(
                Operation::RemoveOtherEntries,
                &format!("{directory} {keep}"),
            )
            .await?;
        lock(&self.engine).remove_other_entries(directory, prefix, keep);
        Ok(())
    }

    async fn run_command(&self, command: &str) -> Result<CommandOutput, HostError> {
        let _call = self.call(Operation::RunCommand, command).await?;
        // The one script gantry itself runs is the directory check of observe.
        let engine = lock(&self.engine);
        let mut stdout = String::new();
        for part in command.split("if [ -d ").skip(1) {
            let quoted = part.split(" ]").next().unwrap_or_default();
            let path = shlex::split(quoted)
                .and_then(|mut words| words.pop())
                .unwrap_or_default();
            let exists = engine.directories.contains(&path);
            stdout.push_str(if exists { "y\n" } else { "n\n" });
        }
        Ok(CommandOutput {
            exit_code: 0,
            stdout,
            stderr: String::new(),
        })
    }

    /// The fake has no shell: the command is recorded (see [`FakeHost::calls`]) and succeeds
    /// without output.
    async fn run_attached(&self, command: &str, io: Attached) -> Result<i64, HostError> {
        let _call = self.call(Operation::RunAttached, command).await?;
        let mut stdout = io.stdout;
        tokio::io::AsyncWriteExt::flush(&mut stdout)
            .await
            .map_err(|error| self.docker_error(error.to_string()))?;
        Ok(0)
    }
}

impl FakeHost {
    /// One pull from the fake registry (see [`Host::pull_image`] for how pulls are joined).
    async fn pull_now(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
    ) -> Result<(), HostError> {
        lock(&self.pulling).insert(reference.to_string());
        let call = self.call(Operation::PullImage, reference).await;
        lock(&self.pulling).remove(reference);
        let _call = call?;
        let image = self
            .registry
            .pull(reference, auth)
            .map_err(|message| self.docker_error(message))?;
        let mut engine = lock(&self.engine);
        // A tag moves to the pulled image, as in Docker.
        for other in engine.images.values_mut() {
            other.repo_tags.retain(|tag| tag != reference);
        }
        let entry = engine.images.entry(image.id.clone()).or_insert(image);
        if !entry.repo_tags.iter().any(|tag| tag == reference) {
            entry.repo_tags.push(reference.to_string());
        }
        Ok(())
    }
}
