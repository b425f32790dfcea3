//! The user docs describe every provider this registry builds, with every key it reads.

use std::path::PathBuf;

use dns_providers::{PROVIDERS, config_keys, field_names};
use dns01::Dns01Config;

fn doc(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The text of the first section whose heading (at `level`, e.g. `"## "`) satisfies
/// `is_it`, up to the next heading of the same or a higher level; lines in code fences
/// (TOML comments) are not headings.
fn section<'a>(text: &'a str, level: &str, is_it: impl Fn(&str) -> bool) -> Option<&'a str> {
    let depth_of = |line: &str| line.len() - line.trim_start_matches('#').len();
    let (mut start, mut offset, mut fenced) = (None, 0, false);
    for line in text.split_inclusive('\n') {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        let heading =
            !fenced && line.starts_with('#') && line.trim_start_matches('#').starts_with(' ');
        match start {
            None if heading && line.starts_with(level) && is_it(line) => start = Some(offset),
            Some(from) if heading && depth_of(line) <= depth_of(level) => {
                return Some(&text[from..offset]);
            }
            _ => {}
        }
        offset += line.len();
    }
    start.map(|from| &text[from..])
}

/// Whether the section mentions the key as code (`` `key` ``) or sets it in an example
/// (`key = …`, also commented out).
fn mentions_key(section: &str, key: &str) -> bool {
    section.contains(&format!("`{key}`"))
        || section.lines().any(|line| {
            line.trim_start_matches(['#', ' '])
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
}

/// Whether a heading names `provider` as a word (`## route53 — …`, `(provider = "rfc2136")`).
fn heading_names(line: &str, provider: &str) -> bool {
    line.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| word == provider)
}

#[test]
fn the_registry_has_providers_and_each_has_keys() {
    assert!(!PROVIDERS.is_empty(), "build with the default features");
    for provider in PROVIDERS {
        let keys = config_keys(provider).expect("a registered provider has keys");
        assert!(!keys.is_empty(), "{provider}: no config keys read");
    }
    assert_eq!(config_keys("no-such-provider"), None);
}

#[test]
fn dns_providers_md_has_a_section_per_provider_naming_each_key() {
    let text = doc("dns-providers.md");
    let mut missing = Vec::new();
    for provider in PROVIDERS {
        let Some(body) = section(&text, "## ", |line| heading_names(line, provider)) else {
            missing.push(format!("no `## …{provider}…` section"));
            continue;
        };
        for key in config_keys(provider).unwrap_or_default() {
            if !mentions_key(body, key) {
                missing.push(format!("{provider}: key `{key}`"));
            }
        }
    }
    let first_provider = text.find("\n## ").unwrap_or(text.len());
    let common = &text[..first_provider];
    for key in field_names::<Dns01Config>() {
        if !mentions_key(common, key) {
            missing.push(format!(
                "dns-01 solver key `{key}` before the first provider section"
            ));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/dns-providers.md lacks: {missing:#?}"
    );
}

#[test]
fn configuration_md_names_each_provider_and_solver_key_under_dns_01() {
    let text = doc("configuration.md");
    let body = section(&text, "### ", |line| line.contains(r#"`kind = "dns-01"`"#))
        .expect("docs/configuration.md has a ### `kind = \"dns-01\"` section");
    let mut missing = Vec::new();
    for provider in PROVIDERS {
        if !body.contains(&format!("`{provider}`")) {
            missing.push(format!("provider `{provider}`"));
        }
    }
    for key in field_names::<Dns01Config>() {
        if !mentions_key(body, key) {
            missing.push(format!("dns-01 solver key `{key}`"));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/configuration.md lacks: {missing:#?}"
    );
}

#[test]
fn a_missing_key_or_section_is_noticed() {
    let text =
        "# T\n## route53 — AWS\n`region`\n```\n# endpoint_url = \"x\"\n```\n## exec\n`command`\n";
    let body = section(text, "## ", |l| heading_names(l, "route53")).expect("section");
    assert!(mentions_key(body, "region") && mentions_key(body, "endpoint_url"));
    assert!(
        !mentions_key(body, "command"),
        "the next section is not part of it"
    );
    assert!(section(text, "## ", |l| heading_names(l, "cloudflare")).is_none());
}
