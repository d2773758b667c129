//! Caddy: the site addresses of its Caddyfile (`/etc/caddy/Caddyfile`), each a name Caddy
//! obtains a certificate for by itself, and the certificates in its storage,
//! `<data dir>/caddy/certificates/<issuer>/<name>/<name>.crt` (Debian's package runs Caddy as
//! user `caddy`, home `/var/lib/caddy`, so `/var/lib/caddy/.local/share/caddy`). Caddy renews
//! when a third of the lifetime remains. Modelled on Caddy's documentation (caddyserver.com/docs:
//! "Caddyfile concepts: addresses", "Automatic HTTPS", "Global options", the `tls` directive,
//! "Conventions: data directory") and checked against Debian's caddy 2.6.2 (`caddy adapt`).
//!
//! **Which challenge** (`docs/ca-behaviour.md` §12.1 has the sources and the reasons):
//! - a DNS provider (`tls { dns … }`, an issuer's `dns`, the global `acme_dns`): DNS-01;
//! - `disable_tlsalpn_challenge`: HTTP-01, Caddy answering on port 80;
//! - otherwise TLS-ALPN-01, answered by Caddy's HTTPS server (on the global `https_port`, else
//!   443: another port needs a forward from 443), with HTTP-01 as its fallback unless
//!   `disable_http_challenge`. Caddy shuffles the two, and retries the other for most
//!   failures, so the one diagnosed is the one whose port Caddy's sites need anyway and whose
//!   failures can stop a renewal although HTTP-01 would have worked. `alt_tlsalpn_port` moves
//!   only the solver's own listener: Caddy's HTTPS server on 443 still answers the CA there.
//!
//! Names Caddy does not get from a public CA are left out: `http://` and port-80 sites, `tls
//! internal`, a certificate and key given in the file, `local_certs`, `auto_https off` or
//! `disable_certs`, and the names certmagic treats as internal (`localhost`, `.local`,
//! `.internal`, `.home.arpa`, private and loopback addresses). With no Caddyfile (a JSON or
//! admin-API configuration), the storage's certificates are listed under Caddy's defaults.

use super::{Fs, before_expiry, expiry_of, names, plan};
use crate::facts::{AcmeClient, Challenge, ManagedCert, NextTry, Probed, Unknown};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

pub fn discover(fs: &mut Fs) {
    let file = fs.host_path("/etc/caddy/Caddyfile");
    match fs.read_text(&file) {
        Some(text) => parse_file(fs, &file, &text),
        // No Caddyfile (or an unreadable one, recorded as such): Caddy may be configured by
        // JSON or through its admin API; its storage still holds what it manages.
        None => {
            let stores = storage_dirs(fs, None);
            from_storage(fs, &stores);
        }
    }
}

/// What an ACME issuer is told, wherever it is set (`cert_issuer acme { … }` globally, `tls {
/// issuer acme { … } }` per site): each with the line that says it.
#[derive(Debug, Clone, Default, PartialEq)]
struct Issuer {
    dns: Option<(String, u32)>,
    no_http: Option<u32>,
    no_tlsalpn: Option<u32>,
}

/// The global options block.
#[derive(Debug, Clone, Default, PartialEq)]
struct Global {
    issuer: Issuer,
    acme_dns: Option<(String, u32)>,
    http_port: Option<u16>,
    https_port: Option<(u16, u32)>,
    /// `storage file_system` root.
    storage: Option<String>,
    /// `local_certs`, `auto_https off` or `auto_https disable_certs`: no public certificate.
    no_acme: bool,
}

/// One site block.
#[derive(Debug, Clone, Default, PartialEq)]
struct Site {
    addresses: Vec<String>,
    line: u32,
    /// Its own `issuer acme` block, which replaces the global `cert_issuer`.
    issuer: Option<Issuer>,
    /// `tls { dns … }`.
    dns: Option<(String, u32)>,
    /// Not from a public CA: `tls internal`, `issuer internal`, a certificate and key file.
    not_acme: bool,
}

/// What a Caddyfile says, and the lines that could not be placed.
#[derive(Debug, Clone, Default, PartialEq)]
struct Caddyfile {
    global: Global,
    sites: Vec<Site>,
    problems: Vec<(u32, String)>,
}

