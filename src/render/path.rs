//! The CA's path per address family, as data: the hops the CA walks (DNS, connect, the HTTP
//! answer and the redirects it follows, or the TLS handshake; for DNS-01 the TXT lookup), each
//! marked as this run found it, and the finding that explains the hop that failed.
//!
//! Built once from the facts and the diagnosis ([`paths`]), then drawn twice: a line per family
//! in the human output ([`line`]) and a Mermaid flowchart in `--report` ([`mermaid`]). The
//! marks come from the facts where they saw the hop fail, and from the findings where the
//! facts cannot: on the server its own connect goes through `lo`, so a firewall that drops the
//! CA's packets shows only in the `firewall-drops` finding (docs/ca-behaviour.md §2.2 for the
//! order the CA dials, IPv6 first).

use crate::diagnose::{Code, Context, Diagnosis, Finding, Severity};
use crate::facts::{
    ConnectOutcome, DnsLookup, DnsOutcome, Family, HandshakeOutcome, HopOutcome, Http01Facts,
    HttpOutcome, MethodFacts, PathAttempt, RunFacts, TargetFacts, TlsAlpn01Facts,
};
use crate::redirect::Refusal;
use crate::sanitize;
use std::fmt::Write;
use std::net::IpAddr;

/// Longest detail (a URL, a TXT value, an error message) kept on a hop.
const DETAIL_CHARS: usize = 48;
/// Longest finding title kept beside the failed hop.
const CAUSE_CHARS: usize = 72;
/// Redirects (Boulder follows up to 10) or CNAMEs beyond this many are folded into one
/// "N more" hop.
const SHOWN_BEFORE_FOLD: usize = 3;

/// How a hop was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// The CA gets through.
    Passed,
    /// It gets through, but a warning stands on this hop.
    Warned,
    /// The CA's validation stops here.
    Failed,
    /// Nothing was learnt (acme-doctor's own limit, a probe that did not run).
    Unknown,
    /// Not part of the CA's walk: the name publishes no address of this family.
    Absent,
}

/// What kind of hop it is, which decides the findings that can explain it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Dns,
    Connect,
    /// The HTTP answer, a redirect, or a redirect the CA refuses.
    Answer,
    Handshake,
    /// DNS-01's TXT lookup, and the CNAMEs it follows.
    Txt,
    /// Redirects folded into one hop.
    Folded,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub step: Step,
    /// `DNS`, `connect :80`, `HTTP 301`, `handshake`, `TXT _acme-challenge.example.com`.
    pub label: String,
    pub mark: Mark,
    /// What was found, short and sanitised: an address, `timed out`, `→ https://…`.
    pub detail: String,
    /// The port the hop dials, for findings that name one.
    pub port: Option<u16>,
    /// A connect this run made on the server to its own address: it went through `lo`, not
    /// along the CA's path, so its success proves little.
    pub via_lo: bool,
}

/// Whose path a line draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Family(Family),
    /// DNS-01: the TXT lookup, whatever the family.
    Txt,
}

impl Lane {
    pub fn label(self) -> &'static str {
        match self {
            Lane::Family(f) => f.label(),
            Lane::Txt => "DNS-01",
        }
    }

    fn id(self) -> &'static str {
        match self {
            Lane::Family(Family::Ipv6) => "v6",
            Lane::Family(Family::Ipv4) => "v4",
            Lane::Txt => "txt",
        }
    }
}

/// The finding that explains where the path stops (or the first warning on it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub code: Code,
    /// The finding's title, sanitised and capped.
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub lane: Lane,
    /// The hops up to the one where the CA stops.
    pub hops: Vec<Hop>,
    pub cause: Option<Cause>,
}

/// Which hop a finding is about, if any. Every code is placed here, so a new code does not
/// compile until someone decides where it stands on the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Dns,
    Connect,
    Answer,
    Txt,
    /// Explains whichever hop of its family failed, without marking one itself.
    Failure,
    /// Not a hop of the path (CAA, policy, where the run stood).
    Off,
}

