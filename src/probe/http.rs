//! HTTP facts: the challenge GET, pinned to one address, sent the way Boulder sends it
//! (`docs/ca-behaviour.md` §2.3: HTTP/1.1, `Accept: */*`, no proxy). The CA's own requests
//! ([`fetch_hop`]) send `Connection: close` on a fresh connection each, as Boulder does; the
//! plain GETs share kept-alive connections per address. Redirects are recorded, never followed.

use super::HttpProbe;
use crate::facts::{Agent, Answered, HopOutcome, HttpFact, HttpOutcome, Page};
use crate::sanitize;
use reqwest::header::{ACCEPT, CONNECTION, HeaderMap, HeaderValue, LOCATION, SERVER};
use std::error::Error as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How much of the body is kept: enough to recognise a parking page or an error page. The CA
/// itself reads at most 128 bytes.
const BODY_CAP: usize = 8 * 1024;
/// How much of it goes into the facts as evidence.
const BODY_EVIDENCE: usize = 256;
/// How much of an answer's body the CA-path facts keep, escaped: enough to recognise a WAF's
/// or a router's page.
const ANSWER_EVIDENCE: usize = 1024;
/// Cap for header values copied into the facts.
const HEADER_CAP: usize = 200;
/// hyper reads a response head into a buffer of at most 8 KiB + 100 × 4 KiB (its
/// `DEFAULT_MAX_BUFFER_SIZE`, not configurable through reqwest): acme-doctor's own byte cap,
/// below the CA's (`ca_limits::MAX_RESPONSE_HEADER_BYTES`). A head beyond it is `Unread`.
const HEAD_BUFFER: usize = 8192 + 4096 * 100;
/// Caps by bytes, as the CA's client does, not by count: hyper's default of 100 header lines
/// made a server with 101 headers look like one that sent no response. The smallest header
/// line, `a:` and CRLF, is 4 bytes, so no head that fits the buffer exceeds this count.
const MAX_HEADER_LINES: usize = HEAD_BUFFER / 4;
// Our cap must stay below the CA's, or `Unread` would hide a real refusal.
const _: () = assert!(HEAD_BUFFER < crate::ca_limits::MAX_RESPONSE_HEADER_BYTES);

pub const USER_AGENT: &str = concat!(
    "Mozilla/5.0 (compatible; acme-doctor/",
    env!("CARGO_PKG_VERSION"),
    "; ACME http-01 validation check)"
);

/// The real HTTP probe. The plain GETs (the challenge and `/` of each address, and the
/// per-address answers) go through a client kept per address, whose connections are kept
/// alive and shared by every name on that address; the CA's own requests ([`fetch_hop`]) dial
/// afresh each time, as the CA does ("Connections" in `docs/architecture.md`).
#[derive(Default)]
pub struct ReqwestHttp {
    /// One kept-alive client per address and port, the least recently used dropped (with its
    /// idle connections) beyond [`KEPT_ADDRESSES`].
    kept: std::sync::Mutex<KeptClients>,
}

#[derive(Default)]
struct KeptClients {
    clients: std::collections::HashMap<SocketAddr, (reqwest::Client, u64)>,
    uses: u64,
}

/// Idle connections kept per address: as many as the GETs the run's per-address budget lets
/// run at once (each name holding a slot asks at most two at a time). Fewer made the pool
/// close and reopen connections under a batch: 3.5 connections per name instead of 2.
pub const KEPT_PER_ADDRESS: usize = 2 * super::connects::PER_ADDRESS;
/// Addresses whose connections are kept at once: a list of names on many addresses keeps
/// at most this many times [`KEPT_PER_ADDRESS`] idle sockets, far below the open-files limit.
pub const KEPT_ADDRESSES: usize = 64;
/// How long an idle connection is kept: under Apache's default `KeepAliveTimeout` (5 s), so
/// the pool seldom offers a connection the server is just closing.
const KEPT_IDLE: Duration = Duration::from_secs(4);

/// A resolver that answers nothing: a pinned request's URL is the literal address it goes to,
/// so a client built with it can reach no other address, whatever name is asked.
struct NoResolve;

impl reqwest::dns::Resolve for NoResolve {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let message = format!(
            "refused to resolve {:?}: requests are pinned to an address",
            sanitize::line(name.as_str(), 80)
        );
        Box::pin(async move { Err(message.into()) })
    }
}

/// A client for pinned requests: no proxy, no redirect followed, nothing resolved, heads capped
/// by bytes; `kept`: its connections stay open for the next request to the same address.
fn pinned_client(kept: bool) -> Result<reqwest::Client, String> {
    ensure_crypto_provider();
    let builder = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(NoResolve)
        .pool_max_idle_per_host(if kept { KEPT_PER_ADDRESS } else { 0 })
        .pool_idle_timeout(KEPT_IDLE)
        .http1_max_headers(MAX_HEADER_LINES);
    // These GETs are plain HTTP, but a client built with reqwest's default TLS loads the
    // system's root certificates: milliseconds per client. The CA's own TLS settings (no
    // roots) cost nothing to build.
    match ca_tls() {
        Ok(tls) => builder.tls_backend_preconfigured(tls),
        Err(_) => builder,
    }
    .build()
    .map_err(|e| sanitize::line(&e.to_string(), 300))
}

