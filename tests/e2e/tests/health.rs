//! Each component's `health()` against the real server (or, where none can be had, the
//! local fake) the other tests use: a healthy answer, and the refusal or silence that makes
//! `check --online` and `diagnose` report it, without the secret and without changing
//! anything.

use acme_core::{DnsProvider, HealthStatus, Issuer};
use dns_cloudflare::{CloudflareProvider, Config as CloudflareConfig};
use dns_powerdns::{Config as PowerDnsConfig, PowerDnsProvider};
use dns_rfc2136::{Rfc2136Config, Rfc2136Provider};
use dns_route53::{Config as Route53Config, Route53Provider};
use e2e::{
    BIND_KEY, Bind, BindZone, CloudflareFake, Moto, OpenBao, PowerDns, TestDir, VENAFI_ZONE,
    VenafiFake, free_port,
};
use issuer_vault::{VaultIssuer, VaultIssuerConfig};
use issuer_venafi::{VenafiConfig, VenafiIssuer};
use serde_json::json;

const ZONE: &str = "example.test";

fn rfc2136(nameserver: &str, secret: &str) -> Rfc2136Provider {
    let config: Rfc2136Config = serde_json::from_value(json!({
        "nameserver": nameserver,
        "tsig_key": BIND_KEY,
        "tsig_secret": secret,
    }))
    .expect("valid config");
    Rfc2136Provider::new(config).expect("provider")
}

#[tokio::test]
async fn rfc2136_health_is_a_signed_query_that_a_wrong_secret_fails() {
    let dir = TestDir::new();
    let bind = Bind::start(&dir, &[BindZone::new(ZONE)]);
    let nameserver = bind.address().to_string();

    let health = rfc2136(&nameserver, bind.secret()).health(ZONE).await;
    assert_eq!(health.status, HealthStatus::Healthy, "{health}");
    assert_eq!(health.endpoint, format!("{nameserver} for zone {ZONE}"));

    let wrong = "c29tZSBvdGhlciBzZWNyZXQgb2YgMzIgYnl0ZXMhISE=";
    let health = rfc2136(&nameserver, wrong).health(ZONE).await;
    assert_eq!(health.status, HealthStatus::Refused, "{health}");
    assert!(
        health.detail.contains("check tsig_key and tsig_secret"),
        "{health}"
    );
    assert!(!health.detail.contains(wrong), "{health}");
    assert!(bind.dig_txt(&format!("_acme-challenge.{ZONE}")).is_empty());

    let silent = format!("127.0.0.1:{}", free_port());
    let health = rfc2136(&silent, bind.secret()).health(ZONE).await;
    assert_eq!(health.status, HealthStatus::Unreachable, "{health}");
}

fn powerdns(api_url: &str, api_key: &str) -> PowerDnsProvider {
    PowerDnsProvider::new(PowerDnsConfig {
        api_url: api_url.to_string(),
        api_key: api_key.to_string(),
        server_id: "localhost".to_string(),
        allow_insecure_http: false,
    })
    .expect("a valid PowerDNS config")
}

#[tokio::test]
async fn powerdns_health_reads_the_zone_and_names_a_wrong_key_without_showing_it() {
    let dir = TestDir::new();
    let pdns = PowerDns::start(&dir);
    pdns.create_zone(ZONE);

    let health = powerdns(pdns.api_url(), PowerDns::API_KEY)
        .health(ZONE)
        .await;
    assert_eq!(health.status, HealthStatus::Healthy, "{health}");

    let health = powerdns(pdns.api_url(), "not-the-key").health(ZONE).await;
    assert_eq!(health.status, HealthStatus::Refused, "{health}");
    assert!(
        health.detail.contains("refused the API key (HTTP 401)"),
        "{health}"
    );
    assert!(!health.detail.contains("not-the-key"), "{health}");

    let health = powerdns(pdns.api_url(), PowerDns::API_KEY)
        .health("other.test")
        .await;
    assert_eq!(health.status, HealthStatus::Refused, "{health}");

    let gone = format!("http://127.0.0.1:{}", free_port());
    let health = powerdns(&gone, PowerDns::API_KEY).health(ZONE).await;
    assert_eq!(health.status, HealthStatus::Unreachable, "{health}");
}

