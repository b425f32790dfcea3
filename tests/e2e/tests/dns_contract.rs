//! Every DNS provider keeps the same contract (tests/e2e/src/dns_contract.rs), each against
//! the server its own tests use: BIND for rfc2136, pdns_server for powerdns, moto for
//! route53, the Cloudflare fake for cloudflare, and a script keeping records in files for
//! exec. Providers are built through the registry, from the settings a solver table holds.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use acme_core::DnsProvider;
use dns_providers::{PROVIDERS, ProviderConfig};
use e2e::dns_contract::{DnsContract, check_dns_contract};
use e2e::{
    BIND_KEY, BIND_UNAUTHORIZED_KEY, Bind, BindZone, CloudflareFake, Moto, PowerDns, TestDir,
};
use serde_json::json;

const ZONE: &str = "example.test";

/// The provider `name` built through the registry from solver-table settings.
fn build(name: &str, settings: serde_json::Value) -> Arc<dyn DnsProvider> {
    ProviderConfig::parse(name, settings)
        .unwrap_or_else(|e| panic!("{name} settings: {e}"))
        .build()
        .unwrap_or_else(|e| panic!("{name} build: {e}"))
}

#[test]
fn every_provider_of_the_registry_has_a_contract_test_here() {
    let source = include_str!("dns_contract.rs");
    for name in PROVIDERS {
        assert!(
            source.contains(&format!("async fn {name}_keeps_the_contract()")),
            "no contract test for provider {name}"
        );
    }
}

#[tokio::test]
async fn rfc2136_keeps_the_contract() {
    let dir = TestDir::new();
    let bind = Bind::start(&dir, &[BindZone::new(ZONE)]);
    let settings = |key: &str, secret: &str| json!({ "nameserver": bind.address().to_string(), "tsig_key": key, "tsig_secret": secret });
    let provider = build("rfc2136", settings(BIND_KEY, bind.secret()));
    let failing = build(
        "rfc2136",
        settings(BIND_UNAUTHORIZED_KEY, bind.unauthorized_secret()),
    );
    check_dns_contract(DnsContract {
        provider: provider.as_ref(),
        failing: failing.as_ref(),
        zone: ZONE,
        served: &|name| bind.dig_txt(name),
    })
    .await;
}

#[tokio::test]
async fn powerdns_keeps_the_contract() {
    let dir = TestDir::new();
    let pdns = PowerDns::start(&dir);
    pdns.create_zone(ZONE);
    let settings = |key: &str| json!({ "api_url": pdns.api_url(), "api_key": key });
    let provider = build("powerdns", settings(PowerDns::API_KEY));
    let failing = build("powerdns", settings("not-the-api-key"));
    check_dns_contract(DnsContract {
        provider: provider.as_ref(),
        failing: failing.as_ref(),
        zone: ZONE,
        served: &|name| pdns.txt(name),
    })
    .await;
}

#[tokio::test]
async fn route53_keeps_the_contract() {
    let dir = TestDir::new();
    let moto = Moto::start(&dir);
    let zone_id = moto.create_hosted_zone(ZONE);
    let settings = |hosted_zone_id: &str| {
        json!({
            "hosted_zone_id": hosted_zone_id,
            "access_key_id": "testing",
            "secret_access_key": "testing",
            "endpoint_url": moto.endpoint_url(),
        })
    };
    let provider = build("route53", settings(&zone_id));
    let failing = build("route53", settings("Z0NOSUCHZONE000000000"));
    check_dns_contract(DnsContract {
        provider: provider.as_ref(),
        failing: failing.as_ref(),
        zone: ZONE,
        served: &|name| {
            moto.txt_set(&zone_id, name)
                .map(|set| {
                    set.values
                        .iter()
                        .map(|v| v.trim_matches('"').to_string())
                        .collect()
                })
                .unwrap_or_default()
        },
    })
    .await;
}

#[tokio::test]
async fn cloudflare_keeps_the_contract() {
    let fake = CloudflareFake::start("cf-contract-token");
    fake.add_zone(ZONE);
    let settings = |token: &str| json!({ "api_token": token, "api_url": fake.api_url() });
    let provider = build("cloudflare", settings("cf-contract-token"));
    let failing = build("cloudflare", settings("not-the-token"));
    check_dns_contract(DnsContract {
        provider: provider.as_ref(),
        failing: failing.as_ref(),
        zone: ZONE,
        served: &|name| fake.txt(name),
    })
    .await;
}

/// A lego-style hook keeping each value as a file `RECORDS/FQDN/VALUE`.
const FILE_HOOK: &str = r#"set -eu
mkdir -p "$RECORDS/$2"
case "$1" in
  present) : > "$RECORDS/$2/$3" ;;
  cleanup) rm -f "$RECORDS/$2/$3" ;;
  *) echo "unknown action $1" >&2; exit 2 ;;
esac"#;

/// Writes an executable script; `install` runs in a child so no writable descriptor of it
/// is inherited by a command another test forks meanwhile (ETXTBSY).
fn script(dir: &TestDir, name: &str, body: &str) -> String {
    let source = dir.path().join(format!("{name}.source"));
    let path = dir.path().join(name);
    fs::write(&source, format!("#!/bin/sh\n{body}\n")).expect("write the script text");
    let status = std::process::Command::new("install")
        .args(["-m", "0755"])
        .arg(&source)
        .arg(&path)
        .status()
        .expect("run install");
    assert!(status.success(), "install {} failed", path.display());
    path.to_string_lossy().into_owned()
}

/// The values the file hook holds at `name` (the provider passes it with a trailing dot).
fn file_values(records: &Path, name: &str) -> Vec<String> {
    fs::read_dir(records.join(format!("{name}.")))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn exec_keeps_the_contract() {
    let dir = TestDir::new();
    let records = dir.path().join("records");
    let hook = script(&dir, "hook.sh", FILE_HOOK);
    let failing_hook = script(&dir, "failing.sh", "echo 'the DNS API said no' >&2\nexit 3");
    let settings = |command: &str| json!({ "command": command, "env": { "RECORDS": records.to_string_lossy() } });
    let provider = build("exec", settings(&hook));
    let failing = build("exec", settings(&failing_hook));
    check_dns_contract(DnsContract {
        provider: provider.as_ref(),
        failing: failing.as_ref(),
        zone: ZONE,
        served: &|name| file_values(&records, name),
    })
    .await;
}
