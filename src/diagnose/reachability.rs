//! Reachability rules: what the TCP connects to each usable address say, read the way the
//! CA's dialer reads them (`reference/ca-validation.md` §1 "Address choice", §6 mapping).
//!
//! Codes: `port-refused`, `port-timeout`, `address-unreachable`.

use super::context::{duration, socket};
use super::host::{CONNECT_TIMEOUT, fetch_error, outcome_text};
use super::{Code, Context, Finding, Out, Severity};
use crate::facts::{ConnectFact, ConnectOutcome, Family, HttpOutcome};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Failure {
    Refused,
    Timeout,
    Unreachable,
}

fn failure(outcome: &ConnectOutcome) -> Option<Failure> {
    match outcome {
        ConnectOutcome::Connected => None,
        ConnectOutcome::Refused => Some(Failure::Refused),
        ConnectOutcome::Timeout => Some(Failure::Timeout),
        ConnectOutcome::HostUnreachable
        | ConnectOutcome::NetworkUnreachable
        | ConnectOutcome::FamilyNotSupported
        | ConnectOutcome::Other { .. } => Some(Failure::Unreachable),
    }
}

/// This machine itself cannot send packets of that family (no IPv6 in the kernel, or no
/// route): the failure says nothing about the server when acme-doctor runs elsewhere. With a
/// default route here, "network unreachable" came back from a router on the way: real.
fn local_limitation(cx: &Context, family: Family, outcome: &ConnectOutcome) -> bool {
    let default_route = match family {
        Family::Ipv4 => &cx.facts.host.default_route_v4,
        Family::Ipv6 => &cx.facts.host.default_route_v6,
    };
    match outcome {
        ConnectOutcome::FamilyNotSupported => true,
        ConnectOutcome::NetworkUnreachable => default_route.known() != Some(&true),
        _ => false,
    }
}

pub fn check(cx: &Context, out: &mut Out) {
    let on_host = cx.on_host() == Some(true);
    for family in [Family::Ipv4, Family::Ipv6] {
        let usable = cx.usable(family);
        if usable.is_empty() {
            continue;
        }
        for port in [80u16, 443] {
            let probed: Vec<&ConnectFact> = cx
                .connects(family, port)
                .filter(|c| usable.contains(&c.address))
                .collect();
            // A server that has no certificate yet often has nothing on 443, and that is fine:
            // port 443 matters only once port 80 redirects to HTTPS.
            if probed.is_empty() || (port == 443 && !redirects_to_https(cx, family)) {
                continue;
            }
            let all_failed = probed.iter().all(|c| failure(&c.outcome).is_some());
            for kind in [Failure::Timeout, Failure::Refused, Failure::Unreachable] {
                let hits: Vec<&ConnectFact> = probed
                    .iter()
                    .copied()
                    .filter(|c| failure(&c.outcome) == Some(kind))
                    .collect();
                if hits.is_empty() {
                    continue;
                }
                if kind == Failure::Unreachable
                    && !on_host
                    && hits
                        .iter()
                        .all(|c| local_limitation(cx, family, &c.outcome))
                {
                    out.incomplete(format!(
                        "this machine cannot reach {} addresses; run acme-doctor where {} works",
                        family_label(family),
                        family_label(family)
                    ));
                    out.push(vantage_limited(cx, family, port, &hits));
                    continue;
                }
                let severity = severity(all_failed);
                out.push(finding(cx, family, port, kind, severity, all_failed, &hits));
            }
        }
    }
}

/// A failure on some addresses of a family is intermittent: the CA uses the first address
/// its resolver returns, and resolvers rotate. (Whether IPv4 is only the fallback is decided
/// once for all rules, in [`super::diagnose`].)
fn severity(all_failed: bool) -> Severity {
    if all_failed {
        Severity::Blocker
    } else {
        Severity::Warning
    }
}

pub fn redirects_to_https(cx: &Context, family: Family) -> bool {
    cx.usable(family).iter().any(|ip| {
        cx.http(ip).is_some_and(|h| match &h.outcome {
            HttpOutcome::Response {
                status,
                location: Some(loc),
                ..
            } => {
                // Only these statuses are followed by the CA (§1 "Redirects").
                matches!(status, 301 | 302 | 307 | 308)
                    && loc.to_ascii_lowercase().starts_with("https:")
            }
            _ => false,
        })
    })
}

