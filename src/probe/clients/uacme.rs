//! uacme: certificates under its configuration directory (`-c`, default `/etc/ssl/uacme`):
//! `<dir>/<name>/cert.pem`, keys under `<dir>/private/`. uacme keeps no record of how it
//! validates: its hook (`-h`) does, so the systemd units and cron entries that run `uacme …
//! issue NAME…` are read for `-c`, `-h`, `-d DAYS` (default 30) and `UACME_CHALLENGE_PATH`, and
//! the hook for its challenge: the packaged `uacme.sh` answers http-01 by writing
//! `${UACME_CHALLENGE_PATH:-/var/www/.well-known/acme-challenge}/<token>`, `ualpn.sh`
//! answers tls-alpn-01 through ualpn, `nsupdate.sh` dns-01. Without a hook uacme asks a
//! person (manual). Modelled on Debian's uacme 1.7.4-1 (`/usr/share/uacme/uacme.sh`,
//! `ualpn.sh`, `nsupdate.sh`, `uacme.html`).

use super::{Fs, before_expiry, expiry_of, names, plan};
use crate::facts::{AcmeClient, Challenge, NextTry, Probed};
use std::path::{Path, PathBuf};

const DEFAULT_CONFDIR: &str = "/etc/ssl/uacme";
const DEFAULT_DAYS: i64 = 30;
/// The packaged hook's default challenge directory.
const HOOK_DEFAULT_PATH: &str = "/var/www/.well-known/acme-challenge";

/// One uacme command line found in a unit or crontab.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Command {
    pub file: PathBuf,
    pub line: u32,
    pub confdir: Option<String>,
    pub hook: Option<String>,
    pub days: Option<i64>,
    pub names: Vec<String>,
    /// `UACME_CHALLENGE_PATH`, from the unit's `Environment=` or the cron line.
    pub challenge_path: Option<String>,
}

