//! TLS: a certificate manager per service, and the choice of certificate by SNI.
//!
//! As kamal-proxy v0.9.2 (`cert.go`, `service.go`, `router.go`): a service deployed with `--tls`
//! and both `--tls-certificate-path` and `--tls-private-key-path` loads that pair at deploy and
//! the deploy fails with "unable to load certificate" when it cannot; `--tls` alone asks ACME,
//! which refuses wildcard hosts ("automatic TLS does not support wildcards"). A handshake picks
//! the service serving `/` for its server name (or, without one, the first host of a TLS
//! service) and takes that service's certificate; no service, a service without TLS, or an
//! ACME service fails the handshake. The test bed reaches no ACME directory, so an ACME service
//! here never gets a certificate: the handshake fails as the real proxy's does when its ACME
//! order fails (see `specs/testbed.md`).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;
use thiserror::Error;
use tokio_rustls::TlsAcceptor;

use crate::log;
use crate::router::Router;
use crate::state::ServiceOptions;

/// Why a service's TLS settings cannot be used; the text is kamal-proxy's.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CertError {
    #[error("unable to load certificate")]
    UnableToLoadCertificate,
    #[error("automatic TLS does not support wildcards")]
    AutomaticTlsDoesNotSupportWildcards,
}

/// Where a TLS service's certificate comes from.
#[derive(Clone)]
pub enum CertManager {
    /// Loaded from the PEM files at deploy.
    Static(Arc<CertifiedKey>),
    /// Requested from an ACME directory at the first handshake: unreachable on the test bed.
    Acme,
}

impl fmt::Debug for CertManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertManager::Static(_) => f.write_str("Static"),
            CertManager::Acme => f.write_str("Acme"),
        }
    }
}

impl CertManager {
    /// The manager for `options`: none without TLS.
    pub fn for_service(options: &ServiceOptions) -> Result<Option<CertManager>, CertError> {
        if !options.tls_enabled {
            return Ok(None);
        }
        if !options.tls_certificate_path.is_empty() && !options.tls_private_key_path.is_empty() {
            return load_key_pair(
                Path::new(&options.tls_certificate_path),
                Path::new(&options.tls_private_key_path),
            )
            .map(|key| Some(CertManager::Static(Arc::new(key))))
            .map_err(|error| {
                log::error("Error loading TLS certificate", &[("error", json!(error))]);
                CertError::UnableToLoadCertificate
            });
        }
        if options.hosts.iter().any(|host| host.contains('*')) {
            return Err(CertError::AutomaticTlsDoesNotSupportWildcards);
        }
        Ok(Some(CertManager::Acme))
    }

    /// The certificate to present, if this manager has one.
    pub fn certificate(&self) -> Option<Arc<CertifiedKey>> {
        match self {
            CertManager::Static(key) => Some(Arc::clone(key)),
            CertManager::Acme => {
                log::debug(
                    "ACME: Unable to get certificate (no ACME directory reachable)",
                    &[],
                );
                None
            }
        }
    }
}

/// ring, not aws-lc-rs: the static build of the stand-in then needs no cmake. Its lack of
/// post-quantum key exchange (the deprecation) does not matter on a test bed.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Go's `tls.LoadX509KeyPair`: a certificate chain and a matching private key.
fn load_key_pair(certificate: &Path, key: &Path) -> Result<CertifiedKey, String> {
    let chain = CertificateDer::pem_file_iter(certificate)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|error| format!("{}: {error}", certificate.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "{}: tls: failed to find any PEM data in certificate input",
            certificate.display()
        ));
    }
    let key =
        PrivateKeyDer::from_pem_file(key).map_err(|error| format!("{}: {error}", key.display()))?;
    CertifiedKey::from_der(chain, key, &provider()).map_err(|error| error.to_string())
}

/// Picks a handshake's certificate from the router's services.
#[derive(Debug)]
struct SniResolver {
    router: Arc<Router>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.router.certificate_for(hello.server_name())
    }
}

/// The acceptor of the HTTPS listener: HTTP/1.1 only, certificates chosen per handshake.
pub fn acceptor(router: Arc<Router>) -> Result<TlsAcceptor, rustls::Error> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver { router }));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
