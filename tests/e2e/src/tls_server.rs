//! A TLS endpoint on loopback that serves a given certificate chain: `openssl s_server`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use crate::port::free_port;
use crate::testdir::TestDir;
use crate::tool;
use crate::wait;

/// How long `openssl s_server` may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the server is started on a fresh port when it exits right away.
const START_ATTEMPTS: u32 = 3;

/// A running `openssl s_server` on `127.0.0.1`, killed and reaped on drop.
///
/// It sends exactly the certificates it was given (the leaf, then the `chain` file's
/// certificates, if any) whatever SNI the client asks for, which is how a misconfigured
/// server serving an incomplete chain or the wrong certificate looks from outside. Its log
/// is `DIR/tls-server-NAME.log`.
#[derive(Debug)]
pub struct TlsServer {
    child: Child,
    port: u16,
}

impl TlsServer {
    /// Serves `cert` (a PEM leaf) with its `key`, followed by the certificates of `chain` when
    /// given; `name` tells several servers' logs apart.
    ///
    /// Fails the test if `openssl` is missing or does not start listening.
    pub fn start(
        dir: &TestDir,
        name: &str,
        cert: &Path,
        key: &Path,
        chain: Option<&Path>,
    ) -> TlsServer {
        tool::require("openssl");
        let log = dir.path().join(format!("tls-server-{name}.log"));
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            let mut command = Command::new("openssl");
            command
                .arg("s_server")
                .arg("-cert")
                .arg(cert)
                .arg("-key")
                .arg(key)
                .args(
                    chain
                        .map(|chain| [PathBuf::from("-cert_chain"), chain.to_path_buf()])
                        .into_iter()
                        .flatten(),
                )
                .arg("-accept")
                .arg(format!("127.0.0.1:{port}"))
                .arg("-www");
            let child = tool::spawn_logged(&mut command, &log);
            let mut server = TlsServer { child, port };
            match server.wait_listening(&log) {
                Ok(()) => return server,
                Err(failure) => failures.push(failure),
            }
        }
        panic!("openssl s_server did not start:\n{}", failures.join("\n\n"))
    }

    /// The port it listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, as `acmekeep inspect --host` takes it.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn wait_listening(&mut self, log: &Path) -> Result<(), String> {
        let port = self.port;
        wait::until(
            START_TIMEOUT,
            &format!("openssl s_server to listen on {port}"),
            || {
                wait::alive(&mut self.child)?;
                Ok(wait::listening(port))
            },
        )
        .map_err(|why| format!("{why}\n{}", crate::testdir::tail(log)))
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        // Already exited is fine: the point is that nothing outlives the test.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
