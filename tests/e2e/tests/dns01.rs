//! The DNS-01 solver against a real BIND: where it writes (zone discovery, `zone`, CNAMEs),
//! how it waits (every authoritative server, polled until the value shows or the timeout
//! names who lacks it), and that nothing is left behind.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use acme_core::{Challenge, ChallengeKind, DnsProvider, Solver};
use dns_rfc2136::{Config, Provider};
use dns01::{Dns01Config, Dns01Solver, Placement};
use e2e::{BIND_KEY, Bind, BindZone, TestDir};

fn rfc2136(bind: &Bind) -> Arc<dyn DnsProvider> {
    let config: Config = serde_json::from_value(serde_json::json!({
        "nameserver": bind.address().to_string(),
        "tsig_key": BIND_KEY,
        "tsig_secret": bind.secret(),
    }))
    .expect("valid config");
    Arc::new(Provider::new(config).expect("provider"))
}

/// Asks `bind` for discovery and its port for the zones' authoritative servers.
fn config_for(bind: &Bind) -> Dns01Config {
    Dns01Config {
        nameservers: vec![bind.address()],
        authoritative_port: bind.port(),
        propagation_timeout: Duration::from_secs(10),
        ..Dns01Config::default()
    }
}

fn solver(config: Dns01Config, provider: Arc<dyn DnsProvider>) -> Dns01Solver {
    Dns01Solver::new("dns", config, provider).expect("solver")
}

fn challenge(identifier: &str, value: &str) -> Challenge {
    Challenge {
        kind: ChallengeKind::Dns01,
        identifier: identifier.to_string(),
        wildcard: false,
        token: "token".to_string(),
        key_authorization: "token.thumbprint".to_string(),
        dns_value: value.to_string(),
    }
}

