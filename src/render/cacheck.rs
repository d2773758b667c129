//! The lines that say a `--ca-check` ran (issue 19 item 1): which directory, what was
//! published, what the CA said, what the run consumed of its rate limits, how long it took.
//! What the CA's words mean is the diagnosis's; these lines only report the check itself.

use crate::facts::{CaCheck, CaCheckOutcome, CaSaid, CaSource, CheckStage, Published, TargetFacts};
use crate::sanitize;

/// The checks of this target, one line each, without indentation or colour.
pub fn lines(target: &TargetFacts) -> Vec<String> {
    target
        .ca
        .iter()
        .filter(|e| e.source == CaSource::Check)
        .filter_map(|e| match &e.said {
            CaSaid::Check(check) => Some(line(check)),
            CaSaid::Words(_) => None,
        })
        .collect()
}

/// One check in words.
pub fn line(check: &CaCheck) -> String {
    let directory = sanitize::line(&check.directory, 200);
    let said = match &check.outcome {
        CaCheckOutcome::Valid { .. } => format!("{directory} validated it"),
        CaCheckOutcome::Invalid { problem, .. } => {
            let kind = problem
                .type_urn
                .strip_prefix("urn:ietf:params:acme:error:")
                .unwrap_or(&problem.type_urn);
            let retry = problem
                .retry_after_s
                .map(|s| format!(" (retry after {s} s)"))
                .unwrap_or_default();
            format!(
                "{directory} refused it: {}: {}{retry}",
                sanitize::line(kind, 80),
                sanitize::line(&problem.detail, 500)
            )
        }
        CaCheckOutcome::NotDone { stage, reason } => format!(
            "not done ({}): {}",
            stage_words(*stage),
            sanitize::line(reason, 500)
        ),
    };
    let consumed = match check.failed_authorizations {
        1 => "1 failed authorization counted against the rate limits".to_string(),
        n => format!("{n} failed authorizations counted against the rate limits"),
    };
    format!(
        "CA check: {said} · {} · {} · {consumed} · {:.1} s",
        check.method.as_str(),
        published(&check.published),
        check.elapsed_ms as f64 / 1000.0
    )
}

fn published(p: &Published) -> String {
    match p {
        Published::Webroot { root, from } => format!(
            "published in {} (from {})",
            sanitize::line(root, 200),
            sanitize::line(from, 200)
        ),
        Published::Standalone { port, bound } => format!(
            "published by acme-doctor's own responder on port {port} ({})",
            sanitize::line(&bound.join(", "), 200)
        ),
        Published::DnsHook { command } => {
            format!("published by --dns-hook {}", sanitize::line(command, 200))
        }
        Published::Nothing => "nothing published".to_string(),
    }
}

fn stage_words(stage: CheckStage) -> &'static str {
    match stage {
        CheckStage::Directory => "the directory",
        CheckStage::Order => "the order",
        CheckStage::Publish => "publishing the challenge",
        CheckStage::Validate => "the validation",
        CheckStage::Interrupted => "interrupted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{AcmeProblem, Method};

    fn check(outcome: CaCheckOutcome, failed: u32) -> CaCheck {
        CaCheck {
            directory: "https://ca.example/dir".into(),
            method: Method::Http01,
            published: Published::Standalone {
                port: 80,
                bound: vec!["[::]:80".into(), "0.0.0.0:80".into()],
            },
            outcome,
            failed_authorizations: failed,
            elapsed_ms: 1234,
        }
    }

    #[test]
    fn a_check_says_where_what_and_what_it_cost() {
        let valid = line(&check(CaCheckOutcome::Valid { records: vec![] }, 0));
        assert_eq!(
            valid,
            "CA check: https://ca.example/dir validated it · http-01 · published by acme-doctor's own responder on port 80 ([::]:80, 0.0.0.0:80) · 0 failed authorizations counted against the rate limits · 1.2 s"
        );
        let invalid = line(&check(
            CaCheckOutcome::Invalid {
                problem: AcmeProblem {
                    type_urn: "urn:ietf:params:acme:error:connection".into(),
                    detail: "Timeout during connect\u{1b}[31m".into(),
                    status: Some(400),
                    identifier: None,
                    subproblems: vec![],
                    retry_after_s: None,
                },
                records: vec![],
            },
            1,
        ));
        assert!(
            invalid.contains("refused it: connection: Timeout during connect"),
            "{invalid}"
        );
        assert!(!invalid.contains('\u{1b}'), "{invalid}");
        assert!(
            invalid.contains("1 failed authorization counted"),
            "{invalid}"
        );
    }
}
