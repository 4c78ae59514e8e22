//! One host's snapshot: two parallel bursts of requests through the [`Host`] seam.

use std::collections::{BTreeMap, BTreeSet};
use std::pin::pin;
use std::time::Duration;

use futures_util::future::{Either, join_all, select, try_join_all};

use crate::desired::ProxyBootFiles;
use crate::desired::content_fingerprint;
use crate::host::{
    ContainerFilter, ContainerSummary, ExclusiveDir, Host, HostError, HostFiles, HostFilesRequest,
};
use crate::kamal_proxy;
use crate::model::{ContainerDetails, ImageDetails};
use crate::naming::{
    LABEL_DESTINATION, LABEL_ROLE, LABEL_SERVICE, LOCK_DETAILS_FILE, LOCK_DETAILS_MODE,
    PROXY_BOOT_FILES, PROXY_CONFIG_VOLUME, PROXY_CONTAINER, PROXY_STATE_FILE,
    PROXY_STATE_FILE_IN_VOLUME,
};
use crate::observe::lock::parse_lock_details;
use crate::observe::{HostState, LockInfo, ObserveRequest, ObservedContainer};

/// How many times a state file that reads as half-written is read, and the pause between reads:
/// kamal-proxy rewrites it in place on every change, so a read can land mid-write.
const STATE_FILE_READS: u32 = 10;
const STATE_FILE_REREAD_PAUSE: Duration = Duration::from_millis(100);

/// The routes in kamal-proxy's state file, read again while it is empty or cut off; a file that
/// stays so is an error, never "no routes" (which would plan every route anew).
async fn routes_from_state(
    host: &dyn Host,
    mut contents: Vec<u8>,
) -> Result<Vec<kamal_proxy::ObservedRoute>, HostError> {
    let mut reads = 1;
    loop {
        match kamal_proxy::parse_state(&contents) {
            Ok(routes) => return Ok(routes),
            Err(error) if error.is_incomplete() && reads < STATE_FILE_READS => {
                tokio::time::sleep(STATE_FILE_REREAD_PAUSE).await;
                reads += 1;
                contents = host
                    .read_container_file(PROXY_CONTAINER, PROXY_STATE_FILE)
                    .await?
                    .unwrap_or_default();
            }
            Err(error) => {
                return Err(HostError::Command {
                    host: host.name().to_string(),
                    message: format!("{error} ({PROXY_STATE_FILE}, read {reads} times)"),
                });
            }
        }
    }
}

/// Reads everything `request` asks for on one host. The registry's digest of the app's tag is
/// asked with the first requests: the host's Docker takes several round trips to the registry
/// for it, the longest request of a plan far away, so it overlaps both waves instead of
/// following the first. Its answer counts only for an image the host has (a missing one is
/// pulled anyway); when the host has none, it is not waited for.
pub async fn observe_host(
    host: &dyn Host,
    request: &ObserveRequest,
) -> Result<HostState, HostError> {
    let registry_answer = async {
        match &request.registry_check {
            Some(check) => host
                .registry_digest(&check.image, check.auth.as_ref())
                .await
                .map(|digest| digest.map(|digest| (check.image.clone(), digest))),
            None => Ok(None),
        }
    };
    let read = read_host(host, request);
    let (state, answer) = match select(pin!(read), pin!(registry_answer)).await {
        Either::Left((state, answer)) => {
            let state = state?;
            if !has_checked_image(request, &state) {
                return Ok(state);
            }
            (state, answer.await)
        }
        Either::Right((answer, state)) => (state.await?, answer),
    };
    let registry_digests = if has_checked_image(request, &state) {
        registry_digests(host.name(), answer)?
    } else {
        BTreeMap::new()
    };
    Ok(HostState {
        registry_digests,
        ..state
    })
}

/// Whether the host has the image whose digest the registry is asked for.
fn has_checked_image(request: &ObserveRequest, state: &HostState) -> bool {
    request.registry_check.as_ref().is_some_and(|check| {
        state
            .present_images
            .get(&check.image)
            .is_some_and(Option::is_some)
    })
}

