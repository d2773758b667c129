//! Lab tier, containers: the real Docker daemon (Debian's docker.io) runs inside the lab's
//! host namespace, publishes a busybox httpd container, and acme-doctor diagnoses the host as
//! Docker left it: its nat `DOCKER` chain's DNAT followed to the container, the forward path
//! (`DOCKER-USER`, `DOCKER`, `DOCKER-ISOLATION-STAGE-*`) evaluated, the container's own sockets
//! read. Each scenario is then validated for real: lego asks Pebble, which fetches the token
//! from the container (the webroot is mounted into it).
//!
//! The daemon is started with `nsenter --net` (not `ip netns exec`, which remounts /sys and
//! hides the cgroups), on documentation addresses only, and stopped by its pid, its
//! directories removed, even when the test fails (`Docker`'s `Drop`, before the lab's).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::lab::{DOMAIN, HOST_V4, Lab, Setup, tool_exists};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The daemon's bridge and pool: inside 192.0.2.0/24 and 198.51.100.0/24, as DESIGN.md's
/// "Real Docker in the lab" checked.
const BIP: &str = "192.0.2.129/25";
const POOL: &str = "base=198.51.100.0/24,size=28";
/// The containers' IPv6 network when a scenario turns IPv6 on.
const FIXED_CIDR_V6: &str = "2001:db8:3::/64";

