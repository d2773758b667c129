//! The host's own request that comes back to it by another way than the CA's: a self-probe
//! through the router's NAT hairpin (NAT loopback), the host's own public address on a NAT
//! gateway or load balancer, or a DNAT on this host that captures the address (kube-proxy
//! does this for a LoadBalancer's address on every node, so a node never reaches the load
//! balancer itself, nor the PROXY protocol header it adds). What such a request meets says
//! nothing certain of the CA's path: the finding says so, carries no CA error, and a
//! perspective that got through (a vantage, the CA itself) makes it info
//! (`docs/ca-behaviour.md` §2.2: the CA dials the published address from outside).
//!
//! The same facts say when a name whose addresses are on no interface here still leads back
//! to this machine, so that `not-on-host` is not called "the wrong server" there.

use super::context::outside_connect;
use super::http01::judge::{Judge, may_pass, token_fails};
use super::{Code, Context, Finding, Note, Severity};
use crate::facts::{
    CaCheckOutcome, CaSaid, CaSource, ConnectOutcome, Family, HopOutcome, HttpOutcome,
};
use crate::firewall::model::{Ruleset, Verdict};
use std::net::IpAddr;

/// How this host's own request to a published address comes back to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// This host is the server behind the router's NAT that publishes the address
    /// (`Context::nat`): its own request goes to the router and back, through the
    /// router's hairpin NAT (NAT loopback), if the router does that at all.
    RouterHairpin { published: IpAddr, private: IpAddr },
    /// A vantage saw this host's own request leave from this address: it is this host's
    /// public face on a NAT gateway or load balancer, not an interface here.
    OwnPublicAddress { vantage: String },
    /// A DNAT of this host's own ruleset sends connections to the address elsewhere on or
    /// behind this host (kube-proxy's `KUBE-SERVICES` for a LoadBalancer's address).
    LocalDnat { rule: String, to: Option<IpAddr> },
}

impl Via {
    /// The evidence line: why this host's request to `ip` is not the CA's.
    pub fn evidence(&self, ip: &IpAddr, port: u16) -> String {
        match self {
            Via::RouterHairpin { published, private } => format!(
                "{published} lives on the router in front of this host ({private} here): this host's own request to {published}:{port} goes to the router and back through its hairpin NAT"
            ),
            Via::OwnPublicAddress { vantage } => format!(
                "{vantage} saw this host's own requests come from {ip}: it is this host's public address on a NAT gateway or load balancer, so this host's request to {ip}:{port} turns back there"
            ),
            Via::LocalDnat { rule, to } => match to {
                Some(to) => format!(
                    "this host's own ruleset sends connections to {ip}:{port} to {to} before they leave ({rule}): its request never reaches the load balancer the CA meets"
                ),
                None => format!(
                    "this host's own ruleset redirects connections to {ip}:{port} before they leave ({rule}): its request never reaches the load balancer the CA meets"
                ),
            },
        }
    }
}

/// Where this host's own connections to published addresses come back to it, decided once
/// per diagnosis (the ruleset is read once, however many addresses).
pub struct Hairpins<'c, 'a> {
    cx: &'c Context<'a>,
    ruleset: Option<Ruleset>,
}

impl<'c, 'a> Hairpins<'c, 'a> {
    pub fn new(cx: &'c Context<'a>) -> Hairpins<'c, 'a> {
        let ruleset = cx
            .host
            .firewall
            .as_ref()
            .map(|fw| crate::firewall::ruleset(fw).0);
        Hairpins { cx, ruleset }
    }

