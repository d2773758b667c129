//! DNS facts through hickory-resolver, asked the way the CA asks: A and AAAA separately, no
//! hosts file (the CA does not read the server's /etc/hosts), CNAME hops kept.

use super::DnsProbe;
use crate::facts::{CnameHop, DnsLookup, DnsOutcome, Family, Resolver};
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub struct HickoryDns {
    resolver: TokioResolver,
    described: Resolver,
    timeout: Duration,
    /// Queries in flight at once, so a run over many names never floods the resolver and then
    /// blames it for the silence it caused.
    in_flight: tokio::sync::Semaphore,
}

/// Queries one run keeps in flight at most: about what a busy stub resolver sends.
pub const MAX_IN_FLIGHT: usize = 32;

impl HickoryDns {
    /// A resolver asking `server` (UDP, then TCP on truncation), or the system's
    /// configuration (`/etc/resolv.conf`) when `server` is `None`.
    pub fn new(server: Option<SocketAddr>, timeout: Duration) -> Result<HickoryDns, String> {
        let (config, described) = match server {
            Some(addr) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                let ns = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
                (
                    ResolverConfig::from_name_servers(vec![ns]),
                    Resolver::Given { address: addr },
                )
            }
            None => {
                let (config, _) =
                    hickory_resolver::system_conf::read_system_conf().map_err(|e| {
                        format!(
                            "cannot read the system resolver configuration (/etc/resolv.conf): {e}"
                        )
                    })?;
                let servers: Vec<std::net::IpAddr> =
                    config.name_servers().iter().map(|ns| ns.ip).collect();
                if servers.is_empty() {
                    return Err(
                        "no nameserver in /etc/resolv.conf; pass one with --resolver IP[:PORT]"
                            .into(),
                    );
                }
                (config, Resolver::System { servers })
            }
        };
        let mut opts = ResolverOpts::default();
        // One try with the whole budget: with two tries of half each, a resolver answering in
        // 1.9 s at --timeout 2s was recorded as silent, its late answer to the first try thrown
        // away. The raw client (dns_raw.rs) keeps its own retry for lost datagrams.
        opts.timeout = timeout;
        opts.attempts = 1;
        opts.use_hosts_file = ResolveHosts::Never;
        opts.preserve_intermediates = true;
        opts.ndots = 0;
        let resolver = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(opts)
            .build()
            .map_err(|e| format!("cannot set up the DNS resolver: {e}"))?;
        Ok(HickoryDns {
            resolver,
            described,
            timeout,
            in_flight: tokio::sync::Semaphore::new(MAX_IN_FLIGHT),
        })
    }
}

fn rcode_name(code: ResponseCode) -> String {
    match code {
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::Refused => "REFUSED".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        ResponseCode::YXDomain => "YXDOMAIN".into(),
        ResponseCode::NotAuth => "NOTAUTH".into(),
        ResponseCode::NotZone => "NOTZONE".into(),
        other => format!("rcode {}", u16::from(other)),
    }
}

fn name_text(name: &impl std::fmt::Display) -> String {
    name.to_string().trim_end_matches('.').to_ascii_lowercase()
}

/// Maps what hickory returned to the outcome kinds the diagnosis distinguishes.
fn outcome_of(err: &NetError) -> DnsOutcome {
    match err {
        NetError::Dns(DnsError::NoRecordsFound(nr)) => match nr.response_code {
            ResponseCode::NXDomain => DnsOutcome::NxDomain,
            ResponseCode::NoError => DnsOutcome::NoData,
            ResponseCode::Refused => DnsOutcome::Refused,
            code => DnsOutcome::ServerFailure {
                rcode: rcode_name(code),
            },
        },
        NetError::Dns(DnsError::ResponseCode(ResponseCode::Refused)) => DnsOutcome::Refused,
        NetError::Dns(DnsError::ResponseCode(ResponseCode::NXDomain)) => DnsOutcome::NxDomain,
        NetError::Dns(DnsError::ResponseCode(code)) => DnsOutcome::ServerFailure {
            rcode: rcode_name(*code),
        },
        NetError::Timeout => DnsOutcome::Timeout,
        other => DnsOutcome::Error {
            message: crate::sanitize::line(&other.to_string(), 200),
        },
    }
}

impl DnsProbe for HickoryDns {
    async fn lookup(&self, name: &str, family: Family) -> DnsLookup {
        // The time waited for a permit is ours, not the resolver's: the clock starts after it.
        let _permit = self.in_flight.acquire().await;
        let rtype = match family {
            Family::Ipv4 => RecordType::A,
            Family::Ipv6 => RecordType::AAAA,
        };
        let fqdn = format!("{name}.");
        let started = Instant::now();
        // hickory has its own per-try timeout; this outer one bounds retries and TCP fallback.
        let result =
            tokio::time::timeout(self.timeout, self.resolver.lookup(fqdn.as_str(), rtype)).await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let mut lookup = DnsLookup {
            outcome: DnsOutcome::Answer,
            addresses: Vec::new(),
            cname_chain: Vec::new(),
            ttl: None,
            elapsed_ms,
        };
        match result {
            Err(_) => lookup.outcome = DnsOutcome::Timeout,
            Ok(Err(e)) => lookup.outcome = outcome_of(&e),
            Ok(Ok(answer)) => {
                for record in answer.answers() {
                    if matches!(record.data, RData::A(_) | RData::AAAA(_)) {
                        lookup.ttl = Some(lookup.ttl.map_or(record.ttl, |t| t.min(record.ttl)));
                    }
                    match &record.data {
                        RData::A(a) if rtype == RecordType::A => lookup.addresses.push(a.0.into()),
                        RData::AAAA(a) if rtype == RecordType::AAAA => {
                            lookup.addresses.push(a.0.into());
                        }
                        RData::CNAME(target) => lookup.cname_chain.push(CnameHop {
                            name: name_text(&record.name),
                            target: name_text(&target.0),
                        }),
                        _ => {}
                    }
                }
                if lookup.addresses.is_empty() {
                    lookup.outcome = DnsOutcome::NoData;
                }
            }
        }
        lookup
    }

    fn describe(&self) -> Resolver {
        self.described.clone()
    }
}

impl super::dns_view::RawDns for HickoryDns {
    async fn query(
        &self,
        server: SocketAddr,
        name: &str,
        rtype: RecordType,
        ask: super::dns_raw::Ask,
    ) -> Result<super::dns_raw::RawAnswer, super::dns_raw::QueryError> {
        let _permit = self.in_flight.acquire().await;
        super::dns_raw::query(server, name, rtype, ask).await
    }
}
