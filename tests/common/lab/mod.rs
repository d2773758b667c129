//! The lab: real networks in Linux network namespaces, made and removed by the test itself.
//!
//! Topology (all addresses from the documentation ranges, existing only inside these
//! namespaces):
//!
//!   host (the server)          router                      outside (the CA's view)
//!   h0 192.0.2.10/24      ---  rh 192.0.2.1   ro 198.51.100.1   ---  o0 198.51.100.10/24
//!      2001:db8:2::10/64          2001:db8:2::1   2001:db8:51::1        2001:db8:51::10/64
//!                              lo 203.0.113.53, 2001:db8:53::53 (dnsmasq: the lab zone)
//!
//! Teardown kills the processes the lab started, by pid, then deletes its namespaces by name,
//! in `Drop`, so it runs when a test fails too.

use super::Run;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const HOST_V4: &str = "192.0.2.10";
pub const HOST_V6: &str = "2001:db8:2::10";
pub const RESOLVER: &str = "203.0.113.53";
pub const DOMAIN: &str = "example.test";

static NEXT: AtomicU32 = AtomicU32::new(0);

pub fn tool_exists(tool: &str) -> bool {
    [
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
        "/usr/local/sbin",
        "/usr/local/bin",
    ]
    .iter()
    .any(|dir| Path::new(dir).join(tool).exists())
}

/// What a scenario changes from the healthy dual-stack lab.
#[derive(Clone, Debug)]
pub struct Setup {
    /// `--host-record` values for dnsmasq: `name,addr[,addr]`.
    pub host_records: Vec<String>,
    /// nginx `listen` lines for port 80.
    pub listen: Vec<String>,
    /// Whether nginx runs at all.
    pub nginx: bool,
    /// More lines for nginx's server block (locations, returns).
    pub nginx_extra: Vec<String>,
    /// Commands run inside the host namespace after it is up (sysctls, firewall rules).
    pub host_commands: Vec<Vec<String>>,
    /// Commands run inside the router namespace after it is up (routes).
    pub router_commands: Vec<Vec<String>>,
    /// More dnsmasq options (records of other types).
    pub dns_extra: Vec<String>,
    /// Rulesets loaded in the host namespace: (loader command, file content), e.g.
    /// (`nft -f`, an nft script) or (`iptables-legacy-restore`, an iptables-save dump).
    pub rulesets: Vec<(String, String)>,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            host_records: vec![format!("{DOMAIN},{HOST_V4},{HOST_V6}")],
            listen: vec!["listen 80;".into(), "listen [::]:80;".into()],
            nginx: true,
            nginx_extra: Vec::new(),
            host_commands: Vec::new(),
            router_commands: Vec::new(),
            dns_extra: Vec::new(),
            rulesets: Vec::new(),
        }
    }
}

