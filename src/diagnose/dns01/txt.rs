//! The challenge TXT record: present, right, and published on every authoritative server.
//!
//! Codes: `txt-missing`, `txt-wrong`, `txt-not-propagated`, `txt-lookup-failed`,
//! `acme-challenge-cname-dangling`, `wildcard-shadows-challenge`, `txt-doubled-label`.

use crate::diagnose::ca;
use crate::diagnose::check::CheckDef;
use crate::diagnose::{Check, Code, Context, Finding, Severity, run_check};
use crate::diagnose::{Incomplete, IncompleteKind};
use crate::facts::{CnameHop, Dns01Facts, DnsOutcome, Ede, Method, TxtLookup};
use std::net::SocketAddr;

pub const CHECK: CheckDef = CheckDef {
    name: "challenge-txt",
    codes: &[
        Code::TxtMissing,
        Code::TxtWrong,
        Code::TxtNotPropagated,
        Code::TxtLookupFailed,
        Code::AcmeChallengeCnameDangling,
        Code::WildcardShadowsChallenge,
        Code::TxtDoubledLabel,
    ],
    methods: &[Method::Dns01],
    run: |cx, out| run_check(&ChallengeTxt, cx, out),
};

pub struct ChallengeTxt;

#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    LookupFailed {
        outcome: DnsOutcome,
        ede: Option<Ede>,
    },
    /// No TXT record; `nxdomain`: the name does not exist at all.
    Missing { nxdomain: bool },
    Wrong {
        records: Vec<String>,
        expected: String,
    },
    /// `_acme-challenge` is a CNAME whose target has no TXT record.
    CnameDangling {
        chain: Vec<CnameHop>,
        outcome: DnsOutcome,
    },
    /// A wildcard record answers for `_acme-challenge`, which has none of its own.
    WildcardShadows { sibling: TxtLookup },
    /// The record sits at `_acme-challenge.<name>.<zone>`.
    DoubledLabel { at: TxtLookup },
    /// Authoritative servers that do not serve the value the others (or the resolver) serve.
    NotPropagated {
        owner: String,
        /// Server, address, what it answered, and its values.
        lacking: Vec<(String, SocketAddr, DnsOutcome, Vec<String>)>,
        serving: usize,
    },
}

/// What the CA reports when its TXT lookup finds nothing usable: NXDOMAIN is a `dns` problem,
/// anything else "no TXT record", and records that do not match are quoted (§4.4).
fn missing_error(facts: &Dns01Facts) -> ca::CaError {
    let challenge = facts.challenge.as_str();
    if !facts.txt.records.is_empty() {
        return ca::txt_incorrect(challenge, &facts.txt.records);
    }
    match &facts.txt.outcome {
        DnsOutcome::NxDomain => ca::dns_problem(
            ca::dns_lookup_error("TXT", challenge, &DnsOutcome::NxDomain, None).unwrap_or_default(),
        ),
        _ => ca::txt_not_found(challenge),
    }
}

fn failed(o: &DnsOutcome) -> bool {
    !matches!(
        o,
        DnsOutcome::Answer | DnsOutcome::NoData | DnsOutcome::NxDomain
    )
}

/// The CA's comparison (§4.3): any record of the set, strings joined, exact.
pub fn matches(records: &[String], expected: &str) -> bool {
    records.iter().any(|r| r == expected)
}

/// The same answer as the sibling's: a wildcard, not a record of the challenge name's own.
fn shadowed(challenge: &TxtLookup, sibling: &TxtLookup) -> bool {
    let sibling_answers = !sibling.records.is_empty() || !sibling.cname_chain.is_empty();
    let same_target = match (challenge.cname_chain.first(), sibling.cname_chain.first()) {
        (Some(a), Some(b)) => a.target == b.target,
        (None, None) => true,
        _ => false,
    };
    sibling_answers && same_target && challenge.records == sibling.records
}

impl Check for ChallengeTxt {
    type Evidence = Found;

    /// A resolver that says nothing at all is a missing fact, not the domain's fault.
    fn incomplete(&self, cx: &Context, found: &Found) -> Option<Incomplete> {
        match found {
            Found::LookupFailed {
                outcome: DnsOutcome::Timeout | DnsOutcome::Refused | DnsOutcome::Error { .. },
                ..
            } => cx.dns01().map(|f| {
                Incomplete::new(
                    IncompleteKind::ResolverSilent,
                    format!("no DNS answer for TXT {}", f.challenge),
                )
            }),
            _ => None,
        }
    }

