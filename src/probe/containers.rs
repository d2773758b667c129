//! Container runtimes on the host: which containers run, their addresses, the ports they
//! publish, and what listens inside each one's network namespace. Read from the runtime's own
//! API socket with plain HTTP/1.0 over the unix socket (`GET /containers/json`: what
//! `docker ps` shows), never through an SDK, and from `/proc/<pid>/net/tcp{,6}` of a process of
//! the container. Docker's settings come from its `daemon.json` (or the `--config-file` the
//! running `dockerd` was given).
//!
//! Only runtimes of this network namespace count: a `dockerd` elsewhere publishes nothing here.

use crate::facts::{
    Container, ContainerAddress, ContainerFacts, ContainerNetwork, ContainerPort, DaemonSettings,
    Probed, Unknown,
};
use ipnet::IpNet;
use serde_json::Value;
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// The most an API answer may be: a host with thousands of containers stays well under it.
const MAX_ANSWER: u64 = 8 << 20;
/// Containers looked at in detail (one more request each).
const MAX_CONTAINERS: usize = 256;
const TIMEOUT: Duration = Duration::from_secs(3);
/// All the per-container requests of one runtime together: a daemon that answers slowly
/// leaves the rest of its containers without a pid, never the run hanging.
const BUDGET: Duration = Duration::from_secs(6);

const DEFAULT_DOCKER: &str = "/var/run/docker.sock";
const DEFAULT_PODMAN: &str = "/run/podman/podman.sock";
const DEFAULT_DAEMON_JSON: &str = "/etc/docker/daemon.json";

/// A `dockerd` of this network namespace, as its command line shows it.
#[derive(Debug, Default, Clone, PartialEq)]
struct Daemon {
    sockets: Vec<String>,
    config_file: Option<String>,
}

/// Every runtime found; empty when none runs here.
pub fn container_facts() -> Vec<ContainerFacts> {
    let daemons = dockerds();
    let mut sockets: Vec<(String, &str)> = Vec::new();
    let mut add = |path: String, runtime: &'static str| {
        if !sockets.iter().any(|(p, _)| *p == path) {
            sockets.push((path, runtime));
        }
    };
    if let Some(path) = std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(str::to_string))
    {
        add(path, "docker");
    }
    for d in &daemons {
        for s in &d.sockets {
            add(s.clone(), "docker");
        }
    }
    add(DEFAULT_DOCKER.into(), "docker");
    add(DEFAULT_PODMAN.into(), "podman");
    let config_file = daemons
        .iter()
        .find_map(|d| d.config_file.clone())
        .unwrap_or_else(|| DEFAULT_DAEMON_JSON.into());
    sockets
        .into_iter()
        .filter(|(path, _)| Path::new(path).exists())
        .map(|(path, runtime)| runtime_facts(&path, runtime, &config_file))
        .collect()
}

fn runtime_facts(socket: &str, runtime: &str, config_file: &str) -> ContainerFacts {
    let deadline = std::time::Instant::now() + BUDGET;
    let containers = match get(socket, "/containers/json") {
        Ok(list) => Probed::Known(
            list.as_array()
                .map(|a| a.as_slice())
                .unwrap_or_default()
                .iter()
                .take(MAX_CONTAINERS)
                .filter_map(|c| container(socket, c, deadline))
                .collect(),
        ),
        Err(why) => Probed::Unknown(why),
    };
    let networks = get(socket, "/networks")
        .map(|v| networks(&v))
        .unwrap_or_default();
    ContainerFacts {
        runtime: runtime.to_string(),
        socket: socket.to_string(),
        containers,
        networks,
        daemon: (runtime == "docker")
            .then(|| daemon_settings(config_file))
            .flatten(),
    }
}

fn clean(s: &str) -> String {
    crate::sanitize::line(s, 128)
}

