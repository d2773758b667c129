//! The ACME clients configured on the host and the certificates they renew (`--all`, and the
//! standalone mode of issue 11): what their own configuration files say, read-only.

use super::{Method, Probed};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which ACME client manages a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AcmeClient {
    #[serde(rename = "certbot")]
    Certbot,
    #[serde(rename = "acme.sh")]
    AcmeSh,
    #[serde(rename = "lego")]
    Lego,
    #[serde(rename = "caddy")]
    Caddy,
    #[serde(rename = "traefik")]
    Traefik,
    #[serde(rename = "dehydrated")]
    Dehydrated,
    #[serde(rename = "uacme")]
    Uacme,
}

impl AcmeClient {
    pub fn as_str(self) -> &'static str {
        match self {
            AcmeClient::Certbot => "certbot",
            AcmeClient::AcmeSh => "acme.sh",
            AcmeClient::Lego => "lego",
            AcmeClient::Caddy => "caddy",
            AcmeClient::Traefik => "traefik",
            AcmeClient::Dehydrated => "dehydrated",
            AcmeClient::Uacme => "uacme",
        }
    }

    /// Whether the client is the web server itself, holding its ports all the time (Caddy,
    /// Traefik), rather than a program that runs now and then (and, standalone, binds the
    /// validation port only while it runs).
    pub fn is_web_server(self) -> bool {
        match self {
            AcmeClient::Caddy | AcmeClient::Traefik => true,
            AcmeClient::Certbot
            | AcmeClient::AcmeSh
            | AcmeClient::Lego
            | AcmeClient::Dehydrated
            | AcmeClient::Uacme => false,
        }
    }
}

impl fmt::Display for AcmeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn tls_alpn_port() -> u16 {
    Challenge::TLS_ALPN_PORT
}

/// How the client answers the challenge, as its configuration says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Challenge {
    /// http-01 through files written under a directory the web server serves.
    Webroot { path: String },
    /// http-01 from the client's own server, listening on `port` only while it runs.
    Standalone { port: u16 },
    /// http-01 through a web server the client drives or is (certbot's nginx/apache
    /// plugins, Caddy, Traefik's httpChallenge entry point).
    WebServer { server: String },
    /// dns-01, through a DNS provider's API when one is named.
    Dns { provider: Option<String> },
    /// tls-alpn-01 (acme.sh `--alpn`, lego `--tls`, Traefik `tlsChallenge`, Caddy). The CA
    /// always connects to port 443 (`docs/ca-behaviour.md` §3.1); `port` is where the
    /// responder listens (lego `--tls.port`, acme.sh `--tlsport`, Caddy's `alt_tlsalpn_port` or
    /// `https_port`), so any other port needs a forward from 443. Facts written before the
    /// port was recorded load as 443.
    TlsAlpn {
        #[serde(default = "tls_alpn_port")]
        port: u16,
        /// The client tries HTTP-01 when TLS-ALPN-01 fails (Caddy with both challenges
        /// enabled, its default: `docs/ca-behaviour.md` §12.1).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        http_fallback: bool,
    },
    /// Manual (`certbot --manual`, acme.sh manual DNS): a person answers.
    Manual,
    /// A setting acme-doctor does not know.
    Other { what: String },
}

impl Challenge {
    /// The port the CA dials for tls-alpn-01 (RFC 8737 §3), and a responder's default.
    pub const TLS_ALPN_PORT: u16 = super::tlsalpn01::TLS_ALPN_PORT;

    /// The validation method acme-doctor simulates for it, when it simulates one.
    pub fn method(&self) -> Option<Method> {
        match self {
            Challenge::Webroot { .. }
            | Challenge::Standalone { .. }
            | Challenge::WebServer { .. } => Some(Method::Http01),
            Challenge::Dns { .. } => Some(Method::Dns01),
            Challenge::TlsAlpn { .. } => Some(Method::TlsAlpn01),
            Challenge::Manual | Challenge::Other { .. } => None,
        }
    }

