//! Each component's `health()` against the real server (or, where none can be had, the
//! local fake) the other tests use: a healthy answer, and the refusal or silence that makes
//! `check --online` and `diagnose` report it, without the secret and without changing
//! anything; then `check --online` reporting them all.

use acme_core::{DnsProvider, HealthStatus, Issuer};
use dns_cloudflare::Config as CloudflareConfig;
use dns_powerdns::Config as PowerDnsConfig;
use dns_route53::Config as Route53Config;
use e2e::{
    BIND_KEY, Bind, BindZone, CloudflareFake, Moto, OpenBao, Pebble, PebbleOptions, PowerDns,
    TestDir, VENAFI_ZONE, VenafiFake, free_port,
};
use issuer_vault::{VaultIssuer, VaultIssuerConfig};
use issuer_venafi::{VenafiConfig, VenafiIssuer};
use serde_json::json;

const ZONE: &str = "example.test";

fn rfc2136(nameserver: &str, secret: &str) -> dns_rfc2136::Provider {
    let config: dns_rfc2136::Config = serde_json::from_value(json!({
        "nameserver": nameserver,
        "tsig_key": BIND_KEY,
        "tsig_secret": secret,
    }))
    .expect("valid config");
    dns_rfc2136::Provider::new(config).expect("provider")
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

fn powerdns(api_url: &str, api_key: &str) -> dns_powerdns::Provider {
    dns_powerdns::Provider::new(PowerDnsConfig {
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
    let provider = dns_route53::Provider::new(Route53Config {
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
        dns_cloudflare::Provider::new(CloudflareConfig {
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

/// A configuration with an ACME issuer at `directory`, a Vault issuer, a local CA not
/// created yet, a dns-01 solver through `bind` with `tsig_secret`, and one certificate per
/// issuer, each with a files sink.
fn several_issuers(
    dir: &TestDir,
    directory: &str,
    ca_bundle: &str,
    vault_url: &str,
    bind: &Bind,
    tsig_secret: &str,
) -> String {
    let out = dir.path().join("out");
    format!(
        r#"[daemon]
state_dir = "{state}"

[issuers.pebble]
kind = "acme"
directory = "{directory}"
{ca_bundle}

[issuers.vault]
kind = "vault"
url = "{vault_url}"
path = "pki_int/sign/example-test"
token = "{token}"

[issuers.local]
kind = "ca"
generate = true

[solvers.dns]
kind = "dns-01"
provider = "rfc2136"
nameserver = "{addr}"
tsig_key = "{BIND_KEY}"
tsig_secret = "{tsig_secret}"
nameservers = ["{addr}"]
authoritative_port = {port}
propagation_timeout = "10s"

[certificates.web]
domains = ["www.example.test"]
issuer = "pebble"
sinks = [{{ kind = "files", dir = "{out}/web" }}]

[certificates.api]
domains = ["api.example.test"]
issuer = "vault"
sinks = [{{ kind = "files", dir = "{out}/api" }}]

[certificates.internal]
domains = ["internal.example.test"]
issuer = "local"
sinks = [{{ kind = "files", dir = "{out}/internal" }}]
"#,
        state = dir.state_dir().display(),
        token = OpenBao::ROOT_TOKEN,
        addr = bind.address(),
        port = bind.port(),
        out = out.display(),
    )
}

#[test]
fn check_online_reports_every_issuer_sink_and_provider_and_passes_when_all_answer() {
    let dir = TestDir::new();
    let bind = Bind::start(&dir, &[BindZone::new(ZONE)]);
    let pebble = Pebble::start(&dir, PebbleOptions::default());
    let bao = OpenBao::start(&dir);
    dir.write_config(&several_issuers(
        &dir,
        pebble.directory_url(),
        &format!("ca_bundle = \"{}\"", pebble.ca_bundle().display()),
        &bao.url(),
        &bind,
        bind.secret(),
    ));

    let run = dir.acmekeep(&["check", "--online"]);

    run.assert_success();
    for line in [
        format!(
            "issuers.pebble: OK ({}): answered with an ACME directory",
            pebble.directory_url()
        ),
        format!("issuers.vault: OK ({}/v1/sys/health): active", bao.url()),
        "issuers.local: not created yet".to_string(),
        "certificates.api.sinks[0]: OK (files:".to_string(),
        "certificates.internal.sinks[0]: OK (files:".to_string(),
        "certificates.web.sinks[0]: OK (files:".to_string(),
        format!(
            "solvers.dns: provider rfc2136: OK ({} for zone {ZONE})",
            bind.address()
        ),
        "solvers.dns: OK for api.example.test".to_string(),
    ] {
        run.assert_stdout_contains(&line);
    }
    assert!(!dir.path().join("out").exists(), "{run}");
    assert!(!dir.state_dir().join("ca").exists(), "{run}");
}

#[test]
fn check_online_names_an_unreachable_issuer_and_a_refused_dns_key_and_fails() {
    let dir = TestDir::new();
    let bind = Bind::start(&dir, &[BindZone::new(ZONE)]);
    let bao = OpenBao::start(&dir);
    let directory = format!("https://127.0.0.1:{}/dir", free_port());
    let wrong = "c29tZSBvdGhlciBzZWNyZXQgb2YgMzIgYnl0ZXMhISE=";
    dir.write_config(&several_issuers(
        &dir,
        &directory,
        "",
        &bao.url(),
        &bind,
        wrong,
    ));

    let run = dir.acmekeep(&["check", "--online"]);

    run.assert_exit(1);
    run.assert_stdout_contains(&format!("issuers.pebble: UNREACHABLE ({directory}): "))
        .assert_stdout_contains("onnection refused")
        .assert_stdout_contains(&format!(
            "issuers.vault: OK ({}/v1/sys/health): active",
            bao.url()
        ))
        .assert_stdout_contains(&format!(
            "solvers.dns: provider rfc2136: REFUSED ({} for zone {ZONE}): ",
            bind.address()
        ))
        .assert_stdout_contains("check tsig_key and tsig_secret")
        .assert_stdout_contains("solvers.dns: FAILED for api.example.test");
    assert!(!run.stdout().contains(wrong), "{run}");
}
