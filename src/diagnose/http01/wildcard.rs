//! A wildcard name cannot be validated with HTTP-01 (RFC 8555 §7.1.3): the CA offers only
//! DNS-based challenges for it.
//!
//! Code: `wildcard-needs-dns01`.

use crate::diagnose::check::CheckDef;
use crate::diagnose::{Check, Code, Context, Finding, Severity, run_check};
use crate::facts::Method;

pub const CHECK: CheckDef = CheckDef {
    name: "wildcard",
    codes: &[Code::WildcardNeedsDns01],
    methods: &[Method::Http01, Method::TlsAlpn01],
    run: |cx, out| run_check(&Wildcard, cx, out),
};

pub struct Wildcard;

impl Check for Wildcard {
    /// The name as the user typed it.
    type Evidence = String;

    fn detect(&self, cx: &Context) -> Vec<String> {
        let domain = &cx.target.target.domain;
        if domain.wildcard {
            vec![domain.input.clone()]
        } else {
            Vec::new()
        }
    }

    fn word(&self, cx: &Context, input: &String) -> Finding {
        Finding::new(
            Code::WildcardNeedsDns01,
            Severity::Blocker,
            format!("*.{} can only be validated with dns-01, not http-01", cx.domain),
        )
        .detail("CAs offer only DNS-based challenges for wildcard names (RFC 8555 §7.1.3); the authorization has no http-01 challenge.")
        .evidence(format!("asked: {input} with http-01"))
        .fix("use dns-01: certbot --preferred-challenges dns with a DNS plugin, acme.sh --dns, lego --dns PROVIDER")
        .fix(format!("or request the plain name {} (http-01 works there)", cx.domain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::Scenario;

    #[test]
    fn only_wildcards_are_found() {
        assert!(
            Wildcard
                .detect(&Scenario::dual_stack().context())
                .is_empty()
        );
        let s = Scenario::dual_stack().wildcard();
        let found = Wildcard.detect(&s.context());
        assert_eq!(found, vec!["*.example.test".to_string()]);
        let f = Wildcard.word(&s.context(), &found[0]);
        assert_eq!(f.code, Code::WildcardNeedsDns01);
        assert_eq!(f.severity, Severity::Blocker);
    }
}
