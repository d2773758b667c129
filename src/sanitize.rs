//! Text from the network (and from other users' processes) is untrusted: before it reaches a
//! terminal or a report, control characters are replaced and its length is capped.

/// One line: every control character (C0, DEL, C1) and bidi override becomes U+FFFD, so a
/// hostile server cannot move the cursor, recolour the terminal or reorder text.
pub fn line(text: &str, max_chars: usize) -> String {
    clean(text, max_chars, false)
}

/// Like [`line`] but keeps newlines (for multi-line blocks such as a body excerpt).
pub fn block(text: &str, max_chars: usize) -> String {
    clean(text, max_chars, true)
}

fn is_unsafe(c: char, keep_newlines: bool) -> bool {
    if keep_newlines && c == '\n' {
        return false;
    }
    c.is_control() || is_bidi(c)
}

/// JSON text with every DEL, C1 control and bidi override escaped as `\uXXXX`. serde_json
/// escapes C0 controls but passes these through, and a terminal acts on them (U+009B is a
/// one-byte CSI). Outside strings JSON text is ASCII, so escaping the whole text is safe.
pub fn json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\u{7F}' || ('\u{80}'..='\u{9F}').contains(&c) || is_bidi(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

fn is_bidi(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

fn clean(text: &str, max_chars: usize, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars.saturating_mul(4)));
    for (count, c) in text.chars().enumerate() {
        if count == max_chars {
            out.push('…');
            break;
        }
        out.push(if is_unsafe(c, keep_newlines) {
            '\u{FFFD}'
        } else {
            c
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_are_neutralised() {
        let hostile = "nginx\x1b[31m\x1b]0;pwned\x07\r\n\u{202E}evil";
        let clean = line(hostile, 100);
        assert!(!clean.chars().any(|c| c.is_control()));
        assert!(!clean.contains('\u{202E}'));
        assert!(clean.starts_with("nginx"));
    }

    #[test]
    fn an_unlimited_cap_does_not_overflow() {
        assert_eq!(block("abc", usize::MAX), "abc");
    }

    #[test]
    fn long_text_is_capped() {
        assert_eq!(line(&"a".repeat(10), 4), "aaaa…");
        assert_eq!(line("abc", 3), "abc");
    }

    #[test]
    fn json_text_escapes_del_c1_and_bidi() {
        let text = "{\"a\":\"x\u{7F}y\u{9B}2J\u{202E}z\"}";
        let escaped = json(text);
        assert_eq!(escaped, "{\"a\":\"x\\u007fy\\u009b2J\\u202ez\"}");
        let back: serde_json::Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back["a"], "x\u{7F}y\u{9B}2J\u{202E}z");
    }

    #[test]
    fn blocks_keep_newlines_only() {
        assert_eq!(block("a\nb\tc", 10), "a\nb\u{FFFD}c");
    }
}
