//! Addresses: what the CA's address resolution (`docs/ca-behaviour.md` §2.1) makes of the A
//! and AAAA answers. Shared by every method that connects to the name.
//!
//! Codes: `dns-nxdomain`, `dns-servfail`, `dns-no-answer`, `no-address-records`,
//! `reserved-address`.

use crate::diagnose::check::CheckDef;
use crate::diagnose::context::duration;
use crate::diagnose::{Check, Code, Context, Finding, Severity, ca, run_check};
use crate::diagnose::{Incomplete, IncompleteKind};
use crate::facts::{DnsLookup, DnsOutcome, Family, Method};
use crate::reserved::Reserved;
use std::net::IpAddr;

pub const CHECK: CheckDef = CheckDef {
    name: "addresses",
    codes: &[
        Code::DnsNxdomain,
        Code::DnsServfail,
        Code::DnsNoAnswer,
        Code::NoAddressRecords,
        Code::ReservedAddress,
    ],
    methods: &[Method::Http01, Method::TlsAlpn01],
    run: |cx, out| run_check(&Addresses, cx, out),
};

const FAMILIES: [Family; 2] = [Family::Ipv4, Family::Ipv6];

pub struct Addresses;

/// Why the resolver gave no answer at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Silence {
    Refused,
    /// `queued_ms`: the lookup first waited that long for a slot under acme-doctor's own cap
    /// on queries in flight, so the silence may be the tool's own load.
    Timeout {
        after_ms: u64,
        queued_ms: u64,
    },
    /// `own_limit`: acme-doctor was out of file descriptors, the query never left.
    Error {
        message: String,
        own_limit: bool,
    },
}

impl Silence {
    fn of(lookup: &DnsLookup) -> Option<Silence> {
        let (outcome, elapsed_ms, queued_ms) =
            (&lookup.outcome, lookup.elapsed_ms, lookup.queued_ms);
        match outcome {
            DnsOutcome::Refused => Some(Silence::Refused),
            DnsOutcome::Timeout => Some(Silence::Timeout {
                after_ms: elapsed_ms,
                queued_ms,
            }),
            DnsOutcome::Error { message } => Some(Silence::Error {
                message: message.clone(),
                own_limit: lookup.own_limit,
            }),
            _ => None,
        }
    }

    /// The silence may be acme-doctor's own doing: a wait in its own queue came first, or it
    /// had no file descriptor to ask with.
    fn may_be_own_load(&self) -> bool {
        match self {
            Silence::Timeout { queued_ms, .. } => *queued_ms > 0,
            Silence::Error { own_limit, .. } => *own_limit,
            Silence::Refused => false,
        }
    }

