//! The listener lifecycle acmekeep's servers share: the http-01 challenge server, the
//! tls-alpn-01 challenge listener and the metrics server.
//!
//! - [`Listener::bind`] binds a TCP port, so that a busy or forbidden address is reported
//!   before anything is served.
//! - [`Listener::serve`] accepts connections in a task of its own and hands each to a
//!   handler in a task the server owns, at most [`Limits::max_connections`] at once; what
//!   happens to a further one is [`WhenFull`]. A failed `accept` (e.g. out of file
//!   descriptors) is logged and retried after a pause, so the loop cannot spin.
//! - [`Serving`] is the running server: [`Serving::stop`] (or dropping it) closes the
//!   listener and aborts every connection at once, without waiting for clients.
//!
//! It does not speak any protocol and bounds nothing inside a connection (time limits,
//! request sizes): the handler does. It is no crate of the ACME vocabulary, so the solvers
//! and the daemon can share it without depending on each other.
//!
//! ```
//! use listener::{Limits, Listener, WhenFull};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let listener = Listener::bind("127.0.0.1:0".parse().expect("address")).await?;
//! let limits = Limits { name: "echo server", max_connections: 16, when_full: WhenFull::Wait };
//! let serving = listener.serve(limits, |_stream| async {});
//! assert_ne!(serving.local_addr().port(), 0);
//! serving.stop().await;
//! # Ok(())
//! # }
//! ```

mod serve;

pub use serve::{Limits, Listener, Serving, WhenFull};
