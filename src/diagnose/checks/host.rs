//! The host's own state, read on the server: is this machine the one the name points at, and
//! can its IPv6 answer the CA at all. Applies only when this machine holds one of the
//! addresses (otherwise `not-on-host`).
//!
//! Codes: `not-on-host`, `ipv6-disabled`, `aaaa-not-local`, `ipv6-no-route`.

use crate::diagnose::ca::Dial;
use crate::diagnose::check::CheckDef;
use crate::diagnose::context::{Ipv6Off, socket};
use crate::diagnose::hairpin;
use crate::diagnose::{Check, Code, Context, Finding, Severity, run_check};
use crate::facts::{Challenge, Family, ManagedCert, Method, Probed};
use std::net::IpAddr;

pub const CHECK: CheckDef = CheckDef {
    name: "host",
    codes: &[
        Code::NotOnHost,
        Code::Ipv6Disabled,
        Code::AaaaNotLocal,
        Code::Ipv6NoRoute,
        Code::BehindNat,
        Code::ANotLocal,
    ],
    methods: &[Method::Http01, Method::TlsAlpn01],
    run: |cx, out| run_check(&Host, cx, out),
};

pub struct Host;

#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    NotOnHost {
        addresses: Vec<IpAddr>,
        /// A client on this machine renews the name by a method whose challenge the CA
        /// fetches from the name's addresses (issue 20 item 4).
        renewed_here: Option<Box<ManagedCert>>,
        /// Why the addresses still lead back to this machine, when something says so.
        leads_here: Option<String>,
    },
    Ipv6Disabled {
        first_v6: IpAddr,
        off: Ipv6Off,
    },
    /// AAAA addresses not configured here; `first_is_stale`: the one the CA dials.
    AaaaNotLocal {
        first_v6: IpAddr,
        stale: Vec<IpAddr>,
        local_v6: Vec<IpAddr>,
    },
    Ipv6NoRoute {
        first_v6: IpAddr,
    },
    /// The published address lives on a router; its forward leads to this private address.
    BehindNat {
        published: IpAddr,
        private: IpAddr,
    },
    /// The mirror of `AaaaNotLocal`: an AAAA is here, but A addresses are not.
    ANotLocal {
        stale: Vec<IpAddr>,
    },
}

impl Check for Host {
    type Evidence = Found;

    fn detect(&self, cx: &Context) -> Vec<Found> {
        match cx.on_host() {
            None => return Vec::new(),
            Some(false) if cx.has_usable() => {
                return vec![Found::NotOnHost {
                    addresses: cx.usable_v4.iter().chain(&cx.usable_v6).copied().collect(),
                    renewed_here: renewed_here(cx).map(|c| Box::new(c.clone())),
                    leads_here: leads_here(cx),
                }];
            }
            Some(false) => return Vec::new(),
            Some(true) => {}
        }
        let mut found = Vec::new();
        if let Some(nat) = &cx.nat {
            found.push(Found::BehindNat {
                published: nat.published,
                private: nat.private,
            });
        }
        let v6 = cx.usable(Family::Ipv6);
        let v4_stale: Vec<IpAddr> = cx
            .usable(Family::Ipv4)
            .iter()
            .filter(|ip| !cx.is_local(ip))
            .copied()
            .collect();
        // Behind a NAT the A is the router's, by design (`behind-nat` says so).
        if cx.nat.is_none() && !v4_stale.is_empty() && v6.iter().any(|ip| cx.is_local(ip)) {
            found.push(Found::ANotLocal { stale: v4_stale });
        }
        let Some(first_v6) = v6.first().copied() else {
            return found;
        };
        if let Some(off) = &cx.ipv6_off {
            found.push(Found::Ipv6Disabled {
                first_v6,
                off: off.clone(),
            });
            return found;
        }
        let stale: Vec<IpAddr> = v6.iter().filter(|ip| !cx.is_local(ip)).copied().collect();
        if !stale.is_empty() {
            let local_v6 = cx
                .local_addresses
                .iter()
                .flatten()
                .filter(|ip| matches!(ip, IpAddr::V6(v6) if !v6.is_loopback() && (v6.segments()[0] & 0xffc0) != 0xfe80))
                .copied()
                .collect();
            found.push(Found::AaaaNotLocal {
                first_v6,
                stale,
                local_v6,
            });
        }
        let has_local_v6 = v6.iter().any(|ip| cx.is_local(ip));
        if has_local_v6 && cx.host.default_route_v6 == Probed::Known(false) {
            found.push(Found::Ipv6NoRoute { first_v6 });
        }
        found
    }

