/// Well-known ACME directories, by the alias a configuration may use instead of a URL.
pub const DIRECTORY_ALIASES: [(&str, &str); 7] = [
    (
        "letsencrypt",
        "https://acme-v02.api.letsencrypt.org/directory",
    ),
    (
        "letsencrypt-staging",
        "https://acme-staging-v02.api.letsencrypt.org/directory",
    ),
    ("zerossl", "https://acme.zerossl.com/v2/DV90"),
    ("google", "https://dv.acme-v02.api.pki.goog/directory"),
    (
        "google-staging",
        "https://dv.acme-v02.test-api.pki.goog/directory",
    ),
    ("buypass", "https://api.buypass.com/acme/directory"),
    (
        "buypass-staging",
        "https://api.test4.buypass.no/acme/directory",
    ),
];

/// Turns a directory alias or URL into a URL, or says what is accepted.
pub fn resolve_directory(alias_or_url: &str) -> Result<String, String> {
    if let Some((_, url)) = DIRECTORY_ALIASES
        .iter()
        .find(|(alias, _)| *alias == alias_or_url)
    {
        return Ok((*url).to_string());
    }
    if alias_or_url.starts_with("https://") || alias_or_url.starts_with("http://") {
        return Ok(alias_or_url.to_string());
    }
    let aliases: Vec<&str> = DIRECTORY_ALIASES.iter().map(|(a, _)| *a).collect();
    Err(format!(
        "{alias_or_url:?} is neither an https:// URL nor a known alias ({})",
        aliases.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_urls_resolve_and_typos_list_the_aliases() {
        assert_eq!(
            resolve_directory("letsencrypt-staging").as_deref(),
            Ok("https://acme-staging-v02.api.letsencrypt.org/directory")
        );
        assert_eq!(
            resolve_directory("https://127.0.0.1:14000/dir").as_deref(),
            Ok("https://127.0.0.1:14000/dir")
        );
        let err = resolve_directory("letsencrpyt").unwrap_err();
        assert!(err.contains("letsencrypt-staging"), "{err}");
    }
}
