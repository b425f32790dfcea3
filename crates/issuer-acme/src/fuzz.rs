//! Property tests ("fuzzing" on stable Rust) of the ACME answers this crate reads itself,
//! beyond what instant-acme checks: renewal information windows (RFC 9773), problem
//! documents, chains offered for `preferred_chain`, and `Link` headers naming alternate
//! chains (through the real HTTP client, from a loopback server).
//!
//! Every property: no panic, and what cannot be used is a clean [`Error`] with a message.
//! Inputs are bounded, so no case can hang. CI runs proptest's default of 256 cases per
//! property; a longer run is `PROPTEST_CASES=100000 cargo test -p issuer-acme --release fuzz`.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use instant_acme::{BodyWrapper, HttpClient, Problem, RenewalInfo};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::ari::{MAX_REFRESH, MIN_REFRESH, certificate_id, window};
use super::chain::ChainNames;
use super::http::AcmeHttp;
use super::retry::classify;
use acme_core::Error;

fn assert_clean(err: &Error) {
    let text = err.to_string();
    assert!(
        !text.trim().is_empty(),
        "an error without a message: {err:?}"
    );
}

/// RFC 3339 timestamps: mostly well-formed with extreme years, offsets and fractions, and
/// some arbitrary short text.
fn timestamp() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (0u32..=9999, 1u32..=12, 1u32..=31, 0u32..=23, 0u32..=59, 0u32..=60,
              prop::option::of("[0-9]{1,12}"), prop_oneof![Just("Z".to_string()), "[+-][0-2][0-9]:[0-5][0-9]"])
            .prop_map(|(y, mo, d, h, mi, s, frac, zone)| {
                let frac = frac.map(|f| format!(".{f}")).unwrap_or_default();
                format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}{zone}")
            }),
        1 => "[ -~]{0,40}",
    ]
}

/// A renewal-information answer: usually the right shape, sometimes a field of another type
/// or missing.
fn renewal_info_json() -> impl Strategy<Value = Value> {
    let field = prop_oneof![
        8 => timestamp().prop_map(Value::String),
        1 => any::<i64>().prop_map(Value::from),
        1 => Just(Value::Null),
    ];
    (
        prop::option::of(field.clone()),
        prop::option::of(field),
        prop::option::of("[ -~]{0,60}"),
    )
        .prop_map(|(start, end, explanation)| {
            let mut window = serde_json::Map::new();
            if let Some(start) = start {
                window.insert("start".into(), start);
            }
            if let Some(end) = end {
                window.insert("end".into(), end);
            }
            let mut answer = json!({ "suggestedWindow": window });
            if let Some(url) = explanation {
                answer["explanationURL"] = Value::String(url);
            }
            answer
        })
}

/// A problem document as a CA might send it, hostile text included.
fn problem_json() -> impl Strategy<Value = Value> {
    let text = prop_oneof![
        "urn:ietf:params:acme:error:[a-zA-Z]{0,20}",
        "[ -~]{0,40}",
        any::<String>().prop_map(|s| s.chars().take(80).collect()),
    ];
    let subproblem = (
        prop::option::of(text.clone()),
        prop::option::of(text.clone()),
    )
        .prop_map(|(kind, detail)| json!({ "type": kind, "detail": detail }));
    (
        prop::option::of(text.clone()),
        prop::option::of(text),
        prop::option::of(any::<u16>()),
        prop::collection::vec(subproblem, 0..4),
    )
        .prop_map(|(kind, detail, status, subproblems)| {
            json!({ "type": kind, "detail": detail, "status": status, "subproblems": subproblems })
        })
}

/// A leaf with an Authority Key Identifier and its issuer, PEM, leaf first.
fn chain_pem() -> &'static str {
    static CHAIN: OnceLock<String> = OnceLock::new();
    CHAIN.get_or_init(|| {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "Fuzz Root");
        let ca_key = KeyPair::generate().expect("CA key");
        let ca_pem = ca.self_signed(&ca_key).expect("sign CA").pem();
        let issuer = Issuer::new(ca, ca_key);
        let mut leaf = CertificateParams::new(vec!["a.example.test".to_string()]).expect("leaf");
        leaf.use_authority_key_identifier_extension = true;
        leaf.distinguished_name
            .push(DnType::CommonName, "a.example.test");
        let leaf_key = KeyPair::generate().expect("leaf key");
        let leaf_pem = leaf.signed_by(&leaf_key, &issuer).expect("sign leaf").pem();
        format!("{leaf_pem}{ca_pem}")
    })
}

