//! acme.sh: `~/.acme.sh/<domain>/<domain>.conf` (RSA) and `~/.acme.sh/<domain>_ecc/` (ECDSA),
//! the shell-variable file acme.sh saves per certificate with `_savedomainconf`: `Le_Domain`,
//! `Le_Alt` (`no` when none), `Le_Webroot` (a path per name, `no` for `--standalone`, `alpn`,
//! `dns_<api>` for a DNS API, `dns` for manual DNS, `apache`/`nginx` for those modes),
//! `Le_HTTPPort`, `Le_PreHook`, `Le_API`, `Le_NextRenewTime`. Hooks are saved as
//! `__ACME_BASE64__START_<base64>__ACME_BASE64__END_`. The certificate is `<domain>.cer`
//! beside it. Modelled on acme.sh's own source (acmesh-official/acme.sh, `acme.sh`:
//! `_savedomainconf`, `NO_VALUE="no"`, `W_ALPN="alpn"`) and its wiki's examples.

use super::{Fs, expiry_of, names, plan};
use crate::facts::{AcmeClient, Challenge, Moment, NameWebroot, NextTry};
use base64::Engine;
use std::path::{Path, PathBuf};

pub fn discover(fs: &mut Fs) {
    let mut homes: Vec<PathBuf> = fs.homes().into_iter().map(|h| h.join(".acme.sh")).collect();
    // The Docker image's and packaged installs' home.
    homes.push(fs.host_path("/etc/acme.sh"));
    homes.push(fs.host_path("/acme.sh"));
    for home in homes {
        for dir in fs.list(&home) {
            let Some(base) = dir.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                continue;
            };
            if !dir.is_dir() {
                continue;
            }
            let domain = base.strip_suffix("_ecc").unwrap_or(&base).to_string();
            let conf = dir.join(format!("{domain}.conf"));
            if let Some(text) = fs.read_text(&conf) {
                parse_file(fs, &conf, &text);
            }
        }
    }
}

pub fn parse_file(fs: &mut Fs, path: &Path, text: &str) {
    let mut vars: Vec<(String, String, u32)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let t = t.strip_prefix("export ").unwrap_or(t);
        match t.split_once('=') {
            Some((k, v))
                if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                vars.push((k.to_string(), value(v), line));
            }
            // The line is named, never quoted: it may come from a file its owner cannot read.
            _ => fs.warn(path, Some(line), "not `NAME='value'`"),
        }
    }
    let get = |k: &str| vars.iter().rev().find(|(key, _, _)| key == k);
    let Some((_, domain, _)) = get("Le_Domain") else {
        fs.warn(path, None, "no Le_Domain");
        return;
    };
    let domain = domain.clone();
    let mut listed = vec![domain.clone()];
    if let Some((_, alt, _)) = get("Le_Alt")
        && alt != "no"
    {
        listed.extend(
            alt.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
        );
    }
    let webroot = get("Le_Webroot");
    let roots: Vec<String> = webroot
        .map(|(_, v, _)| v.split(',').map(|s| s.trim().to_string()).collect())
        .unwrap_or_default();
    let port = get("Le_HTTPPort").and_then(|(_, v, _)| v.parse::<u16>().ok());
    // `--tlsport` is saved only when given (acme.sh `issue`: `_savedomainconf "Le_TLSPort"`).
    let tls_port = get("Le_TLSPort").and_then(|(_, v, _)| v.parse::<u16>().ok());
    let challenge = match roots.first() {
        Some(first) => classify(first, port, tls_port),
        None => {
            fs.warn(
                path,
                None,
                "no Le_Webroot: acme.sh cannot tell how this certificate renews",
            );
            Challenge::Other {
                what: "no Le_Webroot".into(),
            }
        }
    };
    let dir = path.parent().unwrap_or(Path::new("/"));
    let cer = dir.join(format!("{domain}.cer"));
    let (expiry, not_before, cert_names) = expiry_of(fs, Some(&cer));
    let all = if cert_names.is_empty() {
        listed.clone()
    } else {
        cert_names
    };
    let (key, line) = match (&challenge, get("Le_HTTPPort"), get("Le_TLSPort")) {
        (Challenge::Standalone { .. }, Some((_, _, l)), _) => ("Le_HTTPPort", Some(*l)),
        (Challenge::TlsAlpn { .. }, _, Some((_, _, l))) => ("Le_TLSPort", Some(*l)),
        _ => ("Le_Webroot", webroot.map(|(_, _, l)| *l)),
    };
    let mut cert = plan(
        AcmeClient::AcmeSh,
        domain,
        path,
        key,
        line,
        names(all),
        challenge,
        Some(&cer),
    );
    // `Le_Webroot` holds one entry per name, in the order of `Le_Domain` and `Le_Alt`, when the
    // names use different webroots.
    if roots.len() > 1 {
        for (i, (name, root)) in listed.iter().zip(&roots).enumerate().skip(1) {
            if matches!(classify(root, port, tls_port), Challenge::Webroot { .. })
                && Some(root) != roots.first()
            {
                cert.webroots.push(NameWebroot {
                    name: name.to_ascii_lowercase(),
                    path: root.clone(),
                    key: format!("Le_Webroot (entry {})", i + 1),
                    line: webroot.map(|(_, _, l)| *l),
                });
            }
        }
    }
    cert.next_try = match get("Le_NextRenewTime").map(|(_, v, l)| (v.parse::<i64>(), *l)) {
        Some((Ok(t), _)) => NextTry::At {
            at: Moment::from_unix(t),
            rule: "acme.sh Le_NextRenewTime; its cron job runs daily".into(),
        },
        Some((Err(_), l)) => {
            fs.warn(path, Some(l), "Le_NextRenewTime is not a Unix time");
            NextTry::Unknown {
                why: "Le_NextRenewTime is not a Unix time".into(),
            }
        }
        None => NextTry::Unknown {
            why: "no Le_NextRenewTime".into(),
        },
    };
    cert.expiry = expiry;
    cert.not_before = not_before;
    cert.server = get("Le_API").map(|(_, v, _)| v.clone());
    cert.pre_hook = get("Le_PreHook")
        .map(|(_, v, _)| decode_hook(v))
        .filter(|h| !h.is_empty());
    fs.facts.certificates.push(cert);
}

