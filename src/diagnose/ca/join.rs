//! The CA's result joined with the facts. The CA is one more outside perspective, and the
//! decisive one: its `--ca-check` and pasted words are evidence of now, a client's log is
//! history (`docs/ca-behaviour.md` §13.4).
//!
//! - It validated: `ca-validated`; a blocker it contradicts becomes a warning, and
//!   `ca-disagrees` says so, with both texts.
//! - It failed: the findings that explain its words take them as their `ca_error` (said, not
//!   predicted), become blockers, and rank first; when none does, `ca-disagrees` (a blocker)
//!   says what could make both true. A `During secondary validation:` failure nothing else
//!   explains is `vantage-dependent`.
//! - `rate-limited` for a rate limit, with its retry time and documentation.
//! - A client's logged failure is `ca-logged-failure`: explained by today's findings, or not.
//! - A check without a verdict leaves the run incomplete (`ca-check-not-done`), never blamed.

use super::observe::{self, Failure, Heard, Observation, Perspective, Verdict};
use super::{CaError, ProblemType};
use crate::diagnose::check::CheckDef;
use crate::diagnose::{Code, Context, Finding, IncompleteKind, Note, Out, Severity};
use crate::facts::{CaCheckOutcome, CaSaid, Method, Published};

/// The codes of the join: the check declares them all; the pass adds `ca-disagrees` and
/// `ca-logged-failure`, which need every other finding.
const OWN: &[Code] = &[
    Code::RateLimited,
    Code::CaValidated,
    Code::CaDisagrees,
    Code::CaLoggedFailure,
];

pub const CHECK: CheckDef = CheckDef {
    name: "the-ca-said",
    codes: OWN,
    methods: &[Method::Http01, Method::Dns01, Method::TlsAlpn01],
    run,
};

/// What a validation through acme-doctor's own standalone responder proves: the path from
/// the CA to this host (DNS, routes, firewalls, NAT, the provider), not what the user's own
/// server or client answers there, which was not in the path. Only blockers about that path
/// are contradicted by such a "valid".
const PATH_ONLY: &[Code] = &[
    Code::Ipv6Disabled,
    Code::Ipv6NoRoute,
    Code::AaaaNotLocal,
    Code::ANotLocal,
    Code::FirewallDrops,
    Code::FirewallAllowlist,
    Code::FirewallUnknown,
    Code::ForwardDrops,
    Code::PortTimeout,
    Code::AddressUnreachable,
    Code::BehindNat,
    Code::BlockedUpstream,
    Code::VantageDependent,
    Code::RouterAnswers,
    Code::SlowFallback,
];

/// Whether the CA validated against acme-doctor's own responder rather than the user's
/// server (`--ca-check` with nothing on the port).
fn validated_own_responder(cx: &Context) -> bool {
    cx.target.ca.iter().any(|e| match &e.said {
        CaSaid::Check(check) => {
            matches!(check.published, Published::Standalone { .. })
                && matches!(check.outcome, CaCheckOutcome::Valid { .. })
        }
        CaSaid::Words(_) => false,
    })
}

/// Let's Encrypt's status page, for an incident on the CA's side.
pub const STATUS_PAGE: &str = "https://letsencrypt.status.io/";

fn run(cx: &Context, out: &mut Out) {
    for o in observe::of_target(cx.target) {
        match &o.verdict {
            Verdict::NotDone(reason) if o.heard == Heard::Check => out.incomplete(
                IncompleteKind::CaCheckNotDone,
                format!("the CA check (--ca-check) gave no verdict: {reason}"),
            ),
            Verdict::Valid if o.heard.is_now() => out.push(validated(cx, &o)),
            Verdict::Invalid if o.heard.is_now() && o.failure == Some(Failure::RateLimit) => {
                out.push(rate_limited(cx, &o));
            }
            _ => {}
        }
    }
}

/// What the CA's observation is quoted as.
fn said_error(o: &Observation) -> Option<CaError> {
    Some(CaError {
        problem: o.problem_or_inferred()?,
        detail: o.detail.clone(),
    })
}

