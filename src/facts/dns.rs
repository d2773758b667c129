//! DNS facts: the address lookups, DNS-01's TXT, CAA, DNSSEC retries and the authoritative
//! servers' view.

use super::{Family, is_zero};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// What the CA's DNS-01 lookup meets (`docs/ca-behaviour.md` §4): the TXT set at
/// `_acme-challenge.<name>` through the resolver, CNAMEs followed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dns01Facts {
    /// `_acme-challenge.<name>`.
    pub challenge: String,
    /// The value the user expects (`--expect-txt`).
    pub expect_txt: Option<String>,
    pub txt: TxtLookup,
    /// A random name beside the challenge name: an answer there means a wildcard record, which
    /// also answers for `_acme-challenge` when it has no record of its own.
    pub sibling: Option<TxtLookup>,
    /// `_acme-challenge.<name>.<zone>`: where a DNS panel that appends the zone puts a record
    /// entered with its full name. Asked only when the TXT is missing.
    pub doubled: Option<TxtLookup>,
}

/// One TXT lookup at the resolver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxtLookup {
    pub name: String,
    pub outcome: DnsOutcome,
    #[serde(default)]
    pub cname_chain: Vec<CnameHop>,
    /// Each record's character-strings joined without separator, as the CA compares them.
    #[serde(default)]
    pub records: Vec<String>,
    #[serde(default)]
    pub ede: Option<Ede>,
    pub elapsed_ms: u64,
}

/// An Extended DNS Error (RFC 8914): the resolver's reason for a failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ede {
    pub code: u16,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaaFacts {
    /// One lookup per name, from the name itself up to its TLD, in that order.
    pub levels: Vec<CaaLevel>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaaLevel {
    pub name: String,
    pub outcome: DnsOutcome,
    #[serde(default)]
    pub records: Vec<CaaRecord>,
    #[serde(default)]
    pub cname_chain: Vec<CnameHop>,
    #[serde(default)]
    pub ede: Option<Ede>,
    /// The query could not be sent: acme-doctor was out of file descriptors (its own limit).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub own_limit: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaaRecord {
    pub flags: u8,
    pub tag: String,
    pub value: String,
}

/// A lookup that failed with SERVFAIL at the resolver, asked again with the CD bit: an answer
/// then means the data exists and only DNSSEC validation fails.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CdRetry {
    pub name: String,
    /// `A`, `AAAA`, `TXT`, `CAA`.
    pub rtype: String,
    /// The EDE the resolver gave with its SERVFAIL.
    pub ede: Option<Ede>,
    pub with_cd: DnsOutcome,
    /// The chain of trust, fetched with CD, when the data is there.
    #[serde(default)]
    pub chain: Option<ChainFacts>,
}

/// The zone's keys and signatures, fetched with DNSSEC checking disabled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainFacts {
    pub zone: String,
    /// Key tags of the DS records the parent publishes for the zone.
    pub ds_tags: Vec<u16>,
    /// Key tags of the zone's DNSKEY records.
    pub dnskey_tags: Vec<u16>,
    /// The signatures over the failing record set.
    pub rrsigs: Vec<Rrsig>,
    /// When these were fetched, in seconds since the Unix epoch: signature times are judged
    /// against it.
    pub fetched_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rrsig {
    pub key_tag: u16,
    /// Seconds since the Unix epoch.
    pub inception: u64,
    pub expiration: u64,
}

/// The zone's nameservers, each asked directly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthoritativeFacts {
    /// The zone apex (from the SOA), when it was found.
    pub zone: Option<String>,
    /// Why the zone or its nameservers could not be found.
    pub problem: Option<String>,
    pub servers: Vec<NameserverFacts>,
}

