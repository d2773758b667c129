//! The host snapshot, taken once per run: interfaces, routes, sysctls, listeners, firewall,
//! containers, web server and ACME client configuration.

use super::{ClientsFacts, Family};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// A host fact that could be read, or the reason it could not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Probed<T> {
    Known(T),
    Unknown(Unknown),
}

impl<T> Probed<T> {
    pub fn known(&self) -> Option<&T> {
        match self {
            Probed::Known(v) => Some(v),
            Probed::Unknown(_) => None,
        }
    }

    pub fn unknown(&self) -> Option<&Unknown> {
        match self {
            Probed::Known(_) => None,
            Probed::Unknown(why) => Some(why),
        }
    }
}

/// Why a fact could not be read. Stored as such, so rules decide on the kind, never on the
/// words, and re-wording a message changes no saved file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Unknown {
    /// The program that prints this fact is not installed.
    NotInstalled { program: String },
    /// Reading it needs privileges this run does not have.
    PermissionDenied { program: String, message: String },
    /// The program did not finish in time.
    TimedOut { program: String, after_ms: u64 },
    /// Anything else, with what was said.
    Failed { message: String },
    /// The text was read, but its reader gave up on it: a syntax it does not know, or one of
    /// the caps that bound the work a hostile file can cause.
    Unparsable {
        /// What was being read: `nginx -T`, or a file's path.
        source: String,
        /// Where the reader stopped: `file:line`, or `byte N` when no line is known.
        at: String,
        message: String,
        /// The cap that stopped it, when one did: `nesting depth 32`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cap: Option<String>,
    },
}

impl Unknown {
    pub fn failed(message: impl Into<String>) -> Unknown {
        Unknown::Failed {
            message: message.into(),
        }
    }
}

