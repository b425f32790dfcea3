//! docs/architecture.md and the README's layout stay true to the workspace: every crate
//! under `crates/` is on both maps, and the maps name no crate that is gone.

use std::fs;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn crates() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(repo().join("crates"))
        .expect("read crates/")
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().join("Cargo.toml").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn the_architecture_page_names_every_crate_in_its_table() {
    let page = fs::read_to_string(repo().join("docs/architecture.md")).expect("architecture.md");
    let missing: Vec<String> = crates()
        .into_iter()
        .filter(|name| !page.contains(&format!("`{name}`")) && !name.starts_with("dns-"))
        .collect();
    assert!(missing.is_empty(), "docs/architecture.md lacks {missing:?}");
}

#[test]
fn the_readme_layout_names_every_crate_and_no_other() {
    let readme = fs::read_to_string(repo().join("README.md")).expect("README.md");
    let listed: Vec<&str> = readme
        .lines()
        .filter_map(|line| line.strip_prefix("crates/"))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    let crates = crates();
    for name in &crates {
        let covered = listed.contains(&name.as_str())
            || (name.starts_with("dns-") && listed.contains(&"dns-*"));
        assert!(covered, "README.md's layout lacks crates/{name}");
    }
    for entry in listed.iter().filter(|entry| **entry != "dns-*") {
        assert!(
            crates.iter().any(|name| name == entry),
            "README.md's layout names crates/{entry}, which does not exist"
        );
    }
}
