//! `--all`: the last failure each ACME client wrote down for each certificate, read-only from
//! where the client logs it:
//! - certbot: `letsencrypt.log` and its rotations (`letsencrypt.log.1` …) in its logs
//!   directory (`logs_dir` of the renewal file, `logs-dir` of `cli.ini`, else
//!   `/var/log/letsencrypt`): the `Domain:`/`Type:`/`Detail:` block certbot writes for each
//!   failed challenge, and the error that ended a run for its names;
//! - acme.sh: its `LOG_FILE` (set in `account.conf` when logging is on): `name:Verify error:…`;
//! - lego, dehydrated and uacme: the units and cron lines that run them, each read where its
//!   output goes: the file a unit's `StandardOutput=append:`/`file:` or a cron line's `>>`
//!   names, else the unit's journal (`journalctl -o json -u UNIT --no-pager -n N`, where
//!   journalctl and a journal exist: a host without a journal is a fact, not an error);
//! - Caddy and Traefik: the log files their configuration names (Caddy's `log { output file
//!   … }`, Traefik's `log.filePath`) and their units' journals: JSON lines (`could not get
//!   certificate from issuer`, `challenge failed`; `Unable to obtain ACME certificate for
//!   domains`) or Traefik's logfmt.
//!
//! Only the failure's text, its time and the names it is about are taken; what the CA's words
//! mean is read at diagnosis time (`diagnose::ca`). Every file is read as untrusted input
//! ([`userfile::open_regular`]: a symlink, FIFO or device is skipped), only its last
//! [`LOG_TAIL`] bytes, at most [`ROTATIONS`] rotations; the words kept are capped at
//! [`MAX_CA_TEXT`] and stripped of control characters.
//!
//! The log formats were taken from real clients run against Pebble (certbot 2.1.0, dehydrated
//! 0.7.0, uacme 1.7.4, lego from Debian's packages) and from public reports, cited beside each
//! parser's tests.

use super::Fs;
use crate::facts::{
    AcmeClient, CaEvidence, CaSaid, CaSource, ClientsFacts, LoggedFailure, MAX_CA_TEXT,
    ManagedCert, Moment,
};
use crate::probe::userfile::{self, Links, Skipped};
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Bytes read from the end of one log file: the last runs are at its end.
pub const LOG_TAIL: u64 = 4 * 1024 * 1024;
/// Rotated certbot logs read after `letsencrypt.log` (certbot rotates at every run).
pub const ROTATIONS: u32 = 9;
/// Journal entries read per unit.
pub const JOURNAL_ENTRIES: u32 = 5000;
/// Line numbers are counted in a file up to this size; beyond it they are not given.
const COUNT_LINES_UP_TO: u64 = 64 * 1024 * 1024;
/// Log sources read per run at most, however many units and certificates there are.
const SOURCES_CAP: usize = 256;

/// One line of a log: its time when the line (or the journal entry) has one, its line
/// number in a file, and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub at: Option<i64>,
    pub line: Option<u32>,
    pub text: String,
}

/// A failure found in a log: the names it is about, when, where, and the CA's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub names: Vec<String>,
    pub at: Option<i64>,
    pub line: Option<u32>,
    pub words: String,
}

/// What a journal gave for one unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalRead {
    Lines(Vec<LogLine>),
    /// No journal to read (journalctl missing, no journal files): a fact, said once.
    Absent(String),
    /// journalctl ran and failed.
    Failed(String),
}

/// The journal, behind a trait so tests script it.
pub trait Journal {
    fn unit(&self, unit: &str) -> JournalRead;
}

/// The host's journal through `journalctl` (with `--root` when the clients' root is not `/`).
pub struct SystemJournal {
    pub root: PathBuf,
}

impl Journal for SystemJournal {
    fn unit(&self, unit: &str) -> JournalRead {
        let has_files = |dir: &str| {
            let rel = dir.trim_start_matches('/');
            std::fs::read_dir(self.root.join(rel)).is_ok_and(|mut d| d.next().is_some())
        };
        if !has_files("/var/log/journal") && !has_files("/run/log/journal") {
            return JournalRead::Absent(
                "no systemd journal on this host (/var/log/journal and /run/log/journal are empty or absent)".into(),
            );
        }
        let mut command = std::process::Command::new("journalctl");
        command.args(["-o", "json", "-u", unit, "--no-pager", "-q", "-n"]);
        command.arg(JOURNAL_ENTRIES.to_string());
        if self.root != Path::new("/") {
            command.arg("--root").arg(&self.root);
        }
        match bounded_output(command, Duration::from_secs(10), 32 * 1024 * 1024) {
            Ok(out) => JournalRead::Lines(journal_lines(&out)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                JournalRead::Absent("journalctl is not installed".into())
            }
            Err(e) => JournalRead::Failed(format!("journalctl -u {unit}: {e}")),
        }
    }
}

