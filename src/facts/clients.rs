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
}

impl AcmeClient {
    pub fn as_str(self) -> &'static str {
        match self {
            AcmeClient::Certbot => "certbot",
            AcmeClient::AcmeSh => "acme.sh",
            AcmeClient::Lego => "lego",
            AcmeClient::Caddy => "caddy",
            AcmeClient::Traefik => "traefik",
        }
    }
}

impl fmt::Display for AcmeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
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
    /// tls-alpn-01 (acme.sh `--alpn`, lego `--tls`, Traefik tlsChallenge).
    TlsAlpn,
    /// Manual (`certbot --manual`, acme.sh manual DNS): a person answers.
    Manual,
    /// A setting acme-doctor does not know.
    Other { what: String },
}

impl Challenge {
    /// The validation method acme-doctor simulates for it, when it simulates one.
    pub fn method(&self) -> Option<Method> {
        match self {
            Challenge::Webroot { .. }
            | Challenge::Standalone { .. }
            | Challenge::WebServer { .. } => Some(Method::Http01),
            Challenge::Dns { .. } => Some(Method::Dns01),
            Challenge::TlsAlpn | Challenge::Manual | Challenge::Other { .. } => None,
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
            Challenge::TlsAlpn => "tls-alpn-01".to_string(),
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
    /// Why no real token was written for this name's webroot under `--all` (the configuration
    /// is not trusted, or its owner may not write there): the name was checked with a random
    /// token instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_not_written: Option<String>,
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

    /// Whether the client answers http-01 with its own short-lived server.
    pub fn standalone_port(&self) -> Option<u16> {
        match self.challenge {
            Challenge::Standalone { port } => Some(port),
            _ => None,
        }
    }

    /// The pre-renewal hook stops a service (`systemctl stop nginx`, `service apache2 stop`).
    pub fn hook_stops_a_service(&self) -> bool {
        self.pre_hook.as_deref().is_some_and(|h| {
            let h = h.to_ascii_lowercase();
            h.contains(" stop") || h.contains("stop ") || h.contains("kill")
        })
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
