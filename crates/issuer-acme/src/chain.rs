//! Preferred chains (RFC 8555 §7.4.2): a CA may offer one certificate under several chains
//! (say, up to a new root and up to an older, cross-signed one). The certificate download
//! names the others in `Link: <url>;rel="alternate"` headers; each is fetched with an
//! authenticated POST-as-GET. [`AcmeConfig::preferred_chain`](super::AcmeConfig) picks one
//! by name (see [`preferred_index`]).
//!
//! instant-acme 0.8.5 neither passes response headers on from [`Order::poll_certificate`]
//! nor offers a public POST-as-GET to an arbitrary URL (its signed `post` is crate-private;
//! [`Account::order`] is the one public method that POSTs-as-GET a URL the caller chooses).
//! So, without copying its JWS code:
//!
//! - the [`HttpClient`](instant_acme::HttpClient) hook ([`AcmeHttp`]) records the alternate
//!   links of every successful answer by the URL asked, and the issuer takes those of the
//!   order's certificate URL after the download;
//! - an alternate is fetched through [`Account::order`], which signs the request with the
//!   account key and handles nonces (including instant-acme's own badNonce retries); the
//!   hook keeps the body of the 2xx answer for that URL, and the JSON error instant-acme
//!   then reports (a PEM chain is no order) is set aside. An error answer (a problem
//!   document) is instant-acme's ordinary `Api` error, so retry.rs treats it as every other
//!   step's, and the hook counts and times these requests like all others.
//!
//! Upstream, either of these would make both tricks unnecessary: a public
//! `Account::post_as_get(&self, url) -> Result<BytesResponse, Error>` (the crate-private
//! `AccountInner::post(None, None, url)`), or `Order::certificate_chains()` returning the
//! default chain followed by the `rel="alternate"` ones.

use instant_acme::{Account, Order};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

use super::http::AcmeHttp;
use super::retry::retrying;
use acme_core::Error;

/// The names of one offered chain that a preference can match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChainNames {
    /// The issuer Common Name of the topmost certificate (the last one in the bundle): the
    /// root the chain leads to, since CAs leave the root itself out.
    pub(crate) top_issuer: Option<String>,
    /// The subject Common Name of every certificate in the chain, leaf first.
    pub(crate) subjects: Vec<String>,
}

impl ChainNames {
    /// Reads the names of a PEM bundle (leaf first).
    pub(crate) fn of_pem(pem: &str) -> Result<ChainNames, Error> {
        let mut names = ChainNames {
            top_issuer: None,
            subjects: Vec::new(),
        };
        let mut found = false;
        for der in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            found = true;
            let der = der.map_err(|e| Error::Certificate(format!("invalid PEM: {e}")))?;
            let (_, cert) = X509Certificate::from_der(&der)
                .map_err(|e| Error::Certificate(format!("invalid X.509 certificate: {e}")))?;
            names.subjects.extend(common_name(cert.subject()));
            names.top_issuer = common_name(cert.issuer());
        }
        if !found {
            return Err(Error::Certificate("no PEM certificate found".into()));
        }
        Ok(names)
    }
}

fn common_name(name: &X509Name<'_>) -> Option<String> {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string)
}

/// Which of `chains` (the default one first, then the alternates in the order the CA listed
/// them) `preferred` picks, or `None` for "keep the default".
///
/// First the first chain whose topmost certificate was issued by a CA of that Common Name
/// (what lego and certbot match); failing that, the first chain with a certificate whose
/// subject Common Name it is. Matching issuers first matters: in Let's Encrypt's 2021
/// chains, "ISRG Root X1" was the issuer of the short chain's top certificate but also the
/// subject of the long chain's, and the long chain was the default.
pub(crate) fn preferred_index(chains: &[ChainNames], preferred: &str) -> Option<usize> {
    chains
        .iter()
        .position(|chain| chain.top_issuer.as_deref() == Some(preferred))
        .or_else(|| {
            chains
                .iter()
                .position(|chain| chain.subjects.iter().any(|subject| subject == preferred))
        })
}

/// The chain to deliver for `order`, whose certificate was just downloaded as `default`.
///
/// Takes the alternates the download listed (so none are remembered for long either way);
/// with a preference, fetches them, picks with [`preferred_index`] and says at info level
/// which chain it chose or which were available. An alternate that cannot be fetched or
/// read is skipped with a warning: the default chain is always a valid answer.
pub(crate) async fn choose(
    http: &AcmeHttp,
    account: &Account,
    order: &mut Order,
    default: String,
    preferred: Option<&str>,
) -> Result<String, Error> {
    let alternates = match &order.state().certificate {
        Some(url) => http.take_alternates(url),
        None => Vec::new(),
    };
    let Some(preferred) = preferred else {
        if !alternates.is_empty() {
            tracing::debug!(
                alternates = alternates.len(),
                "the CA offers alternate chains; preferred_chain is not set, using the default"
            );
        }
        return Ok(default);
    };
    // (number: 0 for the default, N for the CA's Nth alternate; names; PEM)
    let mut chains = vec![(0, ChainNames::of_pem(&default)?, default)];
    for (number, url) in (1..).zip(&alternates) {
        let fetched = retrying!(
            "download alternate chain",
            fetch_alternate(http, account, url)
        );
        match fetched.and_then(|pem| Ok((number, ChainNames::of_pem(&pem)?, pem))) {
            Ok(chain) => chains.push(chain),
            Err(err) => tracing::warn!(url, error = %err, "skipping an alternate chain"),
        }
    }
    let names: Vec<ChainNames> = chains.iter().map(|(_, names, _)| names.clone()).collect();
    match preferred_index(&names, preferred) {
        Some(0) => {
            tracing::info!(
                preferred_chain = preferred,
                "the default chain is the preferred one"
            );
            Ok(chains.swap_remove(0).2)
        }
        Some(index) => {
            let (number, _, pem) = chains.swap_remove(index);
            tracing::info!(
                preferred_chain = preferred,
                "using alternate chain {number} of {}, as preferred_chain asks",
                alternates.len()
            );
            Ok(pem)
        }
        None => {
            let available: Vec<String> = names
                .iter()
                .map(|chain| format!("{:?}", chain.top_issuer.as_deref().unwrap_or("(no CN)")))
                .collect();
            tracing::info!(
                preferred_chain = preferred,
                "no chain the CA offers is issued by or contains {preferred:?}; using the \
                 default chain (chains offered end at issuers: {}, the first is the default)",
                available.join(", ")
            );
            Ok(chains.swap_remove(0).2)
        }
    }
}