fn validated(cx: &Context, o: &Observation) -> Finding {
    let mut f = Finding::new(
        Code::CaValidated,
        Severity::Info,
        format!(
            "the CA itself validated {} by {} just now",
            cx.domain,
            cx.method().as_str()
        ),
    )
    .detail(if validated_own_responder(cx) {
        "A real validation (--ca-check) against the ACME directory succeeded through acme-doctor's own standalone responder, since nothing held the port: the path from the CA to this host works. Your own server or ACME client was not in that path, so what it answers is judged by the other findings. The run is complete even on the host alone."
    } else {
        "A real validation (--ca-check) against the ACME directory succeeded: the CA reached this server and found the challenge. That is the decisive outside view, so the run is complete even on the host alone."
    });
    if let Some(address) = o.address {
        f = f.evidence(format!("the CA used {address}"));
    }
    if let Some(url) = &o.url {
        f = f.evidence(format!("the CA fetched {url}"));
    }
    f
}

fn rate_limited(cx: &Context, o: &Observation) -> Finding {
    let limit = o.rate_limit.clone().unwrap_or_else(|| observe::RateLimit {
        limit: None,
        doc_url: observe::RATE_LIMITS_DOC.to_string(),
        retry_after: None,
        retry_after_s: None,
    });
    let mut f = Finding::new(
        Code::RateLimited,
        Severity::Blocker,
        format!(
            "the CA refuses {} for now: {}",
            cx.domain,
            limit.limit.map_or_else(
                || "a rate limit".to_string(),
                |l| format!("rate limit \"{l}\"")
            )
        ),
    )
    .detail("The CA answered with a rateLimited problem: it will not validate or issue for this name (or this account, or this address) until the limit's window has passed, however healthy the server is. Each failed attempt in the meantime can extend the wait.")
    .evidence(heard_from(o));
    if let Some(retry) = &limit.retry_after {
        f = f.evidence(format!("retry after {retry}"));
    }
    if let Some(seconds) = limit.retry_after_s {
        f = f.evidence(format!("Retry-After: {seconds} s"));
    }
    f = f.fix(match (&limit.retry_after, limit.retry_after_s) {
        (Some(when), _) => format!("wait until {when} before asking the CA again"),
        (None, Some(s)) => format!("wait {s} s (Retry-After) before asking the CA again"),
        (None, None) => "wait for the limit's window to pass before asking the CA again".into(),
    });
    f = f
        .fix(format!("the limit and its window: {}", limit.doc_url))
        .fix("meanwhile, test against the staging environment (certbot --test-cert or --dry-run; acme-doctor --ca-check uses staging by default), whose limits are far higher")
        .fix("fix what made the earlier attempts fail first (acme-doctor without --ca-error shows it), so that the next attempt succeeds");
    f.ca_said(CaError {
        problem: ProblemType::RateLimited,
        detail: o.detail.clone(),
    })
}

/// Whose the quoted words are (the words themselves are the finding's `ca_error`).
fn heard_from(o: &Observation) -> String {
    format!(
        "the CA said it ({}; read as {})",
        o.heard.source(),
        o.format.name()
    )
}

/// The pass: every other finding is known here.
pub fn join(cx: &Context, findings: &mut Vec<Finding>) {
    let heard = observe::of_target(cx.target);
    let failed: Vec<&Observation> = heard
        .iter()
        .filter(|o| {
            o.heard.is_now()
                && o.verdict == Verdict::Invalid
                && o.failure != Some(Failure::RateLimit)
        })
        .collect();
    let refused_now = heard
        .iter()
        .any(|o| o.heard.is_now() && o.verdict == Verdict::Invalid);
    if !refused_now
        && let Some(valid) = heard
            .iter()
            .find(|o| o.heard.is_now() && o.verdict == Verdict::Valid)
    {
        contradicted(cx, valid, findings);
    }
    for o in failed {
        explain_failure(cx, o, findings);
    }
    for o in heard
        .iter()
        .filter(|o| o.heard == Heard::Logged && o.verdict == Verdict::Invalid)
    {
        let finding = logged(cx, o, findings);
        findings.push(finding);
    }
}

