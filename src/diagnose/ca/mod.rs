//! The CA's vocabulary, in one place: the ACME problem types, Boulder's exact wording and the
//! way it composes a detail (`<IP>: Fetching <URL>: <core>`), as `docs/ca-behaviour.md` §0
//! and §2.8 describe. Rules say *what* happened; this module says it in the CA's words.
//!
//! The other way round too: [`words`] takes apart what users paste and clients log of the
//! CA's words, [`observe`] reads it (and a `--ca-check`'s ACME objects) into one typed
//! observation per identifier, and [`join`] joins those with the facts.

pub use crate::ca_limits::{MAX_RESPONSE_BODY, MAX_RESPONSE_HEADER_BYTES};
use crate::facts::{ConnectOutcome, DnsOutcome, Family};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

pub mod join;
pub mod observe;
pub mod words;

/// The port HTTP-01 is always fetched on (RFC 8555 §8.3, `docs/ca-behaviour.md` §2.3).
pub const HTTP01_PORT: u16 = 80;
/// Where a redirect to `https://` leads without an explicit port (§2.5).
pub const HTTPS_PORT: u16 = 443;

/// An ACME problem type (RFC 8555 §6.7), serialised as its URN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProblemType {
    #[serde(rename = "urn:ietf:params:acme:error:connection")]
    Connection,
    #[serde(rename = "urn:ietf:params:acme:error:dns")]
    Dns,
    #[serde(rename = "urn:ietf:params:acme:error:unauthorized")]
    Unauthorized,
    #[serde(rename = "urn:ietf:params:acme:error:caa")]
    Caa,
    #[serde(rename = "urn:ietf:params:acme:error:tls")]
    Tls,
    #[serde(rename = "urn:ietf:params:acme:error:malformed")]
    Malformed,
    #[serde(rename = "urn:ietf:params:acme:error:rejectedIdentifier")]
    RejectedIdentifier,
    /// Only ever quoted from the CA's own words (`--ca-error`, `--ca-check`): acme-doctor
    /// never predicts a rate limit.
    #[serde(rename = "urn:ietf:params:acme:error:rateLimited")]
    RateLimited,
    /// The CA's own trouble, quoted from its words.
    #[serde(rename = "urn:ietf:params:acme:error:serverInternal")]
    ServerInternal,
}

impl ProblemType {
    pub fn urn(self) -> &'static str {
        match self {
            ProblemType::Connection => "urn:ietf:params:acme:error:connection",
            ProblemType::Dns => "urn:ietf:params:acme:error:dns",
            ProblemType::Unauthorized => "urn:ietf:params:acme:error:unauthorized",
            ProblemType::Caa => "urn:ietf:params:acme:error:caa",
            ProblemType::Tls => "urn:ietf:params:acme:error:tls",
            ProblemType::Malformed => "urn:ietf:params:acme:error:malformed",
            ProblemType::RejectedIdentifier => "urn:ietf:params:acme:error:rejectedIdentifier",
            ProblemType::RateLimited => "urn:ietf:params:acme:error:rateLimited",
            ProblemType::ServerInternal => "urn:ietf:params:acme:error:serverInternal",
        }
    }
}

/// What the CA would report: its problem type and its detail, word for word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaError {
    pub problem: ProblemType,
    pub detail: String,
}

/// How a dial ended, classified once for every rule that reasons about it (§2.8, the generic
/// connection mapping). `None` from [`Dial::of`] means it connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dial {
    /// No answer to the SYN: a firewall DROP, a dead address.
    Timeout,
    /// A reset or ICMP port unreachable: nothing listening, or a REJECT.
    Refused,
    /// ENETUNREACH.
    NetworkUnreachable,
    /// EHOSTUNREACH, an ICMP error other than port unreachable, or anything else.
    Unreachable,
}

impl Dial {
    pub fn of(outcome: &ConnectOutcome) -> Option<Dial> {
        match outcome {
            ConnectOutcome::Connected => None,
            ConnectOutcome::Refused => Some(Dial::Refused),
            ConnectOutcome::Timeout => Some(Dial::Timeout),
            ConnectOutcome::NetworkUnreachable => Some(Dial::NetworkUnreachable),
            // Callers set acme-doctor's own limit apart first (`ConnectOutcome::is_own_limit`).
            ConnectOutcome::HostUnreachable
            | ConnectOutcome::FamilyNotSupported
            | ConnectOutcome::LocalPortsExhausted
            | ConnectOutcome::Other { .. } => Some(Dial::Unreachable),
        }
    }

