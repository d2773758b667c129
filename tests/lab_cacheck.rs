//! Lab tier for `--ca-check` (issue 19 item 1), with the real CA: Debian's Pebble in the
//! outside namespace (`PEBBLE_VA_NOSLEEP=1`, its DNS the lab's, validating on ports 80 and
//! 443) is the directory, and acme-doctor, on the host alone, asks it for one real validation
//! (`--acme-directory https://198.51.100.10:14000/dir --acme-ca-cert <lab CA>`).
//!
//! Each scenario asserts what `--ca-check` itself guarantees, from the JSON's facts: the CA's
//! outcome (valid, or invalid with Pebble's own problem type and words), what was published
//! and how, the failed authorizations the run consumed, and that nothing is left behind (no
//! challenge file, no responder). Where a scenario comes from a real report, it cites it.
//!
//! Pebble is not Boulder (`docs/ca-behaviour.md` §9): it dials only the first address, IPv6
//! first, without falling back; it has no remote perspectives and checks no CAA. Its words
//! are Go's (`dial tcp …: i/o timeout`, `Non-200 status code from HTTP: … returned 404`).
//!
//! One line per scenario is printed: `lab_cacheck <scenario>: CA <outcome> | acme-doctor
//! <verdict> <top> exit <code>`.

// Tests panic on purpose: a broken fixture or lab step should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::lab::{DOMAIN, Lab, PEBBLE_DIR_URL, Setup};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn cmd(words: &str) -> Vec<String> {
    words.split_whitespace().map(str::to_string).collect()
}

/// A lab with Pebble running, or `None` (announced) where the lab tier cannot run.
fn lab_with_pebble(test: &str, setup: &Setup, router: &[&str]) -> Option<Lab> {
    if !common::lab_available(test) {
        return None;
    }
    let mut lab = Lab::start(setup);
    for c in router {
        let words: Vec<&str> = c.split_whitespace().collect();
        lab.ns_exec(&lab.router.clone(), &words)
            .unwrap_or_else(|e| panic!("router: {e}"));
    }
    lab.start_pebble().expect("start Pebble");
    Some(lab)
}

/// `--ca-check` against the lab's Pebble, from the host namespace.
fn ca_check_args(lab: &Lab) -> Vec<String> {
    vec![
        "--ca-check".into(),
        "--acme-directory".into(),
        PEBBLE_DIR_URL.into(),
        "--acme-ca-cert".into(),
        lab.dir.join("ca.pem").to_string_lossy().into_owned(),
        "--ca-check-timeout".into(),
        "60s".into(),
    ]
}

/// What one run said: its exit code, its JSON, and the check of the first name.
struct Checked {
    code: i32,
    report: Value,
    check: Value,
    stderr: String,
}

impl Checked {
    fn outcome(&self) -> &str {
        self.check["outcome"]["status"].as_str().unwrap_or("-")
    }

    fn problem_type(&self) -> &str {
        self.check["outcome"]["problem"]["type"]
            .as_str()
            .unwrap_or("")
    }

    fn detail(&self) -> &str {
        self.check["outcome"]["problem"]["detail"]
            .as_str()
            .or_else(|| self.check["outcome"]["reason"].as_str())
            .unwrap_or("")
    }

    fn published(&self) -> &str {
        self.check["published"]["kind"].as_str().unwrap_or("-")
    }

    fn failed(&self) -> u64 {
        self.check["failed_authorizations"]
            .as_u64()
            .unwrap_or(u64::MAX)
    }

    fn top(&self) -> String {
        let f = &self.report["findings"][0];
        match (f["code"].as_str(), f["family"].as_str()) {
            (Some(c), Some(fam)) => format!("{c}/{fam}"),
            (Some(c), None) => c.to_string(),
            _ => "-".into(),
        }
    }

    fn print(&self, scenario: &str) {
        println!(
            "lab_cacheck {scenario}: CA {} {} {:?} | acme-doctor {} {} exit {}",
            self.outcome(),
            self.problem_type(),
            self.detail(),
            self.report["verdict"].as_str().unwrap_or("-"),
            self.top(),
            self.code
        );
    }
}

fn run_check(lab: &Lab, label: &str, extra: &[&str]) -> Checked {
    let mut args: Vec<String> = vec!["--json".into(), DOMAIN.into()];
    args.extend(ca_check_args(lab));
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = lab.acme_doctor(&lab.host, label, &args);
    let report = run.json();
    let evidence = &report["facts"]["targets"][0]["ca"];
    assert_eq!(
        evidence.as_array().map(Vec::len),
        Some(1),
        "one CA check per name: {evidence}\nstderr: {}",
        run.stderr
    );
    assert_eq!(evidence[0]["source"]["kind"], "check", "{evidence}");
    let check = evidence[0]["said"]["check"].clone();
    assert_eq!(check["directory"], PEBBLE_DIR_URL, "{check}");
    Checked {
        code: run.code,
        report,
        check,
        stderr: run.stderr,
    }
}

