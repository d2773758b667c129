//! The check `ca-path`: what the CA's walk (read in `walk.rs`) and the per-address answers
//! show beyond one wrong answer: addresses that disagree, a router or
//! a WAF answering, plain HTTP on the HTTPS port, a validation that only passes after dead
//! IPv6 dials.
//!
//! Codes: `families-disagree`, `router-answers`, `waf-blocks`, `http-on-https-port`,
//! `slow-fallback`.

use super::judge::token_fails;
use super::machines::{self, Signal};
use super::perspective::{self, ByAgent, BySource, Said, Seen};
use super::walk::{self, Kind, Outcome};
use super::who;
use crate::ca_limits::VALIDATION_DEADLINE_MS;
use crate::diagnose::ca::{self, CaError, ProblemType};
use crate::diagnose::check::CheckDef;
use crate::diagnose::context::duration;
use crate::diagnose::{Check, Code, Context, Finding, Severity, run_check};
use crate::facts::{ConnectOutcome, Family, HopOutcome, Method};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// After the checks: a blocker about the connection the walk failed on states the error the
/// walk predicts. The CA reports one error per validation, and the walk is the CA's own
/// sequence (IPv6 first, fallback, redirects), so it knows which error that is.
pub fn predict(cx: &Context, findings: &mut [Finding]) {
    let facts = cx.http01();
    let Some(path) = &facts.ca_path else { return };
    let Some(Outcome::Fail(f)) = walk::outcome(path, facts.token.as_ref()) else {
        return;
    };
    // A random token is this run's, not the CA's: the CA's words carry its own token.
    let detail = match (&facts.token, path.url.rsplit('/').next()) {
        (None, Some(random)) if !random.is_empty() => f.ca.detail.replace(random, "<token>"),
        _ => f.ca.detail.clone(),
    };
    for finding in findings.iter_mut() {
        let about_path = matches!(
            finding.ca_problem,
            None | Some(
                ProblemType::Connection
                    | ProblemType::Unauthorized
                    | ProblemType::Tls
                    | ProblemType::Malformed
            )
        );
        let same_family = finding.family.is_none_or(|fam| Some(fam) == f.family);
        // The line that starts the redirect chain (port 80) is told the words of the hop
        // where the chain failed (443): issue 20 item 4.
        let down_its_chain = f.depth > 0
            && crate::diagnose::causes::starts_a_chain(finding.code)
            && finding.port == Some(ca::HTTP01_PORT);
        let same_port = finding.port.is_none_or(|p| p == f.port) || down_its_chain;
        if finding.severity == Severity::Blocker
            && about_path
            && same_family
            && same_port
            // A family-less root cause in the web server's config (the name's own block)
            // fails the walk on whichever family the CA dials: the walk's words are its words.
            && (finding.family.is_some()
                || matches!(
                    finding.code,
                    Code::ChallengeLocationShadowed | Code::WebrootMismatch
                )
                // Issue 20 item 4: a renewal here for a name that points elsewhere; the
                // walk went where the CA goes.
                || finding.code == Code::NotOnHost)
        {
            finding.ca_error = Some(detail.clone());
            finding.ca_problem = Some(f.ca.problem);
        }
    }
}

pub const CHECK: CheckDef = CheckDef {
    name: "ca-path",
    codes: &[
        Code::FamiliesDisagree,
        Code::RouterAnswers,
        Code::WafBlocks,
        Code::HttpOnHttpsPort,
        Code::SlowFallback,
    ],
    methods: &[Method::Http01],
    run: |cx, out| run_check(&Path, cx, out),
};

pub struct Path;

#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// Addresses answer differently: (address, what it answered) per answer kind.
    Disagree {
        family: Family,
        answers: Vec<(IpAddr, String)>,
        /// Per address, what identifies the machine (404 page, validators, certificate).
        identities: Vec<(IpAddr, String)>,
        /// What differs beyond the token and `/`'s status, Server and title.
        signals: Vec<Signal>,
        /// Only those signals tell the addresses apart: the same software, another machine.
        by_signals: bool,
        blocks: bool,
        /// What the CA reports at its first-choice address, when that fails.
        ca: Option<CaError>,
    },
    Router {
        family: Family,
        addresses: Vec<IpAddr>,
        what: String,
        status: u16,
        blocks: bool,
    },
    Waf {
        family: Family,
        addresses: Vec<IpAddr>,
        name: &'static str,
        status: u16,
        blocks: bool,
    },
    /// On the host, the CA's User-Agent is refused (or its connection ended) where
    /// acme-doctor's own gets a working answer: a filter keyed on the User-Agent.
    ByAgent(ByAgent),
    /// With the CA's User-Agent, some perspectives are refused (a status or a block page)
    /// where others get a working answer: a filter keyed on the source address.
    BySource(BySource),
    HttpOnTls {
        family: Option<Family>,
        port: u16,
        url: String,
        ca: CaError,
    },
    SlowFallback {
        dead: Vec<(String, IpAddr, u64)>,
        total_ms: u64,
    },
}

