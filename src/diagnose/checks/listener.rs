//! Listening sockets on the server: does anything accept the CA's connection on the
//! validation port, for each family, at the published address.
//!
//! Codes: `no-listener`, `listener-wrong-address`.

use crate::diagnose::ca::Dial;
use crate::diagnose::check::CheckDef;
use crate::diagnose::context::socket;
use crate::diagnose::{Check, Code, Context, Finding, Severity, run_check};
use crate::facts::{Container, Family, Listener, Method};
use crate::firewall::nat;
use std::net::IpAddr;

pub const CHECK: CheckDef = CheckDef {
    name: "listener",
    codes: &[Code::NoListener, Code::ListenerWrongAddress],
    methods: &[Method::Http01, Method::TlsAlpn01],
    run: |cx, out| run_check(&Listeners, cx, out),
};

pub struct Listeners;

#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// Sockets of this family on the port, bound to other specific addresses.
    WrongAddress {
        family: Family,
        published: IpAddr,
        bound: Vec<Listener>,
    },
    /// A DNAT (or `docker-proxy`) hands the connection to a container, and nothing listens
    /// on the port inside it.
    ContainerSilent {
        family: Family,
        published: IpAddr,
        container: Box<Container>,
        /// The container's address and port the connection is sent to.
        to: String,
        /// How it gets there: the DNAT rule, or `docker-proxy`.
        via: String,
    },
    /// Nothing takes the connection; `on_port` is whatever does listen on the port.
    Missing {
        family: Family,
        published: IpAddr,
        on_port: Vec<Listener>,
    },
}

impl Check for Listeners {
    type Evidence = Found;

    fn detect(&self, cx: &Context) -> Vec<Found> {
        if cx.on_host() != Some(true) {
            return Vec::new();
        }
        let Some(listeners) = cx.host.listeners.known() else {
            return Vec::new();
        };
        let port = cx.dial_port();
        let bindv6only = cx.host.bindv6only.known().copied();
        let mut found = Vec::new();
        for family in [Family::Ipv4, Family::Ipv6] {
            if family == Family::Ipv6 && cx.ipv6_off.is_some() {
                continue;
            }
            // Behind a NAT, the forward lands on the private address: that is where a
            // listener must accept.
            let local: Vec<IpAddr> = cx
                .usable(family)
                .iter()
                .filter_map(|ip| cx.local_address(ip))
                .collect();
            let Some(published) = local.first().copied() else {
                continue;
            };
            let taken_by: Vec<&Listener> = listeners
                .iter()
                .filter(|l| local.iter().any(|ip| l.accepts(ip, port, bindv6only)))
                .collect();
            // A DNAT takes the connection before any socket of the host does: what answers
            // is the container's socket (Docker without its userland proxy, kube-proxy).
            // Looked for where it can matter: a container runtime runs, or no socket takes it.
            let hop = (!cx.host.containers.is_empty() || taken_by.is_empty())
                .then(|| nat::dnat(cx.host, cx.usable(family), port))
                .flatten();
            if let Some(hop) = hop {
                if let Some(c) = &hop.container
                    && nat::container_listens(c, hop.to_port) == Some(false)
                {
                    found.push(Found::ContainerSilent {
                        family,
                        published,
                        container: Box::new(c.clone()),
                        to: socket(&hop.to, hop.to_port),
                        via: format!("DNAT: {}", hop.rule),
                    });
                }
                continue;
            }
            if !taken_by.is_empty() {
                // docker-proxy accepts, then relays to the container: it must listen there.
                let proxy = taken_by
                    .iter()
                    .any(|l| l.process.as_ref().is_some_and(|p| p.name == "docker-proxy"));
                if proxy && let Some(c) = nat::publisher(cx.host, port) {
                    let inner = c
                        .ports
                        .iter()
                        .find(|p| p.protocol == "tcp" && p.host_port == Some(port))
                        .map_or(port, |p| p.container_port);
                    if nat::container_listens(&c, inner) == Some(false) {
                        let to = c
                            .addresses
                            .iter()
                            .map(|a| socket(&a.address, inner))
                            .next()
                            .unwrap_or_else(|| format!("port {inner}"));
                        found.push(Found::ContainerSilent {
                            family,
                            published,
                            container: Box::new(c),
                            to,
                            via: "docker-proxy, which relays the connection".into(),
                        });
                    }
                }
                continue;
            }
            let on_port: Vec<Listener> = listeners
                .iter()
                .filter(|l| l.port == port)
                .cloned()
                .collect();
            let bound: Vec<Listener> = on_port
                .iter()
                .filter(|l| l.family == family && !l.address.is_unspecified())
                .cloned()
                .collect();
            found.push(if bound.is_empty() {
                Found::Missing {
                    family,
                    published,
                    on_port,
                }
            } else {
                Found::WrongAddress {
                    family,
                    published,
                    bound,
                }
            });
        }
        found
    }

