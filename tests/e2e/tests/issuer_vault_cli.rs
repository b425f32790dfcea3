//! The real binary with a `vault` issuer against a real OpenBao dev server: a certificate
//! signed through a PKI role lands in the files sink with its chain and root, and a forced
//! run renews it.

use std::fs;

use e2e::{OpenBao, TestDir, free_port};

#[test]
fn issues_and_renews_through_a_pki_role_with_a_token_from_a_file() {
    let dir = TestDir::new();
    let bao = OpenBao::start(&dir);
    let token = dir.path().join("vault-token");
    fs::write(&token, format!("{}\n", OpenBao::ROOT_TOKEN)).expect("write the token file");
    let toml = format!(
        r#"[daemon]
state_dir = "{state}"
listen_metrics = "127.0.0.1:{port}"

[issuers.vault]
kind = "vault"
url = "{url}"
path = "pki_int/sign/{role}"
token = "file:{token}"
ttl = "24h"

[certificates.web]
domains = ["web.example.test", "www.example.test"]
issuer = "vault"
sinks = [{{ kind = "files", dir = "{out}" }}]
"#,
        state = dir.state_dir().display(),
        port = free_port(),
        url = bao.url(),
        role = OpenBao::ROLE,
        token = token.display(),
        out = dir.sink("web").path().display(),
    );
    dir.write_config(&toml);

    dir.acmekeep(&["--issue"])
        .assert_success()
        .assert_stdout_contains("1 issued, 0 still valid, 0 failed");
    let sink = dir.sink("web");
    assert_eq!(sink.dns_names(), ["web.example.test", "www.example.test"]);
    sink.assert_chains_to(&bao.root_file());
    sink.assert_key_matches_cert();
    assert!(sink.file("ca.pem").is_file(), "the root goes to ca.pem");
    let first = sink.serial();

    dir.acmekeep(&["--issue", "--force"]).assert_success();
    assert_ne!(sink.serial(), first, "a forced run renews through the role");
}

#[test]
fn a_name_the_role_forbids_fails_naming_the_role_and_the_name() {
    let dir = TestDir::new();
    let bao = OpenBao::start(&dir);
    let toml = format!(
        r#"[daemon]
state_dir = "{state}"
listen_metrics = "127.0.0.1:{port}"

[issuers.vault]
kind = "vault"
url = "{url}"
path = "pki_int/sign/{role}"
token = "{token}"

[certificates.web]
domains = ["web.elsewhere.test"]
issuer = "vault"
sinks = [{{ kind = "files", dir = "{out}" }}]
"#,
        state = dir.state_dir().display(),
        port = free_port(),
        url = bao.url(),
        role = OpenBao::ROLE,
        token = OpenBao::ROOT_TOKEN,
        out = dir.sink("web").path().display(),
    );
    dir.write_config(&toml);

    let run = dir.acmekeep(&["--issue"]);
    run.assert_exit(1)
        .assert_stdout_contains("web: FAILED")
        .assert_stdout_contains(OpenBao::ROLE)
        .assert_stdout_contains("web.elsewhere.test");
    assert!(dir.sink("web").is_empty());
}