/// The chain after up to four byte edits: cut, bit flip or random insertion.
fn edited_chain() -> impl Strategy<Value = String> {
    let edit = (
        0u8..3,
        any::<prop::sample::Index>(),
        any::<u8>(),
        "[ -~\n]{1,20}",
    );
    prop::collection::vec(edit, 0..5).prop_map(|edits| {
        let mut bytes = chain_pem().as_bytes().to_vec();
        for (kind, at, bits, text) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at.index(bytes.len());
            match kind {
                0 => bytes.truncate(i),
                1 => bytes[i] ^= bits.max(1),
                _ => {
                    bytes.splice(i..i, text.bytes());
                }
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// `Link` header values built from the pieces RFC 8288 parsing cares about.
fn link_header() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("<".to_string()),
        Just(">".to_string()),
        Just(",".to_string()),
        Just(";".to_string()),
        Just("\"".to_string()),
        Just(" ".to_string()),
        Just("rel=".to_string()),
        Just("alternate".to_string()),
        Just("\"up alternate\"".to_string()),
        Just("https://ca.example/alt/1".to_string()),
        Just("/cert/2".to_string()),
        Just("//evil.example/x".to_string()),
        "[!-~]{1,12}",
    ];
    prop::collection::vec(piece, 0..16).prop_map(|pieces| pieces.concat())
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

/// One client for every case: building one reads the system trust store.
fn client() -> &'static AcmeHttp {
    static CLIENT: OnceLock<AcmeHttp> = OnceLock::new();
    CLIENT.get_or_init(|| AcmeHttp::new(None, Duration::from_secs(5)).expect("client"))
}

/// Asks a one-answer loopback server that sends `links` as `Link` headers, through the
/// ACME HTTP client, and returns the alternates the client kept for the URL.
async fn alternates_from(links: &[String]) -> Vec<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let headers: String = links.iter().map(|l| format!("link: {l}\r\n")).collect();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut head = [0u8; 2048];
        let _ = stream.read(&mut head).await;
        let answer =
            format!("HTTP/1.1 200 OK\r\n{headers}content-length: 0\r\nconnection: close\r\n\r\n");
        let _ = stream.write_all(answer.as_bytes()).await;
    });
    let http = client();
    let url = format!("http://{addr}/cert/1");
    let request = http::Request::get(&url)
        .body(BodyWrapper::from(Vec::new()))
        .expect("request");
    http.request(request)
        .await
        .expect("the loopback server answers");
    server.await.expect("server task");
    http.take_alternates(&url)
}

proptest! {
    #[test]
    fn a_renewal_window_is_usable_or_refused_cleanly(
        answer in renewal_info_json(),
        retry_after in any::<u64>(),
    ) {
        let Ok(info) = serde_json::from_value::<RenewalInfo>(answer) else {
            return Ok(());
        };
        match window(info, Duration::from_secs(retry_after)) {
            Ok(window) => {
                prop_assert!(window.start < window.end);
                prop_assert!((MIN_REFRESH..=MAX_REFRESH).contains(&window.refresh_after));
            }
            Err(err) => {
                assert_clean(&err);
                prop_assert!(!err.is_retryable());
            }
        }
    }

    #[test]
    fn renewal_info_from_arbitrary_bytes_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        if let Ok(info) = serde_json::from_slice::<RenewalInfo>(&bytes)
            && let Err(err) = window(info, Duration::ZERO)
        {
            assert_clean(&err);
        }
    }

    #[test]
    fn a_problem_document_becomes_a_clean_error_retried_only_when_transient(
        document in problem_json(),
        refusal in prop::option::of(0u64..=u64::from(u32::MAX)),
    ) {
        let Ok(problem) = serde_json::from_value::<Problem>(document) else {
            return Ok(());
        };
        let transient = problem.r#type.as_deref() == Some("urn:ietf:params:acme:error:badNonce")
            || problem.status.is_some_and(|status| status >= 500);
        let refusal = refusal.map(|secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        let err = classify("new order", instant_acme::Error::Api(problem), refusal);
        let text = err.to_string();
        prop_assert!(text.starts_with("ACME new order: "), "{text}");
        prop_assert!(text.len() > "ACME new order: ".len(), "{text:?}");
        prop_assert!(err.acme_problem().is_some());
        prop_assert_eq!(err.is_retryable(), transient, "{}", text);
        let kept = matches!(err, Error::Acme { retry_after, .. } if retry_after == refusal);
        prop_assert!(kept, "the CA's Retry-After is kept with its problem: {err:?}");
    }

    #[test]
    fn an_edited_chain_names_its_certificates_or_is_refused_cleanly(pem in edited_chain()) {
        match ChainNames::of_pem(&pem) {
            Ok(names) => prop_assert!(names.subjects.len() <= 2, "{names:?}"),
            Err(err) => {
                prop_assert!(matches!(err, Error::Certificate(_)), "{err}");
                assert_clean(&err);
            }
        }
        if let Err(err) = certificate_id(&pem) {
            prop_assert!(matches!(err, Error::Certificate(_)), "{err}");
            assert_clean(&err);
        }
    }

    #[test]
    fn link_headers_yield_only_absolute_http_urls(
        links in prop::collection::vec(link_header(), 0..4),
    ) {
        let alternates = runtime().block_on(alternates_from(&links));
        for url in &alternates {
            prop_assert!(
                url.starts_with("https://") || url.starts_with("http://"),
                "{url:?} from {links:?}"
            );
        }
    }
}

#[test]
fn the_unedited_fixtures_are_read() {
    let names = ChainNames::of_pem(chain_pem()).expect("valid chain");
    assert_eq!(names.subjects, ["a.example.test", "Fuzz Root"]);
    assert!(certificate_id(chain_pem()).expect("valid").is_some());
    let alternates = runtime().block_on(alternates_from(&[
        "<https://ca.example/alt/1>;rel=\"alternate\"".to_string(),
    ]));
    assert_eq!(alternates, ["https://ca.example/alt/1"]);
}

/// Found by the problem-document property: a problem whose type is the bare
/// `urn:ietf:params:acme:error:` prefix and that has no detail gave an error with an empty
/// message (`ACME new order: `).
#[test]
fn a_problem_with_an_empty_type_and_no_detail_still_says_what_happened() {
    let problem: Problem = serde_json::from_value(json!({
        "type": "urn:ietf:params:acme:error:",
        "status": 400,
    }))
    .expect("problem");
    let err = classify("new order", instant_acme::Error::Api(problem), None);
    assert_ne!(err.to_string(), "ACME new order: ");
}