/// The codes whose cause can explain the CA's failure, by what failed.
fn explaining_codes(failure: &Failure) -> &'static [Code] {
    match failure {
        Failure::Dial(_) | Failure::NoData | Failure::AfterConnect => &[
            Code::Ipv6Disabled,
            Code::Ipv6NoRoute,
            Code::AaaaNotLocal,
            Code::ANotLocal,
            Code::NoListener,
            Code::ListenerWrongAddress,
            Code::StandalonePortBusy,
            Code::TlsChallengeEntrypoint,
            Code::FirewallDrops,
            Code::FirewallAllowlist,
            Code::FirewallUnknown,
            Code::ForwardDrops,
            Code::ContainerPortNotPublished,
            Code::ContainerNoIpv6,
            Code::PortRefused,
            Code::PortTimeout,
            Code::AddressUnreachable,
            Code::BehindNat,
            Code::BlockedUpstream,
            Code::VantageDependent,
            Code::RouterAnswers,
            Code::HttpNoResponse,
            Code::WafBlocks,
            Code::ProxyInFront,
            Code::SlowFallback,
            Code::TlsAlpnNoIpv4Fallback,
        ],
        Failure::Status(_) | Failure::WrongContent => &[
            Code::ChallengeStatus,
            Code::ChallengeNotServed,
            Code::ChallengeWrongContent,
            Code::WebrootMismatch,
            Code::ChallengeLocationShadowed,
            Code::VhostMissingIpv6Listen,
            Code::TokenNotWritten,
            Code::ProxyInFront,
            Code::OutsideSeesOtherServer,
            Code::AaaaNotLocal,
            Code::ANotLocal,
            Code::FamiliesDisagree,
            Code::RouterAnswers,
            Code::WafBlocks,
            Code::VantageDependent,
            Code::BadRedirect,
            // Issue 20 item 4: the renewal runs on a machine the name does not point at.
            Code::NotOnHost,
        ],
        Failure::Redirect => &[Code::BadRedirect, Code::HttpOnHttpsPort],
        Failure::Dns { .. } => &[
            Code::DnsNxdomain,
            Code::DnsServfail,
            Code::DnsNoAnswer,
            Code::NoAddressRecords,
            Code::ReservedAddress,
            Code::DnssecBogus,
            Code::NameserversDisagree,
            Code::NameserverUnreachable,
            Code::ResolverStale,
            Code::TxtLookupFailed,
            Code::CaaLookupFailed,
            Code::AcmeChallengeCnameDangling,
        ],
        Failure::Caa { .. } => &[
            Code::CaaForbids,
            Code::CaaMethodForbidden,
            Code::CaaAccountMismatch,
            Code::CaaCriticalUnknown,
            Code::CaaLookupFailed,
        ],
        Failure::Txt => &[
            Code::TxtMissing,
            Code::TxtWrong,
            Code::TxtNotPropagated,
            Code::TxtDoubledLabel,
            Code::WildcardShadowsChallenge,
            Code::AcmeChallengeCnameDangling,
            Code::NameserversDisagree,
            Code::ResolverStale,
        ],
        Failure::Tls => &[
            Code::TlsAlpnNoIpv4Fallback,
            Code::TlsAlpnPlainHttp,
            Code::TlsAlpnNotNegotiated,
            Code::TlsAlpnNotChallengeCert,
            Code::TlsAlpnWrongIdentifier,
            Code::TlsAlpnWrongKeyauth,
            Code::TlsAlpnHandshakeFailed,
            Code::HttpOnHttpsPort,
        ],
        Failure::Rejected => &[
            Code::WildcardNeedsDns01,
            Code::IpNeedsShortlivedProfile,
            Code::ReservedAddress,
        ],
        Failure::RateLimit | Failure::CaSide | Failure::Other => &[],
    }
}

