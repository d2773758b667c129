//! `--ca-error TEXT` (issue 19 item 3): the CA's words as the user pastes them, read once
//! here, split into one piece per problem (so that each lands on the target it names), and
//! kept in the facts as `CaEvidence { source: Pasted, said: Words }`. The diagnosis reads
//! them again (`diagnose::ca::observe`), so a saved facts file keeps what was said.

use super::error::ToolError;
use crate::diagnose::ca::words;
use crate::facts::{CaEvidence, CaSaid, CaSource, MAX_CA_TEXT, TargetFacts};

pub use crate::config::PastedCaWords as Pasted;

/// Reads every `--ca-error` (`-`: standard input, capped), and splits it into problems. An
/// empty text, an unreadable standard input, or a text with nothing of the CA's in it stops
/// the run (exit 2); lines not understood beside recognised ones are a warning.
pub fn read(args: &[String]) -> Result<Vec<Pasted>, ToolError> {
    let mut pasted = Vec::new();
    for arg in args {
        let text = if arg == "-" {
            read_stdin()?
        } else {
            arg.clone()
        };
        pasted.extend(split(&text)?);
    }
    Ok(pasted)
}

fn read_stdin() -> Result<String, ToolError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    let cap = words::MAX_PASTE as u64;
    std::io::stdin()
        .lock()
        .take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ToolError::input(format!("--ca-error -: cannot read standard input: {e}")))?;
    if bytes.len() as u64 > cap {
        return Err(ToolError::input(format!(
            "--ca-error -: standard input is larger than {cap} bytes: paste only the CA's error"
        )));
    }
    String::from_utf8(bytes)
        .map_err(|_| ToolError::input("--ca-error -: standard input is not UTF-8 text"))
}

/// One paste, into its problems.
fn split(text: &str) -> Result<Vec<Pasted>, ToolError> {
    // Tabs (Caddy's console log) and carriage returns are spacing, not control characters.
    let text = text.replace(['\t', '\r'], " ");
    if text.trim().is_empty() {
        return Err(ToolError::input(
            "--ca-error: the text is empty; paste the CA's error as your ACME client printed it",
        ));
    }
    if text.len() > words::MAX_PASTE {
        return Err(ToolError::input(format!(
            "--ca-error: the text is larger than {} bytes: paste only the CA's error",
            words::MAX_PASTE
        )));
    }
    let parsed = words::parse(&text);
    if parsed.said.is_empty() {
        return Err(ToolError::input(format!(
            "--ca-error: nothing in {:?} is the CA's error (expected Boulder's detail, certbot's Domain/Type/Detail block, lego's or acme.sh's error line, a Caddy or Traefik log line, cert-manager's Challenge reason, or an ACME problem document)",
            crate::sanitize::line(text.trim(), 80)
        )));
    }
    if let Some(first) = parsed.not_understood.first() {
        let more = parsed.not_understood.len() - 1;
        eprintln!(
            "acme-doctor: warning: --ca-error: read {} problem(s); not understood: {:?}{}",
            parsed.said.len(),
            crate::sanitize::line(first, 120),
            if more > 0 {
                format!(" and {more} more line(s)")
            } else {
                String::new()
            }
        );
    }
    Ok(parsed
        .said
        .into_iter()
        .map(|s| Pasted {
            identifier: s.identifier.map(|i| crate::sanitize::line(&i, 300)),
            text: crate::sanitize::block(&s.text, MAX_CA_TEXT),
        })
        .collect())
}

/// Whether `identifier` (as a client names it) is `domain`.
fn names(identifier: &str, domain: &str) -> bool {
    let id = identifier.trim().trim_end_matches('.');
    let id = id.strip_prefix("*.").unwrap_or(id);
    id.trim_matches(['[', ']']).eq_ignore_ascii_case(domain)
}

/// Adds to `target` the pieces that are about it: those naming its identifier, and those
/// naming no target of the run (or nothing), which are about every target.
pub fn attach(pasted: &[Pasted], run_domains: &[&str], target: &mut TargetFacts) {
    let domain = target.target.domain.ascii.clone();
    for p in pasted {
        let about = match &p.identifier {
            Some(id) => names(id, &domain) || !run_domains.iter().any(|d| names(id, d)),
            None => true,
        };
        if about {
            target.ca.push(CaEvidence {
                source: CaSource::Pasted,
                at: None,
                said: CaSaid::Words(p.text.clone()),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certbot_paste_splits_by_domain() {
        let pieces = split("Domain: a.example.test\nType: connection\nDetail: Connection refused\n\nDomain: b.example.test\nType: dns\nDetail: DNS problem: NXDOMAIN looking up A for b.example.test - check that a DNS record exists for this domain\n").unwrap();
        assert_eq!(pieces.len(), 2);
        assert_eq!(pieces[0].identifier.as_deref(), Some("a.example.test"));
        assert!(pieces[1].text.starts_with("Domain: b.example.test"));
    }

    #[test]
    fn empty_or_unrecognised_text_is_an_input_error() {
        assert!(split("  \n").is_err());
        let err = split("hello world").unwrap_err();
        assert!(err.message.contains("nothing in"), "{}", err.message);
        assert!(!err.message.contains('\n'));
    }

    #[test]
    fn control_characters_are_stripped() {
        let pieces = split("Connection refused\u{1b}[31m").unwrap();
        assert!(!pieces[0].text.contains('\u{1b}'));
    }

    #[test]
    fn names_match_case_and_wildcards() {
        assert!(names("*.Example.test", "example.test"));
        assert!(names("[2001:db8::1]", "2001:db8::1"));
        assert!(!names("a.test", "b.test"));
    }
}
