//! A derived view of the facts that several checks share: which addresses the CA would use,
//! whether this machine is the server, whether IPv6 is switched off here.

use crate::facts::{
    CaCheckOutcome, CaSaid, CaSource, ConnectFact, ConnectOutcome, Dns01Facts, DnsLookup, Family,
    HostFacts, Http01Facts, HttpFact, Method, MethodFacts, Observation, Probed, RunFacts, Sysctl,
    TargetFacts, TlsAlpn01Facts,
};
use crate::reserved::{self, Reserved};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

pub struct Context<'a> {
    pub run: &'a RunFacts,
    pub host: &'a HostFacts,
    pub target: &'a TargetFacts,
    /// The name as the CA sees it (ASCII, without `*.`), or an IP identifier's address.
    pub domain: &'a str,
    /// The host as the CA's URLs spell it: the name, or the address (IPv6 in brackets).
    pub url_host: String,
    /// Addresses the CA would keep after dropping reserved ones (or all, with
    /// `--allow-reserved`), per family, in resolver order.
    pub usable_v4: Vec<IpAddr>,
    pub usable_v6: Vec<IpAddr>,
    /// Published addresses the CA would drop, with the registry entry that drops them.
    pub reserved: Vec<(IpAddr, &'static Reserved)>,
    /// Every address configured on this machine, when the interfaces could be read.
    pub local_addresses: Option<BTreeSet<IpAddr>>,
    /// Why IPv6 is off on this machine, when it is.
    pub ipv6_off: Option<Ipv6Off>,
    /// The connects and challenge answers by address, so that per-address reasoning stays
    /// linear in the number of addresses (thousands of records are possible).
    connect_index: HashMap<(IpAddr, u16), &'a ConnectFact>,
    http_index: HashMap<IpAddr, &'a HttpFact>,
    /// (family, port) pairs on which at least one usable address may serve the CA.
    serving: HashSet<(Family, u16)>,
    /// This machine is the server behind a NAT: the published IPv4 address is on no
    /// interface, and the forward must reach its one private address.
    pub nat: Option<Nat>,
    /// What outside observers saw (vantages, saved outside runs), with their names.
    pub outside: Vec<(&'a str, &'a Observation)>,
}

/// The server behind a NAT (a home router, a cloud's 1:1 NAT): the published address lives
/// on the router, the port forward leads to `private`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nat {
    pub published: IpAddr,
    pub private: IpAddr,
}

/// How IPv6 is switched off on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ipv6Off {
    /// The kernel was booted with `ipv6.disable=1`: `/proc/sys/net/ipv6` is absent.
    NotInKernel,
    /// `disable_ipv6` is set: the global scopes that are on, then the interface that decides.
    Sysctls(Vec<Sysctl>),
}

impl Ipv6Off {
    pub fn evidence(&self) -> Vec<String> {
        match self {
            Ipv6Off::NotInKernel => {
                vec![
                    "/proc/sys/net/ipv6 is absent: the kernel was booted with ipv6.disable=1"
                        .into(),
                ]
            }
            Ipv6Off::Sysctls(list) => list
                .iter()
                .map(|s| format!("net.ipv6.conf.{}.disable_ipv6 = {}", s.scope, s.value))
                .collect(),
        }
    }
}

static NO_HTTP01: Http01Facts = Http01Facts {
    own_agent: Vec::new(),
    http: Vec::new(),
    root: Vec::new(),
    webroot: None,
    token: None,
    ca_path: None,
    answers: Vec::new(),
};