/// The words of a line, without its comment (`#` starting a word).
fn words(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for w in line.split_whitespace() {
        if w.starts_with('#') {
            break;
        }
        out.push(w.trim_matches('"'));
    }
    out
}

/// A line-by-line reading of the blocks that decide certificates: block heads are kept on a
/// stack, and a `{…}` placeholder inside a word opens nothing.
fn read(text: &str) -> Caddyfile {
    let mut out = Caddyfile::default();
    // The first word of each line that opened a block still open.
    let mut stack: Vec<String> = Vec::new();
    let mut first_block = true;
    // A single site may omit its braces: its directives then sit at depth 0.
    let mut braceless = false;
    for (i, raw) in text.lines().enumerate() {
        let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let w = words(raw);
        if w.is_empty() {
            continue;
        }
        let opens = w
            .last()
            .is_some_and(|l| *l == "{" || l.ends_with('{') && !l.contains('}'));
        let closes = w.iter().filter(|x| **x == "}").count();
        let head: Vec<&str> = match w.last() {
            Some(l) if opens && *l == "{" => w[..w.len() - 1].to_vec(),
            Some(l) if opens => {
                let mut h = w[..w.len() - 1].to_vec();
                h.push(l.trim_end_matches('{'));
                h
            }
            _ => w.clone(),
        };
        let head: Vec<&str> = head.into_iter().filter(|x| *x != "}").collect();
        if stack.is_empty() && head.is_empty() && !opens {
            out.problems.push((line, "unbalanced `}`".to_string()));
            continue;
        }
        // At the top level: the global options block (a bare `{` first), a snippet `(name)`,
        // or a site's addresses.
        if stack.is_empty() && !braceless {
            let global = opens && head.is_empty() && first_block;
            first_block = false;
            if global {
                stack.push("global".into());
            } else if head.first().is_some_and(|h| h.starts_with('(')) {
                if opens {
                    stack.push("snippet".into());
                }
            } else {
                if !head.is_empty() {
                    out.sites.push(Site {
                        addresses: head
                            .iter()
                            .flat_map(|h| h.split(','))
                            .filter(|a| !a.is_empty())
                            .map(str::to_string)
                            .collect(),
                        line,
                        ..Site::default()
                    });
                }
                if opens {
                    stack.push("site".into());
                } else {
                    braceless = true;
                }
            }
            continue;
        }
        // A braceless site's directives are its block's.
        let path: Vec<&str> = braceless
            .then_some("site")
            .into_iter()
            .chain(stack.iter().map(String::as_str))
            .collect();
        match path.as_slice() {
            ["global"] => global_option(&mut out.global, &head, line),
            ["global", "storage"] if head.first() == Some(&"root") => {
                out.global.storage = head.get(1).map(|s| s.to_string());
            }
            ["global", "cert_issuer"] => issuer_option(&mut out.global.issuer, &head, line),
            ["site"] => {
                if let Some(site) = out.sites.last_mut() {
                    site_tls(site, &head);
                }
            }
            ["site", "tls"] => {
                if let Some(site) = out.sites.last_mut() {
                    match head.as_slice() {
                        ["dns", provider, ..] => site.dns = Some((provider.to_string(), line)),
                        ["issuer", "internal", ..] => site.not_acme = true,
                        ["issuer", "acme" | "zerossl", ..] => {
                            site.issuer.get_or_insert_with(Issuer::default);
                        }
                        _ => {}
                    }
                }
            }
            ["site", "tls", "issuer"] => {
                if let Some(issuer) = out.sites.last_mut().and_then(|s| s.issuer.as_mut()) {
                    issuer_option(issuer, &head, line);
                }
            }
            _ => {}
        }
        if opens {
            stack.push(head.first().copied().unwrap_or("").to_string());
        }
        for _ in 0..closes {
            if stack.pop().is_none() {
                out.problems.push((line, "unbalanced `}`".to_string()));
            }
        }
    }
    if !stack.is_empty() {
        out.problems.push((
            u32::try_from(text.lines().count()).unwrap_or(u32::MAX),
            "unclosed `{` at the end of the file".into(),
        ));
    }
    out
}

