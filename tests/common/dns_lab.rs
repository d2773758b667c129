//! The DNS lab: real DNS software in one network namespace the test creates (root), so that
//! the CAA, DNSSEC, authoritative-view and DNS-01 checks are held to what real servers answer.
//!
//! Everything listens on the namespace's loopback, on documentation addresses only:
//!
//!   203.0.113.10  2001:db8:53::10  nsd: the parent zone `test.` (delegates example.test with
//!                                  glue; the DS of example.test when signed; other.test names)
//!   203.0.113.11  2001:db8:53::11  nsd "ns1": example.test, its own zone file
//!   203.0.113.12  2001:db8:53::12  nsd "ns2": example.test, its own zone file (may disagree)
//!   203.0.113.13                   nsd: sub.example.test, delegated from example.test; an nft
//!                                  rule drops the CAA queries sent to it (they time out)
//!   203.0.113.53  2001:db8:53::53  unbound: the validating recursive resolver (the CA's view);
//!                                  `test.` is a stub zone to the parent server, root hints name
//!                                  only the parent server, trust anchor = the DS of `test.`
//!   203.0.113.54                   dnsmasq: a stale local resolver (old A/AAAA, the rest
//!                                  forwarded to unbound)
//!
//! A fresh namespace has no route anywhere but its own loopback; [`DnsLab::start`] checks that.
//! Teardown kills every process the lab started by pid, then whatever is still inside its
//! namespace (by the namespace's pid list, never by name), then deletes the namespace by name,
//! in `Drop`, so it runs when a test fails too. Namespaces left by a killed test process are
//! swept the same way on the next start.

use super::lab::tool_exists;
use super::{BIN, Run, announce_skip, in_ci, is_root};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const PARENT: &str = "203.0.113.10";
pub const NS1: &str = "203.0.113.11";
pub const NS2: &str = "203.0.113.12";
pub const SUB_NS: &str = "203.0.113.13";
pub const RESOLVER: &str = "203.0.113.53";
pub const STALE_RESOLVER: &str = "203.0.113.54";
pub const PARENT6: &str = "2001:db8:53::10";
pub const NS1_6: &str = "2001:db8:53::11";
pub const NS2_6: &str = "2001:db8:53::12";
pub const RESOLVER6: &str = "2001:db8:53::53";

/// Every address a lab nameserver may answer from (unbound names one in its EDE texts).
pub const NAMESERVER_ADDRS: &[&str] = &[PARENT, NS1, NS2, SUB_NS, PARENT6, NS1_6, NS2_6];

/// The expected DNS-01 value: 43 characters of base64url, as a real key authorization digest.
pub const TXT_VALUE: &str = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";

/// Which signatures the lab's zones carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dnssec {
    /// Nothing signed; unbound has no trust anchor, so every answer is insecure.
    Off,
    /// `test.` and `example.test.` signed, the parent holds the right DS.
    Valid,
    /// As `Valid`, but example.test's signatures expired (`ldns-signzone -e`/`-i` in the past).
    Expired,
    /// As `Valid`, but the parent's DS is of another key (the stale DS after a DNS move).
    WrongDs,
}

/// What one scenario serves.
#[derive(Clone, Debug)]
pub struct DnsSetup {
    /// Records of `example.test.` on ns1, one zone-file line each, names relative to the zone
    /// (SOA, NS and the nameservers' addresses are always there).
    pub ns1: Vec<String>,
    /// The same for ns2.
    pub ns2: Vec<String>,
    /// SOA serials of ns1 and ns2.
    pub serials: (u32, u32),
    /// More records for the parent zone `test.`, names relative to `test.`.
    pub parent: Vec<String>,
    pub dnssec: Dnssec,
    /// Records of the delegated `sub.example.test.` (relative), served on 203.0.113.13, which
    /// never answers a CAA query. `None`: no such subzone.
    pub sub: Option<Vec<String>>,
    /// `--host-record` values of the stale resolver on 203.0.113.54. Empty: not started.
    pub stale: Vec<String>,
}

/// example.test's own addresses in the healthy lab.
pub const BASE: &[&str] = &["@ A 192.0.2.10", "@ AAAA 2001:db8:2::10"];

