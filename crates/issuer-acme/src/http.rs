use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Request, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use instant_acme::{BodyWrapper, BytesResponse, HttpClient};

use acme_core::Error;

/// Requests sent to ACME servers, by `method`, `host` and `status` (a counter).
const REQUEST_COUNT: &str = "acmekeep_acme_client_request_count";
/// How long ACME requests took, by `method`, `host` and `status` (a histogram, seconds).
const REQUEST_DURATION: &str = "acmekeep_acme_client_request_duration_seconds";

tokio::task_local! {
    /// When the CA last asked to be left alone, within the current [`watch_refusals`] scope:
    /// the `Retry-After` of the last answer, if it was a 429 or 503 carrying one.
    static REFUSAL: Cell<Option<SystemTime>>;
}

/// Runs `call` (one attempt of one ACME step) and returns its result with the time the
/// CA's last 429 or 503 answer during it asked to be retried at (its `Retry-After`).
///
/// instant-acme turns an error answer into a problem document and drops the headers; the
/// client notes the header here, in a scope of the task making the request, so concurrent
/// issuances through the same client never see each other's answers.
pub(crate) async fn watch_refusals<F: Future>(call: F) -> (F::Output, Option<SystemTime>) {
    REFUSAL
        .scope(Cell::new(None), async {
            let output = call.await;
            (output, REFUSAL.with(Cell::get))
        })
        .await
}

/// Notes the `Retry-After` of a 429 or 503 answer for [`watch_refusals`], if a scope
/// watches; any other answer clears it, as the step's error can only come from the last.
fn note_refusal(uri: &Uri, parts: &http::response::Parts) {
    let asked = matches!(parts.status.as_u16(), 429 | 503);
    let retry_after = parts
        .headers
        .get(http::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .filter(|_| asked)
        .and_then(|value| {
            let parsed = parse_retry_after(value, SystemTime::now());
            if parsed.is_none() {
                tracing::debug!(%uri, value, "ignoring an unreadable Retry-After");
            }
            parsed
        });
    if let Some(at) = retry_after {
        tracing::debug!(%uri, status = parts.status.as_u16(), retry_at = %humantime::format_rfc3339_seconds(at), "the CA asked to retry later");
    }
    // Outside a scope (a request no step watches) there is nobody to tell.
    let _ = REFUSAL.try_with(|slot| slot.set(retry_after));
}

/// A `Retry-After` value (RFC 9110 §10.2.3) as the instant it names: `delay-seconds`
/// counted from `now`, or an `HTTP-date`. `None` for anything else.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<SystemTime> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return now.checked_add(Duration::from_secs(value.parse().ok()?));
    }
    httpdate::parse_http_date(value).ok()
}

/// The HTTP client the ACME engine talks through: system roots plus an optional extra
/// bundle, a timeout on every request, and a debug line and metrics per request.
///
/// The metrics go through the `metrics` facade (no-ops unless the binary installs a
/// recorder). Their labels stay bounded: the path is left out, since order, authorization
/// and certificate URLs are unique per request.
///
/// It also sees what instant-acme does not pass on: for the preferred-chain choice (see
/// `chain.rs`), the `Link: rel="alternate"` URLs of certificate downloads and the bodies
/// of answers it was asked to keep; and for [`watch_refusals`], the `Retry-After` of 429
/// and 503 answers.
#[derive(Clone)]
pub(crate) struct AcmeHttp {
    client: HyperClient<HttpsConnector<HttpConnector>, BodyWrapper<Bytes>>,
    timeout: Duration,
    links: Arc<Mutex<ChainLinks>>,
}

/// What the client remembers for the preferred-chain choice, shared by its clones.
#[derive(Default)]
struct ChainLinks {
    /// The alternate chains a successful answer listed (`Link: <url>;rel="alternate"`,
    /// RFC 8555 §7.4.2), by the URL that was asked: in practice certificate downloads.
    alternates: HashMap<Uri, Vec<String>>,
    /// URLs whose next successful answer's body is kept, and that body once it came.
    kept: HashMap<Uri, Option<Bytes>>,
}

