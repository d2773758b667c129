//! certbot: `/etc/letsencrypt/renewal/<lineage>.conf`, the configobj file certbot writes for
//! each certificate (its top-level `cert`/`fullchain` paths, `renew_before_expiry`, and the
//! `[renewalparams]` it renews with: `authenticator`, `webroot_path`, `[[webroot_map]]`,
//! `http01_port`, `pref_challs`, `manual_auth_hook`, `server`, `pre_hook`).
//!
//! Modelled on the files certbot writes, as quoted in
//! <https://community.letsencrypt.org/t/certbot-file-structure-need-detailed-demo/39687> and
//! <https://tzeejay.com/blog/2024/01/certbot-change-verification-challenge> (standalone with
//! `http01_port`), and certbot's own docs (`certbot/docs/using.rst`: renewal configuration
//! files, `renew_before_expiry` defaulting to 30 days).

use super::{Fs, before_expiry, expiry_of, names, plan};
use crate::facts::{AcmeClient, Challenge, NameWebroot, NextTry};
use std::path::Path;

/// certbot's default renewal window (`renew_before_expiry`).
const DEFAULT_WINDOW_DAYS: i64 = 30;

pub fn discover(fs: &mut Fs) {
    let dir = fs.host_path("/etc/letsencrypt/renewal");
    for file in fs.list(&dir) {
        if file.extension().is_some_and(|e| e == "conf")
            && let Some(text) = fs.read_text(&file)
        {
            parse_file(fs, &file, &text);
        }
    }
}

/// One `key = value` with its line.
struct Entry {
    section: Section,
    key: String,
    value: String,
    line: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Top,
    Params,
    WebrootMap,
    Other,
}

