//! TCP connect facts: one socket per attempt, created with socket2 so that "this kernel has
//! no IPv6" (EAFNOSUPPORT at socket()) is told apart from failures of the connect itself.

use super::ConnectProbe;
use crate::facts::{ConnectFact, ConnectOutcome};
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub struct SocketConnect;

/// Classifies a connect error the way the CA's messages distinguish them
/// (`docs/ca-behaviour.md` §2.8): refused, host or network unreachable, family not supported, other.
pub fn classify(err: &io::Error) -> ConnectOutcome {
    match err.raw_os_error() {
        Some(nix::libc::ECONNREFUSED) => ConnectOutcome::Refused,
        Some(nix::libc::EHOSTUNREACH) => ConnectOutcome::HostUnreachable,
        // EADDRNOTAVAIL: no local address of that family to send from (IPv6 switched off);
        // for the prober that is the same as having no route. (Out of local ports is told
        // apart before this, by `ports_exhausted`.)
        Some(nix::libc::ENETUNREACH) | Some(nix::libc::EADDRNOTAVAIL) => {
            ConnectOutcome::NetworkUnreachable
        }
        Some(nix::libc::EAFNOSUPPORT) => ConnectOutcome::FamilyNotSupported,
        Some(nix::libc::ETIMEDOUT) => ConnectOutcome::Timeout,
        errno => ConnectOutcome::Other {
            errno,
            message: err.kind().to_string(),
        },
    }
}

/// Whether an EADDRNOTAVAIL from a connect to `addr` means this machine is out of ephemeral
/// ports for it, rather than without a source address of that family (IPv6 switched off).
/// A UDP "connect" looks up the route and the source address and takes no port of TCP's: when
/// it finds both, the TCP failure was the ports, a limit of this machine, not the server's.
pub fn ports_exhausted(addr: SocketAddr) -> bool {
    let local: SocketAddr = if addr.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    std::net::UdpSocket::bind(local)
        .and_then(|socket| socket.connect(addr))
        .is_ok()
}

/// The source address this machine's routing picks for a connection to `addr`: a UDP
/// "connect" looks up the route and sends nothing. `None` without a route.
pub fn route_source(addr: SocketAddr) -> Option<std::net::IpAddr> {
    let local: SocketAddr = if addr.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = std::net::UdpSocket::bind(local).ok()?;
    socket.connect(addr).ok()?;
    socket.local_addr().ok().map(|a| a.ip())
}

async fn attempt(addr: SocketAddr) -> io::Result<()> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    let std_stream: std::net::TcpStream = socket.into();
    let tokio_socket = tokio::net::TcpSocket::from_std_stream(std_stream);
    let stream = tokio_socket.connect(addr).await?;
    // Close at once: the probe only asks whether the handshake completes.
    drop(stream);
    Ok(())
}

impl ConnectProbe for SocketConnect {
    async fn connect(&self, addr: SocketAddr, timeout: Duration) -> ConnectFact {
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + timeout;
        let outcome = loop {
            let outcome = match tokio::time::timeout_at(deadline, attempt(addr)).await {
                Err(_) => ConnectOutcome::Timeout,
                Ok(Ok(())) => ConnectOutcome::Connected,
                Ok(Err(e))
                    if e.raw_os_error() == Some(nix::libc::EADDRNOTAVAIL)
                        && ports_exhausted(addr) =>
                {
                    ConnectOutcome::LocalPortsExhausted
                }
                Ok(Err(e)) => classify(&e),
            };
            // Out of descriptors or local ports here is this tool's limit, not the server's
            // answer: wait for the batch's other probes to free some (TIME_WAIT ends), within
            // the same deadline.
            let own = outcome.is_own_limit();
            if !own || tokio::time::Instant::now() + super::OWN_LIMIT_PAUSE >= deadline {
                break outcome;
            }
            tokio::time::sleep(super::OWN_LIMIT_PAUSE).await;
        };
        ConnectFact {
            address: addr.ip(),
            port: addr.port(),
            outcome,
            elapsed_ms: started.elapsed().as_millis() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errnos_map_to_the_ca_vocabulary() {
        let e = |n| io::Error::from_raw_os_error(n);
        assert_eq!(
            classify(&e(nix::libc::ECONNREFUSED)),
            ConnectOutcome::Refused
        );
        assert_eq!(
            classify(&e(nix::libc::EHOSTUNREACH)),
            ConnectOutcome::HostUnreachable
        );
        assert_eq!(
            classify(&e(nix::libc::ENETUNREACH)),
            ConnectOutcome::NetworkUnreachable
        );
        assert_eq!(
            classify(&e(nix::libc::EAFNOSUPPORT)),
            ConnectOutcome::FamilyNotSupported
        );
        assert!(matches!(
            classify(&e(nix::libc::EPERM)),
            ConnectOutcome::Other { errno: Some(1), .. }
        ));
    }

    #[test]
    fn an_own_limit_is_told_from_the_servers_answers() {
        let other = |errno| ConnectOutcome::Other {
            errno: Some(errno),
            message: String::new(),
        };
        assert!(ConnectOutcome::LocalPortsExhausted.is_own_limit());
        assert!(other(nix::libc::EMFILE).is_own_limit());
        // What older versions recorded for any EADDRNOTAVAIL (IPv6 switched off, too).
        assert!(!other(nix::libc::EADDRNOTAVAIL).is_own_limit());
        assert!(!other(nix::libc::EPERM).is_own_limit());
        assert!(!ConnectOutcome::NetworkUnreachable.is_own_limit());
        assert!(!ConnectOutcome::Timeout.is_own_limit());
        // Loopback has a route and a source address: EADDRNOTAVAIL to it can only be ports.
        assert!(ports_exhausted(SocketAddr::from(([127, 0, 0, 1], 80))));
    }

    #[tokio::test]
    async fn a_closed_loopback_port_is_refused_quickly() {
        // Bind then drop to find a port that nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let fact = SocketConnect
            .connect(
                SocketAddr::from(([127, 0, 0, 1], port)),
                Duration::from_secs(2),
            )
            .await;
        assert_eq!(fact.outcome, ConnectOutcome::Refused);
    }

    #[tokio::test]
    async fn a_listening_loopback_port_connects() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let fact = SocketConnect.connect(addr, Duration::from_secs(2)).await;
        assert_eq!(fact.outcome, ConnectOutcome::Connected);
    }
}
