//! Containers: when nothing on the host takes the CA's connection, is the web server in a
//! container that the runtime does not publish on that port, or on that family?
//!
//! Codes: `container-port-not-published`, `container-no-ipv6`.

use crate::diagnose::ca::Dial;
use crate::diagnose::check::CheckDef;
use crate::diagnose::context::socket;
use crate::diagnose::{Check, Code, Context, Finding, Severity, run_check};
use crate::facts::{Container, DaemonSettings, Family, Method};
use crate::firewall::nat;
use std::net::IpAddr;

pub const CHECK: CheckDef = CheckDef {
    name: "containers",
    codes: &[Code::ContainerPortNotPublished, Code::ContainerNoIpv6],
    methods: &[Method::Http01, Method::TlsAlpn01],
    run: |cx, out| run_check(&Containers, cx, out),
};

pub struct Containers;

#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// IPv4 reaches `container` (by `via`), IPv6 reaches nothing.
    NoIpv6 {
        published: IpAddr,
        container: Box<Container>,
        via: String,
        daemon: Option<DaemonSettings>,
    },
    /// Nothing takes `family`; `container` listens on the port (or exposes it) unpublished.
    NotPublished {
        family: Family,
        published: IpAddr,
        container: Box<Container>,
        listens: bool,
    },
}

/// Whether anything on the host takes `port` for one of `family`'s local addresses: a
/// socket, or a DNAT.
fn host_takes(cx: &Context, family: Family, port: u16) -> bool {
    let Some(listeners) = cx.host.listeners.known() else {
        return true;
    };
    let bindv6only = cx.host.bindv6only.known().copied();
    let socket = cx
        .usable(family)
        .iter()
        .filter(|ip| cx.is_local(ip))
        .any(|ip| listeners.iter().any(|l| l.accepts(ip, port, bindv6only)));
    socket || nat::dnat(cx.host, cx.usable(family), port).is_some()
}

/// The container IPv4 reaches on `port`, and how: a DNAT, or a docker-proxy's published port.
fn ipv4_reaches(cx: &Context, port: u16) -> Option<(Container, String)> {
    if let Some(hop) = nat::dnat(cx.host, cx.usable(Family::Ipv4), port) {
        return hop
            .container
            .map(|c| (c, format!("IPv4: {} ({})", hop.redirect.text, hop.rule)));
    }
    nat::publisher(cx.host, port).map(|c| (c, format!("IPv4: published port {port}")))
}

impl Check for Containers {
    type Evidence = Found;

    fn detect(&self, cx: &Context) -> Vec<Found> {
        if cx.on_host() != Some(true) || cx.host.containers.is_empty() {
            return Vec::new();
        }
        let port = cx.dial_port();
        let mut found = Vec::new();
        for family in [Family::Ipv4, Family::Ipv6] {
            if family == Family::Ipv6 && cx.ipv6_off.is_some() {
                continue;
            }
            let Some(published) = cx.usable(family).iter().find(|ip| cx.is_local(ip)).copied()
            else {
                continue;
            };
            if host_takes(cx, family, port) {
                continue;
            }
            if family == Family::Ipv6
                && let Some((container, via)) = ipv4_reaches(cx, port)
            {
                found.push(Found::NoIpv6 {
                    published,
                    container: Box::new(container),
                    via,
                    daemon: cx.host.containers.iter().find_map(|r| r.daemon.clone()),
                });
                continue;
            }
            let unpublished = cx
                .host
                .containers
                .iter()
                .filter_map(|r| r.containers.known())
                .flatten()
                .filter(|c| !c.host_network && !c.publishes(port))
                .find_map(|c| {
                    let listens = nat::container_listens(c, port) == Some(true);
                    let exposes = c
                        .ports
                        .iter()
                        .any(|p| p.protocol == "tcp" && p.container_port == port);
                    (listens || exposes).then(|| (c.clone(), listens))
                });
            if let Some((container, listens)) = unpublished {
                found.push(Found::NotPublished {
                    family,
                    published,
                    container: Box::new(container),
                    listens,
                });
            }
        }
        found
    }

    fn word(&self, cx: &Context, found: &Found) -> Finding {
        let port = cx.dial_port();
        match found {
            Found::NoIpv6 {
                published,
                container,
                via,
                daemon,
            } => {
                let file = daemon
                    .as_ref()
                    .map_or("/etc/docker/daemon.json", |d| d.file.as_str());
                let mut f = Finding::new(
                    Code::ContainerNoIpv6,
                    Severity::Blocker,
                    format!(
                        "{} is published on IPv4 only: IPv6 connections to port {port} reach nothing",
                        nat::describe(container)
                    ),
                )
                .family(Family::Ipv6)
                .port(port)
                .detail(format!(
                    "{} {} {published} points here, and the CA dials IPv6 first; nothing takes {}: no socket and no IPv6 DNAT. Docker publishes the port for IPv4 only.",
                    cx.domain,
                    Family::Ipv6.record_type(),
                    socket(published, port)
                ))
                .evidence(via.clone());
                if let Some(d) = daemon {
                    let shown = |v: Option<bool>| v.map_or("unset".to_string(), |b| b.to_string());
                    f = f.evidence(format!(
                        "{}: ipv6 {}, ip6tables {}, userland-proxy {}",
                        d.file,
                        shown(d.ipv6),
                        shown(d.ip6tables),
                        shown(d.userland_proxy)
                    ));
                }
                f = f
                    .fix(format!(
                        "{file}: \"ipv6\": true, \"ip6tables\": true and a \"fixed-cidr-v6\", then restart dockerd and recreate the container"
                    ))
                    .fix("docker compose: `enable_ipv6: true` (with an IPv6 subnet) on the network the service uses");
                if daemon.as_ref().and_then(|d| d.userland_proxy) == Some(false) {
                    f = f.fix(format!(
                        "or drop \"userland-proxy\": false from {file}: docker-proxy then relays IPv6 to the container's IPv4"
                    ));
                }
                f.fix(format!(
                    "or remove the AAAA record of {} if this host is not meant to serve IPv6",
                    cx.domain
                ))
                .ca(cx.ca_dial_error(published, Dial::Refused))
            }
            Found::NotPublished {
                family,
                published,
                container,
                listens,
            } => Finding::new(
                Code::ContainerPortNotPublished,
                Severity::Blocker,
                format!(
                    "{} {} port {port}, but does not publish it: nothing on the host takes {} connections",
                    nat::describe(container),
                    if *listens { "listens on" } else { "exposes" },
                    family.label()
                ),
            )
            .family(*family)
            .port(port)
            .detail(format!(
                "No socket of the host and no DNAT takes {}; the web server is in a container whose port {port} is not published, so the host refuses the CA's connection.",
                socket(published, port)
            ))
            .evidence(format!(
                "{}: ports {}",
                container.name,
                if container.ports.is_empty() {
                    "none published".to_string()
                } else {
                    container
                        .ports
                        .iter()
                        .map(|p| match p.host_port {
                            Some(h) => format!("{h}->{}/{}", p.container_port, p.protocol),
                            None => format!("{}/{}", p.container_port, p.protocol),
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ))
            .fix(format!(
                "recreate the container with the port published: docker run -p {port}:{port} … {} (compose: ports: [\"{port}:{port}\"])",
                container.image
            ))
            .fix("or run it with --network host, where its sockets are the host's")
            .ca(cx.ca_dial_error(published, Dial::Refused)),
        }
    }
}