    fn word(&self, cx: &Context, found: &Found) -> Finding {
        let port = cx.dial_port();
        match found {
            Found::WrongAddress {
                family,
                published,
                bound,
            } => Finding::new(
                Code::ListenerWrongAddress,
                Severity::Blocker,
                format!(
                    "the web server listens on {} only, but {} {} is {published}",
                    bound
                        .iter()
                        .map(|l| socket(&l.address, l.port))
                        .collect::<Vec<_>>()
                        .join(", "),
                    cx.domain,
                    family.record_type()
                ),
            )
            .family(*family)
            .port(port)
            .detail("Connections to the published address find no socket and are refused.")
            .evidence(format!("{} {} {published}", cx.domain, family.record_type()))
            .evidence_lines(bound.iter().map(describe))
            .fix(format!(
                "listen on the published address or on all addresses (nginx: `listen {}`; Apache: `Listen 80`), then reload",
                if *family == Family::Ipv6 { "[::]:80;" } else { "80;" }
            ))
            .fix(format!(
                "or point the {} record at the address the server listens on",
                family.record_type()
            ))
            .ca(cx.ca_dial_error(published, Dial::Refused)),
            Found::Missing {
                family,
                published,
                on_port,
            } => missing(cx, *family, published, on_port),
            Found::ContainerSilent {
                family,
                published,
                container,
                to,
                via,
            } => Finding::new(
                Code::NoListener,
                Severity::Blocker,
                format!(
                    "port {port} is published to {}, and nothing listens on {to} inside it",
                    nat::describe(container)
                ),
            )
            .family(*family)
            .port(port)
            .detail(format!(
                "{} reaches the container at {to} ({via}), but no socket listens on that port in the container's network namespace, so the connection is refused or reset.",
                socket(published, port)
            ))
            .evidence(via.clone())
            .evidence(format!(
                "listening in the container: {}",
                container
                    .listening
                    .known()
                    .filter(|p| !p.is_empty())
                    .map_or("nothing".to_string(), |p| p
                        .iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(", "))
            ))
            .fix(format!(
                "make the service in {} listen on {to} (0.0.0.0, not 127.0.0.1), or publish the port it does listen on: -p {port}:<its port>",
                container.name
            ))
            .fix(format!("docker logs {}   # did it start?", container.name))
            .ca(cx.ca_dial_error(published, Dial::Refused)),
        }
    }
}

