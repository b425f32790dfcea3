//! Webroot mode: challenge files under an existing web server's document root.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use acme_core::Solver;
use common::challenge;
use http01::{Http01Config, Http01Solver};

const TOKEN: &str = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";

fn solver_for(webroot: &Path) -> Http01Solver {
    let config = Http01Config {
        listen: None,
        webroot: Some(webroot.to_path_buf()),
    };
    Http01Solver::new("www".to_string(), config).expect("valid config")
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

/// Every file and directory under `root`, relative to it, sorted.
fn tree(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path.clone());
            }
            found.push(path.strip_prefix(root).expect("under root").to_path_buf());
        }
    }
    found.sort();
    found
}

#[tokio::test]
async fn present_writes_the_key_authorization_where_the_ca_will_look() {
    let webroot = tempfile::tempdir().expect("tempdir");
    let solver = solver_for(webroot.path());
    solver.present(&challenge(TOKEN)).await.expect("present");

    let dir = webroot.path().join(".well-known/acme-challenge");
    let file = dir.join(TOKEN);
    assert_eq!(
        fs::read_to_string(&file).expect("challenge file"),
        challenge(TOKEN).key_authorization
    );
    assert_eq!(mode(&file), 0o644);
    assert_eq!(mode(&dir), 0o755);
    assert_eq!(mode(dir.parent().expect("well-known")), 0o755);
    assert_eq!(
        tree(webroot.path()),
        [
            PathBuf::from(".well-known"),
            PathBuf::from(".well-known/acme-challenge"),
            PathBuf::from(".well-known/acme-challenge").join(TOKEN),
        ],
        "no temporary file is left behind"
    );
    assert_eq!(solver.local_addr().await, None);
}

#[tokio::test]
async fn cleanup_removes_the_file_and_leaves_the_directories() {
    let webroot = tempfile::tempdir().expect("tempdir");
    let solver = solver_for(webroot.path());
    solver.present(&challenge(TOKEN)).await.expect("present");
    solver.cleanup(&challenge(TOKEN)).await.expect("cleanup");

    let dir = webroot.path().join(".well-known/acme-challenge");
    assert!(!dir.join(TOKEN).exists());
    assert!(dir.is_dir());
}

#[tokio::test]
async fn cleanup_after_a_failed_present_succeeds() {
    let webroot = tempfile::tempdir().expect("tempdir");
    let solver = solver_for(webroot.path());
    solver
        .cleanup(&challenge(TOKEN))
        .await
        .expect("nothing to remove is fine");
}

#[tokio::test]
async fn existing_challenge_directories_are_used_as_they_are() {
    let webroot = tempfile::tempdir().expect("tempdir");
    let dir = webroot.path().join(".well-known/acme-challenge");
    fs::create_dir_all(&dir).expect("create");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o775)).expect("chmod");

    let solver = solver_for(webroot.path());
    solver.present(&challenge(TOKEN)).await.expect("present");
    assert!(dir.join(TOKEN).is_file());
    assert_eq!(mode(&dir), 0o775);
}

#[tokio::test]
async fn a_bad_token_is_refused_and_nothing_is_written() {
    let sandbox = tempfile::tempdir().expect("tempdir");
    let webroot = sandbox.path().join("www");
    fs::create_dir(&webroot).expect("webroot");
    let solver = solver_for(&webroot);

    for token in ["../../escaped", "..", ".", "a/b", "/etc/escaped", "a.b", ""] {
        let error = solver
            .present(&challenge(token))
            .await
            .expect_err("refused");
        let message = error.to_string();
        assert!(message.starts_with("solver www: "), "{message}");
        assert!(message.contains(&format!("{token:?}")), "{message}");
    }
    assert_eq!(tree(sandbox.path()), [PathBuf::from("www")]);
}

#[tokio::test]
async fn a_missing_webroot_is_reported_and_not_created() {
    let sandbox = tempfile::tempdir().expect("tempdir");
    let webroot = sandbox.path().join("no-such-dir");
    let solver = solver_for(&webroot);

    let error = solver
        .present(&challenge(TOKEN))
        .await
        .expect_err("missing webroot");
    let message = error.to_string();
    assert!(
        message.contains(&webroot.display().to_string()),
        "{message}"
    );
    assert!(!webroot.exists());
}

