//! The facts HTTP-01 needs: a TCP connect to every usable address on ports 80 and 443 (443
//! matters once port 80 redirects to HTTPS), and the challenge GET on port 80 where the
//! connect got through (`docs/ca-behaviour.md` §2.2, §2.3).

use super::{ConnectProbe, DnsProbe, HttpProbe, capath};
use crate::config::Config;
use crate::facts::{
    AddressAnswers, ConnectOutcome, DnsFacts, Http01Facts, TokenFacts, TokenSource,
};
use crate::reserved;
use futures_util::future::join_all;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// The CA fetches the challenge on port 80 only (RFC 8555 §8.3).
pub const HTTP_PORT: u16 = 80;
/// Where a redirect to `https://` leads.
pub const HTTPS_PORT: u16 = 443;

/// Connections one run keeps open to one address at most: many names on one server must not
/// exhaust its connection slots and then read as its fault.
pub const PER_ADDRESS: usize = 6;

/// The run's per-address connection budget.
#[derive(Default)]
pub struct Limits {
    per_address: std::sync::Mutex<HashMap<IpAddr, Arc<Semaphore>>>,
}

impl Limits {
    fn of(&self, ip: IpAddr) -> Arc<Semaphore> {
        // A poisoned lock only means another probe panicked; the map is still usable.
        let mut map = self
            .per_address
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(
            map.entry(ip)
                .or_insert_with(|| Arc::new(Semaphore::new(PER_ADDRESS))),
        )
    }
}

pub async fn gather<D: DnsProbe, C: ConnectProbe, H: HttpProbe>(
    config: &Config,
    domain: &str,
    dns: Option<&DnsFacts>,
    resolver: &D,
    tcp: &C,
    http: &H,
    limits: &Limits,
) -> Http01Facts {
    // The addresses the CA would dial: reserved ones are dropped as the CA drops them.
    let targets: Vec<IpAddr> = dns
        .map(|d| {
            d.a.addresses
                .iter()
                .chain(&d.aaaa.addresses)
                .filter(|ip| config.allow_reserved || reserved::classify(ip).is_none())
                .copied()
                .collect()
        })
        .unwrap_or_default();
    // The real token when its content is known (a file written under --webroot, whose
    // content the CLI hands over as the expected body, or --expect-body); else a random one.
    let token = config.expect_body.as_ref().map(|body| TokenFacts {
        source: if config.webroot.is_some() {
            TokenSource::Webroot
        } else {
            TokenSource::ExpectBody
        },
        token: body.split('.').next().unwrap_or(body).to_string(),
        expected: body.clone(),
    });
    let token_name = token
        .as_ref()
        .map_or_else(challenge_token, |t| t.token.clone());
    let token_path = format!("/.well-known/acme-challenge/{token_name}");
    let per_address = targets.iter().map(|ip| {
        let token_path = token_path.as_str();
        let budget = limits.of(*ip);
        async move {
            // The timeouts start once a slot is free: waiting here is this tool's queue.
            let _slot = budget.acquire().await;
            let http_addr = SocketAddr::new(*ip, HTTP_PORT);
            let port80 = async {
                let fact = tcp.connect(http_addr, config.timeout).await;
                // The HTTP GET needs its own connection; only try it where TCP got through.
                let http_fact = if fact.outcome == ConnectOutcome::Connected {
                    Some(
                        http.get(domain, http_addr, token_path, config.timeout)
                            .await,
                    )
                } else {
                    None
                };
                (fact, http_fact)
            };
            let port443 = tcp.connect(SocketAddr::new(*ip, HTTPS_PORT), config.timeout);
            let ((c80, h80), c443) = tokio::join!(port80, port443);
            // What this address answers for the token and for `/`, to compare addresses.
            let answers = if h80.is_some() {
                let base = format!("http://{domain}");
                let token_url = url::Url::parse(&format!("{base}{token_path}"));
                let root_url = url::Url::parse(&format!("{base}/"));
                match (token_url, root_url) {
                    (Ok(t), Ok(r)) => {
                        let (token, root) = tokio::join!(
                            http.fetch(&t, http_addr, config.timeout),
                            http.fetch(&r, http_addr, config.timeout)
                        );
                        Some(AddressAnswers {
                            address: *ip,
                            token,
                            root,
                        })
                    }
                    _ => None,
                }
            } else {
                None
            };
            (vec![c80, c443], h80, answers)
        }
    });
    let walk = capath::Walk {
        domain,
        token: &token_name,
        dns,
        allow_reserved: config.allow_reserved,
        timeout: config.timeout,
    };
    let (per_address, ca_path) = tokio::join!(
        join_all(per_address),
        capath::walk(&walk, resolver, tcp, http)
    );
    let mut facts = Http01Facts {
        webroot: config.webroot.as_ref().map(|w| w.display().to_string()),
        token,
        ca_path,
        ..Http01Facts::default()
    };
    for (connects, http_fact, answers) in per_address {
        facts.connects.extend(connects);
        facts.http.extend(http_fact);
        facts.answers.extend(answers);
    }
    facts
}

/// A random token in the ACME shape (base64url), so the GET exercises the same routing a real
/// challenge would; it must not exist on the server, so a 404 is the healthy answer.
fn challenge_token() -> String {
    use rand::RngExt;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    (0..43)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_look_like_acme_tokens() {
        let t = challenge_token();
        assert_eq!(t.len(), 43);
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_ne!(t, challenge_token());
    }
}
