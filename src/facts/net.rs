//! Address families and TCP connects: the facts every method that dials shares.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub fn of(ip: &IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        }
    }

    /// `IPv4` / `IPv6`, for prose.
    pub fn label(self) -> &'static str {
        match self {
            Family::Ipv4 => "IPv4",
            Family::Ipv6 => "IPv6",
        }
    }

    /// The DNS record type that publishes an address of this family.
    pub fn record_type(self) -> &'static str {
        match self {
            Family::Ipv4 => "A",
            Family::Ipv6 => "AAAA",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectFact {
    pub address: IpAddr,
    pub port: u16,
    pub outcome: ConnectOutcome,
    pub elapsed_ms: u64,
}

/// How one TCP connect ended, in the terms the CA's error messages use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ConnectOutcome {
    Connected,
    /// RST in answer to the SYN: nothing listening, or a firewall REJECT.
    Refused,
    /// No answer within the timeout: a firewall DROP, a dead address.
    Timeout,
    /// EHOSTUNREACH: a router said the host cannot be reached, or neighbour discovery failed.
    HostUnreachable,
    /// ENETUNREACH: no route for this destination from where the probe ran.
    NetworkUnreachable,
    /// EAFNOSUPPORT: this kernel cannot open a socket of that family at all.
    FamilyNotSupported,
    /// EADDRNOTAVAIL with a route and a source address: acme-doctor itself ran out of local
    /// (ephemeral) ports for this address, every one in use or in TIME_WAIT. Its own limit;
    /// nothing was learnt about the server. (Older versions recorded any EADDRNOTAVAIL as
    /// `other` with errno 99, which also meant "no source address of that family".)
    LocalPortsExhausted,
    Other {
        errno: Option<i32>,
        message: String,
    },
}

/// In the words a finding uses for it.
impl fmt::Display for ConnectOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectOutcome::Connected => f.write_str("connected"),
            ConnectOutcome::Refused => f.write_str("connection refused"),
            ConnectOutcome::Timeout => f.write_str("timed out"),
            ConnectOutcome::HostUnreachable => f.write_str("no route to host (EHOSTUNREACH)"),
            ConnectOutcome::NetworkUnreachable => {
                f.write_str("network unreachable (ENETUNREACH)")
            }
            ConnectOutcome::FamilyNotSupported => {
                f.write_str("address family not supported (EAFNOSUPPORT)")
            }
            ConnectOutcome::LocalPortsExhausted => f.write_str(
                "acme-doctor ran out of local ports (EADDRNOTAVAIL: every ephemeral port to this address in use or in TIME_WAIT)",
            ),
            ConnectOutcome::Other {
                errno: Some(e),
                message,
            } => write!(f, "{message} (errno {e})"),
            ConnectOutcome::Other {
                errno: None,
                message,
            } => f.write_str(message),
        }
    }
}

impl ConnectOutcome {
    /// The connect failed on a limit of the machine acme-doctor runs on (EMFILE, ENFILE,
    /// ENOBUFS, ENOMEM), or found no free local port (`LocalPortsExhausted`): the probe never
    /// reached the network, so nothing was learnt about the server. (An `other` with errno 99
    /// from an older version may be "no IPv6 source address" too, and stays a failure of the
    /// path.)
    pub fn is_own_limit(&self) -> bool {
        match self {
            ConnectOutcome::LocalPortsExhausted => true,
            ConnectOutcome::Other { errno, .. } => own_limit_errno(*errno),
            _ => false,
        }
    }
}

/// An error from a limit of the machine acme-doctor runs on, not from the network: out of file
/// descriptors (EMFILE, ENFILE) or of socket memory (ENOBUFS, ENOMEM). (Out of local ports,
/// EADDRNOTAVAIL, is told apart where a connect fails: see `probe::tcp::ports_exhausted`.)
pub fn own_limit_errno(errno: Option<i32>) -> bool {
    use nix::libc::{EMFILE, ENFILE, ENOBUFS, ENOMEM};
    errno.is_some_and(|e| [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_family_is_read_from_its_address_and_named_alike() {
        let v4: IpAddr = "192.0.2.1".parse().expect("address");
        let v6: IpAddr = "2001:db8::1".parse().expect("address");
        assert_eq!(Family::of(&v4), Family::Ipv4);
        assert_eq!(Family::of(&v6), Family::Ipv6);
        for family in [Family::Ipv4, Family::Ipv6] {
            assert_eq!(
                serde_json::to_value(family).expect("serialise"),
                serde_json::json!(family.as_str())
            );
            assert_eq!(family.label().to_lowercase(), family.as_str());
        }
        assert_eq!(Family::Ipv6.record_type(), "AAAA");
    }
}