impl AcmeHttp {
    pub(crate) fn new(ca_bundle: Option<&Path>, timeout: Duration) -> Result<AcmeHttp, Error> {
        let tls = acme_core::tls_client_config(ca_bundle)?;
        // Without TCP_NODELAY every JWS POST (written in two parts) waits ~40 ms for the
        // server's delayed ACK: Nagle's algorithm made each issuance three times slower.
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(tcp);
        metrics::describe_counter!(REQUEST_COUNT, "Requests sent to ACME servers.");
        metrics::describe_histogram!(
            REQUEST_DURATION,
            metrics::Unit::Seconds,
            "How long ACME requests took, answer or error."
        );
        Ok(AcmeHttp {
            client: HyperClient::builder(TokioExecutor::new()).build(connector),
            timeout,
            links: Arc::default(),
        })
    }

    /// The alternate chain URLs the CA listed when `certificate_url` was downloaded, in
    /// the order it listed them; forgotten once taken, empty if it listed none.
    pub(crate) fn take_alternates(&self, certificate_url: &str) -> Vec<String> {
        let Ok(uri) = certificate_url.parse::<Uri>() else {
            return Vec::new();
        };
        self.links().alternates.remove(&uri).unwrap_or_default()
    }

    /// Keeps the body of the next successful (2xx) answer from `url`, for [`Self::take_body`].
    pub(crate) fn keep_body(&self, url: &str) {
        if let Ok(uri) = url.parse::<Uri>() {
            self.links().kept.insert(uri, None);
        }
    }

    /// The body kept for `url` (see [`Self::keep_body`]), if a successful answer came;
    /// `url` is not watched any more afterwards.
    pub(crate) fn take_body(&self, url: &str) -> Option<Bytes> {
        let uri = url.parse::<Uri>().ok()?;
        self.links().kept.remove(&uri).flatten()
    }

    fn links(&self) -> std::sync::MutexGuard<'_, ChainLinks> {
        // The map stays consistent whatever panicked while holding it: every update is one call.
        self.links.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes what [`ChainLinks`] wants from a successful answer to `uri`: its body if it is
    /// kept (read here, so the answer handed on carries the same bytes), else its alternates.
    async fn remember(
        &self,
        uri: &Uri,
        mut rsp: BytesResponse,
    ) -> Result<BytesResponse, acme_core::BoxError> {
        note_refusal(uri, &rsp.parts);
        if !rsp.parts.status.is_success() {
            return Ok(rsp);
        }
        if self.links().kept.contains_key(uri) {
            let body = rsp.body.into_bytes().await?;
            if let Some(slot) = self.links().kept.get_mut(uri) {
                *slot = Some(body.clone());
            }
            return Ok(BytesResponse {
                parts: rsp.parts,
                body: Box::new(body),
            });
        }
        let alternates = alternate_links(uri, &rsp.parts.headers);
        if !alternates.is_empty() {
            self.links().alternates.insert(uri.clone(), alternates);
        }
        Ok(rsp)
    }
}

/// The targets of `Link` headers with relation type `alternate`, in header order, made
/// absolute against `base` when they are absolute paths (`</cert/1/alt>`).
fn alternate_links(base: &Uri, headers: &http::HeaderMap) -> Vec<String> {
    headers
        .get_all(http::header::LINK)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(link_values)
        .filter(|(_, params)| is_alternate(params))
        .filter_map(|(target, _)| absolute(base, target))
        .collect()
}

/// Splits one `Link` header value (RFC 8288) into `(target, parameters)` pairs; commas
/// inside `<…>` or quoted strings do not split.
fn link_values(value: &str) -> Vec<(&str, &str)> {
    let mut links = Vec::new();
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>').map(|i| open + i) else {
            break;
        };
        let target = &rest[open + 1..close];
        let after = &rest[close + 1..];
        let mut quoted = false;
        let end = after
            .char_indices()
            .find(|&(_, c)| {
                if c == '"' {
                    quoted = !quoted;
                }
                c == ',' && !quoted
            })
            .map_or(after.len(), |(i, _)| i);
        links.push((target.trim(), &after[..end]));
        rest = &after[end..];
    }
    links
}

