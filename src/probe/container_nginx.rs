//! The configuration of an nginx that runs inside a container, read from the host without
//! touching the container: its files are read through `/proc/PID/root` (the container's own
//! root, as the kernel shows it to root on the host), following `include` as nginx does, and
//! laid out in `nginx -T`'s shape (`# configuration file PATH:` before each file) so the same
//! reader and the same judgement apply as for the host's nginx.
//!
//! Why not `docker exec CONTAINER nginx -T` or `nsenter -m nginx -T`: both start a process in
//! the container (visible in `docker events`, needing a shell-less image to ship nginx's own
//! binary at a known path), and `nginx -T` opens the log files its configuration names, which
//! can create them. Reading files starts nothing and writes nothing.
//!
//! Symbolic links inside the container are resolved against the container's root, one
//! component at a time (an absolute link such as Debian's `sites-enabled/default ->
//! /etc/nginx/sites-available/default` would otherwise be followed on the host), and `..`
//! never climbs above that root.

use crate::facts::{NginxConfig, Probed, Unknown};
use crate::probe::userfile::{self, Links, Skipped};
use crate::probe::webconf::{FILE_CAP, ProcessInfo, started};
use crate::webconf::nginx::{self, Directive};
use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// Files followed through `include` (a Debian nginx with every site enabled has a few dozen).
const MAX_FILES: usize = 256;
/// Names looked at in one directory an `include` wildcard lists.
const MAX_ENTRIES: usize = 10_000;
/// The whole dump.
const MAX_DUMP: usize = 8 << 20;
/// Processes of the container looked at to find nginx's master.
const MAX_PROCESSES: usize = 64;
/// Symbolic links followed while resolving one path (the kernel's own limit).
const MAX_LINKS: usize = 40;
/// Where Debian's and nginx.org's packages (and the official image) put the main file.
const DEFAULT_CONF: &str = "/etc/nginx/nginx.conf";

/// The nginx of the container whose first process is `pid`: `None` when no nginx runs there
/// (nothing to judge), else its configuration or why it could not be read.
pub fn read(pid: u32, container: &str) -> Option<Probed<NginxConfig>> {
    let (master, s) = nginx_master(pid)?;
    let conf = match (&s.conf, &s.prefix) {
        (Some(c), _) if c.starts_with('/') => c.clone(),
        (Some(c), Some(p)) => format!("{}/{c}", p.trim_end_matches('/')),
        (Some(c), None) => format!("/etc/nginx/{c}"),
        (None, _) => DEFAULT_CONF.to_string(),
    };
    let root = PathBuf::from(format!("/proc/{master}/root"));
    let command = format!(
        "read through /proc/{master}/root (container {}): {conf} and its includes",
        crate::sanitize::line(container, 128)
    );
    Some(match dump_from_root(&root, &conf) {
        Ok(dump) => Probed::Known(NginxConfig { command, dump }),
        Err(why) => Probed::Unknown(why),
    })
}

fn process(pid: u32) -> Option<ProcessInfo> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let argv = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    Some(ProcessInfo {
        argv,
        // The binary is the container's; only its arguments matter here.
        exe: None,
        parent: None,
    })
}

/// nginx's master among `pid` and its descendants (`/proc/P/task/P/children`), breadth first.
fn nginx_master(pid: u32) -> Option<(u32, crate::probe::webconf::Started)> {
    let mut queue = VecDeque::from([pid]);
    let mut seen = 0;
    while let Some(p) = queue.pop_front() {
        seen += 1;
        if seen > MAX_PROCESSES {
            break;
        }
        if let Some(s) = process(p).as_ref().and_then(started) {
            return Some((p, s));
        }
        if let Ok(children) = std::fs::read_to_string(format!("/proc/{p}/task/{p}/children")) {
            queue.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
    }
    None
}

/// `path` of the container whose root is `root`, as a host path with every symbolic link
/// resolved inside that root.
pub fn resolve_in_root(root: &Path, path: &str) -> Result<PathBuf, String> {
    let parts = |p: &Path| -> Vec<OsString> {
        p.components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_os_string()),
                Component::ParentDir => Some(OsString::from("..")),
                _ => None,
            })
            .collect()
    };
    let mut todo: VecDeque<OsString> = parts(Path::new(path)).into();
    let mut done: Vec<OsString> = Vec::new();
    let mut links = 0;
    while let Some(c) = todo.pop_front() {
        if c == ".." {
            done.pop();
            continue;
        }
        let candidate = done
            .iter()
            .fold(root.to_path_buf(), |p, d| p.join(d))
            .join(&c);
        match std::fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(format!("{path}: too many symbolic links"));
                }
                let target = std::fs::read_link(&candidate).map_err(|e| format!("{path}: {e}"))?;
                if target.is_absolute() {
                    done.clear();
                }
                for t in parts(&target).into_iter().rev() {
                    todo.push_front(t);
                }
            }
            _ => done.push(c),
        }
    }
    Ok(done.iter().fold(root.to_path_buf(), |p, d| p.join(d)))
}