    fn detect(&self, cx: &Context) -> Vec<Found> {
        let Some(facts) = cx.dns01() else {
            return Vec::new();
        };
        let txt = &facts.txt;
        if failed(&txt.outcome) {
            return vec![Found::LookupFailed {
                outcome: txt.outcome.clone(),
                ede: txt.ede.clone(),
            }];
        }
        // The zone's own servers are the truth the CA's resolver fetches: when every one of them
        // serves the expected value, what this resolver says is a stale cache
        // (`resolver-stale`), not the domain's problem.
        if let Some(expected) = &facts.expect_txt
            && !matches(&txt.records, expected)
            && all_servers_serve(cx, facts, expected)
        {
            return Vec::new();
        }
        let mut found = Vec::new();
        if let Some(sibling) = &facts.sibling
            && shadowed(txt, sibling)
        {
            found.push(Found::WildcardShadows {
                sibling: sibling.clone(),
            });
        }
        if txt.records.is_empty() {
            // The resolver asked a server that lacks it, while another serves it: on its way.
            let on_its_way = propagation(cx, facts);
            if !on_its_way.is_empty() {
                found.extend(on_its_way);
                return found;
            }
            if !txt.cname_chain.is_empty() && found.is_empty() {
                found.push(Found::CnameDangling {
                    chain: txt.cname_chain.clone(),
                    outcome: txt.outcome.clone(),
                });
            }
            if let Some(doubled) = &facts.doubled
                && !doubled.records.is_empty()
            {
                found.push(Found::DoubledLabel {
                    at: doubled.clone(),
                });
            }
            found.push(Found::Missing {
                nxdomain: txt.outcome == DnsOutcome::NxDomain,
            });
            return found;
        }
        if let Some(expected) = &facts.expect_txt
            && !matches(&txt.records, expected)
        {
            found.push(Found::Wrong {
                records: txt.records.clone(),
                expected: expected.clone(),
            });
        }
        found.extend(propagation(cx, facts));
        found
    }

