//! Listen mode: the built-in challenge server, spoken to over real loopback HTTP.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use acme_core::{ChallengeKind, Solver};
use common::{challenge, fetch, request};
use http01::{Http01Config, Http01Solver};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
const OTHER_TOKEN: &str = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";

fn solver_on(listen: SocketAddr) -> Http01Solver {
    let config = Http01Config {
        listen: Some(listen),
        webroot: None,
    };
    Http01Solver::new("web".to_string(), config).expect("valid config")
}

/// A solver on a free loopback port, with `TOKEN` presented; returns the bound address.
async fn serving_token() -> (Http01Solver, SocketAddr) {
    let solver = solver_on(SocketAddr::from(([127, 0, 0, 1], 0)));
    solver.present(&challenge(TOKEN)).await.expect("present");
    let addr = solver.local_addr().await.expect("bound after present");
    (solver, addr)
}

async fn port_accepts(addr: SocketAddr) -> bool {
    TcpStream::connect(addr).await.is_ok()
}

#[tokio::test]
async fn the_solver_answers_http_01_and_binds_nothing_before_the_first_challenge() {
    let solver = solver_on(SocketAddr::from(([127, 0, 0, 1], 0)));
    assert_eq!(solver.kind(), ChallengeKind::Http01);
    assert_eq!(solver.name(), "web");
    assert_eq!(solver.local_addr().await, None);
}

#[tokio::test]
async fn a_presented_token_is_served_with_exactly_its_key_authorization() {
    let (_solver, addr) = serving_token().await;
    let reply = fetch(addr, TOKEN).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, challenge(TOKEN).key_authorization.as_bytes());
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/octet-stream")
    );
}

#[tokio::test]
async fn head_gets_the_headers_without_the_body() {
    let (_solver, addr) = serving_token().await;
    let reply = request(
        addr,
        "HEAD",
        &format!("/.well-known/acme-challenge/{TOKEN}"),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.is_empty());
}

#[tokio::test]
async fn an_unknown_token_is_not_found() {
    let (_solver, addr) = serving_token().await;
    assert_eq!(fetch(addr, OTHER_TOKEN).await.status, 404);
}

#[tokio::test]
async fn a_cleaned_up_token_is_no_longer_served() {
    let (solver, addr) = serving_token().await;
    solver.cleanup(&challenge(TOKEN)).await.expect("cleanup");
    assert_eq!(fetch(addr, TOKEN).await.status, 404);
}

#[tokio::test]
async fn two_tokens_are_served_at_once_by_one_listener_and_cleaned_up_separately() {
    let (solver, addr) = serving_token().await;
    solver
        .present(&challenge(OTHER_TOKEN))
        .await
        .expect("present the second challenge");
    assert_eq!(
        solver.local_addr().await,
        Some(addr),
        "the listener is shared"
    );

    for token in [TOKEN, OTHER_TOKEN] {
        let reply = fetch(addr, token).await;
        assert_eq!(reply.status, 200, "{token}");
        assert_eq!(reply.body, challenge(token).key_authorization.as_bytes());
    }

    solver.cleanup(&challenge(TOKEN)).await.expect("cleanup");
    assert_eq!(fetch(addr, TOKEN).await.status, 404);
    assert_eq!(fetch(addr, OTHER_TOKEN).await.status, 200);
}

#[tokio::test]
async fn path_tricks_are_not_found_rather_than_errors() {
    let (solver, addr) = serving_token().await;
    solver.present(&challenge("a")).await.expect("present a");
    let long = "a".repeat(8000);
    let paths = [
        "/.well-known/acme-challenge/../x".to_string(),
        format!("/.well-known/acme-challenge/../acme-challenge/{TOKEN}"),
        format!("/x/../.well-known/acme-challenge/{TOKEN}"),
        "/.well-known/acme-challenge/%2e%2e".to_string(),
        "/.well-known/acme-challenge/%2e%2e/x".to_string(),
        "/.well-known/acme-challenge/a%2Fb".to_string(),
        "/.well-known/acme-challenge/a%2fb".to_string(),
        "/.well-known/acme-challenge/%61".to_string(),
        "/.well-known/acme-challenge/a%00".to_string(),
        "/.well-known/acme-challenge/%ff".to_string(),
        format!("/.well-known/acme-challenge/{TOKEN}/"),
        format!("/.well-known/acme-challenge//{TOKEN}"),
        "/.well-known/acme-challenge/".to_string(),
        "/.well-known/acme-challenge".to_string(),
        "/".to_string(),
        format!("/.well-known/acme-challenge/{long}"),
        format!("/{long}"),
    ];
    for path in &paths {
        let reply = request(addr, "GET", path).await;
        assert_eq!(reply.status, 404, "GET {path}");
        assert!(reply.body.is_empty() || !reply.body.starts_with(TOKEN.as_bytes()));
    }
}

