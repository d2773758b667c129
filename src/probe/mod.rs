//! Probes: all of acme-doctor's I/O. Each kind sits behind a small trait so tests can script
//! the answers; [`gather`] runs them concurrently and returns [`RunFacts`]: the host snapshot
//! once, however many names, and one [`TargetFacts`] per name. A probe never fails the run: a
//! timeout, a refusal or a permission error is recorded as a fact.

pub mod acme;
pub mod capath;
pub mod clients;
pub mod connects;
pub mod container_nginx;
pub mod containers;
pub mod dns;
pub mod dns_raw;
pub mod dns_view;
pub mod firewall;
pub mod host;
pub mod http;
pub mod http01;
pub mod tcp;
pub mod tlsalpn01;
pub mod token;
pub mod traefik_config;
pub mod userfile;
pub mod vantage;
pub mod webconf;

use crate::config::{Config, TargetSpec};
use crate::domain::DomainName;
use crate::facts::{
    CaaFacts, ConnectFact, Dns01Facts, DnsFacts, DnsLookup, DnsOutcome, FACTS_VERSION, Family,
    HopOutcome, HostFacts, HttpFact, Method, MethodFacts, ProbeOptions, Rcode, Resolver, RunFacts,
    Target, TargetFacts, TxtLookup,
};
use dns_view::{RawDns, Where};
use futures_util::StreamExt;
use futures_util::future::join_all;
use hickory_resolver::proto::rr::RecordType;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

pub use crate::facts::own_limit_errno;

/// Whether this process is out of file descriptors, or within a few of its limit: a library
/// that hides the errno behind its own words ("no connections available") is asked this after
/// a failure. Near the limit counts too, since the batch's other probes may have closed a
/// socket or two between the failure and this question.
pub fn out_of_descriptors() -> bool {
    const MARGIN: u64 = 8;
    if let Err(e) = std::net::UdpSocket::bind(("127.0.0.1", 0)) {
        return own_limit_errno(e.raw_os_error());
    }
    let Ok((soft, _)) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
    else {
        return false;
    };
    match std::fs::read_dir("/proc/self/fd") {
        Ok(entries) => entries.count() as u64 + MARGIN >= soft,
        Err(e) => own_limit_errno(e.raw_os_error()),
    }
}

/// How long a probe waits before trying again after meeting its own limit (other probes
/// of the batch free descriptors as they finish).
pub const OWN_LIMIT_PAUSE: Duration = Duration::from_millis(25);

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
    /// One GET of `path` on `domain`, pinned to `addr`, with `agent`'s User-Agent (the CA's
    /// sends the CA's request shape too: `docs/ca-behaviour.md` §2.3).
    fn get(
        &self,
        domain: &str,
        addr: SocketAddr,
        path: &str,
        timeout: Duration,
        agent: crate::facts::Agent,
    ) -> impl Future<Output = HttpFact>;

    /// One GET of any URL pinned to one address, as the CA's client sends it, no redirect
    /// followed (HTTPS without certificate verification). Scripted probes that do not
    /// implement it answer [`HopOutcome::NotProbed`].
    fn fetch(
        &self,
        _url: &url::Url,
        _addr: SocketAddr,
        _timeout: Duration,
    ) -> impl Future<Output = HopOutcome> {
        async { HopOutcome::NotProbed }
    }

    /// [`HttpProbe::fetch`] on a connection kept alive and shared by every name on `addr`:
    /// for the per-address comparisons, which reproduce no dial of the CA's (see
    /// "Connections" in `docs/architecture.md`). Probes without a pool fetch afresh.
    fn fetch_kept(
        &self,
        url: &url::Url,
        addr: SocketAddr,
        timeout: Duration,
    ) -> impl Future<Output = HopOutcome> {
        self.fetch(url, addr, timeout)
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
    pub tls: tlsalpn01::RustlsAlpn,
    pub host: host::LinuxHost,
}

/// Gathers every fact of one run. The host snapshot (read once, on a blocking thread), the DNS
/// lookups and then the per-address probes of every name run concurrently, so the wall time is
/// that of the slowest chain, not the sum.
/// Called as each name is done, in completion order, with its index in the input. `run` is the
/// run so far (the host snapshot, no targets) when [`gather`] was asked to take the host
/// snapshot first, so the name can be diagnosed and printed at once.
pub type OnTarget<'a> = &'a (dyn Fn(Option<&RunFacts>, usize, &TargetFacts) + Sync);