/// A command's standard output, at most `cap` bytes, killed (by its own pid) after
/// `timeout`.
fn bounded_output(
    mut command: std::process::Command,
    timeout: Duration,
    cap: u64,
) -> std::io::Result<Vec<u8>> {
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(s) = stdout {
            let _ = s.take(cap).read_to_end(&mut out);
        }
        out
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait()? {
            Some(status) => break Some(status),
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let out = reader.join().unwrap_or_default();
    match status {
        Some(s) if s.success() => Ok(out),
        Some(s) => Err(std::io::Error::other(format!("exited with {s}"))),
        None => Err(std::io::Error::other(format!(
            "did not finish within {} s",
            timeout.as_secs()
        ))),
    }
}

/// `journalctl -o json` output: one JSON object per line, `MESSAGE` a string or (binary) an
/// array of bytes, `__REALTIME_TIMESTAMP` microseconds as a string.
pub fn journal_lines(out: &[u8]) -> Vec<LogLine> {
    let mut lines = Vec::new();
    for raw in out.split(|b| *b == b'\n') {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(raw) else {
            continue;
        };
        let message = match value.get("MESSAGE") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Array(bytes)) => {
                let bytes: Vec<u8> = bytes
                    .iter()
                    .filter_map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                    .collect();
                String::from_utf8_lossy(&bytes).into_owned()
            }
            _ => continue,
        };
        let at = value
            .get("__REALTIME_TIMESTAMP")
            .and_then(|t| t.as_str())
            .and_then(|t| t.parse::<i64>().ok())
            .map(|us| us / 1_000_000);
        // One entry may hold several lines (a program that writes a block at once).
        for text in message.lines() {
            lines.push(LogLine {
                at,
                line: None,
                text: text.to_string(),
            });
        }
    }
    lines
}

/// The log formats, one per client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Certbot,
    AcmeSh,
    Lego,
    Dehydrated,
    Uacme,
    Caddy,
    Traefik,
}

impl Format {
    fn of(client: AcmeClient) -> Format {
        match client {
            AcmeClient::Certbot => Format::Certbot,
            AcmeClient::AcmeSh => Format::AcmeSh,
            AcmeClient::Lego => Format::Lego,
            AcmeClient::Dehydrated => Format::Dehydrated,
            AcmeClient::Uacme => Format::Uacme,
            AcmeClient::Caddy => Format::Caddy,
            AcmeClient::Traefik => Format::Traefik,
        }
    }

    /// The time at the start of a file's line, in this format.
    fn line_time(self, text: &str) -> Option<i64> {
        match self {
            Format::Certbot => certbot_time(text),
            Format::Lego => lego_time(text),
            Format::AcmeSh => acmesh_time(text),
            Format::Caddy | Format::Traefik => json_time(text).or_else(|| logfmt_time(text)),
            // Their output has no times: only the journal dates it.
            Format::Dehydrated | Format::Uacme => None,
        }
    }

    pub fn failures(self, lines: &[LogLine]) -> Vec<Failure> {
        match self {
            Format::Certbot => certbot(lines),
            Format::AcmeSh => acmesh(lines),
            Format::Lego => lego(lines),
            Format::Dehydrated => dehydrated(lines),
            Format::Uacme => uacme(lines),
            Format::Caddy => caddy(lines),
            Format::Traefik => traefik(lines),
        }
    }
}

/// Where a client's failures are written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Source {
    File(PathBuf),
    Journal(String),
}

impl Source {
    fn shown(&self) -> String {
        match self {
            Source::File(p) => super::show(p),
            Source::Journal(unit) => format!("journal:{}", crate::sanitize::line(unit, 200)),
        }
    }
}

/// Reads every client's logs and sets each certificate's [`ManagedCert::last_failure`]: the
/// latest failure that names one of its names (or its certbot lineage). Problems reading a
/// log become warnings or unreadable paths in `facts`, as a configuration's do.
///
/// `extra` are the `--client-config` paths: a unit or crontab among them that runs a client
/// says where that client's output goes, as one in the default paths does.
pub fn attach(facts: &mut ClientsFacts, root: &Path, extra: &[PathBuf], journal: &dyn Journal) {
    let mut fs = Fs::new(root);
    let mut parsed: HashMap<(Source, Format), Vec<Failure>> = HashMap::new();
    let mut units = client_units(&mut fs);
    for path in extra.iter().filter(|p| p.is_file()) {
        for client in [AcmeClient::Lego, AcmeClient::Dehydrated, AcmeClient::Uacme] {
            units.push((client, path.clone()));
        }
    }
    for i in 0..facts.certificates.len() {
        let cert = &facts.certificates[i];
        let format = Format::of(cert.client);
        let sources = sources_for(&mut fs, cert, &units);
        let mut best: Option<(Source, Failure)> = None;
        for source in sources {
            let key = (source.clone(), format);
            if !parsed.contains_key(&key) {
                if parsed.len() >= SOURCES_CAP {
                    facts.truncated = true;
                    break;
                }
                let lines = match &source {
                    Source::File(path) => read_tail(&mut fs, path, format),
                    Source::Journal(unit) => match journal.unit(unit) {
                        JournalRead::Lines(lines) => lines,
                        // No journal here: a fact about the host, not a problem to report.
                        JournalRead::Absent(_) => Vec::new(),
                        JournalRead::Failed(why) => {
                            fs.warn(Path::new(&source.shown()), None, why);
                            Vec::new()
                        }
                    },
                };
                parsed.insert(key.clone(), format.failures(&lines));
            }
            let cert = &facts.certificates[i];
            // The latest in the log's own order.
            let found = parsed
                .get(&key)
                .and_then(|v| v.iter().rev().find(|f| about(cert, f)));
            if let Some(f) = found {
                let later = match &best {
                    None => true,
                    // Sources come newest first (certbot's rotations): a tie keeps the first.
                    Some((_, b)) => f.at.unwrap_or(i64::MIN) > b.at.unwrap_or(i64::MIN),
                };
                if later {
                    best = Some((source.clone(), f.clone()));
                }
            }
        }
        facts.certificates[i].last_failure = best.map(|(source, f)| LoggedFailure {
            at: f.at.map(Moment::from_unix),
            file: source.shown(),
            line: f.line,
            words: crate::sanitize::block(&f.words, MAX_CA_TEXT),
        });
    }
    // Files read again here (a unit, a renewal file) warn once, as discovery did.
    for w in fs.facts.warnings {
        if !facts.warnings.contains(&w) {
            facts.warnings.push(w);
        }
    }
    for u in fs.facts.unreadable {
        if !facts.unreadable.iter().any(|x| x.path == u.path) {
            facts.unreadable.push(u);
        }
    }
    facts.truncated |= fs.facts.truncated;
}

