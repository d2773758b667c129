//! Loopback tier for TLS-ALPN-01's handshake: real rustls servers on 127.0.0.1 and ::1, on
//! random ports, presenting what real servers present (the challenge certificate, an ordinary
//! site certificate, the defects the CA names), a server without `acme-tls/1`, plain HTTP, a
//! silent server and one that closes. The certificates are made by
//! `tests/fixtures/tlsalpn/make.sh` with the openssl CLI. No traffic beyond loopback.

// Tests panic on purpose: a broken fixture or server should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use acme_doctor::facts::{ChallengeCertificate, ConnectOutcome, HandshakeOutcome, Presented};
use acme_doctor::probe::tlsalpn01::{Plan, RustlsAlpn, TlsProbe, gather, key_authorization_digest};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const NAME: &str = "tls.example.test";
const TIMEOUT: Duration = Duration::from_secs(3);

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/tlsalpn/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// What the test server does with each connection.
#[derive(Clone)]
enum Serve {
    /// TLS with this certificate (fixture name), these ALPN protocols, these versions.
    Tls {
        cert: &'static str,
        /// The key that signs the handshake: the certificate's own unless a test says.
        key: Option<&'static str>,
        alpn: Vec<&'static str>,
        tls12_only: bool,
    },
    /// Reads the ClientHello and answers as nginx on a plain port does.
    PlainHttp,
    /// Accepts and never writes.
    Silent,
    /// Reads the ClientHello and closes.
    Close,
}

fn tls(cert: &'static str) -> Serve {
    Serve::Tls {
        cert,
        key: None,
        alpn: vec!["acme-tls/1"],
        tls12_only: false,
    }
}

fn server_config(
    cert: &str,
    key: Option<&str>,
    alpn: &[&str],
    tls12_only: bool,
) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12_only {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS12, &rustls::version::TLS13]
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(fixture(&format!(
        "{}.key.der",
        key.unwrap_or(cert)
    ))));
    let key = provider.key_provider.load_private_key(key).unwrap();
    // Not `with_single_cert`: it parses the certificate with webpki, which refuses the
    // challenge certificate's critical acmeIdentifier extension.
    let certified = rustls::sign::CertifiedKey::new(
        vec![CertificateDer::from(fixture(&format!("{cert}.der")))],
        key,
    );
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Arc::new(config)
}

/// Starts a server on `ip`, a random port; it lives as long as the test's runtime.
async fn start(ip: IpAddr, serve: Serve) -> SocketAddr {
    start_on(SocketAddr::new(ip, 0), serve).await
}

async fn start_on(addr: SocketAddr, serve: Serve) -> SocketAddr {
    let listener = TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let serve = serve.clone();
            tokio::spawn(async move {
                match serve {
                    Serve::Tls {
                        cert,
                        key,
                        alpn,
                        tls12_only,
                    } => {
                        let acceptor = tokio_rustls::TlsAcceptor::from(server_config(
                            cert, key, &alpn, tls12_only,
                        ));
                        if let Ok(mut s) = acceptor.accept(stream).await {
                            // The client reads the certificate and closes.
                            let mut sink = [0u8; 64];
                            let _ = s.read(&mut sink).await;
                        }
                    }
                    Serve::PlainHttp => {
                        let mut hello = [0u8; 2048];
                        let _ = stream.read(&mut hello).await;
                        let _ = stream
                            .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                            .await;
                        let _ = stream.shutdown().await;
                    }
                    Serve::Silent => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        drop(stream);
                    }
                    Serve::Close => {
                        let mut hello = [0u8; 2048];
                        let _ = stream.read(&mut hello).await;
                        let _ = stream.shutdown().await;
                    }
                }
            });
        }
    });
    addr
}

fn localhost() -> IpAddr {
    "127.0.0.1".parse().unwrap()
}

async fn handshake(serve: Serve) -> HandshakeOutcome {
    handshake_timeout(serve, TIMEOUT).await
}

async fn handshake_timeout(serve: Serve, timeout: Duration) -> HandshakeOutcome {
    let addr = start(localhost(), serve).await;
    RustlsAlpn.handshake(addr, NAME, timeout).await.outcome
}

fn presented(outcome: HandshakeOutcome) -> Presented {
    match outcome {
        HandshakeOutcome::Completed(p) => *p,
        other => panic!("not completed: {other:?}"),
    }
}

fn certificate(outcome: HandshakeOutcome) -> ChallengeCertificate {
    let p = presented(outcome);
    assert_eq!(p.alpn.as_deref(), Some("acme-tls/1"));
    p.certificate.expect("a certificate")
}

#[tokio::test]
async fn the_challenge_certificate_is_read_over_tls13_and_tls12() {
    for serve in [
        tls("challenge"),
        Serve::Tls {
            cert: "challenge-rsa",
            key: None,
            alpn: vec!["acme-tls/1"],
            tls12_only: true,
        },
        Serve::Tls {
            cert: "challenge",
            key: None,
            alpn: vec!["acme-tls/1"],
            tls12_only: true,
        },
    ] {
        let c = certificate(handshake(serve).await);
        assert!(c.self_signed);
        assert_eq!(c.dns_names, [NAME]);
        let id = c.acme_identifier.unwrap();
        assert!(id.critical);
        assert_eq!(id.digest, Some(key_authorization_digest("tok.thumb")));
    }
}