fn unknown(path: &str, why: Skipped) -> Unknown {
    match why {
        Skipped::Io(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            Unknown::PermissionDenied {
                program: path.to_string(),
                message: e.to_string(),
            }
        }
        Skipped::TooLarge { cap } => Unknown::Unparsable {
            source: path.to_string(),
            at: format!("byte {cap}"),
            message: "the file is longer than acme-doctor reads".into(),
            cap: Some(format!("{} KiB per file", cap / 1024)),
        },
        other => Unknown::failed(format!("{path}: {other}")),
    }
}

fn read_in_root(root: &Path, path: &str) -> Result<String, Unknown> {
    let host_path = resolve_in_root(root, path).map_err(Unknown::failed)?;
    // The resolved path has no link left to follow; one appearing now is refused.
    let file = userfile::read(&host_path, Links::NotFollowed, FILE_CAP)
        .map_err(|why| unknown(path, why))?;
    Ok(String::from_utf8_lossy(&file.bytes).into_owned())
}

/// The `include` arguments anywhere in `directives`.
fn includes(directives: &[Directive], out: &mut Vec<String>) {
    for d in directives {
        if d.name == "include" && d.block.is_none() && d.args.len() == 1 {
            out.push(d.args[0].clone());
        }
        includes(d.children(), out);
    }
}

/// The files a pattern names, as glob(3) sorts them. A wildcard is followed in the last
/// component only (where every packaged configuration puts it).
fn expand(root: &Path, pattern: &str) -> Result<Vec<String>, Unknown> {
    let Some((dir, last)) = pattern.rsplit_once('/') else {
        return Ok(vec![pattern.to_string()]);
    };
    if !last.contains(['*', '?', '[']) {
        return Ok(vec![pattern.to_string()]);
    }
    if dir.contains(['*', '?', '[']) {
        return Err(Unknown::failed(format!(
            "include {pattern}: a wildcard before the last path component is not followed"
        )));
    }
    let host_dir = resolve_in_root(root, dir).map_err(Unknown::failed)?;
    let mut hits: Vec<String> = match std::fs::read_dir(&host_dir) {
        // A directory of the container is its owner's: only so many names are looked at.
        Ok(entries) => entries
            .take(MAX_ENTRIES)
            .flatten()
            .map(|e| format!("{dir}/{}", e.file_name().to_string_lossy()))
            .filter(|p| nginx::glob_match(pattern, p))
            .take(MAX_FILES)
            .collect(),
        // nginx accepts a wildcard that matches nothing, a missing directory included.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(unknown(dir, Skipped::Io(e))),
    };
    hits.sort();
    Ok(hits)
}

