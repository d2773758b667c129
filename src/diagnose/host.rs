//! Host rules: what the server's own state says about the CA's connection. They apply only
//! when this machine holds one of the domain's addresses (otherwise `not-on-host`).
//!
//! Codes: `not-on-host`, `ipv6-disabled`, `aaaa-not-local`, `ipv6-no-route`, `no-listener`,
//! `listener-wrong-address`.

use super::context::socket;
use super::{Code, Context, Finding, Out, Severity};
use crate::facts::{Family, Listener, Probed};
use std::net::IpAddr;

/// HTTP-01 is always fetched on port 80 (§1 "Request").
const HTTP_PORT: u16 = 80;

/// The CA's error for a dead address, with Boulder's `<IP>: Fetching <URL>: ` prefix (§6).
pub fn fetch_error(cx: &Context, ip: &IpAddr, core: &str) -> String {
    format!(
        "{ip}: Fetching http://{}/.well-known/acme-challenge/<token>: {core}",
        cx.domain
    )
}

pub const CONNECT_TIMEOUT: &str = "Timeout during connect (likely firewall problem)";

pub fn check(cx: &Context, out: &mut Out) {
    match cx.on_host() {
        None => return,
        Some(false) => {
            if cx.has_usable() {
                out.push(not_on_host(cx));
            }
            return;
        }
        Some(true) => {}
    }
    let v6 = cx.usable(Family::Ipv6);
    if let (Some(first_v6), Some(reasons)) = (v6.first(), &cx.ipv6_off) {
        out.push(ipv6_disabled(cx, first_v6, reasons));
    } else if let Some(first_v6) = v6.first() {
        let stale: Vec<&IpAddr> = v6.iter().filter(|ip| !cx.is_local(ip)).collect();
        if !stale.is_empty() {
            out.push(aaaa_not_local(cx, first_v6, &stale));
        }
        let has_local_v6 = v6.iter().any(|ip| cx.is_local(ip));
        if has_local_v6 && cx.facts.host.default_route_v6 == Probed::Known(false) {
            out.push(
                Finding::new(
                    Code::Ipv6NoRoute,
                    Severity::Blocker,
                    "this host has no IPv6 default route, so its replies to the CA cannot leave",
                )
                .family(Family::Ipv6)
                .port(HTTP_PORT)
                .detail("The AAAA address is configured here, but without a default route the SYN-ACK to the CA's address has nowhere to go; the CA sees a connect timeout.")
                .evidence("ip -6 route: no default route")
                .evidence(format!("{} AAAA {first_v6} is configured on this host", cx.domain))
                .fix("add the gateway: ip -6 route add default via GATEWAY dev IFACE (and make it permanent in the network configuration)")
                .fix("with forwarding on, router advertisements are ignored unless accept_ra=2: sysctl -w net.ipv6.conf.IFACE.accept_ra=2")
                .explains(&[Code::PortTimeout, Code::AddressUnreachable])
                .ca_error(fetch_error(cx, first_v6, CONNECT_TIMEOUT)),
            );
        }
    }
    no_listener(cx, out);
}

fn not_on_host(cx: &Context) -> Finding {
    let mut f = Finding::new(
        Code::NotOnHost,
        Severity::Info,
        format!("none of {}'s addresses is on this machine; host checks do not apply", cx.domain),
    )
    .detail("acme-doctor sees the domain from outside, as the CA does. Run it on the server itself to check its sysctls, listeners and routes too.");
    for ip in cx.usable_v4.iter().chain(&cx.usable_v6) {
        f = f.evidence(format!("{ip} is not configured on any local interface"));
    }
    f.fix("run acme-doctor on the server that holds the address (behind NAT: on the machine port 80 is forwarded to)")
}

