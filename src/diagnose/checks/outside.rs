//! Inside and outside together: what the host sees of itself, against what the vantages (or
//! runs saved elsewhere) saw of it. Each half alone sees a symptom; together they name a
//! cause that sits between the CA and the server, where neither half can look alone.
//!
//! Codes: `blocked-upstream`, `vantage-dependent`, `outside-sees-other-server`,
//! `public-address-mismatch`. Without any outside view, a run on the server says once what
//! it could not see (incomplete), and how to add a vantage.

use crate::diagnose::IncompleteKind;
use crate::diagnose::ca::observe::Perspective;
use crate::diagnose::ca::{self, Dial};
use crate::diagnose::check::CheckDef;
use crate::diagnose::context::{outside_connect, socket, vantage_limited};
use crate::diagnose::http01::perspective::{self, BySource, Seen};
use crate::diagnose::{Check, Code, Context, Finding, Out, Severity, run_check};
use crate::facts::{ConnectOutcome, Family, HttpFact, HttpOutcome, Method, Observation};
use std::net::IpAddr;

pub const CHECK: CheckDef = CheckDef {
    name: "outside",
    codes: &[
        Code::BlockedUpstream,
        Code::VantageDependent,
        Code::OutsideSeesOtherServer,
        Code::PublicAddressMismatch,
    ],
    methods: &[Method::Http01, Method::TlsAlpn01],
    run: run_outside,
};

/// What a run on the server alone cannot see.
pub const BLIND_SPOT: &str = "seen from this host only: what stands between the CA and the server (a security group, a provider firewall, the router's port forward, the ISP, upstream IPv6) was not checked; add an outside view with --vantage URL (acme-doctor serve elsewhere) or join a run saved elsewhere: --from-facts host.json outside.json";

fn run_outside(cx: &Context, out: &mut Out) {
    if cx.on_host() == Some(true) && cx.has_usable() {
        for v in &cx.target.vantages {
            if let Err(e) = &v.observed {
                out.incomplete(
                    IncompleteKind::VantageSilent,
                    format!("vantage {} gave no observation: {}", v.vantage, e.message),
                );
            }
        }
        for (name, o) in &cx.outside {
            if !o.refused_targets.is_empty() {
                let list: Vec<String> = o.refused_targets.iter().map(IpAddr::to_string).collect();
                out.incomplete(
                    IncompleteKind::VantageSilent,
                    format!(
                    "vantage {name} would not contact {} (reserved, private or its own address)",
                    list.join(", ")
                ),
                );
            }
        }
        // A view that dialled nothing saw nothing; the CA's own verdict is heard from outside.
        if !cx.heard_outside() {
            out.incomplete(IncompleteKind::HostOnly, BLIND_SPOT);
        }
    }
    run_check(&Outside, cx, out);
}

pub struct Outside;

/// How one view ended on one family and port.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub name: String,
    /// The first address of the family it dialled, and how that ended.
    pub address: IpAddr,
    pub outcome: ConnectOutcome,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// The host serves itself on `port`, yet every outside view failed there.
    BlockedUpstream {
        family: Family,
        port: u16,
        host_address: IpAddr,
        failed: Vec<View>,
    },
    /// Some outside views got through on `port`, others did not.
    VantageDependent {
        family: Family,
        port: u16,
        ok: Vec<View>,
        failed: Vec<View>,
    },
    /// With the CA's User-Agent, the challenge path answers some perspectives (200, 404)
    /// and refuses, closes, resets or ignores others (issue 20 item 1).
    HttpDependent(BySource),
    /// The answer from outside differs from the host's own.
    OtherServer {
        family: Family,
        address: IpAddr,
        vantage: String,
        differences: Vec<String>,
        /// The challenge's status differs, or the `Server` header: certainly another server.
        decisive: bool,
        /// What the outside view got for the challenge path: the status and body start.
        outside_answer: (u16, String),
    },
    /// A vantage saw this host's request come from an address DNS does not publish.
    AddressMismatch {
        family: Family,
        vantage: String,
        seen: IpAddr,
        published: Vec<IpAddr>,
    },
}

