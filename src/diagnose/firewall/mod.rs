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
        Probed::Unknown(why) => missing.push(why.clone()),
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
        .fix("run acme-doctor as root to read the ruleset: sudo acme-doctor DOMAIN");
        for m in &missing {
            f = f.evidence(m.clone());
        }
        out.push(f);
    }
    if rs.base.is_empty() {
        return;
    }
    let mut verdicts: Vec<(Family, u16, Verdict)> = Vec::new();
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
            verdicts.push((family, port, verdict.clone()));
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
    // IPv4 is only the fallback while the firewall admits IPv6 (the CA connects over IPv6
    // first): a drop there is a warning, as for the probes.
    let v6_open = verdicts
        .iter()
        .any(|(f, p, v)| *f == Family::Ipv6 && *p == 80 && *v == Verdict::Accept);
    if v6_open {
        for f in out.findings_mut() {
            if f.code == Code::FirewallDrops && f.family == Some(Family::Ipv4) {
                f.severity = Severity::Warning;
                f.ca_error = None;
                f.detail.push_str(" The firewall admits IPv6, which the CA tries first, so today the CA never needs IPv4.");
            }
        }
    }
}

/// Where the CA's packets arrive: the default route's interface, else the one holding the
/// address.
fn inbound_interface(cx: &Context, family: Family, daddr: &IpAddr) -> Option<String> {
    let host = &cx.facts.host;
    let by_route = match family {
        Family::Ipv4 => host.default_route_dev_v4.clone(),
        Family::Ipv6 => host.default_route_dev_v6.clone(),
    };
    by_route.or_else(|| {
        host.interfaces
            .known()?
            .iter()
            .find(|i| !i.loopback && i.addresses.contains(daddr))
            .map(|i| i.name.clone())
    })
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
        allowlist(cx, rs, packet, rule, &allowed)
    });
}

fn drops(cx: &Context, rs: &Ruleset, packet: &Packet, rule: &str, how: Blocked) -> Finding {
    let (family, port, daddr) = (packet.family, packet.dport, &packet.daddr);
    let (what, core, sees) = match how {
        Blocked::Dropped => ("drops", CONNECT_TIMEOUT, "times out"),
        Blocked::Refused => ("rejects", "Connection refused", "is refused"),
        Blocked::Unreachable => (
            "rejects",
            "Error getting validation data",
            "gets an ICMP error",
        ),
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
        "A new TCP connection from any public address to {} {what} in this host's packet filter, so the CA {sees}.",
        socket(daddr, port),
    ))
    .evidence(format!("rule: {rule}"))
    .evidence(format!("evaluated: new TCP SYN from an arbitrary public address to {}", socket(daddr, port)));
    if let Some(m) = managed_by(rs) {
        f = f.evidence(m);
    }
    let (nft_fix, ipt_fix) = match family {
        Family::Ipv4 => (
            format!(
                "nft: nft insert rule inet filter input tcp dport {port} accept (or delete the rule: nft -a list ruleset, nft delete rule FAMILY TABLE CHAIN handle N)"
            ),
            format!("iptables: iptables -I INPUT -p tcp --dport {port} -j ACCEPT"),
        ),
        Family::Ipv6 => (
            format!(
                "nft: nft insert rule inet filter input meta nfproto ipv6 tcp dport {port} accept (or delete the rule by its handle)"
            ),
            format!(
                "ip6tables: ip6tables -I INPUT -p tcp --dport {port} -j ACCEPT (IPv6 has its own table: opening IPv4 is not enough)"
            ),
        ),
    };
    f = f.fix(nft_fix).fix(ipt_fix);
    if rs.managers.iter().any(|m| m == "ufw") {
        f = f.fix(format!(
            "ufw: ufw allow {port}/tcp (IPV6=yes in /etc/default/ufw covers both families)"
        ));
    }
    if rs.managers.iter().any(|m| m == "firewalld") {
        f = f
            .fix("firewalld: firewall-cmd --permanent --add-service=http && firewall-cmd --reload");
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
    .detail("Let's Encrypt fetches the challenge from several perspectives at once; any that is not in the list times out, and validation fails, often as \"During secondary validation\".")
    .evidence(format!("accepted from: {}", allowed.join(", ")))
    .evidence(format!("anyone else: {rule}"));
    if let Some(m) = managed_by(rs) {
        f = f.evidence(m);
    }
    f.fix(format!("open port {port} to every source (the challenge path is public by design; redirect the rest to HTTPS)"))
        .fix("or validate with dns-01, which needs no inbound connection")
        .explains(&[Code::PortTimeout, Code::PortRefused])
        .ca_error(format!("During secondary validation: {}", fetch_error(cx, daddr, CONNECT_TIMEOUT)))
}