pub fn parse_file(fs: &mut Fs, path: &Path, text: &str) {
    let mut section = Section::Top;
    let mut entries = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if t.starts_with('[') {
            section = match t {
                "[renewalparams]" => Section::Params,
                "[[webroot_map]]" => Section::WebrootMap,
                _ if t.ends_with(']') => Section::Other,
                _ => {
                    // Lines are named, never quoted: they may come from a file its owner cannot read.
                    fs.warn(path, Some(line), "unclosed section header");
                    Section::Other
                }
            };
            continue;
        }
        let Some((key, value)) = t.split_once('=') else {
            fs.warn(path, Some(line), "not `key = value`");
            continue;
        };
        entries.push(Entry {
            section,
            key: key.trim().to_string(),
            value: unquote(value.trim()),
            line,
        });
    }
    let get = |s: Section, k: &str| entries.iter().find(|e| e.section == s && e.key == k);
    let lineage = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = path.parent().unwrap_or(Path::new("/"));
    let cert_path = get(Section::Top, "cert")
        .or_else(|| get(Section::Top, "fullchain"))
        .map(|e| fs.named_path(&e.value, dir));
    let map: Vec<NameWebroot> = entries
        .iter()
        .filter(|e| e.section == Section::WebrootMap)
        .map(|e| NameWebroot {
            name: e.key.to_ascii_lowercase(),
            path: e.value.clone(),
            key: format!("[[webroot_map]] {}", e.key),
            line: Some(e.line),
        })
        .collect();
    let authenticator = get(Section::Params, "authenticator");
    let (challenge, key, line) = match authenticator.map(|e| e.value.as_str()) {
        Some("webroot") => {
            let webroot = get(Section::Params, "webroot_path");
            let first = webroot
                .and_then(|e| e.value.split(',').map(str::trim).find(|p| !p.is_empty()))
                .map(str::to_string)
                .or_else(|| map.first().map(|m| m.path.clone()));
            match (first, webroot) {
                (Some(path), Some(e)) => {
                    (Challenge::Webroot { path }, "webroot_path", Some(e.line))
                }
                (Some(path), None) => (
                    Challenge::Webroot { path },
                    "[[webroot_map]]",
                    map.first().and_then(|m| m.line),
                ),
                (None, _) => {
                    fs.warn(
                        path,
                        authenticator.map(|e| e.line),
                        "authenticator = webroot without webroot_path or [[webroot_map]]",
                    );
                    (
                        Challenge::Other {
                            what: "webroot without a path".into(),
                        },
                        "webroot_path",
                        None,
                    )
                }
            }
        }
        Some("standalone") => {
            let port = get(Section::Params, "http01_port");
            let n = port.and_then(|e| e.value.parse::<u16>().ok()).unwrap_or(80);
            if let Some(e) = port.filter(|e| e.value.parse::<u16>().is_err()) {
                fs.warn(path, Some(e.line), "http01_port is not a port");
            }
            match port {
                Some(e) => (
                    Challenge::Standalone { port: n },
                    "http01_port",
                    Some(e.line),
                ),
                None => (
                    Challenge::Standalone { port: n },
                    "authenticator",
                    authenticator.map(|e| e.line),
                ),
            }
        }
        Some(a @ ("nginx" | "apache")) => (
            Challenge::WebServer {
                server: a.to_string(),
            },
            "authenticator",
            authenticator.map(|e| e.line),
        ),
        // `--manual` with an auth hook renews unattended, by the challenge `pref_challs`
        // names (`--preferred-challenges`); without a hook a person answers.
        Some("manual") => match (
            get(Section::Params, "manual_auth_hook"),
            get(Section::Params, "pref_challs"),
        ) {
            (Some(hook), Some(pref)) if pref.value.contains("dns") => (
                Challenge::Dns {
                    provider: Some(format!("manual_auth_hook {}", hook.value)),
                },
                "pref_challs",
                Some(pref.line),
            ),
            (Some(hook), _) => (
                Challenge::WebServer {
                    server: format!("certbot manual_auth_hook {}", hook.value),
                },
                "manual_auth_hook",
                Some(hook.line),
            ),
            (None, _) => (
                Challenge::Manual,
                "authenticator",
                authenticator.map(|e| e.line),
            ),
        },
        Some(a) if a.contains("dns-") || a.starts_with("dns") => {
            let provider = a.rsplit("dns-").next().unwrap_or(a).to_string();
            (
                Challenge::Dns {
                    provider: Some(provider),
                },
                "authenticator",
                authenticator.map(|e| e.line),
            )
        }
        Some(a) => (
            Challenge::Other {
                what: format!("authenticator {a}"),
            },
            "authenticator",
            authenticator.map(|e| e.line),
        ),
        None => {
            fs.warn(path, None, "no `authenticator` in [renewalparams]");
            (
                Challenge::Other {
                    what: "no authenticator".into(),
                },
                "authenticator",
                None,
            )
        }
    };
    let (expiry, not_before, cert_names) = expiry_of(fs, cert_path.as_deref());
    let listed = if cert_names.is_empty() {
        if map.is_empty() {
            vec![lineage.clone()]
        } else {
            map.iter().map(|m| m.name.clone()).collect()
        }
    } else {
        cert_names
    };
    let mut cert = plan(
        AcmeClient::Certbot,
        lineage,
        path,
        key,
        line,
        names(listed),
        challenge,
        cert_path.as_deref(),
    );
    // A map entry equal to the lineage-wide webroot changes nothing; keep those that differ
    // or that name a key of their own for the operator to edit.
    cert.webroots = map;
    let window = match get(Section::Top, "renew_before_expiry") {
        Some(e) => match window_seconds(&e.value) {
            Some(s) => Some((
                s,
                format!(
                    "certbot renews {} before expiry (renew_before_expiry); its timer runs twice a day",
                    e.value
                ),
            )),
            None => {
                fs.warn(
                    path,
                    Some(e.line),
                    "renew_before_expiry is not a duration certbot accepts",
                );
                None
            }
        },
        None => Some((
            DEFAULT_WINDOW_DAYS * 86_400,
            "certbot renews 30 days before expiry (its default); its timer runs twice a day".into(),
        )),
    };
    cert.next_try = match window {
        Some((s, rule)) => before_expiry(&expiry, s, rule),
        None => NextTry::Unknown {
            why: "renew_before_expiry could not be read".into(),
        },
    };
    cert.expiry = expiry;
    cert.not_before = not_before;
    cert.server = get(Section::Params, "server").map(|e| e.value.clone());
    cert.pre_hook = get(Section::Params, "pre_hook").map(|e| e.value.clone());
    // certbot checks each of these before it renews, and skips the lineage as "broken" when
    // one is gone (`RenewableCert._check_symlinks`): a missing file is a fact, not a warning.
    for key in ["cert", "privkey", "chain", "fullchain"] {
        if let Some(e) = get(Section::Top, key) {
            let file = fs.named_path(&e.value, dir);
            if !fs.exists(&file) {
                cert.missing_files
                    .push(format!("{key} {}", super::show(&file)));
            }
        }
    }
    fs.facts.certificates.push(cert);
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner.to_string();
        }
    }
    v.to_string()
}

