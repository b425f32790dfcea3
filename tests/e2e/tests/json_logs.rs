//! `--log-format json`: every line on standard error is one JSON object with unique keys, so
//! log pipelines (journald → Loki, Elasticsearch, jq) lose nothing. Runs the real binary with
//! a local CA, several certificates at once, a second run, and a bad configuration.

use std::collections::BTreeMap;
use std::fmt;

use e2e::{TestDir, free_port};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// A JSON value parsed with duplicate object keys refused (serde_json alone keeps the last).
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Strict, E> {
        Ok(Strict(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Strict, E> {
        Ok(Strict(Value::String(v.to_string())))
    }
    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Strict(Value::Array(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some((key, Strict(value))) = map.next_entry::<String, Strict>()? {
            if object.insert(key.clone(), value).is_some() {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
        }
        Ok(Strict(Value::Object(object)))
    }
}

/// Parses every line of `stderr` strictly; panics naming the first line that is not a JSON
/// object with unique keys.
fn json_lines(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .map(|line| match serde_json::from_str::<Strict>(line) {
            Ok(Strict(value)) if value.is_object() => value,
            Ok(_) => panic!("not a JSON object: {line}"),
            Err(err) => panic!("not valid JSON with unique keys ({err}): {line}"),
        })
        .collect()
}

/// Three certificates (one with three names) from a generated local CA into files sinks.
fn write_config(dir: &TestDir) {
    let out = |name: &str| dir.path().join("out").join(name).display().to_string();
    let toml = format!(
        r#"[daemon]
state_dir = "{state}"
listen_metrics = "127.0.0.1:{port}"

[issuers.internal]
kind = "ca"
generate = true

[certificates.web]
domains = ["web.example.test", "www.example.test", "static.example.test"]
issuer = "internal"
sinks = [{{ kind = "files", dir = "{web}" }}]

[certificates.api]
domains = ["api.example.test"]
issuer = "internal"
sinks = [{{ kind = "files", dir = "{api}" }}]

[certificates.mail]
domains = ["mail.example.test", "smtp.example.test"]
issuer = "internal"
sinks = [{{ kind = "files", dir = "{mail}" }}]
"#,
        state = dir.state_dir().display(),
        port = free_port(),
        web = out("web"),
        api = out("api"),
        mail = out("mail"),
    );
    dir.write_config(&toml);
}

/// The values of the `span` object and of every entry of `spans` of one line.
fn span_values(line: &Value) -> Vec<&Value> {
    let mut values: Vec<&Value> = line["span"]
        .as_object()
        .map(|span| span.values().collect())
        .unwrap_or_default();
    for span in line["spans"].as_array().into_iter().flatten() {
        values.extend(span.as_object().into_iter().flat_map(|s| s.values()));
    }
    values
}

#[test]
fn every_line_is_json_with_unique_keys_the_certificate_name_and_names_as_an_array() {
    let dir = TestDir::new();
    write_config(&dir);
    let expected: BTreeMap<&str, Vec<&str>> = BTreeMap::from([
        (
            "web",
            vec![
                "web.example.test",
                "www.example.test",
                "static.example.test",
            ],
        ),
        ("api", vec!["api.example.test"]),
        ("mail", vec!["mail.example.test", "smtp.example.test"]),
    ]);

    let first = dir.acmekeep(&["--log-format", "json", "-v", "--issue"]);
    first
        .assert_success()
        .assert_stdout_contains("3 issued, 0 still valid, 0 failed");
    let lines = json_lines(first.stderr());
    for (certificate, names) in &expected {
        let issuing = lines
            .iter()
            .find(|line| {
                line["fields"]["message"] == "issuing"
                    && span_values(line).contains(&&Value::from(*certificate))
            })
            .unwrap_or_else(|| {
                first.fail(&format!(
                    "no \"issuing\" line whose span names certificate {certificate}"
                ))
            });
        assert_eq!(
            issuing["fields"]["names"],
            Value::from(names.clone()),
            "names is an array of the certificate's names: {issuing}"
        );
    }

    let second = dir.acmekeep(&["--log-format", "json", "-v", "--issue"]);
    second
        .assert_success()
        .assert_stdout_contains("0 issued, 3 still valid, 0 failed");
    json_lines(second.stderr());
}

#[test]
fn a_configuration_error_is_a_json_line_too() {
    let dir = TestDir::new();
    write_config(&dir);
    let config = std::fs::read_to_string(dir.config_path()).expect("read the config");
    dir.write_config(&config.replace("generate = true", "generate = true\ngenrate = true"));

    for args in [vec!["--issue"], vec!["status"], vec!["check"]] {
        let mut full = vec!["--log-format", "json"];
        full.extend(args);
        let run = dir.acmekeep(&full);
        run.assert_exit(2);
        let lines = json_lines(run.stderr());
        let error = lines
            .iter()
            .find(|line| line["level"] == "ERROR")
            .unwrap_or_else(|| run.fail("no ERROR line"));
        let message = error["fields"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("genrate"),
            "the error names the unknown key: {error}"
        );
    }
}
