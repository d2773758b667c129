//! Probes: all of acme-doctor's I/O. Each kind sits behind a small trait so tests can script
//! the answers; [`gather`] runs them concurrently and returns [`RunFacts`]: the host snapshot
//! once, however many names, and one [`TargetFacts`] per name. A probe never fails the run: a
//! timeout, a refusal or a permission error is recorded as a fact.

pub mod capath;
pub mod dns;
pub mod dns_raw;
pub mod dns_view;
pub mod firewall;
pub mod host;
pub mod http;
pub mod http01;
pub mod tcp;
pub mod token;

use crate::config::Config;
use crate::domain::DomainName;
use crate::facts::{
    CaaFacts, ConnectFact, Dns01Facts, DnsFacts, DnsLookup, DnsOutcome, FACTS_VERSION, Family,
    HopOutcome, HostFacts, HttpFact, Method, MethodFacts, ProbeOptions, Resolver, RunFacts, Target,
    TargetFacts, TxtLookup,
};
use dns_view::{RawDns, Where};
use futures_util::StreamExt;
use futures_util::future::join_all;
use hickory_resolver::proto::rr::RecordType;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// DNS: one lookup of A or AAAA, with the CNAME chain.
pub trait DnsProbe {
    fn lookup(&self, name: &str, family: Family) -> impl Future<Output = DnsLookup>;
    /// The resolver as the facts name it.
    fn describe(&self) -> Resolver;
}

/// TCP: one connect attempt.
pub trait ConnectProbe {
    fn connect(&self, addr: SocketAddr, timeout: Duration) -> impl Future<Output = ConnectFact>;
}

/// HTTP: one GET for the challenge path, pinned to one address.
pub trait HttpProbe {
    fn get(
        &self,
        domain: &str,
        addr: SocketAddr,
        path: &str,
        timeout: Duration,
    ) -> impl Future<Output = HttpFact>;

    /// One GET of any URL pinned to one address, as the CA's client sends it, no redirect
    /// followed (HTTPS without certificate verification). Scripted probes that do not
    /// implement it answer "not probed".
    fn fetch(
        &self,
        _url: &url::Url,
        _addr: SocketAddr,
        _timeout: Duration,
    ) -> impl Future<Output = HopOutcome> {
        async {
            HopOutcome::Error {
                message: "not probed".into(),
            }
        }
    }
}

/// The host's own state; synchronous reads of /proc, netlink, sysctls and the firewall tools.
pub trait HostProbe: Send + Sync + 'static {
    fn host_facts(&self) -> HostFacts;
}

/// The real probes.
pub struct System {
    pub dns: dns::HickoryDns,
    pub tcp: tcp::SocketConnect,
    pub http: http::ReqwestHttp,
    pub host: host::LinuxHost,
}

/// Gathers every fact of one run. The host snapshot (read once, on a blocking thread), the DNS
/// lookups and then the per-address probes of every name run concurrently, so the wall time is
/// that of the slowest chain, not the sum.
/// Called as each name is done, in completion order, with its index in the input. `run` is the
/// run so far (the host snapshot, no targets) when [`gather`] was asked to take the host
/// snapshot first, so the name can be diagnosed and printed at once.
pub type OnTarget<'a> = &'a (dyn Fn(Option<&RunFacts>, usize, &TargetFacts) + Sync);

pub async fn gather<D, C, H, O>(
    config: &Config,
    dns: &D,
    tcp: &C,
    http: &H,
    host: Arc<O>,
    host_first: bool,
    on_target: OnTarget<'_>,
) -> RunFacts
where
    D: DnsProbe + RawDns,
    C: ConnectProbe,
    H: HttpProbe,
    O: HostProbe,
{
    let started = Instant::now();
    let started_at = crate::timefmt::rfc3339(SystemTime::now());
    let host_task = HostTask::start(host);
    let mut run = RunFacts {
        facts_version: FACTS_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at,
        options: ProbeOptions {
            timeout_ms: config.timeout.as_millis() as u64,
            allow_reserved: config.allow_reserved,
            ca_issuer: config.ca_issuer.clone(),
            account_uri: config.account_uri.clone(),
        },
        host: host::unknown_host_facts("not read yet"),
        targets: Vec::new(),
        duration_ms: 0,
    };
    // Streaming output needs the host snapshot before the first name is done; otherwise it is
    // read while the names are probed.
    let mut host_task = Some(host_task);
    if host_first && let Some(task) = host_task.take() {
        run.host = task.finish().await;
    }
    let ready = host_first.then_some(&run);
    let limits = http01::Limits::default();
    // At most `jobs` names at once, handed over as each is done.
    let mut targets: Vec<(usize, TargetFacts)> =
        futures_util::stream::iter(config.domains.iter().enumerate().map(|(index, domain)| {
            let limits = &limits;
            async move {
                let facts = gather_target(config, domain, dns, tcp, http, limits).await;
                on_target(ready, index, &facts);
                (index, facts)
            }
        }))
        .buffer_unordered(config.jobs.max(1))
        .collect()
        .await;
    targets.sort_by_key(|(index, _)| *index);
    if let Some(task) = host_task.take() {
        run.host = task.finish().await;
    }
    run.targets = targets.into_iter().map(|(_, t)| t).collect();
    run.duration_ms = started.elapsed().as_millis() as u64;
    run
}