fn stage(code: Code) -> Stage {
    use Code::*;
    match code {
        DnsNxdomain
        | DnsServfail
        | DnsNoAnswer
        | NoAddressRecords
        | ReservedAddress
        | DnssecBogus
        | AaaaNotLocal
        | ANotLocal
        | NameserversDisagree
        | NameserverUnreachable
        | ResolverStale
        | PublicAddressMismatch => Stage::Dns,
        Ipv6Disabled
        | Ipv6NoRoute
        | NoListener
        | ListenerWrongAddress
        | TlsChallengeEntrypoint
        | FirewallDrops
        | FirewallAllowlist
        | ForwardDrops
        | ContainerPortNotPublished
        | ContainerNoIpv6
        | PortRefused
        | PortTimeout
        | AddressUnreachable
        | BehindNat
        | BlockedUpstream
        | VantageDependent
        | SlowFallback => Stage::Connect,
        // Another site's answer: the connect itself gets through.
        VhostMissingIpv6Listen
        | StandalonePortBusy
        | ChallengeStatus
        | BadRedirect
        | HttpNoResponse
        | ChallengeLocationShadowed
        | WebrootMismatch
        | ProxyInFront
        | ChallengeNotServed
        | ChallengeWrongContent
        | FamiliesDisagree
        | RouterAnswers
        | WafBlocks
        | HttpOnHttpsPort
        | TokenNotWritten
        | OutsideSeesOtherServer
        | TlsAlpnPlainHttp
        | TlsAlpnNotNegotiated
        | TlsAlpnNotChallengeCert
        | TraefikChallengeRouter
        | TlsAlpnWrongIdentifier
        | TlsAlpnWrongKeyauth
        | TlsAlpnHandshakeFailed => Stage::Answer,
        TxtMissing
        | TxtWrong
        | TxtNotPropagated
        | TxtLookupFailed
        | AcmeChallengeCnameDangling
        | WildcardShadowsChallenge
        | TxtDoubledLabel => Stage::Txt,
        TlsAlpnNoIpv4Fallback => Stage::Failure,
        WildcardNeedsDns01
        | IpNeedsShortlivedProfile
        | CaaForbids
        | CaaMethodForbidden
        | CaaAccountMismatch
        | CaaCriticalUnknown
        | CaaLookupFailed
        | NotOnHost
        | FirewallUnknown
        // A certbot lineage certbot will not renew: no hop of the path (issue 19 item 4).
        | LineageBroken
        // Issue 19: the CA's own outcome, about no one hop (a rate limit stops before the
        // path; a disagreement or a logged failure is about the whole validation).
        | RateLimited
        | CaDisagrees
        | CaValidated
        | CaLoggedFailure
        // The check itself could not publish: the CA was asked nothing.
        | CaCheckRefused => Stage::Off,
    }
}

impl Step {
    /// What the CA reads at the end of the walk: the HTTP answer, the handshake, the TXT
    /// set. A finding about it is about the last such hop, not a redirect or CNAME before it.
    fn is_answer(self) -> bool {
        matches!(self, Step::Answer | Step::Handshake | Step::Txt)
    }

    /// Whether a finding of this stage is about this kind of hop.
    fn takes(self, stage: Stage) -> bool {
        match self {
            Step::Dns => stage == Stage::Dns,
            Step::Connect => stage == Stage::Connect,
            Step::Answer | Step::Handshake => stage == Stage::Answer,
            // The TXT lookup is DNS: a resolver or nameserver fault shows there too.
            Step::Txt => matches!(stage, Stage::Txt | Stage::Dns),
            Step::Folded => false,
        }
    }
}

/// The CA's path for each family it would try (IPv6 first, as it dials), or DNS-01's TXT
/// lookup. Empty when there is nothing to walk (a wildcard by HTTP-01 needs no DNS here).
pub fn paths(run: &RunFacts, target: &TargetFacts, diagnosis: &Diagnosis) -> Vec<Path> {
    let cx = Context::new(run, target);
    let mut out = Vec::new();
    match &target.method {
        MethodFacts::Dns01(dns01) => {
            let mut hops = Vec::new();
            let chain = &dns01.txt.cname_chain;
            // A long chain keeps its first CNAMEs; the rest are folded into one hop.
            for hop in chain.iter().take(SHOWN_BEFORE_FOLD) {
                hops.push(hop_of(
                    Step::Txt,
                    format!("CNAME {}", clean(&hop.name, DETAIL_CHARS)),
                    Mark::Passed,
                    format!("to {}", clean(&hop.target, DETAIL_CHARS)),
                    None,
                ));
            }
            if chain.len() > SHOWN_BEFORE_FOLD {
                hops.push(hop_of(
                    Step::Folded,
                    format!("{} more CNAMEs", chain.len() - SHOWN_BEFORE_FOLD),
                    Mark::Passed,
                    String::new(),
                    None,
                ));
            }
            let txt = &dns01.txt;
            let (mark, detail) = match (&txt.outcome, txt.records.first()) {
                (DnsOutcome::Answer, Some(first)) => {
                    let mut d = quoted(first);
                    if txt.records.len() > 1 {
                        let _ = write!(d, " +{} more", txt.records.len() - 1);
                    }
                    (Mark::Passed, d)
                }
                (DnsOutcome::Answer | DnsOutcome::NoData, _) => {
                    (Mark::Failed, "no TXT record".into())
                }
                (other, _) => (Mark::Failed, clean(&other.to_string(), DETAIL_CHARS)),
            };
            hops.push(hop_of(
                Step::Txt,
                format!("TXT {}", clean(&txt.name, DETAIL_CHARS)),
                mark,
                detail,
                None,
            ));
            out.push(judged(Lane::Txt, hops, diagnosis));
        }
        MethodFacts::Http01(http01) => {
            for family in [Family::Ipv6, Family::Ipv4] {
                if let Some(hops) = walk(&cx, target, family, |hops, ip| {
                    http_hops(&cx, http01, family, ip, hops);
                }) {
                    out.push(judged(Lane::Family(family), hops, diagnosis));
                }
            }
        }
        MethodFacts::TlsAlpn01(tls) => {
            for family in [Family::Ipv6, Family::Ipv4] {
                if let Some(hops) =
                    walk(&cx, target, family, |hops, ip| tls_hops(&cx, tls, ip, hops))
                {
                    out.push(judged(Lane::Family(family), hops, diagnosis));
                }
            }
        }
    }
    // A name with neither an A nor an AAAA record: no family is in play, and the CA fails.
    let families: Vec<&mut Path> = out
        .iter_mut()
        .filter(|p| matches!(p.lane, Lane::Family(_)))
        .collect();
    let none_in_play = !families.is_empty()
        && families
            .iter()
            .all(|p| p.hops.last().is_some_and(|h| h.mark == Mark::Absent));
    if none_in_play {
        for path in families {
            let lane = path.lane;
            if let Some(hop) = path.hops.last_mut() {
                hop.mark = Mark::Failed;
                path.cause = on_hop(lane, hop, diagnosis).map(|f| cause_of(root_of(f, diagnosis)));
            }
        }
    }
    out
}

