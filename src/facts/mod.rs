//! Facts: the whole truth of one run, as plain serde data, by scope: one [`HostFacts`]
//! snapshot per run, one [`TargetFacts`] per name, and inside it the [`MethodFacts`] of the
//! validation method.
//!
//! Probes produce these; the diagnosis reads nothing else. `--save-facts` writes them and
//! `--from-facts` re-diagnoses them without touching the network, so every field a rule reads
//! must be here, and every field here must be deserialisable from a saved file.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

mod clients;
mod migrate;
pub mod tlsalpn01;

pub use clients::{
    AcmeClient, Challenge, ClientsFacts, ConfigOwner, ConfigWarning, ManagedCert, Moment,
    NameWebroot, NextTry, UnreadablePath,
};

pub use crate::domain::DomainName;
pub use migrate::{LoadError, from_json};
pub use tlsalpn01::{
    AcmeIdentifier, ChallengeCertificate, Handshake, HandshakeOutcome, Presented, TlsAlpn01Facts,
};

/// Version of the facts layout; bumped when a field changes meaning. Older files are migrated
/// on load ([`from_json`]), never read by a second model.
pub const FACTS_VERSION: u32 = 3;

/// Everything one run gathered: the host snapshot, taken once however many names were
/// checked, and one [`TargetFacts`] per name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunFacts {
    pub facts_version: u32,
    pub tool_version: String,
    /// RFC 3339, UTC, when the probes started.
    pub started_at: String,
    pub options: ProbeOptions,
    pub host: HostFacts,
    pub targets: Vec<TargetFacts>,
    pub duration_ms: u64,
}

impl RunFacts {
    /// `target` with this run's settings but without the host snapshot: what `--json` and
    /// `--report` print per name, the host being printed once per output beside it.
    pub fn one<'a>(&'a self, target: &'a TargetFacts) -> TargetRun<'a> {
        TargetRun {
            facts_version: self.facts_version,
            tool_version: &self.tool_version,
            started_at: &self.started_at,
            options: &self.options,
            targets: [target],
            duration_ms: self.duration_ms,
        }
    }
}

impl RunFacts {
    /// This run with another host snapshot (a redacted copy), serialised exactly as a
    /// [`RunFacts`].
    pub fn with_host<'a>(&'a self, host: &'a HostFacts) -> RunWithHost<'a> {
        RunWithHost {
            facts_version: self.facts_version,
            tool_version: &self.tool_version,
            started_at: &self.started_at,
            options: &self.options,
            host,
            targets: &self.targets,
            duration_ms: self.duration_ms,
        }
    }
}

/// A [`RunFacts`] whose host snapshot is borrowed from elsewhere: `--report` prints the run
/// with its firewall left out, without copying the targets.
#[derive(Debug, Serialize)]
pub struct RunWithHost<'a> {
    pub facts_version: u32,
    pub tool_version: &'a str,
    pub started_at: &'a str,
    pub options: &'a ProbeOptions,
    pub host: &'a HostFacts,
    pub targets: &'a [TargetFacts],
    pub duration_ms: u64,
}

/// One target of a run with the run's settings and without its host snapshot, serialised as
/// a [`RunFacts`] of one target minus `host`: a facts file once the host snapshot printed
/// beside it is put back as `host` (`--from-facts` does that for a saved `--json` output).
/// The host is left out so that a run of N names prints it once, not N times.
#[derive(Debug, Serialize)]
pub struct TargetRun<'a> {
    pub facts_version: u32,
    pub tool_version: &'a str,
    pub started_at: &'a str,
    pub options: &'a ProbeOptions,
    pub targets: [&'a TargetFacts; 1],
    pub duration_ms: u64,
}

