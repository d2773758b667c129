//! One model for nftables and iptables rulesets: where a rule lives (`RuleRef`, shown to
//! people and acted on by fix commands), its conditions and actions, the base chains of each
//! hook, and the CA's new inbound TCP SYN. The readers (`nft`, `iptables`) build it; the
//! evaluator (`eval.rs`) walks it.

pub use super::sets::{NetSet, PortSet, Sources};
use crate::facts::{Family, IptablesBackend};
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

/// Which tool's view a chain comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `nft`, with the table's family (`ip`, `ip6`, `inet`, `netdev`, …).
    Nft { family: String },
    /// `iptables-save` / `ip6tables-save` of one backend.
    Iptables {
        family: Family,
        backend: IptablesBackend,
    },
}

impl Origin {
    /// The command that manages this view: `iptables-legacy`, `ip6tables-nft`, `nft`.
    pub fn tool(&self) -> String {
        match self {
            Origin::Nft { .. } => "nft".into(),
            Origin::Iptables { family, backend } => format!(
                "{}-{}",
                match family {
                    Family::Ipv4 => "iptables",
                    Family::Ipv6 => "ip6tables",
                },
                match backend {
                    IptablesBackend::Nft => "nft",
                    IptablesBackend::Legacy => "legacy",
                }
            ),
        }
    }

    /// The command a person types to change this view: plain `iptables`/`ip6tables` for the
    /// nft backend (what they drive on current distributions), the `-legacy` one otherwise.
    pub fn command(&self) -> String {
        match self {
            Origin::Iptables {
                family,
                backend: IptablesBackend::Nft,
            } => match family {
                Family::Ipv4 => "iptables".into(),
                Family::Ipv6 => "ip6tables".into(),
            },
            _ => self.tool(),
        }
    }
}

/// By hand: `IptablesBackend` (a facts type) has no `Hash`. Equal origins hash equally.
impl Hash for Origin {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            Origin::Nft { family } => {
                0u8.hash(state);
                family.hash(state);
            }
            Origin::Iptables { family, backend } => {
                1u8.hash(state);
                family.hash(state);
                matches!(backend, IptablesBackend::Nft).hash(state);
            }
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Nft { family } => write!(f, "nft {family}"),
            Origin::Iptables { family, .. } => write!(f, "{} ({})", self.tool(), family.label()),
        }
    }
}

/// A chain, by where it lives: the key of [`Ruleset::chains`]. Its parts stay apart, so a
/// jump is resolved ([`ChainRef::sibling`]) and a table set aside
/// ([`ChainRef::in_nft_table`]) without building a text and splitting it again.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChainRef {
    pub origin: Origin,
    pub table: String,
    pub chain: String,
}

impl ChainRef {
    /// The chain `chain` of the same table: where a jump or goto from this chain goes.
    pub fn sibling(&self, chain: &str) -> ChainRef {
        ChainRef {
            origin: self.origin.clone(),
            table: self.table.clone(),
            chain: chain.to_string(),
        }
    }

    /// Whether the chain belongs to nft's table `table` of family `family` (`ip`, `inet`…).
    pub fn in_nft_table(&self, family: &str, table: &str) -> bool {
        matches!(&self.origin, Origin::Nft { family: f } if f == family) && self.table == table
    }
}

/// The chain as evidence names it where no single rule is to blame (a jump to a chain that
/// does not exist, a loop, the work budget): `nft/inet/filter/input`,
/// `iptables-legacy-(IPv4)/filter/INPUT`.
impl fmt::Display for ChainRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ChainRef {
            origin,
            table,
            chain,
        } = self;
        match origin {
            Origin::Nft { family } => write!(f, "nft/{family}/{table}/{chain}"),
            Origin::Iptables { .. } => {
                let origin = origin.to_string().replace(' ', "-");
                write!(f, "{origin}/{table}/{chain}")
            }
        }
    }
}

/// Where in its chain a rule sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// An nft rule handle (`nft -a` shows it).
    Handle(Option<u64>),
    /// The line of the `iptables-save` dump.
    Line(usize),
    /// The chain's policy: no rule decided.
    Policy,
}

/// One rule (or a chain's policy), structured: commands that act on it are built from these
/// fields, and `Display` is only for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRef {
    pub chain: ChainRef,
    pub position: Position,
    /// The rule as its tool prints it (nft expressions, or the `-A …` line).
    pub text: String,
}

impl RuleRef {
    pub fn policy(chain: &ChainRef) -> RuleRef {
        RuleRef {
            chain: chain.clone(),
            position: Position::Policy,
            text: String::new(),
        }
    }