/// The CA's words a logged failure adds to a target of its certificate (`TargetFacts.ca`).
pub fn evidence(cert: &ManagedCert) -> Option<CaEvidence> {
    let f = cert.last_failure.as_ref()?;
    Some(CaEvidence {
        source: CaSource::ClientLog {
            client: cert.client,
            file: f.file.clone(),
            line: f.line,
        },
        at: f.at.clone(),
        said: CaSaid::Words(f.words.clone()),
    })
}

/// Whether a failure is about this certificate: one of its names, or its name at the client.
/// A failure that names nothing (uacme without `-v` prints no name) is about every
/// certificate whose runner writes that log.
fn about(cert: &ManagedCert, f: &Failure) -> bool {
    f.names.is_empty()
        || f.names.iter().any(|n| {
            let n = n.trim_end_matches('.');
            n.eq_ignore_ascii_case(&cert.name)
                || cert.names.iter().any(|c| c.eq_ignore_ascii_case(n))
        })
}

/// The systemd units of each client that runs now and then or always (their file, by name).
fn client_units(fs: &mut Fs) -> Vec<(AcmeClient, PathBuf)> {
    let mut units = Vec::new();
    for dir in [
        "/etc/systemd/system",
        "/lib/systemd/system",
        "/usr/lib/systemd/system",
    ] {
        let dir = fs.host_path(dir);
        for file in fs.list(&dir) {
            let Some(name) = file.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                continue;
            };
            if !name.ends_with(".service") {
                continue;
            }
            for client in [
                AcmeClient::Lego,
                AcmeClient::Dehydrated,
                AcmeClient::Uacme,
                AcmeClient::Caddy,
                AcmeClient::Traefik,
            ] {
                if name.contains(client.as_str())
                    && !units
                        .iter()
                        .any(|(_, p): &(AcmeClient, PathBuf)| p.file_name() == file.file_name())
                {
                    units.push((client, file.clone()));
                }
            }
        }
    }
    units
}

