//! Property tests ("fuzzing" on stable Rust) of what acme-core parses from a CA or a disk:
//! PEM bundles and DER certificates, as random bytes, truncations, bit flips and line edits
//! of a valid chain.
//!
//! Every property: no panic, and an input that cannot be read is a clean error — a
//! non-empty message that starts with `certificate: ` and never repeats a private key that
//! sat in the same text. Inputs are bounded (at most a few KiB), so no case can hang.
//!
//! CI runs proptest's default of 256 cases per property; a longer run is
//! `PROPTEST_CASES=100000 cargo test -p acme-core --test fuzz --release`.

use std::sync::OnceLock;

use acme_core::{CertInfo, IssuedChain, KeyType, PrivateKeyPem, split_pem_certificates};
use proptest::prelude::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A leaf and its intermediate (leaf first, as a CA delivers them) and the leaf's key.
struct Fixture {
    bundle: String,
    leaf_der: Vec<u8>,
    key_pem: PrivateKeyPem,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "Fuzz Intermediate");
        let ca_key = KeyPair::generate().expect("CA key");
        let ca_pem = ca.self_signed(&ca_key).expect("sign CA").pem();
        let issuer = Issuer::new(ca, ca_key);
        let leaf_key = KeyType::EcdsaP256.generate().expect("leaf key");
        let leaf = CertificateParams::new(vec![
            "www.example.test".to_string(),
            "*.example.test".to_string(),
        ])
        .expect("leaf params")
        .signed_by(&leaf_key, &issuer)
        .expect("sign leaf");
        Fixture {
            bundle: format!("{}{ca_pem}", leaf.pem()),
            leaf_der: leaf.der().to_vec(),
            key_pem: PrivateKeyPem::from_key_pair(&leaf_key).expect("encode key"),
        }
    })
}

/// The base64 lines of the private key, none of which may appear in an error.
fn key_lines() -> Vec<&'static str> {
    fixture()
        .key_pem
        .expose()
        .lines()
        .filter(|line| !line.starts_with("-----") && line.len() >= 16)
        .collect()
}

/// A failure is a certificate error with a message, and shows no key material.
fn assert_clean(err: &acme_core::Error) {
    let text = err.to_string();
    assert!(text.starts_with("certificate: "), "{text}");
    assert!(
        text.len() > "certificate: ".len(),
        "empty message: {text:?}"
    );
    for line in key_lines() {
        assert!(!text.contains(line), "the error shows key material: {text}");
    }
}

/// One edit of a text: cut it, flip one bit of a byte, drop, duplicate or swap lines, or
/// insert random bytes (as lossy UTF-8, since these parsers take `&str`).
#[derive(Clone, Debug)]
enum Edit {
    Truncate(prop::sample::Index),
    FlipBit(prop::sample::Index, u8),
    DropLine(prop::sample::Index),
    DuplicateLine(prop::sample::Index),
    SwapLines(prop::sample::Index, prop::sample::Index),
    Insert(prop::sample::Index, Vec<u8>),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Edit::Truncate),
        (any::<prop::sample::Index>(), 0u8..8).prop_map(|(i, bit)| Edit::FlipBit(i, bit)),
        any::<prop::sample::Index>().prop_map(Edit::DropLine),
        any::<prop::sample::Index>().prop_map(Edit::DuplicateLine),
        (any::<prop::sample::Index>(), any::<prop::sample::Index>())
            .prop_map(|(a, b)| Edit::SwapLines(a, b)),
        (
            any::<prop::sample::Index>(),
            prop::collection::vec(any::<u8>(), 1..64)
        )
            .prop_map(|(i, bytes)| Edit::Insert(i, bytes)),
    ]
}

fn apply_to_bytes(bytes: &mut Vec<u8>, edit: &Edit) {
    if bytes.is_empty() {
        return;
    }
    match edit {
        Edit::Truncate(at) => bytes.truncate(at.index(bytes.len())),
        Edit::FlipBit(at, bit) => {
            let i = at.index(bytes.len());
            bytes[i] ^= 1 << bit;
        }
        Edit::Insert(at, extra) => {
            let i = at.index(bytes.len() + 1);
            bytes.splice(i..i, extra.iter().copied());
        }
        Edit::DropLine(_) | Edit::DuplicateLine(_) | Edit::SwapLines(..) => {
            let text = String::from_utf8_lossy(bytes).into_owned();
            let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
            let n = lines.len();
            match edit {
                Edit::DropLine(at) => {
                    lines.remove(at.index(n));
                }
                Edit::DuplicateLine(at) => {
                    let i = at.index(n);
                    lines.insert(i, lines[i]);
                }
                Edit::SwapLines(a, b) => lines.swap(a.index(n), b.index(n)),
                _ => {}
            }
            *bytes = lines.concat().into_bytes();
        }
    }
}