/// One entry of `GET /containers/json`, completed with its pid and its listening ports.
fn container(socket: &str, c: &Value, deadline: std::time::Instant) -> Option<Container> {
    let full_id = c["Id"].as_str()?;
    if !full_id.chars().all(|ch| ch.is_ascii_hexdigit()) {
        return None;
    }
    let id: String = full_id.chars().take(12).collect();
    let inspected = (std::time::Instant::now() < deadline)
        .then(|| get(socket, &format!("/containers/{full_id}/json")));
    let pid = inspected
        .and_then(Result::ok)
        .and_then(|v| v["State"]["Pid"].as_u64())
        .and_then(|p| u32::try_from(p).ok())
        .filter(|p| *p > 0);
    let listening = match pid {
        Some(pid) => listening_ports(pid),
        None => Probed::Unknown(Unknown::failed(
            "the runtime gave no process of the container (or ran out of time)",
        )),
    };
    let mut c = parse_container(c)?;
    c.id = id;
    c.pid = pid;
    // The CA's ports: the configuration of an nginx that may answer them.
    let web = |p: &u16| matches!(p, 80 | 443);
    let serves_web = listening.known().is_some_and(|ls| ls.iter().any(web))
        || c.ports
            .iter()
            .any(|p| web(&p.container_port) || p.host_port.is_some_and(|h| web(&h)));
    c.listening = listening;
    if let Some(pid) = pid.filter(|_| serves_web && !c.host_network) {
        c.nginx = super::container_nginx::read(pid, &c.name);
    }
    Some(c)
}

/// The fields of one `GET /containers/json` entry (pid and listeners are read apart).
fn parse_container(c: &Value) -> Option<Container> {
    let id: String = c["Id"].as_str()?.chars().take(12).collect();
    let name = c["Names"]
        .as_array()
        .and_then(|n| n.first())
        .and_then(Value::as_str)
        .map_or_else(|| id.clone(), |n| clean(n.trim_start_matches('/')));
    let mut addresses = Vec::new();
    if let Some(nets) = c["NetworkSettings"]["Networks"].as_object() {
        for (network, n) in nets {
            for key in ["IPAddress", "GlobalIPv6Address"] {
                if let Some(address) = n[key].as_str().and_then(|a| a.parse::<IpAddr>().ok()) {
                    addresses.push(ContainerAddress {
                        network: clean(network),
                        address,
                    });
                }
            }
        }
    }
    let ports = c["Ports"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|p| {
            Some(ContainerPort {
                container_port: u16::try_from(p["PrivatePort"].as_u64()?).ok()?,
                protocol: clean(p["Type"].as_str().unwrap_or("tcp")),
                host_ip: p["IP"].as_str().and_then(|a| a.parse().ok()),
                host_port: p["PublicPort"].as_u64().and_then(|n| u16::try_from(n).ok()),
            })
        })
        .collect();
    Some(Container {
        id,
        name,
        image: clean(c["Image"].as_str().unwrap_or("")),
        pid: None,
        addresses,
        ports,
        listening: Probed::Unknown(Unknown::failed("not read")),
        host_network: c["HostConfig"]["NetworkMode"] == "host",
        labels: traefik_labels(&c["Labels"]),
        nginx: None,
    })
}