/// Whether finding `f` names a cause of what the CA observed: a code that explains its kind
/// of failure, on the family and port the CA used (when both say one).
fn explains(cx: &Context, o: &Observation, f: &Finding) -> bool {
    let Some(failure) = &o.failure else {
        return false;
    };
    if f.severity == Severity::Info || OWN.contains(&f.code) {
        return false;
    }
    if !explaining_codes(failure).contains(&f.code) {
        return false;
    }
    // Only a failure from a remote perspective is explained by where the request comes from.
    if f.code == Code::VantageDependent && o.perspective != Perspective::Secondary {
        return false;
    }
    // A failed DNS lookup is explained by a finding about a lookup of the same record type.
    if let Failure::Dns {
        rtype: Some(rtype), ..
    } = failure
    {
        let for_type = match f.code {
            Code::CaaLookupFailed => Some("CAA"),
            Code::TxtLookupFailed | Code::AcmeChallengeCnameDangling => Some("TXT"),
            _ => None,
        };
        let address_only = matches!(
            f.code,
            Code::DnsNxdomain | Code::NoAddressRecords | Code::ReservedAddress
        );
        if for_type.is_some_and(|t| !rtype.eq_ignore_ascii_case(t))
            || (address_only && !matches!(rtype.as_str(), "A" | "AAAA"))
        {
            return false;
        }
    }
    let family_agrees = match (o.family(), f.family) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    };
    let port = o.port.or_else(|| {
        matches!(
            failure,
            Failure::Dial(_) | Failure::NoData | Failure::AfterConnect
        )
        .then(|| cx.validation_port())
        .flatten()
    });
    let port_agrees = match (port, f.port) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    };
    family_agrees && port_agrees
}

fn explain_failure(cx: &Context, o: &Observation, findings: &mut Vec<Finding>) {
    let matched: Vec<usize> = (0..findings.len())
        .filter(|&i| explains(cx, o, &findings[i]))
        .collect();
    let said = said_error(o);
    if !matched.is_empty() {
        for i in matched {
            let f = &mut findings[i];
            // The CA failed for real: a warning that explains it was a blocker all along (an
            // IPv4 problem the fallback note demoted, a fragile path, a remote perspective).
            if f.severity != Severity::Blocker {
                f.severity = Severity::Blocker;
                f.notes.retain(|n| *n != Note::Ipv4OnlyFallback);
            }
            // The words are the finding's `ca_error`; the evidence says whose they are.
            f.evidence.push(match &said {
                Some(_) => heard_from(o),
                None => format!("{} said: {}", o.heard.label(), o.detail),
            });
            if let Some(error) = &said {
                f.ca_error = Some(error.detail.clone());
                f.ca_problem = Some(error.problem);
                f.ca_said = true;
            }
        }
        return;
    }
    if o.perspective == Perspective::Secondary && o.failure != Some(Failure::CaSide) {
        findings.push(remote_perspective(cx, o));
        return;
    }
    findings.push(failed_unexplained(cx, o, findings));
}

/// The CA's primary perspective passed and remote ones failed, and no view of acme-doctor's
/// saw it: the CA's own words are the evidence.
fn remote_perspective(cx: &Context, o: &Observation) -> Finding {
    let mut f = Finding::new(
        Code::VantageDependent,
        Severity::Blocker,
        format!(
            "the CA's primary perspective got through to {}, but its remote perspectives failed",
            cx.domain
        ),
    )
    .likely()
    .detail("\"During secondary validation:\" means the CA's primary validation passed and then too many of its remote perspectives (other networks, other continents) failed. Where the request comes from decides: a geo-block, an IP allow-list or blocklist (fail2ban, CrowdSec, a WAF), anycast or GeoDNS answering differently, or a flaky path on one route.")
    .evidence(heard_from(o));
    if let Some(family) = o.family() {
        f = f.family(family);
    }
    if let Some(port) = o.port.or_else(|| cx.validation_port()) {
        f = f.port(port);
    }
    f = f
        .fix("allow the challenge from anywhere: remove geo-blocking, country filters and IP blocklists for /.well-known/acme-challenge/ (Let's Encrypt publishes no list of its validation addresses)")
        .fix("check from several networks: acme-doctor --vantage URL on machines in other regions");
    match said_error(o) {
        Some(error) => f.ca_said(error),
        None => f,
    }
}

/// What could make acme-doctor's prediction and the CA's outcome both true, for this kind of
/// failure.
fn both_true(o: &Observation) -> Vec<String> {
    let mut why = Vec::new();
    match &o.failure {
        Some(Failure::Dns { .. } | Failure::Txt | Failure::Caa { .. }) => {
            why.push("a stale resolver: this run's resolver cached an answer the CA's resolvers no longer see, or the other way round (compare with dig +trace and each authoritative server)".to_string());
            why.push("nameservers that disagree: the CA asked another authoritative server than this run did (dig @each-nameserver NAME TYPE)".to_string());
        }
        Some(Failure::Dial(_) | Failure::NoData | Failure::AfterConnect) => {
            why.push("something between the CA and the server that a run on the host cannot see (a security group, a router's port forward, the ISP, upstream IPv6): add an outside view with --vantage URL".to_string());
        }
        _ => {}
    }
    why.push("a remote perspective: the CA validates from several networks, and one saw something else than this run (geo-blocking, GeoDNS, anycast)".to_string());
    why.push("the server changed between the CA's attempt and this run (fixed since, or broken only at that moment)".to_string());
    why.push(format!(
        "a CA-side incident: {STATUS_PAGE} lists current ones"
    ));
    if o.failure == Some(Failure::CaSide) {
        why.rotate_right(1);
    }
    why
}

