//! Traefik: the static configuration's `certificatesResolvers` (`/etc/traefik/traefik.yml`,
//! `.yaml` or `.toml`), each with `httpChallenge` (Traefik answers on an entry point),
//! `tlsChallenge` or `dnsChallenge` (`provider`) and its `storage` file, and that `acme.json`:
//! `{"<resolver>": {"Account": …, "Certificates": [{"domain": {"main", "sans"},
//! "certificate": <base64 PEM>, "key": …, "Store": "default"}]}}`. Traefik renews 30 days
//! before expiry. Modelled on Traefik's documentation (traefik/traefik,
//! `docs/content/https-tls/acme.md` and the certificate-resolvers reference).
//!
//! The static configuration is read by a small line scanner (YAML indentation or TOML
//! tables), not by a YAML/TOML parser: only resolver names, challenge kinds, provider and
//! storage are needed, and a line it cannot place costs nothing but that detail.

use super::{Fs, before_expiry, names, plan};
use crate::facts::{AcmeClient, Challenge, EntryPoint, Moment, Probed, Unknown};
use std::path::Path;

const WINDOW_DAYS: i64 = 30;

#[derive(Debug, Clone, PartialEq)]
pub struct Resolver {
    pub name: String,
    pub challenge: Option<Challenge>,
    pub storage: Option<String>,
    pub line: u32,
}

pub fn discover(fs: &mut Fs) {
    for name in ["traefik.yml", "traefik.yaml", "traefik.toml"] {
        let file = fs.host_path(&format!("/etc/traefik/{name}"));
        if let Some(text) = fs.read_text(&file) {
            parse_static(fs, &file, &text);
        }
    }
}

pub fn parse_static(fs: &mut Fs, path: &Path, text: &str) {
    let resolvers = resolvers(text);
    let entry_points = entry_points(text);
    if resolvers.is_empty() {
        fs.warn(
            path,
            None,
            "certificatesResolvers found, but no resolver could be read",
        );
    }
    let dir = path.parent().unwrap_or(Path::new("/"));
    let mut read = Vec::new();
    for r in &resolvers {
        let storage = r.storage.clone().unwrap_or_else(|| "acme.json".into());
        let file = fs.named_path(&storage, dir);
        if read.contains(&file) {
            continue;
        }
        read.push(file.clone());
        match fs.read_text(&file) {
            Some(json) => parse_acme_json(
                fs,
                &file,
                &json,
                Some(Static {
                    path,
                    resolvers: &resolvers,
                    entry_points: &entry_points,
                }),
            ),
            None if !fs.exists(&file) => fs.warn(
                path,
                Some(r.line),
                format!(
                    "resolver {}: its storage {} does not exist",
                    r.name,
                    super::show(&file)
                ),
            ),
            None => {}
        }
    }
}