impl<'a> Context<'a> {
    pub fn new(run: &'a RunFacts, target: &'a TargetFacts) -> Context<'a> {
        let mut usable_v4 = Vec::new();
        let mut usable_v6 = Vec::new();
        let mut reserved_hits = Vec::new();
        for ip in target.addresses() {
            match reserved::classify(ip) {
                Some(entry) if !run.options.allow_reserved => {
                    reserved_hits.push((*ip, entry));
                }
                _ => match Family::of(ip) {
                    Family::Ipv4 => usable_v4.push(*ip),
                    Family::Ipv6 => usable_v6.push(*ip),
                },
            }
        }
        let local_addresses = run.host.interfaces.known().map(|ifaces| {
            ifaces
                .iter()
                .flat_map(|i| i.addresses.iter().copied())
                .collect::<BTreeSet<_>>()
        });
        let ipv6_off = ipv6_off(&run.host, &usable_v4);
        // The first fact for an address wins, as the linear searches this replaces did.
        let mut connect_index = HashMap::new();
        for c in &target.connects {
            connect_index.entry((c.address, c.port)).or_insert(c);
        }
        let mut http_index = HashMap::new();
        for h in &http01_of(target).http {
            http_index.entry(h.address).or_insert(h);
        }
        let mut cx = Context {
            run,
            host: &run.host,
            target,
            domain: &target.target.domain.ascii,
            url_host: target.target.domain.url_host(),
            usable_v4,
            usable_v6,
            reserved: reserved_hits,
            local_addresses,
            ipv6_off,
            connect_index,
            http_index,
            serving: HashSet::new(),
            nat: None,
            outside: target
                .vantages
                .iter()
                .filter_map(|v| v.observation().map(|o| (v.vantage.as_str(), o)))
                .collect(),
        };
        cx.nat = behind_nat(&cx);
        let mut serving = HashSet::new();
        // Only a method that connects has addresses that serve.
        for family in [Family::Ipv4, Family::Ipv6] {
            for &port in cx.method().ports() {
                if cx.usable(family).iter().any(|ip| cx.may_serve(ip, port)) {
                    serving.insert((family, port));
                }
            }
        }
        cx.serving = serving;
        cx
    }

    /// Whether `ip` may serve the CA on `port`: the connect got through and, on the
    /// validation port, the challenge answer is not one the CA certainly rejects. A catch-all
    /// 200 is only a warning, so it may serve; a missing answer is not evidence of failure.
    fn may_serve(&self, ip: &IpAddr, port: u16) -> bool {
        if self.connect(ip, port) != Some(&ConnectOutcome::Connected) {
            return false;
        }
        if port != self.dial_port() {
            return true;
        }
        match self.method() {
            Method::Http01 => {
                let judge = super::http01::judge::Judge {
                    allow_reserved: self.allow_reserved(),
                    token: self.http01().token.as_ref(),
                };
                let content_ok = match (judge.token, self.answer(ip)) {
                    (Some(token), Some(a)) => {
                        !super::http01::judge::token_fails(&a.token, Some(token))
                    }
                    _ => true,
                };
                content_ok
                    && self
                        .http(ip)
                        .is_none_or(|h| super::http01::judge::may_pass(h, judge))
            }
            // The handshake's verdict is the TLS-ALPN-01 checks' to give; a connect that
            // got through may serve.
            Method::TlsAlpn01 => true,
            // Connects nowhere: nothing to serve.
            Method::Dns01 => false,
        }
    }

    /// Whether some usable address of `family` may serve the CA on `port`. A problem seen on
    /// some addresses of a family is only a warning when this holds: when every address fails,
    /// however differently each one fails, the CA fails on that family
    /// (`docs/ca-behaviour.md` §2.2: it uses one address per family, whichever comes first).
    pub fn family_serves(&self, family: Family, port: u16) -> bool {
        self.serving.contains(&(family, port))
    }

    pub fn method(&self) -> Method {
        self.target.method()
    }

    /// The certificate of this name that a standalone ACME client renews by this run's
    /// method (certbot `--standalone`, lego `--http` without a webroot, acme.sh
    /// `--standalone`; lego `--tls`, acme.sh `--alpn`): the target's own under `--all`, else
    /// one the host's client configurations name it in.
    pub fn standalone(&self) -> Option<&'a crate::facts::ManagedCert> {
        let by_this_method = |c: &crate::facts::ManagedCert| {
            c.standalone_port().is_some() && c.challenge.method() == Some(self.method())
        };
        if let Some(c) = &self.target.certificate {
            return by_this_method(c).then_some(c);
        }
        self.host
            .acme_clients
            .as_ref()?
            .for_name(self.domain)
            .find(|c| by_this_method(c))
    }

    /// The port the CA connects to for this method; dns-01 connects nowhere.
    pub fn validation_port(&self) -> Option<u16> {
        self.method().validation_port()
    }

    /// The ports the CA may connect to on `family`: the validation port, and HTTP-01's port
    /// 443 once the challenge answer redirects to HTTPS there. A server without a certificate
    /// yet often has nothing on 443, and that is fine until a redirect leads the CA there.
    pub fn ports_in_play(&self, family: Family) -> Vec<u16> {
        let dial = self.dial_port();
        self.method()
            .ports()
            .iter()
            .copied()
            .filter(|&port| port == dial || self.redirects_to_https(family))
            .collect()
    }

    /// Why the CA connects to `port`, in a sentence for a finding's detail.
    pub fn port_role(&self, port: u16) -> String {
        if port != self.dial_port() {
            return format!(
                "Port {} redirects to HTTPS, and the CA follows the redirect to port {port}.",
                self.dial_port()
            );
        }
        match self.method() {
            Method::Http01 => format!("The CA fetches the http-01 challenge on port {port}."),
            Method::TlsAlpn01 => format!(
                "The CA makes its tls-alpn-01 TLS handshake (ALPN acme-tls/1) on port {port}."
            ),
            Method::Dns01 => String::new(),
        }
    }

    /// What must answer on the validation port, for a fix: the web server for HTTP-01, the
    /// TLS-ALPN-01 responder for TLS-ALPN-01, named from the certificate's client when the
    /// host's configurations say who renews the name.
    pub fn responder(&self) -> String {
        match self.method() {
            Method::Http01 => "the web server (or the ACME client's standalone server)".into(),
            Method::TlsAlpn01 => self
                .certificate()
                .and_then(crate::facts::ManagedCert::tls_alpn_responder)
                .unwrap_or_else(|| {
                    "the tls-alpn-01 responder (Caddy, Traefik, or the ACME client's standalone server)"
                        .into()
                }),
            Method::Dns01 => "the DNS provider".into(),
        }
    }

    /// The certificate that renews this name by this run's method: the target's own under
    /// `--all`, else one the host's client configurations name it in.
    pub fn certificate(&self) -> Option<&'a crate::facts::ManagedCert> {
        if let Some(c) = &self.target.certificate {
            return Some(c);
        }
        self.host
            .acme_clients
            .as_ref()?
            .for_name(self.domain)
            .find(|c| c.challenge.method() == Some(self.method()))
    }

    /// What the CA says when its dial to `ip` on the validation port fails: HTTP-01's
    /// `<ip>: Fetching <url>: <core>` (`docs/ca-behaviour.md` §2.8), TLS-ALPN-01's bare
    /// `<ip>: <core>` (§3.3). DNS-01 dials nothing; its arm is never asked.
    pub fn ca_dial_error(&self, ip: &IpAddr, dial: super::ca::Dial) -> super::ca::CaError {
        match self.method() {
            Method::Http01 | Method::Dns01 => super::ca::dial_error(&self.url_host, ip, dial),
            Method::TlsAlpn01 => {
                super::ca::tls_connection(super::ca::ProblemType::Connection, ip, dial.core())
            }
        }
    }

    /// The port of a method that connects. Only checks registered for such methods ask.
    pub fn dial_port(&self) -> u16 {
        debug_assert!(
            self.validation_port().is_some(),
            "{:?} connects nowhere",
            self.method()
        );
        self.validation_port().unwrap_or(super::ca::HTTP01_PORT)
    }

    /// The challenge URL the CA fetches: with the real token when this run knows it (a file
    /// written under `--webroot`, or `--expect-body`), else with a `<token>` placeholder.
    pub fn challenge_url(&self) -> String {
        match &self.http01().token {
            Some(t) => format!(
                "http://{}/.well-known/acme-challenge/{}",
                self.url_host, t.token
            ),
            None => crate::diagnose::ca::challenge_url(&self.url_host),
        }
    }

    /// The HTTP-01 facts (empty for another method): the GETs, the CA's walk, the answers.
    /// The connects are every method's: [`Context::connect`], [`Context::connects`].
    pub fn http01(&self) -> &'a Http01Facts {
        http01_of(self.target)
    }

    /// The DNS-01 facts, when that is the method.
    pub fn dns01(&self) -> Option<&'a Dns01Facts> {
        match &self.target.method {
            MethodFacts::Dns01(facts) => Some(facts),
            MethodFacts::Http01(_) | MethodFacts::TlsAlpn01(_) => None,
        }
    }

    /// The TLS-ALPN-01 facts, when that is the method.
    pub fn tlsalpn01(&self) -> Option<&'a TlsAlpn01Facts> {
        match &self.target.method {
            MethodFacts::TlsAlpn01(facts) => Some(facts),
            MethodFacts::Http01(_) | MethodFacts::Dns01(_) => None,
        }
    }

    pub fn allow_reserved(&self) -> bool {
        self.run.options.allow_reserved
    }

    pub fn usable(&self, family: Family) -> &[IpAddr] {
        match family {
            Family::Ipv4 => &self.usable_v4,
            Family::Ipv6 => &self.usable_v6,
        }
    }

    pub fn lookup(&self, family: Family) -> Option<&'a DnsLookup> {
        self.target.dns.as_ref().map(|d| d.lookup(family))
    }

    pub fn has_usable(&self) -> bool {
        !self.usable_v4.is_empty() || !self.usable_v6.is_empty()
    }

    pub fn is_local(&self, ip: &IpAddr) -> bool {
        self.local_addresses
            .as_ref()
            .is_some_and(|set| set.contains(ip))
    }

    /// Whether this machine is the server: it holds one of the addresses the CA would use,
    /// or it sits behind the NAT that publishes one. `None` when the interfaces could not be
    /// read.
    pub fn on_host(&self) -> Option<bool> {
        self.local_addresses.as_ref()?;
        Some(
            self.nat.is_some()
                || self
                    .usable_v4
                    .iter()
                    .chain(&self.usable_v6)
                    .any(|ip| self.is_local(ip)),
        )
    }

    /// Where packets for the published `ip` arrive on this machine: `ip` itself when it is
    /// local, the private address when this host is behind the NAT that publishes `ip`.
    pub fn local_address(&self, ip: &IpAddr) -> Option<IpAddr> {
        if self.is_local(ip) {
            return Some(*ip);
        }
        self.nat
            .as_ref()
            .filter(|n| n.published == *ip)
            .map(|n| n.private)
    }

    /// Whether the run's own connect to `ip` is a self-connection: made on the server to its
    /// own address, it goes through `lo` (or, behind a NAT, the router's hairpin), never
    /// along the CA's path.
    pub fn self_connection(&self, ip: &IpAddr) -> bool {
        self.on_host() == Some(true) && self.local_address(ip).is_some()
    }

    /// How the run's own connect to `ip` is named in evidence.
    pub fn connect_label(&self, ip: &IpAddr) -> &'static str {
        if self.self_connection(ip) {
            "self-connection from this host (through lo, not the CA's path) to"
        } else {
            "connect"
        }
    }

    /// Whether anything was seen from outside: a vantage or a saved outside run, or this
    /// run itself when it ran elsewhere than on the server.
    pub fn has_outside_evidence(&self) -> bool {
        !self.outside.is_empty() || self.on_host() == Some(false)
    }

    /// Whether anything outside this host was heard about the path the CA takes: a vantage
    /// (or a run saved elsewhere) that gave an observation and dialled, or the CA itself, in
    /// a `--ca-check` that reached a verdict or the CA's words pasted with `--ca-error`. A client's
    /// logged failure is history, not a view of now; a check that stopped before the CA
    /// validated heard nothing. Without it, a run on the server sees only its own side.
    pub fn heard_outside(&self) -> bool {
        // The CA vocabulary module decides what counts as the CA's verdict of now (a
        // cert-manager self-check quoted in a paste is not the CA).
        self.outside.iter().any(|(_, o)| !o.connects.is_empty()) || super::ca::join::heard_now(self)
    }

    /// Whether the IPv6 path looks healthy from inside this host: it is the server, IPv6 is
    /// on here, and its own connection to every usable AAAA got through on `port`. That
    /// connection goes through `lo`, so it proves nothing of the path from outside (see
    /// [`Context::ipv6_path_works`]); it only says nothing on this host stands in the way.
    pub fn ipv6_looks_healthy_inside(&self, port: u16) -> bool {
        self.on_host() == Some(true)
            && self.ipv6_off.is_none()
            && !self.usable_v6.is_empty()
            && self
                .usable_v6
                .iter()
                .all(|ip| self.connect(ip, port) == Some(&ConnectOutcome::Connected))
    }

    /// Whether a `--ca-check` the CA validated dialled an AAAA of this name on `port`: the
    /// CA's own IPv6 path works (its `validationRecord`'s `addressUsed`).
    fn ca_validated_over_ipv6(&self, port: u16) -> bool {
        self.target.ca.iter().any(|e| match (&e.source, &e.said) {
            (CaSource::Check, CaSaid::Check(check)) => match &check.outcome {
                CaCheckOutcome::Valid { records } => records.iter().any(|r| {
                    r.address_used
                        .is_some_and(|ip| self.usable_v6.contains(&ip))
                        && r.port
                            .as_deref()
                            .is_none_or(|p| p.parse::<u16>().ok() == Some(port))
                }),
                CaCheckOutcome::Invalid { .. } | CaCheckOutcome::NotDone { .. } => false,
            },
            _ => false,
        })
    }

    pub fn connects(&self, family: Family, port: u16) -> impl Iterator<Item = &'a ConnectFact> {
        self.target
            .connects
            .iter()
            .filter(move |c| c.port == port && Family::of(&c.address) == family)
    }

    pub fn connect(&self, ip: &IpAddr, port: u16) -> Option<&'a ConnectOutcome> {
        self.connect_index.get(&(*ip, port)).map(|c| &c.outcome)
    }

    /// What `ip` answered for the token and for `/` (no redirect followed).
    pub fn answer(&self, ip: &IpAddr) -> Option<&'a crate::facts::AddressAnswers> {
        self.http01().answers.iter().find(|a| a.address == *ip)
    }

    pub fn http(&self, ip: &IpAddr) -> Option<&'a HttpFact> {
        self.http_index.get(ip).copied()
    }

    /// Every usable AAAA address connected on `port` from outside: the CA's first choice
    /// works. On the server, its own connects go through `lo` and prove nothing of the path
    /// from outside, so only outside views count there (issue 8: no vantage, no false
    /// confidence): every view that could reach IPv6 at all connected to every AAAA. The CA
    /// validating over an AAAA in a `--ca-check` is the decisive view.
    pub fn ipv6_path_works(&self, port: u16) -> bool {
        if self.usable_v6.is_empty() {
            return false;
        }
        if self.ca_validated_over_ipv6(port) {
            return true;
        }
        if self.on_host() != Some(true) {
            return self
                .usable_v6
                .iter()
                .all(|ip| self.connect(ip, port) == Some(&ConnectOutcome::Connected));
        }
        let views: Vec<&Observation> = self
            .outside
            .iter()
            .map(|(_, o)| *o)
            .filter(|o| {
                self.usable_v6
                    .iter()
                    .any(|ip| outside_connect(o, ip, port).is_some_and(|c| !vantage_limited(c)))
            })
            .collect();
        !views.is_empty()
            && views.iter().all(|o| {
                self.usable_v6
                    .iter()
                    .all(|ip| outside_connect(o, ip, port) == Some(&ConnectOutcome::Connected))
            })
    }

    /// Whether the challenge answer on `family` redirects to HTTPS, which the CA follows to
    /// port 443 (`docs/ca-behaviour.md` §2.5).
    pub fn redirects_to_https(&self, family: Family) -> bool {
        self.usable(family).iter().any(|ip| {
            self.http(ip).is_some_and(|h| match &h.outcome {
                crate::facts::HttpOutcome::Response {
                    status,
                    location: Some(loc),
                    ..
                } => {
                    // Only these statuses are followed by the CA, and only a target on
                    // port 443 leads it there: a redirect to https://host:9443/ is refused
                    // (bad-redirect), and port 443 then plays no part.
                    matches!(status, 301 | 302 | 307 | 308)
                        && url::Url::parse(&h.url)
                            .and_then(|base| base.join(loc.trim()))
                            .is_ok_and(|t| {
                                t.scheme() == "https" && t.port_or_known_default() == Some(443)
                            })
                }
                _ => false,
            })
        })
    }

    /// How an address of `family` is named in a title: by its record type for a name
    /// (`AAAA 2001:db8::1`); an IP identifier has no record, it is the address.
    pub fn address_kind(&self, family: Family) -> &'static str {
        match self.target.target.domain.ip {
            Some(_) => "IP identifier",
            None => family.record_type(),
        }
    }

    /// Why the CA dials `ip`, as a clause: `example.com publishes AAAA 2001:db8::1`, or
    /// `the IP identifier is 2001:db8::1` (no record: the address is the identifier).
    pub fn publishes(&self, ip: &IpAddr) -> String {
        match self.target.target.domain.ip {
            Some(_) => format!("the IP identifier is {ip}"),
            None => format!(
                "{} publishes {} {ip}",
                self.domain,
                Family::of(ip).record_type()
            ),
        }
    }

    /// The published addresses as evidence: `example.com AAAA 2001:db8::1`.
    pub fn record_evidence(&self, family: Family) -> Vec<String> {
        let Some(lookup) = self.lookup(family) else {
            return Vec::new();
        };
        let mut lines: Vec<String> = lookup
            .cname_chain
            .iter()
            .map(|hop| format!("{} CNAME {}", hop.name, hop.target))
            .collect();
        let owner = lookup
            .cname_chain
            .last()
            .map_or(self.domain, |hop| hop.target.as_str());
        for ip in &lookup.addresses {
            lines.push(format!("{owner} {} {ip}", family.record_type()));
        }
        lines
    }
}

