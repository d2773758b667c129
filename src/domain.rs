//! Domain names as the CA accepts them: IDN converted to ASCII (UTS #46 through the `idna`
//! crate, which hickory already uses), then checked against the LDH rules Boulder applies
//! (`docs/ca-behaviour.md` §8).
//!
//! This is the one gate every name passes, from the command line, `-f`, `--all`, a facts file
//! or a vantage's caller: a name that a URL parser would read as anything but a domain (an
//! IPv4 address in hex, say) would skip the resolve-and-pin step and be dialled directly.
//!
//! An IP address in the CA's canonical text is an IP identifier (RFC 8738,
//! `docs/ca-behaviour.md` §11.1): it passes here as itself, never as a name, and any other
//! spelling of an address is refused in the CA's words.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// An identifier as the user gave it and as the CA sees it: the one type from the command line
/// to the facts file, for a DNS name or an IP address. A facts file's identifier passes
/// [`parse`] again when it is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StoredName")]
pub struct DomainName {
    /// What the user typed, trimmed.
    pub input: String,
    /// Lower-case ASCII form without a leading `*.` or trailing dot; for an IP identifier, the
    /// address in the CA's canonical text (`203.0.113.5`, `2001:db8::1`).
    pub ascii: String,
    /// The input started with `*.`.
    pub wildcard: bool,
    /// Set for an IP identifier (RFC 8738): the address itself, dialled without DNS. Absent
    /// in the facts of a name, and in every facts file older than IP identifiers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
}

/// An identifier as a facts file holds it, before it passes the gate again.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredName {
    input: String,
    ascii: String,
    wildcard: bool,
    #[serde(default)]
    ip: Option<IpAddr>,
}

impl TryFrom<StoredName> for DomainName {
    type Error = String;

    /// The stored input is parsed again, and the stored ASCII form must be what it gives: a
    /// hand-edited `ascii` cannot smuggle in a name the gate refuses.
    fn try_from(stored: StoredName) -> Result<DomainName, String> {
        let parsed = parse(&stored.input)?;
        if parsed.ascii != stored.ascii
            || parsed.wildcard != stored.wildcard
            || parsed.ip != stored.ip
        {
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

impl DomainName {
    /// The ACME identifier type: `dns` or `ip` (RFC 8555 §9.7.7, RFC 8738 §3).
    pub fn kind(&self) -> &'static str {
        match self.ip {
            Some(_) => "ip",
            None => "dns",
        }
    }

    /// The host as a URL spells it: an IPv6 address in brackets (`docs/ca-behaviour.md`
    /// §11.5), anything else as it is.
    pub fn url_host(&self) -> String {
        match self.ip {
            Some(IpAddr::V6(v6)) => format!("[{v6}]"),
            _ => self.ascii.clone(),
        }
    }

    /// The CA's order-time refusal of a reserved IP identifier, with the registry entry that
    /// refuses it (`docs/ca-behaviour.md` §11.7); `None` for a name or a public address.
    pub fn reserved_refusal(&self) -> Option<String> {
        let entry = crate::reserved::classify(&self.ip?)?;
        Some(crate::diagnose::ca::identifier_refused(
            &self.ascii,
            &crate::diagnose::ca::reserved_ip(entry),
        ))
    }
}

/// The name a TLS-ALPN-01 validation of an IP identifier sends as SNI (RFC 8738 §6): the
/// reverse-DNS name, IPv4 octets in decimal and IPv6 nibbles in lower-case hex, least
/// significant first (`docs/ca-behaviour.md` §11.6). Without the trailing dot, as Go's TLS
/// client sends it.
pub fn reverse_dns_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa")
        }
        IpAddr::V6(v6) => {
            let mut name = String::with_capacity(72);
            for byte in v6.octets().iter().rev() {
                for nibble in [byte & 0x0f, byte >> 4] {
                    name.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
                    name.push('.');
                }
            }
            name.push_str("ip6.arpa");
            name
        }
    }
}

