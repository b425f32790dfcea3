//! What needs real key pairs (feature `keys`, on rcgen and aws-lc-rs): generating a key of a
//! [`KeyType`], reading and writing [`PrivateKeyPem`], matching a key to a [`CertInfo`].

use rcgen::{KeyPair, RsaKeySize};

use crate::{CertInfo, Error, KeyType, PrivateKeyPem};

impl KeyType {
    /// Generates a fresh key pair of this type.
    pub fn generate(self) -> Result<KeyPair, Error> {
        let result = match self {
            KeyType::Rsa2048 => rsa(RsaKeySize::_2048),
            KeyType::Rsa3072 => rsa(RsaKeySize::_3072),
            KeyType::Rsa4096 => rsa(RsaKeySize::_4096),
            KeyType::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            KeyType::EcdsaP384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
            KeyType::Ed25519 => KeyPair::generate_for(&rcgen::PKCS_ED25519),
        };
        result.map_err(|e| Error::Key(format!("generating a {self} key: {e}")))
    }

    /// The key type of an existing key pair, if it is one acmekeep manages.
    pub fn of(key: &KeyPair) -> Option<KeyType> {
        let alg = key.algorithm();
        if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
            Some(KeyType::EcdsaP256)
        } else if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
            Some(KeyType::EcdsaP384)
        } else if alg == &rcgen::PKCS_ED25519 {
            Some(KeyType::Ed25519)
        } else if alg == &rcgen::PKCS_RSA_SHA256 {
            // The modulus length is the SubjectPublicKeyInfo size in disguise.
            match rsa_modulus_bits(key) {
                2048 => Some(KeyType::Rsa2048),
                3072 => Some(KeyType::Rsa3072),
                4096 => Some(KeyType::Rsa4096),
                _ => None,
            }
        } else {
            None
        }
    }
}

fn rsa(size: RsaKeySize) -> Result<KeyPair, rcgen::Error> {
    KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, size)
}

fn rsa_modulus_bits(key: &KeyPair) -> usize {
    use x509_parser::prelude::FromDer;
    use x509_parser::public_key::PublicKey;
    use x509_parser::x509::SubjectPublicKeyInfo;
    let der = rcgen::PublicKeyData::subject_public_key_info(key);
    let Ok((_, spki)) = SubjectPublicKeyInfo::from_der(&der) else {
        return 0;
    };
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => rsa.key_size(),
        _ => 0,
    }
}

impl PrivateKeyPem {
    /// Parses the key for signing; the error never contains key material.
    pub fn key_pair(&self) -> Result<KeyPair, Error> {
        KeyPair::from_pem(self.expose()).map_err(|_| {
            Error::Key("the private key is not a PKCS#8 PEM key that acmekeep can use".into())
        })
    }

    /// Encodes a key pair as PKCS#8 PEM that common TLS servers can read.
    ///
    /// Ed25519 keys are written as PKCS#8 v1 (RFC 8410 without the public key): OpenSSL 3.0,
    /// and so nginx and haproxy built on it, rejects the v2 form the generator produces.
    pub fn from_key_pair(key: &KeyPair) -> Result<PrivateKeyPem, Error> {
        if key.algorithm() != &rcgen::PKCS_ED25519 {
            return Ok(PrivateKeyPem::new(key.serialize_pem()));
        }
        let v1 = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(key.serialized_der())
            .ok()
            .and_then(|pair| pair.to_pkcs8v1().ok())
            .ok_or_else(|| Error::Key("cannot encode the Ed25519 key as PKCS#8 v1".into()))?;
        Ok(PrivateKeyPem::new(pem::encode_config(
            &pem::Pem::new("PRIVATE KEY", v1.as_ref().to_vec()),
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        )))
    }
}

impl CertInfo {
    /// Whether `key` is the private key of this certificate.
    pub fn matches_key(&self, key: &PrivateKeyPem) -> bool {
        key.key_pair()
            .map(|pair| rcgen::PublicKeyData::subject_public_key_info(&pair) == self.public_key_der)
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_type_generates_and_is_recognised() {
        for kind in KeyType::ALL {
            let key = kind.generate().expect("generate");
            assert_eq!(KeyType::of(&key), Some(kind), "{kind}");
            let pem = PrivateKeyPem::from_key_pair(&key).expect("encode");
            let back = pem.key_pair().expect("parse back");
            assert_eq!(
                KeyType::of(&back),
                Some(kind),
                "{kind} after PEM round trip"
            );
        }
    }

    #[test]
    fn private_key_debug_is_redacted() {
        let key = KeyType::EcdsaP256.generate().expect("generate");
        let pem = PrivateKeyPem::from_key_pair(&key).expect("encode");
        assert_eq!(format!("{pem:?}"), "PrivateKeyPem([redacted])");
    }

    #[test]
    fn ed25519_keys_are_written_as_pkcs8_v1_for_openssl_3_0() {
        use rustls_pki_types::PrivateKeyDer;
        use rustls_pki_types::pem::PemObject;
        let key = KeyType::Ed25519.generate().expect("generate");
        let pem = PrivateKeyPem::from_key_pair(&key).expect("encode");
        let der = PrivateKeyDer::from_pem_slice(pem.expose().as_bytes()).expect("pem");
        // SEQUENCE { INTEGER version, … }: version 0 is v1, version 1 would be v2.
        assert_eq!(&der.secret_der()[2..5], &[0x02, 0x01, 0x00]);
    }
}