/// Nothing of the check is left: no file under the webroot's challenge directory, nothing of
/// acme-doctor's listening on 80 or 443.
fn nothing_left(lab: &Lab) {
    let dir = lab.dir.join("www/.well-known/acme-challenge");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "challenge files left behind: {left:?}");
    let listening = lab
        .host_exec(&["ss", "-Hltnp", "( sport = :80 or sport = :443 )"])
        .unwrap_or_default();
    assert!(
        !listening.contains("acme-doctor"),
        "acme-doctor still listens: {listening}"
    );
}

fn www(lab: &Lab) -> String {
    lab.dir.join("www").to_string_lossy().into_owned()
}

/// Healthy, dual stack, nginx serving the webroot; on the host alone with `--ca-check`: the
/// CA validates, one record per hop, nothing consumed. With the CA's verdict joined
/// (`ca-validated`, owned by the diagnosis side) the run is complete and exits 0.
#[test]
fn healthy_with_ca_check_is_validated() {
    let Some(lab) = lab_with_pebble("lab_cacheck healthy", &Setup::default(), &[]) else {
        return;
    };
    let www = www(&lab);
    let c = run_check(&lab, "cacheck-healthy", &["--webroot", &www]);
    c.print("healthy");
    assert_eq!(c.outcome(), "valid", "{}\n{}", c.check, c.stderr);
    assert_eq!(c.published(), "webroot");
    assert_eq!(c.check["published"]["from"], "--webroot");
    assert_eq!(c.failed(), 0);
    assert_eq!(c.report["verdict"], "pass", "{}", c.report["findings"]);
    assert_eq!(
        c.code, 0,
        "a CA-validated healthy host is complete: {}",
        c.report["incomplete_reasons"]
    );
    nothing_left(&lab);
}

/// The seed (the issue this project exists for): an AAAA is published while the host has
/// `net.ipv6.conf.all.disable_ipv6 = 1`; Pebble dials IPv6 first and fails. The problem is
/// the CA's connection problem, one failed authorization is consumed, and the host's own
/// `ipv6-disabled` stays on top.
#[test]
fn seed_ipv6_disabled_is_refused_by_the_ca() {
    let setup = Setup {
        host_commands: vec![cmd("sysctl -qw net.ipv6.conf.all.disable_ipv6=1")],
        ..Setup::default()
    };
    let Some(lab) = lab_with_pebble("lab_cacheck seed", &setup, &[]) else {
        return;
    };
    let www = www(&lab);
    let c = run_check(&lab, "cacheck-seed", &["--webroot", &www]);
    c.print("seed");
    assert_eq!(c.outcome(), "invalid", "{}", c.check);
    assert_eq!(c.problem_type(), "urn:ietf:params:acme:error:connection");
    // Pebble's words for a dead IPv6 path are Go's client timeout, without the address.
    assert!(
        c.detail().contains("Client.Timeout exceeded"),
        "{}",
        c.detail()
    );
    assert_eq!(c.failed(), 1);
    assert_eq!(c.report["verdict"], "fail");
    assert_eq!(c.top(), "ipv6-disabled/ipv6");
    assert_eq!(c.code, 1);
    nothing_left(&lab);
}

/// The router drops tcp/80 inbound for both families, as a cloud security group does
/// (https://dodov.dev/blog/how-to-renew-lets-encrypt-certificates-behind-a-firewall): the
/// host sees nothing wrong; the CA times out on the IPv6 address.
#[test]
fn router_drops_80_is_a_ca_timeout() {
    let Some(lab) = lab_with_pebble(
        "lab_cacheck router-drops-80",
        &Setup::default(),
        &[
            "iptables -A FORWARD -i ro -p tcp --dport 80 -j DROP",
            "ip6tables -A FORWARD -i ro -p tcp --dport 80 -j DROP",
        ],
    ) else {
        return;
    };
    let www = www(&lab);
    let c = run_check(&lab, "cacheck-sg-drops-80", &["--webroot", &www]);
    c.print("router-drops-80");
    assert_eq!(c.outcome(), "invalid", "{}", c.check);
    assert_eq!(c.problem_type(), "urn:ietf:params:acme:error:connection");
    // Pebble makes three attempts and the first error wins: Go's dial error names the IPv6
    // address (`dial tcp [2001:db8:2::10]:80: i/o timeout`), its client deadline does not
    // (`context deadline exceeded (Client.Timeout exceeded while awaiting headers)`).
    assert!(
        c.detail().contains("Client.Timeout exceeded") || c.detail().contains("i/o timeout"),
        "{}",
        c.detail()
    );
    assert_eq!(c.failed(), 1);
    assert_eq!(c.report["verdict"], "fail", "the CA's failure is decisive");
    if c.detail().contains("2001:db8:2::10") {
        // The host is healthy and the CA timed out on IPv6: something upstream blocks it.
        assert_eq!(c.top(), "blocked-upstream/ipv6");
    } else {
        // Without the address the family is unknown: the CA's failure against a healthy
        // host is said as a disagreement, never hidden.
        assert!(
            ["blocked-upstream/ipv6", "ca-disagrees"].contains(&c.top().as_str()),
            "{}",
            c.top()
        );
    }
    assert_eq!(c.code, 1);
    nothing_left(&lab);
}

