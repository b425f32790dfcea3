use std::path::Path;
use std::time::Duration;

use acme_core::{CertInfo, Health, IssueRequest, IssuedChain, split_pem_certificates};
use async_trait::async_trait;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::time::Instant;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;

use crate::Error;
use crate::client::{Answer, Client};
use crate::config::{CustomField, Settings, VenafiConfig};
use crate::pending::{PendingRequest, PendingStore, fingerprint, is_file_name, issuer_dir};

/// The first pause between two retrieve calls; it doubles up to [`LAST_POLL_INTERVAL`].
const FIRST_POLL_INTERVAL: Duration = Duration::from_millis(500);
/// The longest pause between two retrieve calls.
const LAST_POLL_INTERVAL: Duration = Duration::from_secs(10);
/// TPP's lifecycle stage "ApproveRequest".
const APPROVAL_STAGE: i64 = 600;

/// An issuer that requests certificates from Venafi TLS Protect (TPP) into a policy zone.
///
/// Built once from its [`VenafiConfig`] by [`VenafiIssuer::new`]; no request is sent until
/// the first `issue()`.
pub struct VenafiIssuer {
    name: String,
    zone: String,
    custom_fields: Vec<CustomField>,
    timeout: Duration,
    client: Client,
    pending: PendingStore,
}

impl std::fmt::Debug for VenafiIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VenafiIssuer")
            .field("name", &self.name)
            .field("zone", &self.zone)
            .finish_non_exhaustive()
    }
}

/// How one attempt ended when it did not issue.
enum Stop {
    /// TPP holds the request (approval, or still processing at the deadline).
    Pending(String),
    /// acmekeep is stopping.
    Cancelled,
    /// A failure.
    Failed(Error),
}

impl From<Error> for Stop {
    fn from(err: Error) -> Self {
        Stop::Failed(err)
    }
}

impl VenafiIssuer {
    /// Builds the issuer named `name` (its key under `[issuers]`): checks the configuration,
    /// resolves its credentials and sets up the HTTPS client. Pending requests and refreshed
    /// tokens are kept in `<state_dir>/venafi/<name>/`.
    pub fn new(
        name: String,
        config: VenafiConfig,
        state_dir: &Path,
    ) -> Result<VenafiIssuer, Error> {
        if !is_file_name(&name) {
            return Err(Error::Config(format!(
                "issuer name {name:?} cannot name its state directory; rename the issuer"
            )));
        }
        let Settings {
            base_url,
            zone,
            client_id,
            auth,
            custom_fields,
            timeout,
        } = config.settings()?;
        let dir = issuer_dir(state_dir, &name);
        let client = Client::new(
            base_url,
            client_id,
            zone.clone(),
            auth,
            config.ca_bundle.as_deref(),
            &dir,
        )?;
        Ok(VenafiIssuer {
            name,
            zone,
            custom_fields,
            timeout,
            client,
            pending: PendingStore::new(dir),
        })
    }

    /// The policy DN certificates are requested into.
    pub fn zone(&self) -> &str {
        &self.zone
    }

