//! The PowerDNS provider against a real pdns_server: records served over DNS, errors that
//! say what to fix.

use acme_core::DnsProvider;
use dns_powerdns::{Config, Provider};
use e2e::{PowerDns, TestDir, free_port};

const ZONE: &str = "example.test";
const NAME: &str = "_acme-challenge.example.test";

fn provider(api_url: &str, api_key: &str) -> Provider {
    Provider::new(Config {
        api_url: api_url.to_string(),
        api_key: api_key.to_string(),
        server_id: "localhost".to_string(),
        allow_insecure_http: false,
    })
    .expect("a valid PowerDNS config")
}

#[tokio::test]
async fn two_values_coexist_and_each_is_removed_alone() {
    let dir = TestDir::new();
    let pdns = PowerDns::start(&dir);
    pdns.create_zone(ZONE);
    let provider = provider(pdns.api_url(), PowerDns::API_KEY);

    provider
        .set_txt(ZONE, NAME, "first-value")
        .await
        .expect("set the first value");
    provider
        .set_txt(ZONE, NAME, "second-value")
        .await
        .expect("set the second value");
    assert_eq!(
        pdns.txt(NAME),
        ["first-value", "second-value"],
        "{}",
        pdns.log_tail()
    );

    provider
        .remove_txt(ZONE, NAME, "first-value")
        .await
        .expect("remove the first value");
    assert_eq!(pdns.txt(NAME), ["second-value"]);

    provider
        .remove_txt(ZONE, NAME, "second-value")
        .await
        .expect("remove the second value");
    assert!(pdns.txt(NAME).is_empty(), "{:?}", pdns.txt(NAME));
}

#[tokio::test]
async fn setting_a_value_twice_serves_it_once_and_removing_a_missing_value_succeeds() {
    let dir = TestDir::new();
    let pdns = PowerDns::start(&dir);
    pdns.create_zone(ZONE);
    let provider = provider(pdns.api_url(), PowerDns::API_KEY);
    let name = "_acme-challenge.www.example.test";

    provider.set_txt(ZONE, name, "value").await.expect("set");
    provider
        .set_txt(ZONE, name, "value")
        .await
        .expect("set again");
    assert_eq!(pdns.txt(name), ["value"]);

    provider
        .remove_txt(ZONE, name, "never-set")
        .await
        .expect("remove a value that is not there");
    assert_eq!(pdns.txt(name), ["value"]);
    provider
        .remove_txt(ZONE, name, "value")
        .await
        .expect("remove");
    provider
        .remove_txt(ZONE, name, "value")
        .await
        .expect("remove again");
    assert!(pdns.txt(name).is_empty());
}

#[tokio::test]
async fn a_wrong_api_key_says_to_check_api_key_without_showing_it() {
    let dir = TestDir::new();
    let pdns = PowerDns::start(&dir);
    pdns.create_zone(ZONE);
    let provider = provider(pdns.api_url(), "not-the-key");

    let err = provider
        .set_txt(ZONE, NAME, "value")
        .await
        .expect_err("a wrong key fails");
    let message = err.to_string();
    assert_eq!(
        message,
        format!(
            "DNS provider powerdns: TXT _acme-challenge.example.test: the API at {} refused the API key (HTTP 401); check api_key against api-key in pdns.conf",
            pdns.api_url()
        )
    );
    assert!(!message.contains("not-the-key"));
}

#[tokio::test]
async fn an_unknown_zone_is_named_in_the_error() {
    let dir = TestDir::new();
    let pdns = PowerDns::start(&dir);
    pdns.create_zone(ZONE);
    let provider = provider(pdns.api_url(), PowerDns::API_KEY);

    let err = provider
        .set_txt("other.test", "_acme-challenge.other.test", "value")
        .await
        .expect_err("an unknown zone fails");
    assert_eq!(
        err.to_string(),
        format!(
            "DNS provider powerdns: TXT _acme-challenge.other.test: zone other.test. not found on server localhost at {}; create it in PowerDNS or fix the solver's zone",
            pdns.api_url()
        )
    );
}

#[tokio::test]
async fn an_unreachable_api_is_named_by_its_url() {
    let api_url = format!("http://127.0.0.1:{}", free_port());
    let provider = provider(&api_url, "key");

    let err = provider
        .set_txt(ZONE, NAME, "value")
        .await
        .expect_err("nobody listens");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "DNS provider powerdns: TXT _acme-challenge.example.test: cannot reach the API at {api_url}/api/v1/servers/localhost/zones/example.test.: "
        )),
        "{message}"
    );
}
