use std::fmt;

use crate::Error;

/// A secret value read from the configuration; its `Debug` output never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Resolves a configuration value that may hold a secret:
    /// `env:NAME` reads the environment variable, `file:/path` reads the file (one trailing
    /// newline removed), anything else is taken literally.
    pub fn resolve(reference: &str) -> Result<Secret, Error> {
        if let Some(name) = reference.strip_prefix("env:") {
            return std::env::var(name).map(Secret).map_err(|e| Error::Secret {
                reference: reference.to_string(),
                reason: match e {
                    std::env::VarError::NotPresent => "the environment variable is not set".into(),
                    std::env::VarError::NotUnicode(_) => {
                        "the environment variable is not valid UTF-8".into()
                    }
                },
            });
        }
        if let Some(path) = reference.strip_prefix("file:") {
            let mut text = std::fs::read_to_string(path).map_err(|e| Error::Secret {
                reference: reference.to_string(),
                reason: e.to_string(),
            })?;
            if text.ends_with('\n') {
                text.pop();
                if text.ends_with('\r') {
                    text.pop();
                }
            }
            return Ok(Secret(text));
        }
        Ok(Secret(reference.to_string()))
    }

    /// Whether a configuration value is a reference rather than an inline secret.
    pub fn is_reference(value: &str) -> bool {
        value.starts_with("env:") || value.starts_with("file:")
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_references_drop_one_trailing_newline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret\n").expect("write");
        let secret = Secret::resolve(&format!("file:{}", path.display())).expect("resolve");
        assert_eq!(secret.expose(), "s3cret");
    }

    #[test]
    fn missing_sources_name_the_reference_not_the_value() {
        let err = Secret::resolve("env:ACMEKEEP_TEST_SURELY_UNSET").unwrap_err();
        assert_eq!(
            err.to_string(),
            "secret env:ACMEKEEP_TEST_SURELY_UNSET: the environment variable is not set"
        );
        let err = Secret::resolve("file:/nonexistent/acmekeep-secret").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("secret file:/nonexistent/acmekeep-secret: ")
        );
    }

    #[test]
    fn literals_pass_through_and_debug_is_redacted() {
        let secret = Secret::resolve("plain").expect("resolve");
        assert_eq!(secret.expose(), "plain");
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
    }
}