/// Whether the view's connect to `ip` failed the way the CA's would (a timeout, a refusal,
/// an unreachable host); `None` when the view could not tell (no IPv6 there) or did not try.
fn failed(outcome: &ConnectOutcome) -> Option<bool> {
    match outcome {
        ConnectOutcome::Connected => Some(false),
        o if vantage_limited(o) => None,
        _ => Some(true),
    }
}

/// How one view did on `family` and `port`: connected to some address (`Some(false)` with
/// that one), failed on every address it dialled (`Some(true)` with the first), or unknown.
fn judge(o: &Observation, usable: &[IpAddr], port: u16) -> Option<(bool, IpAddr, ConnectOutcome)> {
    let mut first_fail = None;
    for ip in usable {
        let Some(outcome) = outside_connect(o, ip, port) else {
            continue;
        };
        match failed(outcome) {
            Some(false) => return Some((false, *ip, outcome.clone())),
            Some(true) if first_fail.is_none() => first_fail = Some((true, *ip, outcome.clone())),
            _ => {}
        }
    }
    first_fail
}

/// A response as the comparison reads it: status, `Server`, body start.
type Response = (u16, Option<String>, String);

/// The challenge GET to `ip`, with the User-Agent it sent.
fn challenge_of(facts: &[HttpFact], ip: &IpAddr) -> Option<(Response, crate::facts::Agent)> {
    let agent = facts
        .iter()
        .find(|h| h.address == *ip && h.port == 80)?
        .agent;
    Some((response_of(facts, ip)?, agent))
}

/// Whether the outside view's answer is a refusal (a refusal status, or a WAF's block page)
/// by the server that answers here too: the same `Server` header, or a block page.
fn refused_by_same_server(mine: &Response, theirs: &Response) -> bool {
    let said = perspective::Said::Answer {
        status: theirs.0,
        server: theirs.1.clone(),
        body_sha256: String::new(),
        block_page: None,
    };
    let block_page = crate::diagnose::http01::who::waf(&crate::facts::Answered {
        status: theirs.0,
        server: theirs.1.clone(),
        location: None,
        www_authenticate: None,
        marks: Vec::new(),
        title: None,
        body_head_hex: String::new(),
        body_prefix: theirs.2.clone(),
        body_bytes: 0,
        body_sha256: String::new(),
    });
    said.refusal() && (said.server() == mine.1.as_deref() || block_page.is_some())
}

fn response_of(facts: &[HttpFact], ip: &IpAddr) -> Option<Response> {
    facts
        .iter()
        .find(|h| h.address == *ip && h.port == 80)
        .and_then(|h| match &h.outcome {
            HttpOutcome::Response {
                status,
                server,
                body_prefix,
                ..
            } => Some((*status, server.clone(), body_prefix.clone())),
            _ => None,
        })
}

impl Check for Outside {
    type Evidence = Found;

