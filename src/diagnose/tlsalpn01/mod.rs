//! TLS-ALPN-01, the method (`docs/ca-behaviour.md` §3): the CA's verdict on the handshakes
//! ([`verdict`], pure and apart from any finding) and the checks that word it. The registry
//! composes them with the shared checks under `checks/` (addresses, host, listener, firewall,
//! reachability on port 443) for `Method::TlsAlpn01`.

pub mod handshake;
pub mod responder;
pub mod verdict;
