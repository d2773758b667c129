//! Lab tier for the web server's own configuration and for what stands in front of it: real
//! nginx in the lab's host namespace (and a second nginx as a "CDN"), acme-doctor on the
//! server reading `nginx -T` of the running nginx, and Pebble with lego as the real CA.
//!
//! Each scenario is a configuration seen in real failure reports (cited beside it); each test
//! asserts the top finding, its family and the file and line it names, and compares the
//! verdict with what the real CA did.

// Tests panic on purpose: a broken fixture or lab step should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::lab::{DOMAIN, Lab, Setup};
use serde_json::Value;

/// The host view: acme-doctor in the server's namespace, as JSON.
fn host_view(lab: &Lab, label: &str, extra: &[&str]) -> Value {
    let mut args = vec!["--json", DOMAIN];
    args.extend_from_slice(extra);
    let run = lab.acme_doctor(&lab.host, label, &args);
    let report = run.json();
    eprintln!(
        "{label}: {}",
        serde_json::to_string_pretty(&report["findings"]).unwrap()
    );
    report
}

/// The real CA's outcome: Pebble validating for lego (IPv6 first, no fallback).
fn pebble_issues(lab: &mut Lab) -> (bool, String) {
    lab.start_pebble().expect("Pebble starts");
    let real = lab.real_validation(DOMAIN);
    eprintln!("real CA: issued={} {}", real.issued, real.error);
    (real.issued, real.error)
}

fn top(report: &Value) -> (&str, Option<&str>) {
    let f = &report["findings"][0];
    (f["code"].as_str().unwrap_or("-"), f["family"].as_str())
}

fn text_of(f: &Value) -> String {
    format!("{} {} {}", f["title"], f["evidence"], f["fix"])
}

/// `FILE:LINE` of the first line of the lab's nginx configuration that contains `needle`:
/// where a finding must point.
fn line_of(lab: &Lab, needle: &str) -> String {
    let path = lab.dir.join("nginx.conf");
    let text = std::fs::read_to_string(&path).unwrap();
    let n = text
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in {}", path.display()));
    format!("{}:{}", path.display(), n + 1)
}

/// Two sites on one nginx: the name's block listens on IPv4 only, another site holds
/// `listen [::]:80 default_server`. IPv6 requests for the name reach the other site and its
/// 404, IPv4 is fine. This is what certbot's nginx plugin leaves when the original block had
/// no IPv6 listen (its port-80 block copies the listens it found: see
/// github.com/renancorreadev/hubweb-infra nginx/sites-available/hubweb3.com) beside Debian's
/// default site, which holds `listen [::]:80 default_server`. Reported at
/// krek.no/idlj/2025-12-11-letsencrypt-ipv6.html: certbot's `listen 80;` block, a new AAAA,
/// and "<IPv6-address>: Invalid response from http://<domain>/.well-known/acme-challenge/…: 404".
#[test]
fn ipv6_listen_on_another_vhost() {
    if !common::lab_available("lab_webconf::ipv6_listen_on_another_vhost") {
        return;
    }
    let setup = Setup {
        nginx_servers: Some(
            "  server {\n    listen 80;\n    server_name example.test;\n    root {www};\n    location / { try_files $uri =404; }\n  }\n\
               server {\n    listen [::]:80 default_server;\n    server_name other.test;\n    root {dir}/other;\n    location / { try_files $uri =404; }\n  }\n"
                .into(),
        ),
        ..Setup::default()
    };
    let mut lab = Lab::start(&setup);
    std::fs::create_dir_all(lab.dir.join("other")).unwrap();
    let report = host_view(&lab, "webconf-ipv6-vhost-host", &[]);
    assert_eq!(report["verdict"], "fail", "{report}");
    assert_eq!(top(&report), ("vhost-missing-ipv6-listen", Some("ipv6")));
    let f = &report["findings"][0];
    let text = text_of(f);
    // The other site's listen, and the name's own listen beside which the fix goes.
    assert!(
        text.contains(&line_of(&lab, "listen [::]:80 default_server")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "next to `listen 80;` at {}",
            line_of(&lab, "listen 80;")
        )),
        "{text}"
    );
    // With --webroot the CA's words name the real token this run wrote; without, a
    // placeholder.
    let token = report["facts"]["targets"][0]["method"]["http-01"]["token"]["token"]
        .as_str()
        .unwrap_or("<token>")
        .to_string();
    assert_eq!(
        f["ca_error"],
        format!(
            "{}: Invalid response from http://{DOMAIN}/.well-known/acme-challenge/{token}: 404",
            common::lab::HOST_V6
        )
    );
    let (issued, error) = pebble_issues(&mut lab);
    assert!(!issued, "Pebble dials IPv6 first and meets the other site");
    assert!(error.contains("404"), "{error}");
}

