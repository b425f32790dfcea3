//! The `[solvers.NAME]` table of a `tls-alpn-01` solver.

use tls_alpn01::{TlsAlpn01Config, TlsAlpn01Solver};

#[test]
fn listen_takes_an_address() {
    let config: TlsAlpn01Config =
        serde_json::from_str(r#"{"listen": "0.0.0.0:443"}"#).expect("valid config");
    assert_eq!(config.listen, "0.0.0.0:443".parse().expect("address"));
}

#[test]
fn a_misspelt_key_is_named_with_the_keys_that_exist() {
    let error =
        serde_json::from_str::<TlsAlpn01Config>(r#"{"listen": "0.0.0.0:443", "port": 443}"#)
            .expect_err("unknown key");
    assert!(
        error
            .to_string()
            .starts_with("unknown field `port`, expected `listen`"),
        "{error}"
    );
}

#[test]
fn listen_is_required() {
    let error = serde_json::from_str::<TlsAlpn01Config>("{}").expect_err("missing listen");
    assert!(
        error.to_string().contains("missing field `listen`"),
        "{error}"
    );
}

#[test]
fn debug_output_shows_where_challenges_go() {
    let config = TlsAlpn01Config {
        listen: "[::]:443".parse().expect("address"),
    };
    let solver = TlsAlpn01Solver::new("alpn".to_string(), config);
    assert_eq!(
        format!("{solver:?}"),
        r#"TlsAlpn01Solver { name: "alpn", listen: [::]:443, .. }"#
    );
}