/// `url` (for a validated name) sent to `addr`: the request goes to the literal address and
/// the name goes in `Host`, so the pool, keyed by the address, shares its connections among
/// all the names on it, and nothing is resolved again.
fn pinned_request(
    client: &reqwest::Client,
    url: &url::Url,
    addr: SocketAddr,
    user_agent: &'static str,
    timeout: Duration,
) -> Result<reqwest::RequestBuilder, String> {
    pinned_host(url, addr)?;
    let host = url.host_str().ok_or("no host")?;
    let host = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let mut target = url.clone();
    target
        .set_ip_host(addr.ip())
        .and_then(|()| target.set_port(Some(addr.port())))
        .map_err(|()| format!("cannot address {url} to {addr}"))?;
    Ok(client
        .get(target)
        .header(reqwest::header::HOST, host)
        .header(ACCEPT, "*/*")
        .header(reqwest::header::USER_AGENT, user_agent)
        .timeout(timeout))
}

/// Whether the server closed the connection under the request: on a kept connection that is
/// keep-alive ending (a server's idle timeout or request limit), no fact about the server.
fn closed_under(err: &reqwest::Error) -> bool {
    let mut source = err.source();
    while let Some(s) = source {
        if s.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_incomplete_message)
        {
            return true;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::UnexpectedEof
            )
        {
            return true;
        }
        source = s.source();
    }
    false
}

/// Which of acme-doctor's own limits a failed request met, if any. EADDRNOTAVAIL at connect
/// is out of local ports: the request is only sent where the connect fact to this address got
/// through, so a route and a source address exist.
fn own_limit_of(err: &reqwest::Error) -> Option<&'static str> {
    let mut source = err.source();
    while let Some(s) = source {
        if s.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.raw_os_error() == Some(nix::libc::EADDRNOTAVAIL))
        {
            return Some("acme-doctor ran out of local ports");
        }
        source = s.source();
    }
    super::out_of_descriptors().then_some("acme-doctor is out of file descriptors")
}

impl ReqwestHttp {
    /// The kept-alive client for `addr`, made on first use.
    fn kept_client(&self, addr: SocketAddr) -> Result<reqwest::Client, String> {
        // A poisoned lock only means another probe panicked; the map is still usable.
        let mut kept = self
            .kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.uses += 1;
        let now = kept.uses;
        if let Some((client, used)) = kept.clients.get_mut(&addr) {
            *used = now;
            return Ok(client.clone());
        }
        if kept.clients.len() >= KEPT_ADDRESSES
            && let Some(oldest) = kept
                .clients
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(a, _)| *a)
        {
            kept.clients.remove(&oldest);
        }
        let client = pinned_client(true)?;
        kept.clients.insert(addr, (client.clone(), now));
        Ok(client)
    }

    /// One request on a kept connection to `addr`, tried once more on a fresh connection when
    /// the server closed the kept one under it. A server that resets every connection still
    /// reads as a reset: the fresh attempt meets it too.
    async fn kept_then_fresh<T, F, Fut>(
        &self,
        url: &url::Url,
        addr: SocketAddr,
        user_agent: &'static str,
        deadline: Instant,
        read: F,
    ) -> Result<Result<T, reqwest::Error>, String>
    where
        F: Fn(reqwest::RequestBuilder) -> Fut,
        Fut: Future<Output = Result<T, reqwest::Error>>,
    {
        let left = || {
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1))
        };
        let kept = self.kept_client(addr)?;
        match read(pinned_request(&kept, url, addr, user_agent, left())?).await {
            Err(e) if closed_under(&e) => {
                let fresh = pinned_client(false)?;
                Ok(read(pinned_request(&fresh, url, addr, user_agent, left())?).await)
            }
            other => Ok(other),
        }
    }
}

/// The URL of `path` on the validated identifier `domain`, for a GET pinned to a resolved
/// address.
///
/// Every request to a name is built here. A host the URL parser reads as an address
/// (`0x7f.0x1` is 127.0.0.1) is refused: the client would dial such a host as is and skip
/// the pin, so only a `Host::Domain` that is `domain` itself comes back. An IP identifier
/// (`domain` is an address in canonical text, `domain::parse`) is its own host, IPv6 in
/// brackets, and the request may only be pinned to that address (`pinned_host`); Host is the
/// literal without a port (`docs/ca-behaviour.md` §11.5).
pub fn domain_url(domain: &str, path: &str) -> Result<url::Url, String> {
    let shown = || sanitize::line(domain, 80);
    if !path.starts_with('/') {
        return Err(format!(
            "the path for {:?} does not start with '/'",
            shown()
        ));
    }
    let ip = domain
        .parse::<std::net::IpAddr>()
        .ok()
        .filter(|ip| ip.to_string() == domain)
        // The gate refuses the mapped form: a socket would dial it over IPv4.
        .filter(|ip| !matches!(ip, std::net::IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some()));
    let host = match ip {
        Some(std::net::IpAddr::V6(v6)) => format!("[{v6}]"),
        _ => domain.to_string(),
    };
    let url = url::Url::parse(&format!("http://{host}{path}"))
        .map_err(|e| format!("{:?} makes no URL: {e}", shown()))?;
    match (url.host(), ip) {
        (Some(url::Host::Ipv4(host)), Some(ip)) if std::net::IpAddr::V4(host) == ip => Ok(url),
        (Some(url::Host::Ipv6(host)), Some(ip)) if std::net::IpAddr::V6(host) == ip => Ok(url),
        (Some(url::Host::Domain(host)), None) if host == domain => Ok(url),
        _ => Err(format!(
            "refused to build a request for {:?}: a URL parser does not read it as that domain name",
            shown()
        )),
    }
}

