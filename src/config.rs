//! The validated configuration: every argument is checked once here, and nothing later reads
//! the raw command line.

use crate::domain::{self, DomainName};
use crate::facts::{ManagedCert, Method, MethodFrom};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Human,
    Json,
    Ndjson,
    Report,
}

/// When the run fails: on blockers (default) or already on warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    Blocker,
    Warning,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The names to check, in input order, each with how it is checked.
    pub targets: Vec<Target>,
    /// The run's method, for the names of the command line.
    pub method: Method,
    /// Issue 20 item 4: the method was given (`--method`, or a flag only http-01 has), so this
    /// host's ACME client configurations do not change it.
    pub method_given: bool,
    pub timeout: Duration,
    pub resolver: Option<SocketAddr>,
    pub allow_reserved: bool,
    /// dns-01: the TXT value to expect.
    pub expect_txt: Option<String>,
    /// http-01: the directory the ACME client writes challenge files under (`--webroot`): a
    /// real token is written there and fetched the way the CA fetches it.
    pub webroot: Option<PathBuf>,
    /// CDN ranges replacing the shipped ones (hidden `--cdn-ranges FILE`), already checked.
    pub cdn_ranges: Option<String>,
    /// http-01: the exact body the challenge URL must serve (`--expect-body`), for ACME
    /// clients that answer the challenge themselves.
    pub expect_body: Option<String>,
    /// tls-alpn-01: the key authorization (`--expect-keyauth`); its SHA-256 is the digest the
    /// challenge certificate's acmeIdentifier must hold.
    pub expect_keyauth: Option<String>,
    /// The CA's CAA issuer domain.
    pub ca_issuer: String,
    pub account_uri: Option<String>,
    /// Where the authoritative nameservers are asked (53 but in labs).
    pub authoritative_port: u16,
    /// Names probed at once.
    pub jobs: usize,
    pub output: Output,
    pub color: bool,
    /// How the human output draws the CA's path: Unicode, or ASCII (issue 21 item 3).
    pub glyphs: crate::render::path::Glyphs,
    pub progress: bool,
    pub verbose: bool,
    pub fail_on: FailOn,
    /// `--accept-host-only` (issue 19 item 6): a run incomplete only because it was seen from
    /// this host alone exits 0 (the facts, and JSON's `incomplete`, stay as they are).
    pub accept_host_only: bool,
    pub save_facts: Option<PathBuf>,
    /// Saved facts files to diagnose (several: joined, the host's with the outside runs).
    pub from_facts: Vec<PathBuf>,
    /// `acme-doctor serve` vantages to ask (`--vantage`, `--vantages-file`,
    /// `ACME_DOCTOR_VANTAGES`), each validated once.
    pub vantages: Vec<url::Url>,
    /// The bearer token the vantages expect (`--vantage-token-file`).
    pub vantage_token: Option<String>,
    /// A CA certificate (PEM) to trust for `https://` vantages besides the system's.
    pub vantage_ca: Option<PathBuf>,
    /// The command line, for the report header.
    pub invocation: String,
    /// Where the ACME clients' configurations are looked for.
    pub clients: ClientsConfig,
    /// Issue 21 item 5: the lines of `-f FILE` and standard input that are not a name, each
    /// with its source and line number; the other names are checked, and the run exits 2.
    pub rejected: Vec<String>,
    /// `--metrics FILE` (issue 21 item 1): the run as Prometheus text exposition.
    pub metrics: Option<PathBuf>,
    /// Issue 19 item 1: `--ca-check`, one real validation against an ACME directory after
    /// the probes. `None` without the flag.
    pub ca_check: Option<CaCheckConfig>,
    /// `--ca-error`: the CA's words, one piece per problem (issue 19 item 3).
    pub ca_pasted: Vec<PastedCaWords>,
    /// Issue 20 item 3: `--wait DURATION`, with `--expect-txt` and dns-01 only: wait until
    /// every authoritative server serves the value before diagnosing.
    pub wait: Option<Duration>,
}

/// One problem pasted with `--ca-error` (issue 19 item 3): the identifier it names, if any,
/// and its text, sanitised and capped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastedCaWords {
    pub identifier: Option<String>,
    pub text: String,
}

/// `--ca-check` and its flags, validated once.
#[derive(Debug, Clone, PartialEq)]
pub struct CaCheckConfig {
    /// The directory URL (`--acme-directory`; Let's Encrypt staging by default).
    pub directory: url::Url,
    /// A PEM root to trust for the directory's TLS besides the system's (`--acme-ca-cert`).
    pub ca_cert: Option<PathBuf>,
    /// External Account Binding (`--eab-kid`, `--eab-hmac-key`), when the CA needs it.
    pub eab: Option<Eab>,
    /// DNS-01: the command that publishes and removes the TXT record (`--dns-hook`).
    pub dns_hook: Option<String>,
    /// HTTP-01: `--webroot auto`, the root nginx serves the challenge location from.
    pub webroot_auto: bool,
    /// How long the whole check may take (`--ca-check-timeout`).
    pub deadline: Duration,
}