#[tokio::test]
async fn route53_health_finds_the_hosted_zone_and_names_a_missing_one() {
    let dir = TestDir::new();
    let moto = Moto::start(&dir);
    moto.create_hosted_zone(ZONE);
    let provider = Route53Provider::new(Route53Config {
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".into()),
        endpoint_url: Some(moto.endpoint_url().to_string()),
        ..Route53Config::default()
    })
    .expect("valid provider config");

    let health = provider.health(ZONE).await;
    assert_eq!(health.status, HealthStatus::Healthy, "{health}");

    let health = provider.health("other.test").await;
    assert_eq!(health.status, HealthStatus::Refused, "{health}");
    assert!(
        health
            .detail
            .contains("no Route53 hosted zone named other.test."),
        "{health}"
    );
}

#[tokio::test]
async fn cloudflare_health_reads_the_zone_and_refuses_a_wrong_token() {
    let fake = CloudflareFake::start("cf-test-token");
    fake.add_zone("example.com");
    let provider = |token: &str| {
        CloudflareProvider::new(CloudflareConfig {
            api_token: token.to_string(),
            api_url: fake.api_url(),
            zone_id: None,
            allow_insecure_http: false,
        })
        .expect("a valid Cloudflare config")
    };

    let health = provider("cf-test-token").health("example.com").await;
    assert_eq!(health.status, HealthStatus::Healthy, "{health}");

    let health = provider("wrong-token").health("example.com").await;
    assert_eq!(health.status, HealthStatus::Refused, "{health}");
    assert!(!health.detail.contains("wrong-token"), "{health}");
    assert!(fake.records().is_empty());
}

fn vault(url: &str) -> VaultIssuer {
    let config: VaultIssuerConfig = serde_json::from_value(json!({
        "url": url,
        "path": "pki_int/sign/example-test",
        "token": OpenBao::ROOT_TOKEN,
    }))
    .expect("a valid config");
    VaultIssuer::new("vault".into(), config, "/nonexistent".as_ref()).expect("build the issuer")
}

#[tokio::test]
async fn vault_health_asks_sys_health_and_keeps_the_servers_date() {
    let dir = TestDir::new();
    let bao = OpenBao::start(&dir);

    let health = vault(&bao.url()).health().await;
    assert_eq!(health.status, HealthStatus::Healthy, "{health}");
    assert_eq!(health.endpoint, format!("{}/v1/sys/health", bao.url()));
    assert!(health.server_date.is_some(), "{health:?}");

    let gone = format!("http://127.0.0.1:{}", free_port());
    let health = vault(&gone).health().await;
    assert_eq!(health.status, HealthStatus::Unreachable, "{health}");
    assert!(health.detail.contains("onnection refused"), "{health}");
}

#[tokio::test]
async fn venafi_health_is_any_answer_from_the_tpp_sdk_endpoint() {
    let fake = VenafiFake::start();
    let venafi = |url: String| {
        let config: VenafiConfig = serde_json::from_value(json!({
            "url": url,
            "zone": VENAFI_ZONE,
            "access_token": "token",
        }))
        .expect("a valid Venafi configuration");
        let state = tempfile::tempdir().expect("tempdir");
        VenafiIssuer::new("corp".into(), config, state.path()).expect("a valid Venafi issuer")
    };

    let health = venafi(fake.url()).health().await;
    assert_eq!(health.status, HealthStatus::Healthy, "{health}");
    assert_eq!(health.endpoint, format!("{}/vedsdk/", fake.url()));

    let health = venafi(format!("http://127.0.0.1:{}", free_port()))
        .health()
        .await;
    assert_eq!(health.status, HealthStatus::Unreachable, "{health}");
}
