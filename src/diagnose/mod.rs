//! The diagnosis: pure functions from facts to a ranked list of findings.
//!
//! No I/O and no clock here: every check reads facts and nothing else, so a saved facts file
//! always gives the same diagnosis. The method is the main axis: [`registry`] lists every
//! check with the codes it emits and the methods it applies to, and [`diagnose`] runs those of
//! the target's method. Each code is explained in `checks/<code>.md`; `docs/architecture.md`
//! shows how to add a check or a method.

pub mod ca;
mod causes;
mod checks;
mod code;
mod context;
mod dns01;
mod finding;
mod http01;
mod rank;
pub mod registry;
#[cfg(test)]
mod testkit;

pub use checks::firewall;
pub use code::Code;
pub use context::{Context, Ipv6Off};
pub use finding::{Certainty, Diagnosis, Finding, Note, Severity, Verdict};

use crate::facts::{RunFacts, TargetFacts};

/// What checks write into. Each finding is held to the codes its check declared.
pub struct Out {
    findings: Vec<Finding>,
    incomplete: Vec<String>,
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
    pub fn incomplete(&mut self, reason: impl Into<String>) {
        self.incomplete.push(reason.into());
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
    fn incomplete(&self, _cx: &Context, _evidence: &Self::Evidence) -> Option<String> {
        None
    }
}

/// Runs one check into `out`.
pub fn run_check<C: Check>(check: &C, cx: &Context, out: &mut Out) {
    for evidence in check.detect(cx) {
        if let Some(reason) = check.incomplete(cx, &evidence) {
            out.incomplete(reason);
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
    rank::ipv4_is_only_the_fallback(&cx, &mut findings);
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
        incomplete_reasons: out.incomplete,
        findings,
    }
}
