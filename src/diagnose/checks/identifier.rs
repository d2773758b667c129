//! An IP identifier (RFC 8738) at Let's Encrypt: issued only under a short-lived certificate
//! profile, which the ACME client must ask for (`docs/ca-behaviour.md` §11.8).
//!
//! Code: `ip-needs-shortlived-profile`.

use crate::diagnose::check::CheckDef;
use crate::diagnose::{Check, Code, Context, Finding, Severity, run_check};
use crate::facts::Method;
use std::net::IpAddr;

pub const CHECK: CheckDef = CheckDef {
    name: "ip-identifier",
    codes: &[Code::IpNeedsShortlivedProfile],
    methods: &[Method::Http01, Method::TlsAlpn01],
    run: |cx, out| run_check(&IpIdentifier, cx, out),
};

pub struct IpIdentifier;

impl Check for IpIdentifier {
    /// The identifier's address.
    type Evidence = IpAddr;

    fn detect(&self, cx: &Context) -> Vec<IpAddr> {
        cx.target.target.domain.ip.into_iter().collect()
    }

    fn word(&self, cx: &Context, ip: &IpAddr) -> Finding {
        Finding::new(
            Code::IpNeedsShortlivedProfile,
            Severity::Info,
            format!(
                "{ip} is an IP identifier: Let's Encrypt issues it only under its short-lived certificate profile, which the ACME client must request"
            ),
        )
        .detail(
            "Whether an order may hold an IP address is a property of the CA's certificate profile. At Let's Encrypt only the short-lived profile (named shortlived when this was written; certificates valid about 6 days) allows one; an order under the default profile is refused before any validation with: Error creating new order :: Default profile does not permit IP address identifiers. See available profiles at https://letsencrypt.org/docs/profiles/. Other CAs set their own rules.",
        )
        .evidence(format!(
            "identifier: type ip, value {} (no DNS and no CAA are involved; the CA dials {} itself)",
            cx.domain, cx.url_host
        ))
        .fix("make the ACME client request the short-lived profile listed at https://letsencrypt.org/docs/profiles/ (Caddy 2.10 or later: `profile` in the acme issuer; Traefik: certificatesResolvers.<name>.acme.profile), and renew well within its short lifetime")
        .fix("the client must also send an ip identifier, not a dns one (lego from 4.11.0; Debian's lego 4.9.1 cannot)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::Scenario;

    #[test]
    fn only_ip_identifiers_get_the_note() {
        assert!(
            IpIdentifier
                .detect(&Scenario::dual_stack().context())
                .is_empty()
        );
        let s = Scenario::dual_stack().ip_identifier("2001:db8::1");
        let cx = s.context();
        let found = IpIdentifier.detect(&cx);
        assert_eq!(found, vec!["2001:db8::1".parse::<IpAddr>().unwrap()]);
        let f = IpIdentifier.word(&cx, &found[0]);
        assert_eq!(f.severity, Severity::Info);
        assert!(f.title.contains("short-lived"), "{}", f.title);
        // A rename of the profile leaves the words true: the name is only an example.
        assert!(f.detail.contains("named shortlived when this was written"));
        assert!(f.evidence.iter().any(|e| e.contains("[2001:db8::1]")));
    }
}
