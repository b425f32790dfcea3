//! TLS-ALPN-01 through the library: `AcmeIssuer` with a `TlsAlpn01Solver` obtains a
//! certificate from a real pebble, whose validator connects to the solver's listener.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use acme_core::{CancellationToken, CertInfo, IssueRequest, Issuer, KeyType, Solver, build_csr};
use e2e::{Pebble, PebbleOptions, TestDir};
use issuer_acme::{AcmeConfig, AcmeIssuer};
use tls_alpn01::{TlsAlpn01Config, TlsAlpn01Solver};

#[test]
fn pebble_issues_a_certificate_validated_over_tls_alpn_01() {
    let dir = TestDir::new();
    let pebble = Pebble::start(&dir, PebbleOptions::default());
    let name = "alpn.example.test".to_string();
    let acme = AcmeConfig {
        directory: pebble.directory_url().to_string(),
        email: Some("test@example.test".to_string()),
        ca_bundle: Some(pebble.ca_bundle().to_path_buf()),
        eab: None,
        profile: None,
        preferred_chain: None,
        timeout: Duration::from_secs(60),
        allow_insecure_http: false,
    };
    let issuer = AcmeIssuer::new("pebble".to_string(), acme, &dir.state_dir()).expect("issuer");
    // pebble's validator connects to 127.0.0.1:<tls_port> for every name.
    let solver = Arc::new(TlsAlpn01Solver::new(
        "alpn".to_string(),
        TlsAlpn01Config {
            listen: format!("127.0.0.1:{}", pebble.tls_port())
                .parse()
                .expect("address"),
        },
    ));
    let key = KeyType::EcdsaP256.generate().expect("key");
    let request = IssueRequest {
        cert_name: "alpn".to_string(),
        names: vec![name.clone()],
        csr_der: build_csr(std::slice::from_ref(&name), &key).expect("csr"),
        solvers: BTreeMap::from([(name.clone(), solver.clone() as Arc<dyn Solver>)]),
        replaces: None,
        cancel: CancellationToken::new(),
    };

    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let chain = runtime
        .block_on(issuer.issue(&request))
        .unwrap_or_else(|err| panic!("issuance failed: {err}\n{}", pebble.log_tails()));
    runtime.block_on(solver.shutdown());

    let leaf = CertInfo::from_pem(&chain.cert_pem).expect("the leaf parses");
    assert_eq!(leaf.names, vec![name], "the leaf names the identifier");
    assert!(
        !chain.chain_pem.is_empty(),
        "pebble delivers its intermediate with the leaf"
    );
}

/// The same through the binary: a `kind = "tls-alpn-01"` solver in the configuration.
#[test]
fn the_binary_issues_over_tls_alpn_01_and_refuses_wildcards_for_it() {
    let dir = e2e::TestDir::new();
    let pebble = e2e::Pebble::start(&dir, e2e::PebbleOptions::default());
    let config = |domains: &str| {
        format!(
            r#"[daemon]
state_dir = "{state}"
listen_metrics = "127.0.0.1:{metrics}"
[issuers.pebble]
kind = "acme"
directory = "{directory}"
ca_bundle = "{bundle}"
[solvers.alpn]
kind = "tls-alpn-01"
listen = "127.0.0.1:{port}"
[certificates.one]
domains = [{domains}]
issuer = "pebble"
sinks = [{{ kind = "files", dir = "{out}" }}]
"#,
            state = dir.state_dir().display(),
            metrics = e2e::free_port(),
            directory = pebble.directory_url(),
            bundle = pebble.ca_bundle().display(),
            port = pebble.tls_port(),
            out = dir.path().join("out/one").display(),
        )
    };
    dir.write_config(&config("\"a.example.test\""));
    dir.acmekeep(&["--issue"]).assert_success();
    assert_eq!(dir.sink("one").dns_names(), ["a.example.test"]);
    dir.sink("one").assert_chains_to(&pebble.root_file());

    dir.write_config(&config("\"*.example.test\""));
    dir.acmekeep(&["check"])
        .assert_exit(2)
        .assert_stderr_contains("*.example.test is a wildcard, which only dns-01 can validate, but solver \"alpn\" is tls-alpn-01");
}