/// acme-doctor's prediction, in one line per blocker, or that it predicted a pass.
fn prediction(findings: &[Finding]) -> Vec<String> {
    let blockers: Vec<String> = findings
        .iter()
        .filter(|f| f.severity == Severity::Blocker && !OWN.contains(&f.code))
        .map(|f| format!("acme-doctor predicted: {} ({})", f.title, f.code))
        .collect();
    if blockers.is_empty() {
        vec!["acme-doctor predicted: no blocker, the validation should pass".to_string()]
    } else {
        blockers
    }
}

fn failed_unexplained(cx: &Context, o: &Observation, findings: &[Finding]) -> Finding {
    let ca_side = o.failure == Some(Failure::CaSide);
    let mut f = Finding::new(
        Code::CaDisagrees,
        Severity::Blocker,
        if ca_side {
            format!("the CA failed {} on its own side", cx.domain)
        } else {
            format!(
                "the CA failed {}, and nothing acme-doctor saw explains its words",
                cx.domain
            )
        },
    )
    .likely()
    .detail(format!(
        "The CA's outcome decides, and it failed. acme-doctor's own checks did not predict that failure, or predicted another one. Both can be true: {}.",
        both_true(o).join("; ")
    ))
    .evidence(heard_from(o))
    .evidence_lines(prediction(findings));
    if let Some(family) = o.family() {
        f = f.family(family);
    }
    if let Some(port) = o.port {
        f = f.port(port);
    }
    for why in both_true(o) {
        f = f.fix(format!("consider {why}"));
    }
    match said_error(o) {
        Some(error) => f.ca_said(error),
        // An unknown kind of failure: quoted as the CA's, typed by what it says of itself.
        None => f.ca_said(CaError {
            problem: ProblemType::Connection,
            detail: o.detail.clone(),
        }),
    }
}

/// The CA validated: a blocker predicted the opposite. It stays, as a warning, and the
/// disagreement is said with both texts.
fn contradicted(cx: &Context, valid: &Observation, findings: &mut Vec<Finding>) {
    let before = prediction(findings);
    let own_responder = validated_own_responder(cx);
    let mut any = false;
    for f in findings.iter_mut() {
        if own_responder && !PATH_ONLY.contains(&f.code) {
            continue;
        }
        if f.severity == Severity::Blocker && !OWN.contains(&f.code) {
            f.severity = Severity::Warning;
            f.ca_error = None;
            f.ca_problem = None;
            f.notes.push(Note::CaValidated);
            any = true;
        }
    }
    if !any {
        return;
    }
    let mut f = Finding::new(
        Code::CaDisagrees,
        Severity::Warning,
        format!(
            "acme-doctor predicted that validating {} would fail, but the CA validated it",
            cx.domain
        ),
    )
    .likely()
    .detail(format!(
        "The CA's own validation decides, and it passed: the blockers acme-doctor found are kept as warnings. Both can be true: the CA took another path than the one predicted (it fell back from IPv6 to IPv4, or followed another redirect), a remote perspective saw something else, the server changed between the two, or acme-doctor's rule is wrong here (please report it). A CA-side incident: {STATUS_PAGE}."
    ))
    .evidence_lines(before)
    .evidence(format!("{} said: valid", valid.heard.label()));
    if let Some(address) = valid.address {
        f = f.evidence(format!("the CA used {address}"));
    }
    f = f.fix("nothing to fix for today's validation; read the warnings above for what may fail on another day or path");
    findings.push(f);
}

