//! A second ACME implementation: the real `acmekeep --issue` against OpenBao's ACME server
//! (on its `pki_int` mount, under the harness's root), with real HTTP-01 validation.
//!
//! OpenBao validates HTTP-01 by resolving the name with its configured `dns_resolver` (a
//! real BIND here, answering 127.0.0.1 for the test zone) and fetching
//! `http://NAME:80/.well-known/acme-challenge/TOKEN`: the solver listens on 127.0.0.1:80,
//! which needs root (or CAP_NET_BIND_SERVICE), and the test holds the port-80 lock so that
//! no other test binds it meanwhile. OpenBao has no switch that skips validation: a valid
//! authorization means it fetched the key authorization from the solver.

use e2e::{Bind, BindZone, Config, FixedPortLock, OpenBao, TestDir};

/// The port OpenBao's HTTP-01 validator connects to.
const HTTP_01_PORT: u16 = 80;

#[test]
fn issues_and_renews_through_openbaos_acme_server_with_http_01_validation() {
    let _port_80 = FixedPortLock::acquire(HTTP_01_PORT);
    let dir = TestDir::new();
    let bind = Bind::start(&dir, &[BindZone::new("example.test")]);
    let bao = OpenBao::start(&dir);
    let directory = bao.enable_acme("pki_int", bind.address());
    let config = Config::for_directory(&dir, &directory)
        .solver_port(HTTP_01_PORT)
        .certificate("web", &["www.example.test", "example.test"]);
    dir.write_config(&config.to_toml());

    let run = dir.acmekeep(&["--issue"]);
    run.assert_success()
        .assert_stdout_contains("1 issued, 0 still valid, 0 failed");
    let sink = dir.sink("web");
    assert_eq!(sink.dns_names(), ["example.test", "www.example.test"]);
    sink.assert_chains_to(&bao.root_file());
    sink.assert_key_matches_cert();
    sink.assert_fullchain_starts_with_cert();
    assert!(
        bao.requests_to("pki_int/acme/new-order", None) >= 1,
        "the order went to OpenBao's ACME server\n{run}"
    );
    let first_serial = sink.serial();

    let renewal = dir.acmekeep(&["--issue", "--force"]);
    renewal
        .assert_success()
        .assert_stdout_contains("1 issued, 0 still valid, 0 failed");
    assert_ne!(
        sink.serial(),
        first_serial,
        "a forced renewal delivers a new certificate\n{renewal}"
    );
    sink.assert_chains_to(&bao.root_file());
}