/// The configuration under `root` from `main` on, in `nginx -T`'s layout.
pub fn dump_from_root(root: &Path, main: &str) -> Result<String, Unknown> {
    let prefix = main.rsplit_once('/').map_or("", |(d, _)| d).to_string();
    let mut dump = String::new();
    let mut done: Vec<String> = Vec::new();
    let mut queue = VecDeque::from([main.to_string()]);
    while let Some(path) = queue.pop_front() {
        if done.contains(&path) {
            continue;
        }
        if done.len() >= MAX_FILES || dump.len() > MAX_DUMP {
            return Err(Unknown::Unparsable {
                source: main.to_string(),
                at: path,
                message: "the configuration has more files than acme-doctor reads".into(),
                cap: Some(format!("{MAX_FILES} files, {} MiB", MAX_DUMP >> 20)),
            });
        }
        let text = read_in_root(root, &path)?;
        // A file that does not parse is dumped as it is: the diagnosis says where it stops.
        if let Ok(directives) = nginx::parse_file(&path, &text) {
            let mut named = Vec::new();
            includes(&directives, &mut named);
            for inc in named {
                let pattern = if inc.starts_with('/') || prefix.is_empty() {
                    inc
                } else {
                    format!("{prefix}/{inc}")
                };
                queue.extend(expand(root, &pattern)?);
            }
        }
        dump.push_str(&format!("# configuration file {path}:\n{text}"));
        if !text.ends_with('\n') {
            dump.push('\n');
        }
        dump.push('\n');
        done.push(path);
    }
    Ok(dump)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::clients::testdir::TempTree;

    /// The official image's layout: `nginx.conf` includes `conf.d/*.conf`; the site's file is
    /// reached through an absolute link, as Debian's `sites-enabled/` does.
    #[test]
    fn a_container_tree_is_dumped_with_includes_and_links_resolved_inside_it() {
        let t = TempTree::new("container-nginx");
        t.write(
            "etc/nginx/nginx.conf",
            "events {}\nhttp {\n    include mime.types;\n    include /etc/nginx/conf.d/*.conf;\n}\n",
        );
        t.write("etc/nginx/mime.types", "types { text/html html; }\n");
        t.write(
            "etc/nginx/sites/site.conf",
            "server {\n    listen 80;\n    location ~ /\\. { deny all; }\n}\n",
        );
        std::fs::create_dir_all(t.path().join("etc/nginx/conf.d")).unwrap();
        std::os::unix::fs::symlink(
            "/etc/nginx/sites/site.conf",
            t.path().join("etc/nginx/conf.d/site.conf"),
        )
        .unwrap();
        // Not matched by the wildcard.
        t.write("etc/nginx/conf.d/old.conf.bak", "server { listen 81; }\n");
        let dump = dump_from_root(t.path(), "/etc/nginx/nginx.conf").unwrap();
        let files: Vec<String> = nginx::split_dump(&dump)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(
            files,
            [
                "/etc/nginx/nginx.conf",
                "/etc/nginx/mime.types",
                "/etc/nginx/conf.d/site.conf"
            ]
        );
        let config = nginx::load(&dump).unwrap();
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
        let servers = crate::webconf::select::servers(&config.directives);
        assert_eq!(servers.len(), 1);
        assert_eq!(servers[0].pos.to_string(), "/etc/nginx/conf.d/site.conf:1");
    }

    #[test]
    fn links_and_dot_dots_never_leave_the_container_root() {
        let t = TempTree::new("container-root");
        t.write("etc/hostname", "inside\n");
        std::fs::create_dir_all(t.path().join("a")).unwrap();
        // An absolute link, and one that climbs: both stay inside.
        std::os::unix::fs::symlink("/etc/hostname", t.path().join("a/abs")).unwrap();
        std::os::unix::fs::symlink("../../../../etc/hostname", t.path().join("a/up")).unwrap();
        for p in ["/a/abs", "/a/up", "/../../etc/hostname"] {
            let resolved = resolve_in_root(t.path(), p).unwrap();
            assert_eq!(resolved, t.path().join("etc/hostname"), "{p}");
            assert_eq!(read_in_root(t.path(), p).unwrap(), "inside\n");
        }
        std::os::unix::fs::symlink("loop", t.path().join("a/loop")).unwrap();
        assert!(resolve_in_root(t.path(), "/a/loop").is_err());
    }

    #[test]
    fn a_missing_main_file_or_include_is_a_fact() {
        let t = TempTree::new("container-missing");
        assert!(dump_from_root(t.path(), "/etc/nginx/nginx.conf").is_err());
        t.write("etc/nginx/nginx.conf", "include missing.conf;\nevents {}\n");
        assert!(matches!(
            dump_from_root(t.path(), "/etc/nginx/nginx.conf"),
            Err(Unknown::Failed { .. })
        ));
        // A wildcard that matches nothing is fine, as for nginx.
        t.write(
            "etc/nginx/nginx.conf",
            "include /etc/nginx/none/*.conf;\nevents {}\n",
        );
        assert!(dump_from_root(t.path(), "/etc/nginx/nginx.conf").is_ok());
    }

    #[test]
    fn the_master_is_found_by_its_renamed_command_line() {
        let info = ProcessInfo {
            argv: vec!["nginx: master process nginx -g daemon off;".into()],
            exe: None,
            parent: None,
        };
        let s = started(&info).unwrap();
        assert_eq!((s.conf, s.prefix), (None, None));
    }
}
