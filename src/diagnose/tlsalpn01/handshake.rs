//! What the CA's TLS-ALPN-01 handshake meets on port 443, address by address, in the CA's
//! words (`docs/ca-behaviour.md` §3.2-3.6). The address whose outcome the CA reports (the
//! [`verdict`](super::verdict)) makes a blocker; a failure the CA falls back around, or on an
//! address it never tries, is a warning. A connect that failed is the reachability checks'
//! (`port-refused`, `port-timeout`), not repeated here.
//!
//! Codes: `tls-alpn-not-negotiated`, `tls-alpn-plain-http`, `tls-alpn-not-challenge-cert`,
//! `tls-alpn-wrong-identifier`, `tls-alpn-wrong-keyauth`, `tls-alpn-handshake-failed`,
//! `tls-alpn-no-ipv4-fallback`.

use super::responder::Responder;
use super::verdict::{self, Certificate, Connection, Got, Verdict};
use crate::cdn::Ranges;
use crate::diagnose::IncompleteKind;
use crate::diagnose::ca::CaError;
use crate::diagnose::check::CheckDef;
use crate::diagnose::{Check, Code, Context, Finding, Severity, run_check};
use crate::facts::tlsalpn01::TLS_ALPN_PORT;
use crate::facts::{ChallengeCertificate, Family, Handshake, Method, TlsAlpn01Facts};
use std::net::IpAddr;

pub const CHECK: CheckDef = CheckDef {
    name: "tls-alpn-handshake",
    codes: &[
        Code::TlsAlpnNoIpv4Fallback,
        Code::TlsAlpnPlainHttp,
        Code::TlsAlpnNotNegotiated,
        Code::TlsAlpnNotChallengeCert,
        Code::TlsAlpnWrongIdentifier,
        Code::TlsAlpnWrongKeyauth,
        Code::TlsAlpnHandshakeFailed,
    ],
    methods: &[Method::TlsAlpn01],
    run: |cx, out| {
        run_check(&Handshakes, cx, out);
        if let Some(why) = unknown(cx) {
            out.incomplete(IncompleteKind::OwnLimit, why);
        }
    },
};

/// The handshake the CA's verdict rests on never reached the server (acme-doctor's own
/// limit): no finding can say what the CA would meet.
fn unknown(cx: &Context) -> Option<String> {
    let facts = cx.tlsalpn01()?;
    match verdict::judge(verdict::Identifier::of(&cx.target.target.domain), facts) {
        Verdict::Unknown { address, why } => Some(format!(
            "the TLS-ALPN-01 handshake with {address} did not run: {why}"
        )),
        _ => None,
    }
}

pub struct Handshakes;

/// What one address showed.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    Connection(Connection),
    Certificate {
        failure: Certificate,
        certificate: Box<ChallengeCertificate>,
    },
}

/// One finding's evidence: a problem seen at some addresses.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub code: Code,
    pub severity: Severity,
    /// (address, port, what it showed), IPv6 first as the CA dials.
    pub at: Vec<(IpAddr, u16, Problem)>,
    /// The CA's words, when this finding is what it reports.
    pub ca_error: Option<CaError>,
    /// The CDN whose published range holds one of the addresses: (provider, address, range).
    pub cdn: Option<(String, IpAddr, String)>,
    /// The IPv6 address the CA gave up on (for `tls-alpn-no-ipv4-fallback`).
    pub hidden: Option<Box<Problem>>,
    pub responder: Responder,
}

/// An alert a responder sends when no challenge is pending for the name: Caddy's
/// `internal_error`, Traefik's `unrecognized_name` (§3.6, §12.1, §12.2). Outside a validation
/// window that is the healthy answer.
fn no_challenge_pending(c: &Connection) -> bool {
    matches!(c, Connection::Alert { code: 80 | 112, .. })
}

