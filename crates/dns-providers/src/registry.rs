//! The one list of DNS providers, and what is generated from it.

use std::sync::Arc;

use acme_core::DnsProvider;

use crate::Error;

/// Generates [`ProviderConfig`], [`PROVIDERS`], parsing, building and key introspection
/// from one line per provider: `"name" => Variant(crate)`, where `name` is both the cargo
/// feature and `crate::NAME`, and the crate has the shape every provider crate has
/// (`NAME`, `Config`, `Provider::new(Config) -> Result<Provider, Error>`).
macro_rules! registry {
    ($( $(#[doc = $doc:literal])+ $name:literal => $variant:ident($krate:ident), )+) => {
        /// The settings of one DNS provider, as written in a dns-01 solver table.
        #[derive(Clone, Debug)]
        pub enum ProviderConfig {
            $(
                $(#[doc = $doc])+
                #[cfg(feature = $name)]
                $variant($krate::Config),
            )+
        }

        /// The provider names this build knows, in registry order.
        pub const PROVIDERS: &[&str] = &[$( #[cfg(feature = $name)] $name, )+];

        impl ProviderConfig {
            /// Reads the settings of provider `name` from what is left of a solver table.
            #[cfg_attr(not(any($(feature = $name),+)), allow(unused_variables))]
            pub fn parse(name: &str, settings: serde_json::Value) -> Result<ProviderConfig, Error> {
                $(
                    #[cfg(feature = $name)]
                    if name == $name {
                        return serde_json::from_value(settings)
                            .map(ProviderConfig::$variant)
                            .map_err(|e| Error::Settings {
                                provider: $name,
                                message: e.to_string(),
                            });
                    }
                )+
                Err(Error::Unknown { name: name.to_string() })
            }

            /// The provider's name, as in `provider = "…"`.
            pub fn name(&self) -> &'static str {
                match *self {
                    $( #[cfg(feature = $name)] ProviderConfig::$variant(_) => $name, )+
                }
            }

            /// Builds the provider; the error is the provider's own, naming what to change.
            pub fn build(&self) -> Result<Arc<dyn DnsProvider>, Error> {
                match *self {
                    $(
                        #[cfg(feature = $name)]
                        ProviderConfig::$variant(ref config) => boxed($krate::Provider::new(config.clone())),
                    )+
                }
            }
        }

        /// The configuration keys of provider `name` (its `Config` fields), or `None` when
        /// this build does not know it.
        #[cfg_attr(not(any($(feature = $name),+)), allow(unused_variables))]
        pub fn config_keys(name: &str) -> Option<&'static [&'static str]> {
            $(
                #[cfg(feature = $name)]
                if name == $name {
                    return Some(crate::field_names::<$krate::Config>());
                }
            )+
            None
        }

        #[cfg(test)]
        mod names {
            /// The registry's name of each provider is the one its crate gives itself.
            #[test]
            fn every_registry_name_is_its_crates_name() {
                $( #[cfg(feature = $name)] assert_eq!($name, $krate::NAME); )+
            }
        }
    };
}

registry! {
    /// RFC 2136 dynamic updates with TSIG.
    "rfc2136" => Rfc2136(dns_rfc2136),
    /// The PowerDNS HTTP API.
    "powerdns" => PowerDns(dns_powerdns),
    /// The Cloudflare v4 API.
    "cloudflare" => Cloudflare(dns_cloudflare),
    /// AWS Route53.
    "route53" => Route53(dns_route53),
    /// A user command.
    "exec" => Exec(dns_exec),
}

/// A built provider behind the trait, or its construction error.
#[cfg_attr(
    not(any(
        feature = "rfc2136",
        feature = "powerdns",
        feature = "cloudflare",
        feature = "route53",
        feature = "exec"
    )),
    allow(dead_code)
)]
fn boxed<P, E>(built: Result<P, E>) -> Result<Arc<dyn DnsProvider>, Error>
where
    P: DnsProvider + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    built
        .map(|provider| Arc::new(provider) as Arc<dyn DnsProvider>)
        .map_err(|e| Error::Build(Box::new(e)))
}