    fn detect(&self, cx: &Context) -> Vec<Found> {
        let mut found = Vec::new();
        // The CA's own dial (`--ca-check`, `--ca-error`) is one more view, the decisive one.
        let ca_views = ca::join::ca_views(cx);
        if cx.outside.is_empty() && ca_views.is_empty() {
            return found;
        }
        let on_host = cx.on_host() == Some(true);
        for family in [Family::Ipv4, Family::Ipv6] {
            let usable = cx.usable(family);
            if usable.is_empty() {
                continue;
            }
            for port in cx.ports_in_play(family) {
                let mut ok = Vec::new();
                let mut bad = Vec::new();
                for (name, o) in &cx.outside {
                    if let Some((fail, address, outcome)) = judge(o, usable, port) {
                        let view = View {
                            name: name.to_string(),
                            address,
                            outcome,
                        };
                        if fail { bad.push(view) } else { ok.push(view) }
                    }
                }
                for (name, o) in &ca_views {
                    let Some((address, outcome)) = o.dial_outcome() else {
                        continue;
                    };
                    if Family::of(&address) != family || o.port.unwrap_or(cx.dial_port()) != port {
                        continue;
                    }
                    let view = View {
                        name: name.clone(),
                        address,
                        outcome: outcome.clone(),
                    };
                    match (o.perspective, failed(&outcome)) {
                        (_, Some(false)) => ok.push(view),
                        // A remote perspective failed only after the primary got through
                        // (`docs/ca-behaviour.md` §6.5).
                        (Perspective::Secondary, Some(true)) => {
                            ok.push(View {
                                name: "the CA's primary perspective".into(),
                                address,
                                outcome: ConnectOutcome::Connected,
                            });
                            bad.push(view);
                        }
                        (Perspective::Primary, Some(true)) => bad.push(view),
                        (_, None) => {}
                    }
                }
                // The run itself is a view too when it ran elsewhere than on the server.
                if !on_host {
                    for ip in usable {
                        match cx.connect(ip, port).and_then(|o| failed(o).map(|f| (f, o))) {
                            Some((false, o)) => {
                                ok.push(View {
                                    name: "this run".into(),
                                    address: *ip,
                                    outcome: o.clone(),
                                });
                                break;
                            }
                            Some((true, o)) if ip == &usable[0] => bad.push(View {
                                name: "this run".into(),
                                address: *ip,
                                outcome: o.clone(),
                            }),
                            _ => {}
                        }
                    }
                }
                if bad.is_empty() {
                    continue;
                }
                if !ok.is_empty() {
                    found.push(Found::VantageDependent {
                        family,
                        port,
                        ok,
                        failed: bad,
                    });
                    continue;
                }
                // Healthy on the host: its own connect got through (through lo), or behind
                // a NAT, a listener accepts the private address (the listener check says
                // when not). Host-side causes, when present, rank above and explain this.
                let host_address = usable.iter().find_map(|ip| {
                    let local = cx.local_address(ip)?;
                    let self_ok = cx.connect(ip, port) == Some(&ConnectOutcome::Connected);
                    let nat = cx.nat.as_ref().is_some_and(|n| n.published == *ip);
                    (on_host && (self_ok || nat)).then_some(local)
                });
                if let Some(host_address) = host_address {
                    found.push(Found::BlockedUpstream {
                        family,
                        port,
                        host_address,
                        failed: bad,
                    });
                }
            }
            // The answer on port 80: the host's own against each view's, with the same
            // User-Agent.
            if on_host {
                for ip in usable {
                    let my_root = response_of(&cx.http01().root, ip);
                    for (name, o) in &cx.outside {
                        let Some((theirs, agent)) = challenge_of(&o.http01.http, ip) else {
                            continue;
                        };
                        let Some((mine, _)) = challenge_of(&cx.http01().http, ip)
                            .filter(|(_, a)| *a == agent)
                            .or_else(|| challenge_of(&cx.http01().own_agent, ip))
                            .filter(|(_, a)| *a == agent)
                        else {
                            continue;
                        };
                        // A refusal by the same server (its Server header, or a block
                        // page) is a filter by source, not another server: `waf-blocks`
                        // and `vantage-dependent` say it.
                        if refused_by_same_server(&mine, &theirs) {
                            continue;
                        }
                        let mut differences = Vec::new();
                        let mut decisive = false;
                        if mine.0 != theirs.0 {
                            decisive = true;
                            differences.push(format!(
                                "the challenge path: {} here, {} from {name}",
                                mine.0, theirs.0
                            ));
                        }
                        if mine.1 != theirs.1 {
                            decisive = true;
                            differences.push(format!(
                                "Server header: {:?} here, {:?} from {name}",
                                mine.1.as_deref().unwrap_or("none"),
                                theirs.1.as_deref().unwrap_or("none")
                            ));
                        }
                        if let (Some(a), Some(b)) = (&my_root, response_of(&o.http01.root, ip))
                            && (a.0 != b.0 || a.2 != b.2)
                        {
                            differences.push(format!(
                                "GET /: {} {:?} here, {} {:?} from {name}",
                                a.0,
                                short(&a.2),
                                b.0,
                                short(&b.2)
                            ));
                        }
                        if !differences.is_empty() {
                            found.push(Found::OtherServer {
                                family,
                                address: *ip,
                                vantage: name.to_string(),
                                differences,
                                decisive,
                                outside_answer: (theirs.0, theirs.2.clone()),
                            });
                        }
                    }
                }
            }
        }
        // At the HTTP level too: with the CA's User-Agent, perspectives that got an answer
        // against those refused, closed, reset or left without one (issue 20 item 1).
        let seen = perspective::challenge(cx);
        found.extend(
            perspective::by_source(&seen)
                .into_iter()
                .map(Found::HttpDependent),
        );
        if on_host {
            for (name, o) in &cx.outside {
                let Some(seen) = o.source_address.map(|ip| ip.to_canonical()) else {
                    continue;
                };
                let family = Family::of(&seen);
                let published = cx.usable(family);
                if !published.is_empty() && !published.contains(&seen) {
                    found.push(Found::AddressMismatch {
                        family,
                        vantage: name.to_string(),
                        seen,
                        published: published.to_vec(),
                    });
                }
            }
        }
        found
    }

