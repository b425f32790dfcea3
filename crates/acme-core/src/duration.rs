//! Durations in configuration files, written the humantime way (`"90d"`, `"12h"`, `"30s"`).

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Parses a human duration such as `"30d"` or `"1h 30m"`, with a message that says what
/// is accepted.
pub fn parse(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| {
        format!("invalid duration {text:?} ({e}); write e.g. \"30d\", \"12h\" or \"90s\"")
    })
}

/// `#[serde(deserialize_with = "acme_core::duration::deserialize")]` for a required duration.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse(&text).map_err(serde::de::Error::custom)
}

/// `#[serde(default, deserialize_with = "acme_core::duration::deserialize_option")]` for an
/// optional duration.
pub fn deserialize_option<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_hours_and_combinations_parse() {
        assert_eq!(parse("30d"), Ok(Duration::from_secs(30 * 86400)));
        assert_eq!(parse("12h"), Ok(Duration::from_secs(12 * 3600)));
        assert_eq!(parse("1h 30m"), Ok(Duration::from_secs(5400)));
    }

    #[test]
    fn nonsense_says_what_is_accepted() {
        let err = parse("3 fortnights").unwrap_err();
        assert!(err.contains("\"3 fortnights\""), "{err}");
        assert!(err.contains("\"30d\""), "{err}");
    }
}
