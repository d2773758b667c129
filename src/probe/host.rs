//! The host's own truth, read on Linux: IPv6 sysctls, interface addresses, default routes and
//! listening sockets. Each fact that cannot be read is recorded as unknown, with the reason.

use super::HostProbe;
use crate::facts::{Family, HostFacts, Interface, Listener, Probed, Process, Sysctl, Unknown};
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::net::IpAddr;
use std::path::Path;

pub struct LinuxHost {
    /// Listening ports worth reporting.
    pub ports: Vec<u16>,
    /// The ACME clients' configurations, read once before the run (`probe::clients`).
    pub acme_clients: Option<crate::facts::ClientsFacts>,
}

impl HostProbe for LinuxHost {
    fn host_facts(&self) -> HostFacts {
        let listeners = listeners(&self.ports);
        HostFacts {
            kernel: kernel(),
            ipv6_in_kernel: ipv6_in_kernel(),
            disable_ipv6: disable_ipv6(),
            bindv6only: read_sysctl("/proc/sys/net/ipv6/bindv6only").map_probed(|v| v != 0),
            interfaces: interfaces(),
            default_route_v4: read("/proc/net/route").map_probed(|t| has_default_route_v4(&t)),
            default_route_v6: if Path::new("/proc/sys/net/ipv6").exists() {
                read("/proc/net/ipv6_route").map_probed(|t| has_default_route_v6(&t))
            } else {
                Probed::Known(false)
            },
            listeners: listeners.clone(),
            default_route_dev_v4: read("/proc/net/route")
                .ok()
                .and_then(|t| default_route_dev_v4(&t)),
            default_route_dev_v6: read("/proc/net/ipv6_route")
                .ok()
                .and_then(|t| default_route_dev_v6(&t)),
            firewall: Some(super::firewall::firewall_facts()),
            acme_clients: self.acme_clients.clone(),
            containers: super::containers::container_facts(),
            web_server: Some(super::webconf::web_server_facts(
                &super::webconf::System,
                listeners.known().map(Vec::as_slice),
            )),
            traefik: super::traefik_config::traefik_files(&super::webconf::System),
        }
    }
}

/// Host facts when the probe itself could not run.
pub fn unknown_host_facts(reason: &str) -> HostFacts {
    let u = || Unknown::failed(reason);
    HostFacts {
        kernel: Probed::Unknown(u()),
        ipv6_in_kernel: Probed::Unknown(u()),
        disable_ipv6: Probed::Unknown(u()),
        bindv6only: Probed::Unknown(u()),
        interfaces: Probed::Unknown(u()),
        default_route_v4: Probed::Unknown(u()),
        default_route_v6: Probed::Unknown(u()),
        listeners: Probed::Unknown(u()),
        default_route_dev_v4: None,
        default_route_dev_v6: None,
        firewall: None,
        acme_clients: None,
        containers: Vec::new(),
        web_server: None,
        traefik: None,
    }
}

trait MapProbed<T> {
    fn map_probed<U>(self, f: impl FnOnce(T) -> U) -> Probed<U>;
}

impl<T> MapProbed<T> for Result<T, String> {
    fn map_probed<U>(self, f: impl FnOnce(T) -> U) -> Probed<U> {
        match self {
            Ok(v) => Probed::Known(f(v)),
            Err(e) => Probed::Unknown(Unknown::Failed { message: e }),
        }
    }
}

fn read(path: &str) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))
}

fn read_sysctl(path: &str) -> Result<i64, String> {
    let text = read(path)?;
    text.trim()
        .parse()
        .map_err(|_| format!("{path}: unexpected content {:?}", text.trim()))
}

fn kernel() -> Probed<String> {
    match nix::sys::utsname::uname() {
        Ok(u) => Probed::Known(u.release().to_string_lossy().into_owned()),
        Err(e) => Probed::Unknown(Unknown::failed(format!("uname: {e}"))),
    }
}

fn ipv6_in_kernel() -> Probed<bool> {
    if !Path::new("/proc/sys/net").exists() {
        return Probed::Unknown(Unknown::failed("/proc/sys/net is not mounted"));
    }
    Probed::Known(Path::new("/proc/sys/net/ipv6").exists())
}