    fn text(&self) -> String {
        match self {
            Silence::Refused => "refused the query".into(),
            Silence::Timeout {
                after_ms,
                queued_ms: 0,
            } => {
                format!("did not answer within {}", duration(*after_ms))
            }
            Silence::Timeout {
                after_ms,
                queued_ms,
            } => format!(
                "did not answer within {}, after the query waited {} in acme-doctor's own queue",
                duration(*after_ms),
                duration(*queued_ms)
            ),
            Silence::Error {
                message,
                own_limit: true,
            } => format!("could not be asked: acme-doctor is out of file descriptors ({message})"),
            Silence::Error { message, .. } => format!("could not be asked: {message}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// `fatal`: no family is left with a usable address, so the CA fails with a `dns` problem;
    /// otherwise it proceeds with the other family (`docs/ca-behaviour.md` §2.1).
    NxDomain {
        families: Vec<(Family, u64)>,
        fatal: bool,
    },
    ServerFailure {
        family: Family,
        rcode: crate::facts::Rcode,
        fatal: bool,
    },
    NoAnswer {
        silent: Vec<(Family, Silence)>,
    },
    NoAddressRecords,
    Reserved {
        hits: Vec<(IpAddr, &'static Reserved)>,
        fatal: bool,
    },
    /// An IP identifier in a reserved block, without `--allow-reserved`: the CA refuses the
    /// order (`docs/ca-behaviour.md` §11.7). The command line refuses it before probing; a
    /// facts file can still hold one.
    ReservedIdentifier(IpAddr, &'static Reserved),
}

impl Check for Addresses {
    type Evidence = Found;

    fn detect(&self, cx: &Context) -> Vec<Found> {
        if cx.target.target.domain.ip.is_some() {
            // No DNS for an IP identifier, whatever a facts file holds (§11.3).
            return cx
                .reserved
                .iter()
                .map(|(ip, entry)| Found::ReservedIdentifier(*ip, entry))
                .collect();
        }
        let Some(dns) = &cx.target.dns else {
            return Vec::new();
        };
        let fatal = !cx.has_usable();
        let mut found = Vec::new();
        let nx: Vec<(Family, u64)> = FAMILIES
            .into_iter()
            .filter(|f| dns.lookup(*f).outcome == DnsOutcome::NxDomain)
            .map(|f| (f, dns.lookup(f).elapsed_ms))
            .collect();
        if !nx.is_empty() {
            found.push(Found::NxDomain {
                families: nx,
                fatal,
            });
        }
        for family in FAMILIES {
            if let DnsOutcome::ServerFailure { rcode } = &dns.lookup(family).outcome {
                found.push(Found::ServerFailure {
                    family,
                    rcode: *rcode,
                    fatal,
                });
            }
        }
        let silent: Vec<(Family, Silence)> = FAMILIES
            .into_iter()
            .filter_map(|f| {
                let l = dns.lookup(f);
                Silence::of(l).map(|s| (f, s))
            })
            .collect();
        if !silent.is_empty() {
            found.push(Found::NoAnswer { silent });
        }
        let nodata_everywhere = FAMILIES.into_iter().all(|f| {
            let l = dns.lookup(f);
            matches!(l.outcome, DnsOutcome::NoData | DnsOutcome::Answer) && l.addresses.is_empty()
        });
        if nodata_everywhere {
            found.push(Found::NoAddressRecords);
        }
        if !cx.reserved.is_empty() {
            found.push(Found::Reserved {
                hits: cx.reserved.clone(),
                fatal,
            });
        }
        found
    }

    fn incomplete(&self, cx: &Context, found: &Found) -> Option<Incomplete> {
        match found {
            Found::NoAnswer { silent } => Some(Incomplete::new(
                // No query left at all (out of file descriptors): acme-doctor's own limit,
                // not the resolver's silence.
                if silent.iter().all(|(_, s)| {
                    matches!(
                        s,
                        Silence::Error {
                            own_limit: true,
                            ..
                        }
                    )
                }) {
                    IncompleteKind::OwnLimit
                } else {
                    IncompleteKind::ResolverSilent
                },
                format!(
                    "no DNS answer for {} {}{}",
                    types(silent.iter().map(|(f, _)| *f)),
                    cx.domain,
                    if silent.iter().any(|(_, s)| s.may_be_own_load()) {
                        " (acme-doctor's own load may have caused it: its queue of queries or its file descriptors; check fewer names at once: --jobs)"
                    } else {
                        ""
                    }
                ),
            )),
            _ => None,
        }
    }

    fn word(&self, cx: &Context, found: &Found) -> Finding {
        let resolver = &cx.target.target.resolver;
        match found {
            Found::NxDomain { families, fatal } => {
                let types = types(families.iter().map(|(f, _)| *f));
                let mut finding = Finding::new(
                    Code::DnsNxdomain,
                    severity(*fatal),
                    format!("{} does not exist in DNS (NXDOMAIN for {types})", cx.domain),
                )
                .detail("The resolver says the name does not exist. The CA cannot find an address to connect to.")
                .fix(format!("check the spelling, then publish an A (and, if the host has IPv6, an AAAA) record for {}", cx.domain))
                .fix(format!("dig +trace {} A   # shows where the delegation breaks", cx.domain));
                for (family, elapsed) in families {
                    finding = finding.evidence(format!(
                        "{} {} -> NXDOMAIN ({} via {resolver})",
                        cx.domain,
                        family.record_type(),
                        duration(*elapsed),
                    ));
                }
                with_ca(cx, finding, *fatal)
            }
            Found::ServerFailure {
                family,
                rcode,
                fatal,
            } => {
                let rtype = family.record_type();
                let finding = Finding::new(
                    Code::DnsServfail,
                    severity(*fatal),
                    format!("the {rtype} lookup for {} fails with {rcode}", cx.domain),
                )
                .family(*family)
                .detail(if *fatal {
                    "The domain's nameservers (or its DNSSEC) are broken; the CA's resolvers will fail the same way.".to_string()
                } else {
                    format!("The CA ignores a failing {rtype} lookup while the other family resolves, but a broken nameserver is fragile.")
                })
                .evidence(format!("{} {rtype} -> {rcode} via {resolver}", cx.domain))
                .fix(format!("dig +trace {} {rtype}   # find the nameserver that fails", cx.domain))
                .fix(format!("dig +cd {} {rtype}   # answers with +cd but not without: DNSSEC is broken", cx.domain));
                with_ca(cx, finding, *fatal)
            }
            Found::NoAnswer { silent } => {
                let types = types(silent.iter().map(|(f, _)| *f));
                let why = silent.first().map(|(_, s)| s.text()).unwrap_or_default();
                let dig_at = resolver
                    .first_ip()
                    .map_or_else(|| "RESOLVER".to_string(), |ip| ip.to_string());
                // The tool's own load may have caused a silence after a wait in its own queue
                // (a batch of many names): that is no fault of the resolver's to warn about.
                let own_load = silent.iter().all(|(_, s)| s.may_be_own_load());
                let mut finding = Finding::new(
                    Code::DnsNoAnswer,
                    if own_load {
                        Severity::Info
                    } else {
                        Severity::Warning
                    },
                    format!("the resolver {resolver} {why} ({types} {})", cx.domain),
                )
                .detail(
                    "Without this answer acme-doctor cannot tell which addresses the CA will use.",
                )
                .fix(format!("check the resolver: dig @{dig_at} {} A", cx.domain))
                .fix("or ask another resolver with --resolver IP[:PORT]")
                .fix(format!(
                    "dig +trace {} A   # are the domain's own nameservers reachable?",
                    cx.domain
                ));
                if let [(family, _)] = silent.as_slice() {
                    finding = finding.family(*family);
                }
                for (family, silence) in silent {
                    finding = finding.evidence(format!(
                        "{} {}: {resolver} {}",
                        cx.domain,
                        family.record_type(),
                        silence.text()
                    ));
                }
                finding
            }
            Found::NoAddressRecords => Finding::new(
                Code::NoAddressRecords,
                Severity::Blocker,
                format!("{} exists but has no A and no AAAA record", cx.domain),
            )
            .detail(format!(
                "The CA has no address to connect to for the {} challenge.",
                cx.method().as_str()
            ))
            .evidence(format!("{} A -> NOERROR, no records", cx.domain))
            .evidence(format!("{} AAAA -> NOERROR, no records", cx.domain))
            .fix(format!(
                "publish an A record (and an AAAA if the server has IPv6) for {}",
                cx.domain
            ))
            .ca(no_usable_address(cx)),
            Found::ReservedIdentifier(ip, entry) => Finding::new(
                Code::ReservedAddress,
                Severity::Blocker,
                format!("{ip} is a reserved address: the CA refuses this IP identifier at order time"),
            )
            .family(Family::of(ip))
            .detail("Private, loopback, link-local and documentation addresses are not reachable from the internet; the CA refuses an order for one before any validation (docs/ca-behaviour.md §11.7).")
            .evidence(format!("{ip} is in {} ({})", entry.block, entry.boulder_text()))
            .fix("ask for the server's public address, or a DNS name that points at it")
            .ca(ca::CaError {
                problem: ca::ProblemType::RejectedIdentifier,
                detail: ca::identifier_refused(&ip.to_string(), &ca::reserved_ip(entry)),
            }),
            Found::Reserved { hits, fatal } => {
                let mut finding = Finding::new(
                    Code::ReservedAddress,
                    severity(*fatal),
                    if *fatal {
                        format!("{} resolves only to reserved addresses, which the CA drops", cx.domain)
                    } else {
                        format!("{} also publishes reserved addresses; the CA ignores them", cx.domain)
                    },
                )
                .detail(if *fatal {
                    "Private, loopback, link-local and documentation addresses are not reachable from the internet; the CA drops them and finds nothing left.".to_string()
                } else {
                    "The CA silently drops reserved addresses and validates against the public ones; the reserved records are useless to anyone outside.".to_string()
                })
                .fix(format!("publish the server's public address; if it sits behind NAT, publish the router's public address and forward port {}", cx.dial_port()))
                .fix("if the private address comes from split-horizon DNS, check what a public resolver answers: dig @1.1.1.1 NAME");
                let families: std::collections::BTreeSet<Family> =
                    hits.iter().map(|(ip, _)| Family::of(ip)).collect();
                if let [family] = families.into_iter().collect::<Vec<_>>().as_slice() {
                    finding = finding.family(*family);
                }
                for (ip, entry) in hits {
                    finding = finding.evidence(format!(
                        "{ip} is in {} ({})",
                        entry.block,
                        entry.boulder_text()
                    ));
                }
                with_ca(cx, finding, *fatal)
            }
        }
    }
}

fn severity(fatal: bool) -> Severity {
    if fatal {
        Severity::Blocker
    } else {
        Severity::Warning
    }
}

fn types(families: impl Iterator<Item = Family>) -> String {
    families
        .map(|f| f.record_type())
        .collect::<Vec<_>>()
        .join(" and ")
}

fn no_usable_address(cx: &Context) -> ca::CaError {
    let outcome = |f| {
        cx.lookup(f)
            .map_or(DnsOutcome::NoData, |l| l.outcome.clone())
    };
    ca::no_usable_address(cx.domain, &outcome(Family::Ipv4), &outcome(Family::Ipv6))
}

/// Only a DNS problem that leaves no usable address is what the CA reports.
fn with_ca(cx: &Context, finding: Finding, fatal: bool) -> Finding {
    if fatal {
        finding.ca(no_usable_address(cx))
    } else {
        finding
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::Scenario;

    fn lookup(outcome: DnsOutcome, addresses: &[&str]) -> DnsLookup {
        DnsLookup {
            outcome,
            addresses: addresses.iter().map(|a| a.parse().unwrap()).collect(),
            cname_chain: Vec::new(),
            ttl: None,
            elapsed_ms: 3,
            queued_ms: 0,
            own_limit: false,
        }
    }

    #[test]
    fn nxdomain_on_both_families_is_fatal() {
        let s = Scenario::dual_stack().dns(
            lookup(DnsOutcome::NxDomain, &[]),
            lookup(DnsOutcome::NxDomain, &[]),
        );
        let found = Addresses.detect(&s.context());
        assert!(
            matches!(&found[0], Found::NxDomain { families, fatal: true } if families.len() == 2)
        );
        let f = Addresses.word(&s.context(), &found[0]);
        assert_eq!(f.severity, Severity::Blocker);
        assert_eq!(f.ca_problem, Some(ca::ProblemType::Dns));
    }

    #[test]
    fn a_failing_aaaa_is_a_warning_while_a_resolves() {
        let s = Scenario::dual_stack().dns(
            lookup(DnsOutcome::Answer, &["192.0.2.10"]),
            lookup(
                DnsOutcome::ServerFailure {
                    rcode: crate::facts::Rcode::SERVFAIL,
                },
                &[],
            ),
        );
        let found = Addresses.detect(&s.context());
        assert_eq!(
            found,
            vec![Found::ServerFailure {
                family: Family::Ipv6,
                rcode: crate::facts::Rcode::SERVFAIL,
                fatal: false
            }]
        );
        let f = Addresses.word(&s.context(), &found[0]);
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(f.ca_error, None);
    }

    #[test]
    fn a_silence_after_a_wait_in_our_own_queue_is_not_the_resolvers_fault() {
        let queued = || DnsLookup {
            queued_ms: 350,
            ..lookup(DnsOutcome::Timeout, &[])
        };
        let s = Scenario::dual_stack().dns(queued(), queued());
        let cx = s.context();
        let found = Addresses.detect(&cx);
        let f = Addresses.word(&cx, &found[0]);
        assert_eq!(f.code, Code::DnsNoAnswer);
        assert_eq!(
            f.severity,
            Severity::Info,
            "not a warning about the resolver"
        );
        assert!(f.title.contains("acme-doctor's own queue"), "{}", f.title);
        let why = Addresses.incomplete(&cx, &found[0]).expect("incomplete");
        assert_eq!(why.kind, IncompleteKind::ResolverSilent);
        assert!(why.reason.contains("--jobs"), "{}", why.reason);
        let d = crate::diagnose::diagnose(cx.run, cx.target);
        assert_eq!(d.verdict, crate::diagnose::Verdict::Pass);
        assert!(d.incomplete);
    }

    #[test]
    fn an_ip_identifier_has_no_dns_and_is_its_own_address() {
        // DNS facts a hand-made file might carry are ignored: the CA asks no DNS (§11.3).
        let s = Scenario::dual_stack()
            .v4_connects(80)
            .v4_connects(443)
            .ip_identifier("192.0.2.10")
            .dns(
                lookup(DnsOutcome::NxDomain, &[]),
                lookup(DnsOutcome::NxDomain, &[]),
            )
            .caa(vec![(
                "192.0.2.10",
                DnsOutcome::ServerFailure {
                    rcode: crate::facts::Rcode::SERVFAIL,
                },
                Vec::new(),
            )]);
        let cx = s.context();
        assert_eq!(cx.usable_v4, vec!["192.0.2.10".parse::<IpAddr>().unwrap()]);
        assert!(cx.usable_v6.is_empty());
        assert_eq!(cx.url_host, "192.0.2.10");
        assert!(Addresses.detect(&cx).is_empty());
        let d = crate::diagnose::diagnose(cx.run, cx.target);
        let codes: Vec<Code> = d.findings.iter().map(|f| f.code).collect();
        assert_eq!(codes, vec![Code::IpNeedsShortlivedProfile], "{codes:?}");
        assert_eq!(cx.address_kind(Family::Ipv4), "IP identifier");
        assert_eq!(d.verdict, crate::diagnose::Verdict::Pass);
        // Only the inside-only view is missing, nothing about DNS or CAA.
        assert!(
            d.incomplete_reasons
                .iter()
                .all(|r| !r.contains("DNS") && !r.contains("CAA")),
            "{:?}",
            d.incomplete_reasons
        );
    }

    #[test]
    fn a_reserved_ip_identifier_is_the_cas_order_time_refusal() {
        let s = Scenario::dual_stack()
            .strict_reserved()
            .ip_identifier("2001:db8::10");
        let cx = s.context();
        assert!(!cx.has_usable());
        let found = Addresses.detect(&cx);
        assert!(matches!(found.as_slice(), [Found::ReservedIdentifier(..)]));
        let f = Addresses.word(&cx, &found[0]);
        assert_eq!(
            (f.code, f.severity),
            (Code::ReservedAddress, Severity::Blocker)
        );
        assert_eq!(f.ca_problem, Some(ca::ProblemType::RejectedIdentifier));
        assert_eq!(
            f.ca_error.as_deref().expect("the CA's words"),
            "Invalid identifiers requested :: Cannot issue for \"2001:db8::10\": IP address is in a reserved address block: [RFC3849]: Documentation"
        );
        // With --allow-reserved (the lab) it stands for a public address.
        let lab = Scenario::dual_stack().ip_identifier("2001:db8::10");
        assert!(Addresses.detect(&lab.context()).is_empty());
    }

    #[test]
    fn a_silent_resolver_makes_the_run_incomplete() {
        let s = Scenario::dual_stack().dns(
            lookup(DnsOutcome::Timeout, &[]),
            lookup(DnsOutcome::Timeout, &[]),
        );
        let cx = s.context();
        let found = Addresses.detect(&cx);
        assert!(matches!(&found[0], Found::NoAnswer { silent } if silent.len() == 2));
        let why = Addresses.incomplete(&cx, &found[0]).expect("incomplete");
        assert_eq!(why.kind, IncompleteKind::ResolverSilent);
        assert!(Addresses.word(&cx, &found[0]).fix[0].contains("dig @"));
    }

    /// No query left at all (out of file descriptors): the kind is acme-doctor's own limit,
    /// which a CI policy must not read as the resolver's silence.
    #[test]
    fn lookups_that_never_left_are_acme_doctors_own_limit() {
        let never_left = || DnsLookup {
            own_limit: true,
            ..lookup(
                DnsOutcome::Error {
                    message: "Too many open files (os error 24)".into(),
                },
                &[],
            )
        };
        let s = Scenario::dual_stack().dns(never_left(), never_left());
        let cx = s.context();
        let found = Addresses.detect(&cx);
        let why = Addresses.incomplete(&cx, &found[0]).expect("incomplete");
        assert_eq!(why.kind, IncompleteKind::OwnLimit);
        // One family silent on its own: the resolver's silence stays the kind.
        let s = Scenario::dual_stack().dns(never_left(), lookup(DnsOutcome::Timeout, &[]));
        let cx = s.context();
        let found = Addresses.detect(&cx);
        let why = Addresses.incomplete(&cx, &found[0]).expect("incomplete");
        assert_eq!(why.kind, IncompleteKind::ResolverSilent);
    }

    #[test]
    fn nodata_on_both_families_means_no_address_records() {
        let s = Scenario::dual_stack().dns(
            lookup(DnsOutcome::NoData, &[]),
            lookup(DnsOutcome::NoData, &[]),
        );
        assert_eq!(
            Addresses.detect(&s.context()),
            vec![Found::NoAddressRecords]
        );
    }

    #[test]
    fn reserved_addresses_are_dropped_as_the_ca_drops_them() {
        let s = Scenario::dual_stack()
            .dns(
                lookup(DnsOutcome::Answer, &["10.0.0.1"]),
                lookup(DnsOutcome::NoData, &[]),
            )
            .strict_reserved();
        let found = Addresses.detect(&s.context());
        assert!(matches!(&found[0], Found::Reserved { hits, fatal: true } if hits.len() == 1));
        let f = Addresses.word(&s.context(), &found[0]);
        assert_eq!(f.family, Some(Family::Ipv4));
        assert!(f.ca_error.unwrap().contains("no valid A records"));
    }

    #[test]
    fn healthy_dns_finds_nothing() {
        assert!(
            Addresses
                .detect(&Scenario::dual_stack().context())
                .is_empty()
        );
    }
}
