//! The contract every DNS provider keeps, as one check run against each provider's server.

use acme_core::DnsProvider;

/// A provider under test, where it writes, and how to see what it wrote.
pub struct DnsContract<'a> {
    /// The provider, configured for its test server.
    pub provider: &'a dyn DnsProvider,
    /// The same provider with a fault (a refused credential, a missing zone, a failing
    /// command), so every change fails.
    pub failing: &'a dyn DnsProvider,
    /// A zone the server holds.
    pub zone: &'a str,
    /// The TXT values the server holds at a name (no trailing dot), unquoted, any order.
    pub served: &'a dyn Fn(&str) -> Vec<String>,
}

/// Checks the contract of [`acme_core::DnsProvider`] against a provider's real (or fake)
/// server, panicking with what broke:
///
/// - two values at one name coexist (a wildcard and its apex share `_acme-challenge.<name>`)
///   and removing one leaves the other;
/// - setting the same value twice is harmless: it succeeds and the value is served once;
/// - removing a value that is not there succeeds;
/// - a failure names the provider and the record.
pub async fn check_dns_contract(contract: DnsContract<'_>) {
    let DnsContract {
        provider,
        failing,
        zone,
        served,
    } = contract;
    let name = provider.name();
    let fqdn = format!("_acme-challenge.contract.{zone}");
    let sorted = |fqdn: &str| {
        let mut values = served(fqdn);
        values.sort();
        values
    };
    let (apex, wildcard) = ("contract-apex-value", "contract-wildcard-value");

    for value in [apex, wildcard] {
        provider
            .set_txt(zone, &fqdn, value)
            .await
            .unwrap_or_else(|e| panic!("{name}: set_txt {fqdn} {value}: {e}"));
    }
    assert_eq!(
        sorted(&fqdn),
        [apex, wildcard],
        "{name}: two values at one name must coexist"
    );

    provider
        .set_txt(zone, &fqdn, apex)
        .await
        .unwrap_or_else(|e| panic!("{name}: setting {apex} a second time must succeed: {e}"));
    assert_eq!(
        sorted(&fqdn),
        [apex, wildcard],
        "{name}: a value set twice must be served once"
    );

    provider
        .remove_txt(zone, &fqdn, apex)
        .await
        .unwrap_or_else(|e| panic!("{name}: remove_txt {fqdn} {apex}: {e}"));
    assert_eq!(
        sorted(&fqdn),
        [wildcard],
        "{name}: removing one value must leave the other"
    );
    provider
        .remove_txt(zone, &fqdn, wildcard)
        .await
        .unwrap_or_else(|e| panic!("{name}: remove_txt {fqdn} {wildcard}: {e}"));
    assert!(sorted(&fqdn).is_empty(), "{name}: every value must be gone");

    provider
        .remove_txt(zone, &fqdn, "contract-never-set")
        .await
        .unwrap_or_else(|e| panic!("{name}: removing a missing value must succeed: {e}"));

    for (verb, result) in [
        ("set_txt", failing.set_txt(zone, &fqdn, apex).await),
        ("remove_txt", failing.remove_txt(zone, &fqdn, apex).await),
    ] {
        let message = match result {
            Err(e) => e.to_string(),
            Ok(()) => panic!("{name}: {verb} through the failing provider succeeded"),
        };
        assert!(
            message.contains(name) && message.contains(&fqdn),
            "{name}: a {verb} error must name the provider and the record {fqdn}: {message}"
        );
    }
}