#[tokio::test]
async fn an_oversized_request_head_is_refused_without_a_server_error() {
    let (_solver, addr) = serving_token().await;
    let path = format!("/.well-known/acme-challenge/{}", "a".repeat(64 * 1024));
    let reply = request(addr, "GET", &path).await;
    assert!(
        (400..500).contains(&reply.status),
        "status {} (expected 4xx)",
        reply.status
    );
}

#[tokio::test]
async fn methods_other_than_get_and_head_are_refused() {
    let (_solver, addr) = serving_token().await;
    for method in ["POST", "PUT", "DELETE"] {
        let reply = request(
            addr,
            method,
            &format!("/.well-known/acme-challenge/{TOKEN}"),
        )
        .await;
        assert_eq!(reply.status, 405, "{method}");
        assert!(reply.body.is_empty(), "{method} got a body");
    }
}

#[tokio::test]
async fn a_token_outside_the_acme_alphabet_is_refused_at_present() {
    let solver = solver_on(SocketAddr::from(([127, 0, 0, 1], 0)));
    let error = solver
        .present(&challenge("../etc/passwd"))
        .await
        .expect_err("refused");
    let message = error.to_string();
    assert!(message.contains("solver web"), "{message}");
    assert!(message.contains("\"../etc/passwd\""), "{message}");
}

#[tokio::test]
async fn a_challenge_of_another_type_is_refused() {
    let solver = solver_on(SocketAddr::from(([127, 0, 0, 1], 0)));
    let mut dns = challenge(TOKEN);
    dns.kind = ChallengeKind::Dns01;
    let error = solver.present(&dns).await.expect_err("refused");
    assert!(error.to_string().contains("dns-01"), "{error}");
}

#[tokio::test]
async fn shutdown_releases_the_port_before_it_returns() {
    let (solver, addr) = serving_token().await;
    assert!(port_accepts(addr).await);
    solver.shutdown().await;
    assert!(
        !port_accepts(addr).await,
        "{addr} still accepts connections"
    );
    assert_eq!(solver.local_addr().await, None);
}

#[tokio::test]
async fn shutdown_closes_open_keep_alive_connections() {
    let (solver, addr) = serving_token().await;
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET /.well-known/acme-challenge/{TOKEN} HTTP/1.1\r\nHost: x\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut buffer = vec![0; 4096];
    let read = stream.read(&mut buffer).await.expect("read the reply");
    assert!(buffer[..read].starts_with(b"HTTP/1.1 200"));

    solver.shutdown().await;
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
        .await
        .expect("the connection is closed, not left open");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
}

#[tokio::test]
async fn dropping_the_solver_releases_the_port() {
    let (solver, addr) = serving_token().await;
    assert!(port_accepts(addr).await);
    drop(solver);
    // The server task is aborted on drop and goes away at the runtime's next turn.
    for _ in 0..100 {
        if !port_accepts(addr).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{addr} still accepts connections after the solver was dropped");
}

#[tokio::test]
async fn a_port_in_use_is_reported_with_the_address_and_the_usual_fix() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let addr = taken.local_addr().expect("address");
    let solver = solver_on(addr);

    let error = solver
        .present(&challenge(TOKEN))
        .await
        .expect_err("the port is taken");
    let message = error.to_string();
    assert!(message.starts_with("solver web: "), "{message}");
    assert!(
        message.contains(&format!("cannot listen on {addr}")),
        "{message}"
    );
    assert!(message.contains("webroot"), "{message}");
    assert_eq!(solver.local_addr().await, None);
}