pub struct Lab {
    pub host: String,
    pub router: String,
    pub outside: String,
    namespaces: Vec<String>,
    /// Processes started in the lab, with the log name they were started under.
    children: Vec<(String, Child)>,
    pub dir: PathBuf,
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn ip(args: &[&str]) -> Result<String, String> {
    run(Command::new("ip").args(args))
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes namespaces left by an earlier test process of ours that was killed before its
/// teardown ran: only names with our prefix whose owning pid no longer exists.
fn sweep_stale() {
    let Ok(list) = ip(&["netns", "list"]) else {
        return;
    };
    for line in list.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix("adl") else {
            continue;
        };
        let Some(pid) = rest.split('x').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !pid_alive(pid) {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

impl Lab {
    pub fn start(setup: &Setup) -> Lab {
        sweep_stale();
        let id = format!(
            "adl{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(&id);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create lab dir");
        let mut lab = Lab {
            host: format!("{id}h"),
            router: format!("{id}r"),
            outside: format!("{id}o"),
            namespaces: Vec::new(),
            children: Vec::new(),
            dir,
        };
        // Any error from here on drops `lab`, which tears down what was made so far.
        if let Err(e) = lab.build(setup) {
            panic!("lab setup failed: {e}");
        }
        lab
    }

    fn exec(&self, ns: &str, args: &[&str]) -> Result<String, String> {
        run(Command::new("ip").args(["netns", "exec", ns]).args(args))
    }

    pub fn host_exec(&self, args: &[&str]) -> Result<String, String> {
        self.exec(&self.host, args)
    }

    fn spawn(&mut self, ns: &str, args: &[&str], log: &str) -> Result<(), String> {
        self.spawn_with_env(ns, args, &[], log)
    }

    /// Starts a long-running process inside a namespace; teardown kills it by pid.
    fn spawn_with_env(
        &mut self,
        ns: &str,
        args: &[&str],
        env: &[(&str, &str)],
        log: &str,
    ) -> Result<(), String> {
        let log_file = std::fs::File::create(self.dir.join(log)).map_err(|e| e.to_string())?;
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("spawn {args:?}: {e}"))?;
        self.children.push((log.to_string(), child));
        Ok(())
    }

    fn build(&mut self, setup: &Setup) -> Result<(), String> {
        for ns in [self.host.clone(), self.router.clone(), self.outside.clone()] {
            ip(&["netns", "add", &ns])?;
            self.namespaces.push(ns.clone());
            // No duplicate address detection: otherwise the first IPv6 packets are lost while
            // addresses are tentative, and a healthy path looks like a timeout.
            self.exec(
                &ns,
                &[
                    "sysctl",
                    "-qw",
                    "net.ipv6.conf.all.accept_dad=0",
                    "net.ipv6.conf.default.accept_dad=0",
                ],
            )?;
            self.exec(&ns, &["ip", "link", "set", "lo", "up"])?;
        }
        let (h, r, o) = (self.host.clone(), self.router.clone(), self.outside.clone());
        ip(&[
            "link", "add", "h0", "netns", &h, "type", "veth", "peer", "name", "rh", "netns", &r,
        ])?;
        ip(&[
            "link", "add", "o0", "netns", &o, "type", "veth", "peer", "name", "ro", "netns", &r,
        ])?;
        // veths are born in the root namespace and keep its defaults: switch DAD off on each
        // device too, before it comes up.
        for (ns, dev) in [(&h, "h0"), (&r, "rh"), (&r, "ro"), (&o, "o0")] {
            self.exec(
                ns,
                &[
                    "sysctl",
                    "-qw",
                    &format!("net.ipv6.conf.{dev}.accept_dad=0"),
                ],
            )?;
        }
        // The host and the outside are alike: an address per family on their veth, default
        // routes through the router.
        let end_host = |dev: &str, v4: &str, v6: &str, gw4: &str, gw6: &str| {
            vec![
                format!("ip addr add {v4} dev {dev}"),
                format!("ip addr add {v6} dev {dev} nodad"),
                format!("ip link set {dev} up"),
                format!("ip route add default via {gw4}"),
                format!("ip -6 route add default via {gw6}"),
            ]
        };
        let router = [
            "sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1",
            "ip addr add 192.0.2.1/24 dev rh",
            "ip addr add 2001:db8:2::1/64 dev rh nodad",
            "ip addr add 198.51.100.1/24 dev ro",
            "ip addr add 2001:db8:51::1/64 dev ro nodad",
            "ip addr add 203.0.113.53/32 dev lo",
            "ip addr add 2001:db8:53::53/128 dev lo",
            "ip link set rh up",
            "ip link set ro up",
        ];
        let steps: Vec<(&String, String)> = end_host(
            "h0",
            "192.0.2.10/24",
            "2001:db8:2::10/64",
            "192.0.2.1",
            "2001:db8:2::1",
        )
        .into_iter()
        .map(|c| (&h, c))
        .chain(router.iter().map(|c| (&r, c.to_string())))
        .chain(
            end_host(
                "o0",
                "198.51.100.10/24",
                "2001:db8:51::10/64",
                "198.51.100.1",
                "2001:db8:51::1",
            )
            .into_iter()
            .map(|c| (&o, c)),
        )
        .collect();
        for (ns, command) in &steps {
            let args: Vec<&str> = command.split_whitespace().collect();
            self.exec(ns, &args)?;
        }
        self.wait_until("IPv6 addresses usable", |lab| {
            [&lab.host, &lab.router, &lab.outside].iter().all(|ns| {
                lab.exec(ns, &["ip", "-6", "addr", "show", "tentative"])
                    .is_ok_and(|o| o.trim().is_empty())
            })
        })?;
        // In fresh namespaces the first IPv6 packet forwarded to the host waits a full second
        // for neighbour discovery (measured: the first connect from outside takes 1.0 s, the
        // next 0 ms). Real routers have warm caches: warm these with one refused connect to a
        // closed port, so that timings in the lab are the tool's, not this artifact's.
        for addr in [HOST_V6, HOST_V4] {
            let probe = format!("exec 3<>/dev/tcp/{addr}/9");
            let _ = self.exec(&o, &["timeout", "3", "bash", "-c", &probe]);
        }

        let mut dnsmasq: Vec<String> = [
            "dnsmasq",
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--listen-address=203.0.113.53",
            "--listen-address=2001:db8:53::53",
            "--port=53",
            "--local=/test/",
            "--pid-file=",
            "--user=root",
            "--group=root",
            "--log-facility=-",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for record in &setup.host_records {
            dnsmasq.push(format!("--host-record={record}"));
        }
        dnsmasq.extend(setup.dns_extra.iter().cloned());
        let args: Vec<&str> = dnsmasq.iter().map(String::as_str).collect();
        self.spawn(&r, &args, "dnsmasq.log")?;
        self.wait_until("dnsmasq listening", |lab| {
            lab.exec(&lab.router, &["ss", "-Hlnu", "sport = :53"])
                .is_ok_and(|o| !o.trim().is_empty())
                && lab
                    .exec(&lab.router, &["ss", "-Hlnt", "sport = :53"])
                    .is_ok_and(|o| !o.trim().is_empty())
        })?;

        for (n, (loader, content)) in setup.rulesets.iter().enumerate() {
            let file = self.dir.join(format!("ruleset-{n}.rules"));
            std::fs::write(&file, content).map_err(|e| e.to_string())?;
            let file = file.to_string_lossy().into_owned();
            let mut args: Vec<&str> = loader.split_whitespace().collect();
            args.push(&file);
            self.exec(&h, &args)?;
        }
        for (ns, cmds) in [(&h, &setup.host_commands), (&r, &setup.router_commands)] {
            for cmd in cmds {
                let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
                self.exec(ns, &args)?;
            }
        }

        // The webroot exists whether or not nginx serves it: lego writes the token there.
        std::fs::create_dir_all(self.dir.join("www/.well-known/acme-challenge"))
            .map_err(|e| e.to_string())?;
        if setup.nginx {
            let conf = self.nginx_conf(&setup.listen, &setup.nginx_extra)?;
            let conf = conf.to_string_lossy().into_owned();
            self.spawn(&h, &["nginx", "-c", &conf], "nginx.log")?;
            self.wait_until("nginx listening", |lab| {
                lab.exec(&lab.host, &["ss", "-Hltn", "sport = :80"])
                    .is_ok_and(|o| !o.trim().is_empty())
            })?;
        }
        Ok(())
    }

    fn nginx_conf(&self, listen: &[String], extra: &[String]) -> Result<PathBuf, String> {
        let d = self.dir.display();
        let www = self.dir.join("www");
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/cb;\n  proxy_temp_path {d}/px;\n  fastcgi_temp_path {d}/fc;\n  uwsgi_temp_path {d}/uw;\n  scgi_temp_path {d}/sc;\n\
               server {{\n    {}\n    server_name _;\n    root {};\n    {}\n    location / {{ try_files $uri =404; }}\n  }}\n}}\n",
            listen.join("\n    "),
            www.display(),
            extra.join("\n    ")
        );
        let path = self.dir.join("nginx.conf");
        std::fs::write(&path, conf).map_err(|e| e.to_string())?;
        Ok(path)
    }

    fn wait_until(&self, what: &str, ready: impl Fn(&Lab) -> bool) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if ready(self) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let logs = std::fs::read_dir(&self.dir)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
                    .map(|e| {
                        format!(
                            "{}: {}",
                            e.file_name().to_string_lossy(),
                            std::fs::read_to_string(e.path()).unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default();
        Err(format!("timed out waiting for {what}\n{logs}"))
    }

    /// Runs acme-doctor inside a namespace of this lab, against the lab's resolver, with the
    /// lab's documentation addresses standing in for public ones.
    pub fn acme_doctor(&self, ns: &str, label: &str, extra: &[&str]) -> Run {
        let mut args = vec!["--allow-reserved"];
        args.extend_from_slice(extra);
        self.acme_doctor_as_ca_sees_it(ns, label, &args)
    }

    /// Like [`Lab::acme_doctor`] without `--allow-reserved`: the lab's addresses count as the
    /// reserved addresses they are.
    pub fn acme_doctor_as_ca_sees_it(&self, ns: &str, label: &str, extra: &[&str]) -> Run {
        let mut args: Vec<String> = super::capture_args(label);
        args.extend(extra.iter().map(|s| s.to_string()));
        run_command(&self.command_line(ns, &[], super::BIN, &args))
    }

    /// `ip netns exec NS [WRAPPER…] PROGRAM --resolver … --timeout 2s EXTRA…`: how every
    /// acme-doctor run in the lab starts.
    fn command_line(
        &self,
        ns: &str,
        wrapper: &[&str],
        program: &str,
        extra: &[String],
    ) -> Vec<String> {
        ["ip", "netns", "exec", ns]
            .into_iter()
            .chain(wrapper.iter().copied())
            .chain([program, "--resolver", RESOLVER, "--timeout", "2s"])
            .map(str::to_string)
            .chain(extra.iter().cloned())
            .collect()
    }
}

/// The lab's documentation addresses stand in for public ones.
fn allow_reserved(extra: &[&str]) -> Vec<String> {
    std::iter::once("--allow-reserved")
        .chain(extra.iter().copied())
        .map(str::to_string)
        .collect()
}

fn run_command(args: &[String]) -> Run {
    Command::new(&args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .expect("run acme-doctor in the lab")
        .into()
}

impl Lab {
    /// The pid of a process the lab started (by its log name, e.g. `pebble.log`).
    pub fn pid_of(&self, log: &str) -> Option<u32> {
        self.children
            .iter()
            .find(|(l, _)| l == log)
            .map(|(_, c)| c.id())
    }

    /// The command line that runs acme-doctor in a namespace of the lab, for tools that
    /// start it themselves (the benchmark measures it).
    pub fn acme_doctor_command(&self, ns: &str, extra: &[&str]) -> Vec<String> {
        let extra = allow_reserved(extra);
        self.command_line(ns, &[], super::BIN, &extra)
    }
}

impl Lab {
    /// Runs acme-doctor in a namespace as an unprivileged user (nobody), from a copy of the
    /// binary that user can read.
    pub fn acme_doctor_unprivileged(&self, ns: &str, extra: &[&str]) -> Run {
        use std::os::unix::fs::PermissionsExt;
        let copy = self.dir.join("acme-doctor");
        std::fs::copy(super::BIN, &copy).expect("copy the binary into the lab");
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let _ = std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o755));
        let copy = copy.to_string_lossy().into_owned();
        let extra = allow_reserved(extra);
        let setpriv = [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ];
        run_command(&self.command_line(ns, &setpriv, &copy, &extra))
    }
}

/// What the real CA did: Pebble validating for lego.
#[derive(Debug, Clone)]
pub struct RealOutcome {
    pub issued: bool,
    /// The CA's error as lego printed it, when it failed.
    pub error: String,
    pub elapsed: Duration,
}

/// Where Pebble listens, in the outside namespace.
pub const PEBBLE_DIR_URL: &str = "https://198.51.100.10:14000/dir";

impl Lab {
    /// Starts Pebble (the real ACME test CA) in the outside namespace, validating on ports 80
    /// and 443 and resolving through the lab's DNS. Its API certificate is made here.
    pub fn start_pebble(&mut self) -> Result<(), String> {
        let d = self.dir.clone();
        let p = |name: &str| d.join(name).to_string_lossy().into_owned();
        std::fs::write(d.join("ext.cnf"), "subjectAltName=IP:198.51.100.10\n")
            .map_err(|e| e.to_string())?;
        let openssl = |args: &[&str]| run(Command::new("openssl").args(args)).map(|_| ());
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &p("ca.key"),
            "-out",
            &p("ca.pem"),
            "-days",
            "2",
            "-subj",
            "/CN=acme-doctor lab CA",
        ])?;
        openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &p("pebble.key"),
            "-out",
            &p("pebble.csr"),
            "-subj",
            "/CN=pebble",
        ])?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            &p("pebble.csr"),
            "-CA",
            &p("ca.pem"),
            "-CAkey",
            &p("ca.key"),
            "-CAcreateserial",
            "-out",
            &p("pebble.pem"),
            "-days",
            "2",
            "-extfile",
            &p("ext.cnf"),
        ])?;
        let config = format!(
            r#"{{"pebble": {{"listenAddress": "198.51.100.10:14000", "managementListenAddress": "127.0.0.1:15000",
            "certificate": "{}", "privateKey": "{}", "httpPort": 80, "tlsPort": 443,
            "ocspResponderURL": "", "externalAccountBindingRequired": false}}}}"#,
            p("pebble.pem"),
            p("pebble.key")
        );
        std::fs::write(d.join("pebble.json"), config).map_err(|e| e.to_string())?;
        let outside = self.outside.clone();
        let dns = format!("{RESOLVER}:53");
        let config_path = p("pebble.json");
        self.spawn_with_env(
            &outside,
            &["pebble", "-config", &config_path, "-dnsserver", &dns],
            &[
                ("PEBBLE_VA_NOSLEEP", "1"),
                ("PEBBLE_WFE_NONCEREJECT", "0"),
                ("PEBBLE_AUTHZREUSE", "0"),
            ],
            "pebble.log",
        )?;
        self.wait_until("pebble listening", |lab| {
            lab.exec(&lab.outside, &["ss", "-Hltn", "sport = :14000"])
                .is_ok_and(|o| !o.trim().is_empty())
        })
    }

    /// A real ACME validation: lego, in the host namespace, asks Pebble for a certificate for
    /// `domain` with http-01 through nginx's webroot. Bounded in time; lego is killed by pid.
    pub fn real_validation(&self, domain: &str) -> RealOutcome {
        let started = Instant::now();
        let log = self.dir.join(format!("lego-{domain}.log"));
        let www = self.dir.join("www").to_string_lossy().into_owned();
        let path = self.dir.join("lego").to_string_lossy().into_owned();
        let spawned = std::fs::File::create(&log).and_then(|f| {
            Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &self.host,
                    "lego",
                    "--server",
                    PEBBLE_DIR_URL,
                    "--accept-tos",
                    "--email",
                    "lab@example.test",
                    "--domains",
                    domain,
                    "--http",
                    "--http.webroot",
                    &www,
                    "--path",
                    &path,
                    "run",
                ])
                .env("LEGO_CA_CERTIFICATES", self.dir.join("ca.pem"))
                .stdin(Stdio::null())
                .stdout(f.try_clone()?)
                .stderr(f)
                .spawn()
        });
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                return RealOutcome {
                    issued: false,
                    error: format!("could not start lego: {e}"),
                    elapsed: started.elapsed(),
                };
            }
        };
        let status = wait_or_kill(&mut child, started + Duration::from_secs(90));
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        // Success is a certificate on disk, not only lego's exit status.
        let cert = self.dir.join(format!("lego/certificates/{domain}.crt"));
        let issued = status.is_some_and(|s| s.success()) && cert.exists();
        let error = if issued {
            String::new()
        } else if status.is_none() {
            "lego did not finish within 90 s".to_string()
        } else {
            text.lines()
                .rev()
                .find(|l| l.contains("error") || l.contains("Error"))
                .map(|l| l.trim().to_string())
                .unwrap_or_else(|| format!("lego failed without an error line: {}", text.trim()))
        };
        RealOutcome {
            issued,
            error,
            elapsed: started.elapsed(),
        }
    }
}

/// Waits for a child of ours until `deadline`, then kills it (by its own pid) and reaps it.
/// `None` when it had to be killed or could not be waited for.
fn wait_or_kill(child: &mut Child, deadline: Instant) -> Option<std::process::ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => return None,
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        for (_, child) in &mut self.children {
            let _ = wait_or_kill(child, Instant::now() + Duration::from_secs(3));
        }
        for ns in self.namespaces.iter().rev() {
            let _ = ip(&["netns", "del", ns]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