/// The entry points of a YAML or TOML static configuration, in the file's order; Traefik's
/// default (`http` on `:80`, traefik `pkg/config/static/static_config.go`
/// `SetEffectiveConfiguration`) when the file defines none. A static configuration comes
/// from one source only (the file, the CLI flags or the environment), so entry points given
/// elsewhere do not apply while this file is Traefik's.
pub fn entry_points(text: &str) -> Vec<EntryPoint> {
    let mut out: Vec<EntryPoint> = Vec::new();
    // YAML: the indentation of `entryPoints:`, of its children (the names), and of the
    // current name's own keys.
    let mut block: Option<usize> = None;
    let mut name_indent: Option<usize> = None;
    let mut key_indent: Option<usize> = None;
    // TOML: the entry point whose table (`[entryPoints.NAME]`) is open, or `Some("")` in a
    // bare `[entryPoints]` table (dotted keys: `web.address = ":80"`).
    let mut table: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let indent = raw.len() - raw.trim_start().len();
        if let Some(inner) = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            block = None;
            let parts: Vec<String> = inner
                .split('.')
                .map(|p| p.trim().trim_matches('"').to_string())
                .collect();
            table = match parts.as_slice() {
                [ep] if ep.eq_ignore_ascii_case("entryPoints") => Some(String::new()),
                [ep, name] if ep.eq_ignore_ascii_case("entryPoints") => Some(name.clone()),
                _ => None,
            };
            continue;
        }
        let (key, value) = match t.split_once([':', '=']) {
            Some((k, v)) => (
                k.trim().trim_matches('"'),
                v.split(" #")
                    .next()
                    .unwrap_or(v)
                    .trim()
                    .trim_matches(['"', '\'']),
            ),
            None => (t, ""),
        };
        if let Some(name) = &table {
            let (owner, key) = match key.rsplit_once('.') {
                Some((n, k)) if name.is_empty() => (n.trim_matches('"').to_string(), k),
                _ => (name.clone(), key),
            };
            if !owner.is_empty() {
                set(&mut out, &owner, key, value, line);
            }
            continue;
        }
        if key.eq_ignore_ascii_case("entryPoints") && value.is_empty() && indent == 0 {
            block = Some(indent);
            name_indent = None;
            continue;
        }
        let Some(base) = block else { continue };
        if indent <= base {
            block = None;
            continue;
        }
        if name_indent.is_none_or(|n| indent <= n) {
            name_indent = Some(indent);
            key_indent = None;
            out.push(EntryPoint {
                name: key.to_string(),
                address: String::new(),
                acme_bypass: false,
                line: None,
            });
            continue;
        }
        // Only the name's own keys: `address` under `http.redirections` is no address.
        if key_indent.is_none_or(|k| indent == k) {
            key_indent = Some(indent);
            if let Some(name) = out.last().map(|e| e.name.clone()) {
                set(&mut out, &name, key, value, line);
            }
        }
    }
    out.retain(|e| !e.address.is_empty());
    if out.is_empty() {
        out.push(EntryPoint {
            name: "http".into(),
            address: ":80".into(),
            acme_bypass: false,
            line: None,
        });
    }
    out
}

/// One key of entry point `name`.
fn set(out: &mut Vec<EntryPoint>, name: &str, key: &str, value: &str, line: u32) {
    let at = match out.iter().position(|e| e.name == name) {
        Some(at) => at,
        None => {
            out.push(EntryPoint {
                name: name.to_string(),
                address: String::new(),
                acme_bypass: false,
                line: None,
            });
            out.len() - 1
        }
    };
    let ep = &mut out[at];
    if key.eq_ignore_ascii_case("address") {
        ep.address = value.to_string();
        ep.line = Some(line);
    } else if key.eq_ignore_ascii_case("allowACMEByPass") {
        ep.acme_bypass = value.eq_ignore_ascii_case("true");
    }
}

/// The resolvers of a YAML or TOML static configuration.
pub fn resolvers(text: &str) -> Vec<Resolver> {
    let mut out: Vec<Resolver> = Vec::new();
    let mut in_block: Option<usize> = None; // YAML: indentation of `certificatesResolvers:`
    let mut resolver_indent: Option<usize> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let indent = raw.len() - raw.trim_start().len();
        // TOML: [certificatesResolvers.NAME.acme(.httpChallenge)]
        if let Some(table) = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            in_block = None;
            let parts: Vec<&str> = table.split('.').collect();
            if parts
                .first()
                .is_some_and(|p| p.eq_ignore_ascii_case("certificatesResolvers"))
                && parts.len() >= 2
            {
                let name = parts[1].trim_matches('"').to_string();
                if !out.iter().any(|r| r.name == name) {
                    out.push(Resolver {
                        name: name.clone(),
                        challenge: None,
                        storage: None,
                        line,
                    });
                }
                if let (Some(kind), Some(r)) =
                    (parts.get(3), out.iter_mut().find(|r| r.name == name))
                {
                    r.challenge = kind_of(kind).or(r.challenge.take());
                }
            } else {
                resolver_indent = None;
                // Leave the current TOML resolver: settings below belong elsewhere.
                out.push(Resolver {
                    name: String::new(),
                    challenge: None,
                    storage: None,
                    line,
                });
            }
            continue;
        }
        let (key, value) = match t.split_once([':', '=']) {
            Some((k, v)) => (
                k.trim().trim_matches('"'),
                v.trim().trim_matches(['"', '\'']),
            ),
            None => (t, ""),
        };
        if key.eq_ignore_ascii_case("certificatesResolvers") && value.is_empty() {
            in_block = Some(indent);
            resolver_indent = None;
            continue;
        }
        if let Some(base) = in_block {
            if indent <= base {
                in_block = None;
                resolver_indent = None;
            } else if resolver_indent.is_none_or(|ri| indent <= ri) && value.is_empty() {
                resolver_indent = Some(indent);
                out.push(Resolver {
                    name: key.to_string(),
                    challenge: None,
                    storage: None,
                    line,
                });
                continue;
            }
        }
        let Some(r) = out.last_mut() else { continue };
        if r.name.is_empty() {
            continue;
        }
        if let Some(kind) = kind_of(key) {
            r.challenge = Some(kind);
        } else if key == "storage" {
            r.storage = Some(value.to_string());
        } else if key == "provider"
            && let Some(Challenge::Dns { provider }) = &mut r.challenge
        {
            *provider = Some(value.to_string());
        }
    }
    out.retain(|r| !r.name.is_empty());
    out
}

