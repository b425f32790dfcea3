//! The sink never writes through entries it did not create: a planted `..data` or stable
//! name is refused, and nothing outside the directory is touched.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use acme_core::Sink;
use common::{bundle, current_version, mode, sink, sink_error, version_dirs};

/// Asserts that a store into `dir` is refused because of `planted`, and writes nothing.
async fn assert_store_refused(dir: &Path, planted: &str) {
    let versions_before = version_dirs(dir);
    let err = sink(dir).store(&bundle(true)).await.expect_err("store");
    let message = err.to_string();
    assert!(
        matches!(sink_error(&err), sink_files::Error::Unexpected { path, .. } if path == &dir.join(planted)),
        "{message}"
    );
    assert!(message.contains("refusing"), "{message}");
    assert_eq!(version_dirs(dir), versions_before, "no new version dir");
}

#[tokio::test]
async fn a_data_link_pointing_outside_dir_is_refused_and_nothing_is_written_there() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("web");
    let outside = root.path().join("outside");
    fs::create_dir_all(&dir).expect("dir");
    fs::create_dir_all(outside.join("..2026_01_01_00_00_00.000000")).expect("outside");
    for target in [
        outside.clone(),
        outside.join("..2026_01_01_00_00_00.000000"),
        Path::new("../outside/..2026_01_01_00_00_00.000000").to_path_buf(),
    ] {
        let data = dir.join("..data");
        let _ = fs::remove_file(&data);
        symlink(&target, &data).expect("plant ..data");
        assert_store_refused(&dir, "..data").await;
        let err = sink(&dir).load().await.expect_err("load");
        assert!(err.to_string().contains("..data"), "{err}");
        assert_eq!(
            fs::read_dir(outside.join("..2026_01_01_00_00_00.000000"))
                .expect("outside")
                .count(),
            0,
            "nothing written outside through {}",
            target.display()
        );
        assert!(fs::symlink_metadata(dir.join("cert.pem")).is_err());
    }
}

#[tokio::test]
async fn a_data_entry_that_is_a_plain_directory_is_refused() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path();
    fs::create_dir(dir.join("..data")).expect("plant dir");
    assert_store_refused(dir, "..data").await;
    assert!(sink(dir).load().await.is_err());
}

#[tokio::test]
async fn a_key_name_linked_to_a_file_outside_dir_is_refused_and_the_file_is_untouched() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("web");
    let passwd = root.path().join("passwd");
    fs::write(&passwd, "root:x:0:0:root:/root:/bin/bash\n").expect("passwd");
    let passwd_mode = mode(&passwd);

    let sink = sink(&dir);
    let deployed = bundle(true);
    sink.store(&deployed).await.expect("first store");
    fs::remove_file(dir.join("privkey.pem")).expect("remove link");
    symlink(&passwd, dir.join("privkey.pem")).expect("plant link");

    assert_store_refused(&dir, "privkey.pem").await;
    assert_eq!(
        fs::read_to_string(&passwd).expect("passwd"),
        "root:x:0:0:root:/root:/bin/bash\n"
    );
    assert_eq!(mode(&passwd), passwd_mode);
    assert_eq!(sink.load().await.expect("load"), Some(deployed));
}

#[tokio::test]
async fn a_stable_name_that_is_a_regular_file_is_refused_and_kept() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path();
    fs::write(dir.join("cert.pem"), "an operator's own file").expect("plant file");
    assert_store_refused(dir, "cert.pem").await;
    assert_eq!(
        fs::read_to_string(dir.join("cert.pem")).expect("cert.pem"),
        "an operator's own file"
    );
}

#[tokio::test]
async fn load_does_not_follow_a_symlink_planted_inside_the_version() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("web");
    let secret = root.path().join("secret");
    fs::write(&secret, "not for the sink").expect("secret");
    sink(&dir).store(&bundle(false)).await.expect("store");
    let key = dir.join(current_version(&dir)).join("privkey.pem");
    fs::remove_file(&key).expect("remove key");
    symlink(&secret, &key).expect("plant link");

    let err = sink(&dir).load().await.expect_err("load");
    assert!(
        matches!(sink_error(&err), sink_files::Error::Io { path, .. } if path == &key),
        "{err}"
    );
}
