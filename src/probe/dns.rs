//! DNS facts through hickory-resolver, asked the way the CA asks: A and AAAA separately, no
//! hosts file (the CA does not read the server's /etc/hosts), CNAME hops kept.

use super::DnsProbe;
use crate::facts::{CnameHop, DnsLookup, DnsOutcome, Family, Rcode, Resolver};
use futures_util::StreamExt;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct HickoryDns {
    resolver: TokioResolver,
    described: Resolver,
    /// Where [`HickoryDns::lookup`] sends its queries, for the per-resolver cap.
    lookup_server: Option<SocketAddr>,
    timeout: Duration,
    in_flight: InFlight,
    answers: SharedAnswers,
}

/// Queries one run keeps in flight to one server at most: about what a busy stub resolver
/// sends. A run over many names never floods a resolver and then blames it for the silence
/// it caused.
pub const MAX_IN_FLIGHT: usize = 32;

pub use super::dns_raw::DNS_TRIES;

/// The cap on queries in flight, per server.
#[derive(Default)]
pub struct InFlight {
    per_server: Mutex<HashMap<SocketAddr, Arc<Semaphore>>>,
}

impl InFlight {
    /// A slot for one query to `server`, and how long this waited for it (zero when a slot was
    /// free): the wait is the tool's own queue.
    pub async fn enter(&self, server: SocketAddr) -> (Option<OwnedSemaphorePermit>, Duration) {
        let semaphore = {
            let mut map = self
                .per_server
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            Arc::clone(
                map.entry(server)
                    .or_insert_with(|| Arc::new(Semaphore::new(MAX_IN_FLIGHT))),
            )
        };
        if let Ok(permit) = Arc::clone(&semaphore).try_acquire_owned() {
            return (Some(permit), Duration::ZERO);
        }
        let started = Instant::now();
        let permit = semaphore.acquire_owned().await.ok();
        (permit, started.elapsed())
    }
}

type Answer = Result<super::dns_raw::RawAnswer, super::dns_raw::QueryError>;
type AnswerKey = (SocketAddr, String, u16, bool, bool, bool);

/// Answers of the resolver, shared by the names of one run: the CAA levels and zones that many
/// names have in common (`example.com`, `com`) are asked once, as the CA's caching resolver
/// would answer them once. Concurrent askers of one question wait for the one query. Failed
/// queries are not kept: the next asker asks again.
#[derive(Default)]
struct SharedAnswers {
    map: Mutex<HashMap<AnswerKey, Arc<tokio::sync::OnceCell<Answer>>>>,
}

/// Questions kept at most (a few hundred bytes each).
const SHARED_CAP: usize = 16 * 1024;

impl HickoryDns {
    /// A resolver asking `server` (UDP, then TCP on truncation), or the system's
    /// configuration (`/etc/resolv.conf`) when `server` is `None`.
    pub fn new(server: Option<SocketAddr>, timeout: Duration) -> Result<HickoryDns, String> {
        let (config, described) = match server {
            Some(addr) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                let ns = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
                (
                    ResolverConfig::from_name_servers(vec![ns]),
                    Resolver::Given { address: addr },
                )
            }
            None => {
                let (config, _) =
                    hickory_resolver::system_conf::read_system_conf().map_err(|e| {
                        format!(
                            "cannot read the system resolver configuration (/etc/resolv.conf): {e}"
                        )
                    })?;
                let servers: Vec<std::net::IpAddr> =
                    config.name_servers().iter().map(|ns| ns.ip).collect();
                if servers.is_empty() {
                    return Err(
                        "no nameserver in /etc/resolv.conf; pass one with --resolver IP[:PORT]"
                            .into(),
                    );
                }
                (config, Resolver::System { servers })
            }
        };
        let mut opts = ResolverOpts::default();
        // One try with the whole budget: with two tries of half each, a resolver answering in
        // 1.9 s at --timeout 2s was recorded as silent, its late answer to the first try thrown
        // away. The raw client (dns_raw.rs) keeps its own retry for lost datagrams.
        opts.timeout = timeout;
        opts.attempts = 1;
        opts.use_hosts_file = ResolveHosts::Never;
        opts.preserve_intermediates = true;
        opts.ndots = 0;
        let resolver = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(opts)
            .build()
            .map_err(|e| format!("cannot set up the DNS resolver: {e}"))?;
        let lookup_server = match &described {
            Resolver::Given { address } => Some(*address),
            Resolver::System { servers } => servers.first().map(|ip| SocketAddr::new(*ip, 53)),
        };
        Ok(HickoryDns {
            resolver,
            described,
            lookup_server,
            timeout,
            in_flight: InFlight::default(),
            answers: SharedAnswers::default(),
        })
    }

    /// One lookup, sent again at each third of the timeout while no answer came (up to
    /// [`DNS_TRIES`] sends); the first answer of any send counts. `None`: no answer in time.
    async fn lookup_tries(
        &self,
        fqdn: &str,
        rtype: RecordType,
    ) -> Option<Result<hickory_resolver::lookup::Lookup, NetError>> {
        let started = tokio::time::Instant::now();
        let deadline = started + self.timeout;
        let step = self.timeout / DNS_TRIES;
        let mut tries = futures_util::stream::FuturesUnordered::new();
        tries.push(self.resolver.lookup(fqdn, rtype));
        let mut sent = 1;
        loop {
            let wake = if sent < DNS_TRIES {
                (started + step * sent).min(deadline)
            } else {
                deadline
            };
            tokio::select! {
                Some(result) = tries.next() => match result {
                    // One send's own timeout: another may still answer.
                    Err(NetError::Timeout) if !tries.is_empty() => {}
                    Err(NetError::Timeout) if sent < DNS_TRIES => {
                        tries.push(self.resolver.lookup(fqdn, rtype));
                        sent += 1;
                    }
                    result => return Some(result),
                },
                () = tokio::time::sleep_until(wake) => {
                    if tokio::time::Instant::now() >= deadline {
                        return None;
                    }
                    tries.push(self.resolver.lookup(fqdn, rtype));
                    sent += 1;
                }
            }
        }
    }
}

