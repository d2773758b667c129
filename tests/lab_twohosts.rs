//! Lab tier: two machines behind one name, running the same server software (issue 20 item
//! 5). The name's A is the lab host (Debian's nginx, the current site); its AAAA is a second
//! machine running the same Debian nginx with the old copy of the site and its own
//! certificate, as after a move that left the AAAA on the old server. Status, `Server` and
//! title agree, and without a token both answer the challenge path with the same nginx 404:
//! only the site's body, its `ETag` and the certificate on 443 tell the machines apart.
//!
//! Reports: a renewal that failed after a move because the AAAA still named the old server's
//! IPv6 address, seen as `addressUsed` in certbot's log
//! (https://blog.n-z.jp/blog/2017-06-14-failed-to-update-letsencrypt); Let's Encrypt's own
//! note that "commonly the IPv6 address will be a different server than the IPv4 address where
//! the ACME client is being run" (https://letsencrypt.org/docs/ipv6-support/).
//!
//! Controls in the same lab: a name whose A and AAAA are both the host (one machine, one
//! site, one certificate), and one whose `/` and 404 change per request (a dynamic site on
//! one machine): neither may say `families-disagree`. Pebble is the oracle: it dials the AAAA
//! first, meets the old server's 404 for the token lego wrote on the host, and fails.

// Tests panic on purpose: a broken fixture or lab step should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::lab::{DOMAIN, HOST_V4, HOST_V6, Lab, Setup};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The old server's IPv6 address, on a spoke of its own behind the router.
const OLD_V6: &str = "2001:db8:e0::10";
/// One machine with both records (the control).
const SAME: &str = "same.test";
/// One machine whose pages change per request (the control for dynamic pages).
const DYNAMIC: &str = "dynamic.test";

/// Certificates made for this test, removed when it ends, failed or not.
struct Certs(PathBuf);

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A self-signed certificate for `example.test` named `name` under `dir`: (cert, key).
fn self_signed(dir: &Path, name: &str) -> (String, String) {
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", &format!("/CN={DOMAIN}/O={name}"), "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert.display().to_string(), key.display().to_string())
}

/// The `server` block each machine runs: the same Debian nginx on 80 and 443, a site's root.
fn site_server(root: &str, (cert, key): &(String, String)) -> String {
    format!(
        "  server {{\n    listen 80;\n    listen [::]:80;\n    listen 443 ssl;\n    listen [::]:443 ssl;\n    server_name _;\n    ssl_certificate {cert};\n    ssl_certificate_key {key};\n    root {root};\n    location / {{ try_files $uri $uri/ =404; }}\n  }}\n"
    )
}

