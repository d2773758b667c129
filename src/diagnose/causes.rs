//! One table of causes: which root code explains which symptom codes, and an explicit rank for
//! every code. Ranking reads nothing else, so the order never depends on where a code is
//! declared.

use super::Code;

/// Root → the symptoms it explains, when family and port agree.
pub const CAUSES: &[(Code, &[Code])] = &[
    (
        Code::Ipv6Disabled,
        &[
            Code::PortTimeout,
            Code::PortRefused,
            Code::AddressUnreachable,
            Code::NoListener,
            Code::BlockedUpstream,
            Code::TlsAlpnNoIpv4Fallback,
        ],
    ),
    (
        Code::Ipv6NoRoute,
        &[
            Code::PortTimeout,
            Code::AddressUnreachable,
            Code::BlockedUpstream,
            Code::TlsAlpnNoIpv4Fallback,
        ],
    ),
    (
        Code::AaaaNotLocal,
        &[
            Code::PortTimeout,
            Code::PortRefused,
            Code::AddressUnreachable,
            // The AAAA is another machine's: its site answers the CA, not this one.
            Code::FamiliesDisagree,
            Code::ChallengeNotServed,
            Code::ChallengeStatus,
            Code::TlsAlpnNoIpv4Fallback,
        ],
    ),
    // A cause on the host itself explains what the outside sees; `blocked-upstream` is
    // then only its symptom.
    (
        Code::FirewallDrops,
        &[
            Code::PortTimeout,
            Code::PortRefused,
            Code::AddressUnreachable,
            Code::BlockedUpstream,
            Code::VantageDependent,
            Code::TlsAlpnNoIpv4Fallback,
            // Issue 20 item 2: a rule that drops the request after the handshake.
            Code::HttpNoResponse,
        ],
    ),
    (
        Code::FirewallAllowlist,
        &[
            Code::PortTimeout,
            Code::PortRefused,
            Code::BlockedUpstream,
            Code::VantageDependent,
            Code::TlsAlpnNoIpv4Fallback,
        ],
    ),
    // Correlated from outside: the cause the host alone reads as a timeout or a refusal.
    (
        Code::BlockedUpstream,
        &[
            Code::PortTimeout,
            Code::PortRefused,
            Code::AddressUnreachable,
            Code::TlsAlpnNoIpv4Fallback,
        ],
    ),
    (
        Code::OutsideSeesOtherServer,
        &[Code::ChallengeStatus, Code::HttpNoResponse],
    ),
    (
        Code::ListenerWrongAddress,
        &[
            Code::PortRefused,
            Code::BlockedUpstream,
            Code::TlsAlpnNoIpv4Fallback,
        ],
    ),
    (
        Code::NoListener,
        &[
            Code::PortRefused,
            Code::BlockedUpstream,
            Code::TlsAlpnNoIpv4Fallback,
        ],
    ),
    // Traefik configured to answer TLS-ALPN-01 on no entry point that receives 443: nothing
    // there, or something that is not Traefik's solver.
    (
        Code::TlsChallengeEntrypoint,
        &[Code::NoListener, Code::PortRefused, Code::BlockedUpstream],
    ),
    (
        Code::ForwardDrops,
        &[
            Code::PortTimeout,
            Code::PortRefused,
            Code::AddressUnreachable,
            Code::TlsAlpnNoIpv4Fallback,
        ],
    ),
    // Docker publishes the port on IPv4 only: IPv6 finds no socket and no DNAT.
    (
        Code::ContainerNoIpv6,
        &[
            Code::NoListener,
            Code::PortRefused,
            Code::PortTimeout,
            Code::TlsAlpnNoIpv4Fallback,
        ],
    ),
    // The web server runs in a container that does not publish the port.
    (
        Code::ContainerPortNotPublished,
        &[Code::NoListener, Code::PortRefused],
    ),
    (
        Code::DnssecBogus,
        &[
            Code::DnsServfail,
            Code::CaaLookupFailed,
            Code::TxtLookupFailed,
        ],
    ),
    // Nameservers that fail A and AAAA fail the CAA lookups too.
    (Code::DnsServfail, &[Code::CaaLookupFailed]),
    // A name that does not exist stops the CA at its first lookup; the CAA walk above it
    // (`com` when `example.com` is NXDOMAIN, issue 21 item 5) fails with the same dead DNS
    // and changes nothing the operator must fix.
    (Code::DnsNxdomain, &[Code::CaaLookupFailed]),
    // A resolver that never answers fails every lookup alike.
    (
        Code::DnsNoAnswer,
        &[Code::CaaLookupFailed, Code::TxtLookupFailed],
    ),
    (Code::AcmeChallengeCnameDangling, &[Code::TxtMissing]),
    (
        Code::WildcardShadowsChallenge,
        &[Code::TxtMissing, Code::TxtWrong],
    ),
    (Code::TxtDoubledLabel, &[Code::TxtMissing]),
    // The CA meets the CDN, not this host: the addresses are not this host's.
    (
        Code::ProxyInFront,
        &[Code::NotOnHost, Code::AaaaNotLocal, Code::ChallengeStatus],
    ),
    // nginx's configuration says why the answer on port 80 is wrong.
    (
        Code::VhostMissingIpv6Listen,
        &[
            Code::ChallengeStatus,
            Code::BadRedirect,
            Code::HttpNoResponse,
        ],
    ),
    (
        Code::ChallengeLocationShadowed,
        &[
            Code::ChallengeNotServed,
            Code::ChallengeStatus,
            Code::BadRedirect,
            Code::HttpNoResponse,
        ],
    ),
    (
        Code::WebrootMismatch,
        &[Code::ChallengeStatus, Code::ChallengeNotServed],
    ),
    // Issue 20 item 2: nginx's own rule refuses the CA's address or User-Agent; what a
    // vantage or the CA then sees (a 403, a closed connection, a block page) is its symptom.
    (
        Code::WebserverDeniesClient,
        &[
            Code::BlockedUpstream,
            Code::OutsideSeesOtherServer,
            Code::VantageDependent,
            Code::WafBlocks,
            Code::ChallengeStatus,
            Code::ChallengeNotServed,
            Code::HttpNoResponse,
        ],
    ),
    // A router or WAF answering explains the wrong answer and the disagreement it causes.
    (
        Code::RouterAnswers,
        &[
            Code::FamiliesDisagree,
            Code::ChallengeNotServed,
            Code::ChallengeStatus,
        ],
    ),
    // A filter by User-Agent or by source also explains the perspectives it splits, and the
    // connection it ends without an answer (issue 20 item 1).
    (
        Code::WafBlocks,
        &[
            Code::ChallengeNotServed,
            Code::ChallengeStatus,
            Code::VantageDependent,
            Code::HttpNoResponse,
        ],
    ),
    // The address that answers differently is why the challenge is missing there.
    (
        Code::FamiliesDisagree,
        &[
            Code::ChallengeNotServed,
            Code::ChallengeWrongContent,
            Code::ChallengeStatus,
        ],
    ),
    (
        Code::ANotLocal,
        &[
            Code::PortTimeout,
            Code::PortRefused,
            Code::AddressUnreachable,
        ],
    ),
    // TLS-ALPN-01: what made the IPv6 attempt fail explains the CA's "Unable to contact … no
    // IPv4 addresses to try as fallback" (`docs/ca-behaviour.md` §3.2); the roots above list it too.
    (Code::PortRefused, &[Code::TlsAlpnNoIpv4Fallback]),
    (Code::PortTimeout, &[Code::TlsAlpnNoIpv4Fallback]),
    (Code::AddressUnreachable, &[Code::TlsAlpnNoIpv4Fallback]),
    (Code::TlsAlpnPlainHttp, &[Code::TlsAlpnNoIpv4Fallback]),
    (Code::TlsAlpnNotNegotiated, &[Code::TlsAlpnNoIpv4Fallback]),
    (
        Code::TlsAlpnNotChallengeCert,
        &[Code::TlsAlpnNoIpv4Fallback],
    ),
    (Code::TlsAlpnHandshakeFailed, &[Code::TlsAlpnNoIpv4Fallback]),
    // Issue 20 item 6: Traefik's configuration says why the answer on port 80 is wrong.
    (
        Code::TraefikChallengeRouter,
        &[
            Code::ChallengeNotServed,
            Code::ChallengeStatus,
            Code::BadRedirect,
        ],
    ),
    // Issue 20 item 4: a client here renews a name that points at another machine (the old
    // server after a move). Whatever this machine's webroot or web server does, the CA reads
    // the other machine's answer: every challenge finding follows from that. A blocker only
    // when a client here renews the name; as info (a run from elsewhere) it explains
    // nothing (`rank`: an info finding explains no finding that is not info).
    (
        Code::NotOnHost,
        &[
            Code::WebrootMismatch,
            Code::ChallengeLocationShadowed,
            Code::ChallengeStatus,
            Code::ChallengeNotServed,
            Code::ChallengeWrongContent,
            Code::TokenNotWritten,
        ],
    ),
];