    /// In words, for listings.
    pub fn describe(&self) -> String {
        match self {
            Challenge::Webroot { path } => format!("http-01 webroot {path}"),
            Challenge::Standalone { port } => format!("http-01 standalone :{port}"),
            Challenge::WebServer { server } => format!("http-01 via {server}"),
            Challenge::Dns { provider: Some(p) } => format!("dns-01 ({p})"),
            Challenge::Dns { provider: None } => "dns-01".to_string(),
            Challenge::TlsAlpn {
                port,
                http_fallback,
            } => {
                let on = if *port == Self::TLS_ALPN_PORT {
                    String::new()
                } else {
                    format!(" on :{port}")
                };
                let fallback = if *http_fallback {
                    " (http-01 as fallback)"
                } else {
                    ""
                };
                format!("tls-alpn-01{on}{fallback}")
            }
            Challenge::Manual => "manual".to_string(),
            Challenge::Other { what } => format!("unknown ({what})"),
        }
    }
}

/// A point in time, as seconds since the Unix epoch and as RFC 3339 (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Moment {
    pub unix: i64,
    pub utc: String,
}

impl Moment {
    pub fn from_unix(unix: i64) -> Moment {
        Moment {
            unix,
            utc: crate::timefmt::unix(u64::try_from(unix).unwrap_or(0)),
        }
    }
}

/// When the client will next try to renew, and the rule that says so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum NextTry {
    At { at: Moment, rule: String },
    Unknown { why: String },
}

/// One `[[webroot_map]]` entry (certbot) or per-name webroot (acme.sh).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameWebroot {
    pub name: String,
    pub path: String,
    /// The key to change for this name, as the file spells it.
    pub key: String,
    pub line: Option<u32>,
}

/// One certificate a client renews, as its configuration describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagedCert {
    pub client: AcmeClient,
    /// The certificate's name at the client (certbot's lineage, acme.sh's main domain).
    pub name: String,
    /// The file that decides how it renews.
    pub config: String,
    /// The key in `config` that sets the challenge (`webroot_path`, `Le_Webroot`, `--http.webroot`).
    pub key: String,
    /// Where `key` is, when the file has lines.
    pub line: Option<u32>,
    /// The names, from the certificate when it could be read, else from the configuration.
    pub names: Vec<String>,
    pub challenge: Challenge,
    /// Per-name webroots that override `challenge`'s.
    #[serde(default)]
    pub webroots: Vec<NameWebroot>,
    /// The certificate file.
    pub certificate: Option<String>,
    pub not_before: Option<Moment>,
    pub expiry: Probed<Moment>,
    pub next_try: NextTry,
    /// The ACME server it renews at.
    #[serde(default)]
    pub server: Option<String>,
    /// A command run before renewal (certbot `pre_hook`, acme.sh `Le_PreHook`): often the
    /// one that stops the web server for a standalone run.
    #[serde(default)]
    pub pre_hook: Option<String>,
    /// Who the configuration file belongs to: a token for its webroot is written with that
    /// owner's permissions, or not at all when the file is not trusted. None when unknown
    /// (facts from before it was recorded): then no token is written for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<ConfigOwner>,
    /// Traefik: the entry points of the static configuration that holds the resolver, for
    /// the one that answers TLS-ALPN-01 on port 443. Empty for other clients.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entry_points: Vec<EntryPoint>,
    /// Why no real token was written for this name's webroot under `--all` (the configuration
    /// is not trusted, or its owner may not write there): the name was checked with a random
    /// token instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_not_written: Option<String>,
    /// The last failure the client logged for this certificate (`--all`): its log, journal
    /// unit, and the CA's words in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<super::LoggedFailure>,
    /// certbot: the files its renewal configuration names (`cert`, `privkey`, `chain`,
    /// `fullchain`) that do not exist, as `key path`. certbot refuses such a lineage as
    /// broken and never renews it (`lineage-broken`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_files: Vec<String>,
}

/// The owner of a client's configuration file, from the `fstat` of the descriptor it was read
/// through, and why it is not trusted when it is not (`probe::userfile::trust` has the rule).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigOwner {
    pub uid: u32,
    pub gid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub untrusted: Option<String>,
}

impl ManagedCert {
    /// The challenge for one of its names: a per-name webroot wins.
    pub fn challenge_for(&self, name: &str) -> (Challenge, &str, Option<u32>) {
        match self
            .webroots
            .iter()
            .find(|w| w.name.eq_ignore_ascii_case(name))
        {
            Some(w) => (
                Challenge::Webroot {
                    path: w.path.clone(),
                },
                &w.key,
                w.line,
            ),
            None => (self.challenge.clone(), &self.key, self.line),
        }
    }

