use std::fmt;
use std::path::PathBuf;

use serde::de::{self, Deserializer, Visitor};

/// Configuration of one files sink (`{ kind = "files", dir = "…" }` in a certificate's `sinks`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesSinkConfig {
    /// The directory that receives the certificate; must be absolute, created (0755) if missing.
    pub dir: PathBuf,
    /// The group that may read `privkey.pem` (then 0640 instead of 0600): a group name or a
    /// numeric gid, written as a string or an integer. Default: none.
    #[serde(default, deserialize_with = "group_name_or_gid")]
    pub group: Option<String>,
    /// How many previous versions to keep besides the current one. Default: 3.
    #[serde(default = "default_keep")]
    pub keep: usize,
}

impl FilesSinkConfig {
    /// A configuration for `dir` with every other field at its default.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FilesSinkConfig {
            dir: dir.into(),
            group: None,
            keep: default_keep(),
        }
    }
}

fn default_keep() -> usize {
    3
}

/// Accepts `group = "ssl-cert"`, `group = "103"` and `group = 103` alike.
fn group_name_or_gid<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct GroupVisitor;

    impl Visitor<'_> for GroupVisitor {
        type Value = Option<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a group name or a numeric gid")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_owned()))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
    }

    d.deserialize_any(GroupVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<FilesSinkConfig, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn only_dir_is_required_and_keep_defaults_to_three() {
        let config = parse(r#"{"dir": "/etc/ssl/acmekeep/web"}"#).expect("parse");
        assert_eq!(config, FilesSinkConfig::new("/etc/ssl/acmekeep/web"));
        assert_eq!(config.keep, 3);
        assert_eq!(config.group, None);
    }

    #[test]
    fn group_may_be_a_name_a_numeric_string_or_an_integer() {
        for (group, expected) in [
            (r#""ssl-cert""#, "ssl-cert"),
            (r#""103""#, "103"),
            ("103", "103"),
        ] {
            let config =
                parse(&format!(r#"{{"dir": "/srv/tls", "group": {group}}}"#)).expect(group);
            assert_eq!(config.group.as_deref(), Some(expected), "{group}");
        }
    }

    #[test]
    fn it_deserializes_inside_the_binarys_kind_tagged_enum() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(tag = "kind")]
        enum SinkConfig {
            #[serde(rename = "files")]
            Files(FilesSinkConfig),
        }
        let json = r#"{"kind": "files", "dir": "/srv/tls", "group": 103, "keep": 1}"#;
        let SinkConfig::Files(config) = serde_json::from_str(json).expect("parse");
        assert_eq!(config.group.as_deref(), Some("103"));
        assert_eq!(config.keep, 1);
        let typo = r#"{"kind": "files", "dir": "/srv/tls", "kep": 1}"#;
        let err = serde_json::from_str::<SinkConfig>(typo).expect_err("typo");
        assert!(err.to_string().contains("unknown field `kep`"), "{err}");
    }

    #[test]
    fn a_misspelt_key_is_an_error_that_names_it() {
        let err = parse(r#"{"dir": "/srv/tls", "gruop": "ssl-cert"}"#).expect_err("typo");
        assert!(err.to_string().contains("unknown field `gruop`"), "{err}");
    }

    #[test]
    fn a_group_of_the_wrong_type_says_what_is_expected() {
        let err = parse(r#"{"dir": "/srv/tls", "group": true}"#).expect_err("bool group");
        assert!(
            err.to_string().contains("a group name or a numeric gid"),
            "{err}"
        );
    }
}
