//! Modes do not depend on the umask. The umask is process-wide, so this binary holds a
//! single test and restores the umask it found.

mod common;

use acme_core::Sink;
use common::{bundle, current_version, existing_group, mode, sink};
use nix::sys::stat::{Mode, umask};
use sink_files::{FilesSink, FilesSinkConfig};

/// Restores the umask it replaced when dropped, also when an assertion fails.
struct Umask(Mode);

impl Umask {
    fn set(mask: u32) -> Umask {
        Umask(umask(Mode::from_bits_truncate(mask)))
    }
}

impl Drop for Umask {
    fn drop(&mut self) {
        umask(self.0);
    }
}

#[tokio::test]
async fn modes_are_exact_whatever_the_umask() {
    for mask in [0o000, 0o077, 0o027] {
        let _umask = Umask::set(mask);
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("web");
        sink(&dir).store(&bundle(true)).await.expect("store");
        assert_eq!(mode(&dir), 0o755, "umask {mask:03o}: dir");
        assert_eq!(
            mode(&dir.join(current_version(&dir))),
            0o755,
            "umask {mask:03o}: version dir"
        );
        assert_eq!(mode(&dir.join("privkey.pem")), 0o600, "umask {mask:03o}");
        for name in ["cert.pem", "chain.pem", "fullchain.pem", "ca.pem"] {
            assert_eq!(mode(&dir.join(name)), 0o644, "umask {mask:03o}: {name}");
        }

        let grouped = root.path().join("grouped");
        let config = FilesSinkConfig {
            group: Some(existing_group().0),
            ..FilesSinkConfig::new(&grouped)
        };
        let sink = FilesSink::new(config).expect("sink");
        sink.store(&bundle(false)).await.expect("store with group");
        assert_eq!(
            mode(&grouped.join("privkey.pem")),
            0o640,
            "umask {mask:03o}"
        );
    }
}