/// Whether link parameters such as `;rel="alternate"` name the relation type `alternate`
/// (`rel` may list several types, separated by spaces, and may be unquoted).
fn is_alternate(params: &str) -> bool {
    params.split(';').any(|param| {
        let Some((name, value)) = param.split_once('=') else {
            return false;
        };
        name.trim().eq_ignore_ascii_case("rel")
            && value
                .trim()
                .trim_matches('"')
                .split_ascii_whitespace()
                .any(|rel| rel.eq_ignore_ascii_case("alternate"))
    })
}

/// `target` as an absolute URL: as is if it has a scheme, on `base`'s scheme and authority
/// if it is an absolute path; other relative forms are not used by ACME servers and are
/// dropped.
fn absolute(base: &Uri, target: &str) -> Option<String> {
    if target.starts_with("https://") || target.starts_with("http://") {
        return Some(target.to_string());
    }
    if target.starts_with('/') && !target.starts_with("//") {
        let (scheme, authority) = (base.scheme_str()?, base.authority()?);
        return Some(format!("{scheme}://{authority}{target}"));
    }
    tracing::debug!(target, "ignoring a relative Link target");
    None
}

impl HttpClient for AcmeHttp {
    fn request(
        &self,
        req: Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let method = req.method().clone();
        let uri = req.uri().clone();
        let timeout = self.timeout;
        let fut = self.client.request(req);
        let this = self.clone();
        Box::pin(async move {
            let started = std::time::Instant::now();
            let answer = async {
                let rsp = BytesResponse::from(fut.await.map_err(|e| Transport(Box::new(e)))?);
                this.remember(&uri, rsp).await.map_err(Transport)
            };
            let result = match tokio::time::timeout(timeout, answer).await {
                Ok(Ok(rsp)) => Ok(rsp),
                Ok(Err(e)) => Err(instant_acme::Error::Other(Box::new(e))),
                Err(_) => Err(instant_acme::Error::Other(Box::new(Transport(
                    format!("no answer within {timeout:?}").into(),
                )))),
            };
            let elapsed = started.elapsed();
            let status = match &result {
                Ok(rsp) => {
                    tracing::debug!(%method, %uri, status = rsp.parts.status.as_u16(), elapsed_ms = elapsed.as_millis() as u64, "ACME request");
                    rsp.parts.status.as_str().to_string()
                }
                Err(e) => {
                    tracing::debug!(%method, %uri, error = %e, "ACME request failed");
                    "error".to_string()
                }
            };
            let labels = [
                ("method", method.to_string()),
                ("host", host_label(&uri)),
                ("status", status),
            ];
            metrics::counter!(REQUEST_COUNT, &labels).increment(1);
            metrics::histogram!(REQUEST_DURATION, &labels).record(elapsed.as_secs_f64());
            result
        })
    }
}