/// The host snapshot, read on a thread of its own while the names are probed. Where no thread
/// can be started (a process or address-space limit), it is read on this one when needed:
/// slower, never an abort.
enum HostTask<O> {
    Running(tokio::sync::oneshot::Receiver<HostFacts>),
    Inline(Arc<O>),
}

impl<O: HostProbe> HostTask<O> {
    fn start(host: Arc<O>) -> HostTask<O> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let probe = Arc::clone(&host);
        match std::thread::Builder::new()
            .name("host-snapshot".into())
            .spawn(move || {
                let _ = tx.send(probe.host_facts());
            }) {
            Ok(_) => HostTask::Running(rx),
            Err(_) => HostTask::Inline(host),
        }
    }

    async fn finish(self) -> HostFacts {
        match self {
            HostTask::Running(rx) => rx
                .await
                .unwrap_or_else(|_| host::unknown_host_facts("the host probe stopped")),
            HostTask::Inline(host) => host.host_facts(),
        }
    }
}

/// One name: its DNS, then the facts its validation method needs, with its CAA, the
/// authoritative view, and SERVFAILs asked again without DNSSEC validation.
async fn gather_target<D, C, H>(
    config: &Config,
    domain: &DomainName,
    dns: &D,
    tcp: &C,
    http: &H,
    limits: &http01::Limits,
) -> TargetFacts
where
    D: DnsProbe + RawDns,
    C: ConnectProbe,
    H: HttpProbe,
{
    let started = Instant::now();
    let resolver = dns.describe();
    let at = resolver.first_ip().map(|ip| Where {
        resolver: match &resolver {
            Resolver::Given { address } => *address,
            Resolver::System { .. } => SocketAddr::new(ip, 53),
        },
        authoritative_port: config.authoritative_port,
        timeout: config.timeout,
    });
    let name = domain.ascii.as_str();
    // A wildcard with http-01 is settled by the name alone: the CA would not even offer the
    // challenge.
    let settled = domain.wildcard && config.method == Method::Http01;
    let addresses = async {
        if settled || config.method != Method::Http01 {
            return None;
        }
        let (a, aaaa) = tokio::join!(
            dns.lookup(name, Family::Ipv4),
            dns.lookup(name, Family::Ipv6)
        );
        Some(DnsFacts { a, aaaa })
    };
    let challenge = async {
        match (&at, config.method) {
            (Some(at), Method::Dns01) => {
                Some(dns_view::dns01(dns, at, name, config.expect_txt.clone()).await)
            }
            _ => None,
        }
    };
    let (dns_facts, challenge) = tokio::join!(addresses, challenge);
    // CAA after the validation lookups, as the CA asks: a validating resolver that meets a
    // nameserver timing out on CAA marks it down and fails what is asked of it next.
    let caa = async {
        match (&at, settled) {
            (Some(at), false) => Some(dns_view::caa(dns, at, name).await),
            _ => None,
        }
    };
    let caa = caa.await;

    let method = async {
        match config.method {
            Method::Http01 => MethodFacts::Http01(
                http01::gather(config, name, dns_facts.as_ref(), dns, tcp, http, limits).await,
            ),
            Method::Dns01 => MethodFacts::Dns01(challenge.clone().unwrap_or_else(|| Dns01Facts {
                challenge: format!("_acme-challenge.{name}"),
                expect_txt: config.expect_txt.clone(),
                txt: unasked_txt(name),
                sibling: None,
                doubled: None,
            })),
        }
    };
    let views = async {
        let Some(at) = &at else {
            return (Vec::new(), None);
        };
        if settled {
            return (Vec::new(), None);
        }
        // What the CA needs of this name, asked of each authoritative server too.
        let questions: Vec<(String, RecordType)> = match (&challenge, &dns_facts) {
            (Some(c), _) => {
                let owner = c
                    .txt
                    .cname_chain
                    .last()
                    .map_or(c.challenge.clone(), |hop| hop.target.clone());
                vec![(owner, RecordType::TXT)]
            }
            (None, Some(_)) => vec![
                (name.to_string(), RecordType::A),
                (name.to_string(), RecordType::AAAA),
            ],
            (None, None) => Vec::new(),
        };
        let zone_of = questions.first().map_or(name.to_string(), |q| q.0.clone());
        let failed = servfails(name, &dns_facts, &caa, &challenge);
        let (retries, authoritative) = tokio::join!(
            join_all(
                failed
                    .iter()
                    .map(|(n, t)| dns_view::cd_retry(dns, at, n, *t))
            ),
            dns_view::authoritative(dns, at, &zone_of, &questions),
        );
        (retries, Some(authoritative))
    };
    let (method, (dnssec, authoritative)) = tokio::join!(method, views);
    TargetFacts {
        target: Target {
            domain: domain.clone(),
            resolver,
        },
        dns: dns_facts,
        method,
        caa,
        dnssec,
        authoritative,
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

/// A TXT lookup that was not made (no resolver address to ask).
fn unasked_txt(name: &str) -> TxtLookup {
    TxtLookup {
        name: format!("_acme-challenge.{name}"),
        outcome: DnsOutcome::Error {
            message: "no resolver address to ask".into(),
        },
        cname_chain: Vec::new(),
        records: Vec::new(),
        ede: None,
        elapsed_ms: 0,
    }
}

/// The lookups that came back SERVFAIL, to ask again with the CD bit.
fn servfails(
    name: &str,
    dns: &Option<DnsFacts>,
    caa: &Option<CaaFacts>,
    challenge: &Option<Dns01Facts>,
) -> Vec<(String, RecordType)> {
    let servfail =
        |o: &DnsOutcome| matches!(o, DnsOutcome::ServerFailure { rcode } if rcode == "SERVFAIL");
    let mut failed = Vec::new();
    if let Some(d) = dns {
        if servfail(&d.a.outcome) {
            failed.push((name.to_string(), RecordType::A));
        }
        if servfail(&d.aaaa.outcome) {
            failed.push((name.to_string(), RecordType::AAAA));
        }
    }
    if let Some(c) = challenge
        && servfail(&c.txt.outcome)
    {
        failed.push((c.txt.name.clone(), RecordType::TXT));
    }
    if let Some(caa) = caa {
        failed.extend(
            caa.levels
                .iter()
                .filter(|l| servfail(&l.outcome))
                .map(|l| (l.name.clone(), RecordType::CAA)),
        );
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{FailOn, Output};
    use crate::facts::{ConnectOutcome, DnsOutcome, HttpOutcome};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Every name has one A record; every connect is refused.
    struct Scripted;

    impl DnsProbe for Scripted {
        async fn lookup(&self, _name: &str, family: Family) -> DnsLookup {
            let addresses = match family {
                Family::Ipv4 => vec!["192.0.2.10".parse().expect("address")],
                Family::Ipv6 => Vec::new(),
            };
            DnsLookup {
                outcome: if addresses.is_empty() {
                    DnsOutcome::NoData
                } else {
                    DnsOutcome::Answer
                },
                addresses,
                cname_chain: Vec::new(),
                ttl: None,
                elapsed_ms: 0,
            }
        }

        fn describe(&self) -> Resolver {
            Resolver::System { servers: vec![] }
        }
    }

    impl RawDns for Scripted {
        async fn query(
            &self,
            _server: SocketAddr,
            _name: &str,
            _rtype: RecordType,
            _ask: dns_raw::Ask,
        ) -> Result<dns_raw::RawAnswer, dns_raw::QueryError> {
            Err(dns_raw::QueryError::Timeout)
        }
    }

    impl ConnectProbe for Scripted {
        async fn connect(&self, address: SocketAddr, _timeout: Duration) -> ConnectFact {
            ConnectFact {
                address: address.ip(),
                port: address.port(),
                outcome: ConnectOutcome::Refused,
                elapsed_ms: 0,
            }
        }
    }

    impl HttpProbe for Scripted {
        async fn get(
            &self,
            _domain: &str,
            address: SocketAddr,
            path: &str,
            _timeout: Duration,
        ) -> HttpFact {
            HttpFact {
                address: address.ip(),
                port: address.port(),
                url: path.to_string(),
                outcome: HttpOutcome::Timeout,
                elapsed_ms: 0,
            }
        }
    }

    /// Counts the snapshots taken.
    #[derive(Default)]
    struct CountingHost(AtomicUsize);

    impl HostProbe for CountingHost {
        fn host_facts(&self) -> HostFacts {
            self.0.fetch_add(1, Ordering::SeqCst);
            host::unknown_host_facts("scripted")
        }
    }

    #[test]
    fn a_run_over_200_names_takes_one_host_snapshot() {
        let domains = (0..200)
            .map(|i| crate::domain::parse(&format!("name{i}.example.test")).expect("valid"))
            .collect();
        let config = Config {
            domains,
            method: Method::Http01,
            timeout: Duration::from_secs(1),
            resolver: None,
            allow_reserved: true,
            expect_txt: None,
            webroot: None,
            expect_body: None,
            ca_issuer: "letsencrypt.org".into(),
            account_uri: None,
            authoritative_port: 53,
            jobs: 16,
            output: Output::Json,
            color: false,
            progress: false,
            verbose: false,
            fail_on: FailOn::Blocker,
            save_facts: None,
            from_facts: None,
            invocation: String::new(),
        };
        let host = Arc::new(CountingHost::default());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let run = runtime.block_on(gather(
            &config,
            &Scripted,
            &Scripted,
            &Scripted,
            Arc::clone(&host),
            false,
            &|_, _, _| {},
        ));
        assert_eq!(host.0.load(Ordering::SeqCst), 1);
        assert_eq!(run.targets.len(), 200);
        assert_eq!(run.targets[199].target.domain.ascii, "name199.example.test");
        // Each target carries its own method facts: a refused connect on 80 and 443.
        let MethodFacts::Http01(facts) = &run.targets[0].method else {
            panic!("http-01 facts");
        };
        assert_eq!(facts.connects.len(), 2);
    }
}
