//! Issue 20 item 3, the `--wait` lab: one network namespace the test creates (named per pid),
//! documentation addresses on its loopback, and the in-repo authoritative server
//! (`common::dns::DnsServer`) bound there once per address: two nameservers of example.test,
//! each at an IPv4 and an IPv6 address, and a resolver. The servers are threads of the test
//! process whose sockets were opened inside the namespace (a thread that entered it with
//! setns), so nothing but the namespace itself needs removing: `Drop` stops the servers, then
//! deletes the namespace by name, when a test fails too.

use crate::common::dns::{DnsServer, Entry};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// The namespace's name prefix; the pid after it says whose it is.
const PREFIX: &str = "adwait";

pub struct WaitLab {
    pub ns: String,
    servers: Vec<DnsServer>,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ip {args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Namespaces of this lab left by a test process that no longer runs (killed before `Drop`).
fn sweep_leftovers() {
    let Ok(entries) = std::fs::read_dir("/var/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", &name]);
        }
    }
}

impl WaitLab {
    /// A fresh namespace with `addresses` on its loopback (IPv6 without DAD).
    pub fn start(addresses: &[&str]) -> WaitLab {
        sweep_leftovers();
        let ns = format!(
            "{PREFIX}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        ip(&["netns", "add", &ns]).expect("create the namespace");
        // From here on, Drop removes it.
        let lab = WaitLab {
            ns,
            servers: Vec::new(),
        };
        ip(&["-n", &lab.ns, "link", "set", "lo", "up"]).expect("lo up");
        for address in addresses {
            let args: Vec<&str> = if address.contains(':') {
                vec!["-n", &lab.ns, "addr", "add", address, "dev", "lo", "nodad"]
            } else {
                vec!["-n", &lab.ns, "addr", "add", address, "dev", "lo"]
            };
            ip(&args).expect("add an address");
        }
        lab
    }

    /// An authoritative server (or resolver) at `address:53` inside the namespace.
    pub fn serve(&mut self, address: &str, zone: Vec<(&'static str, Entry)>) {
        let path = format!("/var/run/netns/{}", self.ns);
        let bind: std::net::SocketAddr = if address.contains(':') {
            format!("[{address}]:53")
        } else {
            format!("{address}:53")
        }
        .parse()
        .expect("address");
        let server = std::thread::spawn(move || {
            let netns = std::fs::File::open(&path).expect("open the namespace");
            // This thread alone enters it: the socket bound next lives there.
            nix::sched::setns(&netns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            DnsServer::start_at(bind, zone)
        })
        .join()
        .expect("start a DNS server in the namespace");
        self.servers.push(server);
    }

    /// `ip netns exec NS acme-doctor ARGS`.
    pub fn command(&self, bin: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns, bin])
            .args(args)
            .env_remove("NO_COLOR")
            .stdin(Stdio::null());
        cmd
    }
}

impl Drop for WaitLab {
    fn drop(&mut self) {
        // The servers are threads of this process: stopped and joined first.
        self.servers.clear();
        let _ = ip(&["netns", "del", &self.ns]);
    }
}
