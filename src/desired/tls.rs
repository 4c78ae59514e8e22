//! A role's custom TLS certificate on a host: the two PEM files kamal-proxy loads at deploy.
//!
//! With `proxy.ssl: {certificate_pem: SECRET, private_key_pem: SECRET}`, Kamal uploads the two
//! secrets to `.kamal/proxy/apps-config/<svc[-dest]>/tls/<role>/{cert,key}.pem` (mode 0644, the
//! proxy container reads them through its `apps-config` mount) before any container boots, and
//! the route names them with `--tls-certificate-path`/`--tls-private-key-path`. kamal-proxy
//! refuses a deploy whose files are missing (`unable to load certificate`), so the files are as
//! much a part of the route as its settings. Accessories get no files: Kamal writes them for
//! roles only.

use crate::config::{Role, Ssl};
use crate::desired::{DesiredFile, MissingSecret, SecretValues};
use crate::naming::ServiceNames;

/// Kamal uploads both PEM files world-readable: the proxy runs as another user.
const PEM_MODE: u32 = 0o644;

/// The certificate and key files of `role`, empty unless it uses a custom certificate.
pub(super) fn tls_files(
    names: &ServiceNames,
    role: &Role,
    secrets: &dyn SecretValues,
) -> Result<Vec<DesiredFile>, MissingSecret> {
    let Some(Ssl::Custom {
        certificate_pem,
        private_key_pem,
    }) = role.proxy.as_ref().map(|proxy| &proxy.ssl)
    else {
        return Ok(Vec::new());
    };
    let directory = names.role_tls_dir(&role.name);
    [
        ("cert.pem", "certificate_pem", certificate_pem),
        ("key.pem", "private_key_pem", private_key_pem),
    ]
    .into_iter()
    .map(|(file, field, key)| {
        let contents = secrets.secret(key).cloned().ok_or_else(|| MissingSecret {
            name: format!("proxy.ssl.{field}"),
            key: key.clone(),
        })?;
        Ok(DesiredFile::new(
            format!("{directory}/{file}"),
            contents,
            PEM_MODE,
        ))
    })
    .collect()
}
