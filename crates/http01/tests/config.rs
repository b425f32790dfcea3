//! The configuration: what deserializes, and the errors a mistake produces.

use std::path::PathBuf;

use http01::{Error, Http01Config, Http01Solver};

fn parse(json: &str) -> Result<Http01Config, serde_json::Error> {
    serde_json::from_str(json)
}

fn config_error(config: Http01Config) -> String {
    match Http01Solver::new("web".to_string(), config) {
        Err(error @ Error::Config { .. }) => error.to_string(),
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[test]
fn listen_takes_an_address_and_webroot_a_path() {
    let listen = parse(r#"{"listen": "[::]:80"}"#).expect("listen");
    assert_eq!(listen.listen, Some("[::]:80".parse().expect("address")));
    assert_eq!(listen.webroot, None);

    let webroot = parse(r#"{"webroot": "/var/www/html"}"#).expect("webroot");
    assert_eq!(webroot.webroot, Some(PathBuf::from("/var/www/html")));
    assert_eq!(webroot.listen, None);
}

#[test]
fn a_misspelt_key_is_named_with_the_keys_that_exist() {
    let error = parse(r#"{"listn": "0.0.0.0:80"}"#)
        .expect_err("unknown key")
        .to_string();
    assert!(error.contains("unknown field `listn`"), "{error}");
    assert!(
        error.contains("`listen`") && error.contains("`webroot`"),
        "{error}"
    );
}

#[test]
fn a_listen_value_that_is_not_an_address_is_refused() {
    assert!(parse(r#"{"listen": "port 80"}"#).is_err());
}

#[test]
fn both_modes_at_once_is_an_error_naming_both_keys() {
    let message = config_error(Http01Config {
        listen: Some("0.0.0.0:80".parse().expect("address")),
        webroot: Some(PathBuf::from("/var/www/html")),
    });
    assert_eq!(
        message,
        "http-01 solver web: set either `listen` or `webroot`, not both"
    );
}

#[test]
fn neither_mode_is_an_error_naming_both_keys_and_the_usual_address() {
    let message = config_error(Http01Config::default());
    assert!(message.starts_with("http-01 solver web: "), "{message}");
    assert!(
        message.contains("`listen`") && message.contains("`webroot`"),
        "{message}"
    );
    assert!(message.contains("0.0.0.0:80"), "{message}");
}

#[test]
fn a_relative_webroot_is_refused() {
    let message = config_error(Http01Config {
        listen: None,
        webroot: Some(PathBuf::from("www")),
    });
    assert_eq!(
        message,
        "http-01 solver web: `webroot` must be an absolute path, not \"www\""
    );
}

#[test]
fn debug_output_shows_where_challenges_go() {
    let solver = Http01Solver::new(
        "web".to_string(),
        Http01Config {
            listen: None,
            webroot: Some(PathBuf::from("/var/www/html")),
        },
    )
    .expect("valid");
    assert_eq!(
        format!("{solver:?}"),
        r#"Http01Solver { name: "web", webroot: "/var/www/html" }"#
    );
}