    fn word(&self, cx: &Context, found: &Found) -> Finding {
        let Some(facts) = cx.dns01() else {
            return Finding::new(Code::TxtMissing, Severity::Info, "no dns-01 facts");
        };
        let challenge = facts.challenge.as_str();
        let resolver = &cx.target.target.resolver;
        let records_evidence = |l: &TxtLookup| -> Vec<String> {
            let mut lines: Vec<String> = l
                .cname_chain
                .iter()
                .map(|h| format!("{} CNAME {}", h.name, h.target))
                .collect();
            let owner = l
                .cname_chain
                .last()
                .map_or(l.name.as_str(), |h| h.target.as_str());
            lines.extend(l.records.iter().map(|r| format!("{owner} TXT \"{r}\"")));
            if l.records.is_empty() {
                lines.push(format!("{owner} TXT -> {} via {resolver}", l.outcome));
            }
            lines
        };
        match found {
            Found::LookupFailed { outcome, ede } => Finding::new(
                Code::TxtLookupFailed,
                if self.incomplete(cx, found).is_some() {
                    Severity::Warning
                } else {
                    Severity::Blocker
                },
                format!("the TXT lookup for {challenge} fails ({})", outcome),
            )
            .detail("The CA's resolver fails the same way and reports a DNS problem.")
            .evidence(format!("{challenge} TXT via {resolver}: {}", outcome))
            .evidence_lines(ede.iter().map(|e| format!("extended DNS error {}: {} {}", e.code, ca::ede_summary(e.code), e.text)))
            .fix(format!("dig +trace {challenge} TXT   # find the nameserver that fails"))
            .ca(ca::dns_problem(
                ca::dns_lookup_error("TXT", challenge, outcome, ede.as_ref()).unwrap_or_default(),
            )),
            // Issue 20 item 3: without the value, the run is outside a validation attempt
            // as far as anyone knows, and clients delete the record after each attempt: an
            // absent record then says nothing about what the CA saw.
            Found::Missing { .. } if facts.expect_txt.is_none() => Finding::new(
                Code::TxtMissing,
                Severity::Info,
                format!("no validation in progress: there is no TXT record at {challenge}"),
            )
            .detail("ACME clients publish the record just before they ask the CA to validate and remove it after the attempt, so its absence now is normal. What the CA saw during a failed attempt (an old value, or a server the record had not reached yet) can only be checked while the client waits.")
            .evidence_lines(records_evidence(&facts.txt))
            .fix(format!("run with --expect-txt VALUE while the client waits (add --wait 120s to wait until every nameserver serves it): acme-doctor --method dns-01 --expect-txt VALUE --wait 120s {}", cx.target.target.domain.ascii)),
            // The wording comes from the lookup itself (`missing_error`).
            Found::Missing { .. } => {
                Finding::new(
                    Code::TxtMissing,
                    Severity::Blocker,
                    format!("there is no TXT record at {challenge}"),
                )
                .detail("The ACME client has not published the challenge record, or published it elsewhere, or removed it before the CA looked.")
                .evidence_lines(records_evidence(&facts.txt))
                .fix(format!("publish: {challenge}. 300 IN TXT \"<value from the ACME client>\", and let the client wait until every nameserver serves it"))
                .fix("check the ACME client's DNS plugin credentials and zone (certbot --dns-PROVIDER, acme.sh --dns dns_PROVIDER, lego --dns PROVIDER)")
                .ca(missing_error(facts))
            }
            Found::Wrong { records, expected } => Finding::new(
                Code::TxtWrong,
                Severity::Blocker,
                format!("{challenge} holds TXT {}, not the expected value", records.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>().join(", ")),
            )
            .detail("The CA compares each TXT record, its strings joined, byte for byte with the value it expects; any one matching is enough. A stale value from an earlier attempt, or a value with extra spaces or quotes, does not match.")
            .evidence_lines(records_evidence(&facts.txt))
            .evidence(format!("expected: \"{expected}\""))
            .fix(format!("set {challenge} TXT to exactly \"{expected}\" (old values may stay beside it)"))
            .ca(ca::txt_incorrect(challenge, records)),
            // As `txt-missing`: the delegated name is empty between attempts too.
            Found::CnameDangling { chain, outcome } if facts.expect_txt.is_none() => {
                let target = chain.last().map_or("", |h| h.target.as_str());
                Finding::new(
                    Code::AcmeChallengeCnameDangling,
                    Severity::Info,
                    format!("no validation in progress: {challenge} is a CNAME to {target}, which has no TXT record now"),
                )
                .detail("Delegating the challenge by CNAME works; the client publishes the record at the target during an attempt and may remove it afterwards. Whether it lands there can only be checked while the client waits.")
                .evidence_lines(chain.iter().map(|h| format!("{} CNAME {}", h.name, h.target)))
                .evidence(format!("{target} TXT -> {}", outcome))
                .fix(format!("run with --expect-txt VALUE while the client waits: acme-doctor --method dns-01 --expect-txt VALUE --wait 120s {}", cx.target.target.domain.ascii))
            }
            Found::CnameDangling { chain, outcome } => {
                let target = chain.last().map_or("", |h| h.target.as_str());
                Finding::new(
                    Code::AcmeChallengeCnameDangling,
                    Severity::Blocker,
                    format!("{challenge} is a CNAME to {target}, which has no TXT record"),
                )
                .detail("Delegating the challenge by CNAME works (the CA's resolver follows it), but the record must then be published at the target, in the zone the CNAME points into.")
                .evidence_lines(chain.iter().map(|h| format!("{} CNAME {}", h.name, h.target)))
                .evidence(format!("{target} TXT -> {}", outcome))
                .fix(format!("publish the TXT record at {target}, where the CNAME points (acme.sh: --challenge-alias; certbot/lego: the DNS plugin must write to that zone)"))
                .fix(format!("or remove the CNAME and publish at {challenge} itself"))
                .ca(missing_error(facts))
            }
            Found::WildcardShadows { sibling } => {
                let mut f = Finding::new(
                    Code::WildcardShadowsChallenge,
                    Severity::Blocker,
                    format!("a wildcard record answers for {challenge}, which has no record of its own"),
                )
                .detail("A wildcard (*.NAME) answers every name below NAME that has no records of its own, _acme-challenge included. A wildcard CNAME sends the CA's TXT lookup elsewhere.")
                .evidence(format!("a random name, {}, gets the same answer:", sibling.name));
                f = f.evidence_lines(records_evidence(sibling));
                f.fix(format!("publish the TXT at {challenge} itself: an explicit record is not covered by the wildcard"))
                    .fix("or narrow the wildcard so it does not cover _acme-challenge")
                    .ca(missing_error(facts))
            }
            Found::DoubledLabel { at } => Finding::new(
                Code::TxtDoubledLabel,
                Severity::Blocker,
                format!("the TXT record sits at {}, not {challenge}: the zone name was added twice", at.name),
            )
            .detail("DNS panels append the zone to the name typed in; entering the full name there doubles it.")
            .evidence_lines(records_evidence(at))
            .fix(format!("in the DNS panel enter only the part before the zone (e.g. `_acme-challenge`), or the full name with a trailing dot: {challenge}."))
            .ca(missing_error(facts)),
            Found::NotPropagated {
                owner,
                lacking,
                serving,
            } => {
                let mut f = Finding::new(
                    Code::TxtNotPropagated,
                    Severity::Blocker,
                    format!(
                        "{} of {} authoritative servers {} not serve the TXT at {owner} yet",
                        lacking.len(),
                        lacking.len() + serving,
                        if lacking.len() == 1 { "does" } else { "do" }
                    ),
                )
                .likely()
                .detail(format!("{serving} server(s) serve it. The CA's resolver asks one server at random: when it asks one of these, validation fails. ACME clients that check propagation against one resolver miss this."));
                for (server, address, outcome, values) in lacking {
                    f = f.evidence(format!(
                        "{server} ({address}): {owner} TXT {}",
                        if values.is_empty() {
                            format!("-> {outcome}")
                        } else {
                            values.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(", ")
                        }
                    ));
                }
                let f = f
                    .fix("wait until every authoritative server serves the record (compare SOA serials), then ask the CA to validate: raise the client's propagation wait (certbot --dns-PROVIDER-propagation-seconds, acme.sh --dnssleep, lego --dns.propagation-wait)")
                    .fix(format!("or end the client's DNS hook with: acme-doctor --method dns-01 --expect-txt VALUE --wait 5m {} (returns once every server serves it)", cx.target.target.domain.ascii))
                    .fix("if a server never catches up, its zone transfers are broken: check NOTIFY and AXFR/IXFR from the primary");
                // What the CA gets when its resolver asks the first server that lacks it.
                match lacking.first() {
                    Some((_, _, DnsOutcome::NxDomain, _)) => f.ca(ca::dns_problem(
                        ca::dns_lookup_error("TXT", challenge, &DnsOutcome::NxDomain, None)
                            .unwrap_or_default(),
                    )),
                    Some((_, _, _, values)) if !values.is_empty() => {
                        f.ca(ca::txt_incorrect(challenge, values))
                    }
                    _ => f.ca(ca::txt_not_found(challenge)),
                }
            }
        }
    }
}