/// One address of one nameserver, and what it answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameserverFacts {
    pub name: String,
    pub address: SocketAddr,
    /// The zone's SOA serial there.
    pub serial: Option<u32>,
    pub answers: Vec<ServerAnswer>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerAnswer {
    pub name: String,
    /// `A`, `AAAA`, `TXT`.
    pub rtype: String,
    pub outcome: DnsOutcome,
    /// Addresses, or TXT records joined, sorted.
    #[serde(default)]
    pub values: Vec<String>,
    pub ttl: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsFacts {
    pub a: DnsLookup,
    pub aaaa: DnsLookup,
}

impl DnsFacts {
    pub fn lookup(&self, family: Family) -> &DnsLookup {
        match family {
            Family::Ipv4 => &self.a,
            Family::Ipv6 => &self.aaaa,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsLookup {
    pub outcome: DnsOutcome,
    /// Addresses of the asked type, in the order the resolver gave them.
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
    /// CNAME hops followed to reach the addresses: `alias -> target`.
    #[serde(default)]
    pub cname_chain: Vec<CnameHop>,
    /// The TTL of the answer, as the resolver gave it (its cache's remaining time).
    #[serde(default)]
    pub ttl: Option<u32>,
    pub elapsed_ms: u64,
    /// How long the lookup waited for a slot under acme-doctor's own cap on queries in flight
    /// to this resolver before it was sent. A silence after such a wait may be the tool's own
    /// load, not the resolver's fault.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub queued_ms: u64,
    /// The lookup could not be made: acme-doctor was out of file descriptors (its own limit,
    /// not the resolver's silence).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub own_limit: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CnameHop {
    pub name: String,
    pub target: String,
}

/// How one DNS query ended. NXDOMAIN, NODATA, SERVFAIL and "no answer" are different facts
/// with different causes, so they are kept apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum DnsOutcome {
    /// NOERROR with at least one record of the asked type.
    Answer,
    /// NOERROR, the name exists, but no record of the asked type.
    NoData,
    NxDomain,
    /// SERVFAIL or another server-side failure code (FORMERR, NOTIMP, …).
    ServerFailure {
        rcode: Rcode,
    },
    /// The resolver refused to answer (REFUSED).
    Refused,
    /// No answer within the timeout.
    Timeout,
    /// Anything else: network error talking to the resolver, malformed answer.
    Error {
        message: String,
    },
}

/// In words, for evidence.
impl fmt::Display for DnsOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsOutcome::Answer => f.write_str("an answer"),
            DnsOutcome::NoData => f.write_str("NOERROR, no records"),
            DnsOutcome::NxDomain => f.write_str("NXDOMAIN"),
            DnsOutcome::ServerFailure { rcode } => write!(f, "{rcode}"),
            DnsOutcome::Refused => f.write_str("REFUSED"),
            DnsOutcome::Timeout => f.write_str("no answer in time"),
            DnsOutcome::Error { message } => f.write_str(message),
        }
    }
}

/// A DNS response code (RFC 1035 §4.1.1, RFC 6895 §2.3). Saved by its name (`SERVFAIL`), or as
/// `rcode N` for a code without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Rcode(pub u16);

impl Rcode {
    pub const NOERROR: Rcode = Rcode(0);
    pub const FORMERR: Rcode = Rcode(1);
    pub const SERVFAIL: Rcode = Rcode(2);
    pub const NXDOMAIN: Rcode = Rcode(3);
    pub const NOTIMP: Rcode = Rcode(4);
    pub const REFUSED: Rcode = Rcode(5);
    pub const YXDOMAIN: Rcode = Rcode(6);
    pub const NOTAUTH: Rcode = Rcode(9);
    pub const NOTZONE: Rcode = Rcode(10);

    const NAMES: [(Rcode, &'static str); 9] = [
        (Rcode::NOERROR, "NOERROR"),
        (Rcode::FORMERR, "FORMERR"),
        (Rcode::SERVFAIL, "SERVFAIL"),
        (Rcode::NXDOMAIN, "NXDOMAIN"),
        (Rcode::NOTIMP, "NOTIMP"),
        (Rcode::REFUSED, "REFUSED"),
        (Rcode::YXDOMAIN, "YXDOMAIN"),
        (Rcode::NOTAUTH, "NOTAUTH"),
        (Rcode::NOTZONE, "NOTZONE"),
    ];
}

impl fmt::Display for Rcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Rcode::NAMES.iter().find(|(code, _)| code == self) {
            Some((_, name)) => f.write_str(name),
            None => write!(f, "rcode {}", self.0),
        }
    }
}

impl From<Rcode> for String {
    fn from(code: Rcode) -> String {
        code.to_string()
    }
}

impl TryFrom<String> for Rcode {
    type Error = String;

    fn try_from(text: String) -> Result<Rcode, String> {
        if let Some((code, _)) = Rcode::NAMES.iter().find(|(_, name)| *name == text) {
            return Ok(*code);
        }
        text.strip_prefix("rcode ")
            .and_then(|n| n.parse().ok())
            .map(Rcode)
            .ok_or_else(|| format!("not a DNS response code: {text:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_codes_are_saved_by_name_and_read_back() {
        for code in (0..24).map(Rcode) {
            let saved = serde_json::to_value(code).expect("serialise");
            assert_eq!(
                serde_json::from_value::<Rcode>(saved.clone()).ok(),
                Some(code)
            );
            assert_eq!(saved, serde_json::json!(code.to_string()));
        }
        assert_eq!(Rcode::SERVFAIL.to_string(), "SERVFAIL");
        assert_eq!(Rcode(23).to_string(), "rcode 23");
        assert!(serde_json::from_value::<Rcode>(serde_json::json!("SERVFAILED")).is_err());
    }
}