/// Everything but the registry's digest.
async fn read_host(host: &dyn Host, request: &ObserveRequest) -> Result<HostState, HostError> {
    let mut paths = request.files.clone();
    paths.push(request.lock_details.clone());
    paths.push(request.journal.clone());
    if request.proxy_boot_files {
        paths.extend(PROXY_BOOT_FILES.iter().map(|path| path.to_string()));
    }

    let service_filter = ContainerFilter::labels([LABEL_SERVICE]);
    let name_filters: Vec<ContainerFilter> = request
        .app_container_names
        .iter()
        .map(|name| ContainerFilter::name(name.clone()))
        .collect();
    let image_label = format!("{LABEL_SERVICE}={}", request.service);
    // The files, kamal-proxy's state, the directories and the lock (when this run takes it
    // here), then the home directory: an SSH host reads them all in one session.
    let take_lock = request.take_lock.as_ref().map(|lock| ExclusiveDir {
        path: &lock.dir,
        file: LOCK_DETAILS_FILE,
        contents: lock.details.as_bytes(),
        mode: LOCK_DETAILS_MODE,
    });
    let files_request = HostFilesRequest {
        paths: &paths,
        directories: &request.directories,
        container_file: (PROXY_CONTAINER, PROXY_STATE_FILE),
        volume_file: (PROXY_CONFIG_VOLUME, PROXY_STATE_FILE_IN_VOLUME),
        exclusive_dir: take_lock,
    };
    let files_state_and_home = async {
        let read = host.read_host_files(&files_request).await;
        (read, host.home_dir().await)
    };
    // First burst: independent requests, all at once.
    let ((read, home), containers, name_holders, proxy, networks, images, present) = tokio::join!(
        files_state_and_home,
        host.list_containers(&service_filter),
        try_join_all(
            name_filters
                .iter()
                .map(|filter| host.list_containers(filter))
        ),
        host.inspect_container(PROXY_CONTAINER),
        host.list_networks(),
        host.list_images(Some(&image_label)),
        join_all(request.images.iter().map(|image| host.inspect_image(image))),
    );
    let HostFiles {
        files,
        container_file: proxy_state,
        directories,
        created_dir: lock_taken,
    } = read;
    let lock_taken = lock_taken.transpose()?;
    let home = home?;
    let containers = containers?;
    // A name holder without the service label is not in the listing above.
    let unlabelled_holders: Vec<ContainerSummary> = name_holders?
        .into_iter()
        .flatten()
        .filter(|holder| !containers.iter().any(|listed| listed.id == holder.id))
        .collect();
    let proxy = proxy?;
    let networks = networks?;
    let service_images = images?;
    let files = files?;
    let directories = directories?;

    let (present_images, present_image_digests) = present_images(request, present)?;

    let routes = match (&proxy, proxy_state) {
        (None, _) => None,
        (Some(_), Ok(Some(contents))) => Some(routes_from_state(host, contents).await?),
        (Some(_), Ok(None)) => Some(Vec::new()),
        (Some(_), Err(error)) if error.is_connection() => return Err(error),
        // A proxy that has never saved state (or a stand-in without the file) has no routes.
        (Some(_), Err(_)) => Some(Vec::new()),
    };

    let classified = classify(&containers, request);
    let other_services = other_services(&containers, &classified);

    // Second burst: inspect what the first one found, and the images behind it.
    let wanted: Vec<&ContainerSummary> = classified
        .apps
        .iter()
        .chain(classified.accessories.iter())
        .copied()
        .collect();
    // The images behind them go out with the inspects: the list gave their ids, and the
    // proxy's inspect its own.
    let image_ids: BTreeSet<String> = wanted
        .iter()
        .map(|summary| summary.image_id.clone())
        .chain(proxy.iter().map(|proxy| proxy.image_id.clone()))
        .filter(|id| !id.is_empty())
        .collect();
    let (details, images_by_id) = tokio::join!(
        try_join_all(
            wanted
                .iter()
                .map(|summary| host.inspect_container(&summary.id)),
        ),
        images_by_id(host, image_ids),
    );
    let details = details?;
    let images_by_id = images_by_id?;
    let observed = |container: ContainerDetails| ObservedContainer {
        image: images_by_id.get(&container.image_id).cloned(),
        details: container,
    };

    let (app_containers, accessories) =
        apps_and_accessories(&classified, &wanted, details, observed);

    let read_back = FilesReadBack::take(files, request);

    Ok(HostState {
        home,
        app_containers,
        other_app_containers: classified
            .unlabelled_apps
            .iter()
            .chain(classified.other_destinations.iter())
            .map(|summary| (*summary).clone())
            .chain(unlabelled_holders)
            .collect(),
        other_destination_images: classified
            .other_destinations
            .iter()
            .map(|summary| summary.image_id.clone())
            .collect(),
        accessories,
        proxy: proxy.map(observed),
        routes,
        networks,
        service_images,
        present_images,
        present_image_digests,
        registry_digests: BTreeMap::new(),
        file_fingerprints: read_back.fingerprints,
        directories,
        lock: read_back.lock,
        lock_taken,
        journal: read_back.journal,
        proxy_boot: read_back.proxy_boot,
        other_services,
    })
}

