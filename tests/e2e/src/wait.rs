//! Waiting for a started server (or a stopping one): the one poll loop every launcher uses.
//!
//! A launcher starts a process, then waits with [`until`] for what proves it ready (a port
//! that accepts connections, a zone that answers, a log line), giving up at once when
//! [`alive`] sees the process exit. The failure names what was awaited; the launcher adds
//! its server's log, so a failing test shows why the server never came up.
//!
//! ```no_run
//! use std::process::Command;
//! use std::time::Duration;
//! use e2e::wait;
//!
//! let mut child = Command::new("python3").args(["-m", "http.server", "8000"]).spawn().unwrap();
//! wait::until(Duration::from_secs(10), "http.server to listen on 8000", || {
//!     wait::alive(&mut child)?;
//!     Ok(wait::listening(8000))
//! })
//! .unwrap_or_else(|why| panic!("{why}\n(the server's log here)"));
//! ```

use std::net::TcpStream;
use std::process::Child;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How long [`until`] sleeps between two looks.
const INTERVAL: Duration = Duration::from_millis(10);

/// Looks at `ready` every few milliseconds until it returns `Ok(true)`.
///
/// `Ok(false)` means "not yet"; `Err(reason)` gives up at once (the server exited, say). The
/// error, `waited for WHAT: REASON` or `waited TIMEOUT for WHAT`, names `what` was awaited;
/// callers append their server's log to it.
pub fn until(
    timeout: Duration,
    what: &str,
    mut ready: impl FnMut() -> Result<bool, String>,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        match ready() {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(reason) => return Err(format!("waited for {what}: {reason}")),
        }
        if Instant::now() > deadline {
            return Err(format!("waited {timeout:?} for {what}"));
        }
        sleep(INTERVAL);
    }
}

/// `Err("exited early (STATUS)")` once `child` has exited: for [`until`] to stop waiting for
/// a server that will never answer.
pub fn alive(child: &mut Child) -> Result<(), String> {
    match child.try_wait() {
        Ok(Some(status)) => Err(format!("exited early ({status})")),
        Ok(None) | Err(_) => Ok(()),
    }
}

/// Whether something accepts TCP connections on `127.0.0.1:port`.
pub fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Whether `child` has exited (and is reaped): for waiting until a stopped server is gone.
pub fn exited(child: &mut Child) -> bool {
    matches!(child.try_wait(), Ok(Some(_)))
}