/// One name: what it is, what DNS says of it, and the facts of the validation method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetFacts {
    pub target: Target,
    /// A and AAAA at the resolver; `None` when the method needs no address (dns-01) or the
    /// name is settled without DNS (a wildcard with http-01).
    pub dns: Option<DnsFacts>,
    /// The TCP connects to each address the CA would dial, on the ports the method dials
    /// (`Method::ports`): shared by every method that connects, read by the reachability,
    /// listener and firewall checks whatever the method.
    #[serde(default)]
    pub connects: Vec<ConnectFact>,
    pub method: MethodFacts,
    /// The CAA record sets from the name up to its TLD (`docs/ca-behaviour.md` §5.2).
    #[serde(default)]
    pub caa: Option<CaaFacts>,
    /// Lookups that failed with SERVFAIL, asked again with DNSSEC checking disabled.
    #[serde(default)]
    pub dnssec: Vec<CdRetry>,
    /// What the zone's own nameservers answer, asked one by one.
    #[serde(default)]
    pub authoritative: Option<AuthoritativeFacts>,
    /// What outside observers saw of this name: `acme-doctor serve` vantages asked during the
    /// run (`--vantage`), or runs saved elsewhere and joined offline (`--from-facts A B`).
    #[serde(default)]
    pub vantages: Vec<VantageFacts>,
    /// The certificate this name was checked for (`--all`): which client renews it, from
    /// which file and key, how, and when it expires.
    #[serde(default)]
    pub certificate: Option<ManagedCert>,
    pub duration_ms: u64,
}

/// One outside view of a name: DNS as resolved there, the connects per address and port,
/// the challenge GET and `GET /` per address, and the address this run's request came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VantageFacts {
    /// Who looked: the vantage's URL (never its token), or `file:NAME` for a saved run.
    pub vantage: String,
    /// The observation, or why the vantage could not give one.
    pub observed: Result<Observation, VantageError>,
    pub elapsed_ms: u64,
}

impl VantageFacts {
    pub fn observation(&self) -> Option<&Observation> {
        self.observed.as_ref().ok()
    }
}

/// Why a vantage gave no observation: it did not answer, refused the request, or refused
/// the target (a reserved address without `--allow-reserved`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VantageError {
    /// HTTP status of the vantage's answer, when there was one.
    pub status: Option<u16>,
    pub message: String,
}

/// What a vantage saw. Only ports 80 and 443 of the addresses the name resolves to there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observation {
    pub dns: Option<DnsFacts>,
    /// The vantage's connects per address and port.
    #[serde(default)]
    pub connects: Vec<ConnectFact>,
    #[serde(default)]
    pub http01: Http01Facts,
    /// The source address of the request, as the vantage saw it: this run's public address
    /// in that family (after any NAT). `None` for a saved run.
    #[serde(default)]
    pub source_address: Option<IpAddr>,
    /// Resolved addresses the vantage refused to contact (reserved, or its own).
    #[serde(default)]
    pub refused_targets: Vec<IpAddr>,
    /// Allowed addresses the vantage left out: it dials at most a few per family, the first
    /// (the one the CA dials) always among them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub targets_left_out: u64,
}

impl TargetFacts {
    pub fn method(&self) -> Method {
        self.method.method()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub domain: DomainName,
    /// The resolver that answered the DNS facts.
    pub resolver: Resolver,
}

/// Which resolver answered: the system's (from `/etc/resolv.conf`) or one the user named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Resolver {
    System { servers: Vec<IpAddr> },
    Given { address: SocketAddr },
}

impl Resolver {
    /// The first address to point `dig @…` at, when there is one.
    pub fn first_ip(&self) -> Option<IpAddr> {
        match self {
            Resolver::System { servers } => servers.first().copied(),
            Resolver::Given { address } => Some(address.ip()),
        }
    }
}

impl fmt::Display for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resolver::System { servers } => {
                let list: Vec<String> = servers.iter().map(IpAddr::to_string).collect();
                write!(f, "system ({})", list.join(", "))
            }
            Resolver::Given { address } => write!(f, "{address}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Method {
    #[serde(rename = "http-01")]
    Http01,
    #[serde(rename = "dns-01")]
    Dns01,
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
}

