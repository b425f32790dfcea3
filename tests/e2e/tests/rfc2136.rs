//! The RFC 2136 provider against a real BIND: values are added beside others and removed one
//! at a time, and every way the server says no becomes a message that says what to fix.

use acme_core::DnsProvider;
use dns_rfc2136::{Config, Protocol, Provider};
use e2e::{BIND_KEY, BIND_UNAUTHORIZED_KEY, Bind, BindZone, TestDir};

const ZONE: &str = "example.test";
const RECORD: &str = "_acme-challenge.www.example.test";

fn provider(bind: &Bind, key: &str, secret: &str, protocol: Protocol) -> Provider {
    let config: Config = serde_json::from_value(serde_json::json!({
        "nameserver": bind.address().to_string(),
        "tsig_key": key,
        "tsig_secret": secret,
        "protocol": match protocol { Protocol::Udp => "udp", _ => "tcp" },
    }))
    .expect("valid config");
    Provider::new(config).expect("provider")
}

fn start() -> (TestDir, Bind) {
    let dir = TestDir::new();
    let bind = Bind::start(&dir, &[BindZone::new(ZONE)]);
    (dir, bind)
}

#[tokio::test]
async fn set_txt_adds_the_value_and_remove_txt_takes_it_away() {
    let (_dir, bind) = start();
    let provider = provider(&bind, BIND_KEY, bind.secret(), Protocol::Udp);

    provider
        .set_txt(ZONE, RECORD, "value-1")
        .await
        .expect("set");
    assert_eq!(bind.dig_txt(RECORD), ["value-1"], "{}", bind.log_tail());
    assert_eq!(bind.dig(RECORD, "TXT").len(), 1);

    provider
        .remove_txt(ZONE, RECORD, "value-1")
        .await
        .expect("remove");
    assert!(bind.dig_txt(RECORD).is_empty());
}

#[tokio::test]
async fn two_values_coexist_and_removing_one_leaves_the_other() {
    let (_dir, bind) = start();
    let provider = provider(&bind, BIND_KEY, bind.secret(), Protocol::Udp);

    provider
        .set_txt(ZONE, RECORD, "wildcard")
        .await
        .expect("set first");
    provider
        .set_txt(ZONE, RECORD, "apex")
        .await
        .expect("set second");
    let mut values = bind.dig_txt(RECORD);
    values.sort();
    assert_eq!(values, ["apex", "wildcard"]);

    provider
        .remove_txt(ZONE, RECORD, "wildcard")
        .await
        .expect("remove one");
    assert_eq!(bind.dig_txt(RECORD), ["apex"]);
}

#[tokio::test]
async fn removing_a_value_that_is_not_there_succeeds() {
    let (_dir, bind) = start();
    let provider = provider(&bind, BIND_KEY, bind.secret(), Protocol::Udp);
    provider
        .remove_txt(ZONE, RECORD, "never-set")
        .await
        .expect("removing nothing is fine");
}

#[tokio::test]
async fn updates_also_travel_over_tcp() {
    let (_dir, bind) = start();
    let provider = provider(&bind, BIND_KEY, bind.secret(), Protocol::Tcp);
    provider
        .set_txt(ZONE, RECORD, "over-tcp")
        .await
        .expect("set over TCP");
    assert_eq!(bind.dig_txt(RECORD), ["over-tcp"]);
    provider
        .remove_txt(ZONE, RECORD, "over-tcp")
        .await
        .expect("remove over TCP");
    assert!(bind.dig_txt(RECORD).is_empty());
}

#[tokio::test]
async fn a_wrong_secret_says_tsig_verification_failed_not_truncated_hmacs() {
    let (_dir, bind) = start();
    // A valid base64 secret of the right length, but not the server's.
    let wrong = "c29tZSBvdGhlciBzZWNyZXQgb2YgMzIgYnl0ZXMhISE=";
    let provider = provider(&bind, BIND_KEY, wrong, Protocol::Udp);

    let err = provider
        .set_txt(ZONE, RECORD, "value")
        .await
        .expect_err("a wrong secret must fail")
        .to_string();
    assert!(
        err.contains("TSIG verification failed (BADSIG/NOTAUTH): check tsig_key and tsig_secret"),
        "{err}"
    );
    assert!(err.starts_with("DNS provider rfc2136: "), "{err}");
    assert!(err.contains(&bind.address().to_string()), "{err}");
    assert!(
        !err.contains(wrong) && !err.to_lowercase().contains("truncated"),
        "{err}"
    );
    assert!(bind.dig_txt(RECORD).is_empty());
}

#[tokio::test]
async fn a_key_the_server_does_not_know_is_named() {
    let (_dir, bind) = start();
    let provider = provider(&bind, "no-such-key", bind.secret(), Protocol::Udp);
    let err = provider
        .set_txt(ZONE, RECORD, "value")
        .await
        .expect_err("an unknown key must fail")
        .to_string();
    assert!(
        err.contains("the server does not know TSIG key \"no-such-key\" (BADKEY)"),
        "{err}"
    );
}

#[tokio::test]
async fn a_key_without_update_rights_is_refused_with_the_policy_to_check() {
    let (_dir, bind) = start();
    let provider = provider(
        &bind,
        BIND_UNAUTHORIZED_KEY,
        bind.unauthorized_secret(),
        Protocol::Udp,
    );
    let err = provider
        .set_txt(ZONE, RECORD, "value")
        .await
        .expect_err("an unauthorized key must be refused")
        .to_string();
    assert!(
        err.contains(&format!(
            "refused the update for zone {ZONE}: check that key \"{BIND_UNAUTHORIZED_KEY}\" may update it (allow-update / update-policy)"
        )),
        "{err}"
    );
}

#[tokio::test]
async fn a_zone_the_server_does_not_serve_is_reported_as_not_authoritative() {
    let (_dir, bind) = start();
    let provider = provider(&bind, BIND_KEY, bind.secret(), Protocol::Udp);
    let err = provider
        .set_txt("other.test", "_acme-challenge.other.test", "value")
        .await
        .expect_err("a foreign zone must fail")
        .to_string();
    assert!(
        err.contains("is not authoritative for zone other.test (NOTAUTH)"),
        "{err}"
    );
}

#[tokio::test]
async fn a_record_outside_the_zone_is_rejected_before_sending() {
    let (_dir, bind) = start();
    let provider = provider(&bind, BIND_KEY, bind.secret(), Protocol::Udp);
    let err = provider
        .set_txt(ZONE, "_acme-challenge.www.elsewhere.test", "value")
        .await
        .expect_err("outside the zone")
        .to_string();
    assert!(err.contains("the record is not inside the zone"), "{err}");
}

#[tokio::test]
async fn a_server_that_does_not_answer_is_named() {
    let port = e2e::free_port();
    let config: Config = serde_json::from_value(serde_json::json!({
        "nameserver": format!("127.0.0.1:{port}"),
        "tsig_key": BIND_KEY,
        "tsig_secret": "c2VjcmV0",
        "protocol": "tcp",
    }))
    .expect("valid config");
    let err = Provider::new(config)
        .expect("provider")
        .set_txt(ZONE, RECORD, "value")
        .await
        .expect_err("nothing listens")
        .to_string();
    assert!(
        err.contains(&format!("update of zone {ZONE} at 127.0.0.1:{port}")),
        "{err}"
    );
}
