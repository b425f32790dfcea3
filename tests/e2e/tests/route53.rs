//! The Route53 provider against moto's Route53 API: what `set_txt` and `remove_txt` leave
//! in the hosted zone, how the zone is found, and what the errors say.
//!
//! Credentials are dummy values given through the provider's config keys (moto accepts any),
//! never through the process environment, so tests running in parallel do not interfere.

use std::process::Command;

use acme_core::{CHALLENGE_TTL, DnsProvider};
use dns_route53::{Config, Provider};
use e2e::{Moto, MotoTxtSet, TestDir};

const ZONE: &str = "example.test";
const NAME: &str = "_acme-challenge.example.test";
const VALUE_A: &str = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
const VALUE_B: &str = "9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";

/// What moto's request log shows for a GetChange call.
const GET_CHANGE: &str = "GET /2013-04-01/change/";

/// A provider for moto with dummy credentials, adjusted by `edit`.
fn provider(moto: &Moto, edit: impl FnOnce(&mut Config)) -> Provider {
    let mut config = Config {
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".into()),
        endpoint_url: Some(moto.endpoint_url().to_string()),
        ..Config::default()
    };
    edit(&mut config);
    Provider::new(config).expect("valid provider config")
}

fn txt(values: &[&str]) -> Option<MotoTxtSet> {
    Some(MotoTxtSet {
        ttl: CHALLENGE_TTL,
        values: values.iter().map(|v| format!("\"{v}\"")).collect(),
    })
}

#[tokio::test]
async fn a_value_is_written_quoted_with_the_challenge_ttl_and_get_change_is_awaited() {
    let dir = TestDir::new();
    let moto = Moto::start(&dir);
    let zone_id = moto.create_hosted_zone(ZONE);
    let route53 = provider(&moto, |_| {});

    route53.set_txt(ZONE, NAME, VALUE_A).await.expect("set_txt");

    assert_eq!(moto.txt_set(&zone_id, NAME), txt(&[VALUE_A]));
    assert_eq!(
        moto.requests_matching(GET_CHANGE),
        1,
        "set_txt must ask GetChange once (moto is INSYNC at once):\n{}",
        moto.log_tail()
    );
}

#[tokio::test]
async fn a_second_value_joins_the_first_and_removals_take_only_their_own_value() {
    let dir = TestDir::new();
    let moto = Moto::start(&dir);
    let zone_id = moto.create_hosted_zone(ZONE);
    let route53 = provider(&moto, |_| {});

    route53.set_txt(ZONE, NAME, VALUE_A).await.expect("set A");
    route53.set_txt(ZONE, NAME, VALUE_B).await.expect("set B");
    assert_eq!(moto.txt_set(&zone_id, NAME), txt(&[VALUE_A, VALUE_B]));

    route53
        .remove_txt(ZONE, NAME, VALUE_A)
        .await
        .expect("remove A");
    assert_eq!(moto.txt_set(&zone_id, NAME), txt(&[VALUE_B]));

    route53
        .remove_txt(ZONE, NAME, VALUE_B)
        .await
        .expect("remove B");
    assert_eq!(moto.txt_set(&zone_id, NAME), None, "{}", moto.log_tail());
}

#[tokio::test]
async fn setting_a_value_twice_keeps_one_copy_and_removing_a_missing_value_succeeds() {
    let dir = TestDir::new();
    let moto = Moto::start(&dir);
    let zone_id = moto.create_hosted_zone(ZONE);
    let route53 = provider(&moto, |_| {});

    route53
        .remove_txt(ZONE, NAME, VALUE_A)
        .await
        .expect("remove from no set");
    route53.set_txt(ZONE, NAME, VALUE_A).await.expect("set A");
    route53
        .set_txt(ZONE, NAME, VALUE_A)
        .await
        .expect("set A again");
    route53
        .remove_txt(ZONE, NAME, VALUE_B)
        .await
        .expect("remove a value not there");

    assert_eq!(moto.txt_set(&zone_id, NAME), txt(&[VALUE_A]));
}

#[tokio::test]
async fn the_hosted_zone_is_found_by_its_exact_name() {
    let dir = TestDir::new();
    let moto = Moto::start(&dir);
    let parent = moto.create_hosted_zone("test");
    let zone_id = moto.create_hosted_zone(ZONE);
    let child = moto.create_hosted_zone("sub.example.test");
    let route53 = provider(&moto, |_| {});

    route53.set_txt(ZONE, NAME, VALUE_A).await.expect("set_txt");

    assert_eq!(moto.txt_set(&zone_id, NAME), txt(&[VALUE_A]));
    assert_eq!(moto.txt_set(&parent, NAME), None);
    assert_eq!(moto.txt_set(&child, NAME), None);
}