/// The hidden-files rule of the nginx wiki's WordPress recipe and of countless hardening
/// guides, `location ~ /\. { deny all; }`, matches `/.well-known/` too: every challenge gets
/// a 403 (the problem and its fix, a `location ^~ /.well-known/`, described at
/// serverdevworker.com/220402b11).
#[test]
fn challenge_location_shadowed() {
    if !common::lab_available("lab_webconf::challenge_location_shadowed") {
        return;
    }
    let setup = Setup {
        nginx_extra: vec!["location ~ /\\. { deny all; }".into()],
        ..Setup::default()
    };
    let mut lab = Lab::start(&setup);
    let report = host_view(&lab, "webconf-shadowed-host", &[]);
    assert_eq!(report["verdict"], "fail", "{report}");
    // Both families meet the same line: one finding, no family, above the 403s it explains.
    assert_eq!(top(&report), ("challenge-location-shadowed", None));
    let f = &report["findings"][0];
    assert!(
        text_of(f).contains(&line_of(&lab, "deny all")),
        "{}",
        text_of(f)
    );
    assert!(
        f["explains"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "challenge-status"),
        "{f}"
    );
    // With --webroot the CA's words name the real token this run wrote; without, a
    // placeholder.
    let token = report["facts"]["targets"][0]["method"]["http-01"]["token"]["token"]
        .as_str()
        .unwrap_or("<token>")
        .to_string();
    assert_eq!(
        f["ca_error"],
        format!(
            "{}: Invalid response from http://{DOMAIN}/.well-known/acme-challenge/{token}: 403",
            common::lab::HOST_V6
        )
    );
    let (issued, error) = pebble_issues(&mut lab);
    assert!(!issued);
    assert!(error.contains("403"), "{error}");
}

/// The webroot given to the ACME client is not the one nginx serves (the most reported
/// HTTP-01 failure: "certbot --webroot -w /var/www/html while the site's root is
/// /var/www/example"): lego writes the token where nginx never looks.
#[test]
fn webroot_mismatch() {
    if !common::lab_available("lab_webconf::webroot_mismatch") {
        return;
    }
    let setup = Setup {
        nginx_servers: Some(
            "  server {\n    listen 80;\n    listen [::]:80;\n    server_name example.test;\n    root {dir}/site;\n    location / { try_files $uri =404; }\n  }\n"
                .into(),
        ),
        ..Setup::default()
    };
    let mut lab = Lab::start(&setup);
    std::fs::create_dir_all(lab.dir.join("site")).unwrap();
    let www = lab.dir.join("www").to_string_lossy().into_owned();
    let report = host_view(&lab, "webconf-webroot-host", &["--webroot", &www]);
    assert_eq!(report["verdict"], "fail", "{report}");
    assert_eq!(top(&report), ("webroot-mismatch", None));
    let f = &report["findings"][0];
    assert!(
        text_of(f).contains(&line_of(&lab, "/site;")),
        "{}",
        text_of(f)
    );
    // With --webroot the CA's words name the real token this run wrote; without, a
    // placeholder.
    let token = report["facts"]["targets"][0]["method"]["http-01"]["token"]["token"]
        .as_str()
        .unwrap_or("<token>")
        .to_string();
    assert_eq!(
        f["ca_error"],
        format!(
            "{}: Invalid response from http://{DOMAIN}/.well-known/acme-challenge/{token}: 404",
            common::lab::HOST_V6
        )
    );
    let (issued, error) = pebble_issues(&mut lab);
    assert!(!issued);
    assert!(error.contains("404"), "{error}");
}

