//! The diagnosis: pure functions from [`Facts`] to a ranked list of findings.
//!
//! No I/O and no clock here: every rule reads facts and nothing else, so a saved facts file
//! always gives the same diagnosis. Each rule module names the codes it emits; each code is
//! explained in `checks/<code>.md`.

mod code;
mod context;
mod dns;
pub mod firewall;
mod host;
mod http;
mod reachability;

pub use code::Code;
pub use context::Context;

use crate::facts::{Facts, Family};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The CA's validation would fail.
    Blocker,
    /// Validation may pass, but something is fragile or wrong.
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Blocker => "blocker",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// How sure the rule is. A direct observation beats an inference from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Certainty {
    Certain,
    Likely,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    pub code: Code,
    pub severity: Severity,
    pub certainty: Certainty,
    pub family: Option<Family>,
    pub port: Option<u16>,
    pub title: String,
    pub detail: String,
    pub evidence: Vec<String>,
    pub fix: Vec<String>,
    /// Codes of other findings in this diagnosis that this one causes.
    pub explains: Vec<Code>,
    /// The root cause this finding is a symptom of, when one was found.
    pub explained_by: Option<Code>,
    /// What the CA would report (Boulder's wording, `reference/ca-validation.md` §6).
    pub ca_error: Option<String>,
}

impl Finding {
    pub fn new(code: Code, severity: Severity, title: impl Into<String>) -> Finding {
        Finding {
            code,
            severity,
            certainty: Certainty::Certain,
            family: None,
            port: None,
            title: title.into(),
            detail: String::new(),
            evidence: Vec::new(),
            fix: Vec::new(),
            explains: Vec::new(),
            explained_by: None,
            ca_error: None,
        }
    }

