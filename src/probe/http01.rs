//! The facts HTTP-01 needs: a TCP connect to every usable address on ports 80 and 443 (443
//! matters once port 80 redirects to HTTPS), and the challenge GET on port 80 where the
//! connect got through (`docs/ca-behaviour.md` §2.2, §2.3).

use super::{ConnectProbe, DnsProbe, HttpProbe, capath};
use crate::facts::{
    AddressAnswers, ConnectFact, ConnectOutcome, DnsFacts, Http01Facts, TokenFacts, TokenSource,
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

/// The run's connects to each address and port, made once and shared by every name that
/// resolves to that address: on a shared-hosting server, thousands of names on one IP would
/// otherwise each open their own, until the local ports run out. Each name still lists the
/// facts in its own `connects`. The CA's walk (`capath`) takes its dial outcomes from here
/// too; its GETs still dial afresh, as the CA does.
#[derive(Default)]
pub struct Connects {
    made: std::sync::Mutex<HashMap<SocketAddr, Arc<tokio::sync::OnceCell<ConnectFact>>>>,
}

impl Connects {
    /// The connect to `addr`, made by the first name that asks and awaited by the others. An
    /// attempt that met acme-doctor's own limit is not kept: the next name tries again.
    pub async fn connect<C: ConnectProbe>(
        &self,
        tcp: &C,
        addr: SocketAddr,
        timeout: std::time::Duration,
    ) -> ConnectFact {
        let cell = {
            // A poisoned lock only means another probe panicked; the map is still usable.
            let mut map = self
                .made
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(map.entry(addr).or_default())
        };
        let made = cell
            .get_or_try_init(|| async {
                let fact = tcp.connect(addr, timeout).await;
                if super::tcp::own_limit(&fact.outcome) {
                    Err(fact)
                } else {
                    Ok(fact)
                }
            })
            .await;
        match made {
            Ok(fact) => fact.clone(),
            Err(fact) => fact,
        }
    }
}

/// What one HTTP-01 gathering does: which addresses, how long per probe, which challenge
/// path, and whether `GET /` is taken too (to compare an outside view with this one).
pub struct Plan<'a> {
    pub targets: Vec<IpAddr>,
    pub timeout: std::time::Duration,
    pub token_path: &'a str,
    pub root: bool,
    /// The webroot the token is served from (`--webroot`, or the certificate's own under
    /// `--all`), recorded in the facts.
    pub webroot: Option<String>,
    /// The real token, when its content is known (a file written under the webroot, or
    /// `--expect-body`): `token_path` then names it.
    pub token: Option<TokenFacts>,
    /// Walk one validation as the CA does (`docs/ca-behaviour.md` §2.2, §2.5) from these
    /// DNS facts, and ask every address for the token and `/` to compare them. A vantage
    /// only observes, and walks nothing.
    pub walk: Option<Walking<'a>>,
}

/// What the CA's walk starts from.
#[derive(Clone, Copy)]
pub struct Walking<'a> {
    pub dns: Option<&'a DnsFacts>,
    pub allow_reserved: bool,
}

/// The real token of a run, when its content is known: `--expect-body`, or the content of
/// the file written under the webroot (`probe::token`).
pub fn token_facts(webroot: bool, body: Option<&String>) -> Option<TokenFacts> {
    body.map(|body| TokenFacts {
        source: if webroot {
            TokenSource::Webroot
        } else {
            TokenSource::ExpectBody
        },
        token: body.split('.').next().unwrap_or(body).to_string(),
        expected: body.clone(),
    })
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
/// The real token when there is one (so the vantages fetch it too, as the CA would); else a
/// random one, for which a 404 is the healthy answer.
pub fn challenge_path(token: Option<&TokenFacts>) -> String {
    let name = token.map_or_else(challenge_token, |t| t.token.clone());
    format!("/.well-known/acme-challenge/{name}")
}

pub async fn gather<D: DnsProbe, C: ConnectProbe, H: HttpProbe>(
    plan: &Plan<'_>,
    domain: &str,
    resolver: &D,
    tcp: &C,
    http: &H,
    limits: &Limits,
    connects: &Connects,
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
                let fact = connects.connect(tcp, http_addr, timeout).await;
                // The HTTP GETs use connections of their own (kept alive per address); only
                // try them where TCP got through.
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
            let port443 = connects.connect(tcp, SocketAddr::new(*ip, HTTPS_PORT), timeout);
            let ((c80, h80, r80), c443) = tokio::join!(port80, port443);
            // What this address answers for the token and for `/`, to compare addresses.
            let answers = if h80.is_some() && plan.walk.is_some() {
                let token_url = super::http::domain_url(domain, token_path);
                let root_url = super::http::domain_url(domain, "/");
                match (token_url, root_url) {
                    (Ok(t), Ok(r)) => {
                        // Comparisons of addresses, not the CA's dial: kept alive.
                        let (token, root) = tokio::join!(
                            http.fetch_kept(&t, http_addr, timeout),
                            http.fetch_kept(&r, http_addr, timeout)
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
            (vec![c80, c443], h80, r80, answers)
        }
    });
    let token_name = plan
        .token_path
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let walk = async {
        match plan.walk {
            Some(w) => Some(
                capath::walk(
                    &capath::Walk {
                        domain,
                        connects,
                        token: &token_name,
                        dns: w.dns,
                        allow_reserved: w.allow_reserved,
                        timeout,
                    },
                    resolver,
                    tcp,
                    http,
                )
                .await,
            ),
            None => None,
        }
    };
    let (per_address, ca_path) = tokio::join!(join_all(per_address), walk);
    let mut facts = Http01Facts {
        webroot: plan.webroot.clone(),
        token: plan.token.clone(),
        ca_path: ca_path.flatten(),
        ..Http01Facts::default()
    };
    for (connects, http_fact, root_fact, answers) in per_address {
        facts.connects.extend(connects);
        facts.http.extend(http_fact);
        facts.root.extend(root_fact);
        facts.answers.extend(answers);
    }
    facts
}

/// A random token in the ACME shape (base64url), so the GET exercises the same routing a real
/// challenge would; it must not exist on the server, so a 404 is the healthy answer.
fn challenge_token() -> String {
    super::token::random_b64url(43)
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