/// Regression (issue 12, item 1): presenting a token deleted the files of every other token
/// of the same account, so an order for several names (acme-core presents every authorization
/// before answering any) or two certificates issued at once never validated.
#[tokio::test]
async fn tokens_presented_together_are_all_served_until_each_is_cleaned_up() {
    let webroot = tempfile::tempdir().expect("tempdir");
    let dir = webroot.path().join(".well-known/acme-challenge");
    let tokens = ["first-token", "second-token", "third-token"];
    let solver = solver_for(webroot.path());
    let other_certificate = solver_for(webroot.path());
    for (i, token) in tokens.iter().enumerate() {
        let solver = if i == 1 { &other_certificate } else { &solver };
        solver.present(&challenge(token)).await.expect("present");
    }
    for token in tokens {
        assert_eq!(
            fs::read_to_string(dir.join(token)).expect("a presented token is served"),
            challenge(token).key_authorization
        );
    }

    solver
        .cleanup(&challenge("first-token"))
        .await
        .expect("cleanup");
    assert!(!dir.join("first-token").exists());
    assert!(dir.join("second-token").is_file());
    assert!(dir.join("third-token").is_file());
}

#[tokio::test]
async fn a_symlinked_well_known_or_challenge_directory_is_refused_with_its_path() {
    for link in [".well-known", ".well-known/acme-challenge"] {
        let sandbox = tempfile::tempdir().expect("tempdir");
        let webroot = sandbox.path().join("www");
        let elsewhere = sandbox.path().join("elsewhere");
        fs::create_dir_all(webroot.join(".well-known")).expect("webroot");
        fs::create_dir(&elsewhere).expect("elsewhere");
        let link_path = webroot.join(link);
        if link_path.exists() {
            fs::remove_dir(&link_path).expect("make room for the link");
        }
        std::os::unix::fs::symlink(&elsewhere, &link_path).expect("symlink");
        let solver = solver_for(&webroot);

        let message = solver
            .present(&challenge(TOKEN))
            .await
            .expect_err("a symlinked challenge directory is refused")
            .to_string();
        assert!(
            message.contains(&format!("{}: ", link_path.display()))
                && message.contains("symbolic link"),
            "{message}"
        );
        let message = solver
            .cleanup(&challenge(TOKEN))
            .await
            .expect_err("nothing is removed through the link either")
            .to_string();
        assert!(message.contains("symbolic link"), "{message}");
        assert_eq!(tree(&elsewhere), Vec::<PathBuf>::new(), "{link}");
    }
}

#[tokio::test]
async fn leftovers_of_a_killed_run_are_removed_for_the_named_token_only() {
    let webroot = tempfile::tempdir().expect("tempdir");
    let dir = webroot.path().join(".well-known/acme-challenge");
    let solver = solver_for(webroot.path());
    solver.present(&challenge(TOKEN)).await.expect("present");
    solver
        .present(&challenge("live-token"))
        .await
        .expect("present");
    // A write killed between creating its temporary file and renaming it.
    fs::write(dir.join(format!(".{TOKEN}.tmp.00c0ffee00c0ffee")), "half").expect("temp");
    fs::write(dir.join(".live-token.tmp.0123456789abcdef"), "live").expect("temp");

    http01::remove_leftovers(webroot.path(), TOKEN)
        .await
        .expect("remove leftovers");

    let mut left: Vec<String> = fs::read_dir(&dir)
        .expect("list")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, [".live-token.tmp.0123456789abcdef", "live-token"]);

    let gone = webroot.path().join("gone");
    http01::remove_leftovers(&gone, TOKEN)
        .await
        .expect("a webroot that is gone has nothing left");
    let message = http01::remove_leftovers(webroot.path(), "../escape")
        .await
        .expect_err("a bad token is refused")
        .to_string();
    assert!(message.contains("\"../escape\""), "{message}");
}
