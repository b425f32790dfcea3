//! `preferred_chain` on an ACME issuer, against pebble issuing under alternate roots: every
//! certificate comes with a default chain (up to root 0) and one alternate chain per extra
//! root (`Link: rel="alternate"`). The roots are taken from pebble's management API and
//! the delivered chain is checked with openssl.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use e2e::{Config, Pebble, PebbleOptions, Run, SinkDir, TestDir};

/// One of pebble's roots: where its PEM was written and its Common Name.
struct Root {
    file: PathBuf,
    name: String,
}

/// Starts pebble with two alternate roots (three in all) and `chain_length`.
fn pebble_with_three_roots(dir: &TestDir, chain_length: Option<u32>) -> Pebble {
    Pebble::start(
        dir,
        PebbleOptions {
            alternate_roots: 2,
            chain_length,
            ..PebbleOptions::default()
        },
    )
}

/// GETs `path` from pebble's management API.
fn management(pebble: &Pebble, path: &str) -> String {
    let url = format!("{}{path}", pebble.management_url());
    let ca_bundle = pebble.ca_bundle().to_string_lossy().into_owned();
    let output = Command::new("curl")
        .args([
            "--silent",
            "--show-error",
            "--fail",
            "--cacert",
            &ca_bundle,
            &url,
        ])
        .output()
        .expect("run curl");
    assert!(
        output.status.success(),
        "curl {url} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("PEM is text")
}

/// The subject Common Name of the first certificate in `file`, as openssl reads it.
fn subject_cn(file: &str) -> String {
    let subject = openssl(&[
        "x509", "-in", file, "-noout", "-subject", "-nameopt", "RFC2253",
    ]);
    subject
        .trim()
        .trim_start_matches("subject=")
        .split(',')
        .find_map(|rdn| rdn.strip_prefix("CN="))
        .unwrap_or_else(|| panic!("no CN in {subject:?}"))
        .to_string()
}

/// Root `n` (0 is the default chain's), written to `DIR/root-N.pem`.
fn root(dir: &TestDir, pebble: &Pebble, n: u32) -> Root {
    let file = dir.path().join(format!("root-{n}.pem"));
    fs::write(&file, management(pebble, &format!("/roots/{n}"))).expect("write root");
    let name = subject_cn(&file.to_string_lossy());
    Root { file, name }
}

fn openssl(args: &[&str]) -> String {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        output.status.success(),
        "openssl {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Whether openssl verifies `cert.pem` up to `root` with `chain.pem` as the intermediates.
fn chains_to(sink: &SinkDir, root: &Root) -> bool {
    let chain = sink.file("chain.pem").to_string_lossy().into_owned();
    let cert = sink.file("cert.pem").to_string_lossy().into_owned();
    let root = root.file.to_string_lossy().into_owned();
    Command::new("openssl")
        .args(["verify", "-CAfile", &root, "-untrusted", &chain, &cert])
        .output()
        .expect("run openssl")
        .status
        .success()
}

/// The issuer Common Name of the last certificate in `chain.pem`: the root it leads to.
fn top_issuer(dir: &TestDir, sink: &SinkDir) -> String {
    let chain = fs::read_to_string(sink.file("chain.pem")).expect("read chain.pem");
    let last = chain
        .rsplit_once("-----BEGIN CERTIFICATE-----")
        .map(|(_, last)| format!("-----BEGIN CERTIFICATE-----{last}"))
        .expect("chain.pem holds a certificate");
    let file = dir.path().join("top.pem");
    fs::write(&file, last).expect("write the top certificate");
    let issuer = openssl(&[
        "x509",
        "-in",
        &file.to_string_lossy(),
        "-noout",
        "-issuer",
        "-nameopt",
        "RFC2253",
    ]);
    fs::remove_file(&file).expect("remove the top certificate");
    issuer
        .trim()
        .trim_start_matches("issuer=")
        .trim_start_matches("CN=")
        .to_string()
}

/// Issues certificate `one` with `config` and returns the run and its sink.
fn issue(dir: &TestDir, config: Config) -> (Run, SinkDir) {
    dir.write_config(&config.certificate("one", &["a.example.test"]).to_toml());
    let run = dir.acmekeep(&["--issue"]);
    run.assert_success()
        .assert_stdout_contains("1 issued, 0 still valid, 0 failed");
    (run, dir.sink("one"))
}

#[test]
fn the_chain_up_to_the_preferred_root_is_delivered() {
    let dir = TestDir::new();
    let pebble = pebble_with_three_roots(&dir, None);
    let roots: Vec<Root> = (0..3).map(|n| root(&dir, &pebble, n)).collect();

    let (run, sink) = issue(
        &dir,
        Config::for_pebble(&dir, &pebble).preferred_chain(&roots[2].name),
    );

    assert!(chains_to(&sink, &roots[2]), "must chain to root 2\n{run}");
    assert!(
        !chains_to(&sink, &roots[0]),
        "the default chain (root 0) must not be the one delivered\n{run}"
    );
    assert_eq!(top_issuer(&dir, &sink), roots[2].name);
    sink.assert_fullchain_starts_with_cert();
    run.assert_stderr_contains("using alternate chain 2 of 2");
}

#[test]
fn without_preferred_chain_the_default_chain_is_delivered() {
    let dir = TestDir::new();
    let pebble = pebble_with_three_roots(&dir, None);
    let roots: Vec<Root> = (0..3).map(|n| root(&dir, &pebble, n)).collect();

    let (run, sink) = issue(&dir, Config::for_pebble(&dir, &pebble));

    assert!(chains_to(&sink, &roots[0]), "must chain to root 0\n{run}");
    for alternate in &roots[1..] {
        assert!(!chains_to(&sink, alternate), "{}\n{run}", alternate.name);
    }
    assert_eq!(top_issuer(&dir, &sink), roots[0].name);
}

#[test]
fn an_unknown_name_falls_back_to_the_default_chain_and_logs_the_offered_roots() {
    let dir = TestDir::new();
    let pebble = pebble_with_three_roots(&dir, None);
    let roots: Vec<Root> = (0..3).map(|n| root(&dir, &pebble, n)).collect();

    let (run, sink) = issue(
        &dir,
        Config::for_pebble(&dir, &pebble).preferred_chain("Nobody Root CA"),
    );

    assert!(chains_to(&sink, &roots[0]), "must chain to root 0\n{run}");
    assert_eq!(top_issuer(&dir, &sink), roots[0].name);
    run.assert_stderr_contains(
        "no chain the CA offers is issued by or contains \"Nobody Root CA\"; using the default chain",
    );
    let offered = roots
        .iter()
        .map(|root| format!("{:?}", root.name))
        .collect::<Vec<_>>()
        .join(", ");
    run.assert_stderr_contains(&format!("chains offered end at issuers: {offered}"));
}

#[test]
fn a_longer_chain_is_chosen_whole_by_its_root() {
    let dir = TestDir::new();
    let pebble = pebble_with_three_roots(&dir, Some(3));
    let roots: Vec<Root> = (0..3).map(|n| root(&dir, &pebble, n)).collect();

    let (run, sink) = issue(
        &dir,
        Config::for_pebble(&dir, &pebble).preferred_chain(&roots[1].name),
    );

    assert!(chains_to(&sink, &roots[1]), "must chain to root 1\n{run}");
    assert!(!chains_to(&sink, &roots[0]), "not to root 0\n{run}");
    assert_eq!(top_issuer(&dir, &sink), roots[1].name);
    let chain = fs::read_to_string(sink.file("chain.pem")).expect("read chain.pem");
    assert_eq!(
        chain.matches("-----BEGIN CERTIFICATE-----").count(),
        3,
        "chain length 3 means three intermediates, all delivered:\n{chain}"
    );
}

/// The Common Names of chain `root`'s certificates, root first, as pebble logged them at
/// start ("Generated issuance chain: Root -> Intermediate … -> Intermediate"): its
/// management API serves only the root and the intermediate shared by all chains.
fn logged_chain(dir: &TestDir, root: &Root) -> Vec<String> {
    let log = fs::read_to_string(dir.path().join("pebble").join("pebble.log")).expect("log");
    log.lines()
        .filter_map(|line| line.split_once("Generated issuance chain: "))
        .map(|(_, chain)| chain.split(" -> ").map(str::to_string).collect::<Vec<_>>())
        .find(|chain| chain.first() == Some(&root.name))
        .unwrap_or_else(|| panic!("pebble logged no chain for {}:\n{log}", root.name))
}

#[test]
fn an_intermediate_name_found_only_in_an_alternate_chain_picks_that_chain() {
    let dir = TestDir::new();
    let pebble = pebble_with_three_roots(&dir, Some(3));
    let roots: Vec<Root> = (0..3).map(|n| root(&dir, &pebble, n)).collect();
    let chain = logged_chain(&dir, &roots[2]);
    assert_eq!(chain.len(), 4, "root and three intermediates: {chain:?}");
    // Below the root: chain 2's own intermediates, then the one all chains share.
    let name = &chain[2];

    let (run, sink) = issue(
        &dir,
        Config::for_pebble(&dir, &pebble).preferred_chain(name),
    );

    assert!(
        chains_to(&sink, &roots[2]),
        "{name} is in chain 2 only, which must be delivered\n{run}"
    );
    assert!(!chains_to(&sink, &roots[0]), "not to root 0\n{run}");
}

#[test]
fn alternate_chains_are_fetched_despite_rejected_nonces() {
    let dir = TestDir::new();
    let pebble = Pebble::start(
        &dir,
        PebbleOptions {
            alternate_roots: 2,
            nonce_reject_percent: 30,
            ..PebbleOptions::default()
        },
    );
    let roots: Vec<Root> = (0..3).map(|n| root(&dir, &pebble, n)).collect();

    let (run, sink) = issue(
        &dir,
        Config::for_pebble(&dir, &pebble).preferred_chain(&roots[1].name),
    );

    assert!(chains_to(&sink, &roots[1]), "must chain to root 1\n{run}");
    assert_eq!(top_issuer(&dir, &sink), roots[1].name);
}
