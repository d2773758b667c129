//! After every check has spoken: the policies that look at all findings together, and the
//! ranking. Both read the table of causes and the priorities in [`super::causes`], nothing
//! else.

use super::causes::{explains, explains_down_the_redirect, priority};
use super::{Code, Context, Finding, Note, Severity};
use crate::facts::Family;

/// The CA connects over IPv6 first and tries IPv4 only after an IPv6 dial error
/// (`docs/ca-behaviour.md` §2.2). So while the AAAA path works and no finding at all is
/// against IPv6, an IPv4 blocker on the validation port does not fail today's validation: it
/// becomes a warning with a note saying why.
///
/// Whether the AAAA path works is for outside evidence to say when there is some (every AAAA
/// connected from the vantages, or the CA validated over one): `Note::Ipv4OnlyFallback`.
/// Without any (`Context::heard_outside`), on the server whose IPv6 looks healthy from inside,
/// the blocker is not shown either: a warning, `Note::Ipv4OnlyFallbackHostOnly`, beside the
/// run's host-only incomplete reason. With outside evidence that does not show IPv6 working,
/// the blocker stands.
pub fn ipv4_is_only_the_fallback(cx: &Context, findings: &mut [Finding]) {
    let Some(port) = cx.validation_port() else {
        return;
    };
    let ipv6_clean = !findings
        .iter()
        .any(|f| f.family == Some(Family::Ipv6) && f.severity != Severity::Info);
    if !ipv6_clean {
        return;
    }
    let note = if cx.ipv6_path_works(port) {
        Note::Ipv4OnlyFallback
    } else if !cx.heard_outside() && cx.ipv6_looks_healthy_inside(port) {
        Note::Ipv4OnlyFallbackHostOnly
    } else {
        return;
    };
    for f in findings.iter_mut() {
        if f.family == Some(Family::Ipv4) && f.port == Some(port) && f.severity == Severity::Blocker
        {
            f.severity = Severity::Warning;
            f.ca_error = None;
            f.ca_problem = None;
            f.notes.push(note);
        }
    }
}

/// What explaining depends on: the code, the family and the port.
type Key = (Code, Option<Family>, Option<u16>);

fn key(f: &Finding) -> Key {
    (f.code, f.family, f.port)
}

/// Whether a finding with key `root` can explain one with key `symptom`: the table lists it,
/// and family and port do not contradict each other (a redirect's line on port 80 and what
/// fails on 443 down its chain agree: `causes::explains_down_the_redirect`).
fn can_explain(root: Key, symptom: Key) -> bool {
    fn agree<T: PartialEq>(a: Option<T>, b: Option<T>) -> bool {
        match (a, b) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }
    let same_place = explains(root.0).contains(&symptom.0) && agree(root.2, symptom.2);
    let down_the_chain = explains_down_the_redirect(root.0, root.2, symptom.0, symptom.2);
    agree(root.1, symptom.1) && (same_place || down_the_chain)
}

/// The CA dials IPv6 first, so on a tie its problem is the one the CA meets first.
fn family_order(family: Option<Family>) -> u8 {
    match family {
        None => 0,
        Some(Family::Ipv6) => 1,
        Some(Family::Ipv4) => 2,
    }
}

fn sort_key(f: &Finding) -> (Severity, super::Certainty, u8, u8, Option<u16>) {
    (
        f.severity,
        f.certainty,
        priority(f.code),
        family_order(f.family),
        f.port,
    )
}

