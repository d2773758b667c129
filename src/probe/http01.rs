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
/// Where a redirect to HTTPS leads; its certificate tells machines apart.
const HTTPS_PORT: u16 = 443;

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
    // What tells machines apart (a missing page, the certificate on 443) is asked only where
    // the name has another address to compare with.
    let compare = plan.walk.is_some() && plan.targets.len() > 1;
    // One random path per run, the same on every address: a 404 page that quotes the path
    // still compares equal between two addresses of one site.
    let missing_path = format!("/acme-doctor-missing-{}", super::token::random_b64url(16));
    // An IP identifier has no name to send as SNI.
    let sni = plan.walk.is_some_and(|w| w.ip.is_none()).then_some(domain);
    let per_address = plan.targets.iter().map(|ip| {
        let token_path = plan.challenge.path();
        let missing_path = &missing_path;
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
                    // User-Agent shows as the difference between the two. Only where the
                    // CA's answer is a refusal: an ordinary answer to it leaves nothing for
                    // a filter by User-Agent to explain, and a batch of healthy names should
                    // not pay a request per address for it.
                    let token = async {
                        let ca = token.await;
                        let own = match plan.walk {
                            Some(_) if !ordinary(&ca.outcome) => Some(
                                http.get(domain, http_addr, &token_path, timeout, Agent::Own)
                                    .await,
                            ),
                            _ => None,
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
                        // Comparisons of addresses, not the CA's dial: kept alive. The missing
                        // page after the first two, so it reuses one of their connections.
                        let gets = async {
                            let (token, root) = tokio::join!(
                                http.fetch_kept(&t, http_addr, timeout),
                                http.fetch_kept(&r, http_addr, timeout)
                            );
                            let missing = match super::http::domain_url(domain, missing_path) {
                                Ok(m) if compare => {
                                    Some(http.fetch_kept(&m, http_addr, timeout).await)
                                }
                                _ => None,
                            };
                            (token, root, missing)
                        };
                        let ((token, root, missing), tls) = tokio::join!(
                            gets,
                            certificate(plan, sni.filter(|_| compare), *ip, tcp, http, connects)
                        );
                        Some(AddressAnswers {
                            address: *ip,
                            token,
                            root,
                            missing,
                            root_again_sha256: None,
                            tls,
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
    if compare {
        ask_root_again(&mut facts.answers, domain, http, limits, timeout).await;
    }
    facts
}

/// An answer no filter by User-Agent explains: a success, a redirect or a 404, with no block
/// page's headers.
fn ordinary(outcome: &crate::facts::HttpOutcome) -> bool {
    matches!(outcome, crate::facts::HttpOutcome::Response { status, page, .. }
        if (*status < 400 || *status == 404) && page.marks.is_empty())
}

/// How long the certificate handshake on 443 may take: it only adds a signal, and a name with
/// a dead 443 should not wait the whole probe timeout twice.
const CERTIFICATE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The certificate on 443 of `ip` for `sni`, asked only where the shared connect to 443 (which
/// HTTP-01 makes anyway, `Method::ports`) got through: a dead 443 is not dialled again.
async fn certificate<C: ConnectProbe, H: HttpProbe>(
    plan: &Plan<'_>,
    sni: Option<&str>,
    ip: IpAddr,
    tcp: &C,
    http: &H,
    connects: &Connects,
) -> Option<crate::facts::TlsSeen> {
    let sni = sni?;
    let addr = SocketAddr::new(ip, HTTPS_PORT);
    if connects.connect(tcp, addr, plan.timeout).await.outcome != ConnectOutcome::Connected {
        return None;
    }
    http.certificate(addr, sni, plan.timeout.min(CERTIFICATE_TIMEOUT))
        .await
}

/// When the addresses' `/` bodies differ, `/` is asked once more on the first address that
/// answered: if its own body changed between two requests, the page is dynamic (a date, a
/// CSRF token) and its hash tells no machines apart. One GET, on a kept connection.
async fn ask_root_again<H: HttpProbe>(
    answers: &mut [AddressAnswers],
    domain: &str,
    http: &H,
    limits: &Limits,
    timeout: std::time::Duration,
) {
    let hashes: std::collections::BTreeSet<&str> = answers
        .iter()
        .filter_map(|a| match &a.root {
            crate::facts::HopOutcome::Answer(x) => Some(x.body_sha256.as_str()),
            _ => None,
        })
        .collect();
    if hashes.len() < 2 {
        return;
    }
    let Some(first) = answers
        .iter_mut()
        .find(|a| matches!(a.root, crate::facts::HopOutcome::Answer(_)))
    else {
        return;
    };
    let Ok(url) = super::http::domain_url(domain, "/") else {
        return;
    };
    let budget = limits.of(first.address);
    let _slot = budget.acquire().await;
    let again = http
        .fetch_kept(&url, SocketAddr::new(first.address, HTTP_PORT), timeout)
        .await;
    if let crate::facts::HopOutcome::Answer(x) = again {
        first.root_again_sha256 = Some(x.body_sha256);
    }
}

/// A random token in the ACME shape (base64url), so the GET exercises the same routing a real
/// challenge would; it must not exist on the server, so a 404 is the healthy answer.
fn challenge_token() -> String {
    super::token::random_b64url(43)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{ConnectFact, DnsLookup, HopOutcome, HttpFact, HttpOutcome, Resolver};
    use std::sync::Mutex;

    /// Port 80 connects everywhere; port 443 only on `tls_on`. Every kept fetch answers 404
    /// and is recorded by path; every certificate asked for is recorded by address.
    struct Scripted {
        tls_on: IpAddr,
        kept: Mutex<Vec<(String, IpAddr)>>,
        certificates: Mutex<Vec<(SocketAddr, String)>>,
    }

    impl DnsProbe for Scripted {
        async fn lookup(&self, _: &str, _: crate::facts::Family) -> DnsLookup {
            DnsLookup {
                outcome: crate::facts::DnsOutcome::NoData,
                addresses: Vec::new(),
                cname_chain: Vec::new(),
                ttl: None,
                elapsed_ms: 0,
                queued_ms: 0,
                own_limit: false,
            }
        }

        fn describe(&self) -> Resolver {
            Resolver::System { servers: vec![] }
        }
    }

    impl ConnectProbe for Scripted {
        async fn connect(&self, addr: SocketAddr, _: std::time::Duration) -> ConnectFact {
            ConnectFact {
                address: addr.ip(),
                port: addr.port(),
                outcome: if addr.port() == HTTP_PORT || addr.ip() == self.tls_on {
                    ConnectOutcome::Connected
                } else {
                    ConnectOutcome::Refused
                },
                elapsed_ms: 0,
            }
        }
    }

    impl HttpProbe for Scripted {
        async fn get(
            &self,
            _: &str,
            addr: SocketAddr,
            path: &str,
            _: std::time::Duration,
            agent: Agent,
        ) -> HttpFact {
            HttpFact {
                address: addr.ip(),
                port: addr.port(),
                url: path.to_string(),
                outcome: HttpOutcome::Timeout,
                elapsed_ms: 0,
                agent,
            }
        }

        async fn fetch_kept(
            &self,
            url: &url::Url,
            addr: SocketAddr,
            _: std::time::Duration,
        ) -> HopOutcome {
            self.kept
                .lock()
                .unwrap()
                .push((url.path().to_string(), addr.ip()));
            HopOutcome::Timeout
        }

        async fn certificate(
            &self,
            addr: SocketAddr,
            sni: &str,
            _: std::time::Duration,
        ) -> Option<crate::facts::TlsSeen> {
            self.certificates
                .lock()
                .unwrap()
                .push((addr, sni.to_string()));
            None
        }
    }

    async fn gathered(targets: &[&str]) -> (Http01Facts, Scripted) {
        let probe = Scripted {
            tls_on: "192.0.2.10".parse().unwrap(),
            kept: Mutex::new(Vec::new()),
            certificates: Mutex::new(Vec::new()),
        };
        let challenge = ChallengePath::new("tok");
        let plan = Plan {
            targets: targets.iter().map(|t| t.parse().unwrap()).collect(),
            timeout: std::time::Duration::from_secs(1),
            challenge: &challenge,
            root: false,
            webroot: None,
            token: None,
            walk: Some(Walking {
                dns: None,
                ip: None,
                allow_reserved: true,
            }),
        };
        let facts = gather(
            &plan,
            "example.test",
            &probe,
            &probe,
            &probe,
            &Limits::default(),
            &Connects::default(),
        )
        .await;
        (facts, probe)
    }

    #[tokio::test]
    async fn two_addresses_are_asked_for_a_missing_page_and_the_certificate_where_443_connects() {
        let (facts, probe) = gathered(&["192.0.2.10", "2001:db8::10"]).await;
        let kept = probe.kept.lock().unwrap().clone();
        let missing: Vec<&(String, IpAddr)> = kept
            .iter()
            .filter(|(path, _)| path.starts_with("/acme-doctor-missing-"))
            .collect();
        assert_eq!(missing.len(), 2, "{kept:?}");
        // One random path per run, the same on every address, never under the challenge dir.
        assert_eq!(missing[0].0, missing[1].0);
        assert!(!missing[0].0.starts_with(ChallengePath::PREFIX));
        // The handshake only where the shared connect to 443 got through, with the name.
        assert_eq!(
            *probe.certificates.lock().unwrap(),
            [(
                "192.0.2.10:443".parse().unwrap(),
                "example.test".to_string()
            )]
        );
        assert_eq!(facts.answers.len(), 2);
        assert!(facts.answers.iter().all(|a| a.missing.is_some()));
        // `/` timed out everywhere: nothing differs, so it is not asked again.
        assert_eq!(kept.iter().filter(|(p, _)| p == "/").count(), 2);
    }

    #[tokio::test]
    async fn one_address_has_nothing_to_compare_and_costs_no_more_requests() {
        let (facts, probe) = gathered(&["192.0.2.10"]).await;
        let kept = probe.kept.lock().unwrap().clone();
        assert_eq!(kept.len(), 2, "the token and / only: {kept:?}");
        assert!(probe.certificates.lock().unwrap().is_empty());
        assert_eq!(facts.answers[0].missing, None);
    }

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
