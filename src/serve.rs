//! `acme-doctor serve`: a vantage. A small HTTP API that looks at a name from where it runs,
//! as the CA would from outside, and returns the facts: DNS as resolved here, the connects to
//! ports 80 and 443 of each resolved address, the challenge GET and `GET /` on port 80, and
//! the source address the caller's request came from.
//!
//! It is built to be exposed on the internet:
//! - one endpoint, `GET /v1/observe?domain=NAME&path=/.well-known/acme-challenge/TOKEN`,
//!   behind a bearer token compared in constant time;
//! - it dials only ports 80 and 443 of the addresses the name resolves to here; the caller
//!   names no host, no port and no URL, so it is never an open proxy;
//! - reserved and private targets, and the vantage's own addresses, are refused unless
//!   `--allow-reserved` (labs);
//! - request heads are capped (16 KiB), bodies refused, the head must arrive within 5 s
//!   (slowloris), every connection has a deadline, concurrent observations are capped
//!   (`--max-concurrent`) and each client has a rate limit;
//! - one log line per request on stderr, without the token.

use crate::facts::{Family, Observation};
use crate::probe::{self, DnsProbe, http01};
use crate::reserved;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Semaphore;

/// The challenge paths a caller may name: the CA fetches nothing else.
pub const CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";
/// The longest request head accepted (hyper's smallest buffer is 8 KiB).
const MAX_HEAD: usize = 16 * 1024;
/// The head of a request must arrive within this (a slow client holds no slot for long).
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// The TLS handshake must finish within this.
const TLS_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections held open at once, per allowed concurrent observation.
const CONNECTIONS_PER_SLOT: usize = 8;
/// The longest probe timeout a caller may ask for (the CA's own dial timeout).
const MAX_PROBE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Where to listen, e.g. 0.0.0.0:8443 or [::]:8443
    #[arg(long, value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// File holding the bearer token callers must send (required)
    #[arg(long, value_name = "FILE")]
    token_file: PathBuf,
    /// TLS certificate chain (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP (labs, or behind a TLS proxy): the token then crosses the network in
    /// clear
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    plain_http: bool,
    /// Look at reserved and documentation addresses too (test labs only)
    #[arg(long)]
    allow_reserved: bool,
    /// Observations running at once; more get 503
    #[arg(long, default_value_t = 8, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    max_concurrent: u16,
    /// Requests per minute per client address (IPv6: per /64)
    #[arg(long, default_value_t = 30, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    rate_limit: u32,
    /// DNS resolver to ask instead of the system's
    #[arg(long, value_name = "IP[:PORT]")]
    resolver: Option<String>,
}

/// Reads a bearer token: the file's first line, trimmed; 16 to 4096 printable characters.
pub fn read_token(path: &Path) -> Result<String, String> {
    let shown = crate::sanitize::line(&path.display().to_string(), 200);
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(8193).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read token file {shown}: {e}"))?;
    let text =
        String::from_utf8(bytes).map_err(|_| format!("token file {shown} is not UTF-8 text"))?;
    let token = text.lines().next().unwrap_or("").trim().to_string();
    if token.len() < 16 || token.len() > 4096 {
        return Err(format!(
            "token file {shown}: the token must be 16 to 4096 characters (e.g. openssl rand -hex 32)"
        ));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "token file {shown}: the token must be printable ASCII without spaces"
        ));
    }
    Ok(token)
}