fn family_label(family: Family) -> &'static str {
    match family {
        Family::Ipv4 => "IPv4",
        Family::Ipv6 => "IPv6",
    }
}

fn finding(
    cx: &Context,
    family: Family,
    port: u16,
    kind: Failure,
    severity: Severity,
    all_failed: bool,
    hits: &[&ConnectFact],
) -> Finding {
    let rtype = family.record_type();
    let addrs = hits
        .iter()
        .map(|c| c.address.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let (code, what, core) = match kind {
        Failure::Timeout => (
            Code::PortTimeout,
            format!(
                "does not answer on port {port} (connect timed out after {})",
                duration(hits[0].elapsed_ms)
            ),
            CONNECT_TIMEOUT,
        ),
        Failure::Refused => (
            Code::PortRefused,
            format!("refuses connections on port {port}"),
            "Connection refused",
        ),
        Failure::Unreachable => (
            Code::AddressUnreachable,
            format!(
                "cannot be reached on port {port} ({})",
                outcome_text(&hits[0].outcome)
            ),
            // §6: ENETUNREACH has its own words; EHOSTUNREACH and the rest are the catch-all.
            if hits[0].outcome == ConnectOutcome::NetworkUnreachable {
                "Network unreachable"
            } else {
                "Error getting validation data"
            },
        ),
    };
    let mut f = Finding::new(code, severity, format!("{rtype} {addrs} {what}"))
        .family(family)
        .port(port);
    if kind == Failure::Unreachable {
        f = f.likely();
    }
    let scope = if port == 80 {
        "The CA fetches the http-01 challenge on port 80."
    } else {
        "Port 80 redirects to HTTPS, and the CA follows the redirect to port 443."
    };
    let partial = if all_failed {
        ""
    } else {
        " Other addresses of this family answer, so validation fails only when the CA's resolver returns this one first."
    };
    let fallback = match family {
        Family::Ipv6 if port == 80 => {
            " The CA tries IPv6 first; Boulder falls back to the first A address after a connect error, at a 10 s cost, and Pebble does not fall back at all."
        }
        _ => "",
    };
    f = f.detail(format!("{scope}{partial}{fallback}"));
    for line in cx.record_evidence(family) {
        f = f.evidence(line);
    }
    for c in hits {
        f = f.evidence(format!(
            "connect {}: {} after {}",
            socket(&c.address, c.port),
            outcome_text(&c.outcome),
            duration(c.elapsed_ms)
        ));
    }
    f = match kind {
        Failure::Timeout => f
            .fix(format!("allow TCP port {port} in for {} in the firewall (nft list ruleset; iptables -S; ip6tables -S)", family_label(family)))
            .fix(format!("check the {rtype} record points at this server, and that a provider firewall / security group admits port {port}")),
        Failure::Refused => f
            .fix(format!("start a web server listening on port {port} for {} (ss -ltnp 'sport = :{port}')", family_label(family)))
            .fix(format!("or remove a firewall REJECT rule for port {port} (nft list ruleset; iptables -S)")),
        Failure::Unreachable => f
            .fix(format!("check routing to {addrs} (ip route get ADDR) and that the {rtype} record is current")),
    };
    if severity == Severity::Blocker {
        f = f.ca_error(fetch_error(cx, &hits[0].address, core));
    }
    f
}

fn vantage_limited(cx: &Context, family: Family, port: u16, hits: &[&ConnectFact]) -> Finding {
    let mut f = Finding::new(
        Code::AddressUnreachable,
        Severity::Info,
        format!(
            "this machine has no {} connectivity, so {}'s {} path was not tested",
            family_label(family),
            cx.domain,
            family.record_type()
        ),
    )
    .family(family)
    .port(port)
    .detail("The failure is local to where acme-doctor runs, not evidence about the server.");
    for c in hits {
        f = f.evidence(format!(
            "connect {}: {}",
            socket(&c.address, c.port),
            outcome_text(&c.outcome)
        ));
    }
    f.fix(format!(
        "run acme-doctor from a machine with {} connectivity, or on the server itself",
        family_label(family)
    ))
}