fn sources_for(fs: &mut Fs, cert: &ManagedCert, units: &[(AcmeClient, PathBuf)]) -> Vec<Source> {
    let config = PathBuf::from(&cert.config);
    let dir = config.parent().unwrap_or(Path::new("/")).to_path_buf();
    let mut out = Vec::new();
    match cert.client {
        AcmeClient::Certbot => {
            for logs in certbot_log_dirs(fs, &config) {
                out.push(Source::File(logs.join("letsencrypt.log")));
                for n in 1..=ROTATIONS {
                    out.push(Source::File(logs.join(format!("letsencrypt.log.{n}"))));
                }
            }
        }
        AcmeClient::AcmeSh => {
            // `~/.acme.sh/<domain>/<domain>.conf`: account.conf is in `~/.acme.sh`.
            let home = dir.parent().unwrap_or(Path::new("/"));
            let account = home.join("account.conf");
            if let Some(text) = fs.read_text(&account)
                && let Some(file) = shell_value(&text, "LOG_FILE")
            {
                out.push(Source::File(fs.named_path(&file, home)));
            }
        }
        AcmeClient::Lego | AcmeClient::Dehydrated | AcmeClient::Uacme => {
            // The unit or cron file that runs it when that is the certificate's config (a
            // `--client-config` unit), then every unit and cron line of this client.
            let mut files: Vec<PathBuf> = Vec::new();
            if is_unit_or_cron(&config) {
                files.push(config.clone());
            }
            files.extend(
                units
                    .iter()
                    .filter(|(c, _)| *c == cert.client)
                    .map(|(_, p)| p.clone()),
            );
            for cron_dir in ["/etc/cron.d", "/var/spool/cron/crontabs"] {
                let d = fs.host_path(cron_dir);
                files.extend(fs.list(&d));
            }
            files.push(fs.host_path("/etc/crontab"));
            files.dedup();
            for file in files {
                out.extend(runner_sources(fs, &file, cert.client));
            }
        }
        AcmeClient::Caddy | AcmeClient::Traefik => {
            if let Some(text) = fs.read_text(&config) {
                let named = if cert.client == AcmeClient::Caddy {
                    caddy_log_files(&text)
                } else {
                    traefik_log_files(&text)
                };
                for f in named {
                    out.push(Source::File(fs.named_path(&f, &dir)));
                }
            }
            for (_, unit) in units.iter().filter(|(c, _)| *c == cert.client) {
                out.extend(runner_sources(fs, unit, cert.client));
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|s| seen.insert(s.clone()));
    out
}

fn is_unit_or_cron(path: &Path) -> bool {
    let s = path.to_string_lossy();
    s.ends_with(".service") || s.contains("/cron") || s.ends_with("crontab")
}

/// Where the output of the client run by a unit or cron file goes: the file a unit's
/// `StandardOutput=append:`/`file:` or a cron line's `>>`/`>` names, else (a unit) its
/// journal.
fn runner_sources(fs: &mut Fs, file: &Path, client: AcmeClient) -> Vec<Source> {
    let Some(text) = fs.read_text(file) else {
        return Vec::new();
    };
    let dir = file.parent().unwrap_or(Path::new("/"));
    let word = client.as_str();
    let runs = |line: &str| {
        line.split_whitespace()
            .any(|w| w.rsplit('/').next() == Some(word))
    };
    let mut out = Vec::new();
    if file.to_string_lossy().ends_with(".service") {
        let runs_client = text
            .lines()
            .any(|l| l.trim().starts_with("ExecStart") && runs(l));
        if !runs_client && !client.is_web_server() {
            return out;
        }
        let mut to_file = None;
        for line in text.lines() {
            let t = line.trim();
            for key in ["StandardOutput=", "StandardError="] {
                if let Some(v) = t.strip_prefix(key) {
                    for prefix in ["append:", "file:", "truncate:"] {
                        if let Some(p) = v.strip_prefix(prefix) {
                            to_file = Some(p.trim().to_string());
                        }
                    }
                }
            }
        }
        match to_file {
            Some(p) => out.push(Source::File(fs.named_path(&p, dir))),
            None => {
                let unit = file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                out.push(Source::Journal(unit));
            }
        }
        return out;
    }
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || !runs(t) {
            continue;
        }
        if let Some(p) = redirect_target(t) {
            out.push(Source::File(fs.named_path(&p, dir)));
        }
    }
    out
}

/// The file a shell line appends or writes its standard output to (`>> FILE`, `>FILE`,
/// `&>> FILE`), ignoring `2>…` and `/dev/null`.
fn redirect_target(line: &str) -> Option<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut found = None;
    for (i, w) in words.iter().enumerate() {
        let w = w.trim_start_matches('&').trim_start_matches('1');
        let rest = if let Some(r) = w.strip_prefix(">>") {
            r
        } else if let Some(r) = w.strip_prefix('>') {
            if r.starts_with('&') {
                continue;
            }
            r
        } else {
            continue;
        };
        let target = if rest.is_empty() {
            words.get(i + 1).copied().unwrap_or_default()
        } else {
            rest
        };
        if !target.is_empty() && target != "/dev/null" && !target.starts_with('&') {
            found = Some(target.trim_matches(|c| c == '"' || c == '\'').to_string());
        }
    }
    found
}

/// certbot's logs directory: `logs_dir` of the renewal file, `logs-dir` of `cli.ini` in its
/// configuration directory, else `/var/log/letsencrypt`.
fn certbot_log_dirs(fs: &mut Fs, config: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    // `<config_dir>/renewal/<lineage>.conf`.
    let renewal = config.parent().unwrap_or(Path::new("/"));
    let config_dir = renewal.parent().unwrap_or(Path::new("/"));
    if let Some(text) = fs.read_text(config)
        && let Some(v) = ini_value(&text, &["logs_dir", "logs-dir"])
    {
        out.push(fs.named_path(&v, config_dir));
    }
    if let Some(text) = fs.read_text(&config_dir.join("cli.ini"))
        && let Some(v) = ini_value(&text, &["logs-dir", "logs_dir"])
    {
        let p = fs.named_path(&v, config_dir);
        if !out.contains(&p) {
            out.push(p);
        }
    }
    let default = fs.host_path("/var/log/letsencrypt");
    if !out.contains(&default) {
        out.push(default);
    }
    out
}

/// `key = value` of an ini or configobj file.
fn ini_value(text: &str, keys: &[&str]) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.trim().split_once('=')?;
        keys.contains(&k.trim())
            .then(|| v.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
            .filter(|v| !v.is_empty())
    })
}

/// `NAME='value'` of a shell file.
fn shell_value(text: &str, key: &str) -> Option<String> {
    text.lines().rev().find_map(|l| {
        let l = l.trim();
        let l = l.strip_prefix("export ").unwrap_or(l);
        let v = l.strip_prefix(key)?.strip_prefix('=')?;
        let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
        (!v.is_empty()).then(|| v.to_string())
    })
}

/// Caddy: `output file PATH` lines (of a `log` block).
fn caddy_log_files(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            match words.as_slice() {
                ["output", "file", path, ..] => Some(path.trim_matches('"').to_string()),
                _ => None,
            }
        })
        .collect()
}