/// The listed containers that are not this service's, nor the kamal-proxy every service shares.
fn other_services(
    containers: &[ContainerSummary],
    classified: &Classified<'_>,
) -> Vec<ContainerSummary> {
    let ours: Vec<&str> = classified
        .apps
        .iter()
        .chain(&classified.unlabelled_apps)
        .chain(&classified.other_destinations)
        .chain(&classified.accessories)
        .map(|summary| summary.id.as_str())
        .collect();
    containers
        .iter()
        .filter(|container| !ours.contains(&container.id.as_str()))
        .filter(|container| container.name != PROXY_CONTAINER)
        .cloned()
        .collect()
}

/// The inspected containers as apps (newest first, as Kamal orders them) and accessories; one
/// removed between the bursts is simply gone.
fn apps_and_accessories(
    classified: &Classified<'_>,
    wanted: &[&ContainerSummary],
    details: Vec<Option<ContainerDetails>>,
    observed: impl Fn(ContainerDetails) -> ObservedContainer,
) -> (Vec<ObservedContainer>, Vec<ObservedContainer>) {
    let mut app_containers = Vec::new();
    let mut accessories = Vec::new();
    for (summary, container) in wanted.iter().zip(details) {
        let Some(container) = container else { continue };
        if classified.apps.iter().any(|app| app.id == summary.id) {
            app_containers.push((summary.created, observed(container)));
        } else {
            accessories.push(observed(container));
        }
    }
    app_containers.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then_with(|| b.1.details.name.cmp(&a.1.details.name))
    });
    let app_containers = app_containers
        .into_iter()
        .map(|(_, container)| container)
        .collect();
    (app_containers, accessories)
}

/// Reference → image id, `None` when the host does not have it.
type ImageIds = BTreeMap<String, Option<String>>;
/// Reference → the registry digests the host knows for it.
type ImageDigests = BTreeMap<String, Vec<String>>;

/// The images `request` names that the host has: reference → image id (`None`: absent), and
/// reference → the registry digests the host knows for it.
fn present_images(
    request: &ObserveRequest,
    inspected: Vec<Result<Option<ImageDetails>, HostError>>,
) -> Result<(ImageIds, ImageDigests), HostError> {
    let mut present_images = BTreeMap::new();
    let mut present_image_digests = BTreeMap::new();
    for (reference, result) in request.images.iter().zip(inspected) {
        let image = result?;
        if let Some(image) = &image {
            present_image_digests.insert(reference.clone(), image.repo_digests.clone());
        }
        present_images.insert(reference.clone(), image.map(|image| image.id));
    }
    Ok((present_images, present_image_digests))
}

