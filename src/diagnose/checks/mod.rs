//! Checks shared by the methods: the name's addresses, the host, its listeners and firewall,
//! and reachability. Each module declares its codes and methods in a `CHECK` and keeps
//! detection (`detect`) apart from wording (`word`).

pub mod addresses;
pub mod authoritative;
pub mod caa;
pub mod check_refused;
pub mod containers;
pub mod dnssec;
pub mod entrypoint;
pub mod firewall;
pub mod host;
pub mod identifier;
pub mod lineage;
pub mod listener;
pub mod outside;
pub mod reachability;
pub mod standalone;
pub mod traefik;