    pub fn contains(&self, needle: &str) -> bool {
        self.to_string().contains(needle)
    }
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ChainRef {
            origin,
            table,
            chain,
        } = &self.chain;
        const POLICY: &str = "policy drop (no rule accepts it)";
        match (origin, &self.position) {
            (Origin::Nft { family }, Position::Policy) => {
                write!(f, "nft table {family} {table} chain {chain}: {POLICY}")
            }
            (Origin::Nft { .. }, Position::Handle(Some(h))) => {
                write!(f, "{origin} {table} {chain} handle {h}: {}", self.text)
            }
            (Origin::Nft { .. }, _) => write!(f, "{origin} {table} {chain}: {}", self.text),
            (Origin::Iptables { .. }, Position::Policy) => {
                write!(f, "{origin} {table} {chain}: {POLICY}")
            }
            (Origin::Iptables { .. }, Position::Line(n)) => {
                write!(f, "{origin} {table} line {n}: {}", self.text)
            }
            (Origin::Iptables { .. }, Position::Handle(_)) => {
                write!(f, "{origin} {table} {chain}: {}", self.text)
            }
        }
    }
}

/// A condition of a rule, as far as it concerns a new TCP connection to the host.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// Layer-4 protocol names (`tcp`, `udp`, `icmp`…); `all` matches any.
    L4Proto(Vec<String>),
    /// Shared: a named set is built once for every rule that uses it.
    DPort(Arc<PortSet>),
    SAddr(Arc<NetSet>),
    DAddr(Arc<NetSet>),
    /// Input interface names; a trailing `*` (nft) or `+` (iptables) is a wildcard.
    Iif(Vec<String>),
    /// Conntrack states (`new`, `established`, …).
    CtState(Vec<String>),
    /// The packet's family (nft `meta nfproto`, or implied by an `ip`/`ip6` match in inet).
    NfProto(Family),
    /// The destination is a local address (`fib daddr type local`, `-m addrtype --dst-type LOCAL`).
    DstLocal,
    /// The route type of an address (`-m addrtype`, nft `fib … type`), lower-case (`local`,
    /// `unicast`, `broadcast`, …): of the destination (`dst`) or of the source; `on_iif`: looked
    /// up on the inbound interface only (`--limit-iface-in`, nft `fib daddr . iif type`).
    AddrType {
        dst: bool,
        types: Vec<String>,
        on_iif: bool,
    },
    /// The link-layer kind of the packet (`-m pkttype`, nft `meta pkttype`): `unicast`/`host`,
    /// `broadcast`, `multicast`, `other`.
    PktType(Vec<String>),
    /// The reverse-path check (nft `fib saddr [. mark] [. iif] oif missing|exists`,
    /// `-m rpfilter`): `fails` holds when the route back to the source does not leave by the
    /// inbound interface (`strict`) or does not exist at all (loose).
    Rpf {
        strict: bool,
        fails: bool,
    },
    /// `(tcp flags & mask) == comp` (`--tcp-flags`, nft `tcp flags & … == …`).
    TcpFlags {
        mask: u8,
        comp: u8,
    },
    /// Decided for the CA's packet, whatever it is compared with: a first TCP SYN from a new
    /// public source carries no IPv6 routing header (`-m rt`), is in no `recent` list, is
    /// under any rate limit. The text says which match and why, for evidence.
    Holds(bool, String),
    /// Output interface names (forward path only); wildcards as for [`Cond::Iif`].
    Oif(Vec<String>),
    /// The packet's length in bytes, IP header included, within `min..=max` (nft
    /// `meta length`, `-m length --length`).
    Length {
        min: u32,
        max: u32,
    },
    /// A match on the packet's payload (`-m string`): the text, for evidence. A SYN carries
    /// no payload; what the CA's request carries is not compared.
    Payload(String),
    /// Anything else: the text of the match, for evidence.
    Unknown(String),
}

/// Which packet of the CA's connection is evaluated: the SYN that opens it, or the segment
/// that carries its HTTP request once the handshake is done (conntrack `established`). An
/// IPS rule can let the first through and drop the second: the CA then sees "Timeout after
/// connect".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    Syn,
    Request,
}

