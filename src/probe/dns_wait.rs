//! `--wait` (issue 20 item 3): re-ask every authoritative server of the challenge's zone, at
//! each of its addresses (A and AAAA), and the resolvers, until all of them serve the DNS-01
//! value or the deadline passes. The CA's resolver asks one of the zone's servers at random
//! (`docs/ca-behaviour.md` §4): the client must not tell the CA to validate before the last
//! one serves the value (certbot#8474).
//!
//! Politely: each address is asked at most once per [`Pace::interval`], with one query in
//! flight per address; an address that serves the value is not asked again. The queries go
//! through [`RawDns`]; [`readiness`] decides, purely, from the latest answer of each.

use super::dns_raw::{Ask, QueryError, Rr};
use super::dns_view::{self, RawDns, Where};
use crate::facts::DnsOutcome;
use futures_util::stream::{FuturesUnordered, StreamExt};
use hickory_resolver::proto::rr::RecordType;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Addresses asked at most (a zone with more is asked at its first ones, and says so).
pub const MAX_ADDRESSES: usize = 32;

/// How long and how often.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub deadline: Duration,
    /// Between two questions to one address.
    pub interval: Duration,
    /// For one answer.
    pub timeout: Duration,
}

/// Who is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// An authoritative server, by its NS name, asked without recursion.
    Nameserver(String),
    /// A recursive resolver (the system's or `--resolver`).
    Resolver,
}

/// One address asked, and the latest thing heard from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Asked {
    pub who: Who,
    pub address: SocketAddr,
    /// `None` until the first answer (or its timeout).
    pub heard: Option<Heard>,
}

/// What one address said last.
#[derive(Debug, Clone, PartialEq)]
pub enum Heard {
    /// TXT values (strings joined, sanitised); empty: NOERROR without a TXT.
    Values(Vec<String>),
    /// No values: NXDOMAIN, a timeout, a refusal, an error.
    Nothing(DnsOutcome),
    /// This host has no route to the address's family (an IPv6 server from an IPv4-only
    /// host): it cannot be asked from here, which says nothing about the server.
    NoRoute(String),
}

impl Heard {
    pub fn serves(&self, expected: &str) -> bool {
        matches!(self, Heard::Values(v) if v.iter().any(|r| r == expected))
    }
}

impl std::fmt::Display for Heard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Heard::Values(v) if v.is_empty() => f.write_str("no TXT record (NOERROR)"),
            Heard::Values(v) => {
                let quoted: Vec<String> = v.iter().take(4).map(|r| format!("{r:?}")).collect();
                write!(f, "TXT {}", quoted.join(", "))?;
                if v.len() > 4 {
                    write!(f, " and {} more", v.len() - 4)?;
                }
                Ok(())
            }
            Heard::Nothing(outcome) => write!(f, "{outcome}"),
            Heard::NoRoute(why) => write!(f, "not asked: no route from this host ({why})"),
        }
    }
}

/// What [`readiness`] concluded.
#[derive(Debug, Clone, PartialEq)]
pub enum Readiness {
    /// Every authoritative address that can be asked from here, at least one, and every
    /// resolver serve the value.
    Ready,
    /// These (indices into the asked list) do not serve it yet.
    Waiting { lagging: Vec<usize> },
}

/// Pure: whether the latest answers of `asked` all serve `expected`. An address this host has
/// no route to does not hold the wait up (it is named in the result); an address not heard
/// from yet, or silent, does.
pub fn readiness(expected: &str, asked: &[Asked]) -> Readiness {
    let lagging: Vec<usize> = asked
        .iter()
        .enumerate()
        .filter(|(_, a)| match &a.heard {
            Some(Heard::NoRoute(_)) => a.who == Who::Resolver,
            Some(h) => !h.serves(expected),
            None => true,
        })
        .map(|(i, _)| i)
        .collect();
    let confirmed = asked.iter().any(|a| {
        matches!(a.who, Who::Nameserver(_)) && a.heard.as_ref().is_some_and(|h| h.serves(expected))
    });
    if lagging.is_empty() && confirmed {
        Readiness::Ready
    } else {
        Readiness::Waiting { lagging }
    }
}