fn ipv6_disabled(cx: &Context, first_v6: &IpAddr, reasons: &[String]) -> Finding {
    let mut f = Finding::new(
        Code::Ipv6Disabled,
        Severity::Blocker,
        format!(
            "IPv6 is disabled on this host, but {} publishes AAAA {first_v6}: the CA connects over IPv6 first and times out",
            cx.domain
        ),
    )
    .family(Family::Ipv6)
    .port(HTTP_PORT)
    .detail(
        "Let's Encrypt tries the first AAAA address before any A address. With IPv6 off, nothing answers there. \
         Boulder retries the first A address after a connect error, but only after the 10 s connect timeout, again on \
         every redirect hop; Pebble and CAs without fallback fail outright. A published AAAA must work.",
    );
    for line in reasons {
        f = f.evidence(line.clone());
    }
    for line in cx.record_evidence(Family::Ipv6) {
        f = f.evidence(line);
    }
    if let Some(outcome) = cx.connect(first_v6, HTTP_PORT) {
        f = f.evidence(format!(
            "connect {} from this host: {}",
            socket(first_v6, HTTP_PORT),
            outcome_text(outcome)
        ));
    }
    let fix_sysctl = if reasons.iter().any(|r| r.contains("ipv6.disable=1")) {
        "remove ipv6.disable=1 from the kernel command line (GRUB_CMDLINE_LINUX in /etc/default/grub), update-grub, reboot".to_string()
    } else {
        // Name every scope the evidence shows switched off, the carrying interface included.
        let scopes: Vec<String> = reasons
            .iter()
            .filter_map(|r| {
                r.strip_prefix("net.ipv6.conf.")?
                    .split_once(".disable_ipv6")
                    .map(|(s, _)| s.to_string())
            })
            .chain(["all".to_string(), "default".to_string()])
            .fold(Vec::new(), |mut acc, s| {
                if !acc.contains(&s) {
                    acc.push(s);
                }
                acc
            });
        let settings: Vec<String> = scopes
            .iter()
            .map(|s| format!("net.ipv6.conf.{s}.disable_ipv6=0"))
            .collect();
        format!(
            "sysctl -w {}, then remove the setting from /etc/sysctl.conf and /etc/sysctl.d/*.conf (grep -r disable_ipv6 /etc/sysctl*; NetworkManager: nmcli connection modify CONN ipv6.method auto)",
            settings.join(" ")
        )
    };
    f.fix(fix_sysctl)
        .fix("re-apply the interface's IPv6 address (disabling IPv6 flushed it): restart networking, netplan apply, or ip -6 addr add ADDR dev IFACE")
        .fix(format!("or, if this host is not meant to serve IPv6, delete the AAAA record of {}", cx.domain))
        .explains(&[Code::PortTimeout, Code::PortRefused, Code::AddressUnreachable, Code::NoListener])
        .ca_error(fetch_error(cx, first_v6, CONNECT_TIMEOUT))
}