fn code_of(problem: &Problem) -> Option<Code> {
    Some(match problem {
        Problem::Connection(c) => match c {
            Connection::Dial(_) => return None,
            c if c.refuses_acme_tls() => Code::TlsAlpnNotNegotiated,
            Connection::HttpOnTlsPort => Code::TlsAlpnPlainHttp,
            Connection::NoCertificate => Code::TlsAlpnNotChallengeCert,
            Connection::TimeoutAfterConnect
            | Connection::Reset
            | Connection::Alert { .. }
            | Connection::Unexplained { .. } => Code::TlsAlpnHandshakeFailed,
        },
        Problem::Certificate { failure, .. } => match failure {
            Certificate::AlpnNotNegotiated { .. } => Code::TlsAlpnNotNegotiated,
            Certificate::NotSelfSigned
            | Certificate::MissingExtension { .. }
            | Certificate::NotCritical
            | Certificate::Malformed => Code::TlsAlpnNotChallengeCert,
            Certificate::Identifiers { .. } => Code::TlsAlpnWrongIdentifier,
            Certificate::WrongDigest { .. } => Code::TlsAlpnWrongKeyauth,
        },
    })
}

/// What the CA would find at this one address, were it the one it settled on.
fn problem_at(
    identifier: verdict::Identifier<'_>,
    facts: &TlsAlpn01Facts,
    h: &Handshake,
) -> Option<Problem> {
    match verdict::got(h) {
        Got::Unknown(_) => None,
        Got::Failed(c) => Some(Problem::Connection(c)),
        Got::Certificate { alpn, certificate } => {
            let failure = if alpn != Some(crate::facts::tlsalpn01::ACME_TLS_1) {
                Certificate::AlpnNotNegotiated {
                    selected: alpn.map(str::to_string),
                }
            } else {
                verdict::check_certificate(
                    identifier,
                    certificate,
                    facts.expected_digest.as_deref(),
                )
                .err()?
            };
            Some(Problem::Certificate {
                failure,
                certificate: Box::new(certificate.clone()),
            })
        }
    }
}

/// How much a problem weighs: a blocker where the CA's verdict rests, a warning where it falls
/// back around it or never looks. A responder's "no challenge pending" alert outside a
/// validation window is what a healthy Caddy or Traefik says: information, wherever it is.
fn severity(problem: &Problem, decisive: bool, keyauth_given: bool) -> Severity {
    match problem {
        Problem::Connection(c) if no_challenge_pending(c) && !keyauth_given => Severity::Info,
        _ if decisive => Severity::Blocker,
        _ => Severity::Warning,
    }
}

impl Check for Handshakes {
    type Evidence = Found;

