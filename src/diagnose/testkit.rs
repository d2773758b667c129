//! Facts built in code for unit tests of single checks: a healthy dual-stack server that each
//! test bends to its case, so no fixture file is needed.

use super::Context;
use crate::domain::DomainName;
use crate::facts::{
    AuthoritativeFacts, CaaFacts, CaaLevel, CaaRecord, CdRetry, ConnectFact, ConnectOutcome,
    Dns01Facts, DnsFacts, DnsLookup, DnsOutcome, Family, FirewallFacts, HostFacts, Http01Facts,
    HttpFact, HttpOutcome, Interface, Listener, MethodFacts, NameserverFacts, ProbeOptions, Probed,
    Process, Resolver, RunFacts, ServerAnswer, Sysctl, Target, TargetFacts, TxtLookup,
};
use std::net::IpAddr;

pub struct Scenario {
    run: RunFacts,
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address")
}

fn answer(addresses: &[&str]) -> DnsLookup {
    DnsLookup {
        outcome: if addresses.is_empty() {
            DnsOutcome::NoData
        } else {
            DnsOutcome::Answer
        },
        addresses: addresses.iter().map(|a| ip(a)).collect(),
        cname_chain: Vec::new(),
        ttl: Some(300),
        elapsed_ms: 2,
        queued_ms: 0,
        own_limit: false,
    }
}

/// An nginx-like listener on port 80.
pub fn listener(address: &str, v6only: Option<bool>) -> Listener {
    let address = ip(address);
    Listener {
        family: Family::of(&address),
        address,
        port: 80,
        v6only,
        process: Some(Process {
            pid: 42,
            name: "nginx".into(),
        }),
    }
}

impl Scenario {
    /// example.test with A 192.0.2.10 and AAAA 2001:db8::10, both on this host's eth0, nginx
    /// on both families, IPv6 on, default routes, no firewall read, documentation addresses
    /// allowed as in the lab.
    pub fn dual_stack() -> Scenario {
        let host = HostFacts {
            kernel: Probed::Known("6.1.0".into()),
            ipv6_in_kernel: Probed::Known(true),
            disable_ipv6: Probed::Known(
                ["all", "default", "lo", "eth0"]
                    .iter()
                    .map(|s| Sysctl {
                        scope: s.to_string(),
                        value: 0,
                    })
                    .collect(),
            ),
            bindv6only: Probed::Known(false),
            interfaces: Probed::Known(vec![
                Interface {
                    name: "lo".into(),
                    up: true,
                    loopback: true,
                    addresses: vec![ip("127.0.0.1"), ip("::1")],
                },
                Interface {
                    name: "eth0".into(),
                    up: true,
                    loopback: false,
                    addresses: vec![ip("192.0.2.10"), ip("2001:db8::10")],
                },
            ]),
            default_route_v4: Probed::Known(true),
            default_route_v6: Probed::Known(true),
            listeners: Probed::Known(vec![listener("0.0.0.0", None), listener("::", Some(true))]),
            default_route_dev_v4: Some("eth0".into()),
            default_route_dev_v6: Some("eth0".into()),
            firewall: None,
            acme_clients: None,
            containers: Vec::new(),
            web_server: None,
            traefik: None,
        };
        let target = TargetFacts {
            target: Target {
                domain: DomainName {
                    input: "example.test".into(),
                    ascii: "example.test".into(),
                    wildcard: false,
                    ip: None,
                },
                resolver: Resolver::Given {
                    address: "203.0.113.53:53".parse().expect("resolver"),
                },
            },
            dns: Some(DnsFacts {
                a: answer(&["192.0.2.10"]),
                aaaa: answer(&["2001:db8::10"]),
            }),
            connects: Vec::new(),
            method: MethodFacts::Http01(Http01Facts::default()),
            caa: None,
            dnssec: Vec::new(),
            authoritative: None,
            vantages: Vec::new(),
            certificate: None,
            ca: Vec::new(),
            duration_ms: 5,
            method_from: None,
        };
        Scenario {
            run: RunFacts {
                facts_version: crate::facts::FACTS_VERSION,
                tool_version: "test".into(),
                started_at: "2026-11-28T00:00:00Z".into(),
                options: ProbeOptions {
                    timeout_ms: 2000,
                    allow_reserved: true,
                    ca_issuer: "letsencrypt.org".into(),
                    account_uri: None,
                    cdn_ranges: None,
                },
                host,
                targets: vec![target],
                duration_ms: 5,
            },
        }
    }

