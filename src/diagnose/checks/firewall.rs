//! The firewall check: asks the firewall simulator (`crate::firewall`) what the host's packet
//! filter does with the CA's new inbound SYN, per family and port, and words its verdicts.
//!
//! Codes: `firewall-drops`, `firewall-allowlist`, `firewall-unknown`, `forward-drops` (a
//! DNAT to a container followed to the forward path, `firewall/nat.rs`).

use crate::diagnose::ca::{self, Dial};
use crate::diagnose::check::CheckDef;
use crate::diagnose::context::socket;
use crate::diagnose::sources::{self, PERSPECTIVES_UNPUBLISHED};
use crate::diagnose::{Check, Code, Context, Finding, Severity, run_check};
use crate::diagnose::{Incomplete, IncompleteKind};
use crate::facts::{Family, Method, Unknown};
use crate::firewall::model::{Origin, Packet, Position, RuleRef, Ruleset, Stage, Verdict};
use crate::firewall::{self, nat};
use crate::reserved;
use ipnet::IpNet;
use std::net::IpAddr;

pub const CHECK: CheckDef = CheckDef {
    name: "firewall",
    codes: &[
        Code::FirewallDrops,
        Code::FirewallAllowlist,
        Code::FirewallUnknown,
        Code::ForwardDrops,
    ],
    methods: &[Method::Http01, Method::TlsAlpn01],
    run: |cx, out| run_check(&Firewall, cx, out),
};

pub struct Firewall;

#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// Part or all of the ruleset could not be read.
    Unreadable {
        reasons: Vec<Unknown>,
        /// Nothing at all was read.
        nothing_read: bool,
    },
    /// A rule decides, and acme-doctor cannot evaluate it.
    Undecidable {
        family: Family,
        port: u16,
        rule: String,
        why: String,
    },
    /// The arbitrary public source is turned away by `rule`; `allowed` are the sources that
    /// get in (an allow-list) when there are any.
    Blocked {
        family: Family,
        port: u16,
        daddr: IpAddr,
        rule: RuleRef,
        dial: Dial,
        allowed: Vec<IpNet>,
        managers: Vec<String>,
    },
    /// The SYN gets in, and the segment that carries the request is dropped at `rule` (an
    /// IPS-style rule on established flows): the CA connects, then times out.
    RequestDropped {
        family: Family,
        port: u16,
        daddr: IpAddr,
        rule: RuleRef,
        managers: Vec<String>,
    },
    /// A perspective failed here, and the host's own filter turns away its source address
    /// at `rule` (issue 20 item 2): the block is on this host, not upstream.
    SourceBlocked {
        family: Family,
        port: u16,
        daddr: IpAddr,
        perspective: String,
        source: IpAddr,
        /// How the perspective failed, in words.
        failure: String,
        /// The rule drops the request after the handshake, not the SYN.
        after_connect: bool,
        rule: RuleRef,
        dial: Dial,
        managers: Vec<String>,
    },
    /// A DNAT sends the connection to `hop` (a container), and the forward path turns it
    /// away at `rule`.
    ForwardBlocked {
        family: Family,
        port: u16,
        daddr: IpAddr,
        hop: Box<nat::Hop>,
        rule: RuleRef,
        dial: Dial,
        managers: Vec<String>,
    },
}

fn managed_by(managers: &[String]) -> Option<String> {
    (!managers.is_empty()).then(|| format!("rules managed by {}", managers.join(", ")))
}

impl Check for Firewall {
    type Evidence = Found;

    fn detect(&self, cx: &Context) -> Vec<Found> {
        if cx.on_host() != Some(true) {
            return Vec::new();
        }
        let Some(fw) = &cx.host.firewall else {
            return Vec::new();
        };
        let (rs, missing) = firewall::ruleset(fw);
        let mut found = Vec::new();
        if !missing.is_empty() {
            found.push(Found::Unreadable {
                reasons: missing,
                nothing_read: rs.base.is_empty(),
            });
        }
        if rs.base.is_empty() {
            return found;
        }
        for family in [Family::Ipv4, Family::Ipv6] {
            if family == Family::Ipv6 && cx.ipv6_off.is_some() {
                continue;
            }
            // Behind a NAT, the forwarded packet is addressed to the private address.
            let Some(daddr) = cx.usable(family).iter().find_map(|ip| cx.local_address(ip)) else {
                continue;
            };
            let mut ports = vec![cx.dial_port()];
            if cx.redirects_to_https(family) {
                ports.push(ca::HTTPS_PORT);
            }
            for port in ports {
                let packet = firewall::inbound_syn(cx.host, daddr, port);
                let (rule, dial) = match rs.evaluate(&packet) {
                    Verdict::Accept => {
                        // The connect gets in: does the request that follows?
                        if let Verdict::Drop { rule } | Verdict::Reject { rule, .. } =
                            rs.evaluate_request(&packet)
                        {
                            found.push(Found::RequestDropped {
                                family,
                                port,
                                daddr,
                                rule,
                                managers: rs.managers.clone(),
                            });
                        }
                        continue;
                    }
                    Verdict::Undecidable { rule, why } => {
                        found.push(Found::Undecidable {
                            family,
                            port,
                            rule,
                            why,
                        });
                        continue;
                    }
                    Verdict::Redirected { rule, to } => {
                        let Some(hop) = nat::hop(cx.host, &rule, &to, port) else {
                            found.push(Found::Undecidable {
                                family,
                                port,
                                rule: rule.to_string(),
                                why: format!(
                                    "the connection is redirected ({}) to this host; where it then goes is not evaluated",
                                    to.text
                                ),
                            });
                            continue;
                        };
                        match nat::forward(&rs, &packet, &hop) {
                            nat::Forward::Accept => {}
                            nat::Forward::Undecidable { rule, why } => {
                                found.push(Found::Undecidable {
                                    family,
                                    port,
                                    rule,
                                    why,
                                });
                            }
                            nat::Forward::Blocked(v) => {
                                let (rule, dial) = match v {
                                    Verdict::Reject { rule, refused } => (
                                        rule,
                                        if refused {
                                            Dial::Refused
                                        } else {
                                            Dial::Unreachable
                                        },
                                    ),
                                    Verdict::Drop { rule } => (rule, Dial::Timeout),
                                    _ => continue,
                                };
                                found.push(Found::ForwardBlocked {
                                    family,
                                    port,
                                    daddr,
                                    hop: Box::new(hop),
                                    rule,
                                    dial,
                                    managers: rs.managers.clone(),
                                });
                            }
                        }
                        continue;
                    }
                    Verdict::Drop { rule } => (rule, Dial::Timeout),
                    Verdict::Reject { rule, refused } => (
                        rule,
                        if refused {
                            Dial::Refused
                        } else {
                            Dial::Unreachable
                        },
                    ),
                };
                found.push(Found::Blocked {
                    family,
                    port,
                    daddr,
                    allowed: allowed_sources(cx, &rs, &packet),
                    rule,
                    dial,
                    managers: rs.managers.clone(),
                });
            }
        }
        found.extend(per_source(cx, &rs, &found));
        found
    }

