//! acme-doctor: why did my ACME validation fail?
//!
//! The pipeline is the module layout:
//! [`cli`] (args → validated [`config::Config`]) → [`probe`] (all I/O) → [`facts`] (serde) →
//! [`diagnose`] (pure rules, ranking) → [`render`] (human, JSON, Markdown report).
//! [`firewall`] is the packet-filter simulator `diagnose` asks: pure, like it.

pub mod ca_limits;
pub mod catalogue;
pub mod cdn;
pub mod cli;
pub mod config;
pub mod diagnose;
pub mod domain;
pub mod exit;
pub mod facts;
pub mod firewall;
#[doc(hidden)]
pub mod fuzzing;
pub mod keyauth;
pub mod probe;
pub mod redirect;
pub mod render;
pub mod reserved;
pub mod sanitize;
pub mod serve;
pub mod timefmt;
pub mod webconf;
