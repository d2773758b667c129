//! Reachability: what the TCP connects to each usable address say, read the way the CA's
//! dialer reads them (`docs/ca-behaviour.md` §2.2, §2.8).
//!
//! Codes: `port-refused`, `port-timeout`, `address-unreachable`.

use crate::diagnose::ca::Dial;
use crate::diagnose::check::CheckDef;
use crate::diagnose::context::{duration, socket};
use crate::diagnose::{Check, Code, Context, Finding, Severity, run_check};
use crate::diagnose::{Incomplete, IncompleteKind};
use crate::facts::{ConnectFact, ConnectOutcome, Family, HopOutcome, Method};
use std::collections::HashSet;
use std::net::IpAddr;

pub const CHECK: CheckDef = CheckDef {
    name: "reachability",
    codes: &[
        Code::PortRefused,
        Code::PortTimeout,
        Code::AddressUnreachable,
    ],
    methods: &[Method::Http01, Method::TlsAlpn01],
    run: |cx, out| run_check(&Reachability, cx, out),
};

pub struct Reachability;

#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// Connects to `hits` failed alike (one code); `all_failed`: no address of the family on
    /// that port may serve the CA (connected, and on port 80 answered acceptably).
    Failed {
        code: Code,
        family: Family,
        port: u16,
        hits: Vec<ConnectFact>,
        all_failed: bool,
    },
    /// This machine itself cannot send packets of that family: nothing learnt of the server.
    VantageLimited {
        family: Family,
        port: u16,
        hits: Vec<ConnectFact>,
    },
    /// acme-doctor ran out of its own resources (file descriptors, socket buffers) and could
    /// not make the attempt: nothing learnt of the server.
    OwnLimit {
        family: Family,
        port: u16,
        hits: Vec<ConnectFact>,
    },
    /// The CA's walk (its own fresh dial and GET) met acme-doctor's own limit at `url`: the
    /// CA's path was not reproduced, whatever the per-address connects showed.
    WalkOwnLimit {
        family: Option<Family>,
        port: u16,
        url: String,
        what: String,
    },
}

/// Whether these own-limit connects ran out of local ports (rather than descriptors).
fn out_of_ports(hits: &[ConnectFact]) -> bool {
    hits.iter()
        .any(|c| c.outcome == ConnectOutcome::LocalPortsExhausted)
}

fn code_of(dial: Dial) -> Code {
    match dial {
        Dial::Timeout => Code::PortTimeout,
        Dial::Refused => Code::PortRefused,
        Dial::NetworkUnreachable | Dial::Unreachable => Code::AddressUnreachable,
    }
}

/// No IPv6 in this kernel, or no route here: with a default route, "network unreachable" came
/// back from a router on the way, which is real.
fn local_limitation(cx: &Context, family: Family, outcome: &ConnectOutcome) -> bool {
    let default_route = match family {
        Family::Ipv4 => &cx.host.default_route_v4,
        Family::Ipv6 => &cx.host.default_route_v6,
    };
    match outcome {
        ConnectOutcome::FamilyNotSupported => true,
        ConnectOutcome::NetworkUnreachable => default_route.known() != Some(&true),
        _ => false,
    }
}

impl Check for Reachability {
    type Evidence = Found;

