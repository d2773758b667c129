//! Loopback tier: `acme-doctor serve` bounded. The real binary listens on 127.0.0.1; clients
//! connect from other loopback source addresses (127.0.0.2, 127.0.0.3), which every Linux
//! loopback accepts without configuration. No root, no traffic beyond loopback, no
//! observation ever made (the requests carry no token, so the answer is 401 or 429).

// Tests panic on purpose: a broken fixture or lab step should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `serve` on loopback, killed by its own pid when the test ends, failed or not.
struct Serve {
    child: Child,
    addr: SocketAddr,
    dir: std::path::PathBuf,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_serve(label: &str, extra: &[&str]) -> Serve {
    let dir =
        std::env::temp_dir().join(format!("acme-doctor-serve-{label}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token = dir.join("token");
    std::fs::write(&token, "loopback-serve-token-0123456789\n").unwrap();
    // A free port: bound, read, released; serve takes it a moment later.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let listen = addr.to_string();
    let child = Command::new(common::BIN)
        .args(["serve", "--listen", &listen, "--plain-http", "--token-file"])
        .arg(&token)
        // A resolver that is never asked: no request here carries a token.
        .args(["--resolver", "127.0.0.1:9"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let serve = Serve { child, addr, dir };
    let started = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "serve did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    serve
}

/// A TCP connection to `to` from the loopback address `from`.
fn connect_from(from: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    let source: SocketAddr = format!("{from}:0").parse().unwrap();
    socket.bind(&SockAddr::from(source))?;
    socket.connect_timeout(&SockAddr::from(to), Duration::from_secs(2))?;
    Ok(socket.into())
}

/// One request from `from`, with `X-Forwarded-For` lines if any: the status, or `None` when
/// the connection was closed without an answer.
fn status_from(from: &str, to: SocketAddr, forwarded: &[&str]) -> Option<u16> {
    let mut stream = connect_from(from, to).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut head = String::from("GET /v1/observe?domain=example.com HTTP/1.1\r\nHost: vantage\r\n");
    for value in forwarded {
        head.push_str(&format!("X-Forwarded-For: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    let mut answer = Vec::new();
    let _ = stream.take(4096).read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
}

/// One client's idle connections used to fill every slot (64 with the default
/// `--max-concurrent 8`), and every other client's connection was closed at once. Now one
/// client address holds at most its share, and another client still gets an answer.
#[test]
fn idle_connections_from_one_client_do_not_lock_out_another() {
    let serve = start_serve("idle", &[]);
    let idle: Vec<TcpStream> = (0..64)
        .filter_map(|_| connect_from("127.0.0.2", serve.addr).ok())
        .collect();
    assert_eq!(idle.len(), 64, "the kernel accepts every connect");
    // Let serve accept them all (and close those over the greedy client's share).
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let status = status_from("127.0.0.3", serve.addr, &[]);
    assert_eq!(
        status,
        Some(401),
        "another client got no answer while one client held 64 idle connections"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the answer waited for the idle connections to time out"
    );
    drop(idle);
}

/// Behind a TLS proxy every client used to share the proxy's bucket. Now `X-Forwarded-For`
/// from a `--trusted-proxy` names the client; from anyone else it is ignored.
#[test]
fn forwarded_for_is_believed_only_from_the_trusted_proxy() {
    let serve = start_serve(
        "proxy",
        &["--trusted-proxy", "127.0.0.2", "--rate-limit", "2"],
    );
    // Through the proxy: one client uses its two requests up, another still has its own.
    let proxy = |client: &str| status_from("127.0.0.2", serve.addr, &[client]);
    assert_eq!(proxy("198.51.100.7"), Some(401));
    assert_eq!(proxy("198.51.100.7"), Some(401));
    assert_eq!(proxy("198.51.100.7"), Some(429), "the client's own limit");
    assert_eq!(
        proxy("198.51.100.8"),
        Some(401),
        "a second client behind the proxy shares no bucket with the first"
    );
    // A forged entry left of the one the proxy appended is the client's own text: ignored.
    assert_eq!(
        status_from("127.0.0.2", serve.addr, &["203.0.113.1, 198.51.100.7"]),
        Some(429)
    );
    // Anyone else's header is ignored: a new value each time does not buy a new bucket.
    let direct = |client: &str| status_from("127.0.0.3", serve.addr, &[client]);
    assert_eq!(direct("203.0.113.10"), Some(401));
    assert_eq!(direct("203.0.113.11"), Some(401));
    assert_eq!(direct("203.0.113.12"), Some(429));
}

/// An IP identifier names its address directly: the vantage still dials only what `may_dial`
/// allows, so its own loopback and any reserved address are refused, never dialled, and no
/// DNS is asked (the resolver given is a discard port nothing answers on).
#[test]
fn an_ip_identifier_never_turns_the_vantage_against_its_own_network() {
    let serve = start_serve("ip", &[]);
    for (query, refused) in [
        ("domain=127.0.0.1", "127.0.0.1"),
        ("domain=10.0.0.1", "10.0.0.1"),
        ("domain=::1", "::1"),
    ] {
        let mut stream = connect_from("127.0.0.2", serve.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let head = format!(
            "GET /v1/observe?{query}&timeout_ms=500 HTTP/1.1\r\nHost: vantage\r\nAuthorization: Bearer loopback-serve-token-0123456789\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).unwrap();
        let mut answer = Vec::new();
        let _ = stream.take(1 << 20).read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 200"), "{query}: {answer}");
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
        let o: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(o["refused_targets"], serde_json::json!([refused]), "{o}");
        assert_eq!(o["connects"], serde_json::json!([]), "{o}");
        assert_eq!(o["dns"], serde_json::Value::Null, "{o}");
    }
    // A non-canonical spelling is no identifier at all: 400.
    let mut stream = connect_from("127.0.0.2", serve.addr).unwrap();
    stream.write_all(b"GET /v1/observe?domain=127.000.0.1 HTTP/1.1\r\nHost: vantage\r\nAuthorization: Bearer loopback-serve-token-0123456789\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = stream.take(1 << 16).read_to_end(&mut answer);
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}