    /// Boulder's core message for this dial error.
    pub fn core(self) -> &'static str {
        match self {
            Dial::Timeout => CONNECT_TIMEOUT,
            Dial::Refused => "Connection refused",
            Dial::NetworkUnreachable => "Network unreachable",
            // EHOSTUNREACH and the rest fall to the catch-all.
            Dial::Unreachable => GETTING_DATA,
        }
    }
}

pub const CONNECT_TIMEOUT: &str = "Timeout during connect (likely firewall problem)";
pub const TIMEOUT_AFTER_CONNECT: &str =
    "Timeout after connect (your server may be slow or overloaded)";
pub const CONNECTION_RESET: &str = "Connection reset by peer";
pub const GETTING_DATA: &str = "Error getting validation data";
pub use crate::ca_limits::VALIDATION_USER_AGENT;

/// Boulder's refusal of a label with `--` in positions 3 and 4 that does not start with `xn`
/// (`docs/ca-behaviour.md` §8.3), a `rejectedIdentifier` at order time.
pub const RLDH_REFUSAL: &str =
    "Domain name contains an invalid label in a reserved format (R-LDH: '??--')";

/// Boulder's refusal of a name whose last label is no ICANN public suffix
/// (`docs/ca-behaviour.md` §8.2 step 9). A last label that is all digits or `0x…` hex is never
/// one, and a URL parser would read the name as an IPv4 address.
pub const NON_PUBLIC_SUFFIX: &str = "Domain name does not end with a valid public suffix (TLD)";

/// Boulder's refusal of an IP identifier that is not in canonical text
/// (`docs/ca-behaviour.md` §11.1, policy `ValidIP`).
pub const IP_INVALID: &str = "IP address is invalid";

/// Why DNS-01 cannot validate an IP identifier. The CA never offers it for one (Boulder's
/// `ChallengeTypesFor`), so there is no CA error to quote: the rule is RFC 8738 §7, which gives
/// no reason beyond it (`docs/ca-behaviour.md` §11.2).
pub const DNS01_FOR_IP: &str = "an IP identifier is validated by http-01 or tls-alpn-01 only; the CA never offers dns-01 for it (RFC 8738 §7: \"The existing \"dns-01\" challenge MUST NOT be used to validate IP identifiers\")";

/// Boulder's words for an address in a reserved block (`docs/ca-behaviour.md` §2.1, §11.7).
pub fn reserved_ip(entry: &crate::reserved::Reserved) -> String {
    format!(
        "IP address is in a reserved address block: {}",
        entry.boulder_text()
    )
}

/// The WFE's order-time refusal of one identifier, a `rejectedIdentifier`
/// (`docs/ca-behaviour.md` §8.1, §11.1): `value` as the CA holds it, lowercased.
pub fn identifier_refused(value: &str, why: &str) -> String {
    format!("Invalid identifiers requested :: Cannot issue for \"{value}\": {why}")
}

/// The URL the CA fetches for the host `url_host` (a name, or an address as a URL spells it:
/// IPv6 in brackets), the token elided.
pub fn challenge_url(url_host: &str) -> String {
    format!("http://{url_host}/.well-known/acme-challenge/<token>")
}

/// `<ip>: Fetching <url>: <core>`, the shape of every HTTP-01 fetch error (§0).
pub fn fetching(problem: ProblemType, ip: &IpAddr, url: &str, core: &str) -> CaError {
    CaError {
        problem,
        detail: format!("{ip}: Fetching {url}: {core}"),
    }
}

/// A dial to the challenge URL that failed.
pub fn dial_error(url_host: &str, ip: &IpAddr, dial: Dial) -> CaError {
    fetching(
        ProblemType::Connection,
        ip,
        &challenge_url(url_host),
        dial.core(),
    )
}

/// A final status other than 200 (§2.7).
pub fn invalid_status(url: &str, status: u16) -> String {
    format!("Invalid response from {url}: {status}")
}