/// The findings of one run: (code, family, severity, title).
fn findings(run: &common::Run) -> Vec<(String, String, String, String)> {
    let json: Value = run.json();
    json["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
                    (s("code"), s("family"), s("severity"), s("title"))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn page(title: &str, text: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><title>{title}</title></head>\n<body><h1>{title}</h1><p>{text}</p></body></html>\n"
    )
}

#[test]
fn a_second_machine_behind_the_aaaa_with_the_same_nginx() {
    if !common::lab_available_with(
        "a_second_machine_behind_the_aaaa_with_the_same_nginx",
        &["openssl"],
    ) {
        return;
    }
    let certs =
        Certs(std::env::temp_dir().join(format!("acme-doctor-twohosts-{}", std::process::id())));
    std::fs::create_dir_all(&certs.0).unwrap();
    let (new_cert, old_cert) = (self_signed(&certs.0, "new"), self_signed(&certs.0, "old"));
    let dynamic = format!(
        "  server {{\n    listen 80;\n    listen [::]:80;\n    server_name {DYNAMIC};\n    location /.well-known/acme-challenge/ {{ root {{www}}; try_files $uri =404; }}\n    location = / {{ default_type text/html; return 200 '<title>Shop</title><input name=csrf value=$request_id>'; }}\n    location / {{ default_type text/html; return 404 '<title>Not found</title>$request_id'; }}\n  }}\n"
    );
    let mut lab = Lab::start(&Setup {
        host_records: vec![
            format!("{DOMAIN},{HOST_V4},{OLD_V6}"),
            format!("{SAME},{HOST_V4},{HOST_V6}"),
            format!("{DYNAMIC},{HOST_V4},{HOST_V6}"),
        ],
        nginx_servers: Some(format!("{}{dynamic}", site_server("{www}", &new_cert))),
        ..Setup::default()
    });
    // The site, current on the host, and its old copy on the other machine: the same title.
    std::fs::write(
        lab.dir.join("www/index.html"),
        page(
            "Example Shop",
            "Autumn collection, now shipping from our new warehouse.",
        ),
    )
    .unwrap();
    let old_site = lab.dir.join("old-site");
    std::fs::create_dir_all(&old_site).unwrap();
    std::fs::write(
        old_site.join("index.html"),
        page("Example Shop", "Spring sale."),
    )
    .unwrap();
    let old = lab
        .add_spoke(
            "e",
            "203.0.113.193/26",
            "203.0.113.200/26",
            "2001:db8:e0::1/64",
            &format!("{OLD_V6}/64"),
        )
        .expect("the old server");
    lab.start_nginx_in(
        &old,
        "old",
        &site_server(&old_site.display().to_string(), &old_cert),
    )
    .expect("the old server's nginx");

    // From outside: the same nginx answers on both families, but another site and another
    // certificate answer on IPv6.
    let outside = lab.acme_doctor(
        &lab.outside.clone(),
        "twohosts-outside",
        &["--json", DOMAIN],
    );
    let found = findings(&outside);
    let (code, family, severity, title) = found.first().cloned().unwrap_or_default();
    assert_eq!(
        (code.as_str(), family.as_str(), severity.as_str()),
        ("families-disagree", "ipv6", "warning"),
        "outside: {found:?}\n{}",
        outside.stdout
    );
    assert!(
        title.contains("different machines")
            && title.contains("the certificate on 443")
            && title.contains("the ETag of /")
            && title.contains("the body of /"),
        "the finding names the signals that differ: {title}"
    );
    let facts = &outside.json()["facts"]["targets"][0]["method"]["http-01"]["answers"];
    let sha = |ip: &str| {
        facts
            .as_array()
            .and_then(|a| a.iter().find(|x| x["address"] == ip))
            .map(|x| x["tls"]["sha256"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    assert!(
        !sha(HOST_V4).is_empty() && !sha(OLD_V6).is_empty() && sha(HOST_V4) != sha(OLD_V6),
        "each address's certificate on 443 is in the facts: {facts}"
    );

    // On the server: the AAAA is no address of this host.
    let host = lab.acme_doctor(&lab.host.clone(), "twohosts-host", &["--json", DOMAIN]);
    let found = findings(&host);
    assert_eq!(
        found.first().map(|f| (f.0.as_str(), f.1.as_str())),
        Some(("aaaa-not-local", "ipv6")),
        "host: {found:?}\n{}",
        host.stdout
    );
    assert!(
        found.iter().any(|f| f.0 == "families-disagree"),
        "host: the comparison stands beside it, explained by it: {found:?}"
    );
    assert_eq!(host.code, 1, "host: a blocker exits 1");

    // Controls: one machine behind both records, static or dynamic, is one site.
    for name in [SAME, DYNAMIC] {
        let run = lab.acme_doctor(
            &lab.outside.clone(),
            &format!("twohosts-control-{name}"),
            &["--json", name],
        );
        let found = findings(&run);
        assert!(
            !found.iter().any(|f| f.0 == "families-disagree"),
            "{name}: one machine is not two: {found:?}\n{}",
            run.stdout
        );
        let answers = &run.json()["facts"]["targets"][0]["method"]["http-01"]["answers"];
        assert_eq!(
            answers.as_array().map(Vec::len),
            Some(2),
            "{name}: both addresses answered: {answers}"
        );
        if name == DYNAMIC {
            // The 404 and `/` differ between the two addresses and from one request to the
            // next: that is what the second request of `/` shows.
            let again = answers
                .as_array()
                .and_then(|a| a.iter().find_map(|x| x["root_again_sha256"].as_str()));
            assert!(again.is_some(), "{name}: / asked twice: {answers}");
        }
    }

    // The real CA: lego writes the token on the host, Pebble dials the AAAA first and meets
    // the old server's 404.
    lab.start_pebble().expect("Pebble starts");
    let real = lab.real_validation(DOMAIN);
    assert!(
        !real.issued,
        "Pebble dials the old server over IPv6 and fails"
    );
    assert!(
        real.error.contains(OLD_V6) || real.error.contains("404"),
        "Pebble's error names the old server's answer: {}",
        real.error
    );
}
