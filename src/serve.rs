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
//! - of the allowed addresses it dials at most [`MAX_DIAL_PER_FAMILY`] per family, the CA's
//!   own first pick always among them, and says how many it left out: a name with thousands
//!   of records does not turn it into a scanner;
//! - request heads are capped (16 KiB), bodies refused, the head must arrive within 5 s
//!   (slowloris), every connection has a deadline, concurrent observations are capped
//!   (`--max-concurrent`) and each client has a rate limit;
//! - open connections are capped in total and per client address (IPv6 per /64), the latter
//!   at a share of the total, so one client's idle connections cannot lock others out;
//! - `X-Forwarded-For` is believed only from a `--trusted-proxy`, and then only its
//!   right-most entry that is not itself a trusted proxy;
//! - one log line per request on stderr, without the token.

use crate::facts::{Family, Method, Observation};
use crate::probe::connects::{self, Connects, Limits};
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
/// Allowed addresses dialled per family at most. The CA dials one per family (the first,
/// `docs/ca-behaviour.md` §2.2); a few more show whether the others answer alike.
pub const MAX_DIAL_PER_FAMILY: usize = 8;
/// One client address (IPv6: one /64) holds at most this share of the connection slots, so
/// at least this many clients are needed to fill them.
const CLIENT_SHARE: usize = 8;
/// But never fewer than this: a client may ask while its previous answer is still on the way
/// out, and is then told "busy" (503) rather than cut off.
const CLIENT_FLOOR: usize = 2;

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
    /// A reverse proxy in front of the vantage (repeatable): only a connection from such an
    /// address has its X-Forwarded-For believed, for the rate limit and the source address
    #[arg(long = "trusted-proxy", value_name = "ADDR")]
    trusted_proxies: Vec<IpAddr>,
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
    trusted_proxies: Vec<IpAddr>,
}

/// Open connections, in total and per client key.
struct Connections {
    total: Arc<Semaphore>,
    per_client: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// A connection's hold on its slots, released when it closes.
struct ConnectionSlot {
    _total: tokio::sync::OwnedSemaphorePermit,
    client: Option<(Arc<Connections>, IpAddr)>,
}

impl Connections {
    fn new(total: usize) -> Connections {
        Connections {
            total: Arc::new(Semaphore::new(total)),
            per_client: (total / CLIENT_SHARE).max(CLIENT_FLOOR).min(total),
            open: Mutex::new(HashMap::new()),
        }
    }

