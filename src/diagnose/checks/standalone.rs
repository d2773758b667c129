//! A standalone ACME client (certbot `--standalone`, lego `--http` without a webroot, acme.sh
//! `--standalone`; for TLS-ALPN-01 lego `--tls` and acme.sh `--alpn`) binds the validation
//! port itself, and only while it runs. What would stop it then is reported here: another
//! service holding the port now, or a
//! web server enabled to start with the machine. Between runs, an empty port is expected:
//! [`between_runs`] keeps the symptoms of that empty port from counting as failures.
//!
//! Code: `standalone-port-busy`.

use crate::diagnose::check::CheckDef;
use crate::diagnose::{Check, Code, Context, Finding, Note, Severity, run_check};
use crate::facts::{AcmeClient, Challenge, Listener, ManagedCert, Method};

pub const CHECK: CheckDef = CheckDef {
    name: "standalone",
    codes: &[Code::StandalonePortBusy],
    methods: &[Method::Http01, Method::TlsAlpn01],
    run: |cx, out| run_check(&Standalone, cx, out),
};

pub struct Standalone;

#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// Something listens on the standalone port now, and no pre-renewal hook stops it.
    Held {
        cert: ManagedCert,
        port: u16,
        by: Vec<Listener>,
    },
    /// Nothing listens now, but a web server is enabled to start with the machine.
    Enabled {
        cert: ManagedCert,
        port: u16,
        units: Vec<String>,
    },
}

impl Check for Standalone {
    type Evidence = Found;

    fn detect(&self, cx: &Context) -> Vec<Found> {
        let Some(cert) = cx.standalone() else {
            return Vec::new();
        };
        let Some(port) = cert.standalone_port() else {
            return Vec::new();
        };
        if cert.hook_stops_a_service() {
            return Vec::new();
        }
        let Some(listeners) = cx.host.listeners.known() else {
            return Vec::new();
        };
        let by: Vec<Listener> = listeners
            .iter()
            .filter(|l| l.port == port)
            .cloned()
            .collect();
        if !by.is_empty() {
            return vec![Found::Held {
                cert: cert.clone(),
                port,
                by,
            }];
        }
        let units = cx
            .host
            .acme_clients
            .as_ref()
            .map(|c| c.web_units.clone())
            .unwrap_or_default();
        if units.is_empty() {
            return Vec::new();
        }
        vec![Found::Enabled {
            cert: cert.clone(),
            port,
            units,
        }]
    }

    fn word(&self, _cx: &Context, found: &Found) -> Finding {
        match found {
            Found::Held { cert, port, by } => {
                let who: Vec<String> = by
                    .iter()
                    .map(|l| match &l.process {
                        Some(p) => format!("{} (pid {}) listens on port {port}", p.name, p.pid),
                        None => format!("a process listens on {}:{port}", l.address),
                    })
                    .collect();
                let holder = by.first().map_or("another process".to_string(), |l| {
                    l.process.as_ref().map_or("a process".to_string(), |p| {
                        format!("{} (pid {})", p.name, p.pid)
                    })
                });
                let service = by
                    .iter()
                    .find_map(|l| l.process.as_ref().map(|p| p.name.clone()))
                    .unwrap_or_else(|| "nginx".into());
                Finding::new(
                    Code::StandalonePortBusy,
                    Severity::Blocker,
                    format!(
                        "{} renews with its own server on port {port}, but {} holds the port: the renewal cannot bind it",
                        cert.client, holder
                    ),
                )
                .port(*port)
                .detail(format!(
                    "A standalone client must bind port {port} itself while it validates; with the port taken it stops before the CA is even asked ({}).",
                    bind_error(cert, *port)
                ))
                .evidence(format!("{} {}: `{}` ({})", cert.client, cert.place(), cert.key, cert.challenge.describe()))
                .evidence_lines(who)
                .fix(hook_fix(cert, &service))
                .fix(answer_fix(cert))
            }
            Found::Enabled { cert, port, units } => Finding::new(
                Code::StandalonePortBusy,
                Severity::Warning,
                format!(
                    "{} renews with its own server on port {port}; nothing holds the port now, but {} is enabled and holds it whenever it runs",
                    cert.client,
                    units.join(", ")
                ),
            )
            .likely()
            .port(*port)
            .detail("If the service runs at renewal time, the standalone client cannot bind the port and the renewal fails.")
            .evidence(format!("{} {}: `{}` ({})", cert.client, cert.place(), cert.key, cert.challenge.describe()))
            .evidence(format!("enabled: {}", units.join(", ")))
            .fix(hook_fix(cert, units[0].trim_end_matches(".service"))),
        }
    }
}