/// Whether a request for `url` can only reach `addr`: a domain is pinned to it by the
/// client's resolver override, a literal address must be that address itself.
fn pinned_host(url: &url::Url, addr: SocketAddr) -> Result<String, String> {
    match url.host() {
        Some(url::Host::Domain(host)) => Ok(host.to_string()),
        Some(url::Host::Ipv4(ip)) if std::net::IpAddr::V4(ip) == addr.ip() => Ok(ip.to_string()),
        Some(url::Host::Ipv6(ip)) if std::net::IpAddr::V6(ip) == addr.ip() => Ok(ip.to_string()),
        Some(other) => Err(format!(
            "refused: the URL's host {other} is not the address {} it was pinned to",
            addr.ip()
        )),
        None => Err("no host".into()),
    }
}

/// reqwest is built without a crypto provider of its own (no aws-lc-rs): every client needs
/// rustls' process default, ring, installed before it is built, even for plain HTTP.
pub fn ensure_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err only when another provider is installed already, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

fn classify(err: &reqwest::Error) -> HttpOutcome {
    if err.is_timeout() {
        return HttpOutcome::Timeout;
    }
    let mut too_large = false;
    let mut source = err.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionReset {
                return HttpOutcome::Reset;
            }
            if io.kind() == std::io::ErrorKind::TimedOut {
                return HttpOutcome::Timeout;
            }
        }
        // Our parser's limit, not the server's fault: the CA reads up to 10 MiB of head.
        too_large |= s
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_parse_too_large);
        // The connection ended before a response head: a close without an answer (nginx's
        // `return 444`). Reached only on a fresh connection: a kept one that ends so is
        // asked again first (`kept_then_fresh`).
        if s.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_incomplete_message)
        {
            return HttpOutcome::Closed;
        }
        source = s.source();
    }
    // The full chain says more than the top-level "error sending request".
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    let message = sanitize::line(&message, 300);
    if too_large {
        return HttpOutcome::Unread {
            limit_bytes: HEAD_BUFFER as u64,
            message,
        };
    }
    HttpOutcome::Error { message }
}