struct State {
    token: String,
    allow_reserved: bool,
    dns: probe::dns::HickoryDns,
    slots: Arc<Semaphore>,
    rate_limit: u32,
    clients: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

/// Runs the vantage until the process is stopped. Errors here are the tool's own (exit 2).
pub fn run(args: &ServeArgs) -> Result<(), String> {
    let token = read_token(&args.token_file)?;
    let tls = match (&args.tls_cert, &args.tls_key, args.plain_http) {
        (Some(cert), Some(key), false) => Some(tls_acceptor(cert, key)?),
        (None, None, true) => None,
        _ => {
            return Err(
                "serve needs --tls-cert FILE --tls-key FILE, or --plain-http (labs, or behind a TLS proxy)"
                    .into(),
            );
        }
    };
    let resolver = args
        .resolver
        .as_deref()
        .map(crate::config::parse_resolver)
        .transpose()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        let state = Arc::new(State {
            token,
            allow_reserved: args.allow_reserved,
            dns: probe::dns::HickoryDns::new(resolver, MAX_PROBE_TIMEOUT)?,
            slots: Arc::new(Semaphore::new(usize::from(args.max_concurrent))),
            rate_limit: args.rate_limit,
            clients: Mutex::new(HashMap::new()),
        });
        let connections = Arc::new(Semaphore::new(
            usize::from(args.max_concurrent) * CONNECTIONS_PER_SLOT,
        ));
        eprintln!(
            "acme-doctor serve: listening on {} ({}){}",
            args.listen,
            if tls.is_some() {
                "https"
            } else {
                "PLAIN HTTP: the token crosses the network in clear; use only in a lab or behind a TLS proxy"
            },
            if args.allow_reserved {
                "; --allow-reserved: reserved and private targets are looked at (labs only)"
            } else {
                ""
            }
        );
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait, never exit.
                    eprintln!("acme-doctor serve: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            // Too many open connections: this one is closed at once.
            let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
                drop(stream);
                continue;
            };
            let state = Arc::clone(&state);
            let tls = tls.clone();
            tokio::spawn(async move {
                let _permit = permit;
                match tls {
                    Some(acceptor) => {
                        if let Ok(Ok(stream)) =
                            tokio::time::timeout(TLS_TIMEOUT, acceptor.accept(stream)).await
                        {
                            serve_connection(stream, peer, state).await;
                        }
                    }
                    None => serve_connection(stream, peer, state).await,
                }
            });
        }
    })
}

fn tls_acceptor(cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read --tls-cert {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("--tls-cert {}: no certificate", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read --tls-key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate and key: {e}"))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

async fn serve_connection<I>(io: I, peer: SocketAddr, state: Arc<State>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let state = Arc::clone(&state);
        async move { Ok::<_, std::convert::Infallible>(handle(req, peer, &state).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEAD)
        .keep_alive(false);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    // A whole connection: the head, the observation (DNS, connect, GET), the answer.
    let deadline = HEADER_TIMEOUT + MAX_PROBE_TIMEOUT * 3 + Duration::from_secs(5);
    let _ = tokio::time::timeout(deadline, conn).await;
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn refuse(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json(status, serde_json::json!({ "error": message }).to_string())
}

/// The client's key for the rate limit: its address, an IPv6 client by its /64.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::from([s[0], s[1], s[2], s[3], 0, 0, 0, 0])
        }
        v4 => v4,
    }
}

impl State {
    /// Counts a request against its client's minute; false when over the limit.
    fn admit(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if clients.len() > 10_000 {
            clients.retain(|_, (start, _)| now.duration_since(*start) < Duration::from_secs(60));
        }
        let entry = clients.entry(client_key(ip)).or_insert((now, 0));
        if now.duration_since(entry.0) >= Duration::from_secs(60) {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= self.rate_limit
    }

    fn authorised(&self, req: &Request<Incoming>) -> bool {
        use subtle::ConstantTimeEq;
        let Some(given) = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        // Constant time over the bytes; only the length can differ in timing.
        bool::from(given.trim().as_bytes().ct_eq(self.token.as_bytes()))
    }
}

/// A validated request: the name, the challenge path, the probe timeout.
#[derive(Debug, PartialEq)]
pub struct Ask {
    pub domain: crate::domain::DomainName,
    pub path: String,
    pub timeout: Duration,
}

/// Parses the query of `/v1/observe`. Anything but `domain`, `path` and `timeout_ms` is
/// refused: there is no way to name a host, a port or a URL.
pub fn parse_ask(query: &str) -> Result<Ask, String> {
    let mut domain = None;
    let mut path = None;
    let mut timeout = Duration::from_secs(10);
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "domain" if domain.is_none() => domain = Some(value.into_owned()),
            "path" if path.is_none() => path = Some(value.into_owned()),
            "timeout_ms" => {
                let ms: u64 = value
                    .parse()
                    .map_err(|_| "timeout_ms: a number of milliseconds".to_string())?;
                timeout =
                    Duration::from_millis(ms).clamp(Duration::from_millis(100), MAX_PROBE_TIMEOUT);
            }
            other => {
                return Err(format!(
                    "unknown or repeated parameter {:?}: a vantage takes only domain, path and timeout_ms, and dials only ports 80 and 443 of the name's own addresses",
                    crate::sanitize::line(other, 40)
                ));
            }
        }
    }
    let domain = domain.ok_or("domain is missing")?;
    let domain = crate::domain::parse(&domain)?;
    if domain.wildcard {
        return Err("a wildcard name has no address to look at".into());
    }
    let path = path.unwrap_or_else(|| format!("{CHALLENGE_PREFIX}acme-doctor-vantage-check"));
    let token = path
        .strip_prefix(CHALLENGE_PREFIX)
        .ok_or_else(|| format!("path must start with {CHALLENGE_PREFIX}"))?;
    if token.is_empty()
        || token.len() > 256
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err("the challenge token must be 1 to 256 base64url characters".into());
    }
    Ok(Ask {
        domain,
        path,
        timeout,
    })
}

