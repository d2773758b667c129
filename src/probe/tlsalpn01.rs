//! TLS-ALPN-01's handshake, as the CA makes it (`docs/ca-behaviour.md` §3.1, §3.5): TCP to
//! port 443 of one address, then a ClientHello with the identifier's SNI, ALPN `acme-tls/1`
//! only, TLS 1.2 or 1.3, no session resumption and no certificate verification (the handshake
//! signature is still checked, as Go checks it). One timeout covers the connect and the
//! handshake together, as Boulder's 10 s context does. What happened is classified by type
//! (rustls' alert, the I/O error's kind, the first bytes the server sent), never by error text.

use super::clients::cert;
use crate::domain::DomainName;
use crate::facts::tlsalpn01::{ACME_TLS_1, TLS_ALPN_PORT};
use crate::facts::{
    ConnectFact, ConnectOutcome, Handshake, HandshakeOutcome, Presented, TlsAlpn01Facts,
};
use crate::sanitize;
use sha2::{Digest, Sha256};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// One TLS-ALPN-01 handshake pinned to one address.
pub trait TlsProbe {
    fn handshake(
        &self,
        addr: SocketAddr,
        sni: &str,
        timeout: Duration,
    ) -> impl Future<Output = Handshake>;
}

/// What [`gather`] needs: the usable addresses in the order the CA considers them, the
/// connects the run already made to them (a failed one is not dialled again), the SNI, the
/// port (443 for the CA; tests use their own) and the digest `--expect-keyauth` gives.
#[derive(Debug, Clone)]
pub struct Plan {
    pub addresses: Vec<IpAddr>,
    pub connects: Vec<ConnectFact>,
    pub sni: String,
    pub port: u16,
    pub timeout: Duration,
    pub expected_digest: Option<String>,
}

impl Plan {
    /// The CA's plan for `identifier` (a DNS name, or an IP address for RFC 8738): port 443,
    /// the SNI as the CA sends it, the digest of `keyauth` when one is given.
    pub fn new(
        identifier: &DomainName,
        addresses: Vec<IpAddr>,
        connects: Vec<ConnectFact>,
        timeout: Duration,
        keyauth: Option<&str>,
    ) -> Plan {
        Plan {
            addresses,
            connects,
            sni: sni(identifier),
            port: TLS_ALPN_PORT,
            timeout,
            expected_digest: keyauth.map(key_authorization_digest),
        }
    }
}

/// The SNI the CA sends for `identifier` (`docs/ca-behaviour.md` §3.1, §11.6): the name as
/// the CA holds it (lowercase ASCII), or an IP identifier's reverse-DNS name.
pub fn sni(identifier: &DomainName) -> String {
    match identifier.ip {
        Some(ip) => crate::domain::reverse_dns_name(ip),
        None => identifier.ascii.clone(),
    }
}

