//! The connects every method that dials shares: one TCP connect per (address, port), made once
//! per run however many names resolve to the address, under a per-address budget. The
//! method's own probes (HTTP-01's GETs, TLS-ALPN-01's handshakes) come after, where the
//! connect got through.

use super::ConnectProbe;
use crate::facts::{ConnectFact, DnsFacts};
use crate::reserved;
use futures_util::future::join_all;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Connections one run keeps open to one address at most: many names on one server must not
/// exhaust its connection slots and then read as its fault.
pub const PER_ADDRESS: usize = 6;

/// The run's per-address connection budget.
#[derive(Default)]
pub struct Limits {
    per_address: std::sync::Mutex<HashMap<IpAddr, Arc<Semaphore>>>,
}

impl Limits {
    pub(crate) fn of(&self, ip: IpAddr) -> Arc<Semaphore> {
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
                if fact.outcome.is_own_limit() {
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

/// The addresses the CA would dial: reserved ones are dropped as the CA drops them.
pub fn targets(dns: Option<&DnsFacts>, allow_reserved: bool) -> Vec<IpAddr> {
    dns.map(|d| {
        let answers: Vec<IpAddr> =
            d.a.addresses
                .iter()
                .chain(&d.aaaa.addresses)
                .copied()
                .collect();
        usable(&answers, allow_reserved)
    })
    .unwrap_or_default()
}

/// `addresses` without the reserved ones, unless `allow_reserved`.
pub fn usable(addresses: &[IpAddr], allow_reserved: bool) -> Vec<IpAddr> {
    addresses
        .iter()
        .filter(|ip| allow_reserved || reserved::classify(ip).is_none())
        .copied()
        .collect()
}

/// The connect to every address on every port, in address order then port order, each under
/// the address's budget and made once per run.
pub async fn connect_all<C: ConnectProbe>(
    targets: &[IpAddr],
    ports: &[u16],
    tcp: &C,
    limits: &Limits,
    connects: &Connects,
    timeout: std::time::Duration,
) -> Vec<ConnectFact> {
    let per_address = targets.iter().map(|ip| async move {
        // The timeouts start once a slot is free: waiting here is this tool's queue.
        let budget = limits.of(*ip);
        let _slot = budget.acquire().await;
        join_all(
            ports
                .iter()
                .map(|port| connects.connect(tcp, SocketAddr::new(*ip, *port), timeout)),
        )
        .await
    });
    join_all(per_address).await.into_iter().flatten().collect()
}