    /// How this host's own request to `ip` on `port` comes back to it, when it does and `ip`
    /// is on no interface here (a local address is reached through `lo`, which
    /// `Context::self_connection` names).
    pub fn via(&self, ip: &IpAddr, port: u16) -> Option<Via> {
        let cx = self.cx;
        if cx.is_local(ip) {
            return None;
        }
        if let Some(nat) = cx.nat.as_ref().filter(|n| n.published == *ip) {
            return Some(Via::RouterHairpin {
                published: nat.published,
                private: nat.private,
            });
        }
        if let Some((name, _)) = cx
            .outside
            .iter()
            .find(|(_, o)| o.source_address.map(|s| s.to_canonical()) == Some(*ip))
        {
            return Some(Via::OwnPublicAddress {
                vantage: name.to_string(),
            });
        }
        // The way in is what the simulator models: kube-proxy jumps to `KUBE-SERVICES` from
        // both PREROUTING and OUTPUT, so a DNAT of the address there catches this host's own
        // connection too. Only a DNAT of this address counts: Docker's and kube-proxy's
        // NodePort rules redirect whatever is addressed to this host (`addrtype LOCAL`, which
        // the simulator grants every packet it evaluates), so another address redirected
        // alike says the rule is not about this one.
        let rs = self.ruleset.as_ref()?;
        let syn = |daddr: IpAddr| rs.evaluate(&crate::firewall::inbound_syn(cx.host, daddr, port));
        match syn(*ip) {
            Verdict::Redirected { rule, to }
                if !matches!(syn(elsewhere(ip)), Verdict::Redirected { .. }) =>
            {
                Some(Via::LocalDnat {
                    rule: rule.to_string(),
                    to: to.to,
                })
            }
            _ => None,
        }
    }

    /// The first usable address of the name that leads back to this machine, and how.
    pub fn leads_here(&self, port: u16) -> Option<(IpAddr, Via)> {
        let cx = self.cx;
        cx.usable_v4
            .iter()
            .chain(&cx.usable_v6)
            .find_map(|ip| self.via(ip, port).map(|v| (*ip, v)))
    }
}

/// Another address of `ip`'s family that no rule should name: a documentation address, the
/// second one when `ip` is the first.
fn elsewhere(ip: &IpAddr) -> IpAddr {
    let candidates: [IpAddr; 2] = match ip {
        IpAddr::V4(_) => [
            IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 254)),
            IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 254)),
        ],
        IpAddr::V6(_) => [
            IpAddr::V6(std::net::Ipv6Addr::new(
                0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 0xfffe,
            )),
            IpAddr::V6(std::net::Ipv6Addr::new(
                0x2001, 0xdb8, 0xfffe, 0, 0, 0, 0, 0xfffe,
            )),
        ],
    };
    if candidates[0] == *ip {
        candidates[1]
    } else {
        candidates[0]
    }
}

/// Whether the real token this run wrote here came back through one of the name's addresses
/// that is on no interface here: then that address leads to this machine's webroot.
pub fn token_came_back(cx: &Context) -> Option<IpAddr> {
    let token = cx.http01().token.as_ref()?;
    cx.usable_v4
        .iter()
        .chain(&cx.usable_v6)
        .filter(|ip| !cx.is_local(ip))
        .find(|ip| {
            cx.answer(ip).is_some_and(|a| {
                matches!(a.token, HopOutcome::Answer(_)) && !token_fails(&a.token, Some(token))
            })
        })
        .copied()
}

/// The codes a self-probe's answer or connect can raise on one family.
const SELF_PROBE: &[Code] = &[
    Code::PortTimeout,
    Code::PortRefused,
    Code::AddressUnreachable,
    Code::ChallengeStatus,
    Code::BadRedirect,
    Code::HttpNoResponse,
    Code::ChallengeNotServed,
    Code::ChallengeWrongContent,
    Code::RouterAnswers,
    Code::WafBlocks,
    Code::HttpOnHttpsPort,
    Code::SlowFallback,
    Code::OutsideSeesOtherServer,
    Code::VantageDependent,
];

/// Codes that compare perspectives: this host's (through the hairpin) is one of them only
/// when every outside view was served, so only then are they the hairpin's.
const COMPARISONS: &[Code] = &[
    Code::OutsideSeesOtherServer,
    Code::VantageDependent,
    Code::WafBlocks,
];

