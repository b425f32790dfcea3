//! Helpers shared by the integration tests: challenges and a raw HTTP/1.1 client.

#![allow(dead_code)] // each test file uses a different subset

use std::net::SocketAddr;

use acme_core::{Challenge, ChallengeKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An HTTP-01 challenge for `www.example.com` with a recognisable key authorization.
pub fn challenge(token: &str) -> Challenge {
    Challenge {
        kind: ChallengeKind::Http01,
        identifier: "www.example.com".to_string(),
        wildcard: false,
        token: token.to_string(),
        key_authorization: format!("{token}.thumbprint-of-the-account-key"),
        dns_value: String::new(),
    }
}

/// One HTTP response as read off the wire.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    }
}

/// Sends `METHOD path HTTP/1.1` with `Connection: close` and reads the whole reply.
pub async fn request(addr: SocketAddr, method: &str, path: &str) -> Reply {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request =
        format!("{method} {path} HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read reply");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = String::from_utf8(raw[..split].to_vec()).expect("an ASCII head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    Reply {
        status,
        head,
        body: raw[split + 4..].to_vec(),
    }
}

/// `GET /.well-known/acme-challenge/<token>`.
pub async fn fetch(addr: SocketAddr, token: &str) -> Reply {
    request(addr, "GET", &format!("/.well-known/acme-challenge/{token}")).await
}
