//! The trust bundle: the CA certificates consumers must trust, written where they read it.

use std::fs;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::Error;

/// The trust bundle to keep at `path`: the issuing CA's root followed by every certificate
/// of the `also` files, without duplicates and without expired certificates (each skipped
/// one is logged).
pub(crate) struct TrustBundle {
    path: PathBuf,
    pem: String,
    certificates: usize,
}

impl TrustBundle {
    /// Reads and checks the `also` files and composes the bundle; nothing is written yet.
    pub(crate) fn compose(
        path: &Path,
        root: Option<&str>,
        also: &[PathBuf],
    ) -> Result<TrustBundle, Error> {
        let mut sources: Vec<(String, String)> = Vec::new();
        if let Some(root) = root {
            sources.push(("the issuing CA".to_string(), root.to_string()));
        }
        for file in also {
            let text = fs::read_to_string(file).map_err(|source| Error::ReadCertificate {
                path: file.clone(),
                source,
            })?;
            let certs =
                acme_core::split_pem_certificates(&text).map_err(|e| Error::CaCertificate {
                    path: file.clone(),
                    reason: e.to_string(),
                })?;
            if certs.is_empty() {
                return Err(Error::CaCertificate {
                    path: file.clone(),
                    reason: "listed in `trust_also` but holds no PEM certificate".into(),
                });
            }
            sources.extend(certs.into_iter().map(|c| (file.display().to_string(), c)));
        }
        if sources.is_empty() {
            return Err(Error::Config(format!(
                "`trust_bundle = {:?}` would be empty: the CA file ends at an intermediate; \
             append its root to `cert` or list the root's file in `trust_also`",
                path.display().to_string()
            )));
        }

        let now = OffsetDateTime::now_utc();
        let mut seen: Vec<Vec<u8>> = Vec::new();
        let mut bundle = String::new();
        for (origin, pem) in sources {
            let der = x509_parser::pem::parse_x509_pem(pem.as_bytes())
                .map(|(_, pem)| pem.contents)
                .map_err(|e| Error::CaCertificate {
                    path: PathBuf::from(&origin),
                    reason: format!("invalid PEM: {e}"),
                })?;
            let (_, cert) = X509Certificate::from_der(&der).map_err(|e| Error::CaCertificate {
                path: PathBuf::from(&origin),
                reason: format!("invalid X.509 certificate: {e}"),
            })?;
            let not_after = cert.validity().not_after.to_datetime();
            if not_after <= now {
                tracing::warn!(
                    from = %origin,
                    subject = %cert.subject(),
                    %not_after,
                    "left an expired CA certificate out of the trust bundle"
                );
                continue;
            }
            if seen.contains(&der) {
                continue;
            }
            seen.push(der);
            bundle.push_str(pem.trim_end());
            bundle.push('\n');
        }

        Ok(TrustBundle {
            path: path.to_path_buf(),
            pem: bundle,
            certificates: seen.len(),
        })
    }

    /// Writes the bundle (0644, public) unless the file already holds it, so consumers
    /// watching it are not woken for nothing.
    pub(crate) fn write(&self) -> Result<(), Error> {
        if fs::read_to_string(&self.path).is_ok_and(|current| current == self.pem) {
            return Ok(());
        }
        acme_core::write_atomic(&self.path, self.pem.as_bytes(), 0o644)?;
        tracing::info!(
            path = %self.path.display(),
            certificates = self.certificates,
            "wrote the trust bundle"
        );
        Ok(())
    }
}
