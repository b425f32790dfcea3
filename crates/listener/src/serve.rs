use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{AbortHandle, JoinHandle, JoinSet};
use tracing::{Instrument, debug, warn};

/// The pause after a failed `accept` (e.g. out of file descriptors), so the loop cannot spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What a server does with a new connection while [`Limits::max_connections`] are open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenFull {
    /// Accept no more until one ends: further connections wait in the kernel's listen
    /// backlog, unaccepted, so a flood costs no memory.
    Wait,
    /// Accept it and close the oldest open connection, so idle connections can never keep a
    /// new client out.
    CloseOldest,
    /// Accept it and close it at once.
    Refuse,
}

/// How many connections a server serves at once, and how it names itself in logs.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The server as logs name it, e.g. `http-01 challenge server`.
    pub name: &'static str,
    /// Connections served at once.
    pub max_connections: usize,
    /// What happens to a connection beyond them.
    pub when_full: WhenFull,
}

/// A bound TCP listener, not serving yet.
#[derive(Debug)]
pub struct Listener {
    listener: TcpListener,
    addr: SocketAddr,
}

impl Listener {
    /// Binds `addr`; a busy or forbidden address is reported here, before serving starts.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Listener> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        Ok(Listener { listener, addr })
    }

    /// The address actually bound (the port the system chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Starts serving: each accepted connection is handed to `handler` in a task of its own
    /// (in a `connection` span with the peer's address, inside the caller's current span),
    /// within `limits`.
    pub fn serve<F, Fut>(self, limits: Limits, handler: F) -> Serving
    where
        F: Fn(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let addr = self.addr;
        let task = tokio::spawn(
            accept_loop(self.listener, addr, limits, handler).instrument(tracing::Span::current()),
        );
        Serving { addr, task }
    }
}

