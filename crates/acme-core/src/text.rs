//! Text from remote parties (a CA's problem details, API error bodies, hook and script
//! output) made safe to print on a terminal or in a text log.

/// The most characters of one piece of remote text that are printed.
pub const MAX_REMOTE_TEXT: usize = 1000;

/// `text` as it may be printed: control characters (C0 such as ESC, CR, LF and BEL, DEL,
/// C1) and the Unicode controls that reorder or hide text (bidirectional overrides and
/// isolates, zero-width characters) are shown escaped, e.g. `\u{1b}`, `\r`, `\n`; tabs stay;
/// text longer than [`MAX_REMOTE_TEXT`] characters is cut and ends in `…`.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_REMOTE_TEXT + 16));
    for (count, c) in text.chars().enumerate() {
        if count == MAX_REMOTE_TEXT {
            out.push('…');
            break;
        }
        if c != '\t' && (c.is_control() || is_invisible_format(c)) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// Unicode format characters that can make printed text read differently from what it is.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{200b}'..='\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}'
        | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_unchanged() {
        let text = "Error creating new order :: too many certificates (5) for \"example.com\"\tsee https://letsencrypt.org/docs/rate-limits/ — ok";
        assert_eq!(printable(text), text);
    }

    #[test]
    fn terminal_escapes_and_line_breaks_are_shown_escaped() {
        assert_eq!(
            printable("\u{1b}]0;title\u{7}\u{1b}[2Jno\r\nforged: line\u{0}\u{7f}\u{9b}"),
            r"\u{1b}]0;title\u{7}\u{1b}[2Jno\r\nforged: line\0\u{7f}\u{9b}"
        );
    }

    #[test]
    fn text_that_reorders_or_hides_itself_is_shown_escaped() {
        assert_eq!(
            printable("a\u{202e}cba\u{2066}\u{200b}"),
            r"a\u{202e}cba\u{2066}\u{200b}"
        );
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        let long = "é".repeat(MAX_REMOTE_TEXT + 500);
        let shown = printable(&long);
        assert_eq!(shown.chars().count(), MAX_REMOTE_TEXT + 1);
        assert!(shown.ends_with("é…"), "{shown}");
        let exact = "x".repeat(MAX_REMOTE_TEXT);
        assert_eq!(printable(&exact), exact);
    }
}
