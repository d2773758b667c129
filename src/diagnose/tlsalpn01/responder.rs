//! Who should answer TLS-ALPN-01 on port 443, and who does (`docs/ca-behaviour.md` §12): the
//! ACME client the host's configurations name for this certificate with `tls-alpn-01` (Caddy,
//! Traefik's `tlsChallenge`, lego `--tls`, acme.sh `--alpn`), and the processes listening on
//! 443. The findings name both, so the fix says which program must get the port.

use crate::diagnose::Context;
use crate::facts::{AcmeClient, Challenge, Listener, ManagedCert};

/// What the host shows about port 443's responder.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Responder {
    /// The certificate a client renews by TLS-ALPN-01 for this name, when a configuration
    /// says so (or a Caddyfile that names it: Caddy enables TLS-ALPN-01 by default).
    pub expected: Option<Expected>,
    /// Processes listening on 443 (name, pid), when the listeners could be read.
    pub holders: Option<Vec<(String, Option<u32>)>>,
    /// nginx routes by the ClientHello (`ssl_preread on` in a `stream` block).
    pub nginx_preread: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub client: AcmeClient,
    /// Where the configuration says it (file, key, line).
    pub place: String,
}

impl Responder {
    pub fn of(cx: &Context, port: u16) -> Responder {
        let expected = expected(cx);
        let holders = cx.host.listeners.known().map(|listeners| {
            let mut on: Vec<(String, Option<u32>)> = listeners
                .iter()
                .filter(|l| l.port == port)
                .map(holder)
                .collect();
            on.sort();
            on.dedup();
            on
        });
        let nginx_preread = cx
            .host
            .web_server
            .as_ref()
            .and_then(|w| w.nginx.known())
            .is_some_and(|n| preread(&n.dump));
        Responder {
            expected,
            holders,
            nginx_preread,
        }
    }

    /// The holders, in words: `nginx (pid 812), caddy (pid 90)`.
    pub fn holders_text(&self) -> Option<String> {
        let holders = self.holders.as_ref()?;
        if holders.is_empty() {
            return None;
        }
        Some(
            holders
                .iter()
                .map(|(name, pid)| match pid {
                    Some(pid) => format!("{name} (pid {pid})"),
                    None => name.clone(),
                })
                .collect::<Vec<_>>()
                .join(", "),
        )
    }

    /// Whether a listener on 443 is the expected client's own process.
    fn expected_holds(&self) -> bool {
        let (Some(e), Some(holders)) = (&self.expected, &self.holders) else {
            return false;
        };
        holders.iter().any(|(name, _)| process_is(e.client, name))
    }

    /// Evidence lines: the client the configuration names, and who listens.
    pub fn evidence(&self, port: u16) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(e) = &self.expected {
            lines.push(format!(
                "{} answers TLS-ALPN-01 for this name ({})",
                e.client.as_str(),
                e.place
            ));
        }
        match (&self.holders, self.holders_text()) {
            (_, Some(text)) => lines.push(format!("listening on port {port}: {text}")),
            (Some(_), None) => lines.push(format!("nothing on this host listens on port {port}")),
            (None, None) => {}
        }
        if self.nginx_preread {
            lines.push("nginx routes TLS by its ClientHello (stream, ssl_preread on)".into());
        }
        lines
    }

    /// How to give port 443 to the responder, as specific as the host lets it be.
    pub fn fixes(&self) -> Vec<String> {
        let mut fixes = Vec::new();
        let holder = self.holders_text();
        match (&self.expected, self.expected_holds()) {
            (Some(e), false) => {
                let what = match e.client {
                    AcmeClient::Caddy => "Caddy must receive port 443 itself: stop what holds it, or forward 443 to Caddy's https_port",
                    AcmeClient::Traefik => "the Traefik entrypoint that receives port 443 on the public address answers TLS-ALPN-01: set `entryPoints.<name>.address = \":443\"` (or map 443 to it) and make sure nothing else takes 443",
                    AcmeClient::Lego => "lego --tls binds port 443 itself while it runs (--tls.port): nothing else may hold 443 then, or use --http/--dns",
                    AcmeClient::AcmeSh => "acme.sh --alpn binds port 443 itself while it runs: stop what holds 443 in a pre-hook, or use webroot/dns",
                    AcmeClient::Certbot => "certbot has no TLS-ALPN-01 solver: use --webroot or a DNS plugin",
                    AcmeClient::Dehydrated => "dehydrated writes its TLS-ALPN-01 certificates to ALPNCERTDIR: the TLS server on port 443 must answer acme-tls/1 with them",
                    AcmeClient::Uacme => "uacme answers TLS-ALPN-01 through ualpn, which must hold port 443 (in front of the web server)",
                };
                match &holder {
                    Some(h) => fixes.push(format!("{what} (now: {h})")),
                    None => fixes.push(what.to_string()),
                }
            }
            (Some(_), true) => fixes.push(
                "the responder holds 443 on this host but the CA meets something else: check NAT and port forwards, a load balancer or CDN in front, and which address each record points to".into(),
            ),
            (None, _) => fixes.push(
                "port 443 must reach the program that answers TLS-ALPN-01: Caddy, Traefik's entrypoint on :443, lego --tls or acme.sh --alpn while they run, or an nginx `stream` block with `ssl_preread on` sending acme-tls/1 to it".into(),
            ),
        }
        if self.nginx_preread {
            fixes.push(
                "nginx stream: `map $ssl_preread_alpn_protocols $upstream { ~\\bacme-tls/1\\b acme; default https; }` and `proxy_pass $upstream;` send the CA's ClientHello to the responder".into(),
            );
        } else if holder.as_deref().is_some_and(|h| h.starts_with("nginx")) {
            fixes.push(
                "or keep nginx on 443 and validate by http-01 (webroot) or dns-01 instead".into(),
            );
        }
        fixes
    }
}

