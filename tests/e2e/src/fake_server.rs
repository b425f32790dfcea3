//! Serves the router of a fake API (Cloudflare, Kubernetes, Venafi: APIs no real server can
//! be had for) on a free loopback port, from a thread of its own; stopped when dropped.

use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;

use axum::Router;
use tokio::sync::oneshot;

/// A running fake, named for messages; dropping it stops the server and joins its thread.
#[derive(Debug)]
pub(crate) struct FakeServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeServer {
    /// Binds 127.0.0.1 on a free port and serves `app` there; `what` names the fake in
    /// panics ("the Cloudflare fake").
    pub(crate) fn start(what: &'static str, app: Router) -> FakeServer {
        let listener =
            TcpListener::bind(("127.0.0.1", 0)).unwrap_or_else(|e| panic!("bind {what}: {e}"));
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|e| panic!("make {what}'s listener non-blocking: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("the address of {what}: {e}"));
        let (shutdown, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("a runtime for {what}: {e}"));
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)
                    .unwrap_or_else(|e| panic!("hand {what}'s listener to tokio: {e}"));
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap_or_else(|e| panic!("serve {what}: {e}"));
            });
        });
        FakeServer {
            addr,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// Where it listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
