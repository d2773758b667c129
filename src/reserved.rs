//! The IANA special-purpose address registries, as Boulder uses them to drop addresses
//! (`iana.IsReservedAddr`, `docs/ca-behaviour.md` §2.1).
//!
//! Hand-written on purpose: the CA's error text quotes the registry's RFC and Name columns
//! (`[RFC1918]: Private-Use`), and no maintained crate exposes those; std's `is_global` is
//! still unstable and yields only a boolean. Only blocks that are not globally reachable
//! are listed, plus multicast, which can never be a validation target.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, PartialEq, Eq)]
pub struct Reserved {
    /// The block in CIDR notation.
    pub block: &'static str,
    /// The registry's Name column.
    pub name: &'static str,
    /// The registry's RFC column, as Boulder prints it.
    pub rfc: &'static str,
}

impl Reserved {
    /// Boulder's wording for a reserved block (`<RFC column>: <Name column>`).
    pub fn boulder_text(&self) -> String {
        format!("{}: {}", self.rfc, self.name)
    }
}

struct V4(Ipv4Addr, u8, Reserved);
struct V6(Ipv6Addr, u8, Reserved);

macro_rules! r {
    ($block:literal, $name:literal, $rfc:literal) => {
        Reserved {
            block: $block,
            name: $name,
            rfc: $rfc,
        }
    };
}

// Most specific blocks first where they nest.
const V4_BLOCKS: &[V4] = &[
    V4(
        Ipv4Addr::new(0, 0, 0, 0),
        8,
        r!("0.0.0.0/8", "\"This network\"", "[RFC791]"),
    ),
    V4(
        Ipv4Addr::new(10, 0, 0, 0),
        8,
        r!("10.0.0.0/8", "Private-Use", "[RFC1918]"),
    ),
    V4(
        Ipv4Addr::new(100, 64, 0, 0),
        10,
        r!("100.64.0.0/10", "Shared Address Space", "[RFC6598]"),
    ),
    V4(
        Ipv4Addr::new(127, 0, 0, 0),
        8,
        r!("127.0.0.0/8", "Loopback", "[RFC1122]"),
    ),
    V4(
        Ipv4Addr::new(169, 254, 0, 0),
        16,
        r!("169.254.0.0/16", "Link Local", "[RFC3927]"),
    ),
    V4(
        Ipv4Addr::new(172, 16, 0, 0),
        12,
        r!("172.16.0.0/12", "Private-Use", "[RFC1918]"),
    ),
    V4(
        Ipv4Addr::new(192, 0, 0, 0),
        24,
        r!("192.0.0.0/24", "IETF Protocol Assignments", "[RFC6890]"),
    ),
    V4(
        Ipv4Addr::new(192, 0, 2, 0),
        24,
        r!("192.0.2.0/24", "Documentation (TEST-NET-1)", "[RFC5737]"),
    ),
    V4(
        Ipv4Addr::new(192, 88, 99, 0),
        24,
        r!(
            "192.88.99.0/24",
            "Deprecated (6to4 Relay Anycast)",
            "[RFC7526]"
        ),
    ),
    V4(
        Ipv4Addr::new(192, 168, 0, 0),
        16,
        r!("192.168.0.0/16", "Private-Use", "[RFC1918]"),
    ),
    V4(
        Ipv4Addr::new(198, 18, 0, 0),
        15,
        r!("198.18.0.0/15", "Benchmarking", "[RFC2544]"),
    ),
    V4(
        Ipv4Addr::new(198, 51, 100, 0),
        24,
        r!("198.51.100.0/24", "Documentation (TEST-NET-2)", "[RFC5737]"),
    ),
    V4(
        Ipv4Addr::new(203, 0, 113, 0),
        24,
        r!("203.0.113.0/24", "Documentation (TEST-NET-3)", "[RFC5737]"),
    ),
    V4(
        Ipv4Addr::new(224, 0, 0, 0),
        4,
        r!("224.0.0.0/4", "Multicast", "[RFC5771]"),
    ),
    V4(
        Ipv4Addr::new(255, 255, 255, 255),
        32,
        r!("255.255.255.255/32", "Limited Broadcast", "[RFC8190]"),
    ),
    V4(
        Ipv4Addr::new(240, 0, 0, 0),
        4,
        r!("240.0.0.0/4", "Reserved", "[RFC1112]"),
    ),
];

