//! Helpers shared by the test binaries: real certificates and a look at the directory layout.
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of these helpers"
)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use acme_core::{Bundle, KeyType, PrivateKeyPem};
use sink_files::{FilesSink, FilesSinkConfig};

/// A fresh bundle: a self-signed leaf with its new key, a stand-in intermediate and,
/// if asked, a root. Each call yields different certificates and a different key.
pub fn bundle(with_ca: bool) -> Bundle {
    let key = KeyType::EcdsaP256.generate().expect("leaf key");
    Bundle {
        cert_pem: self_signed("www.example.test", &key),
        chain_pem: self_signed(
            "Test Intermediate",
            &KeyType::EcdsaP256.generate().expect("intermediate key"),
        ),
        key: PrivateKeyPem::from_key_pair(&key).expect("encode"),
        ca_pem: with_ca.then(|| {
            self_signed(
                "Test Root",
                &KeyType::EcdsaP256.generate().expect("root key"),
            )
        }),
    }
}

fn self_signed(name: &str, key: &rcgen::KeyPair) -> String {
    rcgen::CertificateParams::new(vec![name.to_string()])
        .expect("params")
        .self_signed(key)
        .expect("self-sign")
        .pem()
}

/// A sink on `dir` with the default configuration.
pub fn sink(dir: &Path) -> FilesSink {
    FilesSink::new(FilesSinkConfig::new(dir)).expect("sink")
}

/// The names of the version directories in `dir`, oldest first.
pub fn version_dirs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .into_string()
                .expect("utf-8")
        })
        .filter(|name| name.starts_with("..") && name != "..data" && name != "..data_tmp")
        .collect();
    names.sort();
    names
}

/// Where `dir/..data` points.
pub fn current_version(dir: &Path) -> String {
    fs::read_link(dir.join("..data"))
        .expect("..data is a symlink")
        .into_os_string()
        .into_string()
        .expect("utf-8")
}

/// The permission bits of `path`, following symlinks.
pub fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("stat").permissions().mode() & 0o7777
}

/// The group to hand the key to: `nogroup` where it exists, else gid 0, and its gid.
pub fn existing_group() -> (String, u32) {
    match nix::unistd::Group::from_name("nogroup") {
        Ok(Some(group)) => ("nogroup".into(), group.gid.as_raw()),
        _ => ("0".into(), 0),
    }
}

/// The error a sink returned, as this crate's own error.
pub fn sink_error(err: &acme_core::Error) -> &sink_files::Error {
    match err {
        acme_core::Error::Sink { source, .. } => source
            .downcast_ref::<sink_files::Error>()
            .expect("a sink_files::Error inside"),
        other => panic!("expected a sink error, got {other}"),
    }
}