    fn detect(&self, cx: &Context) -> Vec<Found> {
        let on_host = cx.on_host() == Some(true);
        let mut found = Vec::new();
        for family in [Family::Ipv4, Family::Ipv6] {
            let usable: HashSet<&IpAddr> = cx.usable(family).iter().collect();
            if usable.is_empty() {
                continue;
            }
            for port in cx.ports_in_play(family) {
                // Behind a NAT, this host's connect to the published address tests the
                // router's hairpin, not the CA's path: it is no evidence either way.
                let (own, probed): (Vec<&ConnectFact>, Vec<&ConnectFact>) = cx
                    .connects(family, port)
                    .filter(|c| usable.contains(&c.address))
                    .filter(|c| cx.nat.as_ref().is_none_or(|n| n.published != c.address))
                    .partition(|c| c.outcome.is_own_limit());
                if !own.is_empty() {
                    found.push(Found::OwnLimit {
                        family,
                        port,
                        hits: own.into_iter().cloned().collect(),
                    });
                }
                if probed.is_empty() {
                    continue;
                }
                // Failing connects are a blocker unless another address of the family may
                // serve the CA: an address that connects but answers wrongly does not.
                let all_failed = !cx.family_serves(family, port);
                for code in [
                    Code::PortTimeout,
                    Code::PortRefused,
                    Code::AddressUnreachable,
                ] {
                    let hits: Vec<ConnectFact> = probed
                        .iter()
                        .filter(|c| Dial::of(&c.outcome).map(code_of) == Some(code))
                        .map(|c| (*c).clone())
                        .collect();
                    if hits.is_empty() {
                        continue;
                    }
                    if code == Code::AddressUnreachable
                        && !on_host
                        && hits
                            .iter()
                            .all(|c| local_limitation(cx, family, &c.outcome))
                    {
                        found.push(Found::VantageLimited { family, port, hits });
                        continue;
                    }
                    found.push(Found::Failed {
                        code,
                        family,
                        port,
                        hits,
                        all_failed,
                    });
                }
            }
        }
        let walk_ends = cx
            .http01()
            .ca_path
            .iter()
            .filter_map(|p| p.attempts.last())
            .filter_map(|a| a.hops.last());
        for hop in walk_ends {
            let what = match &hop.outcome {
                HopOutcome::Dial { connect } if connect.is_own_limit() => connect.to_string(),
                HopOutcome::OwnLimit { message } => message.clone(),
                _ => continue,
            };
            found.push(Found::WalkOwnLimit {
                family: hop.family,
                port: hop.port,
                url: hop.url.clone(),
                what,
            });
        }
        found
    }

    fn incomplete(&self, cx: &Context, found: &Found) -> Option<Incomplete> {
        match found {
            Found::VantageLimited { family, .. } => Some(Incomplete::new(
                IncompleteKind::FamilyUnavailable,
                format!(
                    "this machine cannot reach {} addresses; run acme-doctor where {} works",
                    family.label(),
                    family.label()
                ),
            )),
            Found::OwnLimit { family, port, hits } if out_of_ports(hits) => Some(Incomplete::new(
                IncompleteKind::OwnLimit,
                format!(
                    "acme-doctor ran out of local ports before connecting to {} {} port {port} (its own connections wait in TIME_WAIT); check fewer names at once",
                    cx.domain,
                    family.label()
                ),
            )),
            Found::OwnLimit { family, port, .. } => Some(Incomplete::new(
                IncompleteKind::OwnLimit,
                format!(
                    "acme-doctor ran out of its own resources before connecting to {} {} port {port}",
                    cx.domain,
                    family.label()
                ),
            )),
            Found::WalkOwnLimit { url, .. } => Some(Incomplete::new(
                IncompleteKind::OwnLimit,
                format!(
                    "acme-doctor ran out of its own resources (local ports or file descriptors) while walking the CA's path at {url}"
                ),
            )),
            Found::Failed { .. } => None,
        }
    }