    fn incomplete(&self, _cx: &Context, found: &Found) -> Option<Incomplete> {
        match found {
            Found::Unreadable {
                reasons,
                nothing_read,
            } => (*nothing_read || permission(reasons)).then(|| {
                Incomplete::new(
                    IncompleteKind::FirewallUnreadable,
                    "the firewall ruleset could not be read",
                )
            }),
            Found::Undecidable { family, port, .. } => Some(Incomplete::new(
                IncompleteKind::FirewallUnreadable,
                format!(
                    "a firewall rule for {} port {port} could not be evaluated",
                    family.label()
                ),
            )),
            Found::Blocked { .. }
            | Found::ForwardBlocked { .. }
            | Found::RequestDropped { .. }
            | Found::SourceBlocked { .. } => None,
        }
    }

    fn word(&self, cx: &Context, found: &Found) -> Finding {
        match found {
            Found::Unreadable { reasons, .. } => unreadable(reasons),
            Found::Undecidable {
                family,
                port,
                rule,
                why,
            } => Finding::new(
                Code::FirewallUnknown,
                Severity::Info,
                format!(
                    "a firewall rule decides {} port {port}, and acme-doctor cannot evaluate it",
                    family.label()
                ),
            )
            .family(*family)
            .port(*port)
            .evidence(rule.clone())
            .evidence(why.clone())
            .fix("check that rule by hand: does it let a new TCP connection to port 80 in from any address?"),
            Found::ForwardBlocked {
                family,
                port,
                daddr,
                hop,
                rule,
                dial,
                managers,
            } => forward_drops(cx, *family, *port, daddr, hop, rule, *dial, managers),
            Found::RequestDropped {
                family,
                port,
                daddr,
                rule,
                managers,
            } => request_dropped(cx, *family, *port, daddr, rule, managers),
            Found::SourceBlocked { .. } => source_blocked(cx, found),
            Found::Blocked {
                family,
                port,
                daddr,
                rule,
                dial,
                allowed,
                managers,
            } => {
                if allowed.is_empty() {
                    drops(cx, *family, *port, daddr, rule, *dial, managers)
                } else {
                    allowlist(cx, *family, *port, daddr, rule, *dial, allowed, managers)
                }
            }
        }
    }
}

/// Each failed perspective's own source, evaluated through the ruleset where the arbitrary
/// source got in: the SYN, then (when the perspective connected) the request. A family and
/// port the ruleset already blocks for everyone is said once, by that finding.
fn per_source(cx: &Context, rs: &Ruleset, found: &[Found]) -> Vec<Found> {
    let mut out: Vec<Found> = Vec::new();
    for b in sources::blocked(cx) {
        let family = Family::of(&b.target);
        let already = found.iter().any(|f| match f {
            Found::Blocked {
                family: fa,
                port: p,
                ..
            }
            | Found::RequestDropped {
                family: fa,
                port: p,
                ..
            }
            | Found::ForwardBlocked {
                family: fa,
                port: p,
                ..
            } => *fa == family && *p == b.port,
            _ => false,
        });
        if already {
            continue;
        }
        let Some(daddr) = cx.local_address(&b.target) else {
            continue;
        };
        let packet = Packet {
            saddr: Some(b.source),
            ..firewall::inbound_syn(cx.host, daddr, b.port)
        };
        let (verdict, after_connect) = match rs.evaluate(&packet) {
            Verdict::Accept if b.failure.after_connect() => (rs.evaluate_request(&packet), true),
            other => (other, false),
        };
        let (rule, dial) = match verdict {
            Verdict::Drop { rule } => (rule, Dial::Timeout),
            Verdict::Reject { rule, refused } => (
                rule,
                if refused {
                    Dial::Refused
                } else {
                    Dial::Unreachable
                },
            ),
            _ => continue,
        };
        // One finding per rule and family, however many perspectives it turned away.
        if out.iter().any(|f| matches!(f, Found::SourceBlocked { family: fa, rule: r, .. } if *fa == family && *r == rule)) {
            continue;
        }
        out.push(Found::SourceBlocked {
            family,
            port: b.port,
            daddr,
            perspective: b.name.clone(),
            source: b.source,
            failure: b.failure.describe(),
            after_connect,
            rule,
            dial,
            managers: rs.managers.clone(),
        });
    }
    out
}