/// The registry's digest for the checked image, if it answered.
fn registry_digests(
    host_name: &str,
    answer: Result<Option<(String, String)>, HostError>,
) -> Result<BTreeMap<String, String>, HostError> {
    match answer {
        Ok(found) => Ok(found.into_iter().collect()),
        Err(error) if error.is_connection() => Err(error),
        // A registry that cannot answer (down, credentials refused) leaves the image as it is:
        // the pull, when one is needed, reports the problem.
        Err(error) => {
            tracing::info!(host = host_name, %error, "the registry did not give the image's digest; a tag pushed again is not seen");
            Ok(BTreeMap::new())
        }
    }
}

/// The images `image_ids` name, by id (an image removed since the listing is left out).
async fn images_by_id(
    host: &dyn Host,
    image_ids: BTreeSet<String>,
) -> Result<BTreeMap<String, ImageDetails>, HostError> {
    let image_ids: Vec<String> = image_ids.into_iter().collect();
    let image_details = try_join_all(image_ids.iter().map(|id| host.inspect_image(id))).await?;
    Ok(image_ids
        .into_iter()
        .zip(image_details)
        .filter_map(|(id, image)| image.map(|image| (id, image)))
        .collect())
}

/// What the files read in the first burst say: fingerprints of the compared files, the lock's
/// details, the journal and kamal-proxy's boot files.
struct FilesReadBack {
    fingerprints: BTreeMap<String, Option<String>>,
    lock: Option<LockInfo>,
    journal: Option<String>,
    proxy_boot: Option<ProxyBootFiles>,
}

impl FilesReadBack {
    fn take(mut files: BTreeMap<String, Option<Vec<u8>>>, request: &ObserveRequest) -> Self {
        let text = |contents: Vec<u8>| String::from_utf8_lossy(&contents).into_owned();
        let fingerprints = request
            .files
            .iter()
            .map(|path| {
                let fingerprint = files
                    .get(path)
                    .and_then(|contents| contents.as_deref())
                    .map(content_fingerprint);
                (path.clone(), fingerprint)
            })
            .collect();
        let lock = files
            .remove(&request.lock_details)
            .flatten()
            .map(|contents| parse_lock_details(&contents));
        let journal = files.remove(&request.journal).flatten().map(text);
        let proxy_boot = request.proxy_boot_files.then(|| {
            let mut read = PROXY_BOOT_FILES.map(|path| files.remove(path).flatten().map(text));
            ProxyBootFiles {
                options: read[0].take(),
                image: read[1].take(),
                image_version: read[2].take(),
                run_command: read[3].take(),
            }
        });
        FilesReadBack {
            fingerprints,
            lock,
            journal,
            proxy_boot,
        }
    }
}

/// The containers of the first burst, sorted by what they are to this service.
struct Classified<'a> {
    apps: Vec<&'a ContainerSummary>,
    unlabelled_apps: Vec<&'a ContainerSummary>,
    other_destinations: Vec<&'a ContainerSummary>,
    accessories: Vec<&'a ContainerSummary>,
}

fn classify<'a>(containers: &'a [ContainerSummary], request: &ObserveRequest) -> Classified<'a> {
    let mut classified = Classified {
        apps: Vec::new(),
        unlabelled_apps: Vec::new(),
        other_destinations: Vec::new(),
        accessories: Vec::new(),
    };
    for container in containers {
        let label = |key: &str| container.labels.get(key).map(String::as_str);
        let service = label(LABEL_SERVICE).unwrap_or_default();
        if service == request.service {
            match label(LABEL_DESTINATION) {
                Some(destination)
                    if destination == request.destination && label(LABEL_ROLE).is_some() =>
                {
                    classified.apps.push(container);
                }
                Some(destination) if destination == request.destination => {
                    classified.unlabelled_apps.push(container);
                }
                Some(_) => classified.other_destinations.push(container),
                // Without a destination label Kamal cannot see the container: not ours.
                None => {}
            }
        } else if request
            .accessory_services
            .iter()
            .any(|name| name == service)
            || (service.starts_with(&request.accessory_prefix)
                && label(LABEL_ROLE).is_none()
                && label(LABEL_DESTINATION).is_none())
        {
            classified.accessories.push(container);
        }
    }
    classified
}