fn name_text(name: &impl std::fmt::Display) -> String {
    name.to_string().trim_end_matches('.').to_ascii_lowercase()
}

/// Maps what hickory returned to the outcome kinds the diagnosis distinguishes.
fn outcome_of(err: &NetError) -> DnsOutcome {
    match err {
        NetError::Dns(DnsError::NoRecordsFound(nr)) => match nr.response_code {
            ResponseCode::NXDomain => DnsOutcome::NxDomain,
            ResponseCode::NoError => DnsOutcome::NoData,
            ResponseCode::Refused => DnsOutcome::Refused,
            code => DnsOutcome::ServerFailure {
                rcode: Rcode(u16::from(code)),
            },
        },
        NetError::Dns(DnsError::ResponseCode(ResponseCode::Refused)) => DnsOutcome::Refused,
        NetError::Dns(DnsError::ResponseCode(ResponseCode::NXDomain)) => DnsOutcome::NxDomain,
        NetError::Dns(DnsError::ResponseCode(code)) => DnsOutcome::ServerFailure {
            rcode: Rcode(u16::from(*code)),
        },
        NetError::Timeout => DnsOutcome::Timeout,
        other => DnsOutcome::Error {
            message: crate::sanitize::line(&other.to_string(), 200),
        },
    }
}

impl DnsProbe for HickoryDns {
    async fn lookup(&self, name: &str, family: Family) -> DnsLookup {
        let rtype = match family {
            Family::Ipv4 => RecordType::A,
            Family::Ipv6 => RecordType::AAAA,
        };
        let fqdn = format!("{name}.");
        let mut queued = Duration::ZERO;
        let mut result = None;
        let mut elapsed_ms = 0;
        let mut own_limit = false;
        // A timeout after a wait for a slot may be this tool's own load on the resolver: the
        // question is asked once more, with a fresh timeout, before the silence is recorded.
        for _ in 0..2 {
            let (_permit, waited) = match self.lookup_server {
                Some(server) => self.in_flight.enter(server).await,
                None => (None, Duration::ZERO),
            };
            queued += waited;
            // The time waited for a slot is ours, not the resolver's: the clock starts after it.
            let started = Instant::now();
            let deadline = started + self.timeout;
            loop {
                result = self.lookup_tries(&fqdn, rtype).await;
                // hickory words a socket it could not open as "no connections available":
                // when this process is out of descriptors that is its own limit, asked again
                // (other probes free some) until the timeout.
                own_limit = matches!(&result, Some(Err(e)) if !matches!(e, NetError::Dns(_) | NetError::Timeout))
                    && super::out_of_descriptors();
                if !own_limit || Instant::now() + super::OWN_LIMIT_PAUSE >= deadline {
                    break;
                }
                tokio::time::sleep(super::OWN_LIMIT_PAUSE).await;
            }
            elapsed_ms = started.elapsed().as_millis() as u64;
            if result.is_some() || waited.is_zero() {
                break;
            }
        }
        let mut lookup = DnsLookup {
            outcome: DnsOutcome::Answer,
            addresses: Vec::new(),
            cname_chain: Vec::new(),
            ttl: None,
            elapsed_ms,
            queued_ms: queued.as_millis() as u64,
            own_limit,
        };
        match result {
            None => lookup.outcome = DnsOutcome::Timeout,
            Some(Err(NetError::Timeout)) => lookup.outcome = DnsOutcome::Timeout,
            Some(Err(e)) => lookup.outcome = outcome_of(&e),
            Some(Ok(answer)) => {
                for record in answer.answers() {
                    if matches!(record.data, RData::A(_) | RData::AAAA(_)) {
                        lookup.ttl = Some(lookup.ttl.map_or(record.ttl, |t| t.min(record.ttl)));
                    }
                    match &record.data {
                        RData::A(a) if rtype == RecordType::A => lookup.addresses.push(a.0.into()),
                        RData::AAAA(a) if rtype == RecordType::AAAA => {
                            lookup.addresses.push(a.0.into());
                        }
                        RData::CNAME(target) => lookup.cname_chain.push(CnameHop {
                            name: name_text(&record.name),
                            target: name_text(&target.0),
                        }),
                        _ => {}
                    }
                }
                if lookup.addresses.is_empty() {
                    lookup.outcome = DnsOutcome::NoData;
                }
            }
        }
        lookup
    }