impl Method {
    pub const ALL: &'static [Method] = &[Method::Http01, Method::Dns01, Method::TlsAlpn01];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Http01 => "http-01",
            Method::Dns01 => "dns-01",
            Method::TlsAlpn01 => "tls-alpn-01",
        }
    }

    /// The port the CA connects to for this method (`docs/ca-behaviour.md` §2.2, §3.1);
    /// dns-01 connects nowhere.
    pub fn validation_port(self) -> Option<u16> {
        match self {
            Method::Http01 => Some(80),
            Method::TlsAlpn01 => Some(tlsalpn01::TLS_ALPN_PORT),
            Method::Dns01 => None,
        }
    }

    /// Whether the CA validates a wildcard name by this method (RFC 8555 §7.1.3: only
    /// DNS-01; RFC 8737 §3 excludes TLS-ALPN-01 too).
    pub fn validates_wildcards(self) -> bool {
        match self {
            Method::Dns01 => true,
            Method::Http01 | Method::TlsAlpn01 => false,
        }
    }

    /// Whether the challenge lives in DNS (DNS-01's TXT record), looked up with the
    /// validation lookups rather than dialled.
    pub fn challenge_in_dns(self) -> bool {
        match self {
            Method::Dns01 => true,
            Method::Http01 | Method::TlsAlpn01 => false,
        }
    }

    /// Every port this run dials for the method: HTTP-01 also dials 443, where a redirect to
    /// HTTPS leads the CA.
    pub fn ports(self) -> &'static [u16] {
        match self {
            Method::Http01 => &[80, 443],
            Method::TlsAlpn01 => &[tlsalpn01::TLS_ALPN_PORT],
            Method::Dns01 => &[],
        }
    }
}

/// The facts only one validation method needs, keyed by the method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
// One per target, so the size difference between the variants costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
pub enum MethodFacts {
    #[serde(rename = "http-01")]
    Http01(Http01Facts),
    #[serde(rename = "dns-01")]
    Dns01(Dns01Facts),
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01(TlsAlpn01Facts),
}

impl MethodFacts {
    pub fn method(&self) -> Method {
        match self {
            MethodFacts::Http01(_) => Method::Http01,
            MethodFacts::Dns01(_) => Method::Dns01,
            MethodFacts::TlsAlpn01(_) => Method::TlsAlpn01,
        }
    }
}

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

/// What the CA's HTTP-01 fetch meets beyond the connects (the target's): the challenge GET,
/// the CA's walk, what each address answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http01Facts {
    /// The challenge GET per address on port 80: for the real token when there is one
    /// ([`Http01Facts::token`]), else for a random one (then a 404 is the healthy answer).
    #[serde(default)]
    pub http: Vec<HttpFact>,
    /// `GET /` per address on port 80, taken when an outside view is compared with this one
    /// (which site answers: another server behind a NAT shows another `/`).
    #[serde(default)]
    pub root: Vec<HttpFact>,
    /// `--webroot`, as given: the directory the ACME client writes challenge files under.
    #[serde(default)]
    pub webroot: Option<String>,
    /// The real token fetched (written under the webroot, or given with `--expect-body`).
    #[serde(default)]
    pub token: Option<TokenFacts>,
    /// One validation walked as the CA walks it: IPv6 first, IPv4 after a dial error,
    /// redirects followed by the CA's rules (`docs/ca-behaviour.md` §2.2, §2.5).
    #[serde(default)]
    pub ca_path: Option<CaPath>,
    /// Per address, what the token URL and `/` answer (no redirect followed): every address
    /// should give the same answer.
    #[serde(default)]
    pub answers: Vec<AddressAnswers>,
}

/// The token whose content is known, so the answer can be compared as the CA compares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenFacts {
    /// Where it came from: `webroot` (a file acme-doctor wrote and removed) or `expect-body`.
    pub source: TokenSource,
    /// The last segment of the challenge URL.
    pub token: String,
    /// The body the server must serve (the key authorization).
    pub expected: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenSource {
    Webroot,
    ExpectBody,
}

/// The CA's walk: one attempt per candidate address (the first AAAA, then the first A after a
/// dial error), each a chain of hops.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaPath {
    /// The URL the CA starts from.
    pub url: String,
    pub attempts: Vec<PathAttempt>,
    /// The whole walk, as the CA would spend it (dial timeouts included).
    pub elapsed_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathAttempt {
    pub hops: Vec<PathHop>,
}

