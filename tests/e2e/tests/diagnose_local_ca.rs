//! `diagnose` on the README demo (`config/demo.toml`: a generated local CA, a files sink)
//! trusts the issuer's own root for chains from that issuer, so a healthy demo is not
//! reported as a "missing intermediate"; a chain that does not lead to the sink's CA still is.

use std::fs;
use std::path::Path;

use e2e::TestDir;

/// The repository's `config/demo.toml`, with a second local CA and certificate added, written
/// as the test's config; its relative paths land in the test directory.
fn write_demo(dir: &TestDir) {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/demo.toml");
    let text = fs::read_to_string(&demo).expect("read config/demo.toml");
    let root = dir.path().display().to_string();
    let text = text.replace("\"../demo/", &format!("\"{root}/demo/"));
    dir.write_config(&format!(
        "{text}\n[issuers.other-ca]\nkind = \"ca\"\ngenerate = true\n\n\
         [certificates.api]\ndomains = [\"api.demo.test\"]\nissuer = \"other-ca\"\n\
         sinks = [{{ kind = \"files\", dir = \"{root}/demo/certs/api\" }}]\n"
    ));
}

#[test]
fn diagnose_trusts_the_local_ca_of_the_demo_and_still_reports_a_foreign_chain() {
    let dir = TestDir::new();
    write_demo(&dir);
    dir.acmekeep(&["--issue"])
        .assert_success()
        .assert_stdout_contains("2 issued, 0 still valid, 0 failed");

    for _ in 0..2 {
        let run = dir.acmekeep(&["diagnose", "--no-probe"]);
        run.assert_success();
        for complaint in ["incomplete-chain", "chain-untrusted", "intermediate"] {
            assert!(
                !run.stdout().contains(complaint),
                "a healthy demo has no chain complaint ({complaint})\n{run}"
            );
        }
    }

    // The sink's CA is now another CA than the one that signed its certificate.
    let other_root = dir.path().join("demo/state/ca/other-ca/ca.pem");
    let www_ca = dir.path().join("demo/certs/www/ca.pem");
    fs::copy(&other_root, &www_ca).expect("replace www's ca.pem");
    let run = dir.acmekeep(&["diagnose", "--no-probe", "www"]);
    run.assert_exit(1);
    assert!(
        ["incomplete-chain", "invalid-chain"]
            .iter()
            .any(|check| run.stdout().contains(&format!("ERROR {check}: files:"))),
        "a chain that does not lead to the sink's CA is reported\n{run}"
    );
}
