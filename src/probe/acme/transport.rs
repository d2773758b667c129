//! instant-acme's HTTP, through our reqwest: the system's roots plus `--acme-ca-cert` (its own
//! client trusts either public roots or one private root, not both), no proxy, a cap on every
//! body, and a record of what the CA answered. instant-acme types the objects it needs and
//! drops the rest; the record keeps the last body of each URL, so the whole authorization
//! (every `validationRecord`) and a rate limit's `Retry-After` are read as the CA sent them.

use bytes::Bytes;
use instant_acme::{BodyWrapper, BytesResponse, Error, HttpClient};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The largest ACME object read: an authorization with every record is a few KiB.
const BODY_CAP: usize = 256 * 1024;

/// The last answer to one URL.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
    /// `Retry-After` in seconds, when it was a number (RFC 9110 also allows a date).
    pub retry_after_s: Option<u64>,
}

/// What the CA answered, by URL, and its last error answer.
#[derive(Debug, Default)]
pub struct Record {
    by_url: HashMap<String, Answer>,
    last_error: Option<Answer>,
}

impl Record {
    pub fn last_body(&self, url: &str) -> Option<&Answer> {
        self.by_url.get(url)
    }

    /// The last answer with an error status (a problem document).
    pub fn last_error(&self) -> Option<&Answer> {
        self.last_error.as_ref()
    }
}

#[derive(Clone)]
pub struct Transport {
    client: reqwest::Client,
    record: Arc<Mutex<Record>>,
}

impl Transport {
    /// A client for the directory: the system's roots and `extra_root` (PEM), each request
    /// within `per_request`.
    pub fn new(
        extra_root: Option<&std::path::Path>,
        per_request: Duration,
    ) -> Result<Transport, String> {
        crate::probe::http::ensure_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(per_request)
            .connect_timeout(per_request)
            .user_agent(crate::probe::http::USER_AGENT);
        if let Some(path) = extra_root {
            let shown = crate::sanitize::line(&path.display().to_string(), 200);
            let pem = std::fs::read(path)
                .map_err(|e| format!("cannot read --acme-ca-cert {shown}: {e}"))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("--acme-ca-cert {shown}: {e}"))?;
            if certs.is_empty() {
                return Err(format!("--acme-ca-cert {shown}: no certificate in it"));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| format!("cannot build the ACME client: {e}"))?;
        Ok(Transport {
            client,
            record: Arc::new(Mutex::new(Record::default())),
        })
    }

    pub fn record(&self) -> std::sync::MutexGuard<'_, Record> {
        self.record.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn send(&self, req: http::Request<BodyWrapper<Bytes>>) -> Result<BytesResponse, Error> {
        use http_body_util::BodyExt;
        let (parts, body) = req.into_parts();
        let body = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(never) => match never {},
        };
        let url = parts.uri.to_string();
        let response = self
            .client
            .request(parts.method, &url)
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(|e| Error::Other(Box::new(Failed(error_chain(&e)))))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = read_capped(response).await?;
        let answer = Answer {
            status: status.as_u16(),
            body: body.clone(),
            retry_after_s: headers
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok()),
        };
        {
            let mut record = self.record();
            if !status.is_success() {
                record.last_error = Some(answer.clone());
            }
            record.by_url.insert(url, answer);
        }
        let mut built = http::Response::new(());
        *built.status_mut() = status;
        *built.headers_mut() = headers;
        let (parts, ()) = built.into_parts();
        Ok(BytesResponse {
            parts,
            body: Box::new(body),
        })
    }
}

impl HttpClient for Transport {
    fn request(
        &self,
        req: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, Error>> + Send>> {
        let this = self.clone();
        Box::pin(async move { this.send(req).await })
    }
}

/// A transport failure, in words.
#[derive(Debug)]
struct Failed(String);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failed {}

async fn read_capped(mut response: reqwest::Response) -> Result<Bytes, Error> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > BODY_CAP {
                    return Err(Error::Other(Box::new(Failed(format!(
                        "the CA's answer is larger than {BODY_CAP} bytes"
                    )))));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(Bytes::from(body)),
            Err(e) => return Err(Error::Other(Box::new(Failed(error_chain(&e))))),
        }
    }
}

/// reqwest's error with its causes ("error sending request: … : connection refused").
fn error_chain(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    crate::sanitize::line(&text, 1000)
}