const V6_BLOCKS: &[V6] = &[
    V6(
        Ipv6Addr::UNSPECIFIED,
        128,
        r!("::/128", "Unspecified Address", "[RFC4291]"),
    ),
    V6(
        Ipv6Addr::LOCALHOST,
        128,
        r!("::1/128", "Loopback Address", "[RFC4291]"),
    ),
    // Not in the registry, and so not in the CA's list: deprecated IPv4-compatible addresses
    // carry an IPv4 address in their last 32 bits (`::7f00:1` is 127.0.0.1), and a vantage
    // must not be led to one (docs/ca-behaviour.md §2.1). `::` and `::1` match above first.
    V6(
        Ipv6Addr::UNSPECIFIED,
        96,
        r!("::/96", "Deprecated (IPv4-compatible Address)", "[RFC4291]"),
    ),
    V6(
        Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0),
        96,
        r!("::ffff:0:0/96", "IPv4-mapped Address", "[RFC4291]"),
    ),
    V6(
        Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0),
        96,
        r!("64:ff9b::/96", "IPv4-IPv6 Translat.", "[RFC6052]"),
    ),
    V6(
        Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
        48,
        r!("64:ff9b:1::/48", "IPv4-IPv6 Translat.", "[RFC8215]"),
    ),
    V6(
        Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
        64,
        r!("100::/64", "Discard-Only Address Block", "[RFC6666]"),
    ),
    V6(
        Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
        23,
        r!("2001::/23", "IETF Protocol Assignments", "[RFC2928]"),
    ),
    V6(
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        32,
        r!("2001:db8::/32", "Documentation", "[RFC3849]"),
    ),
    V6(
        Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0),
        16,
        r!("2002::/16", "6to4", "[RFC3056]"),
    ),
    V6(
        Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
        20,
        r!("3fff::/20", "Documentation", "[RFC9637]"),
    ),
    V6(
        Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0),
        16,
        r!("5f00::/16", "Segment Routing (SRv6) SIDs", "[RFC9602]"),
    ),
    V6(
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        7,
        r!("fc00::/7", "Unique-Local", "[RFC4193]"),
    ),
    V6(
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
        10,
        r!("fe80::/10", "Link-Local Unicast", "[RFC4291]"),
    ),
    V6(
        Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0),
        8,
        r!("ff00::/8", "Multicast", "[RFC4291]"),
    ),
];

fn in_v4(ip: Ipv4Addr, net: Ipv4Addr, len: u8) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    };
    u32::from(ip) & mask == u32::from(net) & mask
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, len: u8) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    };
    u128::from(ip) & mask == u128::from(net) & mask
}

/// The registry entry that makes the CA drop `ip`, or `None` for a public address.
pub fn classify(ip: &IpAddr) -> Option<&'static Reserved> {
    match ip {
        IpAddr::V4(v4) => V4_BLOCKS
            .iter()
            .find(|V4(net, len, _)| in_v4(*v4, *net, *len))
            .map(|V4(_, _, r)| r),
        IpAddr::V6(v6) => V6_BLOCKS
            .iter()
            .find(|V6(net, len, _)| in_v6(*v6, *net, *len))
            .map(|V6(_, _, r)| r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(s: &str) -> Option<&'static str> {
        classify(&s.parse().unwrap()).map(|r| r.block)
    }

    #[test]
    fn private_loopback_and_documentation_are_reserved() {
        assert_eq!(block("10.1.2.3"), Some("10.0.0.0/8"));
        assert_eq!(block("172.31.255.255"), Some("172.16.0.0/12"));
        assert_eq!(block("127.0.0.1"), Some("127.0.0.0/8"));
        assert_eq!(block("100.127.0.1"), Some("100.64.0.0/10"));
        assert_eq!(block("192.0.2.10"), Some("192.0.2.0/24"));
        assert_eq!(block("2001:db8::10"), Some("2001:db8::/32"));
        assert_eq!(block("fd00::1"), Some("fc00::/7"));
        assert_eq!(block("fe80::1"), Some("fe80::/10"));
        assert_eq!(block("::ffff:10.0.0.1"), Some("::ffff:0:0/96"));
    }

    #[test]
    fn ipv4_compatible_addresses_are_reserved_and_the_nested_blocks_keep_their_names() {
        assert_eq!(block("::7f00:1"), Some("::/96"));
        assert_eq!(block("::127.0.0.1"), Some("::/96"));
        assert_eq!(block("::a9fe:a9fe"), Some("::/96"));
        assert_eq!(block("::8.8.8.8"), Some("::/96"));
        assert_eq!(block("::"), Some("::/128"));
        assert_eq!(block("::1"), Some("::1/128"));
        // Just outside the /96.
        assert_eq!(block("::1:0:0"), None);
    }

    #[test]
    fn public_addresses_are_not_reserved() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "2a00:1450::1",
        ] {
            assert_eq!(block(ip), None, "{ip}");
        }
    }

    #[test]
    fn boulder_wording_uses_rfc_then_name() {
        let r = classify(&"192.168.1.1".parse().unwrap()).unwrap();
        assert_eq!(r.boulder_text(), "[RFC1918]: Private-Use");
    }
}
