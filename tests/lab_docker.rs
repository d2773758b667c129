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
        self.wait_listening("web", port)
    }

    /// Waits until `container` listens on `port`: read from inside its network namespace.
    fn wait_listening(&self, container: &str, port: &str) -> Result<(), String> {
        let hex = format!(":{:04X} ", port.parse::<u16>().map_err(|e| e.to_string())?);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let pid = self.cli(&["inspect", "-f", "{{.State.Pid}}", container])?;
            let listening = ["tcp", "tcp6"].iter().any(|f| {
                std::fs::read_to_string(format!("/proc/{}/net/{f}", pid.trim()))
                    .is_ok_and(|t| t.lines().any(|l| l.contains(&hex) && l.contains(" 0A ")))
            });
            if listening {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "the container's server did not listen: {}",
            self.cli(&["logs", container]).unwrap_or_else(|e| e)
        ))
    }

    /// An image holding Debian's nginx (the host's `/usr/sbin/nginx`) and the libraries
    /// `ldd` names, with `files` (path inside, text) as its configuration: nothing can be
    /// pulled in the lab, and busybox is not nginx.
    fn nginx_image(&self, files: &[(&str, &str)]) -> Result<&'static str, String> {
        let root = self.dir.join("nginx-image");
        let put = |inside: &str, from: &Path| -> Result<(), String> {
            let to = root.join(inside.trim_start_matches('/'));
            std::fs::create_dir_all(to.parent().ok_or("no parent")?).map_err(|e| e.to_string())?;
            // Links followed: Debian's /lib64 loader and /lib are links into /usr.
            std::fs::copy(from, &to).map_err(|e| format!("{}: {e}", from.display()))?;
            Ok(())
        };
        put("/usr/sbin/nginx", Path::new("/usr/sbin/nginx"))?;
        for lib in ldd_paths(&run(Command::new("ldd").arg("/usr/sbin/nginx"))?) {
            put(&lib, Path::new(&lib))?;
        }
        let write = |inside: &str, text: &str| -> Result<(), String> {
            let to = root.join(inside.trim_start_matches('/'));
            std::fs::create_dir_all(to.parent().ok_or("no parent")?).map_err(|e| e.to_string())?;
            std::fs::write(&to, text).map_err(|e| e.to_string())
        };
        write(
            "/etc/passwd",
            "root:x:0:0:root:/root:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        )?;
        write("/etc/group", "root:x:0:\nnogroup:x:65534:\n")?;
        for (path, text) in files {
            write(path, text)?;
        }
        for dir in [
            "var/lib/nginx",
            "var/log/nginx",
            "run",
            "tmp",
            "var/www/html",
        ] {
            std::fs::create_dir_all(root.join(dir)).map_err(|e| e.to_string())?;
        }
        let tar = self
            .dir
            .join("nginx-image.tar")
            .to_string_lossy()
            .into_owned();
        run(Command::new("tar").args(["-C", &root.to_string_lossy(), "-cf", &tar, "."]))?;
        self.cli(&["import", &tar, "lab-nginx:1"])?;
        Ok("lab-nginx:1")
    }

    /// `docker run -d --name web -p 80:80 lab-nginx:1 nginx -g 'daemon off;'`, the lab's
    /// webroot (where lego writes the token) mounted at /var/www/html.
    fn run_nginx(&self, lab: &Lab, files: &[(&str, &str)]) -> Result<(), String> {
        let image = self.nginx_image(files)?;
        let www_dir = lab.dir.join("www/.well-known/acme-challenge");
        std::fs::create_dir_all(&www_dir).map_err(|e| e.to_string())?;
        let www = format!("{}:/var/www/html:ro", lab.dir.join("www").to_string_lossy());
        self.cli(&[
            "run",
            "-d",
            "--name",
            "web",
            "-v",
            &www,
            "-p",
            "80:80",
            image,
            "/usr/sbin/nginx",
            "-g",
            "daemon off;",
        ])?;
        self.wait_listening("web", "80")
    }
}