/// A failure a client logged: history. Explained by today's findings (info), or not
/// (a warning: fixed since, transient, or seen only by the CA).
fn logged(cx: &Context, o: &Observation, findings: &[Finding]) -> Finding {
    let explainer = findings.iter().find(|f| explains(cx, o, f)).map(|f| f.code);
    let mut f = match explainer {
        Some(code) => Finding::new(
            Code::CaLoggedFailure,
            Severity::Info,
            format!(
                "an ACME client logged a failure for {}, which today's {code} explains",
                cx.domain
            ),
        )
        .detail("The client's last attempt failed with the words below; today's diagnosis finds the cause it names."),
        None => Finding::new(
            Code::CaLoggedFailure,
            Severity::Warning,
            format!(
                "an ACME client logged a failure for {} that today's diagnosis does not explain",
                cx.domain
            ),
        )
        .likely()
        .detail("The client's last attempt failed with the words below, and nothing acme-doctor sees today explains them: fixed since, transient, or seen only by the CA.")
        .fix("ask the CA now: acme-doctor --ca-check (one real validation against staging)"),
    };
    f.explained_by = explainer;
    f = f.evidence(heard_from(o));
    if let Some(error) = said_error(o) {
        f.ca_error = Some(error.detail);
        f.ca_problem = Some(error.problem);
        f.ca_said = true;
    }
    f
}

/// Whether the CA itself gave a verdict of now for this target (a check that validated or
/// failed, or pasted words): outside evidence, as a vantage's is.
pub fn heard_now(cx: &Context) -> bool {
    observe::of_target(cx.target)
        .iter()
        .any(|o| o.heard.is_now() && matches!(o.verdict, Verdict::Valid | Verdict::Invalid))
}

