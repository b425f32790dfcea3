//! The challenge server faces the Internet: what a hostile client can and cannot get out of
//! it, checked with raw TCP clients against the real listener.
//!
//! Promises: only presented tokens are answered, and nothing of a request is echoed back;
//! request heads are bounded in size and in time (a slowloris client is cut off after five
//! seconds); at most 256 connections are served at once and further ones wait unaccepted
//! until a slot frees.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use acme_core::Solver;
use common::{challenge, fetch};
use http01::{Http01Config, Http01Solver};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
/// The server's header read timeout.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How many connections the server serves at once.
const MAX_CONNECTIONS: usize = 256;
/// Something no response may contain unless it echoed the request.
const MARKER: &str = "echo-canary-7f3a9c";

/// A solver on a free loopback port, with `TOKEN` presented; returns the bound address.
async fn serving_token() -> (Http01Solver, SocketAddr) {
    let config = Http01Config {
        listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        webroot: None,
    };
    let solver = Http01Solver::new("web".to_string(), config).expect("valid config");
    solver.present(&challenge(TOKEN)).await.expect("present");
    let addr = solver.local_addr().await.expect("bound after present");
    (solver, addr)
}

/// Sends `raw` and reads until the server closes the connection (a reset counts as closed),
/// giving up after ten seconds; returns what was read.
async fn exchange(addr: SocketAddr, raw: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // The server may answer and close before all of an oversized request is written.
    let _ = stream.write_all(raw).await;
    read_until_closed(&mut stream, Duration::from_secs(10))
        .await
        .expect("the server closes the connection")
}

/// Reads until EOF or a reset; `None` if the connection is still open after `limit`.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let mut buffer = [0; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(received),
            Ok(Ok(read)) => received.extend_from_slice(&buffer[..read]),
        }
    }
}

fn status_of(reply: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(reply);
    text.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

#[tokio::test]
async fn refusals_echo_nothing_of_the_request() {
    let (_solver, addr) = serving_token().await;
    let requests = [
        // Unknown token, a path outside the challenge prefix, a path trick.
        format!("GET /.well-known/acme-challenge/{MARKER} HTTP/1.1\r\nHost: {MARKER}\r\n"),
        format!("GET /{MARKER}?{MARKER} HTTP/1.1\r\nHost: x\r\nX-Probe: {MARKER}\r\n"),
        format!("GET /.well-known/acme-challenge/..%2F{MARKER} HTTP/1.1\r\nHost: x\r\n"),
        // A method other than GET/HEAD on a served token.
        format!("POST /.well-known/acme-challenge/{TOKEN} HTTP/1.1\r\nHost: {MARKER}\r\n"),
        // Garbage instead of HTTP.
        format!("{MARKER} {MARKER}\r\n"),
    ];
    for request in requests {
        let reply = exchange(
            addr,
            format!("{request}Connection: close\r\n\r\n").as_bytes(),
        )
        .await;
        let text = String::from_utf8_lossy(&reply);
        assert!(!text.contains(MARKER), "{request:?} was echoed:\n{text}");
        assert!(
            (400..500).contains(&status_of(&reply)),
            "{request:?}: {text}"
        );
        let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        assert_eq!(body, "", "{request:?} got a body");
    }
}

#[tokio::test]
async fn a_token_longer_than_256_characters_is_never_presented_or_served() {
    let (solver, addr) = serving_token().await;
    let overlong = "a".repeat(257);
    let error = solver
        .present(&challenge(&overlong))
        .await
        .expect_err("an overlong token is refused");
    assert!(error.to_string().contains("at most 256"), "{error}");
    assert_eq!(fetch(addr, &overlong).await.status, 404);

    let longest = "b".repeat(256);
    solver
        .present(&challenge(&longest))
        .await
        .expect("256 is fine");
    assert_eq!(fetch(addr, &longest).await.status, 200);
}

#[tokio::test]
async fn oversized_request_heads_are_refused_with_431_or_414() {
    let (_solver, addr) = serving_token().await;
    let path = format!("/.well-known/acme-challenge/{TOKEN}");
    let big_header = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "v".repeat(32 * 1024)
    );
    let many_headers = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..200)
            .map(|i| format!("X-H{i}: v\r\n"))
            .collect::<String>()
    );
    let long_uri = format!(
        "GET {path}?{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "q".repeat(32 * 1024)
    );
    for (what, request) in [
        ("a 32 KiB header", big_header),
        ("200 headers", many_headers),
        ("a 32 KiB URI", long_uri),
    ] {
        let reply = exchange(addr, request.as_bytes()).await;
        let status = status_of(&reply);
        assert!(
            status == 431 || status == 414,
            "{what}: status {status}, expected 431 or 414"
        );
    }
    // The limits are on the head, not on the server: a normal request still works.
    assert_eq!(fetch(addr, TOKEN).await.status, 200);
}

