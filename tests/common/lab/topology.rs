//! The lab's network: three namespaces joined by veth pairs, their addresses and routes,
//! duplicate address detection switched off, warm neighbour caches, and the sweep of
//! namespaces left behind by killed test processes.

use super::{HOST_V4, HOST_V6, Lab, run};
use std::path::Path;
use std::process::Command;

pub(super) fn ip(args: &[&str]) -> Result<String, String> {
    run(Command::new("ip").args(args))
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes namespaces left by an earlier test process of ours that was killed before its
/// teardown ran: only names with our prefix whose owning pid no longer exists.
pub(super) fn sweep_stale() {
    let Ok(list) = ip(&["netns", "list"]) else {
        return;
    };
    for line in list.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix("adl") else {
            continue;
        };
        let Some(pid) = rest.split('x').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !pid_alive(pid) {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

impl Lab {
    /// Makes the namespaces, links, addresses and routes of the topology drawn in the module
    /// documentation, and waits until IPv6 is usable on all of it.
    pub(super) fn build_topology(&mut self) -> Result<(), String> {
        for ns in [self.host.clone(), self.router.clone(), self.outside.clone()] {
            ip(&["netns", "add", &ns])?;
            self.namespaces.push(ns.clone());
            // No duplicate address detection: otherwise the first IPv6 packets are lost while
            // addresses are tentative, and a healthy path looks like a timeout.
            self.exec(
                &ns,
                &[
                    "sysctl",
                    "-qw",
                    "net.ipv6.conf.all.accept_dad=0",
                    "net.ipv6.conf.default.accept_dad=0",
                ],
            )?;
            self.exec(&ns, &["ip", "link", "set", "lo", "up"])?;
        }
        let (h, r, o) = (self.host.clone(), self.router.clone(), self.outside.clone());
        ip(&[
            "link", "add", "h0", "netns", &h, "type", "veth", "peer", "name", "rh", "netns", &r,
        ])?;
        ip(&[
            "link", "add", "o0", "netns", &o, "type", "veth", "peer", "name", "ro", "netns", &r,
        ])?;
        // veths are born in the root namespace and keep its defaults: switch DAD off on each
        // device too, before it comes up.
        for (ns, dev) in [(&h, "h0"), (&r, "rh"), (&r, "ro"), (&o, "o0")] {
            self.exec(
                ns,
                &[
                    "sysctl",
                    "-qw",
                    &format!("net.ipv6.conf.{dev}.accept_dad=0"),
                ],
            )?;
        }
        // The host and the outside are alike: an address per family on their veth, default
        // routes through the router.
        let end_host = |dev: &str, v4: &str, v6: &str, gw4: &str, gw6: &str| {
            vec![
                format!("ip addr add {v4} dev {dev}"),
                format!("ip addr add {v6} dev {dev} nodad"),
                format!("ip link set {dev} up"),
                format!("ip route add default via {gw4}"),
                format!("ip -6 route add default via {gw6}"),
            ]
        };
        let router = [
            "sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1",
            "ip addr add 192.0.2.1/24 dev rh",
            "ip addr add 2001:db8:2::1/64 dev rh nodad",
            "ip addr add 198.51.100.1/24 dev ro",
            "ip addr add 2001:db8:51::1/64 dev ro nodad",
            "ip addr add 203.0.113.53/32 dev lo",
            "ip addr add 2001:db8:53::53/128 dev lo",
            "ip link set rh up",
            "ip link set ro up",
        ];
        let steps: Vec<(&String, String)> = end_host(
            "h0",
            "192.0.2.10/24",
            "2001:db8:2::10/64",
            "192.0.2.1",
            "2001:db8:2::1",
        )
        .into_iter()
        .map(|c| (&h, c))
        .chain(router.iter().map(|c| (&r, c.to_string())))
        .chain(
            end_host(
                "o0",
                "198.51.100.10/24",
                "2001:db8:51::10/64",
                "198.51.100.1",
                "2001:db8:51::1",
            )
            .into_iter()
            .map(|c| (&o, c)),
        )
        .collect();
        for (ns, command) in &steps {
            let args: Vec<&str> = command.split_whitespace().collect();
            self.exec(ns, &args)?;
        }
        self.wait_until("IPv6 addresses usable", |lab| {
            [&lab.host, &lab.router, &lab.outside].iter().all(|ns| {
                lab.exec(ns, &["ip", "-6", "addr", "show", "tentative"])
                    .is_ok_and(|o| o.trim().is_empty())
            })
        })?;
        // In fresh namespaces the first IPv6 packet forwarded to the host waits a full second
        // for neighbour discovery (measured: the first connect from outside takes 1.0 s, the
        // next 0 ms). Real routers have warm caches: warm these with one refused connect to a
        // closed port, so that timings in the lab are the tool's, not this artifact's.
        for addr in [HOST_V6, HOST_V4] {
            let probe = format!("exec 3<>/dev/tcp/{addr}/9");
            let _ = self.exec(&o, &["timeout", "3", "bash", "-c", &probe]);
        }
        Ok(())
    }
}

impl Lab {
    /// Adds one more machine behind the router (IPv4 only): a namespace named after the lab
    /// with `suffix`, a veth pair `r<suffix>` (router side, `router_cidr`) and `m0`
    /// (`machine_cidr`), and the machine's default route through the router. Teardown
    /// deletes it with the others. Returns the namespace's name.
    // Not every test file that shares the lab adds machines.
    #[allow(dead_code)]
    pub fn add_machine(
        &mut self,
        suffix: &str,
        router_cidr: &str,
        machine_cidr: &str,
    ) -> Result<String, String> {
        let ns = format!("{}{suffix}", self.host.trim_end_matches('h'));
        ip(&["netns", "add", &ns])?;
        self.namespaces.push(ns.clone());
        let rdev = format!("r{suffix}");
        let r = self.router.clone();
        ip(&[
            "link", "add", "m0", "netns", &ns, "type", "veth", "peer", "name", &rdev, "netns", &r,
        ])?;
        let gateway = router_cidr.split('/').next().unwrap_or(router_cidr);
        let steps: Vec<(&str, Vec<&str>)> = vec![
            (&ns, vec!["ip", "link", "set", "lo", "up"]),
            (&ns, vec!["ip", "addr", "add", machine_cidr, "dev", "m0"]),
            (&ns, vec!["ip", "link", "set", "m0", "up"]),
            (&r, vec!["ip", "addr", "add", router_cidr, "dev", &rdev]),
            (&r, vec!["ip", "link", "set", &rdev, "up"]),
            (&ns, vec!["ip", "route", "add", "default", "via", gateway]),
        ];
        for (where_, args) in steps {
            self.exec(where_, &args)?;
        }
        Ok(ns)
    }
}