    /// `file:line` of the challenge's key, or the file.
    pub fn place(&self) -> String {
        match self.line {
            Some(n) => format!("{}:{n}", self.config),
            None => self.config.clone(),
        }
    }

    /// The port of the client's own short-lived server, when it answers with one: http-01
    /// standalone, or tls-alpn-01 from a client that is not a web server (lego `--tls`,
    /// acme.sh `--alpn`: each binds the port only while it validates).
    pub fn standalone_port(&self) -> Option<u16> {
        match self.challenge {
            Challenge::Standalone { port } => Some(port),
            Challenge::TlsAlpn { port, .. } if !self.client.is_web_server() => Some(port),
            _ => None,
        }
    }

    /// Who must answer the CA's tls-alpn-01 handshake on port 443 for this certificate, for a
    /// fix: Caddy's HTTPS server, Traefik's entry point on 443, or the standalone client while
    /// it runs. None when the certificate is not renewed by tls-alpn-01.
    pub fn tls_alpn_responder(&self) -> Option<String> {
        let Challenge::TlsAlpn { port, .. } = self.challenge else {
            return None;
        };
        let on = if port == Challenge::TLS_ALPN_PORT {
            String::new()
        } else {
            format!(" on port {port}, behind a forward from 443")
        };
        Some(match self.client {
            AcmeClient::Caddy => format!("Caddy (its HTTPS server answers acme-tls/1{on})"),
            AcmeClient::Traefik => {
                "Traefik (an entry point with address \":443\"; tlsChallenge answers there)".into()
            }
            AcmeClient::Lego => format!("lego --tls (its own server{on}, only while it runs)"),
            AcmeClient::AcmeSh => {
                format!("acme.sh --alpn (its own server{on}, only while it runs)")
            }
            AcmeClient::Dehydrated => {
                format!("the TLS server that serves dehydrated's ALPNCERTDIR certificates{on}")
            }
            AcmeClient::Uacme => format!("ualpn (uacme's TLS-ALPN-01 proxy{on})"),
            AcmeClient::Certbot => format!("{} (tls-alpn-01)", self.client),
        })
    }

    /// The pre-renewal hook stops a service (`systemctl stop nginx`, `service apache2 stop`).
    pub fn hook_stops_a_service(&self) -> bool {
        self.pre_hook.as_deref().is_some_and(|h| {
            let h = h.to_ascii_lowercase();
            h.contains(" stop") || h.contains("stop ") || h.contains("kill")
        })
    }
}

/// One entry point of Traefik's static configuration (`entryPoints.<name>.address`): for
/// TLS-ALPN-01, the one that receives the CA's connection to port 443 answers it
/// (`docs/ca-behaviour.md` §12.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryPoint {
    pub name: String,
    /// As the file spells it: `:443`, `0.0.0.0:443`, `[::]:8443`, `:443/udp`.
    pub address: String,
    /// `allowACMEByPass`: the entry point hands ACME challenges to the user's routers
    /// instead of answering them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub acme_bypass: bool,
    /// The line of `address`; None for Traefik's own default (`http` on `:80`), used when
    /// the file defines no entry point.
    pub line: Option<u32>,
}

impl EntryPoint {
    /// The TCP port it listens on: None for a UDP entry point or an address not understood.
    pub fn tcp_port(&self) -> Option<u16> {
        let (addr, protocol) = match self.address.split_once('/') {
            Some((a, p)) => (a, p),
            None => (self.address.as_str(), "tcp"),
        };
        if !protocol.eq_ignore_ascii_case("tcp") {
            return None;
        }
        addr.rsplit_once(':')?.1.parse().ok()
    }

    /// Listens on a loopback address only (`127.0.0.1:443`, `[::1]:443`): the CA cannot
    /// reach it.
    pub fn loopback_only(&self) -> bool {
        let host = self
            .address
            .rsplit_once(':')
            .map_or("", |(h, _)| h)
            .trim_matches(['[', ']']);
        host.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
            || host.eq_ignore_ascii_case("localhost")
    }

    /// Receives the CA's TLS-ALPN-01 connection and answers it itself: TCP port 443, not on
    /// loopback only, and not handing ACME to the user's routers.
    pub fn answers_tls_alpn(&self) -> bool {
        self.tcp_port() == Some(Challenge::TLS_ALPN_PORT)
            && !self.loopback_only()
            && !self.acme_bypass
    }
}

