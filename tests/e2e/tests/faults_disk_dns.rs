//! Bad disks and a DNS outage, through the real binary.
//!
//! - A read-only sink directory (a read-only bind mount: root ignores permission bits) and a
//!   tiny tmpfs that fills up in the middle of writing a new version: the run exits 1, the
//!   error names the path and the reason, and the previous certificate stays served,
//!   byte for byte. (crates/sink-files' own tests cover the same failures at the library
//!   level; these check what the binary reports and that nothing above the sink touches the
//!   deployed files.)
//! - BIND down for 30 s when a DNS-01 issuance starts: the one-shot does not wait for it
//!   (zone discovery and the update are not retried; only the propagation check, which
//!   starts once the record is written, polls until `propagation_timeout`), so the run fails
//!   with the record it could not look up, deploys nothing, and the next run after BIND is
//!   back succeeds and leaves no record.

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use e2e::{
    BIND_KEY, Bind, BindZone, Mount, Pebble, PebbleOptions, Run, TestDir, restart_named, stop_named,
};

/// How long BIND stays down in the outage scenario.
const DNS_OUTAGE: Duration = Duration::from_secs(30);

fn local_ca_config(dir: &TestDir, sink: &Path) -> String {
    format!(
        "[daemon]\nstate_dir = \"{}\"\nlisten_metrics = \"127.0.0.1:{}\"\n\n\
         [issuers.local]\nkind = \"ca\"\ngenerate = true\n\n\
         [certificates.one]\ndomains = [\"one.example.test\"]\nissuer = \"local\"\n\
         sinks = [{{ kind = \"files\", dir = \"{}\" }}]\n",
        dir.state_dir().display(),
        e2e::free_port(),
        sink.display(),
    )
}

/// Every entry under `dir` (recursively, symlinks not followed) with its link target or
/// contents: equal snapshots mean nothing was changed, added or removed.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut entries = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in fs::read_dir(&current).expect("list the sink").flatten() {
            let path = entry.path();
            let kind = entry.file_type().expect("file type");
            let contents = if kind.is_symlink() {
                fs::read_link(&path)
                    .expect("read a link")
                    .into_os_string()
                    .into_encoded_bytes()
            } else if kind.is_dir() {
                pending.push(path.clone());
                b"<dir>".to_vec()
            } else {
                fs::read(&path).expect("read a file")
            };
            entries.push((path, contents));
        }
    }
    entries.sort();
    entries
}

/// Asserts the failed run exited 1 and its line for `one` names a path in `sink` and `reason`.
fn assert_failed_naming(run: &Run, sink: &Path, reason: &str) {
    run.assert_exit(1);
    let line = run.line_for("one");
    if !(line.contains("FAILED")
        && line.contains(&*sink.to_string_lossy())
        && line.contains(reason))
    {
        run.fail(&format!(
            "the failure must name a path in {} and say {reason:?}",
            sink.display()
        ));
    }
}

#[test]
fn a_read_only_sink_fails_the_run_naming_the_path_and_keeps_the_certificate() {
    let started = Instant::now();
    let dir = TestDir::new();
    let sink = dir.path().join("out/one");
    dir.write_config(&local_ca_config(&dir, &sink));
    dir.acmekeep(&["--issue"]).assert_success();
    let served = dir.sink("one").serial();
    let before = snapshot(&sink);

    let read_only = Mount::read_only_bind(&sink);
    let run = dir.acmekeep(&["--issue", "--force"]);

    assert_failed_naming(&run, &sink, "Read-only file system");
    assert_eq!(snapshot(&sink), before, "the deployed files changed\n{run}");
    assert_eq!(dir.sink("one").serial(), served);
    dir.sink("one").assert_key_matches_cert();

    drop(read_only);
    dir.acmekeep(&["--issue"]).assert_success();
    eprintln!("read-only sink: {:?}", started.elapsed());
}

