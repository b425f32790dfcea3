//! The challenge certificate of RFC 8737 §3.

use aws_lc_rs::digest::{SHA256, digest};
use rcgen::{
    CertificateParams, CustomExtension, DistinguishedName, KeyPair, PKCS_ECDSA_P256_SHA256,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

use crate::Error;

/// A self-signed certificate for `identifier` alone, carrying the critical
/// `id-pe-acmeIdentifier` extension with the SHA-256 digest of `key_authorization`, and its
/// fresh P-256 key, ready for rustls to serve.
pub(crate) fn challenge_certificate(
    provider: &CryptoProvider,
    identifier: &str,
    key_authorization: &str,
) -> Result<CertifiedKey, Error> {
    let failed = |reason: String| Error::Certificate {
        identifier: identifier.to_string(),
        reason,
    };
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
        .map_err(|error| failed(format!("cannot generate a P-256 key: {error}")))?;
    let mut params = CertificateParams::new(vec![identifier.to_string()])
        .map_err(|error| failed(error.to_string()))?;
    params.distinguished_name = DistinguishedName::new();
    let authorization_digest = digest(&SHA256, key_authorization.as_bytes());
    // A SHA-256 digest is always the 32 bytes `new_acme_identifier` requires.
    params
        .custom_extensions
        .push(CustomExtension::new_acme_identifier(
            authorization_digest.as_ref(),
        ));
    let certificate = params
        .self_signed(&key)
        .map_err(|error| failed(error.to_string()))?;
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let signing_key = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|error| failed(format!("rustls cannot use the key: {error}")))?;
    Ok(CertifiedKey::new(
        vec![certificate.der().clone()],
        signing_key,
    ))
}
