//! The facts HTTP-01 needs beyond the shared connects (`probe::connects`): the challenge GET
//! on port 80 where the connect got through, the CA's walk, and what each address answers
//! (`docs/ca-behaviour.md` §2.2, §2.3).

use super::connects::{Connects, Limits};
use super::{ConnectProbe, DnsProbe, HttpProbe, capath};
use crate::facts::{
    AddressAnswers, Agent, ConnectOutcome, DnsFacts, Http01Facts, TokenFacts, TokenSource,
};
use futures_util::future::join_all;
use std::net::{IpAddr, SocketAddr};

/// The CA fetches the challenge on port 80 only (RFC 8555 §8.3).
pub const HTTP_PORT: u16 = 80;

/// What one HTTP-01 gathering does: which addresses, how long per probe, which challenge
/// path, and whether `GET /` is taken too (to compare an outside view with this one).
pub struct Plan<'a> {
    pub targets: Vec<IpAddr>,
    pub timeout: std::time::Duration,
    pub challenge: &'a ChallengePath,
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
    /// An IP identifier's address: the walk's one candidate instead of DNS answers.
    pub ip: Option<IpAddr>,
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

/// The challenge URL's path, kept with its token so neither is recovered from the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengePath {
    token: String,
}

impl ChallengePath {
    pub const PREFIX: &'static str = "/.well-known/acme-challenge/";

    /// A path for this token (base64url, checked by whoever took it from outside).
    pub fn new(token: impl Into<String>) -> ChallengePath {
        ChallengePath {
            token: token.into(),
        }
    }

    /// The path this run fetches, on the host and from every vantage alike: the real token
    /// when there is one (so the vantages fetch it too, as the CA would); else a random one,
    /// for which a 404 is the healthy answer.
    pub fn for_run(token: Option<&TokenFacts>) -> ChallengePath {
        ChallengePath::new(token.map_or_else(challenge_token, |t| t.token.clone()))
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn path(&self) -> String {
        format!("{}{}", Self::PREFIX, self.token)
    }
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
        let token_path = plan.challenge.path();
        let budget = limits.of(*ip);
        async move {
            // The timeouts start once a slot is free: waiting here is this tool's queue.
            let _slot = budget.acquire().await;
            let http_addr = SocketAddr::new(*ip, HTTP_PORT);
            let port80 = async {
                // The shared connect (made once per run, listed in the target's connects);
                // the HTTP GETs use connections of their own (kept alive per address), only
                // where TCP got through.
                let fact = connects.connect(tcp, http_addr, timeout).await;
                if fact.outcome == ConnectOutcome::Connected {
                    // What the CA would get: its User-Agent and request shape, at every
                    // perspective (issue 20 item 1).
                    let token = http.get(domain, http_addr, &token_path, timeout, Agent::Ca);
                    let root = async {
                        if plan.root {
                            Some(http.get(domain, http_addr, "/", timeout, Agent::Own).await)
                        } else {
                            None
                        }
                    };
                    // On the host, the same path with acme-doctor's own User-Agent too, after
                    // the CA's (one more request on the kept connection): a filter by
                    // User-Agent shows as the difference between the two.
                    let token = async {
                        let ca = token.await;
                        let own = match plan.walk {
                            Some(_) => Some(
                                http.get(domain, http_addr, &token_path, timeout, Agent::Own)
                                    .await,
                            ),
                            None => None,
                        };
                        (ca, own)
                    };
                    let ((t, own), r) = tokio::join!(token, root);
                    (Some(t), r, own)
                } else {
                    (None, None, None)
                }
            };
            let (h80, r80, own80) = port80.await;
            // What this address answers for the token and for `/`, to compare addresses.
            let answers = if h80.is_some() && plan.walk.is_some() {
                let token_url = super::http::domain_url(domain, &token_path);
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
            (h80, r80, own80, answers)
        }
    });
    let walk = async {
        match plan.walk {
            Some(w) => Some(
                capath::walk(
                    &capath::Walk {
                        domain,
                        connects,
                        token: plan.challenge.token(),
                        dns: w.dns,
                        ip: w.ip,
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
    for (http_fact, root_fact, own_fact, answers) in per_address {
        facts.http.extend(http_fact);
        facts.root.extend(root_fact);
        facts.own_agent.extend(own_fact);
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