#[test]
fn a_disk_that_fills_up_mid_write_fails_the_run_and_keeps_the_certificate() {
    let started = Instant::now();
    let dir = TestDir::new();
    let disk = Mount::tmpfs(&dir.path().join("out"), "64k");
    let sink = dir.path().join("out/one");
    dir.write_config(&local_ca_config(&dir, &sink));
    dir.acmekeep(&["--issue"]).assert_success();
    let served = dir.sink("one").serial();
    let before = snapshot(&sink);

    // Room for two of the new version's files (a tmpfs counts whole 4 KiB pages): the disk
    // fills up while the version is being written.
    disk.fill_leaving(8 * 1024);
    let run = dir.acmekeep(&["--issue", "--force"]);

    assert_failed_naming(&run, &sink, "No space left on device");
    let line = run.line_for("one");
    if !["fullchain.pem", "ca.pem", "privkey.pem"]
        .iter()
        .any(|file| line.contains(file))
    {
        run.fail("the disk must fill up after the first files of the version were written");
    }
    assert_eq!(snapshot(&sink), before, "the deployed files changed\n{run}");
    assert_eq!(dir.sink("one").serial(), served);

    fs::remove_file(dir.path().join("out/filler")).expect("free the disk");
    dir.acmekeep(&["--issue", "--force"]).assert_success();
    assert_ne!(dir.sink("one").serial(), served);
    dir.sink("one").assert_key_matches_cert();
    drop(disk);
    eprintln!("full disk: {:?}", started.elapsed());
}

/// A config issuing `www.example.test` from `pebble` through dns-01 on `bind`.
fn dns_config(dir: &TestDir, pebble: &Pebble, bind: &Bind, propagation_timeout: &str) -> String {
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
provider = "rfc2136"
nameserver = "{addr}"
tsig_key = "{BIND_KEY}"
tsig_secret = "{secret}"
nameservers = ["{addr}"]
authoritative_port = {port}
propagation_timeout = "{propagation_timeout}"

[certificates.one]
domains = ["www.example.test"]
issuer = "pebble"
sinks = [{{ kind = "files", dir = "{out}" }}]
"#,
        state = dir.state_dir().display(),
        metrics = e2e::free_port(),
        directory = pebble.directory_url(),
        bundle = pebble.ca_bundle().display(),
        addr = bind.address(),
        secret = bind.secret(),
        port = bind.port(),
        out = dir.sink("one").path().display(),
    )
}

fn bind_and_pebble(dir: &TestDir) -> (Bind, Pebble) {
    let bind = Bind::start(dir, &[BindZone::new("example.test")]);
    let pebble = Pebble::start(
        dir,
        PebbleOptions {
            dns_server: Some(bind.address()),
            ..PebbleOptions::default()
        },
    );
    (bind, pebble)
}

#[test]
fn bind_down_for_30_s_fails_the_one_shot_and_the_next_run_succeeds_leaving_no_record() {
    let started = Instant::now();
    let dir = TestDir::new();
    let (bind, pebble) = bind_and_pebble(&dir);
    dir.write_config(&dns_config(&dir, &pebble, &bind, "60s"));
    stop_named(dir.path(), &bind);
    let down = Instant::now();

    let run = dir.acmekeep(&["--issue"]);

    run.assert_exit(1);
    let line = run.line_for("one");
    if !(line.contains("_acme-challenge.www.example.test") && line.contains("timed out")) {
        run.fail("the failure must name the record it could not look up and say it timed out");
    }
    assert!(dir.sink("one").is_empty(), "nothing may be deployed\n{run}");
    assert_eq!(run.stdout().matches("FAILED").count(), 1);

    thread::sleep(DNS_OUTAGE.saturating_sub(down.elapsed()));
    let _restarted = restart_named(dir.path(), &bind, "example.test");
    dir.acmekeep(&["--issue"]).assert_success();
    assert_eq!(dir.sink("one").dns_names(), ["www.example.test"]);
    assert_eq!(
        bind.acme_challenge_records("example.test"),
        Vec::<String>::new()
    );
    eprintln!("DNS down before the write: {:?}", started.elapsed());
}
