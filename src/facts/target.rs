//! The facts of one name: what was asked ([`Target`]), the connects every method shares, the
//! method's own facts ([`MethodFacts`]), and what outside views saw.

use super::{
    AuthoritativeFacts, CaEvidence, CaaFacts, CdRetry, ConnectFact, Dns01Facts, DnsFacts,
    DomainName, Http01Facts, ManagedCert, TlsAlpn01Facts, is_zero,
};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

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
    /// What the CA itself said of this name: a real validation (`--ca-check`), pasted words
    /// (`--ca-error`), a client's logged failure (`--all`). The decisive outside view.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ca: Vec<CaEvidence>,
    pub duration_ms: u64,
    /// Issue 20 item 4: why a name of the command line was checked with its method (`--method`,
    /// this host's ACME client configuration, or http-01 assumed). `None` under `--all` (the
    /// certificate says it) and in facts saved before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method_from: Option<MethodFrom>,
}

/// Where a name's method came from (issue 20 item 4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum MethodFrom {
    /// `--method`, or a flag only one method has (`--webroot`, `--expect-body`). `config` is
    /// this host's ACME client configuration when it names the name with another method.
    Given {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        config: Option<ClientMethod>,
    },
    /// This host's ACME client configuration names the name: its method is used.
    Config { config: ClientMethod },
    /// No ACME client configuration on this host names the name: http-01, the default, was
    /// assumed. `unreadable` lists the configuration paths that could not be read, which
    /// might have named it.
    Assumed {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        unreadable: Vec<String>,
    },
}

/// A method as an ACME client's configuration on this host sets it for a name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientMethod {
    pub method: Method,
    pub client: super::AcmeClient,
    /// The file that sets it, and where.
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

impl ClientMethod {
    /// `certbot /etc/letsencrypt/renewal/x.conf:7`, for headers.
    pub fn origin(&self) -> String {
        match self.line {
            Some(line) => format!("{} {}:{line}", self.client.as_str(), self.file),
            None => format!("{} {}", self.client.as_str(), self.file),
        }
    }
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
    /// The addresses this view's own requests leave from, one per family it dialled: the
    /// source its routing chooses for the name's addresses (`serve`), or the global addresses
    /// of the machine a saved run was made on. What the host's filters see as the source,
    /// unless a NAT stands between (issue 20 item 2). Empty in older files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub own_sources: Vec<IpAddr>,
}

impl TargetFacts {
    pub fn method(&self) -> Method {
        self.method.method()
    }

    /// The addresses the identifier leads to, reserved ones included: an IP identifier's own
    /// (no DNS, `docs/ca-behaviour.md` §11.3), else the name's A then AAAA answers. The
    /// identifier kind, not the method, decides.
    pub fn addresses(&self) -> impl Iterator<Item = &IpAddr> {
        let answers = self
            .dns
            .iter()
            .filter(|_| self.target.domain.ip.is_none())
            .flat_map(|dns| dns.a.addresses.iter().chain(&dns.aaaa.addresses));
        self.target.domain.ip.iter().chain(answers)
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
            Method::TlsAlpn01 => Some(super::tlsalpn01::TLS_ALPN_PORT),
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

    /// Whether the CA offers this method for an IP identifier (RFC 8738 §4, §7; Boulder's
    /// `ChallengeTypesFor`, `docs/ca-behaviour.md` §11.2).
    pub fn validates_ip(self) -> bool {
        match self {
            Method::Http01 | Method::TlsAlpn01 => true,
            Method::Dns01 => false,
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
            Method::TlsAlpn01 => &[super::tlsalpn01::TLS_ALPN_PORT],
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::TlsAlpn01Facts;

    fn facts_of(method: Method) -> MethodFacts {
        match method {
            Method::Http01 => MethodFacts::Http01(Http01Facts::default()),
            Method::Dns01 => MethodFacts::Dns01(Dns01Facts {
                challenge: "_acme-challenge.example.test".into(),
                expect_txt: None,
                txt: crate::facts::TxtLookup {
                    name: "_acme-challenge.example.test".into(),
                    outcome: crate::facts::DnsOutcome::NoData,
                    cname_chain: Vec::new(),
                    records: Vec::new(),
                    ede: None,
                    elapsed_ms: 0,
                },
                sibling: None,
                doubled: None,
            }),
            Method::TlsAlpn01 => MethodFacts::TlsAlpn01(TlsAlpn01Facts::default()),
        }
    }

    #[test]
    fn every_method_names_itself_alike_everywhere() {
        for &method in Method::ALL {
            let name = serde_json::to_value(method).expect("serialise");
            assert_eq!(name, serde_json::json!(method.as_str()));
            let facts = facts_of(method);
            assert_eq!(facts.method(), method);
            // The method facts are keyed by the same name in saved files.
            let saved = serde_json::to_value(&facts).expect("serialise");
            assert!(saved.get(method.as_str()).is_some(), "{saved}");
            assert_eq!(
                serde_json::from_value::<MethodFacts>(saved).expect("read back"),
                facts
            );
        }
    }

    #[test]
    fn a_method_dials_its_validation_port_and_only_dns01_dials_nothing() {
        for &method in Method::ALL {
            match method.validation_port() {
                Some(port) => assert!(method.ports().contains(&port), "{method:?}"),
                None => assert!(method.ports().is_empty(), "{method:?}"),
            }
            // A method whose challenge lives in DNS dials nothing, and the reverse.
            assert_eq!(method.challenge_in_dns(), method.ports().is_empty());
        }
        assert_eq!(Method::TlsAlpn01.validation_port(), Some(443));
        assert_eq!(Method::Http01.ports(), &[80, 443]);
        let wildcards: Vec<Method> = Method::ALL
            .iter()
            .copied()
            .filter(|m| m.validates_wildcards())
            .collect();
        assert_eq!(wildcards, [Method::Dns01]);
    }
}