    /// The same server, validated with tls-alpn-01: the listeners (Caddy) on port 443, no
    /// handshake recorded yet.
    pub fn tls_alpn() -> Scenario {
        let mut s = Scenario::dual_stack();
        s.target().method = MethodFacts::TlsAlpn01(crate::facts::TlsAlpn01Facts {
            sni: "example.test".into(),
            ..Default::default()
        });
        if let Probed::Known(listeners) = &mut s.run.host.listeners {
            for l in listeners {
                l.port = 443;
                l.process = Some(Process {
                    pid: 43,
                    name: "caddy".into(),
                });
            }
        }
        s
    }

    /// The same server, validated with dns-01: no address lookups, the TXT as given.
    pub fn dns01(txt: TxtLookup, expect: Option<&str>) -> Scenario {
        let mut s = Scenario::dual_stack();
        let target = s.target();
        target.dns = None;
        target.method = MethodFacts::Dns01(Dns01Facts {
            challenge: "_acme-challenge.example.test".into(),
            expect_txt: expect.map(str::to_string),
            txt,
            sibling: None,
            doubled: None,
        });
        s
    }

    fn dns01_facts(&mut self) -> &mut Dns01Facts {
        match &mut self.target().method {
            MethodFacts::Dns01(f) => f,
            MethodFacts::Http01(_) | MethodFacts::TlsAlpn01(_) => {
                panic!("not a dns-01 scenario")
            }
        }
    }

    pub fn dns01_sibling(mut self, sibling: TxtLookup) -> Scenario {
        self.dns01_facts().sibling = Some(sibling);
        self
    }

    pub fn dns01_doubled(mut self, doubled: TxtLookup) -> Scenario {
        self.dns01_facts().doubled = Some(doubled);
        self
    }

    /// The same server, validated with tls-alpn-01: these handshakes, and the digest
    /// `--expect-keyauth` gave.
    pub fn tls_handshakes(
        mut self,
        handshakes: Vec<crate::facts::Handshake>,
        expected_digest: Option<&str>,
    ) -> Scenario {
        self.target().method = MethodFacts::TlsAlpn01(crate::facts::TlsAlpn01Facts {
            sni: "example.test".into(),
            handshakes,
            expected_digest: expected_digest.map(str::to_string),
        });
        self
    }

    /// CAA levels from the name up: (name, outcome, records).
    pub fn caa(mut self, levels: Vec<(&str, DnsOutcome, Vec<CaaRecord>)>) -> Scenario {
        self.target().caa = Some(CaaFacts {
            levels: levels
                .into_iter()
                .map(|(name, outcome, records)| CaaLevel {
                    name: name.into(),
                    outcome,
                    records,
                    cname_chain: Vec::new(),
                    ede: None,
                    own_limit: false,
                })
                .collect(),
        });
        self
    }

    pub fn dnssec(mut self, retries: Vec<CdRetry>) -> Scenario {
        self.target().dnssec = retries;
        self
    }

