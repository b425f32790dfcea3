//! Free loopback ports, never handed out twice by one process.

use std::collections::HashSet;
use std::net::{TcpListener, UdpSocket};
use std::sync::{Mutex, PoisonError};

/// Ports this process has already handed out (tests run in parallel threads).
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// Returns a port on 127.0.0.1 that is free for both TCP and UDP right now and that this
/// process has not handed out before.
///
/// The port is found by binding port 0 and releasing it, so another process could still take
/// it before the caller binds; the servers started by this crate retry on a fresh port when
/// that happens.
pub fn free_port() -> u16 {
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
    let handed_out = handed_out.get_or_insert_with(HashSet::new);
    loop {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind a TCP port on 127.0.0.1");
        let port = listener
            .local_addr()
            .expect("local address of a bound socket")
            .port();
        let udp_free = UdpSocket::bind(("127.0.0.1", port)).is_ok();
        drop(listener);
        if udp_free && handed_out.insert(port) {
            return port;
        }
    }
}
