//! The diagnosis: pure functions from facts to a ranked list of findings.
//!
//! No I/O and no clock here: every check reads facts and nothing else, so a saved facts file
//! always gives the same diagnosis. The method is the main axis: [`registry`] lists every
//! check with the codes it emits and the methods it applies to, and [`diagnose`] runs those of
//! the target's method. Each code is explained in `checks/<code>.md`; `docs/architecture.md`
//! shows how to add a check or a method.

pub mod ca;
mod causes;
mod check;
mod checks;
mod code;
mod context;
mod dns01;
mod finding;
mod hairpin;
pub(crate) mod http01;
mod method_assumed;
mod origin;
mod rank;
pub mod registry;
mod sources;
#[cfg(test)]
mod testkit;
pub(crate) mod tlsalpn01;

pub use checks::outside::BLIND_SPOT;
pub use code::Code;
pub use context::{Context, Ipv6Off};
pub use finding::{
    Certainty, Diagnosis, Finding, Incomplete, IncompleteKind, Note, Severity, Verdict,
};

use crate::facts::{RunFacts, TargetFacts};

/// What checks write into. Each finding is held to the codes its check declared.
pub struct Out {
    findings: Vec<Finding>,
    incomplete: Vec<Incomplete>,
    declared: &'static [Code],
}

impl Out {
    fn new() -> Out {
        Out {
            findings: Vec::new(),
            incomplete: Vec::new(),
            declared: &[],
        }
    }

    pub fn push(&mut self, finding: Finding) {
        debug_assert!(
            self.declared.contains(&finding.code),
            "{} is not among the codes its check declares",
            finding.code
        );
        self.findings.push(finding);
    }

    /// Records that a decisive fact is missing (the run ends with exit 3 if nothing blocks).
    pub fn incomplete(&mut self, kind: IncompleteKind, reason: impl Into<String>) {
        self.incomplete.push(Incomplete::new(kind, reason));
    }
}

/// A check: detection (facts in, evidence out) and wording (evidence in, finding out) apart,
/// so each half can be tested on its own.
pub trait Check {
    /// What the check found, as data.
    type Evidence;
    fn detect(&self, cx: &Context) -> Vec<Self::Evidence>;
    fn word(&self, cx: &Context, evidence: &Self::Evidence) -> Finding;
    /// Whether this evidence leaves the run without a decisive fact, and why.
    fn incomplete(&self, _cx: &Context, _evidence: &Self::Evidence) -> Option<Incomplete> {
        None
    }
}

/// Runs one check into `out`.
pub fn run_check<C: Check>(check: &C, cx: &Context, out: &mut Out) {
    for evidence in check.detect(cx) {
        if let Some(missing) = check.incomplete(cx, &evidence) {
            out.incomplete.push(missing);
        }
        out.push(check.word(cx, &evidence));
    }
}

/// Diagnoses one target of a run: the checks of its method, the cross-check policies, the
/// ranking.
pub fn diagnose(run: &RunFacts, target: &TargetFacts) -> Diagnosis {
    let cx = Context::new(run, target);
    let mut out = Out::new();
    for check in registry::for_method(target.method()) {
        out.declared = check.codes;
        (check.run)(&cx, &mut out);
    }
    let mut findings = out.findings;
    for pass in registry::passes_for(target.method()) {
        (pass.run)(&cx, &mut findings);
    }
    let findings = rank::rank(findings);
    let verdict = if findings.iter().any(|f| f.severity == Severity::Blocker) {
        Verdict::Fail
    } else if findings.iter().any(|f| f.severity == Severity::Warning) {
        Verdict::AtRisk
    } else {
        Verdict::Pass
    };
    Diagnosis {
        verdict,
        incomplete: !out.incomplete.is_empty(),
        incomplete_kinds: kinds(&out.incomplete),
        incomplete_reason_kinds: out.incomplete.iter().map(|i| i.kind).collect(),
        incomplete_reasons: out.incomplete.into_iter().map(|i| i.reason).collect(),
        findings,
        content_unverified: http01::answer::content_unverified(&cx),
    }
}