/// One request of the walk, or the redirect the CA refused to make.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathHop {
    pub url: String,
    /// The address dialled; `None` when none was (a refused redirect, a failed lookup).
    pub address: Option<IpAddr>,
    pub family: Option<Family>,
    pub port: u16,
    pub outcome: HopOutcome,
    pub elapsed_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum HopOutcome {
    /// The TCP connect failed: a dial error, after which the CA falls back to IPv4.
    Dial {
        connect: ConnectOutcome,
    },
    /// An answer, with what the CA reads of it.
    Answer(Box<Answered>),
    /// The redirect to this URL is one the CA refuses (`docs/ca-behaviour.md` §2.5).
    Refused {
        refusal: crate::redirect::Refusal,
    },
    /// The redirect host has no usable address: each family's DNS outcome.
    NoAddress {
        a: DnsOutcome,
        aaaa: DnsOutcome,
    },
    /// TLS failed on an HTTPS hop.
    Tls {
        message: String,
    },
    /// A plain-HTTP answer on an HTTPS hop.
    HttpOnTlsPort,
    /// Connected, then no response in time.
    Timeout,
    Reset,
    Error {
        message: String,
    },
    /// The request never reached the server: acme-doctor ran out of its own resources (local
    /// ports, file descriptors). Nothing was learnt about the server.
    OwnLimit {
        message: String,
    },
}

/// A response as the facts keep it: enough to compare bodies and recognise who answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answered {
    pub status: u16,
    #[serde(default)]
    pub server: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
    /// `WWW-Authenticate`, sanitised (a router's or an auth realm).
    #[serde(default)]
    pub www_authenticate: Option<String>,
    /// Response header names that identify a proxy or WAF (`cf-ray`, `x-sucuri-id`, ...).
    #[serde(default)]
    pub marks: Vec<String>,
    /// The HTML `<title>`, sanitised, when there is one.
    #[serde(default)]
    pub title: Option<String>,
    /// The first bytes of the body (at most the CA's 128), hex: compared as the CA compares.
    #[serde(default)]
    pub body_head_hex: String,
    /// The first bytes of the body, escaped, for evidence.
    #[serde(default)]
    pub body_prefix: String,
    /// Bytes read (capped by acme-doctor; the CA needs under 128).
    pub body_bytes: u64,
    /// SHA-256 of the bytes read, hex: to tell whether two addresses serve the same thing.
    #[serde(default)]
    pub body_sha256: String,
}

impl Answered {
    /// The first body bytes kept.
    pub fn body_head(&self) -> Vec<u8> {
        (0..self.body_head_hex.len() / 2)
            .filter_map(|i| u8::from_str_radix(self.body_head_hex.get(2 * i..2 * i + 2)?, 16).ok())
            .collect()
    }
}

/// What one address answers for the token URL and for `/`, each without following redirects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressAnswers {
    pub address: IpAddr,
    pub token: HopOutcome,
    pub root: HopOutcome,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeOptions {
    pub timeout_ms: u64,
    /// Reserved and documentation addresses were treated as public (labs).
    pub allow_reserved: bool,
    /// The CA's issuer domain, as its CAA `issue` records must name it (`--ca`).
    #[serde(default = "default_issuer")]
    pub ca_issuer: String,
    /// The ACME account (`--account-uri`), for CAA `accounturi`.
    #[serde(default)]
    pub account_uri: Option<String>,
    /// CDN ranges that replace the shipped ones (the hidden `--cdn-ranges FILE`, for labs
    /// whose "CDN" stands on documentation addresses), in the shipped file's format.
    #[serde(default)]
    pub cdn_ranges: Option<String>,
}

fn default_issuer() -> String {
    "letsencrypt.org".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub fn of(ip: &IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        }
    }

    /// `IPv4` / `IPv6`, for prose.
    pub fn label(self) -> &'static str {
        match self {
            Family::Ipv4 => "IPv4",
            Family::Ipv6 => "IPv6",
        }
    }

    /// The DNS record type that publishes an address of this family.
    pub fn record_type(self) -> &'static str {
        match self {
            Family::Ipv4 => "A",
            Family::Ipv6 => "AAAA",
        }
    }
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

