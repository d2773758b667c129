//! `--ca-check` could not publish the challenge, so it asked the CA nothing (issue 19 item
//! 1): port 80 held with no webroot, 443 held for TLS-ALPN-01, DNS-01 without `--dns-hook`,
//! a webroot that refused the file. Not a blame on the server: acme-doctor will not stop
//! someone's web server to answer the CA itself. The run stays incomplete (the CA join gives
//! every check without a verdict the `ca-check-not-done` kind); this says what would let the
//! check run.
//!
//! Code: `ca-check-refused`.

use crate::diagnose::check::CheckDef;
use crate::diagnose::{Check, Code, Context, Finding, Severity, run_check};
use crate::facts::{CaCheckOutcome, CaSaid, CaSource, CheckStage, Method};

pub const CHECK: CheckDef = CheckDef {
    name: "ca-check-refused",
    codes: &[Code::CaCheckRefused],
    methods: &[Method::Http01, Method::Dns01, Method::TlsAlpn01],
    run: |cx, out| run_check(&Refused, cx, out),
};

pub struct Refused;

impl Check for Refused {
    /// The directory asked, and why nothing could be published.
    type Evidence = (String, String);

    fn detect(&self, cx: &Context) -> Vec<(String, String)> {
        cx.target
            .ca
            .iter()
            .filter(|e| e.source == CaSource::Check)
            .filter_map(|e| match &e.said {
                CaSaid::Check(check) => match &check.outcome {
                    CaCheckOutcome::NotDone {
                        stage: CheckStage::Publish,
                        reason,
                    } => Some((check.directory.clone(), reason.clone())),
                    _ => None,
                },
                CaSaid::Words(_) => None,
            })
            .collect()
    }

    fn word(&self, cx: &Context, (directory, why): &(String, String)) -> Finding {
        let mut f = Finding::new(
            Code::CaCheckRefused,
            Severity::Info,
            "--ca-check asked the CA nothing: acme-doctor could not publish the challenge",
        )
        .detail(format!(
            "acme-doctor publishes the CA's challenge itself only where that takes nothing from anyone: a file under a webroot, its own responder on a port nothing holds, or your DNS hook. Here: {why}. No order was made and no failed authorization was counted."
        ))
        .evidence(format!("directory: {directory}"))
        .evidence(why.clone());
        f = match cx.target.method() {
            Method::Http01 => f
                .fix("give the directory your web server serves /.well-known/acme-challenge/ from: --webroot DIR")
                .fix("or let acme-doctor read it from nginx: --webroot auto"),
            Method::TlsAlpn01 => f.fix(
                "run the check while the server on 443 is stopped, or check http-01 instead (--method http-01 --webroot DIR)",
            ),
            Method::Dns01 => f.fix(
                "give the command that publishes the TXT record: --dns-hook CMD (called as certbot's manual hooks are)",
            ),
        };
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::diagnose;
    use crate::diagnose::testkit::Scenario;
    use crate::facts::{CaCheck, CaEvidence, Published};

    #[test]
    fn a_check_that_could_not_publish_is_an_info_finding_that_says_why() {
        let s = Scenario::dual_stack();
        let cx = s.context();
        assert!(Refused.detect(&cx).is_empty());
        let mut target = cx.target.clone();
        target.ca.push(CaEvidence {
            source: CaSource::Check,
            at: None,
            said: CaSaid::Check(Box::new(CaCheck {
                directory: "https://ca.example/dir".into(),
                method: Method::Http01,
                published: Published::Nothing,
                outcome: CaCheckOutcome::NotDone {
                    stage: CheckStage::Publish,
                    reason: "http-01: port 80 is held by nginx (pid 7) on 0.0.0.0:80".into(),
                },
                failed_authorizations: 0,
                elapsed_ms: 3,
            })),
        });
        let d = diagnose(cx.run, &target);
        let f = d
            .findings
            .iter()
            .find(|f| f.code == Code::CaCheckRefused)
            .expect("the finding");
        assert_eq!(f.severity, Severity::Info);
        assert!(
            f.detail.contains("port 80 is held by nginx"),
            "{}",
            f.detail
        );
        assert!(
            f.fix.iter().any(|x| x.contains("--webroot auto")),
            "{:?}",
            f.fix
        );
    }
}
