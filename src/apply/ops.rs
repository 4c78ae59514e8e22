//! One function per action: the [`Host`] calls that carry it out.
//!
//! Nothing here decides what to do; each function does exactly what its action says, and
//! reports failures with enough context to act on (a container that never became healthy comes
//! with the last lines of its log, kamal#842).

use std::time::{Duration, Instant};

use crate::apply::LocalHooks;
use crate::host::{ContainerSpec, ContainerStatus, Health, Host, HostError};
use crate::kamal_proxy;
use crate::naming::{LABEL_GANTRY_RUN, LABEL_SERVICE, PROXY_CONTAINER};
use crate::plan::{Action, ContainerTarget};

/// Lines of a failed container's log shown with the error.
const LOG_TAIL: usize = 20;

/// Why an action failed.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error(transparent)]
    Host(#[from] HostError),
    #[error("{message}")]
    Failed { message: String },
    #[error("did not finish within {0}s")]
    Timeout(u64),
    /// gantry itself failed mid-action (a bug): the action counts as failed and its scope
    /// rolls back, as for any other failure.
    #[error("gantry failed inside this action: {0}")]
    Panicked(String),
}

impl ActionError {
    /// True when the host itself is gone (as opposed to the request failing).
    pub fn is_connection(&self) -> bool {
        match self {
            ActionError::Host(error) => error.is_connection(),
            ActionError::Timeout(_) => true,
            ActionError::Failed { .. } | ActionError::Panicked(_) => false,
        }
    }
}

/// Runs one action on its host within the action's time limit. A panic inside it becomes that
/// action's [`ActionError::Panicked`]: without this it would end only its task, and the walk
/// would neither record the failure nor roll its scope back.
pub async fn run_guarded(
    host: &dyn Host,
    action: &Action,
    run_id: &str,
    hooks: Option<&dyn LocalHooks>,
) -> Result<(), ActionError> {
    use futures_util::FutureExt;
    let limit = action.timeout();
    let guarded = std::panic::AssertUnwindSafe(run(host, action, run_id, hooks)).catch_unwind();
    match tokio::time::timeout(limit, guarded).await {
        Ok(Ok(result)) => result,
        Ok(Err(panic)) => Err(ActionError::Panicked(panic_message(panic.as_ref()))),
        Err(_) => Err(ActionError::Timeout(limit.as_secs())),
    }
}

/// The text a panic was raised with, when it has one.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic without a message".to_string())
}

/// Runs one action on its host. `run_id` labels every container the run creates; `hooks` runs
/// the project's hooks on this machine.
pub async fn run(
    host: &dyn Host,
    action: &Action,
    run_id: &str,
    hooks: Option<&dyn LocalHooks>,
) -> Result<(), ActionError> {
    match action {
        Action::CreateNetwork { name } => Ok(host.create_network(name).await?),
        Action::PullImage { image, auth } => Ok(host.pull_image(image, auth.as_ref()).await?),
        Action::CheckServiceLabel { image, service } => {
            check_service_label(host, image, service).await
        }
        Action::WriteFile { file } => {
            host.write_file(&file.path, file.contents.expose(), file.mode)
                .await?;
            if let Some(owner) = &file.owner {
                host.change_owner(&file.path, owner).await?;
            }
            Ok(())
        }
        Action::CreateDirectory { path } => {
            host.create_dir_exclusive(path).await?;
            Ok(())
        }
        Action::MakeDirectory { directory } => Ok(host
            .make_directory(&directory.path, directory.mode, directory.owner.as_deref())
            .await?),
        Action::RunContainer { spec } => run_container(host, spec, run_id).await,
        Action::StartContainer { container } => Ok(host.start_container(&container.id).await?),
        Action::StopContainer { container, timeout } => Ok(host
            .stop_container(container.id_or_name(), timeout.map(Duration::from_secs))
            .await?),
        Action::RenameContainer {
            container,
            new_name,
        } => rename_container(host, &container.id, new_name).await,
        Action::RemoveContainer {
            container,
            stop_first,
        } => remove_container(host, container, *stop_first).await,
        Action::WaitReady {
            container,
            timeout,
            readiness_delay,
        } => wait_ready(host, container, *timeout, *readiness_delay).await,
        Action::DeployRoute { route, container } => deploy_route(host, route, container).await,
        Action::RemoveRoute { service } => remove_route(host, service).await,
        Action::StopRoute {
            service,
            drain_timeout,
            message,
        } => {
            let args = kamal_proxy::stop_args(service, *drain_timeout, message.as_deref());
            proxy_command(host, args, "stop", service).await
        }
        Action::ResumeRoute { service } => {
            proxy_command(host, kamal_proxy::resume_args(service), "resume", service).await
        }
        Action::TagImage { source, target } => Ok(host.tag_image(source, target).await?),
        Action::RemoveImage { reference } => Ok(host.remove_image(reference, false).await?),
        Action::RemovePath { path } => Ok(host.remove_path(path).await?),
        Action::ExtractAssets {
            image,
            container,
            asset_path,
            directory,
        } => Ok(host
            .extract_image_directory(image, container, asset_path, directory)
            .await?),
        Action::MergeAssets { merges } => Ok(host.merge_directories(merges).await?),
        Action::RemoveOlderVersions {
            directory,
            prefix,
            keep,
        } => Ok(host.remove_other_entries(directory, prefix, keep).await?),
        Action::Sleep { seconds } => {
            tokio::time::sleep(Duration::from_secs(*seconds)).await;
            Ok(())
        }
        Action::RunHook { hook, hosts } => match hooks {
            Some(hooks) => hooks
                .run_hook(hook, hosts)
                .await
                .map_err(|message| ActionError::Failed { message }),
            None => Err(ActionError::Failed {
                message: format!("no hook runner for {hook}"),
            }),
        },
        Action::WatchCanary {
            containers,
            seconds,
        } => watch_canary(host, containers, *seconds).await,
        Action::CheckCanary { command, hosts } => match hooks {
            Some(hooks) => hooks
                .check_canary(command, hosts)
                .await
                .map_err(|message| ActionError::Failed { message }),
            None => Err(ActionError::Failed {
                message: "no runner for the canary check".to_string(),
            }),
        },
    }
}