/// The `traefik.*` labels of a container (keys and values capped, at most 256).
fn traefik_labels(v: &Value) -> std::collections::BTreeMap<String, String> {
    v.as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| k.to_ascii_lowercase().starts_with("traefik."))
                .take(256)
                .filter_map(|(k, v)| {
                    Some((
                        crate::sanitize::line(k, 256),
                        crate::sanitize::line(v.as_str()?, 1024),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Bridge networks of `GET /networks`, with their host interface: Docker names it in the
/// `com.docker.network.bridge.name` option (the default network's `docker0`), else `br-` and
/// the first 12 digits of the network's id.
fn networks(v: &Value) -> Vec<ContainerNetwork> {
    v.as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|n| n["Driver"] == "bridge")
        .take(MAX_CONTAINERS)
        .map(|n| {
            let id: String = n["Id"].as_str().unwrap_or("").chars().take(12).collect();
            let bridge = n["Options"]["com.docker.network.bridge.name"]
                .as_str()
                .or_else(|| n["network_interface"].as_str())
                .map(clean)
                .or_else(|| (id.len() == 12).then(|| format!("br-{id}")));
            ContainerNetwork {
                name: clean(n["Name"].as_str().unwrap_or("")),
                bridge,
                subnets: n["IPAM"]["Config"]
                    .as_array()
                    .map(|a| a.as_slice())
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|c| c["Subnet"].as_str()?.parse::<IpNet>().ok())
                    .collect(),
                enable_ipv6: n["EnableIPv6"].as_bool().unwrap_or(false),
            }
        })
        .collect()
}

fn daemon_settings(file: &str) -> Option<DaemonSettings> {
    // A regular file only (a FIFO named by a command line must not block the run), capped.
    let read = super::userfile::read(
        Path::new(file),
        super::userfile::Links::Followed,
        super::userfile::CONFIG_CAP,
    )
    .ok()?;
    let v: Value = serde_json::from_slice(&read.bytes).ok()?;
    Some(DaemonSettings {
        file: clean(file),
        ipv6: v["ipv6"].as_bool(),
        ip6tables: v["ip6tables"].as_bool(),
        userland_proxy: v["userland-proxy"].as_bool(),
    })
}

/// TCP ports in LISTEN state in the network namespace of `pid`.
fn listening_ports(pid: u32) -> Probed<Vec<u16>> {
    let mut ports = Vec::new();
    for file in ["tcp", "tcp6"] {
        match fs::read_to_string(format!("/proc/{pid}/net/{file}")) {
            Ok(text) => ports.extend(parse_proc_net_tcp(&text)),
            Err(e) if e.kind() == ErrorKind::NotFound && file == "tcp6" => {}
            Err(e) if e.kind() == ErrorKind::PermissionDenied => {
                return Probed::Unknown(Unknown::PermissionDenied {
                    program: format!("/proc/{pid}/net/{file}"),
                    message: e.to_string(),
                });
            }
            Err(e) => {
                return Probed::Unknown(Unknown::failed(format!("/proc/{pid}/net/{file}: {e}")));
            }
        }
    }
    ports.sort_unstable();
    ports.dedup();
    Probed::Known(ports)
}

/// Local ports of the sockets in state 0A (LISTEN) of a `/proc/net/tcp` or `tcp6` table.
pub fn parse_proc_net_tcp(text: &str) -> Vec<u16> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.get(3) != Some(&"0A") {
                return None;
            }
            let (_, port) = f.get(1)?.rsplit_once(':')?;
            u16::from_str_radix(port, 16).ok()
        })
        .collect()
}

/// The `dockerd` processes of this network namespace: their API sockets (`-H unix://…`) and
/// configuration file.
fn dockerds() -> Vec<Daemon> {
    let Ok(own) = fs::read_link("/proc/self/ns/net") else {
        return Vec::new();
    };
    let Ok(procs) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in procs.flatten() {
        let path = entry.path();
        if !entry
            .file_name()
            .to_string_lossy()
            .chars()
            .all(|c| c.is_ascii_digit())
        {
            continue;
        }
        if !fs::read_to_string(path.join("comm")).is_ok_and(|c| c.trim() == "dockerd") {
            continue;
        }
        if fs::read_link(path.join("ns/net")).ok().as_ref() != Some(&own) {
            continue;
        }
        if let Ok(cmdline) = fs::read(path.join("cmdline")) {
            let args: Vec<String> = cmdline
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            found.push(parse_dockerd_args(&args));
        }
    }
    found
}

fn parse_dockerd_args(args: &[String]) -> Daemon {
    let mut d = Daemon::default();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (a, None),
        };
        let value = || inline.clone().or_else(|| args.get(i + 1).cloned());
        match flag {
            "-H" | "--host" => {
                if let Some(path) =
                    value().and_then(|v| v.strip_prefix("unix://").map(str::to_string))
                {
                    d.sockets.push(path);
                }
            }
            "--config-file" => d.config_file = value(),
            _ => {}
        }
        i += if inline.is_none() && matches!(flag, "-H" | "--host" | "--config-file") {
            2
        } else {
            1
        };
    }
    d
}

