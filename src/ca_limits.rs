//! The CA's limits on what it reads from a server, as numbers. A leaf shared by `probe/`
//! (which must read at least as much, so that its own limits are never mistaken for the
//! server's fault) and `diagnose/` (which judges by them; `diagnose::ca` re-exports them).
//! Imports nothing.

/// Boulder reads the challenge body through a 128-byte limit (`maxResponseSize`); a body that
/// fills it fails, so the CA accepts at most 127 bytes (`docs/ca-behaviour.md` §2.7).
pub const MAX_RESPONSE_BODY: usize = 128;

/// The largest response head (status line and header lines) the CA's HTTP client reads:
/// Go's `net/http` default when `Transport.MaxResponseHeaderBytes` is unset, a byte cap with
/// no limit on the number of header lines (`docs/ca-behaviour.md` §2.10).
pub const MAX_RESPONSE_HEADER_BYTES: usize = 10 << 20;

/// The time the CA gives one HTTP-01 fetch, redirects and dial timeouts included: the RA→VA
/// budget of about 90 s less the 200 ms Boulder keeps (`docs/ca-behaviour.md` §1.1, §2.4).
/// A walk that needs longer (dead IPv6 dials at 10 s each) fails even where IPv4 works.
pub const VALIDATION_DEADLINE_MS: u64 = 90_000 - 200;

/// The User-Agent of Let's Encrypt's validation servers in production, as third-party logs
/// show it (not in Boulder's source: `docs/ca-behaviour.md` §2.3). WAF and bot rules key on
/// it, so every perspective's challenge GET sends it as the CA's.
pub const VALIDATION_USER_AGENT: &str =
    "Mozilla/5.0 (compatible; Let's Encrypt validation server; +https://www.letsencrypt.org)";