    fn word(&self, cx: &Context, found: &Found) -> Finding {
        match found {
            Found::NotOnHost {
                addresses,
                renewed_here: Some(cert),
                leads_here: None,
            } => renewal_on_the_wrong_server(cx, addresses, cert),
            Found::NotOnHost {
                addresses,
                leads_here,
                ..
            } => not_on_host(cx, addresses, leads_here.as_deref()),
            Found::Ipv6Disabled { first_v6, off } => ipv6_disabled(cx, first_v6, off),
            Found::AaaaNotLocal {
                first_v6,
                stale,
                local_v6,
            } => aaaa_not_local(cx, first_v6, stale, local_v6),
            Found::BehindNat { published, private } => Finding::new(
                Code::BehindNat,
                Severity::Info,
                format!("this host is behind NAT: {}, which lives on a router forwarding to {private} here", cx.publishes(published)),
            )
            .family(Family::Ipv4)
            .port(cx.dial_port())
            .detail("The listener and the firewall are checked on the private address the port forward must reach. What the router does (the forward itself) shows only from outside: add a vantage (--vantage URL).")
            .evidence(format!("{published} is configured on no interface of this host"))
            .evidence(format!("this host's one IPv4 address is {private}, with a default route"))
            .evidence(format!("a listener on port {} accepts {private}", cx.dial_port()))
            .fix(format!("make sure the router forwards TCP port {} of {published} to {private}", cx.method().ports().iter().map(u16::to_string).collect::<Vec<_>>().join(" and "))),
            Found::ANotLocal { stale } => Finding::new(
                Code::ANotLocal,
                Severity::Warning,
                format!(
                    "{} publishes A {}, which is not configured on this host",
                    cx.domain,
                    stale.iter().map(IpAddr::to_string).collect::<Vec<_>>().join(", ")
                ),
            )
            .likely()
            .family(Family::Ipv4)
            .port(cx.dial_port())
            .detail("The AAAA record points here, but the A points elsewhere: a stale record after a move, or the old server. The CA tries the AAAA first and uses the A only after an IPv6 connect error, so this bites when IPv6 fails, and for clients and perspectives without IPv6.")
            .evidence_lines(cx.record_evidence(Family::Ipv4))
            .fix(format!("point the A record of {} at this host's IPv4 address, or remove it", cx.domain))
            .fix("behind NAT the A is the router's public address: then this finding is expected; check the port forward from outside"),
            Found::Ipv6NoRoute { first_v6 } => Finding::new(
                Code::Ipv6NoRoute,
                Severity::Blocker,
                "this host has no IPv6 default route, so its replies to the CA cannot leave",
            )
            .family(Family::Ipv6)
            .port(cx.dial_port())
            .detail("The AAAA address is configured here, but without a default route the SYN-ACK to the CA's address has nowhere to go; the CA sees a connect timeout.")
            .evidence("ip -6 route: no default route")
            .evidence(format!("{} AAAA {first_v6} is configured on this host", cx.domain))
            .fix("add the gateway: ip -6 route add default via GATEWAY dev IFACE (and make it permanent in the network configuration)")
            .fix("with forwarding on, router advertisements are ignored unless accept_ra=2: sysctl -w net.ipv6.conf.IFACE.accept_ra=2")
            .ca(cx.ca_dial_error(first_v6, Dial::Timeout)),
        }
    }
}

/// The certificate a client on this machine renews for the name by a challenge the CA
/// fetches from the name's own addresses (a webroot, a standalone server, the web server
/// itself, TLS-ALPN-01): the target's own under `--all`, else one the host's client
/// configurations name it in. A DNS-01 or manual renewal may run anywhere.
fn renewed_here<'a>(cx: &Context<'a>) -> Option<&'a ManagedCert> {
    let at_the_address = |c: &ManagedCert| {
        matches!(
            c.challenge_for(cx.domain).0,
            Challenge::Webroot { .. }
                | Challenge::Standalone { .. }
                | Challenge::WebServer { .. }
                | Challenge::TlsAlpn { .. }
        )
    };
    if cx.target.target.domain.ip.is_some() {
        return None;
    }
    if let Some(c) = &cx.target.certificate {
        return at_the_address(c).then_some(c);
    }
    cx.host
        .acme_clients
        .as_ref()?
        .for_name(cx.domain)
        .find(|c| at_the_address(c))
}

