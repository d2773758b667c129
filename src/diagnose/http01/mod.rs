//! HTTP-01, the method (`docs/ca-behaviour.md` §2): its own checks live here, and the
//! registry composes them with the shared checks under `checks/` (addresses, host, listener,
//! firewall, reachability) for `Method::Http01`.

pub mod answer;
pub mod front;
pub mod judge;
pub mod path;
pub mod token;
pub mod webconf;
pub mod who;
pub mod wildcard;