/// One family's walk: the DNS hop (none for an IP identifier), then `rest` from the address
/// the CA dials, the first the resolver gave. `None` when the family is not in play at all.
fn walk(
    cx: &Context,
    target: &TargetFacts,
    family: Family,
    rest: impl FnOnce(&mut Vec<Hop>, IpAddr),
) -> Option<Vec<Hop>> {
    let mut hops = Vec::new();
    let ip = match target.target.domain.ip {
        // An IP identifier is dialled without DNS (docs/ca-behaviour.md §11.3).
        Some(ip) if Family::of(&ip) == family => ip,
        Some(_) => return None,
        None => {
            let lookup = cx.lookup(family)?;
            let (hop, first) = dns_hop(family, lookup);
            hops.push(hop);
            match first {
                Some(ip) => ip,
                None => return Some(hops),
            }
        }
    };
    rest(&mut hops, ip);
    Some(hops)
}

fn dns_hop(family: Family, lookup: &DnsLookup) -> (Hop, Option<IpAddr>) {
    let rtype = family.record_type();
    let (mark, detail, first) = match (&lookup.outcome, lookup.addresses.first()) {
        (_, Some(ip)) => {
            let mut d = format!("{rtype} {ip}");
            if lookup.addresses.len() > 1 {
                let _ = write!(d, " +{} more", lookup.addresses.len() - 1);
            }
            (Mark::Passed, d, Some(*ip))
        }
        // No record of this family is no failure: the CA uses the other one.
        (DnsOutcome::Answer | DnsOutcome::NoData, None) => {
            (Mark::Absent, format!("no {rtype} record"), None)
        }
        (_, None) if lookup.own_limit => (Mark::Unknown, "not asked".into(), None),
        (other, None) => (
            Mark::Failed,
            format!("{rtype} {}", clean(&other.to_string(), DETAIL_CHARS)),
            None,
        ),
    };
    (hop_of(Step::Dns, "DNS".into(), mark, detail, None), first)
}

/// The connect hop for `ip:port` from the target's connects.
fn connect_hop(cx: &Context, ip: IpAddr, port: u16, label: String) -> Hop {
    let (mark, detail) = match cx.connect(&ip, port) {
        Some(ConnectOutcome::Connected) => (Mark::Passed, String::new()),
        Some(c) if c.is_own_limit() => (Mark::Unknown, "acme-doctor's own limit".into()),
        Some(c) => (Mark::Failed, connect_words(c)),
        None => (Mark::Unknown, "not probed".into()),
    };
    let mut hop = hop_of(Step::Connect, label, mark, detail, Some(port));
    hop.via_lo = cx.self_connection(&ip);
    hop
}

fn connect_label(cx: &Context, ip: IpAddr, port: u16) -> String {
    // An IP identifier has no DNS hop to show its address.
    if cx.lookup(Family::of(&ip)).is_none() {
        let host = match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        format!("connect {host}:{port}")
    } else {
        format!("connect :{port}")
    }
}

/// A failed connect in the CA's words, short.
fn connect_words(c: &ConnectOutcome) -> String {
    match c {
        ConnectOutcome::Timeout => "timeout".into(),
        ConnectOutcome::Refused => "refused".into(),
        ConnectOutcome::HostUnreachable => "host unreachable".into(),
        ConnectOutcome::NetworkUnreachable => "network unreachable".into(),
        ConnectOutcome::FamilyNotSupported => "no IPv6 in this kernel".into(),
        other => clean(&other.to_string(), DETAIL_CHARS),
    }
}