/// Behind NAT, the router publishes 203.0.113.80 and forwards 443 to the host but not 80
/// (the forgotten port forward: https://letsencrypt.org/docs/allow-port-80/): the CA's
/// connection to the published address is refused.
#[test]
fn missing_port_forward_is_refused_by_the_ca() {
    let setup = Setup {
        host_records: vec![format!("{DOMAIN},203.0.113.80")],
        ..Setup::default()
    };
    let Some(lab) = lab_with_pebble(
        "lab_cacheck no-port-forward",
        &setup,
        &[
            "ip addr add 203.0.113.80/32 dev lo",
            "iptables -t nat -A PREROUTING -d 203.0.113.80 -p tcp --dport 443 -j DNAT --to-destination 192.0.2.10",
            "iptables -t nat -A POSTROUTING -s 192.0.2.10 -o ro -j SNAT --to-source 203.0.113.80",
        ],
    ) else {
        return;
    };
    let www = www(&lab);
    let c = run_check(&lab, "cacheck-no-port-forward", &["--webroot", &www]);
    c.print("no-port-forward");
    assert_eq!(c.outcome(), "invalid", "{}", c.check);
    assert_eq!(c.problem_type(), "urn:ietf:params:acme:error:connection");
    assert!(c.detail().contains("203.0.113.80:80"), "{}", c.detail());
    assert!(c.detail().contains("connection refused"), "{}", c.detail());
    assert_eq!(c.failed(), 1);
    assert_eq!(c.report["verdict"], "fail");
    // Refused at the published address while the host's own listener is fine.
    assert_eq!(c.top(), "blocked-upstream/ipv4");
    assert_eq!(c.code, 1);
    nothing_left(&lab);
}

/// The webroot given is not the one nginx serves, the most reported HTTP-01 failure
/// (https://community.letsencrypt.org/t/the-client-lacks-sufficient-authorization-404/): the
/// CA gets nginx's 404.
#[test]
fn wrong_webroot_is_the_cas_404() {
    let Some(lab) = lab_with_pebble("lab_cacheck wrong-webroot", &Setup::default(), &[]) else {
        return;
    };
    let elsewhere = lab.dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let elsewhere = elsewhere.to_string_lossy().into_owned();
    let c = run_check(&lab, "cacheck-wrong-webroot", &["--webroot", &elsewhere]);
    c.print("wrong-webroot");
    assert_eq!(c.outcome(), "invalid", "{}", c.check);
    assert_eq!(c.problem_type(), "urn:ietf:params:acme:error:unauthorized");
    assert!(c.detail().contains("404"), "{}", c.detail());
    assert_eq!(c.check["published"]["root"], elsewhere.as_str());
    assert_eq!(c.failed(), 1);
    assert_eq!(c.report["verdict"], "fail");
    // The CA's 404 with nginx's other root: the mismatch, quoting the CA's words.
    assert_eq!(c.top(), "webroot-mismatch");
    assert!(
        c.report["findings"][0]["ca_error"]
            .as_str()
            .unwrap_or("")
            .contains("404"),
        "{}",
        c.report["findings"][0]
    );
    assert_eq!(c.code, 1);
    nothing_left(&lab);
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
}

/// `--webroot auto`: the root nginx serves `/.well-known/acme-challenge/` from, read from
/// `nginx -T`: the CA validates through it.
#[test]
fn webroot_auto_finds_nginxs_root() {
    let Some(lab) = lab_with_pebble("lab_cacheck webroot-auto", &Setup::default(), &[]) else {
        return;
    };
    let c = run_check(&lab, "cacheck-webroot-auto", &["--webroot", "auto"]);
    c.print("webroot-auto");
    assert_eq!(c.outcome(), "valid", "{}\n{}", c.check, c.stderr);
    assert_eq!(c.published(), "webroot");
    assert_eq!(c.check["published"]["root"], www(&lab).as_str());
    let from = c.check["published"]["from"].as_str().unwrap_or("");
    assert!(from.starts_with("nginx: root "), "{from}");
    assert_eq!(c.failed(), 0);
    nothing_left(&lab);
}

