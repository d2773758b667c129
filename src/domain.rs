//! Domain names as the CA accepts them: IDN converted to ASCII (UTS #46 through the `idna`
//! crate, which hickory already uses), then checked against the LDH rules Boulder applies
//! (`docs/ca-behaviour.md` §8).

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// A name as the user gave it and as the CA sees it: the one domain type from the command line
/// to the facts file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainName {
    /// What the user typed, trimmed.
    pub input: String,
    /// Lower-case ASCII form without a leading `*.` or trailing dot.
    pub ascii: String,
    /// The input started with `*.`.
    pub wildcard: bool,
}

pub fn parse(raw: &str) -> Result<DomainName, String> {
    let input = raw.trim().to_string();
    if input.is_empty() {
        return Err("empty domain name".into());
    }
    let shown = crate::sanitize::line(&input, 80);
    if input.contains("://") || input.contains('/') {
        return Err(format!(
            "{shown:?} looks like a URL; give the host name only (e.g. example.com)"
        ));
    }
    let bare = input.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<IpAddr>().is_ok() {
        return Err(format!(
            "{shown:?} is an IP address; acme-doctor checks DNS names (IP identifiers are not supported yet)"
        ));
    }
    if input.contains(':') {
        return Err(format!(
            "{shown:?} contains ':'; give the host name without a port (the CA always uses port 80 for http-01)"
        ));
    }
    let (wildcard, rest) = match input.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, input.as_str()),
    };
    if rest.contains('*') {
        return Err(format!(
            "{shown:?}: a wildcard is only allowed as the whole first label, as in *.example.com"
        ));
    }
    let rest = rest.strip_suffix('.').unwrap_or(rest);
    let ascii = idna::domain_to_ascii(rest)
        .map_err(|_| format!("{shown:?} is not a valid internationalised domain name"))?;
    check_ldh(&ascii).map_err(|why| format!("invalid domain name {shown:?}: {why}"))?;
    Ok(DomainName {
        input,
        ascii,
        wildcard,
    })
}

fn check_ldh(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if name.len() > 253 {
        return Err(format!("{} bytes long, the limit is 253", name.len()));
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return Err(
            "it needs at least one dot (the CA does not issue for single-label names)".into(),
        );
    }
    for label in &labels {
        if label.is_empty() {
            return Err("it has an empty label (two dots in a row)".into());
        }
        if label.len() > 63 {
            return Err(format!(
                "label {:.20}… is {} bytes long, the limit is 63",
                label,
                label.len()
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(format!(
                "label {label:?} contains {c:?}; only letters, digits and '-' are allowed"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label {label:?} starts or ends with '-'"));
        }
        // R-LDH: Boulder refuses a label with hyphens in positions 3 and 4 unless it starts
        // with "xn" (docs/ca-behaviour.md §8.3); the label is ASCII by now.
        if label.len() >= 4 && &label[2..4] == "--" && !label.starts_with("xn") {
            return Err(format!(
                "label {label:?} has '--' in positions 3 and 4, a reserved format the CA refuses at order time: {}",
                crate::diagnose::ca::RLDH_REFUSAL
            ));
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return Err("the last label is all digits".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> DomainName {
        parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn plain_names_are_lowercased_and_lose_the_trailing_dot() {
        let d = ok("  Example.COM. ");
        assert_eq!(d.ascii, "example.com");
        assert!(!d.wildcard);
    }

    #[test]
    fn idn_names_become_punycode() {
        assert_eq!(ok("bücher.example").ascii, "xn--bcher-kva.example");
        assert_eq!(ok("xn--bcher-kva.example").ascii, "xn--bcher-kva.example");
    }

    #[test]
    fn wildcards_are_recognised_and_stripped() {
        let d = ok("*.example.com");
        assert!(d.wildcard);
        assert_eq!(d.ascii, "example.com");
        assert!(parse("a.*.example.com").is_err());
        assert!(parse("*example.com").is_err());
    }

    #[test]
    fn malformed_names_are_rejected_with_a_reason() {
        for bad in [
            "",
            "   ",
            "localhost",
            "exa mple.com",
            "-a.example.com",
            "a-.example.com",
            "a..example.com",
            "example.123",
            "under_score.example.com",
            "http://example.com/",
            "example.com:8080",
            "192.0.2.1",
            "[2001:db8::1]",
            "2001:db8::1",
            // R-LDH (docs/ca-behaviour.md §8.3).
            "ab--cd.example.com",
            "e1--x.example.com",
            "www.zz--top.example",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(
            parse("ab--cd.example.com")
                .unwrap_err()
                .contains("R-LDH: '??--'")
        );
        // Hyphens elsewhere are fine, and so is punycode.
        for good in [
            "a--b.example.com",
            "abc--d.example.com",
            "my-site.example.com",
            "xn--bcher-kva.example",
        ] {
            ok(good);
        }
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(parse(&long_label).unwrap_err().contains("63"));
        let long_name = format!("{}com", "abcdefghi.".repeat(26));
        assert!(parse(&long_name).unwrap_err().contains("253"));
    }
}
