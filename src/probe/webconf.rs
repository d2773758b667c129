//! The web servers' own configuration, read on the host: `nginx -T` for the configuration the
//! running nginx was started with (its binary and `-c`/`-p` from the process holding port 80),
//! `apache2ctl -S` (or `apachectl -S`) and the virtual host files it names, and Caddy's
//! Caddyfile at its default path. A missing tool is `not-installed`, never an abort; every
//! output and file is capped.
//!
//! Caddy's admin API (localhost:2019) is not asked: Caddy obtains its own certificates, and
//! its Caddyfile already says which site answers; one less request made on the user's behalf.

use crate::facts::{
    ApacheConfig, ConfigFile, Listener, NginxConfig, Probed, Unknown, WebServerFacts,
};

use crate::webconf::apache::MAX_FILES;

/// Bytes read per configuration file.
pub(crate) const FILE_CAP: u64 = 512 * 1024;
/// Where Caddy's packages put the Caddyfile.
pub const CADDYFILE: &str = "/etc/caddy/Caddyfile";

/// What the web server probe needs of the system: commands and files, so tests can script
/// them.
pub trait WebSystem {
    /// Runs `program args`, returning stdout, or why not.
    fn run(&self, program: &str, args: &[&str]) -> Result<String, Unknown>;
    /// Reads a file, up to `cap` bytes.
    fn read(&self, path: &str, cap: u64) -> Result<String, Unknown>;
    /// A process's argv (`/proc/PID/cmdline`), its executable and its parent.
    fn process(&self, pid: u32) -> Option<ProcessInfo>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub argv: Vec<String>,
    pub exe: Option<String>,
    pub parent: Option<u32>,
}

/// The real system.
pub struct System;

impl WebSystem for System {
    fn run(&self, program: &str, args: &[&str]) -> Result<String, Unknown> {
        super::firewall::run_capped(program, args)
    }

    fn read(&self, path: &str, cap: u64) -> Result<String, Unknown> {
        use super::userfile::{Links, Skipped, open_regular};
        use std::io::Read;
        let mut text = Vec::new();
        // Links are followed (sites-enabled/ is made of them), but a FIFO or a device named
        // as a configuration file is never opened.
        let opened = match open_regular(std::path::Path::new(path), Links::Followed) {
            Ok((file, _)) => Ok(file),
            Err(Skipped::Missing) => Err(std::io::ErrorKind::NotFound.into()),
            Err(Skipped::Io(e)) => Err(e),
            Err(skipped) => return Err(Unknown::failed(format!("{path}: {skipped}"))),
        };
        opened
            .and_then(|f| f.take(cap).read_to_end(&mut text))
            .map_err(|e: std::io::Error| match e.kind() {
                std::io::ErrorKind::NotFound => Unknown::failed(format!("{path} does not exist")),
                std::io::ErrorKind::PermissionDenied => Unknown::PermissionDenied {
                    program: path.to_string(),
                    message: e.to_string(),
                },
                _ => Unknown::failed(format!("cannot read {path}: {e}")),
            })?;
        Ok(String::from_utf8_lossy(&text).into_owned())
    }

    fn process(&self, pid: u32) -> Option<ProcessInfo> {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let argv = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
            .ok()
            .map(|p| p.to_string_lossy().into_owned());
        let parent = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("PPid:"))
                    .and_then(|p| p.trim().parse().ok())
            });
        Some(ProcessInfo { argv, exe, parent })
    }
}

/// Every web server's configuration that can be read here.
pub fn web_server_facts(sys: &impl WebSystem, listeners: Option<&[Listener]>) -> WebServerFacts {
    WebServerFacts {
        nginx: nginx(sys, listeners),
        apache: apache(sys),
        caddy: caddy(sys),
    }
}

/// How the running nginx was started: its binary, and the `-c`/`-p` it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Started {
    pub(crate) binary: String,
    pub(crate) conf: Option<String>,
    pub(crate) prefix: Option<String>,
}

