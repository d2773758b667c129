//! Following a DNAT: a published container port (Docker's `nat` `DOCKER` chain, Podman's
//! netavark chains, kube-proxy's `KUBE-SERVICES` → `KUBE-SEP-…`) sends the CA's connection
//! from the way in to another address. The connection then leaves by the bridge that holds
//! that address and meets the forward path (`DOCKER-USER`, `DOCKER-FORWARD`, `DOCKER`,
//! `DOCKER-ISOLATION-STAGE-*`), not the host's INPUT chain, and is answered by whatever
//! listens in the container, not by a socket of the host.

use super::model::{Packet, Redirect, RuleRef, Ruleset, Verdict};
use crate::facts::{Container, HostFacts};
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

/// The running container that holds `ip`, from any runtime.
pub fn container_at(host: &HostFacts, ip: &IpAddr) -> Option<Container> {
    host.containers
        .iter()
        .filter_map(|r| r.containers.known())
        .flatten()
        .find(|c| c.addresses.iter().any(|a| a.address == *ip))
        .cloned()
}

/// The bridge interface a destination lies behind: the runtime network whose subnet holds it.
pub fn bridge_of(host: &HostFacts, ip: &IpAddr) -> Option<String> {
    host.containers
        .iter()
        .flat_map(|r| &r.networks)
        .filter(|n| n.subnets.iter().any(|s| s.contains(ip)))
        .find_map(|n| n.bridge.clone())
}

/// The hop a redirected verdict names, when it leaves this host for another address.
pub fn hop(host: &HostFacts, rule: &RuleRef, redirect: &Redirect, port: u16) -> Option<Hop> {
    let to = redirect.to?;
    // A DNAT to this host itself goes on to INPUT: not a hop this module follows.
    if to.is_loopback() || super::is_local(host, &to) {
        return None;
    }
    Some(Hop {
        rule: rule.clone(),
        redirect: redirect.clone(),
        to,
        to_port: redirect.port.unwrap_or(port),
        bridge: bridge_of(host, &to),
        container: container_at(host, &to),
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

/// Where the CA's connection to `port` of the first of `addresses` this host holds is sent
/// by a DNAT, from the firewall facts alone; `None` when nothing redirects it (or the
/// ruleset cannot be read).
pub fn dnat(host: &HostFacts, addresses: &[IpAddr], port: u16) -> Option<Hop> {
    let fw = host.firewall.as_ref()?;
    let (rs, _) = super::ruleset(fw);
    let daddr = addresses
        .iter()
        .find(|ip| super::is_local(host, ip))
        .copied()?;
    match rs.evaluate(&super::inbound_syn(host, daddr, port)) {
        Verdict::Redirected { rule, to } => hop(host, &rule, &to, port),
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
pub fn publisher(host: &HostFacts, port: u16) -> Option<Container> {
    host.containers
        .iter()
        .filter_map(|r| r.containers.known())
        .flatten()
        .find(|c| c.publishes(port))
        .cloned()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::facts::{
        ContainerAddress, ContainerFacts, ContainerNetwork, ContainerPort, Family, FirewallFacts,
        IptablesBackend, IptablesDump, Probed, Unknown,
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
                nginx: None,
                labels: Default::default(),
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

    use crate::firewall::model::Redirect as R;
    use crate::firewall::{iptables, nft};

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
}
