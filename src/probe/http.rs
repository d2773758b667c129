//! HTTP facts: the challenge GET, pinned to one address, sent the way Boulder sends it
//! (`docs/ca-behaviour.md` §2.3: HTTP/1.1, `Accept: */*`, `Connection: close`,
//! no proxy). Redirects are recorded, not followed yet.

use super::HttpProbe;
use crate::facts::{HttpFact, HttpOutcome};
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

pub struct ReqwestHttp;

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
        // (`is_parse_too_large` needs hyper's server feature; its text is fixed instead.)
        too_large |= s
            .downcast_ref::<hyper::Error>()
            .is_some_and(|h| h.is_parse() && h.to_string() == "message head is too large");
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

async fn fetch(client: &reqwest::Client, url: &str) -> Result<HttpOutcome, reqwest::Error> {
    let mut response = client.get(url).send().await?;
    let status = response.status().as_u16();
    let header = |name| {
        response.headers().get(name).map(|v: &HeaderValue| {
            sanitize::line(&String::from_utf8_lossy(v.as_bytes()), HEADER_CAP)
        })
    };
    let server = header(SERVER);
    let location = header(LOCATION);
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
    })
}

impl HttpProbe for ReqwestHttp {
    async fn get(&self, domain: &str, addr: SocketAddr, path: &str, timeout: Duration) -> HttpFact {
        let url = format!("http://{domain}{path}");
        let started = Instant::now();
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
        ensure_crypto_provider();
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .resolve(domain, addr)
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(USER_AGENT)
            .default_headers(headers)
            .pool_max_idle_per_host(0)
            .http1_max_headers(MAX_HEADER_LINES)
            .build();
        let deadline = started + timeout;
        let outcome = loop {
            let outcome = match &client {
                Err(e) => HttpOutcome::Error {
                    message: sanitize::line(&e.to_string(), 300),
                },
                Ok(client) => match fetch(client, &url).await {
                    Ok(o) => o,
                    Err(e) => classify(&e),
                },
            };
            // A socket this process could not open (out of descriptors) is its own limit:
            // tried again while other probes free some, then recorded as unread, never as
            // the server's silence.
            let HttpOutcome::Error { message } = &outcome else {
                break outcome;
            };
            if !super::out_of_descriptors() {
                break outcome;
            }
            if Instant::now() + super::OWN_LIMIT_PAUSE >= deadline {
                break HttpOutcome::Unread {
                    limit_bytes: 0,
                    message: format!("acme-doctor is out of file descriptors: {message}"),
                };
            }
            tokio::time::sleep(super::OWN_LIMIT_PAUSE).await;
        };
        HttpFact {
            address: addr.ip(),
            port: addr.port(),
            url,
            outcome,
            elapsed_ms: started.elapsed().as_millis() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
        ReqwestHttp
            .get("example.test", addr, "/x", Duration::from_secs(5))
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