#[tokio::test]
async fn slow_and_idle_clients_are_cut_off_after_the_header_read_timeout() {
    let (_solver, addr) = serving_token().await;
    let limit = HEADER_READ_TIMEOUT + Duration::from_secs(3);

    let silent = async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let started = Instant::now();
        let closed = read_until_closed(&mut stream, limit).await;
        (closed, started.elapsed())
    };
    // Sends a request head one byte every 250 ms: it would take 20 s to complete.
    let trickle = async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let started = Instant::now();
        let head = format!("GET /.well-known/acme-challenge/{TOKEN} HTTP/1.1\r\nHost: x\r\n\r\n");
        for byte in head.as_bytes().iter().take(80) {
            if stream.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
            if started.elapsed() > limit {
                break;
            }
        }
        let closed = read_until_closed(&mut stream, Duration::from_millis(100)).await;
        (closed, started.elapsed())
    };
    // A keep-alive connection that stops after its first request.
    let idle = async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let request =
            format!("GET /.well-known/acme-challenge/{TOKEN} HTTP/1.1\r\nHost: x\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("send");
        let started = Instant::now();
        let closed = read_until_closed(&mut stream, limit).await;
        (closed, started.elapsed())
    };
    let (silent, trickle, idle) = tokio::join!(silent, trickle, idle);

    let (closed, after) = silent;
    assert!(
        closed.is_some_and(|r| r.is_empty()),
        "a silent client was not cut off"
    );
    assert!(
        after < limit,
        "a silent client was cut off only after {after:?}"
    );
    let (closed, after) = trickle;
    let reply = closed.expect("a trickling client was not cut off");
    assert!(
        after < limit,
        "a trickling client was cut off only after {after:?}"
    );
    assert!(
        !String::from_utf8_lossy(&reply).contains("thumbprint"),
        "a trickling client got the key authorization"
    );
    let (closed, after) = idle;
    let reply = closed.expect("an idle keep-alive connection was not closed");
    assert!(
        reply.starts_with(b"HTTP/1.1 200"),
        "the first request was served"
    );
    assert!(
        after < limit,
        "an idle connection was closed only after {after:?}"
    );
}

#[tokio::test]
async fn connections_beyond_256_wait_unaccepted_until_a_slot_frees() {
    let (_solver, addr) = serving_token().await;
    let mut holders = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        holders.push(TcpStream::connect(addr).await.expect("connect a holder"));
    }
    let started = Instant::now();

    let mut excess = TcpStream::connect(addr)
        .await
        .expect("the kernel queues the connection");
    let request = format!(
        "GET /.well-known/acme-challenge/{TOKEN} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    excess.write_all(request.as_bytes()).await.expect("send");
    let mut buffer = [0; 4096];
    let early = tokio::time::timeout(Duration::from_secs(1), excess.read(&mut buffer)).await;
    assert!(
        early.is_err(),
        "connection {} was served while {MAX_CONNECTIONS} others were open: {early:?}",
        MAX_CONNECTIONS + 1
    );

    drop(holders.pop());
    let reply = read_until_closed(&mut excess, Duration::from_secs(2))
        .await
        .expect("served once a slot is free");
    assert!(
        reply.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    assert!(
        started.elapsed() < HEADER_READ_TIMEOUT,
        "the slot must have come from the closed holder, not from the timeout"
    );
}