/// An input that is an IP address, or spells one: `Ok(Some)` for the CA's canonical text
/// (lower case accepted, as the CA's front end lowercases), `Err` in the CA's words for any
/// other spelling, `Ok(None)` for a name. Four all-decimal labels are meant as an address
/// (`203.0.113.05`); other numeric forms (`0x7f.0x1`) stay names and meet the name rules.
fn ip_identifier(input: &str, shown: &str) -> Result<Option<IpAddr>, String> {
    use crate::diagnose::ca;
    let lower = input.to_ascii_lowercase();
    let invalid = |hint: String| {
        Err(format!(
            "{shown:?} spells an IP address in a form the CA refuses at order time{hint}: {}",
            ca::identifier_refused(&lower, ca::IP_INVALID)
        ))
    };
    let v4_labels: Vec<&str> = lower
        .strip_suffix('.')
        .unwrap_or(&lower)
        .split('.')
        .collect();
    let spelled_v4 = v4_labels.len() == 4
        && v4_labels
            .iter()
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()));
    // Brackets and a zone are URL and socket spellings; the identifier has neither.
    let bare = lower.trim_start_matches('[').trim_end_matches(']');
    let bare = bare
        .split_once('%')
        .map_or(bare, |(address, _zone)| address);
    let v6 = bare
        .parse::<std::net::Ipv6Addr>()
        .ok()
        .filter(|_| lower.contains(':'));
    let ip = if let Some(v6) = v6 {
        IpAddr::V6(v6)
    } else if spelled_v4 {
        // Each number read in decimal, leading zeros and all, to name the canonical form.
        let octets: Vec<u8> = v4_labels.iter().filter_map(|l| l.parse().ok()).collect();
        match <[u8; 4]>::try_from(octets) {
            Ok(octets) => IpAddr::from(octets),
            Err(_) => return invalid(" (each of the four numbers is 0 to 255)".into()),
        }
    } else {
        return Ok(None);
    };
    let canonical = ip.to_string();
    if canonical != lower {
        return invalid(format!(" (its canonical form is {canonical})"));
    }
    if let IpAddr::V6(v6) = ip
        && let Some(v4) = v6.to_ipv4_mapped()
    {
        // Canonical text, so the CA refuses it as reserved; no `--allow-reserved` turns it
        // into an address of its own, since a socket dials it over IPv4.
        let entry = crate::reserved::classify(&ip).map(ca::reserved_ip);
        return Err(format!(
            "{shown:?} is an IPv4-mapped IPv6 address (give the IPv4 address {v4}); the CA refuses it at order time: {}",
            ca::identifier_refused(&lower, entry.as_deref().unwrap_or(ca::IP_INVALID))
        ));
    }
    Ok(Some(ip))
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
    if let Some(ip) = ip_identifier(&input, &shown)? {
        return Ok(DomainName {
            ascii: ip.to_string(),
            input,
            wildcard: false,
            ip: Some(ip),
        });
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
        ip: None,
    })
}