    async fn attempt(&self, request: &IssueRequest) -> Result<IssuedChain, Stop> {
        let cert_name = &request.cert_name;
        if !is_file_name(cert_name) {
            return Err(Error::Config(format!(
                "certificate name {cert_name:?} cannot name a pending-request file; rename the certificate"
            ))
            .into());
        }
        let (spki, csr_pem) = read_csr(request)?;
        let wanted = fingerprint(&self.zone, &spki, &request.names);
        let mut resumed = true;
        let mut dn = match self.pending.load(cert_name) {
            Some(record) if record.fingerprint == wanted => {
                tracing::info!(issuer = %self.name, cert = %cert_name, dn = %record.certificate_dn,
                    "picking up the pending TPP request");
                record.certificate_dn
            }
            previous => {
                if let Some(record) = previous {
                    tracing::info!(issuer = %self.name, cert = %cert_name, dn = %record.certificate_dn,
                        "the key or names changed since the pending request; requesting again");
                    self.pending.remove(cert_name);
                }
                resumed = false;
                self.request(request, &csr_pem, &wanted).await?
            }
        };

        let deadline = Instant::now() + self.timeout;
        let mut pause = FIRST_POLL_INTERVAL;
        loop {
            let body = json!({
                "CertificateDN": dn,
                "Format": "Base64",
                "IncludeChain": true,
                "RootFirstOrder": false,
            });
            let answer = self.client.post("certificates/retrieve", &body).await?;
            match answer.status {
                StatusCode::OK if has_certificate(&answer) => {
                    let issued = issued_chain(&dn, &answer, &spki);
                    self.pending.remove(cert_name);
                    let issued = issued?;
                    tracing::info!(issuer = %self.name, cert = %cert_name, %dn, "TPP issued the certificate");
                    return Ok(issued);
                }
                StatusCode::OK | StatusCode::ACCEPTED if was_rejected(&answer) => {
                    self.pending.remove(cert_name);
                    return Err(Error::Failed {
                        dn,
                        status: answer.status.as_u16(),
                        message: answer.detail(),
                    }
                    .into());
                }
                StatusCode::OK | StatusCode::ACCEPTED => {
                    let detail = answer.detail();
                    if awaits_approval(&answer) {
                        return Err(Stop::Pending(format!(
                            "{dn} waits for approval in TPP ({detail}); once it is approved, \
                             acmekeep picks the request up with the same key"
                        )));
                    }
                    tracing::debug!(issuer = %self.name, %dn, %detail, "TPP is processing the request");
                }
                StatusCode::BAD_REQUEST if resumed => {
                    tracing::info!(issuer = %self.name, cert = %cert_name, %dn, detail = %answer.detail(),
                        "the pending request is gone from TPP; requesting again");
                    self.pending.remove(cert_name);
                    resumed = false;
                    dn = self.request(request, &csr_pem, &wanted).await?;
                    continue;
                }
                status => {
                    self.pending.remove(cert_name);
                    return Err(Error::Failed {
                        dn,
                        status: status.as_u16(),
                        message: answer.detail(),
                    }
                    .into());
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Stop::Pending(format!(
                    "{dn} is still being processed by TPP after {} ({}); acmekeep picks the \
                     request up on the next attempt with the same key",
                    humantime::format_duration(self.timeout),
                    answer.detail()
                )));
            }
            tokio::select! {
                () = tokio::time::sleep(pause.min(left)) => {}
                () = request.cancel.cancelled() => return Err(Stop::Cancelled),
            }
            pause = (pause * 2).min(LAST_POLL_INTERVAL);
        }
    }

    /// Sends the request into the zone and records it; returns the certificate's DN.
    async fn request(
        &self,
        request: &IssueRequest,
        csr_pem: &str,
        fingerprint: &str,
    ) -> Result<String, Error> {
        let custom_fields: Vec<Value> = self
            .custom_fields
            .iter()
            .map(|field| json!({"Name": field.name, "Values": field.values}))
            .collect();
        let body = json!({
            "PolicyDN": self.zone,
            "PKCS10": csr_pem,
            "ObjectName": request.cert_name,
            "CustomFields": custom_fields,
            "DisableAutomaticRenewal": true,
        });
        let answer = self.client.post("certificates/request", &body).await?;
        let dn = answer
            .json
            .get("CertificateDN")
            .and_then(Value::as_str)
            .filter(|dn| !dn.is_empty());
        let refused = answer
            .json
            .get("Error")
            .and_then(Value::as_str)
            .is_some_and(|e| !e.is_empty());
        let dn = match dn {
            Some(dn) if answer.status.is_success() && !refused => dn.to_string(),
            _ => {
                return Err(Error::Rejected {
                    cert_name: request.cert_name.clone(),
                    zone: self.zone.clone(),
                    status: answer.status.as_u16(),
                    message: answer.detail(),
                });
            }
        };
        tracing::info!(issuer = %self.name, cert = %request.cert_name, %dn, "requested a certificate from TPP");
        self.pending.save(
            &request.cert_name,
            &PendingRequest::new(dn.clone(), fingerprint.to_string()),
        )?;
        Ok(dn)
    }
}

