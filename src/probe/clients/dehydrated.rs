//! dehydrated: its shell-variable configuration (`/etc/dehydrated/config` as Debian ships it,
//! then `CONFIG_D/*.sh` in order, each overriding), the certificates listed one per line in
//! `DOMAINS_TXT` (`name alt… > alias`), and each certificate's files under
//! `CERTDIR/<alias or name>/` (`cert.pem`, and an optional per-certificate `config`).
//!
//! Defaults as dehydrated 0.7.0 (`load_config`) sets them: `CHALLENGETYPE="http-01"`,
//! `CERTDIR="${BASEDIR}/certs"`, `DOMAINS_TXT="${BASEDIR}/domains.txt"`,
//! `WELLKNOWN="/var/www/dehydrated"`, `RENEW_DAYS="30"`; Debian's config sets
//! `BASEDIR=/var/lib/dehydrated`, `WELLKNOWN="${BASEDIR}/acme-challenges"`,
//! `DOMAINS_TXT="/etc/dehydrated/domains.txt"` and `CONFIG_D=/etc/dehydrated/conf.d`
//! (package dehydrated 0.7.0-3, `/etc/dehydrated/config`; `docs/domains_txt.md`).
//!
//! `WELLKNOWN` is the challenge directory itself (dehydrated writes `WELLKNOWN/<token>`), not
//! a document root: when it ends in `/.well-known/acme-challenge` the root above it is the
//! webroot; otherwise (Debian's `/var/lib/dehydrated/acme-challenges`) the web server must map
//! `/.well-known/acme-challenge/` to it with an alias, and the name is checked without a
//! token of its own.

use super::{Fs, before_expiry, expiry_of, names, plan};
use crate::facts::{AcmeClient, Challenge, NextTry};
use std::path::{Path, PathBuf};

/// Where dehydrated looks for its configuration, in its own order (`load_config`).
const CONFIGS: &[&str] = &["/etc/dehydrated/config", "/usr/local/etc/dehydrated/config"];

const DEFAULT_RENEW_DAYS: i64 = 30;

/// The variables that decide a certificate's renewal, with the file and line that set each.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    values: Vec<(String, String, PathBuf, u32)>,
}

impl Vars {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(k, ..)| k == key)
            .map(|(_, v, ..)| v.as_str())
    }

    fn place(&self, key: &str) -> Option<(&Path, u32)> {
        self.values
            .iter()
            .rev()
            .find(|(k, ..)| k == key)
            .map(|(_, _, f, l)| (f.as_path(), *l))
    }

    /// `$VAR` and `${VAR}` of variables set before, as the shell expands them.
    fn expand(&self, value: &str) -> String {
        let mut out = value.to_string();
        for (k, ..) in self.values.iter().rev() {
            if let Some(v) = self.get(k) {
                out = out
                    .replace(&format!("${{{k}}}"), v)
                    .replace(&format!("${k}/"), &format!("{v}/"));
                if out.ends_with(&format!("${k}")) {
                    let cut = out.len() - k.len() - 1;
                    out = format!("{}{v}", &out[..cut]);
                }
            }
        }
        out
    }

    /// Reads `NAME=value` lines (quotes removed, `export` allowed, comments skipped).
    pub fn read(&mut self, file: &Path, text: &str) {
        for (i, raw) in text.lines().enumerate() {
            let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let t = raw.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let t = t.strip_prefix("export ").unwrap_or(t);
            let Some((k, v)) = t.split_once('=') else {
                continue;
            };
            if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let v = v.split(" #").next().unwrap_or(v).trim();
            let v = v.trim_matches(|c| c == '"' || c == '\'');
            let v = self.expand(v);
            self.values
                .push((k.to_string(), v, file.to_path_buf(), line));
        }
    }
}

pub fn discover(fs: &mut Fs) {
    for config in CONFIGS {
        let path = fs.host_path(config);
        if let Some(text) = fs.read_text(&path) {
            parse_file(fs, &path, &text);
            // dehydrated reads the first configuration it finds.
            return;
        }
    }
}

/// The `-f`/`--config` file of each line that runs dehydrated in a unit or crontab (`None`:
/// its default configuration).
fn commands_in(text: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = t.split_whitespace().collect();
        let Some(at) = words
            .iter()
            .position(|w| w.rsplit('/').next() == Some("dehydrated"))
        else {
            continue;
        };
        let mut config = None;
        let mut rest = words[at + 1..].iter();
        while let Some(w) = rest.next() {
            if let Some(v) = w.strip_prefix("--config=") {
                config = Some(v.to_string());
            } else if *w == "-f" || *w == "--config" {
                config = rest.next().map(|v| v.to_string());
            }
        }
        out.push(config.map(|c| c.trim_matches(|q| q == '"' || q == '\'').to_string()));
    }
    out
}

pub fn has_command(text: &str) -> bool {
    !commands_in(text).is_empty()
}

