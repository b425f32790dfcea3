use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

use crate::Error;

/// Builds a DER certificate signing request for `names` signed by `key`.
///
/// The first name becomes the subject common name (when it fits the 64-character limit);
/// every name goes into the subjectAltName extension.
pub fn build_csr(names: &[String], key: &KeyPair) -> Result<Vec<u8>, Error> {
    let mut params = CertificateParams::new(names.to_vec())
        .map_err(|e| Error::Csr(format!("invalid names {names:?}: {e}")))?;
    let mut dn = DistinguishedName::new();
    if let Some(first) = names.first().filter(|n| n.len() <= 64) {
        dn.push(DnType::CommonName, first.as_str());
    }
    params.distinguished_name = dn;
    let csr = params
        .serialize_request(key)
        .map_err(|e| Error::Csr(e.to_string()))?;
    Ok(csr.der().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyType;

    #[test]
    fn csr_carries_every_name_for_every_key_type() {
        for kind in KeyType::ALL {
            let key = kind.generate().expect("key");
            let names = vec!["a.example.test".to_string(), "*.example.test".to_string()];
            let der = build_csr(&names, &key).expect("csr");
            let parsed =
                rcgen::CertificateSigningRequestParams::from_der(&der.into()).expect("parse csr");
            assert_eq!(parsed.params.subject_alt_names.len(), 2, "{kind}");
        }
    }
}
