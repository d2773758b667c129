//! Domain names as the CA accepts them: IDN converted to ASCII (UTS #46 through the `idna`
//! crate, which hickory already uses), then checked against the LDH rules Boulder applies
//! (`docs/ca-behaviour.md` §8).
//!
//! This is the one gate every name passes, from the command line, `-f`, `--all`, a facts file
//! or a vantage's caller: a name that a URL parser would read as anything but a domain (an
//! IPv4 address in hex, say) would skip the resolve-and-pin step and be dialled directly.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// A name as the user gave it and as the CA sees it: the one domain type from the command line
/// to the facts file. A facts file's name passes [`parse`] again when it is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StoredName")]
pub struct DomainName {
    /// What the user typed, trimmed.
    pub input: String,
    /// Lower-case ASCII form without a leading `*.` or trailing dot.
    pub ascii: String,
    /// The input started with `*.`.
    pub wildcard: bool,
}

/// A name as a facts file holds it, before it passes the gate again.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredName {
    input: String,
    ascii: String,
    wildcard: bool,
}

impl TryFrom<StoredName> for DomainName {
    type Error = String;

    /// The stored input is parsed again, and the stored ASCII form must be what it gives: a
    /// hand-edited `ascii` cannot smuggle in a name the gate refuses.
    fn try_from(stored: StoredName) -> Result<DomainName, String> {
        let parsed = parse(&stored.input)?;
        if parsed.ascii != stored.ascii || parsed.wildcard != stored.wildcard {
            return Err(format!(
                "the name {:?} is stored with the ASCII form {:?}, but its own is {:?}",
                crate::sanitize::line(&stored.input, 80),
                crate::sanitize::line(&stored.ascii, 80),
                parsed.ascii
            ));
        }
        Ok(parsed)
    }
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
    check_url_host(&ascii).map_err(|why| format!("invalid domain name {shown:?}: {why}"))?;
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
    if let Some(tld) = labels.last()
        && is_number(tld)
    {
        // A URL parser reads such a name as an IPv4 address (`0x7f.0x1` is 127.0.0.1); the
        // CA finds no public suffix in it (docs/ca-behaviour.md §8.2 step 9).
        return Err(format!(
            "its last label {tld:?} is a number, which a URL parser reads as an IPv4 address; the CA refuses it at order time: {}",
            crate::diagnose::ca::NON_PUBLIC_SUFFIX
        ));
    }
    Ok(())
}

/// A label the WHATWG URL parser takes for an IPv4 number: decimal (octal included) or `0x`
/// hex, the latter possibly with no digits at all.
fn is_number(label: &str) -> bool {
    let lower = label.to_ascii_lowercase();
    match lower.strip_prefix("0x") {
        Some(hex) => hex.chars().all(|c| c.is_ascii_hexdigit()),
        None => !lower.is_empty() && lower.chars().all(|c| c.is_ascii_digit()),
    }
}

/// Requests are built as `http://{name}/…`: the name must come back from the URL parser as
/// that same domain, never as an address, whatever rule above a future change loosens.
fn check_url_host(ascii: &str) -> Result<(), String> {
    let parsed = url::Url::parse(&format!("http://{ascii}/"))
        .map_err(|e| format!("a URL parser refuses it as a host name ({e})"))?;
    match parsed.host() {
        Some(url::Host::Domain(host)) if host == ascii => Ok(()),
        Some(url::Host::Domain(host)) => Err(format!(
            "a URL parser reads it as the host {:?}",
            crate::sanitize::line(host, 80)
        )),
        Some(other) => Err(format!(
            "a URL parser reads it as the IP address {other}; the CA refuses it at order time: {}",
            crate::diagnose::ca::NON_PUBLIC_SUFFIX
        )),
        None => Err("a URL parser finds no host in it".into()),
    }
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

    #[test]
    fn names_a_url_parser_reads_as_ipv4_are_refused_in_the_cas_words() {
        for bad in [
            "0x7f.0x1",
            "127.0.0.0x1",
            "169.254.169.0xfe",
            "example.0X1F",
            "example.0x",
            "example.0177",
            "a.b.c.4294967295",
            // Full-width forms become these ASCII names through IDNA first.
            "\u{ff10}\u{ff58}\u{ff17}\u{ff46}\u{ff0e}\u{ff10}\u{ff58}\u{ff11}",
            "\u{ff11}\u{ff12}\u{ff17}.0.0.1",
        ] {
            let why = parse(bad).expect_err(bad);
            assert!(
                why.contains("Domain name does not end with a valid public suffix (TLD)"),
                "{bad}: {why}"
            );
        }
        // Hex-looking labels that are not numbers stay names.
        for good in ["0x7f.example", "example.0xg", "example.x0", "cafe.example"] {
            assert_eq!(ok(good).ascii, good.to_ascii_lowercase());
        }
    }

    #[test]
    fn a_stored_name_passes_the_gate_again() {
        let good =
            serde_json::json!({"input": "Example.COM", "ascii": "example.com", "wildcard": false});
        let d: DomainName = serde_json::from_value(good).expect("an old facts file's name");
        assert_eq!(d.ascii, "example.com");
        for bad in [
            serde_json::json!({"input": "0x7f.0x1", "ascii": "0x7f.0x1", "wildcard": false}),
            serde_json::json!({"input": "example.com", "ascii": "0x7f.0x1", "wildcard": false}),
            serde_json::json!({"input": "example.com", "ascii": "example.com", "wildcard": true}),
            serde_json::json!({"input": "example.com", "ascii": "example.com", "wildcard": false, "x": 1}),
        ] {
            assert!(
                serde_json::from_value::<DomainName>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }
}