/// An External Account Binding key: its id and the decoded HMAC key.
#[derive(Clone, PartialEq, Eq)]
pub struct Eab {
    pub kid: String,
    pub hmac_key: Vec<u8>,
}

impl std::fmt::Debug for Eab {
    // The key is a credential: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Eab")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Let's Encrypt's staging directory: `--ca-check`'s default, so that a check never counts
/// against production's rate limits unless production is named.
pub const LETSENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";
pub const LETSENCRYPT_PRODUCTION: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// `--acme-directory`: `letsencrypt-staging`, `letsencrypt`, or an `https://` URL (`http://`
/// only for a loopback or documentation address, as test CAs use).
pub fn parse_acme_directory(text: &str) -> Result<url::Url, String> {
    let shown = crate::sanitize::line(text, 200);
    let given = match text.trim() {
        "letsencrypt-staging" | "staging" => LETSENCRYPT_STAGING,
        "letsencrypt" | "letsencrypt-production" => LETSENCRYPT_PRODUCTION,
        other => other,
    };
    let url = url::Url::parse(given).map_err(|e| {
        format!(
            "--acme-directory {shown:?}: {e} (give letsencrypt-staging, letsencrypt, or the directory's https:// URL)"
        )
    })?;
    if url.scheme() != "https" {
        return Err(format!(
            "--acme-directory {shown:?}: an ACME directory is served over https:// (RFC 8555 §6.1)"
        ));
    }
    if url.host().is_none() || !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "--acme-directory {shown:?}: give a host, and no credentials in the URL"
        ));
    }
    Ok(url)
}

/// `--eab-hmac-key`: base64url as CAs hand it out (padding and the standard alphabet are
/// accepted too).
pub fn parse_eab_key(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let t = text.trim().trim_end_matches('=');
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(t)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(t))
        .map_err(|_| {
            "--eab-hmac-key: not base64url (give the HMAC key as the CA gave it)".to_string()
        })?;
    if key.is_empty() {
        return Err("--eab-hmac-key: the key is empty".into());
    }
    Ok(key)
}

/// One name to check, with its settings: one value, so that the two cannot fall out of step.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub domain: DomainName,
    pub spec: TargetSpec,
}

/// How one target is checked: the run's defaults for a name of the command line, its
/// certificate's method and webroot under `--all`.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetSpec {
    pub method: Method,
    /// The directory the ACME client writes this name's challenge files under.
    pub webroot: Option<PathBuf>,
    /// The body the challenge URL must serve: the key authorization of a real token written
    /// under `webroot` (set by `cli::app::tokens_for_targets`, the hook for `probe::token`).
    pub expect_body: Option<String>,
    /// The certificate this name was found in, with the file and key that decide it.
    pub certificate: Option<ManagedCert>,
    /// Issue 20 item 4: why a name of the command line has its method (`cli::method_from`).
    pub method_from: Option<MethodFrom>,
}

/// `--all`, `--client-config`, `--client-root`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientsConfig {
    /// `--all`: check every certificate the clients renew.
    pub all: bool,
    pub extra: Vec<PathBuf>,
    /// Prefix of the clients' default paths (`/`).
    pub root: PathBuf,
}

impl TargetSpec {
    /// A name of the command line: the run's method, and nothing of its own (the run's
    /// `--webroot` and `--expect-body` apply to it through the run's configuration).
    pub fn of_run(method: Method) -> TargetSpec {
        TargetSpec {
            method,
            webroot: None,
            expect_body: None,
            certificate: None,
            method_from: None,
        }
    }
}

impl Target {
    /// A name of the command line, checked with the run's method.
    pub fn of_run(domain: DomainName, method: Method) -> Target {
        Target {
            domain,
            spec: TargetSpec::of_run(method),
        }
    }
}

impl Config {
    /// The settings of target `index`.
    pub fn spec(&self, index: usize) -> TargetSpec {
        self.targets
            .get(index)
            .map_or_else(|| TargetSpec::of_run(self.method), |t| t.spec.clone())
    }

    /// The names to check, in input order.
    pub fn domains(&self) -> impl ExactSizeIterator<Item = &DomainName> {
        self.targets.iter().map(|t| &t.domain)
    }
}

pub const MIN_TIMEOUT: Duration = Duration::from_millis(100);
pub const MAX_TIMEOUT: Duration = Duration::from_secs(120);