impl fmt::Display for Unknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unknown::NotInstalled { program } => write!(f, "{program} is not installed"),
            Unknown::PermissionDenied { program, message } => write!(
                f,
                "{program}: permission denied (run acme-doctor as root to read the firewall): {message}"
            ),
            Unknown::TimedOut { program, after_ms } => {
                write!(f, "{program} did not finish within {} s", after_ms / 1000)
            }
            Unknown::Failed { message } => f.write_str(message),
            Unknown::Unparsable {
                source,
                at,
                message,
                cap,
            } => {
                write!(f, "{source}: stopped at {at}: {message}")?;
                match cap {
                    Some(cap) => write!(f, " (cap: {cap})"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// What the machine acme-doctor ran on says about itself. Only meaningful when that machine
/// holds one of the domain's addresses (the diagnosis decides that).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostFacts {
    /// `uname -r`.
    pub kernel: Probed<String>,
    /// False when the kernel has no IPv6 at all (booted with `ipv6.disable=1`).
    pub ipv6_in_kernel: Probed<bool>,
    /// `net.ipv6.conf.<name>.disable_ipv6` for `all`, `default` and every interface.
    pub disable_ipv6: Probed<Vec<Sysctl>>,
    /// `net.ipv6.bindv6only`: the default of IPV6_V6ONLY for new sockets.
    pub bindv6only: Probed<bool>,
    pub interfaces: Probed<Vec<Interface>>,
    pub default_route_v4: Probed<bool>,
    pub default_route_v6: Probed<bool>,
    /// Listening TCP sockets on the ports the CA uses (80, 443).
    pub listeners: Probed<Vec<Listener>>,
    /// The interface of the IPv4 default route: where the CA's packets arrive.
    #[serde(default)]
    pub default_route_dev_v4: Option<String>,
    /// The interface of the IPv6 default route.
    #[serde(default)]
    pub default_route_dev_v6: Option<String>,
    /// The packet filter's rules, as its own tools print them. `None` in facts saved before
    /// the firewall was read.
    #[serde(default)]
    pub firewall: Option<FirewallFacts>,
    /// The ACME clients configured here and the certificates they renew. `None` when not read
    /// (saved facts, a run from elsewhere).
    #[serde(default)]
    pub acme_clients: Option<ClientsFacts>,
    /// Container runtimes found on the host (Docker, Podman), each as its API answered.
    /// Empty when none was found, or in facts saved before containers were read.
    #[serde(default)]
    pub containers: Vec<ContainerFacts>,
    /// The web servers' own configuration. `None` in facts saved before it was read.
    #[serde(default)]
    pub web_server: Option<WebServerFacts>,
    /// Traefik's static configuration file and the dynamic files its file provider names,
    /// verbatim. `None` when no static file was found (or in facts saved before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traefik: Option<TraefikFiles>,
}

/// Traefik's configuration files, as read (each capped).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraefikFiles {
    /// `/etc/traefik/traefik.yml` (`.yaml`, `.toml`).
    pub static_file: ConfigFile,
    /// The file provider's `filename`, or the YAML/TOML files of its `directory`.
    #[serde(default)]
    pub dynamic: Vec<ConfigFile>,
}

/// The web servers' configuration as their own tools print it, verbatim, so a saved facts
/// file can be re-read offline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebServerFacts {
    /// `nginx -T`, for the configuration the running nginx was started with.
    pub nginx: Probed<NginxConfig>,
    /// `apache2ctl -S` and the virtual host files it names.
    pub apache: Probed<ApacheConfig>,
    /// The Caddyfile at its default path.
    pub caddy: Probed<ConfigFile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NginxConfig {
    /// The command that printed it: `/usr/sbin/nginx -T -c /etc/nginx/nginx.conf`.
    pub command: String,
    /// Its output: every file behind a `# configuration file PATH:` marker.
    pub dump: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApacheConfig {
    pub command: String,
    /// The `-S` output: which virtual host answers which name on which address and port.
    pub vhosts: String,
    /// The files `-S` names, read (capped).
    #[serde(default)]
    pub files: Vec<ConfigFile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub path: String,
    pub text: Probed<String>,
}

/// One container runtime, read through its API socket (plain HTTP over the unix socket,
/// `GET /containers/json`, `/containers/<id>/json`, `/networks`) and its settings file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerFacts {
    /// `docker` or `podman`.
    pub runtime: String,
    /// The API socket that answered (or refused).
    pub socket: String,
    /// Running containers; unknown when the socket refused or did not answer.
    pub containers: Probed<Vec<Container>>,
    /// The runtime's networks (bridges and their subnets).
    #[serde(default)]
    pub networks: Vec<ContainerNetwork>,
    /// The daemon's own settings (`daemon.json`), when a file was found.
    #[serde(default)]
    pub daemon: Option<DaemonSettings>,
}

/// What `dockerd` was told in its configuration file; `None` where the file is silent (the
/// daemon's default then applies: `ipv6` false, `ip6tables` false before Docker 27,
/// `userland-proxy` true).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonSettings {
    /// The file read: `/etc/docker/daemon.json` or the daemon's `--config-file`.
    pub file: String,
    pub ipv6: Option<bool>,
    pub ip6tables: Option<bool>,
    pub userland_proxy: Option<bool>,
}

/// A network of the runtime: its bridge interface and subnets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerNetwork {
    pub name: String,
    /// The host interface of a bridge network (`docker0`, `br-…`, `podman0`).
    pub bridge: Option<String>,
    pub subnets: Vec<ipnet::IpNet>,
    pub enable_ipv6: bool,
}

