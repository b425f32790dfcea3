//! `AcmeIssuer::renewal_window` (ACME Renewal Information, RFC 9773) against real CAs:
//! acme2certifier, which offers it, and pebble, which does not. The certificates are issued
//! by the binary; the window is asked for through the library, as the daemon does.

use std::time::Duration;

use acme_core::{CertInfo, Issuer, RenewalWindow};
use e2e::{Acme2certifier, Config, Pebble, PebbleOptions, TestDir};
use issuer_acme::{AcmeConfig, AcmeIssuer};

/// Issues certificate `one` with the binary, then asks the same issuer (same name, same
/// state directory, so the same account) for its renewal window.
fn issue_then_ask(
    dir: &TestDir,
    config: &Config,
    acme: AcmeConfig,
) -> (String, Result<Option<RenewalWindow>, acme_core::Error>) {
    dir.write_config(&config.to_toml());
    dir.acmekeep(&["--issue"]).assert_success();
    let cert_pem = String::from_utf8(dir.sink("one").cert_pem()).expect("cert.pem is text");
    let issuer =
        AcmeIssuer::new(config.issuer_name().to_string(), acme, &dir.state_dir()).expect("issuer");
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let window = runtime.block_on(issuer.renewal_window(&cert_pem));
    (cert_pem, window)
}

fn acme_config(directory: &str) -> AcmeConfig {
    AcmeConfig {
        directory: directory.to_string(),
        email: Some("test@example.test".to_string()),
        ca_bundle: None,
        eab: None,
        profile: None,
        preferred_chain: None,
        timeout: Duration::from_secs(60),
        allow_insecure_http: false,
    }
}

#[test]
fn acme2certifier_suggests_a_window_inside_the_certificates_validity() {
    let dir = TestDir::new();
    let server = Acme2certifier::start(&dir);
    let config = Config::for_acme2certifier(&dir, &server).certificate("one", &["a.example.test"]);

    let (cert_pem, window) = issue_then_ask(&dir, &config, acme_config(server.directory_url()));

    let window = window
        .unwrap_or_else(|err| panic!("renewal_window failed: {err}\n{}", server.log_tail()))
        .unwrap_or_else(|| panic!("acme2certifier offers ARI, yet no window came back"));
    let cert = CertInfo::from_pem(&cert_pem).expect("the delivered certificate parses");
    assert!(
        window.start < window.end,
        "the window must not be empty: {window:?}"
    );
    assert!(
        cert.not_before <= window.start && window.end <= cert.not_after,
        "the window {window:?} must lie within the certificate's validity \
         ({:?} .. {:?})",
        cert.not_before,
        cert.not_after
    );
    // instant-acme turns Retry-After into an instant and back, so a little time is lost.
    let sent = Duration::from_secs(Acme2certifier::RENEWAL_INFO_RETRY_AFTER);
    assert!(
        sent - Duration::from_secs(10) < window.refresh_after && window.refresh_after <= sent,
        "a Retry-After between one minute and one day is taken as the CA sent it \
         ({sent:?}), not {:?}",
        window.refresh_after
    );
    assert_eq!(
        window.explanation, None,
        "acme2certifier sends no explanationURL"
    );
}

#[test]
fn a_ca_without_renewal_info_gives_no_window() {
    let dir = TestDir::new();
    let pebble = Pebble::start(&dir, PebbleOptions::default());
    let config = Config::for_pebble(&dir, &pebble).certificate("one", &["a.example.test"]);
    let acme = AcmeConfig {
        ca_bundle: Some(pebble.ca_bundle().to_path_buf()),
        ..acme_config(pebble.directory_url())
    };

    let (_, window) = issue_then_ask(&dir, &config, acme);

    assert_eq!(
        window.expect("asking a CA without ARI is not an error"),
        None
    );
}
