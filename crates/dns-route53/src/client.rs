//! The few Route53 API calls the provider makes, with their failures turned into [`Error`]s
//! that name the IAM action and the zone.

use aws_sdk_route53::Client;
use aws_sdk_route53::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord, ResourceRecordSet, RrType,
};

use crate::Error;

/// A Route53 API action, as IAM names it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Action {
    ListHostedZonesByName,
    ListResourceRecordSets,
    ChangeResourceRecordSets,
    GetChange,
}

impl Action {
    /// The IAM action, e.g. `route53:GetChange`.
    fn iam(self) -> &'static str {
        match self {
            Action::ListHostedZonesByName => "route53:ListHostedZonesByName",
            Action::ListResourceRecordSets => "route53:ListResourceRecordSets",
            Action::ChangeResourceRecordSets => "route53:ChangeResourceRecordSets",
            Action::GetChange => "route53:GetChange",
        }
    }

    /// The IAM resource the action is granted on.
    fn resource(self, zone_id: &str) -> String {
        match self {
            Action::ListHostedZonesByName => "*".to_string(),
            Action::ListResourceRecordSets | Action::ChangeResourceRecordSets => {
                format!("arn:aws:route53:::hostedzone/{zone_id}")
            }
            Action::GetChange => "arn:aws:route53:::change/*".to_string(),
        }
    }
}

/// A hosted zone that has the name looked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HostedZone {
    /// The id without `/hostedzone/`.
    pub id: String,
    /// Whether it is a private zone (attached to VPCs).
    pub private: bool,
}

/// The TXT record set at one name: its TTL and its values as Route53 stores them (quoted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TxtSet {
    pub ttl: i64,
    pub values: Vec<String>,
}

/// What the failing call was about, for error messages.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Context<'a> {
    /// The zone name.
    pub zone: &'a str,
    /// The hosted zone id, once known.
    pub zone_id: &'a str,
    /// The record name or change id the call was about, for messages.
    pub subject: &'a str,
}

/// The Route53 API through the AWS SDK.
#[derive(Clone, Debug)]
pub(crate) struct Api {
    client: Client,
}

impl Api {
    pub(crate) fn new(client: Client) -> Api {
        Api { client }
    }

    /// The hosted zones whose name is exactly `zone` (public and private ones).
    pub(crate) async fn zones_named(&self, zone: &str) -> Result<Vec<HostedZone>, Error> {
        let ctx = Context {
            zone,
            zone_id: "",
            subject: zone,
        };
        let wanted = format!("{zone}.");
        let mut found = Vec::new();
        let mut start: Option<(String, Option<String>)> = None;
        loop {
            let mut request = self.client.list_hosted_zones_by_name().max_items(100);
            request = match &start {
                Some((name, id)) => request.dns_name(name).set_hosted_zone_id(id.clone()),
                None => request.dns_name(&wanted),
            };
            let page = request
                .send()
                .await
                .map_err(|e| classify(e, Action::ListHostedZonesByName, ctx))?;
            let mut past_name = false;
            for hosted in page.hosted_zones() {
                if hosted.name().eq_ignore_ascii_case(&wanted) {
                    found.push(HostedZone {
                        id: bare_zone_id(hosted.id()).to_string(),
                        private: hosted.config().is_some_and(|c| c.private_zone()),
                    });
                } else {
                    past_name = true;
                }
            }
            match (page.is_truncated(), page.next_dns_name()) {
                (true, Some(next)) if !past_name && next.eq_ignore_ascii_case(&wanted) => {
                    start = Some((
                        next.to_string(),
                        page.next_hosted_zone_id().map(str::to_string),
                    ));
                }
                _ => return Ok(found),
            }
        }
    }

    /// The TXT record set named exactly `fqdn`, if there is one.
    pub(crate) async fn txt_set(
        &self,
        fqdn: &str,
        ctx: Context<'_>,
    ) -> Result<Option<TxtSet>, Error> {
        let page = self
            .client
            .list_resource_record_sets()
            .hosted_zone_id(ctx.zone_id)
            .start_record_name(format!("{fqdn}."))
            .start_record_type(RrType::Txt)
            .max_items(1)
            .send()
            .await
            .map_err(|e| classify(e, Action::ListResourceRecordSets, ctx))?;
        Ok(page
            .resource_record_sets()
            .iter()
            .find(|set| {
                *set.r#type() == RrType::Txt
                    && set.name().trim_end_matches('.').eq_ignore_ascii_case(fqdn)
            })
            .map(|set| TxtSet {
                ttl: set.ttl().unwrap_or(i64::from(acme_core::CHALLENGE_TTL)),
                values: set
                    .resource_records()
                    .iter()
                    .map(|r| r.value().to_string())
                    .collect(),
            }))
    }

