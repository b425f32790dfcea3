//! Log setup: human text or JSON lines on standard error.
//!
//! JSON lines are tracing-subscriber's, with one change: a field that holds a list (`names`,
//! logged as `?vec`) becomes a JSON array instead of its Debug text. Span fields must not be
//! called `name`, which the JSON span object uses for the span's own name.

use std::fmt::Display;
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Event fields whose value is a list, written as JSON arrays in JSON lines.
const LIST_FIELDS: &[&str] = &["names"];

/// The format chosen at start-up, for [`error`].
static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Installs the global subscriber. `ACMEKEEP_LOG` (an env-filter) wins over `-v`.
pub fn init(format: LogFormat, verbose: u8) {
    let _ = FORMAT.set(format);
    let default = match verbose {
        0 => "info",
        1 => concat!(
            "info,acmekeep=debug,acme_core=debug,issuer_acme=debug,",
            "http01=debug,sink_files=debug,issuer_ca=debug"
        ),
        _ => "trace",
    };
    let filter =
        EnvFilter::try_from_env("ACMEKEEP_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only on a terminal, and never with NO_COLOR (https://no-color.org): the
    // journal and log files would otherwise be full of escape codes.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_target(false);
    match format {
        LogFormat::Text => builder.with_writer(std::io::stderr).compact().init(),
        LogFormat::Json => builder.with_writer(JsonLine::default).json().init(),
    }
}

/// Prints an error that stops a command (a bad configuration, a usage error) on standard
/// error: as it is for text logs, as an ERROR line with `--log-format json`.
pub fn error(message: impl Display) {
    match FORMAT.get() {
        Some(LogFormat::Json) => tracing::error!("{message}"),
        _ => eprintln!("{message}"),
    }
}

/// One event's JSON line, collected and written to standard error when dropped, with the
/// list fields turned into arrays.
#[derive(Default)]
struct JsonLine(Vec<u8>);

impl Write for JsonLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for JsonLine {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let fixed: String = text.split_inclusive('\n').map(with_list_arrays).collect();
        // Standard error is gone: there is nowhere left to report it.
        let _ = std::io::stderr().lock().write_all(fixed.as_bytes());
    }
}

/// `line` with each list field's Debug text (`"names":"[\"a\", \"b\"]"`) replaced by the JSON
/// array it spells; unchanged where the text is not a list of strings.
fn with_list_arrays(line: &str) -> String {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
        return line.to_string();
    };
    let mut line = line.to_string();
    for field in LIST_FIELDS {
        let Some(text) = value["fields"][field].as_str() else {
            continue;
        };
        let (Ok(list), Ok(quoted)) = (
            serde_json::from_str::<Vec<String>>(text),
            serde_json::to_string(text),
        ) else {
            continue;
        };
        let Ok(array) = serde_json::to_string(&list) else {
            continue;
        };
        line = line.replacen(
            &format!("\"{field}\":{quoted}"),
            &format!("\"{field}\":{array}"),
            1,
        );
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_logged_with_debug_become_a_json_array() {
        let names = vec!["a.example.test".to_string(), "b.example.test".to_string()];
        let line =
            serde_json::json!({"fields": {"message": "issuing", "names": format!("{names:?}")}})
                .to_string()
                + "\n";
        let fixed: serde_json::Value =
            serde_json::from_str(&with_list_arrays(&line)).expect("JSON");
        assert_eq!(fixed["fields"]["names"], serde_json::json!(names));
        assert!(with_list_arrays(&line).ends_with('\n'));
    }

    #[test]
    fn other_lines_are_left_as_they_are() {
        for line in [
            "not json\n",
            "{\"fields\":{\"names\":\"web.example.test\"}}\n",
            "{\"fields\":{\"message\":\"[\\\"x\\\"]\"}}\n",
        ] {
            assert_eq!(with_list_arrays(line), line);
        }
    }
}