/// POSTs-as-GET the alternate chain at `url` through [`Account::order`] and returns the body
/// the hook kept (see the module documentation).
async fn fetch_alternate(
    http: &AcmeHttp,
    account: &Account,
    url: &str,
) -> Result<String, instant_acme::Error> {
    http.keep_body(url);
    let answer = account.order(url.to_string()).await;
    match (http.take_body(url), answer) {
        (Some(body), _) => String::from_utf8(body.to_vec()).map_err(|_| {
            instant_acme::Error::Other(format!("the alternate chain at {url} is not text").into())
        }),
        (None, Err(err)) => Err(err),
        (None, Ok(_)) => Err(instant_acme::Error::Other(
            format!("{url} answered with an order, not a certificate chain").into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

    fn chain(top_issuer: &str, subjects: &[&str]) -> ChainNames {
        ChainNames {
            top_issuer: Some(top_issuer.to_string()),
            subjects: subjects.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Let's Encrypt in 2021: the default chain went up to ISRG Root X1 cross-signed by
    /// DST Root CA X3; the alternate stopped at R3, issued by ISRG Root X1.
    fn lets_encrypt_2021() -> Vec<ChainNames> {
        vec![
            chain("DST Root CA X3", &["a.example", "R3", "ISRG Root X1"]),
            chain("ISRG Root X1", &["a.example", "R3"]),
        ]
    }

    #[test]
    fn the_chain_whose_top_certificate_the_named_ca_issued_wins() {
        assert_eq!(
            preferred_index(&lets_encrypt_2021(), "ISRG Root X1"),
            Some(1),
            "an issuer match in an alternate beats a subject match in the default"
        );
        assert_eq!(
            preferred_index(&lets_encrypt_2021(), "DST Root CA X3"),
            Some(0)
        );
    }

    #[test]
    fn the_first_matching_chain_wins_the_default_before_alternates() {
        let chains = [
            chain("Root A", &["leaf", "Int"]),
            chain("Root B", &["leaf", "Int"]),
            chain("Root B", &["leaf", "Int", "Cross B"]),
        ];
        assert_eq!(preferred_index(&chains, "Root B"), Some(1));
        assert_eq!(preferred_index(&chains, "Root A"), Some(0));
    }

    #[test]
    fn a_subject_name_in_a_chain_matches_when_no_top_issuer_does() {
        let chains = [
            chain("Root A", &["leaf", "Int", "Int A"]),
            chain("Root B", &["leaf", "Int", "Int B"]),
        ];
        assert_eq!(preferred_index(&chains, "Int B"), Some(1));
        assert_eq!(
            preferred_index(&chains, "Int"),
            Some(0),
            "a name in every chain picks the default"
        );
    }

    #[test]
    fn an_unknown_name_or_a_different_case_keeps_the_default() {
        assert_eq!(preferred_index(&lets_encrypt_2021(), "Nobody Root"), None);
        assert_eq!(preferred_index(&lets_encrypt_2021(), "isrg root x1"), None);
        assert_eq!(preferred_index(&[], "ISRG Root X1"), None);
    }

    fn ca(name: &str) -> Issuer<'static, KeyPair> {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        Issuer::new(params, KeyPair::generate().expect("CA key"))
    }

    #[test]
    fn names_are_read_leaf_first_with_the_issuer_of_the_last_certificate() {
        let root = ca("Test Root");
        let intermediate_key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Test Intermediate");
        let intermediate_pem = params
            .signed_by(&intermediate_key, &root)
            .expect("sign")
            .pem();
        let intermediate = Issuer::new(params, intermediate_key);
        let mut leaf = CertificateParams::new(vec!["a.example.test".to_string()]).expect("leaf");
        leaf.distinguished_name
            .push(DnType::CommonName, "a.example.test");
        let leaf_key = KeyPair::generate().expect("leaf key");
        let leaf_pem = leaf
            .signed_by(&leaf_key, &intermediate)
            .expect("sign")
            .pem();

        let names = ChainNames::of_pem(&format!("{leaf_pem}{intermediate_pem}")).expect("names");
        assert_eq!(names.top_issuer.as_deref(), Some("Test Root"));
        assert_eq!(names.subjects, ["a.example.test", "Test Intermediate"]);
    }

    #[test]
    fn a_bundle_without_certificates_is_an_error() {
        assert!(ChainNames::of_pem("").is_err());
    }
}
