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
use crate::facts::{AcmeClient, Challenge, Moment, Probed, Unknown};
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
            Some(json) => parse_acme_json(fs, &file, &json, Some((path, &resolvers))),
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
        "tlsChallenge" => Some(Challenge::TlsAlpn),
        "dnsChallenge" => Some(Challenge::Dns { provider: None }),
        _ => None,
    }
}

/// An `acme.json`; with the static configuration, each certificate gets its resolver's
/// challenge.
pub fn parse_acme_json(fs: &mut Fs, path: &Path, text: &str, config: Option<(&Path, &[Resolver])>) {
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
        let found = config.and_then(|(_, rs)| rs.iter().find(|r| &r.name == resolver));
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
                (Some((p, _)), Some(r)) => (p, Some(r.line)),
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
        assert_eq!(r[0].challenge, Some(Challenge::TlsAlpn));
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
}