fn http_hops(cx: &Context, http01: &Http01Facts, family: Family, ip: IpAddr, hops: &mut Vec<Hop>) {
    // The CA's own walk, when the run took it, shows every redirect it follows.
    let walked = http01.ca_path.as_ref().and_then(|p| {
        p.attempts
            .iter()
            .find(|a| a.hops.first().and_then(|h| h.family) == Some(family))
    });
    if let Some(attempt) = walked {
        walked_hops(cx, attempt, ip, hops);
        return;
    }
    let port = 80;
    let target_host = cx.target.target.domain.url_host();
    let connect = connect_hop(cx, ip, port, connect_label(cx, ip, port));
    let reached = connect.mark == Mark::Passed;
    hops.push(connect);
    if !reached {
        return;
    }
    let Some(fact) = cx.http(&ip) else {
        return;
    };
    match &fact.outcome {
        HttpOutcome::Response {
            status, location, ..
        } => {
            let to_https = location.as_deref().filter(|l| {
                crate::redirect::is_redirect(*status) && same_host_https(l, &target_host)
            });
            hops.push(answer_hop(*status, location.as_deref(), Some(port)));
            // A redirect to HTTPS on the same name leads the CA to port 443 of the same
            // address, whose connect the run took; any other redirect this run did not follow.
            if to_https.is_some() {
                hops.push(connect_hop(cx, ip, 443, connect_label(cx, ip, 443)));
                hops.push(hop_of(
                    Step::Answer,
                    "HTTPS".into(),
                    Mark::Unknown,
                    "not fetched by this run".into(),
                    Some(443),
                ));
            } else if location.is_some() && crate::redirect::is_redirect(*status) {
                hops.push(hop_of(
                    Step::Answer,
                    "next hop".into(),
                    Mark::Unknown,
                    "not followed by this run".into(),
                    None,
                ));
            }
        }
        HttpOutcome::Timeout => hops.push(failed_answer("no answer (timeout)", port)),
        HttpOutcome::Reset => hops.push(failed_answer("connection reset", port)),
        HttpOutcome::Closed => hops.push(failed_answer("closed without an answer", port)),
        HttpOutcome::Error { message } => hops.push(failed_answer(message, port)),
        HttpOutcome::Unread { .. } => hops.push(hop_of(
            Step::Answer,
            "HTTP".into(),
            Mark::Unknown,
            "not read (acme-doctor's own limit)".into(),
            Some(port),
        )),
    }
}

