//! The CA's comparison of a challenge body with the key authorization
//! (`docs/ca-behaviour.md` §2.7): at most 127 bytes, only trailing Unicode whitespace trimmed,
//! then equal byte for byte. A leaf shared by `probe/` and `diagnose/`; imports nothing.

use serde::{Deserialize, Serialize};

/// A body that fills this many bytes fails (`maxResponseSize`): the CA accepts at most 127.
pub const LIMIT: usize = crate::ca_limits::MAX_RESPONSE_BODY;

/// How a body compares, as the CA compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compared {
    Match,
    /// 128 bytes or more: `Invalid response from <url>: "<first 128 bytes>"`.
    TooLarge,
    /// Under the limit but not equal once trailing whitespace is trimmed.
    Mismatch {
        got: String,
        flaw: Flaw,
    },
}

/// What is wrong with a body that does not match, as far as it can be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flaw {
    /// It starts with a UTF-8 byte-order mark (an editor on Windows, `Out-File`).
    Bom,
    /// Whitespace before the value: only trailing whitespace is trimmed.
    LeadingWhitespace,
    /// The value inside HTML (a framework's template, an error page around it).
    HtmlWrapper,
    /// The start of the value only.
    Truncated,
    /// The value with more around it.
    ExtraContent,
    /// Another value (a stale token, another client's file, a page).
    Other,
}

/// Compares `body` (the bytes read, at least the first 128 when there were that many) with
/// `expected` as the CA does.
pub fn compare(expected: &str, body: &[u8]) -> Compared {
    if body.len() >= LIMIT {
        return Compared::TooLarge;
    }
    let text = String::from_utf8_lossy(body);
    // Go's unicode.IsSpace and Rust's char::is_whitespace agree on the characters that can
    // trail a file: ASCII space and controls \t\n\v\f\r, U+0085, U+00A0 and the Z* spaces.
    let got = text.trim_end_matches(char::is_whitespace);
    if got == expected {
        return Compared::Match;
    }
    Compared::Mismatch {
        got: got.to_string(),
        flaw: flaw(expected, got),
    }
}

fn flaw(expected: &str, got: &str) -> Flaw {
    // A BOM is the first thing to fix even if more is wrong after it.
    if got.starts_with('\u{FEFF}') {
        return Flaw::Bom;
    }
    if got.starts_with(char::is_whitespace) && got.trim_start() == expected {
        return Flaw::LeadingWhitespace;
    }
    let lower = got.to_ascii_lowercase();
    if got.contains(expected)
        && (lower.contains("<html") || lower.contains("<pre") || lower.contains("<body"))
    {
        return Flaw::HtmlWrapper;
    }
    if !got.is_empty() && expected.starts_with(got) {
        return Flaw::Truncated;
    }
    if got.contains(expected) {
        return Flaw::ExtraContent;
    }
    if got.starts_with(char::is_whitespace) {
        return Flaw::LeadingWhitespace;
    }
    Flaw::Other
}

/// A string quoted as Go's `%q` quotes it, as the CA's messages quote bodies.
pub fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if go_printable(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.IsPrint`, close enough for bodies: graphic characters and the ASCII space;
/// not controls, other spaces, or format characters such as the BOM and bidi marks.
fn go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c, '\u{AD}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KA: &str = "tok3n.thumbprint-abc";

    #[test]
    fn at_most_127_bytes_are_accepted() {
        let value = "a".repeat(127);
        assert_eq!(compare(&value, value.as_bytes()), Compared::Match);
        let value = "a".repeat(128);
        assert_eq!(compare(&value, value.as_bytes()), Compared::TooLarge);
        // 127 bytes of value and one trailing newline fill the limit: the CA refuses it.
        let body = format!("{}\n", "a".repeat(127));
        assert_eq!(
            compare(&"a".repeat(127), body.as_bytes()),
            Compared::TooLarge
        );
    }

    #[test]
    fn trailing_whitespace_is_trimmed_leading_is_not() {
        assert_eq!(compare(KA, format!("{KA}\r\n").as_bytes()), Compared::Match);
        assert_eq!(
            compare(KA, format!("{KA} \t\n").as_bytes()),
            Compared::Match
        );
        assert_eq!(
            compare(KA, format!("{KA}\u{a0}").as_bytes()),
            Compared::Match
        );
        assert_eq!(
            compare(KA, format!("\n{KA}").as_bytes()),
            Compared::Mismatch {
                got: format!("\n{KA}"),
                flaw: Flaw::LeadingWhitespace
            }
        );
        assert!(matches!(
            compare(KA, format!(" {KA}\n").as_bytes()),
            Compared::Mismatch {
                flaw: Flaw::LeadingWhitespace,
                ..
            }
        ));
    }

    #[test]
    fn a_bom_fails_and_is_named() {
        let body = format!("\u{FEFF}{KA}\r\n");
        assert_eq!(
            compare(KA, body.as_bytes()),
            Compared::Mismatch {
                got: format!("\u{FEFF}{KA}"),
                flaw: Flaw::Bom
            }
        );
        assert_eq!(
            go_quote(&format!("\u{FEFF}{KA}")),
            format!("\"\\ufeff{KA}\"")
        );
    }

    #[test]
    fn html_truncation_and_other_values_are_told_apart() {
        let html = format!("<html><body><pre>{KA}</pre></body></html>");
        assert!(matches!(
            compare(KA, html.as_bytes()),
            Compared::Mismatch {
                flaw: Flaw::HtmlWrapper,
                ..
            }
        ));
        assert!(matches!(
            compare(KA, &KA.as_bytes()[..10]),
            Compared::Mismatch {
                flaw: Flaw::Truncated,
                ..
            }
        ));
        assert!(matches!(
            compare(KA, format!("{KA}.extra").as_bytes()),
            Compared::Mismatch {
                flaw: Flaw::ExtraContent,
                ..
            }
        ));
        assert!(matches!(
            compare(KA, b"old-token.thumb"),
            Compared::Mismatch {
                flaw: Flaw::Other,
                ..
            }
        ));
    }

    #[test]
    fn go_quoting_escapes_what_go_escapes() {
        assert_eq!(go_quote("a\"b\\c\n\r\t"), r#""a\"b\\c\n\r\t""#);
        assert_eq!(go_quote("\u{1}"), r#""\x01""#);
        assert_eq!(go_quote("é"), "\"é\"");
    }
}