/// The `host` label: host and, when the URL names one, port (never user information).
fn host_label(uri: &http::Uri) -> String {
    match (uri.host(), uri.port_u16()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        (None, _) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_exporter_prometheus::PrometheusBuilder;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A one-connection HTTP server that answers 404 to whatever it is asked.
    async fn not_found_server() -> std::net::SocketAddr {
        server("404 Not Found", "", "").await
    }

    /// A one-connection HTTP server that answers `status` with extra header lines
    /// `headers` (each ending in CRLF) and `body` to whatever it is asked.
    async fn server(
        status: &'static str,
        headers: &'static str,
        body: &'static str,
    ) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            let mut head = [0u8; 1024];
            let _ = stream.read(&mut head).await;
            let answer = format!(
                "HTTP/1.1 {status}\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(answer.as_bytes()).await.expect("answer");
        });
        addr
    }

    const CHAIN: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const ALTERNATE_LINKS: &str = "link: <https://ca.example/cert/1/alt/1>;rel=\"alternate\"\r\n\
                                   link: <https://ca.example/dir>;rel=\"index\"\r\n\
                                   link: </cert/1/alt/2>; rel=alternate\r\n";

    #[test]
    fn alternate_links_are_read_in_order_and_absolute_paths_resolved() {
        let base: Uri = "https://ca.example:14000/cert/1".parse().expect("uri");
        let mut headers = http::HeaderMap::new();
        let mut add = |value: &'static str| {
            headers.append(http::header::LINK, http::HeaderValue::from_static(value));
        };
        add(r#"<https://ca.example:14000/cert/1/alt/1>;rel="alternate""#);
        add(
            r#"<https://ca.example:14000/dir>;rel="index", </cert/1/alt/2>; title="a, b"; rel=alternate"#,
        );
        add(r#"<https://ca.example:14000/cert/1/up>;rel="up alternate""#);
        add(r#"<alt/4>;rel="alternate""#);

        assert_eq!(
            alternate_links(&base, &headers),
            [
                "https://ca.example:14000/cert/1/alt/1",
                "https://ca.example:14000/cert/1/alt/2",
                "https://ca.example:14000/cert/1/up",
            ]
        );
    }

    #[tokio::test]
    async fn the_alternates_of_a_download_are_remembered_until_taken() {
        let addr = server("200 OK", ALTERNATE_LINKS, CHAIN).await;
        let http = AcmeHttp::new(None, Duration::from_secs(5)).expect("client");
        let url = format!("http://{addr}/cert/1");

        http.request(get(&url)).await.expect("answer");

        assert_eq!(
            http.take_alternates(&url),
            [
                "https://ca.example/cert/1/alt/1".to_string(),
                format!("http://{addr}/cert/1/alt/2"),
            ]
        );
        assert!(
            http.take_alternates(&url).is_empty(),
            "taken means forgotten"
        );
    }

    #[tokio::test]
    async fn a_kept_body_is_captured_and_still_handed_on() {
        let addr = server("200 OK", ALTERNATE_LINKS, CHAIN).await;
        let http = AcmeHttp::new(None, Duration::from_secs(5)).expect("client");
        let url = format!("http://{addr}/cert/1/alt/1");

        http.keep_body(&url);
        let mut rsp = http.request(get(&url)).await.expect("answer");

        assert_eq!(rsp.body.into_bytes().await.expect("body"), CHAIN);
        assert_eq!(http.take_body(&url).as_deref(), Some(CHAIN.as_bytes()));
        assert_eq!(http.take_body(&url), None, "taken means forgotten");
        assert!(
            http.take_alternates(&url).is_empty(),
            "a kept answer's links are not remembered"
        );
    }

    #[tokio::test]
    async fn an_error_answer_is_not_kept() {
        let addr = not_found_server().await;
        let http = AcmeHttp::new(None, Duration::from_secs(5)).expect("client");
        let url = format!("http://{addr}/cert/1/alt/1");

        http.keep_body(&url);
        http.request(get(&url)).await.expect("answer");

        assert_eq!(http.take_body(&url), None);
    }

    #[test]
    fn retry_after_in_delta_seconds_counts_from_now() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after("120", now),
            Some(now + Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(now));
    }

    #[test]
    fn retry_after_as_an_http_date_is_that_instant() {
        let now = SystemTime::UNIX_EPOCH;
        // 1994-11-06T08:49:37Z, RFC 9110's example in its three permitted formats.
        let expected = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            expected
        );
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now),
            expected
        );
        assert_eq!(parse_retry_after("Sun Nov  6 08:49:37 1994", now), expected);
    }

    #[test]
    fn an_unreadable_retry_after_is_ignored() {
        let now = SystemTime::UNIX_EPOCH;
        for value in [
            "",
            "soon",
            "-5",
            "1.5",
            "99999999999999999999999",
            "18446744073709551615",
            "2026-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_retry_after(value, now), None, "{value:?}");
        }
    }

    const RATE_LIMITED: &str = r#"{"type":"urn:ietf:params:acme:error:rateLimited","status":429}"#;

    #[tokio::test]
    async fn the_retry_after_of_a_429_answer_is_seen_by_the_watching_step() {
        let addr = server(
            "429 Too Many Requests",
            "retry-after: 3600\r\n",
            RATE_LIMITED,
        )
        .await;
        let http = AcmeHttp::new(None, Duration::from_secs(5)).expect("client");
        let before = SystemTime::now();

        let (rsp, refusal) =
            watch_refusals(http.request(get(&format!("http://{addr}/new-order")))).await;

        assert_eq!(rsp.expect("answer").parts.status, 429);
        let at = refusal.expect("the Retry-After was noted");
        assert!(at >= before + Duration::from_secs(3600), "{at:?}");
        assert!(
            at <= SystemTime::now() + Duration::from_secs(3600),
            "{at:?}"
        );
    }

    #[tokio::test]
    async fn a_later_answer_without_retry_after_clears_the_earlier_one() {
        let limited = server("503 Service Unavailable", "retry-after: 60\r\n", "").await;
        let fine = server("200 OK", "", "{}").await;
        let http = AcmeHttp::new(None, Duration::from_secs(5)).expect("client");

        let (_, refusal) = watch_refusals(async {
            let _ = http
                .request(get(&format!("http://{limited}/order/1")))
                .await;
            http.request(get(&format!("http://{fine}/order/1"))).await
        })
        .await;

        assert_eq!(refusal, None);
    }

    #[tokio::test]
    async fn retry_after_on_other_errors_is_not_a_refusal() {
        let addr = server("400 Bad Request", "retry-after: 60\r\n", "{}").await;
        let http = AcmeHttp::new(None, Duration::from_secs(5)).expect("client");

        let (_, refusal) = watch_refusals(http.request(get(&format!("http://{addr}/order")))).await;

        assert_eq!(refusal, None);
    }

    #[tokio::test]
    async fn a_request_outside_a_watching_step_still_gets_its_answer() {
        let addr = server("429 Too Many Requests", "retry-after: 60\r\n", RATE_LIMITED).await;
        let http = AcmeHttp::new(None, Duration::from_secs(5)).expect("client");

        let rsp = http.request(get(&format!("http://{addr}/new-order"))).await;

        assert_eq!(rsp.expect("answer").parts.status, 429);
    }

    fn get(url: &str) -> Request<BodyWrapper<Bytes>> {
        Request::get(url)
            .body(BodyWrapper::from(Vec::new()))
            .expect("request")
    }

    #[tokio::test]
    async fn every_request_is_counted_and_timed_by_method_host_and_status() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let _guard = metrics::set_default_local_recorder(&recorder);
        let addr = not_found_server().await;
        let http = AcmeHttp::new(None, Duration::from_secs(5)).expect("client");

        let rsp = http
            .request(get(&format!("http://{addr}/acme/order/1234/5678")))
            .await
            .expect("answer");
        assert_eq!(rsp.parts.status, 404);

        let text = handle.render();
        let labels = format!("method=\"GET\",host=\"{addr}\",status=\"404\"");
        assert!(
            text.contains(&format!(
                "acmekeep_acme_client_request_count{{{labels}}} 1\n"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "acmekeep_acme_client_request_duration_seconds_count{{{labels}}} 1\n"
            )),
            "{text}"
        );
        assert!(
            !text.contains("/acme/order"),
            "paths stay out of labels: {text}"
        );
    }

    #[tokio::test]
    async fn a_request_without_an_answer_is_counted_with_status_error() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let _guard = metrics::set_default_local_recorder(&recorder);
        let closed = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind")
            .local_addr()
            .expect("local addr");
        let http = AcmeHttp::new(None, Duration::from_secs(5)).expect("client");

        let result = http
            .request(get(&format!("http://{closed}/directory")))
            .await;
        assert!(result.is_err());

        let text = handle.render();
        let expected = format!(
            "acmekeep_acme_client_request_count{{method=\"GET\",host=\"{closed}\",status=\"error\"}} 1\n"
        );
        assert!(text.contains(&expected), "{text}");
    }
}

/// A request that got no HTTP answer (connection refused or reset, TLS failure, timeout):
/// the one kind of `instant_acme::Error::Other` that is safe to retry.
#[derive(Debug)]
pub(crate) struct Transport(pub(crate) acme_core::BoxError);

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Transport {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}
