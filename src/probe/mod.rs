//! Probes: all of acme-doctor's I/O. Each kind sits behind a small trait so tests can script
//! the answers; [`gather`] runs them concurrently and returns [`Facts`]. A probe never fails
//! the run: a timeout, a refusal or a permission error is recorded as a fact.

pub mod dns;
pub mod firewall;
pub mod host;
pub mod http;
pub mod tcp;

use crate::config::{Config, Job};
use crate::facts::{
    ConnectFact, DnsFacts, DnsLookup, FACTS_VERSION, Facts, Family, HostFacts, HttpFact,
    ProbeOptions, Target,
};
use crate::reserved;
use futures_util::future::join_all;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

/// DNS: one lookup of A or AAAA, with the CNAME chain.
pub trait DnsProbe {
    fn lookup(&self, name: &str, family: Family) -> impl Future<Output = DnsLookup>;
    /// The resolver as the facts name it.
    fn describe(&self) -> String;
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

/// The host's own state; synchronous reads of /proc, netlink and sysctls.
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

/// The ports the CA connects to: 80 for http-01, 443 when port 80 redirects to HTTPS.
pub const PORTS: [u16; 2] = [80, 443];

/// Gathers every fact for one job. The host facts, the DNS lookups and then the per-address
/// probes run concurrently, so the wall time is that of the slowest chain, not the sum.
pub async fn gather<D, C, H, O>(
    config: &Config,
    job: &Job,
    dns: &D,
    tcp: &C,
    http: &H,
    host: std::sync::Arc<O>,
) -> Facts
where
    D: DnsProbe,
    C: ConnectProbe,
    H: HttpProbe,
    O: HostProbe,
{
    let started = Instant::now();
    let started_at = rfc3339(SystemTime::now());
    let host_task = tokio::task::spawn_blocking(move || host.host_facts());

    let dns_facts = if job.wildcard {
        // A wildcard with http-01 is settled by the name alone; the CA would not even offer
        // the challenge.
        None
    } else {
        let (a, aaaa) = tokio::join!(
            dns.lookup(&job.domain, Family::Ipv4),
            dns.lookup(&job.domain, Family::Ipv6)
        );
        Some(DnsFacts { a, aaaa })
    };

    let targets: Vec<IpAddr> = dns_facts
        .as_ref()
        .map(|d| {
            d.a.addresses
                .iter()
                .chain(&d.aaaa.addresses)
                .filter(|ip| config.allow_reserved || reserved::classify(ip).is_none())
                .copied()
                .collect()
        })
        .unwrap_or_default();

    let token_path = format!("/.well-known/acme-challenge/{}", challenge_token());
    let per_address = targets.iter().map(|ip| {
        let token_path = token_path.as_str();
        async move {
            let http_addr = SocketAddr::new(*ip, 80);
            let port80 = async {
                let fact = tcp.connect(http_addr, config.timeout).await;
                // The HTTP GET needs its own connection; only try it where TCP got through.
                let http_fact = if fact.outcome == crate::facts::ConnectOutcome::Connected {
                    Some(
                        http.get(&job.domain, http_addr, token_path, config.timeout)
                            .await,
                    )
                } else {
                    None
                };
                (fact, http_fact)
            };
            let port443 = tcp.connect(SocketAddr::new(*ip, 443), config.timeout);
            let ((c80, h80), c443) = tokio::join!(port80, port443);
            (vec![c80, c443], h80)
        }
    });
    let results = join_all(per_address).await;
    let mut connects = Vec::new();
    let mut http_facts = Vec::new();
    for (c, h) in results {
        connects.extend(c);
        http_facts.extend(h);
    }

    let host_facts = match host_task.await {
        Ok(h) => h,
        Err(e) => host::unknown_host_facts(&format!("host probe failed: {e}")),
    };

    Facts {
        facts_version: FACTS_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at,
        target: Target {
            domain: job.domain.clone(),
            input: job.input.clone(),
            wildcard: job.wildcard,
            method: config.method,
            resolver: dns.describe(),
        },
        options: ProbeOptions {
            timeout_ms: config.timeout.as_millis() as u64,
            allow_reserved: config.allow_reserved,
        },
        dns: dns_facts,
        connects,
        http: http_facts,
        host: host_facts,
        duration_ms: started.elapsed().as_millis() as u64,
    }
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

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_779_000);
        assert_eq!(rfc3339(t), "2026-11-27T11:30:00Z");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00Z");
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