/// One `Le_Webroot` entry, with the saved `Le_HTTPPort` and `Le_TLSPort`.
fn classify(entry: &str, port: Option<u16>, tls_port: Option<u16>) -> Challenge {
    match entry {
        "no" => Challenge::Standalone {
            port: port.unwrap_or(80),
        },
        "alpn" => Challenge::TlsAlpn {
            port: tls_port.unwrap_or(Challenge::TLS_ALPN_PORT),
            http_fallback: false,
        },
        "dns" => Challenge::Manual,
        "apache" | "nginx" => Challenge::WebServer {
            server: entry.to_string(),
        },
        e if e.starts_with("nginx:") => Challenge::WebServer {
            server: "nginx".into(),
        },
        e if e.starts_with("dns_") => Challenge::Dns {
            provider: Some(e.to_string()),
        },
        e if e.starts_with('/') => Challenge::Webroot {
            path: e.to_string(),
        },
        e => Challenge::Other {
            what: format!("Le_Webroot {e}"),
        },
    }
}

/// `'value'`, `"value"` or a bare value.
fn value(v: &str) -> String {
    let v = v.trim();
    for q in ['\'', '"'] {
        if let Some(inner) = v.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner.to_string();
        }
    }
    v.to_string()
}

fn decode_hook(v: &str) -> String {
    const START: &str = "__ACME_BASE64__START_";
    const END: &str = "__ACME_BASE64__END_";
    match v.strip_prefix(START).and_then(|s| s.strip_suffix(END)) {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default(),
        None => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdir::{DNS_PEM, TempTree, WRONG_PEM};
    use super::super::{Discover, discover};
    use crate::facts::{Challenge, NextTry, Probed};

    /// As acme.sh 3.x saves it after `acme.sh --issue -d wrong.example.test -w /var/www/old`.
    const WEBROOT: &str = "\
Le_Domain='wrong.example.test'
Le_Alt='no'
Le_Webroot='/var/www/old'
Le_PreHook=''
Le_PostHook=''
Le_RenewHook=''
Le_API='https://acme-v02.api.letsencrypt.org/directory'
Le_Keylength='ec-256'
Le_OrderFinalize='https://acme-v02.api.letsencrypt.org/acme/finalize/1/2'
Le_LinkOrder='https://acme-v02.api.letsencrypt.org/acme/order/1/2'
Le_LinkCert='https://acme-v02.api.letsencrypt.org/acme/cert/03ab'
Le_CertCreateTime='1791806400'
Le_CertCreateTimeStr='2026-10-15T12:00:00Z'
Le_NextRenewTimeStr='2026-12-13T12:00:00Z'
Le_NextRenewTime='1797163200'
Le_RealCertPath=''
";

    /// `acme.sh --issue --dns dns_cf -d dns.example.test -d '*.dns.example.test'`, with a
    /// reload hook saved base64-encoded as acme.sh 3 does.
    const DNS_API: &str = "\
Le_Domain='dns.example.test'
Le_Alt='*.dns.example.test'
Le_Webroot='dns_cf,dns_cf'
Le_PreHook='__ACME_BASE64__START_c3lzdGVtY3RsIHN0b3Agbmdpbng=__ACME_BASE64__END_'
Le_API='https://acme-v02.api.letsencrypt.org/directory'
Le_Keylength='ec-256'
Le_NextRenewTime='1793534400'
";

    #[test]
    fn webroot_dns_api_and_standalone_confs_are_read() {
        let t = TempTree::new("acmesh");
        t.write(
            "/root/.acme.sh/wrong.example.test_ecc/wrong.example.test.conf",
            WEBROOT,
        );
        t.write(
            "/root/.acme.sh/wrong.example.test_ecc/wrong.example.test.cer",
            WRONG_PEM,
        );
        t.write(
            "/home/alice/.acme.sh/dns.example.test/dns.example.test.conf",
            DNS_API,
        );
        t.write(
            "/home/alice/.acme.sh/dns.example.test/dns.example.test.cer",
            DNS_PEM,
        );
        t.write(
            "/root/.acme.sh/solo.example.test/solo.example.test.conf",
            "Le_Domain='solo.example.test'\nLe_Alt='no'\nLe_Webroot='no'\nLe_HTTPPort='8081'\nbroken line\n",
        );
        let facts = discover(&Discover {
            root: t.path().to_path_buf(),
            extra: Vec::new(),
            defaults: true,
        });
        let by = |n: &str| facts.certificates.iter().find(|c| c.name == n).unwrap();
        let wrong = by("wrong.example.test");
        assert_eq!(
            wrong.challenge,
            Challenge::Webroot {
                path: "/var/www/old".into()
            }
        );
        assert_eq!((wrong.key.as_str(), wrong.line), ("Le_Webroot", Some(3)));
        let NextTry::At { at, .. } = &wrong.next_try else {
            panic!()
        };
        assert_eq!(at.utc, "2026-12-13T12:00:00Z");
        assert!(matches!(&wrong.expiry, Probed::Known(m) if m.utc == "2027-01-13T12:00:00Z"));

        let dns = by("dns.example.test");
        assert_eq!(dns.names, ["dns.example.test", "*.dns.example.test"]);
        assert_eq!(
            dns.challenge,
            Challenge::Dns {
                provider: Some("dns_cf".into())
            }
        );
        assert_eq!(dns.pre_hook.as_deref(), Some("systemctl stop nginx"));

        let solo = by("solo.example.test");
        assert_eq!(solo.challenge, Challenge::Standalone { port: 8081 });
        assert_eq!((solo.key.as_str(), solo.line), ("Le_HTTPPort", Some(4)));
        let w: Vec<String> = facts.warnings.iter().map(|w| w.to_string()).collect();
        assert!(
            w.iter()
                .any(|w| w.ends_with("solo.example.test.conf:5: not `NAME='value'`")),
            "{w:?}"
        );
        assert!(!w.iter().any(|w| w.contains("broken line")), "{w:?}");
        // No certificate file: the expiry is unknown and says why.
        assert!(
            matches!(&solo.expiry, Probed::Unknown(u) if u.to_string().contains("does not exist"))
        );
    }

    /// `acme.sh --issue --alpn --tlsport 8443 -d alpn.example.test`: acme.sh saves
    /// `Le_Webroot='alpn'` and, only when `--tlsport` is given, `Le_TLSPort` (acme.sh `issue`:
    /// `_savedomainconf "Le_TLSPort"`).
    #[test]
    fn alpn_confs_give_the_tls_port() {
        let t = TempTree::new("acmesh-alpn");
        t.write(
            "/root/.acme.sh/alpn.example.test_ecc/alpn.example.test.conf",
            "Le_Domain='alpn.example.test'\nLe_Alt='no'\nLe_Webroot='alpn'\nLe_PreHook=''\nLe_TLSPort='8443'\nLe_API='https://acme-v02.api.letsencrypt.org/directory'\n",
        );
        t.write(
            "/root/.acme.sh/plain.example.test/plain.example.test.conf",
            "Le_Domain='plain.example.test'\nLe_Alt='no'\nLe_Webroot='alpn'\n",
        );
        let facts = discover(&Discover {
            root: t.path().to_path_buf(),
            extra: Vec::new(),
            defaults: true,
        });
        let by = |n: &str| facts.certificates.iter().find(|c| c.name == n).unwrap();
        let alpn = by("alpn.example.test");
        assert_eq!(
            alpn.challenge,
            Challenge::TlsAlpn {
                port: 8443,
                http_fallback: false
            }
        );
        assert_eq!((alpn.key.as_str(), alpn.line), ("Le_TLSPort", Some(5)));
        assert_eq!(alpn.standalone_port(), Some(8443));
        let plain = by("plain.example.test");
        assert_eq!(plain.standalone_port(), Some(443));
        assert_eq!((plain.key.as_str(), plain.line), ("Le_Webroot", Some(3)));
    }
}
