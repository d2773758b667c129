//! The client side of the vantages: every `acme-doctor serve` of `--vantage` is asked, in
//! parallel and within the run's own deadline, to look at a name from outside; what each
//! says becomes a [`VantageFacts`]. A vantage that fails is a fact too, never an abort.

use crate::config::Config;
use crate::facts::{Observation, VantageError, VantageFacts};
use crate::sanitize;
use futures_util::future::join_all;
use std::time::{Duration, Instant};

/// The largest answer read from a vantage: observations are a few kilobytes.
const ANSWER_CAP: usize = 1024 * 1024;
/// The longest string kept from a vantage's answer, wherever it sits (the longest a vantage
/// itself writes is an escaped body excerpt).
const STRING_CAP: usize = 4096;
/// Marker headers kept per answer: acme-doctor knows fewer than this many.
const MARKS_CAP: usize = 16;

/// How long a vantage may take: its DNS lookup, its connects and its GET, each within the
/// run's probe timeout (the run on the host waits as long for its own), and a second for
/// the trip.
pub fn deadline(timeout: Duration) -> Duration {
    timeout * 3 + Duration::from_secs(1)
}

/// One client for every vantage of the run: no proxy, no redirects, TLS with the ring
/// provider and the system's roots (plus `--vantage-ca`).
pub fn client(config: &Config) -> Result<reqwest::Client, String> {
    super::http::ensure_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(deadline(config.timeout))
        .connect_timeout(config.timeout)
        .user_agent(super::http::USER_AGENT);
    if let Some(path) = &config.vantage_ca {
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read --vantage-ca {}: {e}", path.display()))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| format!("--vantage-ca {}: {e}", path.display()))?;
        builder = builder.add_root_certificate(cert);
    }
    builder
        .build()
        .map_err(|e| format!("cannot build the vantage client: {e}"))
}

/// Asks every vantage about `domain` and the challenge `path`, all at once.
pub async fn ask_all(
    config: &Config,
    client: &reqwest::Client,
    domain: &str,
    path: &str,
) -> Vec<VantageFacts> {
    let token = config.vantage_token.as_deref().unwrap_or("");
    join_all(
        config
            .vantages
            .iter()
            .map(|url| ask(client, url, token, domain, path, config.timeout)),
    )
    .await
}

/// The vantage's name in the facts: its URL without path, never its token.
fn label(url: &url::Url) -> String {
    let mut shown = url.clone();
    shown.set_path("");
    shown.to_string().trim_end_matches('/').to_string()
}

async fn ask(
    client: &reqwest::Client,
    base: &url::Url,
    token: &str,
    domain: &str,
    path: &str,
    timeout: Duration,
) -> VantageFacts {
    let started = Instant::now();
    let mut url = base.clone();
    let prefix = url.path().trim_end_matches('/').to_string();
    url.set_path(&format!("{prefix}/v1/observe"));
    url.query_pairs_mut()
        .append_pair("domain", domain)
        .append_pair("path", path)
        .append_pair("timeout_ms", &timeout.as_millis().to_string());
    let observed = fetch(client, url, token).await;
    VantageFacts {
        vantage: label(base),
        observed,
        elapsed_ms: started.elapsed().as_millis() as u64,
    }
}

async fn fetch(
    client: &reqwest::Client,
    url: url::Url,
    token: &str,
) -> Result<Observation, VantageError> {
    let failed = |status: Option<u16>, message: String| VantageError {
        status,
        message: sanitize::line(&message, 300),
    };
    let mut response = client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| failed(None, error_chain(&e)))?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| failed(Some(status), error_chain(&e)))?
    {
        if body.len() + chunk.len() > ANSWER_CAP {
            return Err(failed(
                Some(status),
                format!("the answer is larger than {ANSWER_CAP} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    if status != 200 {
        let said = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
        return Err(failed(
            Some(status),
            format!("the vantage answered {status}: {said}"),
        ));
    }
    let mut answer: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| failed(Some(status), format!("not an observation: {e}")))?;
    clean_strings(&mut answer);
    let observation: Observation = serde_json::from_value(answer)
        .map_err(|e| failed(Some(status), format!("not an observation: {e}")))?;
    Ok(sanitized(observation))
}

/// Every string of a vantage's answer, in whatever field (DNS names and errors, titles,
/// `Server` headers, error texts, fields added later), loses its control characters and bidi
/// overrides and is capped before it is read into facts: a hostile vantage can send anything.
fn clean_strings(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(text) => *text = sanitize::line(text, STRING_CAP),
        serde_json::Value::Array(items) => items.iter_mut().for_each(clean_strings),
        serde_json::Value::Object(fields) => fields.values_mut().for_each(clean_strings),
        _ => {}
    }
}

/// A vantage is another machine: what it says is network text, capped again field by field.
fn sanitized(mut o: Observation) -> Observation {
    let clean = |facts: &mut Vec<crate::facts::HttpFact>| {
        facts.truncate(64);
        for f in facts.iter_mut() {
            f.url = sanitize::line(&f.url, 300);
            if let crate::facts::HttpOutcome::Response {
                server,
                location,
                body_prefix,
                page,
                ..
            } = &mut f.outcome
            {
                *server = server.as_deref().map(|s| sanitize::line(s, 200));
                *location = location.as_deref().map(|s| sanitize::line(s, 300));
                *body_prefix = sanitize::line(body_prefix, 512);
                page.title = page.title.as_deref().map(|s| sanitize::line(s, 120));
                page.marks.truncate(MARKS_CAP);
                for mark in &mut page.marks {
                    *mark = sanitize::line(mark, 40);
                }
                page.body_sha256 = sanitize::line(&page.body_sha256, 64);
            }
        }
    };
    clean(&mut o.http01.http);
    clean(&mut o.http01.root);
    clean(&mut o.http01.own_agent);
    o.connects.truncate(256);
    o.refused_targets.truncate(64);
    o
}

fn error_chain(err: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_string_a_vantage_sends_is_cleaned() {
        let hostile = "evil\u{1b}]0;owned\u{7}\u{202e}txt\u{9b}31m";
        let mut answer = serde_json::json!({
            "dns": {"a": {"cname_chain": [hostile], "message": hostile}},
            "deep": [[{"title": hostile}]],
            "long": "x".repeat(STRING_CAP * 2),
            "n": 3,
        });
        clean_strings(&mut answer);
        let text = answer.to_string();
        for bad in ['\u{1b}', '\u{7}', '\u{202e}', '\u{9b}'] {
            assert!(!text.contains(bad), "{bad:?} in {text}");
        }
        assert!(text.contains("evil"));
        assert!(answer["long"].as_str().unwrap().chars().count() <= STRING_CAP + 1);
        assert_eq!(answer["n"], 3);
    }

    #[test]
    fn a_vantage_is_named_without_path_or_token() {
        let url = url::Url::parse("https://v.example:8443/base/").unwrap();
        assert_eq!(label(&url), "https://v.example:8443");
    }
}