/// The CA's dial as an outside view, for `checks::outside`: its name, the address, how the
/// connect ended, and whether it was a remote perspective (whose primary got through).
pub fn ca_views(cx: &Context) -> Vec<(String, Observation)> {
    observe::of_target(cx.target)
        .into_iter()
        .filter(|o| o.heard.is_now() && o.dial_outcome().is_some())
        .map(|o| (o.heard.label().to_string(), o))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::Scenario;
    use crate::diagnose::{Verdict, diagnose};
    use crate::facts::{CaCheck, CaEvidence, CaSaid, CaSource, Family, Published};

    fn judged(s: &Scenario) -> crate::diagnose::Diagnosis {
        let cx = s.context();
        diagnose(cx.run, cx.target)
    }

    fn check(outcome: CaCheckOutcome) -> CaEvidence {
        CaEvidence {
            source: CaSource::Check,
            at: None,
            said: CaSaid::Check(Box::new(CaCheck {
                directory: "https://127.0.0.1:14000/dir".into(),
                method: Method::TlsAlpn01,
                published: Published::Standalone {
                    port: 443,
                    bound: vec!["[::]:443".into()],
                },
                outcome,
                failed_authorizations: 0,
                elapsed_ms: 5,
            })),
        }
    }

    /// TLS-ALPN-01's connection error has no URL (`<ip>: <core>`, `docs/ca-behaviour.md`
    /// §3.3): the port is the method's, 443.
    #[test]
    fn a_tls_alpn_refusal_on_a_healthy_host_is_blocked_upstream_on_443() {
        let s = Scenario::tls_alpn()
            .connect("192.0.2.10", 443, crate::facts::ConnectOutcome::Connected)
            .connect("2001:db8::10", 443, crate::facts::ConnectOutcome::Connected);
        assert_eq!(judged(&s).verdict, Verdict::Pass);
        let d = judged(
            &s.pasted("urn:ietf:params:acme:error:connection :: 2001:db8::10: Connection refused"),
        );
        assert_eq!(d.verdict, Verdict::Fail);
        let top = &d.findings[0];
        assert_eq!(
            (top.code, top.family, top.port),
            (Code::BlockedUpstream, Some(Family::Ipv6), Some(443))
        );
        assert!(top.ca_said);
        assert_eq!(
            top.ca_error.as_deref(),
            Some("2001:db8::10: Connection refused")
        );
        assert!(!d.incomplete, "{:?}", d.incomplete_reasons);
    }

    #[test]
    fn words_about_another_name_change_nothing() {
        let s = Scenario::dual_stack().v4_connects(80).v6_connects(80);
        let before = judged(&s);
        let after = judged(&s.pasted(
            "Domain: other.example\nType: connection\nDetail: 192.0.2.99: Fetching http://other.example/.well-known/acme-challenge/T: Connection refused",
        ));
        assert_eq!(before, after);
    }

    #[test]
    fn a_valid_check_completes_a_healthy_host_run() {
        let s = Scenario::tls_alpn()
            .connect("192.0.2.10", 443, crate::facts::ConnectOutcome::Connected)
            .connect("2001:db8::10", 443, crate::facts::ConnectOutcome::Connected);
        assert!(judged(&s).incomplete);
        let d = judged(&s.ca_evidence(check(CaCheckOutcome::Valid { records: vec![] })));
        assert_eq!(d.verdict, Verdict::Pass);
        assert!(!d.incomplete, "{:?}", d.incomplete_reasons);
        assert_eq!(d.findings.len(), 1);
        assert_eq!(d.findings[0].code, Code::CaValidated);
    }

    /// A "valid" through acme-doctor's own standalone responder proves the path, not the
    /// user's server: nothing listening on 443 stays a blocker, and is no disagreement.
    #[test]
    fn a_standalone_valid_check_proves_the_path_not_the_users_server() {
        let s = Scenario::tls_alpn()
            .listeners(Vec::new())
            .connect("192.0.2.10", 443, crate::facts::ConnectOutcome::Refused)
            .connect("2001:db8::10", 443, crate::facts::ConnectOutcome::Refused);
        let before = judged(&s);
        assert_eq!(before.verdict, Verdict::Fail, "{:?}", before.findings);
        let d = judged(&s.ca_evidence(check(CaCheckOutcome::Valid { records: vec![] })));
        assert_eq!(d.verdict, Verdict::Fail, "{:#?}", d.findings);
        assert!(!d.incomplete, "the CA's verdict is the outside view");
        assert!(d.findings.iter().any(|f| f.code == Code::CaValidated));
        assert!(
            !d.findings.iter().any(|f| f.code == Code::CaDisagrees),
            "the CA did not contradict what nobody listening means"
        );
        assert_eq!(before.findings[0].code, d.findings[0].code);
    }

    /// The CA's words outrank a cause of higher priority that does not explain them.
    #[test]
    fn what_explains_the_cas_words_ranks_before_other_blockers() {
        // IPv6 off here (priority 20), and the CA says IPv4 was refused (after its IPv6
        // attempt failed) while IPv4 is healthy on the host: the block upstream on IPv4
        // (priority 42) is what the CA met last, and comes first.
        let s = Scenario::dual_stack()
            .ipv6_off()
            .v4_connects(80)
            .pasted("192.0.2.10: Fetching http://example.test/.well-known/acme-challenge/T: Connection refused");
        let d = judged(&s);
        let top = &d.findings[0];
        assert_eq!(
            (top.code, top.family, top.ca_said),
            (Code::BlockedUpstream, Some(Family::Ipv4), true),
            "{:?}",
            d.findings
        );
        assert!(d.findings.iter().any(|f| f.code == Code::Ipv6Disabled
            && f.severity == Severity::Blocker
            && !f.ca_said));
    }

    /// A failed A lookup is not explained by a failed CAA lookup, and the other way round.
    #[test]
    fn dns_words_are_explained_by_a_lookup_of_their_own_type() {
        let o = observe::of_said(
            Heard::Pasted,
            &super::super::words::parse(
                "DNS problem: SERVFAIL looking up A for example.test - the domain's nameservers may be malfunctioning",
            )
            .said[0],
        );
        let s = Scenario::dual_stack();
        let cx = s.context();
        let caa = Finding::new(Code::CaaLookupFailed, Severity::Blocker, "caa");
        let servfail = Finding::new(Code::DnsServfail, Severity::Blocker, "servfail");
        assert!(!explains(&cx, &o, &caa));
        assert!(explains(&cx, &o, &servfail));
    }

    #[test]
    fn a_cert_manager_self_check_is_not_the_cas_word() {
        let s = Scenario::dual_stack().v4_connects(80).v6_connects(80);
        let d = judged(&s.pasted(
            "Waiting for HTTP-01 challenge propagation: wrong status code '403', expected '200'",
        ));
        assert_eq!(d.verdict, Verdict::Pass);
        assert!(d.incomplete, "the client's own check is no outside view");
    }
}