    fn word(&self, cx: &Context, found: &Found) -> Finding {
        match found {
            Found::BlockedUpstream {
                family,
                port,
                host_address,
                failed,
            } => blocked_upstream(cx, *family, *port, host_address, failed),
            Found::VantageDependent {
                family,
                port,
                ok,
                failed,
            } => vantage_dependent(cx, *family, *port, ok, failed),
            Found::HttpDependent(diff) => http_dependent(cx, diff),
            Found::OtherServer {
                family,
                address,
                vantage,
                differences,
                decisive,
                outside_answer,
            } => {
                let mut f = Finding::new(
                    Code::OutsideSeesOtherServer,
                    if *decisive { Severity::Blocker } else { Severity::Warning },
                    format!(
                        "from outside, {} on port {} answers as another server than this host",
                        socket(address, cx.dial_port()),
                        cx.dial_port()
                    ),
                )
                .likely()
                .family(*family)
                .port(80)
                .detail("This host's own request and the outside view's reach different servers: a NAT or port forward to another machine, a proxy or a load balancer sits in between. The CA's request lands where the outside view's did, so the token this host's ACME client writes is not what the CA reads.")
                .evidence_lines(differences.iter().cloned())
                .evidence(format!("outside view: {vantage}"));
                f = f
                    .fix(format!("point the router's port forward (or the proxy / load balancer) for TCP 80 of {address} at this host"))
                    .fix("or run the ACME client on the machine that answers from outside");
                if *decisive {
                    // The CA reads what the outside view read (docs/ca-behaviour.md §2.7).
                    let url = ca::challenge_url(&cx.url_host);
                    let core = match outside_answer {
                        (200, body) => ca::invalid_body(&url, body),
                        (status, _) => ca::invalid_status(&url, *status),
                    };
                    f = f.ca(ca::fetching(
                        ca::ProblemType::Unauthorized,
                        address,
                        &url,
                        &core,
                    ));
                }
                f
            }
            Found::AddressMismatch {
                family,
                vantage,
                seen,
                published,
            } => {
                let list: Vec<String> = published.iter().map(IpAddr::to_string).collect();
                Finding::new(
                    Code::PublicAddressMismatch,
                    Severity::Warning,
                    format!(
                        "this host reaches the internet as {seen}, but {} publishes {} {}",
                        cx.domain,
                        family.record_type(),
                        list.join(", ")
                    ),
                )
                .likely()
                .family(*family)
                .detail("The vantage saw this host's request come from an address the DNS does not publish. The record may be stale (a new IP, a move), or outbound traffic leaves through another address than inbound traffic arrives on (a NAT gateway, a second address, a VPN): then the CA's request goes to the published address, which may not lead here.")
                .evidence(format!("{vantage} saw the request from {seen}"))
                .evidence_lines(cx.record_evidence(*family))
                .fix(format!("if {seen} is this server's public address, point the {} record of {} at it", family.record_type(), cx.domain))
                .fix(format!("if outbound traffic leaves through a NAT gateway on purpose, make sure the published address forwards port {} here", cx.dial_port()))
            }
        }
    }
}

fn short(text: &str) -> String {
    crate::sanitize::line(text, 60)
}

fn view_line(v: &View, port: u16) -> String {
    format!(
        "{}: connect {}: {}",
        v.name,
        socket(&v.address, port),
        v.outcome
    )
}

