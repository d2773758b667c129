//! Lab tier for the CA's HTTP-01 path (its redirects, re-resolution and answer rules): real
//! nginx configurations in the lab's namespaces, acme-doctor run on the server (host view) and
//! from the CA's side of the router (outside view). Each scenario asserts the top code, its
//! family and the exact predicted `ca_error`. Pebble is not the oracle here: its redirect and
//! body rules differ from Boulder's (`docs/ca-behaviour.md` §9.5, §9.9), which is what these
//! scenarios test.
//!
//! Plus the token's lifecycle: `--webroot` leaves no file behind, on success, on a refused
//! symlink trap, and on Ctrl-C in the middle of a run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::lab::{DOMAIN, Lab, Setup};
use serde_json::Value;
use std::path::Path;

const CHALLENGE: &str = "/.well-known/acme-challenge/";

/// The top finding of one view: code, family, ca_error.
fn top(run: &common::Run) -> (String, Option<String>, String) {
    let json: Value = run.json();
    let f = &json["findings"][0];
    (
        f["code"].as_str().unwrap_or_default().to_string(),
        f["family"].as_str().map(str::to_string),
        f["ca_error"].as_str().unwrap_or_default().to_string(),
    )
}

/// The token of the run (from the facts), to spell the exact URL the CA would name.
/// The token the CA's words name: the real one this run wrote or was given, else the
/// `<token>` placeholder (a random token is this run's, not the CA's).
fn token_of(run: &common::Run) -> String {
    let json: Value = run.json();
    let facts = &json["facts"]["targets"][0]["method"]["http-01"];
    if facts["token"].is_null() {
        return "<token>".into();
    }
    let url = facts["ca_path"]["url"].as_str().unwrap_or_default();
    url.rsplit('/').next().unwrap_or_default().to_string()
}

/// Files under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            out.push(p.display().to_string());
            if p.is_dir() && !p.is_symlink() {
                out.extend(files_under(&p));
            }
        }
    }
    out
}

struct Case {
    name: &'static str,
    nginx_extra: Vec<String>,
    /// Extra arguments: `{www}` is the lab's webroot, `{elsewhere}` another directory.
    args: Vec<&'static str>,
    code: &'static str,
    family: &'static str,
    /// The predicted ca_error with `{token}` for the run's token.
    ca_error: &'static str,
    /// On the host, nginx's own configuration names the root cause (tests/lab_webconf.rs):
    /// that code tops the host view, for every family, with the same predicted error.
    host_root: Option<&'static str>,
    /// What the real CA (lego asking Pebble, with lego's webroot the one nginx serves)
    /// does: `Ok(issues)`, or why the oracle does not apply.
    pebble: Result<bool, &'static str>,
}

