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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Answered, ConnectFact, DnsLookup, HttpFact, HttpOutcome, Resolver};
    use std::sync::Mutex;

    /// Every name resolves to 192.0.2.80 and the lookups are recorded; every connect is
    /// refused on `dead`, accepted elsewhere; every fetch answers what `answer` says for its
    /// URL and records the URL.
    struct Scripted {
        dead: Option<IpAddr>,
        answer: fn(&str) -> Answered,
        looked_up: Mutex<Vec<String>>,
        fetched: Mutex<Vec<(String, SocketAddr)>>,
    }

    fn answered(status: u16, location: Option<&str>) -> Answered {
        Answered {
            status,
            server: None,
            location: location.map(str::to_string),
            www_authenticate: None,
            marks: Vec::new(),
            title: None,
            body_head_hex: String::new(),
            body_prefix: String::new(),
            body_bytes: 0,
            body_sha256: String::new(),
        }
    }

    impl Scripted {
        fn new(dead: Option<&str>, answer: fn(&str) -> Answered) -> Scripted {
            Scripted {
                dead: dead.map(|d| d.parse().unwrap()),
                answer,
                looked_up: Mutex::new(Vec::new()),
                fetched: Mutex::new(Vec::new()),
            }
        }
    }

    impl DnsProbe for Scripted {
        async fn lookup(&self, name: &str, family: Family) -> DnsLookup {
            self.looked_up.lock().unwrap().push(name.to_string());
            let addresses: Vec<IpAddr> = match family {
                Family::Ipv4 => vec!["192.0.2.80".parse().unwrap()],
                Family::Ipv6 => Vec::new(),
            };
            DnsLookup {
                outcome: if addresses.is_empty() {
                    DnsOutcome::NoData
                } else {
                    DnsOutcome::Answer
                },
                addresses,
                cname_chain: Vec::new(),
                ttl: None,
                elapsed_ms: 0,
                queued_ms: 0,
                own_limit: false,
            }
        }

        fn describe(&self) -> Resolver {
            Resolver::System { servers: vec![] }
        }
    }

    impl ConnectProbe for Scripted {
        async fn connect(&self, addr: SocketAddr, _timeout: Duration) -> ConnectFact {
            ConnectFact {
                address: addr.ip(),
                port: addr.port(),
                outcome: if Some(addr.ip()) == self.dead {
                    ConnectOutcome::Refused
                } else {
                    ConnectOutcome::Connected
                },
                elapsed_ms: 0,
            }
        }
    }

    impl HttpProbe for Scripted {
        async fn get(
            &self,
            _: &str,
            addr: SocketAddr,
            path: &str,
            _: Duration,
            agent: crate::facts::Agent,
        ) -> HttpFact {
            HttpFact {
                address: addr.ip(),
                port: addr.port(),
                url: path.to_string(),
                outcome: HttpOutcome::Timeout,
                elapsed_ms: 0,
                agent,
            }
        }

        async fn fetch(&self, url: &Url, addr: SocketAddr, _: Duration) -> HopOutcome {
            self.fetched.lock().unwrap().push((url.to_string(), addr));
            HopOutcome::Answer(Box::new((self.answer)(url.as_str())))
        }
    }

    async fn walk_ip(ip: &str, probe: &Scripted, allow_reserved: bool) -> Option<CaPath> {
        let connects = Connects::default();
        let w = Walk {
            domain: ip,
            connects: &connects,
            token: "tok",
            dns: None,
            ip: Some(ip.parse().unwrap()),
            allow_reserved,
            timeout: Duration::from_secs(1),
        };
        walk(&w, probe, probe, probe).await
    }

    #[tokio::test]
    async fn an_ip_identifier_is_the_one_candidate_with_no_fallback() {
        let probe = Scripted::new(Some("2001:db8::1"), |_| answered(200, None));
        let path = walk_ip("2001:db8::1", &probe, true).await.expect("a walk");
        assert_eq!(
            path.url,
            "http://[2001:db8::1]/.well-known/acme-challenge/tok"
        );
        // Refused, and nothing else tried: an IP identifier has no other address.
        assert_eq!(path.attempts.len(), 1);
        assert!(matches!(
            path.attempts[0].hops[0].outcome,
            HopOutcome::Dial { .. }
        ));
        assert!(probe.looked_up.lock().unwrap().is_empty(), "DNS was asked");
        // Without --allow-reserved a reserved identifier is walked nowhere.
        assert_eq!(walk_ip("2001:db8::1", &probe, false).await, None);
    }

    #[tokio::test]
    async fn a_redirect_from_an_ip_identifier_follows_the_cas_rules() {
        // To a host name: resolved (the one DNS question of the walk), then fetched there.
        let probe = Scripted::new(None, |url| {
            if url.starts_with("http://203.0.113.5/") {
                answered(302, Some("http://www.example.com/next"))
            } else {
                answered(200, None)
            }
        });
        let path = walk_ip("203.0.113.5", &probe, true).await.expect("a walk");
        let hops = &path.attempts[0].hops;
        assert_eq!(hops.len(), 2, "{hops:?}");
        assert_eq!(hops[1].url, "http://www.example.com/next");
        assert_eq!(hops[1].address, Some("192.0.2.80".parse().unwrap()));
        assert_eq!(*probe.looked_up.lock().unwrap(), ["www.example.com"; 2]);
        // To a reserved IP literal (here counted as reserved): refused by §2.5 step 9.
        let probe = Scripted::new(None, |_| answered(301, Some("http://10.0.0.1/")));
        let path = walk_ip("203.0.113.5", &probe, false).await;
        // 203.0.113.5 is itself reserved without --allow-reserved: nothing walked.
        assert_eq!(path, None);
        let probe = Scripted::new(None, |url| {
            if url.starts_with("http://9.9.9.9/") {
                answered(301, Some("http://10.0.0.1/"))
            } else {
                answered(200, None)
            }
        });
        let path = walk_ip("9.9.9.9", &probe, false).await.expect("a walk");
        let last = path.attempts[0].hops.last().unwrap();
        assert!(
            matches!(
                &last.outcome,
                HopOutcome::Refused {
                    refusal: redirect::Refusal::ReservedIp { .. }
                }
            ),
            "{last:?}"
        );
        // The public identifier itself was dialled: the test's probes dial nothing real.
        assert_eq!(
            probe.fetched.lock().unwrap()[0].1,
            "9.9.9.9:80".parse::<SocketAddr>().unwrap()
        );
    }
}