async fn handle(req: Request<Incoming>, peer: SocketAddr, state: &State) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let (response, domain) = answer(&req, peer, state).await;
    // One line per request; the query is not logged whole (it is the caller's), the token
    // never.
    eprintln!(
        "acme-doctor serve: {} {} {} {} {} {}ms{}",
        crate::timefmt::rfc3339(std::time::SystemTime::now()),
        peer.ip().to_canonical(),
        crate::sanitize::line(req.method().as_str(), 10),
        crate::sanitize::line(req.uri().path(), 80),
        response.status().as_u16(),
        started.elapsed().as_millis(),
        domain.map(|d| format!(" domain={d}")).unwrap_or_default()
    );
    response
}

async fn answer(
    req: &Request<Incoming>,
    peer: SocketAddr,
    state: &State,
) -> (Response<Full<Bytes>>, Option<String>) {
    if !state.admit(peer.ip()) {
        return (
            refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "rate limit: try again in a minute",
            ),
            None,
        );
    }
    if !state.authorised(req) {
        return (
            refuse(StatusCode::UNAUTHORIZED, "a valid bearer token is required"),
            None,
        );
    }
    if req.uri().path() != "/v1/observe" {
        return (
            refuse(StatusCode::NOT_FOUND, "the only endpoint is /v1/observe"),
            None,
        );
    }
    if req.method() != hyper::Method::GET {
        return (refuse(StatusCode::METHOD_NOT_ALLOWED, "use GET"), None);
    }
    let has_body = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0")
        || req.headers().contains_key(hyper::header::TRANSFER_ENCODING);
    if has_body {
        return (
            refuse(StatusCode::PAYLOAD_TOO_LARGE, "requests carry no body"),
            None,
        );
    }
    let ask = match parse_ask(req.uri().query().unwrap_or("")) {
        Ok(ask) => ask,
        Err(e) => return (refuse(StatusCode::BAD_REQUEST, &e), None),
    };
    let Ok(_slot) = Arc::clone(&state.slots).try_acquire_owned() else {
        return (
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy: too many observations at once",
            ),
            Some(ask.domain.ascii),
        );
    };
    let observation = observe(state, &ask, peer.ip().to_canonical()).await;
    let body = serde_json::to_string(&observation).unwrap_or_else(|_| "{}".into());
    (json(StatusCode::OK, body), Some(ask.domain.ascii))
}