pub fn discover(fs: &mut Fs) {
    let mut commands = Vec::new();
    for dir in [
        "/etc/systemd/system",
        "/lib/systemd/system",
        "/usr/lib/systemd/system",
        "/etc/cron.d",
        "/etc/cron.daily",
        "/etc/cron.weekly",
        "/var/spool/cron/crontabs",
    ] {
        let dir = fs.host_path(dir);
        let systemd = dir.to_string_lossy().contains("systemd");
        for file in fs.list(&dir) {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if systemd && !(name.contains("uacme") && name.ends_with(".service")) {
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
    let mut dirs = vec![fs.host_path(DEFAULT_CONFDIR)];
    for c in &commands {
        if let Some(d) = &c.confdir {
            let d = fs.named_path(d, c.file.parent().unwrap_or(Path::new("/")));
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
    }
    for dir in dirs {
        from_confdir(fs, &dir, &commands);
    }
}

/// A `--client-config` unit or crontab that runs uacme: its certificates.
pub fn parse_commands_file(fs: &mut Fs, path: &Path, text: &str) {
    let commands = commands_in(path, text);
    let mut dirs: Vec<PathBuf> = Vec::new();
    for c in &commands {
        let d = fs.named_path(
            c.confdir.as_deref().unwrap_or(DEFAULT_CONFDIR),
            path.parent().unwrap_or(Path::new("/")),
        );
        if !dirs.contains(&d) {
            dirs.push(d);
        }
    }
    for d in dirs {
        from_confdir(fs, &d, &commands);
    }
}

pub fn has_command(text: &str) -> bool {
    text.lines().any(|l| uacme_args(l).is_some())
}

/// The words after `uacme` on a line that runs it.
fn uacme_args(line: &str) -> Option<Vec<String>> {
    let t = line.trim();
    if t.starts_with('#') {
        return None;
    }
    let words: Vec<&str> = t.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| w.rsplit('/').next() == Some("uacme"))?;
    Some(
        words[at + 1..]
            .iter()
            .map(|w| w.trim_matches(|c| c == '"' || c == '\'').to_string())
            .collect(),
    )
}

pub fn commands_in(file: &Path, text: &str) -> Vec<Command> {
    let mut env_path = None;
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let t = raw.trim();
        // A unit's `Environment=UACME_CHALLENGE_PATH=…` applies to its ExecStart.
        if let Some(env) = t.strip_prefix("Environment=") {
            for assignment in env.split_whitespace() {
                let assignment = assignment.trim_matches('"');
                if let Some(v) = assignment.strip_prefix("UACME_CHALLENGE_PATH=") {
                    env_path = Some(v.to_string());
                }
            }
            continue;
        }
        let Some(args) = uacme_args(t) else {
            continue;
        };
        let mut c = Command {
            file: file.to_path_buf(),
            line,
            ..Command::default()
        };
        // A cron line's own `UACME_CHALLENGE_PATH=… uacme …`.
        c.challenge_path = t
            .split_whitespace()
            .find_map(|w| w.strip_prefix("UACME_CHALLENGE_PATH="))
            .map(str::to_string)
            .or_else(|| env_path.clone());
        let mut it = args.iter().peekable();
        let mut issuing = false;
        while let Some(a) = it.next() {
            let (flag, inline) = match a.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
                _ => (a.as_str(), None),
            };
            let mut value = || inline.clone().or_else(|| it.next().cloned());
            match flag {
                "-c" | "--confdir" => c.confdir = value(),
                "-h" | "--hook" => c.hook = value(),
                "-d" | "--days" => c.days = value().and_then(|d| d.parse().ok()),
                "-a" | "--acme-url" | "-b" | "--bits" | "-t" | "--type" | "-e" | "--eab" | "-r"
                | "--reason" | "-l" | "--alternate" => {
                    value();
                }
                "issue" => issuing = true,
                w if issuing && !w.starts_with('-') && !w.contains(['&', ';', '|', '>']) => {
                    c.names.push(w.to_string());
                }
                _ if issuing => break,
                _ => {}
            }
        }
        if issuing {
            out.push(c);
        }
    }
    out
}

/// The challenge a hook answers, and the key that says so.
fn challenge_of(fs: &mut Fs, c: Option<&Command>) -> (Challenge, &'static str) {
    let Some(c) = c else {
        return (Challenge::Manual, "uacme");
    };
    let Some(hook) = &c.hook else {
        // Without -h uacme shows the challenge and waits for a person.
        return (Challenge::Manual, "-h");
    };
    let path = fs.named_path(hook, c.file.parent().unwrap_or(Path::new("/")));
    let text = fs.read_text(&path).unwrap_or_default();
    let base = hook.rsplit('/').next().unwrap_or(hook);
    if base.contains("ualpn") || text.contains("ualpn") {
        return (
            Challenge::TlsAlpn {
                port: Challenge::TLS_ALPN_PORT,
                http_fallback: false,
            },
            "-h",
        );
    }
    if base.contains("nsupdate") || text.contains("nsupdate") {
        return (
            Challenge::Dns {
                provider: Some(format!("hook {hook}")),
            },
            "-h",
        );
    }
    let default = hook_default_path(&text).or_else(|| {
        // The packaged hook, even when its file is not under the test root.
        (base == "uacme.sh").then(|| HOOK_DEFAULT_PATH.to_string())
    });
    let (dir, key) = match (&c.challenge_path, default) {
        (Some(p), _) => (p.clone(), "UACME_CHALLENGE_PATH"),
        (None, Some(d)) => (d, "-h"),
        (None, None) => {
            return (
                Challenge::Other {
                    what: format!("hook {hook}"),
                },
                "-h",
            );
        }
    };
    let dir = dir.trim_end_matches('/');
    match dir.strip_suffix("/.well-known/acme-challenge") {
        Some(root) => (
            Challenge::Webroot {
                path: if root.is_empty() { "/" } else { root }.to_string(),
            },
            key,
        ),
        None => (
            Challenge::WebServer {
                server: format!(
                    "a web server mapping /.well-known/acme-challenge/ to uacme's challenge directory {dir}"
                ),
            },
            key,
        ),
    }
}

/// `CHALLENGE_PATH="${UACME_CHALLENGE_PATH:-/var/www/.well-known/acme-challenge}"`.
fn hook_default_path(text: &str) -> Option<String> {
    let at = text.find("${UACME_CHALLENGE_PATH:-")?;
    let rest = &text[at + "${UACME_CHALLENGE_PATH:-".len()..];
    let end = rest.find('}')?;
    Some(rest[..end].to_string())
}

fn from_confdir(fs: &mut Fs, confdir: &Path, commands: &[Command]) {
    for dir in fs.list(confdir) {
        let Some(name) = dir.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        let cert_path = dir.join("cert.pem");
        if name == "private" || !fs.exists(&cert_path) {
            continue;
        }
        // The command that issues this name, else one that uses this directory.
        let command = commands
            .iter()
            .find(|c| {
                c.names
                    .first()
                    .is_some_and(|n| n.eq_ignore_ascii_case(&name))
            })
            .or_else(|| {
                commands.iter().find(|c| {
                    let d = fs.named_path(
                        c.confdir.as_deref().unwrap_or(DEFAULT_CONFDIR),
                        c.file.parent().unwrap_or(Path::new("/")),
                    );
                    d == confdir
                })
            })
            .cloned();
        let (challenge, key) = challenge_of(fs, command.as_ref());
        let (expiry, not_before, cert_names) = expiry_of(fs, Some(&cert_path));
        let listed = match (&command, cert_names.is_empty()) {
            (_, false) => cert_names,
            (Some(c), true) if !c.names.is_empty() => c.names.clone(),
            _ => vec![name.clone()],
        };
        let (config, line) = match &command {
            Some(c) => (c.file.clone(), Some(c.line)),
            None => (cert_path.clone(), None),
        };
        let mut cert = plan(
            AcmeClient::Uacme,
            name,
            &config,
            key,
            line,
            names(listed),
            challenge,
            Some(&cert_path),
        );
        let days = command
            .as_ref()
            .and_then(|c| c.days)
            .unwrap_or(DEFAULT_DAYS);
        cert.next_try = match &expiry {
            Probed::Known(_) => before_expiry(
                &expiry,
                days.saturating_mul(86_400),
                format!(
                    "uacme issue renews {days} days before expiry (-d), when its cron job or timer runs"
                ),
            ),
            Probed::Unknown(_) => NextTry::Unknown {
                why: "the certificate's expiry is unknown".into(),
            },
        };
        cert.expiry = expiry;
        cert.not_before = not_before;
        fs.facts.certificates.push(cert);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::clients::testdir::{TempTree, WEB_PEM};
    use crate::probe::clients::{Discover, discover};

    #[test]
    fn a_unit_running_uacme_with_the_packaged_hook_gives_the_webroot() {
        let t = TempTree::new("uacme");
        t.write(
            "/etc/systemd/system/uacme-renew.service",
            "[Service]\nType=oneshot\nEnvironment=UACME_CHALLENGE_PATH=/srv/www/.well-known/acme-challenge\nExecStart=/usr/bin/uacme -v -d 20 -h /usr/share/uacme/uacme.sh issue web.example.test www.example.test\n",
        );
        t.write("/etc/ssl/uacme/web.example.test/cert.pem", WEB_PEM);
        t.write("/etc/ssl/uacme/private/web.example.test/key.pem", "x");
        let facts = discover(&Discover {
            root: t.path().to_path_buf(),
            extra: Vec::new(),
            defaults: true,
        });
        let c = facts
            .certificates
            .iter()
            .find(|c| c.client == AcmeClient::Uacme)
            .unwrap_or_else(|| panic!("{facts:?}"));
        assert_eq!(
            c.challenge,
            Challenge::Webroot {
                path: "/srv/www".into()
            }
        );
        assert_eq!((c.key.as_str(), c.line), ("UACME_CHALLENGE_PATH", Some(4)));
        assert!(c.names.iter().any(|n| n == "web.example.test"));
        assert!(matches!(&c.next_try, NextTry::At { rule, .. } if rule.contains("20 days")));
    }

    #[test]
    fn command_lines_are_read() {
        let cs = commands_in(
            Path::new("/etc/cron.d/uacme"),
            "# m h dom mon dow user command\n17 3 * * * root UACME_CHALLENGE_PATH=/var/www/html/.well-known/acme-challenge /usr/bin/uacme --confdir=/etc/uacme -h /usr/share/uacme/uacme.sh issue a.example.test b.example.test >/dev/null\n",
        );
        assert_eq!(cs.len(), 1);
        assert_eq!(cs[0].confdir.as_deref(), Some("/etc/uacme"));
        assert_eq!(cs[0].names, ["a.example.test", "b.example.test"]);
        assert_eq!(
            cs[0].challenge_path.as_deref(),
            Some("/var/www/html/.well-known/acme-challenge")
        );
        assert_eq!(
            hook_default_path(
                "CHALLENGE_PATH=\"${UACME_CHALLENGE_PATH:-/var/www/.well-known/acme-challenge}\"\n"
            )
            .as_deref(),
            Some(HOOK_DEFAULT_PATH)
        );
    }
}
