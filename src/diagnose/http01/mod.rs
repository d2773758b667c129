//! HTTP-01, the method (`docs/ca-behaviour.md` §2): its own checks live here, and the
//! registry composes them with the shared checks under `checks/` (addresses, host, listener,
//! firewall, reachability) for `Method::Http01`. What several of them read is in modules that
//! are no check: `judge` (the CA's judgement of one answer), `walk` (the CA's walk, hop by
//! hop), `who` (who answered) and `perspective` (what each perspective got, compared by
//! User-Agent and by source).

pub mod answer;
pub mod front;
pub mod judge;
pub mod path;
pub mod perspective;
pub mod token;
pub mod walk;
pub mod webconf;
pub mod who;
pub mod wildcard;
