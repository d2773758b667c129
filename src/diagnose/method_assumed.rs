//! Issue 20 item 4: a name no ACME client configuration on this host names was checked with
//! http-01 by default (`facts::MethodFrom::Assumed`). Where that judges port 80 closed, the
//! finding says the method was assumed: a name validated by DNS-01 or TLS-ALPN-01 needs no
//! port 80, and `--method` says so.

use super::{Code, Context, Finding, Note};
use crate::facts::MethodFrom;

/// The codes that say nothing answers on the validation port (or its path is cut).
const PORT_CLOSED: &[Code] = &[
    Code::PortRefused,
    Code::PortTimeout,
    Code::AddressUnreachable,
    Code::NoListener,
    Code::ListenerWrongAddress,
    Code::FirewallDrops,
    Code::FirewallAllowlist,
    Code::ForwardDrops,
    Code::BlockedUpstream,
    Code::ContainerNoIpv6,
    Code::ContainerPortNotPublished,
];

/// Notes the assumption on each finding that judges the validation port closed; names the
/// configurations that could not be read (one of them might have named the name).
pub fn annotate(cx: &Context, findings: &mut [Finding]) {
    let Some(MethodFrom::Assumed { unreadable }) = &cx.target.method_from else {
        return;
    };
    let Some(port) = cx.validation_port() else {
        return;
    };
    for f in findings
        .iter_mut()
        .filter(|f| f.port == Some(port) && PORT_CLOSED.contains(&f.code))
    {
        f.notes.push(Note::MethodAssumed);
        f.evidence.push(format!(
            "assumed {}: no ACME client configuration on this host names {}; pass --method if it is validated another way",
            cx.method().as_str(),
            cx.domain
        ));
        if !unreadable.is_empty() {
            f.evidence.push(format!(
                "ACME client configuration not readable: {}",
                unreadable.join(", ")
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::Severity;
    use crate::diagnose::testkit::Scenario;
    use crate::facts::Family;

    fn refused() -> Finding {
        Finding::new(Code::PortRefused, Severity::Blocker, "refused")
            .family(Family::Ipv4)
            .port(80)
    }

    #[test]
    fn a_closed_port_says_the_method_was_assumed() {
        let s = Scenario::dual_stack().method_from(Some(MethodFrom::Assumed {
            unreadable: vec!["/etc/letsencrypt/renewal".into()],
        }));
        let cx = s.context();
        let other = Finding::new(Code::ChallengeStatus, Severity::Blocker, "404").port(80);
        let mut findings = vec![refused(), other];
        annotate(&cx, &mut findings);
        assert_eq!(findings[0].notes, vec![Note::MethodAssumed]);
        assert!(
            findings[0].evidence[0].starts_with(
                "assumed http-01: no ACME client configuration on this host names example.test"
            ),
            "{:?}",
            findings[0].evidence
        );
        assert!(findings[0].evidence[1].contains("/etc/letsencrypt/renewal"));
        // A finding about the answer, not the port, is left alone.
        assert!(findings[1].notes.is_empty());
    }

    /// A method that was given, or came from a configuration, or facts from before it was
    /// recorded: nothing is said.
    #[test]
    fn a_known_method_says_nothing() {
        for from in [None, Some(MethodFrom::Given { config: None })] {
            let s = Scenario::dual_stack().method_from(from);
            let cx = s.context();
            let mut findings = vec![refused()];
            annotate(&cx, &mut findings);
            assert!(findings[0].notes.is_empty());
            assert!(findings[0].evidence.is_empty());
        }
    }
}
