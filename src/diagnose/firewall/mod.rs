//! Firewall rules: the host's packet filter evaluated for the CA's new inbound SYN, per family
//! and port, on the interface that holds the default route. A self-probe cannot show this: a
//! connection from the host to its own address goes through `lo`.
//!
//! Codes: `firewall-drops`, `firewall-allowlist`, `firewall-unknown`.

pub mod iptables;
pub mod model;
pub mod nft;

use super::context::socket;
use super::host::{CONNECT_TIMEOUT, fetch_error};
use super::{Code, Context, Finding, Out, Severity};
use crate::facts::{Family, FirewallFacts, IptablesBackend, Probed};
use crate::reserved;
use model::{Packet, Ruleset, Verdict};
use std::net::IpAddr;

/// The ruleset the kernel applies, from what could be read, and what could not be.
pub fn ruleset(fw: &FirewallFacts) -> (Ruleset, Vec<String>) {
    let mut missing = Vec::new();
    let mut rs = Ruleset::default();
    let dump = |family: Family, backend: IptablesBackend| {
        fw.iptables
            .iter()
            .find(|d| d.family == family && d.backend == backend)
            .map(|d| &d.dump)
    };
    let label = |family: Family, backend: IptablesBackend| {
        format!(
            "{}-{} ({})",
            if family == Family::Ipv4 {
                "iptables"
            } else {
                "ip6tables"
            },
            if backend == IptablesBackend::Nft {
                "nft"
            } else {
                "legacy"
            },
            if family == Family::Ipv4 {
                "IPv4"
            } else {
                "IPv6"
            }
        )
    };
    match &fw.nft {
        Probed::Known(json) => {
            let (nft_rules, opaque) = nft::ruleset(json);
            // Tables iptables-nft made with extensions nft cannot print: read them as
            // iptables-nft-save prints them instead.
            let mut replaced = std::collections::BTreeSet::new();
            for (family, table) in &opaque.xt_tables {
                let fam = match family.as_str() {
                    "ip" => Family::Ipv4,
                    "ip6" => Family::Ipv6,
                    _ => continue,
                };
                if table != "filter" {
                    continue;
                }
                if let Some(Probed::Known(text)) = dump(fam, IptablesBackend::Nft) {
                    rs.merge(iptables::ruleset(
                        text,
                        fam,
                        &label(fam, IptablesBackend::Nft),
                    ));
                    replaced.insert((family.clone(), table.clone()));
                }
            }
            rs.merge(nft_rules.without_tables(&replaced));
        }
        Probed::Unknown(why) => {
            missing.push(why.clone());
            // Without nft, the iptables-nft view still shows the nf_tables tables that
            // iptables-nft (and ufw, Docker, fail2ban through it) made.
            for family in [Family::Ipv4, Family::Ipv6] {
                if let Some(Probed::Known(text)) = dump(family, IptablesBackend::Nft) {
                    rs.merge(iptables::ruleset(
                        text,
                        family,
                        &label(family, IptablesBackend::Nft),
                    ));
                }
            }
        }
    }
    for family in [Family::Ipv4, Family::Ipv6] {
        match dump(family, IptablesBackend::Legacy) {
            Some(Probed::Known(text)) => rs.merge(iptables::ruleset(
                text,
                family,
                &label(family, IptablesBackend::Legacy),
            )),
            Some(Probed::Unknown(why)) if !why.ends_with("is not installed") => {
                missing.push(why.clone())
            }
            _ => {}
        }
    }
    (rs, missing)
}

fn family_label(family: Family) -> &'static str {
    match family {
        Family::Ipv4 => "IPv4",
        Family::Ipv6 => "IPv6",
    }
}

fn managed_by(rs: &Ruleset) -> Option<String> {
    (!rs.managers.is_empty()).then(|| format!("rules managed by {}", rs.managers.join(", ")))
}

