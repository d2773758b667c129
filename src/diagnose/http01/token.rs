//! Under `--all` a real token is written in each webroot the ACME clients name, so the name is
//! checked as the CA checks it. When none could be written for this name's webroot (its
//! configuration is not trusted, or its owner may not write there), the name was checked with a
//! random token: the content the CA needs was not verified, and this says why.
//!
//! Code: `token-not-written`.

use crate::diagnose::check::CheckDef;
use crate::diagnose::{Check, Code, Context, Finding, Severity, run_check};
use crate::facts::{ManagedCert, Method};

pub const CHECK: CheckDef = CheckDef {
    name: "token",
    codes: &[Code::TokenNotWritten],
    methods: &[Method::Http01],
    run: |cx, out| run_check(&Token, cx, out),
};

pub struct Token;

impl Check for Token {
    /// The certificate, and why no token was written for it.
    type Evidence = (ManagedCert, String);

    fn detect(&self, cx: &Context) -> Vec<(ManagedCert, String)> {
        cx.target
            .certificate
            .as_ref()
            .and_then(|c| Some((c.clone(), c.token_not_written.clone()?)))
            .into_iter()
            .collect()
    }

    fn word(&self, _cx: &Context, (cert, why): &(ManagedCert, String)) -> Finding {
        Finding::new(
            Code::TokenNotWritten,
            Severity::Info,
            "no real token was written in this name's webroot: it was checked with a random one",
        )
        .detail(format!(
            "acme-doctor writes a real token with the permissions of the owner of the configuration that names the webroot, and none for a configuration it does not trust. Here: {why}. Whether the web server serves files from that webroot was not verified."
        ))
        .evidence(format!(
            "{} {}: `{}` ({})",
            cert.client,
            cert.place(),
            cert.key,
            cert.challenge.describe()
        ))
        .evidence(why.clone())
        .fix(format!(
            "make {} belong to the owner of its home and writable only by that owner, or point it at a webroot its owner may write",
            cert.config
        ))
        .fix("or check the name alone with a token written by hand: acme-doctor NAME --webroot DIR")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::diagnose;
    use crate::diagnose::testkit::Scenario;
    use crate::facts::Challenge;

    #[test]
    fn a_token_not_written_is_an_info_finding_that_says_why() {
        let s = Scenario::dual_stack().certificate(Challenge::Webroot {
            path: "/srv/rootonly".into(),
        });
        assert!(Token.detect(&s.context()).is_empty());
        let s = s.token_not_written("webroot /srv/rootonly: not written: uid 65534 may not write");
        let cx = s.context();
        let d = diagnose(cx.run, cx.target);
        let f = d
            .findings
            .iter()
            .find(|f| f.code == Code::TokenNotWritten)
            .expect("the finding");
        assert_eq!(f.severity, Severity::Info);
        assert!(f.detail.contains("uid 65534 may not write"), "{}", f.detail);
        assert!(
            f.evidence[0].contains("example.test.conf:12"),
            "{:?}",
            f.evidence
        );
    }
}