/// A 200 whose body the CA quotes (§2.7: the first 128 bytes).
pub fn invalid_body(url: &str, body: &str) -> String {
    format!(
        "Invalid response from {url}: \"{}\"",
        body.chars().take(MAX_RESPONSE_BODY).collect::<String>()
    )
}

/// A redirect the CA refuses (`docs/ca-behaviour.md` §2.5); the type lives in the leaf
/// `crate::redirect`, which the probe shares, and its words here.
pub use crate::redirect::Refusal as RedirectRefusal;

impl RedirectRefusal {
    /// Boulder's message for the refusal (`docs/ca-behaviour.md` §2.5, §2.8 row 11 for a
    /// Location Go cannot parse).
    pub fn core(&self) -> String {
        match self {
            RedirectRefusal::TooMany => "Too many redirects".into(),
            RedirectRefusal::Status303 => "received disallowed redirect status code".into(),
            RedirectRefusal::Scheme { scheme } => format!(
                "Invalid protocol scheme in redirect target. Only \"http\" and \"https\" protocol schemes are supported, not \"{scheme}\""
            ),
            RedirectRefusal::Port { port } => format!(
                "Invalid port in redirect target. Only ports 80 and 443 are supported, not {port}"
            ),
            RedirectRefusal::EmptyHost => "Invalid empty host in redirect target".into(),
            RedirectRefusal::MissingSlash { host } => format!(
                "Invalid host in redirect target \"{host}\". Check webserver config for missing '/' in redirect target."
            ),
            RedirectRefusal::ScopeZone => {
                "Invalid host in redirect target: contains scope zone".into()
            }
            RedirectRefusal::ReservedIp { block } => format!(
                "Invalid host in redirect target: IP address is in a reserved address block: {block}"
            ),
            RedirectRefusal::NotIanaTld => {
                "Invalid host in redirect target, must end in IANA registered TLD".into()
            }
            RedirectRefusal::TooLong => "Redirect target too long".into(),
            RedirectRefusal::Loop => "Redirect loop detected".into(),
            RedirectRefusal::Unparsable => GETTING_DATA.into(),
        }
    }
}

/// `<ip>: Invalid response from <url>: <status>` (`docs/ca-behaviour.md` §2.7 step 1): an
/// answer, so no `Fetching` prefix (§0.5).
pub fn bad_status(ip: &IpAddr, url: &str, status: u16) -> CaError {
    CaError {
        problem: ProblemType::Unauthorized,
        detail: format!("{ip}: {}", invalid_status(url, status)),
    }
}

/// `<ip>: Invalid response from <url>: "<first 128 bytes, Go-quoted>"` (§2.7 step 2).
pub fn body_too_large(ip: &IpAddr, url: &str, head: &[u8]) -> CaError {
    let text = String::from_utf8_lossy(&head[..head.len().min(MAX_RESPONSE_BODY)]);
    CaError {
        problem: ProblemType::Unauthorized,
        detail: format!(
            "{ip}: Invalid response from {url}: {}",
            crate::keyauth::go_quote(&text)
        ),
    }
}

/// The key authorization mismatch (§2.7 step 5): no `<ip>:` prefix.
pub fn key_authorization_mismatch(expected: &str, got: &str) -> CaError {
    CaError {
        problem: ProblemType::Unauthorized,
        detail: format!(
            "The key authorization file from the server did not match this challenge. Expected {} (got {})",
            crate::keyauth::go_quote(expected),
            crate::keyauth::go_quote(got)
        ),
    }
}

/// A TLS failure on an HTTPS redirect hop: Go's `remote error: tls: <alert>` where the server
/// sent an alert, else the catch-all (§2.8 row 2).
pub fn tls_core(alert: Option<u8>) -> (ProblemType, String) {
    match alert {
        Some(code) => (
            ProblemType::Tls,
            remote_alert(&crate::facts::tlsalpn01::alert_text(code)),
        ),
        None => (ProblemType::Connection, GETTING_DATA.to_string()),
    }
}