async fn fetch(request: reqwest::RequestBuilder) -> Result<HttpOutcome, reqwest::Error> {
    let mut response = request.send().await?;
    let status = response.status().as_u16();
    let header = |name| {
        response.headers().get(name).map(|v: &HeaderValue| {
            sanitize::line(&String::from_utf8_lossy(v.as_bytes()), HEADER_CAP)
        })
    };
    let server = header(SERVER);
    let location = header(LOCATION);
    let marks = marks_of(response.headers());
    let mut body = Vec::new();
    let mut truncated = false;
    while let Some(chunk) = response.chunk().await? {
        let room = BODY_CAP - body.len();
        if chunk.len() >= room {
            body.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    let evidence = &body[..body.len().min(BODY_EVIDENCE)];
    Ok(HttpOutcome::Response {
        status,
        server,
        location,
        // Escaped like the CA quotes bodies (Go's %q): "\r\n" stays visible and harmless.
        body_prefix: sanitize::line(
            &String::from_utf8_lossy(evidence).escape_debug().to_string(),
            BODY_EVIDENCE * 2,
        ),
        body_bytes: body.len() as u64,
        body_truncated: truncated,
        page: Page {
            title: html_title(&body),
            marks,
            body_sha256: sha256_hex(&body),
        },
    })
}

/// SHA-256 of `bytes`, hex.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The response header names that mark a proxy or WAF ([`MARK_HEADERS`]).
fn marks_of(headers: &HeaderMap) -> Vec<String> {
    MARK_HEADERS
        .iter()
        .filter(|h| headers.contains_key(**h))
        .map(|h| h.to_string())
        .collect()
}

impl HttpProbe for ReqwestHttp {
    async fn fetch(&self, url: &url::Url, addr: SocketAddr, timeout: Duration) -> HopOutcome {
        fetch_hop(url, addr, timeout).await
    }

    /// The CA's request on a kept connection: for the per-address answers, which compare
    /// addresses and reproduce no dial of the CA's.
    async fn fetch_kept(&self, url: &url::Url, addr: SocketAddr, timeout: Duration) -> HopOutcome {
        let deadline = Instant::now() + timeout;
        loop {
            let err = match self
                .kept_then_fresh(url, addr, CA_USER_AGENT, deadline, read_answer)
                .await
            {
                Err(message) => return HopOutcome::Error { message },
                Ok(Ok(answer)) => return HopOutcome::Answer(Box::new(answer)),
                Ok(Err(e)) => e,
            };
            if let Some(outcome) = hop_failure(&err, url, deadline) {
                return outcome;
            }
            tokio::time::sleep(super::OWN_LIMIT_PAUSE).await;
        }
    }

    async fn get(
        &self,
        domain: &str,
        addr: SocketAddr,
        path: &str,
        timeout: Duration,
        agent: Agent,
    ) -> HttpFact {
        let started = Instant::now();
        let user_agent = match agent {
            Agent::Own => USER_AGENT,
            Agent::Ca => CA_USER_AGENT,
        };
        let url = match domain_url(domain, path) {
            Ok(url) => url,
            Err(message) => {
                return HttpFact {
                    address: addr.ip(),
                    port: addr.port(),
                    url: sanitize::line(&format!("http://{domain}{path}"), 300),
                    outcome: HttpOutcome::Error { message },
                    elapsed_ms: 0,
                    agent,
                };
            }
        };
        let deadline = started + timeout;
        let outcome = loop {
            let err = match self
                .kept_then_fresh(&url, addr, user_agent, deadline, fetch)
                .await
            {
                Err(message) => break HttpOutcome::Error { message },
                Ok(Ok(outcome)) => break outcome,
                Ok(Err(e)) => e,
            };
            let outcome = classify(&err);
            // A socket this process could not open (out of descriptors or of local ports) is
            // its own limit: tried again while other probes free some, then recorded as
            // unread, never as the server's silence.
            let own = match &outcome {
                HttpOutcome::Error { .. } => own_limit_of(&err),
                _ => None,
            };
            let (Some(why), HttpOutcome::Error { message }) = (own, &outcome) else {
                break outcome;
            };
            if Instant::now() + super::OWN_LIMIT_PAUSE >= deadline {
                break HttpOutcome::Unread {
                    limit_bytes: 0,
                    message: format!("{why}: {message}"),
                };
            }
            tokio::time::sleep(super::OWN_LIMIT_PAUSE).await;
        };
        HttpFact {
            address: addr.ip(),
            port: addr.port(),
            url: url.to_string(),
            outcome,
            elapsed_ms: started.elapsed().as_millis() as u64,
            agent,
        }
    }
}

/// The production User-Agent of Let's Encrypt's validation servers, as third-party logs show it
/// (`docs/ca-behaviour.md` §2.3): WAF and bot rules key on it, so the CA path sends it.
pub const CA_USER_AGENT: &str = crate::ca_limits::VALIDATION_USER_AGENT;

/// Response headers whose presence names a proxy or WAF in front of the server.
const MARK_HEADERS: &[&str] = &[
    "cf-ray",
    "cf-mitigated",
    "x-sucuri-id",
    "x-sucuri-block",
    "x-iinfo",
    "x-cdn",
    "x-akamai-transformed",
    "akamai-grn",
    "x-amz-cf-id",
    "x-served-by",
    "x-fastly-request-id",
    "x-azure-ref",
    "x-datadome",
    "x-px",
];

/// TLS as the CA's client does it for an HTTPS redirect target (`docs/ca-behaviour.md` §2.6):
/// TLS 1.2 or 1.3, HTTP/1.1, and no certificate verification. Handshake signatures are still
/// checked, as Go checks them with `InsecureSkipVerify`.
fn ca_tls() -> Result<rustls::ClientConfig, rustls::Error> {
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};
    use std::sync::Arc;

    #[derive(Debug)]
    struct AnyCertificate(Arc<CryptoProvider>);

    impl ServerCertVerifier for AnyCertificate {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(
        rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth(),
    )
}

/// One GET of `url` pinned to `addr`, as the CA's client sends it: Boulder's User-Agent,
/// `Accept: */*`, `Connection: close`, no redirect followed, TLS unverified. The connect
/// itself was judged before (a dial error never reaches here).
pub async fn fetch_hop(url: &url::Url, addr: SocketAddr, timeout: Duration) -> HopOutcome {
    let host = match pinned_host(url, addr) {
        Ok(host) => host,
        Err(message) => return HopOutcome::Error { message },
    };
    ensure_crypto_provider();
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    let tls = match ca_tls() {
        Ok(t) => t,
        Err(e) => {
            return HopOutcome::Error {
                message: sanitize::line(&e.to_string(), 300),
            };
        }
    };
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&host, addr)
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(CA_USER_AGENT)
        .default_headers(headers)
        .pool_max_idle_per_host(0)
        .http1_max_headers(MAX_HEADER_LINES)
        .tls_backend_preconfigured(tls)
        .build();
    let client = match client {
        Ok(c) => c,
        Err(e) => {
            return HopOutcome::Error {
                message: sanitize::line(&e.to_string(), 300),
            };
        }
    };
    let deadline = Instant::now() + timeout;
    loop {
        let err = match read_answer(client.get(url.as_str())).await {
            Ok(a) => return HopOutcome::Answer(Box::new(a)),
            Err(e) => e,
        };
        if let Some(outcome) = hop_failure(&err, url, deadline) {
            return outcome;
        }
        tokio::time::sleep(super::OWN_LIMIT_PAUSE).await;
    }
}

/// What a failed hop request is: the outcome to record, or `None` to wait
/// `OWN_LIMIT_PAUSE` and ask again. This machine's own limit is no answer of the server's:
/// tried again while other probes free ports or descriptors, then recorded as such.
fn hop_failure(err: &reqwest::Error, url: &url::Url, deadline: Instant) -> Option<HopOutcome> {
    let outcome = classify_hop(err, url.scheme() == "https");
    let own = match &outcome {
        HopOutcome::Error { .. } => own_limit_of(err),
        _ => None,
    };
    let (Some(why), HopOutcome::Error { message }) = (own, &outcome) else {
        return Some(outcome);
    };
    if Instant::now() + super::OWN_LIMIT_PAUSE >= deadline {
        return Some(HopOutcome::OwnLimit {
            message: format!("{why}: {message}"),
        });
    }
    None
}

/// Every error under `err`, outermost first, with the error each `io::Error` wraps:
/// `io::Error::source` skips its own inner error, and the connector wraps rustls's error in
/// two of them (`Other` around `InvalidData`), so a walk by `source` alone never meets it.
fn causes(err: &reqwest::Error) -> Vec<&(dyn std::error::Error + 'static)> {
    let mut found = Vec::new();
    let mut next = err.source();
    while let Some(e) = next {
        found.push(e);
        next = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    found
}

fn classify_hop(err: &reqwest::Error, https: bool) -> HopOutcome {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    let tls = causes(err)
        .into_iter()
        .find_map(|e| e.downcast_ref::<rustls::Error>());
    if https {
        match tls {
            // A plain HTTP answer read as a TLS record.
            Some(rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)) => {
                return HopOutcome::HttpOnTlsPort;
            }
            Some(other) => {
                return HopOutcome::Tls {
                    message: sanitize::line(&other.to_string(), 300),
                    alert: match other {
                        rustls::Error::AlertReceived(description) => Some(u8::from(*description)),
                        _ => None,
                    },
                };
            }
            None => {}
        }
    }
    match classify(err) {
        HttpOutcome::Timeout => HopOutcome::Timeout,
        HttpOutcome::Reset => HopOutcome::Reset,
        HttpOutcome::Closed => HopOutcome::Closed,
        HttpOutcome::Error { message } | HttpOutcome::Unread { message, .. } => {
            HopOutcome::Error { message }
        }
        HttpOutcome::Response { .. } => HopOutcome::Error {
            message: sanitize::line(&text, 300),
        },
    }
}

async fn read_answer(request: reqwest::RequestBuilder) -> Result<Answered, reqwest::Error> {
    let mut response = request.send().await?;
    let status = response.status().as_u16();
    let header = |name: &str| {
        response.headers().get(name).map(|v: &HeaderValue| {
            sanitize::line(&String::from_utf8_lossy(v.as_bytes()), HEADER_CAP)
        })
    };
    let server = header("server");
    let location = header("location");
    let www_authenticate = header("www-authenticate");
    let marks = marks_of(response.headers());
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = BODY_CAP - body.len();
        if chunk.len() >= room {
            body.extend_from_slice(&chunk[..room]);
            break;
        }
        body.extend_from_slice(&chunk);
    }
    let head = &body[..body.len().min(crate::ca_limits::MAX_RESPONSE_BODY)];
    // More than the evidence of a plain GET: block pages name themselves further down.
    let evidence = &body[..body.len().min(ANSWER_EVIDENCE)];
    let hash = sha256_hex(&body);
    Ok(Answered {
        status,
        server,
        location,
        www_authenticate,
        marks,
        title: html_title(&body),
        body_head_hex: head.iter().map(|b| format!("{b:02x}")).collect(),
        body_prefix: sanitize::line(
            &String::from_utf8_lossy(evidence).escape_debug().to_string(),
            ANSWER_EVIDENCE * 2,
        ),
        body_bytes: body.len() as u64,
        body_sha256: hash,
    })
}