impl DnsSetup {
    /// Both servers serve `BASE` plus `records`, with the same serial; unsigned.
    pub fn zone(records: &[&str]) -> DnsSetup {
        let lines: Vec<String> = BASE.iter().chain(records).map(|s| s.to_string()).collect();
        DnsSetup {
            ns1: lines.clone(),
            ns2: lines,
            serials: (2024010101, 2024010101),
            parent: Vec::new(),
            dnssec: Dnssec::Off,
            sub: None,
            stale: Vec::new(),
        }
    }

    /// The challenge TXT in place and nothing else wrong.
    pub fn healthy() -> DnsSetup {
        DnsSetup::zone(&[&challenge_txt()])
    }
}

/// `_acme-challenge TXT "<TXT_VALUE>"`, relative to example.test.
pub fn challenge_txt() -> String {
    format!("_acme-challenge TXT \"{TXT_VALUE}\"")
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Whether the DNS lab tier can run here. Under CI=true a lab that cannot run is a failure;
/// elsewhere the skip is announced on stderr.
pub fn dns_lab_available(test: &str) -> bool {
    let missing: Vec<&str> = [
        "ip",
        "sysctl",
        "nft",
        "nsd",
        "unbound",
        "ldns-keygen",
        "ldns-signzone",
        "dig",
        "dnsmasq",
    ]
    .into_iter()
    .filter(|tool| !tool_exists(tool))
    .collect();
    let why = if !is_root() {
        "not root (the DNS lab creates a network namespace)".to_string()
    } else if !missing.is_empty() {
        format!("missing tools: {}", missing.join(", "))
    } else {
        return true;
    };
    if in_ci() {
        panic!("DNS lab tier cannot run under CI=true: {why}");
    }
    announce_skip(&format!("DNS lab tier ({test})"), &why);
    false
}

pub struct DnsLab {
    pub ns: String,
    pub dir: PathBuf,
    made_ns: bool,
    /// Processes started in the lab, with the name of their log file.
    children: Vec<(String, Child)>,
    setup: DnsSetup,
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}): {} {}",
            out.status,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn ip(args: &[&str]) -> Result<String, String> {
    run(Command::new("ip").args(args))
}

fn signal(pid: u32, sig: nix::sys::signal::Signal) {
    if let Ok(raw) = i32::try_from(pid) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), sig);
    }
}