    fn detect(&self, cx: &Context) -> Vec<Found> {
        let Some(facts) = cx.tlsalpn01() else {
            return Vec::new();
        };
        let identifier = cx.domain;
        let keyauth_given = facts.expected_digest.is_some();
        let verdict = verdict::judge(verdict::Identifier::of(&cx.target.target.domain), facts);
        let (decisive, ca_error) = match &verdict {
            Verdict::Connection { address, .. } | Verdict::Certificate { address, .. } => {
                (Some(*address), verdict.ca_error(identifier))
            }
            // The CA's words hide what failed on IPv6; the finding that says what did carries
            // them too, so the top of the ranking shows what the CA prints.
            Verdict::NoIpv4Fallback { ipv6, .. } => (Some(*ipv6), verdict.ca_error(identifier)),
            Verdict::NoAddress | Verdict::Unknown { .. } | Verdict::Passes { .. } => (None, None),
        };
        let ranges = Ranges::new(cx.run.options.cdn_ranges.as_deref());
        let responder = Responder::of(cx, TLS_ALPN_PORT);
        let mut found: Vec<Found> = Vec::new();
        // IPv6 first, as the CA dials.
        let mut ordered: Vec<&Handshake> = facts.handshakes.iter().collect();
        ordered.sort_by_key(|h| h.address.is_ipv4());
        for h in ordered {
            let Some(problem) =
                problem_at(verdict::Identifier::of(&cx.target.target.domain), facts, h)
            else {
                continue;
            };
            let Some(code) = code_of(&problem) else {
                continue;
            };
            let is_decisive = decisive == Some(h.address);
            let severity = severity(&problem, is_decisive, keyauth_given);
            let cdn = ranges
                .lookup(&h.address)
                .map(|(p, net)| (p.name.clone(), h.address, net.to_string()));
            let entry = match found
                .iter_mut()
                .find(|f| f.code == code && f.severity == severity)
            {
                Some(f) => f,
                None => {
                    found.push(Found {
                        code,
                        severity,
                        at: Vec::new(),
                        ca_error: None,
                        cdn: None,
                        hidden: None,
                        responder: responder.clone(),
                    });
                    let last = found.len() - 1;
                    &mut found[last]
                }
            };
            if is_decisive {
                entry.ca_error = ca_error.clone();
            }
            if entry.cdn.is_none() {
                entry.cdn = cdn;
            }
            entry.at.push((h.address, h.port, problem));
        }
        if let Verdict::NoIpv4Fallback { ipv6, failure } = &verdict {
            let port = facts
                .handshakes
                .iter()
                .find(|h| h.address == *ipv6)
                .map_or(TLS_ALPN_PORT, |h| h.port);
            let problem = Problem::Connection(failure.clone());
            found.push(Found {
                code: Code::TlsAlpnNoIpv4Fallback,
                severity: severity(&problem, true, keyauth_given),
                at: vec![(*ipv6, port, problem.clone())],
                ca_error: verdict.ca_error(identifier),
                cdn: None,
                hidden: Some(Box::new(problem)),
                responder,
            });
        }
        found
    }