/// What one address answered, in a form two addresses can be compared by: the token's status
/// and body, and `/`'s status, Server and title (a page's body may change per request).
fn signature(token: &HopOutcome, root: &HopOutcome) -> String {
    let one = |o: &HopOutcome, body: bool| match o {
        HopOutcome::Answer(a) => format!(
            "{} {}{}",
            a.status,
            a.server.as_deref().unwrap_or("-"),
            if body {
                format!(
                    " body sha256 {}",
                    a.body_sha256.get(..12).unwrap_or_default()
                )
            } else {
                format!(" title {:?}", a.title.as_deref().unwrap_or_default())
            }
        ),
        HopOutcome::Timeout => "no response".into(),
        HopOutcome::Reset => "reset".into(),
        other => format!("{other:?}").chars().take(60).collect(),
    };
    format!("token: {}; /: {}", one(token, true), one(root, false))
}

impl Check for Path {
    type Evidence = Found;

    fn detect(&self, cx: &Context) -> Vec<Found> {
        let facts = cx.http01();
        let mut found = Vec::new();
        let usable = |ip: &IpAddr| cx.usable(Family::of(ip)).contains(ip);
        let answers: Vec<_> = facts
            .answers
            .iter()
            .filter(|a| usable(&a.address))
            // An answer acme-doctor could not ask for (its own limit) is no answer to compare.
            .filter(|a| {
                ![&a.token, &a.root]
                    .iter()
                    .any(|o| matches!(o, HopOutcome::OwnLimit { .. }))
            })
            .collect();
        // The CA's first choice: the first AAAA, else the first A.
        let first_family = if cx.usable(Family::Ipv6).is_empty() {
            Family::Ipv4
        } else {
            Family::Ipv6
        };

        // Every address should answer alike.
        let sigs: Vec<(IpAddr, String)> = answers
            .iter()
            .map(|a| (a.address, signature(&a.token, &a.root)))
            .collect();
        let distinct: std::collections::BTreeSet<&String> = sigs.iter().map(|(_, s)| s).collect();
        // Two machines with the same server software answer alike above: compare what
        // identifies a machine (`machines.rs`). Not behind a CDN or proxy, whose edges may
        // differ per POP while serving one origin.
        let ranges = crate::cdn::Ranges::new(cx.run.options.cdn_ranges.as_deref());
        let fronted = |a: &crate::facts::AddressAnswers| {
            ranges.lookup(&a.address).is_some()
                || [&a.token, &a.root]
                    .into_iter()
                    .chain(a.missing.as_ref())
                    .any(|o| matches!(o, HopOutcome::Answer(x) if !x.marks.is_empty()))
        };
        let dynamic = machines::root_is_dynamic(&answers);
        let mut signals = std::collections::BTreeSet::new();
        let mut another = false;
        for (i, a) in answers.iter().enumerate() {
            for b in answers.iter().skip(i + 1) {
                if fronted(a) || fronted(b) {
                    continue;
                }
                let differ = machines::differing(a, b, dynamic);
                another |= machines::another_machine(&differ);
                signals.extend(differ);
            }
        }
        if distinct.len() > 1 || another {
            let fails: BTreeMap<IpAddr, bool> = answers
                .iter()
                .map(|a| (a.address, token_fails(&a.token, facts.token.as_ref())))
                .collect();
            // The family that answers wrongly, when one family is all wrong and the other
            // all right; else the CA's first choice.
            let all = |fam: Family, wrong: bool| {
                let of: Vec<bool> = fails
                    .iter()
                    .filter(|(ip, _)| Family::of(ip) == fam)
                    .map(|(_, f)| *f)
                    .collect();
                !of.is_empty() && of.iter().all(|f| *f == wrong)
            };
            let family = if all(Family::Ipv6, true) && all(Family::Ipv4, false) {
                Family::Ipv6
            } else if all(Family::Ipv4, true) && all(Family::Ipv6, false) {
                Family::Ipv4
            } else {
                first_family
            };
            let first_fails = cx
                .usable(first_family)
                .first()
                .and_then(|ip| fails.get(ip))
                .copied()
                .unwrap_or(false);
            let first_ip = cx.usable(first_family).first().copied();
            let ca = first_ip.and_then(|ip| {
                let a = answers.iter().find(|a| a.address == ip)?;
                match &a.token {
                    HopOutcome::Answer(x) => Some(ca::bad_status(
                        &ip,
                        &ca::challenge_url(&cx.url_host),
                        x.status,
                    )),
                    _ => None,
                }
            });
            found.push(Found::Disagree {
                family,
                answers: sigs.clone(),
                identities: answers
                    .iter()
                    .map(|a| (a.address, machines::identity(a)))
                    .filter(|(_, id)| !id.is_empty())
                    .collect(),
                signals: signals.into_iter().collect(),
                by_signals: distinct.len() == 1,
                blocks: first_fails && facts.token.is_some() && ca.is_some(),
                ca,
            });
        }

        // Who answered: a router, a WAF.
        for family in [Family::Ipv4, Family::Ipv6] {
            let of_family: Vec<_> = answers
                .iter()
                .filter(|a| Family::of(&a.address) == family)
                .collect();
            if of_family.is_empty() {
                continue;
            }
            let routers: Vec<(IpAddr, String, u16)> = of_family
                .iter()
                .filter_map(|a| {
                    let status = match &a.token {
                        HopOutcome::Answer(x) => x.status,
                        _ => 0,
                    };
                    [&a.token, &a.root].into_iter().find_map(|o| match o {
                        HopOutcome::Answer(x) => who::router(x).map(|w| (a.address, w, status)),
                        _ => None,
                    })
                })
                .collect();
            if let Some((_, what, status)) = routers.first() {
                found.push(Found::Router {
                    family,
                    addresses: routers.iter().map(|(ip, _, _)| *ip).collect(),
                    what: what.clone(),
                    status: *status,
                    blocks: routers.len() == of_family.len(),
                });
            }
            let wafs: Vec<(IpAddr, &'static str, u16)> = of_family
                .iter()
                .filter_map(|a| match &a.token {
                    HopOutcome::Answer(x) => who::waf(x).map(|w| (a.address, w, x.status)),
                    _ => None,
                })
                .collect();
            if let Some((_, name, status)) = wafs.first() {
                found.push(Found::Waf {
                    family,
                    addresses: wafs.iter().map(|(ip, _, _)| *ip).collect(),
                    name,
                    status: *status,
                    blocks: wafs.len() == of_family.len(),
                });
            }
        }

        // Per perspective (issue 20 item 1): by User-Agent on the host, by source across
        // perspectives; only a refusal by source is a WAF's (a close or silence by source is
        // `vantage-dependent`, worded by the outside check).
        let seen = perspective::challenge(cx);
        found.extend(perspective::by_agent(&seen).into_iter().map(Found::ByAgent));
        found.extend(
            perspective::by_source(&seen)
                .into_iter()
                .filter(BySource::refused)
                .map(Found::BySource),
        );

        let Some(path) = &facts.ca_path else {
            return found;
        };
        if let Some(Outcome::Fail(f)) = walk::outcome(path, facts.token.as_ref())
            && f.kind == Kind::HttpOnTls
        {
            found.push(Found::HttpOnTls {
                family: f.family,
                port: f.hop.port,
                url: f.hop.url.clone(),
                ca: f.ca,
            });
        }
        // Attempts that ended in a dial timeout before the one that got through.
        let attempts = &path.attempts;
        let dead: Vec<(String, IpAddr, u64)> = attempts
            .iter()
            .take(attempts.len().saturating_sub(1))
            .filter_map(|a| a.hops.last())
            .filter_map(|h| match (&h.outcome, h.address) {
                (
                    HopOutcome::Dial {
                        connect: ConnectOutcome::Timeout,
                    },
                    Some(ip),
                ) => Some((h.url.clone(), ip, h.elapsed_ms)),
                _ => None,
            })
            .collect();
        let last_connected = attempts
            .last()
            .and_then(|a| a.hops.last())
            .is_some_and(|h| !matches!(h.outcome, HopOutcome::Dial { .. }));
        if !dead.is_empty() && last_connected {
            found.push(Found::SlowFallback {
                dead,
                total_ms: path.elapsed_ms,
            });
        }
        found
    }

    fn word(&self, cx: &Context, found: &Found) -> Finding {
        let facts = cx.http01();
        let path_evidence = facts
            .ca_path
            .as_ref()
            .map(walk::evidence)
            .unwrap_or_default();
        match found {
            Found::Disagree {
                family,
                answers,
                identities,
                signals,
                by_signals,
                blocks,
                ca,
            } => {
                let differ = signals
                    .iter()
                    .map(|s| s.label())
                    .collect::<Vec<_>>()
                    .join(", ");
                // Every address on this host: one machine, so another server block answers.
                let one_machine = answers.iter().all(|(ip, _)| cx.is_local(ip));
                let title = if *by_signals && one_machine {
                    format!(
                        "{}'s addresses serve different sites on this host: {} answers with another server block ({differ} differ)",
                        cx.domain,
                        family.label()
                    )
                } else if *by_signals {
                    format!(
                        "{}'s addresses are different machines: {} answers with the same server software but another site ({differ} differ)",
                        cx.domain,
                        family.label()
                    )
                } else {
                    format!(
                        "{}'s addresses answer differently: {} gives another answer than the rest",
                        cx.domain,
                        family.label()
                    )
                };
                let mut f = Finding::new(
                    Code::FamiliesDisagree,
                    if *blocks { Severity::Blocker } else { Severity::Warning },
                    title,
                )
                .family(*family)
                .port(cx.dial_port())
                .detail("Every A and AAAA address should serve the same site. The CA uses the first AAAA (then the first A only after a connect error), and its remote perspectives may pick others: an address that serves another site or another vhost fails validation. Classic causes: the AAAA points at another machine (an old server, the hosting provider's default), or IPv6 lands on another server block because only that block has `listen [::]:80`.");
                for (ip, sig) in answers {
                    f = f.evidence(format!("{ip}: {sig}"));
                }
                for (ip, id) in identities {
                    f = f.evidence(format!("{ip}: {id}"));
                }
                if !differ.is_empty() {
                    f = f.evidence(format!("differ between the addresses: {differ}"));
                }
                if *by_signals && !one_machine {
                    f = f.evidence("status, Server and title agree: the same server software, but another machine (the ACME client writes the token on one of them only)");
                }
                f = f.fix(format!(
                    "compare: curl -s -o /dev/null -w '%{{http_code}}' --resolve {d}:80:ADDR http://{d}/ for each address",
                    d = cx.domain
                ))
                .fix("point every A/AAAA record at the server that holds the webroot, or remove the stale one")
                .fix("nginx: give the name's server block both `listen 80;` and `listen [::]:80;`");
                match (blocks, ca) {
                    (true, Some(ca)) => f.ca(ca.clone()),
                    _ => f,
                }
            }
            Found::Router {
                family,
                addresses,
                what,
                status,
                blocks,
            } => Finding::new(
                Code::RouterAnswers,
                if *blocks { Severity::Blocker } else { Severity::Warning },
                format!(
                    "a router's admin page answers on {} port 80, not the web server",
                    family.label()
                ),
            )
            .family(*family)
            .port(cx.dial_port())
            .detail("The request reaches the router itself: port 80 is not forwarded to the server behind it, or the router's own web interface (remote administration) holds port 80. The CA sees the router's page, never the challenge file.")
            .evidence(format!(
                "{}: {what}",
                addresses.iter().map(IpAddr::to_string).collect::<Vec<_>>().join(", ")
            ))
            .fix("forward TCP port 80 (and 443) on the router to the server's LAN address")
            .fix("move the router's remote administration off port 80, or switch it off")
            .fix("for IPv6 there is no NAT: allow inbound TCP 80 to the server in the router's IPv6 firewall")
            .ca(ca::bad_status(&addresses[0], &ca::challenge_url(&cx.url_host), *status)),
            Found::Waf {
                family,
                addresses,
                name,
                status,
                blocks,
            } => Finding::new(
                Code::WafBlocks,
                if *blocks { Severity::Blocker } else { Severity::Warning },
                format!(
                    "{name} blocks the challenge request on {} ({status})",
                    family.label()
                ),
            )
            .family(*family)
            .port(cx.dial_port())
            .detail("A web application firewall or bot protection answers the challenge URL with its block or challenge page. The CA runs no JavaScript and solves no CAPTCHA, so it gets that page instead of the key authorization.")
            .evidence(format!(
                "{}: {status} from {name}",
                addresses.iter().map(IpAddr::to_string).collect::<Vec<_>>().join(", ")
            ))
            .fix("exempt /.well-known/acme-challenge/ from the WAF (a skip or allow rule for that path)")
            .fix("Cloudflare: a configuration or WAF skip rule for the path, and no \"I'm under attack\" mode on it; ModSecurity: SecRuleRemoveById for the rule in the audit log, or `SecRuleEngine Off` in a <Location /.well-known/acme-challenge/>")
            .ca(ca::bad_status(&addresses[0], &ca::challenge_url(&cx.url_host), *status)),
            Found::ByAgent(diff) => by_agent(cx, diff),
            Found::BySource(diff) => by_source(cx, diff),
            Found::HttpOnTls {
                family,
                port,
                url,
                ca,
            } => {
                let mut f = Finding::new(
                    Code::HttpOnHttpsPort,
                    Severity::Blocker,
                    format!("the redirect leads to {url}, but port {port} answers plain HTTP, not TLS"),
                )
                .port(*port)
                .detail("The challenge is redirected to HTTPS and the CA follows it, but the server on that port speaks plain HTTP: a `listen 443;` without `ssl`, or a proxy forwarding to the wrong port.")
                .evidence_lines(path_evidence)
                .fix("nginx: `listen 443 ssl;` with a certificate (a self-signed one is enough: the CA does not verify it)")
                .fix("or exempt /.well-known/acme-challenge/ from the HTTPS redirect")
                .ca(ca.clone());
                if let Some(fam) = family {
                    f = f.family(*fam);
                }
                f
            }
            Found::SlowFallback { dead, total_ms } => {
                let late = *total_ms > VALIDATION_DEADLINE_MS;
                let mut f = Finding::new(
                    Code::SlowFallback,
                    if late { Severity::Blocker } else { Severity::Warning },
                    format!(
                        "the CA's path works only after {} dead IPv6 connect{} ({} in all)",
                        dead.len(),
                        if dead.len() == 1 { "" } else { "s" },
                        duration(*total_ms)
                    ),
                )
                .family(Family::Ipv6)
                .port(cx.dial_port())
                .detail(format!(
                    "The CA dials the AAAA first and falls back to IPv4 only after the connect times out, 10 s each time (docs/ca-behaviour.md §2.2, §2.4). The validation must finish within the CA's deadline, about {} s for the whole fetch (§1.1, §2.4); remote perspectives may have less, and CAs that do not fall back fail at once.",
                    VALIDATION_DEADLINE_MS / 1000
                ));
                for (url, ip, ms) in dead {
                    f = f.evidence(format!("{url} via {ip}: connect timed out after {}", duration(*ms)));
                }
                let f = f
                    .evidence_lines(path_evidence)
                    .fix("make the AAAA work (IPv6 on, port 80 open), or remove the AAAA record");
                match (late, dead.first()) {
                    (true, Some((url, ip, _))) => {
                        f.ca(ca::fetching(ProblemType::Connection, ip, url, ca::CONNECT_TIMEOUT))
                    }
                    _ => f,
                }
            }
        }
    }
}

/// The CA's error for a blocked answer at `ip`, as Boulder words it (`docs/ca-behaviour.md`
/// §2.7, §2.8).
fn blocked_error(cx: &Context, ip: &IpAddr, said: &Said) -> Option<CaError> {
    let url = ca::challenge_url(&cx.url_host);
    let connection = |core| Some(ca::fetching(ProblemType::Connection, ip, &url, core));
    match said {
        Said::Answer { status, .. } => Some(ca::bad_status(ip, &url, *status)),
        Said::Closed | Said::NoData => connection(ca::GETTING_DATA),
        Said::Reset => connection(ca::CONNECTION_RESET),
        Said::Timeout => connection(ca::TIMEOUT_AFTER_CONNECT),
    }
}

/// The evidence of `waf-blocks` by User-Agent or by source is a contract others build on:
/// one `perspective NAME (AGENT) at ADDRESS: ANSWER` line per perspective, then one
/// `filter: by User-Agent: ...` or `filter: by source (NAMES): ...` line. A pass that finds
/// the rule itself in the host's configuration (nginx, Apache, the firewall, evaluated for
/// the CA's User-Agent or the blocked perspective's source) adds it as a `rule: ...` line
/// after that one, at file:line or by handle.
///
/// Where the filter can be seen from here: the block page's product, else the server that
/// answered (its own access rule), else the connection's end.
fn filter_seen(said: &Said) -> String {
    match said {
        Said::Answer {
            block_page: Some(page),
            ..
        } => format!("{page} (its block page)"),
        Said::Answer {
            status,
            server: Some(server),
            ..
        } => format!("a rule of the web server that answers (Server: {server}) returns {status}"),
        Said::Answer { status, .. } => {
            format!("a rule in front of or in the web server returns {status}")
        }
        other => format!("the request is answered by: {other}"),
    }
}

/// Fixes for a filter by User-Agent or by source, from its block page when it has one.
const FILTER_FIXES: &[&str] = &[
    "exempt /.well-known/acme-challenge/ from the filter: nginx, a `location ^~ /.well-known/acme-challenge/ { allow all; }` placed before the bot-blocker include or the `if`, with no `return` for that path; Apache, a `<Location /.well-known/acme-challenge/>` with `Require all granted`",
    "Cloudflare: a configuration or WAF skip rule for the path; ModSecurity: SecRuleRemoveById for the rule in the audit log, or `SecRuleEngine Off` for the path",
];

fn by_agent(cx: &Context, diff: &ByAgent) -> Finding {
    let ua = ca::VALIDATION_USER_AGENT;
    let mut f = Finding::new(
        Code::WafBlocks,
        Severity::Blocker,
        format!(
            "{} refuses Let's Encrypt's User-Agent ({}) and answers another ({})",
            diff.address,
            short_said(&diff.ca),
            short_said(&diff.own)
        ),
    )
    .family(diff.family)
    .port(cx.dial_port())
    .detail("From this host, the challenge path gets a working answer with acme-doctor's own User-Agent and a refusal with the CA's (Let's Encrypt's validation server's), from the same address at the same moment: a filter keyed on the User-Agent (a bot blocker, a WAF rule, an `if ($http_user_agent ...)` or a RewriteCond on %{HTTP_USER_AGENT}) refuses the CA. Every perspective of the CA sends that User-Agent, so every one is refused.")
    .evidence(format!(
        "perspective this host ({}) at {}: {}",
        crate::facts::Agent::Ca.label(),
        diff.address,
        diff.ca
    ))
    .evidence(format!(
        "perspective this host ({}) at {}: {}",
        crate::facts::Agent::Own.label(),
        diff.address,
        diff.own
    ))
    .evidence(format!("filter: by User-Agent: {}", filter_seen(&diff.ca)))
    .evidence(format!("the CA's User-Agent: {ua}"));
    for fix in FILTER_FIXES {
        f = f.fix(*fix);
    }
    f = f.fix(format!(
        "check: curl -sS -o /dev/null -w '%{{http_code}}' -A \"{ua}\" http://{}/.well-known/acme-challenge/test",
        cx.url_host
    ));
    match blocked_error(cx, &diff.address, &diff.ca) {
        Some(ca) => f.ca(ca),
        None => f,
    }
}

fn by_source(cx: &Context, diff: &BySource) -> Finding {
    let first = diff
        .blocked
        .iter()
        .find(|s| s.said.refusal())
        .unwrap_or(&diff.blocked[0]);
    let outside_served = diff.outside_served();
    let names: Vec<&str> = diff.blocked.iter().map(|s| s.name.as_str()).collect();
    let mut f = Finding::new(
        Code::WafBlocks,
        if outside_served {
            Severity::Warning
        } else {
            Severity::Blocker
        },
        format!(
            "the challenge path refuses some perspectives on {} ({}): {}",
            diff.family.label(),
            names.join(", "),
            short_said(&first.said)
        ),
    )
    .likely()
    .family(diff.family)
    .port(cx.dial_port())
    .detail("With the CA's User-Agent, the same challenge path is refused from some places and answered from others: a filter keyed on the source address (a geo-block, an IP blocklist, a bot blocker's address list, an `allow`/`deny` or `geo` rule, a WAF's country rule). The same server answers both, so this is no other server. Let's Encrypt does not publish the addresses or regions it validates from and validates from several at once, so any block by source or region risks the validation.")
    .evidence_lines(diff.blocked.iter().map(Seen::line))
    .evidence_lines(diff.served.iter().map(Seen::line))
    .evidence(format!(
        "filter: by source ({}): {}",
        names.join(", "),
        filter_seen(&first.said)
    ));
    for fix in FILTER_FIXES {
        f = f.fix(*fix);
    }
    f = f.fix("Let's Encrypt publishes no list of validation addresses and changes them: allowlisting its addresses does not work");
    match blocked_error(cx, &first.address, &first.said) {
        Some(ca) if !outside_served => f.ca(ca),
        _ => f,
    }
}

/// An answer in a few words, for a title.
fn short_said(said: &Said) -> String {
    match said {
        Said::Answer { status, .. } => status.to_string(),
        Said::Closed => "a close without an answer".into(),
        Said::Reset => "a reset".into(),
        Said::Timeout => "no answer".into(),
        Said::NoData => "no usable answer".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::ca::RedirectRefusal;
    use crate::facts::{Answered, PathHop, TokenFacts};
    use crate::facts::{CaPath, PathAttempt};

    fn hop(url: &str, ip: &str, port: u16, outcome: HopOutcome) -> PathHop {
        let ip: IpAddr = ip.parse().unwrap();
        PathHop {
            url: url.into(),
            address: Some(ip),
            family: Some(Family::of(&ip)),
            port,
            outcome,
            elapsed_ms: 5,
        }
    }

    fn answer(status: u16, location: Option<&str>, body: &[u8]) -> HopOutcome {
        HopOutcome::Answer(Box::new(Answered {
            status,
            server: Some("nginx".into()),
            location: location.map(str::to_string),
            www_authenticate: None,
            marks: Vec::new(),
            title: None,
            body_head_hex: body.iter().take(128).map(|b| format!("{b:02x}")).collect(),
            body_prefix: String::new(),
            body_bytes: body.len() as u64,
            body_sha256: String::new(),
            etag: None,
            last_modified: None,
        }))
    }

    fn token() -> TokenFacts {
        TokenFacts {
            source: crate::facts::TokenSource::ExpectBody,
            token: "T".into(),
            expected: "T.thumb".into(),
        }
    }

    const URL: &str = "http://example.test/.well-known/acme-challenge/T";

    #[test]
    fn a_refused_redirect_is_worded_with_the_redirecting_hops_address_and_the_target() {
        let path = CaPath {
            url: URL.into(),
            attempts: vec![PathAttempt {
                hops: vec![
                    hop(
                        URL,
                        "2001:db8::10",
                        80,
                        answer(301, Some("https://example.test:9443/x"), b""),
                    ),
                    PathHop {
                        url: "https://example.test:9443/x".into(),
                        address: None,
                        family: None,
                        port: 0,
                        outcome: HopOutcome::Refused {
                            refusal: RedirectRefusal::Port { port: 9443 },
                        },
                        elapsed_ms: 0,
                    },
                ],
            }],
            elapsed_ms: 5,
        };
        let Some(Outcome::Fail(f)) = walk::outcome(&path, None) else {
            panic!()
        };
        assert_eq!(f.family, Some(Family::Ipv6));
        assert_eq!(f.port, 80);
        assert_eq!(
            f.ca.detail,
            "2001:db8::10: Fetching https://example.test:9443/x: Invalid port in redirect target. Only ports 80 and 443 are supported, not 9443"
        );
    }

    #[test]
    fn the_body_is_compared_as_the_ca_compares_it() {
        let one = |body: &[u8], t: Option<TokenFacts>| {
            let path = CaPath {
                url: URL.into(),
                attempts: vec![PathAttempt {
                    hops: vec![hop(URL, "192.0.2.10", 80, answer(200, None, body))],
                }],
                elapsed_ms: 5,
            };
            match walk::outcome(&path, t.as_ref()) {
                Some(Outcome::Pass) => "pass".to_string(),
                Some(Outcome::Unverified { .. }) => "unverified".to_string(),
                Some(Outcome::Fail(f)) => f.ca.detail,
                None => "none".to_string(),
            }
        };
        assert_eq!(one(b"T.thumb\r\n", Some(token())), "pass");
        assert_eq!(one(b"T.thumb", None), "unverified");
        assert_eq!(
            one("\u{FEFF}T.thumb".as_bytes(), Some(token())),
            "The key authorization file from the server did not match this challenge. Expected \"T.thumb\" (got \"\\ufeffT.thumb\")"
        );
        let big = vec![b'a'; 200];
        assert!(
            one(&big, Some(token()))
                .starts_with(&format!("192.0.2.10: Invalid response from {URL}: \"aaaa"))
        );
    }

    /// The CA is a perspective too: its pasted 403 against the host's own 404 (with the CA's
    /// User-Agent, from the host's own address) is a refusal by source, the CA's words quoted.
    #[test]
    fn the_cas_own_403_against_the_hosts_404_is_a_refusal_by_source() {
        let s = crate::diagnose::testkit::Scenario::dual_stack()
            .v4_connects(80)
            .http_server("192.0.2.10", 404, "nginx")
            .with_ca_evidence(crate::facts::CaEvidence {
                source: crate::facts::CaSource::Pasted,
                at: None,
                said: crate::facts::CaSaid::Words(
                    "192.0.2.10: Invalid response from http://example.test/.well-known/acme-challenge/x: 403".into(),
                ),
            });
        let cx = s.context();
        let found = Path.detect(&cx);
        let Some(Found::BySource(diff)) = found.iter().find(|f| matches!(f, Found::BySource(_)))
        else {
            panic!("{found:?}")
        };
        assert_eq!(diff.blocked[0].place, perspective::Place::Ca);
        assert_eq!(diff.served[0].place, perspective::Place::Host);
        let f = Path.word(&cx, &Found::BySource(diff.clone()));
        assert_eq!(f.code, Code::WafBlocks);
        // Nothing outside got through: the failure is certain, in the CA's words.
        assert_eq!(f.severity, Severity::Blocker);
        assert!(
            f.evidence
                .iter()
                .any(|l| l.starts_with("filter: by source")),
            "{:?}",
            f.evidence
        );
    }

    /// What one address of a two-machine name answers: the same Debian nginx, so the token's
    /// 404 and `/`'s status, Server and title agree; the site and its certificate differ.
    fn machine(ip: &str, site: &str, dynamic: bool) -> crate::facts::AddressAnswers {
        let page = |status: u16, hash: &str, etag: Option<String>| {
            HopOutcome::Answer(Box::new(Answered {
                status,
                server: Some("nginx/1.22.1".into()),
                title: (status == 200).then(|| "Shop".into()),
                body_sha256: hash.into(),
                etag,
                ..match answer(status, None, b"") {
                    HopOutcome::Answer(a) => *a,
                    _ => unreachable!(),
                }
            }))
        };
        crate::facts::AddressAnswers {
            address: ip.parse().unwrap(),
            token: page(404, "nginx-404", None),
            root: page(200, &format!("{site}-index"), Some(format!("\"{site}\""))),
            missing: Some(page(404, "nginx-404", None)),
            root_again_sha256: dynamic.then(|| "another render".into()),
            tls: Some(crate::facts::TlsSeen::Certificate {
                sha256: format!("{site}-cert"),
                subject: Some(format!("{site}.example.test")),
                issuer: None,
                names: Vec::new(),
            }),
        }
    }

    #[test]
    fn the_same_server_software_on_another_machine_disagrees_by_its_site_and_certificate() {
        let s = crate::diagnose::testkit::Scenario::dual_stack()
            .address_answers(machine("192.0.2.10", "new", false))
            .address_answers(machine("2001:db8::10", "old", false));
        let cx = s.context();
        let found = Path.detect(&cx);
        let [
            Found::Disagree {
                family,
                signals,
                by_signals,
                ..
            },
        ] = &found[..]
        else {
            panic!("{found:?}")
        };
        assert_eq!(*family, Family::Ipv6);
        assert!(*by_signals);
        assert_eq!(
            signals,
            &[Signal::Certificate, Signal::Etag, Signal::RootBody]
        );
        let f = Path.word(&cx, &found[0]);
        assert_eq!(f.code, Code::FamiliesDisagree);
        assert_eq!(f.severity, Severity::Warning);
        assert!(
            f.title
                .contains("the certificate on 443, the ETag of /, the body of / differ"),
            "{}",
            f.title
        );
        // Both addresses are this host's (the testkit's dual-stack server): another server
        // block, not another machine.
        assert!(f.title.contains("on this host"), "{}", f.title);
        // Seen from elsewhere, the AAAA is another machine.
        let s = crate::diagnose::testkit::Scenario::dual_stack()
            .address_answers(machine("192.0.2.10", "new", false))
            .address_answers(machine("2001:db8::10", "old", false))
            .not_on_host();
        let cx = s.context();
        let f = Path.word(&cx, &Path.detect(&cx)[0]);
        assert!(f.title.contains("different machines"), "{}", f.title);
    }

    #[test]
    fn one_machine_with_a_dynamic_page_does_not_disagree() {
        // Both addresses on one machine: one certificate, one 404; `/` differs per request.
        let mut a = machine("192.0.2.10", "one", true);
        let mut b = machine("2001:db8::10", "one", false);
        for x in [&mut a, &mut b] {
            x.root = match &x.root {
                HopOutcome::Answer(r) => HopOutcome::Answer(Box::new(Answered {
                    etag: None,
                    ..(**r).clone()
                })),
                other => other.clone(),
            };
        }
        if let HopOutcome::Answer(r) = &mut b.root {
            r.body_sha256 = "csrf-2".into();
        }
        let s = crate::diagnose::testkit::Scenario::dual_stack()
            .address_answers(a.clone())
            .address_answers(b.clone());
        assert_eq!(Path.detect(&s.context()), []);
        // Nor when the 404 differs too, once `/` is known to change per request.
        b.missing = Some(HopOutcome::Timeout);
        if let Some(HopOutcome::Answer(m)) = &mut a.missing {
            m.body_sha256 = "nonce-1".into();
        }
        let mut b404 = a.missing.clone();
        if let Some(HopOutcome::Answer(m)) = &mut b404 {
            m.body_sha256 = "nonce-2".into();
        }
        b.missing = b404;
        let s = crate::diagnose::testkit::Scenario::dual_stack()
            .address_answers(a)
            .address_answers(b);
        assert_eq!(Path.detect(&s.context()), []);
    }

    #[test]
    fn addresses_in_a_cdn_range_are_not_compared_by_site_or_certificate() {
        let s = crate::diagnose::testkit::Scenario::dual_stack()
            .cdn_ranges("@provider Example CDN\n192.0.2.0/24\n2001:db8::/32\n")
            .address_answers(machine("192.0.2.10", "pop-a", false))
            .address_answers(machine("2001:db8::10", "pop-b", false));
        assert!(
            !Path
                .detect(&s.context())
                .iter()
                .any(|f| matches!(f, Found::Disagree { .. }))
        );
    }

    #[test]
    fn a_dead_aaaa_then_a_working_a_is_a_slow_fallback() {
        let s = crate::diagnose::testkit::Scenario::dual_stack().ca_path(CaPath {
            url: URL.into(),
            attempts: vec![
                PathAttempt {
                    hops: vec![PathHop {
                        elapsed_ms: 10_000,
                        ..hop(
                            URL,
                            "2001:db8::10",
                            80,
                            HopOutcome::Dial {
                                connect: ConnectOutcome::Timeout,
                            },
                        )
                    }],
                },
                PathAttempt {
                    hops: vec![hop(URL, "192.0.2.10", 80, answer(404, None, b""))],
                },
            ],
            elapsed_ms: 10_005,
        });
        let cx = s.context();
        let found = Path.detect(&cx);
        assert!(matches!(&found[..], [Found::SlowFallback { dead, .. }] if dead.len() == 1));
        let f = Path.word(&cx, &found[0]);
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(f.family, Some(Family::Ipv6));
    }
}