/// Why the name's addresses, though on no interface here, still lead to this machine: a CDN
/// or proxy holds them (`proxy-in-front`), this host's own requests come back through them
/// (`hairpin`: its public address on a NAT gateway or load balancer, a DNAT here), or the
/// real token written here came back through one. Then a renewal here is no mistake.
fn leads_here(cx: &Context) -> Option<String> {
    let ranges = crate::cdn::Ranges::new(cx.run.options.cdn_ranges.as_deref());
    if let Some(ip) = cx
        .usable_v4
        .iter()
        .chain(&cx.usable_v6)
        .find(|ip| ranges.lookup(ip).is_some())
    {
        return Some(format!(
            "{ip} belongs to a CDN or proxy, which connects onwards to its origin"
        ));
    }
    if let Some(ip) = hairpin::token_came_back(cx) {
        return Some(format!(
            "the token written here was served through {ip}: that address leads to this machine"
        ));
    }
    let port = cx.dial_port();
    hairpin::Hairpins::new(cx)
        .leads_here(port)
        .map(|(ip, via)| via.evidence(&ip, port))
}

/// Issue 20 item 4: the plain truth of a host whose client renews a name that points
/// elsewhere, typically the old server after a move. Every challenge this client publishes
/// lands here while the CA fetches it there.
fn renewal_on_the_wrong_server(cx: &Context, addresses: &[IpAddr], cert: &ManagedCert) -> Finding {
    let (challenge, key, line) = cert.challenge_for(cx.domain);
    let place = match line {
        Some(n) => format!("{}:{n}", cert.config),
        None => cert.config.clone(),
    };
    let list = addresses
        .iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    // What the CA meets is the other machine's answer; without one to read, the renewal is
    // still misplaced, but what the CA would say is not known: a warning.
    let ca_words = other_machines_answer(cx);
    let mut f = Finding::new(
        Code::NotOnHost,
        if ca_words.is_some() {
            Severity::Blocker
        } else {
            Severity::Warning
        },
        format!(
            "the renewal of {} runs here, but none of its addresses is on this machine: it runs on the wrong server",
            cx.domain
        ),
    )
    .likely()
    .detail(format!(
        "{client} on this machine renews {domain} ({how}), but {domain} points at {list}, which no interface here holds, and nothing says that address leads back here. The CA fetches the challenge from {list}, not from this machine, so whatever {client} publishes here is never what the CA reads: after a move to another server, the renewal has to move too.",
        client = cert.client,
        domain = cx.domain,
        how = challenge.describe(),
    ))
    .evidence(format!(
        "{} {place}: `{key}` ({})",
        cert.client,
        challenge.describe()
    ));
    for ip in addresses {
        f = f.evidence(format!("{ip} is not configured on any local interface"));
    }
    f = f
        .evidence_lines(cx.record_evidence(Family::Ipv4))
        .evidence_lines(cx.record_evidence(Family::Ipv6));
    let stop_here = match cert.client {
        crate::facts::AcmeClient::Certbot => format!(
            "then stop renewing it here: certbot delete --cert-name {}",
            cert.name
        ),
        _ => format!(
            "then stop renewing it here: remove {} from {}'s configuration ({})",
            cx.domain, cert.client, cert.config
        ),
    };
    if let Some(words) = ca_words {
        f = f.ca(words);
    }
    f.fix(format!(
        "renew {} on the machine it points at ({list}): issue the certificate there with its own ACME client (or move {} there), {stop_here}",
        cx.domain, cert.config
    ))
    .fix(format!(
        "or, if this machine is still meant to serve {}, point its A/AAAA records back at this machine's addresses",
        cx.domain
    ))
    .fix(format!(
        "if a load balancer or NAT in front of this machine forwards port {} here, this is a false positive: add a vantage (--vantage URL), which shows this machine's public address",
        cx.dial_port()
    ))
}