impl Stage {
    /// The packet's length in bytes, IP header included, as a range: the SYN with the options
    /// Linux sends (MSS, SACK, timestamps, window scale: a 40-byte TCP header); the request
    /// segment with timestamps and the CA's request line and headers, at least ~250 bytes of
    /// HTTP (`docs/ca-behaviour.md` §2.3), at most one segment.
    pub fn length(self, family: Family) -> (u32, u32) {
        let ip = match family {
            Family::Ipv4 => 20,
            Family::Ipv6 => 40,
        };
        match self {
            Stage::Syn => (ip + 40, ip + 40),
            Stage::Request => (ip + 32 + 200, ip + 1460),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    pub cond: Cond,
    pub negated: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Accept,
    Drop,
    /// `refused`: the client sees "connection refused" (TCP reset or ICMP port unreachable).
    Reject {
        refused: bool,
    },
    Jump(String),
    Goto(String),
    Return,
    /// No verdict: counters, logs, marks.
    Continue,
    /// A verdict map: the first element whose condition holds gives the action. Shared
    /// between the rules that use one named map.
    Vmap(Arc<Vec<(Cond, Action)>>),
    /// DNAT, REDIRECT, TPROXY: the connection goes elsewhere (a container, a proxy). A DNAT
    /// to another address is followed (`nat.rs`): the forward path then decides.
    Redirected(Redirect),
    Unknown(String),
}

/// Which kind of redirection a NAT rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectKind {
    /// `-j DNAT` / nft `dnat`: to another address (a container behind a bridge).
    Dnat,
    /// `-j REDIRECT`, TPROXY: to this host itself, on another port.
    Local,
}

/// Where a NAT rule sends the connection, typed: `to` and `port` are what the rule names
/// (`--to-destination 172.17.0.2:80`), `None` when it names none or a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub kind: RedirectKind,
    pub to: Option<IpAddr>,
    pub port: Option<u16>,
    /// The target as its tool prints it, for evidence: `DNAT to 172.17.0.2:80`.
    pub text: String,
}

impl Redirect {
    /// A redirection that is not followed (REDIRECT, TPROXY, a DNAT to a map or range):
    /// only its text, for evidence.
    pub fn other(text: impl Into<String>) -> Redirect {
        Redirect {
            kind: RedirectKind::Local,
            to: None,
            port: None,
            text: text.into(),
        }
    }

    /// A DNAT to `addr[:port]` as iptables writes it (`192.0.2.130:80`, `[2001:db8::2]:80`,
    /// `192.0.2.130`); a range or anything else gives no single destination.
    pub fn dnat(destination: &str, text: impl Into<String>) -> Redirect {
        let (to, port) = parse_destination(destination);
        Redirect {
            kind: RedirectKind::Dnat,
            to,
            port,
            text: text.into(),
        }
    }
}

fn parse_destination(d: &str) -> (Option<IpAddr>, Option<u16>) {
    if let Ok(sa) = d.parse::<std::net::SocketAddr>() {
        return (Some(sa.ip()), Some(sa.port()));
    }
    if let Ok(ip) = d
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return (Some(ip), None);
    }
    // `addr:port` with a range on either side names no single destination.
    match d
        .rsplit_once(':')
        .map(|(ip, port)| (ip.parse(), port.parse()))
    {
        Some((Ok(ip), Ok(port))) => (Some(ip), Some(port)),
        _ => (None, None),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Where and what: `nft inet filter input handle 5: tcp dport 80 drop`.
    pub at: RuleRef,
    pub matches: Vec<Match>,
    pub action: Action,
}

/// Where on the way in a base chain sits: ingress (nft `netdev`, or `inet` with hook
/// ingress) comes before prerouting, prerouting before input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hook {
    Ingress,
    Prerouting,
    Input,
    /// The forward path (filter FORWARD): what a DNAT to a container then meets. Not part of
    /// the way in to the host itself.
    Forward,
}

/// A chain that a hook calls directly.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseChain {
    pub hook: Hook,
    /// Which packets reach it: `None` for both families (nft `inet`).
    pub family: Option<Family>,
    pub priority: i64,
    pub policy_drop: bool,
    /// The chain, and its key into [`Ruleset::chains`].
    pub chain: ChainRef,
    /// An ingress chain sees only the packets of these devices; `None`: every packet.
    pub devices: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ruleset {
    pub base: Vec<BaseChain>,
    /// Chains by where they live; jumps are resolved within one origin and table.
    pub chains: HashMap<ChainRef, Vec<Rule>>,
    /// Firewall managers recognised by their tables and chains (ufw, firewalld, Docker…).
    pub managers: Vec<String>,
}

/// A new inbound TCP SYN, as the CA sends it.
#[derive(Debug, Clone)]
pub struct Packet {
    pub family: Family,
    /// `None`: an arbitrary public address, in no list the ruleset names.
    pub saddr: Option<IpAddr>,
    pub daddr: IpAddr,
    pub dport: u16,
    /// The interface the packet arrives on, when known.
    pub iif: Option<String>,
    /// The interface the host's route back to the source leaves by (for an arbitrary public
    /// source, the default route's); `None`: unknown, or no route. Reverse-path filters
    /// (`fib saddr . iif oif missing`, `-m rpfilter`) compare it with `iif`.
    pub return_iif: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Accept,
    Drop {
        rule: RuleRef,
    },
    Reject {
        rule: RuleRef,
        refused: bool,
    },
    /// A DNAT sent the connection to another address: the forward path decides
    /// ([`Ruleset::evaluate_forward`]).
    Redirected {
        rule: RuleRef,
        to: Redirect,
    },
    /// `rule` names the rule or chain, for people only.
    Undecidable {
        rule: String,
        why: String,
    },
}

