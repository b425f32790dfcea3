//! A store that fails for real (a full or read-only filesystem) leaves the deployed
//! version exactly as it was. These tests mount a tmpfs, so they need root.

mod common;

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::Path;
use std::process::Command;

use acme_core::Sink;
use common::{bundle, current_version, sink, sink_error, version_dirs};

/// A small tmpfs mounted on a temporary directory, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test needs root: it mounts a tmpfs to cause real ENOSPC and EROFS failures"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        run(Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path()));
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn run(command: &mut Command) {
    let status = command.status().expect("start command");
    assert!(status.success(), "{command:?} failed: {status}");
}

/// Writes into `dir/filler` until the filesystem is full.
fn fill(dir: &Path) {
    let mut filler = OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(dir.join("filler"))
        .expect("filler");
    let chunk = vec![0u8; 64 * 1024];
    let err = loop {
        if let Err(e) = filler.write_all(&chunk) {
            break e;
        }
    };
    assert_eq!(err.kind(), ErrorKind::StorageFull, "{err}");
}

/// Asserts that `dir` still serves `deployed`, byte for byte, from its only version.
async fn assert_untouched(dir: &Path, deployed: &acme_core::Bundle, version: &str) {
    assert_eq!(
        sink(dir).load().await.expect("load"),
        Some(deployed.clone())
    );
    assert_eq!(current_version(dir), version);
    assert_eq!(version_dirs(dir), [version], "no half-written version left");
    assert!(fs::symlink_metadata(dir.join("..data_tmp")).is_err());
    assert_eq!(
        fs::read(dir.join("fullchain.pem")).expect("fullchain"),
        deployed.fullchain_pem().as_bytes()
    );
    assert_eq!(
        fs::read(dir.join("privkey.pem")).expect("key"),
        deployed.key.expose().as_bytes()
    );
}

#[tokio::test]
async fn a_full_disk_fails_the_store_with_the_path_and_keeps_the_previous_version() {
    let tmpfs = Tmpfs::mount("256k");
    let dir = tmpfs.path();
    let sink = sink(dir);
    let deployed = bundle(true);
    sink.store(&deployed).await.expect("first store");
    let version = current_version(dir);

    fill(dir);
    let err = sink
        .store(&bundle(true))
        .await
        .expect_err("store on a full disk");
    let message = err.to_string();
    assert!(message.contains("No space left on device"), "{message}");
    match sink_error(&err) {
        sink_files::Error::Io { path, source } => {
            assert_eq!(source.kind(), ErrorKind::StorageFull, "{message}");
            let new_version = path.parent().expect("a file inside a version dir");
            assert_eq!(new_version.parent(), Some(dir), "{message}");
            let name = new_version.file_name().and_then(|n| n.to_str());
            assert!(
                name.is_some_and(|n| n.starts_with("..20") && n != version),
                "names the file of the new version: {message}"
            );
            assert!(message.contains(&path.display().to_string()), "{message}");
        }
        other => panic!("expected an I/O error, got {other}"),
    }
    assert_untouched(dir, &deployed, &version).await;

    fs::remove_file(dir.join("filler")).expect("free space");
    let next = bundle(false);
    sink.store(&next)
        .await
        .expect("store once there is space again");
    assert_eq!(sink.load().await.expect("load"), Some(next));
}

#[tokio::test]
async fn a_read_only_filesystem_fails_the_store_and_keeps_the_previous_version() {
    let tmpfs = Tmpfs::mount("1m");
    let dir = tmpfs.path();
    let sink = sink(dir);
    let deployed = bundle(false);
    sink.store(&deployed).await.expect("first store");
    let version = current_version(dir);

    run(Command::new("mount").args(["-o", "remount,ro"]).arg(dir));
    let err = sink
        .store(&bundle(false))
        .await
        .expect_err("store on a read-only fs");
    let message = err.to_string();
    assert!(message.contains("Read-only file system"), "{message}");
    match sink_error(&err) {
        sink_files::Error::Io { path, source } => {
            assert_eq!(source.kind(), ErrorKind::ReadOnlyFilesystem, "{message}");
            assert!(path.starts_with(dir), "names a path in the dir: {message}");
        }
        other => panic!("expected an I/O error, got {other}"),
    }
    assert_untouched(dir, &deployed, &version).await;
}