/// `10s`, `500ms`, `2m`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, scale_ms) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60_000.0)
    } else {
        (t, 1000.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("invalid duration {text:?}: use e.g. 10s, 500ms or 2m"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("invalid duration {text:?}"));
    }
    let d = Duration::from_millis((value * scale_ms).round() as u64);
    if d < MIN_TIMEOUT || d > MAX_TIMEOUT {
        return Err(format!(
            "timeout {text:?} out of range: between 100ms and 120s"
        ));
    }
    Ok(d)
}

/// The longest `--wait`: an ACME authorization stays pending for days, but a hook that waits
/// longer than an hour waits for a server that will not catch up.
pub const MAX_WAIT: Duration = Duration::from_secs(3600);

/// `--wait`: `90s`, `5m`, `1m30s`, `1h`, `500ms`, or a bare number of seconds; 1 s to 1 h.
pub fn parse_wait(text: &str) -> Result<Duration, String> {
    let bad = || format!("--wait {text:?}: give a duration such as 90s, 5m or 1m30s");
    let t = text.trim();
    if t.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = t.parse::<u64>() {
        return in_wait_range(Duration::from_secs(secs), text);
    }
    let mut total = Duration::ZERO;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit_ms: u64 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        let ms = number.checked_mul(unit_ms).ok_or_else(bad)?;
        total = total
            .checked_add(Duration::from_millis(ms))
            .ok_or_else(bad)?;
    }
    in_wait_range(total, text)
}

fn in_wait_range(d: Duration, text: &str) -> Result<Duration, String> {
    if d < Duration::from_secs(1) || d > MAX_WAIT {
        return Err(format!("--wait {text:?} out of range: between 1s and 1h"));
    }
    Ok(d)
}

/// `IP`, `IP:PORT` or `[IPv6]:PORT`; port 53 by default.
pub fn parse_resolver(text: &str) -> Result<SocketAddr, String> {
    let t = text.trim();
    if let Ok(addr) = t.parse::<SocketAddr>() {
        if addr.port() == 0 {
            return Err(format!("invalid resolver {text:?}: port 0"));
        }
        return Ok(addr);
    }
    let bare = t.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| format!("invalid resolver {text:?}: give an IP address, optionally with a port (192.0.2.53, 192.0.2.53:5353, [2001:db8::53]:53)"))
}

/// The CAA issuer domain of a CA by its common name, or a domain given as is. The CA compares
/// byte for byte (`docs/ca-behaviour.md` §5.6), so it is kept exactly as the CA spells it.
pub fn issuer_domain(ca: &str) -> Result<String, String> {
    let known = match ca.trim().to_ascii_lowercase().as_str() {
        "letsencrypt" | "lets-encrypt" | "le" => Some("letsencrypt.org"),
        "zerossl" => Some("sectigo.com"),
        "google" | "gts" => Some("pki.goog"),
        "buypass" => Some("buypass.com"),
        "sectigo" => Some("sectigo.com"),
        _ => None,
    };
    if let Some(domain) = known {
        return Ok(domain.to_string());
    }
    let given = ca.trim();
    if given.contains('.')
        && given
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        Ok(given.to_string())
    } else {
        Err(format!(
            "unknown CA {:?}: use letsencrypt, zerossl, google, buypass, sectigo, or the CA's CAA issuer domain (e.g. letsencrypt.org)",
            crate::sanitize::line(ca, 80)
        ))
    }
}

/// A vantage URL: `http://` or `https://`, a host, no credentials, query or fragment. Only
/// the scheme, host, port and path prefix are used.
pub fn parse_vantage(text: &str) -> Result<url::Url, String> {
    let shown = crate::sanitize::line(text, 200);
    let url =
        url::Url::parse(text.trim()).map_err(|e| format!("invalid vantage URL {shown:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("vantage URL {shown:?}: use http:// or https://"));
    }
    if url.host().is_none() {
        return Err(format!("vantage URL {shown:?} has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "vantage URL {shown:?} carries credentials: give the token with --vantage-token-file"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "vantage URL {shown:?}: no query or fragment, please"
        ));
    }
    Ok(url)
}

/// Vantage URLs from a list (a file, or `ACME_DOCTOR_VANTAGES`): separated by newlines,
/// commas or spaces; `#` starts a comment.
pub fn vantage_list(text: &str) -> Result<Vec<url::Url>, String> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .flat_map(|line| line.split([',', ' ', '\t']))
        .filter(|w| !w.trim().is_empty())
        .map(parse_vantage)
        .collect()
}