fn request_dropped(
    cx: &Context,
    family: Family,
    port: u16,
    daddr: &IpAddr,
    rule: &RuleRef,
    managers: &[String],
) -> Finding {
    let mut f = Finding::new(
        Code::FirewallDrops,
        Severity::Blocker,
        format!(
            "the firewall lets {} connections to port {port} in, then drops the request: {rule}",
            family.label()
        ),
    )
    .family(family)
    .port(port)
    .detail(format!(
        "This host's packet filter accepts the TCP handshake to {}, then drops the segment that carries the HTTP request (a rule on established connections, as intrusion-prevention rules are written). The CA connects, sends its request and waits: \"Timeout after connect\".",
        socket(daddr, port),
    ))
    .evidence(format!("rule: {rule}"))
    .evidence(format!(
        "evaluated: the request segment (conntrack established, {}-{} bytes) from an arbitrary public address to {}",
        Stage::Request.length(family).0,
        Stage::Request.length(family).1,
        socket(daddr, port)
    ));
    if let Some(m) = managed_by(managers) {
        f = f.evidence(m);
    }
    for line in rule_fixes(rule, port) {
        f = f.fix(line);
    }
    f.fix("an IPS (Suricata, Snort) inline: exempt the challenge path or port 80's requests to /.well-known/acme-challenge/ from its drop rules")
        .ca(ca::fetching(
            ca::ProblemType::Connection,
            daddr,
            &ca::challenge_url(&cx.url_host),
            ca::TIMEOUT_AFTER_CONNECT,
        ))
}

/// The finding for [`Found::SourceBlocked`].
fn source_blocked(cx: &Context, found: &Found) -> Finding {
    let Found::SourceBlocked {
        family,
        port,
        daddr,
        perspective,
        source,
        failure,
        after_connect,
        rule,
        dial,
        managers,
    } = found
    else {
        unreachable!("source_blocked is called with a SourceBlocked")
    };
    let (what, sees) = if *after_connect {
        ("drops the request from", "connects, then times out")
    } else {
        match dial {
            Dial::Timeout => ("drops connections from", "times out"),
            Dial::Refused => ("rejects connections from", "is refused"),
            _ => ("rejects connections from", "gets an ICMP error"),
        }
    };
    let mut f = Finding::new(
        Code::FirewallDrops,
        Severity::Blocker,
        format!(
            "the firewall {what} {source} (where {perspective} failed): {rule}",
        ),
    )
    .family(*family)
    .port(*port)
    .detail(format!(
        "{perspective} failed at {} ({failure}). Its requests come from {source}, and this host's own packet filter turns that source away: the block is on this host, not upstream, and a CA perspective in the same range {sees}. {PERSPECTIVES_UNPUBLISHED}",
        socket(daddr, *port),
    ))
    .evidence(format!("rule: {rule}"))
    .evidence(format!(
        "evaluated: {} from {source} to {}",
        if *after_connect {
            "the request segment (conntrack established)"
        } else {
            "a new TCP SYN"
        },
        socket(daddr, *port)
    ));
    if let Some(m) = managed_by(managers) {
        f = f.evidence(m);
    }
    let chain = rule.chain.chain.to_ascii_lowercase();
    let table = rule.chain.table.to_ascii_lowercase();
    if chain.starts_with("f2b-") || table.starts_with("f2b") {
        f = f.fix(format!(
            "fail2ban banned it: fail2ban-client unban {source}; and keep port {port} out of the jail's banaction (or add the CA's traffic to ignoreip, which cannot be listed: it is unpublished)"
        ));
    }
    if chain.starts_with("crowdsec") || table.starts_with("crowdsec") {
        f = f.fix(format!(
            "CrowdSec banned it: cscli decisions delete --ip {source}; and scope the bouncer so it does not drop port {port}"
        ));
    }
    f = f.fix(format!(
        "let port {port} in from every source before the block-list rule (the challenge path is public by design): the CA's addresses cannot be allow-listed"
    ));
    for line in rule_fixes(rule, *port) {
        f = f.fix(line);
    }
    f.ca(if *after_connect {
        ca::fetching(
            ca::ProblemType::Connection,
            daddr,
            &ca::challenge_url(&cx.url_host),
            ca::TIMEOUT_AFTER_CONNECT,
        )
    } else {
        cx.ca_dial_error(daddr, *dial)
    })
}

fn permission(reasons: &[Unknown]) -> bool {
    reasons
        .iter()
        .any(|r| matches!(r, Unknown::PermissionDenied { .. }))
}

fn unreadable(reasons: &[Unknown]) -> Finding {
    let permission = permission(reasons);
    Finding::new(
        Code::FirewallUnknown,
        Severity::Info,
        if permission {
            "the firewall could not be read without root; its rules are not checked"
        } else {
            "part of the firewall could not be read; its rules are not checked"
        },
    )
    .detail("A rule acme-doctor cannot read can still drop the CA's connection.")
    .fix(if permission {
        "run acme-doctor as root to read the ruleset: sudo acme-doctor DOMAIN"
    } else if reasons
        .iter()
        .any(|r| matches!(r, Unknown::NotInstalled { .. }))
    {
        "install the tools that print the ruleset (Debian: apt install nftables iptables), then run acme-doctor again"
    } else {
        "check the ruleset by hand: nft -a list ruleset; iptables-save; ip6tables-save"
    })
    .evidence_lines(reasons.iter().map(Unknown::to_string))
}