/// The symptoms `root` can explain.
pub fn explains(root: Code) -> &'static [Code] {
    CAUSES
        .iter()
        .find(|(r, _)| *r == root)
        .map_or(&[], |(_, symptoms)| symptoms)
}

/// Issue 20 item 4: root → what it explains further down the HTTP-01 redirect chain it
/// starts: the web server's line that redirects the challenge, on port 80, and what fails at
/// the HTTPS port the chain leads to (443 dead, plain HTTP there). The CA follows redirects to
/// ports 80 and 443 only (`docs/ca-behaviour.md` §2.5), and an HTTP-01 run has findings on 443
/// only behind such a redirect (`Context::ports_in_play`). On port 80 itself these symptoms
/// are not the line's: a refusal there is met before any redirect. What stops 443 on the host
/// (a firewall, no listener) or upstream is the line's too: without the redirect the CA never
/// dials 443, so the line ranks first whatever rank the code has elsewhere (`rank` puts a
/// symptom under its explainer, not by priority).
pub const DOWN_THE_REDIRECT: &[(Code, &[Code])] = &[(
    Code::ChallengeLocationShadowed,
    &[
        Code::PortRefused,
        Code::PortTimeout,
        Code::AddressUnreachable,
        Code::HttpOnHttpsPort,
        Code::FirewallDrops,
        Code::FirewallAllowlist,
        Code::ForwardDrops,
        Code::NoListener,
        Code::ListenerWrongAddress,
        Code::BlockedUpstream,
    ],
)];