/// A list of names, one per line; blank lines and `#` comments (whole-line or after the
/// name) are skipped. An invalid name does not stop the list: it comes back among the errors,
/// each naming its line, and the other names are still checked (issue 21 item 5).
pub fn domain_list(text: &str, source: &str) -> (Vec<DomainName>, Vec<String>) {
    let mut names = Vec::new();
    let mut errors = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let name = line.split('#').next().unwrap_or("").trim();
        if name.is_empty() {
            continue;
        }
        match domain::parse(name) {
            Ok(d) => names.push(d),
            Err(e) => errors.push(format!("{source} line {}: {e}", n + 1)),
        }
    }
    (names, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_durations_parse_humantime_like() {
        for (text, secs) in [
            ("90s", 90),
            ("5m", 300),
            ("1m30s", 90),
            ("1h", 3600),
            ("45", 45),
            (" 2m ", 120),
            ("1500ms", 1),
        ] {
            let got = parse_wait(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(got.as_secs(), secs, "{text}");
        }
        for bad in [
            "", "s", "5x", "-5s", "1.5m", "5 s", "m5", "0s", "999ms", "61m", "1h1s",
        ] {
            assert!(parse_wait(bad).is_err(), "{bad:?}");
        }
        assert!(parse_wait("99999999999999999999h").is_err());
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        for bad in ["", "abc", "-1s", "0", "10ms", "3m", "NaNs"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn domain_lists_skip_comments_and_name_the_bad_line() {
        let (names, errors) = domain_list(
            "# my sites\nexample.com\n\n  www.example.com  # the www\n",
            "list",
        );
        let ascii: Vec<&str> = names.iter().map(|n| n.ascii.as_str()).collect();
        assert_eq!(ascii, ["example.com", "www.example.com"]);
        assert!(errors.is_empty(), "{errors:?}");
        // A bad line is reported and the names after it are still read.
        let (names, errors) = domain_list("example.com\nbad_name!\nwww.example.com\n", "list");
        assert_eq!(names.len(), 2);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("list line 2: ") && errors[0].contains("'_' and '!'"),
            "{errors:?}"
        );
    }

    #[test]
    fn vantage_urls_are_checked_once() {
        assert!(parse_vantage("https://vantage.example:8443").is_ok());
        assert!(parse_vantage("http://198.51.100.10:8080/").is_ok());
        for bad in [
            "ftp://x.example",
            "https://user:pw@x.example",
            "https://x.example/?a=1",
            "not a url",
        ] {
            assert!(parse_vantage(bad).is_err(), "{bad}");
        }
        let list =
            vantage_list("https://a.example # one\nhttp://b.example, http://c.example").unwrap();
        assert_eq!(list.len(), 3);
    }

    #[test]
    fn acme_directories_are_named_or_https_urls() {
        assert_eq!(
            parse_acme_directory("letsencrypt-staging")
                .unwrap()
                .as_str(),
            LETSENCRYPT_STAGING
        );
        assert_eq!(
            parse_acme_directory("letsencrypt").unwrap().as_str(),
            LETSENCRYPT_PRODUCTION
        );
        assert!(parse_acme_directory("https://198.51.100.10:14000/dir").is_ok());
        for bad in [
            "http://ca.example/dir",
            "ftp://x",
            "nonsense",
            "https://u:p@ca.example/",
        ] {
            assert!(parse_acme_directory(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_eab_key("AQID").unwrap(), vec![1, 2, 3]);
        assert!(parse_eab_key("!!").is_err());
    }

    #[test]
    fn cas_map_to_their_caa_issuer_domains() {
        assert_eq!(issuer_domain("letsencrypt").unwrap(), "letsencrypt.org");
        assert_eq!(issuer_domain("google").unwrap(), "pki.goog");
        assert_eq!(issuer_domain("ca.example").unwrap(), "ca.example");
        assert!(issuer_domain("nope").is_err());
        assert!(issuer_domain("bad domain.example").is_err());
    }

    #[test]
    fn resolvers_parse_with_default_port() {
        assert_eq!(
            parse_resolver("192.0.2.53").unwrap().to_string(),
            "192.0.2.53:53"
        );
        assert_eq!(
            parse_resolver("127.0.0.1:5353").unwrap().to_string(),
            "127.0.0.1:5353"
        );
        assert_eq!(
            parse_resolver("2001:db8::53").unwrap().to_string(),
            "[2001:db8::53]:53"
        );
        assert_eq!(
            parse_resolver("[2001:db8::53]:54").unwrap().to_string(),
            "[2001:db8::53]:54"
        );
        for bad in ["", "dns.example", "1.2.3.4:0", "1.2.3.4:99999"] {
            assert!(parse_resolver(bad).is_err(), "{bad}");
        }
    }
}
