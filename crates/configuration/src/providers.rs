//! The DNS provider registry: the one place that maps a `provider = "…"` name to its
//! configuration type and constructor. Each provider is a crate behind a cargo feature
//! of the same name (all on by default), so a slim build can leave out the AWS SDK.
// A build with no provider at all still compiles; its helpers are then unused.
#![cfg_attr(
    not(any(
        feature = "rfc2136",
        feature = "powerdns",
        feature = "cloudflare",
        feature = "route53",
        feature = "exec"
    )),
    allow(dead_code, unused_variables)
)]

use std::sync::Arc;

use acme_core::DnsProvider;
use serde::Deserialize;
use serde_json::Value;

/// The settings of one DNS provider, as written in a dns-01 solver table.
#[derive(Clone, Debug)]
pub enum ProviderConfig {
    /// RFC 2136 dynamic updates with TSIG.
    #[cfg(feature = "rfc2136")]
    Rfc2136(dns_rfc2136::Rfc2136Config),
    /// The PowerDNS HTTP API.
    #[cfg(feature = "powerdns")]
    PowerDns(dns_powerdns::Config),
    /// The Cloudflare v4 API.
    #[cfg(feature = "cloudflare")]
    Cloudflare(dns_cloudflare::Config),
    /// AWS Route53.
    #[cfg(feature = "route53")]
    Route53(dns_route53::Config),
    /// A user command.
    #[cfg(feature = "exec")]
    Exec(dns_exec::Config),
}

/// The provider names this build knows.
pub const PROVIDERS: &[&str] = &[
    #[cfg(feature = "rfc2136")]
    "rfc2136",
    #[cfg(feature = "powerdns")]
    "powerdns",
    #[cfg(feature = "cloudflare")]
    "cloudflare",
    #[cfg(feature = "route53")]
    "route53",
    #[cfg(feature = "exec")]
    "exec",
];

impl ProviderConfig {
    /// Reads the settings of provider `name` from what is left of a solver table.
    pub fn parse(name: &str, settings: Value) -> Result<ProviderConfig, ParseError> {
        fn read<T: for<'de> Deserialize<'de>>(settings: Value) -> Result<T, ParseError> {
            T::deserialize(settings).map_err(|e| ParseError::Settings(e.to_string()))
        }
        match name {
            #[cfg(feature = "rfc2136")]
            "rfc2136" => read(settings).map(ProviderConfig::Rfc2136),
            #[cfg(feature = "powerdns")]
            "powerdns" => read(settings).map(ProviderConfig::PowerDns),
            #[cfg(feature = "cloudflare")]
            "cloudflare" => read(settings).map(ProviderConfig::Cloudflare),
            #[cfg(feature = "route53")]
            "route53" => read(settings).map(ProviderConfig::Route53),
            #[cfg(feature = "exec")]
            "exec" => read(settings).map(ProviderConfig::Exec),
            _ => Err(ParseError::Unknown),
        }
    }

    /// Builds the provider; the error names what to change.
    pub fn build(&self) -> Result<Arc<dyn DnsProvider>, String> {
        fn boxed<P: DnsProvider + 'static, E: std::fmt::Display>(
            built: Result<P, E>,
        ) -> Result<Arc<dyn DnsProvider>, String> {
            built
                .map(|p| Arc::new(p) as Arc<dyn DnsProvider>)
                .map_err(|e| e.to_string())
        }
        match self {
            #[cfg(feature = "rfc2136")]
            ProviderConfig::Rfc2136(config) => {
                boxed(dns_rfc2136::Rfc2136Provider::new(config.clone()))
            }
            #[cfg(feature = "powerdns")]
            ProviderConfig::PowerDns(config) => {
                boxed(dns_powerdns::PowerDnsProvider::new(config.clone()))
            }
            #[cfg(feature = "cloudflare")]
            ProviderConfig::Cloudflare(config) => {
                boxed(dns_cloudflare::CloudflareProvider::new(config.clone()))
            }
            #[cfg(feature = "route53")]
            ProviderConfig::Route53(config) => {
                boxed(dns_route53::Route53Provider::new(config.clone()))
            }
            #[cfg(feature = "exec")]
            ProviderConfig::Exec(config) => boxed(dns_exec::ExecProvider::new(config.clone())),
            // A build without providers has no settings to build from.
            #[cfg(not(any(
                feature = "rfc2136",
                feature = "powerdns",
                feature = "cloudflare",
                feature = "route53",
                feature = "exec"
            )))]
            _ => match *self {},
        }
    }
}

/// Why provider settings could not be read.
#[derive(Debug)]
pub enum ParseError {
    /// No provider of that name in this build.
    Unknown,
    /// The provider refused its settings (serde's message, naming the key).
    Settings(String),
}