pub fn check(cx: &Context, out: &mut Out) {
    if cx.on_host() != Some(true) {
        return;
    }
    let Some(fw) = &cx.facts.host.firewall else {
        return;
    };
    let (rs, missing) = ruleset(fw);
    if !missing.is_empty() {
        let permission = missing.iter().any(|m| m.contains("permission denied"));
        if permission || rs.base.is_empty() {
            out.incomplete("the firewall ruleset could not be read");
        }
        let mut f = Finding::new(
            Code::FirewallUnknown,
            Severity::Info,
            if permission {
                "the firewall could not be read without root; its rules are not checked".to_string()
            } else {
                "part of the firewall could not be read; its rules are not checked".to_string()
            },
        )
        .detail("A rule acme-doctor cannot read can still drop the CA's connection.")
        .fix(if permission {
            "run acme-doctor as root to read the ruleset: sudo acme-doctor DOMAIN"
        } else if missing.iter().any(|m| m.contains("not installed")) {
            "install the tools that print the ruleset (Debian: apt install nftables iptables), then run acme-doctor again"
        } else {
            "check the ruleset by hand: nft -a list ruleset; iptables-save; ip6tables-save"
        });
        for m in &missing {
            f = f.evidence(m.clone());
        }
        out.push(f);
    }
    if rs.base.is_empty() {
        return;
    }
    for family in [Family::Ipv4, Family::Ipv6] {
        if family == Family::Ipv6 && cx.ipv6_off.is_some() {
            continue;
        }
        let Some(daddr) = cx.usable(family).iter().find(|ip| cx.is_local(ip)).copied() else {
            continue;
        };
        let mut ports = vec![80u16];
        if super::reachability::redirects_to_https(cx, family) {
            ports.push(443);
        }
        for port in ports {
            let packet = Packet {
                family,
                saddr: None,
                daddr,
                dport: port,
                iif: inbound_interface(cx, family, &daddr),
            };
            let verdict = rs.evaluate(&packet);
            match verdict {
                Verdict::Accept => {}
                Verdict::Undecidable { rule, why } => {
                    out.incomplete(format!(
                        "a firewall rule for {} port {port} could not be evaluated",
                        family_label(family)
                    ));
                    out.push(
                        Finding::new(
                            Code::FirewallUnknown,
                            Severity::Info,
                            format!("a firewall rule decides {} port {port}, and acme-doctor cannot evaluate it", family_label(family)),
                        )
                        .family(family)
                        .port(port)
                        .evidence(rule)
                        .evidence(why)
                        .fix("check that rule by hand: does it let a new TCP connection to port 80 in from any address?"),
                    );
                }
                Verdict::Drop { rule } => blocked(cx, &rs, &packet, &rule, Blocked::Dropped, out),
                Verdict::Reject { rule, refused } => {
                    let how = if refused {
                        Blocked::Refused
                    } else {
                        Blocked::Unreachable
                    };
                    blocked(cx, &rs, &packet, &rule, how, out);
                }
            }
        }
    }
}

