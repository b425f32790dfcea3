use async_trait::async_trait;

use crate::{Error, Health};

/// The TTL of challenge TXT records: short, so a value that changes is not cached long.
pub const CHALLENGE_TTL: u32 = 60;

/// An API that can add and remove TXT records; everything else about DNS-01 (finding the
/// zone, following CNAMEs, waiting for propagation, cleaning up) lives once in the `dns01`
/// crate.
///
/// Names are absolute DNS names written without the trailing dot, in lower case:
/// `zone` is e.g. `example.com`, `fqdn` e.g. `_acme-challenge.www.example.com`.
#[async_trait]
pub trait DnsProvider: Send + Sync {
    /// The provider kind for messages, e.g. `rfc2136`.
    fn name(&self) -> &str;

    /// Adds `value` to the TXT record set at `fqdn` in `zone`, keeping any other values
    /// (a wildcard and its apex share one name), with TTL [`CHALLENGE_TTL`].
    async fn set_txt(&self, zone: &str, fqdn: &str, value: &str) -> Result<(), Error>;

    /// Removes only `value` from the TXT record set at `fqdn`; removing a value that is not
    /// there succeeds.
    async fn remove_txt(&self, zone: &str, fqdn: &str, value: &str) -> Result<(), Error>;

    /// Proves, with a read-only call, that the provider's API answers and accepts the
    /// credentials for `zone` (e.g. reading the zone). Never writes a record. The default,
    /// for providers without such a call, says so: `check --online` still writes and
    /// removes a throwaway record through the dns-01 probe.
    async fn health(&self, zone: &str) -> Health {
        Health::healthy(
            format!("{} for zone {zone}", self.name()),
            "no read-only call to make; the dns-01 probe tries a throwaway record",
        )
    }
}