#[tokio::test]
async fn a_configured_hosted_zone_id_is_used_even_when_names_are_shared() {
    let dir = TestDir::new();
    let moto = Moto::start(&dir);
    let public = moto.create_hosted_zone(ZONE);
    let private = moto.create_private_hosted_zone(ZONE);
    let route53 = provider(&moto, |c| {
        c.hosted_zone_id = Some(format!("/hostedzone/{private}"));
    });

    route53.set_txt(ZONE, NAME, VALUE_A).await.expect("set_txt");

    assert_eq!(moto.txt_set(&private, NAME), txt(&[VALUE_A]));
    assert_eq!(moto.txt_set(&public, NAME), None);
}

#[tokio::test]
async fn zones_sharing_the_name_are_listed_and_hosted_zone_id_is_asked_for() {
    let dir = TestDir::new();
    let moto = Moto::start(&dir);
    let public = moto.create_hosted_zone(ZONE);
    let private = moto.create_private_hosted_zone(ZONE);
    let route53 = provider(&moto, |_| {});

    let message = route53
        .set_txt(ZONE, NAME, VALUE_A)
        .await
        .expect_err("two zones share the name")
        .to_string();

    assert_eq!(
        message,
        format!(
            "DNS provider route53: TXT _acme-challenge.example.test: 2 Route53 hosted zones are named example.test.: \
             {public} (public), {private} (private); set hosted_zone_id to the one to use"
        )
    );
    assert_eq!(moto.txt_set(&public, NAME), None);
    assert_eq!(moto.txt_set(&private, NAME), None);
}

#[tokio::test]
async fn an_unknown_zone_is_named() {
    let dir = TestDir::new();
    let moto = Moto::start(&dir);
    moto.create_hosted_zone("other.test");
    let route53 = provider(&moto, |_| {});

    let message = route53
        .set_txt(ZONE, NAME, VALUE_A)
        .await
        .expect_err("no such zone")
        .to_string();

    assert_eq!(
        message,
        "DNS provider route53: TXT _acme-challenge.example.test: no Route53 hosted zone named example.test. is visible to these \
         credentials: create it, or set hosted_zone_id if the zone has another name in Route53"
    );
}

#[tokio::test]
async fn an_unknown_hosted_zone_id_is_named() {
    let dir = TestDir::new();
    let moto = Moto::start(&dir);
    moto.create_hosted_zone(ZONE);
    let route53 = provider(&moto, |c| c.hosted_zone_id = Some("ZNOSUCHZONE42".into()));

    let message = route53
        .set_txt(ZONE, NAME, VALUE_A)
        .await
        .expect_err("no such hosted zone id")
        .to_string();

    assert_eq!(
        message,
        "DNS provider route53: TXT _acme-challenge.example.test: Route53 hosted zone ZNOSUCHZONE42 (hosted_zone_id) does not \
         exist (zone example.test)"
    );
}

#[tokio::test]
async fn a_zero_propagation_wait_skips_get_change() {
    let dir = TestDir::new();
    let moto = Moto::start(&dir);
    let zone_id = moto.create_hosted_zone(ZONE);
    let route53 = provider(&moto, |c| c.propagation_wait = std::time::Duration::ZERO);

    route53.set_txt(ZONE, NAME, VALUE_A).await.expect("set_txt");

    assert_eq!(moto.txt_set(&zone_id, NAME), txt(&[VALUE_A]));
    assert_eq!(moto.requests_matching(GET_CHANGE), 0, "{}", moto.log_tail());
}

/// Set in the child process that [`without_credentials_the_error_says_where_they_are_looked_for`]
/// starts with an empty environment.
const NO_CREDENTIALS_CHILD: &str = "ACMEKEEP_TEST_ROUTE53_NO_CREDENTIALS_CHILD";

/// The default credential chain finds nothing: this test runs itself again in a child process
/// whose environment has no AWS variables, a HOME without `~/.aws`, and instance metadata
/// turned off (so the result does not depend on the machine, and nothing here touches this
/// process's environment).
#[tokio::test]
async fn without_credentials_the_error_says_where_they_are_looked_for() {
    if std::env::var_os(NO_CREDENTIALS_CHILD).is_some() {
        let route53 = Provider::new(Config {
            hosted_zone_id: Some("Z0123456789".into()),
            // Nothing listens here: the credentials are missing before any request.
            endpoint_url: Some("http://127.0.0.1:9".into()),
            ..Config::default()
        })
        .expect("valid config");
        let message = route53
            .set_txt(ZONE, NAME, VALUE_A)
            .await
            .expect_err("no credentials anywhere")
            .to_string();
        println!("{message}");
        return;
    }
    let home = TestDir::new();
    let output = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--exact",
            "without_credentials_the_error_says_where_they_are_looked_for",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_clear()
        .env(NO_CREDENTIALS_CHILD, "1")
        .env("HOME", home.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run the test binary again");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for needle in [
        "DNS provider route53: TXT _acme-challenge.example.test: no AWS credentials found (",
        "access_key_id / secret_access_key",
        "AWS_ACCESS_KEY_ID",
        "the profile default (or AWS_PROFILE) in ~/.aws/credentials and ~/.aws/config",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "EC2 instance metadata (IMDS)",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
}