/// Boulder dials only the first AAAA its resolver returns (§1 "Address choice"): a stale first
/// address is a blocker, a stale later one a warning (resolvers rotate the order).
fn aaaa_not_local(cx: &Context, first_v6: &IpAddr, stale: &[&IpAddr]) -> Finding {
    let first_is_stale = stale.contains(&first_v6);
    let list = stale
        .iter()
        .map(|ip| ip.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let mut f = Finding::new(
        Code::AaaaNotLocal,
        if first_is_stale { Severity::Blocker } else { Severity::Warning },
        format!("{} publishes AAAA {list}, which is not configured on this host", cx.domain),
    )
    .likely()
    .family(Family::Ipv6)
    .port(HTTP_PORT)
    .detail("The A record points here, but the AAAA points elsewhere: a stale record after a renumbering or a move. The CA tries the AAAA first.");
    for line in cx.record_evidence(Family::Ipv6) {
        f = f.evidence(line);
    }
    let local_v6: Vec<String> = cx
        .local_addresses
        .iter()
        .flatten()
        .filter(|ip| matches!(ip, IpAddr::V6(v6) if !v6.is_loopback() && (v6.segments()[0] & 0xffc0) != 0xfe80))
        .map(|ip| ip.to_string())
        .collect();
    f = f.evidence(if local_v6.is_empty() {
        "this host has no global IPv6 address".to_string()
    } else {
        format!("this host's IPv6 addresses: {}", local_v6.join(", "))
    });
    let fix = match local_v6.first() {
        Some(addr) => format!(
            "point the AAAA record of {} at {addr} (this host's address)",
            cx.domain
        ),
        None => format!(
            "remove the AAAA record of {}, or configure that address here",
            cx.domain
        ),
    };
    let f = f
        .fix(fix)
        .fix("if a load balancer or proxy owns that address, run acme-doctor there, or ignore this finding")
        .explains(&[Code::PortTimeout, Code::PortRefused, Code::AddressUnreachable]);
    if first_is_stale {
        f.ca_error(fetch_error(cx, first_v6, CONNECT_TIMEOUT))
    } else {
        f
    }
}

/// Whether a listening socket takes connections for `ip`:`port`. An IPv6 wildcard socket
/// takes IPv4 too unless IPV6_V6ONLY is set (per socket, defaulting to `net.ipv6.bindv6only`).
fn accepts(l: &Listener, ip: &IpAddr, port: u16, bindv6only: Option<bool>) -> bool {
    if l.port != port {
        return false;
    }
    match (ip, l.address) {
        (IpAddr::V4(_), IpAddr::V4(bound)) => bound.is_unspecified() || l.address == *ip,
        (IpAddr::V6(_), IpAddr::V6(bound)) => bound.is_unspecified() || l.address == *ip,
        (IpAddr::V4(v4), IpAddr::V6(bound)) => {
            if bound.is_unspecified() {
                l.v6only.or(bindv6only) == Some(false)
            } else {
                bound.to_ipv4_mapped() == Some(*v4)
            }
        }
        (IpAddr::V6(_), IpAddr::V4(_)) => false,
    }
}

fn describe(l: &Listener) -> String {
    let who = match &l.process {
        Some(p) => format!("{} (pid {})", p.name, p.pid),
        None => "a process".to_string(),
    };
    let v6only = match (l.family, l.v6only) {
        (Family::Ipv6, Some(true)) => ", IPv6 only",
        (Family::Ipv6, Some(false)) => ", IPv6 and IPv4",
        _ => "",
    };
    format!("{who} listens on {}{v6only}", socket(&l.address, l.port))
}

fn no_listener(cx: &Context, out: &mut Out) {
    let Some(listeners) = cx.facts.host.listeners.known() else {
        return;
    };
    let bindv6only = cx.facts.host.bindv6only.known().copied();
    for family in [Family::Ipv4, Family::Ipv6] {
        if family == Family::Ipv6 && cx.ipv6_off.is_some() {
            continue;
        }
        let local: Vec<&IpAddr> = cx
            .usable(family)
            .iter()
            .filter(|ip| cx.is_local(ip))
            .collect();
        let Some(first) = local.first() else {
            continue;
        };
        if local.iter().any(|ip| {
            listeners
                .iter()
                .any(|l| accepts(l, ip, HTTP_PORT, bindv6only))
        }) {
            continue;
        }
        let on_port: Vec<&Listener> = listeners.iter().filter(|l| l.port == HTTP_PORT).collect();
        let summary = if on_port.is_empty() {
            "nothing listens on port 80".to_string()
        } else {
            on_port
                .iter()
                .map(|l| describe(l))
                .collect::<Vec<_>>()
                .join("; ")
        };
        // Sockets of this family on port 80 bound to other specific addresses: the server is
        // configured for the wrong address, not missing.
        let elsewhere: Vec<&&Listener> = on_port
            .iter()
            .filter(|l| l.family == family && !l.address.is_unspecified())
            .collect();
        if !elsewhere.is_empty() {
            let mut f = Finding::new(
                Code::ListenerWrongAddress,
                Severity::Blocker,
                format!(
                    "the web server listens on {} only, but {} {} is {first}",
                    elsewhere
                        .iter()
                        .map(|l| socket(&l.address, l.port))
                        .collect::<Vec<_>>()
                        .join(", "),
                    cx.domain,
                    family.record_type()
                ),
            )
            .family(family)
            .port(HTTP_PORT)
            .detail("Connections to the published address find no socket and are refused.")
            .evidence(format!("{} {} {first}", cx.domain, family.record_type()));
            for l in &elsewhere {
                f = f.evidence(describe(l));
            }
            out.push(
                f.fix(format!(
                    "listen on the published address or on all addresses (nginx: `listen {}`; Apache: `Listen 80`), then reload",
                    if family == Family::Ipv6 { "[::]:80;" } else { "80;" }
                ))
                .fix(format!("or point the {} record at the address the server listens on", family.record_type()))
                .explains(&[Code::PortRefused])
                .ca_error(fetch_error(cx, first, "Connection refused")),
            );
            continue;
        }
        let mut f = Finding::new(
            Code::NoListener,
            Severity::Blocker,
            format!("nothing on this host accepts {} connections on port 80 ({summary})", family_name(family)),
        )
        .family(family)
        .port(HTTP_PORT)
        .detail(format!(
            "{} {} {first} is configured here, but no listening socket takes connections for it on port 80.",
            cx.domain,
            family.record_type()
        ))
        .evidence(format!("{} {} {first}", cx.domain, family.record_type()));
        for l in &on_port {
            f = f.evidence(describe(l));
        }
        if on_port.is_empty() {
            f = f.evidence("no listening TCP socket on port 80 (ss -ltn 'sport = :80')");
        }
        let fix = match family {
            Family::Ipv6 => {
                "nginx: add `listen [::]:80;` next to `listen 80;` in the server block (Apache: `Listen [::]:80` or plain `Listen 80`), then reload"
            }
            Family::Ipv4 => {
                "nginx: add `listen 80;` (or `listen [::]:80 ipv6only=off;`) in the server block (Apache: `Listen 80`), then reload"
            }
        };
        let docker_v4_only = family == Family::Ipv6
            && on_port
                .iter()
                .any(|l| l.process.as_ref().is_some_and(|p| p.name == "docker-proxy"));
        let fix = if docker_v4_only {
            "Docker publishes the port on IPv4 only: enable IPv6 in /etc/docker/daemon.json (\"ipv6\": true, \"ip6tables\": true, a fixed-cidr-v6), restart dockerd, and publish with -p 80:80 (or -p [::]:80:80)"
        } else {
            fix
        };
        let fix_start = if on_port.is_empty() {
            "start the web server (or the ACME client's standalone server) that should answer on port 80"
        } else {
            fix
        };
        f = f.fix(fix_start).explains(&[Code::PortRefused]);
        f = f.ca_error(fetch_error(cx, first, "Connection refused"));
        out.push(f);
    }
}

fn family_name(family: Family) -> &'static str {
    match family {
        Family::Ipv4 => "IPv4",
        Family::Ipv6 => "IPv6",
    }
}

pub fn outcome_text(outcome: &crate::facts::ConnectOutcome) -> String {
    use crate::facts::ConnectOutcome as C;
    match outcome {
        C::Connected => "connected".into(),
        C::Refused => "connection refused".into(),
        C::Timeout => "timed out".into(),
        C::HostUnreachable => "no route to host (EHOSTUNREACH)".into(),
        C::NetworkUnreachable => "network unreachable (ENETUNREACH)".into(),
        C::FamilyNotSupported => "address family not supported (EAFNOSUPPORT)".into(),
        C::Other { errno, message } => match errno {
            Some(e) => format!("{message} (errno {e})"),
            None => message.clone(),
        },
    }
}