    fn word(&self, cx: &Context, found: &Found) -> Finding {
        match found {
            Found::Failed {
                code,
                family,
                port,
                hits,
                all_failed,
            } => failed(cx, *code, *family, *port, hits, *all_failed),
            Found::OwnLimit { family, port, hits } => {
                let mut f = Finding::new(
                    Code::AddressUnreachable,
                    Severity::Info,
                    format!(
                        "acme-doctor could not open a socket for {}'s {} address on port {port}: its own limit, not the server's",
                        cx.domain,
                        family.record_type()
                    ),
                )
                .family(*family)
                .port(*port)
                .detail(if out_of_ports(hits) {
                    "The attempt never left this machine: every local port for this address was in use or in TIME_WAIT, after many connections from this run. Nothing was learnt about the server."
                } else {
                    "The attempt never left this machine: out of file descriptors or socket memory here. Nothing was learnt about the server."
                });
                for c in hits {
                    f = f.evidence(format!(
                        "connect {}: {}",
                        socket(&c.address, c.port),
                        c.outcome
                    ));
                }
                if out_of_ports(hits) {
                    f.fix("check fewer names per run, or widen the local port range (sysctl net.ipv4.ip_local_port_range)")
                } else {
                    f.fix(
                        "check fewer names at once (--jobs), or raise the open-files limit (ulimit -n)",
                    )
                }
            }
            Found::WalkOwnLimit {
                family,
                port,
                url,
                what,
            } => {
                let mut f = Finding::new(
                    Code::AddressUnreachable,
                    Severity::Info,
                    format!(
                        "acme-doctor could not walk the CA's path to {url}: its own limit, not the server's"
                    ),
                )
                .port(*port)
                .detail("The CA's own dial and request, made afresh for each name, never left this machine. Nothing was learnt about the server.")
                .evidence(format!("{url}: {what}"))
                .fix("check fewer names per run, or widen the local port range (sysctl net.ipv4.ip_local_port_range) or the open-files limit (ulimit -n)");
                if let Some(family) = family {
                    f = f.family(*family);
                }
                f
            }
            Found::VantageLimited { family, port, hits } => {
                let mut f = Finding::new(
                    Code::AddressUnreachable,
                    Severity::Info,
                    format!(
                        "this machine has no {} connectivity, so {}'s {} path was not tested",
                        family.label(),
                        cx.domain,
                        family.record_type()
                    ),
                )
                .family(*family)
                .port(*port)
                .detail("The failure is local to where acme-doctor runs, not evidence about the server.");
                for c in hits {
                    f = f.evidence(format!(
                        "connect {}: {}",
                        socket(&c.address, c.port),
                        c.outcome
                    ));
                }
                f.fix(format!(
                    "run acme-doctor from a machine with {} connectivity, or on the server itself",
                    family.label()
                ))
            }
        }
    }
}