fn dns_half(outcome: &DnsOutcome, family: Family, domain: &str) -> String {
    let rtype = family.record_type();
    let d = domain;
    match outcome {
        DnsOutcome::NxDomain => format!(
            "DNS problem: NXDOMAIN looking up {rtype} for {d} - check that a DNS record exists for this domain"
        ),
        DnsOutcome::ServerFailure { rcode } if *rcode == crate::facts::Rcode::SERVFAIL => format!(
            "DNS problem: SERVFAIL looking up {rtype} for {d} - the domain's nameservers may be malfunctioning"
        ),
        DnsOutcome::ServerFailure { rcode } => {
            format!("DNS problem: {rcode} looking up {rtype} for {d}")
        }
        DnsOutcome::Refused => format!("DNS problem: REFUSED looking up {rtype} for {d}"),
        DnsOutcome::Timeout => format!("DNS problem: query timed out looking up {rtype} for {d}"),
        DnsOutcome::Error { .. } => {
            format!("DNS problem: networking error looking up {rtype} for {d}")
        }
        DnsOutcome::Answer | DnsOutcome::NoData => {
            format!("no valid {rtype} records found for {d}")
        }
    }
}

/// Boulder's `dns` problem when no family yields a usable address: the halves joined with
/// "; " in A-then-AAAA order (§2.1).
pub fn no_usable_address(domain: &str, a: &DnsOutcome, aaaa: &DnsOutcome) -> CaError {
    CaError {
        problem: ProblemType::Dns,
        detail: format!(
            "{}; {}",
            dns_half(a, Family::Ipv4, domain),
            dns_half(aaaa, Family::Ipv6, domain)
        ),
    }
}

/// Boulder's summary of an Extended DNS Error code (§7.3, RFC 8914 §4).
pub fn ede_summary(code: u16) -> String {
    const SUMMARIES: [&str; 25] = [
        "Other",
        "DNSSEC: Unsupported DNSKEY Algorithm",
        "DNSSEC: Unsupported DS Digest Type",
        "Stale Answer",
        "Forged Answer",
        "DNSSEC: Indeterminate",
        "DNSSEC: Bogus",
        "DNSSEC: Signature Expired",
        "DNSSEC: Signature Not Yet Valid",
        "DNSSEC: DNSKEY Missing",
        "DNSSEC: RRSIGs Missing",
        "DNSSEC: No Zone Key Bit Set",
        "DNSSEC: NSEC Missing",
        "Cached Error",
        "Not Ready",
        "Blocked",
        "Censored",
        "Filtered",
        "Prohibited",
        "Stale NXDOMAIN Answer",
        "Not Authoritative",
        "Not Supported",
        "No Reachable Authority",
        "Network Error between Resolver and Authority",
        "Invalid Data",
    ];
    SUMMARIES.get(usize::from(code)).map_or_else(
        || format!("Unknown Extended DNS Error code {code}"),
        |s| s.to_string(),
    )
}

/// A failed lookup in Boulder's DNS words (§7.1, §7.2): the EDE form when the resolver gave
/// one with a failure, the rcode form otherwise. `None` for a lookup that did not fail.
pub fn dns_lookup_error(
    rtype: &str,
    name: &str,
    outcome: &DnsOutcome,
    ede: Option<&crate::facts::Ede>,
) -> Option<String> {
    let failed = !matches!(outcome, DnsOutcome::Answer | DnsOutcome::NoData);
    if let (true, Some(ede)) = (failed, ede) {
        let extra = if ede.text.is_empty() {
            String::new()
        } else {
            format!(": {}", ede.text)
        };
        return Some(format!(
            "DNS problem: looking up {rtype} for {name}: {}{extra}",
            ede_summary(ede.code)
        ));
    }
    let detail = match outcome {
        DnsOutcome::Answer | DnsOutcome::NoData => return None,
        DnsOutcome::NxDomain => {
            "NXDOMAIN looking up {T} for {N} - check that a DNS record exists for this domain"
                .to_string()
        }
        DnsOutcome::ServerFailure { rcode } if *rcode == crate::facts::Rcode::SERVFAIL => {
            "SERVFAIL looking up {T} for {N} - the domain's nameservers may be malfunctioning"
                .to_string()
        }
        DnsOutcome::ServerFailure { rcode } => format!("{rcode} looking up {{T}} for {{N}}"),
        DnsOutcome::Refused => "REFUSED looking up {T} for {N}".to_string(),
        DnsOutcome::Timeout => "query timed out looking up {T} for {N}".to_string(),
        DnsOutcome::Error { .. } => "networking error looking up {T} for {N}".to_string(),
    };
    Some(format!(
        "DNS problem: {}",
        detail.replace("{T}", rtype).replace("{N}", name)
    ))
}