fn check_ldh(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if name.len() > 253 {
        return Err(format!("{} bytes long, the limit is 253", name.len()));
    }
    // The characters first, all of them: `bad_name!` is bad for its `_` and `!`, which is
    // what to fix, before it is bad for having no dot (issue 21 item 5).
    let mut bad: Vec<char> = Vec::new();
    for c in name.chars() {
        let allowed = c.is_ascii_alphanumeric() || c == '-' || c == '.';
        if !allowed && !bad.contains(&c) {
            bad.push(c);
        }
    }
    if !bad.is_empty() {
        return Err(format!(
            "it contains {}; only letters, digits, '-' and '.' are allowed",
            quoted_list(&bad)
        ));
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

/// `'_'`, `'_' and '!'`, `'_', '!' and ' '`: each character quoted as Rust quotes it, so a
/// control character shows as its escape.
fn quoted_list(chars: &[char]) -> String {
    let quoted: Vec<String> = chars.iter().map(|c| format!("{c:?}")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
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
            "[2001:db8::1]",
            "192.0.2.01",
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
        // The characters that make a name bad are named, all of them, before the missing dot.
        assert_eq!(
            parse("bad_name!").unwrap_err(),
            "invalid domain name \"bad_name!\": it contains '_' and '!'; only letters, digits, '-' and '.' are allowed"
        );
        assert!(
            parse("a_b.ex%am+ple.com")
                .unwrap_err()
                .contains("it contains '_', '%' and '+';")
        );
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
    fn canonical_addresses_are_ip_identifiers() {
        for (input, canonical) in [
            ("203.0.113.5", "203.0.113.5"),
            ("2001:db8::1", "2001:db8::1"),
            // The CA's front end lowercases first.
            ("2001:DB8::1", "2001:db8::1"),
            (" 198.51.100.7 ", "198.51.100.7"),
            ("127.0.0.1", "127.0.0.1"),
            ("::1", "::1"),
        ] {
            let d = ok(input);
            assert_eq!(d.ascii, canonical, "{input}");
            assert_eq!(d.ip, Some(canonical.parse().unwrap()), "{input}");
            assert_eq!(d.kind(), "ip");
            assert!(!d.wildcard);
        }
        assert_eq!(ok("2001:db8::1").url_host(), "[2001:db8::1]");
        assert_eq!(ok("203.0.113.5").url_host(), "203.0.113.5");
        assert_eq!(ok("example.com").url_host(), "example.com");
        assert_eq!(ok("example.com").kind(), "dns");
        assert_eq!(ok("example.com").ip, None);
    }

    #[test]
    fn other_spellings_of_an_address_are_refused_in_the_cas_words() {
        for (bad, canonical) in [
            ("203.0.113.05", None),
            ("256.0.0.1", None),
            ("203.0.113.5.", Some("203.0.113.5")),
            ("2001:db8:0::1", Some("2001:db8::1")),
            ("2001:0db8::1", Some("2001:db8::1")),
            ("[2001:db8::1]", Some("2001:db8::1")),
            ("fe80::1%eth0", Some("fe80::1")),
            ("2001:db8:0:0:1::1", Some("2001:db8::1:0:0:1")),
        ] {
            let why = parse(bad).expect_err(bad);
            let lower = bad.to_ascii_lowercase();
            assert!(
                why.contains(&format!(
                    "Invalid identifiers requested :: Cannot issue for \"{lower}\": IP address is invalid"
                )),
                "{bad}: {why}"
            );
            if let Some(c) = canonical {
                assert!(
                    why.contains(&format!("canonical form is {c}")),
                    "{bad}: {why}"
                );
            }
        }
        // The mapped form prints back unchanged, so the CA refuses it as reserved.
        let why = parse("::ffff:203.0.113.5").unwrap_err();
        assert!(
            why.contains("Cannot issue for \"::ffff:203.0.113.5\": IP address is in a reserved address block: [RFC4291]: IPv4-mapped Address"),
            "{why}"
        );
        assert!(why.contains("give the IPv4 address 203.0.113.5"), "{why}");
        // Numeric forms that are not four decimal numbers stay names, refused as before.
        for name in ["0x7f.0x1", "127.0.0.0x1", "1.2.3", "1.2.3.4.5"] {
            let why = parse(name).unwrap_err();
            assert!(
                why.contains(crate::diagnose::ca::NON_PUBLIC_SUFFIX),
                "{name}: {why}"
            );
        }
    }

    #[test]
    fn a_reserved_ip_identifier_gets_the_cas_refusal() {
        assert_eq!(
            ok("192.0.2.7").reserved_refusal().as_deref(),
            Some(
                "Invalid identifiers requested :: Cannot issue for \"192.0.2.7\": IP address is in a reserved address block: [RFC5737]: Documentation (TEST-NET-1)"
            )
        );
        assert!(
            ok("2001:db8::1")
                .reserved_refusal()
                .is_some_and(|r| r.ends_with("[RFC3849]: Documentation"))
        );
        assert_eq!(ok("9.9.9.9").reserved_refusal(), None);
        assert_eq!(ok("2606:4700::1111").reserved_refusal(), None);
        assert_eq!(ok("example.com").reserved_refusal(), None);
    }

    #[test]
    fn reverse_names_are_boulders_pinned_values() {
        // boulder va/tlsalpn_test.go (docs/ca-behaviour.md §11.6).
        assert_eq!(
            reverse_dns_name("203.0.113.5".parse().unwrap()),
            "5.113.0.203.in-addr.arpa"
        );
        assert_eq!(
            reverse_dns_name("2001:db8::1".parse().unwrap()),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        );
        assert_eq!(
            reverse_dns_name("2001:db8:abcd:12::ff0e".parse().unwrap()),
            "e.0.f.f.0.0.0.0.0.0.0.0.0.0.0.0.2.1.0.0.d.c.b.a.8.b.d.0.1.0.0.2.ip6.arpa"
        );
    }

    #[test]
    fn a_stored_ip_identifier_passes_the_gate_again() {
        let good = serde_json::json!({"input": "2001:DB8::1", "ascii": "2001:db8::1", "wildcard": false, "ip": "2001:db8::1"});
        let d: DomainName = serde_json::from_value(good).expect("an IP identifier");
        assert_eq!(d.ip, Some("2001:db8::1".parse().unwrap()));
        // Round trip; a name's facts keep their old shape (no `ip`).
        let back = serde_json::to_value(&d).unwrap();
        assert_eq!(back["ip"], "2001:db8::1");
        assert!(
            serde_json::to_value(ok("example.com"))
                .unwrap()
                .get("ip")
                .is_none()
        );
        for bad in [
            // A name cannot claim an address, nor an address another one, nor lose its own.
            serde_json::json!({"input": "example.com", "ascii": "example.com", "wildcard": false, "ip": "127.0.0.1"}),
            serde_json::json!({"input": "203.0.113.5", "ascii": "203.0.113.5", "wildcard": false, "ip": "127.0.0.1"}),
            serde_json::json!({"input": "203.0.113.5", "ascii": "203.0.113.5", "wildcard": false}),
            serde_json::json!({"input": "203.0.113.05", "ascii": "203.0.113.5", "wildcard": false, "ip": "203.0.113.5"}),
        ] {
            assert!(
                serde_json::from_value::<DomainName>(bad.clone()).is_err(),
                "{bad}"
            );
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