fn disable_ipv6() -> Probed<Vec<Sysctl>> {
    let dir = "/proc/sys/net/ipv6/conf";
    if !Path::new("/proc/sys/net/ipv6").exists() {
        // No IPv6 in the kernel: there is nothing to switch off; `ipv6_in_kernel` says so.
        return Probed::Known(Vec::new());
    }
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => return Probed::Unknown(Unknown::failed(format!("cannot list {dir}: {e}"))),
    };
    let mut values = Vec::new();
    for entry in entries.flatten() {
        let scope = entry.file_name().to_string_lossy().into_owned();
        let path = format!("{dir}/{scope}/disable_ipv6");
        match read_sysctl(&path) {
            Ok(value) => values.push(Sysctl { scope, value }),
            // An interface that vanished between listing and reading (veth churn) is no fact.
            Err(_) if !Path::new(&path).exists() => continue,
            Err(e) => return Probed::Unknown(Unknown::Failed { message: e }),
        }
    }
    // all, default, then interfaces by name: stable output for saved facts.
    values.sort_by_key(|s| (s.scope != "all", s.scope != "default", s.scope.clone()));
    Probed::Known(values)
}

fn interfaces() -> Probed<Vec<Interface>> {
    use nix::net::if_::InterfaceFlags;
    let addrs = match nix::ifaddrs::getifaddrs() {
        Ok(a) => a,
        Err(e) => return Probed::Unknown(Unknown::failed(format!("getifaddrs: {e}"))),
    };
    let mut by_name: BTreeMap<String, Interface> = BTreeMap::new();
    for ifa in addrs {
        let entry = by_name
            .entry(ifa.interface_name.clone())
            .or_insert_with(|| Interface {
                name: ifa.interface_name.clone(),
                up: false,
                loopback: false,
                addresses: Vec::new(),
            });
        entry.up |= ifa.flags.contains(InterfaceFlags::IFF_UP);
        entry.loopback |= ifa.flags.contains(InterfaceFlags::IFF_LOOPBACK);
        if let Some(addr) = ifa.address {
            let ip: Option<IpAddr> = if let Some(v4) = addr.as_sockaddr_in() {
                Some(IpAddr::V4(v4.ip()))
            } else {
                addr.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
            };
            if let Some(ip) = ip.filter(|ip| !entry.addresses.contains(ip)) {
                entry.addresses.push(ip);
            }
        }
    }
    Probed::Known(by_name.into_values().collect())
}

/// `/proc/net/route`: a default route has destination and mask 0 and the RTF_UP flag.
pub fn has_default_route_v4(table: &str) -> bool {
    default_route_dev_v4(table).is_some()
}

/// The interface of the first IPv4 default route.
pub fn default_route_dev_v4(table: &str) -> Option<String> {
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.len() >= 8
            && f[1] == "00000000"
            && f[7] == "00000000"
            && u32::from_str_radix(f[3], 16).is_ok_and(|flags| flags & 0x0001 != 0))
        .then(|| f[0].to_string())
    })
}

/// `/proc/net/ipv6_route`: destination ::/0, RTF_UP, and not the kernel's own reject route
/// (RTF_REJECT, 0x0200), which every table has on `lo`.
pub fn has_default_route_v6(table: &str) -> bool {
    default_route_dev_v6(table).is_some()
}

/// The interface of the first IPv6 default route that is not the kernel's reject route.
pub fn default_route_dev_v6(table: &str) -> Option<String> {
    table.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.len() >= 10
            && f[0].bytes().all(|b| b == b'0')
            && f[1] == "00"
            && u32::from_str_radix(f[8], 16)
                .is_ok_and(|flags| flags & 0x0001 != 0 && flags & 0x0200 == 0))
        .then(|| f[9].to_string())
    })
}

fn listeners(ports: &[u16]) -> Probed<Vec<Listener>> {
    let mut found = Vec::new();
    for family in [Family::Ipv4, Family::Ipv6] {
        if family == Family::Ipv6 && !Path::new("/proc/sys/net/ipv6").exists() {
            continue;
        }
        match sock_diag::listening_tcp(family) {
            Ok(sockets) => found.extend(sockets.into_iter().filter(|s| ports.contains(&s.port))),
            Err(e) => {
                return Probed::Unknown(Unknown::failed(format!(
                    "sock_diag netlink dump failed: {e}"
                )));
            }
        }
    }
    let owners = if found.is_empty() {
        HashMap::new()
    } else {
        socket_owners()
    };
    let listeners = found
        .into_iter()
        .map(|s| Listener {
            family: s.family,
            address: s.address,
            port: s.port,
            v6only: s.v6only,
            process: owners.get(&s.inode).cloned(),
        })
        .collect();
    Probed::Known(listeners)
}