/// The CSR's DER SubjectPublicKeyInfo and the CSR as PEM.
fn read_csr(request: &IssueRequest) -> Result<(Vec<u8>, String), Error> {
    let (_, csr) =
        X509CertificationRequest::from_der(&request.csr_der).map_err(|e| Error::Csr {
            cert_name: request.cert_name.clone(),
            reason: format!("cannot parse it: {e}"),
        })?;
    let spki = csr.certification_request_info.subject_pki.raw.to_vec();
    let pem = pem::encode_config(
        &pem::Pem::new("CERTIFICATE REQUEST", request.csr_der.clone()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    );
    Ok((spki, pem))
}

fn has_certificate(answer: &Answer) -> bool {
    answer
        .json
        .get("CertificateData")
        .and_then(Value::as_str)
        .is_some_and(|data| !data.is_empty())
}

/// Whether a "still processing" answer says an approver rejected the request.
fn was_rejected(answer: &Answer) -> bool {
    answer
        .json
        .get("Status")
        .and_then(Value::as_str)
        .is_some_and(|status| status.to_ascii_lowercase().contains("reject"))
}

/// Whether a "still processing" answer says the request waits for an approver.
fn awaits_approval(answer: &Answer) -> bool {
    let stage = answer.json.get("Stage").and_then(Value::as_i64);
    let status = answer
        .json
        .get("Status")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    stage == Some(APPROVAL_STAGE) || status.contains("approv") || status.contains("workflow")
}

/// The chain in a retrieve answer (Base64 of the PEM bundle, leaf first, root last),
/// checked to carry the requested key.
fn issued_chain(dn: &str, answer: &Answer, spki: &[u8]) -> Result<IssuedChain, Error> {
    let unusable = |reason: String| Error::Certificate {
        dn: dn.to_string(),
        reason,
    };
    let data = answer
        .json
        .get("CertificateData")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| unusable(format!("CertificateData is not Base64: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| unusable("CertificateData is not a PEM bundle".into()))?;
    let mut certs = split_pem_certificates(&text).map_err(|e| unusable(e.to_string()))?;
    if certs.is_empty() {
        return Err(unusable("CertificateData holds no certificate".into()));
    }
    let leaf = certs.remove(0);
    let info = CertInfo::from_pem(&leaf).map_err(|e| unusable(e.to_string()))?;
    if info.public_key_der != spki {
        return Err(unusable(
            "the certificate does not carry the requested public key (TPP returned another \
             version of the certificate object)"
                .into(),
        ));
    }
    let ca_pem = match certs.last().map(|last| CertInfo::from_pem(last)) {
        Some(Ok(root)) if root.subject == root.issuer => certs.pop(),
        _ => None,
    };
    Ok(IssuedChain {
        cert_pem: leaf,
        chain_pem: certs.concat(),
        ca_pem,
    })
}

#[async_trait]
impl acme_core::Issuer for VenafiIssuer {
    fn name(&self) -> &str {
        &self.name
    }

    async fn issue(&self, request: &IssueRequest) -> Result<IssuedChain, acme_core::Error> {
        match self.attempt(request).await {
            Ok(issued) => Ok(issued),
            Err(Stop::Pending(message)) => {
                tracing::info!(issuer = %self.name, cert = %request.cert_name, %message, "pending in TPP");
                Err(acme_core::Error::Pending {
                    issuer: self.name.clone(),
                    message,
                    retry_after: None,
                })
            }
            Err(Stop::Cancelled) => Err(acme_core::Error::Cancelled),
            Err(Stop::Failed(source)) => Err(acme_core::Error::Issuer {
                issuer: self.name.clone(),
                kind: source.kind(),
                source: Box::new(source),
            }),
        }
    }
    async fn health(&self) -> Health {
        self.client.health().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn processing(body: Value) -> Answer {
        Answer::for_test(StatusCode::ACCEPTED, body)
    }

    #[test]
    fn approval_and_rejection_are_recognised_by_stage_or_status_text() {
        for body in [
            json!({"Stage": 500, "Status": "Pending Workflow Resolution"}),
            json!({"Stage": 600, "Status": "Approve Request"}),
            json!({"Stage": 500, "Status": "Waiting for approval by the PKI team"}),
        ] {
            assert!(awaits_approval(&processing(body.clone())), "{body}");
        }
        let post_csr = processing(json!({"Stage": 500, "Status": "Post CSR"}));
        assert!(!awaits_approval(&post_csr));
        assert!(!was_rejected(&post_csr));
        let rejected = processing(json!({"Stage": 500, "Status": "Workflow ticket rejected"}));
        assert!(was_rejected(&rejected));
    }
}
