//! The facts HTTP-01 needs: a TCP connect to every usable address on ports 80 and 443 (443
//! matters once port 80 redirects to HTTPS), and the challenge GET on port 80 where the
//! connect got through (`docs/ca-behaviour.md` §2.2, §2.3).

use super::{ConnectProbe, HttpProbe};
use crate::config::Config;
use crate::facts::{ConnectOutcome, DnsFacts, Http01Facts};
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

/// What one HTTP-01 gathering does: which addresses, how long per probe, which challenge
/// path, and whether `GET /` is taken too (to compare an outside view with this one).
pub struct Plan<'a> {
    pub targets: Vec<IpAddr>,
    pub timeout: std::time::Duration,
    pub token_path: &'a str,
    pub root: bool,
}

/// The addresses the CA would dial: reserved ones are dropped as the CA drops them.
pub fn targets(dns: Option<&DnsFacts>, allow_reserved: bool) -> Vec<IpAddr> {
    dns.map(|d| {
        d.a.addresses
            .iter()
            .chain(&d.aaaa.addresses)
            .filter(|ip| allow_reserved || reserved::classify(ip).is_none())
            .copied()
            .collect()
    })
    .unwrap_or_default()
}

/// The challenge path this run fetches, on the host and from every vantage alike.
///
/// INTEGRATION HOOK (`--webroot`, issue 8 item 2): when the run wrote a real token file into
/// the webroot, return its path here, so the vantages fetch the real token as the CA would.
/// Until then the path is random: a 404 is the healthy answer.
pub fn challenge_path(_config: &Config) -> String {
    format!("/.well-known/acme-challenge/{}", challenge_token())
}

pub async fn gather<C: ConnectProbe, H: HttpProbe>(
    plan: &Plan<'_>,
    domain: &str,
    tcp: &C,
    http: &H,
    limits: &Limits,
) -> Http01Facts {
    let timeout = plan.timeout;
    let per_address = plan.targets.iter().map(|ip| {
        let token_path = plan.token_path;
        let budget = limits.of(*ip);
        async move {
            // The timeouts start once a slot is free: waiting here is this tool's queue.
            let _slot = budget.acquire().await;
            let http_addr = SocketAddr::new(*ip, HTTP_PORT);
            let port80 = async {
                let fact = tcp.connect(http_addr, timeout).await;
                // The HTTP GET needs its own connection; only try it where TCP got through.
                let (http_fact, root_fact) = if fact.outcome == ConnectOutcome::Connected {
                    let token = http.get(domain, http_addr, token_path, timeout);
                    let root = async {
                        if plan.root {
                            Some(http.get(domain, http_addr, "/", timeout).await)
                        } else {
                            None
                        }
                    };
                    let (t, r) = tokio::join!(token, root);
                    (Some(t), r)
                } else {
                    (None, None)
                };
                (fact, http_fact, root_fact)
            };
            let port443 = tcp.connect(SocketAddr::new(*ip, HTTPS_PORT), timeout);
            let ((c80, h80, r80), c443) = tokio::join!(port80, port443);
            (vec![c80, c443], h80, r80)
        }
    });
    let mut facts = Http01Facts::default();
    for (connects, http_fact, root_fact) in join_all(per_address).await {
        facts.connects.extend(connects);
        facts.http.extend(http_fact);
        facts.root.extend(root_fact);
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
