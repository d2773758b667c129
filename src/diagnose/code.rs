//! The stable finding codes. A code, once released, never changes meaning; each has its
//! explanation in `checks/<code>.md` (embedded by [`crate::catalogue`]).

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! codes {
    ($($variant:ident => $slug:literal,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Code {
            $(#[serde(rename = $slug)] $variant,)*
        }

        impl Code {
            /// Every code, in catalogue order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $slug,)*
                }
            }

            /// The catalogue entry, `checks/<code>.md`, embedded at build time: a code without
            /// its file does not compile.
            pub fn explanation(self) -> &'static str {
                match self {
                    $(Code::$variant => include_str!(concat!("../../checks/", $slug, ".md")),)*
                }
            }

            pub fn from_slug(slug: &str) -> Option<Code> {
                match slug {
                    $($slug => Some(Code::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

codes! {
    WildcardNeedsDns01 => "wildcard-needs-dns01",
    IpNeedsShortlivedProfile => "ip-needs-shortlived-profile",
    DnsNxdomain => "dns-nxdomain",
    DnsServfail => "dns-servfail",
    DnsNoAnswer => "dns-no-answer",
    NoAddressRecords => "no-address-records",
    ReservedAddress => "reserved-address",
    Ipv6Disabled => "ipv6-disabled",
    AaaaNotLocal => "aaaa-not-local",
    Ipv6NoRoute => "ipv6-no-route",
    NoListener => "no-listener",
    ListenerWrongAddress => "listener-wrong-address",
    StandalonePortBusy => "standalone-port-busy",
    TlsChallengeEntrypoint => "tls-challenge-entrypoint",
    FirewallDrops => "firewall-drops",
    FirewallAllowlist => "firewall-allowlist",
    FirewallUnknown => "firewall-unknown",
    ForwardDrops => "forward-drops",
    ContainerPortNotPublished => "container-port-not-published",
    ContainerNoIpv6 => "container-no-ipv6",
    ChallengeStatus => "challenge-status",
    BadRedirect => "bad-redirect",
    HttpNoResponse => "http-no-response",
    PortRefused => "port-refused",
    PortTimeout => "port-timeout",
    AddressUnreachable => "address-unreachable",
    NotOnHost => "not-on-host",
    CaaForbids => "caa-forbids",
    CaaMethodForbidden => "caa-method-forbidden",
    CaaAccountMismatch => "caa-account-mismatch",
    CaaCriticalUnknown => "caa-critical-unknown",
    CaaLookupFailed => "caa-lookup-failed",
    DnssecBogus => "dnssec-bogus",
    NameserversDisagree => "nameservers-disagree",
    NameserverUnreachable => "nameserver-unreachable",
    ResolverStale => "resolver-stale",
    TxtMissing => "txt-missing",
    TxtWrong => "txt-wrong",
    TxtNotPropagated => "txt-not-propagated",
    TxtLookupFailed => "txt-lookup-failed",
    AcmeChallengeCnameDangling => "acme-challenge-cname-dangling",
    WildcardShadowsChallenge => "wildcard-shadows-challenge",
    TxtDoubledLabel => "txt-doubled-label",
    BehindNat => "behind-nat",
    BlockedUpstream => "blocked-upstream",
    VantageDependent => "vantage-dependent",
    OutsideSeesOtherServer => "outside-sees-other-server",
    PublicAddressMismatch => "public-address-mismatch",
    VhostMissingIpv6Listen => "vhost-missing-ipv6-listen",
    ChallengeLocationShadowed => "challenge-location-shadowed",
    WebrootMismatch => "webroot-mismatch",
    ProxyInFront => "proxy-in-front",
    ChallengeNotServed => "challenge-not-served",
    ChallengeWrongContent => "challenge-wrong-content",
    FamiliesDisagree => "families-disagree",
    ANotLocal => "a-not-local",
    RouterAnswers => "router-answers",
    WafBlocks => "waf-blocks",
    HttpOnHttpsPort => "http-on-https-port",
    SlowFallback => "slow-fallback",
    TokenNotWritten => "token-not-written",
    TlsAlpnNoIpv4Fallback => "tls-alpn-no-ipv4-fallback",
    TlsAlpnPlainHttp => "tls-alpn-plain-http",
    TlsAlpnNotNegotiated => "tls-alpn-not-negotiated",
    TlsAlpnNotChallengeCert => "tls-alpn-not-challenge-cert",
    TlsAlpnWrongIdentifier => "tls-alpn-wrong-identifier",
    TlsAlpnWrongKeyauth => "tls-alpn-wrong-keyauth",
    TlsAlpnHandshakeFailed => "tls-alpn-handshake-failed",
    // Issue 19 item 4.
    LineageBroken => "lineage-broken",
    // Issue 19 item 1.
    CaCheckRefused => "ca-check-refused",
    // Issue 19 items 2-3: the CA's own words joined with the facts.
    RateLimited => "rate-limited",
    CaDisagrees => "ca-disagrees",
    CaValidated => "ca-validated",
    CaLoggedFailure => "ca-logged-failure",
    // Issue 20 item 6: Traefik's router for the HTTP-01 path.
    TraefikChallengeRouter => "traefik-challenge-router",
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_round_trip_and_are_kebab_case() {
        for code in Code::ALL {
            let slug = code.as_str();
            assert_eq!(Code::from_slug(slug), Some(*code));
            assert!(
                slug.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            );
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{slug}\""));
        }
    }
}