/// Whether the authoritative servers answered, and every one serves `expected`.
fn all_servers_serve(cx: &Context, facts: &Dns01Facts, expected: &str) -> bool {
    let owner = facts
        .txt
        .cname_chain
        .last()
        .map_or(facts.challenge.as_str(), |h| h.target.as_str());
    let answers: Vec<_> = cx
        .target
        .authoritative
        .iter()
        .flat_map(|a| &a.servers)
        .flat_map(|s| &s.answers)
        .filter(|a| a.rtype == "TXT" && a.name == owner)
        .collect();
    !answers.is_empty()
        && answers
            .iter()
            .all(|a| a.values.iter().any(|v| v == expected))
}

/// Authoritative servers that lack the value: the expected one, or else the one the resolver
/// or the other servers serve.
fn propagation(cx: &Context, facts: &Dns01Facts) -> Vec<Found> {
    let Some(auth) = &cx.target.authoritative else {
        return Vec::new();
    };
    let owner = facts
        .txt
        .cname_chain
        .last()
        .map_or(facts.challenge.clone(), |h| h.target.clone());
    let wanted: Vec<String> = match &facts.expect_txt {
        Some(e) => vec![e.clone()],
        None => facts.txt.records.clone(),
    };
    let mut lacking = Vec::new();
    let mut serving = 0;
    for server in &auth.servers {
        let Some(answer) = server
            .answers
            .iter()
            .find(|a| a.rtype == "TXT" && a.name == owner)
        else {
            continue;
        };
        if failed(&answer.outcome) {
            continue;
        }
        if wanted.iter().any(|w| answer.values.contains(w)) {
            serving += 1;
        } else {
            lacking.push((
                server.name.clone(),
                server.address,
                answer.outcome.clone(),
                answer.values.clone(),
            ));
        }
    }
    // Lacking everywhere is a wrong or missing record, not one still on its way.
    let somewhere = serving > 0 || wanted.iter().any(|w| facts.txt.records.contains(w));
    if lacking.is_empty() || wanted.is_empty() || !somewhere {
        return Vec::new();
    }
    vec![Found::NotPropagated {
        owner,
        lacking,
        serving,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::Scenario;

    fn lookup(name: &str, outcome: DnsOutcome, records: &[&str], cname: Option<&str>) -> TxtLookup {
        TxtLookup {
            name: name.into(),
            outcome,
            cname_chain: cname
                .map(|t| {
                    vec![CnameHop {
                        name: name.into(),
                        target: t.into(),
                    }]
                })
                .unwrap_or_default(),
            records: records.iter().map(|r| r.to_string()).collect(),
            ede: None,
            elapsed_ms: 1,
        }
    }

    const CH: &str = "_acme-challenge.example.test";

    #[test]
    fn the_right_value_among_several_passes() {
        let s = Scenario::dns01(
            lookup(CH, DnsOutcome::Answer, &["old", "good"], None),
            Some("good"),
        );
        assert!(ChallengeTxt.detect(&s.context()).is_empty());
    }

    #[test]
    fn a_wrong_value_is_quoted_as_the_ca_quotes_it() {
        let s = Scenario::dns01(lookup(CH, DnsOutcome::Answer, &["old"], None), Some("good"));
        let found = ChallengeTxt.detect(&s.context());
        let f = ChallengeTxt.word(&s.context(), &found[0]);
        assert_eq!(f.code, Code::TxtWrong);
        assert_eq!(
            f.ca_error.as_deref(),
            Some("Incorrect TXT record \"old\" found at _acme-challenge.example.test")
        );
    }

    #[test]
    fn nodata_and_nxdomain_get_the_cas_two_wordings() {
        let s = Scenario::dns01(lookup(CH, DnsOutcome::NoData, &[], None), Some("v"));
        let found = ChallengeTxt.detect(&s.context());
        let f = ChallengeTxt.word(&s.context(), found.last().unwrap());
        assert_eq!(
            f.ca_error.as_deref(),
            Some("No TXT record found at _acme-challenge.example.test")
        );
        let s = Scenario::dns01(lookup(CH, DnsOutcome::NxDomain, &[], None), Some("v"));
        let found = ChallengeTxt.detect(&s.context());
        let f = ChallengeTxt.word(&s.context(), found.last().unwrap());
        assert!(
            f.ca_error
                .unwrap()
                .starts_with("DNS problem: NXDOMAIN looking up TXT")
        );
    }

    #[test]
    fn a_cname_to_nowhere_is_dangling() {
        let s = Scenario::dns01(
            lookup(CH, DnsOutcome::NxDomain, &[], Some("x.dns.example.net")),
            Some("v"),
        );
        let found = ChallengeTxt.detect(&s.context());
        assert!(matches!(found[0], Found::CnameDangling { .. }));
        assert!(matches!(found[1], Found::Missing { nxdomain: true }));
    }

    #[test]
    fn a_wildcard_answering_for_the_challenge_is_found() {
        let s = Scenario::dns01(
            lookup(CH, DnsOutcome::NoData, &[], Some("elsewhere.example.net")),
            Some("v"),
        )
        .dns01_sibling(lookup(
            "_acme-doctor-x.example.test",
            DnsOutcome::NoData,
            &[],
            Some("elsewhere.example.net"),
        ));
        let found = ChallengeTxt.detect(&s.context());
        assert!(matches!(found[0], Found::WildcardShadows { .. }));
    }

    #[test]
    fn a_record_under_the_doubled_name_is_found() {
        let s = Scenario::dns01(lookup(CH, DnsOutcome::NxDomain, &[], None), Some("v"))
            .dns01_doubled(lookup(
                "_acme-challenge.example.test.example.test",
                DnsOutcome::Answer,
                &["v"],
                None,
            ));
        let found = ChallengeTxt.detect(&s.context());
        assert!(matches!(found[0], Found::DoubledLabel { .. }));
    }

    #[test]
    fn a_server_without_the_value_is_not_propagated() {
        let s = Scenario::dns01(lookup(CH, DnsOutcome::Answer, &["v"], None), Some("v"))
            .authoritative(&[
                ("ns1.example.test", "203.0.113.11", "TXT", &["v"]),
                ("ns2.example.test", "203.0.113.12", "TXT", &[]),
            ]);
        let found = ChallengeTxt.detect(&s.context());
        let [
            Found::NotPropagated {
                lacking, serving, ..
            },
        ] = &found[..]
        else {
            panic!("{found:?}");
        };
        assert_eq!((lacking.len(), *serving), (1, 1));
        let f = ChallengeTxt.word(&s.context(), &found[0]);
        assert_eq!(
            f.ca_error.as_deref(),
            Some("No TXT record found at _acme-challenge.example.test")
        );
    }

    #[test]
    fn a_stale_resolver_is_not_the_domains_fault_when_every_server_has_the_value() {
        let s = Scenario::dns01(lookup(CH, DnsOutcome::Answer, &["old"], None), Some("v"))
            .authoritative(&[
                ("ns1.example.test", "203.0.113.11", "TXT", &["v"]),
                ("ns2.example.test", "203.0.113.12", "TXT", &["v"]),
            ]);
        assert!(ChallengeTxt.detect(&s.context()).is_empty());
    }

    /// Issue 20 item 3: clients remove the record after each attempt, so without the value a
    /// missing record is the normal state between attempts, not the CA's failure.
    #[test]
    fn without_the_value_a_missing_record_is_info_and_the_verdict_does_not_fail() {
        for outcome in [DnsOutcome::NoData, DnsOutcome::NxDomain] {
            let s = Scenario::dns01(lookup(CH, outcome, &[], None), None);
            let cx = s.context();
            let found = ChallengeTxt.detect(&cx);
            let f = ChallengeTxt.word(&cx, found.last().unwrap());
            assert_eq!((f.code, f.severity), (Code::TxtMissing, Severity::Info));
            assert!(
                f.title.starts_with("no validation in progress"),
                "{}",
                f.title
            );
            assert_eq!(f.ca_error, None, "no CA error is claimed between attempts");
            let d = crate::diagnose::diagnose(cx.run, cx.target);
            assert_ne!(d.verdict, crate::diagnose::Verdict::Fail, "{d:?}");
        }
    }

    #[test]
    fn with_the_value_a_missing_record_stays_a_blocker() {
        let s = Scenario::dns01(lookup(CH, DnsOutcome::NoData, &[], None), Some("v"));
        let cx = s.context();
        let found = ChallengeTxt.detect(&cx);
        let f = ChallengeTxt.word(&cx, found.last().unwrap());
        assert_eq!((f.code, f.severity), (Code::TxtMissing, Severity::Blocker));
        let d = crate::diagnose::diagnose(cx.run, cx.target);
        assert_eq!(d.verdict, crate::diagnose::Verdict::Fail);
    }

    #[test]
    fn without_the_value_an_empty_cname_target_is_info_too() {
        let s = Scenario::dns01(
            lookup(CH, DnsOutcome::NxDomain, &[], Some("x.dns.example.net")),
            None,
        );
        let cx = s.context();
        let found = ChallengeTxt.detect(&cx);
        let f = ChallengeTxt.word(&cx, &found[0]);
        assert_eq!(
            (f.code, f.severity),
            (Code::AcmeChallengeCnameDangling, Severity::Info)
        );
        let s = Scenario::dns01(
            lookup(CH, DnsOutcome::NxDomain, &[], Some("x.dns.example.net")),
            Some("v"),
        );
        let cx = s.context();
        let found = ChallengeTxt.detect(&cx);
        assert_eq!(
            ChallengeTxt.word(&cx, &found[0]).severity,
            Severity::Blocker
        );
    }

    #[test]
    fn a_servfail_is_a_failed_lookup() {
        let s = Scenario::dns01(
            lookup(
                CH,
                DnsOutcome::ServerFailure {
                    rcode: crate::facts::Rcode::SERVFAIL,
                },
                &[],
                None,
            ),
            Some("v"),
        );
        let found = ChallengeTxt.detect(&s.context());
        assert_eq!(
            ChallengeTxt.word(&s.context(), &found[0]).code,
            Code::TxtLookupFailed
        );
    }
}