    pub fn family(mut self, family: Family) -> Self {
        self.family = Some(family);
        self
    }

    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    pub fn likely(mut self) -> Self {
        self.certainty = Certainty::Likely;
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    pub fn evidence(mut self, line: impl Into<String>) -> Self {
        self.evidence.push(line.into());
        self
    }

    pub fn fix(mut self, line: impl Into<String>) -> Self {
        self.fix.push(line.into());
        self
    }

    pub fn explains(mut self, codes: &[Code]) -> Self {
        self.explains.extend_from_slice(codes);
        self
    }

    pub fn ca_error(mut self, text: impl Into<String>) -> Self {
        self.ca_error = Some(text.into());
        self
    }

    /// Whether `self` (a root cause) can explain `other` (a symptom): the code is listed and
    /// the family and port do not contradict each other.
    fn can_explain(&self, other: &Finding) -> bool {
        fn agree<T: PartialEq>(a: Option<T>, b: Option<T>) -> bool {
            match (a, b) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
        }
        self.explains.contains(&other.code)
            && agree(self.family, other.family)
            && agree(self.port, other.port)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Fail,
    AtRisk,
    Pass,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Fail => "fail",
            Verdict::AtRisk => "at-risk",
            Verdict::Pass => "pass",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub verdict: Verdict,
    /// A decisive fact is missing; `incomplete_reasons` says which.
    pub incomplete: bool,
    pub incomplete_reasons: Vec<String>,
    /// Ranked: root causes first, each followed by the symptoms it explains.
    pub findings: Vec<Finding>,
}

/// What rules write into.
#[derive(Default)]
pub struct Out {
    findings: Vec<Finding>,
    incomplete: Vec<String>,
}

impl Out {
    pub fn push(&mut self, finding: Finding) {
        self.findings.push(finding);
    }

    /// Records that a decisive fact is missing (the run ends with exit 3 if nothing blocks).
    pub fn incomplete(&mut self, reason: impl Into<String>) {
        self.incomplete.push(reason.into());
    }
}

/// Runs every rule on the facts and ranks what they found.
pub fn diagnose(facts: &Facts) -> Diagnosis {
    let cx = Context::new(facts);
    let mut out = Out::default();
    dns::check(&cx, &mut out);
    host::check(&cx, &mut out);
    firewall::check(&cx, &mut out);
    reachability::check(&cx, &mut out);
    http::check(&cx, &mut out);
    ipv4_only_as_fallback(&cx, &mut out.findings);
    let findings = rank(out.findings);
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
        incomplete_reasons: out.incomplete,
        findings,
    }
}

/// The CA connects over IPv6 first and tries IPv4 only after an IPv6 connect error
/// (`reference/ca-validation.md` §1 "Address choice"). So while the AAAA path works (every
/// AAAA connected on port 80, and nothing at all is wrong with IPv6) an IPv4 blocker on port
/// 80 does not fail today's validation: it becomes a warning. One place decides this for every
/// rule, after all have spoken, so that an IPv6 problem found by any rule keeps IPv4 decisive.
fn ipv4_only_as_fallback(cx: &Context, findings: &mut [Finding]) {
    let ipv6_clean = !findings
        .iter()
        .any(|f| f.family == Some(Family::Ipv6) && f.severity != Severity::Info);
    if !(ipv6_clean && cx.ipv6_path_works(80)) {
        return;
    }
    for f in findings.iter_mut() {
        if f.family == Some(Family::Ipv4) && f.port == Some(80) && f.severity == Severity::Blocker {
            f.severity = Severity::Warning;
            f.ca_error = None;
            f.detail.push_str(
                " The CA connects over IPv6 first, which works, so today it never needs IPv4; but IPv4 is the fallback the day IPv6 hiccups, and CAs or clients without IPv6 use nothing else.",
            );
        }
    }
}

fn sort_key(f: &Finding) -> (Severity, Certainty, Code, Option<Family>, Option<u16>) {
    (f.severity, f.certainty, f.code, f.family, f.port)
}

/// Root causes first (by severity, then certainty), each followed by the symptoms it
/// explains; `explains` is narrowed to what is actually present.
fn rank(mut findings: Vec<Finding>) -> Vec<Finding> {
    findings.sort_by_key(sort_key);
    let n = findings.len();
    // The first (best-ranked) finding that explains i, never i itself, never a finding that
    // i explains in turn (no cycles).
    let explainer: Vec<Option<usize>> = (0..n)
        .map(|i| {
            (0..n).find(|&j| {
                j != i
                    && findings[j].can_explain(&findings[i])
                    && !findings[i].can_explain(&findings[j])
            })
        })
        .collect();
    for i in 0..n {
        findings[i].explained_by = explainer[i].map(|j| findings[j].code);
    }
    for j in 0..n {
        let present: Vec<Code> = (0..n)
            .filter(|&i| explainer[i] == Some(j))
            .map(|i| findings[i].code)
            .fold(Vec::new(), |mut acc, c| {
                if !acc.contains(&c) {
                    acc.push(c);
                }
                acc
            });
        findings[j].explains = present;
    }
    let mut ranked = Vec::with_capacity(n);
    for root in (0..n).filter(|&i| explainer[i].is_none()) {
        ranked.push(findings[root].clone());
        for symptom in (0..n).filter(|&i| explainer[i] == Some(root)) {
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

    #[test]
    fn root_cause_ranks_above_the_symptom_it_explains() {
        let symptom = Finding::new(Code::PortTimeout, Severity::Blocker, "timeout")
            .family(Family::Ipv6)
            .port(80);
        let root = Finding::new(Code::Ipv6Disabled, Severity::Blocker, "off")
            .family(Family::Ipv6)
            .port(80)
            .likely()
            .explains(&[Code::PortTimeout, Code::PortRefused]);
        let ranked = rank(vec![symptom, root]);
        assert_eq!(ranked[0].code, Code::Ipv6Disabled);
        assert_eq!(ranked[0].explains, vec![Code::PortTimeout]);
        assert_eq!(ranked[1].explained_by, Some(Code::Ipv6Disabled));
    }

    #[test]
    fn a_root_for_one_family_does_not_explain_the_other() {
        let v4 = Finding::new(Code::PortTimeout, Severity::Blocker, "t").family(Family::Ipv4);
        let root = Finding::new(Code::Ipv6Disabled, Severity::Blocker, "off")
            .family(Family::Ipv6)
            .explains(&[Code::PortTimeout]);
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
        let codes: Vec<Code> = ranked.iter().map(|f| f.code).collect();
        assert_eq!(
            codes,
            [Code::DnsNxdomain, Code::ReservedAddress, Code::NotOnHost]
        );
    }
}