/// What the client says when it cannot bind the port (certbot's `Could not bind…`; lego's
/// and acme.sh's for TLS-ALPN-01, `docs/ca-behaviour.md` §12.3 and acme.sh `_checkport`).
fn bind_error(cert: &ManagedCert, port: u16) -> String {
    match (&cert.challenge, cert.client) {
        (Challenge::TlsAlpn { .. }, AcmeClient::AcmeSh) => {
            format!("acme.sh: \"tcp port {port} is already used by …\", \"Please stop it first\"")
        }
        (Challenge::TlsAlpn { .. }, _) => format!(
            "lego: \"could not start HTTPS server for challenge: listen tcp :{port}: bind: address already in use\""
        ),
        _ => format!(
            "certbot: \"Could not bind TCP port {port} because it is already in use by another process on this system\""
        ),
    }
}

/// Letting the server that holds the port answer instead.
fn answer_fix(cert: &ManagedCert) -> String {
    match cert.challenge {
        // Whatever holds 443 serves the site's HTTPS: it cannot answer acme-tls/1 for the
        // client, so the client changes method.
        Challenge::TlsAlpn { .. } => format!(
            "or renew by HTTP-01 through the web server instead ({}), since the server on 443 cannot answer TLS-ALPN-01 for {}",
            match cert.client {
                AcmeClient::AcmeSh => "acme.sh: `--issue -w /var/www/html`, saved as Le_Webroot",
                _ => "lego: `--http --http.webroot /var/www/html` instead of `--tls`",
            },
            cert.client
        ),
        _ => format!(
            "or let the web server answer: switch the certificate to webroot (certbot: `authenticator = webroot` and `webroot_path` in {})",
            cert.config
        ),
    }
}

fn hook_fix(cert: &ManagedCert, service: &str) -> String {
    match cert.client {
        AcmeClient::Certbot => format!(
            "stop it for the renewal: `pre_hook = systemctl stop {service}` and `post_hook = systemctl start {service}` under [renewalparams] in {}",
            cert.config
        ),
        AcmeClient::AcmeSh => format!(
            "stop it for the renewal: `acme.sh --renew -d {} --pre-hook 'systemctl stop {service}' --post-hook 'systemctl start {service}'` (saved as Le_PreHook/Le_PostHook in {})",
            cert.name, cert.config
        ),
        _ => format!(
            "stop it for the renewal (`systemctl stop {service}` before, `systemctl start {service}` after), in {}",
            cert.place()
        ),
    }
}

