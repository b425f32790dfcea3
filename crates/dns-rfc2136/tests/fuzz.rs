//! Property tests ("fuzzing" on stable Rust) of how the provider reads a DNS server's reply
//! to a signed update: a loopback UDP server answers each update with random bytes or with
//! an edited echo of the request (every response code, cuts, bit flips, appended bytes),
//! always under the request's ID so the client reads it at once.
//!
//! Properties: no panic; no such reply is ever taken as success (none carries a valid TSIG
//! signature); the error names the provider, has a message and never shows the TSIG
//! secret. Replies are at most 600 bytes and each exchange is bounded, so no case can hang.
//!
//! CI runs proptest's default of 256 cases per property; a longer run is
//! `PROPTEST_CASES=100000 cargo test -p dns-rfc2136 --test fuzz --release`.

use std::sync::OnceLock;
use std::time::Duration;

use acme_core::DnsProvider;
use dns_rfc2136::{Config, Provider};
use proptest::prelude::*;
use tokio::net::UdpSocket;

const SECRET: &str = "c2VjcmV0LXRzaWcta2V5LWZvci1mdXp6aW5nLTEyMw==";

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime")
    })
}

/// How the server builds its reply from the request.
#[derive(Clone, Debug)]
enum Reply {
    /// The request's ID followed by random bytes.
    Random(Vec<u8>),
    /// The request echoed as a response with response code `rcode`, then edited.
    Echo {
        rcode: u8,
        cut: Option<prop::sample::Index>,
        flips: Vec<(prop::sample::Index, u8)>,
        tail: Vec<u8>,
    },
}

fn reply() -> impl Strategy<Value = Reply> {
    let index = any::<prop::sample::Index>;
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 2..600).prop_map(Reply::Random),
        3 => (
            0u8..16,
            prop::option::of(index()),
            prop::collection::vec((index(), 0u8..8), 0..4),
            prop::collection::vec(any::<u8>(), 0..32),
        )
            .prop_map(|(rcode, cut, flips, tail)| Reply::Echo { rcode, cut, flips, tail }),
    ]
}

impl Reply {
    fn to_bytes(&self, request: &[u8]) -> Vec<u8> {
        let mut bytes = match self {
            Reply::Random(random) => [&request[..2], random.as_slice()].concat(),
            Reply::Echo {
                rcode,
                cut,
                flips,
                tail,
            } => {
                let mut bytes = request.to_vec();
                bytes[2] |= 0x80; // QR: a response
                bytes[3] = (bytes[3] & 0xf0) | rcode;
                if let Some(cut) = cut {
                    bytes.truncate(cut.index(bytes.len()).max(4));
                }
                for (at, bit) in flips {
                    // Never the ID (bytes 0 and 1): the client would wait for the real reply.
                    let i = 2 + at.index(bytes.len() - 2);
                    bytes[i] ^= 1 << bit;
                }
                bytes.extend_from_slice(tail);
                bytes
            }
        };
        // The TC bit would send the client to TCP, where nothing listens: keep UDP.
        bytes[2] &= !0x02;
        bytes
    }
}

/// Sends one update to a loopback server that answers with `reply`; returns the outcome.
async fn update_answered_with(reply: &Reply) -> Result<(), acme_core::Error> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let addr = socket.local_addr().expect("address");
    let reply = reply.clone();
    let server = tokio::spawn(async move {
        let mut buffer = vec![0u8; 4096];
        let (len, peer) = socket.recv_from(&mut buffer).await.expect("an update");
        let answer = reply.to_bytes(&buffer[..len]);
        socket.send_to(&answer, peer).await.expect("answer");
    });
    let config: Config = serde_json::from_value(serde_json::json!({
        "nameserver": addr.to_string(),
        "tsig_key": "acme-key",
        "tsig_secret": SECRET,
    }))
    .expect("config");
    let provider = Provider::new(config).expect("provider");
    let outcome = tokio::time::timeout(
        Duration::from_secs(20),
        provider.set_txt("example.test", "_acme-challenge.www.example.test", "value"),
    )
    .await
    .expect("the provider gives up within 20 s");
    server.await.expect("server task");
    outcome
}

proptest! {
    #[test]
    fn no_unsigned_or_mangled_reply_is_taken_as_success(reply in reply()) {
        match runtime().block_on(update_answered_with(&reply)) {
            Ok(()) => prop_assert!(false, "accepted a reply without a valid signature"),
            Err(err) => {
                let text = err.to_string();
                prop_assert!(text.starts_with("DNS provider rfc2136: "), "{}", text);
                prop_assert!(text.len() > "DNS provider rfc2136: ".len(), "{}", text);
                prop_assert!(!text.contains(SECRET), "{}", text);
            }
        }
    }
}

#[test]
fn an_echoed_noerror_reply_without_a_server_signature_is_refused() {
    let reply = Reply::Echo {
        rcode: 0,
        cut: None,
        flips: Vec::new(),
        tail: Vec::new(),
    };
    let err = runtime()
        .block_on(update_answered_with(&reply))
        .expect_err("not signed by the server");
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
}
