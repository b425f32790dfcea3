use std::path::Path;

use acme_core::{HEALTH_TIMEOUT, Health};

use acme_core::error_chain as chain;

/// Well-known ACME directories, by the alias a configuration may use instead of a URL.
pub const DIRECTORY_ALIASES: [(&str, &str); 7] = [
    (
        "letsencrypt",
        "https://acme-v02.api.letsencrypt.org/directory",
    ),
    (
        "letsencrypt-staging",
        "https://acme-staging-v02.api.letsencrypt.org/directory",
    ),
    ("zerossl", "https://acme.zerossl.com/v2/DV90"),
    ("google", "https://dv.acme-v02.api.pki.goog/directory"),
    (
        "google-staging",
        "https://dv.acme-v02.test-api.pki.goog/directory",
    ),
    ("buypass", "https://api.buypass.com/acme/directory"),
    (
        "buypass-staging",
        "https://api.test4.buypass.no/acme/directory",
    ),
];

/// Turns a directory alias or URL into a URL, or says what is accepted.
pub fn resolve_directory(alias_or_url: &str) -> Result<String, String> {
    if let Some((_, url)) = DIRECTORY_ALIASES
        .iter()
        .find(|(alias, _)| *alias == alias_or_url)
    {
        return Ok((*url).to_string());
    }
    if alias_or_url.starts_with("https://") || alias_or_url.starts_with("http://") {
        return Ok(alias_or_url.to_string());
    }
    let aliases: Vec<&str> = DIRECTORY_ALIASES.iter().map(|(a, _)| *a).collect();
    Err(format!(
        "{alias_or_url:?} is neither an https:// URL nor a known alias ({})",
        aliases.join(", ")
    ))
}

/// Fetches the directory: healthy when it answers with an ACME directory (one that names
/// `newOrder`), with the server's `Date` for comparing clocks.
pub(crate) async fn health(url: &str, ca_bundle: Option<&Path>) -> Health {
    let client = match acme_core::https_client(ca_bundle, HEALTH_TIMEOUT) {
        Ok(client) => client,
        Err(err) => return Health::unreachable(url, err.to_string()),
    };
    let response = match client.get(url).send().await {
        Ok(response) => response,
        Err(err) => return Health::unreachable(url, chain(&err)),
    };
    let status = response.status();
    let date = response
        .headers()
        .get(http::header::DATE)
        .and_then(|d| d.to_str().ok())
        .and_then(|d| httpdate::parse_http_date(d).ok());
    let body = response.text().await.unwrap_or_default();
    let health = if status.is_success() && body.contains("newOrder") {
        Health::healthy(url, "answered with an ACME directory")
    } else {
        Health::unreachable(
            url,
            format!("it answered HTTP {status} without an ACME directory (no newOrder)"),
        )
    };
    health.with_server_date(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_urls_resolve_and_typos_list_the_aliases() {
        assert_eq!(
            resolve_directory("letsencrypt-staging").as_deref(),
            Ok("https://acme-staging-v02.api.letsencrypt.org/directory")
        );
        assert_eq!(
            resolve_directory("https://127.0.0.1:14000/dir").as_deref(),
            Ok("https://127.0.0.1:14000/dir")
        );
        let err = resolve_directory("letsencrpyt").unwrap_err();
        assert!(err.contains("letsencrypt-staging"), "{err}");
    }

    /// Serves one fixed HTTP answer to every connection; returns its URL.
    fn answering(answer: &'static str) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut request = [0u8; 2048];
                let _ = stream.read(&mut request);
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        format!("http://{addr}/directory")
    }

    #[tokio::test]
    async fn a_directory_that_names_new_order_is_healthy_and_its_date_is_kept() {
        let body = r#"{"newOrder":"http://x/new-order"}"#;
        let answer: &'static str = Box::leak(
            format!(
                "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_boxed_str(),
        );
        let health = health(&answering(answer), None).await;
        assert_eq!(health.status, acme_core::HealthStatus::Healthy, "{health}");
        assert_eq!(
            health
                .server_date
                .map(humantime::format_rfc3339_seconds)
                .map(|d| d.to_string()),
            Some("1994-11-06T08:49:37Z".to_string())
        );
    }

    #[tokio::test]
    async fn another_answer_or_none_is_unreachable_and_says_why() {
        let url =
            answering("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let health = health(&url, None).await;
        assert_eq!(health.status, acme_core::HealthStatus::Unreachable);
        assert_eq!(
            health.detail,
            "it answered HTTP 404 Not Found without an ACME directory (no newOrder)"
        );
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("addr")
        };
        let health = health_of_closed(closed).await;
        assert_eq!(health.status, acme_core::HealthStatus::Unreachable);
        assert!(health.detail.contains("onnection refused"), "{health}");
        assert_eq!(health.endpoint, format!("http://{closed}/directory"));
    }

    async fn health_of_closed(addr: std::net::SocketAddr) -> Health {
        health(&format!("http://{addr}/directory"), None).await
    }
}