fn same_host_https(location: &str, host: &str) -> bool {
    let Some(rest) = location.strip_prefix("https://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority.eq_ignore_ascii_case(host)
}

fn answer_hop(status: u16, location: Option<&str>, port: Option<u16>) -> Hop {
    let detail = match location {
        Some(l) if crate::redirect::is_redirect(status) => format!("to {}", clean(l, DETAIL_CHARS)),
        _ => String::new(),
    };
    hop_of(
        Step::Answer,
        format!("HTTP {status}"),
        Mark::Passed,
        detail,
        port,
    )
}

fn failed_answer(words: &str, port: u16) -> Hop {
    hop_of(
        Step::Answer,
        "HTTP".into(),
        Mark::Failed,
        clean(words, DETAIL_CHARS),
        Some(port),
    )
}

/// The hops of one attempt of the CA's walk: each request a connect and an answer.
fn walked_hops(cx: &Context, attempt: &PathAttempt, first: IpAddr, hops: &mut Vec<Hop>) {
    let answers = attempt
        .hops
        .iter()
        .filter(|h| matches!(h.outcome, HopOutcome::Answer(_)))
        .count();
    let mut answered = 0;
    for hop in &attempt.hops {
        let ip = hop.address.unwrap_or(first);
        let label = connect_label(cx, ip, hop.port);
        let connected = |hops: &mut Vec<Hop>| {
            let mut connect = hop_of(
                Step::Connect,
                label.clone(),
                Mark::Passed,
                String::new(),
                Some(hop.port),
            );
            connect.via_lo = cx.self_connection(&ip);
            hops.push(connect);
        };
        match &hop.outcome {
            HopOutcome::Dial { connect } => {
                let mark = if connect.is_own_limit() {
                    Mark::Unknown
                } else {
                    Mark::Failed
                };
                hops.push(hop_of(
                    Step::Connect,
                    label,
                    mark,
                    connect_words(connect),
                    Some(hop.port),
                ));
            }
            HopOutcome::Answer(a) => {
                answered += 1;
                // A long chain keeps its first redirects and its end; the middle is folded.
                let fold_from = SHOWN_BEFORE_FOLD;
                let fold_to = answers.saturating_sub(1);
                if answered > fold_from && answered < answers && fold_to > fold_from {
                    if answered == fold_from + 1 {
                        hops.push(hop_of(
                            Step::Folded,
                            format!("{} more redirects", fold_to - fold_from),
                            Mark::Passed,
                            String::new(),
                            None,
                        ));
                    }
                    continue;
                }
                connected(hops);
                hops.push(answer_hop(a.status, a.location.as_deref(), Some(hop.port)));
            }
            HopOutcome::Refused { refusal } => hops.push(hop_of(
                Step::Answer,
                "redirect".into(),
                Mark::Failed,
                format!("refused: {}", refusal_words(refusal)),
                None,
            )),
            HopOutcome::NoAddress { a, aaaa } => hops.push(hop_of(
                Step::Dns,
                "DNS".into(),
                Mark::Failed,
                clean(&format!("redirect host: A {a}, AAAA {aaaa}"), DETAIL_CHARS),
                None,
            )),
            HopOutcome::Tls { message, .. } => {
                connected(hops);
                hops.push(hop_of(
                    Step::Answer,
                    "TLS".into(),
                    Mark::Failed,
                    clean(message, DETAIL_CHARS),
                    Some(hop.port),
                ));
            }
            HopOutcome::HttpOnTlsPort => {
                connected(hops);
                hops.push(hop_of(
                    Step::Answer,
                    "TLS".into(),
                    Mark::Failed,
                    "plain HTTP answered".into(),
                    Some(hop.port),
                ));
            }
            HopOutcome::Timeout => {
                connected(hops);
                hops.push(failed_answer("no answer (timeout)", hop.port));
            }
            HopOutcome::Reset => {
                connected(hops);
                hops.push(failed_answer("connection reset", hop.port));
            }
            HopOutcome::Closed => {
                connected(hops);
                hops.push(failed_answer("closed without an answer", hop.port));
            }
            HopOutcome::Error { message } => {
                connected(hops);
                hops.push(failed_answer(message, hop.port));
            }
            HopOutcome::OwnLimit { .. } | HopOutcome::NotProbed => hops.push(hop_of(
                Step::Answer,
                "HTTP".into(),
                Mark::Unknown,
                "not fetched".into(),
                Some(hop.port),
            )),
        }
    }
}

fn refusal_words(r: &Refusal) -> String {
    match r {
        Refusal::TooMany => "too many redirects".into(),
        Refusal::Status303 => "303 is not followed".into(),
        Refusal::Scheme { scheme } => format!("scheme {}", clean(scheme, 20)),
        Refusal::Port { port } => format!("port {port}"),
        Refusal::EmptyHost => "no host".into(),
        Refusal::MissingSlash { .. } => "no slash after the host".into(),
        Refusal::ScopeZone => "IPv6 zone".into(),
        Refusal::ReservedIp { .. } => "reserved address".into(),
        Refusal::NotIanaTld => "not a public TLD".into(),
        Refusal::TooLong => "URL too long".into(),
        Refusal::Loop => "loop".into(),
        Refusal::Unparsable => "unparsable Location".into(),
    }
}

fn tls_hops(cx: &Context, tls: &TlsAlpn01Facts, ip: IpAddr, hops: &mut Vec<Hop>) {
    let port = crate::facts::tlsalpn01::TLS_ALPN_PORT;
    let handshake = tls.handshakes.iter().find(|h| h.address == ip);
    // The connect as the shared connects saw it, else as the handshake's own dial did.
    let mut connect = connect_hop(cx, ip, port, connect_label(cx, ip, port));
    if let (Mark::Unknown, Some(h)) = (connect.mark, handshake) {
        match &h.outcome {
            HandshakeOutcome::Dial { connect: c } => {
                connect.mark = Mark::Failed;
                connect.detail = connect_words(c);
            }
            HandshakeOutcome::OwnLimit { .. } => {}
            _ => {
                connect.mark = Mark::Passed;
                connect.detail.clear();
            }
        }
    }
    let reached = connect.mark == Mark::Passed;
    hops.push(connect);
    let (true, Some(h)) = (reached, handshake) else {
        return;
    };
    let (mark, detail) = match &h.outcome {
        HandshakeOutcome::Completed(p) => match p.alpn.as_deref() {
            Some(alpn) => (Mark::Passed, format!("ALPN {}", clean(alpn, DETAIL_CHARS))),
            None => (Mark::Passed, "no ALPN".into()),
        },
        HandshakeOutcome::Alert { name, .. } => (
            Mark::Failed,
            format!("alert: {}", clean(name, DETAIL_CHARS)),
        ),
        HandshakeOutcome::Dial { connect } => (Mark::Failed, connect_words(connect)),
        HandshakeOutcome::Timeout => (Mark::Failed, "timeout".into()),
        HandshakeOutcome::Reset => (Mark::Failed, "connection reset".into()),
        HandshakeOutcome::Closed => (Mark::Failed, "closed without a word".into()),
        HandshakeOutcome::HttpOnTlsPort => (Mark::Failed, "plain HTTP answered".into()),
        HandshakeOutcome::Failed { message } => (Mark::Failed, clean(message, DETAIL_CHARS)),
        HandshakeOutcome::OwnLimit { .. } => (Mark::Unknown, "acme-doctor's own limit".into()),
    };
    hops.push(hop_of(
        Step::Handshake,
        "handshake".into(),
        mark,
        detail,
        Some(port),
    ));
}

/// Marks the hops with the findings, cuts the path where the CA stops, and names the cause.
///
/// The facts decide where a hop failed when they saw it fail. Before that hop, a blocker
/// fails a hop the facts saw pass: a connect through `lo`, an answer whose content the CA
/// rejects. A finding about the answer is about the last answer the CA reads, never a
/// redirect or a CNAME it went on from.
fn judged(lane: Lane, mut hops: Vec<Hop>, d: &Diagnosis) -> Path {
    let seen_end = hops
        .iter()
        .position(|h| matches!(h.mark, Mark::Failed | Mark::Unknown | Mark::Absent));
    let last_answer = hops[..seen_end.map_or(hops.len(), |k| k + 1)]
        .iter()
        .rposition(|h| h.step.is_answer());
    let mut cause = None;
    let mut first_warning = None;
    let mut stop = seen_end;
    for (i, hop) in hops.iter_mut().enumerate() {
        if Some(i) == seen_end {
            if hop.mark == Mark::Failed {
                cause = on_hop(lane, hop, d)
                    .or_else(|| lane_failure(lane, d))
                    .map(|f| cause_of(root_of(f, d)));
                // Only an info stands on it: the run could not test this hop (a machine
                // without IPv6), which says nothing of the CA's path.
                if cause.is_none()
                    && let Some(info) = info_on_hop(lane, hop, d)
                {
                    hop.mark = Mark::Unknown;
                    cause = Some(cause_of(info));
                }
            }
            break;
        }
        if hop.step.is_answer() && Some(i) != last_answer {
            continue;
        }
        let Some(f) = on_hop(lane, hop, d) else {
            continue;
        };
        match f.severity {
            Severity::Blocker => {
                hop.mark = Mark::Failed;
                hop.via_lo = false;
                cause = Some(cause_of(root_of(f, d)));
                stop = Some(i);
                break;
            }
            _ => {
                hop.mark = Mark::Warned;
                if first_warning.is_none() {
                    first_warning = Some(cause_of(root_of(f, d)));
                }
            }
        }
    }
    if let Some(i) = stop {
        hops.truncate(i + 1);
    }
    Path {
        lane,
        hops,
        cause: cause.or(first_warning),
    }
}

/// The best-ranked finding about this hop: a root cause before a symptom, a blocker before a
/// warning (the diagnosis is ranked so).
fn on_hop<'d>(lane: Lane, hop: &Hop, d: &'d Diagnosis) -> Option<&'d Finding> {
    let about = |f: &&Finding| {
        matches!(f.severity, Severity::Blocker | Severity::Warning)
            && in_lane(lane, f)
            && hop.step.takes(stage(f.code))
            && match (f.port, hop.port) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    };
    let blocker = d
        .findings
        .iter()
        .filter(about)
        .find(|f| f.severity == Severity::Blocker);
    blocker.or_else(|| d.findings.iter().find(about))
}

