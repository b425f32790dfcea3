//! Property tests ("fuzzing" on stable Rust) of what `inspect` and `diagnose` read from a
//! file, a CA or a TLS peer: PEM text, DER chains in any order and state, and private keys.
//!
//! Chains are generated with random validity periods (inverted ones included), names, CA
//! flags and order, then edited (cut, bit flips). Every property: no panic, a clean error
//! (a non-empty message naming the input) or a report whose problems each say something,
//! and never a private key's text in a message. Inputs are bounded, so no case can hang.
//!
//! CI runs proptest's default of 256 cases per property; a longer run is
//! `PROPTEST_CASES=100000 cargo test -p cert-inspect --test fuzz --release`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cert_inspect::{
    CertSummary, Roots, analyze_chain, check_key, compare_served, parse_pem_certificates,
};
use proptest::prelude::*;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls_pki_types::CertificateDer;

/// What one generated certificate looks like.
#[derive(Clone, Debug)]
struct Shape {
    not_before: i64,
    not_after: i64,
    names: Vec<String>,
    is_ca: bool,
}

/// Seconds since 1970 from year 1950 to year 9999, around "now" more often than not.
fn instant() -> impl Strategy<Value = i64> {
    let now = 1_767_225_600i64; // 2026-01-01
    prop_oneof![
        3 => (now - 400 * 86_400)..(now + 400 * 86_400),
        1 => -631_152_000i64..253_402_300_799,
    ]
}

fn shape() -> impl Strategy<Value = Shape> {
    let name = prop_oneof![
        "[a-z]{1,8}\\.example\\.test",
        Just("*.example.test".to_string()),
        "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
        Just("::1".to_string()),
    ];
    (
        instant(),
        instant(),
        prop::collection::vec(name, 0..4),
        any::<bool>(),
    )
        .prop_map(|(not_before, not_after, names, is_ca)| Shape {
            not_before,
            not_after,
            names,
            is_ca,
        })
}

fn at(secs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

fn params(shape: &Shape, common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(shape.names.clone()).expect("names");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.not_before = at(shape.not_before).into();
    params.not_after = at(shape.not_after).into();
    if shape.is_ca {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    }
    params
}

/// A chain of `shapes.len()` certificates (leaf first), each signed by the next, the last
/// self-signed; returns the chain and the leaf's key in PEM.
fn build(shapes: &[Shape]) -> (Vec<CertificateDer<'static>>, String) {
    let mut issuer: Option<CertifiedIssuer<'static, KeyPair>> = None;
    let mut chain = Vec::new();
    let mut leaf_key = String::new();
    for (i, shape) in shapes.iter().enumerate().rev() {
        let key = KeyPair::generate().expect("key");
        if i == 0 {
            leaf_key = key.serialize_pem();
        }
        let params = params(shape, &format!("Fuzz {i}"));
        let certified = match &issuer {
            None => CertifiedIssuer::self_signed(params, key),
            Some(parent) => CertifiedIssuer::signed_by(params, key, parent),
        }
        .expect("sign");
        chain.push(certified.der().clone());
        issuer = Some(certified);
    }
    chain.reverse();
    (chain, leaf_key)
}

/// An edit of one DER certificate of the chain, or of the chain's order.
#[derive(Clone, Debug)]
enum Edit {
    None,
    Truncate(prop::sample::Index, prop::sample::Index),
    FlipBit(prop::sample::Index, prop::sample::Index, u8),
    Reverse,
    DropFirst,
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => Just(Edit::None),
        1 => (any::<prop::sample::Index>(), any::<prop::sample::Index>())
            .prop_map(|(c, i)| Edit::Truncate(c, i)),
        2 => (any::<prop::sample::Index>(), any::<prop::sample::Index>(), 0u8..8)
            .prop_map(|(c, i, b)| Edit::FlipBit(c, i, b)),
        1 => Just(Edit::Reverse),
        1 => Just(Edit::DropFirst),
    ]
}

fn apply(chain: &mut Vec<CertificateDer<'static>>, edit: &Edit) {
    if chain.iter().any(|der| der.is_empty()) || chain.is_empty() {
        return;
    }
    match edit {
        Edit::None => {}
        Edit::Truncate(c, i) => {
            let c = c.index(chain.len());
            let mut der = chain[c].to_vec();
            der.truncate(i.index(der.len()));
            chain[c] = CertificateDer::from(der);
        }
        Edit::FlipBit(c, i, bit) => {
            let c = c.index(chain.len());
            let mut der = chain[c].to_vec();
            let i = i.index(der.len());
            der[i] ^= 1 << bit;
            chain[c] = CertificateDer::from(der);
        }
        Edit::Reverse => chain.reverse(),
        Edit::DropFirst => {
            chain.remove(0);
        }
    }
}

/// A chain case: the (edited) chain, whether its own root is trusted, the name asked for,
/// when the analysis runs, and the leaf's key.
#[derive(Debug)]
struct Case {
    chain: Vec<CertificateDer<'static>>,
    root: Option<CertificateDer<'static>>,
    name: Option<String>,
    now: i64,
    key_pem: String,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(shape(), 1..4),
        prop::collection::vec(edit(), 1..3),
        any::<bool>(),
        prop::option::of(prop_oneof![
            "[a-z]{1,8}\\.example\\.test",
            "[ -~]{0,30}",
            "[0-9.:]{1,20}",
        ]),
        instant(),
    )
        .prop_map(|(shapes, edits, trust_root, name, now)| {
            let (mut chain, key_pem) = build(&shapes);
            let root = chain.last().cloned().filter(|_| trust_root);
            for edit in &edits {
                apply(&mut chain, edit);
            }
            Case {
                chain,
                root,
                name,
                now,
                key_pem,
            }
        })
}