/// The identifier as the CA names it in CAA messages: `*.` kept for a wildcard (§5.8).
pub fn caa_identifier(domain: &str, wildcard: bool) -> String {
    if wildcard {
        format!("*.{domain}")
    } else {
        domain.to_string()
    }
}

/// CAA forbids issuance, whatever the reason (§5.8).
pub fn caa_forbids(identifier: &str, set_at: &str) -> CaError {
    CaError {
        problem: ProblemType::Caa,
        detail: format!(
            "While processing CAA for {identifier}: CAA record for {set_at} prevents issuance"
        ),
    }
}

/// A CAA lookup failed at a level the CA needs (§5.3).
pub fn caa_lookup_failed(identifier: &str, dns_error: &str) -> CaError {
    CaError {
        problem: ProblemType::Dns,
        detail: format!("While processing CAA for {identifier}: {dns_error}"),
    }
}

/// DNS-01: the name has no TXT record (NODATA) (§4.4).
pub fn txt_not_found(challenge: &str) -> CaError {
    CaError {
        problem: ProblemType::Unauthorized,
        detail: format!("No TXT record found at {challenge}"),
    }
}

/// DNS-01: TXT records exist, none matches (§4.4): the first is quoted, cut to 100
/// characters.
pub fn txt_incorrect(challenge: &str, records: &[String]) -> CaError {
    let first = records.first().map(String::as_str).unwrap_or_default();
    let quoted = if first.chars().count() > 100 {
        format!("{}...", first.chars().take(100).collect::<String>())
    } else {
        first.to_string()
    };
    let more = if records.len() > 1 {
        format!(" (and {} more)", records.len() - 1)
    } else {
        String::new()
    };
    CaError {
        problem: ProblemType::Unauthorized,
        detail: format!("Incorrect TXT record \"{quoted}\"{more} found at {challenge}"),
    }
}

/// A DNS lookup error as a `dns` problem.
pub fn dns_problem(detail: String) -> CaError {
    CaError {
        problem: ProblemType::Dns,
        detail,
    }
}

/// A status other than 200 on the challenge URL at `ip`, as the CA words it (§2.7, §0.5:
/// `<ip>: ` and no `Fetching`).
pub fn status_error(url: &str, ip: &IpAddr, status: u16) -> CaError {
    CaError {
        problem: ProblemType::Unauthorized,
        detail: format!("{ip}: {}", invalid_status(url, status)),
    }
}

/// TLS-ALPN-01's name in the CA's messages.
pub const TLS_ALPN_01: &str = "tls-alpn-01";
/// A plain HTTP answer to the ClientHello (`docs/ca-behaviour.md` §3.3), a `malformed` problem.
pub const HTTP_ON_TLS_PORT: &str = "Server only speaks HTTP, not TLS";

/// A TLS-ALPN-01 connection error at `ip` (§3.3): `<ip>: <core>`, the bare address, no
/// `Fetching`.
pub fn tls_connection(problem: ProblemType, ip: &IpAddr, core: &str) -> CaError {
    CaError {
        problem,
        detail: format!("{ip}: {core}"),
    }
}

/// A fatal alert from the server, in Go's words (§3.3): a `tls` problem.
pub fn remote_alert(name: &str) -> String {
    format!("remote error: tls: {name}")
}

/// The IPv6 attempt failed and no IPv4 address was left to try (§3.2): the real error is lost.
pub fn unable_to_contact(identifier: &str, ipv6: &IpAddr) -> CaError {
    CaError {
        problem: ProblemType::Malformed,
        detail: format!(
            "Unable to contact {} at {}, no IPv4 addresses to try as fallback",
            crate::keyauth::go_quote(identifier),
            crate::keyauth::go_quote(&ipv6.to_string())
        ),
    }
}