fn blocked_upstream(
    cx: &Context,
    family: Family,
    port: u16,
    host_address: &IpAddr,
    failed: &[View],
) -> Finding {
    let first = &failed[0];
    let how = match Dial::of(&first.outcome) {
        Some(Dial::Refused) => "is refused",
        Some(Dial::Timeout) => "times out",
        _ => "is unreachable",
    };
    let behind_nat = cx.nat.as_ref().is_some_and(|n| n.private == *host_address);
    let inside = if behind_nat {
        format!(
            "Behind the NAT, a listener accepts {host_address}, where the port forward must lead"
        )
    } else {
        format!(
            "On the host, the listener accepts {host_address} and its own connection gets through"
        )
    };
    let mut f = Finding::new(
        Code::BlockedUpstream,
        Severity::Blocker,
        format!(
            "{} port {port} works on this host but {how} from outside: something between the CA and the server blocks it",
            family.label()
        ),
    )
    .family(family)
    .port(port)
    .detail(format!(
        "{inside}; from outside, every view fails on {} port {port}. The block sits upstream of the host: a cloud security group or provider firewall, a home router without the port forward, or an ISP that filters inbound port {port}.",
        family.label()
    ))
    .evidence(if behind_nat {
        format!("behind NAT: a listener on this host accepts {}", socket(host_address, port))
    } else {
        format!(
            "self-connection from this host (through lo, not the CA's path) to {}: connected",
            socket(host_address, port)
        )
    });
    for v in failed {
        f = f.evidence(view_line(v, port));
    }
    let cloud = format!(
        "cloud: allow inbound TCP {port} from anywhere ({}) in the instance's security group / provider firewall (AWS security group, GCP VPC firewall, Azure NSG, Hetzner/OVH/DigitalOcean cloud firewall)",
        if family == Family::Ipv4 {
            "0.0.0.0/0"
        } else {
            "::/0"
        }
    );
    let forward =
        format!("behind a router: forward TCP {port} of the public address to {host_address}");
    // Behind a NAT the missing forward is the likeliest; elsewhere the provider's firewall.
    let (first_fix, second_fix) = if behind_nat {
        (forward, cloud)
    } else {
        (cloud, forward)
    };
    f = f
        .fix(first_fix)
        .fix(second_fix)
        .fix(format!("home connection: some ISPs block inbound port {port}; ask the ISP, or use the dns-01 method instead"));
    if family == Family::Ipv6 {
        f = f.fix("IPv6: the router or provider must route and admit IPv6 to this host; or delete the AAAA record until it does");
    }
    if let Some(dial) = Dial::of(&first.outcome) {
        f = f.ca(cx.ca_dial_error(&first.address, dial));
    }
    f
}

fn vantage_dependent(
    cx: &Context,
    family: Family,
    port: u16,
    ok: &[View],
    failed: &[View],
) -> Finding {
    let names: Vec<&str> = failed.iter().map(|v| v.name.as_str()).collect();
    let mut f = Finding::new(
        Code::VantageDependent,
        Severity::Warning,
        format!(
            "{} port {port} of {} answers some outside views but not others ({})",
            family.label(),
            cx.domain,
            names.join(", ")
        ),
    )
    .likely()
    .family(family)
    .port(port)
    .detail("Where the request comes from decides whether it gets through: a geo-block, an IP blocklist, fail2ban or a rate limit. Let's Encrypt validates from several perspectives at once and fails when more than one of the remote ones fails.");
    for v in failed {
        f = f.evidence(view_line(v, port));
    }
    for v in ok {
        f = f.evidence(view_line(v, port));
    }
    f.fix(format!("allow TCP {port} from anywhere: remove geo-blocking or country filters, and IP blocklists (fail2ban, CrowdSec, a WAF) for /.well-known/acme-challenge/"))
        .fix("Let's Encrypt publishes no list of validation addresses and changes them: allowlisting its addresses does not work")
}