/// Lines of a PEM key long enough to be recognisable, none of which may appear in text.
fn key_lines(key_pem: &str) -> Vec<&str> {
    key_pem
        .lines()
        .filter(|line| !line.starts_with("-----") && line.len() >= 16)
        .collect()
}

fn assert_no_key(text: &str, key_pem: &str) {
    for line in key_lines(key_pem) {
        assert!(!text.contains(line), "key material in: {text}");
    }
}

proptest! {
    #[test]
    fn any_chain_is_analyzed_or_refused_with_a_clean_error(case in case()) {
        let anchors: Vec<CertificateDer<'static>> = case.root.iter().cloned().collect();
        let roots = match Roots::from_certificates(&anchors, "fuzz-root.pem") {
            Ok(roots) => roots,
            Err(err) => {
                prop_assert!(err.to_string().starts_with("fuzz-root.pem, certificate 1: "), "{err}");
                Roots::from_certificates(&[], "no roots").expect("no roots")
            }
        };
        match analyze_chain(&case.chain, &roots, case.name.as_deref(), at(case.now)) {
            Ok(report) => {
                prop_assert_eq!(report.certs.len(), case.chain.len());
                prop_assert_eq!(report.complete, report.trusted_by.is_some());
                for problem in &report.problems {
                    prop_assert!(!problem.message.trim().is_empty(), "{problem:?}");
                    assert_no_key(&problem.message, &case.key_pem);
                }
                let leaf = report.leaf().expect("a report has a leaf");
                let _ = leaf.time_left(at(case.now));
                prop_assert!(compare_served(leaf, leaf, "the endpoint", "the store").is_none());
                if let Ok(Some(problem)) = check_key(&case.chain[0], &case.key_pem, "the key") {
                    assert_no_key(&problem.message, &case.key_pem);
                }
            }
            Err(err) => {
                let text = err.to_string();
                prop_assert!(!text.trim().is_empty());
                assert_no_key(&text, &case.key_pem);
            }
        }
    }

    #[test]
    fn pem_text_with_edits_is_parsed_or_refused_naming_the_input(
        case in case(),
        cut in any::<prop::sample::Index>(),
        junk in "[ -~\n]{0,40}",
    ) {
        let mut text: String = case
            .chain
            .iter()
            .map(|der| acme_core::der_to_pem(der))
            .collect();
        text.push_str(&case.key_pem);
        let cut = cut.index(text.len() + 1);
        text.insert_str(cut, &junk);
        match parse_pem_certificates(&text, "fullchain.pem") {
            Ok(certs) => {
                for der in &certs {
                    prop_assert!(CertSummary::from_der(der, "a certificate").is_ok());
                }
            }
            Err(err) => {
                let text = err.to_string();
                prop_assert!(text.starts_with("fullchain.pem"), "{text}");
                assert_no_key(&text, &case.key_pem);
            }
        }
    }

    #[test]
    fn a_key_that_cannot_be_read_is_a_problem_that_never_shows_it(
        case in case(),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
    ) {
        let Some(leaf) = case.chain.first() else { return Ok(()); };
        let mut key = case.key_pem.clone().into_bytes();
        key.truncate(cut.index(key.len() + 1).max(1));
        let i = flip.index(key.len());
        key[i] ^= 0x01;
        let key = String::from_utf8_lossy(&key).into_owned();
        match check_key(leaf, &key, "tls.key") {
            Ok(None) => {}
            Ok(Some(problem)) => {
                prop_assert!(problem.message.starts_with("tls.key is not"), "{problem:?}");
                assert_no_key(&problem.message, &case.key_pem);
            }
            Err(err) => {
                let text = err.to_string();
                prop_assert!(text.starts_with("the leaf: "), "{text}");
                assert_no_key(&text, &case.key_pem);
            }
        }
    }
}

/// Found by the chain property above: a certificate whose not-before is after its not-after
/// (a CA can send one) made `analyze_chain` panic in `SystemTime::clamp`.
#[test]
fn a_leaf_whose_validity_ends_before_it_starts_is_analyzed() {
    let inverted = Shape {
        not_before: 1_767_225_600 + 86_400,
        not_after: 1_767_225_600,
        names: vec!["www.example.test".to_string()],
        is_ca: false,
    };
    let (chain, _) = build(&[inverted]);
    let roots = Roots::from_certificates(&[], "no roots").expect("no roots");
    let report = analyze_chain(&chain, &roots, Some("www.example.test"), at(1_767_225_600))
        .expect("analyzed");
    assert!(!report.complete);
    assert!(!report.problems.is_empty());
}

/// Found by the chain property: a certificate that expired before 1970 made the message
/// about it panic in humantime, which formats no earlier date.
#[test]
fn a_leaf_that_expired_before_1970_is_reported_with_its_date() {
    let ancient = Shape {
        not_before: -86_400 * 400,
        not_after: -86_400,
        names: vec!["www.example.test".to_string()],
        is_ca: false,
    };
    let (chain, _) = build(&[ancient]);
    let roots = Roots::from_certificates(&[], "no roots").expect("no roots");
    let report = analyze_chain(&chain, &roots, None, at(1_767_225_600)).expect("analyzed");
    let expired = &report.problems[0].message;
    assert!(expired.contains("1969-12-31T00:00:00Z"), "{expired}");
}
