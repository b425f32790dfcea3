//! DNS-01 issuance through the real binary: pebble validates against the DNS server that
//! acmekeep updates (BIND through rfc2136, PowerDNS through its API), wildcards and CNAME
//! delegation included, and no `_acme-challenge` record is left behind, also when the
//! issuance fails. Providers no DNS server here can serve (Route53 on moto) run with
//! pebble's validation off.

use e2e::{BIND_KEY, Bind, BindZone, Moto, Pebble, PebbleOptions, PowerDns, TestDir};

/// A config with one ACME issuer for `pebble`, one dns-01 solver with `solver` settings,
/// and certificate `one` for `domains`.
fn config(dir: &TestDir, pebble: &Pebble, solver: &str, domains: &[&str]) -> String {
    let domains: Vec<String> = domains.iter().map(|d| format!("\"{d}\"")).collect();
    format!(
        r#"[daemon]
state_dir = "{state}"
listen_metrics = "127.0.0.1:{metrics}"

[issuers.pebble]
kind = "acme"
directory = "{directory}"
ca_bundle = "{bundle}"

[solvers.dns]
kind = "dns-01"
{solver}

[certificates.one]
domains = [{domains}]
issuer = "pebble"
sinks = [{{ kind = "files", dir = "{out}" }}]
"#,
        state = dir.state_dir().display(),
        metrics = e2e::free_port(),
        directory = pebble.directory_url(),
        bundle = pebble.ca_bundle().display(),
        domains = domains.join(", "),
        out = dir.path().join("out/one").display(),
    )
}

fn pebble_resolving_through(dir: &TestDir, dns: std::net::SocketAddr) -> Pebble {
    Pebble::start(
        dir,
        PebbleOptions {
            dns_server: Some(dns),
            ..PebbleOptions::default()
        },
    )
}

fn rfc2136_solver(bind: &Bind, extra: &str) -> String {
    format!(
        r#"provider = "rfc2136"
nameserver = "{addr}"
tsig_key = "{BIND_KEY}"
tsig_secret = "{secret}"
nameservers = ["{addr}"]
authoritative_port = {port}
propagation_timeout = "10s"
{extra}"#,
        addr = bind.address(),
        secret = bind.secret(),
        port = bind.port(),
    )
}

#[test]
fn a_wildcard_and_its_apex_are_issued_through_bind_and_leave_no_record() {
    let dir = TestDir::new();
    let bind = Bind::start(&dir, &[BindZone::new("example.test")]);
    let pebble = pebble_resolving_through(&dir, bind.address());
    dir.write_config(&config(
        &dir,
        &pebble,
        &rfc2136_solver(&bind, ""),
        &["example.test", "*.example.test", "www.example.test"],
    ));

    let run = dir.acmekeep(&["--issue"]);

    run.assert_success();
    assert_eq!(
        dir.sink("one").dns_names(),
        ["*.example.test", "example.test", "www.example.test"]
    );
    assert_eq!(
        bind.acme_challenge_records("example.test"),
        Vec::<String>::new()
    );
    if !run.stderr().contains("served by every") && !run.stderr().contains("took_ms") {
        run.fail("the propagation check must report how long it took");
    }
}

#[test]
fn a_failed_issuance_leaves_no_record_either() {
    let dir = TestDir::new();
    let bind = Bind::start(&dir, &[BindZone::new("example.test")]);
    let pebble = pebble_resolving_through(&dir, bind.address());
    // The propagation check asks a server that never answers, so the issuance fails after
    // the record was written.
    let dead = format!("127.0.0.1:{}", e2e::free_port());
    let solver = rfc2136_solver(&bind, &format!("resolvers = [\"{dead}\"]")).replace(
        "propagation_timeout = \"10s\"",
        "propagation_timeout = \"1s\"",
    );
    dir.write_config(&config(&dir, &pebble, &solver, &["www.example.test"]));

    let run = dir.acmekeep(&["--issue"]);

    run.assert_exit(1);
    if !run.line_for("one").contains(&dead) {
        run.fail("the failure must name the server that did not serve the record");
    }
    assert_eq!(
        bind.acme_challenge_records("example.test"),
        Vec::<String>::new()
    );
    assert!(dir.sink("one").is_empty());
}