fn global_option(g: &mut Global, head: &[&str], line: u32) {
    match head {
        ["http_port", p, ..] => g.http_port = p.parse().ok(),
        ["https_port", p, ..] => g.https_port = p.parse().ok().map(|p| (p, line)),
        ["acme_dns", provider, ..] => g.acme_dns = Some((provider.to_string(), line)),
        ["local_certs", ..] | ["auto_https", "off" | "disable_certs", ..] => g.no_acme = true,
        ["storage", "file_system", path, ..] => g.storage = Some(path.to_string()),
        ["cert_issuer", "internal", ..] => g.no_acme = true,
        _ => {}
    }
}

fn issuer_option(issuer: &mut Issuer, head: &[&str], line: u32) {
    match head {
        ["disable_http_challenge", ..] => issuer.no_http = Some(line),
        ["disable_tlsalpn_challenge", ..] => issuer.no_tlsalpn = Some(line),
        ["dns", provider, ..] => issuer.dns = Some((provider.to_string(), line)),
        _ => {}
    }
}

/// A site's `tls` line: `tls internal`, `tls <cert> <key>` (no public certificate),
/// `tls <email>` (an ACME account), or `tls {`.
fn site_tls(site: &mut Site, head: &[&str]) {
    match head {
        ["tls", "internal", ..] => site.not_acme = true,
        ["tls", cert, key] if !cert.contains('@') && !key.is_empty() => site.not_acme = true,
        _ => {}
    }
}

/// The host of one site address (`https://example.com:443/path` → `example.com`,
/// `[2001:db8::1]:443` → `2001:db8::1`), when Caddy gets a public certificate for it.
fn address_name(address: &str, http_port: u16) -> Option<String> {
    let a = address.trim();
    let (scheme, rest) = match a.split_once("://") {
        Some((s, r)) => (Some(s.to_ascii_lowercase()), r),
        None => (None, a),
    };
    if scheme.as_deref() == Some("http") {
        return None;
    }
    let hostport = rest.split('/').next().unwrap_or(rest);
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        (h, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if let Some(p) = port {
        let p: u16 = p.parse().ok()?;
        if p == http_port {
            return None;
        }
    }
    let host = host.to_ascii_lowercase();
    if host.is_empty() || host.contains(['{', '}']) || internal(&host) {
        return None;
    }
    match host.parse::<IpAddr>() {
        Ok(_) => Some(host),
        Err(_) if host.contains('.') => Some(host),
        Err(_) => None,
    }
}

/// Names and addresses certmagic gives its internal CA, never a public one (certmagic
/// `certificates.go`, `SubjectQualifiesForPublicCert` and `SubjectIsInternal`).
fn internal(host: &str) -> bool {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return match ip {
            IpAddr::V4(v4) => {
                v4.is_private()
                    || v4.is_loopback()
                    || v4.is_link_local()
                    || v4.octets()[..2] == [0, 0]
            }
            IpAddr::V6(v6) => {
                let first = v6.segments()[0];
                v6.is_loopback()
                    || v6.is_unspecified()
                    || first & 0xffc0 == 0xfe80
                    || first & 0xfe00 == 0xfc00
            }
        };
    }
    host == "localhost"
        || [".localhost", ".local", ".internal", ".home.arpa"]
            .iter()
            .any(|s| host.ends_with(s))
}

/// certmagic's `Safe` (storage.go): how a name becomes a storage directory
/// (`*.example.com` → `wildcard_.example.com`, `2001:db8::1` → `2001-db8--1`).
fn storage_key(name: &str) -> String {
    let s = name
        .trim()
        .to_lowercase()
        .replace(' ', "_")
        .replace('+', "_plus_")
        .replace('*', "wildcard_")
        .replace(':', "-")
        .replace("..", "");
    s.chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '_' | '@' | '.' | '-'))
        .collect()
}

