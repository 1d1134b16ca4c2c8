//! TLS client settings per upstream: webpki roots, or the upstream's own CA file.

use std::sync::Arc;

use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use crate::config::Upstream;

/// Builds the rustls config for an `https://` upstream (read once at start-up).
pub fn client_config(upstream: &Upstream) -> Result<Arc<ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    match &upstream.ca_file {
        Some(path) => {
            let certificates = CertificateDer::pem_file_iter(path).map_err(|e| {
                format!(
                    "upstream '{}': cannot read ca_file {}: {e}",
                    upstream.name,
                    path.display()
                )
            })?;
            for certificate in certificates {
                let certificate = certificate.map_err(|e| {
                    format!(
                        "upstream '{}': bad certificate in ca_file: {e}",
                        upstream.name
                    )
                })?;
                roots.add(certificate).map_err(|e| {
                    format!(
                        "upstream '{}': unusable certificate in ca_file: {e}",
                        upstream.name
                    )
                })?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