/// SHA-256 of the key authorization, lowercase hex: what the acmeIdentifier extension must
/// hold (RFC 8737 §3).
pub fn key_authorization_digest(keyauth: &str) -> String {
    Sha256::digest(keyauth.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One handshake per usable address, all at once. An address whose shared connect to the
/// port already failed keeps that failure as its outcome and is not dialled again.
pub async fn gather<T: TlsProbe>(plan: &Plan, probe: &T) -> TlsAlpn01Facts {
    let handshakes = plan.addresses.iter().map(|ip| async move {
        let dialled = plan
            .connects
            .iter()
            .find(|c| c.address == *ip && c.port == plan.port);
        match dialled {
            Some(c) if c.outcome != ConnectOutcome::Connected => Handshake {
                address: *ip,
                port: plan.port,
                outcome: HandshakeOutcome::Dial {
                    connect: c.outcome.clone(),
                },
                elapsed_ms: c.elapsed_ms,
            },
            _ => {
                probe
                    .handshake(SocketAddr::new(*ip, plan.port), &plan.sni, plan.timeout)
                    .await
            }
        }
    });
    TlsAlpn01Facts {
        sni: plan.sni.clone(),
        handshakes: futures_util::future::join_all(handshakes).await,
        expected_digest: plan.expected_digest.clone(),
    }
}

/// The real handshake, through rustls with the ring provider.
pub struct RustlsAlpn;

/// More than this from the server before the handshake ends is not a challenge responder: a
/// challenge certificate is under 2 KiB and rustls caps a handshake message at 64 KiB.
const READ_CAP: usize = 256 * 1024;
/// What Go's client compares with `HTTP/` (`docs/ca-behaviour.md` §3.3): the first record
/// header, five bytes.
const RECORD_HEADER: usize = 5;
/// The most of the negotiated protocol's name the facts keep.
const ALPN_CAP: usize = 255;

impl TlsProbe for RustlsAlpn {
    async fn handshake(&self, addr: SocketAddr, sni: &str, timeout: Duration) -> Handshake {
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + timeout;
        let outcome = match tokio::time::timeout_at(deadline, dial(addr, deadline)).await {
            Err(_) => HandshakeOutcome::Dial {
                connect: ConnectOutcome::Timeout,
            },
            Ok(Err(outcome)) => outcome,
            Ok(Ok(stream)) => match tokio::time::timeout_at(deadline, tls(stream, sni)).await {
                Err(_) => HandshakeOutcome::Timeout,
                Ok(outcome) => outcome,
            },
        };
        Handshake {
            address: addr.ip(),
            port: addr.port(),
            outcome,
            elapsed_ms: started.elapsed().as_millis() as u64,
        }
    }
}

/// The TCP connect, classified as `probe::tcp` classifies the shared ones; out of
/// descriptors or local ports is tried again until the deadline, then is acme-doctor's own
/// limit.
async fn dial(
    addr: SocketAddr,
    deadline: tokio::time::Instant,
) -> Result<tokio::net::TcpStream, HandshakeOutcome> {
    loop {
        let err = match tokio::net::TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => e,
        };
        let connect = if err.raw_os_error() == Some(nix::libc::EADDRNOTAVAIL)
            && super::tcp::ports_exhausted(addr)
        {
            ConnectOutcome::LocalPortsExhausted
        } else {
            super::tcp::classify(&err)
        };
        if !connect.is_own_limit() {
            return Err(HandshakeOutcome::Dial { connect });
        }
        if tokio::time::Instant::now() + super::OWN_LIMIT_PAUSE >= deadline {
            return Err(HandshakeOutcome::OwnLimit {
                message: format!("connect to {addr}: {err}"),
            });
        }
        tokio::time::sleep(super::OWN_LIMIT_PAUSE).await;
    }
}

async fn tls(stream: tokio::net::TcpStream, sni: &str) -> HandshakeOutcome {
    let config = match client_config() {
        Ok(config) => Arc::clone(config),
        Err(message) => {
            return HandshakeOutcome::OwnLimit {
                message: message.clone(),
            };
        }
    };
    let name = match rustls::pki_types::ServerName::try_from(sni.to_string()) {
        Ok(name) => name,
        Err(e) => {
            return HandshakeOutcome::Failed {
                message: format!("SNI {}: {e}", sanitize::line(sni, 300)),
            };
        }
    };
    let connector = tokio_rustls::TlsConnector::from(config);
    match connector
        .connect(name, Recorded::new(stream))
        .into_fallible()
        .await
    {
        Ok(done) => completed(done.get_ref().1),
        Err((err, recorded)) => failed(&err, &recorded),
    }
}

fn completed(conn: &rustls::ClientConnection) -> HandshakeOutcome {
    let alpn = conn
        .alpn_protocol()
        .map(|p| sanitize::line(&String::from_utf8_lossy(p), ALPN_CAP));
    let certificate = match conn.peer_certificates().and_then(|c| c.first()) {
        None => None,
        Some(leaf) => match cert::challenge(leaf.as_ref()) {
            Ok(c) => Some(c),
            // Go's client refuses a certificate `crypto/x509` cannot parse, during the
            // handshake (`docs/ca-behaviour.md` §3.3).
            Err(e) => {
                return HandshakeOutcome::Failed {
                    message: format!("certificate cannot be parsed: {e}"),
                };
            }
        },
    };
    HandshakeOutcome::Completed(Box::new(Presented { alpn, certificate }))
}

/// A failed handshake, from the types rustls and the socket give and the bytes the server
/// sent first.
fn failed(err: &io::Error, recorded: &Recorded<tokio::net::TcpStream>) -> HandshakeOutcome {
    if recorded.first.as_slice() == b"HTTP/" {
        return HandshakeOutcome::HttpOnTlsPort;
    }
    if recorded.capped {
        return HandshakeOutcome::Failed {
            message: format!(
                "the server sent more than {} KiB without completing the handshake",
                READ_CAP / 1024
            ),
        };
    }
    let tls = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    if let Some(rustls::Error::AlertReceived(alert)) = tls {
        return HandshakeOutcome::alert(u8::from(*alert));
    }
    match err.kind() {
        io::ErrorKind::UnexpectedEof => return HandshakeOutcome::Closed,
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
            return HandshakeOutcome::Reset;
        }
        io::ErrorKind::TimedOut => return HandshakeOutcome::Timeout,
        _ => {}
    }
    if super::own_limit_errno(err.raw_os_error()) {
        return HandshakeOutcome::OwnLimit {
            message: err.to_string(),
        };
    }
    HandshakeOutcome::Failed {
        message: sanitize::line(&tls.map_or_else(|| err.to_string(), |t| t.to_string()), 300),
    }
}

