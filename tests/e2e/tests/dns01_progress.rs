//! A DNS-01 propagation that takes longer than a few seconds says what it waits for while it
//! waits, instead of staying silent until it ends or times out. Real pebble and
//! challtestsrv; an exec provider script that makes the record visible only after 7 s.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use e2e::{Pebble, PebbleOptions, TestDir};

/// Writes an executable shell script with `body`.
fn write_script(path: &std::path::Path, body: &str) {
    fs::write(path, format!("#!/bin/sh\n{body}")).expect("write the script");
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod the script");
}

#[test]
fn a_slow_propagation_logs_the_record_the_lagging_server_and_the_time_waited() {
    let dir = TestDir::new();
    let pebble = Pebble::start(&dir, PebbleOptions::default());
    let script = dir.path().join("slow-dns.sh");
    let later = dir.path().join("set-later.sh");
    // present: the record appears 7 s later, from a detached process (a slow provider);
    // cleanup: removed at once.
    let url = pebble.challtestsrv_url();
    write_script(
        &later,
        &format!(
            "sleep 7\ncurl -sf -d \"{{\\\"host\\\":\\\"$1\\\",\\\"value\\\":\\\"$2\\\"}}\" {url}/set-txt\n"
        ),
    );
    write_script(
        &script,
        &format!(
            "case \"$1\" in\n\
             present) setsid -f {later} \"$2\" \"$3\" >/dev/null 2>&1 </dev/null;;\n\
             cleanup) curl -sf -d \"{{\\\"host\\\":\\\"$2\\\"}}\" {url}/clear-txt;;\nesac\n",
            later = later.display(),
        ),
    );
    dir.write_config(&format!(
        r#"[daemon]
state_dir = "{state}"
listen_metrics = "127.0.0.1:{metrics}"

[issuers.pebble]
kind = "acme"
directory = "{directory}"
ca_bundle = "{bundle}"

[solvers.dns]
kind = "dns-01"
provider = "exec"
command = "{script}"
zones = ["example.test"]
zone = "example.test"
resolvers = ["{dns}"]
propagation_timeout = "40s"

[certificates.one]
domains = ["www.example.test"]
issuer = "pebble"
sinks = [{{ kind = "files", dir = "{out}" }}]
"#,
        state = dir.state_dir().display(),
        metrics = e2e::free_port(),
        directory = pebble.directory_url(),
        bundle = pebble.ca_bundle().display(),
        script = script.display(),
        dns = pebble.challtestsrv_dns(),
        out = dir.path().join("out/one").display(),
    ));

    let run = dir.acmekeep(&["--issue"]);
    run.assert_success();
    let waiting: Vec<&str> = run
        .stderr()
        .lines()
        .filter(|line| {
            line.contains("still waiting for every server to serve the challenge TXT value")
        })
        .collect();
    assert!(!waiting.is_empty(), "a progress line while waiting\n{run}");
    assert!(
        waiting.len() <= 2,
        "one line every 5 s, not one per poll: {waiting:#?}"
    );
    let line = waiting[0];
    for part in [
        "record=_acme-challenge.www.example.test",
        &pebble.challtestsrv_dns().to_string(),
        "waited_s=",
    ] {
        assert!(line.contains(part), "the line names {part}: {line}");
    }
}