/// A configuration line the tool could not understand: reported, never fatal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigWarning {
    pub file: String,
    pub line: Option<u32>,
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(n) => write!(f, "{}:{n}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// A path that exists but could not be read, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnreadablePath {
    pub path: String,
    pub why: super::Unknown,
}

/// Everything the discovery found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientsFacts {
    #[serde(default)]
    pub certificates: Vec<ManagedCert>,
    #[serde(default)]
    pub warnings: Vec<ConfigWarning>,
    #[serde(default)]
    pub unreadable: Vec<UnreadablePath>,
    /// Enabled systemd units of web servers (`nginx.service` under a `*.wants/` directory):
    /// services that hold port 80 whenever the machine runs, a standalone client's renewal
    /// time included.
    #[serde(default)]
    pub web_units: Vec<String>,
    /// The discovery stopped at its cap of files.
    #[serde(default)]
    pub truncated: bool,
}

impl ClientsFacts {
    /// The certificates that name `domain` (case-insensitive).
    pub fn for_name<'a>(&'a self, domain: &'a str) -> impl Iterator<Item = &'a ManagedCert> {
        self.certificates
            .iter()
            .filter(move |c| c.names.iter().any(|n| n.eq_ignore_ascii_case(domain)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Facts saved before the responder's port was recorded (`{"kind": "tls-alpn"}`) still
    /// load, as the CA's port.
    #[test]
    fn an_old_tls_alpn_challenge_loads_as_port_443() {
        let old: Challenge = serde_json::from_str(r#"{"kind": "tls-alpn"}"#).unwrap();
        assert_eq!(
            old,
            Challenge::TlsAlpn {
                port: 443,
                http_fallback: false
            }
        );
        let new = Challenge::TlsAlpn {
            port: 5001,
            http_fallback: true,
        };
        let text = serde_json::to_string(&new).unwrap();
        assert_eq!(
            text,
            r#"{"kind":"tls-alpn","port":5001,"http_fallback":true}"#
        );
        assert_eq!(serde_json::from_str::<Challenge>(&text).unwrap(), new);
    }

    #[test]
    fn entry_point_ports() {
        let ep = |address: &str| EntryPoint {
            name: "x".into(),
            address: address.into(),
            acme_bypass: false,
            line: Some(1),
        };
        assert_eq!(ep(":443").tcp_port(), Some(443));
        assert_eq!(ep("[::]:443/tcp").tcp_port(), Some(443));
        assert_eq!(ep(":443/udp").tcp_port(), None);
        assert_eq!(ep("nonsense").tcp_port(), None);
        assert!(ep("[::1]:443").loopback_only());
        assert!(ep("[::]:443").answers_tls_alpn());
        assert!(!ep("0.0.0.0:8443").answers_tls_alpn());
    }

    #[test]
    fn the_tls_alpn_responder_follows_the_client() {
        let cert = |client, port| ManagedCert {
            client,
            name: "a.example.test".into(),
            config: "/etc/x".into(),
            key: "k".into(),
            line: None,
            names: vec!["a.example.test".into()],
            challenge: Challenge::TlsAlpn {
                port,
                http_fallback: false,
            },
            webroots: Vec::new(),
            certificate: None,
            not_before: None,
            expiry: Probed::Unknown(super::super::Unknown::failed("test")),
            next_try: NextTry::Unknown { why: "test".into() },
            server: None,
            pre_hook: None,
            owner: None,
            entry_points: Vec::new(),
            token_not_written: None,
            last_failure: None,
            missing_files: Vec::new(),
        };
        assert_eq!(
            cert(AcmeClient::Lego, 5001).tls_alpn_responder().as_deref(),
            Some(
                "lego --tls (its own server on port 5001, behind a forward from 443, only while it runs)"
            )
        );
        assert!(
            cert(AcmeClient::Traefik, 443)
                .tls_alpn_responder()
                .is_some_and(|r| r.starts_with("Traefik (an entry point"))
        );
        assert_eq!(cert(AcmeClient::Lego, 443).standalone_port(), Some(443));
        assert_eq!(cert(AcmeClient::Caddy, 443).standalone_port(), None);
    }
}