/// A serving listener; dropping it stops the server.
#[derive(Debug)]
pub struct Serving {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Serving {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes the listener and every open connection; returns once the port is released.
    pub async fn stop(mut self) {
        self.task.abort();
        // The only possible outcome is "cancelled": the listener has been dropped.
        let _ = (&mut self.task).await;
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Accepts connections until the task is aborted; dropping the task drops the listener and
/// the set of connection tasks, which aborts them all.
async fn accept_loop<F, Fut>(listener: TcpListener, addr: SocketAddr, limits: Limits, handler: F)
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut open = Open::new(limits);
    loop {
        let Some(slot) = open.wait_for_slot().await else {
            return;
        };
        match listener.accept().await {
            Ok((stream, peer)) => {
                if !open.make_room(peer) {
                    continue;
                }
                let connection = handler(stream);
                let span = tracing::debug_span!("connection", %peer);
                open.spawn(
                    async move {
                        let _slot = slot;
                        connection.await;
                    }
                    .instrument(span),
                );
            }
            Err(error) => {
                warn!(%addr, "{} cannot accept a connection: {error}", limits.name);
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// The open connections of a server, kept within its [`Limits`].
struct Open {
    limits: Limits,
    tasks: JoinSet<()>,
    /// The open connections, oldest first (for [`WhenFull::CloseOldest`]).
    order: VecDeque<AbortHandle>,
    /// One permit per connection that may be open (for [`WhenFull::Wait`]).
    slots: Arc<Semaphore>,
    /// Whether the server is full and has said so; it says so once per saturation.
    saturated: bool,
}

impl Open {
    fn new(limits: Limits) -> Open {
        Open {
            limits,
            tasks: JoinSet::new(),
            order: VecDeque::new(),
            slots: Arc::new(Semaphore::new(limits.max_connections)),
            saturated: false,
        }
    }

    /// With [`WhenFull::Wait`], a free slot, waiting for one if all are taken (the permit
    /// travels with the connection's task); else nothing to wait for. `None` cannot happen:
    /// the semaphore is never closed.
    async fn wait_for_slot(&mut self) -> Option<Option<OwnedSemaphorePermit>> {
        if self.limits.when_full != WhenFull::Wait {
            return Some(None);
        }
        if let Ok(slot) = self.slots.clone().try_acquire_owned() {
            self.saturated = false;
            return Some(Some(slot));
        }
        if !self.saturated {
            self.saturated = true;
            warn!(
                "{}: all {} connections are busy; new ones wait until one ends",
                self.limits.name, self.limits.max_connections
            );
        }
        self.slots.clone().acquire_owned().await.ok().map(Some)
    }

    /// Makes room for a connection just accepted from `peer`; `false` when it is to be
    /// closed instead.
    fn make_room(&mut self, peer: SocketAddr) -> bool {
        while self.tasks.try_join_next().is_some() {}
        self.order.retain(|connection| !connection.is_finished());
        let full = self.order.len() >= self.limits.max_connections;
        match self.limits.when_full {
            WhenFull::Wait => true,
            WhenFull::Refuse if full => {
                debug!(
                    %peer,
                    "{} busy: {} connections open; closing",
                    self.limits.name, self.limits.max_connections
                );
                false
            }
            WhenFull::Refuse => true,
            WhenFull::CloseOldest => {
                if !full {
                    self.saturated = false;
                } else if let Some(oldest) = self.order.pop_front() {
                    oldest.abort();
                    if !self.saturated {
                        self.saturated = true;
                        warn!(
                            "{}: {} connections are open; each new one closes the oldest",
                            self.limits.name, self.limits.max_connections
                        );
                    }
                }
                true
            }
        }
    }

    fn spawn(&mut self, connection: impl Future<Output = ()> + Send + 'static) {
        self.order.push_back(self.tasks.spawn(connection));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::AsyncReadExt;

    use super::*;

    /// Serves with room for one connection; each connection is counted and held open.
    async fn one_at_a_time(when_full: WhenFull) -> (Serving, Arc<AtomicUsize>) {
        let listener = Listener::bind(([127, 0, 0, 1], 0).into())
            .await
            .expect("bind");
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let limits = Limits {
            name: "test server",
            max_connections: 1,
            when_full,
        };
        let serving = listener.serve(limits, move |stream| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move {
                let _held = stream;
                std::future::pending::<()>().await;
            }
        });
        (serving, accepted)
    }

    async fn connect(serving: &Serving) -> TcpStream {
        TcpStream::connect(serving.local_addr())
            .await
            .expect("connect")
    }

    /// Whether the server closed `stream` within a second.
    async fn closed(stream: &mut TcpStream) -> bool {
        let mut buf = [0u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await,
            Ok(Ok(0) | Err(_))
        )
    }

    async fn settle() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    #[tokio::test]
    async fn when_full_a_new_connection_waits_until_one_ends() {
        let (serving, accepted) = one_at_a_time(WhenFull::Wait).await;
        let first = connect(&serving).await;
        let mut second = connect(&serving).await;
        settle().await;
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert!(
            !closed(&mut second).await,
            "a waiting connection stays open"
        );
        drop(first);
        serving.stop().await;
    }

    #[tokio::test]
    async fn when_full_a_new_connection_closes_the_oldest() {
        let (serving, accepted) = one_at_a_time(WhenFull::CloseOldest).await;
        let mut first = connect(&serving).await;
        settle().await;
        let mut second = connect(&serving).await;
        settle().await;
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        assert!(closed(&mut first).await, "the oldest is closed");
        assert!(!closed(&mut second).await, "the newest stays");
    }

    #[tokio::test]
    async fn when_full_a_new_connection_is_refused() {
        let (serving, accepted) = one_at_a_time(WhenFull::Refuse).await;
        let mut first = connect(&serving).await;
        settle().await;
        let mut second = connect(&serving).await;
        assert!(closed(&mut second).await, "the new one is closed");
        assert!(!closed(&mut first).await, "the open one stays");
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn stopping_closes_the_port_and_every_connection() {
        let (serving, _) = one_at_a_time(WhenFull::Wait).await;
        let addr = serving.local_addr();
        let mut open = connect(&serving).await;
        settle().await;
        serving.stop().await;
        assert!(closed(&mut open).await, "open connections are closed");
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "the port is released"
        );
    }
}