/// §3.4 step 1: the handshake brought no certificate.
pub fn no_certs_presented() -> CaError {
    CaError {
        problem: ProblemType::Unauthorized,
        detail: format!("No certs presented for {TLS_ALPN_01} challenge"),
    }
}

/// §3.4 step 2: the server did not select `acme-tls/1`.
pub fn cannot_negotiate_alpn() -> CaError {
    CaError {
        problem: ProblemType::Unauthorized,
        detail: format!(
            "Cannot negotiate ALPN protocol {} for {TLS_ALPN_01} challenge",
            crate::keyauth::go_quote(crate::facts::tlsalpn01::ACME_TLS_1)
        ),
    }
}

/// §3.4 step 3: `Incorrect validation certificate for tls-alpn-01 challenge. Requested
/// <identifier> from <ip>:443. <reason>`, the address as `net.JoinHostPort` writes it.
pub fn incorrect_certificate(identifier: &str, ip: &IpAddr, port: u16, reason: &str) -> CaError {
    CaError {
        problem: ProblemType::Unauthorized,
        detail: format!(
            "Incorrect validation certificate for {TLS_ALPN_01} challenge. Requested {identifier} from {}. {reason}",
            std::net::SocketAddr::new(*ip, port)
        ),
    }
}

/// §3.4 step 3.1.
pub const NOT_SELF_SIGNED: &str = "Received certificate which is not self-signed.";
/// §3.4 step 3.4.
pub const ACME_EXTENSION_NOT_CRITICAL: &str =
    "Received certificate with acmeValidationV1 extension that is not Critical.";
/// §3.4 step 3.5.
pub const ACME_EXTENSION_MALFORMED: &str =
    "Received certificate with malformed acmeValidationV1 extension value.";
/// §3.4 step 3.3's reasons.
pub const WRONG_NUMBER_OF_IDENTIFIERS: &str = "wrong number of identifiers";
pub const IDENTIFIER_MISMATCH: &str = "identifier does not match expected identifier";
pub const SAN_BYTES_MISMATCH: &str = "SAN extension does not match expected bytes";

/// §3.4 step 3.2, a duplicated extension (Go's client refuses it first, §3.3).
pub fn extension_seen_twice(oid: &str) -> String {
    unexpected_extensions(&format!("Extension OID {oid} seen twice"))
}

/// §3.4 step 3.2, a required extension (acmeIdentifier, then the SAN) missing.
pub fn required_extension_missing(oid: &str) -> String {
    unexpected_extensions(&format!("Required extension OID {oid} is not present"))
}

fn unexpected_extensions(reason: &str) -> String {
    format!(
        "Received certificate with unexpected extensions: {}",
        crate::keyauth::go_quote(reason)
    )
}

/// §3.4 step 3.3: the certificate's names (already joined as the CA joins them) and why.
pub fn unexpected_identifiers(names: &str, reason: &str) -> String {
    format!(
        "Received certificate with unexpected identifiers ({}): {}",
        crate::keyauth::go_quote(names),
        crate::keyauth::go_quote(reason)
    )
}