    /// Authoritative servers of example.test: (name, address, type, values) for the name
    /// the method asks (the domain for A/AAAA, the challenge for TXT).
    pub fn authoritative(mut self, servers: &[(&str, &str, &str, &[&str])]) -> Scenario {
        let servers = servers
            .iter()
            .map(|(name, address, rtype, values)| {
                let qname = if *rtype == "TXT" {
                    "_acme-challenge.example.test"
                } else {
                    "example.test"
                };
                NameserverFacts {
                    name: name.to_string(),
                    address: std::net::SocketAddr::new(ip(address), 53),
                    serial: Some(1),
                    answers: vec![ServerAnswer {
                        name: qname.into(),
                        rtype: rtype.to_string(),
                        outcome: if values.is_empty() {
                            DnsOutcome::NoData
                        } else {
                            DnsOutcome::Answer
                        },
                        values: values.iter().map(|v| v.to_string()).collect(),
                        ttl: Some(300),
                    }],
                }
            })
            .collect();
        self.target().authoritative = Some(AuthoritativeFacts {
            zone: Some("example.test".into()),
            problem: None,
            servers,
        });
        self
    }

    pub fn ipv4_only() -> Scenario {
        Scenario::dual_stack().aaaa(&[])
    }

    pub fn context(&self) -> Context<'_> {
        Context::new(&self.run, &self.run.targets[0])
    }

    /// Issue 20 item 4: where the name's method came from.
    pub fn method_from(mut self, from: Option<crate::facts::MethodFrom>) -> Scenario {
        self.target().method_from = from;
        self
    }

    fn target(&mut self) -> &mut TargetFacts {
        &mut self.run.targets[0]
    }

    fn http01(&mut self) -> &mut Http01Facts {
        match &mut self.target().method {
            MethodFacts::Http01(f) => f,
            MethodFacts::Dns01(_) | MethodFacts::TlsAlpn01(_) => {
                panic!("not an http-01 scenario")
            }
        }
    }

    pub fn dns(mut self, a: DnsLookup, aaaa: DnsLookup) -> Scenario {
        self.target().dns = Some(DnsFacts { a, aaaa });
        self
    }

    pub fn a(mut self, addresses: &[&str]) -> Scenario {
        if let Some(dns) = &mut self.target().dns {
            dns.a = answer(addresses);
        }
        self.add_local(addresses);
        self
    }

    pub fn aaaa(mut self, addresses: &[&str]) -> Scenario {
        if let Some(dns) = &mut self.target().dns {
            dns.aaaa = answer(addresses);
        }
        self
    }

    fn add_local(&mut self, addresses: &[&str]) {
        if let Probed::Known(ifs) = &mut self.run.host.interfaces
            && let Some(eth0) = ifs.iter_mut().find(|i| i.name == "eth0")
        {
            for a in addresses {
                if !eth0.addresses.contains(&ip(a)) {
                    eth0.addresses.push(ip(a));
                }
            }
        }
    }

    /// Reserved addresses are dropped, as outside a lab.
    pub fn strict_reserved(mut self) -> Scenario {
        self.run.options.allow_reserved = false;
        self
    }

    /// The target is the IP identifier `ip` (RFC 8738): no DNS at all; the scenario's facts
    /// about its addresses are left as they are.
    pub fn ip_identifier(mut self, ip: &str) -> Scenario {
        self.target().target.domain = crate::domain::parse(ip).expect("an IP identifier");
        self.target().dns = None;
        self
    }

    pub fn wildcard(mut self) -> Scenario {
        let domain = &mut self.target().target.domain;
        domain.wildcard = true;
        domain.input = format!("*.{}", domain.ascii);
        self.target().dns = None;
        self
    }

    /// This machine holds none of the addresses, and serves nothing on 80 or 443: another
    /// machine (with a listener there, its one private address would make it a server
    /// behind NAT).
    pub fn not_on_host(mut self) -> Scenario {
        if let Probed::Known(ifs) = &mut self.run.host.interfaces
            && let Some(eth0) = ifs.iter_mut().find(|i| i.name == "eth0")
        {
            eth0.addresses = vec![ip("198.51.100.7")];
        }
        self.run.host.listeners = Probed::Known(Vec::new());
        self
    }

    /// The server behind a NAT: the published IPv4 lives on a router, eth0 holds only
    /// `private`, and the listeners (0.0.0.0:80) stay.
    pub fn behind_nat(mut self, private: &str) -> Scenario {
        if let Probed::Known(ifs) = &mut self.run.host.interfaces
            && let Some(eth0) = ifs.iter_mut().find(|i| i.name == "eth0")
        {
            eth0.addresses = vec![ip(private)];
        }
        self
    }

    /// `disable_ipv6 = 1` on all, default and eth0 (the seed case).
    pub fn ipv6_off(mut self) -> Scenario {
        if let Probed::Known(list) = &mut self.run.host.disable_ipv6 {
            for s in list.iter_mut().filter(|s| s.scope != "lo") {
                s.value = 1;
            }
        }
        if let Probed::Known(ifs) = &mut self.run.host.interfaces {
            for i in ifs.iter_mut() {
                i.addresses.retain(|a| a.is_ipv4());
            }
        }
        self.run.host.default_route_v6 = Probed::Known(false);
        self
    }

    pub fn kernel_without_ipv6(mut self) -> Scenario {
        self = self.ipv6_off();
        self.run.host.ipv6_in_kernel = Probed::Known(false);
        self
    }

    pub fn no_v6_route(mut self) -> Scenario {
        self.run.host.default_route_v6 = Probed::Known(false);
        self.run.host.default_route_dev_v6 = None;
        self
    }

    /// The name's certificate, as `--all` found it: certbot renews it with `challenge`, per
    /// `/etc/letsencrypt/renewal/example.test.conf` line 12.
    pub fn certificate(mut self, challenge: crate::facts::Challenge) -> Scenario {
        let key = match challenge {
            crate::facts::Challenge::Webroot { .. } => "webroot_path",
            crate::facts::Challenge::Standalone { port: 80 } => "authenticator",
            crate::facts::Challenge::Standalone { .. } => "http01_port",
            _ => "authenticator",
        };
        let cert = crate::facts::ManagedCert {
            client: crate::facts::AcmeClient::Certbot,
            name: "example.test".into(),
            config: "/etc/letsencrypt/renewal/example.test.conf".into(),
            key: key.into(),
            line: Some(12),
            names: vec!["example.test".into()],
            challenge,
            webroots: Vec::new(),
            certificate: None,
            not_before: None,
            expiry: Probed::Unknown(crate::facts::Unknown::failed("test")),
            next_try: crate::facts::NextTry::Unknown { why: "test".into() },
            server: None,
            pre_hook: None,
            owner: None,
            entry_points: Vec::new(),
            token_not_written: None,
            last_failure: None,
            missing_files: Vec::new(),
        };
        for t in &mut self.run.targets {
            t.certificate = Some(cert.clone());
        }
        self
    }

    /// The client that renews the name's certificate (after [`Self::certificate`]).
    /// The certificate's files its renewal configuration names but that are gone.
    pub fn missing_files(mut self, files: &[&str]) -> Scenario {
        for t in &mut self.run.targets {
            if let Some(c) = t.certificate.as_mut() {
                c.missing_files = files.iter().map(|f| f.to_string()).collect();
            }
        }
        self
    }

    pub fn client(mut self, client: crate::facts::AcmeClient) -> Scenario {
        for t in &mut self.run.targets {
            if let Some(c) = t.certificate.as_mut() {
                c.client = client;
            }
        }
        self
    }

    /// The name validated by TLS-ALPN-01, with nothing handshaken yet.
    pub fn with_tls_alpn01_method(mut self) -> Scenario {
        for t in &mut self.run.targets {
            t.method = MethodFacts::TlsAlpn01(crate::facts::TlsAlpn01Facts {
                sni: t.target.domain.ascii.clone(),
                handshakes: Vec::new(),
                expected_digest: None,
            });
        }
        self
    }

    /// The name's certificate, as `--all` found it: a Traefik resolver with `tlsChallenge`
    /// renews it (`/etc/traefik/traefik.yml` line 6), validated by TLS-ALPN-01, with these
    /// entry points in the same file.
    pub fn traefik_tls_challenge(self, entry_points: &[crate::facts::EntryPoint]) -> Scenario {
        let mut s = self
            .with_tls_alpn01_method()
            .certificate(crate::facts::Challenge::TlsAlpn {
                port: crate::facts::Challenge::TLS_ALPN_PORT,
                http_fallback: false,
            });
        for t in &mut s.run.targets {
            if let Some(c) = t.certificate.as_mut() {
                c.client = crate::facts::AcmeClient::Traefik;
                c.config = "/etc/traefik/traefik.yml".into();
                c.key = "certificatesResolvers.le".into();
                c.line = Some(6);
                c.certificate = Some("/etc/traefik/acme.json".into());
                c.entry_points = entry_points.to_vec();
            }
        }
        s
    }

    /// Why `--all` wrote no real token for the name's certificate (after [`Self::certificate`]).
    pub fn token_not_written(mut self, why: &str) -> Scenario {
        for t in &mut self.run.targets {
            if let Some(c) = t.certificate.as_mut() {
                c.token_not_written = Some(why.into());
            }
        }
        self
    }

    /// The host's client configurations name an enabled web server unit.
    pub fn web_units(mut self, units: &[&str]) -> Scenario {
        let clients = self
            .run
            .host
            .acme_clients
            .get_or_insert_with(Default::default);
        clients.web_units = units.iter().map(|u| u.to_string()).collect();
        self
    }

    /// The certificate's pre-renewal hook.
    pub fn pre_hook(mut self, hook: &str) -> Scenario {
        for t in &mut self.run.targets {
            if let Some(c) = &mut t.certificate {
                c.pre_hook = Some(hook.into());
            }
        }
        self
    }

    pub fn listeners(mut self, listeners: Vec<Listener>) -> Scenario {
        self.run.host.listeners = Probed::Known(listeners);
        self
    }

    /// Traefik's configuration files on the host (issue 20 item 6).
    pub fn traefik(mut self, files: crate::facts::TraefikFiles) -> Scenario {
        self.run.host.traefik = Some(files);
        self
    }

    /// A container runtime on the host.
    pub fn containers(mut self, runtime: crate::facts::ContainerFacts) -> Scenario {
        self.run.host.containers.push(runtime);
        self
    }

    pub fn firewall(mut self, firewall: FirewallFacts) -> Scenario {
        self.run.host.firewall = Some(firewall);
        self
    }

    /// One connect outcome, replacing an earlier one for the same address and port.
    pub fn connect(mut self, address: &str, port: u16, outcome: ConnectOutcome) -> Scenario {
        let address = ip(address);
        // A timeout lasts as long as the probe waited; anything else answers at once.
        let elapsed_ms = if outcome == ConnectOutcome::Timeout {
            2000
        } else {
            1
        };
        let connects = &mut self.target().connects;
        connects.retain(|c| !(c.address == address && c.port == port));
        connects.push(ConnectFact {
            address,
            port,
            outcome,
            elapsed_ms,
        });
        self
    }

    fn connects_all(mut self, family: Family, port: u16) -> Scenario {
        let addresses: Vec<IpAddr> = self
            .target()
            .dns
            .as_ref()
            .map(|d| d.lookup(family).addresses.clone())
            .unwrap_or_default();
        for a in addresses {
            self = self.connect(&a.to_string(), port, ConnectOutcome::Connected);
        }
        self
    }

    pub fn v4_connects(self, port: u16) -> Scenario {
        self.connects_all(Family::Ipv4, port)
    }

    pub fn v6_connects(self, port: u16) -> Scenario {
        self.connects_all(Family::Ipv6, port)
    }

    /// The CA's walk.
    pub fn ca_path(mut self, path: crate::facts::CaPath) -> Scenario {
        self.http01().ca_path = Some(path);
        self
    }

    /// The real token's content is known (`--expect-body`).
    pub fn token(mut self, expected: &str) -> Scenario {
        self.http01().token = Some(crate::facts::TokenFacts {
            source: crate::facts::TokenSource::ExpectBody,
            token: expected.split('.').next().unwrap_or(expected).to_string(),
            expected: expected.to_string(),
        });
        self
    }

    /// What `address` answers for the token and for `/`.
    pub fn answers(
        mut self,
        address: &str,
        token: crate::facts::HopOutcome,
        root: crate::facts::HopOutcome,
    ) -> Scenario {
        self.http01().answers.push(crate::facts::AddressAnswers {
            address: ip(address),
            token,
            root,
            missing: None,
            root_again_sha256: None,
            tls: None,
        });
        self
    }

    /// What one address answered, whole (the missing page, the certificate on 443 too).
    pub fn address_answers(mut self, answers: crate::facts::AddressAnswers) -> Scenario {
        self.http01().answers.push(answers);
        self
    }

    /// The challenge GET on `address` answered `status`, after a successful connect.
    pub fn http(self, address: &str, status: u16, location: Option<&str>) -> Scenario {
        self.http_outcome(
            address,
            HttpOutcome::Response {
                status,
                server: Some("nginx".into()),
                location: location.map(str::to_string),
                body_prefix: String::new(),
                body_bytes: 0,
                body_truncated: false,
                page: Default::default(),
            },
        )
    }

    /// The challenge GET on `address` answered `status` with this `Server` header.
    pub fn http_server(self, address: &str, status: u16, server: &str) -> Scenario {
        self.http_outcome(
            address,
            HttpOutcome::Response {
                status,
                server: Some(server.into()),
                location: None,
                body_prefix: String::new(),
                body_bytes: 0,
                body_truncated: false,
                page: Default::default(),
            },
        )
    }

    /// The challenge GET on `address` ended in `outcome`, after a successful connect.
    pub fn http_outcome(mut self, address: &str, outcome: HttpOutcome) -> Scenario {
        self = self.connect(address, 80, ConnectOutcome::Connected);
        let address = ip(address);
        let facts = self.http01();
        facts.http.retain(|h| h.address != address);
        facts.http.push(HttpFact {
            address,
            port: 80,
            url: "http://example.test/.well-known/acme-challenge/T".into(),
            outcome,
            elapsed_ms: 1,
            agent: crate::facts::Agent::Ca,
        });
        self
    }

    /// The challenge GET on `address` with acme-doctor's own User-Agent ended in `outcome`
    /// (the host's second GET, beside the CA's).
    pub fn own_agent(mut self, address: &str, outcome: HttpOutcome) -> Scenario {
        let address = ip(address);
        let facts = self.http01();
        facts.own_agent.retain(|h| h.address != address);
        facts.own_agent.push(HttpFact {
            address,
            port: 80,
            url: "http://example.test/.well-known/acme-challenge/T".into(),
            outcome,
            elapsed_ms: 1,
            agent: crate::facts::Agent::Own,
        });
        self
    }

    /// `n` AAAA records in 2001:db8:1::/64, all on this host, each connecting on port 80 and
    /// answering `outcome(i)`; built in one pass, for tests of scale.
    pub fn many_aaaa(mut self, n: u16, outcome: impl Fn(u16) -> HttpOutcome) -> Scenario {
        let addresses: Vec<IpAddr> = (0..n)
            .map(|i| IpAddr::from([0x2001, 0xdb8, 1, 0, 0, 0, 0, i]))
            .collect();
        if let Some(dns) = &mut self.target().dns {
            dns.aaaa = answer(&[]);
            dns.aaaa.outcome = DnsOutcome::Answer;
            dns.aaaa.addresses = addresses.clone();
        }
        if let Probed::Known(ifs) = &mut self.run.host.interfaces
            && let Some(eth0) = ifs.iter_mut().find(|i| i.name == "eth0")
        {
            eth0.addresses.extend(addresses.iter().copied());
        }
        for (i, address) in (0..n).zip(addresses) {
            self.target().connects.push(ConnectFact {
                address,
                port: 80,
                outcome: ConnectOutcome::Connected,
                elapsed_ms: 1,
            });
            self.http01().http.push(HttpFact {
                address,
                port: 80,
                url: "http://example.test/.well-known/acme-challenge/T".into(),
                outcome: outcome(i),
                elapsed_ms: 1,
                agent: crate::facts::Agent::Ca,
            });
        }
        self
    }

    /// nginx runs here with this `nginx -T` dump (no Apache, no Caddy).
    pub fn nginx_dump(mut self, dump: &str) -> Scenario {
        use crate::facts::{NginxConfig, Unknown, WebServerFacts};
        fn not<T>(p: &str) -> Probed<T> {
            Probed::Unknown(Unknown::NotInstalled {
                program: p.to_string(),
            })
        }
        self.run.host.web_server = Some(WebServerFacts {
            nginx: Probed::Known(NginxConfig {
                command: "/usr/sbin/nginx -T".into(),
                dump: dump.to_string(),
            }),
            apache: not("apache2ctl"),
            caddy: not("caddy"),
        });
        self
    }

    /// A Caddyfile at its default path, with this text (no nginx, no Apache).
    pub fn caddyfile(mut self, text: &str) -> Scenario {
        use crate::facts::ConfigFile;
        self = self.nginx_dump("");
        if let Some(ws) = &mut self.run.host.web_server {
            ws.nginx = Probed::Unknown(crate::facts::Unknown::NotInstalled {
                program: "nginx".into(),
            });
            ws.caddy = Probed::Known(ConfigFile {
                path: "/etc/caddy/Caddyfile".into(),
                text: Probed::Known(text.to_string()),
            });
        }
        self
    }

    /// nginx holds port 80 here, and its configuration could not be read, for `why`.
    pub fn nginx_unread(self, why: crate::facts::Unknown) -> Scenario {
        let mut s = self.nginx_dump("");
        if let Some(ws) = &mut s.run.host.web_server {
            ws.nginx = Probed::Unknown(why);
        }
        s
    }

    /// Apache holds port 80 here, with this `apache2ctl -S` output and these files.
    pub fn apache(mut self, dash_s: &str, files: &[(&str, &str)]) -> Scenario {
        use crate::facts::{ApacheConfig, ConfigFile, Unknown, WebServerFacts};
        self.run.host.web_server = Some(WebServerFacts {
            nginx: Probed::Unknown(Unknown::NotInstalled {
                program: "nginx".into(),
            }),
            apache: Probed::Known(ApacheConfig {
                command: "apache2ctl -S".into(),
                vhosts: dash_s.to_string(),
                files: files
                    .iter()
                    .map(|(path, text)| ConfigFile {
                        path: path.to_string(),
                        text: Probed::Known(text.to_string()),
                    })
                    .collect(),
            }),
            caddy: Probed::Unknown(Unknown::NotInstalled {
                program: "caddy".into(),
            }),
        });
        if let Probed::Known(ls) = &mut self.run.host.listeners {
            for l in ls.iter_mut() {
                if let Some(p) = &mut l.process {
                    p.name = "apache2".into();
                }
            }
        }
        self
    }

    /// `--webroot DIR` was given.
    pub fn webroot(mut self, dir: &str) -> Scenario {
        self.http01().webroot = Some(dir.to_string());
        self
    }

    /// `--cdn-ranges`: these ranges replace the shipped ones.
    pub fn cdn_ranges(mut self, text: &str) -> Scenario {
        self.run.options.cdn_ranges = Some(text.to_string());
        self
    }

    /// These addresses are configured on this host's eth0 too.
    pub fn local(mut self, addresses: &[&str]) -> Scenario {
        self.add_local(addresses);
        self
    }

    /// Issue 19: what the CA said of this name (`--ca-check`, `--ca-error`, a client's log).
    pub fn ca_evidence(mut self, evidence: crate::facts::CaEvidence) -> Scenario {
        self.target().ca.push(evidence);
        self
    }

    /// Issue 19: words pasted with `--ca-error`.
    pub fn pasted(self, words: &str) -> Scenario {
        self.ca_evidence(crate::facts::CaEvidence {
            source: crate::facts::CaSource::Pasted,
            at: None,
            said: crate::facts::CaSaid::Words(words.to_string()),
        })
    }
}