/// An info about this hop: why the run could not judge it.
fn info_on_hop<'d>(lane: Lane, hop: &Hop, d: &'d Diagnosis) -> Option<&'d Finding> {
    d.findings.iter().find(|f| {
        f.severity == Severity::Info
            && in_lane(lane, f)
            && hop.step.takes(stage(f.code))
            && f.port.zip(hop.port).is_none_or(|(a, b)| a == b)
    })
}

/// A finding about the whole of a family's failure, for a failed hop no finding names.
fn lane_failure(lane: Lane, d: &Diagnosis) -> Option<&Finding> {
    d.findings.iter().find(|f| {
        f.severity == Severity::Blocker && in_lane(lane, f) && stage(f.code) == Stage::Failure
    })
}

fn in_lane(lane: Lane, f: &Finding) -> bool {
    match (lane, f.family) {
        (Lane::Family(l), Some(fam)) => l == fam,
        (_, None) => true,
        (Lane::Txt, Some(_)) => false,
    }
}

/// The root cause a symptom is explained by, when the diagnosis holds it.
fn root_of<'d>(f: &'d Finding, d: &'d Diagnosis) -> &'d Finding {
    f.explained_by
        .and_then(|root| {
            d.findings
                .iter()
                .find(|x| x.code == root && (x.family.is_none() || x.family == f.family))
        })
        .unwrap_or(f)
}

fn cause_of(f: &Finding) -> Cause {
    Cause {
        code: f.code,
        title: clean(&f.title, CAUSE_CHARS),
    }
}

fn hop_of(step: Step, label: String, mark: Mark, detail: String, port: Option<u16>) -> Hop {
    Hop {
        step,
        label,
        mark,
        detail,
        port,
        via_lo: false,
    }
}