fn is_zero(n: &u64) -> bool {
    *n == 0
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
        rcode: String,
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
            DnsOutcome::ServerFailure { rcode } => f.write_str(rcode),
            DnsOutcome::Refused => f.write_str("REFUSED"),
            DnsOutcome::Timeout => f.write_str("no answer in time"),
            DnsOutcome::Error { message } => f.write_str(message),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectFact {
    pub address: IpAddr,
    pub port: u16,
    pub outcome: ConnectOutcome,
    pub elapsed_ms: u64,
}

/// How one TCP connect ended, in the terms the CA's error messages use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ConnectOutcome {
    Connected,
    /// RST in answer to the SYN: nothing listening, or a firewall REJECT.
    Refused,
    /// No answer within the timeout: a firewall DROP, a dead address.
    Timeout,
    /// EHOSTUNREACH: a router said the host cannot be reached, or neighbour discovery failed.
    HostUnreachable,
    /// ENETUNREACH: no route for this destination from where the probe ran.
    NetworkUnreachable,
    /// EAFNOSUPPORT: this kernel cannot open a socket of that family at all.
    FamilyNotSupported,
    /// EADDRNOTAVAIL with a route and a source address: acme-doctor itself ran out of local
    /// (ephemeral) ports for this address, every one in use or in TIME_WAIT. Its own limit;
    /// nothing was learnt about the server. (Older versions recorded any EADDRNOTAVAIL as
    /// `other` with errno 99, which also meant "no source address of that family".)
    LocalPortsExhausted,
    Other {
        errno: Option<i32>,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpFact {
    pub address: IpAddr,
    pub port: u16,
    pub url: String,
    pub outcome: HttpOutcome,
    pub elapsed_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum HttpOutcome {
    Response {
        status: u16,
        /// `Server` header, sanitised and capped.
        server: Option<String>,
        /// `Location` header of a redirect, sanitised and capped.
        location: Option<String>,
        /// The first bytes of the body (lossy UTF-8, sanitised), for evidence.
        body_prefix: String,
        /// Bytes read before the cap.
        body_bytes: u64,
        body_truncated: bool,
    },
    Timeout,
    Reset,
    Error {
        message: String,
    },
    /// The server answered, but beyond a limit of acme-doctor's own HTTP client that the
    /// CA's client does not share (a response head over `limit_bytes`): not judged, never
    /// the server's fault. `limit_bytes` 0: the request could not be made at all, acme-doctor
    /// being out of file descriptors.
    Unread {
        limit_bytes: u64,
        message: String,
    },
}

/// A host fact that could be read, or the reason it could not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Probed<T> {
    Known(T),
    Unknown(Unknown),
}

impl<T> Probed<T> {
    pub fn known(&self) -> Option<&T> {
        match self {
            Probed::Known(v) => Some(v),
            Probed::Unknown(_) => None,
        }
    }

    pub fn unknown(&self) -> Option<&Unknown> {
        match self {
            Probed::Known(_) => None,
            Probed::Unknown(why) => Some(why),
        }
    }
}

/// Why a fact could not be read. Stored as such, so rules decide on the kind, never on the
/// words, and re-wording a message changes no saved file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Unknown {
    /// The program that prints this fact is not installed.
    NotInstalled { program: String },
    /// Reading it needs privileges this run does not have.
    PermissionDenied { program: String, message: String },
    /// The program did not finish in time.
    TimedOut { program: String, after_ms: u64 },
    /// Anything else, with what was said.
    Failed { message: String },
    /// The text was read, but its reader gave up on it: a syntax it does not know, or one of
    /// the caps that bound the work a hostile file can cause.
    Unparsable {
        /// What was being read: `nginx -T`, or a file's path.
        source: String,
        /// Where the reader stopped: `file:line`, or `byte N` when no line is known.
        at: String,
        message: String,
        /// The cap that stopped it, when one did: `nesting depth 32`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cap: Option<String>,
    },
}

impl Unknown {
    pub fn failed(message: impl Into<String>) -> Unknown {
        Unknown::Failed {
            message: message.into(),
        }
    }
}

impl fmt::Display for Unknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unknown::NotInstalled { program } => write!(f, "{program} is not installed"),
            Unknown::PermissionDenied { program, message } => write!(
                f,
                "{program}: permission denied (run acme-doctor as root to read the firewall): {message}"
            ),
            Unknown::TimedOut { program, after_ms } => {
                write!(f, "{program} did not finish within {} s", after_ms / 1000)
            }
            Unknown::Failed { message } => f.write_str(message),
            Unknown::Unparsable {
                source,
                at,
                message,
                cap,
            } => {
                write!(f, "{source}: stopped at {at}: {message}")?;
                match cap {
                    Some(cap) => write!(f, " (cap: {cap})"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// What the machine acme-doctor ran on says about itself. Only meaningful when that machine
/// holds one of the domain's addresses (the diagnosis decides that).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostFacts {
    /// `uname -r`.
    pub kernel: Probed<String>,
    /// False when the kernel has no IPv6 at all (booted with `ipv6.disable=1`).
    pub ipv6_in_kernel: Probed<bool>,
    /// `net.ipv6.conf.<name>.disable_ipv6` for `all`, `default` and every interface.
    pub disable_ipv6: Probed<Vec<Sysctl>>,
    /// `net.ipv6.bindv6only`: the default of IPV6_V6ONLY for new sockets.
    pub bindv6only: Probed<bool>,
    pub interfaces: Probed<Vec<Interface>>,
    pub default_route_v4: Probed<bool>,
    pub default_route_v6: Probed<bool>,
    /// Listening TCP sockets on the ports the CA uses (80, 443).
    pub listeners: Probed<Vec<Listener>>,
    /// The interface of the IPv4 default route: where the CA's packets arrive.
    #[serde(default)]
    pub default_route_dev_v4: Option<String>,
    /// The interface of the IPv6 default route.
    #[serde(default)]
    pub default_route_dev_v6: Option<String>,
    /// The packet filter's rules, as its own tools print them. `None` in facts saved before
    /// the firewall was read.
    #[serde(default)]
    pub firewall: Option<FirewallFacts>,
    /// The ACME clients configured here and the certificates they renew. `None` when not read
    /// (saved facts, a run from elsewhere).
    #[serde(default)]
    pub acme_clients: Option<ClientsFacts>,
    /// Container runtimes found on the host (Docker, Podman), each as its API answered.
    /// Empty when none was found, or in facts saved before containers were read.
    #[serde(default)]
    pub containers: Vec<ContainerFacts>,
    /// The web servers' own configuration. `None` in facts saved before it was read.
    #[serde(default)]
    pub web_server: Option<WebServerFacts>,
}

/// The web servers' configuration as their own tools print it, verbatim, so a saved facts
/// file can be re-read offline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebServerFacts {
    /// `nginx -T`, for the configuration the running nginx was started with.
    pub nginx: Probed<NginxConfig>,
    /// `apache2ctl -S` and the virtual host files it names.
    pub apache: Probed<ApacheConfig>,
    /// The Caddyfile at its default path.
    pub caddy: Probed<ConfigFile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NginxConfig {
    /// The command that printed it: `/usr/sbin/nginx -T -c /etc/nginx/nginx.conf`.
    pub command: String,
    /// Its output: every file behind a `# configuration file PATH:` marker.
    pub dump: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApacheConfig {
    pub command: String,
    /// The `-S` output: which virtual host answers which name on which address and port.
    pub vhosts: String,
    /// The files `-S` names, read (capped).
    #[serde(default)]
    pub files: Vec<ConfigFile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub path: String,
    pub text: Probed<String>,
}

/// One container runtime, read through its API socket (plain HTTP over the unix socket,
/// `GET /containers/json`, `/containers/<id>/json`, `/networks`) and its settings file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerFacts {
    /// `docker` or `podman`.
    pub runtime: String,
    /// The API socket that answered (or refused).
    pub socket: String,
    /// Running containers; unknown when the socket refused or did not answer.
    pub containers: Probed<Vec<Container>>,
    /// The runtime's networks (bridges and their subnets).
    #[serde(default)]
    pub networks: Vec<ContainerNetwork>,
    /// The daemon's own settings (`daemon.json`), when a file was found.
    #[serde(default)]
    pub daemon: Option<DaemonSettings>,
}

/// What `dockerd` was told in its configuration file; `None` where the file is silent (the
/// daemon's default then applies: `ipv6` false, `ip6tables` false before Docker 27,
/// `userland-proxy` true).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonSettings {
    /// The file read: `/etc/docker/daemon.json` or the daemon's `--config-file`.
    pub file: String,
    pub ipv6: Option<bool>,
    pub ip6tables: Option<bool>,
    pub userland_proxy: Option<bool>,
}

/// A network of the runtime: its bridge interface and subnets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerNetwork {
    pub name: String,
    /// The host interface of a bridge network (`docker0`, `br-…`, `podman0`).
    pub bridge: Option<String>,
    pub subnets: Vec<ipnet::IpNet>,
    pub enable_ipv6: bool,
}

/// One running container, as `docker ps` shows it, with where it is reachable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Container {
    /// The short id (12 hex digits).
    pub id: String,
    /// The name without its leading `/`.
    pub name: String,
    pub image: String,
    /// A process of the container, whose `/proc/<pid>/net` shows its network namespace.
    pub pid: Option<u32>,
    /// Its addresses, per network.
    pub addresses: Vec<ContainerAddress>,
    /// Published and exposed ports, as the API lists them.
    pub ports: Vec<ContainerPort>,
    /// TCP ports something listens on inside the container's network namespace (any
    /// address), from `/proc/<pid>/net/tcp` and `tcp6`.
    pub listening: Probed<Vec<u16>>,
    /// Runs in the host's network namespace (`--network host`): its sockets are the host's.
    #[serde(default)]
    pub host_network: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerAddress {
    pub network: String,
    pub address: IpAddr,
}

/// One entry of the API's `Ports`: a container port, and where the host publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerPort {
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// The host address it is published on (`0.0.0.0`, `::`), when published.
    pub host_ip: Option<IpAddr>,
    pub host_port: Option<u16>,
}