    /// A slot for a connection from `peer`, or `None` when the vantage or this client is
    /// full. A trusted proxy carries everyone's requests, so only the total binds it.
    fn admit(self: &Arc<Self>, peer: IpAddr, proxy: bool) -> Option<ConnectionSlot> {
        let total = Arc::clone(&self.total).try_acquire_owned().ok()?;
        if proxy {
            return Some(ConnectionSlot {
                _total: total,
                client: None,
            });
        }
        let key = client_key(peer);
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = open.entry(key).or_insert(0);
        if *count >= self.per_client {
            return None;
        }
        *count += 1;
        Some(ConnectionSlot {
            _total: total,
            client: Some((Arc::clone(self), key)),
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        if let Some((connections, key)) = &self.client {
            let mut open = connections
                .open
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(count) = open.get_mut(key) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    open.remove(key);
                }
            }
        }
    }
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
            trusted_proxies: args.trusted_proxies.iter().map(|ip| ip.to_canonical()).collect(),
        });
        let connections = Arc::new(Connections::new(
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
            // Too many open connections, in all or from this client: this one is closed at
            // once, and the others' stay open.
            let peer_ip = peer.ip().to_canonical();
            let proxy = state.trusted_proxies.contains(&peer_ip);
            let Some(permit) = connections.admit(peer_ip, proxy) else {
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

    fn client_of(&self, peer: IpAddr, headers: &hyper::HeaderMap) -> IpAddr {
        client_of(peer, headers, &self.trusted_proxies)
    }
}

/// The client a request is counted against: the peer, or behind a trusted proxy the
/// right-most `X-Forwarded-For` entry that is not a trusted proxy itself. Entries left of it
/// are the client's own to forge; an entry that is no address ends the walk.
pub fn client_of(peer: IpAddr, headers: &hyper::HeaderMap, trusted_proxies: &[IpAddr]) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted_proxies.contains(&peer) {
        return peer;
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    for entry in entries.iter().rev() {
        let Some(ip) = forwarded_address(entry.trim()) else {
            break;
        };
        let ip = ip.to_canonical();
        if !trusted_proxies.contains(&ip) {
            return ip;
        }
    }
    peer
}

fn authorised(headers: &hyper::HeaderMap, token: &str) -> bool {
    use subtle::ConstantTimeEq;
    let Some(given) = headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    // Constant time over the bytes; only the length can differ in timing.
    bool::from(given.trim().as_bytes().ct_eq(token.as_bytes()))
}

/// What a request head earns once its client is within the rate limit: the observation it
/// asks for, or the refusal. Pure (no clock, no state), so the fuzzer drives it
/// (`fuzzing::serve_request`).
pub fn vet(
    method: &hyper::Method,
    uri: &hyper::Uri,
    headers: &hyper::HeaderMap,
    token: &str,
) -> Result<Ask, (StatusCode, String)> {
    if !authorised(headers, token) {
        return Err((
            StatusCode::UNAUTHORIZED,
            "a valid bearer token is required".into(),
        ));
    }
    if uri.path() != "/v1/observe" {
        return Err((
            StatusCode::NOT_FOUND,
            "the only endpoint is /v1/observe".into(),
        ));
    }
    if method != hyper::Method::GET {
        return Err((StatusCode::METHOD_NOT_ALLOWED, "use GET".into()));
    }
    let has_body = headers
        .get(hyper::header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0")
        || headers.contains_key(hyper::header::TRANSFER_ENCODING);
    if has_body {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            "requests carry no body".into(),
        ));
    }
    parse_ask(uri.query().unwrap_or("")).map_err(|e| (StatusCode::BAD_REQUEST, e))
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`[v6]:port`, `v4:port`).
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// A validated request: the name, the challenge path, the probe timeout.
#[derive(Debug, PartialEq)]
pub struct Ask {
    pub domain: crate::domain::DomainName,
    pub challenge: http01::ChallengePath,
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
    let challenge = http01::ChallengePath::new(token);
    Ok(Ask {
        domain,
        challenge,
        timeout,
    })
}

async fn handle(req: Request<Incoming>, peer: SocketAddr, state: &State) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let client = state.client_of(peer.ip(), req.headers());
    let (response, domain) = answer(&req, client, state).await;
    // One line per request; the query is not logged whole (it is the caller's), the token
    // never.
    eprintln!(
        "acme-doctor serve: {} {} {} {} {} {}ms{}",
        crate::timefmt::rfc3339(std::time::SystemTime::now()),
        if client == peer.ip().to_canonical() {
            client.to_string()
        } else {
            format!("{client} via {}", peer.ip().to_canonical())
        },
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
    client: IpAddr,
    state: &State,
) -> (Response<Full<Bytes>>, Option<String>) {
    if !state.admit(client) {
        return (
            refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "rate limit: try again in a minute",
            ),
            None,
        );
    }
    let ask = match vet(req.method(), req.uri(), req.headers(), &state.token) {
        Ok(ask) => ask,
        Err((status, e)) => return (refuse(status, &e), None),
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
    let observation = observe(state, &ask, client).await;
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
    // An IP identifier is its own address, as for the CA (no DNS); it passes the same
    // `may_dial` as a name's answers, which a caller who controls a zone chooses just as
    // freely: no address the vantage refuses for a name is reachable through one.
    let (dns, addresses) = match ask.domain.ip {
        Some(ip) => (None, vec![ip]),
        None => {
            let (a, aaaa) = tokio::join!(
                state.dns.lookup(name, Family::Ipv4),
                state.dns.lookup(name, Family::Ipv6)
            );
            let addresses = a.addresses.iter().chain(&aaaa.addresses).copied().collect();
            (Some(crate::facts::DnsFacts { a, aaaa }), addresses)
        }
    };
    let own = own_addresses();
    let (allowed, refused): (Vec<IpAddr>, Vec<IpAddr>) = addresses
        .into_iter()
        .partition(|ip| may_dial(ip, state.allow_reserved, &own));
    let (targets, left_out) = capped_per_family(allowed, MAX_DIAL_PER_FAMILY);
    let plan = http01::Plan {
        targets,
        timeout: ask.timeout,
        challenge: &ask.challenge,
        root: true,
        // A vantage knows no webroot and walks no path: it only observes what the caller's
        // host serves.
        webroot: None,
        token: None,
        walk: None,
    };
    let (limits, made) = (Limits::default(), Connects::default());
    let (tcp, http) = (
        probe::tcp::SocketConnect,
        probe::http::ReqwestHttp::default(),
    );
    // The vantage dials what HTTP-01 dials; its GETs reuse the connects' outcomes.
    let (connects, http01) = tokio::join!(
        connects::connect_all(
            &plan.targets,
            Method::Http01.ports(),
            &tcp,
            &limits,
            &made,
            ask.timeout
        ),
        http01::gather(&plan, name, &state.dns, &tcp, &http, &limits, &made,)
    );
    // Where this vantage's requests came from, for the host's filters: one per family.
    let mut own_sources: Vec<IpAddr> = Vec::new();
    for ip in &plan.targets {
        if own_sources.iter().any(|o| o.is_ipv4() == ip.is_ipv4()) {
            continue;
        }
        if let Some(src) = probe::tcp::route_source(SocketAddr::new(*ip, 80)) {
            own_sources.push(src.to_canonical());
        }
    }
    Observation {
        dns,
        connects,
        http01,
        source_address: Some(source),
        refused_targets: refused,
        targets_left_out: left_out as u64,
        own_sources,
    }
}

/// The first `cap` addresses of each family, in the resolver's order (so the CA's own pick,
/// the first, is kept), and how many were left out.
fn capped_per_family(addresses: Vec<IpAddr>, cap: usize) -> (Vec<IpAddr>, usize) {
    let (mut v4, mut v6) = (0, 0);
    let total = addresses.len();
    let kept: Vec<IpAddr> = addresses
        .into_iter()
        .filter(|ip| {
            let count = if ip.is_ipv4() { &mut v4 } else { &mut v6 };
            *count += 1;
            *count <= cap
        })
        .collect();
    let left_out = total - kept.len();
    (kept, left_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head is judged in the order `serve` always judged it: token, path, method, body,
    /// query; the fuzzer drives the same function (`fuzzing::serve_request`).
    #[test]
    fn a_request_head_is_vetted_token_first() {
        let vet_of = |method: &str, target: &str, headers: &[(&str, &str)]| {
            let mut map = hyper::HeaderMap::new();
            for (k, v) in headers {
                map.append(
                    hyper::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    hyper::header::HeaderValue::from_str(v).unwrap(),
                );
            }
            let method = hyper::Method::from_bytes(method.as_bytes()).unwrap();
            let uri: hyper::Uri = target.parse().unwrap();
            vet(&method, &uri, &map, "secret").map_err(|(status, _)| status.as_u16())
        };
        let auth = ("authorization", "Bearer secret");
        assert_eq!(vet_of("POST", "/x", &[]).unwrap_err(), 401);
        assert_eq!(
            vet_of(
                "GET",
                "/v1/observe?domain=a.example",
                &[("authorization", "Bearer wrong")]
            )
            .unwrap_err(),
            401
        );
        assert_eq!(vet_of("POST", "/x", &[auth]).unwrap_err(), 404);
        assert_eq!(vet_of("POST", "/v1/observe", &[auth]).unwrap_err(), 405);
        let body = ("content-length", "3");
        assert_eq!(
            vet_of("GET", "/v1/observe", &[auth, body]).unwrap_err(),
            413
        );
        let chunked = ("transfer-encoding", "chunked");
        assert_eq!(
            vet_of("GET", "/v1/observe", &[auth, chunked]).unwrap_err(),
            413
        );
        assert_eq!(
            vet_of(
                "GET",
                "/v1/observe?domain=0x7f.0x1",
                &[auth, ("content-length", "0")]
            )
            .unwrap_err(),
            400
        );
        let ask = vet_of("GET", "/v1/observe?domain=a.example", &[auth]).unwrap();
        assert_eq!(ask.domain.ascii, "a.example");
    }

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
        // An IP identifier passes the same gate, in canonical text only.
        let ip = parse_ask("domain=2001:db8::1").unwrap();
        assert_eq!(ip.domain.ip, Some("2001:db8::1".parse().unwrap()));
        for bad in [
            "domain=2001:db8:0::1",
            "domain=203.0.113.05",
            "domain=::ffff:127.0.0.1",
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
            "::7f00:1",
            "0.0.0.0",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(!may_dial(&ip, false, &own), "{ip}");
        }
        assert!(may_dial(&"8.8.8.8".parse().unwrap(), false, &own));
        assert!(may_dial(&"10.0.0.1".parse().unwrap(), true, &own));
    }

    #[test]
    fn at_most_the_cap_per_family_is_dialled_and_the_first_of_each_is_kept() {
        let mut many: Vec<IpAddr> = (0..2000u32)
            .map(|i| IpAddr::from(std::net::Ipv4Addr::from(0xC000_0200 + i)))
            .collect();
        many.extend((1..=20u16).map(|i| IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, i])));
        let first_v4 = many[0];
        let (kept, left_out) = capped_per_family(many, MAX_DIAL_PER_FAMILY);
        assert_eq!(kept.len(), 2 * MAX_DIAL_PER_FAMILY);
        assert_eq!(left_out, 2020 - 2 * MAX_DIAL_PER_FAMILY);
        assert_eq!(kept[0], first_v4);
        assert!(kept.contains(&"2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn one_client_cannot_hold_every_connection() {
        let connections = Arc::new(Connections::new(64));
        let greedy: IpAddr = "192.0.2.7".parse().unwrap();
        let held: Vec<_> = std::iter::from_fn(|| connections.admit(greedy, false))
            .take(100)
            .collect();
        assert_eq!(held.len(), 64 / CLIENT_SHARE);
        // Every address of one /64 is one client.
        let v6: Vec<_> = (1..=64u16)
            .filter_map(|i| {
                connections.admit(IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, i]), false)
            })
            .collect();
        assert_eq!(v6.len(), 64 / CLIENT_SHARE);
        let other: IpAddr = "198.51.100.9".parse().unwrap();
        assert!(connections.admit(other, false).is_some());
        drop(held);
        assert!(connections.admit(greedy, false).is_some());
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let proxy: IpAddr = "192.0.2.1".parse().unwrap();
        let state = State {
            token: "x".repeat(16),
            allow_reserved: false,
            dns: probe::dns::HickoryDns::new(None, MAX_PROBE_TIMEOUT).unwrap(),
            slots: Arc::new(Semaphore::new(1)),
            rate_limit: 1,
            clients: Mutex::new(HashMap::new()),
            trusted_proxies: vec![proxy, "192.0.2.2".parse().unwrap()],
        };
        let mut headers = hyper::HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "203.0.113.66, 198.51.100.5:4711, 192.0.2.2"
                .parse()
                .unwrap(),
        );
        // The right-most entry that is no trusted proxy; the forged left one is ignored.
        assert_eq!(
            state.client_of(proxy, &headers),
            "198.51.100.5".parse::<IpAddr>().unwrap()
        );
        let stranger: IpAddr = "198.51.100.200".parse().unwrap();
        assert_eq!(state.client_of(stranger, &headers), stranger);
        headers.insert("x-forwarded-for", "203.0.113.66, garbage".parse().unwrap());
        assert_eq!(state.client_of(proxy, &headers), proxy);
        assert_eq!(state.client_of(proxy, &hyper::HeaderMap::new()), proxy);
    }

    #[test]
    fn clients_are_limited_per_minute_and_ipv6_per_64() {
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::2".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
    }
}