impl Ruleset {
    /// Adds `other`'s chains; a manager recognised in both is named once.
    pub fn merge(&mut self, other: Ruleset) {
        self.base.extend(other.base);
        self.chains.extend(other.chains);
        for m in other.managers {
            if !self.managers.contains(&m) {
                self.managers.push(m);
            }
        }
    }
}

/// Recognises firewall managers by the chains they create.
pub fn manager_of(chain: &str) -> Option<&'static str> {
    let lower = chain.to_ascii_lowercase();
    if lower.starts_with("ufw") {
        Some("ufw")
    } else if chain.starts_with("DOCKER") {
        Some("Docker")
    } else if lower.starts_with("f2b-") {
        Some("fail2ban")
    } else if lower.starts_with("crowdsec") {
        Some("CrowdSec")
    } else if chain.starts_with("filter_IN_") || chain.starts_with("IN_public") {
        Some("firewalld")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dnat_destinations_are_single_addresses_or_nothing() {
        let d = |s: &str| {
            let r = Redirect::dnat(s, "");
            (r.to.map(|a| a.to_string()), r.port)
        };
        assert_eq!(d("192.0.2.130:80"), (Some("192.0.2.130".into()), Some(80)));
        assert_eq!(
            d("[2001:db8:3::2]:80"),
            (Some("2001:db8:3::2".into()), Some(80))
        );
        assert_eq!(d("192.0.2.130"), (Some("192.0.2.130".into()), None));
        assert_eq!(d("2001:db8:3::2"), (Some("2001:db8:3::2".into()), None));
        assert_eq!(d("192.0.2.130-192.0.2.140:80"), (None, None));
        assert_eq!(d("192.0.2.130:80-90"), (None, None));
    }

    fn nft_chain(table: &str, chain: &str) -> ChainRef {
        ChainRef {
            origin: Origin::Nft {
                family: "inet".into(),
            },
            table: table.into(),
            chain: chain.into(),
        }
    }

    /// The names are kept apart: a `/` in a table or chain name (which a text key split on)
    /// neither moves a jump to another chain nor sets aside another table.
    #[test]
    fn chain_keys_keep_their_parts_whatever_the_names_hold() {
        let from = nft_chain("a/b", "web/in");
        assert_eq!(from.sibling("next"), nft_chain("a/b", "next"));
        assert!(from.in_nft_table("inet", "a/b"));
        assert!(!from.in_nft_table("inet", "a"));
        assert!(!from.in_nft_table("ip", "a/b"));
        let legacy = ChainRef {
            origin: Origin::Iptables {
                family: Family::Ipv4,
                backend: IptablesBackend::Legacy,
            },
            table: "a/b".into(),
            chain: "web/in".into(),
        };
        assert!(!legacy.in_nft_table("inet", "a/b"));
        assert_ne!(legacy.sibling("next"), nft_chain("a/b", "next"));
    }

    /// Where no rule is to blame, evidence names the chain as its text key did.
    #[test]
    fn a_chain_is_named_in_evidence_as_before() {
        assert_eq!(
            nft_chain("filter", "input").to_string(),
            "nft/inet/filter/input"
        );
        let chain = |family, backend| ChainRef {
            origin: Origin::Iptables { family, backend },
            table: "filter".into(),
            chain: "INPUT".into(),
        };
        assert_eq!(
            chain(Family::Ipv4, IptablesBackend::Legacy).to_string(),
            "iptables-legacy-(IPv4)/filter/INPUT"
        );
        assert_eq!(
            chain(Family::Ipv6, IptablesBackend::Nft).to_string(),
            "ip6tables-nft-(IPv6)/filter/INPUT"
        );
    }

    #[test]
    fn the_command_to_type_drops_the_nft_backend_s_suffix_only() {
        let origin = |family, backend| Origin::Iptables { family, backend };
        assert_eq!(
            origin(Family::Ipv4, IptablesBackend::Nft).command(),
            "iptables"
        );
        assert_eq!(
            origin(Family::Ipv6, IptablesBackend::Nft).command(),
            "ip6tables"
        );
        assert_eq!(
            origin(Family::Ipv4, IptablesBackend::Legacy).command(),
            "iptables-legacy"
        );
        assert_eq!(
            Origin::Nft {
                family: "inet".into()
            }
            .command(),
            "nft"
        );
    }
}