fn kind_of(key: &str) -> Option<Challenge> {
    match key {
        "httpChallenge" => Some(Challenge::WebServer {
            server: "traefik".into(),
        }),
        // Traefik's solver answers on whichever entry point receives port 443 (§12.2): the
        // port is the CA's; which entry point has it is read apart ([`entry_points`]).
        "tlsChallenge" => Some(Challenge::TlsAlpn {
            port: Challenge::TLS_ALPN_PORT,
            http_fallback: false,
        }),
        "dnsChallenge" => Some(Challenge::Dns { provider: None }),
        _ => None,
    }
}

/// What the static configuration says, for the certificates of its `acme.json`.
#[derive(Debug, Clone, Copy)]
pub struct Static<'a> {
    pub path: &'a Path,
    pub resolvers: &'a [Resolver],
    pub entry_points: &'a [EntryPoint],
}

/// An `acme.json`; with the static configuration, each certificate gets its resolver's
/// challenge (and, for `tlsChallenge`, the entry points).
pub fn parse_acme_json(fs: &mut Fs, path: &Path, text: &str, config: Option<Static>) {
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            fs.warn(
                path,
                u32::try_from(e.line()).ok(),
                format!("not Traefik's acme.json: {}", super::json_error(&e)),
            );
            return;
        }
    };
    let Some(by_resolver) = value.as_object() else {
        fs.warn(
            path,
            Some(1),
            "not Traefik's acme.json: not an object of resolvers",
        );
        return;
    };
    for (resolver, store) in by_resolver {
        let Some(certs) = store.get("Certificates").and_then(|c| c.as_array()) else {
            continue;
        };
        let found = config.and_then(|c| c.resolvers.iter().find(|r| &r.name == resolver));
        let challenge = found
            .and_then(|r| r.challenge.clone())
            .unwrap_or(Challenge::Other {
                what: format!("resolver {resolver}: its static configuration was not read"),
            });
        for c in certs {
            let main = c
                .pointer("/domain/main")
                .and_then(|m| m.as_str())
                .unwrap_or("");
            let sans = c
                .pointer("/domain/sans")
                .and_then(|s| s.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_else(Vec::new);
            if main.is_empty() {
                fs.warn(
                    path,
                    None,
                    format!("resolver {resolver}: a certificate without domain.main"),
                );
                continue;
            }
            let info = c
                .get("certificate")
                .and_then(|p| p.as_str())
                .map(super::cert::read_base64_pem);
            let (expiry, not_before, cert_names) = match info {
                Some(Ok(i)) => (
                    Probed::Known(Moment::from_unix(i.not_after)),
                    Some(Moment::from_unix(i.not_before)),
                    i.dns_names,
                ),
                Some(Err(e)) => (
                    Probed::Unknown(Unknown::failed(format!("{main}: {e}"))),
                    None,
                    Vec::new(),
                ),
                None => (
                    Probed::Unknown(Unknown::failed("no certificate in acme.json")),
                    None,
                    Vec::new(),
                ),
            };
            let listed = if cert_names.is_empty() {
                std::iter::once(main.to_string()).chain(sans).collect()
            } else {
                cert_names
            };
            let (file, line) = match (config, found) {
                (Some(c), Some(r)) => (c.path, Some(r.line)),
                _ => (path, None),
            };
            let mut cert = plan(
                AcmeClient::Traefik,
                main.to_string(),
                file,
                &format!("certificatesResolvers.{resolver}"),
                line,
                names(listed),
                challenge.clone(),
                Some(path),
            );
            cert.next_try = before_expiry(
                &expiry,
                WINDOW_DAYS * 86_400,
                "Traefik renews 30 days before expiry".into(),
            );
            if let (Challenge::TlsAlpn { .. }, Some(c)) = (&challenge, config) {
                cert.entry_points = c.entry_points.to_vec();
            }
            cert.expiry = expiry;
            cert.not_before = not_before;
            fs.facts.certificates.push(cert);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdir::{TempTree, WEB_PEM};
    use super::super::{Discover, discover};
    use crate::facts::{Challenge, Probed};
    use base64::Engine;

    #[test]
    fn yaml_and_toml_resolvers_are_read() {
        let yaml = "entryPoints:\n  web:\n    address: \":80\"\n\ncertificatesResolvers:\n  le:\n    acme:\n      email: ops@example.test\n      storage: /etc/traefik/acme.json\n      httpChallenge:\n        entryPoint: web\n  cf:\n    acme:\n      storage: /etc/traefik/acme-dns.json\n      dnsChallenge:\n        provider: cloudflare\nlog:\n  level: INFO\n";
        let r = super::resolvers(yaml);
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!((r[0].name.as_str(), r[0].line), ("le", 6));
        assert_eq!(
            r[0].challenge,
            Some(Challenge::WebServer {
                server: "traefik".into()
            })
        );
        assert_eq!(
            r[1].challenge,
            Some(Challenge::Dns {
                provider: Some("cloudflare".into())
            })
        );
        assert_eq!(r[1].storage.as_deref(), Some("/etc/traefik/acme-dns.json"));
        let toml = "[entryPoints.web]\n  address = \":80\"\n\n[certificatesResolvers.myresolver.acme]\n  email = \"ops@example.test\"\n  storage = \"acme.json\"\n  [certificatesResolvers.myresolver.acme.tlsChallenge]\n";
        let r = super::resolvers(toml);
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(
            r[0].challenge,
            Some(Challenge::TlsAlpn {
                port: 443,
                http_fallback: false
            })
        );
        assert_eq!(r[0].storage.as_deref(), Some("acme.json"));
    }

    #[test]
    fn acme_json_certificates_get_their_resolvers_challenge() {
        let t = TempTree::new("traefik");
        t.write(
            "/etc/traefik/traefik.yml",
            "certificatesResolvers:\n  le:\n    acme:\n      storage: /etc/traefik/acme.json\n      httpChallenge:\n        entryPoint: web\n",
        );
        let pem = base64::engine::general_purpose::STANDARD.encode(WEB_PEM);
        t.write(
            "/etc/traefik/acme.json",
            &format!("{{\n  \"le\": {{\n    \"Account\": {{\"Email\": \"ops@example.test\"}},\n    \"Certificates\": [\n      {{\"domain\": {{\"main\": \"web.example.test\", \"sans\": [\"www.example.test\"]}}, \"certificate\": \"{pem}\", \"key\": \"\", \"Store\": \"default\"}}\n    ]\n  }}\n}}\n"),
        );
        let facts = discover(&Discover {
            root: t.path().to_path_buf(),
            extra: Vec::new(),
            defaults: true,
        });
        assert_eq!(facts.certificates.len(), 1, "{:?}", facts.warnings);
        let c = &facts.certificates[0];
        assert_eq!(c.names, ["web.example.test", "www.example.test"]);
        assert_eq!(
            c.challenge,
            Challenge::WebServer {
                server: "traefik".into()
            }
        );
        assert_eq!(
            (c.key.as_str(), c.line),
            ("certificatesResolvers.le", Some(2))
        );
        assert!(matches!(&c.expiry, Probed::Known(m) if m.utc == "2026-12-30T00:00:00Z"));
    }

    /// The entry points of the documentation's own examples (traefik
    /// `docs/content/https-tls/acme.md`, "tlsChallenge"; `docs/ca-behaviour.md` §12.2), in
    /// YAML and TOML, with a redirection whose `to` is no address.
    #[test]
    fn entry_points_are_read_in_yaml_and_toml() {
        let yaml = "\
entryPoints:
  web:
    address: \":80\"
    http:
      redirections:
        entryPoint:
          to: websecure
          scheme: https
  websecure:
    address: \":8443\"  # published as 443 by Docker
    allowACMEByPass: true
  h3:
    address: \":443/udp\"

certificatesResolvers:
  myresolver:
    acme:
      email: ops@example.test
      storage: acme.json
      tlsChallenge: {}
";
        let eps = super::entry_points(yaml);
        let seen: Vec<(&str, &str, Option<u32>, Option<u16>)> = eps
            .iter()
            .map(|e| (e.name.as_str(), e.address.as_str(), e.line, e.tcp_port()))
            .collect();
        assert_eq!(
            seen,
            [
                ("web", ":80", Some(3), Some(80)),
                ("websecure", ":8443", Some(10), Some(8443)),
                ("h3", ":443/udp", Some(13), None),
            ]
        );
        assert!(eps[1].acme_bypass && !eps[0].acme_bypass);
        assert!(!eps.iter().any(|e| e.answers_tls_alpn()));

        let toml = "[entryPoints]\n  [entryPoints.web]\n    address = \":80\"\n  [entryPoints.websecure]\n    address = \"0.0.0.0:443\"\n  [entryPoints.websecure.http.tls]\n    certResolver = \"myresolver\"\n\n[certificatesResolvers.myresolver.acme]\n  storage = \"acme.json\"\n  [certificatesResolvers.myresolver.acme.tlsChallenge]\n";
        let eps = super::entry_points(toml);
        assert_eq!(eps.len(), 2, "{eps:?}");
        assert_eq!((eps[1].name.as_str(), eps[1].line), ("websecure", Some(5)));
        assert!(eps[1].answers_tls_alpn());
        assert!(!eps[0].answers_tls_alpn());
        let dotted = super::entry_points("[entryPoints]\nlocal.address = \"127.0.0.1:443\"\n");
        assert_eq!(dotted[0].tcp_port(), Some(443));
        assert!(dotted[0].loopback_only() && !dotted[0].answers_tls_alpn());
    }

    /// A static file without `entryPoints` gets Traefik's own default, `http` on `:80`.
    #[test]
    fn no_entry_points_means_traefiks_default() {
        let eps = super::entry_points(
            "certificatesResolvers:\n  le:\n    acme:\n      tlsChallenge: {}\n",
        );
        assert_eq!(eps.len(), 1);
        assert_eq!(
            (eps[0].name.as_str(), eps[0].address.as_str(), eps[0].line),
            ("http", ":80", None)
        );
    }

    #[test]
    fn tls_challenge_certificates_carry_the_entry_points() {
        let t = TempTree::new("traefik-tls");
        t.write(
            "/etc/traefik/traefik.toml",
            "[entryPoints.web]\n  address = \":80\"\n[entryPoints.websecure]\n  address = \":443\"\n\n[certificatesResolvers.myresolver.acme]\n  email = \"ops@example.test\"\n  storage = \"acme.json\"\n  [certificatesResolvers.myresolver.acme.tlsChallenge]\n",
        );
        let pem = base64::engine::general_purpose::STANDARD.encode(WEB_PEM);
        t.write(
            "/etc/traefik/acme.json",
            &format!("{{\"myresolver\": {{\"Account\": null, \"Certificates\": [{{\"domain\": {{\"main\": \"web.example.test\"}}, \"certificate\": \"{pem}\", \"key\": \"\", \"Store\": \"default\"}}]}}}}"),
        );
        let facts = discover(&Discover {
            root: t.path().to_path_buf(),
            extra: Vec::new(),
            defaults: true,
        });
        assert_eq!(facts.certificates.len(), 1, "{:?}", facts.warnings);
        let c = &facts.certificates[0];
        assert_eq!(
            c.challenge,
            Challenge::TlsAlpn {
                port: 443,
                http_fallback: false
            }
        );
        assert!(c.config.ends_with("/etc/traefik/traefik.toml"));
        let names: Vec<&str> = c.entry_points.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["web", "websecure"]);
        // A Traefik certificate is no standalone client's: Traefik holds its ports.
        assert_eq!(c.standalone_port(), None);
    }
}