impl Scenario {
    /// Issue 20 item 4: the name's certificate (after [`Self::certificate`]) found in the
    /// host's client configurations instead of given by `--all`: a run without `--all`.
    pub fn certificate_in_host_configs(mut self) -> Scenario {
        let certs: Vec<crate::facts::ManagedCert> = self
            .run
            .targets
            .iter_mut()
            .filter_map(|t| t.certificate.take())
            .collect();
        self.run
            .host
            .acme_clients
            .get_or_insert_with(Default::default)
            .certificates
            .extend(certs);
        self
    }
}

/// One outside view, built for a test: what a vantage saw.
pub struct OutsideView(crate::facts::Observation);

impl OutsideView {
    pub fn connect(mut self, address: &str, port: u16, outcome: ConnectOutcome) -> OutsideView {
        self.0.connects.push(ConnectFact {
            address: ip(address),
            port,
            outcome,
            elapsed_ms: 1,
        });
        self
    }

    /// The challenge GET from there answered `status` with this `Server` header.
    pub fn http(self, address: &str, status: u16, server: Option<&str>) -> OutsideView {
        self.http_outcome(
            address,
            HttpOutcome::Response {
                status,
                server: server.map(str::to_string),
                location: None,
                body_prefix: String::new(),
                body_bytes: 0,
                body_truncated: false,
                page: Default::default(),
            },
        )
    }

