//! The environment acmekeep hands to the commands it runs (hooks, exec DNS scripts).

use std::ffi::OsString;

/// The prefix of the environment variables that override configuration keys
/// (`ACMEKEEP__SECTION__KEY`).
pub const CONFIG_OVERRIDE_PREFIX: &str = "ACMEKEEP__";

/// The names of this process's environment variables that override configuration keys.
/// They may hold secrets, so every command acmekeep starts gets them removed.
pub fn config_override_vars() -> Vec<OsString> {
    std::env::vars_os()
        .map(|(name, _)| name)
        .filter(|name| {
            name.as_encoded_bytes()
                .starts_with(CONFIG_OVERRIDE_PREFIX.as_bytes())
        })
        .collect()
}