/// How [`gather`] is run: the host snapshot first (streaming output), the names' facts kept
/// in the returned run or only handed to `on_target` (streaming without `--save-facts`: a
/// batch then holds only the names in flight), and what stops it early (a signal).
pub struct Gathering<'a, S> {
    pub host_first: bool,
    pub keep_targets: bool,
    pub on_target: OnTarget<'a>,
    pub stop: S,
}

/// The run's facts, and the input indexes of the names a stop left unfinished.
pub struct Gathered<T> {
    pub run: RunFacts,
    pub stopped: Option<T>,
    pub unfinished: Vec<usize>,
}

pub async fn gather<D, C, H, T, O, S>(
    config: &Config,
    dns: &D,
    tcp: &C,
    http: &H,
    tls: &T,
    host: Arc<O>,
    how: Gathering<'_, S>,
) -> Gathered<S::Output>
where
    S: Future,
    D: DnsProbe + RawDns,
    C: ConnectProbe,
    H: HttpProbe,
    T: tlsalpn01::TlsProbe,
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
            cdn_ranges: config.cdn_ranges.clone(),
        },
        host: host::unknown_host_facts("not read yet"),
        targets: Vec::new(),
        duration_ms: 0,
    };
    // Streaming output needs the host snapshot before the first name is done; otherwise it is
    // read while the names are probed.
    let Gathering {
        host_first,
        keep_targets,
        on_target,
        stop,
    } = how;
    let mut stop = std::pin::pin!(stop);
    let mut host_task = Some(host_task);
    if host_first && let Some(task) = host_task.take() {
        tokio::select! {
            biased;
            stopped = &mut stop => {
                run.host = host::unknown_host_facts("the run was stopped before the host was read");
                return Gathered {
                    run,
                    stopped: Some(stopped),
                    unfinished: (0..config.domains().len()).collect(),
                };
            }
            host = task.finish() => run.host = host,
        }
    }
    let ready = host_first.then_some(&run);
    let limits = connects::Limits::default();
    let connects = connects::Connects::default();
    // One client for every vantage; when it cannot be built, each vantage records why.
    let vantages = (!config.vantages.is_empty()).then(|| vantage::client(config));
    let vantages = vantages.as_ref();
    let mut done = vec![false; config.domains().len()];
    let mut targets: Vec<(usize, TargetFacts)> = Vec::new();
    let mut stopped = None;
    {
        // At most `jobs` names at once, handed over as each is done.
        let mut stream =
            futures_util::stream::iter(config.domains().enumerate().map(|(index, domain)| {
                let limits = &limits;
                let connects = &connects;
                async move {
                    let facts = gather_target(
                        config,
                        config.spec(index),
                        domain,
                        Probes {
                            dns,
                            tcp,
                            http,
                            tls,
                        },
                        Shared {
                            limits,
                            connects,
                            vantages,
                        },
                    )
                    .await;
                    on_target(ready, index, &facts);
                    (index, facts)
                }
            }))
            .buffer_unordered(config.jobs.max(1));
        loop {
            tokio::select! {
                biased;
                signal = &mut stop => {
                    stopped = Some(signal);
                    break;
                }
                next = stream.next() => match next {
                    Some((index, facts)) => {
                        done[index] = true;
                        if keep_targets {
                            targets.push((index, facts));
                        }
                    }
                    None => break,
                },
            }
        }
        // Leaving this block drops the names in flight: their sockets close here.
    }
    targets.sort_by_key(|(index, _)| *index);
    if let Some(task) = host_task.take() {
        run.host = if stopped.is_some() {
            host::unknown_host_facts("the run was stopped before the host was read")
        } else {
            task.finish().await
        };
    }
    run.targets = targets.into_iter().map(|(_, t)| t).collect();
    run.duration_ms = started.elapsed().as_millis() as u64;
    Gathered {
        run,
        unfinished: if stopped.is_some() {
            (0..done.len()).filter(|i| !done[*i]).collect()
        } else {
            Vec::new()
        },
        stopped,
    }
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

