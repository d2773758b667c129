//! The firewall simulator: the host's packet filter (nftables and iptables, as their tools
//! print them) read into one model, and a new inbound TCP SYN from the CA evaluated through
//! it, per family and port, on the interface that holds the address. A self-probe cannot
//! show this: a connection from the host to its own address goes through `lo`.
//!
//! Pure, like `diagnose` (no I/O, no clock): it reads the facts the probes gathered. The
//! `firewall` check in `diagnose` asks it and turns its verdicts into findings.

mod cond;
pub mod eval;
pub mod iptables;
pub mod model;
pub mod nat;
pub mod nft;
pub mod sets;

use crate::facts::{Family, FirewallFacts, HostFacts, IptablesBackend, Probed, Unknown};
use model::{Packet, Ruleset};
use std::net::IpAddr;

/// The ruleset the kernel applies, from what could be read, and what could not be.
pub fn ruleset(fw: &FirewallFacts) -> (Ruleset, Vec<Unknown>) {
    let mut missing = Vec::new();
    let mut rs = Ruleset::default();
    let dump = |family: Family, backend: IptablesBackend| {
        fw.iptables
            .iter()
            .find(|d| d.family == family && d.backend == backend)
            .map(|d| &d.dump)
    };
    match &fw.nft {
        Probed::Known(json) => {
            // The kernel's bytecode, where it was read, says what the listing hides.
            let netlink = match &fw.nft_netlink {
                Some(Probed::Known(text)) => Some(text.as_str()),
                _ => None,
            };
            let (nft_rules, opaque) = nft::ruleset_with_kernel(json, netlink);
            // Tables iptables-nft made with extensions nft cannot print: read them as
            // iptables-nft-save prints them instead.
            let mut replaced = std::collections::BTreeSet::new();
            for (family, table) in &opaque.xt_tables {
                let fam = match family.as_str() {
                    "ip" => Family::Ipv4,
                    "ip6" => Family::Ipv6,
                    _ => continue,
                };
                // nat too: Docker's DNAT and addrtype are compat expressions in nft.
                if table != "filter" && table != "nat" {
                    continue;
                }
                if replaced.contains(&(family.clone(), table.clone())) {
                    continue;
                }
                if let Some(Probed::Known(text)) = dump(fam, IptablesBackend::Nft) {
                    // The dump holds every table of the family: merged once, and nft's own
                    // view of each of them set aside, so no chain is evaluated twice.
                    rs.merge(iptables::ruleset(text, fam, IptablesBackend::Nft));
                    replaced.insert((family.clone(), table.clone()));
                    for t in text.lines().filter_map(|l| l.trim().strip_prefix('*')) {
                        replaced.insert((family.clone(), t.to_string()));
                    }
                }
            }
            rs.merge(nft_rules.without_tables(&replaced));
        }
        Probed::Unknown(why) => {
            missing.push(why.clone());
            // Without nft, the iptables-nft view still shows the nf_tables tables that
            // iptables-nft (and ufw, Docker, fail2ban through it) made.
            for family in [Family::Ipv4, Family::Ipv6] {
                if let Some(Probed::Known(text)) = dump(family, IptablesBackend::Nft) {
                    rs.merge(iptables::ruleset(text, family, IptablesBackend::Nft));
                }
            }
        }
    }
    for family in [Family::Ipv4, Family::Ipv6] {
        match dump(family, IptablesBackend::Legacy) {
            Some(Probed::Known(text)) => {
                rs.merge(iptables::ruleset(text, family, IptablesBackend::Legacy));
            }
            Some(Probed::Unknown(Unknown::NotInstalled { .. })) => {}
            Some(Probed::Unknown(why)) => missing.push(why.clone()),
            _ => {}
        }
    }
    (rs, missing)
}

/// The CA's new TCP SYN to `daddr`:`dport` of this host, from an arbitrary public source,
/// arriving where the host's interfaces and routes say it arrives.
pub fn inbound_syn(host: &HostFacts, daddr: IpAddr, dport: u16) -> Packet {
    let family = Family::of(&daddr);
    Packet {
        family,
        saddr: None,
        daddr,
        dport,
        iif: inbound_interface(host, family, &daddr),
        return_iif: return_interface(host, family),
    }
}

/// Where the CA's packets arrive: the interface holding the address, else the default
/// route's (a VPN's default route does not move where the public address lives).
pub fn inbound_interface(host: &HostFacts, family: Family, daddr: &IpAddr) -> Option<String> {
    let by_route = match family {
        Family::Ipv4 => host.default_route_dev_v4.clone(),
        Family::Ipv6 => host.default_route_dev_v6.clone(),
    };
    host.interfaces
        .known()
        .and_then(|ifs| {
            ifs.iter()
                .find(|i| !i.loopback && i.addresses.contains(daddr))
                .map(|i| i.name.clone())
        })
        .or(by_route)
}

/// Where the host's route back to an arbitrary public source leaves: its default route's
/// interface. Reverse-path filters compare it with the inbound interface.
pub fn return_interface(host: &HostFacts, family: Family) -> Option<String> {
    match family {
        Family::Ipv4 => host.default_route_dev_v4.clone(),
        Family::Ipv6 => host.default_route_dev_v6.clone(),
    }
}

/// Whether this host holds `ip` on one of its interfaces (false when they could not be read).
pub fn is_local(host: &HostFacts, ip: &IpAddr) -> bool {
    host.interfaces
        .known()
        .is_some_and(|ifs| ifs.iter().any(|i| i.addresses.contains(ip)))
}