/// A perspective on the CA's side of the hairpin that was served on `family` and `port`: a
/// vantage that connected (and, on the validation port of HTTP-01, got an answer the CA
/// may accept), or the CA's own validation over an address of that family.
fn perspective_served(cx: &Context, family: Family, port: u16) -> Option<String> {
    let usable = cx.usable(family);
    let judge = Judge {
        allow_reserved: cx.allow_reserved(),
        token: cx.http01().token.as_ref(),
    };
    let http_port = port == cx.dial_port() && matches!(cx.method(), crate::facts::Method::Http01);
    for (name, o) in &cx.outside {
        let served = usable.iter().any(|ip| {
            outside_connect(o, ip, port) == Some(&ConnectOutcome::Connected)
                && (!http_port
                    || o.http01
                        .http
                        .iter()
                        .filter(|h| h.address == *ip && h.port == port)
                        .all(|h| {
                            matches!(h.outcome, HttpOutcome::Response { .. }) && may_pass(h, judge)
                        }))
        });
        if served {
            return Some(format!("vantage {name}"));
        }
    }
    let ca_valid = cx.target.ca.iter().any(|e| match (&e.source, &e.said) {
        (CaSource::Check, CaSaid::Check(check)) => match &check.outcome {
            CaCheckOutcome::Valid { records } => records
                .iter()
                .any(|r| r.address_used.is_some_and(|ip| usable.contains(&ip))),
            CaCheckOutcome::Invalid { .. } | CaCheckOutcome::NotDone { .. } => false,
        },
        _ => false,
    });
    ca_valid.then(|| "the CA (--ca-check validated)".to_string())
}

/// Whether every outside view that dialled `family` on `port` was served there (and at least
/// one did): then a perspective that was not is this host's own.
fn every_view_served(cx: &Context, family: Family, port: u16) -> bool {
    let judge = Judge {
        allow_reserved: cx.allow_reserved(),
        token: cx.http01().token.as_ref(),
    };
    let http_port = port == cx.dial_port() && matches!(cx.method(), crate::facts::Method::Http01);
    let usable = cx.usable(family);
    let mut dialled = 0;
    for (_, o) in &cx.outside {
        for ip in usable {
            let Some(c) = outside_connect(o, ip, port) else {
                continue;
            };
            if super::context::vantage_limited(c) {
                continue;
            }
            dialled += 1;
            if *c != ConnectOutcome::Connected {
                return false;
            }
            if http_port
                && o.http01
                    .http
                    .iter()
                    .filter(|h| h.address == *ip && h.port == port)
                    .any(|h| {
                        !matches!(h.outcome, HttpOutcome::Response { .. }) || !may_pass(h, judge)
                    })
            {
                return false;
            }
        }
    }
    dialled > 0
}

/// Whether an outside perspective dialled `family` on `port` and failed there.
fn perspective_failed(cx: &Context, family: Family, port: u16) -> bool {
    cx.outside.iter().any(|(_, o)| {
        cx.usable(family).iter().any(|ip| {
            outside_connect(o, ip, port).is_some_and(|c| {
                !super::context::vantage_limited(c) && *c != ConnectOutcome::Connected
            })
        })
    })
}