/// Traefik: `log.filePath` (YAML `log:` section or TOML `[log]` table; not `accessLog`).
fn traefik_log_files(text: &str) -> Vec<String> {
    let mut section = String::new();
    let mut out = Vec::new();
    for l in text.lines() {
        let t = l.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if t.starts_with('[') {
            section = t.trim_matches(|c| c == '[' || c == ']').to_string();
            continue;
        }
        if !l.starts_with([' ', '\t']) && t.ends_with(':') {
            section = t.trim_end_matches(':').to_string();
            continue;
        }
        let (k, v) = match t.split_once(['=', ':']) {
            Some(kv) => kv,
            None => continue,
        };
        let k = k.trim();
        let in_log = section == "log" && k == "filePath";
        let dotted = k == "log.filePath" || k == "--log.filepath" || k == "--log.filePath";
        if in_log || dotted {
            let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
            if !v.is_empty() {
                out.push(v.to_string());
            }
        }
    }
    out
}

/// The last [`LOG_TAIL`] bytes of a log file as lines, each with its number (when the file
/// is small enough to count) and time (its own, or the last line's before it).
fn read_tail(fs: &mut Fs, path: &Path, format: Format) -> Vec<LogLine> {
    let (mut file, st) = match userfile::open_regular(path, Links::NotFollowed) {
        Ok(f) => f,
        Err(Skipped::Missing) => return Vec::new(),
        Err(Skipped::Io(e)) => {
            fs.warn(path, None, format!("not read: {e}"));
            return Vec::new();
        }
        Err(other) => {
            fs.warn(path, None, other.to_string());
            return Vec::new();
        }
    };
    let size = u64::try_from(st.st_size).unwrap_or(0);
    let start = size.saturating_sub(LOG_TAIL);
    let mut first_line = Some(1u32);
    if start > 0 {
        first_line = if size <= COUNT_LINES_UP_TO {
            count_lines(&mut file, start).map(|n| n.saturating_add(1))
        } else {
            None
        };
        if file.seek(SeekFrom::Start(start)).is_err() {
            return Vec::new();
        }
    }
    let mut bytes = Vec::new();
    if let Err(e) = (&mut file).take(LOG_TAIL).read_to_end(&mut bytes) {
        fs.warn(path, None, format!("not read: {e}"));
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut lines = Vec::new();
    let mut at = None;
    let mut number = first_line;
    for (i, text) in text.lines().enumerate() {
        // A tail that starts mid-line: its first piece is not a line.
        if start > 0 && i == 0 {
            number = number.map(|n| n.saturating_add(1));
            continue;
        }
        if let Some(t) = format.line_time(text) {
            at = Some(t);
        }
        lines.push(LogLine {
            at,
            line: number,
            text: text.to_string(),
        });
        number = number.map(|n| n.saturating_add(1));
    }
    lines
}

/// Newlines in the first `upto` bytes.
fn count_lines(file: &mut std::fs::File, upto: u64) -> Option<u32> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = upto;
    let mut n: u64 = 0;
    while left > 0 {
        let want = usize::try_from(left.min(buf.len() as u64)).ok()?;
        let got = file.read(&mut buf[..want]).ok()?;
        if got == 0 {
            break;
        }
        n += buf[..got].iter().filter(|b| **b == b'\n').count() as u64;
        left -= got as u64;
    }
    u32::try_from(n).ok()
}

// ---- times ----

fn num(s: &str) -> Option<u32> {
    s.parse().ok()
}

/// `2026-12-07 18:45:27,639:INFO:…` (certbot writes the host's local time; read as UTC).
fn certbot_time(text: &str) -> Option<i64> {
    civil_time(text, b'-')
}

/// `2026/12/07 18:47:05 …` (lego, Go's log package: the host's local time; read as UTC).
fn lego_time(text: &str) -> Option<i64> {
    civil_time(text, b'/')
}

