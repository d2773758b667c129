//! lego: `<path>/certificates/<domain>.json` (`{"domain", "certUrl", "certStableUrl"}`) with
//! `<domain>.crt` beside it (a `*` in the name is written as `_`), under `--path` (default
//! `./.lego`: for a root cron job, `/root/.lego`). lego keeps no record of the challenge: it is
//! on its command line, so the systemd units and cron entries that run lego are read for
//! `--http` (standalone on `--http.port`, default `:80`), `--http.webroot`, `--tls`, `--dns`
//! and `renew --days N` (default 30). Modelled on lego's documentation (go-acme/lego,
//! `docs/content/usage/cli`: "Obtain a certificate", "Renew a certificate", the
//! `certificates/` layout).

use super::{Fs, before_expiry, expiry_of, names, plan, show};
use crate::facts::{AcmeClient, Challenge, NextTry};
use std::path::{Path, PathBuf};

/// lego renews when the certificate expires within this many days (`renew --days`).
const DEFAULT_DAYS: i64 = 30;

/// One lego command line found in a unit or crontab.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub file: PathBuf,
    pub line: u32,
    pub domains: Vec<String>,
    pub path: Option<String>,
    pub challenge: Option<(Challenge, &'static str)>,
    pub days: Option<i64>,
}

pub fn discover(fs: &mut Fs) {
    let mut commands = Vec::new();
    for dir in [
        "/etc/systemd/system",
        "/lib/systemd/system",
        "/usr/lib/systemd/system",
        "/etc/cron.d",
        "/var/spool/cron/crontabs",
    ] {
        let dir = fs.host_path(dir);
        for file in fs.list(&dir) {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let unit = name.ends_with(".service");
            let cron = !dir.to_string_lossy().contains("systemd");
            if !(cron || unit && name.contains("lego")) {
                continue;
            }
            if let Some(text) = fs.read_text(&file) {
                commands.extend(commands_in(&file, &text));
            }
        }
    }
    let crontab = fs.host_path("/etc/crontab");
    if let Some(text) = fs.read_text(&crontab) {
        commands.extend(commands_in(&crontab, &text));
    }
    let mut stores: Vec<PathBuf> = fs.homes().into_iter().map(|h| h.join(".lego")).collect();
    stores.push(fs.host_path("/etc/lego"));
    stores.push(fs.host_path("/var/lib/lego"));
    for c in &commands {
        if let Some(p) = &c.path {
            let p = fs.named_path(p, c.file.parent().unwrap_or(Path::new("/")));
            if !stores.contains(&p) {
                stores.push(p);
            }
        }
    }
    for store in stores {
        let dir = store.join("certificates");
        for file in fs.list(&dir) {
            if file.extension().is_some_and(|e| e == "json")
                && let Some(text) = fs.read_text(&file)
            {
                parse_json(fs, &file, &text, &commands);
            }
        }
    }
}

/// A `--client-config` lego JSON: the command lines of this host's units and cron apply.
pub fn parse_json_file(fs: &mut Fs, path: &Path, text: &str) {
    parse_json(fs, path, text, &[]);
}

/// A `--client-config` unit or crontab that runs lego: its certificates, found under its
/// `--path`.
pub fn parse_commands_file(fs: &mut Fs, path: &Path, text: &str) {
    let commands = commands_in(path, text);
    for c in &commands {
        let store = fs.named_path(
            c.path.as_deref().unwrap_or("/root/.lego"),
            path.parent().unwrap_or(Path::new("/")),
        );
        for file in fs.list(&store.join("certificates")) {
            if file.extension().is_some_and(|e| e == "json")
                && let Some(text) = fs.read_text(&file)
            {
                parse_json(fs, &file, &text, &commands);
            }
        }
    }
}

pub fn has_command(text: &str) -> bool {
    text.lines().any(|l| lego_args(l).is_some())
}

fn parse_json(fs: &mut Fs, path: &Path, text: &str, commands: &[Command]) {
    #[derive(serde::Deserialize)]
    struct Resource {
        domain: String,
    }
    let resource: Resource = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            fs.warn(
                path,
                u32::try_from(e.line()).ok(),
                format!("not lego's certificate JSON: {}", super::json_error(&e)),
            );
            return;
        }
    };
    let domain = resource.domain.to_ascii_lowercase();
    let crt = path.with_extension("crt");
    let (expiry, not_before, cert_names) = expiry_of(fs, Some(&crt));
    let listed = if cert_names.is_empty() {
        vec![domain.clone()]
    } else {
        cert_names
    };
    let store = path.parent().and_then(Path::parent);
    // The command that renews it: one naming its domain, else the only one for its store.
    let command = commands
        .iter()
        .find(|c| c.domains.iter().any(|d| d.eq_ignore_ascii_case(&domain)))
        .or_else(|| {
            let for_store: Vec<&Command> = commands
                .iter()
                .filter(|c| match (&c.path, store) {
                    (Some(p), Some(s)) => s.ends_with(p.trim_start_matches('/')),
                    _ => true,
                })
                .collect();
            (for_store.len() == 1).then(|| for_store[0])
        });
    let mut cert = match command.and_then(|c| c.challenge.clone().map(|ch| (c, ch))) {
        Some((c, (challenge, key))) => plan(
            AcmeClient::Lego,
            domain.clone(),
            &c.file,
            key,
            Some(c.line),
            names(listed),
            challenge,
            Some(&crt),
        ),
        None => plan(
            AcmeClient::Lego,
            domain.clone(),
            path,
            "lego's command line",
            None,
            names(listed),
            Challenge::Other {
                what: "no lego command line found in a systemd unit or cron entry".into(),
            },
            Some(&crt),
        ),
    };
    let days = command.and_then(|c| c.days);
    cert.next_try = match (&expiry, command) {
        (_, None) => NextTry::Unknown {
            why: "no lego command line found in a systemd unit or cron entry".into(),
        },
        (e, Some(_)) => before_expiry(
            e,
            days.unwrap_or(DEFAULT_DAYS).saturating_mul(86_400),
            format!(
                "lego renew --days {} (from {}), when its timer or cron runs",
                days.unwrap_or(DEFAULT_DAYS),
                command.map(|c| show(&c.file)).unwrap_or_default()
            ),
        ),
    };
    cert.expiry = expiry;
    cert.not_before = not_before;
    fs.facts.certificates.push(cert);
}