/// How an outside view's connect to `ip` on `port` ended, when it tried.
pub fn outside_connect<'o>(
    o: &'o Observation,
    ip: &IpAddr,
    port: u16,
) -> Option<&'o ConnectOutcome> {
    o.connects
        .iter()
        .find(|c| c.address == *ip && c.port == port)
        .map(|c| &c.outcome)
}

/// The HTTP-01 facts of a target, empty for another method.
fn http01_of(target: &TargetFacts) -> &Http01Facts {
    match &target.method {
        MethodFacts::Http01(facts) => facts,
        MethodFacts::Dns01(_) | MethodFacts::TlsAlpn01(_) => &NO_HTTP01,
    }
}

/// An outcome that says something about where the view stands (no IPv6 there), not about
/// the server.
pub fn vantage_limited(outcome: &ConnectOutcome) -> bool {
    matches!(
        outcome,
        ConnectOutcome::NetworkUnreachable
            | ConnectOutcome::FamilyNotSupported
            | ConnectOutcome::LocalPortsExhausted
            | ConnectOutcome::Other { .. }
    )
}

/// Behind NAT: the published IPv4 address is on no interface, this machine has exactly one
/// global-scope IPv4 address of its own, of a private kind (RFC 1918, shared 100.64/10 and
/// the like; in a lab with `--allow-reserved`, any reserved kind, so that a second
/// documentation prefix plays the private side), an IPv4 default route, and a listener that
/// accepts that address on the validation port. The listener tells a NAT'd server from a
/// laptop that merely runs the tool; a vantage that saw this host's requests leave from an
/// address of its own says that no NAT translates them.
fn behind_nat(cx: &Context) -> Option<Nat> {
    let port = cx.validation_port()?;
    let ifaces = cx.host.interfaces.known()?;
    if cx.host.default_route_v4.known() != Some(&true) {
        return None;
    }
    let published = *cx.usable_v4.first()?;
    // A CDN's or proxy's published address is not a NAT in front of this host: the proxy
    // connects onwards by itself (`proxy-in-front`).
    let ranges = crate::cdn::Ranges::new(cx.run.options.cdn_ranges.as_deref());
    if cx
        .usable_v4
        .iter()
        .chain(&cx.usable_v6)
        .any(|ip| ranges.lookup(ip).is_some())
    {
        return None;
    }
    if cx
        .usable_v4
        .iter()
        .chain(&cx.usable_v6)
        .any(|ip| cx.is_local(ip))
    {
        return None;
    }
    // Issue 20 item 4: a vantage saw this host's requests come from an address of its own
    // interfaces: nothing translates them, so no NAT stands in front of it (the old server
    // after a move, whose name now points at another machine, looks NATed otherwise).
    if cx.outside.iter().any(|(_, o)| {
        o.source_address
            .is_some_and(|s| cx.is_local(&s.to_canonical()))
    }) {
        return None;
    }
    let own: Vec<IpAddr> = ifaces
        .iter()
        .filter(|i| !i.loopback && i.up)
        .flat_map(|i| i.addresses.iter().copied())
        .filter(|ip| matches!(ip, IpAddr::V4(v4) if !v4.is_loopback() && !v4.is_link_local()))
        .collect();
    let [private] = own.as_slice() else {
        return None;
    };
    let private_kind = match private {
        IpAddr::V4(v4) => {
            v4.is_private()
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
                || (cx.allow_reserved() && reserved::classify(private).is_some())
        }
        IpAddr::V6(_) => false,
    };
    let listens = cx.host.listeners.known().is_some_and(|ls| {
        ls.iter().any(|l| {
            l.port == port
                && (l.address == *private
                    || (l.address.is_unspecified()
                        && (l.family == Family::Ipv4 || l.v6only != Some(true))))
        })
    });
    (private_kind && listens).then_some(Nat {
        published,
        private: *private,
    })
}

