//! Caddy: the site addresses of its Caddyfile (`/etc/caddy/Caddyfile`), each a name Caddy
//! obtains a certificate for by itself (it is its own web server: HTTP-01 on port 80 or
//! TLS-ALPN-01 on 443; a `tls { dns <provider> }` block makes it DNS-01), and the
//! certificates in its storage, `<data dir>/caddy/certificates/<issuer>/<name>/<name>.crt`
//! (the Debian package's data dir is `/var/lib/caddy/.local/share`). Caddy renews when a third
//! of the lifetime remains. Modelled on Caddy's documentation (caddyserver.com/docs:
//! "Caddyfile concepts: addresses", "Automatic HTTPS", "Conventions: data directory").

use super::{Fs, before_expiry, expiry_of, names, plan};
use crate::facts::{AcmeClient, Challenge, NextTry, Probed};
use std::path::{Path, PathBuf};

pub fn discover(fs: &mut Fs) {
    let file = fs.host_path("/etc/caddy/Caddyfile");
    if let Some(text) = fs.read_text(&file) {
        parse_file(fs, &file, &text);
    }
}

/// One site block: its addresses, its line, and the DNS provider of its `tls` block.
type Site = (Vec<String>, u32, Option<String>);

/// Site blocks, and the lines that could not be placed.
fn sites(text: &str) -> (Vec<Site>, Vec<(u32, String)>) {
    let mut out: Vec<Site> = Vec::new();
    let mut problems = Vec::new();
    let mut depth = 0i32;
    let mut first_block = true;
    for (i, raw) in text.lines().enumerate() {
        let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let t = raw.split(" #").next().unwrap_or(raw).trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if depth == 0 {
            let head = t.trim_end_matches('{').trim();
            // The global options block (a bare `{` first) and snippets `(name)` are no sites.
            let global = head.is_empty() && first_block;
            first_block = false;
            if !global && !head.starts_with('(') && !head.is_empty() {
                let addrs: Vec<String> = head.split([' ', ',']).filter_map(address_name).collect();
                if !addrs.is_empty() {
                    out.push((addrs, line, None));
                }
            }
        } else if depth >= 1
            && let Some(rest) = t.strip_prefix("dns ")
            && let Some(site) = out.last_mut()
        {
            site.2 = rest.split_whitespace().next().map(str::to_string);
        }
        depth += t.matches('{').count() as i32 - t.matches('}').count() as i32;
        if depth < 0 {
            problems.push((line, "unbalanced `}`".to_string()));
            depth = 0;
        }
    }
    if depth > 0 {
        problems.push((
            text.lines().count() as u32,
            "unclosed `{` at the end of the file".into(),
        ));
    }
    (out, problems)
}

/// The name of one site address (`https://example.com:443/path` → `example.com`), when it
/// is one Caddy gets a public certificate for.
fn address_name(a: &str) -> Option<String> {
    let a = a.trim();
    let a = a.split_once("://").map_or(a, |(_, rest)| rest);
    let host = a.split('/').next().unwrap_or(a);
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    let public = host.contains('.')
        && !host.contains('{')
        && host.parse::<std::net::IpAddr>().is_err()
        && host != "localhost";
    public.then(|| host.to_ascii_lowercase())
}

pub fn parse_file(fs: &mut Fs, path: &Path, text: &str) {
    let (found, problems) = sites(text);
    for (line, message) in problems {
        fs.warn(path, Some(line), message);
    }
    let stores = storage_dirs(fs);
    for (addrs, line, dns) in found {
        for name in addrs {
            let crt = stores.iter().find_map(|s| find_cert(fs, s, &name));
            let challenge = match &dns {
                Some(p) => Challenge::Dns {
                    provider: Some(p.clone()),
                },
                None => Challenge::WebServer {
                    server: "caddy".into(),
                },
            };
            let (expiry, not_before, _) = match &crt {
                Some(c) => expiry_of(fs, Some(c)),
                None => (
                    Probed::Unknown(crate::facts::Unknown::failed(
                        "no certificate for this name in Caddy's storage",
                    )),
                    None,
                    Vec::new(),
                ),
            };
            let mut cert = plan(
                AcmeClient::Caddy,
                name.clone(),
                path,
                "site address",
                Some(line),
                names([name]),
                challenge,
                crt.as_deref(),
            );
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
            fs.facts.certificates.push(cert);
        }
    }
}

fn storage_dirs(fs: &mut Fs) -> Vec<PathBuf> {
    let mut dirs = vec![fs.host_path("/var/lib/caddy/.local/share/caddy/certificates")];
    dirs.extend(
        fs.homes()
            .into_iter()
            .map(|h| h.join(".local/share/caddy/certificates")),
    );
    dirs
}

fn find_cert(fs: &mut Fs, store: &Path, name: &str) -> Option<PathBuf> {
    let file = name.replace('*', "wildcard_");
    fs.list(store)
        .into_iter()
        .map(|issuer| issuer.join(&file).join(format!("{file}.crt")))
        .find(|p| fs.exists(p))
}

#[cfg(test)]
mod tests {
    use super::super::testdir::{TempTree, WEB_PEM};
    use super::super::{Discover, discover};
    use crate::facts::{Challenge, NextTry};

    #[test]
    fn caddyfile_sites_and_stored_certificates() {
        let t = TempTree::new("caddy");
        t.write(
            "/etc/caddy/Caddyfile",
            "{\n\temail ops@example.test\n}\n\n(common) {\n\tencode gzip\n}\n\nweb.example.test, www.example.test {\n\troot * /var/www/html\n\tfile_server\n}\n\nhttps://dns.example.test:443 {\n\ttls {\n\t\tdns cloudflare {env.CF_API_TOKEN}\n\t}\n}\n\nlocalhost:8080 {\n\trespond ok\n}\n",
        );
        t.write(
            "/var/lib/caddy/.local/share/caddy/certificates/acme-v02.api.letsencrypt.org-directory/web.example.test/web.example.test.crt",
            WEB_PEM,
        );
        let facts = discover(&Discover {
            root: t.path().to_path_buf(),
            extra: Vec::new(),
            defaults: true,
        });
        let names: Vec<&str> = facts.certificates.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["web.example.test", "www.example.test", "dns.example.test"]
        );
        let web = &facts.certificates[0];
        assert_eq!(
            web.challenge,
            Challenge::WebServer {
                server: "caddy".into()
            }
        );
        assert_eq!(web.line, Some(9));
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
        assert!(facts.warnings.is_empty(), "{:?}", facts.warnings);
    }
}