/// The socket as the handshake reads it: the first bytes kept (to tell an HTTP answer from
/// TLS) and every read counted against [`READ_CAP`].
struct Recorded<S> {
    inner: S,
    first: Vec<u8>,
    total: usize,
    capped: bool,
}

impl<S> Recorded<S> {
    fn new(inner: S) -> Recorded<S> {
        Recorded {
            inner,
            first: Vec::with_capacity(RECORD_HEADER),
            total: 0,
            capped: false,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Recorded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.total >= READ_CAP {
            this.capped = true;
            return Poll::Ready(Err(io::Error::other("read cap reached")));
        }
        // Never more than the cap allows, so the count stays exact.
        let room = buf.remaining().min(READ_CAP - this.total);
        let before = buf.filled().len();
        let poll = if room < buf.remaining() {
            let mut small = vec![0u8; room];
            let mut small = ReadBuf::new(&mut small);
            let poll = Pin::new(&mut this.inner).poll_read(cx, &mut small);
            if let Poll::Ready(Ok(())) = poll {
                buf.put_slice(small.filled());
            }
            poll
        } else {
            Pin::new(&mut this.inner).poll_read(cx, buf)
        };
        if let Poll::Ready(Ok(())) = poll {
            let read = &buf.filled()[before..];
            let want = RECORD_HEADER.saturating_sub(this.first.len());
            this.first.extend_from_slice(&read[..read.len().min(want)]);
            this.total += read.len();
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recorded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The CA's client settings, built once.
fn client_config() -> &'static Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
            .map_err(|e| format!("TLS settings: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth();
        config.alpn_protocols = vec![ACME_TLS_1.as_bytes().to_vec()];
        config.resumption = rustls::client::Resumption::disabled();
        Ok(Arc::new(config))
    })
}

/// Accepts any certificate, as the CA's `InsecureSkipVerify` does, but checks the handshake's
/// signature against the leaf's key, as Go does. The key is read by acme-doctor's own DER
/// walk: webpki refuses a certificate with an unknown critical extension, and the challenge
/// certificate's acmeIdentifier is one.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl AnyCertificate {
    fn verify(
        &self,
        message: &[u8],
        leaf: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
        tls13: bool,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        use rustls::client::danger::HandshakeSignatureValid;
        let bad = || rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature);
        use rustls::SignatureScheme as S;
        // TLS 1.3 has no PKCS#1 v1.5 or SHA-1 signatures in the handshake (RFC 8446 §4.2.3).
        let tls12_only = matches!(
            dss.scheme,
            S::RSA_PKCS1_SHA1
                | S::ECDSA_SHA1_Legacy
                | S::RSA_PKCS1_SHA256
                | S::RSA_PKCS1_SHA384
                | S::RSA_PKCS1_SHA512
        );
        if tls13 && tls12_only {
            return Err(rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme.into());
        }
        let (algorithm, key) = cert::public_key(leaf.as_ref()).map_err(|_| bad())?;
        let algorithms = &self.0.signature_verification_algorithms;
        let candidates = algorithms
            .mapping
            .iter()
            .filter(|(scheme, _)| *scheme == dss.scheme)
            .flat_map(|(_, algs)| algs.iter())
            // TLS 1.3 names one algorithm per scheme, the first.
            .take(if tls13 { 1 } else { usize::MAX });
        for alg in candidates {
            if alg.public_key_alg_id().as_ref() == algorithm
                && alg.verify_signature(key, message, dss.signature()).is_ok()
            {
                return Ok(HandshakeSignatureValid::assertion());
            }
        }
        Err(bad())
    }
}

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.verify(message, cert, dss, false)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.verify(message, cert, dss, true)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sni_is_the_name_lowercased_or_the_reverse_name_of_an_address() {
        let sni = |text: &str| sni(&crate::domain::parse(text).expect("identifier"));
        assert_eq!(sni("Example.COM"), "example.com");
        assert_eq!(sni("203.0.113.5"), "5.113.0.203.in-addr.arpa");
        assert_eq!(
            sni("2001:db8::1"),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        );
    }