/// A failure on some addresses of a family only is intermittent: the CA uses the first
/// address its resolver returns, and resolvers rotate. (Whether IPv4 is only the fallback is
/// decided once for all checks, in `rank::ipv4_is_only_the_fallback`.)
fn failed(
    cx: &Context,
    code: Code,
    family: Family,
    port: u16,
    hits: &[ConnectFact],
    all_failed: bool,
) -> Finding {
    let severity = if all_failed {
        Severity::Blocker
    } else {
        Severity::Warning
    };
    let rtype = cx.address_kind(family);
    let addrs = hits
        .iter()
        .map(|c| c.address.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let first = &hits[0];
    let what = match code {
        Code::PortTimeout => format!(
            "does not answer on port {port} (connect timed out after {})",
            duration(first.elapsed_ms)
        ),
        Code::PortRefused => format!("refuses connections on port {port}"),
        _ => format!("cannot be reached on port {port} ({})", first.outcome),
    };
    let mut f = Finding::new(code, severity, format!("{rtype} {addrs} {what}"))
        .family(family)
        .port(port);
    if code == Code::AddressUnreachable {
        f = f.likely();
    }
    let scope = cx.port_role(port);
    let partial = if all_failed {
        ""
    } else {
        " Other addresses of this family answer, so validation fails only when the CA's resolver returns this one first."
    };
    let fallback = if family == Family::Ipv6 && port == cx.dial_port() {
        " The CA tries IPv6 first; Boulder falls back to the first A address after a connect error, at a 10 s cost, and Pebble does not fall back at all."
    } else {
        ""
    };
    f = f
        .detail(format!("{scope}{partial}{fallback}"))
        .evidence_lines(cx.record_evidence(family));
    for c in hits {
        f = f.evidence(format!(
            "{} {}: {} after {}",
            cx.connect_label(&c.address),
            socket(&c.address, c.port),
            c.outcome,
            duration(c.elapsed_ms)
        ));
    }
    let label = family.label();
    f = match code {
        Code::PortTimeout => f
            .fix(format!("allow TCP port {port} in for {label} in the firewall (nft list ruleset; iptables -S; ip6tables -S)"))
            .fix(match cx.target.target.domain.ip {
                Some(ip) => format!("check that {ip} is this server's address, and that a provider firewall / security group admits port {port}"),
                None => format!("check the {rtype} record points at this server, and that a provider firewall / security group admits port {port}"),
            }),
        Code::PortRefused => f
            .fix(format!("start {} listening on port {port} for {label} (ss -ltnp 'sport = :{port}')", if port == cx.dial_port() { cx.responder() } else { "the HTTPS server".into() }))
            .fix(format!("or remove a firewall REJECT rule for port {port} (nft list ruleset; iptables -S)")),
        _ => f.fix(match cx.target.target.domain.ip {
            Some(_) => format!("check routing to {addrs} (ip route get {addrs})"),
            None => format!(
                "check routing to {addrs} (ip route get ADDR) and that the {rtype} record is current"
            ),
        }),
    };
    if severity == Severity::Blocker
        && let Some(dial) = Dial::of(&first.outcome)
    {
        f = f.ca(cx.ca_dial_error(&first.address, dial));
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::Scenario;

    /// Out of file descriptors (EMFILE), the probe never reached the server: the run is
    /// incomplete and the server is not blamed.
    #[test]
    fn our_own_fd_exhaustion_blames_no_server() {
        let emfile = || ConnectOutcome::Other {
            errno: Some(nix::libc::EMFILE),
            message: "too many open files".into(),
        };
        let s = Scenario::ipv4_only()
            .connect("192.0.2.10", 80, emfile())
            .connect("192.0.2.10", 443, emfile());
        let cx = s.context();
        let found = Reachability.detect(&cx);
        assert!(
            found.iter().all(|f| matches!(f, Found::OwnLimit { .. })),
            "{found:?}"
        );
        assert!(Reachability.incomplete(&cx, &found[0]).is_some());
        let f = Reachability.word(&cx, &found[0]);
        assert_eq!(f.severity, Severity::Info);
        assert!(f.title.contains("its own limit"), "{}", f.title);
        let d = crate::diagnose::diagnose(cx.run, cx.target);
        assert_eq!(
            d.verdict,
            crate::diagnose::Verdict::Pass,
            "{:#?}",
            d.findings
        );
        assert!(d.incomplete);
    }

    #[test]
    fn all_connected_finds_nothing() {
        let s = Scenario::dual_stack().v4_connects(80).v6_connects(80);
        assert!(Reachability.detect(&s.context()).is_empty());
    }

    #[test]
    fn a_timeout_on_every_address_is_a_blocker_with_the_cas_words() {
        let s = Scenario::dual_stack().v4_connects(80).connect(
            "2001:db8::10",
            80,
            ConnectOutcome::Timeout,
        );
        let found = Reachability.detect(&s.context());
        assert!(matches!(
            &found[..],
            [Found::Failed {
                code: Code::PortTimeout,
                family: Family::Ipv6,
                all_failed: true,
                ..
            }]
        ));
        let f = Reachability.word(&s.context(), &found[0]);
        assert_eq!(f.severity, Severity::Blocker);
        // How long the connect waited before it gave up is part of the evidence.
        assert!(f.title.contains("timed out after 2.0 s"), "{}", f.title);
        assert!(
            f.ca_error
                .unwrap()
                .ends_with(crate::diagnose::ca::CONNECT_TIMEOUT)
        );
    }

    #[test]
    fn a_failure_on_some_addresses_only_is_a_warning() {
        let s = Scenario::dual_stack()
            .a(&["192.0.2.10", "192.0.2.11"])
            .connect("192.0.2.10", 80, ConnectOutcome::Connected)
            .connect("192.0.2.11", 80, ConnectOutcome::Refused);
        let found = Reachability.detect(&s.context());
        assert_eq!(
            Reachability.word(&s.context(), &found[0]).severity,
            Severity::Warning
        );
    }

    #[test]
    fn port_443_counts_only_after_a_redirect_to_https() {
        let s = Scenario::dual_stack().v4_connects(80).connect(
            "192.0.2.10",
            443,
            ConnectOutcome::Refused,
        );
        assert!(Reachability.detect(&s.context()).is_empty());
        let s = s.http("192.0.2.10", 301, Some("https://example.test/x"));
        assert!(matches!(
            &Reachability.detect(&s.context())[..],
            [Found::Failed { port: 443, .. }]
        ));
    }

    #[test]
    fn no_ipv6_here_is_a_limit_of_the_vantage_not_the_server() {
        let s = Scenario::dual_stack().not_on_host().no_v6_route().connect(
            "2001:db8::10",
            80,
            ConnectOutcome::NetworkUnreachable,
        );
        let cx = s.context();
        let found = Reachability.detect(&cx);
        assert!(matches!(&found[..], [Found::VantageLimited { .. }]));
        assert!(Reachability.incomplete(&cx, &found[0]).is_some());
        assert_eq!(Reachability.word(&cx, &found[0]).severity, Severity::Info);
    }
}