/// How often a canary's containers are looked at during its wait.
const CANARY_POLL: Duration = Duration::from_secs(1);

/// Fails as soon as one of a canary's new containers is gone, stopped, restarting or
/// unhealthy during `seconds`; a health check still starting is given the benefit of the doubt.
async fn watch_canary(
    host: &dyn Host,
    containers: &[String],
    seconds: u64,
) -> Result<(), ActionError> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        for container in containers {
            let details = host.inspect_container(container).await?;
            let problem = match &details {
                None => Some("disappeared".to_string()),
                Some(details) if details.status != ContainerStatus::Running => {
                    Some(format!("is {}", details.status))
                }
                Some(details) if details.health == Some(Health::Unhealthy) => {
                    Some("is unhealthy".to_string())
                }
                Some(_) => None,
            };
            if let Some(problem) = problem {
                let why = format!("{problem} during the canary wait");
                return Err(failure_with_logs(host, container, &why).await);
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(());
        }
        tokio::time::sleep(CANARY_POLL.min(deadline - now)).await;
    }
}

/// Kamal's `validate_image`: the image's `service` label names the service.
async fn check_service_label(
    host: &dyn Host,
    image: &str,
    service: &str,
) -> Result<(), ActionError> {
    let details = host
        .inspect_image(image)
        .await?
        .ok_or_else(|| ActionError::Failed {
            message: format!("image {image} is not on the host"),
        })?;
    match details.labels.get(LABEL_SERVICE) {
        Some(label) if label == service => Ok(()),
        found => Err(ActionError::Failed {
            message: format!(
                "Image {image} is missing the 'service' label (expected service={service}{}): \
                 build it with `LABEL service=\"{service}\"`, as `gantry deploy` does",
                found
                    .map(|value| format!(", found {value:?}"))
                    .unwrap_or_default()
            ),
        }),
    }
}

async fn run_container(
    host: &dyn Host,
    spec: &ContainerSpec,
    run_id: &str,
) -> Result<(), ActionError> {
    let mut spec = spec.clone();
    spec.labels
        .insert(LABEL_GANTRY_RUN.to_string(), run_id.to_string());
    let id = host.create_container(&spec).await?;
    if let Err(error) = host.start_container(&id).await {
        // A container that never started is not left behind to block the next run's name.
        let _ = host.remove_container(&id).await;
        return Err(error.into());
    }
    Ok(())
}

/// Renames a container, stopping it first when it is in a restart loop: dockerd cannot rename a
/// container between two restarts (its network sandbox is gone: "sandbox ... not found"), and a
/// container that keeps crashing serves nothing a stop takes away. The state can flip between
/// the failed rename and the inspect, hence a few tries. Undone by renaming back; a container
/// stopped here stays stopped, as it would have crashed again.
async fn rename_container(host: &dyn Host, id: &str, new_name: &str) -> Result<(), ActionError> {
    const TRIES: usize = 3;
    let mut tries = 1;
    loop {
        let error = match host.rename_container(id, new_name).await {
            Ok(()) => return Ok(()),
            Err(error) if error.is_connection() || tries == TRIES => return Err(error.into()),
            Err(error) => error,
        };
        tries += 1;
        match host.inspect_container(id).await? {
            Some(details) if details.status == ContainerStatus::Restarting => {
                tracing::info!(container = %details.name, "stopping a container in a restart loop before renaming it");
                host.stop_container(id, Some(Duration::ZERO)).await?;
            }
            Some(details) if details.status == ContainerStatus::Running => {}
            _ => return Err(error.into()),
        }
    }
}

