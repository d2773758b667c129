//! DNS-01, the method (`docs/ca-behaviour.md` §4): the TXT record at `_acme-challenge.<name>`,
//! as the CA's resolver and every authoritative server give it. The registry composes it with
//! the shared DNS checks (CAA, DNSSEC, the authoritative view); DNS-01 connects nowhere, so the
//! address, host, listener, firewall and reachability checks do not apply.

pub mod txt;