/// What every target of a run shares: the per-address connection limits, the connects to
/// each address (made once per run), and the vantage client.
#[derive(Clone, Copy)]
struct Shared<'a> {
    limits: &'a connects::Limits,
    connects: &'a connects::Connects,
    vantages: Option<&'a Result<reqwest::Client, String>>,
}

/// The probes one name is gathered with, one per kind of I/O.
struct Probes<'a, D, C, H, T> {
    dns: &'a D,
    tcp: &'a C,
    http: &'a H,
    tls: &'a T,
}

/// One name: its DNS, the connects its method dials, the facts its validation method needs,
/// with its CAA, the authoritative view, and SERVFAILs asked again without DNSSEC validation.
async fn gather_target<D, C, H, T>(
    config: &Config,
    spec: TargetSpec,
    domain: &DomainName,
    Probes {
        dns,
        tcp,
        http,
        tls,
    }: Probes<'_, D, C, H, T>,
    Shared {
        limits,
        connects,
        vantages,
    }: Shared<'_>,
) -> TargetFacts
where
    D: DnsProbe + RawDns,
    C: ConnectProbe,
    H: HttpProbe,
    T: tlsalpn01::TlsProbe,
{
    let started = Instant::now();
    let method_of_target = spec.method;
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
    // A wildcard is settled by the name alone for a method that validates no wildcard: the CA
    // would not even offer the challenge.
    let settled = domain.wildcard && !method_of_target.validates_wildcards();
    // The ports the method dials; a method that dials nothing needs no addresses.
    let ports = if settled {
        &[]
    } else {
        method_of_target.ports()
    };
    // The identifier decides where the addresses come from: a name's from DNS, an IP
    // identifier's from itself, with no query about it at all, CAA included
    // (`docs/ca-behaviour.md` §11.3).
    let in_dns = domain.ip.is_none();
    let addresses = async {
        if ports.is_empty() || !in_dns {
            return None;
        }
        let (a, aaaa) = tokio::join!(
            dns.lookup(name, Family::Ipv4),
            dns.lookup(name, Family::Ipv6)
        );
        Some(DnsFacts { a, aaaa })
    };
    let webroot = spec.webroot.as_ref().or(config.webroot.as_ref());
    // The real token when this target has one (its certificate's webroot under `--all`, the
    // run's `--webroot` or `--expect-body`), else a random one: the same path on the host and
    // at every vantage, so the vantages fetch the real token as the CA would.
    let token = http01::token_facts(
        webroot.is_some(),
        spec.expect_body.as_ref().or(config.expect_body.as_ref()),
    );
    let challenge_path = http01::ChallengePath::for_run(token.as_ref());
    // The vantages look from outside while this run looks from here, within the same
    // deadline, at the ports the method dials.
    let outside = async {
        match vantages {
            Some(client) if !ports.is_empty() => match client {
                Ok(client) => vantage::ask_all(config, client, name, &challenge_path.path()).await,
                Err(e) => config
                    .vantages
                    .iter()
                    .map(|url| crate::facts::VantageFacts {
                        vantage: url.to_string(),
                        observed: Err(crate::facts::VantageError {
                            status: None,
                            message: e.clone(),
                        }),
                        elapsed_ms: 0,
                    })
                    .collect(),
            },
            _ => Vec::new(),
        }
    };
    // The method's challenge record in DNS (DNS-01's TXT), looked up with the addresses: the
    // validation lookups come first.
    let challenge_txt = async {
        match (&at, method_of_target.challenge_in_dns() && in_dns) {
            (Some(at), true) => {
                Some(dns_view::dns01(dns, at, name, config.expect_txt.clone()).await)
            }
            _ => None,
        }
    };
    // This run's own view, while the vantages look from outside.
    let inside = async {
        let (dns_facts, challenge) = tokio::join!(addresses, challenge_txt);
        // CAA after the validation lookups, as the CA asks: a validating resolver that meets a
        // nameserver timing out on CAA marks it down and fails what is asked of it next.
        let caa = match (&at, settled || !in_dns) {
            (Some(at), false) => Some(dns_view::caa(dns, at, name).await),
            _ => None,
        };
        let targets = match domain.ip {
            // The one address the CA dials, with nothing to fall back to (§11.4).
            Some(ip) if !ports.is_empty() => connects::usable(&[ip], config.allow_reserved),
            Some(_) => Vec::new(),
            None => connects::targets(dns_facts.as_ref(), config.allow_reserved),
        };
        // The one switch over methods: the facts each method gathers beyond the shared ones.
        let method = async {
            match method_of_target {
                Method::Http01 => {
                    let plan = http01::Plan {
                        targets: targets.clone(),
                        timeout: config.timeout,
                        challenge: &challenge_path,
                        // `/` is compared with what the vantages saw; a saved run may be joined
                        // with an outside run later.
                        root: !config.vantages.is_empty() || config.save_facts.is_some(),
                        webroot: webroot.map(|p| p.to_string_lossy().into_owned()),
                        token: token.clone(),
                        walk: Some(http01::Walking {
                            dns: dns_facts.as_ref(),
                            ip: domain.ip,
                            allow_reserved: config.allow_reserved,
                        }),
                    };
                    MethodFacts::Http01(
                        http01::gather(&plan, name, dns, tcp, http, limits, connects).await,
                    )
                }
                Method::Dns01 => {
                    MethodFacts::Dns01(challenge.clone().unwrap_or_else(|| Dns01Facts {
                        challenge: format!("_acme-challenge.{name}"),
                        expect_txt: config.expect_txt.clone(),
                        txt: unasked_txt(name),
                        sibling: None,
                        doubled: None,
                    }))
                }
                Method::TlsAlpn01 => {
                    // The shared connects to 443 (made once per run under the address's budget,
                    // never dialled twice): a failed one is the handshake's outcome.
                    let dialled = connects::connect_all(
                        &targets,
                        &[crate::facts::tlsalpn01::TLS_ALPN_PORT],
                        tcp,
                        limits,
                        connects,
                        config.timeout,
                    )
                    .await;
                    let plan = tlsalpn01::Plan::new(
                        domain,
                        targets.clone(),
                        dialled,
                        config.timeout,
                        config.expect_keyauth.as_deref(),
                    );
                    MethodFacts::TlsAlpn01(tlsalpn01::gather(&plan, tls).await)
                }
            }
        };
        let dialled = connects::connect_all(&targets, ports, tcp, limits, connects, config.timeout);
        let views = async {
            let Some(at) = &at else {
                return (Vec::new(), None);
            };
            if settled || !in_dns {
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
            let failed = servfails(name, &dns_facts, &caa, challenge.as_ref());
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
        let (method, target_connects, (dnssec, authoritative)) =
            tokio::join!(method, dialled, views);
        (
            dns_facts,
            target_connects,
            method,
            caa,
            dnssec,
            authoritative,
        )
    };
    let ((dns_facts, target_connects, method, caa, dnssec, authoritative), vantage_facts) =
        tokio::join!(inside, outside);
    TargetFacts {
        target: Target {
            domain: domain.clone(),
            resolver,
        },
        dns: dns_facts,
        connects: target_connects,
        method,
        caa,
        dnssec,
        authoritative,
        vantages: vantage_facts,
        // The failure its client logged, when `--all` found one (issue 19 item 4); the
        // rest is filled after the probes by `--ca-check` and `--ca-error`.
        ca: spec
            .certificate
            .as_ref()
            .and_then(clients::logs::evidence)
            .into_iter()
            .collect(),
        certificate: spec.certificate,
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
    challenge: Option<&Dns01Facts>,
) -> Vec<(String, RecordType)> {
    let servfail = |o: &DnsOutcome| matches!(o, DnsOutcome::ServerFailure { rcode } if *rcode == Rcode::SERVFAIL);
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
                queued_ms: 0,
                own_limit: false,
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
            agent: crate::facts::Agent,
        ) -> HttpFact {
            HttpFact {
                address: address.ip(),
                port: address.port(),
                url: path.to_string(),
                outcome: HttpOutcome::Timeout,
                elapsed_ms: 0,
                agent,
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

    fn config_for(names: usize) -> Config {
        let targets = (0..names)
            .map(|i| crate::domain::parse(&format!("name{i}.example.test")).expect("valid"))
            .map(|domain| crate::config::Target::of_run(domain, Method::Http01))
            .collect();
        Config {
            targets,
            method: Method::Http01,
            timeout: Duration::from_secs(1),
            resolver: None,
            allow_reserved: true,
            expect_txt: None,
            webroot: None,
            cdn_ranges: None,
            expect_body: None,
            expect_keyauth: None,
            ca_issuer: "letsencrypt.org".into(),
            account_uri: None,
            authoritative_port: 53,
            jobs: 16,
            output: Output::Json,
            color: false,
            glyphs: crate::render::path::Glyphs::Ascii,
            progress: false,
            verbose: false,
            fail_on: FailOn::Blocker,
            accept_host_only: false,
            save_facts: None,
            from_facts: Vec::new(),
            vantages: Vec::new(),
            vantage_token: None,
            vantage_ca: None,
            invocation: String::new(),
            ca_check: None,
            clients: Default::default(),
            rejected: Vec::new(),
            metrics: None,
            ca_pasted: Vec::new(),
        }
    }

    /// Every GET answers 404, as a healthy server does for a random token.
    struct NotFound;

    impl HttpProbe for NotFound {
        async fn get(
            &self,
            _domain: &str,
            address: SocketAddr,
            path: &str,
            _timeout: Duration,
            agent: crate::facts::Agent,
        ) -> HttpFact {
            HttpFact {
                address: address.ip(),
                port: address.port(),
                url: path.to_string(),
                outcome: HttpOutcome::Response {
                    status: 404,
                    server: Some("nginx".into()),
                    location: None,
                    body_prefix: String::new(),
                    body_bytes: 0,
                    body_truncated: false,
                    page: Default::default(),
                },
                elapsed_ms: 0,
                agent,
            }
        }
    }

    /// The per-address GETs answer 404; the CA's walk, whose GETs dial afresh, finds this
    /// machine out of local ports.
    struct WalkOutOfPorts;

    impl HttpProbe for WalkOutOfPorts {
        async fn get(
            &self,
            domain: &str,
            address: SocketAddr,
            path: &str,
            timeout: Duration,
            agent: crate::facts::Agent,
        ) -> HttpFact {
            NotFound.get(domain, address, path, timeout, agent).await
        }

        async fn fetch(
            &self,
            _url: &url::Url,
            _addr: SocketAddr,
            _timeout: Duration,
        ) -> HopOutcome {
            HopOutcome::OwnLimit {
                message: "acme-doctor ran out of local ports".into(),
            }
        }
    }

    /// Gathers `config` with `tcp` as the connect probe and the other probes scripted.
    fn gather_with<C: ConnectProbe>(config: &Config, tcp: &C) -> RunFacts {
        gather_with_http(config, tcp, &Scripted)
    }

    fn gather_with_http<C: ConnectProbe, H: HttpProbe>(
        config: &Config,
        tcp: &C,
        http: &H,
    ) -> RunFacts {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime
            .block_on(gather(
                config,
                &Scripted,
                tcp,
                http,
                &tlsalpn01::RustlsAlpn,
                Arc::new(CountingHost::default()),
                Gathering {
                    host_first: false,
                    keep_targets: true,
                    on_target: &|_, _, _| {},
                    stop: std::future::pending::<()>(),
                },
            ))
            .run
    }

    /// Counts connects per address and port, and answers each with `outcome`.
    struct CountingConnect {
        outcome: ConnectOutcome,
        made: std::sync::Mutex<Vec<SocketAddr>>,
    }

    impl CountingConnect {
        fn new(outcome: ConnectOutcome) -> Self {
            CountingConnect {
                outcome,
                made: Default::default(),
            }
        }

        fn to_port(&self, port: u16) -> usize {
            self.made
                .lock()
                .expect("lock")
                .iter()
                .filter(|a| a.port() == port)
                .count()
        }
    }

    impl ConnectProbe for CountingConnect {
        async fn connect(&self, address: SocketAddr, _timeout: Duration) -> ConnectFact {
            self.made.lock().expect("lock").push(address);
            ConnectFact {
                address: address.ip(),
                port: address.port(),
                outcome: self.outcome.clone(),
                elapsed_ms: 0,
            }
        }
    }

    #[test]
    fn names_on_one_address_connect_once_per_port_and_each_lists_the_facts() {
        let config = config_for(2);
        let tcp = CountingConnect::new(ConnectOutcome::Connected);
        let run = gather_with(&config, &tcp);
        // Both names resolve to 192.0.2.10: one connect to 443 and one to 80 for the run,
        // shared by the names and by the CA's walk (only its GETs dial afresh).
        assert_eq!(tcp.to_port(443), 1);
        assert_eq!(tcp.to_port(80), 1);
        for target in &run.targets {
            let MethodFacts::Http01(facts) = &target.method else {
                panic!("http-01 facts");
            };
            let ports: Vec<u16> = target.connects.iter().map(|c| c.port).collect();
            assert_eq!(ports, [80, 443], "{:?}", target.connects);
            assert!(
                target
                    .connects
                    .iter()
                    .all(|c| c.outcome == ConnectOutcome::Connected)
            );
            let walk = facts.ca_path.as_ref().expect("the CA's walk");
            assert_eq!(walk.attempts.len(), 1);
        }
    }

    #[test]
    fn a_connect_out_of_local_ports_blames_no_server_and_exits_incomplete() {
        let config = config_for(3);
        let ports = CountingConnect::new(ConnectOutcome::LocalPortsExhausted);
        let run = gather_with(&config, &ports);
        // An own-limit outcome is not shared: each name tries again.
        assert_eq!(ports.to_port(443), 3);
        for target in &run.targets {
            let d = crate::diagnose::diagnose(&run, target);
            let blockers: Vec<_> = d
                .findings
                .iter()
                .filter(|f| f.severity == crate::diagnose::Severity::Blocker)
                .collect();
            assert!(blockers.is_empty(), "{blockers:#?}");
            assert!(
                !d.findings.iter().any(|f| f.ca_error.is_some()),
                "{:#?}",
                d.findings
            );
            assert!(
                d.incomplete_reasons
                    .iter()
                    .any(|r| r.contains("ran out of local ports")),
                "{:?}",
                d.incomplete_reasons
            );
            assert_eq!(
                crate::cli::exit_for(&d, FailOn::Blocker, false),
                crate::exit::Exit::Incomplete
            );
        }
        // Only the CA's walk, whose GET dials afresh after the shared connects, runs out of
        // ports: still incomplete, never a pass that skipped the CA's path.
        let connected = CountingConnect::new(ConnectOutcome::Connected);
        let run = gather_with_http(&config_for(1), &connected, &WalkOutOfPorts);
        let d = crate::diagnose::diagnose(&run, &run.targets[0]);
        assert_eq!(
            d.verdict,
            crate::diagnose::Verdict::Pass,
            "{:#?}",
            d.findings
        );
        assert!(
            d.incomplete_reasons
                .iter()
                .any(|r| r.contains("while walking the CA's path")),
            "{:?}",
            d.incomplete_reasons
        );
        assert_eq!(
            crate::cli::exit_for(&d, FailOn::Blocker, false),
            crate::exit::Exit::Incomplete
        );
        // The same run with the server refusing is the server's fault: a blocker, exit 1.
        let refused = CountingConnect::new(ConnectOutcome::Refused);
        let run = gather_with(&config, &refused);
        let d = crate::diagnose::diagnose(&run, &run.targets[0]);
        assert_eq!(
            crate::cli::exit_for(&d, FailOn::Blocker, false),
            crate::exit::Exit::Blocker
        );
    }

    #[test]
    fn a_run_over_200_names_takes_one_host_snapshot() {
        let config = config_for(200);
        let host = Arc::new(CountingHost::default());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let run = runtime
            .block_on(gather(
                &config,
                &Scripted,
                &Scripted,
                &Scripted,
                &tlsalpn01::RustlsAlpn,
                Arc::clone(&host),
                Gathering {
                    host_first: false,
                    keep_targets: true,
                    on_target: &|_, _, _| {},
                    stop: std::future::pending::<()>(),
                },
            ))
            .run;
        assert_eq!(host.0.load(Ordering::SeqCst), 1);
        assert_eq!(run.targets.len(), 200);
        assert_eq!(run.targets[199].target.domain.ascii, "name199.example.test");
        // Each target carries its own connects: a refused connect on 80 and 443.
        assert_eq!(run.targets[0].connects.len(), 2);
    }
}