/// How Caddy gets the certificate of `name`: the challenge, the key that decides it and its
/// line. None when Caddy gets no public certificate for it.
fn challenge_of(file: &Caddyfile, site: &Site, name: &str) -> Option<(Challenge, String, u32)> {
    let g = &file.global;
    if site.not_acme || g.no_acme {
        return None;
    }
    let issuer = site.issuer.as_ref().unwrap_or(&g.issuer);
    let dns = site
        .dns
        .as_ref()
        .map(|d| (d, "dns"))
        .or(issuer.dns.as_ref().map(|d| (d, "dns")))
        .or(g.acme_dns.as_ref().map(|d| (d, "acme_dns")));
    if let Some(((provider, line), key)) = dns {
        let challenge = Challenge::Dns {
            provider: Some(provider.clone()),
        };
        return Some((challenge, key.to_string(), *line));
    }
    if name.starts_with("*.") {
        let challenge = Challenge::Other {
            what: "a wildcard needs DNS-01, and no DNS provider is configured".into(),
        };
        return Some((challenge, "site address".into(), site.line));
    }
    match (issuer.no_http, issuer.no_tlsalpn) {
        (Some(_), Some(line)) => Some((
            Challenge::Other {
                what:
                    "both disable_http_challenge and disable_tlsalpn_challenge, and no DNS provider"
                        .into(),
            },
            "disable_tlsalpn_challenge".into(),
            line,
        )),
        (None, Some(line)) => Some((
            Challenge::WebServer {
                server: "caddy".into(),
            },
            "disable_tlsalpn_challenge".into(),
            line,
        )),
        (no_http, None) => {
            // Caddy's HTTPS server answers acme-tls/1 on its port; the solver's own
            // `alt_tlsalpn_port` listener does not change where the CA's 443 lands.
            let (port, key, line) = match (g.https_port, no_http) {
                (Some((p, l)), _) if p != Challenge::TLS_ALPN_PORT => (p, "https_port", l),
                (_, Some(l)) => (Challenge::TLS_ALPN_PORT, "disable_http_challenge", l),
                (_, None) => (Challenge::TLS_ALPN_PORT, "site address", site.line),
            };
            Some((
                Challenge::TlsAlpn {
                    port,
                    http_fallback: no_http.is_none(),
                },
                key.to_string(),
                line,
            ))
        }
    }
}

pub fn parse_file(fs: &mut Fs, path: &Path, text: &str) {
    let file = read(text);
    for (line, message) in &file.problems {
        fs.warn(path, Some(*line), message.clone());
    }
    let dir = path.parent().unwrap_or(Path::new("/"));
    let custom = file
        .global
        .storage
        .as_deref()
        .map(|s| fs.named_path(s, dir));
    let stores = storage_dirs(fs, custom);
    let http_port = file.global.http_port.unwrap_or(80);
    for site in &file.sites {
        for address in &site.addresses {
            let Some(name) = address_name(address, http_port) else {
                continue;
            };
            let Some((challenge, key, line)) = challenge_of(&file, site, &name) else {
                continue;
            };
            let crt = stores.iter().find_map(|s| find_cert(fs, s, &name));
            let (expiry, not_before) = match &crt {
                Some(c) => {
                    let (e, nb, _) = expiry_of(fs, Some(c));
                    (e, nb)
                }
                None => (
                    Probed::Unknown(Unknown::failed(
                        "no certificate for this name in Caddy's storage",
                    )),
                    None,
                ),
            };
            let mut cert = plan(
                AcmeClient::Caddy,
                name.clone(),
                path,
                &key,
                Some(line),
                names([name]),
                challenge,
                crt.as_deref(),
            );
            renewal(&mut cert, expiry, not_before);
            fs.facts.certificates.push(cert);
        }
    }
}

/// A third of the lifetime before expiry (certmagic's default `RenewalWindowRatio`).
fn renewal(
    cert: &mut ManagedCert,
    expiry: Probed<crate::facts::Moment>,
    not_before: Option<crate::facts::Moment>,
) {
    cert.next_try = match (&expiry, &not_before) {
        (Probed::Known(a), Some(b)) => before_expiry(
            &expiry,
            (a.unix - b.unix) / 3,
            "Caddy renews when a third of the lifetime remains".into(),
        ),
        _ => NextTry::Unknown {
            why: "the certificate's validity is unknown".into(),
        },
    };
    cert.expiry = expiry;
    cert.not_before = not_before;
}

