use std::path::Path;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::Error;

/// The TLS client settings every outgoing HTTPS connection of acmekeep uses: aws-lc-rs,
/// the system's roots, plus the PEM certificates of `extra_roots` (private or test CAs).
pub fn tls_client_config(extra_roots: Option<&Path>) -> Result<rustls::ClientConfig, Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(path) = extra_roots {
        let bundle_error =
            |reason: String| Error::Certificate(format!("ca_bundle {}: {reason}", path.display()));
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| bundle_error(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bundle_error(e.to_string()))?;
        if certs.is_empty() {
            return Err(bundle_error("no PEM certificate in it".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| bundle_error(e.to_string()))?;
        }
    }
    Ok(rustls::ClientConfig::builder_with_provider(
        rustls::crypto::aws_lc_rs::default_provider().into(),
    )
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::Certificate(format!("TLS setup: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_without_certificates_is_named_in_the_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bundle.pem");
        std::fs::write(&path, "not a certificate\n").expect("write");
        let err = tls_client_config(Some(&path)).expect_err("empty bundle");
        assert!(
            err.to_string()
                .contains("bundle.pem: no PEM certificate in it"),
            "{err}"
        );
        assert!(tls_client_config(None).is_ok());
    }
}
