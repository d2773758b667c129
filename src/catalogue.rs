//! The finding catalogue: `checks/<code>.md`, one long explanation per stable code, printed by
//! `acme-doctor explain <code>` (like `rustc --explain`).

use crate::diagnose::Code;

/// The sections every entry has, in this order (`docs/architecture.md` "The catalogue").
pub const SECTIONS: [&str; 5] = [
    "## What it means",
    "## Why validation fails",
    "## How to confirm",
    "## How to fix",
    "## False positives",
];

/// The code a user typed, in any case, with `_` for `-` (`NO-LISTENER`, `ipv6_disabled`).
pub fn lookup(slug: &str) -> Option<Code> {
    Code::from_slug(&normalise(slug))
}

fn normalise(slug: &str) -> String {
    slug.trim().to_ascii_lowercase().replace('_', "-")
}

/// The entry for a code typed in any case, or an error that suggests the nearest codes.
pub fn explain(slug: &str) -> Result<(Code, &'static str), String> {
    lookup(slug)
        .map(|code| (code, code.explanation()))
        .ok_or_else(|| unknown(slug))
}

/// "did you mean": the codes within a few edits of what was typed (a typo), or that contain
/// it (a part of a code: `listener`), nearest first, at most three.
pub fn nearest(slug: &str) -> Vec<&'static str> {
    let typed = normalise(slug);
    if typed.is_empty() {
        return Vec::new();
    }
    // A third of the longer name, at least 2: `no-listner` is 1 from `no-listener`, and
    // `caa` is not near every three-letter-different code.
    let mut scored: Vec<(usize, &'static str)> = Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter_map(|code| {
            let distance = strsim::levenshtein(&typed, code);
            let limit = (typed.len().max(code.len()) / 3).max(2);
            let part = typed.len() >= 4 && code.contains(typed.as_str());
            (distance <= limit || part).then_some((if part { 0 } else { distance }, code))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, code)| code).collect()
}

fn unknown(slug: &str) -> String {
    let shown = crate::sanitize::line(slug, 60);
    let list = "`acme-doctor explain` lists every code";
    match nearest(slug).as_slice() {
        [] => format!("unknown finding code {shown:?}; {list}"),
        [one] => format!("unknown finding code {shown:?}; did you mean {one}? ({list})"),
        [first @ .., last] => format!(
            "unknown finding code {shown:?}; did you mean {} or {last}? ({list})",
            first.join(", ")
        ),
    }
}

pub fn list() -> Vec<&'static str> {
    Code::ALL.iter().map(|c| c.as_str()).collect()
}

/// The first line of an entry without the `# code: ` prefix.
pub fn summary(code: Code) -> &'static str {
    let first = code.explanation().lines().next().unwrap_or("");
    first
        .strip_prefix("# ")
        .and_then(|l| l.split_once(": ").map(|(_, title)| title))
        .unwrap_or(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_has_its_title_and_the_fixed_sections_in_order() {
        for code in Code::ALL {
            let text = code.explanation();
            assert!(
                text.starts_with(&format!("# {code}: ")),
                "{code}: title line"
            );
            let mut last = 0;
            for section in SECTIONS {
                let at = text
                    .find(section)
                    .unwrap_or_else(|| panic!("{code}: missing {section}"));
                assert!(at > last, "{code}: {section} out of order");
                last = at;
            }
        }
    }

    /// Issue 21 item 4: every entry, rendered for a terminal, keeps no Markdown markup and no
    /// trailing space, and wraps to the width: a longer line is a code block's line as the
    /// file has it, or one word too long to break.
    #[test]
    fn every_entry_renders_for_a_terminal_without_markup() {
        use crate::render::markdown::{Terminal, render};
        for code in Code::ALL {
            let source = code.explanation();
            for width in [60, 100] {
                let text = render(
                    source,
                    Terminal {
                        width,
                        styled: false,
                        unicode: true,
                    },
                );
                assert!(text.starts_with(&format!("{code}: ")), "{code}");
                for line in text.lines() {
                    // A code block's line, as the file has it, may hold anything.
                    let verbatim = source.lines().any(|l| l.trim() == line.trim());
                    assert!(!line.ends_with([' ', '\t']), "{code}: {line:?}");
                    if !verbatim {
                        assert!(!line.starts_with('#'), "{code}: {line:?}");
                        assert!(!line.contains('`'), "{code}: {line:?}");
                        assert!(!line.contains("**"), "{code}: {line:?}");
                    }
                    let long = console::measure_text_width(line) > width;
                    let one_word = !line.trim_start().contains(' ');
                    assert!(!long || verbatim || one_word, "{code} at {width}: {line:?}");
                }
                // Styled, the same text: only ANSI sequences are added.
                let styled = render(
                    source,
                    Terminal {
                        width,
                        styled: true,
                        unicode: true,
                    },
                );
                assert_eq!(console::strip_ansi_codes(&styled), text, "{code}");
            }
        }
    }

    #[test]
    fn codes_are_taken_in_any_case() {
        assert_eq!(explain("NO-LISTENER").unwrap().0, Code::NoListener);
        assert_eq!(explain(" Ipv6_Disabled ").unwrap().0, Code::Ipv6Disabled);
    }

    #[test]
    fn unknown_codes_suggest_the_nearest_instead_of_listing_all() {
        assert_eq!(nearest("no-listner"), ["no-listener"]);
        assert_eq!(
            explain("no-listner").unwrap_err(),
            "unknown finding code \"no-listner\"; did you mean no-listener? (`acme-doctor explain` lists every code)"
        );
        assert_eq!(nearest("ipv6-disable")[0], "ipv6-disabled");
        assert!(nearest("listener").contains(&"no-listener"));
        let err = explain("zzzzzzzz").unwrap_err();
        assert!(!err.contains("did you mean"), "{err}");
        assert!(!err.contains("ipv6-disabled"), "not every code: {err}");
        assert!(nearest("").is_empty());
    }
}