/// nginx renames its master to `nginx: master process <its command line>` and its workers to
/// `nginx: worker process`; a single-process nginx (`master_process off`) keeps its argv.
pub(crate) fn started(info: &ProcessInfo) -> Option<Started> {
    let words: Vec<String> = match info.argv.as_slice() {
        [one] if one.starts_with("nginx: master process ") => one
            .trim_start_matches("nginx: master process ")
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        [one] if one.starts_with("nginx: ") => return None,
        argv => argv.to_vec(),
    };
    let first = words.first()?;
    if !first
        .rsplit('/')
        .next()
        .is_some_and(|n| n.starts_with("nginx"))
    {
        return None;
    }
    let mut s = Started {
        binary: info.exe.clone().unwrap_or_else(|| first.clone()),
        conf: None,
        prefix: None,
    };
    let mut it = words.iter().skip(1);
    while let Some(w) = it.next() {
        match w.as_str() {
            "-c" => s.conf = it.next().cloned(),
            "-p" => s.prefix = it.next().cloned(),
            _ => {}
        }
    }
    // A deleted binary (upgraded under a running nginx) reads `/usr/sbin/nginx (deleted)`.
    if let Some(b) = s.binary.strip_suffix(" (deleted)") {
        s.binary = b.to_string();
    }
    Some(s)
}

/// The nginx holding port 80 or 443, when the listeners name one.
fn running(sys: &impl WebSystem, listeners: Option<&[Listener]>) -> Option<Started> {
    let pids = listeners?
        .iter()
        .filter_map(|l| l.process.as_ref())
        .filter(|p| p.name == "nginx")
        .map(|p| p.pid);
    for pid in pids {
        let Some(info) = sys.process(pid) else {
            continue;
        };
        if let Some(s) = started(&info) {
            return Some(s);
        }
        // A worker: its master knows the command line.
        if let Some(s) = info
            .parent
            .and_then(|ppid| sys.process(ppid))
            .and_then(|p| started(&p))
        {
            return Some(s);
        }
    }
    None
}

fn nginx(sys: &impl WebSystem, listeners: Option<&[Listener]>) -> Probed<NginxConfig> {
    // The effective configuration is the running nginx's. Where the sockets' owners cannot be
    // seen (not root), the default configuration is asked; where they can and none is nginx,
    // nginx is not what answers, and `nginx -T` (which opens its log files) is not run.
    let unseen = listeners.is_none_or(|ls| ls.iter().any(|l| l.process.is_none()));
    let s = match running(sys, listeners) {
        Some(s) => s,
        None if unseen => Started {
            binary: "nginx".into(),
            conf: None,
            prefix: None,
        },
        None => {
            return Probed::Unknown(Unknown::failed(
                "no nginx holds port 80 or 443 here: its configuration was not read",
            ));
        }
    };
    let mut args = vec!["-T"];
    if let Some(p) = &s.prefix {
        args.extend(["-p", p]);
    }
    if let Some(c) = &s.conf {
        args.extend(["-c", c]);
    }
    let command = format!("{} {}", s.binary, args.join(" "));
    match sys.run(&s.binary, &args) {
        Ok(dump) => Probed::Known(NginxConfig { command, dump }),
        Err(e) => Probed::Unknown(e),
    }
}

fn apache(sys: &impl WebSystem) -> Probed<ApacheConfig> {
    // Debian's name first, then the upstream one.
    let mut last = Unknown::NotInstalled {
        program: "apache2ctl".into(),
    };
    for program in ["apache2ctl", "apachectl"] {
        match sys.run(program, &["-S"]) {
            Ok(vhosts) => {
                let files = vhost_files(&vhosts)
                    .into_iter()
                    .take(MAX_FILES)
                    .map(|path| ConfigFile {
                        text: read_whole(sys, &path),
                        path,
                    })
                    .collect();
                return Probed::Known(ApacheConfig {
                    command: format!("{program} -S"),
                    vhosts,
                    files,
                });
            }
            Err(Unknown::NotInstalled { .. }) => continue,
            Err(e) => last = e,
        }
    }
    Probed::Unknown(last)
}

/// A configuration file, whole or not at all: one cut at the cap would read as a shorter
/// configuration than the server's.
fn read_whole(sys: &impl WebSystem, path: &str) -> Probed<String> {
    match sys.read(path, FILE_CAP + 1) {
        Ok(t) if t.len() as u64 > FILE_CAP => Probed::Unknown(Unknown::Unparsable {
            source: path.to_string(),
            at: format!("byte {FILE_CAP}"),
            message: "the file is longer than acme-doctor reads".into(),
            cap: Some(format!("{} KiB per file", FILE_CAP / 1024)),
        }),
        Ok(t) => Probed::Known(t),
        Err(e) => Probed::Unknown(e),
    }
}