/// Commands that act on the very rule or chain named in the verdict: its table and chain for
/// nft, its tool, table and chain for iptables.
fn rule_fixes(rule: &str, port: u16) -> Vec<String> {
    let accept_nft = format!("tcp dport {port} accept");
    let accept_ipt = format!("-p tcp --dport {port} -j ACCEPT");
    // `nft table inet fw chain input: policy drop …`
    if let Some(rest) = rule.strip_prefix("nft table ") {
        let w: Vec<&str> = rest.split_whitespace().collect();
        if let [family, table, "chain", chain, ..] = w.as_slice() {
            let chain = chain.trim_end_matches(':');
            return vec![format!(
                "nft insert rule {family} {table} {chain} {accept_nft}   # make it permanent in /etc/nftables.conf"
            )];
        }
    }
    // `nft inet fw input handle 5: …`
    if let Some(rest) = rule.strip_prefix("nft ") {
        let w: Vec<&str> = rest.split_whitespace().collect();
        if let [family, table, chain, "handle", handle, ..] = w.as_slice() {
            let handle = handle.trim_end_matches(':');
            return vec![
                format!(
                    "nft delete rule {family} {table} {chain} handle {handle}   # or, to keep it: nft insert rule {family} {table} {chain} {accept_nft}"
                ),
                "make it permanent in /etc/nftables.conf (or the file your firewall loads)"
                    .to_string(),
            ];
        }
    }
    // `iptables-legacy (IPv4) filter line 7: -A INPUT …` or `… filter INPUT: policy drop …`
    let tool = [
        "iptables-nft",
        "ip6tables-nft",
        "iptables-legacy",
        "ip6tables-legacy",
    ]
    .into_iter()
    .find(|t| rule.starts_with(&format!("{t} ")));
    if let Some(tool) = tool {
        // The nft backend is what plain `iptables` drives on current distributions.
        let cmd = tool.strip_suffix("-nft").unwrap_or(tool);
        let rest = rule.split_once(") ").map_or("", |(_, r)| r);
        let table = rest.split_whitespace().next().unwrap_or("filter");
        if let Some((_, spec)) = rest.split_once(": -A ") {
            let chain = spec.split_whitespace().next().unwrap_or("INPUT");
            return vec![
                format!(
                    "{cmd} -t {table} -D {spec}   # or, to keep it: {cmd} -t {table} -I {chain} {accept_ipt}"
                ),
                "make it permanent: netfilter-persistent save (or your distribution's rules file)"
                    .to_string(),
            ];
        }
        let chain = rest
            .split_whitespace()
            .nth(1)
            .map_or("INPUT", |c| c.trim_end_matches(':'));
        return vec![format!(
            "{cmd} -t {table} -I {chain} {accept_ipt}   # then: netfilter-persistent save"
        )];
    }
    vec![format!(
        "allow TCP port {port} in: nft insert rule FAMILY TABLE CHAIN {accept_nft}, or iptables -I INPUT {accept_ipt}"
    )]
}

/// Where the CA's packets arrive: the interface holding the address, else the default
/// route's (a VPN's default route does not move where the public address lives).
fn inbound_interface(cx: &Context, family: Family, daddr: &IpAddr) -> Option<String> {
    let host = &cx.facts.host;
    let by_route = match family {
        Family::Ipv4 => host.default_route_dev_v4.clone(),
        Family::Ipv6 => host.default_route_dev_v6.clone(),
    };
    host.interfaces
        .known()
        .and_then(|ifs| {
            ifs.iter()
                .find(|i| !i.loopback && i.addresses.contains(daddr))
                .map(|i| i.name.clone())
        })
        .or(by_route)
}

/// What the CA's dialer meets (`reference/ca-validation.md` §6).
#[derive(Clone, Copy, PartialEq)]
enum Blocked {
    /// Silently dropped: the connect times out.
    Dropped,
    /// A TCP reset or ICMP port unreachable: "connection refused".
    Refused,
    /// Another ICMP error (admin-prohibited, host-unreachable): EHOSTUNREACH and the like.
    Unreachable,
}

/// The arbitrary source is turned away: an allow-list when some named source gets in,
/// otherwise a plain drop.
fn blocked(cx: &Context, rs: &Ruleset, packet: &Packet, rule: &str, how: Blocked, out: &mut Out) {
    let allowed: Vec<String> = rs
        .source_networks(packet.family)
        .into_iter()
        // A LAN or loopback exception is no allow-list: the CA never comes from there.
        .filter(|net| {
            cx.facts.options.allow_reserved || reserved::classify(&net.network()).is_none()
        })
        .filter(|net| {
            rs.evaluate(&Packet {
                saddr: Some(net.network()),
                ..packet.clone()
            }) == Verdict::Accept
        })
        .map(|net| net.to_string())
        .collect();
    out.push(if allowed.is_empty() {
        drops(cx, rs, packet, rule, how)
    } else {
        allowlist(cx, rs, packet, rule, how, &allowed)
    });
}

