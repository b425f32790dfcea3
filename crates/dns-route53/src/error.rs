use std::time::Duration;

/// What can go wrong configuring Route53 or changing a TXT record there.
///
/// Messages name the config key, the zone, the record or the IAM action to grant; they never
/// contain credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration key has an unusable value.
    #[error("route53 config key {key}: {reason}")]
    Config {
        /// The offending key.
        key: &'static str,
        /// What is wrong and what to write instead.
        reason: String,
    },
    /// A credential reference (`env:` / `file:`) could not be read.
    #[error("route53 config key {key}: {source}")]
    Secret {
        /// `access_key_id` or `secret_access_key`.
        key: &'static str,
        /// The reason, naming the reference (never the value).
        source: acme_core::Error,
    },
    /// No AWS credentials were found anywhere the SDK looks.
    #[error(
        "no AWS credentials found ({detail}); looked in the config keys access_key_id / \
         secret_access_key, the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, \
         AWS_SESSION_TOKEN), the profile {profile} in ~/.aws/credentials and ~/.aws/config \
         (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE), web identity (AWS_WEB_IDENTITY_TOKEN_FILE \
         and AWS_ROLE_ARN, as set by EKS IRSA), ECS container credentials and EC2 instance \
         metadata (IMDS)"
    )]
    NoCredentials {
        /// The profile that was consulted, quoted, or `default`.
        profile: String,
        /// The SDK's reason.
        detail: String,
    },
    /// No hosted zone has the zone's name.
    #[error(
        "no Route53 hosted zone named {zone}. is visible to these credentials: create it, \
         or set hosted_zone_id if the zone has another name in Route53"
    )]
    ZoneNotFound {
        /// The zone name, without trailing dot.
        zone: String,
    },
    /// Several hosted zones (public and private, or several private) share the zone's name.
    #[error(
        "{} Route53 hosted zones are named {zone}.: {}; set hosted_zone_id to the one to use",
        ids.len(),
        ids.join(", ")
    )]
    AmbiguousZone {
        /// The zone name, without trailing dot.
        zone: String,
        /// The candidates' ids, with `(private)` after private zones.
        ids: Vec<String>,
    },
    /// The configured hosted zone does not exist.
    #[error("Route53 hosted zone {id} (hosted_zone_id) does not exist (zone {zone})")]
    NoSuchHostedZone {
        /// The configured id.
        id: String,
        /// The zone name the record belongs to.
        zone: String,
    },
    /// The credentials are valid but lack a permission.
    #[error(
        "access denied: the AWS identity lacks the IAM permission {action} on {resource} \
         (zone {zone}): {message}"
    )]
    AccessDenied {
        /// The IAM action to grant, e.g. `route53:ChangeResourceRecordSets`.
        action: &'static str,
        /// The resource the action needs, e.g. `arn:aws:route53:::hostedzone/Z123`.
        resource: String,
        /// The zone name.
        zone: String,
        /// AWS's own message.
        message: String,
    },
    /// AWS rejected the credentials themselves (unknown key, wrong secret, expired token).
    #[error(
        "AWS rejected the credentials calling {action} for zone {zone} ({code}: {message}); \
         check the access key id and secret, or the profile / role that provides them"
    )]
    InvalidCredentials {
        /// The API action, e.g. `route53:ListHostedZonesByName`.
        action: &'static str,
        /// The zone name.
        zone: String,
        /// AWS's error code, e.g. `InvalidClientTokenId`.
        code: String,
        /// AWS's message.
        message: String,
    },
    /// Any other failure of an API call (network, throttling, invalid change batch, …).
    #[error("{action} for {subject} failed: {message}")]
    Api {
        /// The API action, e.g. `route53:GetChange`.
        action: &'static str,
        /// The zone or record the call was about.
        subject: String,
        /// The SDK's message with its causes.
        message: String,
        /// Whether the failure looks transient (network, throttling, a server error).
        retryable: bool,
    },
    /// The change was accepted but not INSYNC within `propagation_wait`.
    #[error(
        "Route53 change {change} for TXT {fqdn} was still PENDING after {}; \
         raise propagation_wait if this zone is slow",
        humantime::format_duration(*waited)
    )]
    NotInSync {
        /// The change id.
        change: String,
        /// The record's name.
        fqdn: String,
        /// How long was waited.
        waited: Duration,
    },
    /// Adding or removing a value at a record failed: the record, and why.
    #[error("TXT {fqdn}: {source}")]
    Record {
        /// The record's name.
        fqdn: String,
        /// What failed.
        source: Box<Error>,
    },
}

impl Error {
    /// What kind of failure this is: missing or refused credentials and denied permissions
    /// are [`acme_core::FailureKind::Unauthorized`], other API failures
    /// [`acme_core::FailureKind::Dns`].
    pub fn kind(&self) -> acme_core::FailureKind {
        use acme_core::FailureKind;
        match self {
            Error::Config { .. } | Error::Secret { .. } => FailureKind::Config,
            Error::NoCredentials { .. }
            | Error::AccessDenied { .. }
            | Error::InvalidCredentials { .. } => FailureKind::Unauthorized,
            Error::ZoneNotFound { .. }
            | Error::AmbiguousZone { .. }
            | Error::NoSuchHostedZone { .. }
            | Error::Api { .. }
            | Error::NotInSync { .. } => FailureKind::Dns,
            Error::Record { source, .. } => source.kind(),
        }
    }

    /// Whether repeating the operation soon may succeed (network trouble, throttling, a
    /// change still pending); configuration and permission errors are not retryable.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Record { source, .. } => source.is_retryable(),
            other => matches!(
                other,
                Error::Api {
                    retryable: true,
                    ..
                } | Error::NotInSync { .. }
            ),
        }
    }
}

impl From<Error> for acme_core::Error {
    fn from(err: Error) -> Self {
        acme_core::Error::Dns {
            provider: crate::provider::NAME.to_string(),
            kind: err.kind(),
            source: Box::new(err),
        }
    }
}

impl Error {
    /// `err`, from a change of the TXT record `fqdn`, naming that record.
    pub(crate) fn at_record(fqdn: &str, err: Error) -> Error {
        Error::Record {
            fqdn: fqdn.to_string(),
            source: Box::new(err),
        }
    }
}