/// A provider that writes nothing: the test writes (or withholds) the record itself.
#[derive(Default)]
struct Silent {
    calls: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl DnsProvider for Silent {
    fn name(&self) -> &str {
        "silent"
    }
    async fn set_txt(&self, zone: &str, fqdn: &str, value: &str) -> Result<(), acme_core::Error> {
        self.calls
            .lock()
            .expect("lock")
            .push(format!("set {zone} {fqdn} {value}"));
        Ok(())
    }
    async fn remove_txt(
        &self,
        zone: &str,
        fqdn: &str,
        value: &str,
    ) -> Result<(), acme_core::Error> {
        self.calls
            .lock()
            .expect("lock")
            .push(format!("remove {zone} {fqdn} {value}"));
        Ok(())
    }
}

#[tokio::test]
async fn zone_discovery_finds_the_closest_zone_for_deep_names_and_the_apex() {
    let dir = TestDir::new();
    let bind = Bind::start(
        &dir,
        &[
            BindZone::new("example.test"),
            BindZone::new("deep.example.test"),
        ],
    );
    let solver = solver(config_for(&bind), rfc2136(&bind));

    let cases = [
        ("a.b.www.example.test", "example.test"),
        ("example.test", "example.test"),
        ("*.example.test", "example.test"),
        ("x.y.deep.example.test", "deep.example.test"),
        ("deep.example.test", "deep.example.test"),
    ];
    for (identifier, zone) in cases {
        let placement = solver.placement(identifier).await.expect(identifier);
        let bare = identifier.trim_start_matches("*.");
        assert_eq!(
            placement,
            Placement {
                zone: zone.to_string(),
                fqdn: format!("_acme-challenge.{bare}"),
            },
            "{identifier}"
        );
    }
}

#[tokio::test]
async fn a_configured_zone_skips_discovery_and_must_contain_the_record() {
    let dir = TestDir::new();
    let bind = Bind::start(&dir, &[BindZone::new("example.test")]);
    let config = Dns01Config {
        zone: Some("Example.Test.".into()),
        ..config_for(&bind)
    };
    let solver = solver(config, rfc2136(&bind));
    // `unknown.invalid` has no SOA anywhere, so only the override can place it.
    assert_eq!(
        solver
            .placement("www.example.test")
            .await
            .expect("inside")
            .zone,
        "example.test"
    );
    let err = solver
        .placement("www.unknown.invalid")
        .await
        .expect_err("outside the zone")
        .to_string();
    assert_eq!(
        err,
        "record _acme-challenge.www.unknown.invalid is not inside the configured zone example.test"
    );
}

#[tokio::test]
async fn present_waits_until_served_and_cleanup_removes_only_its_own_value() {
    let dir = TestDir::new();
    let bind = Bind::start(&dir, &[BindZone::new("example.test")]);
    let solver = solver(config_for(&bind), rfc2136(&bind));
    let record = "_acme-challenge.example.test";
    let apex = challenge("example.test", "apex-value");
    let wildcard = Challenge {
        wildcard: true,
        ..challenge("example.test", "wildcard-value")
    };

    solver.present(&apex).await.expect("present apex");
    assert_eq!(bind.dig_txt(record), ["apex-value"]);
    solver.present(&wildcard).await.expect("present wildcard");
    let mut values = bind.dig_txt(record);
    values.sort();
    assert_eq!(values, ["apex-value", "wildcard-value"]);

    solver.cleanup(&apex).await.expect("cleanup apex");
    assert_eq!(bind.dig_txt(record), ["wildcard-value"]);
    solver.cleanup(&wildcard).await.expect("cleanup wildcard");
    assert!(bind.acme_challenge_records("example.test").is_empty());
}

#[tokio::test]
async fn a_cname_delegates_the_record_to_another_zone_and_its_servers_are_checked() {
    let dir = TestDir::new();
    // alias.test's own server address has nothing listening: a check that asked it instead
    // of target.test's would time out.
    let bind = Bind::start(
        &dir,
        &[
            BindZone::new("alias.test")
                .nameserver_address("127.0.0.3")
                .record("_acme-challenge.www CNAME _acme-challenge.www.target.test."),
            BindZone::new("target.test"),
        ],
    );
    let solver = solver(config_for(&bind), rfc2136(&bind));
    let delegated = challenge("www.alias.test", "delegated-value");

    let report = solver.probe("www.alias.test").await.expect("probe");
    assert_eq!(
        report.placement,
        Placement {
            zone: "target.test".into(),
            fqdn: "_acme-challenge.www.target.test".into()
        }
    );
    assert_eq!(report.servers, [bind.address()]);
    assert!(
        bind.acme_challenge_records("target.test").is_empty(),
        "the probe cleans up"
    );

    solver
        .present(&delegated)
        .await
        .expect("present through the CNAME");
    assert_eq!(
        bind.dig_txt("_acme-challenge.www.target.test"),
        ["delegated-value"]
    );
    solver.cleanup(&delegated).await.expect("cleanup");
    assert!(bind.acme_challenge_records("target.test").is_empty());
}

#[tokio::test]
async fn without_follow_cname_the_record_is_written_at_the_alias_name_zone() {
    let dir = TestDir::new();
    let bind = Bind::start(
        &dir,
        &[
            BindZone::new("alias.test")
                .record("_acme-challenge.www CNAME _acme-challenge.www.target.test."),
            BindZone::new("target.test"),
        ],
    );
    let config = Dns01Config {
        follow_cname: false,
        ..config_for(&bind)
    };
    let placement = solver(config, rfc2136(&bind))
        .placement("www.alias.test")
        .await
        .expect("placement");
    assert_eq!(placement.fqdn, "_acme-challenge.www.alias.test");
    assert_eq!(placement.zone, "alias.test");
}

#[tokio::test]
async fn a_cname_loop_is_reported_with_its_chain() {
    let dir = TestDir::new();
    let bind = Bind::start(
        &dir,
        &[BindZone::new("example.test")
            .record("_acme-challenge.a CNAME b.example.test.")
            .record("b CNAME c.example.test.")
            .record("c CNAME b.example.test.")],
    );
    let err = solver(config_for(&bind), rfc2136(&bind))
        .placement("a.example.test")
        .await
        .expect_err("a loop")
        .to_string();
    assert!(
        err.contains(
            "_acme-challenge.a.example.test -> b.example.test -> c.example.test -> b.example.test"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_record_that_appears_late_is_waited_for() {
    let dir = TestDir::new();
    let bind = Arc::new(Bind::start(&dir, &[BindZone::new("example.test")]));
    let provider = Arc::new(Silent::default());
    let solver = solver(config_for(&bind), provider.clone());

    let writer = {
        let bind = Arc::clone(&bind);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(1));
            bind.nsupdate(&["update add _acme-challenge.www.example.test 60 TXT \"late-value\""]);
        })
    };
    let started = Instant::now();
    solver
        .present(&challenge("www.example.test", "late-value"))
        .await
        .expect("present waits for the record");
    let waited = started.elapsed();
    writer.join().expect("nsupdate thread");
    assert!(
        waited >= Duration::from_secs(1),
        "returned after {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(4),
        "noticed only after {waited:?}"
    );
    assert_eq!(
        *provider.calls.lock().expect("lock"),
        ["set example.test _acme-challenge.www.example.test late-value"]
    );
}

#[tokio::test]
async fn a_record_that_never_appears_times_out_naming_the_server_and_is_removed() {
    let dir = TestDir::new();
    let bind = Bind::start(&dir, &[BindZone::new("example.test")]);
    bind.nsupdate(&["update add _acme-challenge.www.example.test 60 TXT \"stale\""]);
    let provider = Arc::new(Silent::default());
    let config = Dns01Config {
        propagation_timeout: Duration::from_secs(1),
        ..config_for(&bind)
    };
    let solver = solver(config, provider.clone());
    let missing = challenge("www.example.test", "never-served");

    let started = Instant::now();
    let err = solver
        .present(&missing)
        .await
        .expect_err("the value never shows")
        .to_string();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert!(err.starts_with("solver dns: TXT _acme-challenge.www.example.test was not served by every server after 1s"), "{err}");
    assert!(
        err.contains(&format!("{} served only [\"stale\"]", bind.address())),
        "{err}"
    );
    // present removed what it set; a later cleanup must not remove it a second time.
    solver.cleanup(&missing).await.expect("cleanup");
    assert_eq!(
        *provider.calls.lock().expect("lock"),
        [
            "set example.test _acme-challenge.www.example.test never-served",
            "remove example.test _acme-challenge.www.example.test never-served",
        ]
    );
}

#[tokio::test]
async fn a_failed_present_leaves_no_challenge_record_behind() {
    let dir = TestDir::new();
    let bind = Bind::start(&dir, &[BindZone::new("example.test")]);
    // Check a resolver where nothing answers: the value is written but never confirmed.
    let config = Dns01Config {
        resolvers: vec![
            format!("127.0.0.1:{}", e2e::free_port())
                .parse()
                .expect("address"),
        ],
        propagation_timeout: Duration::from_millis(500),
        ..config_for(&bind)
    };
    let solver = solver(config, rfc2136(&bind));
    let failing = challenge("www.example.test", "unconfirmed");

    let err = solver
        .present(&failing)
        .await
        .expect_err("never confirmed")
        .to_string();
    assert!(err.contains("was not served by every server"), "{err}");
    solver
        .cleanup(&failing)
        .await
        .expect("cleanup after a failed present");
    assert!(
        bind.acme_challenge_records("example.test").is_empty(),
        "{:?}",
        bind.acme_challenge_records("example.test")
    );
}

#[tokio::test]
async fn an_abandoned_present_removes_its_value() {
    let dir = TestDir::new();
    let bind = Bind::start(&dir, &[BindZone::new("example.test")]);
    let provider = Arc::new(Silent::default());
    let solver = solver(config_for(&bind), provider.clone());

    // The issuance gives up (deadline, shutdown) while present is still waiting.
    let abandoned = tokio::time::timeout(
        Duration::from_millis(300),
        solver.present(&challenge("www.example.test", "abandoned")),
    )
    .await;
    assert!(abandoned.is_err(), "present cannot have succeeded");
    for _ in 0..50 {
        if provider.calls.lock().expect("lock").len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        *provider.calls.lock().expect("lock"),
        [
            "set example.test _acme-challenge.www.example.test abandoned",
            "remove example.test _acme-challenge.www.example.test abandoned",
        ]
    );
}