impl Blocked {
    /// The core of the CA's message (§6, generic connection mapping).
    fn ca_core(self) -> &'static str {
        match self {
            Blocked::Dropped => CONNECT_TIMEOUT,
            Blocked::Refused => "Connection refused",
            Blocked::Unreachable => "Error getting validation data",
        }
    }
}

fn drops(cx: &Context, rs: &Ruleset, packet: &Packet, rule: &str, how: Blocked) -> Finding {
    let (family, port, daddr) = (packet.family, packet.dport, &packet.daddr);
    let core = how.ca_core();
    let (what, sees) = match how {
        Blocked::Dropped => ("drops", "times out"),
        Blocked::Refused => ("rejects", "is refused"),
        Blocked::Unreachable => ("rejects", "gets an ICMP error"),
    };
    let mut f = Finding::new(
        Code::FirewallDrops,
        Severity::Blocker,
        format!(
            "the firewall {what} new {} connections to port {port}: {rule}",
            family_label(family)
        ),
    )
    .family(family)
    .port(port)
    .detail(format!(
        "This host's packet filter {what} a new TCP connection from any public address to {}, so the CA {sees}.",
        socket(daddr, port),
    ))
    .evidence(format!("rule: {rule}"))
    .evidence(format!("evaluated: new TCP SYN from an arbitrary public address to {}", socket(daddr, port)));
    if let Some(m) = managed_by(rs) {
        f = f.evidence(m);
    }
    // The manager's own command first: a hand-made rule is lost on its next reload.
    if rs.managers.iter().any(|m| m == "ufw") {
        f = f.fix(format!(
            "ufw: ufw allow {port}/tcp (IPV6=yes in /etc/default/ufw covers both families)"
        ));
    }
    if rs.managers.iter().any(|m| m == "firewalld") {
        f = f.fix(format!(
            "firewalld: firewall-cmd --permanent --add-{} && firewall-cmd --reload",
            if port == 443 {
                "service=https".to_string()
            } else {
                "service=http".to_string()
            }
        ));
    }
    // Editing firewalld's own table by hand is undone by its next reload: its command only.
    if !rule.starts_with("nft inet firewalld ") && !rule.starts_with("nft table inet firewalld ") {
        for line in rule_fixes(rule, port) {
            f = f.fix(line);
        }
    }
    if family == Family::Ipv6 {
        f = f.fix("IPv6 has its own rules: opening IPv4 (iptables, ip saddr …) does not open IPv6");
    }
    f.explains(&[
        Code::PortTimeout,
        Code::PortRefused,
        Code::AddressUnreachable,
    ])
    .ca_error(fetch_error(cx, daddr, core))
}

fn allowlist(
    cx: &Context,
    rs: &Ruleset,
    packet: &Packet,
    rule: &str,
    how: Blocked,
    allowed: &[String],
) -> Finding {
    let (family, port, daddr) = (packet.family, packet.dport, &packet.daddr);
    let mut f = Finding::new(
        Code::FirewallAllowlist,
        Severity::Warning,
        format!(
            "the firewall admits {} port {port} only from {}; the CA validates from addresses it does not publish",
            family_label(family),
            allowed.join(", ")
        ),
    )
    .family(family)
    .port(port)
    .detail("Let's Encrypt fetches the challenge from several perspectives at once, from addresses it does not publish; any that is not in the list is turned away and validation fails. When the primary perspective happens to be in the list, the error starts with \"During secondary validation: \".")
    .evidence(format!("accepted from: {}", allowed.join(", ")))
    .evidence(format!("anyone else: {rule}"));
    if let Some(m) = managed_by(rs) {
        f = f.evidence(m);
    }
    f.fix(format!("open port {port} to every source (the challenge path is public by design; redirect the rest to HTTPS)"))
        .fix("or validate with dns-01, which needs no inbound connection")
        .explains(&[Code::PortTimeout, Code::PortRefused])
        .ca_error(fetch_error(cx, daddr, how.ca_core()))
}
