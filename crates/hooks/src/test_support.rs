//! Fixtures shared by the tests of several modules.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use acme_core::SinkFiles;

use crate::{HookEnv, Stage};

pub(crate) fn files(dir: &str) -> SinkFiles {
    let dir = PathBuf::from(dir);
    SinkFiles {
        cert: dir.join("cert.pem"),
        chain: dir.join("chain.pem"),
        fullchain: dir.join("fullchain.pem"),
        key: dir.join("privkey.pem"),
    }
}

pub(crate) fn web_env() -> HookEnv {
    HookEnv {
        cert_name: "web".to_string(),
        names: vec!["example.com".to_string(), "www.example.com".to_string()],
        issuer: "letsencrypt".to_string(),
        files: vec![files("/etc/ssl/web"), files("/srv/shared/web")],
        serial: Some("0a1b2c".to_string()),
        not_after: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)),
    }
}

/// Runs one hook that dumps its environment, and returns the `ACMEKEEP_*` part.
pub(crate) async fn hook_env(stage: Stage, env: &HookEnv) -> BTreeMap<String, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("env");
    let command = format!("env > {}", out.display());
    crate::run(stage, &[command], env, Duration::from_secs(10))
        .await
        .expect("hook runs");
    std::fs::read_to_string(&out)
        .expect("env dump")
        .lines()
        .filter_map(|line| line.split_once('='))
        .filter(|(key, _)| key.starts_with("ACMEKEEP_"))
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

/// Collects everything logged on this thread while the guard lives.
pub(crate) fn capture_logs() -> (Arc<Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log buffer").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || Sink(writer.clone()))
        .finish();
    (buffer, tracing::subscriber::set_default(subscriber))
}

pub(crate) fn logged(buffer: &Mutex<Vec<u8>>) -> String {
    String::from_utf8_lossy(&buffer.lock().expect("log buffer")).into_owned()
}

/// Whether `pid` is still a live process (a zombie is dead: only its exit status is left).
pub(crate) fn is_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => false,
    }
}
