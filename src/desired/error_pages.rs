//! `error_pages_path`'s pages as files on the host: Kamal uploads them to every app host under
//! a directory of the version, which kamal-proxy is pointed at (`--error-pages`).

use crate::config::Config;
use crate::desired::{DesiredError, DesiredFile, DesiredInputs};
use crate::naming::ServiceNames;
use crate::secret::Secret;

/// Permission bits of uploaded error pages, as Kamal 2.11's upload leaves them (its `mode: 0700`
/// does not reach files of a recursive upload). kamal-proxy runs as its own user and must read
/// them, or it refuses the deploy.
const ERROR_PAGE_MODE: u32 = 0o644;

/// The error pages of this version, read from the project.
pub(super) fn desired_error_pages(
    config: &Config,
    names: &ServiceNames,
    inputs: &DesiredInputs<'_>,
) -> Result<Vec<DesiredFile>, DesiredError> {
    let directory = format!("{}/{}", names.error_pages_dir(), inputs.version);
    config
        .error_pages
        .iter()
        .map(|page| {
            let bytes =
                (inputs.read_local_file)(page).map_err(|message| DesiredError::ErrorPage {
                    path: page.clone(),
                    message,
                })?;
            let name = page.rsplit('/').next().unwrap_or(page);
            Ok(DesiredFile::new(
                format!("{directory}/{name}"),
                Secret::new(String::from_utf8_lossy(&bytes).into_owned()),
                ERROR_PAGE_MODE,
            ))
        })
        .collect()
}
