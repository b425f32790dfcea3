use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, TrustAnchor};

use crate::Error;
use crate::summary::parse;

/// The trust anchors a chain is verified against, with where they came from.
#[derive(Clone, Debug)]
pub struct Roots {
    anchors: Vec<TrustAnchor<'static>>,
    subjects: Vec<String>,
    source: String,
}

impl Roots {
    /// Trust exactly `certs`; `source` says where they came from (for messages).
    pub fn from_certificates(
        certs: &[CertificateDer<'_>],
        source: impl Into<String>,
    ) -> Result<Roots, Error> {
        let source = source.into();
        let mut roots = Roots {
            anchors: Vec::new(),
            subjects: Vec::new(),
            source,
        };
        for (i, der) in certs.iter().enumerate() {
            let what = format!("{}, certificate {}", roots.source, i + 1);
            let subject = parse(der, &what)?.subject().to_string();
            let anchor = webpki::anchor_from_trusted_cert(der).map_err(|e| Error::Certificate {
                what,
                reason: format!("not usable as a trust anchor: {e}"),
            })?;
            roots.anchors.push(anchor.to_owned());
            roots.subjects.push(subject);
        }
        Ok(roots)
    }

    /// These anchors and also `certs` (e.g. the issuer's own root); `source` says where
    /// those came from, and is added to [`Roots::source`].
    pub fn also_trusting(
        &self,
        certs: &[CertificateDer<'_>],
        source: &str,
    ) -> Result<Roots, Error> {
        let mut extra = Roots::from_certificates(certs, source)?;
        let mut roots = self.clone();
        roots.anchors.append(&mut extra.anchors);
        roots.subjects.append(&mut extra.subjects);
        roots.source = format!("{} and {source}", self.source);
        Ok(roots)
    }

    /// Where the anchors came from: a file path or `the system trust store`.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// How many anchors there are.
    pub fn len(&self) -> usize {
        self.anchors.len()
    }

    /// Whether there are none (every chain is then untrusted).
    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    pub(crate) fn anchors(&self) -> &[TrustAnchor<'static>] {
        &self.anchors
    }

    /// The subject (RFC 4514) of `anchor`, one of ours.
    pub(crate) fn subject_of(&self, anchor: &TrustAnchor<'_>) -> Option<&str> {
        self.anchors
            .iter()
            .position(|a| {
                a.subject == anchor.subject
                    && a.subject_public_key_info == anchor.subject_public_key_info
            })
            .and_then(|i| self.subjects.get(i))
            .map(String::as_str)
    }
}

/// The anchors of `ca_bundle` (PEM, one or more certificates) when given, else those of the
/// system trust store — the store `acme_core::tls_client_config` starts from. A bundle
/// replaces the system store: the question is then "does this chain lead to *that* CA".
pub fn load_roots(ca_bundle: Option<&Path>) -> Result<Roots, Error> {
    match ca_bundle {
        Some(path) => {
            let bundle_error = |reason: String| Error::CaBundle {
                path: path.to_path_buf(),
                reason,
            };
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| bundle_error(e.to_string()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bundle_error(e.to_string()))?;
            if certs.is_empty() {
                return Err(bundle_error(
                    "no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)".into(),
                ));
            }
            Roots::from_certificates(&certs, path.display().to_string())
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = Roots {
                anchors: Vec::new(),
                subjects: Vec::new(),
                source: "the system trust store".to_string(),
            };
            for der in &found.certs {
                // A system store may hold certificates webpki cannot use; skip those, as
                // rustls does when it loads the same store.
                if let Ok(mut one) = Roots::from_certificates(std::slice::from_ref(der), "") {
                    roots.anchors.append(&mut one.anchors);
                    roots.subjects.append(&mut one.subjects);
                }
            }
            Ok(roots)
        }
    }
}
