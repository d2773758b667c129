//! CLI and loopback tiers: IP identifiers (RFC 8738, `docs/ca-behaviour.md` §11). The inputs
//! the CA refuses are refused in its words with exit 2 and nothing looked up or dialled; an
//! accepted address is fetched at itself, with the literal as Host and no DNS query at all.
//! The loopback test binds port 80 of a loopback address of its own (root, as the CA's port
//! is fixed): it skips loudly where it cannot, and fails under CI=true.

// Tests panic on purpose: a broken fixture or lab step should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::acme_doctor;
use common::contract::IdentifierType;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::sync::{Arc, Mutex};

/// A resolver that never answers and remembers whether it was asked.
struct Resolver(UdpSocket);

impl Resolver {
    fn new() -> Resolver {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        Resolver(socket)
    }

    fn addr(&self) -> String {
        self.0.local_addr().unwrap().to_string()
    }

    fn was_asked(&self) -> bool {
        let mut buf = [0u8; 4096];
        self.0.recv_from(&mut buf).is_ok()
    }
}

/// Runs acme-doctor on `input` (plus `extra`) against a resolver that must not be asked, and
/// returns the refusal: exit 2, nothing on stdout, the same words under `--json`.
fn refused(input: &str, extra: &[&str]) -> String {
    let resolver = Resolver::new();
    let addr = resolver.addr();
    let mut args = vec!["--resolver", addr.as_str(), "--timeout", "1s"];
    args.extend_from_slice(extra);
    args.push(input);
    let run = acme_doctor(&args);
    assert_eq!(run.code, 2, "{input}: {}", run.stderr);
    assert!(run.stdout.is_empty(), "{input}: {}", run.stdout);
    let mut json = vec!["--json"];
    json.extend_from_slice(&args);
    let as_json = acme_doctor(&json);
    assert_eq!(as_json.code, 2, "{input}: {}", as_json.stderr);
    let error = as_json.json();
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| run.stderr.contains(m)),
        "{input}: {error} vs {}",
        run.stderr
    );
    assert!(!resolver.was_asked(), "{input} was looked up");
    run.stderr
}

#[test]
fn a_non_canonical_address_is_refused_in_the_cas_words() {
    for (input, value, canonical) in [
        ("203.0.113.05", "203.0.113.05", "203.0.113.5"),
        ("2001:db8:0::1", "2001:db8:0::1", "2001:db8::1"),
        ("2001:0DB8::1", "2001:0db8::1", "2001:db8::1"),
        ("[2001:db8::1]", "[2001:db8::1]", "2001:db8::1"),
    ] {
        let why = refused(input, &["--allow-reserved"]);
        assert!(
            why.contains(&format!(
                "Invalid identifiers requested :: Cannot issue for \"{value}\": IP address is invalid"
            )),
            "{input}: {why}"
        );
        assert!(
            why.contains(&format!("canonical form is {canonical}")),
            "{why}"
        );
    }
    // The mapped form is canonical text, refused as reserved even under --allow-reserved.
    let why = refused("::ffff:203.0.113.5", &["--allow-reserved"]);
    assert!(
        why.contains("IP address is in a reserved address block: [RFC4291]: IPv4-mapped Address"),
        "{why}"
    );
    // Numeric names keep their own refusal (tests/name_gate.rs has the rest).
    let why = refused("127.0.0.0x1", &["--allow-reserved"]);
    assert!(
        why.contains("Domain name does not end with a valid public suffix (TLD)"),
        "{why}"
    );
}

