//! What every connection to a remote API that carries credentials shares: the HTTPS client
//! (no redirect to another origin) and the rule on plain `http://` URLs.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use reqwest::Url;
use reqwest::redirect::{Attempt, Policy};

use crate::Error;

/// How many redirects within one origin a request may follow.
const MAX_REDIRECTS: usize = 5;

/// The HTTPS client for APIs that are sent credentials (Vault, Venafi, PowerDNS,
/// Cloudflare): the TLS settings of [`tls_client_config`](crate::tls_client_config), a
/// `timeout` per request, and redirects followed only within the same origin (scheme, host
/// and port), so a token header or a request body is never re-sent to another server.
pub fn https_client(ca_bundle: Option<&Path>, timeout: Duration) -> Result<reqwest::Client, Error> {
    let tls = crate::tls_client_config(ca_bundle)?;
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(timeout)
        .redirect(Policy::custom(same_origin_only))
        .build()
        .map_err(|e| Error::Certificate(format!("HTTP client setup: {e}")))
}

/// The redirect policy of [`https_client`].
fn same_origin_only(attempt: Attempt<'_>) -> reqwest::redirect::Action {
    let from = attempt.previous().last().map(Url::origin);
    if from.as_ref() != Some(&attempt.url().origin()) {
        let message = format!(
            "refused to follow a redirect to another origin ({}): credentials are only sent to the configured URL",
            attempt.url().origin().ascii_serialization()
        );
        attempt.error(message)
    } else if attempt.previous().len() > MAX_REDIRECTS {
        attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
    } else {
        attempt.follow()
    }
}

/// Checks the URL configured at `key` of a component: `https://` is fine, so is `http://`
/// to a loopback address (`127.0.0.0/8`, `::1`, `localhost`); plain HTTP to any other host
/// is refused unless `allow_insecure_http` is set, and then logged as a warning each time
/// the component is built. URLs that are not `http://` are left to the component.
pub fn check_plain_http(key: &str, url: &str, allow_insecure_http: bool) -> Result<(), String> {
    let url = url.trim();
    if !url
        .get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"))
    {
        return Ok(());
    }
    let parsed = Url::parse(url).map_err(|e| format!("{key} {url:?} is not a URL: {e}"))?;
    let host = parsed.host_str().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if loopback {
        return Ok(());
    }
    if allow_insecure_http {
        tracing::warn!(
            "{key} {url:?} is plain HTTP to a host that is not loopback, allowed by \
             allow_insecure_http = true: credentials and certificates cross the network unencrypted"
        );
        return Ok(());
    }
    Err(format!(
        "{key} {url:?} is plain http:// to a host that is not a loopback address, which would send \
         credentials and certificates unencrypted: use https://, or set allow_insecure_http = true \
         beside it to accept that"
    ))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use super::*;

    /// Serves `answers` in order, one connection each, on a free loopback port.
    fn serve(answers: Vec<String>) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            for answer in answers {
                let Ok((mut stream, _)) = listener.accept() else {
                    return;
                };
                let mut head = [0u8; 4096];
                let _ = stream.read(&mut head);
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        port
    }

    fn redirect_to(location: &str) -> String {
        format!(
            "HTTP/1.1 307 Temporary Redirect\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        )
    }

    #[tokio::test]
    async fn a_redirect_within_the_origin_is_followed_and_one_elsewhere_is_refused() {
        let ok = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok".to_string();
        let client = https_client(None, Duration::from_secs(10)).expect("client");

        let port = serve(vec![redirect_to("/next"), ok]);
        let answer = client
            .post(format!("http://127.0.0.1:{port}/first"))
            .body("payload")
            .send()
            .await
            .expect("same origin is followed");
        assert_eq!(answer.status(), 200);

        let elsewhere = serve(Vec::new());
        let port = serve(vec![redirect_to(&format!(
            "http://127.0.0.1:{elsewhere}/x"
        ))]);
        let err = client
            .post(format!("http://127.0.0.1:{port}/first"))
            .body("payload")
            .send()
            .await
            .expect_err("another port is another origin");
        let text = format!("{err:?}");
        assert!(
            text.contains("refused to follow a redirect to another origin"),
            "{text}"
        );
    }

    #[test]
    fn https_and_loopback_http_pass_and_other_http_is_refused_naming_key_and_opt_in() {
        for ok in [
            "https://vault.example.com:8200",
            "http://127.0.0.1:8200",
            "http://127.8.9.10/x",
            "http://[::1]:8081",
            "http://localhost:8081/api",
            "HTTP://LOCALHOST",
        ] {
            assert_eq!(check_plain_http("url", ok, false), Ok(()), "{ok}");
        }
        for bad in [
            "http://vault.example.com:8200",
            "http://10.0.0.5",
            "http://[2001:db8::1]/",
            "http://localhost.example.com",
        ] {
            let err = check_plain_http("api_url", bad, false).expect_err(bad);
            assert!(
                err.starts_with(&format!("api_url {bad:?} is plain http://")),
                "{err}"
            );
            assert!(err.contains("allow_insecure_http = true"), "{err}");
            assert_eq!(check_plain_http("api_url", bad, true), Ok(()), "{bad}");
        }
    }
}