/// Sanitised and capped with an ellipsis: names, URLs and messages may come from a hostile
/// server.
fn clean(text: &str, max: usize) -> String {
    let text = sanitize::line(text, usize::MAX);
    if text.chars().count() <= max {
        return text;
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn quoted(text: &str) -> String {
    format!("\"{}\"", clean(text, DETAIL_CHARS))
}

/// The glyphs a path is drawn with: Unicode, or plain ASCII for a terminal or a reader that
/// cannot show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Glyphs {
    Unicode,
    Ascii,
}

impl Glyphs {
    pub fn mark(self, m: Mark) -> &'static str {
        match (self, m) {
            (Glyphs::Unicode, Mark::Passed) => "✔",
            (Glyphs::Unicode, Mark::Warned) => "⚠",
            (Glyphs::Unicode, Mark::Failed) => "✘",
            (Glyphs::Unicode, Mark::Unknown) => "?",
            (Glyphs::Unicode, Mark::Absent) => "–",
            (Glyphs::Ascii, Mark::Passed) => "OK",
            (Glyphs::Ascii, Mark::Warned) => "!",
            (Glyphs::Ascii, Mark::Failed) => "X",
            (Glyphs::Ascii, Mark::Unknown) => "?",
            (Glyphs::Ascii, Mark::Absent) => "-",
        }
    }

    pub fn arrow(self) -> &'static str {
        match self {
            Glyphs::Unicode => "→",
            Glyphs::Ascii => "->",
        }
    }

    /// The text as it can be shown: under ASCII, the arrows and ellipses the path's own words
    /// use become ASCII and anything else outside ASCII becomes `?`.
    pub fn text(self, s: &str) -> String {
        match self {
            Glyphs::Unicode => s.to_string(),
            Glyphs::Ascii => s
                .chars()
                .map(|c| match c {
                    '→' => "->".to_string(),
                    '…' => "...".to_string(),
                    c if c.is_ascii() => c.to_string(),
                    _ => "?".to_string(),
                })
                .collect(),
        }
    }
}

/// Whether the environment asks for plain ASCII: `NO_COLOR` set (no-color.org: plain output),
/// or a locale whose character set is not UTF-8. The locale is the first of `LC_ALL`,
/// `LC_CTYPE`, `LANG` that is set and not empty, as POSIX reads it; none means the C locale,
/// which is ASCII.
pub fn glyphs_for(var: impl Fn(&str) -> Option<String>) -> Glyphs {
    if var("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        return Glyphs::Ascii;
    }
    let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|name| var(name).filter(|v| !v.is_empty()))
        .unwrap_or_default()
        .to_ascii_lowercase();
    if locale.contains("utf-8") || locale.contains("utf8") {
        Glyphs::Unicode
    } else {
        Glyphs::Ascii
    }
}

/// One hop as text: `connect :80 ✘ timeout`.
pub fn hop_text(hop: &Hop, g: Glyphs) -> String {
    format!(
        "{} {}{}",
        g.text(&hop.label),
        g.mark(hop.mark),
        detail_text(hop, g)
    )
}

/// What follows the mark, with its leading space: ` timeout`, ` via lo`, or nothing.
pub fn detail_text(hop: &Hop, g: Glyphs) -> String {
    let mut s = String::new();
    // Said where the connect passed: a failure through lo fails for the CA too.
    if hop.via_lo && matches!(hop.mark, Mark::Passed | Mark::Warned) {
        s.push_str(" via lo");
    }
    if !hop.detail.is_empty() {
        s.push(' ');
        s.push_str(&g.text(&hop.detail));
    }
    s
}

/// The lane's name, padded so the hops of every line start in one column.
pub fn lane_text(lane: Lane) -> String {
    format!("{:<6}", format!("{}  ", lane.label()))
}

/// The cause as text: `(firewall-drops: the firewall drops …)`.
pub fn cause_text(cause: &Cause, g: Glyphs) -> String {
    g.text(&format!("({}: {})", cause.code, cause.title))
}

/// One line without colour: `IPv6  DNS ✔ AAAA 2001:db8::1 → connect :80 ✘ timeout → (…)`.
pub fn line(path: &Path, g: Glyphs) -> String {
    let mut parts: Vec<String> = path.hops.iter().map(|h| hop_text(h, g)).collect();
    if let Some(c) = &path.cause {
        parts.push(cause_text(c, g));
    }
    format!(
        "{}{}",
        lane_text(path.lane),
        parts.join(&format!(" {} ", g.arrow()))
    )
}

