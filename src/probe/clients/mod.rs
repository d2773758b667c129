//! `--all`: the certificates the ACME clients on this host renew, read from their own
//! configuration files, read-only. One parser per client, each in its own file, all producing
//! the same [`ManagedCert`] plan; this module finds the files (each client's default paths,
//! under `--client-root`, plus every `--client-config PATH`), caps what it reads, and turns
//! every problem into a fact: an unreadable path is an [`UnreadablePath`], a line no parser
//! understands is a [`ConfigWarning`] naming the file and line. Nothing here panics on input.

pub mod acmesh;
pub mod caddy;
pub mod cert;
pub mod certbot;
pub mod dehydrated;
pub mod lego;
pub mod logs;
pub mod traefik;
pub mod uacme;

use super::userfile::{self, Links, Skipped, Trust, UserFile};
use crate::facts::{
    ClientsFacts, ConfigOwner, ConfigWarning, ManagedCert, Moment, NextTry, Probed, Unknown,
    UnreadablePath,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where to look.
#[derive(Debug, Clone)]
pub struct Discover {
    /// Prefix for every default path (`/` on a real host; a directory tree in tests).
    pub root: PathBuf,
    /// `--client-config` paths: files of any client, or directories of them.
    pub extra: Vec<PathBuf>,
    /// Whether the default paths are searched at all.
    pub defaults: bool,
}

/// Bytes read from one configuration file at most (certificates: [`userfile::CERTIFICATE_CAP`]).
pub const FILE_CAP: u64 = userfile::CONFIG_CAP;
/// Files opened at most, however many a directory holds.
pub const FILES_CAP: usize = 4096;

/// The file reader every parser goes through: capped, counting, and recording what it could
/// not read.
pub struct Fs {
    pub root: PathBuf,
    opened: usize,
    pub facts: ClientsFacts,
    /// Each configuration read, as [`show`] names it, and its owner.
    owners: HashMap<String, ConfigOwner>,
    /// Files kept in memory instead of the disk (fuzzing: no I/O per input); `None` reads
    /// the disk.
    memory: Option<HashMap<PathBuf, Vec<u8>>>,
}

impl Fs {
    pub fn new(root: &Path) -> Fs {
        Fs {
            root: root.to_path_buf(),
            opened: 0,
            facts: ClientsFacts::default(),
            owners: HashMap::new(),
            memory: None,
        }
    }

    /// A reader that never touches the disk: `files` are the only files there are, owned by
    /// root and trusted, and a directory is any prefix of their paths.
    pub fn in_memory(root: &Path, files: HashMap<PathBuf, Vec<u8>>) -> Fs {
        Fs {
            memory: Some(files),
            ..Fs::new(root)
        }
    }

    /// Whether `path` exists (as a file or, in memory, as a directory of one).
    pub fn exists(&self, path: &Path) -> bool {
        match &self.memory {
            Some(files) => files.keys().any(|f| f.starts_with(path)),
            None => path.exists(),
        }
    }

    fn is_dir(&self, path: &Path) -> bool {
        match &self.memory {
            Some(files) => files.keys().any(|f| f != path && f.starts_with(path)),
            None => path.is_dir(),
        }
    }

    /// A path of the host (`/etc/letsencrypt`) under the root.
    pub fn host_path(&self, path: &str) -> PathBuf {
        let rel = path.trim_start_matches('/');
        if rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }

    /// A path named inside a configuration file in directory `relative_to`: an absolute one
    /// is under the root when that file is (a test tree), as is otherwise.
    pub fn named_path(&self, path: &str, relative_to: &Path) -> PathBuf {
        if Path::new(path).is_absolute() {
            if self.root != Path::new("/") && relative_to.starts_with(&self.root) {
                self.host_path(path)
            } else {
                PathBuf::from(path)
            }
        } else {
            relative_to.join(path)
        }
    }

    /// A file's text: `None` when it does not exist (not a fact worth keeping) or could not
    /// be read (recorded as unreadable).
    pub fn read_text(&mut self, path: &Path) -> Option<String> {
        self.read_bytes(path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// A configuration file's bytes, read as [`userfile`] reads a user's file (a symlink, FIFO
    /// or device is skipped with a warning), its owner recorded for [`ManagedCert::owner`].
    pub fn read_bytes(&mut self, path: &Path) -> Option<Vec<u8>> {
        let file = self.read_user_file(path, Links::NotFollowed, FILE_CAP)?;
        let trust = if self.memory.is_some() {
            Trust::Owner { uid: 0, gid: 0 }
        } else {
            userfile::trust(path, &self.root, &file)
        };
        let owner = match trust {
            Trust::Owner { uid, gid } => ConfigOwner {
                uid,
                gid,
                untrusted: None,
            },
            Trust::Untrusted(why) => {
                self.warn(
                    path,
                    None,
                    format!("not trusted: {why}; its certificates are listed, but no token is written for them"),
                );
                ConfigOwner {
                    uid: file.uid,
                    gid: file.gid,
                    untrusted: Some(why),
                }
            }
        };
        self.owners.insert(show(path), owner);
        Some(file.bytes)
    }

    fn read_user_file(&mut self, path: &Path, links: Links, cap: u64) -> Option<UserFile> {
        if self.opened >= FILES_CAP {
            self.facts.truncated = true;
            return None;
        }
        self.opened += 1;
        let read = match &self.memory {
            Some(files) => match files.get(path) {
                None => Err(Skipped::Missing),
                Some(bytes) if bytes.len() as u64 > cap => Err(Skipped::TooLarge { cap }),
                Some(bytes) => Ok(UserFile {
                    bytes: bytes.clone(),
                    uid: 0,
                    gid: 0,
                    mode: 0o644,
                }),
            },
            None => userfile::read(path, links, cap),
        };
        match read {
            Ok(file) => Some(file),
            Err(Skipped::Missing) => None,
            Err(Skipped::Io(e)) => {
                self.unreadable(path, &e);
                None
            }
            Err(skipped) => {
                self.warn(path, None, skipped.to_string());
                None
            }
        }
    }

    /// The entries of a directory, sorted; none when it does not exist.
    pub fn list(&mut self, dir: &Path) -> Vec<PathBuf> {
        if let Some(files) = &self.memory {
            let mut paths: Vec<PathBuf> = files
                .keys()
                .filter_map(|f| f.strip_prefix(dir).ok()?.components().next())
                .map(|first| dir.join(first))
                .collect();
            paths.sort();
            paths.dedup();
            return paths;
        }
        match std::fs::read_dir(dir) {
            Ok(entries) => {
                let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
                paths.sort();
                if paths.len() > FILES_CAP {
                    paths.truncate(FILES_CAP);
                    self.facts.truncated = true;
                }
                paths
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Vec::new(),
            Err(e) => {
                self.unreadable(dir, &e);
                Vec::new()
            }
        }
    }

    /// Home directories: `/root` and `/home/*`.
    pub fn homes(&mut self) -> Vec<PathBuf> {
        let mut homes = vec![self.host_path("/root")];
        let home = self.host_path("/home");
        let listed = self.list(&home);
        homes.extend(listed.into_iter().filter(|p| self.is_dir(p)));
        homes
    }

    fn unreadable(&mut self, path: &Path, e: &std::io::Error) {
        let shown = show(path);
        let why = if e.kind() == std::io::ErrorKind::PermissionDenied {
            Unknown::PermissionDenied {
                program: "acme-doctor".into(),
                message: format!("{shown}: {e}"),
            }
        } else {
            Unknown::failed(format!("{shown}: {e}"))
        };
        if !self.facts.unreadable.iter().any(|u| u.path == shown) {
            self.facts
                .unreadable
                .push(UnreadablePath { path: shown, why });
        }
    }

    pub fn warn(&mut self, file: &Path, line: Option<u32>, message: impl Into<String>) {
        self.facts.warnings.push(ConfigWarning {
            file: show(file),
            line,
            message: crate::sanitize::line(&message.into(), 300),
        });
    }

    /// A certificate file's expiry and names. Links are followed (certbot's `live/` is made of
    /// them); nothing of the file but a parsed certificate's dates and names is ever shown.
    pub fn certificate(&mut self, path: &Path) -> Result<cert::CertInfo, Unknown> {
        let missing = match &self.memory {
            Some(files) => !files.contains_key(path),
            None => {
                std::fs::metadata(path).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
            }
        };
        if missing {
            return Err(Unknown::failed(format!("{} does not exist", show(path))));
        }
        let file = self
            .read_user_file(path, Links::Followed, userfile::CERTIFICATE_CAP)
            .ok_or_else(|| Unknown::failed(format!("{} could not be read", show(path))))?;
        cert::read(&file.bytes).map_err(|e| Unknown::failed(format!("{}: {e}", show(path))))
    }
}

/// A JSON error in words that quote nothing of the file (serde's own can quote a value).
pub fn json_error(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Io => "a read error",
        serde_json::error::Category::Syntax => "a syntax error",
        serde_json::error::Category::Data => "an unexpected value",
        serde_json::error::Category::Eof => "the file ends too early",
    };
    format!("{what} at column {}", e.column())
}

pub use super::userfile::show;

/// Reads every client's configuration. Cheap (a few directory listings and small files) and
/// read-only; capped at [`FILES_CAP`] files of [`FILE_CAP`] bytes.
pub fn discover(opts: &Discover) -> ClientsFacts {
    let mut fs = Fs::new(&opts.root);
    if opts.defaults {
        certbot::discover(&mut fs);
        acmesh::discover(&mut fs);
        lego::discover(&mut fs);
        caddy::discover(&mut fs);
        traefik::discover(&mut fs);
        dehydrated::discover(&mut fs);
        uacme::discover(&mut fs);
        web_units(&mut fs);
    }
    for path in &opts.extra {
        if path.is_dir() {
            // Everything but subdirectories, so a FIFO or a link there is named as skipped.
            for file in fs.list(path) {
                if !std::fs::symlink_metadata(&file).is_ok_and(|m| m.is_dir()) {
                    by_content(&mut fs, &file, false);
                }
            }
        } else {
            by_content(&mut fs, path, true);
        }
    }
    // One certificate found twice (a default path also given with --client-config) is one.
    let mut seen = std::collections::HashSet::new();
    fs.facts
        .certificates
        .retain(|c| seen.insert((c.client, c.config.clone(), c.name.clone())));
    for cert in &mut fs.facts.certificates {
        cert.owner = fs.owners.get(&cert.config).cloned();
    }
    fs.facts
}

/// A `--client-config` file: its client told by its name and content.
pub fn by_content(fs: &mut Fs, path: &Path, named: bool) {
    let Some(text) = fs.read_text(path) else {
        if named && !fs.exists(path) {
            fs.warn(path, None, "no such file");
        }
        return;
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if text.contains("[renewalparams]") || (name.ends_with(".conf") && text.contains("archive_dir"))
    {
        certbot::parse_file(fs, path, &text);
    } else if text.contains("Le_Domain=") {
        acmesh::parse_file(fs, path, &text);
    } else if name.ends_with(".json") && text.contains("\"Certificates\"") {
        traefik::parse_acme_json(fs, path, &text, None);
    } else if name.ends_with(".json") && text.contains("\"domain\"") {
        lego::parse_json_file(fs, path, &text);
    } else if text.contains("certificatesResolvers") || text.contains("certificatesresolvers") {
        traefik::parse_static(fs, path, &text);
    } else if name.starts_with("Caddyfile") {
        caddy::parse_file(fs, path, &text);
    } else if lego::has_command(&text) {
        lego::parse_commands_file(fs, path, &text);
    } else if uacme::has_command(&text) {
        uacme::parse_commands_file(fs, path, &text);
    } else if dehydrated::has_command(&text) {
        dehydrated::parse_commands_file(fs, path, &text);
    } else if ["DOMAINS_TXT=", "WELLKNOWN=", "CHALLENGETYPE=", "CERTDIR="]
        .iter()
        .any(|k| text.contains(k))
    {
        dehydrated::parse_file(fs, path, &text);
    } else if named {
        fs.warn(
            path,
            None,
            "not a configuration of certbot, acme.sh, lego, Caddy, Traefik, dehydrated or uacme that acme-doctor recognises",
        );
    }
}

/// Enabled systemd units of web servers, which hold port 80 whenever they run.
fn web_units(fs: &mut Fs) {
    const SERVERS: &[&str] = &[
        "nginx",
        "apache2",
        "httpd",
        "caddy",
        "lighttpd",
        "haproxy",
        "traefik",
        "varnish",
        "openresty",
        "h2o",
    ];
    let dir = fs.host_path("/etc/systemd/system");
    let mut units = Vec::new();
    for wants in fs.list(&dir) {
        let is_wants = wants
            .file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with(".wants"));
        if !is_wants {
            continue;
        }
        for unit in fs.list(&wants) {
            let Some(name) = unit.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                continue;
            };
            let stem = name.strip_suffix(".service").unwrap_or(&name);
            if SERVERS.contains(&stem) && !units.contains(&name) {
                units.push(name);
            }
        }
    }
    fs.facts.web_units = units;
}

/// The certificate's expiry and, when the file gave them, its names.
pub fn expiry_of(
    fs: &mut Fs,
    path: Option<&Path>,
) -> (Probed<Moment>, Option<Moment>, Vec<String>) {
    let Some(path) = path else {
        return (
            Probed::Unknown(Unknown::failed(
                "the configuration names no certificate file",
            )),
            None,
            Vec::new(),
        );
    };
    match fs.certificate(path) {
        Ok(info) => (
            Probed::Known(Moment::from_unix(info.not_after)),
            Some(Moment::from_unix(info.not_before)),
            info.dns_names,
        ),
        Err(why) => (Probed::Unknown(why), None, Vec::new()),
    }
}

/// `window` seconds before expiry, with the rule that says so.
pub fn before_expiry(expiry: &Probed<Moment>, window: i64, rule: String) -> NextTry {
    match expiry {
        Probed::Known(at) => NextTry::At {
            // The window comes from a user's file: saturate rather than overflow.
            at: Moment::from_unix(at.unix.saturating_sub(window)),
            rule,
        },
        Probed::Unknown(_) => NextTry::Unknown {
            why: "the certificate's expiry is unknown".into(),
        },
    }
}

/// Sorts and deduplicates names, lower-cased as DNS compares them.
pub fn names(list: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    // A set beside the list: a certificate of 10,000 names is one lookup per name, not a scan.
    let mut seen = std::collections::HashSet::new();
    for n in list {
        let n = n.trim().trim_end_matches('.').to_ascii_lowercase();
        if !n.is_empty() && seen.insert(n.clone()) {
            out.push(n);
        }
    }
    out
}

/// Used by parsers to build a plan with the shared defaults.
#[allow(clippy::too_many_arguments)]
pub fn plan(
    client: crate::facts::AcmeClient,
    name: String,
    config: &Path,
    key: &str,
    line: Option<u32>,
    names: Vec<String>,
    challenge: crate::facts::Challenge,
    certificate: Option<&Path>,
) -> ManagedCert {
    ManagedCert {
        client,
        name,
        config: show(config),
        key: key.to_string(),
        line,
        names,
        challenge,
        webroots: Vec::new(),
        certificate: certificate.map(show),
        not_before: None,
        expiry: Probed::Unknown(Unknown::failed("not read")),
        next_try: NextTry::Unknown {
            why: "not read".into(),
        },
        server: None,
        pre_hook: None,
        owner: None,
        entry_points: Vec::new(),
        token_not_written: None,
        last_failure: None,
        missing_files: Vec::new(),
    }
}

#[cfg(test)]
pub mod testdir {
    //! A throwaway directory tree for parser tests, removed on drop.
    use std::path::{Path, PathBuf};

    pub struct TempTree(pub PathBuf);

    impl TempTree {
        pub fn new(tag: &str) -> TempTree {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "acme-doctor-clients-{tag}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempTree(dir)
        }

        pub fn write(&self, rel: &str, text: &str) -> PathBuf {
            let path = self.0.join(rel.trim_start_matches('/'));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            path
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempTree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    pub const WEB_PEM: &str = include_str!("../../../tests/fixtures/clients/certs/web.pem");
    pub const WRONG_PEM: &str = include_str!("../../../tests/fixtures/clients/certs/wrong.pem");
    pub const SOLO_PEM: &str = include_str!("../../../tests/fixtures/clients/certs/solo.pem");
    pub const DNS_PEM: &str = include_str!("../../../tests/fixtures/clients/certs/dns.pem");
}

#[cfg(test)]
mod tests {
    use super::testdir::WEB_PEM;
    use super::*;

    /// The fuzzer's filesystem: files from memory, directories as their prefixes, and no
    /// disk behind it (nothing here exists on the machine).
    #[test]
    fn an_in_memory_filesystem_serves_files_lists_and_certificates() {
        let conf =
            "cert = /nowhere-on-disk/cert.pem\n[renewalparams]\nauthenticator = standalone\n";
        let files: HashMap<PathBuf, Vec<u8>> = [
            ("/nowhere-on-disk/cert.pem", WEB_PEM.as_bytes()),
            ("/nowhere-on-disk/a.example.conf", conf.as_bytes()),
            ("/home/alice/.acme.sh/x/x.conf", b"" as &[u8]),
        ]
        .into_iter()
        .map(|(p, b)| (PathBuf::from(p), b.to_vec()))
        .collect();
        let mut fs = Fs::in_memory(Path::new("/"), files);
        let dir = Path::new("/nowhere-on-disk");
        assert_eq!(
            fs.list(dir),
            [dir.join("a.example.conf"), dir.join("cert.pem")]
        );
        assert!(fs.exists(dir) && !fs.exists(&dir.join("missing")));
        assert_eq!(
            fs.homes(),
            [PathBuf::from("/root"), PathBuf::from("/home/alice")]
        );
        let path = dir.join("a.example.conf");
        let text = fs.read_text(&path).unwrap();
        certbot::parse_file(&mut fs, &path, &text);
        let cert = &fs.facts.certificates[0];
        assert!(matches!(cert.expiry, Probed::Known(_)), "{:?}", cert.expiry);
        assert!(
            cert.names.iter().any(|n| n == "web.example.test"),
            "{:?}",
            cert.names
        );
        assert!(fs.read_text(&dir.join("missing")).is_none());
        assert!(fs.facts.unreadable.is_empty(), "{:?}", fs.facts.unreadable);
    }
}
