//! The authoritative view: the zone's own nameservers asked one by one. The CA's resolver asks
//! one of them, at random; a local resolver may still hold an old answer.
//!
//! Codes: `nameservers-disagree`, `nameserver-unreachable`, `resolver-stale`.

use crate::diagnose::check::CheckDef;
use crate::diagnose::{Check, Code, Context, Finding, Severity, run_check};
use crate::facts::{DnsOutcome, Family, Method, NameserverFacts};
use std::collections::BTreeMap;
use std::net::SocketAddr;

pub const CHECK: CheckDef = CheckDef {
    name: "authoritative",
    codes: &[
        Code::NameserversDisagree,
        Code::NameserverUnreachable,
        Code::ResolverStale,
    ],
    methods: &[Method::Http01, Method::Dns01, Method::TlsAlpn01],
    run: |cx, out| run_check(&Authoritative, cx, out),
};

pub struct Authoritative;

#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// For `name rtype`, the answers per server differ.
    Disagree {
        name: String,
        rtype: String,
        answers: Vec<(String, SocketAddr, Vec<String>, Option<u32>)>,
    },
    Unreachable {
        server: String,
        address: SocketAddr,
        outcome: DnsOutcome,
        all: bool,
    },
    /// Every server says `truth`; the resolver says `resolver`, for `ttl` more seconds.
    Stale {
        name: String,
        rtype: String,
        truth: Vec<String>,
        resolver: Vec<String>,
        ttl: Option<u32>,
    },
}

fn answered(o: &DnsOutcome) -> bool {
    matches!(
        o,
        DnsOutcome::Answer | DnsOutcome::NoData | DnsOutcome::NxDomain
    )
}

/// What the resolver answered for `(name, rtype)`, when the facts hold it.
fn resolver_values(cx: &Context, name: &str, rtype: &str) -> Option<(Vec<String>, Option<u32>)> {
    if let Some(c) = cx.dns01() {
        let owner = c
            .txt
            .cname_chain
            .last()
            .map_or(c.challenge.as_str(), |h| h.target.as_str());
        if rtype == "TXT" && owner == name && answered(&c.txt.outcome) {
            let mut v = c.txt.records.clone();
            v.sort();
            return Some((v, None));
        }
        return None;
    }
    let family = match rtype {
        "A" => Family::Ipv4,
        "AAAA" => Family::Ipv6,
        _ => return None,
    };
    let lookup = cx.lookup(family)?;
    if name != cx.domain || !lookup.cname_chain.is_empty() || !answered(&lookup.outcome) {
        return None;
    }
    let mut v: Vec<String> = lookup.addresses.iter().map(ToString::to_string).collect();
    v.sort();
    Some((v, lookup.ttl))
}

impl Check for Authoritative {
    type Evidence = Found;