/// The end of a wait.
#[derive(Debug, Clone, PartialEq)]
pub struct Waited {
    pub ready: bool,
    /// The TXT owner asked (the end of `_acme-challenge`'s CNAME chain).
    pub owner: String,
    /// The zone whose servers were asked, when found.
    pub zone: Option<String>,
    /// Why the servers could not be found (then nothing is ready).
    pub problem: Option<String>,
    pub asked: Vec<Asked>,
    pub elapsed: Duration,
}

/// What is waited for: `expected` at `challenge` (or where its CNAME leads), on every
/// authoritative address and on each of `resolvers`.
#[derive(Debug, Clone, Copy)]
pub struct Question<'a> {
    pub challenge: &'a str,
    pub expected: &'a str,
    pub resolvers: &'a [SocketAddr],
}

/// Finds the servers of the challenge's zone (following its CNAME, as the CA does), then asks
/// them and the resolvers until [`readiness`] says ready or `pace.deadline` passes.
/// `progress` is called after every answer. `routable` tells whether this host has a route
/// to an address (a connected UDP socket sends nothing).
pub async fn wait<D: RawDns>(
    dns: &D,
    at: &Where,
    question: Question<'_>,
    pace: Pace,
    routable: &dyn Fn(SocketAddr) -> Result<(), String>,
    progress: &mut dyn FnMut(&[Asked], Duration),
) -> Waited {
    let Question {
        challenge,
        expected,
        resolvers,
    } = question;
    let started = Instant::now();
    let deadline = tokio::time::sleep(pace.deadline);
    tokio::pin!(deadline);
    // The zone's servers, asked again each interval while the resolver cannot name them (a
    // transient failure must not end a wait that has minutes left).
    let last_problem: std::cell::RefCell<Option<String>> = std::cell::RefCell::new(None);
    let discovered =
        async {
            loop {
                let found = dns_view::txt(dns, at, challenge).await;
                let owner = found
                    .cname_chain
                    .last()
                    .map_or_else(|| challenge.to_string(), |hop| hop.target.clone());
                let servers = dns_view::authoritative(dns, at, &owner, &[]).await;
                if !servers.servers.is_empty() {
                    return (owner, servers);
                }
                *last_problem.borrow_mut() =
                    Some(servers.problem.clone().unwrap_or_else(|| {
                        format!("no address found for the nameservers of {owner}")
                    }));
                progress(&[], started.elapsed());
                tokio::time::sleep(pace.interval).await;
            }
        };
    let (owner, servers) = tokio::select! {
        found = discovered => found,
        () = &mut deadline => {
            return Waited {
                ready: false,
                owner: challenge.to_string(),
                zone: None,
                problem: Some(match last_problem.borrow().as_deref() {
                    Some(why) => format!("the zone's nameservers could not be found: {why}"),
                    None => "the zone's nameservers could not be found before the deadline".into(),
                }),
                asked: Vec::new(),
                elapsed: started.elapsed(),
            };
        }
    };
    let mut asked: Vec<Asked> = servers
        .servers
        .iter()
        .take(MAX_ADDRESSES)
        .map(|s| Asked {
            who: Who::Nameserver(s.name.clone()),
            address: s.address,
            heard: None,
        })
        .chain(resolvers.iter().map(|r| Asked {
            who: Who::Resolver,
            address: *r,
            heard: None,
        }))
        .collect();
    let mut waited = Waited {
        ready: false,
        owner: owner.clone(),
        zone: servers.zone.clone(),
        problem: servers.problem.clone(),
        asked: Vec::new(),
        elapsed: Duration::ZERO,
    };
    for a in &mut asked {
        if let Err(why) = routable(a.address) {
            a.heard = Some(Heard::NoRoute(why));
        }
    }
    let ask_one = |index: usize, address: SocketAddr, recursion: bool, after: Duration| {
        let owner = owner.clone();
        async move {
            tokio::time::sleep(after).await;
            let asked_at = Instant::now();
            let ask = Ask {
                recursion,
                checking_disabled: false,
                dnssec_ok: false,
                timeout: pace.timeout,
            };
            let answer = dns.query(address, &owner, RecordType::TXT, ask).await;
            (index, heard(&answer, &owner), asked_at.elapsed())
        }
    };
    let mut pending = FuturesUnordered::new();
    for (i, a) in asked.iter().enumerate() {
        if a.heard.is_none() {
            pending.push(ask_one(
                i,
                a.address,
                a.who == Who::Resolver,
                Duration::ZERO,
            ));
        }
    }
    loop {
        tokio::select! {
            next = pending.next() => {
                let Some((i, said, took)) = next else { break };
                let serves = said.serves(expected);
                asked[i].heard = Some(said);
                progress(&asked, started.elapsed());
                if readiness(expected, &asked) == Readiness::Ready {
                    waited.ready = true;
                    break;
                }
                // Asked again one interval after the last question, never sooner.
                if !serves {
                    let address = asked[i].address;
                    let recursion = asked[i].who == Who::Resolver;
                    pending.push(ask_one(i, address, recursion, pace.interval.saturating_sub(took)));
                }
            }
            () = &mut deadline => break,
        }
    }
    waited.asked = asked;
    waited.elapsed = started.elapsed();
    waited
}

