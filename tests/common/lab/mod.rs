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
//!
//! `topology` makes the network, `services` runs dnsmasq, nginx and acme-doctor in it,
//! `oracle` runs the real CA (Pebble, with lego as its client), and `caddy` runs Caddy as a
//! client of that CA and a TLS-ALPN-01 responder.

mod caddy;
// Issue 20 item 3: the --wait lab.
pub mod dnswait;
mod oracle;
mod services;
mod topology;

// Part of the lab's API as before the split, though no test names them today.
#[allow(unused_imports)]
pub use caddy::{CADDY_LOG, CaddyChallenge};
#[allow(unused_imports)]
pub use oracle::{PEBBLE_DIR_URL, RealOutcome};

use oracle::wait_or_kill;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use topology::ip;

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
    /// nginx `server` blocks that replace the default one (`listen`/`nginx_extra` are then
    /// unused): `{www}` stands for the webroot lego writes to, `{dir}` for the lab's directory.
    pub nginx_servers: Option<String>,
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
            nginx_servers: None,
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

impl Lab {
    pub fn start(setup: &Setup) -> Lab {
        topology::sweep_stale();
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

    fn build(&mut self, setup: &Setup) -> Result<(), String> {
        self.build_topology()?;
        self.start_dnsmasq(setup)?;
        self.apply_scenario(setup)?;
        self.start_nginx(setup)
    }

    fn exec(&self, ns: &str, args: &[&str]) -> Result<String, String> {
        run(Command::new("ip").args(["netns", "exec", ns]).args(args))
    }

    pub fn host_exec(&self, args: &[&str]) -> Result<String, String> {
        self.exec(&self.host, args)
    }

    /// The pid of a process the lab started (by its log name, e.g. `pebble.log`).
    pub fn pid_of(&self, log: &str) -> Option<u32> {
        self.children
            .iter()
            .find(|(l, _)| l == log)
            .map(|(_, c)| c.id())
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