/// Maps socket inodes to the process holding them, from /proc/*/fd. Other users' processes
/// are unreadable without root; their sockets simply stay without an owner.
fn socket_owners() -> HashMap<u32, Process> {
    let mut owners = HashMap::new();
    let Ok(procs) = fs::read_dir("/proc") else {
        return owners;
    };
    for entry in procs.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let name = fs::read_to_string(entry.path().join("comm"))
            .map(|c| crate::sanitize::line(c.trim(), 64))
            .unwrap_or_default();
        for fd in fds.flatten() {
            let Ok(target) = fs::read_link(fd.path()) else {
                continue;
            };
            let target = target.to_string_lossy();
            if let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|n| n.parse::<u32>().ok())
            {
                owners.entry(inode).or_insert_with(|| Process {
                    pid,
                    name: name.clone(),
                });
            }
        }
    }
    owners
}

mod sock_diag {
    //! Listening TCP sockets from the kernel's sock_diag netlink interface: the only source
    //! that tells whether an IPv6 socket is IPV6_V6ONLY (/proc/net/tcp6 does not).

    use crate::facts::Family;
    use netlink_packet_core::{
        NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
    };
    use netlink_packet_sock_diag::{
        SockDiagMessage,
        constants::{AF_INET, AF_INET6, IPPROTO_TCP},
        inet::{ExtensionFlags, InetRequest, SocketId, StateFlags, nlas::Nla},
    };
    use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_SOCK_DIAG};
    use std::net::IpAddr;

    pub struct Listening {
        pub family: Family,
        pub address: IpAddr,
        pub port: u16,
        pub v6only: Option<bool>,
        pub inode: u32,
    }

    pub fn listening_tcp(family: Family) -> Result<Vec<Listening>, String> {
        let mut socket = Socket::new(NETLINK_SOCK_DIAG).map_err(|e| e.to_string())?;
        socket.bind_auto().map_err(|e| e.to_string())?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(|e| e.to_string())?;
        let (af, id) = match family {
            Family::Ipv4 => (AF_INET, SocketId::new_v4()),
            Family::Ipv6 => (AF_INET6, SocketId::new_v6()),
        };
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        let mut packet = NetlinkMessage::new(
            header,
            SockDiagMessage::InetRequest(InetRequest {
                family: af,
                protocol: IPPROTO_TCP,
                extensions: ExtensionFlags::empty(),
                states: StateFlags::LISTEN,
                socket_id: id,
            })
            .into(),
        );
        packet.finalize();
        let mut buf = vec![0; packet.buffer_len()];
        packet.serialize(&mut buf[..]);
        socket.send(&buf[..], 0).map_err(|e| e.to_string())?;

        let mut found = Vec::new();
        let mut receive = vec![0u8; 64 * 1024];
        loop {
            let size = socket
                .recv(&mut &mut receive[..], 0)
                .map_err(|e| e.to_string())?;
            if size == 0 {
                return Err("netlink closed before the dump ended".into());
            }
            let mut offset = 0;
            while offset < size {
                let message =
                    <NetlinkMessage<SockDiagMessage>>::deserialize(&receive[offset..size])
                        .map_err(|e| format!("undecodable sock_diag answer: {e}"))?;
                let length = message.header.length as usize;
                match message.payload {
                    NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(response)) => {
                        let v6only = response.nlas.iter().find_map(|nla| match nla {
                            Nla::SkV6Only(v) => Some(*v),
                            _ => None,
                        });
                        found.push(Listening {
                            family,
                            address: response.header.socket_id.source_address,
                            port: response.header.socket_id.source_port,
                            v6only: if family == Family::Ipv6 { v6only } else { None },
                            inode: response.header.inode,
                        });
                    }
                    NetlinkPayload::Done(_) => return Ok(found),
                    NetlinkPayload::Error(e) => return Err(format!("netlink error: {e:?}")),
                    _ => {}
                }
                if length == 0 {
                    break;
                }
                offset += length;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_default_route_is_found_in_proc_net_route() {
        let table = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     eth0\t00000000\t0102000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                     eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert!(has_default_route_v4(table));
        let no_default = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n\
                          eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\n";
        assert!(!has_default_route_v4(no_default));
    }

    #[test]
    fn v6_default_route_ignores_the_kernel_reject_route() {
        let reject_only = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";
        assert!(!has_default_route_v6(reject_only));
        let with_default = format!(
            "{reject_only}00000000000000000000000000000000 00 00000000000000000000000000000000 00 20010db8000200000000000000000001 00000400 00000001 00000000 00000003     eth0\n"
        );
        assert!(has_default_route_v6(&with_default));
    }

    #[test]
    fn reading_this_host_never_panics() {
        let facts = LinuxHost {
            ports: vec![80, 443],
            acme_clients: None,
        }
        .host_facts();
        assert!(matches!(
            facts.interfaces,
            Probed::Known(_) | Probed::Unknown(_)
        ));
    }
}
