//! Following a DNAT: a published container port (Docker's `nat` `DOCKER` chain, Podman's
//! netavark chains, kube-proxy's `KUBE-SERVICES` → `KUBE-SEP-…`) sends the CA's connection
//! from the way in to another address. The connection then leaves by the bridge that holds
//! that address and meets the forward path (`DOCKER-USER`, `DOCKER-FORWARD`, `DOCKER`,
//! `DOCKER-ISOLATION-STAGE-*`), not the host's INPUT chain, and is answered by whatever
//! listens in the container, not by a socket of the host.

use super::model::{Packet, Redirect, RuleRef, Ruleset, Verdict};
use crate::diagnose::Context;
use crate::facts::{Container, ContainerFacts, Family};
use std::net::IpAddr;

/// Where one DNAT sends the CA's connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Hop {
    /// The DNAT rule.
    pub rule: RuleRef,
    pub redirect: Redirect,
    /// The new destination.
    pub to: IpAddr,
    /// The new destination port (the original one when the rule keeps it).
    pub to_port: u16,
    /// The host interface the destination lies behind (`docker0`, `br-…`), when known.
    pub bridge: Option<String>,
    /// The container that holds `to`, when a runtime says so.
    pub container: Option<Container>,
}

/// What the forward path does with a followed DNAT.
#[derive(Debug, Clone, PartialEq)]
pub enum Forward {
    Accept,
    Blocked(Verdict),
    Undecidable { rule: String, why: String },
}

/// The runtime facts of the host, every runtime together.
fn runtimes<'a>(cx: &Context<'a>) -> &'a [ContainerFacts] {
    &cx.host.containers
}

/// The running container that holds `ip`, from any runtime.
pub fn container_at(cx: &Context, ip: &IpAddr) -> Option<Container> {
    runtimes(cx)
        .iter()
        .filter_map(|r| r.containers.known())
        .flatten()
        .find(|c| c.addresses.iter().any(|a| a.address == *ip))
        .cloned()
}

/// The bridge interface a destination lies behind: the runtime network whose subnet holds it.
pub fn bridge_of(cx: &Context, ip: &IpAddr) -> Option<String> {
    runtimes(cx)
        .iter()
        .flat_map(|r| &r.networks)
        .filter(|n| n.subnets.iter().any(|s| s.contains(ip)))
        .find_map(|n| n.bridge.clone())
}

/// The hop a redirected verdict names, when it leaves this host for another address.
pub fn hop(cx: &Context, rule: &RuleRef, redirect: &Redirect, port: u16) -> Option<Hop> {
    let to = redirect.to?;
    // A DNAT to this host itself goes on to INPUT: not a hop this module follows.
    if to.is_loopback() || cx.is_local(&to) {
        return None;
    }
    Some(Hop {
        rule: rule.clone(),
        redirect: redirect.clone(),
        to,
        to_port: redirect.port.unwrap_or(port),
        bridge: bridge_of(cx, &to),
        container: container_at(cx, &to),
    })
}

/// The forward path for `hop`, the packet as the DNAT left it.
pub fn forward(rs: &Ruleset, packet: &Packet, hop: &Hop) -> Forward {
    if !rs.has_forward_path(packet.family) {
        return Forward::Accept;
    }
    let Some(oif) = &hop.bridge else {
        return Forward::Undecidable {
            rule: hop.rule.to_string(),
            why: format!(
                "the connection is forwarded to {}, and the interface it leaves by is unknown (no container runtime answered)",
                hop.to
            ),
        };
    };
    let translated = Packet {
        daddr: hop.to,
        dport: hop.to_port,
        ..packet.clone()
    };
    match rs.evaluate_forward(&translated, oif) {
        Verdict::Accept | Verdict::Redirected { .. } => Forward::Accept,
        Verdict::Undecidable { rule, why } => Forward::Undecidable { rule, why },
        blocked => Forward::Blocked(blocked),
    }
}

/// Where the CA's connection to `port` of `family` is sent by a DNAT, from the firewall facts
/// alone; `None` when nothing redirects it (or the ruleset cannot be read).
pub fn dnat(cx: &Context, family: Family, port: u16) -> Option<Hop> {
    let fw = cx.host.firewall.as_ref()?;
    let (rs, _) = super::ruleset(fw);
    let daddr = cx
        .usable(family)
        .iter()
        .find(|ip| cx.is_local(ip))
        .copied()?;
    let packet = Packet {
        family,
        saddr: None,
        daddr,
        dport: port,
        iif: super::inbound_interface(cx, family, &daddr),
        return_iif: super::return_interface(cx, family),
    };
    match rs.evaluate(&packet) {
        Verdict::Redirected { rule, to } => hop(cx, &rule, &to, port),
        _ => None,
    }
}