/// `YYYY<sep>MM<sep>DD HH:MM:SS` at the start of a line, as seconds since the epoch.
fn civil_time(text: &str, date_separator: u8) -> Option<i64> {
    let head = text.get(..19).filter(|h| h.is_ascii())?;
    let b = head.as_bytes();
    if b[4] != date_separator
        || b[7] != date_separator
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    crate::timefmt::from_civil(
        i64::from(num(&head[..4])?),
        num(&head[5..7])?,
        num(&head[8..10])?,
        num(&head[11..13])?,
        num(&head[14..16])?,
        num(&head[17..19])?,
    )
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `[Sun Jan 29 05:40:53 UTC 2023] …` (acme.sh: `date` in the host's zone). Only a UTC or
/// GMT time is read; another zone's abbreviation does not say its offset.
fn acmesh_time(text: &str) -> Option<i64> {
    let inner = text.strip_prefix('[')?.split(']').next()?;
    let w: Vec<&str> = inner.split_whitespace().collect();
    let (month, day, clock, zone, year) = match w.as_slice() {
        [_, m, d, c, z, y] => (*m, *d, *c, *z, *y),
        _ => return None,
    };
    if !matches!(zone, "UTC" | "GMT" | "Z") {
        return None;
    }
    let month = MONTHS.iter().position(|m| *m == month)? as u32 + 1;
    let mut hms = clock.split(':');
    crate::timefmt::from_civil(
        i64::from(num(year)?),
        month,
        num(day)?,
        num(hms.next()?)?,
        num(hms.next()?)?,
        num(hms.next()?)?,
    )
}

/// RFC 3339 (`2018-05-11T06:56:35Z`, `…+02:00`, fractions allowed).
fn rfc3339(s: &str) -> Option<i64> {
    let s = s.trim();
    if !s.is_ascii() || s.len() < 19 {
        return None;
    }
    let date = s.get(..10)?;
    let time = s.get(11..19)?;
    let rest = s.get(19..)?;
    let rest = rest.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let offset = match rest {
        "Z" | "z" | "" => 0,
        r if r.len() == 6 => {
            let sign = if r.starts_with('-') { -1 } else { 1 };
            sign * (i64::from(num(&r[1..3])?) * 3600 + i64::from(num(&r[4..6])?) * 60)
        }
        _ => return None,
    };
    let t = crate::timefmt::from_civil(
        i64::from(num(&date[..4])?),
        num(&date[5..7])?,
        num(&date[8..10])?,
        num(&time[..2])?,
        num(&time[3..5])?,
        num(&time[6..8])?,
    )?;
    Some(t - offset)
}

/// A JSON log line's `ts` (Caddy: seconds as a float) or `time` (Traefik: RFC 3339).
fn json_time(text: &str) -> Option<i64> {
    let v: serde_json::Value = serde_json::from_str(text.trim()).ok()?;
    if let Some(ts) = v.get("ts").and_then(|t| t.as_f64()) {
        return (0.0..1e12).contains(&ts).then_some(ts as i64);
    }
    rfc3339(v.get("time")?.as_str()?)
}

/// logfmt's `time="2018-05-11T06:56:35Z"` (Traefik v2), or a Traefik v3 line starting with
/// its RFC 3339 time.
fn logfmt_time(text: &str) -> Option<i64> {
    if let Some(at) = text.find("time=\"") {
        let rest = &text[at + 6..];
        return rfc3339(rest.split('"').next()?);
    }
    rfc3339(text.split_whitespace().next()?)
}

// ---- parsers ----

/// certbot: each failed challenge's `Domain:`/`Type:`/`Detail:` block (certbot ≥ 1.x, as
/// `Notifying user:` writes it), and the error that ended a run (`An unexpected error
/// occurred:` and the next lines; `Failed to renew certificate NAME with error: …`) for the
/// names that run asked for.
pub fn certbot(lines: &[LogLine]) -> Vec<Failure> {
    let mut out = Vec::new();
    let mut run_names: Vec<String> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = &lines[i];
        let t = l.text.trim();
        if let Some(rest) = t
            .split_once("Requesting a certificate for ")
            .or_else(|| t.split_once("Renewing an existing certificate for "))
            .map(|(_, r)| r)
        {
            run_names = rest
                .replace(" and ", ", ")
                .split(',')
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
                .collect();
        }
        if let Some(name) = t.strip_prefix("Domain: ") {
            let name = name.trim().to_string();
            let mut block = vec![format!("Domain: {name}")];
            let mut j = i + 1;
            while j < lines.len() {
                let n = lines[j].text.trim_end();
                let nt = n.trim();
                if nt.is_empty() || nt.starts_with("Domain: ") || certbot_time(n).is_some() {
                    break;
                }
                block.push(nt.to_string());
                j += 1;
            }
            out.push(Failure {
                names: vec![name],
                at: l.at,
                line: l.line,
                words: block.join("\n"),
            });
            i = j;
            continue;
        }
        if t.ends_with(":ERROR:certbot._internal.log:An unexpected error occurred:") {
            let mut words = Vec::new();
            let mut j = i + 1;
            while j < lines.len() && certbot_time(&lines[j].text).is_none() {
                let nt = lines[j].text.trim();
                if !nt.is_empty() {
                    words.push(nt.to_string());
                }
                j += 1;
            }
            if !words.is_empty() && !run_names.is_empty() {
                out.push(Failure {
                    names: run_names.clone(),
                    at: l.at,
                    line: l.line,
                    words: words.join("\n"),
                });
            }
            i = j;
            continue;
        }
        if let Some(rest) = t.split_once("Failed to renew certificate ").map(|(_, r)| r)
            && let Some((lineage, error)) = rest.split_once(" with error: ")
            // The challenges' own blocks say more than their summary.
            && !error.trim().starts_with("Some challenges have failed")
        {
            out.push(Failure {
                names: vec![lineage.trim().to_string()],
                at: l.at,
                line: l.line,
                words: error.trim().to_string(),
            });
        }
        i += 1;
    }
    out
}

/// acme.sh: `[date] name:Verify error:detail` (also after `Invalid status, `).
pub fn acmesh(lines: &[LogLine]) -> Vec<Failure> {
    let mut out = Vec::new();
    for l in lines {
        let body = match l.text.strip_prefix('[').and_then(|r| r.split_once("] ")) {
            Some((_, b)) => b,
            None => l.text.as_str(),
        };
        let Some(at) = body.find(":Verify error:") else {
            continue;
        };
        let head = &body[..at];
        let name = head
            .rsplit([' ', ','])
            .next()
            .unwrap_or(head)
            .trim()
            .to_string();
        if name.is_empty() {
            continue;
        }
        out.push(Failure {
            names: vec![name.clone()],
            at: l.at,
            line: l.line,
            words: format!("{name}{}", &body[at..]),
        });
    }
    out
}

/// lego: `[name] acme: error: 403 :: urn:… :: detail`; an `acme: error:` line without a name
/// (an order refused: a rate limit) is about the names of the run (`[INFO] [name] acme:
/// Obtaining …`).
pub fn lego(lines: &[LogLine]) -> Vec<Failure> {
    let mut out = Vec::new();
    let mut run_names: Vec<String> = Vec::new();
    for l in lines {
        let t = l.text.trim();
        if t.contains("acme: Obtaining ") || t.contains("acme: Trying renewal") {
            if let Some(name) = bracketed_name(t.split("[INFO] ").nth(1).unwrap_or(t)) {
                if t.contains("Obtaining bundled SAN certificate") || t.contains("Trying renewal") {
                    run_names = vec![name];
                } else if !run_names.contains(&name) {
                    run_names.push(name);
                }
            }
            continue;
        }
        let Some(at) = t.find("acme: error:") else {
            continue;
        };
        let before = t[..at].trim_end();
        let (names, start) = match before.rfind('[') {
            Some(open) if before.ends_with(']') => {
                (vec![before[open + 1..before.len() - 1].to_string()], open)
            }
            _ => (run_names.clone(), at),
        };
        if names.is_empty() {
            continue;
        }
        out.push(Failure {
            names,
            at: l.at,
            line: l.line,
            words: t[start..].to_string(),
        });
    }
    out
}

/// `[name] …` at the start of `text`.
fn bracketed_name(text: &str) -> Option<String> {
    let rest = text.trim().strip_prefix('[')?;
    let (name, _) = rest.split_once(']')?;
    (!name.is_empty() && !name.contains(' ')).then(|| name.to_string())
}

/// The JSON object that starts at `lines[start]` (at its first `{`), and the index after it.
fn json_block(lines: &[LogLine], start: usize) -> Option<(String, usize)> {
    json_block_from(lines, start, 0)
}

/// [`json_block`] from byte `offset` of the first line.
fn json_block_from(lines: &[LogLine], start: usize, offset: usize) -> Option<(String, usize)> {
    let mut text = String::new();
    let mut depth = 0i32;
    let mut in_string = false;
    let mut escaped = false;
    let mut begun = false;
    for (k, l) in lines.iter().enumerate().skip(start).take(200) {
        let piece = if begun {
            l.text.as_str()
        } else {
            let from = if k == start {
                l.text.get(offset..).unwrap_or_default()
            } else {
                l.text.as_str()
            };
            match from.find('{') {
                Some(p) => &from[p..],
                None => continue,
            }
        };
        begun = true;
        for c in piece.chars() {
            text.push(c);
            if in_string {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => in_string = false,
                    _ => {}
                }
                continue;
            }
            match c {
                '"' => in_string = true,
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some((text, k + 1));
                    }
                }
                _ => {}
            }
        }
        text.push('\n');
    }
    None
}