/// `30 days`, `2 weeks`, `1 day`, `12 hours`: what certbot's `renew_before_expiry` takes.
fn window_seconds(text: &str) -> Option<i64> {
    let mut parts = text.split_whitespace();
    let n: i64 = parts.next()?.parse().ok()?;
    let unit = parts.next().unwrap_or("days").trim_end_matches('s');
    let scale = match unit {
        "day" => 86_400,
        "week" => 7 * 86_400,
        "hour" => 3600,
        "minute" => 60,
        "second" => 1,
        _ => return None,
    };
    // A window no clock can hold (`renew_before_expiry = 99999999999999999 days`) is unreadable.
    n.checked_mul(scale)
}

#[cfg(test)]
mod tests {
    use super::super::testdir::{SOLO_PEM, TempTree, WEB_PEM};

    /// Found by `fuzz/` (client_config): a count of days beyond any clock overflowed.
    #[test]
    fn a_window_beyond_any_clock_is_unreadable_not_an_overflow() {
        assert_eq!(super::window_seconds("30 days"), Some(30 * 86_400));
        assert_eq!(super::window_seconds("07550956297025341212"), None);
        assert_eq!(super::window_seconds("99999999999999999 weeks"), None);
    }
    use super::super::{Discover, discover};
    use crate::facts::{Challenge, NextTry, Probed};

    /// As certbot 2.x writes it for `certbot certonly --webroot -w /var/www/html -d
    /// web.example.test -d www.example.test`.
    const WEBROOT: &str = "\
# renew_before_expiry = 30 days
version = 2.1.0
archive_dir = /etc/letsencrypt/archive/web.example.test
cert = /etc/letsencrypt/live/web.example.test/cert.pem
privkey = /etc/letsencrypt/live/web.example.test/privkey.pem
chain = /etc/letsencrypt/live/web.example.test/chain.pem
fullchain = /etc/letsencrypt/live/web.example.test/fullchain.pem

# Options used in the renewal process
[renewalparams]
account = 6a4f2c3b8e1d0f9a7c5b3e2d1f0a9b8c
authenticator = webroot
webroot_path = /var/www/html,
server = https://acme-v02.api.letsencrypt.org/directory
key_type = ecdsa
[[webroot_map]]
web.example.test = /var/www/html
www.example.test = /var/www/www
";

    /// `certbot certonly --standalone --http-01-port 8080 --pre-hook 'systemctl stop nginx'`.
    const STANDALONE: &str = "\
renew_before_expiry = 2 weeks
version = 1.21.0
archive_dir = /etc/letsencrypt/archive/solo.example.test
cert = /etc/letsencrypt/live/solo.example.test/cert.pem
privkey = /etc/letsencrypt/live/solo.example.test/privkey.pem
chain = /etc/letsencrypt/live/solo.example.test/chain.pem
fullchain = /etc/letsencrypt/live/solo.example.test/fullchain.pem

[renewalparams]
account = 0123456789abcdef0123456789abcdef
pre_hook = systemctl stop nginx
http01_port = 8080
authenticator = standalone
server = https://acme-v02.api.letsencrypt.org/directory
";

    fn tree() -> TempTree {
        let t = TempTree::new("certbot");
        t.write("/etc/letsencrypt/renewal/web.example.test.conf", WEBROOT);
        t.write("/etc/letsencrypt/live/web.example.test/cert.pem", WEB_PEM);
        t.write(
            "/etc/letsencrypt/renewal/solo.example.test.conf",
            STANDALONE,
        );
        t.write("/etc/letsencrypt/live/solo.example.test/cert.pem", SOLO_PEM);
        t
    }

    fn run(t: &TempTree) -> crate::facts::ClientsFacts {
        discover(&Discover {
            root: t.path().to_path_buf(),
            extra: Vec::new(),
            defaults: true,
        })
    }