fn missing(cx: &Context, family: Family, published: &IpAddr, on_port: &[Listener]) -> Finding {
    let port = cx.dial_port();
    // A standalone ACME client listens on port 80 only while it runs: an empty port between
    // runs is expected. What would stop it during its run (the firewall,
    // another service on the port) has its own findings.
    if let Some(cert) = cx.standalone()
        && on_port.is_empty()
        && cert.standalone_port() == Some(port)
    {
        return Finding::new(
            Code::NoListener,
            Severity::Info,
            format!(
                "nothing listens on port {port} now: {} answers the challenge itself (standalone) and listens only while it runs",
                cert.client
            ),
        )
        .family(family)
        .port(port)
        .detail(format!(
            "{} {} {published} is configured here and no socket takes {} connections on port {port} between renewals. {}'s standalone server binds the port while it validates, so the port must be free and reachable then.",
            cx.domain,
            family.record_type(),
            family.label(),
            cert.client
        ))
        .evidence(format!(
            "{} {}: `{}` ({})",
            cert.client,
            cert.place(),
            cert.key,
            cert.challenge.describe()
        ))
        .evidence(format!(
            "no listening TCP socket on port {port} (ss -ltn 'sport = :{port}')"
        ));
    }
    let summary = if on_port.is_empty() {
        format!("nothing listens on port {port}")
    } else {
        on_port.iter().map(describe).collect::<Vec<_>>().join("; ")
    };
    let mut f = Finding::new(
        Code::NoListener,
        Severity::Blocker,
        format!(
            "nothing on this host accepts {} connections on port {port} ({summary})",
            family.label()
        ),
    )
    .family(family)
    .port(port)
    .detail(format!(
        "{} {} {published} is configured here, but no listening socket takes connections for it on port {port}.",
        cx.domain,
        family.record_type()
    ))
    .evidence(format!("{} {} {published}", cx.domain, family.record_type()))
    .evidence_lines(on_port.iter().map(describe));
    if on_port.is_empty() {
        f = f.evidence(format!(
            "no listening TCP socket on port {port} (ss -ltn 'sport = :{port}')"
        ));
    }
    // A standalone client on another port: the CA still connects to port 80.
    if let Some(cert) = cx.standalone()
        && let Some(other) = cert.standalone_port().filter(|p| *p != port)
    {
        f = f
            .evidence(format!(
                "{} {}: `{}` makes its standalone server listen on port {other}, but the CA connects to port {port}",
                cert.client,
                cert.place(),
                cert.key
            ))
            .fix(format!(
                "forward port {port} to {other} while {} runs, or remove `{}` in {} so it listens on port {port}",
                cert.client,
                cert.key,
                cert.place()
            ));
    }
    let docker_v4_only = family == Family::Ipv6
        && on_port
            .iter()
            .any(|l| l.process.as_ref().is_some_and(|p| p.name == "docker-proxy"));
    let port = cx.dial_port();
    let fix = if on_port.is_empty() {
        format!("start {} that should answer on port {port}", cx.responder())
    } else if docker_v4_only {
        format!(
            "Docker publishes the port on IPv4 only: enable IPv6 in /etc/docker/daemon.json (\"ipv6\": true, \"ip6tables\": true, a fixed-cidr-v6), restart dockerd, and publish with -p {port}:{port} (or -p [::]:{port}:{port})"
        )
    } else {
        match family {
            Family::Ipv6 => format!(
                "nginx: add `listen [::]:{port};` next to `listen {port};` in the server block (Apache: `Listen [::]:{port}` or plain `Listen {port}`), then reload"
            ),
            Family::Ipv4 => format!(
                "nginx: add `listen {port};` (or `listen [::]:{port} ipv6only=off;`) in the server block (Apache: `Listen {port}`), then reload"
            ),
        }
    };
    f.fix(fix).ca(cx.ca_dial_error(published, Dial::Refused))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::{Scenario, listener};

    #[test]
    fn a_dual_stack_listener_finds_nothing() {
        assert!(
            Listeners
                .detect(&Scenario::dual_stack().context())
                .is_empty()
        );
    }

    #[test]
    fn nothing_listening_is_found_for_each_family() {
        let s = Scenario::dual_stack().listeners(vec![]);
        let found = Listeners.detect(&s.context());
        assert_eq!(found.len(), 2);
        let f = Listeners.word(&s.context(), &found[1]);
        assert_eq!((f.code, f.family), (Code::NoListener, Some(Family::Ipv6)));
        assert!(f.fix[0].starts_with("start the web server"));
    }

    #[test]
    fn an_ipv4_only_listener_misses_ipv6() {
        let s = Scenario::dual_stack().listeners(vec![listener("0.0.0.0", None)]);
        let found = Listeners.detect(&s.context());
        assert!(matches!(
            &found[..],
            [Found::Missing {
                family: Family::Ipv6,
                ..
            }]
        ));
    }

    #[test]
    fn a_dual_stack_socket_serves_ipv4_unless_v6only() {
        let s = Scenario::dual_stack().listeners(vec![listener("::", Some(false))]);
        assert!(Listeners.detect(&s.context()).is_empty());
        let s = Scenario::dual_stack().listeners(vec![listener("::", Some(true))]);
        assert!(matches!(
            &Listeners.detect(&s.context())[..],
            [Found::Missing {
                family: Family::Ipv4,
                ..
            }]
        ));
    }

    fn with_standalone(s: Scenario, port: u16) -> Scenario {
        s.certificate(crate::facts::Challenge::Standalone { port })
    }

    #[test]
    fn nothing_listening_is_only_info_when_a_standalone_client_renews_the_name() {
        let s = with_standalone(Scenario::dual_stack().listeners(vec![]), 80);
        let cx = s.context();
        let found = Listeners.detect(&cx);
        assert_eq!(found.len(), 2);
        for e in &found {
            let f = Listeners.word(&cx, e);
            assert_eq!((f.code, f.severity), (Code::NoListener, Severity::Info));
            assert!(
                f.title.contains("certbot answers the challenge itself"),
                "{}",
                f.title
            );
            assert!(
                f.evidence[0].contains("renewal/example.test.conf:12"),
                "{:?}",
                f.evidence
            );
        }
    }

    #[test]
    fn a_standalone_client_on_another_port_still_leaves_port_80_dead() {
        let s = with_standalone(Scenario::dual_stack().listeners(vec![]), 8080);
        let cx = s.context();
        let f = Listeners.word(&cx, &Listeners.detect(&cx)[0]);
        assert_eq!(f.severity, Severity::Blocker);
        assert!(
            f.evidence.iter().any(|e| e.contains("port 8080")),
            "{:?}",
            f.evidence
        );
    }

    #[test]
    fn a_socket_on_another_address_is_the_wrong_address() {
        let s = Scenario::dual_stack().listeners(vec![
            listener("192.0.2.99", None),
            listener("::", Some(true)),
        ]);
        let found = Listeners.detect(&s.context());
        assert!(matches!(
            &found[..],
            [Found::WrongAddress {
                family: Family::Ipv4,
                ..
            }]
        ));
        let f = Listeners.word(&s.context(), &found[0]);
        assert_eq!(f.code, Code::ListenerWrongAddress);
        assert!(f.ca_error.unwrap().ends_with("Connection refused"));
    }

    /// Under TLS-ALPN-01 the fix names who must hold 443, from the certificate's client.
    #[test]
    fn the_tls_alpn_responder_is_named_from_the_certificate() {
        use crate::facts::{AcmeClient, Challenge};
        let s = Scenario::dual_stack()
            .with_tls_alpn01_method()
            .certificate(Challenge::TlsAlpn {
                port: 443,
                http_fallback: true,
            })
            .client(AcmeClient::Caddy)
            .listeners(vec![]);
        let cx = s.context();
        let d = crate::diagnose::diagnose(cx.run, cx.target);
        let f = d
            .findings
            .iter()
            .find(|f| f.code == Code::NoListener && f.port == Some(443))
            .unwrap_or_else(|| panic!("{:#?}", d.findings));
        assert!(
            f.fix
                .iter()
                .any(|x| x == "start Caddy (its HTTPS server answers acme-tls/1) that should answer on port 443"),
            "{:?}",
            f.fix
        );
    }
}
