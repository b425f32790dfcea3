//! What a store leaves on disk and what a load reads back.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use acme_core::Sink;
use common::{bundle, current_version, existing_group, mode, sink, version_dirs};
use sink_files::{FilesSink, FilesSinkConfig};

#[tokio::test]
async fn load_finds_nothing_deployed_in_a_missing_or_empty_dir() {
    let root = tempfile::tempdir().expect("tempdir");
    let missing = root.path().join("not-yet");
    assert_eq!(sink(&missing).load().await.expect("load missing"), None);
    assert!(!missing.exists(), "load must not create the directory");
    assert_eq!(sink(root.path()).load().await.expect("load empty"), None);
}

#[tokio::test]
async fn a_stored_bundle_loads_back_unchanged() {
    let root = tempfile::tempdir().expect("tempdir");
    let sink = sink(root.path());
    let stored = bundle(true);
    sink.store(&stored).await.expect("store");
    assert_eq!(sink.load().await.expect("load"), Some(stored));
}

#[tokio::test]
async fn stable_names_point_through_data_to_the_current_version() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path();
    let stored = bundle(true);
    sink(dir).store(&stored).await.expect("store");

    let version = current_version(dir);
    assert_eq!(version_dirs(dir), [version.as_str()]);
    assert!(version.starts_with("..20"), "{version}");
    for name in [
        "cert.pem",
        "chain.pem",
        "fullchain.pem",
        "privkey.pem",
        "ca.pem",
    ] {
        let link = fs::read_link(dir.join(name)).expect(name);
        assert_eq!(link, Path::new("..data").join(name));
        assert!(
            dir.join(&version).join(name).is_file(),
            "{name} in {version}"
        );
    }
    let read = |name: &str| fs::read_to_string(dir.join(name)).expect(name);
    assert_eq!(read("cert.pem"), stored.cert_pem);
    assert_eq!(read("chain.pem"), stored.chain_pem);
    assert_eq!(read("fullchain.pem"), stored.fullchain_pem());
    assert_eq!(read("privkey.pem"), stored.key.expose());
    assert_eq!(Some(read("ca.pem")), stored.ca_pem);
}

#[tokio::test]
async fn a_missing_dir_is_created_with_mode_0755() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("ssl").join("web");
    sink(&dir).store(&bundle(false)).await.expect("store");
    assert_eq!(mode(&dir), 0o755);
    assert_eq!(mode(&dir.join(current_version(&dir))), 0o755);
}

#[tokio::test]
async fn the_key_is_0600_and_the_certificates_0644() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path();
    sink(dir).store(&bundle(true)).await.expect("store");
    assert_eq!(mode(&dir.join("privkey.pem")), 0o600);
    for name in ["cert.pem", "chain.pem", "fullchain.pem", "ca.pem"] {
        assert_eq!(mode(&dir.join(name)), 0o644, "{name}");
    }
}

#[tokio::test]
async fn with_a_group_the_key_is_0640_and_owned_by_that_group() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path();
    let (group, gid) = existing_group();
    let config = FilesSinkConfig {
        group: Some(group),
        ..FilesSinkConfig::new(dir)
    };
    FilesSink::new(config)
        .expect("sink")
        .store(&bundle(false))
        .await
        .expect("store");
    let key = dir.join("privkey.pem");
    assert_eq!(mode(&key), 0o640);
    assert_eq!(fs::metadata(&key).expect("stat").gid(), gid);
    assert_eq!(mode(&dir.join("cert.pem")), 0o644);
}

#[tokio::test]
async fn a_second_store_swaps_to_the_new_bundle_and_keeps_the_previous_version() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path();
    let sink = sink(dir);
    let first = bundle(false);
    let second = bundle(false);
    sink.store(&first).await.expect("first store");
    let first_version = current_version(dir);
    sink.store(&second).await.expect("second store");

    assert_eq!(sink.load().await.expect("load"), Some(second.clone()));
    let second_version = current_version(dir);
    assert_ne!(first_version, second_version);
    assert_eq!(version_dirs(dir), [first_version, second_version]);
    assert_eq!(
        fs::read_to_string(dir.join("privkey.pem")).expect("key"),
        second.key.expose()
    );
    assert!(!dir.join("..data_tmp").exists());
}

#[tokio::test]
async fn versions_beyond_keep_are_pruned_newest_kept_current_never() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path();
    let config = FilesSinkConfig {
        keep: 2,
        ..FilesSinkConfig::new(dir)
    };
    let sink = FilesSink::new(config).expect("sink");
    let mut made = Vec::new();
    for _ in 0..5 {
        sink.store(&bundle(false)).await.expect("store");
        made.push(current_version(dir));
    }
    assert_eq!(version_dirs(dir), made[2..]);
    assert_eq!(current_version(dir), made[4]);
}

#[tokio::test]
async fn keep_zero_leaves_only_the_current_version() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path();
    let config = FilesSinkConfig {
        keep: 0,
        ..FilesSinkConfig::new(dir)
    };
    let sink = FilesSink::new(config).expect("sink");
    let last = bundle(false);
    sink.store(&bundle(false)).await.expect("first store");
    sink.store(&last).await.expect("second store");
    assert_eq!(version_dirs(dir), [current_version(dir)]);
    assert_eq!(sink.load().await.expect("load"), Some(last));
}

#[tokio::test]
async fn ca_pem_exists_only_while_the_current_bundle_has_a_ca() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path();
    let sink = sink(dir);
    sink.store(&bundle(true)).await.expect("store with CA");
    assert!(dir.join("ca.pem").is_file());

    let without = bundle(false);
    sink.store(&without).await.expect("store without CA");
    assert!(fs::symlink_metadata(dir.join("ca.pem")).is_err());
    assert!(!dir.join(current_version(dir)).join("ca.pem").exists());
    assert_eq!(sink.load().await.expect("load"), Some(without));
}

#[tokio::test]
async fn errors_name_the_sink_and_the_offending_path() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("web");
    fs::write(&dir, "not a directory").expect("plant file");
    let err = sink(&dir).store(&bundle(false)).await.expect_err("store");
    let shown = dir.display();
    assert_eq!(
        err.to_string(),
        format!(
            "sink files:{shown}: {shown}: a regular file, expected a directory; \
             refusing to use or replace it (remove it if it is stale)"
        )
    );
}