/// The arguments of a line that runs lego (`ExecStart=/usr/bin/lego …`, a cron line, a
/// `sh -c '…'`), without the program.
fn lego_args(line: &str) -> Option<Vec<String>> {
    let t = line.trim();
    if t.starts_with('#') {
        return None;
    }
    let t = t.strip_prefix("ExecStart=").unwrap_or(t);
    let words: Vec<String> = t
        .split_whitespace()
        .map(|w| {
            w.trim_matches(|c| c == '\'' || c == '"' || c == ';')
                .to_string()
        })
        .collect();
    let at = words
        .iter()
        .position(|w| w == "lego" || w.ends_with("/lego"))?;
    Some(words[at + 1..].to_vec())
}

pub fn commands_in(file: &Path, text: &str) -> Vec<Command> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let Some(args) = lego_args(raw) else { continue };
        let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let mut c = Command {
            file: file.to_path_buf(),
            line,
            domains: Vec::new(),
            path: None,
            challenge: None,
            days: None,
        };
        let mut http = false;
        let mut webroot = None;
        let mut port = 80u16;
        let mut tls = false;
        let mut tls_port: Option<(u16, &'static str)> = None;
        let mut it = args.iter().peekable();
        while let Some(a) = it.next() {
            let (flag, inline) = match a.split_once('=') {
                Some((f, v)) if f.starts_with('-') => (f, Some(v.to_string())),
                _ => (a.as_str(), None),
            };
            let mut val = || inline.clone().or_else(|| it.next().cloned());
            match flag {
                "-d" | "--domains" => c.domains.extend(val()),
                "--path" => c.path = val(),
                "--http" => http = true,
                "--http.webroot" => webroot = val(),
                "--http.port" => {
                    if let Some(p) = val() {
                        port = p
                            .rsplit(':')
                            .next()
                            .and_then(|p| p.parse().ok())
                            .unwrap_or(80);
                    }
                }
                "--tls" => tls = true,
                // v4 `--tls.port`, v5 `--tls.address`: `:443` or `interface:port` (default
                // `:443`); either only matters with `--tls`.
                "--tls.port" | "--tls.address" => {
                    let key = if flag == "--tls.port" {
                        "--tls.port"
                    } else {
                        "--tls.address"
                    };
                    tls_port = val()
                        .and_then(|p| p.rsplit(':').next()?.parse().ok())
                        .map(|p| (p, key));
                }
                "--dns" => {
                    c.challenge = Some((Challenge::Dns { provider: val() }, "--dns"));
                }
                "--days" => c.days = val().and_then(|d| d.parse().ok()),
                _ => {}
            }
        }
        // lego tries the offered challenges by type name, descending, and never retries
        // another (`docs/ca-behaviour.md` §12.2): tls-alpn-01, then http-01, then dns-01.
        if tls {
            let (port, key) = tls_port.unwrap_or((Challenge::TLS_ALPN_PORT, "--tls"));
            c.challenge = Some((
                Challenge::TlsAlpn {
                    port,
                    http_fallback: false,
                },
                key,
            ));
        } else if let Some(path) = webroot {
            c.challenge = Some((Challenge::Webroot { path }, "--http.webroot"));
        } else if http {
            c.challenge = Some((Challenge::Standalone { port }, "--http"));
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testdir::{SOLO_PEM, TempTree};
    use super::super::{Discover, discover};
    use crate::facts::{Challenge, NextTry};

    /// A renewal unit as lego's docs suggest running it (`lego … renew --days 45`).
    const UNIT: &str = "\
[Unit]
Description=Renew certificates with lego

[Service]
Type=oneshot
ExecStart=/usr/bin/lego --accept-tos --email ops@example.test --path /etc/lego --domains solo.example.test --http renew --days 45
";

    #[test]
    fn a_lego_certificate_takes_its_challenge_from_the_unit_that_renews_it() {
        let t = TempTree::new("lego");
        t.write("/etc/systemd/system/lego-renew.service", UNIT);
        t.write(
            "/etc/lego/certificates/solo.example.test.json",
            "{\n\t\"domain\": \"solo.example.test\",\n\t\"certUrl\": \"https://acme-v02.api.letsencrypt.org/acme/cert/04cd\",\n\t\"certStableUrl\": \"https://acme-v02.api.letsencrypt.org/acme/cert/04cd\"\n}",
        );
        t.write("/etc/lego/certificates/solo.example.test.crt", SOLO_PEM);
        t.write("/root/.lego/certificates/bad.json", "{\n\"domain\": \n");
        let facts = discover(&Discover {
            root: t.path().to_path_buf(),
            extra: Vec::new(),
            defaults: true,
        });
        let solo = facts
            .certificates
            .iter()
            .find(|c| c.name == "solo.example.test")
            .unwrap();
        assert_eq!(solo.challenge, Challenge::Standalone { port: 80 });
        assert_eq!((solo.key.as_str(), solo.line), ("--http", Some(6)));
        assert!(
            solo.config
                .ends_with("/etc/systemd/system/lego-renew.service")
        );
        let NextTry::At { at, rule } = &solo.next_try else {
            panic!("{:?}", solo.next_try)
        };
        assert_eq!(at.utc, "2026-11-04T00:00:00Z");
        assert!(rule.contains("--days 45"));
        let w: Vec<String> = facts.warnings.iter().map(|w| w.to_string()).collect();
        assert!(
            w.iter()
                .any(|w| w.contains("bad.json:3: not lego's certificate JSON")),
            "{w:?}"
        );
    }

    /// Found by `fuzz/` (client_config): `--days` beyond any clock overflowed the window.
    #[test]
    fn a_days_value_beyond_any_clock_does_not_overflow() {
        let t = TempTree::new("lego-days");
        t.write(
            "/etc/systemd/system/lego-renew.service",
            &UNIT.replace("--days 45", "--days 999999999999999999"),
        );
        t.write(
            "/etc/lego/certificates/solo.example.test.json",
            "{\"domain\": \"solo.example.test\"}",
        );
        t.write("/etc/lego/certificates/solo.example.test.crt", SOLO_PEM);
        let facts = discover(&Discover {
            root: t.path().to_path_buf(),
            extra: Vec::new(),
            defaults: true,
        });
        let solo = &facts.certificates[0];
        assert!(
            matches!(solo.next_try, NextTry::At { .. }),
            "{:?}",
            solo.next_try
        );
    }

    #[test]
    fn command_lines_give_webroot_dns_and_ports() {
        let p = std::path::Path::new("/etc/cron.d/lego");
        let c = super::commands_in(
            p,
            "# m h dom mon dow user command\n17 3 * * * root lego --path=/srv/lego -d a.example.test --http --http.webroot /var/www/a renew\n\
             0 4 * * * root /usr/local/bin/lego -d b.example.test --dns cloudflare renew --days 20\n\
             0 5 * * * root lego -d c.example.test --http --http.port :8080 renew\n",
        );
        assert_eq!(c.len(), 3);
        assert_eq!(
            c[0].challenge,
            Some((
                Challenge::Webroot {
                    path: "/var/www/a".into()
                },
                "--http.webroot"
            ))
        );
        assert_eq!(c[0].path.as_deref(), Some("/srv/lego"));
        assert_eq!(
            c[1].challenge,
            Some((
                Challenge::Dns {
                    provider: Some("cloudflare".into())
                },
                "--dns"
            ))
        );
        assert_eq!(c[1].days, Some(20));
        assert_eq!(
            c[2].challenge,
            Some((Challenge::Standalone { port: 8080 }, "--http"))
        );
    }

    /// `--tls` (lego v4 `cmd/flags.go`: `--tls`, `--tls.port`; v5 `--tls.address`), as
    /// `docs/ca-behaviour.md` §12.3 lists them; `--tls.port` alone enables nothing.
    #[test]
    fn tls_lines_give_the_responders_port() {
        let p = std::path::Path::new("/etc/cron.d/lego");
        let c = super::commands_in(
            p,
            "0 3 * * * root lego --path /etc/lego -d t.example.test --tls renew\n\
             0 3 * * * root lego -d u.example.test --tls --tls.port 127.0.0.1:5001 renew\n\
             0 3 * * * root lego -d v.example.test --tls --tls.address=:8443 --http renew\n\
             0 3 * * * root lego -d w.example.test --tls.port :5001 --http renew\n",
        );
        let tls = |port| Challenge::TlsAlpn {
            port,
            http_fallback: false,
        };
        assert_eq!(c[0].challenge, Some((tls(443), "--tls")));
        assert_eq!(c[1].challenge, Some((tls(5001), "--tls.port")));
        // lego tries tls-alpn-01 before http-01 and never the other after a failure.
        assert_eq!(c[2].challenge, Some((tls(8443), "--tls.address")));
        assert_eq!(
            c[3].challenge,
            Some((Challenge::Standalone { port: 80 }, "--http"))
        );
    }
}