    fn describe(&self) -> Resolver {
        self.described.clone()
    }
}

impl super::dns_view::RawDns for HickoryDns {
    async fn query(
        &self,
        server: SocketAddr,
        name: &str,
        rtype: RecordType,
        ask: super::dns_raw::Ask,
    ) -> Result<super::dns_raw::RawAnswer, super::dns_raw::QueryError> {
        if !ask.recursion {
            return limited_query(&self.in_flight, server, name, rtype, ask).await;
        }
        let key = (
            server,
            name.trim_end_matches('.').to_ascii_lowercase(),
            u16::from(rtype),
            ask.recursion,
            ask.checking_disabled,
            ask.dnssec_ok,
        );
        let cell = {
            let mut map = self
                .answers
                .map
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match map.get(&key) {
                Some(cell) => Some(Arc::clone(cell)),
                None if map.len() < SHARED_CAP => {
                    let cell = Arc::new(tokio::sync::OnceCell::new());
                    map.insert(key.clone(), Arc::clone(&cell));
                    Some(cell)
                }
                None => None,
            }
        };
        let Some(cell) = cell else {
            return limited_query(&self.in_flight, server, name, rtype, ask).await;
        };
        let answer = cell
            .get_or_init(|| limited_query(&self.in_flight, server, name, rtype, ask))
            .await
            .clone();
        if answer.is_err() {
            let mut map = self
                .answers
                .map
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if map.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                map.remove(&key);
            }
        }
        answer
    }
}

