use acme_core::{CertInfo, PrivateKeyPem};
use rustls_pki_types::CertificateDer;

use crate::{CertSummary, Error, Problem, ProblemKind};

/// Whether `key_pem` is the private key of `leaf`; `what` names the key in messages.
///
/// `Ok(None)` when it is, `Ok(Some(problem))` when it is not, and a [`ProblemKind::KeyUnreadable`]
/// problem when the key cannot be read. The key's bytes never appear in a message.
pub fn check_key(
    leaf: &CertificateDer<'_>,
    key_pem: &str,
    what: &str,
) -> Result<Option<Problem>, Error> {
    let info = CertInfo::from_der(leaf).map_err(|e| Error::Certificate {
        what: "the leaf".into(),
        reason: e.to_string(),
    })?;
    let key = PrivateKeyPem::new(key_pem.to_string());
    if let Err(e) = key.key_pair() {
        return Ok(Some(Problem::new(
            ProblemKind::KeyUnreadable,
            format!(
                "{what} is not a private key acmekeep can read (PKCS#8, SEC1 or PKCS#1 PEM): {e}"
            ),
        )));
    }
    if info.matches_key(&key) {
        Ok(None)
    } else {
        Ok(Some(Problem::new(
            ProblemKind::KeyMismatch,
            format!(
                "{what} is not the private key of the certificate (serial {}): servers refuse \
                 to load the pair; deploy the key and certificate of one issuance together",
                info.serial
            ),
        )))
    }
}

/// Compares the leaf an endpoint serves with the leaf a store holds (by SHA-256): `None`
/// when they are the same certificate, else a [`ProblemKind::ServesAnotherCertificate`]
/// problem naming both. `endpoint` and `store` describe them, e.g. `example.com:443 (SNI
/// example.com)` (or `the endpoint` where the context names it) and
/// `files:/etc/ssl/acmekeep/web`.
pub fn compare_served(
    served: &CertSummary,
    stored: &CertSummary,
    endpoint: &str,
    store: &str,
) -> Option<Problem> {
    if served.sha256 == stored.sha256 {
        return None;
    }
    let why = if served.serial == stored.serial && served.issuer == stored.issuer {
        "a certificate with the same issuer and serial but other contents (re-encoded or altered)"
    } else if served.not_after < stored.not_after {
        "an older certificate: reload the server after deploying, and check that it reads \
         the store"
    } else {
        "a certificate the store does not hold: check which certificate the server is \
         configured with for this name (a default certificate, another Secret, SNI routing)"
    };
    Some(Problem::new(
        ProblemKind::ServesAnotherCertificate,
        format!(
            "{endpoint} serves another certificate than {store}: served serial {} for {} (not \
             after {}), stored serial {} (not after {}); it serves {why}",
            served.serial,
            served.names.join(", "),
            crate::summary::format_time(served.not_after),
            stored.serial,
            crate::summary::format_time(stored.not_after),
        ),
    ))
}
