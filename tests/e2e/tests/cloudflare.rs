//! The Cloudflare provider against a local fake of the v4 API (tests/e2e/src/cloudflare_fake.rs),
//! not the real service: records created and deleted, errors carrying Cloudflare's codes.

use acme_core::DnsProvider;
use dns_cloudflare::{Config, Provider};
use e2e::CloudflareFake;

const TOKEN: &str = "cf-test-token";
const ZONE: &str = "example.com";
const NAME: &str = "_acme-challenge.example.com";

fn provider(fake: &CloudflareFake, token: &str, zone_id: Option<&str>) -> Provider {
    Provider::new(Config {
        api_token: token.to_string(),
        api_url: fake.api_url(),
        zone_id: zone_id.map(str::to_string),
        allow_insecure_http: false,
    })
    .expect("a valid Cloudflare config")
}

async fn two_values_round_trip(fake: &CloudflareFake, provider: &Provider) {
    provider
        .set_txt(ZONE, NAME, "first-value")
        .await
        .expect("set the first value");
    provider
        .set_txt(ZONE, NAME, "second-value")
        .await
        .expect("set the second value");
    assert_eq!(fake.txt(NAME), ["first-value", "second-value"]);
    assert!(
        fake.records()
            .iter()
            .all(|r| r.kind == "TXT" && r.ttl == 60)
    );

    provider
        .remove_txt(ZONE, NAME, "first-value")
        .await
        .expect("remove the first value");
    assert_eq!(fake.txt(NAME), ["second-value"]);

    provider
        .remove_txt(ZONE, NAME, "second-value")
        .await
        .expect("remove the second value");
    assert!(fake.records().is_empty(), "{:?}", fake.records());
}

#[tokio::test]
async fn two_values_coexist_and_each_is_removed_alone() {
    let fake = CloudflareFake::start(TOKEN);
    fake.add_zone("other.com");
    fake.add_zone(ZONE);
    two_values_round_trip(&fake, &provider(&fake, TOKEN, None)).await;
}

#[tokio::test]
async fn quoted_txt_content_is_matched_for_deletion() {
    let fake = CloudflareFake::start(TOKEN);
    fake.add_zone(ZONE);
    fake.quote_txt_content(true);
    two_values_round_trip(&fake, &provider(&fake, TOKEN, None)).await;
}

#[tokio::test]
async fn a_configured_zone_id_is_used_without_lookup() {
    let fake = CloudflareFake::start(TOKEN);
    let id = fake.add_zone(ZONE);
    two_values_round_trip(&fake, &provider(&fake, TOKEN, Some(&id))).await;
}

#[tokio::test]
async fn setting_a_value_twice_keeps_one_record_and_removing_a_missing_value_succeeds() {
    let fake = CloudflareFake::start(TOKEN);
    fake.add_zone(ZONE);
    let provider = provider(&fake, TOKEN, None);

    provider.set_txt(ZONE, NAME, "value").await.expect("set");
    provider
        .set_txt(ZONE, NAME, "value")
        .await
        .expect("set again (identical record exists)");
    assert_eq!(fake.txt(NAME), ["value"]);
    provider
        .remove_txt(ZONE, NAME, "never-set")
        .await
        .expect("remove a value that is not there");
    assert_eq!(fake.txt(NAME), ["value"]);
}

#[tokio::test]
async fn a_wrong_token_names_the_permissions_and_cloudflares_error() {
    let fake = CloudflareFake::start(TOKEN);
    fake.add_zone(ZONE);
    let provider = provider(&fake, "not-the-token", None);

    let err = provider
        .set_txt(ZONE, NAME, "value")
        .await
        .expect_err("a wrong token fails");
    let message = err.to_string();
    assert_eq!(
        message,
        "DNS provider cloudflare: TXT _acme-challenge.example.com: the API token lacks Zone:DNS:Edit (and Zone:Zone:Read for lookup) \
         on zone example.com, or is not valid (HTTP 403: code 10000: Authentication error)"
    );
    assert!(!message.contains("not-the-token"));
}

#[tokio::test]
async fn an_unknown_zone_is_named_in_the_error() {
    let fake = CloudflareFake::start(TOKEN);
    fake.add_zone(ZONE);
    let provider = provider(&fake, TOKEN, None);

    let err = provider
        .set_txt("example.org", "_acme-challenge.example.org", "value")
        .await
        .expect_err("an unknown zone fails");
    assert_eq!(
        err.to_string(),
        "DNS provider cloudflare: TXT _acme-challenge.example.org: zone example.org not found among the zones the API token can read \
         (GET /zones?name= found nothing); check the name, or set zone_id"
    );
}

#[tokio::test]
async fn an_unknown_zone_id_is_named_with_cloudflares_error() {
    let fake = CloudflareFake::start(TOKEN);
    fake.add_zone(ZONE);
    let provider = provider(&fake, TOKEN, Some("0123456789abcdef0123456789abcdef"));

    let err = provider
        .set_txt(ZONE, NAME, "value")
        .await
        .expect_err("an unknown zone id fails");
    assert_eq!(
        err.to_string(),
        "DNS provider cloudflare: TXT _acme-challenge.example.com: zone example.com not found (zone_id 0123456789abcdef0123456789abcdef: \
         code 7003: Could not route to /client/v4/zones/0123456789abcdef0123456789abcdef/dns_records, \
         perhaps your object identifier is invalid?; code 7000: No route for that URI)"
    );
}

#[tokio::test]
async fn other_api_errors_carry_the_code_message_and_record_name() {
    let fake = CloudflareFake::start(TOKEN);
    fake.add_zone(ZONE);
    let provider = provider(&fake, TOKEN, None);

    let err = provider
        .set_txt(ZONE, "_acme-challenge.example.net", "value")
        .await
        .expect_err("a name outside the zone fails");
    assert_eq!(
        err.to_string(),
        "DNS provider cloudflare: TXT _acme-challenge.example.net: zone example.com: create TXT _acme-challenge.example.net: HTTP 400: \
         code 9005: Content for record name is invalid: it is not in the zone."
    );
}