    fn word(&self, cx: &Context, found: &Found) -> Finding {
        let port = found.at.first().map_or(TLS_ALPN_PORT, |a| a.1);
        let addresses = found
            .at
            .iter()
            .map(|(ip, _, _)| ip.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let cdn = found.cdn.as_ref().map(|(provider, _, _)| provider.as_str());
        let (title, detail) = words(cx.domain, found, &addresses, port, cdn);
        let mut f = Finding::new(found.code, found.severity, title)
            .detail(detail)
            .port(port);
        let mut families: Vec<Family> = found.at.iter().map(|a| Family::of(&a.0)).collect();
        families.sort();
        families.dedup();
        if let [family] = families.as_slice() {
            f = f.family(*family);
        }
        for (ip, port, problem) in &found.at {
            f = f.evidence(evidence(ip, *port, problem));
            if let Problem::Certificate { certificate, .. } = problem {
                f = f.evidence(describe(certificate));
            }
        }
        if let Some((provider, ip, range)) = &found.cdn {
            f = f.evidence(format!(
                "{ip} is in {provider}'s published range {range}: {provider} terminates TLS, not this server"
            ));
        }
        f = f.evidence_lines(found.responder.evidence(port));
        for line in fixes(found, cdn) {
            f = f.fix(line);
        }
        // A responder with no challenge pending: what the CA would say only matters during a
        // validation, which this run was not.
        if let (Some(e), false) = (&found.ca_error, found.severity == Severity::Info) {
            f = f.ca(e.clone());
        }
        f
    }
}

/// One address's outcome, as evidence.
fn evidence(ip: &IpAddr, port: u16, problem: &Problem) -> String {
    let at = std::net::SocketAddr::new(*ip, port);
    match problem {
        Problem::Connection(c) => match c {
            Connection::Dial(d) => format!("{at}: connect failed ({d:?})"),
            Connection::TimeoutAfterConnect => {
                format!("{at}: connected, then no TLS handshake within the timeout")
            }
            Connection::Reset => format!("{at}: reset during the TLS handshake"),
            Connection::Alert { code, name } => {
                format!("{at}: answered the ClientHello with the fatal alert {name} ({code})")
            }
            Connection::HttpOnTlsPort => {
                format!("{at}: answered the ClientHello with plain HTTP (HTTP/…)")
            }
            Connection::Unexplained { why } => format!("{at}: handshake failed: {why}"),
            Connection::NoCertificate => format!("{at}: handshake completed without a certificate"),
        },
        Problem::Certificate { failure, .. } => match failure {
            Certificate::AlpnNotNegotiated { selected: None } => {
                format!("{at}: completed the handshake without selecting any ALPN protocol")
            }
            Certificate::AlpnNotNegotiated { selected: Some(p) } => {
                format!("{at}: selected the ALPN protocol {p:?}, not acme-tls/1")
            }
            Certificate::NotSelfSigned => {
                format!("{at}: presented a certificate that is not self-signed")
            }
            Certificate::MissingExtension { oid } => {
                format!("{at}: presented a certificate without extension {oid}")
            }
            Certificate::Identifiers { names, reason } => {
                format!("{at}: presented a certificate for {names:?} ({reason})")
            }
            Certificate::NotCritical => {
                format!("{at}: the acmeIdentifier extension is not marked critical")
            }
            Certificate::Malformed => {
                format!("{at}: the acmeIdentifier value is not a 32-byte OCTET STRING")
            }
            Certificate::WrongDigest { got, expected } => format!(
                "{at}: acmeIdentifier holds {got}, SHA-256 of the key authorization is {expected}"
            ),
        },
    }
}

/// Whose certificate it is, in one line.
fn describe(c: &ChallengeCertificate) -> String {
    let names = verdict::alt_names(c);
    format!(
        "certificate: subject CN {:?}, issuer CN {:?}, names [{}], {}, acmeIdentifier {}, SHA-256 {}",
        c.subject_cn.as_deref().unwrap_or(""),
        c.issuer_cn.as_deref().unwrap_or(""),
        names,
        if c.self_signed {
            "self-signed"
        } else {
            "not self-signed"
        },
        match &c.acme_identifier {
            None => "absent".to_string(),
            Some(a) => format!(
                "{}{}",
                if a.critical {
                    "critical"
                } else {
                    "not critical"
                },
                a.digest
                    .as_deref()
                    .map_or(", malformed".to_string(), |d| format!(", {d}"))
            ),
        },
        c.sha256
    )
}

/// Title and detail.
fn words(
    domain: &str,
    found: &Found,
    addresses: &str,
    port: u16,
    cdn: Option<&str>,
) -> (String, String) {
    let first = found.at.first().map(|a| &a.2);
    let fallback_note = match found.severity {
        Severity::Warning => {
            " The CA falls back to the first IPv4 address after any IPv6 failure, or never tries this address, so this alone does not fail the validation; a CA without that fallback (Pebble) or another perspective's resolver order would meet it."
        }
        _ => "",
    };
    match found.code {
        Code::TlsAlpnNoIpv4Fallback => (
            format!(
                "{domain} has no IPv4 address to fall back to after its IPv6 address failed TLS-ALPN-01"
            ),
            format!(
                "The CA tries the first IPv6 address ({addresses}) first and, after any failure there, the first IPv4 address. There is none, so the CA reports only \"Unable to contact\" and the real IPv6 error is lost. What failed on IPv6 is in its own finding and in the evidence."
            ),
        ),
        Code::TlsAlpnPlainHttp => (
            format!("plain HTTP answers on port {port} of {addresses}, not TLS"),
            format!(
                "The CA's ClientHello got an HTTP answer: a server listens on {port} without TLS (nginx `listen 443;` without `ssl`, a proxy forwarding to an HTTP port).{fallback_note}"
            ),
        ),
        Code::TlsAlpnNotNegotiated => {
            let by = match cdn {
                Some(p) => format!("{p}'s edge"),
                None => "an ordinary TLS server".to_string(),
            };
            (
                format!("{by} on port {port} of {addresses} does not speak acme-tls/1"),
                format!(
                    "The CA offers only the ALPN protocol acme-tls/1. The server on {port} refuses it (alert no_application_protocol, as nginx does) or completes the handshake without it: the TLS-ALPN-01 responder is not what receives port {port}.{fallback_note}"
                ),
            )
        }
        Code::TlsAlpnNotChallengeCert => {
            let title = match (cdn, first) {
                (Some(p), _) => format!(
                    "{p} terminates TLS for {domain}: the CA gets {p}'s certificate, not the challenge certificate"
                ),
                (None, Some(Problem::Connection(Connection::NoCertificate))) => {
                    format!("the server on port {port} of {addresses} presented no certificate")
                }
                _ => format!(
                    "port {port} of {addresses} presents a certificate that is not a TLS-ALPN-01 challenge certificate"
                ),
            };
            (
                title,
                format!(
                    "With acme-tls/1 the CA expects the responder's self-signed certificate carrying a critical acmeIdentifier extension. This one is a site certificate, a default (snakeoil) certificate or a malformed challenge certificate: the responder is not in the path.{fallback_note}"
                ),
            )
        }
        Code::TlsAlpnWrongIdentifier => (
            format!("the challenge certificate on {addresses} is not for {domain} alone"),
            format!(
                "A challenge responder answers, but its certificate must name exactly {domain} in its SAN and nothing else (no other name, no address, no email). It is another name's challenge, or a responder that ignores the SNI.{fallback_note}"
            ),
        ),
        Code::TlsAlpnWrongKeyauth => (
            format!("the challenge certificate on {addresses} carries another key authorization"),
            format!(
                "The certificate is a challenge certificate for {domain}, but its acmeIdentifier digest is not SHA-256 of the key authorization given with --expect-keyauth: a stale token, another ACME account's key, or another instance of the responder answering.{fallback_note}"
            ),
        ),
        _ => {
            let pending = matches!(
                first,
                Some(Problem::Connection(c)) if no_challenge_pending(c)
            );
            let detail = if pending && found.severity == Severity::Info {
                "A TLS-ALPN-01 responder answers acme-tls/1 but has no challenge pending for this name now: Caddy answers internal_error and Traefik unrecognized_name outside a validation. That is the healthy answer between validations; run again during one with --expect-keyauth to check the certificate the CA gets.".to_string()
            } else {
                format!(
                    "The TLS handshake with acme-tls/1 fails on port {port}: an alert, a reset, a stall or a closed connection before any certificate.{fallback_note}"
                )
            };
            let title = if pending && found.severity == Severity::Info {
                format!(
                    "a TLS-ALPN-01 responder answers on port {port} of {addresses}, with no challenge pending for {domain} now"
                )
            } else {
                format!("the TLS-ALPN-01 handshake fails on port {port} of {addresses}")
            };
            (title, detail)
        }
    }
}

fn fixes(found: &Found, cdn: Option<&str>) -> Vec<String> {
    let mut fixes = Vec::new();
    if found.severity == Severity::Info {
        fixes.push(
            "nothing to fix between validations; to check the certificate the CA gets, run again while a challenge is pending, with --expect-keyauth KEYAUTH".into(),
        );
        return fixes;
    }
    if let Some(p) = cdn {
        fixes.push(format!(
            "use dns-01 ({p} is not in its path), or set the record to DNS only (not proxied) while validating"
        ));
        fixes.push(format!(
            "or http-01, if {p} passes /.well-known/acme-challenge/ to the origin on port 80"
        ));
        return fixes;
    }
    match found.code {
        Code::TlsAlpnNoIpv4Fallback => {
            fixes.push("make IPv6 port 443 answer TLS-ALPN-01 (see the IPv6 finding)".into());
            fixes.push(
                "or publish an A record too, so the CA has an IPv4 address to fall back to".into(),
            );
        }
        Code::TlsAlpnPlainHttp => {
            fixes.push(
                "serve TLS on 443 (nginx `listen 443 ssl;`) or give 443 to the TLS-ALPN-01 responder"
                    .into(),
            );
            fixes.extend(found.responder.fixes());
        }
        Code::TlsAlpnWrongIdentifier => fixes.push(
            "the responder must serve the challenge certificate of the SNI it is asked for; check that the name in the ACME order is this one, and that no other responder answers 443".into(),
        ),
        Code::TlsAlpnWrongKeyauth => fixes.push(
            "check that the responder answering 443 is the one that created this order (one instance, shared storage for Caddy clusters), and that the key authorization given is the pending challenge's".into(),
        ),
        _ => fixes.extend(found.responder.fixes()),
    }
    fixes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::Scenario;
    use crate::facts::{AcmeIdentifier, HandshakeOutcome, Listener, Presented, Process};

    const NAME: &str = "example.test";

    fn handshake(ip: &str, outcome: HandshakeOutcome) -> Handshake {
        Handshake {
            address: ip.parse().unwrap(),
            port: 443,
            outcome,
            elapsed_ms: 3,
        }
    }

    fn challenge(digest: &str) -> ChallengeCertificate {
        ChallengeCertificate {
            self_signed: true,
            subject_cn: None,
            issuer_cn: None,
            dns_names: vec![NAME.into()],
            ip_addresses: vec![],
            other_names: vec![],
            san_der_hex: Some(format!(
                "300e820c{}",
                NAME.bytes().map(|b| format!("{b:02x}")).collect::<String>()
            )),
            duplicate_extensions: vec![],
            acme_identifier: Some(AcmeIdentifier {
                critical: true,
                digest: Some(digest.into()),
            }),
            sha256: "ab".into(),
        }
    }

    fn completed(ip: &str, c: ChallengeCertificate) -> Handshake {
        handshake(
            ip,
            HandshakeOutcome::Completed(Box::new(Presented {
                alpn: Some("acme-tls/1".into()),
                certificate: Some(c),
            })),
        )
    }

    fn site() -> ChallengeCertificate {
        let mut c = challenge("00");
        c.self_signed = false;
        c.acme_identifier = None;
        c.issuer_cn = Some("R11".into());
        c
    }

    fn findings(s: &Scenario) -> Vec<Finding> {
        let cx = s.context();
        Handshakes
            .detect(&cx)
            .iter()
            .map(|f| Handshakes.word(&cx, f))
            .collect()
    }

    fn nginx_on_443() -> Vec<Listener> {
        vec![Listener {
            family: Family::Ipv4,
            address: "0.0.0.0".parse().unwrap(),
            port: 443,
            v6only: None,
            process: Some(Process {
                pid: 812,
                name: "nginx".into(),
            }),
        }]
    }

    #[test]
    fn nginx_refusing_acme_tls_on_the_decisive_address_is_a_blocker_in_the_cas_words() {
        let s = Scenario::ipv4_only()
            .tls_handshakes(
                vec![handshake("192.0.2.10", HandshakeOutcome::alert(120))],
                None,
            )
            .listeners(nginx_on_443());
        let f = findings(&s);
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].code, f[0].severity, f[0].family, f[0].port),
            (
                Code::TlsAlpnNotNegotiated,
                Severity::Blocker,
                Some(Family::Ipv4),
                Some(443)
            )
        );
        assert_eq!(
            f[0].ca_error.as_deref(),
            Some("192.0.2.10: remote error: tls: no application protocol")
        );
        assert!(
            f[0].evidence
                .iter()
                .any(|e| e == "listening on port 443: nginx (pid 812)"),
            "{:?}",
            f[0].evidence
        );
    }

    #[test]
    fn an_ipv6_failure_the_ca_falls_back_around_is_a_warning() {
        let s = Scenario::dual_stack().tls_handshakes(
            vec![
                handshake("2001:db8::10", HandshakeOutcome::HttpOnTlsPort),
                completed("192.0.2.10", challenge("aa")),
            ],
            None,
        );
        let f = findings(&s);
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].code, f[0].severity, f[0].family),
            (
                Code::TlsAlpnPlainHttp,
                Severity::Warning,
                Some(Family::Ipv6)
            )
        );
        assert_eq!(f[0].ca_error, None);
    }

    #[test]
    fn aaaa_only_and_failed_names_the_lost_error_and_the_cas_words() {
        let s = Scenario::dual_stack().a(&[]).tls_handshakes(
            vec![handshake("2001:db8::10", HandshakeOutcome::alert(120))],
            None,
        );
        let f = findings(&s);
        let codes: Vec<Code> = f.iter().map(|f| f.code).collect();
        assert_eq!(
            codes,
            [Code::TlsAlpnNotNegotiated, Code::TlsAlpnNoIpv4Fallback]
        );
        assert!(f.iter().all(|f| f.severity == Severity::Blocker));
        assert_eq!(f[0].ca_error, f[1].ca_error);
        assert_eq!(
            f[1].ca_error.as_deref(),
            Some(
                "Unable to contact \"example.test\" at \"2001:db8::10\", no IPv4 addresses to try as fallback"
            )
        );
    }

    #[test]
    fn a_site_certificate_is_not_the_challenge_certificate() {
        let s = Scenario::ipv4_only().tls_handshakes(vec![completed("192.0.2.10", site())], None);
        let f = findings(&s);
        assert_eq!(f[0].code, Code::TlsAlpnNotChallengeCert);
        assert_eq!(
            f[0].ca_error.as_deref(),
            Some(
                "Incorrect validation certificate for tls-alpn-01 challenge. Requested example.test from 192.0.2.10:443. Received certificate which is not self-signed."
            )
        );
        assert!(
            f[0].evidence
                .iter()
                .any(|e| e.contains("issuer CN \"R11\""))
        );
    }

    #[test]
    fn a_cdn_terminating_tls_is_named() {
        let s = Scenario::ipv4_only()
            .a(&["104.16.132.229"])
            .tls_handshakes(vec![completed("104.16.132.229", site())], None);
        let f = findings(&s);
        assert_eq!(f[0].code, Code::TlsAlpnNotChallengeCert);
        assert!(
            f[0].title.starts_with("Cloudflare terminates TLS"),
            "{}",
            f[0].title
        );
        assert!(f[0].fix[0].contains("dns-01"), "{:?}", f[0].fix);
    }

    #[test]
    fn a_stale_digest_needs_expect_keyauth() {
        let expected = "bb".repeat(32);
        let stale = "aa".repeat(32);
        let s = Scenario::ipv4_only().tls_handshakes(
            vec![completed("192.0.2.10", challenge(&stale))],
            Some(&expected),
        );
        let f = findings(&s);
        assert_eq!(f[0].code, Code::TlsAlpnWrongKeyauth);
        assert!(
            f[0].ca_error
                .as_deref()
                .unwrap()
                .ends_with(&format!("value {stale} but expected {expected}."))
        );
        let s = Scenario::ipv4_only()
            .tls_handshakes(vec![completed("192.0.2.10", challenge(&stale))], None);
        assert!(findings(&s).is_empty());
    }

    #[test]
    fn caddy_with_no_challenge_pending_is_information_outside_a_validation() {
        let pending = |expect| {
            Scenario::ipv4_only().tls_handshakes(
                vec![handshake("192.0.2.10", HandshakeOutcome::alert(80))],
                expect,
            )
        };
        let f = findings(&pending(None));
        assert_eq!(
            (f[0].code, f[0].severity),
            (Code::TlsAlpnHandshakeFailed, Severity::Info)
        );
        assert_eq!(f[0].ca_error, None);
        assert!(f[0].fix[0].contains("--expect-keyauth"), "{:?}", f[0].fix);
        let f = findings(&pending(Some("cc")));
        assert_eq!(f[0].severity, Severity::Blocker);
        assert_eq!(
            f[0].ca_error.as_deref(),
            Some("192.0.2.10: remote error: tls: internal error")
        );
    }

    #[test]
    fn a_failed_connect_is_left_to_the_reachability_checks() {
        let s = Scenario::ipv4_only().tls_handshakes(
            vec![handshake(
                "192.0.2.10",
                HandshakeOutcome::Dial {
                    connect: crate::facts::ConnectOutcome::Refused,
                },
            )],
            None,
        );
        assert!(findings(&s).is_empty());
    }

    #[test]
    fn a_wrong_name_on_the_challenge_certificate() {
        let mut c = challenge("aa");
        c.dns_names = vec!["other.test".into()];
        let s = Scenario::ipv4_only().tls_handshakes(vec![completed("192.0.2.10", c)], None);
        let f = findings(&s);
        assert_eq!(f[0].code, Code::TlsAlpnWrongIdentifier);
        assert!(
            f[0].ca_error
                .as_deref()
                .unwrap()
                .ends_with("(\"other.test\"): \"identifier does not match expected identifier\"")
        );
    }

    /// nginx on 443, both families.
    fn on_443() -> Vec<Listener> {
        ["0.0.0.0", "::"]
            .iter()
            .map(|a| Listener {
                port: 443,
                ..crate::diagnose::testkit::listener(a, Some(true))
            })
            .collect()
    }

    fn ranked(s: &Scenario) -> Vec<Finding> {
        let cx = s.context();
        crate::diagnose::diagnose(cx.run, cx.target).findings
    }

    /// The whole diagnosis: the IPv6 failure ranks first and explains the CA's words.
    #[test]
    fn the_ipv6_failure_explains_unable_to_contact() {
        let s = Scenario::dual_stack()
            .a(&[])
            .listeners(on_443())
            .connect("2001:db8::10", 443, crate::facts::ConnectOutcome::Connected)
            .tls_handshakes(
                vec![handshake("2001:db8::10", HandshakeOutcome::HttpOnTlsPort)],
                None,
            );
        let f = ranked(&s);
        let codes: Vec<Code> = f.iter().map(|f| f.code).collect();
        assert_eq!(codes[0], Code::TlsAlpnPlainHttp, "{codes:?}");
        assert!(
            f[0].explains.contains(&Code::TlsAlpnNoIpv4Fallback),
            "{codes:?}"
        );
    }

    /// Nothing listens on 443: the listener check's finding is the root.
    #[test]
    fn a_refused_ipv6_connect_explains_unable_to_contact() {
        let s = Scenario::dual_stack()
            .a(&[])
            .connect("2001:db8::10", 443, crate::facts::ConnectOutcome::Refused)
            .tls_handshakes(
                vec![handshake(
                    "2001:db8::10",
                    HandshakeOutcome::Dial {
                        connect: crate::facts::ConnectOutcome::Refused,
                    },
                )],
                None,
            );
        let f = ranked(&s);
        let fallback = f
            .iter()
            .find(|f| f.code == Code::TlsAlpnNoIpv4Fallback)
            .expect("the CA's words");
        assert!(fallback.explained_by.is_some(), "{:?}", fallback);
        assert_eq!(fallback.severity, Severity::Blocker);
    }

    #[test]
    fn a_healthy_responder_during_a_validation_finds_nothing_of_ours() {
        let digest = "ab".repeat(32);
        let s = Scenario::dual_stack()
            .v4_connects(443)
            .v6_connects(443)
            .tls_handshakes(
                vec![
                    completed("2001:db8::10", challenge(&digest)),
                    completed("192.0.2.10", challenge(&digest)),
                ],
                Some(&digest),
            );
        assert!(findings(&s).is_empty());
    }

    #[test]
    fn acme_doctors_own_limit_leaves_the_run_incomplete() {
        let s = Scenario::ipv4_only().tls_handshakes(
            vec![handshake(
                "192.0.2.10",
                HandshakeOutcome::OwnLimit {
                    message: "out of file descriptors".into(),
                },
            )],
            None,
        );
        let cx = s.context();
        let d = crate::diagnose::diagnose(cx.run, cx.target);
        assert!(d.incomplete);
        assert!(
            d.incomplete_reasons
                .iter()
                .any(|r| r.contains("did not run: out of file descriptors")),
            "{:?}",
            d.incomplete_reasons
        );
    }
}
