/// The longest token accepted. CAs send 43 characters (256 random bits); RFC 8555 sets no
/// maximum, so this leaves ample room while keeping what is stored and compared small.
pub(crate) const MAX_TOKEN_LEN: usize = 256;

/// Whether `token` is a non-empty string of at most [`MAX_TOKEN_LEN`] characters over the
/// ACME token alphabet (base64url, RFC 8555 §8.1): only such a token is served or written
/// to disk.
pub(crate) fn is_valid_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::{MAX_TOKEN_LEN, is_valid_token};

    #[test]
    fn base64url_tokens_are_accepted() {
        assert!(is_valid_token(
            "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
        ));
        assert!(is_valid_token("a_b-C9"));
        assert!(is_valid_token(&"a".repeat(MAX_TOKEN_LEN)));
    }

    #[test]
    fn an_overlong_token_is_refused() {
        assert!(!is_valid_token(&"a".repeat(MAX_TOKEN_LEN + 1)));
    }

    #[test]
    fn anything_that_could_name_another_path_is_refused() {
        for token in [
            "", ".", "..", "../x", "a/b", "a%2Fb", "a\\b", "a.b", "a b", "é", "a\0",
        ] {
            assert!(!is_valid_token(token), "{token:?} was accepted");
        }
    }
}