#[test]
fn a_reserved_address_is_refused_unless_allow_reserved() {
    for (input, entry) in [
        ("203.0.113.5", "[RFC5737]: Documentation (TEST-NET-3)"),
        ("2001:db8::1", "[RFC3849]: Documentation"),
        ("10.1.2.3", "[RFC1918]: Private-Use"),
    ] {
        let why = refused(input, &[]);
        assert!(
            why.contains(&format!(
                "Invalid identifiers requested :: Cannot issue for \"{input}\": IP address is in a reserved address block: {entry}"
            )),
            "{input}: {why}"
        );
        assert!(why.contains("--allow-reserved"), "{why}");
    }
    // From a list file too.
    let dir = std::env::temp_dir().join(format!("acme-doctor-ipident-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let list = dir.join("names.txt");
    std::fs::write(&list, "# an IP among names\n192.0.2.7\n").unwrap();
    let resolver = Resolver::new();
    let run = acme_doctor(&["-f", list.to_str().unwrap(), "--resolver", &resolver.addr()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("[RFC5737]: Documentation (TEST-NET-1)"),
        "{}",
        run.stderr
    );
    assert!(!resolver.was_asked());
}

#[test]
fn dns01_for_an_ip_identifier_is_a_usage_error_with_the_rfcs_rule() {
    let why = refused("2001:db8::1", &["--allow-reserved", "--method", "dns-01"]);
    assert!(
        why.contains(
            "RFC 8738 §7: \"The existing \"dns-01\" challenge MUST NOT be used to validate IP identifiers\""
        ),
        "{why}"
    );
    let run = acme_doctor(&[
        "--json",
        "--allow-reserved",
        "--method",
        "dns-01",
        "198.51.100.7",
    ]);
    assert_eq!(run.code, 2);
    assert_eq!(run.json()["error"]["kind"], "usage");
}

/// A minimal HTTP/1.1 server on `addr`: answers every request with 200 and `body`, and keeps
/// each request's Host header and path. Serves until the test process ends.
fn serve(listener: TcpListener, body: &'static str) -> Arc<Mutex<Vec<(String, String)>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let seen = Arc::clone(&kept);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut host = String::new();
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':')
                        && name.eq_ignore_ascii_case("host")
                    {
                        host = value.trim().to_string();
                    }
                }
                seen.lock().unwrap().push((host, path));
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    seen
}

/// Port 80 of a loopback address of this test's own, or `None` (announced) where it cannot be
/// bound.
fn bind_port_80(ip: IpAddr) -> Option<TcpListener> {
    match TcpListener::bind(SocketAddr::new(ip, 80)) {
        Ok(l) => Some(l),
        Err(e) => {
            let why = format!("cannot bind {ip} port 80: {e}");
            // Another process on the port is no fault of this machine's setup.
            if common::in_ci() && e.kind() != std::io::ErrorKind::AddrInUse {
                panic!("IP identifier loopback test under CI=true: {why}");
            }
            common::announce_skip("loopback tier (ip_identifier)", &why);
            None
        }
    }
}

#[test]
fn an_ip_identifier_is_fetched_at_its_own_address_with_the_literal_as_host() {
    // An address of 127/8 per process, so parallel runs do not meet on port 80.
    let pid = std::process::id();
    let ip: IpAddr = format!(
        "127.{}.{}.{}",
        100 + pid % 100,
        (pid / 100) % 250,
        2 + pid % 250
    )
    .parse()
    .unwrap();
    let Some(listener) = bind_port_80(ip) else {
        return;
    };
    const KEY_AUTHORIZATION: &str = "tok3n.accountthumbprint";
    let seen = serve(listener, KEY_AUTHORIZATION);
    let resolver = Resolver::new();
    let dir = std::env::temp_dir().join(format!("acme-doctor-ipident-run-{pid}"));
    std::fs::create_dir_all(&dir).unwrap();
    // Captured as tests/fixtures/loopback-ip-identifier.json (tests/fixtures/README.md).
    let saved = match std::env::var_os("ACME_DOCTOR_CAPTURE_FIXTURES") {
        Some(fixtures) => std::path::Path::new(&fixtures).join("loopback-ip-identifier.json"),
        None => dir.join("facts.json"),
    };
    let input = ip.to_string();
    let run = acme_doctor(&[
        "--json",
        "--allow-reserved",
        "--method",
        "http-01",
        "--timeout",
        "3s",
        "--resolver",
        &resolver.addr(),
        "--expect-body",
        KEY_AUTHORIZATION,
        "--save-facts",
        saved.to_str().unwrap(),
        &input,
    ]);
    let (report, json) = run.report();
    assert_eq!(run.code, 0, "{json:#}\n{}", run.stderr);
    assert!(!resolver.was_asked(), "a DNS query was made for {ip}");
    assert_eq!(report.target.domain, input);
    assert_eq!(report.target.identifier_type, IdentifierType::Ip);
    let codes: Vec<&str> = report.findings.iter().map(|f| f.code.as_str()).collect();
    assert!(codes.contains(&"ip-needs-shortlived-profile"), "{codes:?}");
    for absent in ["no-address-records", "caa-lookup-failed", "dns-no-answer"] {
        assert!(!codes.contains(&absent), "{absent}: {codes:?}");
    }
    let target = &json["facts"]["targets"][0];
    assert_eq!(target["dns"], serde_json::Value::Null, "{target:#}");
    assert_eq!(target["caa"], serde_json::Value::Null, "{target:#}");
    assert_eq!(target["target"]["domain"]["ip"], input.as_str());
    // The CA's walk: one candidate, the identifier, fetched at its literal URL.
    let path = &target["method"]["http-01"]["ca_path"];
    let url = format!("http://{input}/.well-known/acme-challenge/tok3n");
    assert_eq!(path["url"], url.as_str(), "{path:#}");
    let attempts = path["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{path:#}");
    assert_eq!(attempts[0]["hops"][0]["address"], input.as_str());
    // Every request carried the literal as Host, without a port.
    let seen = seen.lock().unwrap().clone();
    assert!(!seen.is_empty());
    for (host, _) in &seen {
        assert_eq!(host, &input, "{seen:?}");
    }
    assert!(
        seen.iter()
            .any(|(_, p)| p == "/.well-known/acme-challenge/tok3n"),
        "{seen:?}"
    );
    // The saved facts read back as an IP identifier, offline.
    let again = acme_doctor(&["--json", "--from-facts", saved.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    let (back, _) = again.report();
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(back.target.identifier_type, IdentifierType::Ip);
    assert_eq!(back.target.domain, input);
}

/// The same over IPv6: the URL and Host carry the brackets.
#[test]
fn an_ipv6_identifier_is_bracketed_in_the_url_and_the_host() {
    let ip: IpAddr = "::1".parse().unwrap();
    let Some(listener) = bind_port_80(ip) else {
        return;
    };
    let seen = serve(listener, "anything");
    let resolver = Resolver::new();
    let run = acme_doctor(&[
        "--json",
        "--allow-reserved",
        "--timeout",
        "3s",
        "--resolver",
        &resolver.addr(),
        "::1",
    ]);
    let (report, json) = run.report();
    assert!(!resolver.was_asked(), "a DNS query was made for ::1");
    assert_eq!(report.target.identifier_type, IdentifierType::Ip);
    let url = json["facts"]["targets"][0]["method"]["http-01"]["ca_path"]["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        url.starts_with("http://[::1]/.well-known/acme-challenge/"),
        "{url}"
    );
    let seen = seen.lock().unwrap().clone();
    assert!(!seen.is_empty());
    for (host, _) in &seen {
        assert_eq!(host, "[::1]", "{seen:?}");
    }
}

/// `--all`: a certificate's IP address becomes an IP target; a reserved one is a warning
/// naming its file (the CA would refuse the order), and the certificate's names are still
/// checked.
#[test]
fn all_checks_a_certificates_address_as_an_ip_identifier() {
    let root = std::env::temp_dir().join(format!("acme-doctor-ipident-all-{}", std::process::id()));
    let conf = root.join("etc/letsencrypt/renewal/mixed.conf");
    std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
    std::fs::write(
        &conf,
        "version = 2.1.0\ncert = /etc/letsencrypt/live/mixed/cert.pem\n\n[renewalparams]\nauthenticator = webroot\nwebroot_path = /var/www/html,\nserver = https://acme-v02.api.letsencrypt.org/directory\n[[webroot_map]]\nwww.example.test = /var/www/html\n127.0.0.1 = /var/www/html\n",
    )
    .unwrap();
    let resolver = Resolver::new();
    let root_arg = root.to_string_lossy().into_owned();
    let base = [
        "--all",
        "--client-root",
        root_arg.as_str(),
        "--json",
        "--timeout",
        "500ms",
        "--resolver",
    ];
    let addr = resolver.addr();
    let mut strict: Vec<&str> = base.to_vec();
    strict.push(&addr);
    let run = acme_doctor(&strict);
    let json = run.json();
    let warnings = json["host"]["acme_clients"]["warnings"].to_string();
    assert!(
        warnings.contains("[RFC1122]") && warnings.contains("mixed.conf"),
        "{warnings}\n{}",
        run.stderr
    );
    assert_eq!(json["target"]["domain"], "www.example.test", "{json:#}");
    // Under --allow-reserved the address is a target of its own, checked without DNS.
    let mut lab = strict.clone();
    lab.push("--allow-reserved");
    let run = acme_doctor(&lab);
    let _ = std::fs::remove_dir_all(&root);
    let json = run.json();
    let results = json["results"].as_array().expect("two results");
    let ip = results
        .iter()
        .find(|r| r["target"]["identifier_type"] == "ip")
        .unwrap_or_else(|| panic!("no IP target: {json:#}"));
    assert_eq!(ip["target"]["domain"], "127.0.0.1");
    assert_eq!(ip["facts"]["targets"][0]["dns"], serde_json::Value::Null);
}