/// `vantage-dependent` at the HTTP level: each perspective's answer named. Every view
/// outside the server blocked: a blocker, as `blocked-upstream` is for a connect; some got
/// through: a risk, since the CA's perspectives are not published.
fn http_dependent(cx: &Context, diff: &BySource) -> Finding {
    let outside_served = diff.outside_served();
    let names: Vec<&str> = diff.blocked.iter().map(|s| s.name.as_str()).collect();
    let mut f = Finding::new(
        Code::VantageDependent,
        if outside_served {
            Severity::Warning
        } else {
            Severity::Blocker
        },
        format!(
            "the challenge path on {} answers some perspectives but not others ({})",
            diff.family.label(),
            names.join(", ")
        ),
    )
    .likely()
    .family(diff.family)
    .port(cx.dial_port())
    .detail("Every perspective connected and sent the CA's request with the CA's User-Agent; where the request came from decided the answer: a geo-block or an IP blocklist in the web server (nginx `geo`/`deny`, `return 444`), fail2ban or CrowdSec acting on the web server, an IPS that drops or resets the request after the handshake. Let's Encrypt validates from several perspectives it does not publish, and fails when more than one of the remote ones fails.")
    .evidence_lines(diff.blocked.iter().map(Seen::line))
    .evidence_lines(diff.served.iter().map(Seen::line));
    f = f
        .fix("find the rule that answers those sources: nginx `geo`, `allow`/`deny`, `map $remote_addr` and `return 444` for /.well-known/acme-challenge/, a bot blocker's address lists, fail2ban/CrowdSec bans, an IPS policy; exempt the challenge path from it")
        .fix("Let's Encrypt publishes no list of validation addresses and changes them: allowlisting its addresses does not work");
    if !outside_served && let Some(first) = diff.blocked.iter().find(|s| s.outside()) {
        let url = ca::challenge_url(&cx.url_host);
        let core = match &first.said {
            perspective::Said::Answer { status, .. } => {
                return f.ca(ca::bad_status(&first.address, &url, *status));
            }
            perspective::Said::Reset => ca::CONNECTION_RESET,
            perspective::Said::Timeout => ca::TIMEOUT_AFTER_CONNECT,
            perspective::Said::Closed | perspective::Said::NoData => ca::GETTING_DATA,
        };
        f = f.ca(ca::fetching(
            ca::ProblemType::Connection,
            &first.address,
            &url,
            core,
        ));
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::Scenario;

    #[test]
    fn healthy_inside_and_blocked_outside_is_blocked_upstream() {
        let s = Scenario::dual_stack()
            .v4_connects(80)
            .v6_connects(80)
            .vantage("https://v1.example", |o| {
                o.connect("192.0.2.10", 80, ConnectOutcome::Timeout)
                    .connect("2001:db8::10", 80, ConnectOutcome::Connected)
            });
        let found = Outside.detect(&s.context());
        assert!(
            matches!(
                &found[..],
                [Found::BlockedUpstream {
                    family: Family::Ipv4,
                    port: 80,
                    ..
                }]
            ),
            "{found:?}"
        );
        let f = Outside.word(&s.context(), &found[0]);
        assert_eq!(f.severity, Severity::Blocker);
        assert!(f.fix.iter().any(|l| l.contains("security group")));
    }

    #[test]
    fn some_views_through_and_others_not_is_vantage_dependent() {
        let s = Scenario::dual_stack()
            .v4_connects(80)
            .v6_connects(80)
            .vantage("https://v1.example", |o| {
                o.connect("192.0.2.10", 80, ConnectOutcome::Connected)
            })
            .vantage("https://v2.example", |o| {
                o.connect("192.0.2.10", 80, ConnectOutcome::Timeout)
            });
        let found = Outside.detect(&s.context());
        assert!(
            matches!(
                &found[..],
                [Found::VantageDependent {
                    family: Family::Ipv4,
                    ..
                }]
            ),
            "{found:?}"
        );
    }

    #[test]
    fn another_answer_from_outside_is_another_server() {
        let s = Scenario::dual_stack()
            .v4_connects(80)
            .http("192.0.2.10", 404, None)
            .vantage("https://v1.example", |o| {
                o.connect("192.0.2.10", 80, ConnectOutcome::Connected).http(
                    "192.0.2.10",
                    200,
                    Some("Apache"),
                )
            });
        let found = Outside.detect(&s.context());
        assert!(
            matches!(&found[..], [Found::OtherServer { decisive: true, .. }]),
            "{found:?}"
        );
    }

    fn ranked(s: &Scenario) -> Vec<(Code, Severity, Option<Code>)> {
        let cx = s.context();
        crate::diagnose::diagnose(cx.run, cx.target)
            .findings
            .iter()
            .map(|f| (f.code, f.severity, f.explained_by))
            .collect()
    }

    fn nginx(status: u16) -> HttpOutcome {
        HttpOutcome::Response {
            status,
            server: Some("nginx/1.22.1".into()),
            location: None,
            body_prefix: String::new(),
            body_bytes: 0,
            body_truncated: false,
            page: Default::default(),
        }
    }

    /// nginx `return 444` for one vantage's prefix: that vantage's connection closes without
    /// an answer, the host and the other vantage get 404. Vantage-dependent at the HTTP
    /// level, each perspective named; never another server.
    #[test]
    fn a_close_at_one_vantage_and_404_at_another_is_vantage_dependent_at_http() {
        let s = Scenario::dual_stack()
            .v4_connects(80)
            .http_outcome("192.0.2.10", nginx(404))
            .vantage("https://v1.example", |o| {
                o.connect("192.0.2.10", 80, ConnectOutcome::Connected)
                    .http_outcome("192.0.2.10", HttpOutcome::Closed)
            })
            .vantage("https://v2.example", |o| {
                o.connect("192.0.2.10", 80, ConnectOutcome::Connected)
                    .http_outcome("192.0.2.10", nginx(404))
            });
        let found = Outside.detect(&s.context());
        let [Found::HttpDependent(diff)] = &found[..] else {
            panic!("{found:?}")
        };
        assert_eq!(diff.family, Family::Ipv4);
        let f = Outside.word(&s.context(), &found[0]);
        assert_eq!(f.code, Code::VantageDependent);
        // One outside view got through: a risk, not a certain failure.
        assert_eq!(f.severity, Severity::Warning);
        let lines = f.evidence.join("\n");
        assert!(
            lines.contains("https://v1.example") && lines.contains("444"),
            "{lines}"
        );
        assert!(
            lines.contains("https://v2.example") && lines.contains("404"),
            "{lines}"
        );
        assert!(lines.contains("this host"), "{lines}");
        // Every outside view closed: the CA's request fails too, in Boulder's words for EOF.
        let s = Scenario::dual_stack()
            .v4_connects(80)
            .http_outcome("192.0.2.10", nginx(404))
            .vantage("https://v1.example", |o| {
                o.connect("192.0.2.10", 80, ConnectOutcome::Connected)
                    .http_outcome("192.0.2.10", HttpOutcome::Closed)
            });
        let found = Outside.detect(&s.context());
        let f = Outside.word(&s.context(), &found[0]);
        assert_eq!(f.severity, Severity::Blocker);
        assert!(
            f.ca_error
                .as_deref()
                .is_some_and(|e| e.ends_with(ca::GETTING_DATA)),
            "{:?}",
            f.ca_error
        );
        assert!(
            !ranked(&s)
                .iter()
                .any(|(c, ..)| *c == Code::OutsideSeesOtherServer)
        );
    }

    /// A geo 403 from the same nginx at a vantage: `waf-blocks` by source on top, which
    /// explains `vantage-dependent`; never `outside-sees-other-server` (issue 20).
    #[test]
    fn a_refusal_by_source_from_the_same_server_is_waf_blocks_not_another_server() {
        let s = Scenario::dual_stack()
            .v4_connects(80)
            .http_outcome("192.0.2.10", nginx(404))
            .vantage("https://v1.example", |o| {
                o.connect("192.0.2.10", 80, ConnectOutcome::Connected)
                    .http_outcome("192.0.2.10", nginx(403))
            });
        let ranked = ranked(&s);
        assert_eq!(ranked[0].0, Code::WafBlocks, "{ranked:?}");
        assert_eq!(ranked[0].1, Severity::Blocker, "{ranked:?}");
        assert!(
            ranked
                .iter()
                .any(|(c, _, by)| *c == Code::VantageDependent && *by == Some(Code::WafBlocks)),
            "{ranked:?}"
        );
        assert!(
            !ranked
                .iter()
                .any(|(c, ..)| *c == Code::OutsideSeesOtherServer),
            "{ranked:?}"
        );
        // Another server's own answer (another Server header) is still another server.
        let s = Scenario::dual_stack()
            .v4_connects(80)
            .http_outcome("192.0.2.10", nginx(404))
            .vantage("https://v1.example", |o| {
                o.connect("192.0.2.10", 80, ConnectOutcome::Connected).http(
                    "192.0.2.10",
                    200,
                    Some("Apache"),
                )
            });
        assert!(ranked_has(&s, Code::OutsideSeesOtherServer));
    }

    fn ranked_has(s: &Scenario, code: Code) -> bool {
        ranked(s).iter().any(|(c, ..)| *c == code)
    }

    /// nginx `if ($http_user_agent ~* letsencrypt) { return 403; }`: from the host alone, the
    /// CA's User-Agent gets 403 and acme-doctor's own 404. `waf-blocks` on top, certain, and
    /// `challenge-status` (read from the CA's User-Agent) is its symptom.
    #[test]
    fn a_403_to_the_cas_user_agent_only_is_waf_blocks_from_the_host_alone() {
        let s = Scenario::dual_stack()
            .v4_connects(80)
            .http_outcome("192.0.2.10", nginx(403))
            .own_agent("192.0.2.10", nginx(404));
        let ranked = ranked(&s);
        assert_eq!(ranked[0].0, Code::WafBlocks, "{ranked:?}");
        assert_eq!(ranked[0].1, Severity::Blocker, "{ranked:?}");
        assert!(
            ranked
                .iter()
                .any(|(c, _, by)| *c == Code::ChallengeStatus && *by == Some(Code::WafBlocks)),
            "{ranked:?}"
        );
        // The same 403 to both User-Agents is no filter by User-Agent.
        let s = Scenario::dual_stack()
            .v4_connects(80)
            .http_outcome("192.0.2.10", nginx(403))
            .own_agent("192.0.2.10", nginx(403));
        assert!(!ranked_has(&s, Code::WafBlocks));
        assert!(ranked_has(&s, Code::ChallengeStatus));
    }

    #[test]
    fn a_source_address_that_is_not_published_is_a_mismatch() {
        let s = Scenario::dual_stack()
            .v4_connects(80)
            .vantage("https://v1.example", |o| {
                o.connect("192.0.2.10", 80, ConnectOutcome::Connected)
                    .source("192.0.2.99")
            });
        let found = Outside.detect(&s.context());
        assert!(
            matches!(
                &found[..],
                [Found::AddressMismatch {
                    family: Family::Ipv4,
                    ..
                }]
            ),
            "{found:?}"
        );
    }

    /// On the server, no outside view, or one that dialled nothing, leaves the run
    /// incomplete; one that looked completes it.
    #[test]
    fn only_a_view_that_looked_completes_a_host_run() {
        let incomplete = |s: &Scenario| {
            let cx = s.context();
            crate::diagnose::diagnose(cx.run, cx.target).incomplete
        };
        let s = Scenario::dual_stack().v4_connects(80).v6_connects(80);
        assert!(incomplete(&s));
        let cx = s.context();
        assert_eq!(
            crate::diagnose::diagnose(cx.run, cx.target).incomplete_kinds,
            [IncompleteKind::HostOnly],
            "a healthy host alone is incomplete for one reason: what it could not see"
        );
        let s = s.vantage("https://v1.example", |o| o);
        assert!(incomplete(&s));
        let s = s.vantage("https://v2.example", |o| {
            o.connect("192.0.2.10", 80, ConnectOutcome::Connected)
                .connect("2001:db8::10", 80, ConnectOutcome::Connected)
        });
        assert!(!incomplete(&s));
        // The CA's own words are heard from outside too (`Context::heard_outside`).
        let s = Scenario::dual_stack()
            .v4_connects(80)
            .v6_connects(80)
            .with_ca_evidence(crate::facts::CaEvidence {
                source: crate::facts::CaSource::Pasted,
                at: None,
                said: crate::facts::CaSaid::Words("Timeout during connect".into()),
            });
        assert!(!incomplete(&s));
        // Run elsewhere, the run itself is the outside view.
        let s = Scenario::dual_stack()
            .not_on_host()
            .v4_connects(80)
            .v6_connects(80);
        assert!(!incomplete(&s));
    }

    #[test]
    fn a_view_without_ipv6_says_nothing_of_ipv6() {
        let s = Scenario::dual_stack()
            .v4_connects(80)
            .v6_connects(80)
            .vantage("https://v1.example", |o| {
                o.connect("192.0.2.10", 80, ConnectOutcome::Connected)
                    .connect("2001:db8::10", 80, ConnectOutcome::NetworkUnreachable)
            });
        assert!(Outside.detect(&s.context()).is_empty());
    }
}
