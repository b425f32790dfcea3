//! ACME Renewal Information (RFC 9773): which certificate is meant, when the CA suggests
//! renewing it, and when to ask again.

use std::time::{Duration, SystemTime};

use instant_acme::{Account, CertificateIdentifier, RenewalInfo};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, Der};
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};

use super::retry::retrying;
use acme_core::{Error, RenewalWindow};

/// The shortest pause before asking for a certificate's renewal information again.
///
/// RFC 9773 §4.3 asks clients to bound the CA's Retry-After and gives one minute and one
/// day as the example bounds: a misconfigured CA must neither make us poll it in a loop
/// nor leave us deaf to a revocation-driven window change for weeks.
pub(crate) const MIN_REFRESH: Duration = Duration::from_secs(60);
/// The longest pause before asking again (see [`MIN_REFRESH`]).
pub(crate) const MAX_REFRESH: Duration = Duration::from_secs(24 * 60 * 60);

/// The RFC 9773 certificate identifier of the first certificate in `cert_pem`:
/// `base64url(AKI keyIdentifier) "." base64url(DER serial)`.
///
/// `Ok(None)` when the certificate has no Authority Key Identifier: the CA cannot be asked
/// about it, so it has no renewal information.
pub(crate) fn certificate_id(
    cert_pem: &str,
) -> Result<Option<CertificateIdentifier<'static>>, Error> {
    let der = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .next()
        .ok_or_else(|| Error::Certificate("no PEM certificate found".into()))?
        .map_err(|e| Error::Certificate(format!("invalid PEM: {e}")))?;
    let (_, cert) = X509Certificate::from_der(&der)
        .map_err(|e| Error::Certificate(format!("invalid X.509 certificate: {e}")))?;
    let key_identifier = cert
        .iter_extensions()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => aki.key_identifier.as_ref(),
            _ => None,
        });
    Ok(key_identifier.map(|key_identifier| {
        CertificateIdentifier::new(
            Der::from_slice(key_identifier.0),
            Der::from_slice(cert.tbs_certificate.raw_serial()),
        )
        .into_owned()
    }))
}

/// The CA's Retry-After for renewal information, bounded to [`MIN_REFRESH`]..=[`MAX_REFRESH`].
pub(crate) fn refresh_interval(retry_after: Duration) -> Duration {
    retry_after.clamp(MIN_REFRESH, MAX_REFRESH)
}

/// Turns the CA's answer into a [`RenewalWindow`]; a window that ends before it starts is
/// an error (RFC 9773 §4.2: treat it as if no answer had come).
pub(crate) fn window(info: RenewalInfo, retry_after: Duration) -> Result<RenewalWindow, Error> {
    let start = SystemTime::from(info.suggested_window.start);
    let end = SystemTime::from(info.suggested_window.end);
    if end <= start {
        return Err(Error::Acme {
            step: "renewal info",
            message: format!(
                "the CA suggested a renewal window that ends ({}) no later than it starts ({}); ignoring it",
                info.suggested_window.end, info.suggested_window.start
            ),
            problem: None,
            retryable: false,
            retry_after: None,
        });
    }
    Ok(RenewalWindow {
        start,
        end,
        refresh_after: refresh_interval(retry_after),
        explanation: info.explanation_url,
    })
}

/// Asks the CA for the renewal window of certificate `id`, retrying transient failures.
///
/// `Ok(None)` when the CA's directory offers no `renewalInfo` (instant-acme then refuses
/// before sending anything).
pub(crate) async fn fetch(
    account: &Account,
    id: &CertificateIdentifier<'_>,
) -> Result<Option<RenewalWindow>, Error> {
    let answer = retrying!("renewal info", async {
        match account.renewal_info(id).await {
            Ok(answer) => Ok(Some(answer)),
            Err(instant_acme::Error::Unsupported(_)) => Ok(None),
            Err(err) => Err(err),
        }
    })?;
    answer
        .map(|(info, retry_after)| window(info, retry_after))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, IsCa, Issuer, KeyIdMethod, KeyPair, SerialNumber,
    };

    /// A leaf signed by a CA whose key identifier and the leaf's serial are those of the
    /// example in RFC 9773 §4.1.
    fn rfc_example_leaf(with_aki: bool) -> String {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_identifier_method = KeyIdMethod::PreSpecified(vec![
            0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3, 0x7B, 0x84, 0x7B, 0xA0,
            0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4,
        ]);
        let issuer = Issuer::new(ca, ca_key);
        let mut leaf = CertificateParams::new(vec!["a.example.test".to_string()]).expect("leaf");
        leaf.serial_number = Some(SerialNumber::from_slice(&[0x00, 0x87, 0x65, 0x43, 0x21]));
        leaf.use_authority_key_identifier_extension = with_aki;
        let leaf_key = KeyPair::generate().expect("leaf key");
        leaf.signed_by(&leaf_key, &issuer).expect("sign").pem()
    }

    fn answer(start: &str, end: &str) -> RenewalInfo {
        serde_json::from_value(serde_json::json!({
            "suggestedWindow": { "start": start, "end": end },
            "explanationURL": "https://ca.example/why",
        }))
        .expect("renewal info")
    }

    #[test]
    fn certificate_id_is_the_rfc_9773_encoding_of_key_identifier_and_serial() {
        let id = certificate_id(&rfc_example_leaf(true))
            .expect("parses")
            .expect("has an AKI");
        assert_eq!(id.to_string(), "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
    }

    #[test]
    fn a_certificate_without_authority_key_identifier_has_no_certificate_id() {
        assert!(
            certificate_id(&rfc_example_leaf(false))
                .expect("parses")
                .is_none()
        );
    }

    #[test]
    fn certificate_id_of_garbage_is_a_certificate_error() {
        let err = certificate_id("not a certificate").expect_err("no PEM");
        assert!(matches!(err, Error::Certificate(_)), "{err}");
    }

    #[test]
    fn refresh_interval_keeps_the_cas_value_within_one_minute_and_one_day() {
        assert_eq!(refresh_interval(Duration::ZERO), MIN_REFRESH);
        assert_eq!(refresh_interval(Duration::from_secs(59)), MIN_REFRESH);
        assert_eq!(
            refresh_interval(Duration::from_secs(600)),
            Duration::from_secs(600)
        );
        assert_eq!(
            refresh_interval(Duration::from_secs(7 * 24 * 3600)),
            MAX_REFRESH
        );
    }

    #[test]
    fn window_carries_start_end_explanation_and_bounded_refresh() {
        let window = window(
            answer("2025-01-02T00:00:00Z", "2025-01-03T00:00:00Z"),
            Duration::from_secs(5),
        )
        .expect("valid window");
        let at = |secs: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(window.start, at(1_735_776_000));
        assert_eq!(window.end, at(1_735_862_400));
        assert_eq!(window.refresh_after, MIN_REFRESH);
        assert_eq!(
            window.explanation.as_deref(),
            Some("https://ca.example/why")
        );
    }

    #[test]
    fn a_window_that_ends_before_it_starts_is_rejected() {
        for (start, end) in [
            ("2025-01-03T00:00:00Z", "2025-01-02T00:00:00Z"),
            ("2025-01-02T00:00:00Z", "2025-01-02T00:00:00Z"),
        ] {
            let err = window(answer(start, end), Duration::from_secs(600)).expect_err("invalid");
            assert_eq!(err.acme_problem(), None);
            assert!(!err.is_retryable());
            assert!(err.to_string().contains("renewal window"), "{err}");
        }
    }
}
