//! A load notices files that disagree, naming the one that differs; a preflight refuses,
//! before anything is ordered, a directory a store could not use.

mod common;

use std::fs;
use std::path::Path;

use acme_core::{HealthStatus, Sink};
use common::{bundle, sink, sink_error};

/// Stores a bundle in `dir`, then overwrites the deployed file `name` with `contents`
/// through its stable name (as `cp` does), and returns the load error.
async fn load_after_replacing(dir: &Path, name: &str, contents: &str) -> String {
    let sink = sink(dir);
    sink.store(&bundle(false)).await.expect("store");
    fs::write(dir.join(name), contents).expect("replace a deployed file");
    sink_error(&sink.load().await.expect_err("files that disagree")).to_string()
}

#[tokio::test]
async fn a_fullchain_holding_another_certificate_is_named() {
    let root = tempfile::tempdir().expect("tempdir");
    let other = bundle(false).fullchain_pem();
    let err = load_after_replacing(root.path(), "fullchain.pem", &other).await;
    let path = root.path().join("fullchain.pem");
    assert!(
        err.starts_with(&format!(
            "{}: does not start with the certificate in cert.pem",
            path.display()
        )),
        "{err}"
    );
    assert!(err.contains("must be deployed again"), "{err}");
}

#[tokio::test]
async fn a_chain_that_differs_from_the_fullchain_is_named() {
    let root = tempfile::tempdir().expect("tempdir");
    let other = bundle(false).chain_pem;
    let err = load_after_replacing(root.path(), "chain.pem", &other).await;
    let path = root.path().join("chain.pem");
    assert!(err.starts_with(&format!("{}: ", path.display())), "{err}");
}

#[tokio::test]
async fn a_key_that_belongs_to_another_certificate_is_named() {
    let root = tempfile::tempdir().expect("tempdir");
    let other = bundle(false).key.expose().to_owned();
    let err = load_after_replacing(root.path(), "privkey.pem", &other).await;
    let path = root.path().join("privkey.pem");
    assert_eq!(
        err,
        format!(
            "{}: is not the key of cert.pem (replaced or edited on its own); the certificate must be deployed again",
            path.display()
        )
    );
    assert!(!err.contains("PRIVATE KEY"), "{err}");
}

#[tokio::test]
async fn a_replaced_cert_is_named_when_the_key_and_fullchain_still_agree() {
    let root = tempfile::tempdir().expect("tempdir");
    let other = bundle(false).cert_pem;
    let err = load_after_replacing(root.path(), "cert.pem", &other).await;
    let path = root.path().join("cert.pem");
    assert!(err.starts_with(&format!("{}: ", path.display())), "{err}");
}

#[tokio::test]
async fn preflight_creates_a_missing_dir_and_leaves_nothing_else_behind() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("new/web");
    sink(&dir).preflight().await.expect("preflight");
    assert!(dir.is_dir());
    assert_eq!(fs::read_dir(&dir).expect("list").count(), 0);
}

#[tokio::test]
async fn preflight_refuses_a_dir_below_a_regular_file_naming_it() {
    let root = tempfile::tempdir().expect("tempdir");
    fs::write(root.path().join("plain"), "x").expect("write");
    let dir = root.path().join("plain/web");
    let err = sink_error(&sink(&dir).preflight().await.expect_err("not a directory")).to_string();
    assert!(err.contains(&*dir.to_string_lossy()), "{err}");
    assert!(err.contains("Not a directory"), "{err}");
}

#[tokio::test]
async fn preflight_refuses_a_stable_name_the_sink_would_refuse_to_replace() {
    let root = tempfile::tempdir().expect("tempdir");
    fs::write(root.path().join("fullchain.pem"), "copied by hand").expect("write");
    let err = sink_error(
        &sink(root.path())
            .preflight()
            .await
            .expect_err("regular file"),
    )
    .to_string();
    assert!(
        err.contains("a regular file, expected a symlink to ..data/fullchain.pem"),
        "{err}"
    );
}

#[tokio::test]
async fn a_deployment_still_loads_after_a_preflight() {
    let root = tempfile::tempdir().expect("tempdir");
    let sink = sink(root.path());
    let stored = bundle(true);
    sink.store(&stored).await.expect("store");
    sink.preflight().await.expect("preflight");
    assert_eq!(sink.load().await.expect("load"), Some(stored));
}

#[tokio::test]
async fn health_of_a_missing_dir_says_where_it_would_be_created_without_creating_it() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("new/web");
    let health = sink(&dir).health().await;
    assert_eq!(health.status, HealthStatus::Healthy, "{health}");
    assert_eq!(health.endpoint, format!("files:{}", dir.display()));
    assert_eq!(
        health.detail,
        format!(
            "does not exist yet; the first store creates it in {}",
            root.path().display()
        )
    );
    assert!(!root.path().join("new").exists());
}

#[tokio::test]
async fn health_runs_the_preflight_on_an_existing_dir_and_refuses_what_it_refuses() {
    let root = tempfile::tempdir().expect("tempdir");
    let health = sink(root.path()).health().await;
    assert_eq!(health.status, HealthStatus::Healthy, "{health}");
    assert_eq!(fs::read_dir(root.path()).expect("list").count(), 0);

    fs::write(root.path().join("fullchain.pem"), "copied by hand").expect("write");
    let health = sink(root.path()).health().await;
    assert_eq!(health.status, HealthStatus::Refused, "{health}");
    assert!(
        health
            .detail
            .contains("a regular file, expected a symlink to ..data/fullchain.pem"),
        "{health}"
    );

    let below_a_file = root.path().join("fullchain.pem/web");
    let health = sink(&below_a_file).health().await;
    assert_eq!(health.status, HealthStatus::Refused, "{health}");
    assert!(health.detail.contains("Not a directory"), "{health}");
}