/// The sources that get in where an arbitrary one does not, from one walk of the ruleset. A
/// LAN or loopback exception is no allow-list: the CA never comes from there. A ruleset too
/// large to walk within the budget yields none (the drop still stands).
fn allowed_sources(cx: &Context, rs: &Ruleset, packet: &Packet) -> Vec<IpNet> {
    rs.accepted_sources(packet)
        .unwrap_or_default()
        .into_iter()
        .filter(|net| cx.allow_reserved() || reserved::classify(&net.network()).is_none())
        .collect()
}

/// Commands that act on the very rule or chain named in the verdict.
fn rule_fixes(rule: &RuleRef, port: u16) -> Vec<String> {
    let accept_nft = format!("tcp dport {port} accept");
    let accept_ipt = format!("-p tcp --dport {port} -j ACCEPT");
    let (table, chain) = (&rule.chain.table, &rule.chain.chain);
    match (&rule.chain.origin, &rule.position) {
        (Origin::Nft { family }, Position::Policy) => vec![format!(
            "nft insert rule {family} {table} {chain} {accept_nft}   # make it permanent in /etc/nftables.conf"
        )],
        (Origin::Nft { family }, Position::Handle(Some(handle))) => vec![
            format!(
                "nft delete rule {family} {table} {chain} handle {handle}   # or, to keep it: nft insert rule {family} {table} {chain} {accept_nft}"
            ),
            "make it permanent in /etc/nftables.conf (or the file your firewall loads)".to_string(),
        ],
        (Origin::Nft { family }, _) => vec![format!(
            "nft insert rule {family} {table} {chain} {accept_nft}"
        )],
        (origin @ Origin::Iptables { .. }, position) => {
            let cmd = origin.command();
            match (position, rule.text.strip_prefix("-A ")) {
                (Position::Line(_), Some(spec)) => vec![
                    format!(
                        "{cmd} -t {table} -D {spec}   # or, to keep it: {cmd} -t {table} -I {chain} {accept_ipt}"
                    ),
                    "make it permanent: netfilter-persistent save (or your distribution's rules file)"
                        .to_string(),
                ],
                _ => vec![format!(
                    "{cmd} -t {table} -I {chain} {accept_ipt}   # then: netfilter-persistent save"
                )],
            }
        }
    }
}

fn drops(
    cx: &Context,
    family: Family,
    port: u16,
    daddr: &IpAddr,
    rule: &RuleRef,
    dial: Dial,
    managers: &[String],
) -> Finding {
    let (what, sees) = match dial {
        Dial::Timeout => ("drops", "times out"),
        Dial::Refused => ("rejects", "is refused"),
        _ => ("rejects", "gets an ICMP error"),
    };
    let mut f = Finding::new(
        Code::FirewallDrops,
        Severity::Blocker,
        format!(
            "the firewall {what} new {} connections to port {port}: {rule}",
            family.label()
        ),
    )
    .family(family)
    .port(port)
    .detail(format!(
        "This host's packet filter {what} a new TCP connection from any public address to {}, so the CA {sees}.",
        socket(daddr, port),
    ))
    .evidence(format!("rule: {rule}"))
    .evidence(format!(
        "evaluated: new TCP SYN from an arbitrary public address to {}",
        socket(daddr, port)
    ));
    if let Some(m) = managed_by(managers) {
        f = f.evidence(m);
    }
    // The manager's own command first: a hand-made rule is lost on its next reload.
    if managers.iter().any(|m| m == "ufw") {
        f = f.fix(format!(
            "ufw: ufw allow {port}/tcp (IPV6=yes in /etc/default/ufw covers both families)"
        ));
    }
    if managers.iter().any(|m| m == "firewalld") {
        f = f.fix(format!(
            "firewalld: firewall-cmd --permanent --add-service={} && firewall-cmd --reload",
            if port == ca::HTTPS_PORT {
                "https"
            } else {
                "http"
            }
        ));
    }
    // Editing firewalld's own table by hand is undone by its next reload: its command only.
    let firewalld_table = matches!(&rule.chain.origin, Origin::Nft { family } if family == "inet")
        && rule.chain.table == "firewalld";
    if !firewalld_table {
        for line in rule_fixes(rule, port) {
            f = f.fix(line);
        }
    }
    if family == Family::Ipv6 {
        f = f.fix("IPv6 has its own rules: opening IPv4 (iptables, ip saddr …) does not open IPv6");
    }
    f.ca(cx.ca_dial_error(daddr, dial))
}

