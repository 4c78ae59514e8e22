//! Values several stages share: containers and their options, images and references, directory
//! merges, `options:` hashes, secrets and version numbers.
//!
//! A leaf: nothing here imports anything else of gantry (tests/layers.rs checks it), so the pure
//! stages (config, desired, diff, plan) can use these values without reaching the `Host` seam,
//! and the seam can use them without reaching the stages.

mod container;
mod directory;
mod docker_options;
mod image;
mod options;
mod round_trip_counts;
pub mod secret;
pub mod version_number;

pub use container::{
    ContainerDetails, ContainerSpec, ContainerStatus, ContainerSummary, EnvValue, Health,
};
pub use directory::DirectoryMerge;
pub use docker_options::{DockerOptionValue, DockerOptions};
pub use image::{ImageDetails, ImageSummary, PullProgress, RegistryAuth, split_reference};
pub use options::{
    ContainerOptions, DeviceMapping, DeviceRate, HealthcheckConfig, LogConfig, Mount,
    MountBindOptions, MountTmpfsOptions, MountVolumeOptions, PortBinding, RestartPolicy, Ulimit,
};
pub use round_trip_counts::RoundTripCounts;
