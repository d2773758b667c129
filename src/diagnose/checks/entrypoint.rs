//! Traefik's `tlsChallenge` is answered on whichever entry point receives the CA's connection to
//! port 443 (`docs/ca-behaviour.md` §12.2): a static configuration whose entry points have no
//! TCP `:443` that answers ACME leaves the challenge unanswered unless a forward (a container's
//! `443:8443`, a NAT rule) brings 443 to one of them. Read from the client facts that `--all`
//! (or the host's configurations) found: the resolver's certificate and the file's entry points.
//!
//! Code: `tls-challenge-entrypoint`.

use crate::diagnose::ca::{CaError, Dial, ProblemType};
use crate::diagnose::check::CheckDef;
use crate::diagnose::{Check, Code, Context, Finding, Severity, run_check};
use crate::facts::{AcmeClient, Challenge, EntryPoint, Family, Listener, ManagedCert, Method};

pub const CHECK: CheckDef = CheckDef {
    name: "tls_challenge_entrypoint",
    codes: &[Code::TlsChallengeEntrypoint],
    methods: &[Method::TlsAlpn01],
    run: |cx, out| run_check(&TlsChallengeEntrypoint, cx, out),
};

pub struct TlsChallengeEntrypoint;

/// What stands on port 443 instead of an entry point that answers.
#[derive(Debug, Clone, PartialEq)]
pub enum On443 {
    /// Nothing listens on TCP 443 on this host, and no container publishes it.
    Nothing,
    /// Something listens there (or the listeners are unknown): a forward may lead to Traefik.
    Something(Vec<Listener>),
    Unknown,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub cert: ManagedCert,
    /// The entry points on TCP 443 that do not answer: loopback only, or `allowACMEByPass`.
    pub silent_443: Vec<EntryPoint>,
    pub on_443: On443,
}

impl Check for TlsChallengeEntrypoint {
    type Evidence = Found;

    fn detect(&self, cx: &Context) -> Vec<Found> {
        let Some(cert) = traefik_tls_challenge(cx) else {
            return Vec::new();
        };
        let eps = &cert.entry_points;
        if eps.is_empty() || eps.iter().any(EntryPoint::answers_tls_alpn) {
            return Vec::new();
        }
        // A container publishing host port 443 to an entry point's port is the forward that
        // makes it the CA's (Traefik in Docker with `-p 443:8443`).
        let forwarded = cx.host.containers.iter().any(|runtime| {
            runtime.containers.known().is_some_and(|list| {
                list.iter().any(|c| {
                    c.ports.iter().any(|p| {
                        p.protocol == "tcp"
                            && p.host_port == Some(Challenge::TLS_ALPN_PORT)
                            && eps.iter().any(|e| e.tcp_port() == Some(p.container_port))
                    })
                })
            })
        });
        if forwarded {
            return Vec::new();
        }
        let on_443 = match cx.host.listeners.known() {
            Some(all) => {
                let by: Vec<Listener> = all
                    .iter()
                    .filter(|l| l.port == Challenge::TLS_ALPN_PORT)
                    .cloned()
                    .collect();
                if by.is_empty() {
                    On443::Nothing
                } else {
                    On443::Something(by)
                }
            }
            None => On443::Unknown,
        };
        let silent_443 = eps
            .iter()
            .filter(|e| e.tcp_port() == Some(Challenge::TLS_ALPN_PORT))
            .cloned()
            .collect();
        vec![Found {
            cert: cert.clone(),
            silent_443,
            on_443,
        }]
    }