/// The forward path drops what a DNAT sends to a container: the rule, and Docker's own place
/// for the user's rules (`DOCKER-USER`, which Docker never rewrites).
#[allow(clippy::too_many_arguments)]
fn forward_drops(
    cx: &Context,
    family: Family,
    port: u16,
    daddr: &IpAddr,
    hop: &nat::Hop,
    rule: &RuleRef,
    dial: Dial,
    managers: &[String],
) -> Finding {
    let dest = socket(&hop.to, hop.to_port);
    let who = hop.container.as_ref().map_or_else(
        || dest.clone(),
        |c| format!("{} at {dest}", nat::describe(c)),
    );
    let mut f = Finding::new(
        Code::ForwardDrops,
        Severity::Blocker,
        format!(
            "the firewall's forward path drops {} connections to port {port} on their way to {who}: {rule}",
            family.label()
        ),
    )
    .family(family)
    .port(port)
    .detail(format!(
        "{} is published by a DNAT ({}) to {dest}; the connection then crosses the FORWARD chain, not INPUT, and this rule turns it away, so the CA {}.",
        socket(daddr, port),
        hop.redirect.text,
        if dial == Dial::Timeout { "times out" } else { "is refused" },
    ))
    .evidence(format!("DNAT: {}", hop.rule))
    .evidence(format!("forward rule: {rule}"))
    .evidence(format!(
        "evaluated: new TCP SYN from an arbitrary public address to {dest}{}",
        hop.bridge
            .as_ref()
            .map_or(String::new(), |b| format!(", out through {b}"))
    ));
    if let Some(m) = managed_by(managers) {
        f = f.evidence(m);
    }
    let cmd = match &rule.chain.origin {
        Origin::Iptables {
            family: Family::Ipv6,
            ..
        } => "ip6tables",
        Origin::Iptables { .. } => "iptables",
        Origin::Nft { .. } => "nft",
    };
    if cmd == "nft" {
        for line in rule_fixes(rule, hop.to_port) {
            f = f.fix(line);
        }
    } else {
        // DOCKER-USER is evaluated first and left alone by Docker: the place for an exception.
        let bridge = hop
            .bridge
            .as_ref()
            .map_or(String::new(), |b| format!(" -o {b}"));
        f = f.fix(format!(
            "{cmd} -I DOCKER-USER{bridge} -d {} -p tcp --dport {} -j ACCEPT   # Docker never rewrites DOCKER-USER",
            hop.to, hop.to_port
        ));
        if rule.chain.chain == "DOCKER-USER"
            && let Some(spec) = rule.text.strip_prefix("-A ")
        {
            f = f.fix(format!(
                "or remove the rule: {cmd} -t {} -D {spec}",
                rule.chain.table
            ));
        }
    }
    f.ca(cx.ca_dial_error(daddr, dial))
}