#[test]
fn a_cname_delegated_challenge_is_written_in_the_target_zone() {
    let dir = TestDir::new();
    // Resolving, as the CA's resolver must follow the CNAME into the other zone.
    let bind = Bind::start_resolving(
        &dir,
        &[
            BindZone::new("example.test")
                .record("_acme-challenge.www IN CNAME www.acme.delegated.test."),
            BindZone::new("delegated.test"),
        ],
    );
    let pebble = pebble_resolving_through(&dir, bind.address());
    dir.write_config(&config(
        &dir,
        &pebble,
        &rfc2136_solver(&bind, ""),
        &["www.example.test"],
    ));

    dir.acmekeep(&["--issue"]).assert_success();

    assert_eq!(dir.sink("one").dns_names(), ["www.example.test"]);
    assert_eq!(
        bind.acme_challenge_records("example.test"),
        ["_acme-challenge.www.example.test. 60 IN\tCNAME\twww.acme.delegated.test."],
        "the delegating CNAME stays, and no TXT was written beside it"
    );
    assert_eq!(
        bind.dig_txt("www.acme.delegated.test"),
        Vec::<String>::new()
    );
}

#[test]
fn a_wildcard_is_issued_through_powerdns() {
    let dir = TestDir::new();
    let pdns = PowerDns::start(&dir);
    pdns.create_zone("example.test");
    let pebble = pebble_resolving_through(&dir, pdns.dns_addr());
    let solver = format!(
        r#"provider = "powerdns"
api_url = "{api}"
api_key = "{key}"
zone = "example.test"
resolvers = ["{dns}"]
propagation_timeout = "10s""#,
        api = pdns.api_url(),
        key = PowerDns::API_KEY,
        dns = pdns.dns_addr(),
    );
    dir.write_config(&config(
        &dir,
        &pebble,
        &solver,
        &["example.test", "*.example.test"],
    ));

    dir.acmekeep(&["--issue"]).assert_success();

    assert_eq!(
        dir.sink("one").dns_names(),
        ["*.example.test", "example.test"]
    );
    assert_eq!(
        pdns.txt("_acme-challenge.example.test"),
        Vec::<String>::new()
    );
}

#[test]
fn route53_records_are_written_and_removed_around_an_issuance() {
    let dir = TestDir::new();
    let moto = Moto::start(&dir);
    let zone_id = moto.create_hosted_zone("example.test");
    let pebble = Pebble::start(
        &dir,
        PebbleOptions {
            always_valid: true,
            ..PebbleOptions::default()
        },
    );
    let solver = format!(
        r#"provider = "route53"
endpoint_url = "{endpoint}"
access_key_id = "testing"
secret_access_key = "testing"
zone = "example.test"
check_propagation = false"#,
        endpoint = moto.endpoint_url(),
    );
    dir.write_config(&config(&dir, &pebble, &solver, &["www.example.test"]));

    let run = dir.acmekeep(&["--issue"]);

    run.assert_success();
    assert!(
        moto.requests_matching("POST /2013-04-01/hostedzone/") >= 2,
        "one change to add the record and one to remove it\n{}",
        moto.log_tail()
    );
    assert!(
        moto.txt_set(&zone_id, "_acme-challenge.www.example.test")
            .is_none()
    );
    run.assert_stderr_contains("check_propagation = false");
}

#[test]
fn check_online_tries_each_dns_solver_and_reports_zone_record_and_propagation() {
    let dir = TestDir::new();
    let bind = Bind::start(&dir, &[BindZone::new("example.test")]);
    let pebble = pebble_resolving_through(&dir, bind.address());
    dir.write_config(&config(
        &dir,
        &pebble,
        &rfc2136_solver(&bind, ""),
        &["www.example.test"],
    ));

    let run = dir.acmekeep(&["check", "--online"]);

    run.assert_success().assert_stdout_contains(
        "solvers.dns: OK for www.example.test: zone example.test, record _acme-challenge.www.example.test written and removed",
    );
    assert_eq!(
        bind.acme_challenge_records("example.test"),
        Vec::<String>::new()
    );

    let broken = rfc2136_solver(&bind, "").replace(
        bind.secret(),
        "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=",
    );
    dir.write_config(&config(&dir, &pebble, &broken, &["www.example.test"]));
    let run = dir.acmekeep(&["check", "--online"]);
    run.assert_exit(1)
        .assert_stdout_contains("solvers.dns: FAILED for www.example.test");
    run.assert_stdout_contains("check tsig_key and tsig_secret");
}