/// One running container, as `docker ps` shows it, with where it is reachable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Container {
    /// The short id (12 hex digits).
    pub id: String,
    /// The name without its leading `/`.
    pub name: String,
    pub image: String,
    /// A process of the container, whose `/proc/<pid>/net` shows its network namespace.
    pub pid: Option<u32>,
    /// Its addresses, per network.
    pub addresses: Vec<ContainerAddress>,
    /// Published and exposed ports, as the API lists them.
    pub ports: Vec<ContainerPort>,
    /// TCP ports something listens on inside the container's network namespace (any
    /// address), from `/proc/<pid>/net/tcp` and `tcp6`.
    pub listening: Probed<Vec<u16>>,
    /// Runs in the host's network namespace (`--network host`): its sockets are the host's.
    #[serde(default)]
    pub host_network: bool,
    /// The configuration of an nginx running in the container, read when the container
    /// listens on or publishes port 80 or 443: `command` says how it was read (never by
    /// changing the container), `dump` is in `nginx -T`'s shape. `None` when not looked at
    /// (another port, saved facts of an earlier version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nginx: Option<Probed<NginxConfig>>,
    /// The container's `traefik.*` labels (Traefik's Docker provider reads its routers
    /// there), as the runtime's API lists them.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerAddress {
    pub network: String,
    pub address: IpAddr,
}

/// One entry of the API's `Ports`: a container port, and where the host publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerPort {
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// The host address it is published on (`0.0.0.0`, `::`), when published.
    pub host_ip: Option<IpAddr>,
    pub host_port: Option<u16>,
}

impl Container {
    /// The container's ports published on the host on `host_port` for TCP.
    pub fn publishes(&self, host_port: u16) -> bool {
        self.ports
            .iter()
            .any(|p| p.protocol == "tcp" && p.host_port == Some(host_port))
    }
}

/// The rulesets, verbatim, so a saved facts file can be re-evaluated offline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirewallFacts {
    /// `nft -j list ruleset`: every nf_tables table, including those iptables-nft made.
    pub nft: Probed<serde_json::Value>,
    /// `iptables-save` / `ip6tables-save` output per family and backend.
    pub iptables: Vec<IptablesDump>,
    /// `nft --debug=netlink list ruleset`, verbatim: the kernel's bytecode of every rule,
    /// which shows matches the listing can hide (an inet rule's `meta nfproto`). `None` in
    /// facts files written before it was read.
    #[serde(default)]
    pub nft_netlink: Option<Probed<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IptablesBackend {
    /// iptables-nft: its tables also appear in the nft ruleset.
    Nft,
    /// iptables-legacy: separate kernel tables that nft does not show.
    Legacy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IptablesDump {
    pub family: Family,
    pub backend: IptablesBackend,
    pub dump: Probed<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sysctl {
    /// The interface part: `all`, `default` or an interface name.
    pub scope: String,
    pub value: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    pub name: String,
    pub up: bool,
    pub loopback: bool,
    pub addresses: Vec<IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    pub family: Family,
    pub address: IpAddr,
    pub port: u16,
    /// IPV6_V6ONLY of an IPv6 socket, from sock_diag; `None` for IPv4 or when unknown.
    pub v6only: Option<bool>,
    /// Owning process, when /proc tells (needs the same user or root).
    pub process: Option<Process>,
}

impl Listener {
    /// Whether this listening socket takes connections for `ip`:`port`. An IPv6 wildcard socket
    /// takes IPv4 too unless IPV6_V6ONLY is set (per socket, defaulting to
    /// `net.ipv6.bindv6only`, given as `bindv6only`).
    pub fn accepts(&self, ip: &IpAddr, port: u16, bindv6only: Option<bool>) -> bool {
        if self.port != port {
            return false;
        }
        match (ip, self.address) {
            (IpAddr::V4(_), IpAddr::V4(bound)) => bound.is_unspecified() || self.address == *ip,
            (IpAddr::V6(_), IpAddr::V6(bound)) => bound.is_unspecified() || self.address == *ip,
            (IpAddr::V4(v4), IpAddr::V6(bound)) => {
                if bound.is_unspecified() {
                    self.v6only.or(bindv6only) == Some(false)
                } else {
                    bound.to_ipv4_mapped() == Some(*v4)
                }
            }
            (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Process {
    pub pid: u32,
    pub name: String,
}