/// The configuration files `-S` names: `(/etc/apache2/sites-enabled/shop.conf:1)`.
pub fn vhost_files(vhosts: &str) -> Vec<String> {
    let mut files: Vec<String> = Vec::new();
    for line in vhosts.lines() {
        let Some(inner) = line
            .rsplit_once('(')
            .and_then(|(_, r)| r.trim_end().strip_suffix(')'))
        else {
            continue;
        };
        let path = inner.rsplit_once(':').map_or(inner, |(p, _)| p);
        if path.starts_with('/') && !files.iter().any(|f| f == path) {
            files.push(path.to_string());
        }
    }
    files
}

fn caddy(sys: &impl WebSystem) -> Probed<ConfigFile> {
    match sys.read(CADDYFILE, FILE_CAP) {
        Ok(text) => Probed::Known(ConfigFile {
            path: CADDYFILE.into(),
            text: Probed::Known(text),
        }),
        Err(Unknown::PermissionDenied { program, message }) => {
            Probed::Unknown(Unknown::PermissionDenied { program, message })
        }
        // No Caddyfile where the packages put it: treated as no Caddy.
        Err(_) => Probed::Unknown(Unknown::NotInstalled {
            program: "caddy".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Family, Process};
    use std::collections::HashMap;

    #[test]
    fn a_fifo_named_as_a_config_file_is_refused_without_blocking() {
        let t = crate::probe::clients::testdir::TempTree::new("webconf-fifo");
        let fifo = t.path().join("site.conf");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let link = t.path().join("enabled.conf");
        let real = t.write("real.conf", "server {}\n");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = System.read(&fifo.to_string_lossy(), FILE_CAP).unwrap_err();
        assert!(err.to_string().contains("a FIFO"), "{err}");
        // Links are followed, as sites-enabled/ needs.
        assert_eq!(
            System.read(&link.to_string_lossy(), FILE_CAP).unwrap(),
            "server {}\n"
        );
    }

    /// A scripted system: commands and their output, files, processes.
    #[derive(Default)]
    struct Scripted {
        commands: HashMap<String, Result<String, Unknown>>,
        files: HashMap<String, String>,
        processes: HashMap<u32, ProcessInfo>,
    }

    impl WebSystem for Scripted {
        fn run(&self, program: &str, args: &[&str]) -> Result<String, Unknown> {
            let line = format!("{program} {}", args.join(" "));
            self.commands
                .get(&line)
                .cloned()
                .unwrap_or(Err(Unknown::NotInstalled {
                    program: program.to_string(),
                }))
        }

        fn read(&self, path: &str, cap: u64) -> Result<String, Unknown> {
            self.files
                .get(path)
                .map(|t| t.chars().take(cap as usize).collect())
                .ok_or_else(|| Unknown::failed(format!("{path} does not exist")))
        }

        fn process(&self, pid: u32) -> Option<ProcessInfo> {
            self.processes.get(&pid).cloned()
        }
    }

    fn nginx_on_80(pid: u32) -> Vec<Listener> {
        vec![Listener {
            family: Family::Ipv4,
            address: "0.0.0.0".parse().unwrap(),
            port: 80,
            v6only: None,
            process: Some(Process {
                pid,
                name: "nginx".into(),
            }),
        }]
    }

    #[test]
    fn nothing_installed_is_three_reasons_not_a_failure() {
        let facts = web_server_facts(&Scripted::default(), None);
        assert!(matches!(
            facts.nginx,
            Probed::Unknown(Unknown::NotInstalled { .. })
        ));
        assert!(matches!(
            facts.apache,
            Probed::Unknown(Unknown::NotInstalled { .. })
        ));
        assert!(matches!(
            facts.caddy,
            Probed::Unknown(Unknown::NotInstalled { .. })
        ));
    }

    #[test]
    fn the_running_nginx_is_asked_with_its_own_binary_and_config() {
        let mut sys = Scripted::default();
        // A worker holds the socket; its master was started with -c.
        sys.processes.insert(
            11,
            ProcessInfo {
                argv: vec!["nginx: worker process".into()],
                exe: Some("/usr/sbin/nginx".into()),
                parent: Some(10),
            },
        );
        sys.processes.insert(
            10,
            ProcessInfo {
                argv: vec![
                    "nginx: master process /usr/sbin/nginx -c /srv/nginx.conf -g daemon on;".into(),
                ],
                exe: Some("/usr/sbin/nginx".into()),
                parent: Some(1),
            },
        );
        sys.commands.insert(
            "/usr/sbin/nginx -T -c /srv/nginx.conf".into(),
            Ok("# configuration file /srv/nginx.conf:\nevents {}\n".into()),
        );
        let facts = web_server_facts(&sys, Some(&nginx_on_80(11)));
        let Probed::Known(n) = facts.nginx else {
            panic!("{:?}", facts.nginx)
        };
        assert_eq!(n.command, "/usr/sbin/nginx -T -c /srv/nginx.conf");
        // A single-process nginx keeps its argv.
        let info = ProcessInfo {
            argv: vec!["nginx".into(), "-c".into(), "/lab/nginx.conf".into()],
            exe: Some("/usr/sbin/nginx".into()),
            parent: None,
        };
        assert_eq!(
            started(&info).unwrap().conf.as_deref(),
            Some("/lab/nginx.conf")
        );
    }

    #[test]
    fn nginx_is_not_asked_when_another_server_holds_the_port() {
        let mut sys = Scripted::default();
        sys.commands
            .insert("nginx -T".into(), Ok("# configuration file /x:\n".into()));
        let mut apache = nginx_on_80(20);
        if let Some(p) = &mut apache[0].process {
            p.name = "apache2".into();
        }
        let facts = web_server_facts(&sys, Some(&apache));
        assert!(
            matches!(&facts.nginx, Probed::Unknown(Unknown::Failed { message }) if message.contains("no nginx")),
            "{:?}",
            facts.nginx
        );
        // Owners unseen (not root): the default configuration is asked.
        apache[0].process = None;
        assert!(
            web_server_facts(&sys, Some(&apache))
                .nginx
                .known()
                .is_some()
        );
    }

    #[test]
    fn apache_vhost_files_are_read_from_what_dash_s_names() {
        // `apache2ctl -S` on Debian 12 with the default site and one more.
        let s = "VirtualHost configuration:\n\
*:80                   is a NameVirtualHost\n\
         default server 127.0.1.1 (/etc/apache2/sites-enabled/000-default.conf:1)\n\
         port 80 namevhost 127.0.1.1 (/etc/apache2/sites-enabled/000-default.conf:1)\n\
         port 80 namevhost shop.example.com (/etc/apache2/sites-enabled/shop.conf:1)\n\
                 alias www.shop.example.com\n\
ServerRoot: \"/etc/apache2\"\n\
Main DocumentRoot: \"/var/www/html\"\n";
        assert_eq!(
            vhost_files(s),
            [
                "/etc/apache2/sites-enabled/000-default.conf",
                "/etc/apache2/sites-enabled/shop.conf"
            ]
        );
        let mut sys = Scripted::default();
        sys.commands.insert("apache2ctl -S".into(), Ok(s.into()));
        sys.files.insert(
            "/etc/apache2/sites-enabled/shop.conf".into(),
            "<VirtualHost *:80>\n</VirtualHost>\n".into(),
        );
        let Probed::Known(a) = web_server_facts(&sys, None).apache else {
            panic!()
        };
        assert_eq!(a.files.len(), 2);
        assert!(a.files[0].text.unknown().is_some());
        assert!(a.files[1].text.known().is_some());
    }

    #[test]
    fn an_apache_file_over_the_cap_is_not_read_in_part() {
        let s = "VirtualHost configuration:\n\
*:80                   is a NameVirtualHost\n\
         port 80 namevhost big.example.com (/etc/apache2/sites-enabled/big.conf:1)\n";
        let mut sys = Scripted::default();
        sys.commands.insert("apache2ctl -S".into(), Ok(s.into()));
        let mut big = String::from("<VirtualHost *:80>\n");
        while big.len() as u64 <= FILE_CAP {
            big.push_str("Header set X-Filler \"0123456789abcdef\"\n");
        }
        big.push_str("DocumentRoot /srv/elsewhere\n</VirtualHost>\n");
        sys.files
            .insert("/etc/apache2/sites-enabled/big.conf".into(), big);
        let Probed::Known(a) = web_server_facts(&sys, None).apache else {
            panic!()
        };
        assert!(
            matches!(
                a.files[0].text.unknown(),
                Some(Unknown::Unparsable { cap: Some(cap), at, .. })
                    if cap == "512 KiB per file" && at == "byte 524288"
            ),
            "{:?}",
            a.files[0].text.unknown()
        );
    }
}