/// The addresses of this machine, so that a name pointing here is not a way in.
fn own_addresses() -> Vec<IpAddr> {
    nix::ifaddrs::getifaddrs()
        .map(|list| {
            list.filter_map(|i| {
                let a = i.address?;
                a.as_sockaddr_in()
                    .map(|s| IpAddr::V4(s.ip()))
                    .or_else(|| a.as_sockaddr_in6().map(|s| IpAddr::V6(s.ip())))
            })
            .collect()
        })
        .unwrap_or_default()
}

/// Whether the vantage may dial `ip`: public, and not its own, unless `--allow-reserved`.
pub fn may_dial(ip: &IpAddr, allow_reserved: bool, own: &[IpAddr]) -> bool {
    if allow_reserved {
        return true;
    }
    let ip = ip.to_canonical();
    reserved::classify(&ip).is_none() && !own.contains(&ip) && !ip.is_unspecified()
}

async fn observe(state: &State, ask: &Ask, source: IpAddr) -> Observation {
    let name = ask.domain.ascii.as_str();
    let (a, aaaa) = tokio::join!(
        state.dns.lookup(name, Family::Ipv4),
        state.dns.lookup(name, Family::Ipv6)
    );
    let dns = crate::facts::DnsFacts { a, aaaa };
    let own = own_addresses();
    let (targets, refused): (Vec<IpAddr>, Vec<IpAddr>) = dns
        .a
        .addresses
        .iter()
        .chain(&dns.aaaa.addresses)
        .copied()
        .partition(|ip| may_dial(ip, state.allow_reserved, &own));
    let plan = http01::Plan {
        targets,
        timeout: ask.timeout,
        token_path: &ask.path,
        root: true,
        // A vantage knows no webroot and walks no path: it only observes what the caller's
        // host serves.
        webroot: None,
        token: None,
        walk: None,
    };
    let http01 = http01::gather(
        &plan,
        name,
        &state.dns,
        &probe::tcp::SocketConnect,
        &probe::http::ReqwestHttp,
        &http01::Limits::default(),
    )
    .await;
    Observation {
        dns: Some(dns),
        http01,
        source_address: Some(source),
        refused_targets: refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_domain_path_and_timeout_are_accepted() {
        let ask = parse_ask("domain=example.com&path=/.well-known/acme-challenge/abc_-1").unwrap();
        assert_eq!(ask.domain.ascii, "example.com");
        for bad in [
            "domain=example.com&port=22",
            "domain=example.com&url=http://10.0.0.1/",
            "domain=example.com&host=10.0.0.1",
            "domain=example.com&path=/etc/passwd",
            "domain=example.com&path=/.well-known/acme-challenge/../../x",
            "domain=example.com&path=/.well-known/acme-challenge/",
            "domain=example.com:22",
            "domain=*.example.com",
            "path=/.well-known/acme-challenge/x",
            "domain=a.example&domain=b.example",
        ] {
            assert!(parse_ask(bad).is_err(), "{bad}");
        }
        let long = parse_ask("domain=example.com&timeout_ms=999999").unwrap();
        assert_eq!(long.timeout, MAX_PROBE_TIMEOUT);
    }

    #[test]
    fn reserved_private_and_own_targets_are_refused() {
        let own: Vec<IpAddr> = vec!["203.0.113.7".parse().unwrap()];
        for ip in [
            "10.0.0.1",
            "127.0.0.1",
            "192.168.1.1",
            "::1",
            "fe80::1",
            "169.254.169.254",
            "::ffff:127.0.0.1",
            "0.0.0.0",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(!may_dial(&ip, false, &own), "{ip}");
        }
        assert!(may_dial(&"8.8.8.8".parse().unwrap(), false, &own));
        assert!(may_dial(&"10.0.0.1".parse().unwrap(), true, &own));
    }

    #[test]
    fn clients_are_limited_per_minute_and_ipv6_per_64() {
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::2".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
    }
}