/// The pids of the processes inside a namespace, from `ip netns pids`.
fn pids_in(ns: &str) -> Vec<u32> {
    ip(&["netns", "pids", ns])
        .map(|o| o.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// Stops what runs inside a namespace of ours (by pid), then deletes the namespace by name.
fn remove_namespace(ns: &str) {
    for sig in [
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGKILL,
    ] {
        let pids = pids_in(ns);
        if pids.is_empty() {
            break;
        }
        for pid in pids {
            signal(pid, sig);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline && !pids_in(ns).is_empty() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let _ = ip(&["netns", "del", ns]);
}

/// Removes namespaces left by an earlier DNS-lab test process that was killed before its
/// teardown ran: only names with our prefix whose owning pid no longer exists.
fn sweep_stale() {
    let Ok(list) = ip(&["netns", "list"]) else {
        return;
    };
    for line in list.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix("adn") else {
            continue;
        };
        let Some(pid) = rest.split('x').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            remove_namespace(name);
        }
    }
}

/// The namespace names this test process owns that still exist (empty after teardown).
pub fn own_namespaces_left() -> Vec<String> {
    let prefix = format!("adn{}x", std::process::id());
    ip(&["netns", "list"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}

impl DnsLab {
    pub fn start(setup: &DnsSetup) -> DnsLab {
        sweep_stale();
        let id = format!(
            "adn{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(&id);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create DNS lab dir");
        let mut lab = DnsLab {
            ns: id,
            dir,
            made_ns: false,
            children: Vec::new(),
            setup: setup.clone(),
        };
        // Any error from here on drops `lab`, which tears down what was made so far.
        if let Err(e) = lab.build() {
            panic!("DNS lab setup failed: {e}");
        }
        lab
    }

    fn exec(&self, args: &[&str]) -> Result<String, String> {
        run(Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .args(args))
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    fn write(&self, name: &str, text: &str) -> Result<String, String> {
        std::fs::write(self.dir.join(name), text).map_err(|e| format!("write {name}: {e}"))?;
        Ok(self.path(name))
    }

    fn build(&mut self) -> Result<(), String> {
        self.build_namespace()?;
        let setup = self.setup.clone();
        let zones = self.write_zones(&setup)?;
        self.start_nsd("parent", &[PARENT, PARENT6], &[("test.", &zones.parent)])?;
        self.start_nsd("ns1", &[NS1, NS1_6], &[("example.test.", &zones.ns1)])?;
        self.start_nsd("ns2", &[NS2, NS2_6], &[("example.test.", &zones.ns2)])?;
        if let Some(sub) = &zones.sub {
            self.start_nsd("sub", &[SUB_NS], &[("sub.example.test.", sub)])?;
            self.drop_caa_queries_to_subzone()?;
        }
        self.write_unbound_conf(zones.trust_anchor.as_deref())?;
        self.start_unbound()?;
        if !setup.stale.is_empty() {
            self.start_stale_resolver(&setup.stale)?;
        }
        Ok(())
    }

    /// The namespace, DAD off, loopback up with the lab's addresses; and proof that nothing
    /// leaves it: no default route, and no route to a public address.
    fn build_namespace(&mut self) -> Result<(), String> {
        ip(&["netns", "add", &self.ns])?;
        self.made_ns = true;
        self.exec(&[
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.accept_dad=0",
            "net.ipv6.conf.default.accept_dad=0",
            "net.ipv6.conf.lo.accept_dad=0",
        ])?;
        self.exec(&["ip", "link", "set", "lo", "up"])?;
        for addr in [PARENT, NS1, NS2, SUB_NS, RESOLVER, STALE_RESOLVER] {
            self.exec(&["ip", "addr", "add", &format!("{addr}/32"), "dev", "lo"])?;
        }
        for addr in [PARENT6, NS1_6, NS2_6, RESOLVER6] {
            self.exec(&[
                "ip",
                "addr",
                "add",
                &format!("{addr}/128"),
                "dev",
                "lo",
                "nodad",
            ])?;
        }
        let v4 = self.exec(&["ip", "-4", "route", "show", "default"])?;
        let v6 = self.exec(&["ip", "-6", "route", "show", "default"])?;
        if !v4.trim().is_empty() || !v6.trim().is_empty() {
            return Err(format!("the namespace has a default route: {v4} {v6}"));
        }
        // A documentation address outside the lab stands in for "anywhere".
        for outside in ["198.51.100.1", "2001:db8:ffff::1"] {
            if self.exec(&["ip", "route", "get", outside]).is_ok() {
                return Err(format!("the namespace has a route to {outside}"));
            }
        }
        Ok(())
    }

    /// Starts a long-running process inside the namespace; teardown stops it by pid.
    fn spawn(&mut self, args: &[&str], log: &str) -> Result<(), String> {
        let log_file = std::fs::File::create(self.dir.join(log)).map_err(|e| e.to_string())?;
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("spawn {args:?}: {e}"))?;
        self.children.push((log.to_string(), child));
        Ok(())
    }

    /// Stops one process the lab started (by its log name), by pid.
    fn stop(&mut self, log: &str) {
        if let Some(i) = self.children.iter().position(|(l, _)| l == log) {
            let (_, mut child) = self.children.remove(i);
            signal(child.id(), nix::sys::signal::Signal::SIGTERM);
            wait_or_kill(&mut child, Instant::now() + Duration::from_secs(3));
        }
    }

    fn wait_until(&self, what: &str, ready: impl Fn(&DnsLab) -> bool) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if ready(self) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(25));
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

    /// `dig @server ARGS` inside the namespace, one try of 2 s; the whole output.
    pub fn dig(&self, server: &str, args: &str) -> String {
        let mut cmd = vec!["dig", "+time=2", "+tries=1"];
        let at = format!("@{server}");
        cmd.insert(1, &at);
        cmd.extend(args.split_whitespace());
        match self.exec(&cmd) {
            Ok(out) => out,
            // dig exits 9 when no server answered; its output still says so.
            Err(e) => e,
        }
    }

    fn answers(&self, server: &str, query: &str) -> bool {
        self.dig(server, query).contains("status: ")
    }

    /// Writes every zone file, signing when the scenario asks.
    fn write_zones(&self, setup: &DnsSetup) -> Result<Zones, String> {
        let mut parent = format!(
            "$ORIGIN test.\n$TTL 300\n\
             @ SOA ns.test. hostmaster.test. 1 3600 600 86400 300\n\
             @ NS ns.test.\n\
             ns A {PARENT}\nns AAAA {PARENT6}\n\
             example NS ns1.example.test.\nexample NS ns2.example.test.\n\
             ns1.example A {NS1}\nns1.example AAAA {NS1_6}\n\
             ns2.example A {NS2}\nns2.example AAAA {NS2_6}\n"
        );
        for line in &setup.parent {
            parent += line;
            parent.push('\n');
        }
        let child = |records: &[String], serial: u32| {
            let mut z = format!(
                "$ORIGIN example.test.\n$TTL 300\n\
                 @ SOA ns1.example.test. hostmaster.example.test. {serial} 3600 600 86400 300\n\
                 @ NS ns1.example.test.\n@ NS ns2.example.test.\n\
                 ns1 A {NS1}\nns1 AAAA {NS1_6}\nns2 A {NS2}\nns2 AAAA {NS2_6}\n"
            );
            if setup.sub.is_some() {
                z += &format!("sub NS ns.sub.example.test.\nns.sub A {SUB_NS}\n");
            }
            for line in records {
                z += line;
                z.push('\n');
            }
            z
        };
        let ns1 = child(&setup.ns1, setup.serials.0);
        let ns2 = child(&setup.ns2, setup.serials.1);
        let sub = setup.sub.as_ref().map(|records| {
            let mut z = format!(
                "$ORIGIN sub.example.test.\n$TTL 300\n\
                 @ SOA ns.sub.example.test. hostmaster.example.test. 1 3600 600 86400 300\n\
                 @ NS ns.sub.example.test.\nns A {SUB_NS}\n"
            );
            for line in records {
                z += line;
                z.push('\n');
            }
            z
        });
        let sub = match sub {
            Some(z) => Some(self.write("sub.example.test.zone", &z)?),
            None => None,
        };

        if setup.dnssec == Dnssec::Off {
            return Ok(Zones {
                parent: self.write("test.zone", &parent)?,
                ns1: self.write("ns1.example.test.zone", &ns1)?,
                ns2: self.write("ns2.example.test.zone", &ns2)?,
                sub,
                trust_anchor: None,
            });
        }
        let test_key = self.keygen("test.")?;
        let child_key = self.keygen("example.test.")?;
        // WrongDs: the parent publishes the DS of a key the zone is not signed with.
        let ds_key = if setup.dnssec == Dnssec::WrongDs {
            self.keygen("example.test.")?
        } else {
            child_key.clone()
        };
        parent += &self.ds_of(&ds_key)?;
        let parent_file = self.write("test.zone", &parent)?;
        let ns1_file = self.write("ns1.example.test.zone", &ns1)?;
        let ns2_file = self.write("ns2.example.test.zone", &ns2)?;
        let expired: &[&str] = if setup.dnssec == Dnssec::Expired {
            // Expired at the start of 2020, valid from a month before: long past on any clock.
            &["-e", "20200101000000", "-i", "20191201000000"]
        } else {
            &[]
        };
        Ok(Zones {
            parent: self.sign(&parent_file, "test.", &test_key, &[])?,
            ns1: self.sign(&ns1_file, "example.test.", &child_key, expired)?,
            ns2: self.sign(&ns2_file, "example.test.", &child_key, expired)?,
            sub,
            trust_anchor: Some(self.ds_of(&test_key)?.trim().replace('\t', " ")),
        })
    }

    /// `ldns-keygen` (ECDSA P-256, SEP flag: one key signs everything): the key's basename.
    fn keygen(&self, zone: &str) -> Result<String, String> {
        let out = run(Command::new("ldns-keygen")
            .args(["-a", "ECDSAP256SHA256", "-k", zone])
            .current_dir(&self.dir))?;
        Ok(out.trim().to_string())
    }

    fn ds_of(&self, key: &str) -> Result<String, String> {
        std::fs::read_to_string(self.dir.join(format!("{key}.ds")))
            .map_err(|e| format!("read the DS of {key}: {e}"))
    }

    fn sign(&self, file: &str, origin: &str, key: &str, extra: &[&str]) -> Result<String, String> {
        let out = format!("{file}.signed");
        run(Command::new("ldns-signzone")
            .args(extra)
            .args(["-o", origin, "-f", &out, file, key])
            .current_dir(&self.dir))?;
        Ok(out)
    }

    /// One nsd, foreground, its own config, state and log in the lab dir; waits until it
    /// answers for each of its zones.
    fn start_nsd(
        &mut self,
        name: &str,
        addrs: &[&str],
        zones: &[(&str, &String)],
    ) -> Result<(), String> {
        let d = self.dir.display();
        let mut conf = String::from("server:\n");
        for a in addrs {
            conf += &format!("  ip-address: {a}\n");
        }
        conf += &format!(
            "  port: 53\n  username: \"\"\n  chroot: \"\"\n  zonesdir: \"{d}\"\n  database: \"\"\n\
             \x20 pidfile: \"{d}/{name}.pid\"\n  xfrdfile: \"{d}/{name}.xfrd\"\n\
             \x20 zonelistfile: \"{d}/{name}.zonelist\"\n  xfrdir: \"{d}\"\n\
             \x20 server-count: 1\n  verbosity: 1\n  hide-version: yes\n\
             remote-control:\n  control-enable: no\n"
        );
        for (zone, file) in zones {
            conf += &format!("zone:\n  name: \"{zone}\"\n  zonefile: \"{file}\"\n");
        }
        let conf = self.write(&format!("{name}.nsd.conf"), &conf)?;
        self.spawn(&["nsd", "-d", "-c", &conf], &format!("{name}.log"))?;
        let (addr, zones): (String, Vec<String>) = (
            addrs[0].to_string(),
            zones.iter().map(|(z, _)| z.to_string()).collect(),
        );
        self.wait_until(&format!("nsd {name} answering"), |lab| {
            zones
                .iter()
                .all(|z| lab.answers(&addr, &format!("+norec {z} SOA")))
        })
    }

    /// The subzone's server never answers a CAA query: an input-hook rule drops UDP queries
    /// to it whose QTYPE is CAA (257). For the name `sub.example.test` the QTYPE sits at a
    /// fixed offset: 8 (UDP header) + 12 (DNS header) + 18 (the QNAME) bytes = bit 304.
    /// Dropping on input, not output, keeps it a silent timeout: a drop on output fails the
    /// sender's send() at once, which unbound turns into an immediate SERVFAIL.
    fn drop_caa_queries_to_subzone(&self) -> Result<(), String> {
        let rules = format!(
            "table inet adnlab {{\n  chain input {{\n    type filter hook input priority 0; policy accept;\n    \
             ip daddr {SUB_NS} udp dport 53 @th,304,16 0x0101 counter drop\n  }}\n}}\n"
        );
        let file = self.write("drop-caa.nft", &rules)?;
        self.exec(&["nft", "-f", &file]).map(|_| ())
    }

    /// unbound as the CA's resolver: validating (when the lab is signed), EDE on, `test.`
    /// reached only through the parent server, and no way to any real server.
    fn write_unbound_conf(&self, trust_anchor: Option<&str>) -> Result<(), String> {
        let d = self.dir.display();
        // The root hints list only the lab's parent server: a query outside `test.` gets
        // REFUSED there, and unbound never learns a real root server's address.
        let hints = self.write(
            "root.hints",
            &format!(".  3600 IN NS root.lab.\nroot.lab. 3600 IN A {PARENT}\n"),
        )?;
        let anchor = trust_anchor
            .map(|ds| format!("  trust-anchor: \"{ds}\"\n"))
            .unwrap_or_default();
        let conf = format!(
            "server:\n  interface: {RESOLVER}\n  interface: {RESOLVER6}\n  port: 53\n\
             \x20 do-daemonize: no\n  username: \"\"\n  chroot: \"\"\n  directory: \"{d}\"\n\
             \x20 pidfile: \"\"\n  logfile: \"\"\n  use-syslog: no\n  verbosity: 1\n\
             \x20 num-threads: 1\n  so-reuseport: no\n\
             \x20 access-control: 203.0.113.0/24 allow\n  access-control: 2001:db8::/32 allow\n\
             \x20 access-control: 127.0.0.0/8 allow\n  access-control: ::1 allow\n\
             \x20 do-not-query-localhost: no\n  root-hints: \"{hints}\"\n\
             \x20 local-zone: \"test.\" nodefault\n  module-config: \"validator iterator\"\n\
             \x20 val-log-level: 2\n  ede: yes\n\
             \x20 # A server that never answers: SERVFAIL within about a second, not after\n\
             \x20 # minutes of backoff; and answer the client however long it took.\n\
             \x20 infra-cache-max-rtt: 300\n  discard-timeout: 0\n\
             {anchor}\
             remote-control:\n  control-enable: no\n\
             stub-zone:\n  name: \"test.\"\n  stub-addr: {PARENT}\n  stub-addr: {PARENT6}\n"
        );
        let file = self.write("unbound.conf", &conf)?;
        run(Command::new("unbound-checkconf").arg(&file)).map(|_| ())
    }

    fn start_unbound(&mut self) -> Result<(), String> {
        let conf = self.path("unbound.conf");
        self.spawn(&["unbound", "-d", "-c", &conf], "unbound.log")?;
        self.wait_until("unbound answering", |lab| {
            lab.answers(RESOLVER, "test. SOA")
        })
    }

    /// A fresh unbound (empty caches, no server marked down): what the infrastructure checks
    /// asked is forgotten before acme-doctor runs.
    pub fn restart_resolver(&mut self) {
        self.stop("unbound.log");
        if let Err(e) = self.start_unbound() {
            panic!("unbound did not restart: {e}");
        }
    }

    /// dnsmasq on 203.0.113.54: its own (old) addresses, with a TTL as a cache would show,
    /// everything else forwarded to unbound.
    fn start_stale_resolver(&mut self, records: &[String]) -> Result<(), String> {
        let mut args: Vec<String> = [
            "dnsmasq",
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--listen-address=203.0.113.54",
            "--port=53",
            "--local-ttl=1800",
            "--pid-file=",
            "--user=root",
            "--group=root",
            "--log-facility=-",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(format!("--server={RESOLVER}"));
        args.extend(records.iter().map(|r| format!("--host-record={r}")));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.spawn(&args, "dnsmasq.log")?;
        self.wait_until("dnsmasq answering", |lab| {
            lab.answers(STALE_RESOLVER, "test. SOA")
        })
    }

    /// Runs acme-doctor inside the namespace: JSON, documentation addresses as public,
    /// the lab's resolver (or `resolver`), authoritative servers on port 53, DNS-01 unless
    /// `extra` names a method.
    pub fn acme_doctor(&self, resolver: &str, extra: &[&str], name: &str) -> Run {
        let mut args: Vec<&str> = vec![
            "netns",
            "exec",
            &self.ns,
            BIN,
            "--json",
            "--allow-reserved",
            "--resolver",
            resolver,
            "--authoritative-port",
            "53",
            "--timeout",
            "2s",
        ];
        // DNS-01 unless the scenario names its method (A and AAAA matter to HTTP-01 only).
        if !extra.contains(&"--method") {
            args.extend_from_slice(&["--method", "dns-01", "--expect-txt", TXT_VALUE]);
        }
        args.extend_from_slice(extra);
        args.push(name);
        Command::new("ip")
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .expect("run acme-doctor in the DNS lab")
            .into()
    }
}

struct Zones {
    parent: String,
    ns1: String,
    ns2: String,
    sub: Option<String>,
    trust_anchor: Option<String>,
}

/// Waits for a child of ours until `deadline`, then kills it (by its own pid) and reaps it.
fn wait_or_kill(child: &mut Child, deadline: Instant) {
    loop {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => return,
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

impl Drop for DnsLab {
    fn drop(&mut self) {
        for (_, child) in &self.children {
            signal(child.id(), nix::sys::signal::Signal::SIGTERM);
        }
        for (_, child) in &mut self.children {
            wait_or_kill(child, Instant::now() + Duration::from_secs(3));
        }
        if self.made_ns {
            // nsd's own children (xfrd, the server) or anything else still inside.
            remove_namespace(&self.ns);
        }
        if std::env::var_os("ACME_DOCTOR_KEEP_DNS_LAB").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