/// Each stored certificate, when no Caddyfile says which names Caddy manages: its names from
/// the certificate, and Caddy's default challenges.
fn from_storage(fs: &mut Fs, stores: &[PathBuf]) {
    for store in stores {
        for issuer in fs.list(store) {
            if is_internal_issuer(&issuer) {
                continue;
            }
            for dir in fs.list(&issuer) {
                let Some(base) = dir.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                    continue;
                };
                let crt = dir.join(format!("{base}.crt"));
                if !fs.exists(&crt) {
                    continue;
                }
                let (expiry, not_before, cert_names) = expiry_of(fs, Some(&crt));
                let listed = names(if cert_names.is_empty() {
                    vec![base.clone()]
                } else {
                    cert_names
                });
                if listed.iter().all(|n| internal(n)) {
                    continue;
                }
                let name = listed.first().cloned().unwrap_or(base);
                let mut cert = plan(
                    AcmeClient::Caddy,
                    name,
                    &dir.join(format!(
                        "{}.json",
                        dir.file_name()
                            .map(|n| n.to_string_lossy())
                            .unwrap_or_default()
                    )),
                    "storage (no Caddyfile: Caddy's default challenges assumed)",
                    None,
                    listed,
                    Challenge::TlsAlpn {
                        port: Challenge::TLS_ALPN_PORT,
                        http_fallback: true,
                    },
                    Some(&crt),
                );
                renewal(&mut cert, expiry, not_before);
                fs.facts.certificates.push(cert);
            }
        }
    }
}

/// Caddy's storage roots' `certificates` directories: the global `storage file_system` root
/// when the Caddyfile sets one, else the packaged service's data directory and each home's.
fn storage_dirs(fs: &mut Fs, custom: Option<PathBuf>) -> Vec<PathBuf> {
    if let Some(root) = custom {
        return vec![root.join("certificates")];
    }
    let mut dirs = vec![fs.host_path("/var/lib/caddy/.local/share/caddy/certificates")];
    dirs.extend(
        fs.homes()
            .into_iter()
            .map(|h| h.join(".local/share/caddy/certificates")),
    );
    dirs
}

/// Caddy's internal CA stores under its CA's id, `local` by default (caddy v2.6.2
/// `modules/caddypki/ca.go`, `DefaultCAID`): no ACME there.
fn is_internal_issuer(dir: &Path) -> bool {
    dir.file_name().is_some_and(|n| n == "local")
}

fn find_cert(fs: &mut Fs, store: &Path, name: &str) -> Option<PathBuf> {
    let key = storage_key(name);
    fs.list(store)
        .into_iter()
        .filter(|issuer| !is_internal_issuer(issuer))
        .map(|issuer| issuer.join(&key).join(format!("{key}.crt")))
        .find(|p| fs.exists(p))
}

#[cfg(test)]
mod tests {
    use super::super::testdir::{TempTree, WEB_PEM};
    use super::super::{Discover, discover};
    use crate::facts::{Challenge, ManagedCert, NextTry};

    fn run(t: &TempTree) -> crate::facts::ClientsFacts {
        discover(&Discover {
            root: t.path().to_path_buf(),
            extra: Vec::new(),
            defaults: true,
        })
    }