/// Each kind once, in order of first appearance.
fn kinds(missing: &[Incomplete]) -> Vec<IncompleteKind> {
    let mut kinds = Vec::new();
    for m in missing {
        if !kinds.contains(&m.kind) {
            kinds.push(m.kind);
        }
    }
    kinds
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::Scenario;
    use crate::facts::{ConnectOutcome, HttpOutcome};

    /// Every way one address can fail the CA on port 80, and a healthy answer.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Kind {
        ConnectTimeout,
        ConnectRefused,
        HostUnreachable,
        Status(u16),
        Redirect(u16, &'static str),
        HttpTimeout,
        Reset,
        NoHttp,
        Healthy,
    }

    const FAILURES: &[Kind] = &[
        Kind::ConnectTimeout,
        Kind::ConnectRefused,
        Kind::HostUnreachable,
        Kind::Status(403),
        Kind::Status(500),
        Kind::Status(503),
        Kind::Status(204),
        Kind::Redirect(303, "https://example.test/"),
        Kind::Redirect(301, "http://example.test:8080/x"),
        Kind::Redirect(302, "http://example.test:8443/y"),
        Kind::Redirect(301, "ftp://example.test/x"),
        Kind::Redirect(301, "https://example.test.well-known/acme-challenge/T"),
        Kind::HttpTimeout,
        Kind::Reset,
        Kind::NoHttp,
    ];

    fn apply(s: Scenario, address: &str, kind: Kind) -> Scenario {
        match kind {
            Kind::ConnectTimeout => s.connect(address, 80, ConnectOutcome::Timeout),
            Kind::ConnectRefused => s.connect(address, 80, ConnectOutcome::Refused),
            Kind::HostUnreachable => s.connect(address, 80, ConnectOutcome::HostUnreachable),
            Kind::Status(status) => s.http(address, status, None),
            Kind::Redirect(status, to) => s.http(address, status, Some(to)),
            Kind::HttpTimeout => s.http_outcome(address, HttpOutcome::Timeout),
            Kind::Reset => s.http_outcome(address, HttpOutcome::Reset),
            Kind::NoHttp => s.http_outcome(
                address,
                HttpOutcome::Error {
                    message: "connection closed before message completed".into(),
                },
            ),
            Kind::Healthy => s.http(address, 404, None),
        }
    }

    fn verdict(s: &Scenario) -> Verdict {
        let cx = s.context();
        diagnose(cx.run, cx.target).verdict
    }

    /// Two A records, no AAAA: `a` on the first, `b` on the second.
    fn ipv4_pair(a: Kind, b: Kind) -> Scenario {
        let s = Scenario::ipv4_only().a(&["192.0.2.10", "192.0.2.11"]);
        apply(apply(s, "192.0.2.10", a), "192.0.2.11", b)
    }

    /// Two AAAA records failing after the IPv4 path is healthy.
    fn ipv6_pair(a: Kind, b: Kind) -> Scenario {
        let s = Scenario::dual_stack()
            .aaaa(&["2001:db8::10", "2001:db8::11"])
            .local(&["2001:db8::11"]);
        let s = apply(s, "192.0.2.10", Kind::Healthy);
        apply(apply(s, "2001:db8::10", a), "2001:db8::11", b)
    }

    #[test]
    fn every_address_failing_fails_the_domain_however_differently() {
        for (i, &a) in FAILURES.iter().enumerate() {
            for &b in &FAILURES[i..] {
                assert_eq!(
                    verdict(&ipv4_pair(a, b)),
                    Verdict::Fail,
                    "A records failing with {a:?} and {b:?}"
                );
                // The same rule on IPv6: a mix of failures is judged as harshly as either
                // failure on every address.
                let alike = |k| verdict(&ipv6_pair(k, k));
                if alike(a) == Verdict::Fail && alike(b) == Verdict::Fail {
                    assert_eq!(
                        verdict(&ipv6_pair(a, b)),
                        Verdict::Fail,
                        "AAAA records failing with {a:?} and {b:?}"
                    );
                }
            }
        }
        // The cases the issue saw passing.
        for (a, b) in [
            (Kind::Status(403), Kind::Status(500)),
            (Kind::Status(403), Kind::Status(503)),
        ] {
            assert_eq!(verdict(&ipv6_pair(a, b)), Verdict::Fail);
        }
    }

    #[test]
    fn a_failure_beside_a_healthy_address_is_only_a_risk() {
        for &a in FAILURES {
            assert_eq!(
                verdict(&ipv4_pair(a, Kind::Healthy)),
                Verdict::AtRisk,
                "A records: {a:?} beside a healthy one"
            );
            assert_eq!(
                verdict(&ipv6_pair(Kind::Healthy, a)),
                Verdict::AtRisk,
                "AAAA records: {a:?} beside a healthy one"
            );
        }
    }

    /// TLS-ALPN-01 shares the connects and the checks that read them: they judge port 443,
    /// and say what must answer there.
    #[test]
    fn the_shared_checks_judge_port_443_for_tls_alpn_01() {
        let judge = |s: Scenario| {
            let cx = s.context();
            diagnose(cx.run, cx.target)
        };
        let d = judge(
            Scenario::tls_alpn()
                .listeners(vec![])
                .connect("192.0.2.10", 443, ConnectOutcome::Refused)
                .connect("2001:db8::10", 443, ConnectOutcome::Refused),
        );
        assert_eq!(d.verdict, Verdict::Fail);
        let first = &d.findings[0];
        assert_eq!(first.code, Code::NoListener, "{:?}", d.findings);
        assert!(first.title.contains("port 443"), "{}", first.title);
        assert!(
            first
                .fix
                .iter()
                .any(|f| f.contains("tls-alpn-01 responder"))
        );
        assert!(
            d.findings.iter().all(|f| f.port.is_none_or(|p| p == 443)),
            "port 80 plays no part: {:?}",
            d.findings
        );
        // A timeout on the AAAA's port 443 fails the first address the CA dials.
        let d = judge(
            Scenario::tls_alpn()
                .connect("192.0.2.10", 443, ConnectOutcome::Connected)
                .connect("2001:db8::10", 443, ConnectOutcome::Timeout),
        );
        let timeout = d
            .findings
            .iter()
            .find(|f| f.code == Code::PortTimeout)
            .expect("port-timeout");
        assert_eq!(timeout.port, Some(443));
        assert!(timeout.detail.contains("tls-alpn-01"), "{}", timeout.detail);
        // Nothing dialled and nothing refused: the same scenario connected is clean.
        let d = judge(
            Scenario::tls_alpn()
                .connect("192.0.2.10", 443, ConnectOutcome::Connected)
                .connect("2001:db8::10", 443, ConnectOutcome::Connected),
        );
        assert_eq!(d.verdict, Verdict::Pass, "{:?}", d.findings);
    }

    /// 20,000 addresses, each redirecting to a different refused port, once took minutes:
    /// grouping and ranking must stay linear. This finishes in well under a second.
    #[test]
    fn thousands_of_addresses_each_failing_differently_are_judged_in_one_pass() {
        let s = Scenario::dual_stack()
            .http("192.0.2.10", 404, None)
            .many_aaaa(20_000, |i| HttpOutcome::Response {
                status: 301,
                server: None,
                location: Some(format!("http://example.test:{}/x", 10_000 + u32::from(i))),
                body_prefix: String::new(),
                body_bytes: 0,
                body_truncated: false,
                page: Default::default(),
            });
        let cx = s.context();
        let d = diagnose(cx.run, cx.target);
        assert_eq!(d.verdict, Verdict::Fail);
        let redirects = d
            .findings
            .iter()
            .filter(|f| f.code == Code::BadRedirect)
            .count();
        assert_eq!(redirects, 20_000);
    }
}