/// dehydrated: `ERROR: Challenge is invalid! (returned: invalid) (result: …` with the
/// challenge's fields one per line (`["error"]<TAB>{problem}`), for the name of the last
/// `Responding to challenge for NAME authorization...`; another `ERROR:` (an order refused, a
/// rate limit) is about the certificate being processed (`Processing NAME …`), with the
/// problem document that follows it when there is one.
pub fn dehydrated(lines: &[LogLine]) -> Vec<Failure> {
    let mut out = Vec::new();
    let mut processing: Option<String> = None;
    let mut responding: Option<String> = None;
    let mut i = 0;
    while i < lines.len() {
        let l = &lines[i];
        let t = l.text.trim();
        if let Some(rest) = t.strip_prefix("Processing ") {
            processing = rest.split_whitespace().next().map(str::to_string);
            responding = None;
        } else if let Some(rest) = t.strip_prefix("+ Responding to challenge for ") {
            responding = rest.split_whitespace().next().map(str::to_string);
        } else if t.starts_with("ERROR: Challenge is invalid!") {
            // The `["error"]` line holds the problem document.
            let mut words = None;
            let mut j = i;
            while j < lines.len() && j < i + 64 {
                let n = lines[j].text.as_str();
                if j > i && (n.starts_with("ERROR:") || n.starts_with("Processing ")) {
                    break;
                }
                if let Some(at) = n.find("[\"error\"]\t") {
                    words = json_block_from(lines, j, at).map(|(w, _)| w);
                }
                j += 1;
            }
            let names: Vec<String> = responding
                .iter()
                .chain(processing.iter())
                .cloned()
                .collect();
            if !names.is_empty() {
                out.push(Failure {
                    names: names.into_iter().take(1).collect(),
                    at: l.at,
                    line: l.line,
                    words: words.unwrap_or_else(|| t.to_string()),
                });
            }
            i = j;
            continue;
        } else if t.starts_with("ERROR: ") {
            let names: Vec<String> = processing.iter().cloned().collect();
            let mut words = t.to_string();
            let mut next = i + 1;
            // The problem document printed after `Details:`.
            let window = lines.len().min(i + 32);
            if let Some(k) = (i + 1..window).find(|&k| lines[k].text.trim_start().starts_with('{'))
                && let Some((doc, after)) = json_block(lines, k)
            {
                words = doc;
                next = after;
            }
            if !names.is_empty() {
                out.push(Failure {
                    names,
                    at: l.at,
                    line: l.line,
                    words,
                });
            }
            i = next;
            continue;
        }
        i += 1;
    }
    out
}