/// One answer as [`Heard`]: the TXT values owned by `owner`.
fn heard(answer: &Result<super::dns_raw::RawAnswer, QueryError>, owner: &str) -> Heard {
    let owner = owner.trim_end_matches('.').to_ascii_lowercase();
    match answer {
        Err(QueryError::Timeout) => Heard::Nothing(DnsOutcome::Timeout),
        Err(e) => Heard::Nothing(DnsOutcome::Error {
            message: crate::sanitize::line(&e.to_string(), 200),
        }),
        Ok(a) => {
            let values: Vec<String> = a
                .answers
                .iter()
                .filter(|r| r.name == owner)
                .filter_map(|r| match &r.rr {
                    Rr::Txt(strings) => Some(crate::sanitize::line(&strings.concat(), 512)),
                    _ => None,
                })
                .collect();
            match a.rcode {
                crate::facts::Rcode::NOERROR => Heard::Values(values),
                crate::facts::Rcode::NXDOMAIN => Heard::Nothing(DnsOutcome::NxDomain),
                crate::facts::Rcode::REFUSED => Heard::Nothing(DnsOutcome::Refused),
                rcode => Heard::Nothing(DnsOutcome::ServerFailure { rcode }),
            }
        }
    }
}

/// Whether this host has a route to `address`: connecting a UDP socket consults the routing
/// table and sends nothing.
pub fn routable(address: SocketAddr) -> Result<(), String> {
    let local: SocketAddr = if address.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let socket = std::net::UdpSocket::bind(local).map_err(|e| e.to_string())?;
    socket.connect(address).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(name: &str, address: &str, heard: Option<Heard>) -> Asked {
        Asked {
            who: Who::Nameserver(name.into()),
            address: address.parse().unwrap(),
            heard,
        }
    }

    fn resolver(heard: Option<Heard>) -> Asked {
        Asked {
            who: Who::Resolver,
            address: "203.0.113.53:53".parse().unwrap(),
            heard,
        }
    }

    fn value(v: &str) -> Option<Heard> {
        Some(Heard::Values(vec!["old".into(), v.into()]))
    }

    #[test]
    fn ready_when_every_address_of_both_families_and_the_resolver_serve_the_value() {
        let asked = [
            ns("ns1.example.test", "203.0.113.11:53", value("v")),
            ns("ns1.example.test", "[2001:db8:53::11]:53", value("v")),
            ns("ns2.example.test", "203.0.113.12:53", value("v")),
            ns("ns2.example.test", "[2001:db8:53::12]:53", value("v")),
            resolver(value("v")),
        ];
        assert_eq!(readiness("v", &asked), Readiness::Ready);
    }

    #[test]
    fn one_address_of_one_family_behind_holds_the_wait() {
        let mut asked = vec![
            ns("ns1.example.test", "203.0.113.11:53", value("v")),
            ns("ns2.example.test", "203.0.113.12:53", value("v")),
            ns(
                "ns2.example.test",
                "[2001:db8:53::12]:53",
                Some(Heard::Nothing(DnsOutcome::NxDomain)),
            ),
            resolver(value("v")),
        ];
        assert_eq!(
            readiness("v", &asked),
            Readiness::Waiting { lagging: vec![2] }
        );
        // An old value alone, silence, and no answer yet hold it too.
        for h in [
            Some(Heard::Values(vec!["old".into()])),
            Some(Heard::Values(vec![])),
            Some(Heard::Nothing(DnsOutcome::Timeout)),
            None,
        ] {
            asked[2].heard = h;
            assert_eq!(
                readiness("v", &asked),
                Readiness::Waiting { lagging: vec![2] }
            );
        }
    }

    #[test]
    fn a_resolver_that_disagrees_holds_the_wait() {
        let asked = [
            ns("ns1.example.test", "203.0.113.11:53", value("v")),
            resolver(Some(Heard::Nothing(DnsOutcome::NxDomain))),
        ];
        assert_eq!(
            readiness("v", &asked),
            Readiness::Waiting { lagging: vec![1] }
        );
    }

    #[test]
    fn an_address_without_a_route_from_here_does_not_hold_it_but_nothing_is_not_ready() {
        let no_route = Some(Heard::NoRoute("Network is unreachable".into()));
        let asked = [
            ns("ns1.example.test", "203.0.113.11:53", value("v")),
            ns("ns1.example.test", "[2001:db8:53::11]:53", no_route.clone()),
        ];
        assert_eq!(readiness("v", &asked), Readiness::Ready);
        let asked = [ns(
            "ns1.example.test",
            "[2001:db8:53::11]:53",
            no_route.clone(),
        )];
        assert_eq!(
            readiness("v", &asked),
            Readiness::Waiting { lagging: vec![] }
        );
        assert_eq!(readiness("v", &[]), Readiness::Waiting { lagging: vec![] });
        // A resolver that cannot be asked is no agreement.
        let asked = [
            ns("ns1.example.test", "203.0.113.11:53", value("v")),
            resolver(no_route),
        ];
        assert_eq!(
            readiness("v", &asked),
            Readiness::Waiting { lagging: vec![1] }
        );
    }

    /// A zone whose second server serves the value from its `late`-th question on, and
    /// counts the questions each address gets.
    struct LateSecondary {
        late: usize,
        asked: std::sync::Mutex<std::collections::HashMap<SocketAddr, usize>>,
    }

    const NS1: &str = "203.0.113.11:53";
    const NS2_6: &str = "[2001:db8:53::12]:53";
    const RESOLVER: &str = "203.0.113.53:53";
    const OWNER: &str = "_acme-challenge.example.test";

    fn record(name: &str, rr: Rr) -> super::super::dns_raw::RawRecord {
        super::super::dns_raw::RawRecord {
            name: name.into(),
            ttl: 60,
            rr,
        }
    }

    impl RawDns for LateSecondary {
        async fn query(
            &self,
            server: SocketAddr,
            name: &str,
            rtype: RecordType,
            _ask: Ask,
        ) -> Result<super::super::dns_raw::RawAnswer, QueryError> {
            let mut answer = super::super::dns_raw::RawAnswer {
                rcode: crate::facts::Rcode::NOERROR,
                authoritative: true,
                answers: Vec::new(),
                authority: Vec::new(),
                additional: Vec::new(),
                ede: None,
            };
            let txt = || record(OWNER, Rr::Txt(vec!["v".into()]));
            match (name, rtype) {
                (_, RecordType::SOA) => answer
                    .authority
                    .push(record("example.test", Rr::Soa { serial: 1 })),
                ("example.test", RecordType::NS) => {
                    answer
                        .answers
                        .push(record("example.test", Rr::Ns("ns1.example.test".into())));
                    answer
                        .answers
                        .push(record("example.test", Rr::Ns("ns2.example.test".into())));
                }
                ("ns1.example.test", RecordType::A) => answer
                    .answers
                    .push(record(name, Rr::A(NS1.parse::<SocketAddr>().unwrap().ip()))),
                ("ns2.example.test", RecordType::AAAA) => answer.answers.push(record(
                    name,
                    Rr::Aaaa(NS2_6.parse::<SocketAddr>().unwrap().ip()),
                )),
                (OWNER, RecordType::TXT) => {
                    let mut asked = self.asked.lock().unwrap();
                    let n = asked.entry(server).or_insert(0);
                    *n += 1;
                    if server.to_string() != NS2_6 || *n >= self.late {
                        answer.answers.push(txt());
                    } else {
                        answer.rcode = crate::facts::Rcode::NXDOMAIN;
                    }
                }
                _ => {}
            }
            Ok(answer)
        }
    }

    fn run_wait(dns: &LateSecondary, deadline: Duration) -> (Waited, usize) {
        let at = Where {
            resolver: RESOLVER.parse().unwrap(),
            authoritative_port: 53,
            timeout: Duration::from_secs(1),
        };
        let resolvers = [at.resolver];
        let pace = Pace {
            deadline,
            interval: Duration::from_millis(50),
            timeout: Duration::from_secs(1),
        };
        let mut calls = 0;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let waited = runtime.block_on(wait(
            dns,
            &at,
            Question {
                challenge: OWNER,
                expected: "v",
                resolvers: &resolvers,
            },
            pace,
            &|_| Ok(()),
            &mut |_, _| calls += 1,
        ));
        (waited, calls)
    }

    #[test]
    fn the_wait_asks_each_lagging_address_once_per_interval_until_it_serves() {
        let dns = LateSecondary {
            late: 5,
            asked: Default::default(),
        };
        let (waited, _) = run_wait(&dns, Duration::from_secs(20));
        assert!(waited.ready, "{waited:?}");
        let asked = dns.asked.lock().unwrap();
        // ns2 at its IPv6 address: four NXDOMAINs, then the value; the others once each
        // (asked again only while they lack it).
        assert_eq!(asked[&NS2_6.parse().unwrap()], 5);
        assert_eq!(asked[&NS1.parse().unwrap()], 1);
        // Four intervals of 50 ms.
        assert!(
            waited.elapsed >= Duration::from_millis(200) && waited.elapsed < Duration::from_secs(2),
            "{:?}",
            waited.elapsed
        );
        assert_eq!(waited.asked.len(), 3, "ns1's A, ns2's AAAA, the resolver");
    }

    #[test]
    fn the_wait_ends_at_the_deadline_with_the_lagging_address_named() {
        let dns = LateSecondary {
            late: usize::MAX,
            asked: Default::default(),
        };
        let (waited, _) = run_wait(&dns, Duration::from_millis(300));
        assert!(!waited.ready);
        assert_eq!(
            readiness("v", &waited.asked),
            Readiness::Waiting { lagging: vec![1] }
        );
        assert_eq!(waited.asked[1].address, NS2_6.parse().unwrap());
        assert_eq!(
            waited.asked[1].heard,
            Some(Heard::Nothing(DnsOutcome::NxDomain))
        );
        // Polite: no more than one question per interval over the deadline (and the first).
        let asked = dns.asked.lock().unwrap();
        assert!(asked[&NS2_6.parse().unwrap()] <= 7, "{asked:?}");
    }

    #[test]
    fn the_value_is_compared_exactly() {
        let asked = [ns(
            "ns1.example.test",
            "203.0.113.11:53",
            Some(Heard::Values(vec![" v".into(), "\"v\"".into()])),
        )];
        assert_eq!(
            readiness("v", &asked),
            Readiness::Waiting { lagging: vec![0] }
        );
    }
}