async fn remove_container(
    host: &dyn Host,
    container: &ContainerTarget,
    stop_first: bool,
) -> Result<(), ActionError> {
    let Some(details) = host.inspect_container(container.id_or_name()).await? else {
        // Already gone: the goal of the action holds.
        return Ok(());
    };
    if stop_first && details.status.is_live() {
        host.stop_container(&details.id, None).await?;
    }
    host.remove_container(&details.id).await?;
    Ok(())
}

/// Kamal's readiness for roles without the proxy: healthy, or running for `readiness_delay`
/// seconds when the container has no health check.
async fn wait_ready(
    host: &dyn Host,
    container: &str,
    timeout: u64,
    readiness_delay: u64,
) -> Result<(), ActionError> {
    let started = Instant::now();
    let deadline = Duration::from_secs(timeout);
    let mut running_since: Option<Instant> = None;
    loop {
        let details =
            host.inspect_container(container)
                .await?
                .ok_or_else(|| ActionError::Failed {
                    message: format!("container {container} disappeared"),
                })?;
        // As Kamal's poller: anything but running (for `readiness_delay`) or healthy is tried
        // again until `deploy_timeout`. A check that failed can pass later, and a container
        // that stopped comes back under its restart policy (an app waiting for its database).
        let not_ready = match (details.status.is_live(), details.health) {
            (true, Some(Health::Healthy)) => return Ok(()),
            (true, None) => {
                let since = *running_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= Duration::from_secs(readiness_delay) {
                    return Ok(());
                }
                None
            }
            (true, Some(Health::Starting)) => None,
            (true, Some(Health::Unhealthy)) => {
                running_since = None;
                Some("is unhealthy".to_string())
            }
            (false, _) => {
                running_since = None;
                Some(format!(
                    "stopped ({}{})",
                    details.status,
                    details
                        .exit_code
                        .map(|code| format!(", exit code {code}"))
                        .unwrap_or_default()
                ))
            }
        };
        if started.elapsed() >= deadline {
            let why = match not_ready {
                Some(why) => format!("{why} after {timeout}s"),
                None => format!("did not become ready within {timeout}s"),
            };
            return Err(failure_with_logs(host, container, &why).await);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn deploy_route(
    host: &dyn Host,
    route: &kamal_proxy::ProxyRoute,
    container: &ContainerTarget,
) -> Result<(), ActionError> {
    let details = host
        .inspect_container(container.id_or_name())
        .await?
        .ok_or_else(|| ActionError::Failed {
            message: format!("container {} does not exist", container.name()),
        })?;
    let argv = kamal_proxy::exec_argv(kamal_proxy::deploy_args(route, details.short_id()));
    let output = host.exec_in_container(PROXY_CONTAINER, &argv).await?;
    if output.success() {
        return Ok(());
    }
    let mut why = format!("kamal-proxy refused the deploy: {}", output.message());
    if output.message().contains("host settings conflict") {
        why.push_str(
            " (another app on this host's kamal-proxy already answers for the same host names, \
             or for every host name when neither sets proxy.host: give each app its own proxy.host)",
        );
    }
    Err(failure_with_logs(host, container.name(), &why).await)
}

async fn remove_route(host: &dyn Host, service: &str) -> Result<(), ActionError> {
    let argv = kamal_proxy::exec_argv(kamal_proxy::remove_args(service));
    let output = host.exec_in_container(PROXY_CONTAINER, &argv).await?;
    if output.success() || output.message().contains("not found") {
        return Ok(());
    }
    Err(ActionError::Failed {
        message: format!(
            "kamal-proxy could not remove {service}: {}",
            output.message()
        ),
    })
}

/// Runs one kamal-proxy command for `service`; its output is the error when it fails.
async fn proxy_command(
    host: &dyn Host,
    args: Vec<String>,
    verb: &str,
    service: &str,
) -> Result<(), ActionError> {
    let argv = kamal_proxy::exec_argv(args);
    let output = host.exec_in_container(PROXY_CONTAINER, &argv).await?;
    if output.success() {
        return Ok(());
    }
    Err(ActionError::Failed {
        message: format!(
            "kamal-proxy could not {verb} {service}: {}",
            output.message()
        ),
    })
}

/// An error that carries the container's last log lines.
async fn failure_with_logs(host: &dyn Host, container: &str, why: &str) -> ActionError {
    let logs = host
        .container_logs(container, LOG_TAIL)
        .await
        .unwrap_or_default();
    let mut message = format!("{container} {why}");
    if !logs.trim().is_empty() {
        message.push_str("\n  last log lines:");
        for line in logs.lines() {
            message.push_str("\n    ");
            message.push_str(line);
        }
    }
    ActionError::Failed { message }
}