#[tokio::test]
async fn an_ordinary_site_certificate_is_not_self_signed_and_has_no_acme_identifier() {
    let c = certificate(handshake(tls("site")).await);
    assert!(!c.self_signed);
    assert_eq!(c.issuer_cn.as_deref(), Some("Test CA"));
    assert_eq!(c.acme_identifier, None);
}

#[tokio::test]
async fn each_certificate_defect_reaches_the_facts() {
    let c = certificate(handshake(tls("noncritical")).await);
    assert!(!c.acme_identifier.unwrap().critical);
    let c = certificate(handshake(tls("stale")).await);
    assert_eq!(
        c.acme_identifier.unwrap().digest,
        Some(key_authorization_digest("stale.thumb"))
    );
    let c = certificate(handshake(tls("wrongsan")).await);
    assert_eq!(c.dns_names, ["other.example.test"]);
    let c = certificate(handshake(tls("snakeoil")).await);
    assert!(c.self_signed && c.acme_identifier.is_none());
}

#[tokio::test]
async fn a_server_without_acme_tls_1_answers_alert_120() {
    let outcome = handshake(Serve::Tls {
        cert: "site",
        key: None,
        alpn: vec!["h2", "http/1.1"],
        tls12_only: false,
    })
    .await;
    assert_eq!(outcome, HandshakeOutcome::alert(120));
}

#[tokio::test]
async fn a_server_that_ignores_alpn_completes_without_a_protocol() {
    let p = presented(
        handshake(Serve::Tls {
            cert: "site",
            key: None,
            alpn: vec![],
            tls12_only: false,
        })
        .await,
    );
    assert_eq!(p.alpn, None);
    assert!(!p.certificate.unwrap().self_signed);
}

/// The handshake signed by another key than the certificate's: Go's client refuses it, and
/// so does the probe (the CA sees `Error getting validation data`).
#[tokio::test]
async fn a_handshake_signed_by_another_key_fails() {
    for tls12_only in [false, true] {
        let outcome = handshake(Serve::Tls {
            cert: "challenge",
            key: Some("snakeoil"),
            alpn: vec!["acme-tls/1"],
            tls12_only,
        })
        .await;
        let HandshakeOutcome::Failed { message } = &outcome else {
            panic!("{outcome:?}");
        };
        assert!(message.contains("BadSignature"), "{message}");
    }
}

#[tokio::test]
async fn plain_http_on_the_port_is_told_by_its_first_bytes() {
    assert_eq!(
        handshake(Serve::PlainHttp).await,
        HandshakeOutcome::HttpOnTlsPort
    );
}

#[tokio::test]
async fn a_silent_server_is_a_timeout_after_connect() {
    let started = std::time::Instant::now();
    let outcome = handshake_timeout(Serve::Silent, Duration::from_millis(400)).await;
    assert_eq!(outcome, HandshakeOutcome::Timeout);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_server_that_closes_is_closed() {
    assert_eq!(handshake(Serve::Close).await, HandshakeOutcome::Closed);
}

#[tokio::test]
async fn nothing_listening_is_a_refused_dial() {
    let listener = TcpListener::bind((localhost(), 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let outcome = RustlsAlpn.handshake(addr, NAME, TIMEOUT).await.outcome;
    assert_eq!(
        outcome,
        HandshakeOutcome::Dial {
            connect: ConnectOutcome::Refused
        }
    );
}

/// `gather` on both families, the port from the plan: the IPv6 server holds the challenge
/// certificate, the IPv4 one refuses `acme-tls/1`.
#[tokio::test]
async fn gather_handshakes_every_address_on_the_plans_port() {
    let v6: IpAddr = "::1".parse().unwrap();
    if std::net::TcpListener::bind((v6, 0)).is_err() {
        eprintln!("SKIPPED gather_handshakes_every_address_on_the_plans_port: no ::1 here");
        return;
    }
    // One port free on both families.
    let (a6, a4) = loop {
        let a6 = start(v6, tls("challenge")).await;
        if let Ok(l) = TcpListener::bind((localhost(), a6.port())).await {
            drop(l);
            let a4 = start_on(
                SocketAddr::new(localhost(), a6.port()),
                Serve::Tls {
                    cert: "site",
                    key: None,
                    alpn: vec!["http/1.1"],
                    tls12_only: false,
                },
            )
            .await;
            break (a6, a4);
        }
    };
    let mut plan = Plan::new(
        &acme_doctor::domain::parse(NAME).unwrap(),
        vec![a6.ip(), a4.ip()],
        vec![],
        TIMEOUT,
        Some("tok.thumb"),
    );
    plan.port = a6.port();
    let facts = gather(&plan, &RustlsAlpn).await;
    assert_eq!(facts.handshakes.len(), 2);
    assert_eq!(facts.handshakes[0].address, v6);
    assert_eq!(facts.handshakes[0].port, a6.port());
    assert!(certificate(facts.handshakes[0].outcome.clone()).self_signed);
    assert_eq!(facts.handshakes[1].outcome, HandshakeOutcome::alert(120));
    assert_eq!(
        facts.expected_digest,
        Some(key_authorization_digest("tok.thumb"))
    );
}