    fn detect(&self, cx: &Context) -> Vec<Found> {
        let Some(auth) = &cx.target.authoritative else {
            return Vec::new();
        };
        let mut found = Vec::new();
        let reachable: Vec<&NameserverFacts> = auth
            .servers
            .iter()
            .filter(|s| s.answers.iter().all(|a| answered(&a.outcome)))
            .collect();
        for s in auth.servers.iter().filter(|s| !reachable.contains(s)) {
            if let Some(a) = s.answers.iter().find(|a| !answered(&a.outcome)) {
                found.push(Found::Unreachable {
                    server: s.name.clone(),
                    address: s.address,
                    outcome: a.outcome.clone(),
                    all: reachable.is_empty(),
                });
            }
        }
        // Per question (name, type), each answering server's values and TTL.
        type PerServer<'a> = Vec<(&'a NameserverFacts, Vec<String>, Option<u32>)>;
        let mut questions: BTreeMap<(String, String), PerServer> = BTreeMap::new();
        for s in &reachable {
            for a in &s.answers {
                questions
                    .entry((a.name.clone(), a.rtype.clone()))
                    .or_default()
                    .push((s, a.values.clone(), a.ttl));
            }
        }
        for ((name, rtype), answers) in questions {
            let first = &answers[0].1;
            let agree = answers.iter().all(|(_, v, _)| v == first);
            // The TXT of dns-01 is judged per server by the dns-01 check (txt-not-propagated).
            let dns01_txt = rtype == "TXT" && cx.dns01().is_some();
            if !agree && !dns01_txt {
                found.push(Found::Disagree {
                    name: name.clone(),
                    rtype: rtype.clone(),
                    answers: answers
                        .iter()
                        .map(|(s, v, ttl)| (s.name.clone(), s.address, v.clone(), *ttl))
                        .collect(),
                });
            }
            if agree
                && let Some((resolver, ttl)) = resolver_values(cx, &name, &rtype)
                && &resolver != first
            {
                found.push(Found::Stale {
                    name,
                    rtype,
                    truth: first.clone(),
                    resolver,
                    ttl,
                });
            }
        }
        found
    }

    fn word(&self, cx: &Context, found: &Found) -> Finding {
        let list = |v: &[String]| {
            if v.is_empty() {
                "nothing".to_string()
            } else {
                v.join(", ")
            }
        };
        match found {
            Found::Disagree {
                name,
                rtype,
                answers,
            } => {
                let serials: BTreeMap<String, Option<u32>> = cx
                    .target
                    .authoritative
                    .iter()
                    .flat_map(|a| &a.servers)
                    .map(|s| (s.name.clone(), s.serial))
                    .collect();
                let mut f = Finding::new(
                    Code::NameserversDisagree,
                    Severity::Warning,
                    format!("the nameservers of {name} disagree on its {rtype} record: validation depends on which one the CA asks"),
                )
                .likely()
                .detail("The CA's resolver asks one authoritative server, not all; with servers out of sync, validation passes or fails by chance, and can fail from one perspective only.");
                for (server, address, values, ttl) in answers {
                    f = f.evidence(format!(
                        "{server} ({address}): {name} {rtype} {}{}{}",
                        list(values),
                        ttl.map(|t| format!(", TTL {t}")).unwrap_or_default(),
                        serials
                            .get(server)
                            .copied()
                            .flatten()
                            .map(|s| format!(", SOA serial {s}"))
                            .unwrap_or_default()
                    ));
                }
                f.fix("make the secondaries transfer the zone again (compare the SOA serials; check NOTIFY and AXFR/IXFR from the primary), or correct the record on the server that differs")
                    .fix(format!("check each: dig @SERVER {name} {rtype} +norecurse"))
            }
            Found::Unreachable {
                server,
                address,
                outcome,
                all,
            } => Finding::new(
                Code::NameserverUnreachable,
                // Only a warning even when none answers: this machine may simply not reach them
                // (no IPv6, DNS allowed to its own resolver only), while the resolver does.
                Severity::Warning,
                format!("the nameserver {server} ({address}) does not answer for {}", cx.domain),
            )
            .likely()
            .detail(if *all {
                "None of the zone's nameservers answered acme-doctor directly. If the resolver still answers for the name, this machine may not be allowed to reach them (a network that lets DNS out only through its own resolver, no IPv6 route); otherwise the zone is down for the CA too."
            } else {
                "The CA's resolver picks a nameserver at random and retries others after a timeout; a dead server slows every lookup and, with the CA's tight DNS timeouts, can fail validation."
            })
            .evidence(format!("{server} {address}: {}", outcome))
            .fix(format!("repair {server}, or remove it from the NS records at the zone and at the registrar (dig @{} {} SOA +norecurse)", address.ip(), cx.domain)),
            Found::Stale {
                name,
                rtype,
                truth,
                resolver,
                ttl,
            } => Finding::new(
                Code::ResolverStale,
                Severity::Warning,
                format!(
                    "the resolver {} still answers {name} {rtype} {}, but the nameservers say {}",
                    cx.target.target.resolver,
                    list(resolver),
                    list(truth)
                ),
            )
            .detail("A cached answer: what you test against here is not what the CA's resolvers fetch from the nameservers. ACME clients that check propagation through this resolver wait or fail for the wrong reason.")
            .evidence(format!("resolver {}: {name} {rtype} {}", cx.target.target.resolver, list(resolver)))
            .evidence(format!("every authoritative server: {name} {rtype} {}", list(truth)))
            .fix(match ttl {
                Some(t) => format!("it expires from the cache within {t} s (its TTL); or flush the resolver's cache"),
                None => "flush the resolver's cache, or wait for the record's TTL".to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::Scenario;

    #[test]
    fn servers_that_disagree_on_the_aaaa_are_found() {
        let s = Scenario::dual_stack().authoritative(&[
            (
                "ns1.example.test",
                "203.0.113.11",
                "AAAA",
                &["2001:db8::10"],
            ),
            (
                "ns2.example.test",
                "203.0.113.12",
                "AAAA",
                &["2001:db8::99"],
            ),
        ]);
        let found = Authoritative.detect(&s.context());
        assert!(matches!(&found[..], [Found::Disagree { rtype, .. }] if rtype == "AAAA"));
        let f = Authoritative.word(&s.context(), &found[0]);
        assert_eq!(f.code, Code::NameserversDisagree);
        assert_eq!(f.evidence.len(), 2);
    }

    #[test]
    fn a_resolver_answering_what_no_server_says_is_stale() {
        let s = Scenario::dual_stack().authoritative(&[
            ("ns1.example.test", "203.0.113.11", "A", &["192.0.2.20"]),
            ("ns2.example.test", "203.0.113.12", "A", &["192.0.2.20"]),
        ]);
        let found = Authoritative.detect(&s.context());
        assert!(matches!(&found[..], [Found::Stale { truth, resolver, .. }]
            if truth == &["192.0.2.20"] && resolver == &["192.0.2.10"]));
    }

    #[test]
    fn agreeing_servers_matching_the_resolver_find_nothing() {
        let s = Scenario::dual_stack().authoritative(&[
            ("ns1.example.test", "203.0.113.11", "A", &["192.0.2.10"]),
            ("ns2.example.test", "203.0.113.12", "A", &["192.0.2.10"]),
        ]);
        assert!(Authoritative.detect(&s.context()).is_empty());
    }
}