/// What the CA says when it fetches the challenge from the machine the name points at: that
/// machine's answer to this run's request (IPv6 first, as the CA dials), which never holds
/// the token a client here writes. `None` when nothing was read there.
fn other_machines_answer(cx: &Context) -> Option<crate::diagnose::ca::CaError> {
    use crate::diagnose::ca;
    use crate::facts::{ConnectOutcome, HttpOutcome};
    let port = cx.dial_port();
    let url = cx.challenge_url();
    cx.usable_v6.iter().chain(&cx.usable_v4).find_map(|ip| {
        match cx.connect(ip, port)? {
            ConnectOutcome::Connected => {}
            other => return Dial::of(other).map(|d| cx.ca_dial_error(ip, d)),
        }
        if cx.method() != Method::Http01 {
            return None;
        }
        match &cx.http(ip)?.outcome {
            HttpOutcome::Response {
                status: 200,
                body_prefix,
                ..
            } => Some(ca::fetching(
                ca::ProblemType::Unauthorized,
                ip,
                &url,
                &ca::invalid_body(&url, body_prefix),
            )),
            HttpOutcome::Response { status, .. } => Some(ca::fetching(
                ca::ProblemType::Unauthorized,
                ip,
                &url,
                &ca::invalid_status(&url, *status),
            )),
            _ => None,
        }
    })
}

fn not_on_host(cx: &Context, addresses: &[IpAddr], leads_here: Option<&str>) -> Finding {
    let mut f = Finding::new(
        Code::NotOnHost,
        Severity::Info,
        match cx.target.target.domain.ip {
            Some(ip) => format!("{ip} is not an address of this machine; host checks do not apply"),
            None => format!("none of {}'s addresses is on this machine; host checks do not apply", cx.domain),
        },
    )
    .detail("acme-doctor sees the domain from outside, as the CA does. Run it on the server itself to check its sysctls, listeners and routes too.");
    for ip in addresses {
        f = f.evidence(format!("{ip} is not configured on any local interface"));
    }
    if let Some(why) = leads_here {
        f = f.evidence(why.to_string());
    }
    f.fix(format!("run acme-doctor on the server that holds the address (behind NAT: on the machine port {} is forwarded to)", cx.dial_port()))
}

fn ipv6_disabled(cx: &Context, first_v6: &IpAddr, off: &Ipv6Off) -> Finding {
    let port = cx.dial_port();
    let mut f = Finding::new(
        Code::Ipv6Disabled,
        Severity::Blocker,
        format!(
            "IPv6 is disabled on this host, but {}: the CA connects over IPv6 first and times out",
            cx.publishes(first_v6)
        ),
    )
    .family(Family::Ipv6)
    .port(port)
    .detail(
        "Let's Encrypt tries the first AAAA address before any A address. With IPv6 off, nothing answers there. \
         Boulder retries the first A address after a connect error, but only after the 10 s connect timeout, again on \
         every redirect hop; Pebble and CAs without fallback fail outright. A published AAAA must work.",
    )
    .evidence_lines(off.evidence())
    .evidence_lines(cx.record_evidence(Family::Ipv6));
    if let Some(outcome) = cx.connect(first_v6, port) {
        f = f.evidence(format!(
            "{} {}: {}",
            cx.connect_label(first_v6),
            socket(first_v6, port),
            outcome
        ));
    }
    let fix_sysctl = match off {
        Ipv6Off::NotInKernel => "remove ipv6.disable=1 from the kernel command line (GRUB_CMDLINE_LINUX in /etc/default/grub), update-grub, reboot".to_string(),
        Ipv6Off::Sysctls(list) => {
            // Every scope the evidence shows switched off, the carrying interface included.
            let mut scopes: Vec<&str> = Vec::new();
            for scope in list
                .iter()
                .map(|s| s.scope.as_str())
                .chain(["all", "default"])
            {
                if !scopes.contains(&scope) {
                    scopes.push(scope);
                }
            }
            let settings: Vec<String> = scopes
                .iter()
                .map(|s| format!("net.ipv6.conf.{s}.disable_ipv6=0"))
                .collect();
            format!(
                "sysctl -w {}, then remove the setting from /etc/sysctl.conf and /etc/sysctl.d/*.conf (grep -r disable_ipv6 /etc/sysctl*; NetworkManager: nmcli connection modify CONN ipv6.method auto)",
                settings.join(" ")
            )
        }
    };
    f.fix(fix_sysctl)
        .fix("re-apply the interface's IPv6 address (disabling IPv6 flushed it): restart networking, netplan apply, or ip -6 addr add ADDR dev IFACE")
        .fix(format!("or, if this host is not meant to serve IPv6, delete the AAAA record of {}", cx.domain))
        .ca(cx.ca_dial_error(first_v6, Dial::Timeout))
}