/// The text of the first `<title>`, sanitised and capped.
pub fn html_title(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let lower = text.to_ascii_lowercase();
    let start = lower.find("<title")?;
    let open_end = lower[start..].find('>')? + start + 1;
    let end = lower[open_end..].find("</title")? + open_end;
    let title = text.get(open_end..end)?.trim();
    (!title.is_empty()).then(|| sanitize::line(title, 120))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn a_request_url_is_only_ever_for_a_domain() {
        let url = domain_url("example.com", "/.well-known/acme-challenge/T").unwrap();
        assert_eq!(
            url.as_str(),
            "http://example.com/.well-known/acme-challenge/T"
        );
        for host in [
            "0x7f.0x1",
            "127.0.0.0x1",
            "169.254.169.0xfe",
            "127.000.0.1",
            "[::1]",
            "::ffff:127.0.0.1",
            "0:0::1",
            "example.com@127.0.0.1",
            "example.com:8080",
        ] {
            assert!(domain_url(host, "/").is_err(), "{host}");
        }
        assert!(domain_url("example.com", "@127.0.0.1/").is_err());
        assert!(domain_url("203.0.113.5", "@127.0.0.1/").is_err());
    }

    #[test]
    fn an_ip_identifiers_url_is_the_literal_bracketed_for_ipv6() {
        let v4 = domain_url("203.0.113.5", "/.well-known/acme-challenge/T").unwrap();
        assert_eq!(
            v4.as_str(),
            "http://203.0.113.5/.well-known/acme-challenge/T"
        );
        assert_eq!(v4.host_str(), Some("203.0.113.5"));
        let v6 = domain_url("2001:db8::1", "/.well-known/acme-challenge/T").unwrap();
        assert_eq!(
            v6.as_str(),
            "http://[2001:db8::1]/.well-known/acme-challenge/T"
        );
        // What goes in Host: the literal, bracketed, no port.
        assert_eq!(v6.host_str(), Some("[2001:db8::1]"));
        assert_eq!(v6.port(), None);
        // Pinned only to the identifier itself.
        assert!(pinned_host(&v4, "203.0.113.5:80".parse().unwrap()).is_ok());
        assert!(pinned_host(&v4, "192.0.2.1:80".parse().unwrap()).is_err());
        assert!(pinned_host(&v6, "[2001:db8::1]:80".parse().unwrap()).is_ok());
        assert!(pinned_host(&v6, "[2001:db8::2]:80".parse().unwrap()).is_err());
    }

    #[test]
    fn a_literal_host_must_be_the_pinned_address() {
        let pin: SocketAddr = "192.0.2.1:80".parse().unwrap();
        let literal = url::Url::parse("http://0x7f.0x1/x").unwrap();
        assert!(pinned_host(&literal, pin).is_err());
        let same = url::Url::parse("http://192.0.2.1/x").unwrap();
        assert_eq!(pinned_host(&same, pin).unwrap(), "192.0.2.1");
        let name = url::Url::parse("http://example.com/x").unwrap();
        assert_eq!(pinned_host(&name, pin).unwrap(), "example.com");
    }

    /// Serves one response with `headers` header lines of `line` bytes each on loopback.
    async fn serve(headers: usize, line: usize) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            let mut head = String::from("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n");
            for i in 0..headers {
                let name = format!("X-H{i}: ");
                let pad = line.saturating_sub(name.len() + 2).max(1);
                head.push_str(&name);
                head.push_str(&"v".repeat(pad));
                head.push_str("\r\n");
            }
            head.push_str("\r\n");
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.shutdown().await;
        });
        addr
    }

    async fn get(addr: SocketAddr) -> HttpOutcome {
        ReqwestHttp::default()
            .get(
                "example.test",
                addr,
                "/x",
                Duration::from_secs(5),
                Agent::Own,
            )
            .await
            .outcome
    }

    #[tokio::test]
    async fn more_than_100_headers_are_a_response_not_no_response() {
        let outcome = get(serve(150, 20).await).await;
        assert!(
            matches!(outcome, HttpOutcome::Response { status: 404, .. }),
            "{outcome:?}"
        );
        let outcome = get(serve(5_000, 8).await).await;
        assert!(
            matches!(outcome, HttpOutcome::Response { status: 404, .. }),
            "{outcome:?}"
        );
    }

    /// Answers every connection on `listener` with `response`; counts the connections.
    fn answer_all(
        listener: tokio::net::TcpListener,
        response: String,
    ) -> std::sync::Arc<std::sync::atomic::AtomicUsize> {
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let _ = sock.write_all(response.as_bytes()).await;
                let _ = sock.shutdown().await;
            }
        });
        seen
    }

    #[tokio::test]
    async fn a_redirect_is_never_followed() {
        // The second listener is where the redirect points: it must see no connection.
        let target = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target_addr = target.local_addr().unwrap();
        let target_seen = answer_all(
            target,
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".into(),
        );
        let first = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let first_addr = first.local_addr().unwrap();
        let location = format!("http://127.0.0.1:{}/.well-known/x", target_addr.port());
        let first_seen = answer_all(
            first,
            format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"),
        );
        let outcome = get(first_addr).await;
        assert!(
            matches!(&outcome, HttpOutcome::Response { status: 302, .. }),
            "{outcome:?}"
        );
        // The CA path records the hop too, and does not take it.
        let url = domain_url("example.test", "/x").unwrap();
        let hop = fetch_hop(&url, first_addr, Duration::from_secs(5)).await;
        assert!(
            matches!(&hop, HopOutcome::Answer(a) if a.status == 302),
            "{hop:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(first_seen.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert_eq!(target_seen.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_get_is_pinned_and_never_resolves_again() {
        // `.invalid` never resolves (RFC 6761): an answer can only come from the pinned address.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = answer_all(
            listener,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".into(),
        );
        let fact = ReqwestHttp::default()
            .get(
                "rebind.invalid",
                addr,
                "/.well-known/acme-challenge/t",
                Duration::from_secs(5),
                Agent::Own,
            )
            .await;
        assert!(
            matches!(fact.outcome, HttpOutcome::Response { status: 404, .. }),
            "{:?}",
            fact.outcome
        );
        assert_eq!(fact.address, addr.ip());
        let url = domain_url("rebind.invalid", "/x").unwrap();
        let hop = fetch_hop(&url, addr, Duration::from_secs(5)).await;
        assert!(
            matches!(&hop, HopOutcome::Answer(a) if a.status == 404),
            "{hop:?}"
        );
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    /// How a keep-alive loopback server treats a connection after its first answer.
    #[derive(Clone, Copy, PartialEq)]
    enum Then {
        /// Answers every request on it.
        KeepAnswering,
        /// Reads the next request and closes without an answer (an idle timeout met mid-way).
        CloseOnNext,
        /// Reads the next request and resets the connection.
        ResetOnNext,
    }

    /// What a keep-alive loopback server saw: connections accepted, and every request head.
    #[derive(Default)]
    struct Seen {
        accepted: std::sync::atomic::AtomicUsize,
        heads: std::sync::Mutex<Vec<String>>,
    }

    impl Seen {
        fn accepted(&self) -> usize {
            self.accepted.load(std::sync::atomic::Ordering::SeqCst)
        }

        fn heads(&self) -> Vec<String> {
            self.heads.lock().unwrap().clone()
        }
    }

    /// Reads one request head (no body: these are GETs); `None` at EOF.
    async fn read_head(sock: &mut tokio::net::TcpStream) -> Option<String> {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match sock.read(&mut byte).await {
                Ok(1) => head.push(byte[0]),
                _ => return None,
            }
        }
        Some(String::from_utf8_lossy(&head).to_ascii_lowercase())
    }

    /// A loopback HTTP/1.1 server that keeps connections alive (404, empty body); the first
    /// connection does `first` after its first answer, the later ones keep answering.
    async fn keep_alive_server(first: Then) -> (SocketAddr, std::sync::Arc<Seen>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = std::sync::Arc::new(Seen::default());
        let counter = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let n = counter
                    .accepted
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let then = if n == 0 { first } else { Then::KeepAnswering };
                let seen = counter.clone();
                tokio::spawn(async move {
                    let mut answered = 0;
                    while let Some(head) = read_head(&mut sock).await {
                        seen.heads.lock().unwrap().push(head.clone());
                        if answered > 0 && then != Then::KeepAnswering {
                            if then == Then::ResetOnNext {
                                let _ =
                                    socket2::SockRef::from(&sock).set_linger(Some(Duration::ZERO));
                            }
                            return;
                        }
                        let close = head.contains("connection: close");
                        let _ = sock
                            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                            .await;
                        answered += 1;
                        if close {
                            return;
                        }
                    }
                });
            }
        });
        (addr, seen)
    }

    #[tokio::test]
    async fn plain_gets_to_one_address_share_a_kept_connection() {
        let (addr, seen) = keep_alive_server(Then::KeepAnswering).await;
        let http = ReqwestHttp::default();
        let timeout = Duration::from_secs(5);
        for name in ["a.example.test", "b.example.test"] {
            let fact = http
                .get(
                    name,
                    addr,
                    "/.well-known/acme-challenge/t",
                    timeout,
                    Agent::Own,
                )
                .await;
            assert!(
                matches!(fact.outcome, HttpOutcome::Response { status: 404, .. }),
                "{:?}",
                fact.outcome
            );
            assert_eq!(
                fact.url,
                format!("http://{name}/.well-known/acme-challenge/t")
            );
        }
        let url = domain_url("c.example.test", "/").unwrap();
        let answer = http.fetch_kept(&url, addr, timeout).await;
        assert!(
            matches!(&answer, HopOutcome::Answer(a) if a.status == 404),
            "{answer:?}"
        );
        // Three names, three requests, one connection; each request names its own host.
        assert_eq!(seen.accepted(), 1);
        let heads = seen.heads();
        assert_eq!(heads.len(), 3);
        for (head, name) in heads.iter().zip(["a", "b", "c"]) {
            assert!(
                head.contains(&format!("\r\nhost: {name}.example.test\r\n")),
                "{head}"
            );
            assert!(!head.contains("connection: close"), "{head}");
        }
        assert!(
            heads[2].contains("let's encrypt validation server"),
            "{}",
            heads[2]
        );
    }

    #[tokio::test]
    async fn kept_clients_are_bounded_by_address() {
        let http = ReqwestHttp::default();
        let mut servers = Vec::new();
        for _ in 0..KEPT_ADDRESSES + 2 {
            let (addr, seen) = keep_alive_server(Then::KeepAnswering).await;
            let fact = http
                .get(
                    "a.example.test",
                    addr,
                    "/x",
                    Duration::from_secs(5),
                    Agent::Own,
                )
                .await;
            assert!(
                matches!(fact.outcome, HttpOutcome::Response { status: 404, .. }),
                "{:?}",
                fact.outcome
            );
            servers.push((addr, seen));
        }
        let kept = http.kept.lock().unwrap();
        assert_eq!(kept.clients.len(), KEPT_ADDRESSES);
        // The first two addresses were the least recently used: their clients are gone.
        assert!(!kept.clients.contains_key(&servers[0].0));
        assert!(!kept.clients.contains_key(&servers[1].0));
        assert!(kept.clients.contains_key(&servers[KEPT_ADDRESSES + 1].0));
    }

    #[tokio::test]
    async fn the_cas_requests_dial_afresh_each_time() {
        let (addr, seen) = keep_alive_server(Then::KeepAnswering).await;
        let http = ReqwestHttp::default();
        let url = domain_url("a.example.test", "/.well-known/acme-challenge/t").unwrap();
        for _ in 0..3 {
            let hop = http.fetch(&url, addr, Duration::from_secs(5)).await;
            assert!(
                matches!(&hop, HopOutcome::Answer(a) if a.status == 404),
                "{hop:?}"
            );
        }
        // The server would keep each connection: the CA's client asks it not to, and dials
        // again for the next request.
        assert_eq!(seen.accepted(), 3);
        assert!(seen.heads().iter().all(|h| h.contains("connection: close")));
    }

    #[tokio::test]
    async fn a_kept_connection_the_server_closes_is_asked_again_not_a_reset() {
        for then in [Then::CloseOnNext, Then::ResetOnNext] {
            let (addr, seen) = keep_alive_server(then).await;
            let http = ReqwestHttp::default();
            let timeout = Duration::from_secs(5);
            for name in ["a.example.test", "b.example.test"] {
                let fact = http.get(name, addr, "/x", timeout, Agent::Own).await;
                assert!(
                    matches!(fact.outcome, HttpOutcome::Response { status: 404, .. }),
                    "{:?}",
                    fact.outcome
                );
            }
            // The second GET met the closing connection, then a fresh one.
            assert_eq!(seen.accepted(), 2);
            assert_eq!(seen.heads().len(), 3);
        }
    }

    #[tokio::test]
    async fn a_server_that_resets_every_request_is_still_a_reset() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = read_head(&mut sock).await;
                let _ = socket2::SockRef::from(&sock).set_linger(Some(Duration::ZERO));
            }
        });
        let outcome = get(addr).await;
        assert_eq!(outcome, HttpOutcome::Reset);
        // Tried once more, fresh, and reset again.
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    /// nginx's `return 444`: the request is read, the connection closed with no answer. A
    /// fact of its own, neither a reset nor a timeout, asked again fresh once (a kept
    /// connection's ordinary end is not it), and quickly.
    #[tokio::test]
    async fn a_close_without_an_answer_is_closed_not_a_reset_or_a_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = read_head(&mut sock).await;
                let _ = sock.shutdown().await;
            }
        });
        let started = Instant::now();
        let fact = ReqwestHttp::default()
            .get(
                "example.test",
                addr,
                "/x",
                Duration::from_secs(5),
                Agent::Ca,
            )
            .await;
        assert_eq!(fact.outcome, HttpOutcome::Closed);
        assert_eq!(fact.agent, Agent::Ca);
        assert!(started.elapsed() < Duration::from_secs(4));
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
        let url = domain_url("example.test", "/x").unwrap();
        assert_eq!(
            fetch_hop(&url, addr, Duration::from_secs(5)).await,
            HopOutcome::Closed
        );
    }

    /// Each agent's GET sends its own User-Agent: a server that refuses Let's Encrypt's
    /// shows the difference, and the CA's request carries `Accept: */*` as Boulder's does.
    #[tokio::test]
    async fn the_cas_user_agent_and_ours_are_each_sent_as_asked() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = heads.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    while let Some(head) = read_head(&mut sock).await {
                        let status = if head.contains("letsencrypt") {
                            "403 Forbidden"
                        } else {
                            "404 Not Found"
                        };
                        seen.lock().unwrap().push(head);
                        let answer = format!(
                            "HTTP/1.1 {status}\r\nServer: nginx\r\nContent-Length: 0\r\n\r\n"
                        );
                        let _ = sock.write_all(answer.as_bytes()).await;
                    }
                });
            }
        });
        let http = ReqwestHttp::default();
        let timeout = Duration::from_secs(5);
        let ca = http
            .get("example.test", addr, "/x", timeout, Agent::Ca)
            .await;
        let own = http
            .get("example.test", addr, "/x", timeout, Agent::Own)
            .await;
        assert!(
            matches!(ca.outcome, HttpOutcome::Response { status: 403, .. }),
            "{:?}",
            ca.outcome
        );
        assert!(
            matches!(own.outcome, HttpOutcome::Response { status: 404, .. }),
            "{:?}",
            own.outcome
        );
        let heads = heads.lock().unwrap().clone();
        assert!(
            heads[0]
                .contains("user-agent: mozilla/5.0 (compatible; let's encrypt validation server"),
            "{}",
            heads[0]
        );
        assert!(heads[0].contains("accept: */*"), "{}", heads[0]);
        assert!(heads[1].contains("acme-doctor"), "{}", heads[1]);
    }

    #[tokio::test]
    async fn plain_http_on_an_https_hop_is_told_by_the_tls_error_type() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        answer_all(
            listener,
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".into(),
        );
        let url = url::Url::parse(&format!("https://example.test:{}/x", addr.port())).unwrap();
        let hop = fetch_hop(&url, addr, Duration::from_secs(5)).await;
        assert_eq!(hop, HopOutcome::HttpOnTlsPort);
    }

    #[tokio::test]
    async fn a_tls_alert_on_an_https_hop_is_a_tls_failure() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // A fatal handshake_failure alert record, as a server sends when no certificate fits.
        let alert = [0x15u8, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28];
        answer_all(listener, String::from_utf8(alert.to_vec()).unwrap());
        let url = url::Url::parse(&format!("https://example.test:{}/x", addr.port())).unwrap();
        let hop = fetch_hop(&url, addr, Duration::from_secs(5)).await;
        assert!(
            matches!(
                &hop,
                HopOutcome::Tls {
                    alert: Some(40),
                    ..
                }
            ),
            "{hop:?}"
        );
    }

    #[tokio::test]
    async fn a_head_beyond_our_buffer_is_unread_not_the_servers_fault() {
        // 600 KB of headers: over hyper's buffer, well under the CA's 10 MiB.
        let outcome = get(serve(600, 1000).await).await;
        assert!(
            matches!(outcome, HttpOutcome::Unread { limit_bytes, .. } if limit_bytes == HEAD_BUFFER as u64),
            "{outcome:?}"
        );
    }
}