/// IPv6 is off when the kernel lacks it, or on the interface that would carry the domain's
/// traffic: the one holding its A address, else the default route's. Writing `all` sets every
/// interface that exists at that moment, but interfaces made later take `default`, and one
/// switched back on counts as on; so the carrying interface decides. Without one, every
/// non-loopback interface must be off. `None` when IPv6 is on or unknown.
fn ipv6_off(host: &HostFacts, usable_v4: &[IpAddr]) -> Option<Ipv6Off> {
    if let Probed::Known(false) = host.ipv6_in_kernel {
        return Some(Ipv6Off::NotInKernel);
    }
    let sysctls = host.disable_ipv6.known()?;
    let interfaces = host.interfaces.known();
    let loopbacks: Vec<&str> = interfaces
        .map(|ifs| {
            ifs.iter()
                .filter(|i| i.loopback)
                .map(|i| i.name.as_str())
                .collect()
        })
        .unwrap_or_else(|| vec!["lo"]);
    let global: Vec<&Sysctl> = sysctls
        .iter()
        .filter(|s| (s.scope == "all" || s.scope == "default") && s.value != 0)
        .collect();
    let carrier = interfaces
        .and_then(|ifs| {
            ifs.iter()
                .find(|i| !i.loopback && usable_v4.iter().any(|a| i.addresses.contains(a)))
                .map(|i| i.name.clone())
        })
        .or_else(|| host.default_route_dev_v4.clone())
        .or_else(|| host.default_route_dev_v6.clone());
    let collect = |list: Vec<&Sysctl>| Ipv6Off::Sysctls(list.into_iter().cloned().collect());
    if let Some(own) = carrier.and_then(|c| sysctls.iter().find(|s| s.scope == c)) {
        return (own.value != 0).then(|| collect(global.iter().copied().chain([own]).collect()));
    }
    let per_interface: Vec<&Sysctl> = sysctls
        .iter()
        .filter(|s| {
            s.scope != "all" && s.scope != "default" && !loopbacks.contains(&s.scope.as_str())
        })
        .collect();
    let off = if per_interface.is_empty() {
        global.iter().any(|s| s.scope == "all")
    } else {
        per_interface.iter().all(|s| s.value != 0)
    };
    off.then(|| collect(global.into_iter().chain(per_interface).collect()))
}

/// Formats milliseconds for evidence: `2001 ms`, `10.0 s`.
pub fn duration(ms: u64) -> String {
    if ms >= 1000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{ms} ms")
    }
}

/// `192.0.2.1:80` or `[2001:db8::1]:80`.
pub fn socket(ip: &IpAddr, port: u16) -> String {
    std::net::SocketAddr::new(*ip, port).to_string()
}