fn run_case(case: &Case) {
    if !common::lab_available(case.name) {
        return;
    }
    let mut lab = Lab::start(&Setup {
        nginx_extra: case.nginx_extra.clone(),
        ..Setup::default()
    });
    let www = lab.dir.join("www");
    let elsewhere = lab.dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let before_www = files_under(&www);
    for (view, ns) in [("host", lab.host.clone()), ("outside", lab.outside.clone())] {
        let mut args: Vec<String> = vec!["--json".into(), DOMAIN.into()];
        for a in &case.args {
            args.push(
                a.replace("{www}", &www.display().to_string())
                    .replace("{elsewhere}", &elsewhere.display().to_string()),
            );
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = lab.acme_doctor(&ns, &format!("{}-{view}", case.name), &args);
        let (code, family, ca_error) = top(&run);
        let expected = case.ca_error.replace("{token}", &token_of(&run));
        let (want_code, want_family) = match (view, case.host_root) {
            ("host", Some(root)) => (root, None),
            _ => (case.code, Some(case.family)),
        };
        assert_eq!(
            (code.as_str(), family.as_deref(), ca_error.as_str()),
            (want_code, want_family, expected.as_str()),
            "{} ({view}): stdout {}\nstderr {}",
            case.name,
            run.stdout,
            run.stderr
        );
        assert_eq!(run.code, 1, "{} ({view}): a blocker exits 1", case.name);
        // --webroot leaves nothing behind.
        assert_eq!(files_under(&www), before_www, "{}: www changed", case.name);
        assert!(
            files_under(&elsewhere).is_empty(),
            "{}: left files",
            case.name
        );
    }
    pebble_agrees(&mut lab, case.name, case.pebble);
}

/// The real CA: lego asks Pebble for a certificate, writing its token where nginx serves it.
fn pebble_agrees(lab: &mut Lab, name: &str, expected: Result<bool, &str>) {
    let Ok(issues) = expected else { return };
    lab.start_pebble().expect("Pebble starts");
    let real = lab.real_validation(DOMAIN);
    assert_eq!(
        real.issued,
        issues,
        "{name}: the real CA {} ({})",
        if real.issued { "issued" } else { "failed" },
        real.error
    );
}

/// The webroot given to the client is not the one nginx serves: the real token 404s.
/// (The most reported HTTP-01 failure, e.g. https://community.letsencrypt.org/t/the-client-lacks-sufficient-authorization-404/ .)
#[test]
fn wrong_webroot() {
    run_case(&Case {
        name: "wrong_webroot",
        nginx_extra: Vec::new(),
        args: vec!["--webroot", "{elsewhere}"],
        code: "challenge-not-served",
        family: "ipv6",
        ca_error: "2001:db8:2::10: Invalid response from http://example.test/.well-known/acme-challenge/{token}: 404",
        host_root: Some("webroot-mismatch"),
        pebble: Err(
            "the oracle's lego writes into the root nginx serves: the wrong webroot is only acme-doctor's --webroot here",
        ),
    });
}

/// The challenge path is proxied to an application that answers 404 itself (a CMS route).
#[test]
fn challenge_proxied_to_an_app() {
    run_case(&Case {
        name: "challenge_proxied_to_an_app",
        nginx_extra: vec![
            "location ^~ /.well-known/acme-challenge/ { default_type application/json; return 404 '{\"error\":\"route not found\"}'; }".into(),
        ],
        args: vec!["--webroot", "{www}"],
        code: "challenge-not-served",
        family: "ipv6",
        ca_error: "2001:db8:2::10: Invalid response from http://example.test/.well-known/acme-challenge/{token}: 404",
        host_root: Some("challenge-location-shadowed"),
        pebble: Ok(false),
    });
}

/// A file saved with a UTF-8 byte-order mark (Windows editors, PowerShell's Out-File):
/// https://community.letsencrypt.org/t/the-key-authorization-file-from-the-server-did-not-match-this-challenge/
#[test]
fn body_with_a_bom() {
    if !common::lab_available("body_with_a_bom") {
        return;
    }
    let lab = Lab::start(&Setup::default());
    let dir = lab.dir.join("www").join(&CHALLENGE[1..]);
    std::fs::write(dir.join("bomtok"), "\u{FEFF}bomtok.thumbprint\r\n").unwrap();
    for ns in [lab.host.clone(), lab.outside.clone()] {
        let run = lab.acme_doctor(
            &ns,
            "bom",
            &["--json", DOMAIN, "--expect-body", "bomtok.thumbprint"],
        );
        assert_eq!(
            top(&run),
            (
                "challenge-wrong-content".to_string(),
                Some("ipv6".to_string()),
                "The key authorization file from the server did not match this challenge. Expected \"bomtok.thumbprint\" (got \"\\ufeffbomtok.thumbprint\")".to_string()
            ),
            "{}",
            run.stdout
        );
    }
}

/// A redirect to another port: the CA refuses it, and port 443 plays no part.
/// (e.g. https://community.letsencrypt.org/t/invalid-port-in-redirect-target/ )
#[test]
fn redirect_to_port_9443() {
    run_case(&Case {
        name: "redirect_to_port_9443",
        nginx_extra: vec![
            "location ^~ /.well-known/acme-challenge/ { return 301 https://$host:9443$request_uri; }".into(),
        ],
        args: vec![],
        code: "bad-redirect",
        family: "ipv6",
        ca_error: "2001:db8:2::10: Fetching https://example.test:9443/.well-known/acme-challenge/{token}: Invalid port in redirect target. Only ports 80 and 443 are supported, not 9443",
        host_root: Some("challenge-location-shadowed"),
        pebble: Ok(false),
    });
}

/// A server-level rewrite to HTTPS on port 8443, as certbot#3542's sample configuration
/// (https://github.com/certbot/certbot/issues/3542: `rewrite ^/(.*) https://…:8443/$1;` in the
/// port-80 server): the CA refuses the port, and on the host nginx's line is the root
/// (issue 20 item 4).
#[test]
fn redirect_to_port_8443() {
    run_case(&Case {
        name: "redirect_to_port_8443",
        nginx_extra: vec!["rewrite ^/(.*) https://$host:8443/$1 permanent;".into()],
        args: vec![],
        code: "bad-redirect",
        family: "ipv6",
        ca_error: "2001:db8:2::10: Fetching https://example.test:8443/.well-known/acme-challenge/{token}: Invalid port in redirect target. Only ports 80 and 443 are supported, not 8443",
        host_root: Some("challenge-location-shadowed"),
        pebble: Ok(false),
    });
}

/// Twelve redirects: Boulder follows eleven and refuses the twelfth (§2.5 step 1).
#[test]
fn twelve_redirects() {
    let mut extra = vec![
        "location ^~ /.well-known/acme-challenge/ { return 301 http://$host/r1; }".to_string(),
    ];
    for i in 1..=11 {
        extra.push(format!(
            "location = /r{i} {{ return 302 http://$host/r{}; }}",
            i + 1
        ));
    }
    run_case(&Case {
        name: "twelve_redirects",
        nginx_extra: extra,
        args: vec![],
        code: "bad-redirect",
        family: "ipv6",
        ca_error: "2001:db8:2::10: Fetching http://example.test/r12: Too many redirects",
        host_root: Some("challenge-location-shadowed"),
        pebble: Ok(false),
    });
}

/// A redirect loop: /a → /b → /a.
#[test]
fn redirect_loop() {
    run_case(&Case {
        name: "redirect_loop",
        nginx_extra: vec![
            "location ^~ /.well-known/acme-challenge/ { return 301 http://$host/a; }".into(),
            "location = /a { return 301 http://$host/b; }".into(),
            "location = /b { return 301 http://$host/a; }".into(),
        ],
        args: vec![],
        code: "bad-redirect",
        family: "ipv6",
        ca_error: "2001:db8:2::10: Fetching http://example.test/a: Redirect loop detected",
        host_root: Some("challenge-location-shadowed"),
        pebble: Ok(false),
    });
}

/// A webroot whose `.well-known` is a symlink out of it: refused, exit 2, nothing written
/// anywhere. No network needed: the token is written before any probe.
#[test]
fn webroot_symlink_trap() {
    let base = std::env::temp_dir().join(format!("acme-doctor-trap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let root = base.join("root");
    let target = base.join("etc-like");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(target.join("acme-challenge")).unwrap();
    std::os::unix::fs::symlink(&target, root.join(".well-known")).unwrap();
    let run = common::acme_doctor(&[
        "--webroot",
        root.to_str().unwrap(),
        "--allow-reserved",
        "--resolver",
        "127.0.0.1:9",
        "example.test",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("symlink"), "{}", run.stderr);
    assert!(files_under(&target.join("acme-challenge")).is_empty());
    std::fs::remove_dir_all(&base).unwrap();
}

/// Ctrl-C while the run is in flight (its resolver never answers): the token and the
/// directories made for it are gone, and the exit code is 130.
#[test]
fn sigint_mid_run_leaves_no_file() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let base = std::env::temp_dir().join(format!("acme-doctor-sigint-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    // A DNS server that never answers keeps the run in flight.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let resolver = silent.local_addr().unwrap().to_string();
    let mut child = std::process::Command::new(common::BIN)
        .args([
            "--webroot",
            base.to_str().unwrap(),
            "--resolver",
            &resolver,
            "--allow-reserved",
            "--timeout",
            "20s",
            "example.test",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the token is on disk, then interrupt.
    let dir = base.join(".well-known/acme-challenge");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while files_under(&dir).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(files_under(&dir).len(), 1, "the token was written");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(files_under(&base).is_empty(), "{:?}", files_under(&base));
    drop(silent);
    std::fs::remove_dir_all(&base).unwrap();
}

/// A redirect to HTTPS while nothing listens on 443 (a certificate never installed): each
/// attempt re-resolves the target IPv6 first, so even after the fallback to IPv4 on port 80 the
/// CA dials the AAAA on 443 and fails there (`docs/ca-behaviour.md` §2.2, §2.5 step 13).
/// On the host, nginx's redirect line is the root that explains the dead port (issue 20
/// item 4; the fix of https://github.com/appsmithorg/appsmith/pull/27788: serve the challenge
/// on port 80 instead of redirecting it to a 443 closed to the outside).
#[test]
fn redirect_to_https_with_443_closed() {
    run_case(&Case {
        name: "redirect_to_https_with_443_closed",
        nginx_extra: vec![
            "location ^~ /.well-known/acme-challenge/ { return 301 https://$host$request_uri; }"
                .into(),
        ],
        args: vec![],
        code: "port-refused",
        family: "ipv6",
        ca_error: "2001:db8:2::10: Fetching https://example.test/.well-known/acme-challenge/{token}: Connection refused",
        host_root: Some("challenge-location-shadowed"),
        pebble: Ok(false),
    });
}

/// A redirect to HTTPS where 443 listens on IPv4 only (`listen 443 ssl;` without
/// `listen [::]:443 ssl;`): IPv4 works in a browser, the CA's IPv6-first hop is refused.
#[test]
fn redirect_to_https_with_443_closed_on_ipv6_only() {
    if !common::lab_available("redirect_to_https_with_443_closed_on_ipv6_only") {
        return;
    }
    let certs = std::env::temp_dir().join(format!("acme-doctor-tls-{}", std::process::id()));
    std::fs::create_dir_all(&certs).unwrap();
    let (key, cert) = (certs.join("key.pem"), certs.join("cert.pem"));
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args([
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=example.test",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let lab = Lab::start(&Setup {
        listen: vec![
            "listen 80;".into(),
            "listen [::]:80;".into(),
            "listen 443 ssl;".into(),
        ],
        nginx_extra: vec![
            format!("ssl_certificate {};", cert.display()),
            format!("ssl_certificate_key {};", key.display()),
            "location ^~ /.well-known/acme-challenge/ { if ($scheme = http) { return 301 https://$host$request_uri; } return 404; }".into(),
        ],
        ..Setup::default()
    });
    for (view, ns) in [("host", lab.host.clone()), ("outside", lab.outside.clone())] {
        let run = lab.acme_doctor(
            &ns,
            &format!("https-443-v6-closed-{view}"),
            &["--json", DOMAIN],
        );
        let token = token_of(&run);
        // On the host, nginx's redirect line starts the failing chain and explains the dead
        // port (issue 20 item 4); from outside, the dead port is what shows.
        let (code, family) = match view {
            "host" => ("challenge-location-shadowed", None),
            _ => ("port-refused", Some("ipv6".to_string())),
        };
        assert_eq!(
            top(&run),
            (
                code.to_string(),
                family,
                format!(
                    "2001:db8:2::10: Fetching https://example.test/.well-known/acme-challenge/{token}: Connection refused"
                )
            ),
            "{view}: {}",
            run.stdout
        );
    }
    drop(lab);
    std::fs::remove_dir_all(&certs).unwrap();
}

/// The AAAA points at another machine serving another site (a stale record after a move, a
/// shared IPv6 of the hosting provider): the CA dials IPv6 first, meets that site's 404 for
/// the token, and does not fall back, although IPv4 serves the token. Reports: "IPv6 serves
/// another site" threads on community.letsencrypt.org, e.g.
/// https://community.letsencrypt.org/t/aaaa-record-points-to-a-different-server/ (the
/// pattern of every "works over IPv4, 404 for the CA" report).
#[test]
fn aaaa_on_another_machine() {
    if !common::lab_available("aaaa_on_another_machine") {
        return;
    }
    const OTHER_V6: &str = "2001:db8:d0::10";
    let mut lab = Lab::start(&Setup {
        host_records: vec![format!("{DOMAIN},{},{OTHER_V6}", common::lab::HOST_V4)],
        ..Setup::default()
    });
    let other = lab
        .add_spoke(
            "d",
            "203.0.113.129/26",
            "203.0.113.140/26",
            "2001:db8:d0::1/64",
            &format!("{OTHER_V6}/64"),
        )
        .expect("the other machine");
    let site = lab.dir.join("other-site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("index.html"), "<title>Another site</title>\n").unwrap();
    lab.start_nginx_in(
        &other,
        "other",
        &format!(
            "  server {{\n    listen 80;\n    listen [::]:80;\n    root {};\n  }}\n",
            site.display()
        ),
    )
    .expect("the other machine's nginx");
    let www = lab.dir.join("www");
    let before = files_under(&www);
    let webroot = www.display().to_string();
    for (view, ns) in [("host", lab.host.clone()), ("outside", lab.outside.clone())] {
        let run = lab.acme_doctor(
            &ns,
            &format!("http01-aaaa-elsewhere-{view}"),
            &["--json", DOMAIN, "--webroot", &webroot],
        );
        let token = token_of(&run);
        let (code, family, ca_error) = top(&run);
        let codes: Vec<String> = run.json()["findings"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|f| format!("{} {}", f["code"], f["family"]))
                    .collect()
            })
            .unwrap_or_default();
        eprintln!("[{view}] {codes:?}");
        let want = match view {
            // On the server the cause is named: the AAAA is not this host's.
            "host" => "aaaa-not-local",
            // From outside, the two families answer differently.
            _ => "families-disagree",
        };
        assert_eq!(
            (code.as_str(), family.as_deref()),
            (want, Some("ipv6")),
            "{view}: {codes:?}\n{}",
            run.stdout
        );
        assert_eq!(
            ca_error,
            format!(
                "{OTHER_V6}: Invalid response from http://{DOMAIN}/.well-known/acme-challenge/{token}: 404"
            ),
            "{view}"
        );
        assert_eq!(run.code, 1, "{view}: a blocker exits 1");
        assert_eq!(files_under(&www), before, "{view}: www changed");
    }
    // Pebble dials the first AAAA too, and meets the other site's 404.
    pebble_agrees(&mut lab, "aaaa_on_another_machine", Ok(false));
}

/// Plain HTTP on port 443: `listen 443;` without `ssl` (a common slip when adding HTTPS by
/// hand) behind the usual redirect to https. The CA's TLS handshake meets an HTTP answer.
#[test]
fn http_on_https_port() {
    if !common::lab_available("http_on_https_port") {
        return;
    }
    let lab = Lab::start(&Setup {
        listen: vec![
            "listen 80;".into(),
            "listen [::]:80;".into(),
            "listen 443;".into(),
            "listen [::]:443;".into(),
        ],
        nginx_extra: vec![
            "location ^~ /.well-known/acme-challenge/ { if ($server_port = 80) { return 301 https://$host$request_uri; } return 404; }".into(),
        ],
        ..Setup::default()
    });
    for (view, ns) in [("host", lab.host.clone()), ("outside", lab.outside.clone())] {
        let run = lab.acme_doctor(&ns, &format!("http-on-443-{view}"), &["--json", DOMAIN]);
        let codes: Vec<(String, String)> = run.json()["findings"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|f| (f["code"].to_string(), f["family"].to_string()))
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            codes
                .iter()
                .any(|(c, f)| c == "\"http-on-https-port\"" && f == "\"ipv6\""),
            "{view}: {codes:?}\n{}",
            run.stdout
        );
        assert_eq!(run.code, 1, "{view}: a blocker exits 1");
    }
}

/// The A record is another machine's while the AAAA is this host's (a half-finished move): on
/// the server `a-not-local` says so; the CA dials IPv6 first, so it is a warning.
#[test]
fn a_on_another_machine() {
    if !common::lab_available("a_on_another_machine") {
        return;
    }
    let mut lab = Lab::start(&Setup {
        host_records: vec![format!("{DOMAIN},203.0.113.140,{}", common::lab::HOST_V6)],
        ..Setup::default()
    });
    lab.add_spoke(
        "d",
        "203.0.113.129/26",
        "203.0.113.140/26",
        "2001:db8:d0::1/64",
        "2001:db8:d0::10/64",
    )
    .expect("the other machine");
    let run = lab.acme_doctor(&lab.host, "http01-a-elsewhere-host", &["--json", DOMAIN]);
    let json = run.json();
    let a = json["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["code"] == "a-not-local"))
        .unwrap_or_else(|| panic!("no a-not-local: {}", run.stdout));
    assert_eq!(a["family"], "ipv4");
    assert_eq!(a["severity"], "warning");
    assert!(a["title"].to_string().contains("203.0.113.140"), "{a}");
}