/// Whether `code` is a root of [`DOWN_THE_REDIRECT`]: a finding about the line that starts
/// a redirect chain.
pub fn starts_a_chain(code: Code) -> bool {
    DOWN_THE_REDIRECT.iter().any(|(r, _)| *r == code)
}

/// Whether a `root` finding on `root_port` explains a `symptom` on `symptom_port` down the
/// redirect chain it starts.
pub fn explains_down_the_redirect(
    root: Code,
    root_port: Option<u16>,
    symptom: Code,
    symptom_port: Option<u16>,
) -> bool {
    root_port == Some(super::ca::HTTP01_PORT)
        && symptom_port == Some(super::ca::HTTPS_PORT)
        && DOWN_THE_REDIRECT
            .iter()
            .any(|(r, symptoms)| *r == root && symptoms.contains(&symptom))
}

/// Among findings of equal severity and certainty, the lower number ranks first. Causes come
/// before the symptoms they produce: what stops the name (DNS) before what stops the host,
/// the host's configuration before what the network shows, the firewall before the listener
/// (a standalone ACME client listens only while it runs, a firewall is always there).
pub fn priority(code: Code) -> u8 {
    match code {
        Code::WildcardNeedsDns01 => 0,
        Code::IpNeedsShortlivedProfile => 1,
        Code::DnssecBogus => 8,
        Code::DnsNxdomain => 10,
        Code::DnsServfail => 11,
        Code::DnsNoAnswer => 12,
        Code::NoAddressRecords => 13,
        Code::ReservedAddress => 14,
        Code::AcmeChallengeCnameDangling => 15,
        Code::WildcardShadowsChallenge => 16,
        Code::TxtDoubledLabel => 17,
        Code::TxtLookupFailed => 18,
        Code::TxtMissing => 19,
        Code::TxtWrong => 23,
        Code::TxtNotPropagated => 24,
        Code::CaaLookupFailed => 25,
        Code::CaaCriticalUnknown => 26,
        Code::CaaMethodForbidden => 27,
        Code::CaaAccountMismatch => 28,
        Code::CaaForbids => 29,
        Code::Ipv6Disabled => 20,
        Code::AaaaNotLocal => 21,
        Code::Ipv6NoRoute => 22,
        Code::FirewallDrops => 30,
        Code::FirewallAllowlist => 31,
        Code::ForwardDrops => 32,
        Code::ContainerNoIpv6 => 35,
        Code::ContainerPortNotPublished => 36,
        Code::ListenerWrongAddress => 40,
        Code::NoListener => 41,
        Code::StandalonePortBusy => 46,
        Code::TlsChallengeEntrypoint => 39,
        Code::FirewallUnknown => 50,
        Code::ProxyInFront => 9,
        Code::VhostMissingIpv6Listen => 55,
        Code::ChallengeLocationShadowed => 56,
        Code::WebrootMismatch => 57,
        Code::ChallengeStatus => 60,
        Code::BadRedirect => 61,
        Code::HttpNoResponse => 62,
        Code::PortRefused => 70,
        Code::PortTimeout => 71,
        Code::AddressUnreachable => 72,
        Code::NameserversDisagree => 80,
        Code::ResolverStale => 81,
        Code::NameserverUnreachable => 82,
        Code::BlockedUpstream => 42,
        Code::OutsideSeesOtherServer => 43,
        Code::VantageDependent => 44,
        Code::PublicAddressMismatch => 45,
        // Issue 20 item 4: as a root cause (a renewal here for a name that points
        // elsewhere) before the challenge findings it explains (56-60, 95).
        Code::NotOnHost => 49,
        Code::BehindNat => 91,
        Code::ANotLocal => 33,
        Code::RouterAnswers => 51,
        // Before `vantage-dependent` (44), which a filter by source explains (issue 20).
        Code::WafBlocks => 38,
        Code::FamiliesDisagree => 53,
        Code::ChallengeNotServed => 58,
        Code::ChallengeWrongContent => 59,
        Code::HttpOnHttpsPort => 63,
        Code::SlowFallback => 64,
        Code::TokenNotWritten => 95,
        // Issue 19 item 1: about acme-doctor's own check, after every finding on the server.
        Code::CaCheckRefused => 99,
        // TLS-ALPN-01's answer on 443, after what stops the path to it (70-72).
        Code::TlsAlpnPlainHttp => 65,
        Code::TlsAlpnNotNegotiated => 66,
        Code::TlsAlpnNotChallengeCert => 67,
        Code::TlsAlpnWrongIdentifier => 68,
        Code::TlsAlpnWrongKeyauth => 69,
        Code::TlsAlpnHandshakeFailed => 73,
        // The CA's words when IPv6 failed and no IPv4 is left: whatever failed on IPv6
        // explains it.
        Code::TlsAlpnNoIpv4Fallback => 76,
        // Issue 19 item 4: not a validation problem, so after every one of them.
        Code::LineageBroken => 200,
        // Issue 19: the CA's words. A rate limit stops everything else; a disagreement
        // ranks by severity (the CA's failure is a blocker), then after the causes it
        // could not find; what the CA validated or a client logged is said last.
        Code::RateLimited => 2,
        Code::CaDisagrees => 96,
        Code::CaValidated => 97,
        Code::CaLoggedFailure => 98,
        // Issue 20 item 6: beside the nginx configuration's findings (55-57).
        Code::TraefikChallengeRouter => 54,
        // Issue 20 item 2: on the host, before what the outside sees of it (42-44).
        Code::WebserverDeniesClient => 37,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_own_priority() {
        let mut seen = std::collections::BTreeMap::new();
        for code in Code::ALL {
            if let Some(other) = seen.insert(priority(*code), *code) {
                panic!("{code} and {other} share priority {}", priority(*code));
            }
        }
    }

    #[test]
    fn a_root_ranks_before_every_symptom_it_explains() {
        for (root, symptoms) in CAUSES {
            assert!(!symptoms.contains(root), "{root} explains itself");
            for s in *symptoms {
                assert!(priority(*root) < priority(*s), "{root} vs {s}");
                // No cycles: a symptom never explains its root.
                assert!(!explains(*s).contains(root), "{s} explains {root}");
            }
        }
    }

    #[test]
    fn a_redirect_line_ranks_before_what_fails_down_its_chain() {
        for (root, symptoms) in DOWN_THE_REDIRECT {
            for s in *symptoms {
                // Not by priority (the firewall ranks before the line on port 80): `rank`
                // puts each symptom under its explainer (tested there).
                assert!(!explains(*s).contains(root), "{s} explains {root}");
                assert!(explains_down_the_redirect(*root, Some(80), *s, Some(443)));
                // Not on port 80: a refusal there comes before any redirect.
                assert!(!explains_down_the_redirect(*root, Some(80), *s, Some(80)));
            }
        }
    }

    #[test]
    fn the_firewall_ranks_before_a_missing_listener() {
        assert!(priority(Code::FirewallDrops) < priority(Code::NoListener));
        assert!(priority(Code::FirewallAllowlist) < priority(Code::NoListener));
    }
}