fn io_unknown(socket: &str, e: &std::io::Error) -> Unknown {
    if e.kind() == ErrorKind::PermissionDenied {
        Unknown::PermissionDenied {
            program: socket.to_string(),
            message: e.to_string(),
        }
    } else if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
        Unknown::TimedOut {
            program: socket.to_string(),
            after_ms: TIMEOUT.as_millis() as u64,
        }
    } else {
        Unknown::failed(format!("{socket}: {e}"))
    }
}

/// `GET path` on the API socket, as JSON. HTTP/1.0: the answer ends with the connection.
fn get(socket: &str, path: &str) -> Result<Value, Unknown> {
    let mut s = UnixStream::connect(socket).map_err(|e| io_unknown(socket, &e))?;
    s.set_read_timeout(Some(TIMEOUT))
        .and_then(|()| s.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| io_unknown(socket, &e))?;
    s.write_all(
        format!("GET {path} HTTP/1.0\r\nHost: localhost\r\nAccept: application/json\r\n\r\n")
            .as_bytes(),
    )
    .map_err(|e| io_unknown(socket, &e))?;
    let mut raw = Vec::new();
    s.take(MAX_ANSWER)
        .read_to_end(&mut raw)
        .map_err(|e| io_unknown(socket, &e))?;
    parse_answer(&raw).map_err(|why| Unknown::failed(format!("{socket} GET {path}: {why}")))
}

