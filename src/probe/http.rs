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

pub const USER_AGENT: &str = concat!(
    "Mozilla/5.0 (compatible; acme-doctor/",
    env!("CARGO_PKG_VERSION"),
    "; ACME http-01 validation check)"
);

pub struct ReqwestHttp;

fn classify(err: &reqwest::Error) -> HttpOutcome {
    if err.is_timeout() {
        return HttpOutcome::Timeout;
    }
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
    HttpOutcome::Error {
        message: sanitize::line(&message, 300),
    }
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
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .resolve(domain, addr)
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(USER_AGENT)
            .default_headers(headers)
            .pool_max_idle_per_host(0)
            .build();
        let outcome = match client {
            Err(e) => HttpOutcome::Error {
                message: sanitize::line(&e.to_string(), 300),
            },
            Ok(client) => match fetch(&client, &url).await {
                Ok(o) => o,
                Err(e) => classify(&e),
            },
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