/// One raw query under the per-server cap. A timeout after a wait for a slot may be this
/// tool's own load: it is asked once more, with a fresh timeout.
pub async fn limited_query(
    in_flight: &InFlight,
    server: SocketAddr,
    name: &str,
    rtype: RecordType,
    ask: super::dns_raw::Ask,
) -> Answer {
    let mut answer = Err(super::dns_raw::QueryError::Timeout);
    for _ in 0..2 {
        let (_permit, waited) = in_flight.enter(server).await;
        let deadline = Instant::now() + ask.timeout;
        loop {
            answer = super::dns_raw::query(server, name, rtype, ask).await;
            // Out of descriptors: this tool's limit, asked again until the timeout.
            let own_limit = matches!(&answer, Err(super::dns_raw::QueryError::OwnLimit(_)));
            if !own_limit || Instant::now() + super::OWN_LIMIT_PAUSE >= deadline {
                break;
            }
            tokio::time::sleep(super::OWN_LIMIT_PAUSE).await;
        }
        if !matches!(answer, Err(super::dns_raw::QueryError::Timeout)) || waited.is_zero() {
            break;
        }
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::DnsProbe;
    use crate::probe::dns_view::RawDns;
    use hickory_resolver::proto::op::{Message, MessageType};
    use hickory_resolver::proto::rr::rdata::A;
    use hickory_resolver::proto::rr::{RData, Record};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A loopback resolver that drops the first `drop` queries it receives and answers every
    /// later one with `192.0.2.7` (A) or NOERROR without records; it counts what it received.
    struct Lossy {
        addr: SocketAddr,
        received: Arc<AtomicUsize>,
        stop: Arc<std::sync::atomic::AtomicBool>,
    }

    impl Lossy {
        fn start(drop: usize) -> Lossy {
            let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            socket
                .set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
            let addr = socket.local_addr().unwrap();
            let received = Arc::new(AtomicUsize::new(0));
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let (count, halt) = (Arc::clone(&received), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while !halt.load(Ordering::Relaxed) {
                    let Ok((len, peer)) = socket.recv_from(&mut buf) else {
                        continue;
                    };
                    if count.fetch_add(1, Ordering::SeqCst) < drop {
                        continue;
                    }
                    let Ok(request) = Message::from_vec(&buf[..len]) else {
                        continue;
                    };
                    let Some(query) = request.queries.first().cloned() else {
                        continue;
                    };
                    let mut response = Message::new(
                        request.metadata.id,
                        MessageType::Response,
                        request.metadata.op_code,
                    );
                    response.metadata.recursion_desired = request.metadata.recursion_desired;
                    response.metadata.recursion_available = true;
                    response.add_query(query.clone());
                    if query.query_type == RecordType::A {
                        response.add_answer(Record::from_rdata(
                            query.name.clone(),
                            60,
                            RData::A(A([192, 0, 2, 7].into())),
                        ));
                    }
                    if let Ok(bytes) = response.to_vec() {
                        let _ = socket.send_to(&bytes, peer);
                    }
                }
            });
            Lossy {
                addr,
                received,
                stop,
            }
        }
    }

    impl Drop for Lossy {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// Boulder asks again after a timeout (docs/ca-behaviour.md §4.6): a lost first query is
    /// an answer, not a silence.
    #[test]
    fn a_lost_first_lookup_is_sent_again_and_answered() {
        let server = Lossy::start(1);
        let dns = HickoryDns::new(Some(server.addr), Duration::from_millis(1500)).unwrap();
        let lookup = runtime().block_on(dns.lookup("lost.example.test", Family::Ipv4));
        assert_eq!(lookup.outcome, DnsOutcome::Answer, "{lookup:?}");
        assert_eq!(
            lookup.addresses,
            ["192.0.2.7".parse::<std::net::IpAddr>().unwrap()]
        );
        assert!(server.received.load(Ordering::SeqCst) >= 2);
        assert!(lookup.elapsed_ms < 1500);
        assert_eq!(lookup.queued_ms, 0);
    }

    #[test]
    fn a_lost_first_raw_query_is_sent_again_and_answered() {
        let server = Lossy::start(1);
        let dns = HickoryDns::new(Some(server.addr), Duration::from_millis(1500)).unwrap();
        let ask = crate::probe::dns_raw::Ask {
            recursion: true,
            checking_disabled: false,
            dnssec_ok: false,
            timeout: Duration::from_millis(1500),
        };
        let answer =
            runtime().block_on(dns.query(server.addr, "lost.example.test", RecordType::A, ask));
        assert!(answer.is_ok_and(|a| a.rcode == Rcode::NOERROR && !a.answers.is_empty()));
        assert_eq!(server.received.load(Ordering::SeqCst), 2);
    }

    /// A question many names share (a parent's CAA, say) reaches the resolver once per run.
    #[test]
    fn a_shared_question_is_asked_once_per_run() {
        let server = Lossy::start(0);
        let dns = HickoryDns::new(Some(server.addr), Duration::from_secs(2)).unwrap();
        let ask = crate::probe::dns_raw::Ask {
            recursion: true,
            checking_disabled: false,
            dnssec_ok: false,
            timeout: Duration::from_secs(2),
        };
        runtime().block_on(async {
            let asks =
                (0..20).map(|_| dns.query(server.addr, "example.test", RecordType::CAA, ask));
            let answers = futures_util::future::join_all(asks).await;
            assert!(answers.iter().all(Result::is_ok));
        });
        assert_eq!(server.received.load(Ordering::SeqCst), 1);
    }

    /// Never more than MAX_IN_FLIGHT queries at one resolver; a lookup that waited for a slot
    /// and then met silence is asked again, and its wait is recorded for the diagnosis.
    #[test]
    fn a_timeout_after_a_wait_in_our_queue_is_asked_again_and_recorded() {
        let server = Lossy::start(usize::MAX);
        let dns = HickoryDns::new(Some(server.addr), Duration::from_millis(900)).unwrap();
        let lookup = runtime().block_on(async {
            // Every slot is taken for 200 ms, as by a batch's other names.
            let mut held = Vec::new();
            for _ in 0..MAX_IN_FLIGHT {
                let (permit, waited) = dns.in_flight.enter(server.addr).await;
                assert!(permit.is_some() && waited.is_zero());
                held.push(permit);
            }
            let release = async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                drop(held);
            };
            let (lookup, ()) = tokio::join!(dns.lookup("busy.example.test", Family::Ipv4), release);
            lookup
        });
        assert_eq!(lookup.outcome, DnsOutcome::Timeout);
        assert!(lookup.queued_ms >= 150, "{lookup:?}");
        // Two rounds (the first after the wait, one more), each of up to DNS_TRIES sends.
        let received = server.received.load(Ordering::SeqCst);
        assert!(received > DNS_TRIES as usize, "{received}");
    }
}