    /// The challenge GET from there (with the CA's User-Agent) ended in `outcome`.
    pub fn http_outcome(mut self, address: &str, outcome: HttpOutcome) -> OutsideView {
        self.0.http01.http.push(HttpFact {
            address: ip(address),
            port: 80,
            url: "http://example.test/.well-known/acme-challenge/T".into(),
            outcome,
            elapsed_ms: 1,
            agent: crate::facts::Agent::Ca,
        });
        self
    }

    /// The vantage saw the request come from `address`.
    pub fn source(mut self, address: &str) -> OutsideView {
        self.0.source_address = Some(ip(address));
        self
    }

    /// The vantage's own requests leave from `address`.
    pub fn own_source(mut self, address: &str) -> OutsideView {
        self.0.own_sources.push(ip(address));
        self
    }
}

impl Scenario {
    /// Adds an outside view named `name`, as a vantage would return it.
    pub fn vantage(
        mut self,
        name: &str,
        build: impl FnOnce(OutsideView) -> OutsideView,
    ) -> Scenario {
        let dns = self.target().dns.clone();
        let view = build(OutsideView(crate::facts::Observation {
            dns,
            connects: Vec::new(),
            http01: Http01Facts::default(),
            source_address: None,
            refused_targets: Vec::new(),
            targets_left_out: 0,
            own_sources: Vec::new(),
        }));
        self.target().vantages.push(crate::facts::VantageFacts {
            vantage: name.to_string(),
            observed: Ok(view.0),
            elapsed_ms: 1,
        });
        self
    }
}

impl Scenario {
    /// Adds what the CA said of the name (a `--ca-check`, pasted words, a logged failure).
    pub fn with_ca_evidence(mut self, evidence: crate::facts::CaEvidence) -> Scenario {
        self.target().ca.push(evidence);
        self
    }
}

// Issue 20 item 2: the whole diagnosis of a scenario, ranked.
impl Scenario {
    pub fn diagnose(&self) -> crate::diagnose::Diagnosis {
        crate::diagnose::diagnose(&self.run, &self.run.targets[0])
    }
}