/// After the checks: each finding this host's own probe raised on a family whose every
/// address comes back to it through a hairpin is labelled so, loses the CA's words, and
/// ranks as what it is: info once a perspective on the CA's side got through, a warning
/// when nothing outside was heard, unchanged when the outside failed too (the outside
/// findings then carry the CA's side).
pub fn label(cx: &Context, findings: &mut [Finding]) {
    let Some(default_port) = cx.validation_port() else {
        return;
    };
    let hairpins = Hairpins::new(cx);
    for family in [Family::Ipv4, Family::Ipv6] {
        let usable = cx.usable(family);
        if usable.is_empty() {
            continue;
        }
        // Decided per port, lazily: most runs have nothing to label.
        let mut decided: Vec<(u16, Option<(IpAddr, Via)>)> = Vec::new();
        for f in findings.iter_mut() {
            if f.family != Some(family)
                || f.severity == Severity::Info
                || f.ca_said
                || !SELF_PROBE.contains(&f.code)
                || f.notes.contains(&Note::SeenThroughHairpin)
            {
                continue;
            }
            let port = f.port.unwrap_or(default_port);
            let via = match decided.iter().find(|(p, _)| *p == port) {
                Some((_, v)) => v.clone(),
                None => {
                    let all: Option<Vec<Via>> =
                        usable.iter().map(|ip| hairpins.via(ip, port)).collect();
                    let v = all.and_then(|vias| vias.into_iter().next().map(|v| (usable[0], v)));
                    decided.push((port, v.clone()));
                    v
                }
            };
            let Some((ip, via)) = via else { continue };
            let served = perspective_served(cx, family, port);
            // A comparison of perspectives is the hairpin's only when every outside view was
            // served: otherwise an outside view's own failure is in it.
            if COMPARISONS.contains(&f.code) && !every_view_served(cx, family, port) {
                continue;
            }
            f.title = format!("{} (seen through the hairpin: not the CA's path)", f.title);
            f.evidence.push(via.evidence(&ip, port));
            f.ca_error = None;
            f.ca_problem = None;
            f.notes.push(Note::SeenThroughHairpin);
            match served {
                Some(who) => {
                    f.severity = Severity::Info;
                    f.evidence.push(format!(
                        "{who} reached {} port {port} and was served",
                        family.label()
                    ));
                }
                None if perspective_failed(cx, family, port) => {}
                None => {
                    f.severity = f.severity.max(Severity::Warning);
                    f.fix.push("see what the CA sees: run `acme-doctor serve` on another network and add --vantage URL, or --ca-check".into());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::diagnose;
    use crate::diagnose::testkit::Scenario;
    use crate::facts::ConnectOutcome;

    /// The server behind a router publishing 203.0.113.80, whose hairpinned request nginx
    /// refuses (the router's address is on its deny list): the self-probe's 403.
    fn hairpin_403() -> Scenario {
        Scenario::ipv4_only()
            .a(&["203.0.113.80"])
            .behind_nat("192.0.2.10")
            .connect("203.0.113.80", 80, ConnectOutcome::Connected)
            .http("203.0.113.80", 403, None)
    }

    #[test]
    fn a_hairpinned_403_is_labelled_and_carries_no_ca_error() {
        let cx = hairpin_403();
        let cx = cx.context();
        let d = diagnose(cx.run, cx.target);
        let f = d
            .findings
            .iter()
            .find(|f| f.code == Code::ChallengeStatus)
            .expect("challenge-status");
        assert_eq!(f.severity, Severity::Warning, "{f:?}");
        assert!(f.title.contains("seen through the hairpin"), "{}", f.title);
        assert_eq!(f.ca_error, None);
        assert_eq!(f.ca_problem, None);
        assert!(f.notes.contains(&Note::SeenThroughHairpin));
        assert!(
            f.evidence.iter().any(|e| e.contains("hairpin NAT")),
            "{:?}",
            f.evidence
        );
        // Never a pass, never a blocker worded as the CA's.
        assert_eq!(d.verdict, crate::diagnose::Verdict::AtRisk);
        assert!(d.incomplete);
    }

    #[test]
    fn a_vantage_that_is_served_makes_it_info() {
        let s = hairpin_403().vantage("https://v.example", |o| {
            o.connect("203.0.113.80", 80, ConnectOutcome::Connected)
                .http("203.0.113.80", 404, Some("nginx"))
                .source("203.0.113.80")
        });
        let cx = s.context();
        let d = diagnose(cx.run, cx.target);
        let f = d
            .findings
            .iter()
            .find(|f| f.code == Code::ChallengeStatus)
            .expect("challenge-status");
        assert_eq!(f.severity, Severity::Info, "{f:?}");
        assert_eq!(f.ca_error, None);
        // The difference between the hairpin's answer and the outside's is the hairpin's.
        for f in &d.findings {
            assert_ne!(f.severity, Severity::Blocker, "{f:?}");
        }
        assert_eq!(
            d.verdict,
            crate::diagnose::Verdict::Pass,
            "{:?}",
            d.findings
        );
    }

    #[test]
    fn an_outside_that_fails_too_keeps_the_blocker_without_the_ca_words() {
        let s = hairpin_403().vantage("https://v.example", |o| {
            o.connect("203.0.113.80", 80, ConnectOutcome::Timeout)
        });
        let cx = s.context();
        let d = diagnose(cx.run, cx.target);
        let f = d
            .findings
            .iter()
            .find(|f| f.code == Code::ChallengeStatus)
            .expect("challenge-status");
        assert_eq!(f.severity, Severity::Blocker);
        assert_eq!(f.ca_error, None);
        assert!(f.title.contains("seen through the hairpin"));
    }

    fn iptables_v4(dump: &str) -> crate::facts::FirewallFacts {
        use crate::facts::{FirewallFacts, IptablesBackend, IptablesDump, Probed, Unknown};
        FirewallFacts {
            nft: Probed::Unknown(Unknown::NotInstalled {
                program: "nft".into(),
            }),
            nft_netlink: None,
            iptables: vec![IptablesDump {
                family: Family::Ipv4,
                backend: IptablesBackend::Nft,
                dump: Probed::Known(dump.to_string()),
            }],
        }
    }

    /// A node whose own ruleset captures the load balancer's address (kube-proxy): its
    /// request reaches nginx without the PROXY header, and nginx closes it.
    #[test]
    fn a_kube_proxy_capture_is_a_hairpin_too() {
        let dump = "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-EXT-WEB - [0:0]\n-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n-A KUBE-SERVICES -d 203.0.113.80/32 -p tcp -m comment --comment \"ingress-nginx/ingress-nginx-controller:http loadbalancer IP\" -m tcp --dport 80 -j KUBE-EXT-WEB\n-A KUBE-EXT-WEB -p tcp -j DNAT --to-destination 198.51.100.7:80\nCOMMIT\n";
        let s = Scenario::ipv4_only()
            .a(&["203.0.113.80"])
            .not_on_host()
            .firewall(iptables_v4(dump))
            .connect("203.0.113.80", 80, ConnectOutcome::Connected)
            .http_outcome(
                "203.0.113.80",
                HttpOutcome::Error {
                    message: "connection closed before message completed".into(),
                },
            );
        let cx = s.context();
        let hp = Hairpins::new(&cx);
        let via = hp.via(&"203.0.113.80".parse().unwrap(), 80);
        assert!(
            matches!(&via, Some(Via::LocalDnat { to: Some(to), .. }) if to.to_string() == "198.51.100.7"),
            "{via:?}"
        );
        let d = diagnose(cx.run, cx.target);
        let f = d
            .findings
            .iter()
            .find(|f| f.code == Code::HttpNoResponse)
            .expect("http-no-response");
        assert_eq!(f.severity, Severity::Warning, "{f:?}");
        assert_eq!(f.ca_error, None);
        assert!(
            f.evidence.iter().any(|e| e.contains("KUBE")),
            "{:?}",
            f.evidence
        );
    }

    /// A workstation running Docker, checking a name elsewhere: Docker's DNAT takes whatever
    /// is addressed to this host, not that name's address.
    #[test]
    fn dockers_dnat_of_local_addresses_is_no_hairpin() {
        let s = Scenario::ipv4_only()
            .a(&["203.0.113.80"])
            .not_on_host()
            .firewall(crate::firewall::nat::tests::docker_firewall(""));
        let cx = s.context();
        let ip: IpAddr = "203.0.113.80".parse().unwrap();
        // The simulator alone redirects it (`addrtype LOCAL` holds for every packet it
        // evaluates): only the comparison with another address tells.
        let rs = Hairpins::new(&cx).ruleset.unwrap();
        assert!(matches!(
            rs.evaluate(&crate::firewall::inbound_syn(cx.host, ip, 80)),
            Verdict::Redirected { .. }
        ));
        assert_eq!(Hairpins::new(&cx).via(&ip, 80), None);
    }

    #[test]
    fn a_published_address_on_an_interface_is_no_hairpin() {
        let s = Scenario::ipv4_only().http("192.0.2.10", 403, None);
        let cx = s.context();
        assert_eq!(
            Hairpins::new(&cx).via(&"192.0.2.10".parse().unwrap(), 80),
            None
        );
        let d = diagnose(cx.run, cx.target);
        let f = &d.findings[0];
        assert_eq!(f.code, Code::ChallengeStatus);
        assert_eq!(f.severity, Severity::Blocker);
        assert!(f.ca_error.is_some());
        assert!(!f.title.contains("hairpin"));
    }
}