/// A `--client-config` unit or crontab that runs dehydrated: the configuration it names
/// with `-f`, else dehydrated's default one.
pub fn parse_commands_file(fs: &mut Fs, path: &Path, text: &str) {
    let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let mut seen = Vec::new();
    for config in commands_in(text) {
        let file = match config {
            Some(c) => fs.named_path(&c, &dir),
            None => match CONFIGS
                .iter()
                .map(|c| fs.host_path(c))
                .find(|p| fs.exists(p))
            {
                Some(p) => p,
                None => continue,
            },
        };
        if seen.contains(&file) {
            continue;
        }
        seen.push(file.clone());
        if let Some(t) = fs.read_text(&file) {
            parse_file(fs, &file, &t);
        }
    }
}

/// A dehydrated configuration: its `CONFIG_D` files, its `DOMAINS_TXT`, and each
/// certificate.
pub fn parse_file(fs: &mut Fs, path: &Path, text: &str) {
    let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let mut vars = Vars::default();
    vars.read(path, text);
    if let Some(config_d) = vars.get("CONFIG_D").map(str::to_string) {
        let config_d = fs.named_path(&config_d, &dir);
        for file in fs.list(&config_d) {
            if file.extension().is_some_and(|e| e == "sh")
                && let Some(t) = fs.read_text(&file)
            {
                vars.read(&file, &t);
            }
        }
    }
    let basedir = vars
        .get("BASEDIR")
        .unwrap_or("/var/lib/dehydrated")
        .to_string();
    let domains_txt = vars
        .get("DOMAINS_TXT")
        .map_or_else(|| format!("{basedir}/domains.txt"), str::to_string);
    let certdir = vars
        .get("CERTDIR")
        .map_or_else(|| format!("{basedir}/certs"), str::to_string);
    let domains_path = fs.named_path(&domains_txt, &dir);
    let Some(list) = fs.read_text(&domains_path) else {
        if !fs.exists(&domains_path) {
            fs.warn(
                path,
                None,
                format!(
                    "DOMAINS_TXT {} does not exist: dehydrated renews no certificate from it",
                    super::show(&domains_path)
                ),
            );
        }
        return;
    };
    let certdir = fs.named_path(&certdir, &dir);
    for (i, raw) in list.lines().enumerate() {
        let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let t = raw.split('#').next().unwrap_or_default().trim();
        if t.is_empty() {
            continue;
        }
        let (list_part, alias) = match t.split_once('>') {
            Some((l, a)) => (l, Some(a.trim().to_string())),
            None => (t, None),
        };
        let listed: Vec<String> = list_part.split_whitespace().map(str::to_string).collect();
        let Some(first) = listed.first().cloned() else {
            fs.warn(&domains_path, Some(line), "an alias without names");
            continue;
        };
        let name = alias.filter(|a| !a.is_empty()).unwrap_or(first);
        certificate(fs, &vars, &certdir, &name, listed, &domains_path, line);
    }
}