/// Between a standalone client's runs nothing listens, so connects are refused: that refusal
/// is expected, not a failure, once `no-listener` has been judged informational for it.
pub fn between_runs(findings: &mut [Finding]) {
    let quiet: Vec<_> = findings
        .iter()
        .filter(|f| f.code == Code::NoListener && f.severity == Severity::Info)
        .map(|f| (f.family, f.port))
        .collect();
    for f in findings.iter_mut() {
        if matches!(f.code, Code::PortRefused | Code::HttpNoResponse)
            && quiet.contains(&(f.family, f.port))
            && f.severity != Severity::Info
        {
            f.severity = Severity::Info;
            f.notes.push(Note::StandaloneBetweenRuns);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::Verdict;
    use crate::diagnose::diagnose;
    use crate::diagnose::testkit::{Scenario, listener};
    use crate::facts::ConnectOutcome;

    fn standalone() -> Scenario {
        Scenario::dual_stack().certificate(Challenge::Standalone { port: 80 })
    }

    #[test]
    fn a_web_server_on_the_port_blocks_a_standalone_renewal() {
        let s = standalone();
        let cx = s.context();
        let found = Standalone.detect(&cx);
        let f = Standalone.word(&cx, &found[0]);
        assert_eq!(
            (f.code, f.severity),
            (Code::StandalonePortBusy, Severity::Blocker)
        );
        assert!(
            f.fix[0].contains("pre_hook = systemctl stop"),
            "{:?}",
            f.fix
        );
        assert!(
            f.evidence[0].contains("example.test.conf:12"),
            "{:?}",
            f.evidence
        );
    }

    #[test]
    fn a_hook_that_stops_the_server_clears_it() {
        let s = standalone().pre_hook("systemctl stop nginx");
        assert!(Standalone.detect(&s.context()).is_empty());
    }

    #[test]
    fn an_enabled_web_server_unit_is_a_warning_when_nothing_listens_now() {
        let s = standalone().listeners(vec![]).web_units(&["nginx.service"]);
        let cx = s.context();
        let f = Standalone.word(&cx, &Standalone.detect(&cx)[0]);
        assert_eq!(f.severity, Severity::Warning);
        assert!(f.title.contains("nginx.service is enabled"), "{}", f.title);
    }

    #[test]
    fn between_runs_a_standalone_name_passes_with_info_findings() {
        let s = standalone()
            .listeners(vec![])
            .connect("192.0.2.10", 80, ConnectOutcome::Refused)
            .connect("2001:db8::10", 80, ConnectOutcome::Refused);
        let cx = s.context();
        let d = diagnose(cx.run, cx.target);
        assert_eq!(d.verdict, Verdict::Pass, "{:#?}", d.findings);
        assert!(d.findings.iter().all(|f| f.severity == Severity::Info));
        assert!(d.findings.iter().any(|f| f.code == Code::NoListener));
        // Without the standalone client, the same facts fail.
        let s = Scenario::dual_stack()
            .listeners(vec![])
            .connect("192.0.2.10", 80, ConnectOutcome::Refused)
            .connect("2001:db8::10", 80, ConnectOutcome::Refused);
        let cx = s.context();
        assert_eq!(diagnose(cx.run, cx.target).verdict, Verdict::Fail);
        let _ = listener("0.0.0.0", None);
    }

    /// lego `--tls` binds 443 itself while it validates (`docs/ca-behaviour.md` §12.3): nginx
    /// holding 443 stops it, and lego's own error is quoted.
    #[test]
    fn a_standalone_tls_alpn_client_whose_port_443_is_taken() {
        let mut nginx = listener("0.0.0.0", None);
        nginx.port = 443;
        let s = Scenario::dual_stack()
            .with_tls_alpn01_method()
            .certificate(Challenge::TlsAlpn {
                port: 443,
                http_fallback: false,
            })
            .client(AcmeClient::Lego)
            .listeners(vec![nginx]);
        let cx = s.context();
        let found = Standalone.detect(&cx);
        assert_eq!(found.len(), 1, "{found:?}");
        let f = Standalone.word(&cx, &found[0]);
        assert_eq!(
            (f.code, f.severity, f.port),
            (Code::StandalonePortBusy, Severity::Blocker, Some(443))
        );
        assert!(
            f.detail
                .contains("could not start HTTPS server for challenge"),
            "{}",
            f.detail
        );
        assert!(f.fix[1].contains("--http.webroot"), "{:?}", f.fix);
    }

    /// The same certificate says nothing about an HTTP-01 run of its name: a lego `--tls`
    /// client does not bind port 80.
    #[test]
    fn a_tls_alpn_client_is_not_standalone_for_http01() {
        let s = Scenario::dual_stack()
            .certificate(Challenge::TlsAlpn {
                port: 443,
                http_fallback: false,
            })
            .client(AcmeClient::Lego);
        let cx = s.context();
        assert!(cx.standalone().is_none());
        assert!(Standalone.detect(&cx).is_empty());
    }

    /// Between lego `--tls` runs nothing listens on 443: no-listener is information.
    #[test]
    fn between_runs_an_empty_443_is_expected_for_lego_tls() {
        let s = Scenario::dual_stack()
            .with_tls_alpn01_method()
            .certificate(Challenge::TlsAlpn {
                port: 443,
                http_fallback: false,
            })
            .client(AcmeClient::Lego)
            .listeners(vec![])
            .connect("192.0.2.10", 443, ConnectOutcome::Refused)
            .connect("2001:db8::10", 443, ConnectOutcome::Refused);
        let cx = s.context();
        let d = diagnose(cx.run, cx.target);
        let no_listener: Vec<&Finding> = d
            .findings
            .iter()
            .filter(|f| f.code == Code::NoListener)
            .collect();
        assert!(!no_listener.is_empty(), "{:#?}", d.findings);
        assert!(
            no_listener
                .iter()
                .all(|f| f.severity == Severity::Info && f.port == Some(443)),
            "{no_listener:#?}"
        );
    }

    /// lego `--tls --tls.port :5001`: the CA still dials 443, so a forward must bring 443 to
    /// 5001 while lego runs; the empty 443 is no between-runs information then.
    #[test]
    fn a_tls_alpn_client_on_another_port_needs_a_forward_from_443() {
        let s = Scenario::dual_stack()
            .with_tls_alpn01_method()
            .certificate(Challenge::TlsAlpn {
                port: 5001,
                http_fallback: false,
            })
            .client(AcmeClient::Lego)
            .listeners(vec![])
            .connect("192.0.2.10", 443, ConnectOutcome::Refused)
            .connect("2001:db8::10", 443, ConnectOutcome::Refused);
        let cx = s.context();
        let d = diagnose(cx.run, cx.target);
        let f = d
            .findings
            .iter()
            .find(|f| f.code == Code::NoListener && f.port == Some(443))
            .unwrap_or_else(|| panic!("{:#?}", d.findings));
        assert_eq!(f.severity, Severity::Blocker);
        assert!(
            f.evidence
                .iter()
                .any(|e| e.contains("listen on port 5001, but the CA connects to port 443")),
            "{:?}",
            f.evidence
        );
        assert!(
            f.fix
                .iter()
                .any(|x| x.starts_with("forward port 443 to 5001")),
            "{:?}",
            f.fix
        );
    }
}