    #[test]
    fn a_webroot_lineage_gives_names_from_the_certificate_and_its_webroots() {
        let t = tree();
        let facts = run(&t);
        assert!(facts.warnings.is_empty(), "{:?}", facts.warnings);
        let web = facts
            .certificates
            .iter()
            .find(|c| c.name == "web.example.test")
            .unwrap();
        assert_eq!(web.names, ["web.example.test", "www.example.test"]);
        assert_eq!(
            web.challenge,
            Challenge::Webroot {
                path: "/var/www/html".into()
            }
        );
        assert_eq!((web.key.as_str(), web.line), ("webroot_path", Some(13)));
        let Probed::Known(expiry) = &web.expiry else {
            panic!("expiry {:?}", web.expiry)
        };
        assert_eq!(expiry.utc, "2026-12-30T00:00:00Z");
        let NextTry::At { at, .. } = &web.next_try else {
            panic!("{:?}", web.next_try)
        };
        assert_eq!(at.utc, "2026-11-30T00:00:00Z");
        // The map entry for www wins over webroot_path, and names its own key and line.
        let (c, key, line) = web.challenge_for("www.example.test");
        assert_eq!(
            c,
            Challenge::Webroot {
                path: "/var/www/www".into()
            }
        );
        assert_eq!((key, line), ("[[webroot_map]] www.example.test", Some(18)));
    }

    #[test]
    fn a_standalone_lineage_gives_its_port_hook_and_window() {
        let t = tree();
        let facts = run(&t);
        let solo = facts
            .certificates
            .iter()
            .find(|c| c.name == "solo.example.test")
            .unwrap();
        assert_eq!(solo.challenge, Challenge::Standalone { port: 8080 });
        assert_eq!((solo.key.as_str(), solo.line), ("http01_port", Some(12)));
        assert!(solo.hook_stops_a_service());
        let NextTry::At { at, rule } = &solo.next_try else {
            panic!("{:?}", solo.next_try)
        };
        assert_eq!(at.utc, "2026-12-05T00:00:00Z");
        assert!(rule.contains("2 weeks"), "{rule}");
    }

    #[test]
    fn a_manual_lineage_with_a_hook_renews_by_its_preferred_challenge() {
        let t = TempTree::new("certbot-manual");
        t.write(
            "/etc/letsencrypt/renewal/hook.example.test.conf",
            "version = 2.1.0\n[renewalparams]\nauthenticator = manual\npref_challs = dns-01,\nmanual_auth_hook = /usr/local/bin/dns-hook.sh\n",
        );
        t.write(
            "/etc/letsencrypt/renewal/person.example.test.conf",
            "version = 2.1.0\n[renewalparams]\nauthenticator = manual\npref_challs = http-01,\n",
        );
        let facts = run(&t);
        let hook = facts
            .certificates
            .iter()
            .find(|c| c.name == "hook.example.test")
            .unwrap();
        assert_eq!(
            hook.challenge,
            Challenge::Dns {
                provider: Some("manual_auth_hook /usr/local/bin/dns-hook.sh".into())
            }
        );
        assert_eq!((hook.key.as_str(), hook.line), ("pref_challs", Some(4)));
        let person = facts
            .certificates
            .iter()
            .find(|c| c.name == "person.example.test")
            .unwrap();
        assert_eq!(person.challenge, Challenge::Manual);
    }

    #[test]
    fn a_broken_line_is_a_warning_with_file_and_line_and_the_rest_still_reads() {
        let t = tree();
        t.write(
            "/etc/letsencrypt/renewal/broken.conf",
            "version = 2.1.0\n[renewalparams\nthis line has no equals sign\nauthenticator = webroot\n",
        );
        let facts = run(&t);
        let shown: Vec<String> = facts.warnings.iter().map(|w| w.to_string()).collect();
        assert!(
            shown
                .iter()
                .any(|w| w.contains("broken.conf:2: unclosed section")),
            "{shown:?}"
        );
        assert!(
            shown
                .iter()
                .any(|w| w.contains("broken.conf:3: not `key = value`")),
            "{shown:?}"
        );
        // The expiry of a lineage without a certificate file is unknown, not a crash.
        let broken = facts
            .certificates
            .iter()
            .find(|c| c.name == "broken")
            .unwrap();
        assert!(matches!(broken.expiry, Probed::Unknown(_)));
        assert_eq!(facts.certificates.len(), 3);
    }
}