/// The JSON body of an HTTP answer, `200` only; a chunked body is joined.
fn parse_answer(raw: &[u8]) -> Result<Value, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no complete HTTP answer")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let body = &raw[split + 4..];
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("");
    if status != "200" {
        return Err(format!("HTTP status {}", clean(status)));
    }
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunk")?;
        let size_text = String::from_utf8_lossy(&body[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| "bad chunk size")?;
        body = &body[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = body.get(..size).ok_or("truncated chunk")?;
        out.extend_from_slice(chunk);
        body = body.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_json_is_read_only_from_a_regular_file() {
        let t = crate::probe::clients::testdir::TempTree::new("daemon-json");
        let file = t.write("daemon.json", r#"{"ipv6": true, "userland-proxy": false}"#);
        let read = daemon_settings(&file.to_string_lossy()).unwrap();
        assert_eq!(
            (read.ipv6, read.ip6tables, read.userland_proxy),
            (Some(true), None, Some(false))
        );
        let fifo = t.path().join("fifo.json");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        assert!(daemon_settings(&fifo.to_string_lossy()).is_none());
    }

    /// `GET /containers/json` of Docker 20.10.24 in the lab: `docker run -d -p 80:80`.
    const PS: &str = r#"[{"Id":"e0983d0d6d8f06c22152fd6223dffe85e5a28060de94422a1180f44314da8bf6","Names":["/web"],"Image":"bb:1","Command":"/bin/busybox httpd -f -p 80","Ports":[{"IP":"0.0.0.0","PrivatePort":80,"PublicPort":80,"Type":"tcp"},{"IP":"::","PrivatePort":80,"PublicPort":80,"Type":"tcp"}],"State":"running","HostConfig":{"NetworkMode":"default"},"NetworkSettings":{"Networks":{"bridge":{"Gateway":"192.0.2.129","IPAddress":"192.0.2.130","IPPrefixLen":25,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0}}}}]"#;

    #[test]
    fn a_ps_entry_gives_name_image_address_and_published_ports() {
        let v: Value = serde_json::from_str(PS).unwrap();
        let c = parse_container(&v[0]).unwrap();
        assert_eq!(
            (c.id.as_str(), c.name.as_str(), c.image.as_str()),
            ("e0983d0d6d8f", "web", "bb:1")
        );
        assert_eq!(c.addresses.len(), 1);
        assert_eq!(
            c.addresses[0].address,
            "192.0.2.130".parse::<IpAddr>().unwrap()
        );
        assert!(c.publishes(80));
        assert!(!c.publishes(443));
        assert!(!c.host_network);
    }

    #[test]
    fn the_default_bridge_is_docker0_and_user_networks_br_id() {
        let v: Value = serde_json::from_str(r#"[
          {"Name":"bridge","Id":"25cc70561821402e","Driver":"bridge","EnableIPv6":false,
           "IPAM":{"Config":[{"Subnet":"192.0.2.128/25","Gateway":"192.0.2.129"}]},
           "Options":{"com.docker.network.bridge.name":"docker0"}},
          {"Name":"app_default","Id":"0123456789abcdef","Driver":"bridge","EnableIPv6":true,
           "IPAM":{"Config":[{"Subnet":"198.51.100.0/28"},{"Subnet":"2001:db8:1::/64"}]},"Options":{}},
          {"Name":"host","Id":"ffff","Driver":"host","IPAM":{"Config":[]}}]"#).unwrap();
        let n = networks(&v);
        assert_eq!(n.len(), 2);
        assert_eq!(n[0].bridge.as_deref(), Some("docker0"));
        assert_eq!(n[1].bridge.as_deref(), Some("br-0123456789ab"));
        assert!(n[1].enable_ipv6 && n[1].subnets.len() == 2);
    }

    #[test]
    fn proc_net_tcp_listeners_by_port() {
        let tcp6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 639551 1 00000000358e67c6 100 0 0 10 0\n   1: 0000000000000000FFFF0000820200C0:0050 0000000000000000FFFF00000A0200C0:84EE 06 00000000:00000000 03:000016BD 00000000     0        0 0 3 0000000021204983\n";
        assert_eq!(parse_proc_net_tcp(tcp6), [80]);
    }

    #[test]
    fn dockerd_sockets_and_config_file_from_its_command_line() {
        let args: Vec<String> = [
            "dockerd",
            "--data-root",
            "/d",
            "-H",
            "unix:///tmp/x.sock",
            "--config-file=/tmp/daemon.json",
            "--host",
            "tcp://127.0.0.1:2375",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let d = parse_dockerd_args(&args);
        assert_eq!(d.sockets, ["/tmp/x.sock"]);
        assert_eq!(d.config_file.as_deref(), Some("/tmp/daemon.json"));
    }

    #[test]
    fn http_answers_plain_chunked_and_refused() {
        let plain = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n[1,2]";
        assert_eq!(parse_answer(plain).unwrap(), serde_json::json!([1, 2]));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1,\r\n2\r\n2]\r\n0\r\n\r\n";
        assert_eq!(parse_answer(chunked).unwrap(), serde_json::json!([1, 2]));
        assert!(parse_answer(b"HTTP/1.0 403 Forbidden\r\n\r\n{}").is_err());
        assert!(parse_answer(b"garbage").is_err());
    }

    #[test]
    fn get_speaks_http_over_a_unix_socket() {
        use std::os::unix::net::UnixListener;
        let dir = std::env::temp_dir().join(format!("acme-doctor-sock-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("api.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = [0u8; 1024];
            let n = conn.read(&mut request).unwrap();
            let line = String::from_utf8_lossy(&request[..n])
                .lines()
                .next()
                .unwrap_or("")
                .to_string();
            conn.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n")
                .unwrap();
            conn.write_all(PS.as_bytes()).unwrap();
            line
        });
        let answer = get(&path.to_string_lossy(), "/containers/json");
        let line = server.join().unwrap();
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(line, "GET /containers/json HTTP/1.0");
        let v = answer.unwrap();
        assert_eq!(v[0]["Names"][0], "/web");
        // Nothing listening there any more: a fact, not a failure of the run.
        assert!(matches!(
            get(&path.to_string_lossy(), "/containers/json"),
            Err(Unknown::Failed { .. })
        ));
    }
}