fn certificate(
    fs: &mut Fs,
    base: &Vars,
    certdir: &Path,
    name: &str,
    listed: Vec<String>,
    domains_path: &Path,
    line: u32,
) {
    let own = certdir.join(name);
    let mut vars = base.clone();
    // A per-certificate `config` overrides a few variables for this certificate only.
    let own_config = own.join("config");
    if let Some(text) = fs.read_text(&own_config) {
        vars.read(&own_config, &text);
    }
    let challenge_type = vars.get("CHALLENGETYPE").unwrap_or("http-01").to_string();
    let (challenge, key) = match challenge_type.as_str() {
        "http-01" => {
            let wellknown = vars.get("WELLKNOWN").unwrap_or("/var/www/dehydrated");
            let wellknown = wellknown.trim_end_matches('/');
            match wellknown.strip_suffix("/.well-known/acme-challenge") {
                Some(root) => (
                    Challenge::Webroot {
                        path: if root.is_empty() { "/" } else { root }.to_string(),
                    },
                    "WELLKNOWN",
                ),
                None => (
                    Challenge::WebServer {
                        server: format!(
                            "a web server mapping /.well-known/acme-challenge/ to dehydrated's WELLKNOWN {wellknown}"
                        ),
                    },
                    "WELLKNOWN",
                ),
            }
        }
        "dns-01" => (
            Challenge::Dns {
                provider: vars.get("HOOK").map(|h| format!("HOOK {h}")),
            },
            "CHALLENGETYPE",
        ),
        "tls-alpn-01" => (
            Challenge::TlsAlpn {
                port: Challenge::TLS_ALPN_PORT,
                http_fallback: false,
            },
            "CHALLENGETYPE",
        ),
        other => (
            Challenge::Other {
                what: format!("CHALLENGETYPE {other}"),
            },
            "CHALLENGETYPE",
        ),
    };
    // The file and line of the key that decides, else the domains.txt line.
    let (config, key_line) = match vars.place(key) {
        Some((f, l)) => (f.to_path_buf(), Some(l)),
        None => (domains_path.to_path_buf(), Some(line)),
    };
    let cert_path = own.join("cert.pem");
    let (expiry, not_before, cert_names) = expiry_of(fs, Some(&cert_path));
    let all = if cert_names.is_empty() {
        listed
    } else {
        cert_names
    };
    let mut cert = plan(
        AcmeClient::Dehydrated,
        name.to_string(),
        &config,
        key,
        key_line,
        names(all),
        challenge,
        Some(&cert_path),
    );
    let days = vars
        .get("RENEW_DAYS")
        .and_then(|d| d.parse::<i64>().ok())
        .unwrap_or(DEFAULT_RENEW_DAYS);
    cert.next_try = match &expiry {
        crate::facts::Probed::Known(_) => before_expiry(
            &expiry,
            days.saturating_mul(86_400),
            format!(
                "dehydrated -c renews {days} days before expiry (RENEW_DAYS), when its cron job or timer runs"
            ),
        ),
        crate::facts::Probed::Unknown(_) => NextTry::Unknown {
            why: "the certificate's expiry is unknown".into(),
        },
    };
    cert.expiry = expiry;
    cert.not_before = not_before;
    cert.server = vars.get("CA").map(str::to_string);
    fs.facts.certificates.push(cert);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::clients::testdir::{TempTree, WEB_PEM};
    use crate::probe::clients::{Discover, discover};

    fn run(t: &TempTree) -> crate::facts::ClientsFacts {
        discover(&Discover {
            root: t.path().to_path_buf(),
            extra: Vec::new(),
            defaults: true,
        })
    }

    /// Debian's packaged config (`/etc/dehydrated/config` of dehydrated 0.7.0-3, as shipped),
    /// a conf.d override and a domains.txt with an alias.
    #[test]
    fn debians_config_with_conf_d_and_an_alias() {
        let t = TempTree::new("dehydrated");
        t.write(
            "/etc/dehydrated/config",
            "#############################################################\n# This is the main config file for dehydrated               #\n#############################################################\n\nCONFIG_D=/etc/dehydrated/conf.d\nBASEDIR=/var/lib/dehydrated\nWELLKNOWN=\"${BASEDIR}/acme-challenges\"\nDOMAINS_TXT=\"/etc/dehydrated/domains.txt\"\n",
        );
        t.write(
            "/etc/dehydrated/conf.d/10-web.sh",
            "WELLKNOWN=/var/www/html/.well-known/acme-challenge\nRENEW_DAYS=\"20\"\n",
        );
        t.write("/etc/dehydrated/conf.d/ignored.conf", "WELLKNOWN=/nope\n");
        t.write(
            "/etc/dehydrated/domains.txt",
            "# certificates\nweb.example.test www.example.test\nother.example.test > other-alias\n",
        );
        t.write(
            "/var/lib/dehydrated/certs/web.example.test/cert.pem",
            WEB_PEM,
        );
        t.write(
            "/var/lib/dehydrated/certs/other-alias/config",
            "CHALLENGETYPE=\"dns-01\"\nHOOK=/etc/dehydrated/hook.sh\n",
        );
        let facts = run(&t);
        let certs: Vec<_> = facts
            .certificates
            .iter()
            .filter(|c| c.client == AcmeClient::Dehydrated)
            .collect();
        assert_eq!(certs.len(), 2, "{:?}", facts);
        let web = certs[0];
        assert_eq!(web.name, "web.example.test");
        assert_eq!(
            web.challenge,
            Challenge::Webroot {
                path: "/var/www/html".into()
            }
        );
        assert!(web.config.ends_with("conf.d/10-web.sh"), "{}", web.config);
        assert_eq!((web.key.as_str(), web.line), ("WELLKNOWN", Some(1)));
        assert!(matches!(&web.next_try, NextTry::At { rule, .. } if rule.contains("20 days")));
        let other = certs[1];
        assert_eq!(other.name, "other-alias");
        assert_eq!(other.names, ["other.example.test"]);
        assert_eq!(
            other.challenge,
            Challenge::Dns {
                provider: Some("HOOK /etc/dehydrated/hook.sh".into())
            }
        );
    }

    /// Debian's default WELLKNOWN is not under a document root: the web server aliases it.
    #[test]
    fn a_cron_line_names_the_configuration() {
        assert_eq!(
            commands_in(
                "17 3 * * * root /usr/bin/dehydrated -c -f /srv/dh/config >> /var/log/dh.log 2>&1\n# dehydrated -c\n"
            ),
            [Some("/srv/dh/config".to_string())]
        );
        assert_eq!(commands_in("ExecStart=/usr/bin/dehydrated --cron"), [None]);
        assert!(!has_command("ExecStart=/usr/bin/lego renew"));
    }

    #[test]
    fn debians_default_wellknown_is_an_alias() {
        let t = TempTree::new("dehydrated-alias");
        t.write(
            "/etc/dehydrated/config",
            "BASEDIR=/var/lib/dehydrated\nWELLKNOWN=\"${BASEDIR}/acme-challenges\"\nDOMAINS_TXT=\"/etc/dehydrated/domains.txt\"\n",
        );
        t.write("/etc/dehydrated/domains.txt", "a.example.test\n");
        let facts = run(&t);
        let c = &facts.certificates[0];
        assert!(
            matches!(&c.challenge, Challenge::WebServer { server } if server.contains("/var/lib/dehydrated/acme-challenges")),
            "{:?}",
            c.challenge
        );
        assert_eq!(c.challenge.method(), Some(crate::facts::Method::Http01));
    }
}