/// TLS-ALPN-01 through acme-doctor's own responder on 443 (nginx holds only 80): the CA
/// validates the acme-tls/1 certificate it is offered.
#[test]
fn tls_alpn_through_the_standalone_responder() {
    let Some(lab) = lab_with_pebble("lab_cacheck tls-alpn", &Setup::default(), &[]) else {
        return;
    };
    let c = run_check(&lab, "cacheck-tls-alpn", &["--method", "tls-alpn-01"]);
    c.print("tls-alpn-standalone");
    assert_eq!(c.outcome(), "valid", "{}\n{}", c.check, c.stderr);
    assert_eq!(c.published(), "standalone");
    assert_eq!(c.check["published"]["port"], 443);
    assert_eq!(c.failed(), 0);
    nothing_left(&lab);
}

/// Port 80 held by nginx and no webroot given: acme-doctor refuses to publish (it would
/// have to stop someone's server), says why, creates no order, consumes nothing; the run
/// cannot be complete.
#[test]
fn port_80_held_refuses_standalone_with_a_reason() {
    let Some(lab) = lab_with_pebble("lab_cacheck port-80-held", &Setup::default(), &[]) else {
        return;
    };
    let c = run_check(&lab, "cacheck-port-80-held", &[]);
    c.print("port-80-held");
    assert_eq!(c.outcome(), "not-done", "{}", c.check);
    assert_eq!(c.check["outcome"]["stage"], "publish");
    let reason = c.detail();
    assert!(
        reason.contains("port 80 is held by nginx") && reason.contains("--webroot"),
        "{reason}"
    );
    assert_eq!(c.published(), "nothing");
    assert_eq!(c.failed(), 0);
    assert_eq!(c.report["incomplete"], true);
    let kinds = c.report["incomplete_kinds"].to_string();
    assert!(kinds.contains("ca-check-not-done"), "{kinds}");
    assert!(
        c.report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "ca-check-refused"),
        "{}",
        c.report["findings"]
    );
    assert_eq!(c.code, 3);
    // Nothing was asked of the CA: Pebble saw no order.
    assert!(
        !lab.log("pebble.log").contains("new-order"),
        "an order was made"
    );
}

/// Ctrl-C (SIGINT to acme-doctor's pid) while the CA is still dialling (the router drops
/// tcp/80): exit 130, the challenge file gone from the webroot, no responder left, the
/// process gone within seconds. Then the same with the standalone responder (no web
/// server): its listener is gone too.
#[test]
fn ctrl_c_mid_validation_leaves_nothing_behind() {
    for standalone in [false, true] {
        let setup = Setup {
            nginx: !standalone,
            ..Setup::default()
        };
        let Some(lab) = lab_with_pebble(
            "lab_cacheck ctrl-c",
            &setup,
            &[
                "iptables -A FORWARD -i ro -p tcp --dport 80 -j DROP",
                "ip6tables -A FORWARD -i ro -p tcp --dport 80 -j DROP",
            ],
        ) else {
            return;
        };
        let www = www(&lab);
        let mut extra: Vec<String> = vec!["--json".into(), DOMAIN.into()];
        extra.extend(ca_check_args(&lab));
        if !standalone {
            extra.extend(["--webroot".to_string(), www.clone()]);
        }
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let line = lab.acme_doctor_command(&lab.host, &extra);
        let mut child = Command::new(&line[0])
            .args(&line[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start acme-doctor");
        // `ip netns exec` execs the program: this pid is acme-doctor's.
        let pid = child.id();
        // Mid-validation: the CA has been asked (Pebble logs the attempt) and is dialling.
        let challenge = lab.dir.join("www/.well-known/acme-challenge");
        let asked = Instant::now() + Duration::from_secs(30);
        let mut published = false;
        while Instant::now() < asked {
            let pebble = lab.log("pebble.log");
            if pebble.contains("Attempting to validate")
                || pebble.contains("attempting to validate")
            {
                published = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let listening = lab
            .host_exec(&["ss", "-Hltnp", "sport = :80"])
            .unwrap_or_default();
        let files: Vec<_> = std::fs::read_dir(&challenge)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(
            published,
            "Pebble never started validating: {}",
            lab.log("pebble.log")
        );
        if standalone {
            assert!(
                listening.contains("acme-doctor"),
                "no responder: {listening}"
            );
        } else {
            assert_eq!(files.len(), 1, "the challenge file is published: {files:?}");
        }
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .expect("SIGINT acme-doctor");
        let until = Instant::now() + Duration::from_secs(15);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break Some(status);
            }
            if Instant::now() > until {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let status = status.expect("acme-doctor did not exit within 15 s of SIGINT");
        println!(
            "lab_cacheck ctrl-c ({}): exit {:?}",
            if standalone { "standalone" } else { "webroot" },
            status.code()
        );
        assert_eq!(status.code(), Some(130));
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
        nothing_left(&lab);
    }
}