/// Boulder dials only the first AAAA its resolver returns (`docs/ca-behaviour.md` §2.2): a
/// stale first address is a blocker, a stale later one a warning (resolvers rotate the order).
fn aaaa_not_local(
    cx: &Context,
    first_v6: &IpAddr,
    stale: &[IpAddr],
    local_v6: &[IpAddr],
) -> Finding {
    let first_is_stale = stale.contains(first_v6);
    let list = stale
        .iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let mut f = Finding::new(
        Code::AaaaNotLocal,
        if first_is_stale { Severity::Blocker } else { Severity::Warning },
        format!("{} publishes AAAA {list}, which is not configured on this host", cx.domain),
    )
    .likely()
    .family(Family::Ipv6)
    .port(cx.dial_port())
    .detail("The A record points here, but the AAAA points elsewhere: a stale record after a renumbering or a move. The CA tries the AAAA first.")
    .evidence_lines(cx.record_evidence(Family::Ipv6));
    let local_list: Vec<String> = local_v6.iter().map(IpAddr::to_string).collect();
    f = f.evidence(if local_list.is_empty() {
        "this host has no global IPv6 address".to_string()
    } else {
        format!("this host's IPv6 addresses: {}", local_list.join(", "))
    });
    let fix = match local_list.first() {
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
        .fix("if a load balancer or proxy owns that address, run acme-doctor there, or ignore this finding");
    if first_is_stale {
        f.ca(cx.ca_dial_error(first_v6, Dial::Timeout))
    } else {
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::Scenario;

    #[test]
    fn a_healthy_dual_stack_host_finds_nothing() {
        assert!(Host.detect(&Scenario::dual_stack().context()).is_empty());
    }

    #[test]
    fn another_machine_says_not_on_host() {
        let s = Scenario::dual_stack().not_on_host();
        let found = Host.detect(&s.context());
        assert!(
            matches!(&found[..], [Found::NotOnHost { addresses, renewed_here: None, .. }] if addresses.len() == 2)
        );
        assert_eq!(Host.word(&s.context(), &found[0]).severity, Severity::Info);
    }

    /// Issue 20 item 4: the old server after a move. certbot here renews the name, which
    /// points at another machine; the token written here is not served there.
    fn old_server() -> Scenario {
        Scenario::dual_stack()
            .not_on_host()
            .token("T.thumb")
            .http("192.0.2.10", 404, None)
            .http("2001:db8::10", 404, None)
            .certificate(Challenge::Webroot {
                path: "/var/www/html".into(),
            })
    }

    #[test]
    fn a_renewal_here_for_a_name_that_points_elsewhere_is_the_root_cause() {
        let s = old_server();
        let cx = s.context();
        let d = crate::diagnose::diagnose(cx.run, cx.target);
        let top = &d.findings[0];
        assert_eq!(top.code, Code::NotOnHost, "{:?}", d.findings);
        assert_eq!(top.severity, Severity::Blocker);
        assert!(top.title.contains("wrong server"), "{}", top.title);
        // The CA's words are the other machine's answer, IPv6 first as the CA dials.
        assert!(
            top.ca_error
                .as_deref()
                .is_some_and(|e| e.starts_with("2001:db8::10: ") && e.ends_with("404")),
            "{:?}",
            top.ca_error
        );
        assert!(top.explains.contains(&Code::ChallengeNotServed), "{top:?}");
        assert!(
            top.evidence
                .iter()
                .any(|e| e.contains("/etc/letsencrypt/renewal/example.test.conf:12")),
            "{:?}",
            top.evidence
        );
        assert!(top.fix[0].contains("certbot delete --cert-name example.test"));
        let served = d
            .findings
            .iter()
            .find(|f| f.code == Code::ChallengeNotServed)
            .expect("challenge-not-served");
        assert_eq!(served.explained_by, Some(Code::NotOnHost));
        // Without --all, the host's client configurations say the same.
        let s = old_server().certificate_in_host_configs();
        let cx = s.context();
        let d = crate::diagnose::diagnose(cx.run, cx.target);
        assert_eq!(d.findings[0].code, Code::NotOnHost, "{:?}", d.findings);
        assert_eq!(d.findings[0].severity, Severity::Blocker);
    }

    #[test]
    fn without_a_renewal_here_not_on_host_stays_info_and_explains_nothing() {
        let s = Scenario::dual_stack()
            .not_on_host()
            .token("T.thumb")
            .http("192.0.2.10", 404, None)
            .http("2001:db8::10", 404, None);
        let cx = s.context();
        let d = crate::diagnose::diagnose(cx.run, cx.target);
        let f = d
            .findings
            .iter()
            .find(|f| f.code == Code::NotOnHost)
            .expect("not-on-host");
        assert_eq!(f.severity, Severity::Info);
        assert!(f.explains.is_empty(), "{f:?}");
        assert_ne!(d.findings[0].code, Code::NotOnHost);
        // A DNS-01 renewal may run anywhere.
        let s = Scenario::dual_stack()
            .not_on_host()
            .certificate(Challenge::Dns { provider: None });
        let found = Host.detect(&s.context());
        assert_eq!(Host.word(&s.context(), &found[0]).severity, Severity::Info);
    }

    #[test]
    fn an_address_that_leads_back_here_is_no_wrong_server() {
        // The token written here came back through the published address: a load balancer
        // or NAT in front forwards to this machine.
        let s = Scenario::dual_stack()
            .not_on_host()
            .token("T.thumb")
            .http("192.0.2.10", 200, None)
            .answers(
                "192.0.2.10",
                crate::facts::HopOutcome::Answer(Box::new(crate::facts::Answered {
                    status: 200,
                    server: Some("nginx".into()),
                    location: None,
                    www_authenticate: None,
                    marks: Vec::new(),
                    title: None,
                    body_head_hex: b"T.thumb".iter().map(|b| format!("{b:02x}")).collect(),
                    body_prefix: "T.thumb".into(),
                    body_bytes: 7,
                    body_sha256: String::new(),
                    etag: None,
                    last_modified: None,
                })),
                crate::facts::HopOutcome::Answer(Box::new(crate::facts::Answered {
                    status: 200,
                    server: Some("nginx".into()),
                    location: None,
                    www_authenticate: None,
                    marks: Vec::new(),
                    title: None,
                    body_head_hex: String::new(),
                    body_prefix: String::new(),
                    body_bytes: 0,
                    body_sha256: String::new(),
                    etag: None,
                    last_modified: None,
                })),
            )
            .certificate(Challenge::Webroot {
                path: "/var/www/html".into(),
            });
        let cx = s.context();
        let found = Host.detect(&cx);
        let f = Host.word(&cx, &found[0]);
        assert_eq!(f.severity, Severity::Info, "{f:?}");
        assert!(
            f.evidence
                .iter()
                .any(|e| e.contains("token written here was served")),
            "{:?}",
            f.evidence
        );
        // A vantage that saw this machine's requests leave from the published address.
        let s = old_server().vantage("https://v.example", |o| o.source("192.0.2.10"));
        let cx = s.context();
        let found = Host.detect(&cx);
        let f = Host.word(&cx, &found[0]);
        assert_eq!(f.severity, Severity::Info, "{f:?}");
        assert!(
            f.evidence.iter().any(|e| e.contains("public address")),
            "{:?}",
            f.evidence
        );
    }

    #[test]
    fn ipv6_off_with_an_aaaa_is_the_headline_case() {
        let s = Scenario::dual_stack().ipv6_off();
        let found = Host.detect(&s.context());
        let [Found::Ipv6Disabled { off, .. }] = &found[..] else {
            panic!("{found:?}");
        };
        assert!(matches!(off, Ipv6Off::Sysctls(list) if list.iter().any(|s| s.scope == "eth0")));
        let f = Host.word(&s.context(), &found[0]);
        assert_eq!(f.code, Code::Ipv6Disabled);
        assert!(
            f.evidence
                .contains(&"net.ipv6.conf.all.disable_ipv6 = 1".to_string())
        );
        assert!(f.fix[0].contains("net.ipv6.conf.eth0.disable_ipv6=0"));
        assert_eq!(
            f.ca_problem,
            Some(crate::diagnose::ca::ProblemType::Connection)
        );
        assert!(
            f.ca_error
                .unwrap()
                .ends_with(crate::diagnose::ca::CONNECT_TIMEOUT)
        );
    }

    #[test]
    fn an_ipv6_identifier_on_a_host_without_ipv6_is_named_as_the_identifier() {
        // The address still listed on an interface (a snapshot taken as IPv6 was switched
        // off); with it gone, the run says not-on-host instead.
        let s = Scenario::dual_stack()
            .ipv6_off()
            .local(&["2001:db8::10"])
            .ip_identifier("2001:db8::10");
        let found = Host.detect(&s.context());
        let [Found::Ipv6Disabled { .. }] = &found[..] else {
            panic!("{found:?}");
        };
        let f = Host.word(&s.context(), &found[0]);
        assert!(
            f.title.contains("but the IP identifier is 2001:db8::10"),
            "{}",
            f.title
        );
        // The CA's URL has the literal in brackets.
        assert!(
            f.ca_error
                .unwrap()
                .contains("Fetching http://[2001:db8::10]/.well-known/acme-challenge/<token>")
        );
        // A name keeps its record in the title.
        let named = Scenario::dual_stack().ipv6_off();
        let f = Host.word(&named.context(), &Host.detect(&named.context())[0]);
        assert!(
            f.title.contains("example.test publishes AAAA 2001:db8::10"),
            "{}",
            f.title
        );
    }

    #[test]
    fn a_kernel_without_ipv6_says_so_in_the_fix() {
        let s = Scenario::dual_stack().kernel_without_ipv6();
        let found = Host.detect(&s.context());
        let f = Host.word(&s.context(), &found[0]);
        assert!(f.fix[0].contains("ipv6.disable=1"));
    }

    #[test]
    fn a_stale_first_aaaa_blocks_and_a_stale_later_one_warns() {
        let s = Scenario::dual_stack().aaaa(&["2001:db8::99", "2001:db8::10"]);
        let found = Host.detect(&s.context());
        assert!(matches!(&found[..], [Found::AaaaNotLocal { stale, .. }] if stale.len() == 1));
        assert_eq!(
            Host.word(&s.context(), &found[0]).severity,
            Severity::Blocker
        );
        let s = Scenario::dual_stack().aaaa(&["2001:db8::10", "2001:db8::99"]);
        let found = Host.detect(&s.context());
        assert_eq!(
            Host.word(&s.context(), &found[0]).severity,
            Severity::Warning
        );
    }

    /// Behind a NAT the host is still the server: `behind-nat`, never `not-on-host`; the
    /// AAAA, which no NAT forwards here, is judged as usual.
    #[test]
    fn a_private_address_with_a_listener_is_behind_nat() {
        let s = Scenario::ipv4_only()
            .a(&["203.0.113.80"])
            .behind_nat("192.0.2.10");
        let cx = s.context();
        assert_eq!(cx.on_host(), Some(true));
        let found = Host.detect(&cx);
        assert!(
            matches!(&found[..], [Found::BehindNat { private, .. }] if private.to_string() == "192.0.2.10"),
            "{found:?}"
        );
        assert_eq!(
            cx.local_address(&"203.0.113.80".parse().unwrap()),
            "192.0.2.10".parse().ok()
        );
        // Without a listener it is just another machine.
        let s = Scenario::ipv4_only()
            .a(&["203.0.113.80"])
            .behind_nat("192.0.2.10")
            .listeners(Vec::new());
        assert!(matches!(
            &Host.detect(&s.context())[..],
            [Found::NotOnHost { .. }]
        ));
    }

    /// Issue 20 item 4: a host with one address and a listener looks like a server behind
    /// NAT; a vantage that saw its requests leave from that very address says nothing
    /// translates them: it is another machine than the one the name points at.
    #[test]
    fn a_vantage_seeing_the_hosts_own_address_rules_out_the_nat() {
        let s = Scenario::ipv4_only()
            .a(&["203.0.113.80"])
            .behind_nat("192.0.2.10");
        assert!(s.context().nat.is_some());
        let s = s.vantage("https://v.example", |o| o.source("192.0.2.10"));
        let cx = s.context();
        assert_eq!(cx.nat, None);
        assert!(matches!(&Host.detect(&cx)[..], [Found::NotOnHost { .. }]));
    }

    #[test]
    fn no_ipv6_default_route_is_found() {
        let s = Scenario::dual_stack().no_v6_route();
        assert!(matches!(
            &Host.detect(&s.context())[..],
            [Found::Ipv6NoRoute { .. }]
        ));
    }
}
