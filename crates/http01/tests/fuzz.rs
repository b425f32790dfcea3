//! Property tests ("fuzzing" on stable Rust) of the HTTP-01 request path, through the
//! public solver only: random request lines sent over loopback to the built-in server, and
//! random tokens presented in listen and webroot mode.
//!
//! Properties: the server answers 200 with the key authorization exactly for
//! `GET /.well-known/acme-challenge/<presented token>` (a query string aside), never shows
//! the key authorization otherwise, and keeps serving after any request; a token outside
//! the ACME alphabet is refused with a clean error and writes nothing, and a token that is
//! accepted is written only inside `<webroot>/.well-known/acme-challenge/`. Requests and
//! tokens are bounded, so no case can hang.
//!
//! CI runs proptest's default of 256 cases per property; a longer run is
//! `PROPTEST_CASES=100000 cargo test -p http01 --test fuzz --release`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use acme_core::{Challenge, ChallengeKind, Solver};
use http01::{Http01Config, Http01Solver};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
const PREFIX: &str = "/.well-known/acme-challenge/";

fn challenge(token: &str) -> Challenge {
    Challenge {
        kind: ChallengeKind::Http01,
        identifier: "www.example.com".to_string(),
        wildcard: false,
        token: token.to_string(),
        key_authorization: format!("{token}.KEYAUTHZ-thumbprint"),
        dns_value: String::new(),
    }
}

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

/// One listen-mode solver on a free loopback port serving [`TOKEN`], for every case.
fn server() -> SocketAddr {
    static SERVER: OnceLock<(Http01Solver, SocketAddr)> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            runtime().block_on(async {
                let config = Http01Config {
                    listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
                    webroot: None,
                };
                let solver = Http01Solver::new("web".to_string(), config).expect("solver");
                solver.present(&challenge(TOKEN)).await.expect("present");
                let addr = solver.local_addr().await.expect("bound");
                (solver, addr)
            })
        })
        .1
}

/// Sends `head` (a request line and headers, without the final blank line) and returns
/// the status (0 when the server closed without answering) and the whole reply.
async fn send(addr: SocketAddr, head: &[u8]) -> (u16, Vec<u8>) {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let mut request = head.to_vec();
        request.extend_from_slice(b"\r\nHost: www.example.com\r\nConnection: close\r\n\r\n");
        // The server may answer and close before reading everything: not an error here.
        let _ = stream.write_all(&request).await;
        let mut reply = Vec::new();
        let _ = stream.read_to_end(&mut reply).await;
        reply
    };
    let reply = tokio::time::timeout(Duration::from_secs(15), exchange)
        .await
        .expect("the server answers or closes within 15 s");
    let status = reply
        .get(9..12)
        .and_then(|code| std::str::from_utf8(code).ok())
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, reply)
}

/// Request targets built from the pieces path tricks are made of.
fn target() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => Just(PREFIX.to_string()),
        4 => Just(TOKEN.to_string()),
        1 => Just(TOKEN.to_ascii_lowercase()),
        1 => Just(TOKEN[..10].to_string()),
        2 => Just("/".to_string()),
        1 => Just("//".to_string()),
        1 => Just("..".to_string()),
        1 => Just("%2e%2e".to_string()),
        1 => Just("%2F".to_string()),
        1 => Just("%00".to_string()),
        1 => Just("?".to_string()),
        1 => Just("#".to_string()),
        1 => Just("\\".to_string()),
        1 => Just("http://www.example.com".to_string()),
        1 => Just("*".to_string()),
        2 => "[!-~]{1,8}",
    ];
    prop::collection::vec(piece, 0..8).prop_map(|pieces| pieces.concat())
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("GET".to_string()),
        1 => Just("HEAD".to_string()),
        1 => Just("POST".to_string()),
        1 => Just("get".to_string()),
        1 => "[A-Z]{1,8}",
    ]
}

/// Every file below `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}

proptest! {
    #[test]
    fn only_the_exact_challenge_path_is_answered_with_the_key_authorization(
        method in method(),
        target in target(),
        junk in prop::collection::vec(any::<u8>(), 0..4),
    ) {
        let addr = server();
        let mut head = format!("{method} {target}").into_bytes();
        head.extend_from_slice(&junk);
        head.extend_from_slice(b" HTTP/1.1");
        let key_authorization = challenge(TOKEN).key_authorization;
        let (status, reply) = runtime().block_on(send(addr, &head));
        // What the server routes on: the path of the whole request target, junk included.
        let mut full_target = target.clone().into_bytes();
        full_target.extend_from_slice(&junk);
        let path = axum::http::Uri::try_from(full_target)
            .map(|uri| uri.path().to_string())
            .unwrap_or_default();
        let exact = path == format!("{PREFIX}{TOKEN}");
        if exact && method == "GET" {
            // httparse may still refuse bytes the URI parser allows (in a fragment): 400.
            let served = status == 200 && reply.ends_with(key_authorization.as_bytes());
            prop_assert!(served || status == 400, "{}", String::from_utf8_lossy(&reply));
        } else if exact && method == "HEAD" {
            prop_assert!(!String::from_utf8_lossy(&reply).contains(&key_authorization));
        } else {
            prop_assert_ne!(status, 200, "{} {}", method, target);
            let shown = String::from_utf8_lossy(&reply);
            prop_assert!(!shown.contains(&key_authorization), "{}", shown);
        }
        let (status, _) = runtime().block_on(send(addr, format!("GET {PREFIX}{TOKEN} HTTP/1.1").as_bytes()));
        prop_assert_eq!(status, 200, "the server still serves the token");
    }

    #[test]
    fn a_token_is_written_inside_the_challenge_directory_or_refused_cleanly(
        token in prop_oneof![
            "[A-Za-z0-9_-]{1,64}",
            "[ -~]{0,24}",
            "(\\.\\./|/|%2[eEfF]|[A-Za-z0-9_-]{1,4}){1,6}",
            any::<String>().prop_map(|s| s.chars().take(24).collect()),
        ],
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let webroot = dir.path().join("www");
        std::fs::create_dir(&webroot).expect("webroot");
        let config = Http01Config { listen: None, webroot: Some(webroot.clone()) };
        let solver = Http01Solver::new("files".to_string(), config).expect("solver");
        let challenge = challenge(&token);
        let valid = !token.is_empty()
            && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        match runtime().block_on(solver.present(&challenge)) {
            Ok(()) => {
                prop_assert!(valid, "accepted {token:?}");
                let expected = webroot.join(".well-known/acme-challenge").join(&token);
                prop_assert_eq!(files_under(dir.path()), vec![expected]);
                runtime().block_on(solver.cleanup(&challenge)).expect("cleanup");
            }
            Err(err) => {
                prop_assert!(!valid, "refused {token:?}: {err}");
                let text = err.to_string();
                prop_assert!(!text.trim().is_empty());
                prop_assert!(!text.contains("KEYAUTHZ"), "{}", text);
            }
        }
        prop_assert!(files_under(dir.path()).is_empty(), "left behind after {token:?}");
    }
}