/// Whether the container answers on `port`: `Some(false)` only when its listening sockets
/// were read and none is on the port.
pub fn container_listens(c: &Container, port: u16) -> Option<bool> {
    c.listening.known().map(|ports| ports.contains(&port))
}

/// `name (image, id)` as `docker ps` shows them.
pub fn describe(c: &Container) -> String {
    format!("container {} (image {}, id {})", c.name, c.image, c.id)
}

/// The container that publishes host port `port`, from the runtime's port table.
pub fn publisher(cx: &Context, port: u16) -> Option<Container> {
    runtimes(cx)
        .iter()
        .filter_map(|r| r.containers.known())
        .flatten()
        .find(|c| c.publishes(port))
        .cloned()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::diagnose::testkit::{Scenario, listener};
    use crate::facts::{
        ContainerAddress, ContainerNetwork, ContainerPort, FirewallFacts, IptablesBackend,
        IptablesDump, Listener, Probed, Process, Unknown,
    };

    /// `iptables-save` (iptables-nft 1.8.9) in the lab's host namespace after Docker 20.10.24
    /// (Debian's docker.io) ran `docker run -d -p 80:80` with `--bip 192.0.2.129/25`.
    pub(crate) const DOCKER_20_10: &str = r#"*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER -d 192.0.2.130/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 192.0.2.128/25 ! -o docker0 -j MASQUERADE
-A POSTROUTING -s 192.0.2.130/32 -d 192.0.2.130/32 -p tcp -m tcp --dport 80 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 80 -j DNAT --to-destination 192.0.2.130:80
COMMIT
"#;

    pub(crate) fn docker_firewall(extra_docker_user: &str) -> FirewallFacts {
        let dump = DOCKER_20_10.replace(
            "-A DOCKER-USER -j RETURN\n",
            &format!("{extra_docker_user}-A DOCKER-USER -j RETURN\n"),
        );
        FirewallFacts {
            nft: Probed::Unknown(Unknown::NotInstalled {
                program: "nft".into(),
            }),
            nft_netlink: None,
            iptables: vec![
                IptablesDump {
                    family: Family::Ipv4,
                    backend: IptablesBackend::Nft,
                    dump: Probed::Known(dump),
                },
                IptablesDump {
                    family: Family::Ipv6,
                    backend: IptablesBackend::Nft,
                    dump: Probed::Known(String::new()),
                },
            ],
        }
    }

    /// Docker's runtime facts: `web` (image bb:1) at 192.0.2.130 on docker0, listening on
    /// `listening`, publishing `published` (host port → 80).
    pub(crate) fn docker_runtime(listening: Vec<u16>, published: Option<u16>) -> ContainerFacts {
        ContainerFacts {
            runtime: "docker".into(),
            socket: "/var/run/docker.sock".into(),
            containers: Probed::Known(vec![Container {
                id: "e0983d0d6d8f".into(),
                name: "web".into(),
                image: "bb:1".into(),
                pid: Some(10029),
                addresses: vec![ContainerAddress {
                    network: "bridge".into(),
                    address: "192.0.2.130".parse().unwrap(),
                }],
                ports: vec![ContainerPort {
                    container_port: 80,
                    protocol: "tcp".into(),
                    host_ip: published.map(|_| "0.0.0.0".parse().unwrap()),
                    host_port: published,
                }],
                listening: Probed::Known(listening),
                host_network: false,
            }]),
            networks: vec![ContainerNetwork {
                name: "bridge".into(),
                bridge: Some("docker0".into()),
                subnets: vec!["192.0.2.128/25".parse().unwrap()],
                enable_ipv6: false,
            }],
            daemon: None,
        }
    }

    pub(crate) fn docker_proxy(address: &str) -> Listener {
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
        let hop = dnat(&cx, Family::Ipv4, 80).expect("a DNAT for port 80");
        assert_eq!(hop.to, "192.0.2.130".parse::<IpAddr>().unwrap());
        assert_eq!(hop.to_port, 80);
        assert_eq!(hop.bridge.as_deref(), Some("docker0"));
        assert_eq!(hop.container.as_ref().map(|c| c.name.as_str()), Some("web"));
        assert!(hop.rule.text.contains("--to-destination 192.0.2.130:80"));
        // Port 443 is not published: no hop.
        assert!(dnat(&cx, Family::Ipv4, 443).is_none());
        // IPv6 has no Docker rules: no hop.
        assert!(dnat(&cx, Family::Ipv6, 80).is_none());
    }

    use crate::diagnose::checks::containers::{self, Containers};
    use crate::diagnose::checks::listener::{self, Listeners};
    use crate::diagnose::firewall::{Firewall, Found};
    use crate::diagnose::{Check, Code};

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

    use crate::diagnose::firewall::model::Redirect as R;
    use crate::diagnose::firewall::{iptables, nft};

    fn followed(rs: &Ruleset, dport: u16) -> Option<R> {
        let p = Packet {
            family: Family::Ipv4,
            saddr: None,
            daddr: "192.0.2.10".parse().unwrap(),
            dport,
            iif: Some("eth0".into()),
            return_iif: None,
        };
        match rs.evaluate(&p) {
            Verdict::Redirected { to, .. } => Some(to),
            _ => None,
        }
    }

    /// kube-proxy (iptables mode), a NodePort on 80 with one endpoint; the lines as kube-proxy
    /// writes them (https://github.com/xczhw/CloudLabDeployer, k8s_learning/iptables). With
    /// several endpoints kube-proxy picks one with `-m statistic`, which stays undecidable.
    #[test]
    fn kube_proxy_nodeport_is_followed_to_the_pod() {
        let dump = "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n:KUBE-SVC-R2VK7O5AFVLRAXSH - [0:0]\n:KUBE-SEP-G3MLSGWVLUPEIMXS - [0:0]\n\
-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n\
-A KUBE-NODEPORTS -p tcp -m comment --comment \"default/web:http\" -m tcp --dport 80 -j KUBE-SVC-R2VK7O5AFVLRAXSH\n\
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n\
-A KUBE-SVC-R2VK7O5AFVLRAXSH -m comment --comment \"default/web:http -> 10.244.0.5:80\" -j KUBE-SEP-G3MLSGWVLUPEIMXS\n\
-A KUBE-SEP-G3MLSGWVLUPEIMXS -s 10.244.0.5/32 -m comment --comment \"default/web:http\" -j KUBE-MARK-MASQ\n\
-A KUBE-SEP-G3MLSGWVLUPEIMXS -p tcp -m comment --comment \"default/web:http\" -m tcp -j DNAT --to-destination 10.244.0.5:80\nCOMMIT\n";
        let rs = iptables::ruleset(dump, Family::Ipv4, IptablesBackend::Nft);
        let to = followed(&rs, 80).expect("the NodePort's DNAT");
        assert_eq!(to.to, Some("10.244.0.5".parse().unwrap()));
        assert_eq!(to.port, Some(80));
        assert!(followed(&rs, 443).is_none());
    }

    /// Podman's netavark, iptables driver: the chains it creates for `podman run -p 80:80`
    /// (written after netavark's `src/firewall/varktables`); a source inside the container
    /// network is marked first, anyone else goes straight to the DNAT.
    #[test]
    fn netavark_hostport_dnat_is_followed() {
        let dump = "*nat\n:PREROUTING ACCEPT [0:0]\n:NETAVARK-HOSTPORT-DNAT - [0:0]\n:NETAVARK-HOSTPORT-SETMARK - [0:0]\n:NETAVARK-DN-1D8721804F16F - [0:0]\n\
-A PREROUTING -m addrtype --dst-type LOCAL -j NETAVARK-HOSTPORT-DNAT\n\
-A NETAVARK-HOSTPORT-SETMARK -j MARK --set-xmark 0x2000/0x2000\n\
-A NETAVARK-HOSTPORT-DNAT -p tcp -m tcp --dport 80 -m comment --comment \"dnat name: podman id: 3f2ab0c1\" -j NETAVARK-DN-1D8721804F16F\n\
-A NETAVARK-DN-1D8721804F16F -s 10.88.0.0/16 -p tcp -m tcp --dport 80 -j NETAVARK-HOSTPORT-SETMARK\n\
-A NETAVARK-DN-1D8721804F16F -s 127.0.0.1/32 -p tcp -m tcp --dport 80 -j NETAVARK-HOSTPORT-SETMARK\n\
-A NETAVARK-DN-1D8721804F16F -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.88.0.2:80\nCOMMIT\n";
        let rs = iptables::ruleset(dump, Family::Ipv4, IptablesBackend::Nft);
        let to = followed(&rs, 80).expect("netavark's DNAT");
        assert_eq!(to.to, Some("10.88.0.2".parse().unwrap()));
    }

    /// A native nftables DNAT (netavark's nftables driver, kube-proxy's nftables mode):
    /// `nft -j` gives the destination as fields, in an inet table with its family.
    #[test]
    fn an_nft_dnat_statement_is_followed() {
        let json = serde_json::json!({"nftables": [
            {"table": {"family": "inet", "name": "netavark", "handle": 1}},
            {"chain": {"family": "inet", "table": "netavark", "name": "PREROUTING", "handle": 1,
                       "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}},
            {"rule": {"family": "inet", "table": "netavark", "chain": "PREROUTING", "handle": 5,
                      "expr": [
                        {"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["daddr"]}}, "right": "local"}},
                        {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}},
                        {"dnat": {"family": "ip", "addr": "10.88.0.2", "port": 80}}]}}
        ]});
        let (rs, _) = nft::ruleset(&json);
        let to = followed(&rs, 80).expect("the nft DNAT");
        assert_eq!(
            (to.to, to.port),
            (Some("10.88.0.2".parse().unwrap()), Some(80))
        );
        assert_eq!(to.text, "dnat to 10.88.0.2:80");
        assert!(followed(&rs, 22).is_none());
    }

    /// Docker 28's filter table (`DOCKER-FORWARD`, `DOCKER-BRIDGE`, `DOCKER-CT`, and a DROP
    /// for unpublished ports in `DOCKER`: moby/moby#48724), for the same container.
    const DOCKER_28_FILTER: &str = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:DOCKER - [0:0]\n:DOCKER-BRIDGE - [0:0]\n:DOCKER-CT - [0:0]\n:DOCKER-FORWARD - [0:0]\n:DOCKER-ISOLATION-STAGE-1 - [0:0]\n:DOCKER-ISOLATION-STAGE-2 - [0:0]\n:DOCKER-USER - [0:0]\n\
-A FORWARD -j DOCKER-USER\n\
-A FORWARD -j DOCKER-FORWARD\n\
-A DOCKER -d 192.0.2.130/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT\n\
-A DOCKER ! -i docker0 -o docker0 -j DROP\n\
-A DOCKER-BRIDGE -o docker0 -j DOCKER\n\
-A DOCKER-CT -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n\
-A DOCKER-FORWARD -j DOCKER-CT\n\
-A DOCKER-FORWARD -j DOCKER-ISOLATION-STAGE-1\n\
-A DOCKER-FORWARD -j DOCKER-BRIDGE\n\
-A DOCKER-FORWARD -i docker0 -j ACCEPT\n\
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2\n\
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP\n\
-A DOCKER-USER -j RETURN\nCOMMIT\n";

    #[test]
    fn docker_28_forward_chains_accept_the_published_port_and_drop_the_rest() {
        let rs = iptables::ruleset(DOCKER_28_FILTER, Family::Ipv4, IptablesBackend::Nft);
        let p = |dport| Packet {
            family: Family::Ipv4,
            saddr: None,
            daddr: "192.0.2.130".parse().unwrap(),
            dport,
            iif: Some("eth0".into()),
            return_iif: None,
        };
        assert!(rs.has_forward_path(Family::Ipv4));
        assert_eq!(rs.evaluate_forward(&p(80), "docker0"), Verdict::Accept);
        match rs.evaluate_forward(&p(22), "docker0") {
            Verdict::Drop { rule } => {
                assert_eq!(rule.text, "-A DOCKER ! -i docker0 -o docker0 -j DROP");
            }
            other => panic!("{other:?}"),
        }
        // The way in to the host itself never meets the forward chains.
        assert_eq!(
            rs.evaluate(&Packet {
                daddr: "192.0.2.10".parse().unwrap(),
                ..p(22)
            }),
            Verdict::Accept
        );
    }

    /// firewalld's forward chain (nftables backend) accepts what a DNAT forwards
    /// (`ct status dnat accept`), before its zone policies would reject it.
    #[test]
    fn firewalld_accepts_dnat_forwarded_connections() {
        let json = serde_json::json!({"nftables": [
            {"table": {"family": "inet", "name": "firewalld", "handle": 1}},
            {"chain": {"family": "inet", "table": "firewalld", "name": "filter_FORWARD", "handle": 2,
                       "type": "filter", "hook": "forward", "prio": 10, "policy": "accept"}},
            {"rule": {"family": "inet", "table": "firewalld", "chain": "filter_FORWARD", "handle": 3,
                      "expr": [{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}}, {"accept": null}]}},
            {"rule": {"family": "inet", "table": "firewalld", "chain": "filter_FORWARD", "handle": 4,
                      "expr": [{"match": {"op": "in", "left": {"ct": {"key": "status"}}, "right": "dnat"}}, {"accept": null}]}},
            {"rule": {"family": "inet", "table": "firewalld", "chain": "filter_FORWARD", "handle": 5,
                      "expr": [{"reject": {"type": "icmpx", "expr": "admin-prohibited"}}]}}
        ]});
        let (rs, _) = nft::ruleset(&json);
        let p = Packet {
            family: Family::Ipv4,
            saddr: None,
            daddr: "192.0.2.130".parse().unwrap(),
            dport: 80,
            iif: Some("eth0".into()),
            return_iif: None,
        };
        assert_eq!(rs.evaluate_forward(&p, "docker0"), Verdict::Accept);
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