    #[test]
    fn the_digest_is_sha256_hex_of_the_key_authorization() {
        // `printf 'tok.thumb' | sha256sum`
        assert_eq!(
            key_authorization_digest("tok.thumb"),
            "b1803056ba83b553ae259bc01eead20183e812de5f155fc2e1b75238e5bea396"
        );
    }

    struct Scripted;

    impl TlsProbe for Scripted {
        async fn handshake(&self, addr: SocketAddr, _sni: &str, _t: Duration) -> Handshake {
            Handshake {
                address: addr.ip(),
                port: addr.port(),
                outcome: HandshakeOutcome::alert(120),
                elapsed_ms: 1,
            }
        }
    }

    #[tokio::test]
    async fn a_failed_shared_connect_is_not_dialled_again() {
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let connects = vec![
            ConnectFact {
                address: v6,
                port: 443,
                outcome: ConnectOutcome::Timeout,
                elapsed_ms: 10_000,
            },
            // A connect to another port says nothing of 443.
            ConnectFact {
                address: v4,
                port: 80,
                outcome: ConnectOutcome::Refused,
                elapsed_ms: 1,
            },
        ];
        let plan = Plan::new(
            &crate::domain::parse("Tls.Example.Test").expect("name"),
            vec![v6, v4],
            connects,
            Duration::from_secs(1),
            Some("tok.thumb"),
        );
        let facts = gather(&plan, &Scripted).await;
        assert_eq!(facts.sni, "tls.example.test");
        assert_eq!(
            facts.handshakes[0].outcome,
            HandshakeOutcome::Dial {
                connect: ConnectOutcome::Timeout
            }
        );
        assert_eq!(facts.handshakes[0].elapsed_ms, 10_000);
        assert_eq!(facts.handshakes[1].outcome, HandshakeOutcome::alert(120));
        assert_eq!(
            facts.expected_digest.as_deref(),
            Some(key_authorization_digest("tok.thumb").as_str())
        );
    }
}
