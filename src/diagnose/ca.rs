//! The CA's vocabulary, in one place: the ACME problem types, Boulder's exact wording and the
//! way it composes a detail (`<IP>: Fetching <URL>: <core>`), as `docs/ca-behaviour.md` §0
//! and §2.8 describe. Rules say *what* happened; this module says it in the CA's words.

pub use crate::ca_limits::{MAX_RESPONSE_BODY, MAX_RESPONSE_HEADER_BYTES};
use crate::facts::{ConnectOutcome, DnsOutcome, Family};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

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
            ConnectOutcome::HostUnreachable
            | ConnectOutcome::FamilyNotSupported
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

/// Boulder's refusal of a label with `--` in positions 3 and 4 that does not start with `xn`
/// (`docs/ca-behaviour.md` §8.3), a `rejectedIdentifier` at order time.
pub const RLDH_REFUSAL: &str =
    "Domain name contains an invalid label in a reserved format (R-LDH: '??--')";

/// The URL the CA fetches for `domain`, the token elided.
pub fn challenge_url(domain: &str) -> String {
    format!("http://{domain}/.well-known/acme-challenge/<token>")
}

/// `<ip>: Fetching <url>: <core>`, the shape of every HTTP-01 fetch error (§0).
pub fn fetching(problem: ProblemType, ip: &IpAddr, url: &str, core: &str) -> CaError {
    CaError {
        problem,
        detail: format!("{ip}: Fetching {url}: {core}"),
    }
}

/// A dial to the challenge URL that failed.
pub fn dial_error(domain: &str, ip: &IpAddr, dial: Dial) -> CaError {
    fetching(
        ProblemType::Connection,
        ip,
        &challenge_url(domain),
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

/// Why Boulder refuses to follow a redirect (§2.5), in its words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectRefusal {
    Status303,
    Scheme(String),
    Port(u16),
    EmptyHost,
    MissingSlash(String),
}

impl RedirectRefusal {
    pub fn core(&self) -> String {
        match self {
            RedirectRefusal::Status303 => "received disallowed redirect status code".into(),
            RedirectRefusal::Scheme(s) => format!(
                "Invalid protocol scheme in redirect target. Only \"http\" and \"https\" protocol schemes are supported, not \"{s}\""
            ),
            RedirectRefusal::Port(p) => format!(
                "Invalid port in redirect target. Only ports 80 and 443 are supported, not {p}"
            ),
            RedirectRefusal::EmptyHost => "Invalid empty host in redirect target".into(),
            RedirectRefusal::MissingSlash(h) => format!(
                "Invalid host in redirect target \"{h}\". Check webserver config for missing '/' in redirect target."
            ),
        }
    }
}

/// Boulder's per-family half of a `dns` problem (§7.2, §7.4).
fn dns_half(outcome: &DnsOutcome, family: Family, domain: &str) -> String {
    let rtype = family.record_type();
    let d = domain;
    match outcome {
        DnsOutcome::NxDomain => format!(
            "DNS problem: NXDOMAIN looking up {rtype} for {d} - check that a DNS record exists for this domain"
        ),
        DnsOutcome::ServerFailure { rcode } if rcode == "SERVFAIL" => format!(
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
        ] {
            assert_eq!(
                serde_json::to_string(&p).unwrap(),
                format!("\"{}\"", p.urn())
            );
        }
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
}