/// A Mermaid label: sanitised, capped, and every character Mermaid or the HTML it draws into
/// would act on written as an entity code (`#quot;`, `#35;`), so no name or server text can
/// close the label, start a comment or a link, or inject markup. Keywords (`end`,
/// `subgraph`) are harmless inside a quoted label; node ids are never taken from text.
pub fn mermaid_label(text: &str) -> String {
    let mut out = String::new();
    for c in clean(text, 120).chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' | '&' | '<' | '>' | '`' | '[' | ']' | '(' | ')' | '{' | '}' | '|' | '\\' | ';'
            | '%' => {
                let _ = write!(out, "#{};", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// The paths as a Mermaid `flowchart LR`, without the fence: the CA on the left, one chain
/// per family, the cause hanging off the hop where the CA stops.
pub fn mermaid(paths: &[Path]) -> String {
    let g = Glyphs::Unicode;
    let mut out = String::from("flowchart LR\n");
    out.push_str("    ca([\"the CA\"])\n");
    let mut classes: Vec<(&str, String)> = Vec::new();
    for path in paths {
        let lane = path.lane.id();
        let mut prev = "ca".to_string();
        for (i, hop) in path.hops.iter().enumerate() {
            let id = format!("{lane}_{i}");
            // Lane names are fixed words, safe in an edge label.
            let edge = if i == 0 {
                format!(" -->|{}| ", path.lane.label())
            } else {
                " --> ".to_string()
            };
            let _ = writeln!(
                out,
                "    {prev}{edge}{id}[\"{}\"]",
                mermaid_label(&hop_text(hop, g))
            );
            let class = match hop.mark {
                Mark::Passed => "passed",
                Mark::Warned => "warned",
                Mark::Failed => "failed",
                Mark::Unknown | Mark::Absent => "unknown",
            };
            classes.push((class, id.clone()));
            prev = id;
        }
        if let Some(c) = &path.cause {
            let id = format!("{lane}_cause");
            let _ = writeln!(
                out,
                "    {prev} -.- {id}[\"{}\"]",
                mermaid_label(&format!("{}: {}", c.code, c.title))
            );
            classes.push(("cause", id));
        }
    }
    out.push_str("    classDef passed fill:#dafbe1,stroke:#1a7f37,color:#000\n");
    out.push_str("    classDef warned fill:#fff8c5,stroke:#9a6700,color:#000\n");
    out.push_str("    classDef failed fill:#ffebe9,stroke:#cf222e,color:#000\n");
    out.push_str(
        "    classDef unknown fill:#f6f8fa,stroke:#57606a,color:#000,stroke-dasharray:4 3\n",
    );
    out.push_str(
        "    classDef cause fill:#ffffff,stroke:#cf222e,color:#000,stroke-dasharray:4 3\n",
    );
    for class in ["passed", "warned", "failed", "unknown", "cause"] {
        let ids: Vec<&str> = classes
            .iter()
            .filter(|(c, _)| *c == class)
            .map(|(_, id)| id.as_str())
            .collect();
        if !ids.is_empty() {
            let _ = writeln!(out, "    class {} {class}", ids.join(","));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_locale_and_no_color_choose_the_glyphs() {
        assert_eq!(glyphs_for(env(&[("LANG", "C.UTF-8")])), Glyphs::Unicode);
        assert_eq!(glyphs_for(env(&[("LANG", "en_US.utf8")])), Glyphs::Unicode);
        assert_eq!(glyphs_for(env(&[])), Glyphs::Ascii);
        assert_eq!(glyphs_for(env(&[("LANG", "C")])), Glyphs::Ascii);
        assert_eq!(
            glyphs_for(env(&[("LANG", "C.UTF-8"), ("NO_COLOR", "1")])),
            Glyphs::Ascii
        );
        // An empty NO_COLOR is unset (no-color.org); an empty LC_ALL defers to the next.
        assert_eq!(
            glyphs_for(env(&[("LANG", "C.UTF-8"), ("NO_COLOR", "")])),
            Glyphs::Unicode
        );
        assert_eq!(
            glyphs_for(env(&[("LC_ALL", ""), ("LANG", "C.UTF-8")])),
            Glyphs::Unicode
        );
        assert_eq!(
            glyphs_for(env(&[("LC_ALL", "C"), ("LANG", "C.UTF-8")])),
            Glyphs::Ascii
        );
        assert_eq!(
            glyphs_for(env(&[("LC_CTYPE", "C.UTF-8"), ("LANG", "C")])),
            Glyphs::Unicode
        );
    }

    #[test]
    fn ascii_text_has_no_byte_above_127() {
        let g = Glyphs::Ascii;
        assert_eq!(g.text("to https://x/… → é"), "to https://x/... -> ?");
        for mark in [
            Mark::Passed,
            Mark::Warned,
            Mark::Failed,
            Mark::Unknown,
            Mark::Absent,
        ] {
            assert!(g.mark(mark).is_ascii());
        }
    }

    #[test]
    fn a_mermaid_label_cannot_close_itself_or_carry_markup() {
        let label = mermaid_label("a\"]\n end %% <b>`c`</b> #quot; [x](y) {z} |w|;");
        for c in [
            '"', '<', '>', '`', '[', ']', '(', ')', '{', '}', '|', '\n', '%',
        ] {
            assert!(!label.contains(c), "{c:?} in {label}");
        }
        // Every `#` starts an entity code that ends in `;`.
        for piece in label.split('#').skip(1) {
            let code = piece.split(';').next().unwrap_or("");
            assert!(
                code == "quot" || code.chars().all(|c| c.is_ascii_digit()),
                "{label}"
            );
        }
        assert!(label.starts_with("a#quot;#93;\u{fffd} end #37;#37; #60;b#62;"));
        // Capped before escaping.
        let long = mermaid_label(&"x".repeat(500));
        assert_eq!(long.chars().count(), 120);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn every_code_that_marks_a_hop_has_a_step_that_takes_it() {
        let steps = [
            Step::Dns,
            Step::Connect,
            Step::Answer,
            Step::Handshake,
            Step::Txt,
        ];
        for &code in Code::ALL {
            let s = stage(code);
            let taken = steps.iter().any(|step| step.takes(s));
            assert_eq!(taken, !matches!(s, Stage::Failure | Stage::Off), "{code}");
        }
    }
}