impl Container {
    /// The container's ports published on the host on `host_port` for TCP.
    pub fn publishes(&self, host_port: u16) -> bool {
        self.ports
            .iter()
            .any(|p| p.protocol == "tcp" && p.host_port == Some(host_port))
    }
}

/// The rulesets, verbatim, so a saved facts file can be re-evaluated offline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirewallFacts {
    /// `nft -j list ruleset`: every nf_tables table, including those iptables-nft made.
    pub nft: Probed<serde_json::Value>,
    /// `iptables-save` / `ip6tables-save` output per family and backend.
    pub iptables: Vec<IptablesDump>,
    /// `nft --debug=netlink list ruleset`, verbatim: the kernel's bytecode of every rule,
    /// which shows matches the listing can hide (an inet rule's `meta nfproto`). `None` in
    /// facts files written before it was read.
    #[serde(default)]
    pub nft_netlink: Option<Probed<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IptablesBackend {
    /// iptables-nft: its tables also appear in the nft ruleset.
    Nft,
    /// iptables-legacy: separate kernel tables that nft does not show.
    Legacy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IptablesDump {
    pub family: Family,
    pub backend: IptablesBackend,
    pub dump: Probed<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sysctl {
    /// The interface part: `all`, `default` or an interface name.
    pub scope: String,
    pub value: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    pub name: String,
    pub up: bool,
    pub loopback: bool,
    pub addresses: Vec<IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    pub family: Family,
    pub address: IpAddr,
    pub port: u16,
    /// IPV6_V6ONLY of an IPv6 socket, from sock_diag; `None` for IPv4 or when unknown.
    pub v6only: Option<bool>,
    /// Owning process, when /proc tells (needs the same user or root).
    pub process: Option<Process>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Process {
    pub pid: u32,
    pub name: String,
}