/// The client this name's certificate is renewed by, with TLS-ALPN-01.
fn expected(cx: &Context) -> Option<Expected> {
    let of = |c: &ManagedCert| {
        let (challenge, _, _) = c.challenge_for(cx.domain);
        matches!(challenge, Challenge::TlsAlpn { .. }).then(|| Expected {
            client: c.client,
            place: c.place(),
        })
    };
    if let Some(c) = &cx.target.certificate {
        return of(c);
    }
    let configured = cx
        .host
        .acme_clients
        .as_ref()
        .and_then(|clients| clients.for_name(cx.domain).find_map(of));
    configured.or_else(|| caddyfile_names(cx))
}

/// A Caddyfile at its default path that names the domain: Caddy manages its certificate and
/// answers TLS-ALPN-01 itself unless the file turns it off (§12.1).
fn caddyfile_names(cx: &Context) -> Option<Expected> {
    let file = cx.host.web_server.as_ref()?.caddy.known()?;
    let text = file.text.known()?;
    let names_it = text
        .split(|c: char| c.is_whitespace() || c == ',' || c == '{')
        .any(|word| {
            let host = word.strip_prefix("https://").unwrap_or(word);
            let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
            host.eq_ignore_ascii_case(cx.domain)
        });
    (names_it && !text.contains("disable_tlsalpn_challenge")).then(|| Expected {
        client: AcmeClient::Caddy,
        place: file.path.clone(),
    })
}

fn holder(l: &Listener) -> (String, Option<u32>) {
    match &l.process {
        Some(p) => (p.name.clone(), Some(p.pid)),
        None => ("an unknown process".into(), None),
    }
}

/// Whether a process name is the client's own.
fn process_is(client: AcmeClient, process: &str) -> bool {
    let p = process.to_ascii_lowercase();
    match client {
        AcmeClient::Caddy => p == "caddy",
        AcmeClient::Traefik => p == "traefik",
        AcmeClient::Lego => p == "lego",
        AcmeClient::AcmeSh => p == "socat" || p.starts_with("acme.sh"),
        AcmeClient::Certbot => p.starts_with("certbot"),
        AcmeClient::Dehydrated => p == "dehydrated",
        AcmeClient::Uacme => p == "ualpn" || p == "uacme",
    }
}

/// `ssl_preread on;` outside comments, as a statement of its own.
fn preread(dump: &str) -> bool {
    dump.lines().any(|line| {
        let code = line.split('#').next().unwrap_or_default();
        code.split([';', '{', '}']).any(|statement| {
            let words: Vec<&str> = statement.split_whitespace().collect();
            words == ["ssl_preread", "on"]
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preread_is_read_from_directives_not_comments() {
        assert!(preread(
            "stream {\n  server { listen 443; ssl_preread on; }\n}"
        ));
        assert!(preread("    ssl_preread on;"));
        assert!(!preread("# ssl_preread on;"));
        assert!(!preread("ssl_preread off;"));
    }

    #[test]
    fn the_fix_names_the_expected_client_and_the_holder() {
        let r = Responder {
            expected: Some(Expected {
                client: AcmeClient::Caddy,
                place: "/etc/caddy/Caddyfile:1".into(),
            }),
            holders: Some(vec![("nginx".into(), Some(812))]),
            nginx_preread: false,
        };
        let fixes = r.fixes();
        assert!(
            fixes[0].starts_with("Caddy must receive port 443"),
            "{fixes:?}"
        );
        assert!(fixes[0].ends_with("(now: nginx (pid 812))"), "{fixes:?}");
        assert!(fixes[1].contains("http-01"), "{fixes:?}");
        assert_eq!(
            r.evidence(443),
            [
                "caddy answers TLS-ALPN-01 for this name (/etc/caddy/Caddyfile:1)",
                "listening on port 443: nginx (pid 812)"
            ]
        );
    }

    #[test]
    fn the_responder_on_443_points_past_the_host() {
        let r = Responder {
            expected: Some(Expected {
                client: AcmeClient::Traefik,
                place: "/etc/traefik/traefik.toml".into(),
            }),
            holders: Some(vec![("traefik".into(), Some(7))]),
            nginx_preread: false,
        };
        assert!(r.fixes()[0].contains("NAT"), "{:?}", r.fixes());
        let none = Responder::default();
        assert!(none.fixes()[0].contains("ssl_preread"));
        assert!(none.evidence(443).is_empty());
    }

    #[test]
    fn a_caddyfile_that_names_the_domain_expects_caddy() {
        use crate::diagnose::testkit::Scenario;
        let with = |text: &str| {
            let s = Scenario::tls_alpn().caddyfile(text);
            Responder::of(&s.context(), 443).expected
        };
        let caddy = Some(Expected {
            client: AcmeClient::Caddy,
            place: "/etc/caddy/Caddyfile".into(),
        });
        assert_eq!(with("example.test {\n  reverse_proxy :8080\n}\n"), caddy);
        assert_eq!(with("https://www.test, EXAMPLE.test:443 {\n}\n"), caddy);
        assert_eq!(with("other.test {\n}\n"), None);
        assert_eq!(
            with(
                "{\n  acme_ca x\n}\nexample.test {\n tls {\n  issuer acme {\n   disable_tlsalpn_challenge\n  }\n }\n}\n"
            ),
            None
        );
    }
}