/// §3.4 step 3.6: the acmeIdentifier digest is another key authorization's.
pub fn acme_extension_mismatch(got: &str, expected: &str) -> String {
    format!(
        "Received certificate with acmeValidationV1 extension value {got} but expected {expected}."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dial_errors_carry_the_ip_prefix_and_the_fetch_url() {
        let e = dial_error(
            "example.com",
            &"2001:db8::1".parse().unwrap(),
            Dial::Timeout,
        );
        assert_eq!(e.problem, ProblemType::Connection);
        assert_eq!(
            e.detail,
            "2001:db8::1: Fetching http://example.com/.well-known/acme-challenge/<token>: Timeout during connect (likely firewall problem)"
        );
    }

    #[test]
    fn each_connect_outcome_maps_to_one_dial_error() {
        assert_eq!(Dial::of(&ConnectOutcome::Connected), None);
        assert_eq!(Dial::of(&ConnectOutcome::Refused), Some(Dial::Refused));
        assert_eq!(
            Dial::of(&ConnectOutcome::NetworkUnreachable).map(Dial::core),
            Some("Network unreachable")
        );
        assert_eq!(
            Dial::of(&ConnectOutcome::HostUnreachable).map(Dial::core),
            Some(GETTING_DATA)
        );
    }

    #[test]
    fn problem_types_serialise_as_urns() {
        for p in [
            ProblemType::Connection,
            ProblemType::Dns,
            ProblemType::Unauthorized,
            ProblemType::Caa,
            ProblemType::Tls,
            ProblemType::Malformed,
            ProblemType::RejectedIdentifier,
            ProblemType::RateLimited,
            ProblemType::ServerInternal,
        ] {
            assert_eq!(
                serde_json::to_string(&p).unwrap(),
                format!("\"{}\"", p.urn())
            );
        }
    }

    #[test]
    fn dns_errors_use_the_ede_form_when_the_resolver_gave_one() {
        let ede = crate::facts::Ede {
            code: 7,
            text: "signature expired".into(),
        };
        let servfail = DnsOutcome::ServerFailure {
            rcode: crate::facts::Rcode::SERVFAIL,
        };
        assert_eq!(
            dns_lookup_error("TXT", "_acme-challenge.example.com", &servfail, Some(&ede)).unwrap(),
            "DNS problem: looking up TXT for _acme-challenge.example.com: DNSSEC: Signature Expired: signature expired"
        );
        assert_eq!(
            dns_lookup_error("CAA", "com", &servfail, None).unwrap(),
            "DNS problem: SERVFAIL looking up CAA for com - the domain's nameservers may be malfunctioning"
        );
        assert_eq!(
            dns_lookup_error("A", "x", &DnsOutcome::NoData, Some(&ede)),
            None
        );
        assert_eq!(ede_summary(99), "Unknown Extended DNS Error code 99");
    }

    #[test]
    fn incorrect_txt_quotes_the_first_record_cut_to_100() {
        let long = "x".repeat(120);
        let e = txt_incorrect("_acme-challenge.a.test", &[long, "b".into(), "c".into()]);
        assert_eq!(
            e.detail,
            format!(
                "Incorrect TXT record \"{}...\" (and 2 more) found at _acme-challenge.a.test",
                "x".repeat(100)
            )
        );
        assert_eq!(e.problem, ProblemType::Unauthorized);
    }

    #[test]
    fn no_usable_address_joins_a_then_aaaa() {
        let e = no_usable_address("example.com", &DnsOutcome::NxDomain, &DnsOutcome::NoData);
        assert_eq!(e.problem, ProblemType::Dns);
        assert_eq!(
            e.detail,
            "DNS problem: NXDOMAIN looking up A for example.com - check that a DNS record exists for this domain; no valid AAAA records found for example.com"
        );
    }

    #[test]
    fn tls_alpn_01_words_are_boulders() {
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(
            tls_connection(
                ProblemType::Tls,
                &v4,
                &remote_alert("no application protocol")
            )
            .detail,
            "192.0.2.7: remote error: tls: no application protocol"
        );
        assert_eq!(
            unable_to_contact("example.com", &v6).detail,
            "Unable to contact \"example.com\" at \"2001:db8::1\", no IPv4 addresses to try as fallback"
        );
        assert_eq!(
            cannot_negotiate_alpn().detail,
            "Cannot negotiate ALPN protocol \"acme-tls/1\" for tls-alpn-01 challenge"
        );
        assert_eq!(
            incorrect_certificate("example.com", &v6, 443, NOT_SELF_SIGNED).detail,
            "Incorrect validation certificate for tls-alpn-01 challenge. Requested example.com from [2001:db8::1]:443. Received certificate which is not self-signed."
        );
        assert_eq!(
            required_extension_missing("1.3.6.1.5.5.7.1.31"),
            "Received certificate with unexpected extensions: \"Required extension OID 1.3.6.1.5.5.7.1.31 is not present\""
        );
        assert_eq!(
            unexpected_identifiers("a.test, b.test", WRONG_NUMBER_OF_IDENTIFIERS),
            "Received certificate with unexpected identifiers (\"a.test, b.test\"): \"wrong number of identifiers\""
        );
        assert_eq!(
            no_certs_presented().detail,
            "No certs presented for tls-alpn-01 challenge"
        );
    }
}
