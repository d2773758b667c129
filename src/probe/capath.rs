//! One HTTP-01 validation walked as Boulder walks it (`docs/ca-behaviour.md` §2.2–§2.7): the
//! first AAAA address, then the first A address only after a dial error; port 80; each
//! redirect judged by the CA's rules (`crate::redirect`), its host re-resolved IPv6 first
//! with reserved addresses dropped, and fetched where it really points (host and port).

use super::connects::Connects;
use super::{ConnectProbe, DnsProbe, HttpProbe};
use crate::facts::{
    CaPath, ConnectOutcome, DnsFacts, DnsOutcome, Family, HopOutcome, PathAttempt, PathHop,
};
use crate::{redirect, reserved};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use url::{Host, Url};

/// What the walk needs to know of the run.
pub struct Walk<'a> {
    pub domain: &'a str,
    /// The run's connects: the walk's dial outcome is the address's shared connect (a TCP
    /// handshake tells nothing new the second time); the GET after it still dials afresh.
    pub connects: &'a Connects,
    pub token: &'a str,
    pub dns: Option<&'a DnsFacts>,
    /// An IP identifier's address, dialled instead of DNS answers (`docs/ca-behaviour.md`
    /// §11.4).
    pub ip: Option<IpAddr>,
    pub allow_reserved: bool,
    pub timeout: Duration,
}

/// The first usable address of each family, IPv6 first, as the CA picks them.
fn candidates(v4: &[IpAddr], v6: &[IpAddr], allow_reserved: bool) -> Vec<IpAddr> {
    let usable = |ip: &&IpAddr| allow_reserved || reserved::classify(ip).is_none();
    v6.iter()
        .find(usable)
        .into_iter()
        .chain(v4.iter().find(usable))
        .copied()
        .collect()
}

/// `None` when the name has no usable address (the address checks report that).
pub async fn walk<D: DnsProbe, C: ConnectProbe, H: HttpProbe>(
    w: &Walk<'_>,
    dns: &D,
    tcp: &C,
    http: &H,
) -> Option<CaPath> {
    let first = match w.ip {
        // The identifier is the one candidate: no DNS, nothing to fall back to (§11.4).
        Some(ip) => super::connects::usable(&[ip], w.allow_reserved),
        None => {
            let dns_facts = w.dns?;
            candidates(
                &dns_facts.a.addresses,
                &dns_facts.aaaa.addresses,
                w.allow_reserved,
            )
        }
    };
    if first.is_empty() {
        return None;
    }
    let start_url = super::http::domain_url(
        w.domain,
        &format!("/.well-known/acme-challenge/{}", w.token),
    )
    .ok()?;
    let start = start_url.to_string();
    let mut attempts = Vec::new();
    for ip in first {
        let attempt = attempt(w, &start_url, ip, dns, tcp, http).await;
        let dial_failed = matches!(
            attempt.hops.last().map(|h| &h.outcome),
            Some(HopOutcome::Dial { .. })
        );
        attempts.push(attempt);
        // Only a dial error makes the CA try the next address (§2.2).
        if !dial_failed {
            break;
        }
    }
    let elapsed_ms = attempts
        .iter()
        .flat_map(|a| &a.hops)
        .map(|h| h.elapsed_ms)
        .sum();
    Some(CaPath {
        url: start,
        attempts,
        elapsed_ms,
    })
}

async fn attempt<D: DnsProbe, C: ConnectProbe, H: HttpProbe>(
    w: &Walk<'_>,
    start: &Url,
    first: IpAddr,
    dns: &D,
    tcp: &C,
    http: &H,
) -> PathAttempt {
    let mut hops = Vec::new();
    let mut visited = vec![start.to_string()];
    let mut url = start.clone();
    let mut ip = first;
    let mut followed = 0;
    loop {
        let port = url.port_or_known_default().unwrap_or(80);
        let addr = SocketAddr::new(ip, port);
        let hop = |outcome, elapsed_ms| PathHop {
            url: url.to_string(),
            address: Some(ip),
            family: Some(Family::of(&ip)),
            port,
            outcome,
            elapsed_ms,
        };
        let connect = w.connects.connect(tcp, addr, w.timeout).await;
        if connect.outcome != ConnectOutcome::Connected {
            hops.push(hop(
                HopOutcome::Dial {
                    connect: connect.outcome,
                },
                connect.elapsed_ms,
            ));
            break;
        }
        let started = std::time::Instant::now();
        let outcome = http.fetch(&url, addr, w.timeout).await;
        let elapsed = connect.elapsed_ms + started.elapsed().as_millis() as u64;
        let redirect = match &outcome {
            HopOutcome::Answer(a) if redirect::is_redirect(a.status) => {
                a.location.clone().map(|l| (a.status, l))
            }
            _ => None,
        };
        hops.push(hop(outcome, elapsed));
        let Some((status, location)) = redirect else {
            break;
        };
        let next = match redirect::judge(
            status,
            &url,
            &location,
            followed,
            &visited,
            w.allow_reserved,
        ) {
            Ok(next) => next,
            Err(refusal) => {
                // The CA names the target as resolved against the current URL.
                let shown = url
                    .join(location.trim())
                    .map_or_else(|_| location.clone(), |u| u.to_string());
                hops.push(PathHop {
                    url: shown,
                    address: None,
                    family: None,
                    port: 0,
                    outcome: HopOutcome::Refused { refusal },
                    elapsed_ms: 0,
                });
                break;
            }
        };
        followed += 1;
        visited.push(next.to_string());
        match resolve(w, &next, dns).await {
            Ok(next_ip) => ip = next_ip,
            Err((a, aaaa)) => {
                hops.push(PathHop {
                    url: next.to_string(),
                    address: None,
                    family: None,
                    port: next.port_or_known_default().unwrap_or(80),
                    outcome: HopOutcome::NoAddress { a, aaaa },
                    elapsed_ms: 0,
                });
                break;
            }
        }
        url = next;
    }
    PathAttempt { hops }
}

/// The address a redirect hop dials: an IP literal as is, else the first usable AAAA, else
/// the first usable A (§2.5 step 13). The validated name's own lookups are reused.
async fn resolve<D: DnsProbe>(
    w: &Walk<'_>,
    url: &Url,
    dns: &D,
) -> Result<IpAddr, (DnsOutcome, DnsOutcome)> {
    let host = match url.host() {
        Some(Host::Ipv4(ip)) => return Ok(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => return Ok(IpAddr::V6(ip)),
        Some(Host::Domain(h)) => h.trim_end_matches('.').to_ascii_lowercase(),
        None => return Err((DnsOutcome::NoData, DnsOutcome::NoData)),
    };
    let (a, aaaa) = match w.dns {
        Some(d) if host == w.domain => (d.a.clone(), d.aaaa.clone()),
        _ => tokio::join!(
            dns.lookup(&host, Family::Ipv4),
            dns.lookup(&host, Family::Ipv6)
        ),
    };
    candidates(&a.addresses, &aaaa.addresses, w.allow_reserved)
        .first()
        .copied()
        .ok_or((a.outcome, aaaa.outcome))
}