#[allow(clippy::too_many_arguments)]
fn allowlist(
    cx: &Context,
    family: Family,
    port: u16,
    daddr: &IpAddr,
    rule: &RuleRef,
    dial: Dial,
    allowed: &[IpNet],
    managers: &[String],
) -> Finding {
    // A blocklist-sized allow-list would make an unreadable title: name the first few.
    const SHOWN: usize = 8;
    let mut list = allowed
        .iter()
        .take(SHOWN)
        .map(IpNet::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if allowed.len() > SHOWN {
        list.push_str(&format!(" and {} more", allowed.len() - SHOWN));
    }
    let mut f = Finding::new(
        Code::FirewallAllowlist,
        Severity::Warning,
        format!(
            "the firewall admits {} port {port} only from {list}; the CA validates from addresses it does not publish",
            family.label()
        ),
    )
    .family(family)
    .port(port)
    .detail("Let's Encrypt fetches the challenge from several perspectives at once, from addresses it does not publish; any that is not in the list is turned away and validation fails. When the primary perspective happens to be in the list, the error starts with \"During secondary validation: \".")
    .evidence(format!("accepted from: {list}"))
    .evidence(format!("anyone else: {rule}"));
    if let Some(m) = managed_by(managers) {
        f = f.evidence(m);
    }
    f.fix(format!("open port {port} to every source (the challenge path is public by design; redirect the rest to HTTPS)"))
        .fix("or validate with dns-01, which needs no inbound connection")
        .ca(cx.ca_dial_error(daddr, dial))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::Scenario;
    use crate::facts::{ConnectOutcome, FirewallFacts, IptablesBackend, IptablesDump, Probed};

    fn missing<T>(program: &str) -> Probed<T> {
        Probed::Unknown(Unknown::NotInstalled {
            program: program.into(),
        })
    }

    fn denied<T>(program: &str) -> Probed<T> {
        Probed::Unknown(Unknown::PermissionDenied {
            program: program.into(),
            message: "Operation not permitted".into(),
        })
    }

    /// Firewall facts with nft absent and one legacy IPv4 dump.
    fn legacy_v4(dump: &str) -> FirewallFacts {
        FirewallFacts {
            nft_netlink: None,
            nft: missing("nft"),
            iptables: vec![
                IptablesDump {
                    family: Family::Ipv4,
                    backend: IptablesBackend::Legacy,
                    dump: Probed::Known(dump.into()),
                },
                IptablesDump {
                    family: Family::Ipv6,
                    backend: IptablesBackend::Legacy,
                    dump: missing("ip6tables-legacy-save"),
                },
            ],
        }
    }

    const POLICY_DROP: &str = "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n";

    fn blocked(found: &[Found]) -> Vec<&Found> {
        found
            .iter()
            .filter(|f| matches!(f, Found::Blocked { .. }))
            .collect()
    }

    #[test]
    fn a_drop_policy_blocks_port_80_and_the_fix_names_the_chain() {
        let s = Scenario::ipv4_only().firewall(legacy_v4(POLICY_DROP));
        let cx = s.context();
        let found = Firewall.detect(&cx);
        let hits = blocked(&found);
        let [Found::Blocked { rule, dial, .. }] = hits.as_slice() else {
            panic!("{found:?}");
        };
        assert_eq!(rule.position, Position::Policy);
        assert_eq!(*dial, Dial::Timeout);
        let f = Firewall.word(&cx, hits[0]);
        assert_eq!(f.code, Code::FirewallDrops);
        assert!(
            f.fix
                .iter()
                .any(|l| l
                    .starts_with("iptables-legacy -t filter -I INPUT -p tcp --dport 80 -j ACCEPT")),
            "{:?}",
            f.fix
        );
        // nft is merely not installed: nothing is missing that decides.
        assert!(found.iter().any(|f| matches!(f, Found::Unreadable { .. })));
        assert!(found.iter().all(|f| Firewall.incomplete(&cx, f).is_none()));
    }

    #[test]
    fn a_drop_rule_is_named_by_its_line() {
        let dump = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 80 -j REJECT --reject-with tcp-reset\nCOMMIT\n";
        let s = Scenario::ipv4_only().firewall(legacy_v4(dump));
        let cx = s.context();
        let found = Firewall.detect(&cx);
        let [Found::Blocked { rule, dial, .. }] = blocked(&found)[..] else {
            panic!("{found:?}");
        };
        assert_eq!(rule.position, Position::Line(3));
        assert_eq!(*dial, Dial::Refused);
        let f = Firewall.word(&cx, blocked(&found)[0]);
        assert!(f.fix[0].starts_with("iptables-legacy -t filter -D INPUT -p tcp"));
        assert!(f.ca_error.unwrap().ends_with("Connection refused"));
    }

    /// Issue 20 item 2: a vantage timed out, and the host's own block list holds its source
    /// (the arbitrary source gets in): the rule is named, and `blocked-upstream` is only its
    /// symptom.
    #[test]
    fn a_failed_vantage_s_source_in_a_block_list_names_the_rule() {
        let dump = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 198.51.100.0/24 -j DROP\nCOMMIT\n";
        let s = Scenario::ipv4_only()
            .firewall(legacy_v4(dump))
            .v4_connects(80)
            .vantage("https://v.example", |v| {
                v.connect("192.0.2.10", 80, ConnectOutcome::Timeout)
                    .own_source("198.51.100.7")
            });
        let cx = s.context();
        let found = Firewall.detect(&cx);
        assert!(blocked(&found).is_empty(), "{found:?}");
        let hit = found
            .iter()
            .find(|f| matches!(f, Found::SourceBlocked { .. }))
            .expect("the vantage's source is evaluated");
        let f = Firewall.word(&cx, hit);
        assert_eq!(f.code, Code::FirewallDrops);
        assert!(f.title.contains("198.51.100.7"), "{}", f.title);
        assert!(f.title.contains("line 3"), "{}", f.title);
        assert!(f.detail.contains("§6.8"), "{}", f.detail);
        let ranked = s.diagnose();
        assert_eq!(ranked.findings[0].code, Code::FirewallDrops);
        assert!(
            ranked
                .findings
                .iter()
                .filter(|f| f.code == Code::BlockedUpstream)
                .all(|f| f.explained_by == Some(Code::FirewallDrops)),
            "{:?}",
            ranked.findings
        );
    }

    /// The same vantage from a source no rule names: nothing on the host to blame.
    #[test]
    fn a_failed_vantage_outside_every_list_blames_no_rule() {
        let dump = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 198.51.100.0/24 -j DROP\nCOMMIT\n";
        let s = Scenario::ipv4_only()
            .firewall(legacy_v4(dump))
            .v4_connects(80)
            .vantage("https://v.example", |v| {
                v.connect("192.0.2.10", 80, ConnectOutcome::Timeout)
                    .own_source("203.0.113.7")
            });
        let found = Firewall.detect(&s.context());
        assert!(
            !found
                .iter()
                .any(|f| matches!(f, Found::SourceBlocked { .. } | Found::Blocked { .. })),
            "{found:?}"
        );
    }

    /// fail2ban's chain (iptables-multiport) banned the vantage: the fix unbans it.
    #[test]
    fn a_fail2ban_ban_of_the_vantage_says_how_to_unban() {
        let dump = "*filter\n:INPUT ACCEPT [0:0]\n:f2b-nginx-botsearch - [0:0]\n-A INPUT -p tcp -m multiport --dports 80,443 -j f2b-nginx-botsearch\n-A f2b-nginx-botsearch -s 198.51.100.7/32 -j REJECT --reject-with icmp-port-unreachable\n-A f2b-nginx-botsearch -j RETURN\nCOMMIT\n";
        let s = Scenario::ipv4_only()
            .firewall(legacy_v4(dump))
            .v4_connects(80)
            .vantage("https://v.example", |v| {
                v.connect("192.0.2.10", 80, ConnectOutcome::Refused)
                    .own_source("198.51.100.7")
            });
        let cx = s.context();
        let found = Firewall.detect(&cx);
        let hit = found
            .iter()
            .find(|f| matches!(f, Found::SourceBlocked { .. }))
            .expect("the ban is found");
        let f = Firewall.word(&cx, hit);
        assert!(
            f.fix
                .iter()
                .any(|l| l.contains("fail2ban-client unban 198.51.100.7")),
            "{:?}",
            f.fix
        );
        assert!(
            f.evidence.iter().any(|l| l.contains("fail2ban")),
            "{:?}",
            f.evidence
        );
    }

    /// An IPS-style rule drops data segments of established port-80 flows: the SYN gets in,
    /// the request does not.
    #[test]
    fn a_rule_that_drops_the_request_after_the_handshake_is_named() {
        let dump = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 80 -m conntrack --ctstate ESTABLISHED -m length --length 100:65535 -j DROP\nCOMMIT\n";
        let s = Scenario::ipv4_only().firewall(legacy_v4(dump));
        let cx = s.context();
        let found = Firewall.detect(&cx);
        let hit = found
            .iter()
            .find(|f| matches!(f, Found::RequestDropped { .. }))
            .expect("the request is evaluated");
        let f = Firewall.word(&cx, hit);
        assert_eq!(f.code, Code::FirewallDrops);
        assert!(f.title.contains("line 3"), "{}", f.title);
        assert!(
            f.ca_error
                .as_deref()
                .is_some_and(|e| e.contains("Timeout after connect")),
            "{:?}",
            f.ca_error
        );
        // Small segments (the handshake's ACK) pass: a rule on short packets only is no drop.
        let small = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 80 -m conntrack --ctstate ESTABLISHED -m length --length 0:90 -j DROP\nCOMMIT\n";
        let s = Scenario::ipv4_only().firewall(legacy_v4(small));
        let found = Firewall.detect(&s.context());
        assert!(
            !found
                .iter()
                .any(|f| matches!(f, Found::RequestDropped { .. })),
            "{found:?}"
        );
    }

    #[test]
    fn sources_that_get_in_make_an_allowlist() {
        let dump = "*filter\n:INPUT DROP [0:0]\n-A INPUT -s 198.51.100.0/24 -p tcp -m tcp --dport 80 -j ACCEPT\nCOMMIT\n";
        let s = Scenario::ipv4_only().firewall(legacy_v4(dump));
        let cx = s.context();
        let found = Firewall.detect(&cx);
        let hits = blocked(&found);
        assert!(matches!(hits[0], Found::Blocked { allowed, .. } if allowed.len() == 1));
        assert_eq!(Firewall.word(&cx, hits[0]).code, Code::FirewallAllowlist);
    }

    #[test]
    fn an_accepting_ruleset_finds_nothing_that_blocks() {
        let dump =
            "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT\nCOMMIT\n";
        let s = Scenario::ipv4_only().firewall(legacy_v4(dump));
        assert!(blocked(&Firewall.detect(&s.context())).is_empty());
    }

    #[test]
    fn without_root_the_firewall_is_unknown_and_the_run_incomplete() {
        let fw = FirewallFacts {
            nft_netlink: None,
            nft: denied("nft"),
            iptables: vec![IptablesDump {
                family: Family::Ipv4,
                backend: IptablesBackend::Legacy,
                dump: denied("iptables-legacy-save"),
            }],
        };
        let s = Scenario::dual_stack().firewall(fw);
        let cx = s.context();
        let found = Firewall.detect(&cx);
        assert!(matches!(
            &found[..],
            [Found::Unreadable {
                nothing_read: true,
                ..
            }]
        ));
        assert!(Firewall.incomplete(&cx, &found[0]).is_some());
        let f = Firewall.word(&cx, &found[0]);
        assert_eq!(
            (f.code, f.severity),
            (Code::FirewallUnknown, Severity::Info)
        );
        assert!(f.fix[0].contains("as root"));
    }

    #[test]
    fn not_on_the_host_the_firewall_is_not_judged() {
        let s = Scenario::ipv4_only()
            .not_on_host()
            .firewall(legacy_v4(POLICY_DROP));
        assert!(Firewall.detect(&s.context()).is_empty());
    }

    /// Docker's DNAT followed to the container, as the firewall, listener and container
    /// checks see it.
    mod docker {
        use super::super::*;
        use crate::diagnose::checks::containers::{self, Containers};
        use crate::diagnose::checks::listener::{self, Listeners};
        use crate::diagnose::testkit::{Scenario, listener};
        use crate::facts::{FirewallFacts, Listener, Probed, Process};
        use crate::firewall::nat::tests::{docker_firewall, docker_runtime};

        fn docker_proxy(address: &str) -> Listener {
            Listener {
                process: Some(Process {
                    pid: 9984,
                    name: "docker-proxy".into(),
                }),
                ..listener(address, None)
            }
        }

        #[test]
        fn the_dnat_is_followed_to_the_container_behind_docker0() {
            let s = Scenario::dual_stack()
                .firewall(docker_firewall(""))
                .containers(docker_runtime(vec![80], Some(80)));
            let cx = s.context();
            let dnat = |family, port| nat::dnat(cx.host, cx.usable(family), port);
            let hop = dnat(Family::Ipv4, 80).expect("a DNAT for port 80");
            assert_eq!(hop.to, "192.0.2.130".parse::<IpAddr>().unwrap());
            assert_eq!(hop.to_port, 80);
            assert_eq!(hop.bridge.as_deref(), Some("docker0"));
            assert_eq!(hop.container.as_ref().map(|c| c.name.as_str()), Some("web"));
            assert!(hop.rule.text.contains("--to-destination 192.0.2.130:80"));
            // Port 443 is not published: no hop.
            assert!(dnat(Family::Ipv4, 443).is_none());
            // IPv6 has no Docker rules: no hop.
            assert!(dnat(Family::Ipv6, 80).is_none());
        }

        #[test]
        fn docker_s_forward_path_accepts_the_published_port() {
            let s = Scenario::dual_stack()
                .firewall(docker_firewall(""))
                .containers(docker_runtime(vec![80], Some(80)))
                .listeners(vec![docker_proxy("0.0.0.0"), docker_proxy("::")]);
            let cx = s.context();
            let found = Firewall.detect(&cx);
            assert!(
                found.iter().all(|f| matches!(f, Found::Unreadable { .. })),
                "{found:?}"
            );
            assert!(found.iter().all(|f| Firewall.incomplete(&cx, f).is_none()));
        }

        #[test]
        fn a_docker_user_drop_is_named_as_the_forward_drop() {
            let s = Scenario::dual_stack()
                .firewall(docker_firewall(
                    "-A DOCKER-USER -p tcp -m tcp --dport 80 -j DROP\n",
                ))
                .containers(docker_runtime(vec![80], Some(80)));
            let cx = s.context();
            let found = Firewall.detect(&cx);
            let blocked: Vec<&Found> = found
                .iter()
                .filter(|f| matches!(f, Found::ForwardBlocked { .. }))
                .collect();
            let [f @ Found::ForwardBlocked { rule, family, .. }] = blocked[..] else {
                panic!("{found:?}");
            };
            assert_eq!(
                (*family, rule.chain.chain.as_str()),
                (Family::Ipv4, "DOCKER-USER")
            );
            let finding = Firewall.word(&cx, f);
            assert_eq!(finding.code, Code::ForwardDrops);
            assert!(finding.title.contains("container web"), "{}", finding.title);
            assert!(
                finding.fix[0].starts_with("iptables -I DOCKER-USER -o docker0 -d 192.0.2.130"),
                "{:?}",
                finding.fix
            );
            assert!(finding.ca_error.unwrap().contains("Timeout"));
        }

        #[test]
        fn without_the_runtime_the_forward_path_stays_undecidable() {
            let s = Scenario::dual_stack().firewall(docker_firewall(""));
            let cx = s.context();
            let found = Firewall.detect(&cx);
            assert!(
                found.iter().any(|f| matches!(f, Found::Undecidable { why, .. } if why.contains("interface it leaves by is unknown"))),
                "{found:?}"
            );
        }

        #[test]
        fn a_dnat_with_nothing_on_the_host_socket_is_no_ipv4_blocker() {
            // userland-proxy off: no socket of the host, the DNAT delivers, the container listens.
            let s = Scenario::dual_stack()
                .firewall(docker_firewall(""))
                .containers(docker_runtime(vec![80], Some(80)))
                .listeners(vec![]);
            let cx = s.context();
            let found = Listeners.detect(&cx);
            assert!(
                found.iter().all(|f| !matches!(
                    f,
                    listener::Found::Missing {
                        family: Family::Ipv4,
                        ..
                    } | listener::Found::ContainerSilent { .. }
                )),
                "{found:?}"
            );
            // IPv6 reaches nothing, and the container check says why.
            let c = Containers.detect(&cx);
            let [f @ containers::Found::NoIpv6 { .. }] = &c[..] else {
                panic!("{c:?}");
            };
            let finding = Containers.word(&cx, f);
            assert_eq!(
                (finding.code, finding.family),
                (Code::ContainerNoIpv6, Some(Family::Ipv6))
            );
            assert!(
                finding
                    .fix
                    .iter()
                    .any(|l| l.contains("\"ipv6\": true") && l.contains("\"ip6tables\": true"))
            );
            assert!(finding.fix.iter().any(|l| l.contains("enable_ipv6")));
        }

        #[test]
        fn a_dnat_to_a_container_that_does_not_listen_is_no_listener_naming_it() {
            let s = Scenario::dual_stack()
                .firewall(docker_firewall(""))
                .containers(docker_runtime(vec![8080], Some(80)))
                .listeners(vec![]);
            let cx = s.context();
            let found = Listeners.detect(&cx);
            let f = found
                .iter()
                .find(|f| {
                    matches!(
                        f,
                        listener::Found::ContainerSilent {
                            family: Family::Ipv4,
                            ..
                        }
                    )
                })
                .unwrap_or_else(|| panic!("{found:?}"));
            let finding = Listeners.word(&cx, f);
            assert_eq!(finding.code, Code::NoListener);
            assert!(
                finding.title.contains("container web (image bb:1"),
                "{}",
                finding.title
            );
            assert!(finding.title.contains("192.0.2.130:80"));
        }

        #[test]
        fn docker_proxy_on_both_families_serves_an_ipv4_only_container() {
            let s = Scenario::dual_stack()
                .firewall(docker_firewall(""))
                .containers(docker_runtime(vec![80], Some(80)))
                .listeners(vec![docker_proxy("0.0.0.0"), docker_proxy("::")]);
            let cx = s.context();
            assert!(Containers.detect(&cx).is_empty());
            assert!(Listeners.detect(&cx).is_empty());
        }

        #[test]
        fn a_listening_container_without_published_port_is_named() {
            let filter_only = FirewallFacts {
                nft: Probed::Unknown(Unknown::NotInstalled {
                    program: "nft".into(),
                }),
                iptables: Vec::new(),
                nft_netlink: None,
            };
            let s = Scenario::dual_stack()
                .firewall(filter_only)
                .containers(docker_runtime(vec![80], None))
                .listeners(vec![]);
            let cx = s.context();
            let c = Containers.detect(&cx);
            assert_eq!(c.len(), 2, "{c:?}");
            let finding = Containers.word(&cx, &c[0]);
            assert_eq!(finding.code, Code::ContainerPortNotPublished);
            assert!(finding.title.starts_with("container web (image bb:1"));
            assert!(finding.fix[0].contains("-p 80:80"));
        }

        /// docker-proxy accepts on the host and relays: a container that does not listen on the
        /// published port is named, for each family the proxy serves.
        #[test]
        fn docker_proxy_relaying_to_a_silent_container_is_no_listener() {
            let s = Scenario::dual_stack()
                .containers(docker_runtime(vec![8080], Some(80)))
                .listeners(vec![docker_proxy("0.0.0.0"), docker_proxy("::")]);
            let cx = s.context();
            let found = Listeners.detect(&cx);
            assert_eq!(found.len(), 2, "{found:?}");
            for f in &found {
                let listener::Found::ContainerSilent { via, to, .. } = f else {
                    panic!("{f:?}");
                };
                assert!(via.starts_with("docker-proxy"));
                assert_eq!(to, "192.0.2.130:80");
                assert_eq!(Listeners.word(&cx, f).code, Code::NoListener);
            }
        }
    }
}