/// The wrong-webroot site of [`webroot_mismatch`], beside an unrelated site on port 8080 whose
/// locations nest 40 deep: real nginx runs it, and the reader stops at its cap of 32. The run
/// says so (incomplete, the file and line where the reader stopped, in `--json` and `-v`)
/// and judges nothing on the configuration's part it read; the real CA still meets the 404.
#[test]
fn a_configuration_over_the_readers_cap_is_incomplete_never_a_pass() {
    if !common::lab_available(
        "lab_webconf::a_configuration_over_the_readers_cap_is_incomplete_never_a_pass",
    ) {
        return;
    }
    let setup = Setup {
        nginx_servers: Some(format!(
            "  server {{\n    listen 80;\n    listen [::]:80;\n    server_name example.test;\n    root {{dir}}/site;\n    location / {{ try_files $uri =404; }}\n  }}\n  server {{\n    listen 8080;\n    {}\n    {}\n  }}\n",
            "location /x { ".repeat(40),
            "} ".repeat(40)
        )),
        ..Setup::default()
    };
    let mut lab = Lab::start(&setup);
    std::fs::create_dir_all(lab.dir.join("site")).unwrap();
    let www = lab.dir.join("www").to_string_lossy().into_owned();
    let report = host_view(&lab, "webconf-over-cap-host", &["--webroot", &www]);
    let stopped = line_of(&lab, "location /x {");
    let reasons: Vec<&str> = report["incomplete_reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|r| r.contains("nginx's configuration could not be read"))
        .collect();
    assert!(
        reasons.len() == 1
            && reasons[0].contains(&stopped)
            && reasons[0].contains("nesting depth 32"),
        "{reasons:?}"
    );
    assert_eq!(report["incomplete"], true);
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["code"] != "webroot-mismatch"),
        "{report}"
    );
    let verbose = lab.acme_doctor(
        &lab.host,
        "webconf-over-cap-host-v",
        &["-v", DOMAIN, "--webroot", &www],
    );
    let want = if report["verdict"] == "fail" { 1 } else { 3 };
    assert_eq!(verbose.code, want, "{}", verbose.stderr);
    assert!(
        verbose.stdout.contains(&stopped) && verbose.stdout.contains("nesting depth 32"),
        "{}",
        verbose.stdout
    );
    let (issued, error) = pebble_issues(&mut lab);
    assert!(!issued);
    assert!(error.contains("404"), "{error}");
}

/// A "CDN": a namespace of its own running nginx as a reverse proxy to the host, and the name
/// publishing the CDN's addresses, as a proxied Cloudflare record does. The CA validates
/// against the CDN, which forwards the challenge: Pebble issues, and acme-doctor on the host
/// says what stands in front.
///
/// The lab's addresses are documentation ranges, which no CDN publishes, and the lab's nginx
/// sends `Server: nginx` like any origin; rather than fake a CDN's header, the test gives the
/// hidden `--cdn-ranges FILE` a file in the shipped format naming the lab CDN's range: the
/// same lookup, provenance and wording as production, only the data differs.
#[test]
fn cdn_namespace_proxying_to_the_host() {
    if !common::lab_available("lab_webconf::cdn_namespace_proxying_to_the_host") {
        return;
    }
    let setup = Setup {
        host_records: vec![format!("{DOMAIN},203.0.113.80,2001:db8:c0::80")],
        ..Setup::default()
    };
    let mut lab = Lab::start(&setup);
    let cdn = lab
        .add_spoke(
            "c",
            "203.0.113.65/26",
            "203.0.113.80/26",
            "2001:db8:c0::1/64",
            "2001:db8:c0::80/64",
        )
        .expect("CDN namespace");
    lab.start_nginx_in(
        &cdn,
        "cdn",
        "  server {\n    listen 80;\n    listen [::]:80;\n    location / {\n      proxy_pass http://192.0.2.10;\n      proxy_set_header Host $host;\n    }\n  }\n",
    )
    .expect("CDN nginx");
    let ranges = lab.dir.join("cdn-ranges.txt");
    std::fs::write(
        &ranges,
        "@provider Lab CDN\n@source https://cdn.example.test/ips\n@as-of 2026-11-28\n203.0.113.64/26\n2001:db8:c0::/64\n",
    )
    .unwrap();
    let ranges = ranges.to_string_lossy().into_owned();
    let report = host_view(&lab, "webconf-cdn-host", &["--cdn-ranges", &ranges]);
    assert_eq!(report["verdict"], "at-risk", "{report}");
    assert_eq!(top(&report), ("proxy-in-front", None));
    let f = &report["findings"][0];
    let text = text_of(f);
    assert!(
        text.contains("2001:db8:c0::/64") && text.contains("as of 2026-11-28"),
        "{text}"
    );
    assert!(
        f["explains"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "not-on-host"),
        "{f}"
    );
    // Without the lab's ranges the documentation addresses are no CDN's: nothing claimed.
    let plain = host_view(&lab, "webconf-cdn-host-shipped", &[]);
    assert!(
        !plain["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "proxy-in-front"),
        "{plain}"
    );
    let (issued, error) = pebble_issues(&mut lab);
    assert!(issued, "the CDN forwards the challenge: {error}");
}
