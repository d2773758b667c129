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

/// The entry for a slug, or an error listing the known codes.
pub fn explain(slug: &str) -> Result<&'static str, String> {
    Code::from_slug(slug.trim())
        .map(Code::explanation)
        .ok_or_else(|| {
            format!(
                "unknown finding code {:?}; known codes: {}",
                crate::sanitize::line(slug, 60),
                list().join(", ")
            )
        })
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

    #[test]
    fn unknown_codes_list_the_known_ones() {
        let err = explain("no-such-code").unwrap_err();
        assert!(err.contains("ipv6-disabled"));
    }
}
