//! Certificate profiles (the ACME profiles extension): the CA's directory lists them in
//! `meta.profiles`, and a new order may name one.

use acme_core::Error;

/// Checks that `wanted` is among the profiles the CA at `directory` offers, so that a typo
/// fails with the list of valid names instead of an order the CA silently treats as default.
pub(crate) fn check<'a>(
    wanted: &str,
    offered: impl IntoIterator<Item = &'a str>,
    directory: &str,
) -> Result<(), Error> {
    let mut offered: Vec<&str> = offered.into_iter().collect();
    if offered.contains(&wanted) {
        return Ok(());
    }
    offered.sort_unstable();
    let message = if offered.is_empty() {
        format!("profile {wanted:?} is not offered by {directory}, which offers no profiles")
    } else {
        format!(
            "profile {wanted:?} is not offered by {directory} (offered: {})",
            offered.join(", ")
        )
    };
    Err(Error::Acme {
        step: "new order",
        message,
        problem: None,
        retryable: false,
        retry_after: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIRECTORY: &str = "https://ca.example/directory";

    #[test]
    fn an_offered_profile_is_accepted() {
        assert!(check("shortlived", ["classic", "shortlived"], DIRECTORY).is_ok());
    }

    #[test]
    fn an_unknown_profile_fails_naming_the_directory_and_the_offered_profiles_sorted() {
        let err = check("nope", ["shortlived", "classic"], DIRECTORY).expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "ACME new order: profile \"nope\" is not offered by \
             https://ca.example/directory (offered: classic, shortlived)"
        );
        assert!(!err.is_retryable());
    }

    #[test]
    fn a_directory_without_profiles_says_so() {
        let err = check("classic", [], DIRECTORY).expect_err("no profiles");
        assert_eq!(
            err.to_string(),
            "ACME new order: profile \"classic\" is not offered by \
             https://ca.example/directory, which offers no profiles"
        );
    }
}