    fn by<'a>(facts: &'a crate::facts::ClientsFacts, name: &str) -> &'a ManagedCert {
        facts
            .certificates
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{name} not listed: {:?}", facts.certificates))
    }

    const DEFAULTS: Challenge = Challenge::TlsAlpn {
        port: 443,
        http_fallback: true,
    };

    /// Debian's layout: the packaged service's data directory under `/var/lib/caddy`, the
    /// issuer directory named after the ACME directory, an IPv6 site stored as `2001-db8--1`.
    #[test]
    fn caddyfile_sites_and_stored_certificates() {
        let t = TempTree::new("caddy");
        t.write(
            "/etc/caddy/Caddyfile",
            "{\n\temail ops@example.test\n}\n\n(common) {\n\tencode gzip\n}\n\nweb.example.test, www.example.test {\n\troot * /var/www/html\n\tfile_server\n}\n\nhttps://dns.example.test:443 {\n\ttls {\n\t\tdns cloudflare {env.CF_API_TOKEN}\n\t}\n}\n\nlocalhost:8080 {\n\trespond ok\n}\n\n[2001:db8::1] {\n\trespond ip\n}\n",
        );
        let store =
            "/var/lib/caddy/.local/share/caddy/certificates/acme-v02.api.letsencrypt.org-directory";
        t.write(
            &format!("{store}/web.example.test/web.example.test.crt"),
            WEB_PEM,
        );
        t.write(&format!("{store}/2001-db8--1/2001-db8--1.crt"), WEB_PEM);
        let facts = run(&t);
        let names: Vec<&str> = facts.certificates.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "web.example.test",
                "www.example.test",
                "dns.example.test",
                "2001:db8::1"
            ]
        );
        let web = &facts.certificates[0];
        assert_eq!(web.challenge, DEFAULTS);
        assert_eq!((web.key.as_str(), web.line), ("site address", Some(9)));
        assert_eq!(
            web.challenge.describe(),
            "tls-alpn-01 (http-01 as fallback)"
        );
        // 90 days of validity: renewal 30 days before the end.
        let NextTry::At { at, .. } = &web.next_try else {
            panic!("{:?}", web.next_try)
        };
        assert_eq!(at.utc, "2026-11-30T00:00:00Z");
        assert_eq!(
            facts.certificates[2].challenge,
            Challenge::Dns {
                provider: Some("cloudflare".into())
            }
        );
        let ip = by(&facts, "2001:db8::1");
        assert!(
            ip.certificate
                .as_deref()
                .is_some_and(|c| c.ends_with("/2001-db8--1/2001-db8--1.crt")),
            "{:?}",
            ip.certificate
        );
        assert!(facts.warnings.is_empty(), "{:?}", facts.warnings);
    }

    /// The challenge switches of the `tls` directive's `issuer acme` block and of the global
    /// options (caddyserver.com/docs/caddyfile/directives/tls, /docs/caddyfile/options:
    /// `cert_issuer`, `https_port`, `acme_dns`), in the shapes Debian's caddy 2.6.2 adapts to
    /// `challenges.http.disabled`, `challenges.tls-alpn.disabled` and
    /// `challenges.tls-alpn.alternate_port`.
    #[test]
    fn issuer_options_decide_the_challenge_and_its_key() {
        let t = TempTree::new("caddy-issuer");
        t.write(
            "/etc/caddy/Caddyfile",
            "\
{
\temail ops@example.test
\tcert_issuer acme {
\t\tdisable_http_challenge
\t}
}

alpn.example.test {
\trespond alpn
}

http.example.test {
\ttls {
\t\tissuer acme {
\t\t\tdisable_tlsalpn_challenge
\t\t}
\t}
\treverse_proxy localhost:8080
}

alt.example.test {
\ttls {
\t\tissuer acme {
\t\t\talt_tlsalpn_port 5001
\t\t}
\t}
}

internal.example.test {
\ttls internal
}

files.example.test {
\ttls /etc/ssl/files.pem /etc/ssl/files.key
}

*.wild.example.test {
\trespond wild
}

http://plain.example.test, port80.example.test:80, box.local {
\trespond plain
}
",
        );
        let facts = run(&t);
        let names: Vec<&str> = facts.certificates.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "alpn.example.test",
                "http.example.test",
                "alt.example.test",
                "*.wild.example.test"
            ]
        );
        let alpn = by(&facts, "alpn.example.test");
        assert_eq!(
            alpn.challenge,
            Challenge::TlsAlpn {
                port: 443,
                http_fallback: false
            }
        );
        assert_eq!(
            (alpn.key.as_str(), alpn.line),
            ("disable_http_challenge", Some(4))
        );
        let http = by(&facts, "http.example.test");
        assert_eq!(
            http.challenge,
            Challenge::WebServer {
                server: "caddy".into()
            }
        );
        assert_eq!(
            (http.key.as_str(), http.line),
            ("disable_tlsalpn_challenge", Some(15))
        );
        // A site's own issuer replaces the global one: HTTP-01 is its fallback again. Its
        // `alt_tlsalpn_port` moves the solver's listener only: Caddy's HTTPS server on 443
        // answers the CA (Debian's caddy 2.6.2 against Pebble, `docs/ca-behaviour.md` §12.1).
        let alt = by(&facts, "alt.example.test");
        assert_eq!(alt.challenge, DEFAULTS);
        assert_eq!((alt.key.as_str(), alt.line), ("site address", Some(21)));
        assert!(matches!(
            by(&facts, "*.wild.example.test").challenge,
            Challenge::Other { .. }
        ));
        assert!(facts.warnings.is_empty(), "{:?}", facts.warnings);
    }

    /// `https_port` moves Caddy's HTTPS server and its TLS-ALPN-01 solver (caddy v2.6.2
    /// `fillInACMEIssuer`), so the CA's 443 reaches it only through a forward. A global
    /// `acme_dns` makes every site DNS-01, and a single site may omit its braces.
    #[test]
    fn https_port_acme_dns_and_a_braceless_site() {
        let t = TempTree::new("caddy-ports");
        t.write(
            "/etc/caddy/Caddyfile",
            "{\n\thttp_port 8080\n\thttps_port 8443\n}\n\nport.example.test {\n\trespond port\n}\n",
        );
        let c = &run(&t).certificates[0];
        assert_eq!(
            c.challenge,
            Challenge::TlsAlpn {
                port: 8443,
                http_fallback: true
            }
        );
        assert_eq!((c.key.as_str(), c.line), ("https_port", Some(3)));
        assert_eq!(
            c.challenge.describe(),
            "tls-alpn-01 on :8443 (http-01 as fallback)"
        );

        let t = TempTree::new("caddy-443");
        t.write(
            "/etc/caddy/Caddyfile",
            "{\n\thttps_port 443\n}\nport.example.test\n",
        );
        assert_eq!(run(&t).certificates[0].challenge, DEFAULTS);

        let t = TempTree::new("caddy-dns");
        t.write(
            "/etc/caddy/Caddyfile",
            "{\n\tacme_dns cloudflare {env.CF_API_TOKEN}\n}\ndns.example.test {\n}\n",
        );
        let c = &run(&t).certificates[0];
        assert_eq!(
            (c.challenge.clone(), c.key.as_str(), c.line),
            (
                Challenge::Dns {
                    provider: Some("cloudflare".into())
                },
                "acme_dns",
                Some(2)
            )
        );

        let t = TempTree::new("caddy-braceless");
        t.write(
            "/etc/caddy/Caddyfile",
            "solo.example.test\n\ntls {\n\tissuer acme {\n\t\tdisable_tlsalpn_challenge\n\t}\n}\nfile_server\n",
        );
        let facts = run(&t);
        assert_eq!(facts.certificates.len(), 1, "{:?}", facts.certificates);
        assert_eq!(
            facts.certificates[0].challenge,
            Challenge::WebServer {
                server: "caddy".into()
            }
        );
    }

    /// No Caddyfile (a JSON or API configuration): every stored certificate is listed under
    /// Caddy's defaults, its names read from the certificate.
    #[test]
    fn storage_without_a_caddyfile_lists_each_certificate() {
        let t = TempTree::new("caddy-storage");
        t.write(
            "/home/alice/.local/share/caddy/certificates/acme-v02.api.letsencrypt.org-directory/web.example.test/web.example.test.crt",
            WEB_PEM,
        );
        // Caddy's internal CA (`tls internal`, `local_certs`) stores under `local`: not ACME.
        t.write(
            "/home/alice/.local/share/caddy/certificates/local/web.example.test/web.example.test.crt",
            WEB_PEM,
        );
        let facts = run(&t);
        assert_eq!(facts.certificates.len(), 1, "{:?}", facts.certificates);
        let c = &facts.certificates[0];
        assert_eq!(c.name, "web.example.test");
        assert!(!c.config.contains("/local/"), "{}", c.config);
        assert_eq!(c.challenge, DEFAULTS);
        assert!(c.config.ends_with("web.example.test/web.example.test.json"));
        assert!(matches!(c.next_try, NextTry::At { .. }));
    }

    #[test]
    fn storage_keys_are_certmagics() {
        assert_eq!(super::storage_key("*.Example.COM"), "wildcard_.example.com");
        assert_eq!(super::storage_key("2001:db8::1"), "2001-db8--1");
        assert_eq!(super::storage_key("203.0.113.5"), "203.0.113.5");
        // `..` and `/` are dropped: a name cannot climb out of the storage.
        assert_eq!(super::storage_key("a/../b"), "ab");
    }

    #[test]
    fn unbalanced_braces_are_warnings() {
        let t = TempTree::new("caddy-braces");
        t.write(
            "/etc/caddy/Caddyfile",
            "a.example.test {\n}\n}\nb.example.test {\n",
        );
        let facts = run(&t);
        let w: Vec<String> = facts.warnings.iter().map(|w| w.to_string()).collect();
        assert!(
            w.iter().any(|w| w.ends_with("Caddyfile:3: unbalanced `}`")),
            "{w:?}"
        );
        assert!(w.iter().any(|w| w.contains("unclosed `{`")), "{w:?}");
    }
}