    /// Submits one change of the TXT set at `fqdn` and returns the change id.
    pub(crate) async fn change(
        &self,
        action: ChangeAction,
        fqdn: &str,
        set: &TxtSet,
        ctx: Context<'_>,
    ) -> Result<String, Error> {
        let build_error = |e: aws_sdk_route53::error::BuildError| Error::Api {
            action: Action::ChangeResourceRecordSets.iam(),
            subject: format!("TXT {fqdn} in zone {}", ctx.zone),
            message: e.to_string(),
            retryable: false,
        };
        let mut records = ResourceRecordSet::builder()
            .name(format!("{fqdn}."))
            .r#type(RrType::Txt)
            .ttl(set.ttl);
        for value in &set.values {
            records = records.resource_records(
                ResourceRecord::builder()
                    .value(value)
                    .build()
                    .map_err(build_error)?,
            );
        }
        let change = Change::builder()
            .action(action)
            .resource_record_set(records.build().map_err(build_error)?)
            .build()
            .map_err(build_error)?;
        let batch = ChangeBatch::builder()
            .comment("acmekeep DNS-01 challenge")
            .changes(change)
            .build()
            .map_err(build_error)?;
        let output = self
            .client
            .change_resource_record_sets()
            .hosted_zone_id(ctx.zone_id)
            .change_batch(batch)
            .send()
            .await
            .map_err(|e| classify(e, Action::ChangeResourceRecordSets, ctx))?;
        Ok(output
            .change_info()
            .map(|info| info.id().trim_start_matches("/change/").to_string())
            .unwrap_or_default())
    }

    /// Whether the change is INSYNC (served by all of Route53's name servers).
    pub(crate) async fn in_sync(&self, change_id: &str, ctx: Context<'_>) -> Result<bool, Error> {
        let output = self
            .client
            .get_change()
            .id(change_id)
            .send()
            .await
            .map_err(|e| classify(e, Action::GetChange, ctx))?;
        Ok(output
            .change_info()
            .is_some_and(|info| *info.status() == ChangeStatus::Insync))
    }
}

/// A hosted zone id without its `/hostedzone/` prefix.
pub(crate) fn bare_zone_id(id: &str) -> &str {
    id.trim_start_matches("/hostedzone/")
}

/// Turns an SDK failure into the crate's error: permissions, credentials and unknown zones
/// get their own messages, everything else is [`Error::Api`].
fn classify<E>(
    err: SdkError<E, aws_sdk_route53::config::http::HttpResponse>,
    action: Action,
    ctx: Context<'_>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let code = err.code().unwrap_or_default().to_string();
    let message = err.message().unwrap_or_default().to_string();
    match code.as_str() {
        "AccessDenied" | "AccessDeniedException" => Error::AccessDenied {
            action: action.iam(),
            resource: action.resource(ctx.zone_id),
            zone: ctx.zone.to_string(),
            message,
        },
        "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "ExpiredToken"
        | "UnrecognizedClientException"
        | "IncompleteSignature"
        | "InvalidSignatureException" => Error::InvalidCredentials {
            action: action.iam(),
            zone: ctx.zone.to_string(),
            code,
            message,
        },
        "NoSuchHostedZone" => Error::NoSuchHostedZone {
            id: ctx.zone_id.to_string(),
            zone: ctx.zone.to_string(),
        },
        _ => {
            let retryable = matches!(
                err,
                SdkError::TimeoutError(_)
                    | SdkError::DispatchFailure(_)
                    | SdkError::ResponseError(_)
            ) || matches!(
                code.as_str(),
                "Throttling"
                    | "ThrottlingException"
                    | "PriorRequestNotComplete"
                    | "ServiceUnavailable"
            ) || err
                .raw_response()
                .is_some_and(|r| r.status().is_server_error());
            Error::Api {
                action: action.iam(),
                subject: format!("{} in zone {}", ctx.subject, ctx.zone),
                message: DisplayErrorContext(&err).to_string(),
                retryable,
            }
        }
    }
}