/// A `dockerd` of one lab, stopped by its pid on drop.
struct Docker {
    child: Option<Child>,
    dir: PathBuf,
    sock: String,
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Docker {
    /// Starts dockerd in the lab's host namespace with `daemon_json` as its configuration
    /// file, and waits until its API answers.
    fn start(lab: &Lab, daemon_json: &str) -> Result<Docker, String> {
        let dir = lab.dir.join("docker");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let p = |n: &str| dir.join(n).to_string_lossy().into_owned();
        std::fs::write(dir.join("daemon.json"), daemon_json).map_err(|e| e.to_string())?;
        let log = std::fs::File::create(dir.join("dockerd.log")).map_err(|e| e.to_string())?;
        let sock = p("docker.sock");
        let child = Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/{}", lab.host))
            .args([
                "dockerd",
                "--data-root",
                &p("data"),
                "--exec-root",
                &p("exec"),
                "--pidfile",
                &p("dockerd.pid"),
                "-H",
                &format!("unix://{sock}"),
                "--config-file",
                &p("daemon.json"),
                "--bip",
                BIP,
                "--default-address-pool",
                POOL,
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("spawn dockerd: {e}"))?;
        let docker = Docker {
            child: Some(child),
            dir,
            sock,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if docker
                .cli(&["version", "--format", "{{.Server.Version}}"])
                .is_ok()
            {
                return Ok(docker);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(format!(
            "dockerd did not answer: {}",
            std::fs::read_to_string(docker.dir.join("dockerd.log")).unwrap_or_default()
        ))
    }

    fn cli(&self, args: &[&str]) -> Result<String, String> {
        run(Command::new("docker")
            .args(["-H", &format!("unix://{}", self.sock)])
            .args(args))
    }

    /// An image holding only a static busybox: nothing can be pulled in the lab.
    fn busybox_image(&self) -> Result<&'static str, String> {
        let root = self.dir.join("image");
        std::fs::create_dir_all(root.join("bin")).map_err(|e| e.to_string())?;
        std::fs::copy("/bin/busybox", root.join("bin/busybox")).map_err(|e| e.to_string())?;
        let tar = self.dir.join("image.tar").to_string_lossy().into_owned();
        run(Command::new("tar").args(["-C", &root.to_string_lossy(), "-cf", &tar, "bin"]))?;
        self.cli(&["import", &tar, "lab-busybox:1"])?;
        Ok("lab-busybox:1")
    }

    /// `docker run -d --name web [PUBLISH…] IMAGE busybox httpd` serving the lab's webroot,
    /// where lego writes the token.
    fn run_web(&self, lab: &Lab, publish: &[&str], port: &str) -> Result<(), String> {
        let image = self.busybox_image()?;
        let www = format!("{}:/www:ro", lab.dir.join("www").to_string_lossy());
        let mut args = vec!["run", "-d", "--name", "web", "-v", &www];
        args.extend_from_slice(publish);
        args.extend_from_slice(&[
            image,
            "/bin/busybox",
            "httpd",
            "-f",
            "-p",
            port,
            "-h",
            "/www",
        ]);
        self.cli(&args)?;
        let hex = format!(":{:04X} ", port.parse::<u16>().map_err(|e| e.to_string())?);
        // Up when its socket is: read from inside its network namespace.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let pid = self.cli(&["inspect", "-f", "{{.State.Pid}}", "web"])?;
            let listening = ["tcp", "tcp6"].iter().any(|f| {
                std::fs::read_to_string(format!("/proc/{}/net/{f}", pid.trim()))
                    .is_ok_and(|t| t.lines().any(|l| l.contains(&hex) && l.contains(" 0A ")))
            });
            if listening {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err("the container's httpd did not listen".into())
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        // Mounts the daemon left under its directories (overlays, netns files), deepest first.
        let prefix = self.dir.to_string_lossy().into_owned();
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
            .filter(|m| Path::new(m).starts_with(&prefix))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = Command::new("umount").args(["-l", &m]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What a scenario must show on the host, and what the real CA must do.
#[derive(Clone, Copy)]
struct Expect {
    verdict: &'static str,
    /// The top finding: code and family.
    top: Option<(&'static str, &'static str)>,
    /// Pebble issues the certificate.
    issues: bool,
}

fn docker_available(test: &str) -> bool {
    if !common::lab_available(test) {
        return false;
    }
    let missing: Vec<&str> = ["dockerd", "docker", "nsenter", "busybox", "tar", "umount"]
        .into_iter()
        .filter(|t| !tool_exists(t))
        .collect();
    if missing.is_empty() && Path::new("/bin/busybox").exists() {
        return true;
    }
    let why = format!(
        "missing tools: {} (docker.io, busybox-static)",
        missing.join(", ")
    );
    if common::in_ci() {
        panic!("docker lab cannot run under CI=true: {why}");
    }
    common::announce_skip(&format!("docker lab ({test})"), &why);
    false
}

/// Runs one scenario: the lab without nginx, dockerd with `daemon_json`, the web container
/// with `publish` (its httpd listening on `web_port`), then `then` (rules added after
/// Docker's), acme-doctor on the host, and the real validation.
#[allow(clippy::too_many_arguments)]
fn scenario(
    name: &str,
    setup: Setup,
    daemon_json: &str,
    publish: &[&str],
    web_port: &str,
    then: &[&[&str]],
    expect: Expect,
    check: impl Fn(&Value) -> Result<(), String>,
) {
    if !docker_available(name) {
        return;
    }
    let mut lab = Lab::start(&Setup {
        nginx: false,
        ..setup
    });
    let docker = Docker::start(&lab, daemon_json).expect("dockerd");
    docker
        .run_web(&lab, publish, web_port)
        .expect("web container");
    for cmd in then {
        lab.host_exec(cmd).expect("scenario command");
    }
    let mut problems: Vec<String> = Vec::new();
    let run = lab.acme_doctor(&lab.host, &format!("docker-{name}"), &["--json", DOMAIN]);
    // The report as the contract defines it (strict), then as a loose value.
    let (_, json) = run.report();
    // Seen from the host alone (no vantage), a run that does not fail is incomplete for
    // what lies between the CA and the host: exit 3.
    let exit = match expect.verdict {
        "fail" => 1,
        _ => 3,
    };
    if run.code != exit {
        problems.push(format!("exit {}, expected {exit}", run.code));
    }
    let verdict = json["verdict"].as_str().unwrap_or("?");
    let findings: Vec<String> = json["findings"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|f| {
            format!(
                "{} {} {}: {}",
                f["severity"].as_str().unwrap_or(""),
                f["code"].as_str().unwrap_or(""),
                f["family"].as_str().unwrap_or("-"),
                f["title"].as_str().unwrap_or("")
            )
        })
        .collect();
    if verdict != expect.verdict {
        problems.push(format!("verdict {verdict}, expected {}", expect.verdict));
    }
    let top = json["findings"][0].clone();
    let got_top = (
        top["code"].as_str().unwrap_or(""),
        top["family"].as_str().unwrap_or(""),
    );
    match expect.top {
        Some(want) if got_top != want => {
            problems.push(format!("top finding {got_top:?}, expected {want:?}"));
        }
        None if json["findings"]
            .as_array()
            .is_some_and(|a| a.iter().any(|f| f["severity"] != "info")) =>
        {
            problems.push("a healthy host has findings".into());
        }
        _ => {}
    }
    // The firewall and the containers must add no reason of their own.
    let blind_spot = acme_doctor::diagnose::BLIND_SPOT;
    for reason in json["incomplete_reasons"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        if reason != blind_spot {
            problems.push(format!("incomplete: {reason}"));
        }
    }
    if findings.iter().any(|f| f.contains("firewall-unknown")) {
        problems.push("firewall-unknown on a Docker host".into());
    }
    if let Err(e) = check(&json) {
        problems.push(e);
    }
    let real = match lab.start_pebble() {
        Ok(()) => {
            let real = lab.real_validation(DOMAIN);
            if real.issued != expect.issues {
                problems.push(format!(
                    "Pebble {}, expected it {}: {}",
                    if real.issued { "issued" } else { "failed" },
                    if expect.issues { "to issue" } else { "to fail" },
                    real.error
                ));
            }
            format!("issued {} {}", real.issued, real.error)
        }
        Err(e) => {
            problems.push(format!("Pebble did not start: {e}"));
            "-".into()
        }
    };
    eprintln!(
        "\n[{name}] exit {} verdict {verdict}\n  {}\n  real CA: {real}\n  stderr: {}",
        run.code,
        findings.join("\n  "),
        run.stderr.trim()
    );
    if !problems.is_empty() {
        let dumps = ["iptables-save", "ip6tables-save"]
            .iter()
            .map(|t| lab.host_exec(&[t]).unwrap_or_else(|e| e))
            .collect::<Vec<_>>()
            .join("\n");
        drop(docker);
        panic!("{name}:\n  {}\n{dumps}", problems.join("\n  "));
    }
}

/// The container acme-doctor names, as `docker ps` would.
fn names_the_container(json: &Value) -> Result<(), String> {
    let runtimes = json["host"]["containers"]
        .as_array()
        .ok_or("no container facts")?;
    let named = runtimes.iter().any(|r| {
        r["containers"]["known"]
            .as_array()
            .or_else(|| r["containers"].as_array())
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["name"] == "web" && c["image"] == "lab-busybox:1")
            })
    });
    if named {
        Ok(())
    } else {
        Err(format!("the container facts do not name web: {runtimes:?}"))
    }
}

fn finding_mentions(json: &Value, code: &str, words: &[&str]) -> Result<(), String> {
    let f = json["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["code"] == code))
        .ok_or(format!("no {code}"))?;
    let text = f.to_string();
    for w in words {
        if !text.contains(w) {
            return Err(format!("{code} does not mention {w}: {text}"));
        }
    }
    Ok(())
}

/// Docker's defaults: `-p 80:80` gives an IPv4 DNAT to the IPv4-only container and a
/// docker-proxy on `[::]:80` that relays IPv6 to it. Both families work; before, the DNAT made
/// every Docker host `firewall-unknown` (exit 3).
#[test]
fn published_port_with_docker_proxy() {
    scenario(
        "published_port_with_docker_proxy",
        Setup::default(),
        "{}",
        &["-p", "80:80"],
        "80",
        &[],
        Expect {
            verdict: "pass",
            top: None,
            issues: true,
        },
        names_the_container,
    );
}

/// `"userland-proxy": false`: the IPv4 DNAT delivers with no socket on the host, and IPv6 has
/// neither a socket nor a DNAT (https://github.com/moby/libnetwork/issues/1099). Pebble dials
/// the AAAA first and is refused.
#[test]
fn userland_proxy_off_publishes_ipv4_only() {
    scenario(
        "userland_proxy_off_publishes_ipv4_only",
        Setup::default(),
        r#"{"userland-proxy": false}"#,
        &["-p", "80:80"],
        "80",
        &[],
        Expect {
            verdict: "fail",
            top: Some(("container-no-ipv6", "ipv6")),
            issues: false,
        },
        |json| {
            finding_mentions(
                json,
                "container-no-ipv6",
                &["\\\"ipv6\\\": true", "ip6tables", "web"],
            )?;
            // IPv4 is delivered by the DNAT: no "nothing accepts IPv4" blocker.
            let v4_blocker = json["findings"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|f| f["family"] == "ipv4" && f["severity"] == "blocker")
            });
            if v4_blocker {
                return Err("an IPv4 blocker although the DNAT delivers".into());
            }
            names_the_container(json)
        },
    );
}

/// `"ipv6": true` and `"ip6tables": true` (experimental in Docker 20.10), userland proxy off:
/// both families reach the container by DNAT, IPv6 to its own IPv6 address.
#[test]
fn ipv6_and_ip6tables_on_is_healthy() {
    scenario(
        "ipv6_and_ip6tables_on_is_healthy",
        Setup::default(),
        &format!(
            r#"{{"ipv6": true, "ip6tables": true, "experimental": true, "fixed-cidr-v6": "{FIXED_CIDR_V6}", "userland-proxy": false}}"#
        ),
        &["-p", "80:80"],
        "80",
        &[],
        Expect {
            verdict: "pass",
            top: None,
            issues: true,
        },
        names_the_container,
    );
}

/// The web server runs in a container started without `-p`: nothing on the host takes port
/// 80, on either family.
#[test]
fn container_port_not_published() {
    scenario(
        "container_port_not_published",
        Setup::default(),
        "{}",
        &[],
        "80",
        &[],
        Expect {
            verdict: "fail",
            top: Some(("container-port-not-published", "ipv6")),
            issues: false,
        },
        |json| finding_mentions(json, "container-port-not-published", &["web", "-p 80:80"]),
    );
}

/// A hand-written `DOCKER-USER` drop (https://github.com/chaifeng/ufw-docker/issues/18) on an
/// IPv4-only name: the DNAT is followed, and the forward path drops it.
#[test]
fn docker_user_drop() {
    scenario(
        "docker_user_drop",
        Setup {
            host_records: vec![format!("{DOMAIN},{HOST_V4}")],
            ..Setup::default()
        },
        "{}",
        &["-p", "80:80"],
        "80",
        &[&[
            "iptables",
            "-I",
            "DOCKER-USER",
            "-p",
            "tcp",
            "--dport",
            "80",
            "-j",
            "DROP",
        ]],
        Expect {
            verdict: "fail",
            top: Some(("forward-drops", "ipv4")),
            issues: false,
        },
        |json| finding_mentions(json, "forward-drops", &["DOCKER-USER", "web"]),
    );
}

/// `-p 80:80` to a container whose server listens on 8080: the DNAT delivers (userland proxy
/// off, nothing of the host listens), and nothing answers inside the container.
#[test]
fn dnat_to_a_container_that_does_not_listen() {
    scenario(
        "dnat_to_a_container_that_does_not_listen",
        Setup {
            host_records: vec![format!("{DOMAIN},{HOST_V4}")],
            ..Setup::default()
        },
        r#"{"userland-proxy": false}"#,
        &["-p", "80:80"],
        "8080",
        &[],
        Expect {
            verdict: "fail",
            top: Some(("no-listener", "ipv4")),
            issues: false,
        },
        |json| finding_mentions(json, "no-listener", &["container web", "192.0.2.130:80"]),
    );
}
