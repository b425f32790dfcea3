//! The HTTP-01 solver of acmekeep (RFC 8555 §8.3).
//!
//! An ACME CA validates an HTTP-01 challenge by fetching
//! `http://<name>/.well-known/acme-challenge/<token>` on port 80 and expecting the key
//! authorization as the body. [`Http01Solver`] implements [`acme_core::Solver`] in one of two
//! modes, chosen by [`Http01Config`]:
//!
//! - **listen**: a small built-in server (axum on hyper, HTTP/1.1 only) answers the challenge
//!   path for the tokens currently presented and `404` for everything else. It binds on the
//!   first `present` and keeps listening while the solver lives, so several certificates of
//!   one run share it; dropping the solver or calling [`Http01Solver::shutdown`] closes it.
//!   It bounds what a client can hold: request heads of 16 KiB within 5 seconds, 256
//!   connections at once (more wait unaccepted), and it echoes nothing of a request.
//! - **webroot**: the key authorization is written atomically to
//!   `<webroot>/.well-known/acme-challenge/<token>` for a web server that already listens on
//!   port 80, and removed again on cleanup. Only the tokens presented are ever written or
//!   removed, so several orders (and several certificates at once) can share one webroot; a
//!   symlinked `.well-known` or `acme-challenge` is refused. What a killed run left behind is
//!   removed by [`remove_leftovers`] for the tokens the caller recorded (acmekeep's challenge
//!   journal) before presenting them.
//!
//! It does not choose which names use it, follow redirects, or check that the CA can reach
//! the server: that is the binary's (and `diagnose`'s) job. It never logs the key
//! authorization, and it refuses tokens outside the ACME alphabet `[A-Za-z0-9_-]`, so a token
//! can neither escape the webroot nor play tricks with the request path.
//!
//! ```
//! use acme_core::{Challenge, ChallengeKind, Solver};
//! use http01::{Http01Config, Http01Solver};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Http01Config { listen: Some("127.0.0.1:0".parse()?), webroot: None };
//! let solver = Http01Solver::new("web".to_string(), config)?;
//! let challenge = Challenge {
//!     kind: ChallengeKind::Http01,
//!     identifier: "www.example.com".to_string(),
//!     wildcard: false,
//!     token: "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA".to_string(),
//!     key_authorization: "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3r".to_string(),
//!     dns_value: String::new(),
//! };
//! solver.present(&challenge).await?;
//! // The CA can now fetch the key authorization from this address.
//! assert!(solver.local_addr().await.is_some());
//! solver.cleanup(&challenge).await?;
//! solver.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod config;
mod error;
mod server;
mod solver;
mod token;
mod webroot;

pub use config::Http01Config;
pub use error::Error;
pub use solver::Http01Solver;
pub use webroot::remove_leftovers;
