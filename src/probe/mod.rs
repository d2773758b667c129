//! Probes: all of acme-doctor's I/O. Each kind sits behind a small trait so tests can script
//! the answers; [`gather`] runs them concurrently and returns [`RunFacts`]: the host snapshot
//! once, however many names, and one [`TargetFacts`] per name. A probe never fails the run: a
//! timeout, a refusal or a permission error is recorded as a fact.

pub mod dns;
pub mod firewall;
pub mod host;
pub mod http;
pub mod http01;
pub mod tcp;

use crate::config::Config;
use crate::domain::DomainName;
use crate::facts::{
    ConnectFact, DnsFacts, DnsLookup, FACTS_VERSION, Family, HostFacts, HttpFact, Method,
    MethodFacts, ProbeOptions, Resolver, RunFacts, Target, TargetFacts,
};
use futures_util::future::join_all;
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
pub async fn gather<D, C, H, O>(
    config: &Config,
    dns: &D,
    tcp: &C,
    http: &H,
    host: Arc<O>,
) -> RunFacts
where
    D: DnsProbe,
    C: ConnectProbe,
    H: HttpProbe,
    O: HostProbe,
{
    let started = Instant::now();
    let started_at = rfc3339(SystemTime::now());
    let host_task = tokio::task::spawn_blocking(move || host.host_facts());
    let targets = join_all(
        config
            .domains
            .iter()
            .map(|domain| gather_target(config, domain, dns, tcp, http)),
    )
    .await;
    let host_facts = match host_task.await {
        Ok(h) => h,
        Err(e) => host::unknown_host_facts(&format!("host probe failed: {e}")),
    };
    RunFacts {
        facts_version: FACTS_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at,
        options: ProbeOptions {
            timeout_ms: config.timeout.as_millis() as u64,
            allow_reserved: config.allow_reserved,
        },
        host: host_facts,
        targets,
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

/// One name: its DNS, then the facts its validation method needs.
async fn gather_target<D, C, H>(
    config: &Config,
    domain: &DomainName,
    dns: &D,
    tcp: &C,
    http: &H,
) -> TargetFacts
where
    D: DnsProbe,
    C: ConnectProbe,
    H: HttpProbe,
{
    let started = Instant::now();
    let dns_facts = if domain.wildcard && config.method == Method::Http01 {
        // A wildcard with http-01 is settled by the name alone; the CA would not even offer
        // the challenge.
        None
    } else {
        let (a, aaaa) = tokio::join!(
            dns.lookup(&domain.ascii, Family::Ipv4),
            dns.lookup(&domain.ascii, Family::Ipv6)
        );
        Some(DnsFacts { a, aaaa })
    };
    let method = match config.method {
        Method::Http01 => MethodFacts::Http01(
            http01::gather(config, &domain.ascii, dns_facts.as_ref(), tcp, http).await,
        ),
    };
    TargetFacts {
        target: Target {
            domain: domain.clone(),
            resolver: dns.describe(),
        },
        dns: dns_facts,
        method,
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

/// RFC 3339 in UTC with second precision, without pulling in a date crate.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (H. Hinnant), valid for every date after 1970.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
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
                elapsed_ms: 0,
            }
        }

        fn describe(&self) -> Resolver {
            Resolver::System { servers: vec![] }
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
        ));
        assert_eq!(host.0.load(Ordering::SeqCst), 1);
        assert_eq!(run.targets.len(), 200);
        assert_eq!(run.targets[199].target.domain.ascii, "name199.example.test");
        // Each target carries its own method facts: a refused connect on 80 and 443.
        let MethodFacts::Http01(facts) = &run.targets[0].method;
        assert_eq!(facts.connects.len(), 2);
    }

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_779_000);
        assert_eq!(rfc3339(t), "2026-11-27T11:30:00Z");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00Z");
    }
}