fn mutated(base: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut bytes = base.to_vec();
    for edit in edits {
        apply_to_bytes(&mut bytes, edit);
    }
    bytes
}

/// The bundle a CA sent, with the leaf's key appended (as in a combined PEM file), after
/// one to four edits.
fn edited_bundle() -> impl Strategy<Value = String> {
    prop::collection::vec(edit(), 1..5).prop_map(|edits| {
        let base = format!("{}{}", fixture().bundle, fixture().key_pem.expose());
        String::from_utf8_lossy(&mutated(base.as_bytes(), &edits)).into_owned()
    })
}

/// Arbitrary text built from PEM-ish pieces, so the parser's branches are reached.
fn pem_ish_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("-----BEGIN CERTIFICATE-----\n".to_string()),
        Just("-----END CERTIFICATE-----\n".to_string()),
        Just("-----BEGIN PRIVATE KEY-----\n".to_string()),
        Just("-----END PRIVATE KEY-----\n".to_string()),
        "[A-Za-z0-9+/=]{0,80}\n",
        "[ -~\t\r\n]{0,40}",
        any::<String>().prop_map(|s| s.chars().take(40).collect()),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

proptest! {
    #[test]
    fn splitting_any_pem_like_text_never_panics_and_fails_cleanly(text in pem_ish_text()) {
        match split_pem_certificates(&text) {
            Ok(parts) => {
                for part in parts {
                    prop_assert!(part.starts_with("-----BEGIN CERTIFICATE-----\n"), "{part}");
                }
            }
            Err(err) => assert_clean(&err),
        }
    }

    #[test]
    fn an_edited_bundle_is_split_into_certificates_or_refused_cleanly(text in edited_bundle()) {
        match IssuedChain::from_pem_bundle(&text) {
            Ok(chain) => {
                let parts = split_pem_certificates(&text).expect("split agrees with the bundle");
                prop_assert_eq!(&chain.cert_pem, &parts[0]);
                prop_assert_eq!(&chain.chain_pem, &parts[1..].concat());
                prop_assert!(!chain.chain_pem.contains("PRIVATE KEY"));
                if let Err(err) = CertInfo::from_pem(&chain.cert_pem) {
                    assert_clean(&err);
                }
            }
            Err(err) => assert_clean(&err),
        }
    }

    #[test]
    fn an_edited_leaf_in_der_is_read_or_refused_cleanly(
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        let der = mutated(&fixture().leaf_der, &edits);
        match CertInfo::from_der(&der) {
            Ok(info) => {
                // Whatever was read, using it must not panic either.
                let _ = info.lifetime();
                let _ = info.covers_exactly(&["www.example.test".to_string()]);
                let _ = info.matches_key(&fixture().key_pem);
            }
            Err(err) => assert_clean(&err),
        }
    }

    #[test]
    fn random_bytes_are_no_certificate(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        match CertInfo::from_der(&bytes) {
            Ok(info) => prop_assert!(false, "random bytes read as a certificate: {info:?}"),
            Err(err) => assert_clean(&err),
        }
        if let Err(err) = CertInfo::from_pem(&String::from_utf8_lossy(&bytes)) {
            assert_clean(&err);
        }
    }
}

#[test]
fn the_unedited_fixture_reads_back() {
    let chain = IssuedChain::from_pem_bundle(&fixture().bundle).expect("valid bundle");
    let info = CertInfo::from_pem(&chain.cert_pem).expect("valid leaf");
    assert_eq!(info.names, ["www.example.test", "*.example.test"]);
    assert!(info.matches_key(&fixture().key_pem));
    assert_eq!(
        split_pem_certificates(&chain.chain_pem)
            .expect("valid chain")
            .len(),
        1
    );
}