/// uacme: `uacme: the server reported the following error:` and the problem document after
/// it, for the name of the last `running HOOK begin TYPE NAME …`, else of `issue NAME`.
pub fn uacme(lines: &[LogLine]) -> Vec<Failure> {
    let mut out = Vec::new();
    let mut name: Option<String> = None;
    let mut i = 0;
    while i < lines.len() {
        let l = &lines[i];
        let t = l.text.trim();
        let body = t.strip_prefix("uacme: ").unwrap_or(t);
        if let Some(rest) = body.strip_prefix("running ") {
            let w: Vec<&str> = rest.split_whitespace().collect();
            if let [_, "begin", _, ident, ..] = w.as_slice() {
                name = Some((*ident).to_string());
            }
        } else if let Some(rest) = body.strip_prefix("checking existence and expiration of ") {
            // `<confdir>/<name>/cert.pem`: the certificate this run is for.
            let mut parts = rest.rsplit('/');
            parts.next();
            if name.is_none() {
                name = parts.next().map(str::to_string);
            }
        } else if body.starts_with("the server reported the following error") {
            let (words, next) = match json_block(lines, i + 1) {
                Some(found) => found,
                None => (body.to_string(), i + 1),
            };
            out.push(Failure {
                names: name.iter().cloned().collect(),
                at: l.at,
                line: l.line,
                words,
            });
            i = next;
            continue;
        } else if body.starts_with("version ") && body.contains(" starting") {
            name = None;
        }
        i += 1;
    }
    out
}

/// Caddy: JSON lines of level `error` whose `msg` is `could not get certificate from
/// issuer` or `challenge failed`, about their `identifier`; the line is the words.
pub fn caddy(lines: &[LogLine]) -> Vec<Failure> {
    let mut out = Vec::new();
    for l in lines {
        let t = l.text.trim();
        let json = match t.find('{') {
            Some(p) => &t[p..],
            None => continue,
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
            continue;
        };
        let msg = v.get("msg").and_then(|m| m.as_str()).unwrap_or_default();
        if !matches!(
            msg,
            "could not get certificate from issuer" | "challenge failed"
        ) || v.get("level").and_then(|m| m.as_str()) != Some("error")
        {
            continue;
        }
        let Some(name) = v.get("identifier").and_then(|m| m.as_str()) else {
            continue;
        };
        out.push(Failure {
            names: vec![name.to_string()],
            at: json_time(json).or(l.at),
            line: l.line,
            words: json.to_string(),
        });
    }
    out
}

/// Traefik: `Unable to obtain ACME certificate for domains "a,b": …` as a JSON line (`msg`,
/// or v3's `message` with `domains`) or a logfmt line; the line is the words.
pub fn traefik(lines: &[LogLine]) -> Vec<Failure> {
    const SAID: &str = "Unable to obtain ACME certificate for domains";
    let mut out = Vec::new();
    for l in lines {
        let t = l.text.trim();
        if !t.contains(SAID) {
            continue;
        }
        let mut names: Vec<String> = Vec::new();
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(t) {
            if let Some(list) = v.get("domains").and_then(|d| d.as_array()) {
                names.extend(list.iter().filter_map(|d| d.as_str()).map(str::to_string));
            }
            for key in ["msg", "message"] {
                if let Some(m) = v.get(key).and_then(|m| m.as_str()) {
                    names.extend(quoted_domains(m, "\""));
                }
            }
        } else {
            names.extend(quoted_domains(t, "\\\""));
            // Traefik v3's console format: `domains=["a","b"]`.
            if let Some(at) = t.find("domains=[") {
                let list = t[at + 9..].split(']').next().unwrap_or_default();
                names.extend(
                    list.split(',')
                        .map(|n| n.trim().trim_matches('"').to_string())
                        .filter(|n| !n.is_empty()),
                );
            }
        }
        names.dedup();
        if names.is_empty() {
            continue;
        }
        out.push(Failure {
            names,
            at: l.at,
            line: l.line,
            words: t.to_string(),
        });
    }
    out
}

/// The names in `for domains "a,b"` (quote as written: `"` in JSON's decoded text, `\"` in
/// logfmt).
fn quoted_domains(text: &str, quote: &str) -> Vec<String> {
    let key = format!("for domains {quote}");
    let Some(at) = text.find(&key) else {
        return Vec::new();
    };
    let rest = &text[at + key.len()..];
    let Some(end) = rest.find(quote) else {
        return Vec::new();
    };
    rest[..end]
        .split(',')
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect()
}

#[cfg(test)]
mod tests;