/// Root causes first (by severity, certainty, priority, IPv6 before IPv4), each followed by
/// the symptoms it explains; `explains` lists what is actually present.
pub fn rank(mut findings: Vec<Finding>) -> Vec<Finding> {
    findings.sort_by_key(sort_key);
    let n = findings.len();
    // Explaining depends only on the key, and there are few distinct keys however many
    // findings (thousands of addresses may each fail differently): per key, the first two
    // findings in rank order are all the candidates a finding needs.
    let mut keys: Vec<(Key, usize, Option<usize>)> = Vec::new();
    for (i, f) in findings.iter().enumerate() {
        match keys.iter_mut().find(|(k, _, _)| *k == key(f)) {
            Some((_, _, second @ None)) => *second = Some(i),
            Some(_) => {}
            None => keys.push((key(f), i, None)),
        }
    }
    // The first (best-ranked) finding that explains i, never i itself, never one that i
    // explains in turn.
    let explainer: Vec<Option<usize>> = findings
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let ki = key(f);
            keys.iter()
                .filter(|(k, _, _)| can_explain(*k, ki) && !can_explain(ki, *k))
                .filter_map(|(_, first, second)| if *first != i { Some(*first) } else { *second })
                // An info finding (`not-on-host` on a workstation) says what was not
                // checked: it explains no finding that is more than info.
                .filter(|&j| findings[j].severity != Severity::Info || f.severity == Severity::Info)
                .min()
        })
        .collect();
    let mut symptoms: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, e) in explainer.iter().enumerate() {
        // A finding that names its own explainer outside this table (a client's logged
        // failure, explained by today's cause) keeps it.
        let named = findings[i].explained_by.take();
        findings[i].explained_by = e.map(|j| findings[j].code).or(named);
        if let Some(j) = *e {
            symptoms[j].push(i);
        }
    }
    for (j, list) in symptoms.iter().enumerate() {
        let mut present: Vec<Code> = Vec::new();
        for &i in list {
            if !present.contains(&findings[i].code) {
                present.push(findings[i].code);
            }
        }
        findings[j].explains = present;
    }
    let mut ranked = Vec::with_capacity(n);
    // The CA's own words decide: the root that explains them, itself or through one of its
    // symptoms, ranks first (the sort is stable, so the order above holds otherwise).
    let mut roots: Vec<usize> = (0..n).filter(|&i| explainer[i].is_none()).collect();
    let said = |i: usize| findings[i].ca_said || symptoms[i].iter().any(|&s| findings[s].ca_said);
    roots.sort_by_key(|&i| !(said(i) && findings[i].severity == Severity::Blocker));
    for root in roots {
        ranked.push(findings[root].clone());
        for &symptom in &symptoms[root] {
            ranked.push(findings[symptom].clone());
        }
    }
    // A symptom whose explainer is itself explained sits under the outermost root above;
    // keep it rather than lose it.
    for i in 0..n {
        if explainer[i].is_some_and(|j| explainer[j].is_some()) {
            ranked.push(findings[i].clone());
        }
    }
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::Scenario;
    use crate::facts::{
        AcmeProblem, CaCheck, CaCheckOutcome, CaEvidence, CaSaid, CaSource, CheckStage, Published,
        ValidationRecord,
    };

    fn codes(ranked: &[Finding]) -> Vec<(Code, Option<Family>)> {
        ranked.iter().map(|f| (f.code, f.family)).collect()
    }

    #[test]
    fn root_cause_ranks_above_the_symptom_it_explains() {
        let symptom = Finding::new(Code::PortTimeout, Severity::Blocker, "timeout")
            .family(Family::Ipv6)
            .port(80);
        let root = Finding::new(Code::Ipv6Disabled, Severity::Blocker, "off")
            .family(Family::Ipv6)
            .port(80)
            .likely();
        let ranked = rank(vec![symptom, root]);
        assert_eq!(ranked[0].code, Code::Ipv6Disabled);
        assert_eq!(ranked[0].explains, vec![Code::PortTimeout]);
        assert_eq!(ranked[1].explained_by, Some(Code::Ipv6Disabled));
    }

    #[test]
    fn a_root_for_one_family_does_not_explain_the_other() {
        let v4 = Finding::new(Code::PortTimeout, Severity::Blocker, "t").family(Family::Ipv4);
        let root = Finding::new(Code::Ipv6Disabled, Severity::Blocker, "off").family(Family::Ipv6);
        let ranked = rank(vec![v4, root]);
        assert!(ranked.iter().all(|f| f.explained_by.is_none()));
        assert!(ranked.iter().all(|f| f.explains.is_empty()));
    }

    #[test]
    fn blockers_rank_above_warnings_and_info() {
        let info = Finding::new(Code::NotOnHost, Severity::Info, "i");
        let warn = Finding::new(Code::ReservedAddress, Severity::Warning, "w");
        let block = Finding::new(Code::DnsNxdomain, Severity::Blocker, "b");
        let ranked = rank(vec![info, warn, block]);
        assert_eq!(
            codes(&ranked),
            [
                (Code::DnsNxdomain, None),
                (Code::ReservedAddress, None),
                (Code::NotOnHost, None)
            ]
        );
    }

    #[test]
    fn on_a_tie_ipv6_ranks_before_ipv4_as_the_ca_dials() {
        let v4 = Finding::new(Code::NoListener, Severity::Blocker, "v4")
            .family(Family::Ipv4)
            .port(80);
        let v6 = Finding::new(Code::NoListener, Severity::Blocker, "v6")
            .family(Family::Ipv6)
            .port(80);
        let ranked = rank(vec![v4, v6]);
        assert_eq!(
            codes(&ranked),
            [
                (Code::NoListener, Some(Family::Ipv6)),
                (Code::NoListener, Some(Family::Ipv4))
            ]
        );
    }

    /// A standalone ACME client that is not running leaves nothing listening; if the firewall
    /// drops port 80 too, the firewall is what will still fail the client's own run.
    #[test]
    fn firewall_drops_ranks_above_no_listener() {
        let listener = Finding::new(Code::NoListener, Severity::Blocker, "nothing listens")
            .family(Family::Ipv4)
            .port(80);
        let firewall = Finding::new(Code::FirewallDrops, Severity::Blocker, "dropped")
            .family(Family::Ipv4)
            .port(80);
        let refused = Finding::new(Code::PortRefused, Severity::Blocker, "refused")
            .family(Family::Ipv4)
            .port(80);
        let ranked = rank(vec![listener, refused, firewall]);
        assert_eq!(ranked[0].code, Code::FirewallDrops);
        assert_eq!(ranked[0].explains, vec![Code::PortRefused]);
        assert_eq!(ranked.last().map(|f| f.code), Some(Code::NoListener));
    }

    /// Issue 20 item 4: the web server's line that redirects the challenge (port 80) ranks
    /// first and explains the refusals on 443 down its chain; a refusal on port 80 itself is
    /// met before any redirect and stays its own root.
    #[test]
    fn a_redirect_line_explains_the_dead_443_down_its_chain() {
        let refused = |family, port| {
            Finding::new(Code::PortRefused, Severity::Blocker, "refused")
                .family(family)
                .port(port)
        };
        let line = Finding::new(
            Code::ChallengeLocationShadowed,
            Severity::Blocker,
            "return 301",
        )
        .port(80);
        let ranked = rank(vec![
            refused(Family::Ipv6, 443),
            refused(Family::Ipv4, 443),
            line.clone(),
        ]);
        assert_eq!(
            codes(&ranked),
            [
                (Code::ChallengeLocationShadowed, None),
                (Code::PortRefused, Some(Family::Ipv6)),
                (Code::PortRefused, Some(Family::Ipv4)),
            ]
        );
        assert_eq!(ranked[0].explains, vec![Code::PortRefused]);
        let ranked = rank(vec![refused(Family::Ipv4, 80), line]);
        assert!(
            ranked.iter().all(|f| f.explained_by.is_none()),
            "{ranked:?}"
        );
        assert_eq!(ranked[0].code, Code::ChallengeLocationShadowed);
    }

    /// Issue 20 item 4, "in every such case": a firewall that drops 443, or nothing listening
    /// there, down the chain the line starts is the line's symptom too, though the firewall
    /// ranks before the line elsewhere; on port 80 it stays its own root.
    #[test]
    fn a_redirect_line_ranks_above_a_firewall_or_a_missing_listener_on_443() {
        let line = Finding::new(
            Code::ChallengeLocationShadowed,
            Severity::Blocker,
            "return 301",
        )
        .port(80);
        let on = |code, family, port| {
            Finding::new(code, Severity::Blocker, "x")
                .family(family)
                .port(port)
        };
        let ranked = rank(vec![
            on(Code::FirewallDrops, Family::Ipv6, 443),
            on(Code::PortTimeout, Family::Ipv6, 443),
            on(Code::NoListener, Family::Ipv4, 443),
            line.clone(),
        ]);
        assert_eq!(
            ranked[0].code,
            Code::ChallengeLocationShadowed,
            "{ranked:?}"
        );
        assert_eq!(ranked.len(), 4);
        assert!(ranked[1..].iter().all(|f| f.explained_by.is_some()));
        let ranked = rank(vec![on(Code::FirewallDrops, Family::Ipv4, 80), line]);
        assert_eq!(ranked[0].code, Code::FirewallDrops, "{ranked:?}");
        assert!(ranked.iter().all(|f| f.explained_by.is_none()));
    }

    /// A dual-stack server whose AAAA an outside view connected to on port 80.
    fn v6_proven() -> Scenario {
        Scenario::dual_stack()
            .v6_connects(80)
            .vantage("https://v.example", |o| {
                o.connect("2001:db8::10", 80, crate::facts::ConnectOutcome::Connected)
            })
    }

    fn ipv4_blocker() -> Finding {
        Finding::new(Code::PortTimeout, Severity::Blocker, "A times out")
            .family(Family::Ipv4)
            .port(80)
    }

    #[test]
    fn fallback_demotes_ipv4_while_every_aaaa_connects() {
        // On the server, only an outside view proves the AAAA path.
        let s = Scenario::dual_stack()
            .v6_connects(80)
            .vantage("https://v.example", |o| {
                o.connect("2001:db8::10", 80, crate::facts::ConnectOutcome::Connected)
            });
        let cx = s.context();
        let mut findings = vec![ipv4_blocker()];
        ipv4_is_only_the_fallback(&cx, &mut findings);
        assert_eq!(findings[0].severity, Severity::Warning);
        assert_eq!(findings[0].notes, vec![Note::Ipv4OnlyFallback]);
        assert_eq!(findings[0].ca_error, None);
        assert!(!findings[0].detail.contains("IPv6 first"));
    }

    /// The host's own connection to its AAAA goes through lo: it proves nothing of the path
    /// the CA takes (issue 8), so it never gives the outside-proven note; but with nothing
    /// outside heard, an IPv4 blocker beside an IPv6 path healthy from inside is a warning
    /// that says it was seen from the host only (issue 19 item 5): the CA dials IPv6 first.
    #[test]
    fn a_self_connection_alone_demotes_ipv4_as_seen_from_the_host_only() {
        let s = Scenario::dual_stack().v6_connects(80);
        let cx = s.context();
        assert!(!cx.heard_outside());
        let mut findings = vec![ipv4_blocker()];
        ipv4_is_only_the_fallback(&cx, &mut findings);
        assert_eq!(findings[0].severity, Severity::Warning);
        assert_eq!(findings[0].notes, vec![Note::Ipv4OnlyFallbackHostOnly]);
        assert_eq!(findings[0].ca_error, None);
        assert!(
            findings[0]
                .full_detail()
                .contains("Seen from this host only")
        );
        // Run from elsewhere, the run's own connects are the outside view.
        let s = Scenario::dual_stack().not_on_host().v6_connects(80);
        let cx = s.context();
        let mut findings = vec![ipv4_blocker()];
        ipv4_is_only_the_fallback(&cx, &mut findings);
        assert_eq!(findings[0].notes, vec![Note::Ipv4OnlyFallback]);
    }

    /// Inside, IPv6 must look healthy: its own connection to every AAAA got through, and
    /// IPv6 is on here.
    #[test]
    fn the_host_only_demotion_needs_ipv6_healthy_inside() {
        for s in [
            Scenario::dual_stack(),
            Scenario::dual_stack().v6_connects(80).connect(
                "2001:db8::10",
                80,
                crate::facts::ConnectOutcome::Refused,
            ),
            Scenario::dual_stack().v6_connects(80).ipv6_off(),
            Scenario::ipv4_only(),
        ] {
            let cx = s.context();
            let mut findings = vec![ipv4_blocker()];
            ipv4_is_only_the_fallback(&cx, &mut findings);
            assert_eq!(findings[0].severity, Severity::Blocker);
            assert!(findings[0].notes.is_empty());
        }
    }

    fn said(source: CaSource, said: CaSaid) -> CaEvidence {
        CaEvidence {
            source,
            at: None,
            said,
        }
    }

    fn check(outcome: CaCheckOutcome) -> CaSaid {
        CaSaid::Check(Box::new(CaCheck {
            directory: "https://ca.example/dir".into(),
            method: crate::facts::Method::Http01,
            published: Published::Nothing,
            outcome,
            failed_authorizations: 0,
            elapsed_ms: 900,
        }))
    }

    fn record(address: &str) -> ValidationRecord {
        ValidationRecord {
            url: Some("http://example.test/.well-known/acme-challenge/t".into()),
            hostname: Some("example.test".into()),
            port: Some("80".into()),
            addresses_resolved: vec![
                "2001:db8::10".parse().unwrap(),
                "192.0.2.10".parse().unwrap(),
            ],
            address_used: address.parse().ok(),
            addresses_tried: Vec::new(),
            resolver_addrs: Vec::new(),
        }
    }

    fn timeout_problem() -> AcmeProblem {
        AcmeProblem {
            type_urn: "urn:ietf:params:acme:error:connection".into(),
            detail: "2001:db8::10: Fetching http://example.test/.well-known/acme-challenge/t: Timeout during connect (likely firewall problem)".into(),
            status: Some(400),
            identifier: None,
            subproblems: Vec::new(),
            retry_after_s: None,
        }
    }

    /// With outside evidence, it decides: a vantage that timed out on the AAAA, the CA's
    /// words, a check the CA failed keep the IPv4 blocker; the CA validating over the AAAA
    /// proves the IPv6 path. A logged failure (history) and a check that never reached the
    /// CA are not outside evidence.
    #[test]
    fn with_outside_evidence_the_outside_decides() {
        let decisive = |s: Scenario| {
            let cx = s.context();
            assert!(cx.heard_outside());
            let mut findings = vec![ipv4_blocker()];
            ipv4_is_only_the_fallback(&cx, &mut findings);
            (findings[0].severity, findings[0].notes.clone())
        };
        let healthy_inside = || Scenario::dual_stack().v6_connects(80);
        let kept = (Severity::Blocker, Vec::new());
        assert_eq!(
            decisive(healthy_inside().vantage("https://v.example", |o| {
                o.connect("2001:db8::10", 80, crate::facts::ConnectOutcome::Timeout)
            })),
            kept
        );
        assert_eq!(
            decisive(healthy_inside().with_ca_evidence(said(
                CaSource::Pasted,
                CaSaid::Words("Timeout during connect (likely firewall problem)".into())
            ))),
            kept
        );
        assert_eq!(
            decisive(healthy_inside().with_ca_evidence(said(
                CaSource::Check,
                check(CaCheckOutcome::Invalid {
                    problem: timeout_problem(),
                    records: vec![record("2001:db8::10")],
                })
            ))),
            kept
        );
        // The CA fell back to IPv4 after its IPv6 dial failed: IPv4 is what it needs.
        assert_eq!(
            decisive(healthy_inside().with_ca_evidence(said(
                CaSource::Check,
                check(CaCheckOutcome::Valid {
                    records: vec![record("192.0.2.10")],
                })
            ))),
            kept
        );
        assert_eq!(
            decisive(healthy_inside().with_ca_evidence(said(
                CaSource::Check,
                check(CaCheckOutcome::Valid {
                    records: vec![record("2001:db8::10")],
                })
            ))),
            (Severity::Warning, vec![Note::Ipv4OnlyFallback])
        );
        // Not outside evidence: the host-only demotion applies.
        for evidence in [
            said(
                CaSource::ClientLog {
                    client: crate::facts::AcmeClient::Certbot,
                    file: "/var/log/letsencrypt/letsencrypt.log".into(),
                    line: Some(7),
                },
                CaSaid::Words("Timeout during connect (likely firewall problem)".into()),
            ),
            said(
                CaSource::Check,
                check(CaCheckOutcome::NotDone {
                    stage: CheckStage::Directory,
                    reason: "the directory did not answer".into(),
                }),
            ),
        ] {
            let s = healthy_inside().with_ca_evidence(evidence);
            let cx = s.context();
            assert!(!cx.heard_outside());
            let mut findings = vec![ipv4_blocker()];
            ipv4_is_only_the_fallback(&cx, &mut findings);
            assert_eq!(findings[0].notes, vec![Note::Ipv4OnlyFallbackHostOnly]);
        }
        // A vantage that answered but dialled nothing saw nothing.
        let s = healthy_inside().vantage("https://v.example", |o| o);
        assert!(!s.context().heard_outside());
    }

    #[test]
    fn fallback_keeps_ipv4_decisive_when_ipv6_has_any_problem() {
        let s = v6_proven();
        let cx = s.context();
        let v6_warning = Finding::new(Code::ChallengeStatus, Severity::Warning, "catch-all")
            .family(Family::Ipv6)
            .port(80);
        let mut findings = vec![ipv4_blocker(), v6_warning];
        ipv4_is_only_the_fallback(&cx, &mut findings);
        assert_eq!(findings[0].severity, Severity::Blocker);
        assert!(findings[0].notes.is_empty());
    }

    #[test]
    fn fallback_needs_the_ipv6_path_to_work() {
        let s = Scenario::dual_stack();
        let cx = s.context();
        let mut findings = vec![ipv4_blocker()];
        ipv4_is_only_the_fallback(&cx, &mut findings);
        assert_eq!(findings[0].severity, Severity::Blocker);
        let s = Scenario::ipv4_only();
        let cx = s.context();
        ipv4_is_only_the_fallback(&cx, &mut findings);
        assert_eq!(findings[0].severity, Severity::Blocker);
    }

    #[test]
    fn fallback_leaves_other_ports_and_info_alone() {
        let s = v6_proven();
        let cx = s.context();
        let on_443 = Finding::new(Code::PortTimeout, Severity::Blocker, "443")
            .family(Family::Ipv4)
            .port(443);
        let mut findings = vec![on_443];
        ipv4_is_only_the_fallback(&cx, &mut findings);
        assert_eq!(findings[0].severity, Severity::Blocker);
    }
}