/// The files `ldd` resolves (`libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)`) and the
/// loader (`/lib64/ld-linux-x86-64.so.2 (0x…)`).
fn ldd_paths(ldd: &str) -> Vec<String> {
    ldd.lines()
        .filter_map(|l| {
            let l = l.trim();
            let path = l.split_once("=>").map_or(l, |(_, r)| r.trim());
            let path = path.split_whitespace().next()?;
            path.starts_with('/').then(|| path.to_string())
        })
        .collect()
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

/// The nginx of the container in the lab, as the official image lays it out: `nginx.conf`
/// includes `conf.d/*.conf`.
const CONTAINER_NGINX_CONF: &str = "user nobody nogroup;\nworker_processes 1;\npid /run/nginx.pid;\nerror_log stderr;\nevents {}\nhttp {\n    access_log off;\n    include /etc/nginx/conf.d/*.conf;\n}\n";

/// The site: the hardening rule every "deny dotfiles" snippet gives, written above the
/// challenge's prefix location, which a regex location beats. As in
/// https://github.com/uselagoon/lagoon-images/issues/650 (an nginx image's `location ~* /\.`
/// answering the CA's request for /.well-known/acme-challenge/ with 403) and
/// https://serverdevworker.com/220402b11 (the `location ~ /\. { deny all; }` snippet).
const CONTAINER_SITE: &str = "server {\n    listen 80;\n    server_name example.test;\n    root /var/www/html;\n\n    # Deny access to hidden files (.htaccess, .git)\n    location ~ /\\. {\n        deny all;\n    }\n\n    location /.well-known/acme-challenge/ {\n        root /var/www/html;\n    }\n}\n";

const VANTAGE_TOKEN: &str = "lab-docker-vantage-token-5c1e9a7b3d";

/// nginx inside a real Docker container (Debian's nginx binary and libraries imported as an
/// image), port 80 published with Docker's defaults, its dotfile `deny` shadowing the
/// challenge (https://github.com/uselagoon/lagoon-images/issues/650). From the host alone and
/// with a vantage, the top finding is `challenge-location-shadowed` at the container's own
/// file and line; Pebble fails with the 403.
#[test]
fn nginx_in_a_container_denies_dotfiles() {
    let name = "nginx_in_a_container_denies_dotfiles";
    if !docker_available(name) || !tool_exists("ldd") || !Path::new("/usr/sbin/nginx").exists() {
        if common::in_ci() {
            panic!("{name}: ldd or /usr/sbin/nginx missing under CI=true");
        }
        return;
    }
    let mut lab = Lab::start(&Setup {
        nginx: false,
        ..Setup::default()
    });
    let docker = Docker::start(&lab, "{}").expect("dockerd");
    docker
        .run_nginx(
            &lab,
            &[
                ("/etc/nginx/nginx.conf", CONTAINER_NGINX_CONF),
                ("/etc/nginx/conf.d/default.conf", CONTAINER_SITE),
            ],
        )
        .expect("nginx container");
    // The vantage, in the outside namespace where Pebble stands.
    let token = lab.dir.join("vantage.token");
    std::fs::write(&token, format!("{VANTAGE_TOKEN}\n")).unwrap();
    let token = token.to_string_lossy().into_owned();
    let outside = lab.outside.clone();
    lab.start_daemon(
        &outside,
        &[
            common::BIN,
            "serve",
            "--listen",
            "198.51.100.10:8080",
            "--token-file",
            &token,
            "--plain-http",
            "--resolver",
            common::lab::RESOLVER,
            "--allow-reserved",
        ],
        "serve.log",
        8080,
    )
    .expect("vantage");
    let mut problems: Vec<String> = Vec::new();
    let where_ = "container web:/etc/nginx/conf.d/default.conf:8";
    let host = lab.host.clone();
    let runs = [
        (
            "host alone",
            "docker-nginx-dotfile-deny-host",
            vec!["--json", DOMAIN],
        ),
        (
            "with --vantage",
            "docker-nginx-dotfile-deny-vantage-host",
            vec![
                "--json",
                "--vantage",
                "http://198.51.100.10:8080",
                "--vantage-token-file",
                &token,
                DOMAIN,
            ],
        ),
    ];
    let mut shown = Vec::new();
    for (label, fixture, args) in &runs {
        let run = lab.acme_doctor(&host, fixture, args);
        let json: Value = serde_json::from_str(&run.stdout).unwrap_or(Value::Null);
        let top = &json["findings"][0];
        shown.push(format!(
            "[{label}] exit {} verdict {} top {} {}: {}\n  incomplete: {}\n  stderr: {}",
            run.code,
            json["verdict"],
            top["code"],
            top["family"],
            top["title"],
            json["incomplete_reasons"],
            run.stderr.trim()
        ));
        if run.code != 1 || json["verdict"] != "fail" {
            problems.push(format!(
                "{label}: exit {}, verdict {}",
                run.code, json["verdict"]
            ));
        }
        // Both families reach the container (DNAT for IPv4, docker-proxy for IPv6) and meet
        // the same line: one finding without a family.
        if top["code"] != "challenge-location-shadowed" || !top["family"].is_null() {
            problems.push(format!("{label}: top {} {}", top["code"], top["family"]));
        }
        if !top["title"].as_str().is_some_and(|t| t.contains(where_)) {
            problems.push(format!(
                "{label}: the title does not name {where_}: {}",
                top["title"]
            ));
        }
        if !top["ca_error"].as_str().is_some_and(|e| e.contains("403")) {
            problems.push(format!(
                "{label}: the CA's words lack the 403: {}",
                top["ca_error"]
            ));
        }
        // The facts say which container, which image, and how its configuration was read.
        let runtime = &json["host"]["containers"][0]["containers"];
        let read = runtime["known"][0].clone();
        let read = if read.is_null() {
            runtime[0].clone()
        } else {
            read
        };
        let how = read["nginx"]["known"]["command"].as_str().unwrap_or("");
        if read["name"] != "web" || read["image"] != "lab-nginx:1" || !how.contains("/proc/") {
            problems.push(format!("{label}: container facts {read}"));
        }
    }
    match lab.start_pebble() {
        Ok(()) => {
            let real = lab.real_validation(DOMAIN);
            shown.push(format!("real CA: issued {} {}", real.issued, real.error));
            if real.issued || !real.error.contains("403") {
                problems.push(format!("Pebble: issued {} {}", real.issued, real.error));
            }
        }
        Err(e) => problems.push(format!("Pebble did not start: {e}")),
    }
    eprintln!("\n[{name}]\n{}", shown.join("\n"));
    if !problems.is_empty() {
        drop(docker);
        panic!("{name}:\n  {}", problems.join("\n  "));
    }
}