    fn word(&self, cx: &Context, found: &Found) -> Finding {
        let cert = &found.cert;
        let eps = &cert.entry_points;
        let listed: Vec<String> = eps
            .iter()
            .map(|e| match e.line {
                Some(n) => format!(
                    "{}:{n}: entryPoints.{}.address = {:?}{}",
                    cert.config,
                    e.name,
                    e.address,
                    if e.acme_bypass {
                        " (allowACMEByPass)"
                    } else {
                        ""
                    }
                ),
                None => format!(
                    "{}: no entryPoints: Traefik's default `{}` on {:?}",
                    cert.config, e.name, e.address
                ),
            })
            .collect();
        // The entry point to change: one on 443 that hands ACME on, else one on 443 that
        // listens on loopback only, else the one that looks like the HTTPS one (not :80).
        let target = found
            .silent_443
            .iter()
            .find(|e| e.acme_bypass)
            .or_else(|| found.silent_443.first())
            .or_else(|| {
                eps.iter()
                    .find(|e| e.line.is_some() && e.tcp_port().is_some_and(|p| p != 80))
            });
        let place = |e: &EntryPoint| match e.line {
            Some(n) => format!("{}:{n}", cert.config),
            None => cert.config.clone(),
        };
        let (severity, why) = match (&found.on_443, found.silent_443.is_empty()) {
            (On443::Nothing, _) => (
                Severity::Blocker,
                "and nothing on this host listens on port 443, so no forward leads there"
                    .to_string(),
            ),
            (On443::Something(by), _) => (
                Severity::Warning,
                format!(
                    "unless a forward brings port 443 to it ({} listens on 443 now)",
                    by.iter()
                        .map(|l| l.process.as_ref().map_or_else(
                            || format!("a process on {}", l.address),
                            |p| p.name.clone()
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            (On443::Unknown, _) => (
                Severity::Warning,
                "unless a forward brings port 443 to one (this host's listeners could not be read)"
                    .to_string(),
            ),
        };
        let title = if found.silent_443.iter().any(|e| e.acme_bypass) {
            format!(
                "Traefik's tlsChallenge for {}: the entry point on port 443 sets allowACMEByPass, so Traefik hands the CA's acme-tls/1 connection to your routers instead of answering it",
                cert.name
            )
        } else {
            format!(
                "Traefik's tlsChallenge for {}: no entry point listens on port 443, where the CA connects, {why}",
                cert.name
            )
        };
        let mut f = Finding::new(Code::TlsChallengeEntrypoint, severity, title)
            .port(Challenge::TLS_ALPN_PORT)
            .detail(
                "Traefik answers TLS-ALPN-01 on the entry point that receives the CA's connection to port 443 (tlsChallenge names no entry point). The CA always dials 443; an entry point on another port answers it only behind a forward, one on a loopback address never, and one with allowACMEByPass passes acme-tls/1 on to the routers.",
            )
            .evidence(format!(
                "traefik {}: `{}` (tls-alpn-01)",
                cert.place(),
                cert.key
            ))
            .evidence_lines(listed);
        if let On443::Something(by) = &found.on_443 {
            f = f.evidence_lines(by.iter().map(|l| match &l.process {
                Some(p) => format!("{} (pid {}) listens on {}:443", p.name, p.pid, l.address),
                None => format!("a process listens on {}:443", l.address),
            }));
        }
        if severity == Severity::Warning {
            f = f.likely();
        }
        f = match target {
            Some(e) if e.acme_bypass => f.fix(format!(
                "remove `allowACMEByPass` from entryPoints.{} in {}, or route acme-tls/1 to Traefik's own solver",
                e.name,
                place(e)
            )),
            Some(e) => f.fix(format!(
                "listen on 443: `address: \":443\"` for entryPoints.{} in {} (TOML: `address = \":443\"`), then restart Traefik",
                e.name,
                place(e)
            )),
            None => f.fix(format!(
                "add an entry point on 443 in {}: `entryPoints: websecure: address: \":443\"` (TOML: `[entryPoints.websecure]` `address = \":443\"`), then restart Traefik",
                cert.config
            )),
        };
        f = f.fix("or forward port 443 to that entry point (Docker: `-p 443:<its port>`), or use httpChallenge on an entry point on port 80");
        match ca_error(cx, &found.on_443) {
            Some(error) => f.ca(error),
            None => f,
        }
    }
}

/// What the CA reports from the first address it dials (IPv6 first): the failed connect to
/// 443 this run saw, or, with nothing listening on 443 here, a refusal
/// (`docs/ca-behaviour.md` §3.3: `<ip>: Connection refused`).
fn ca_error(cx: &Context, on_443: &On443) -> Option<CaError> {
    let ip = cx
        .usable(Family::Ipv6)
        .first()
        .or_else(|| cx.usable(Family::Ipv4).first())?;
    let dial = match cx.connect(ip, Challenge::TLS_ALPN_PORT) {
        Some(outcome) => Dial::of(outcome),
        None if *on_443 == On443::Nothing => Some(Dial::Refused),
        None => None,
    }?;
    Some(CaError {
        problem: ProblemType::Connection,
        detail: format!("{ip}: {}", dial.core()),
    })
}

/// The certificate of this name that a Traefik resolver with `tlsChallenge` renews, with the
/// entry points of its static configuration.
fn traefik_tls_challenge<'a>(cx: &Context<'a>) -> Option<&'a ManagedCert> {
    let is_it = |c: &ManagedCert| {
        c.client == AcmeClient::Traefik && matches!(c.challenge, Challenge::TlsAlpn { .. })
    };
    if let Some(c) = &cx.target.certificate {
        return is_it(c).then_some(c);
    }
    cx.host
        .acme_clients
        .as_ref()?
        .for_name(cx.domain)
        .find(|c| is_it(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::{Scenario, listener};
    use crate::facts::Listener;

    fn ep(name: &str, address: &str, line: u32) -> EntryPoint {
        EntryPoint {
            name: name.into(),
            address: address.into(),
            acme_bypass: false,
            line: Some(line),
        }
    }

    /// Traefik's documentation example with the HTTPS entry point moved to 8443, as a
    /// container setup publishing `443:8443` writes it, but run without that mapping.
    fn traefik(eps: &[EntryPoint]) -> Scenario {
        Scenario::dual_stack().traefik_tls_challenge(eps)
    }

    fn on(port: u16, name: &str) -> Listener {
        let mut l = listener("0.0.0.0", None);
        l.port = port;
        if let Some(p) = l.process.as_mut() {
            p.name = name.into();
        }
        l
    }

    fn found(s: &Scenario) -> Vec<Finding> {
        let cx = s.context();
        TlsChallengeEntrypoint
            .detect(&cx)
            .iter()
            .map(|e| TlsChallengeEntrypoint.word(&cx, e))
            .collect()
    }

    #[test]
    fn no_entry_point_on_443_and_nothing_there_is_a_blocker_at_the_file_and_key() {
        let s = traefik(&[ep("web", ":80", 2), ep("websecure", ":8443", 4)])
            .listeners(vec![on(80, "traefik"), on(8443, "traefik")]);
        let f = found(&s);
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].code, f[0].severity, f[0].port),
            (Code::TlsChallengeEntrypoint, Severity::Blocker, Some(443))
        );
        assert!(
            f[0].evidence.iter().any(|e| e.ends_with(
                "/etc/traefik/traefik.yml:4: entryPoints.websecure.address = \":8443\""
            )),
            "{:?}",
            f[0].evidence
        );
        // Nothing on 443: the CA's first dial, IPv6 first, is refused.
        assert_eq!(
            f[0].ca_error.as_deref(),
            Some("2001:db8::10: Connection refused")
        );
        assert!(
            f[0].fix[0].contains("entryPoints.websecure in /etc/traefik/traefik.yml:4"),
            "{:?}",
            f[0].fix
        );
    }

    #[test]
    fn a_listener_on_443_makes_it_a_warning_and_a_443_entry_point_clears_it() {
        let s = traefik(&[ep("web", ":80", 2), ep("websecure", ":8443", 4)])
            .listeners(vec![on(443, "docker-proxy")]);
        let f = found(&s);
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(
            f[0].title.contains("docker-proxy listens on 443"),
            "{}",
            f[0].title
        );
        let s = traefik(&[ep("web", ":80", 2), ep("websecure", ":443", 4)]).listeners(vec![]);
        assert!(found(&s).is_empty());
    }

    #[test]
    fn loopback_udp_and_bypass_entry_points_do_not_answer() {
        let mut bypass = ep("websecure", ":443", 4);
        bypass.acme_bypass = true;
        let s = traefik(&[
            ep("h3", ":443/udp", 6),
            ep("local", "127.0.0.1:443", 8),
            bypass,
        ])
        .listeners(vec![]);
        let f = found(&s);
        assert_eq!(f.len(), 1);
        assert!(f[0].title.contains("allowACMEByPass"), "{}", f[0].title);
        assert!(
            f[0].fix[0].contains("remove `allowACMEByPass`"),
            "{:?}",
            f[0].fix
        );
    }

    /// Traefik's default entry point when the file has none: `http` on :80.
    #[test]
    fn the_default_entry_point_is_named_as_such() {
        let default = EntryPoint {
            name: "http".into(),
            address: ":80".into(),
            acme_bypass: false,
            line: None,
        };
        let f = found(&traefik(&[default]).listeners(vec![]));
        assert!(
            f[0].evidence
                .iter()
                .any(|e| e.contains("no entryPoints: Traefik's default `http`")),
            "{:?}",
            f[0].evidence
        );
        assert!(
            f[0].fix[0].starts_with("add an entry point on 443"),
            "{:?}",
            f[0].fix
        );
    }

    #[test]
    fn other_clients_and_methods_are_not_its_business() {
        // A lego --tls certificate: the standalone check's, not this one's.
        let s = Scenario::dual_stack()
            .with_tls_alpn01_method()
            .certificate(Challenge::TlsAlpn {
                port: 443,
                http_fallback: false,
            })
            .listeners(vec![]);
        assert!(found(&s).is_empty());
    }
}
