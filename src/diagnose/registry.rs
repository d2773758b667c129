//! Every check, with the codes it emits and the methods it applies to. Adding a check is one
//! line here; adding a method is one `Method` variant and the lines of the checks it composes.

use super::check::CheckDef;
use super::{Context, Finding, checks, dns01, http01, method_assumed, origin, rank, tlsalpn01};
use crate::facts::Method;

/// In the order the CA meets the problems: the name, the host, the path, the answer.
pub const REGISTRY: &[CheckDef] = &[
    http01::wildcard::CHECK,
    checks::identifier::CHECK,
    checks::dnssec::CHECK,
    checks::addresses::CHECK,
    dns01::txt::CHECK,
    checks::authoritative::CHECK,
    checks::host::CHECK,
    checks::listener::CHECK,
    checks::standalone::CHECK,
    // Issue 19 item 4: a certbot lineage certbot refuses to renew.
    checks::lineage::CHECK,
    checks::entrypoint::CHECK,
    checks::containers::CHECK,
    checks::firewall::CHECK,
    checks::reachability::CHECK,
    checks::outside::CHECK,
    tlsalpn01::handshake::CHECK,
    http01::front::CHECK,
    http01::webconf::CHECK,
    // Issue 20 item 6: Traefik's router for the challenge.
    checks::traefik::CHECK,
    http01::answer::CHECK,
    http01::path::CHECK,
    http01::token::CHECK,
    checks::caa::CHECK,
    // Issue 19 item 1: a --ca-check that could not publish.
    checks::check_refused::CHECK,
    // Issue 19: what the CA itself said (--ca-check, --ca-error, clients' logs).
    super::ca::join::CHECK,
];

/// A step over the findings of every check, after them: a cross-check policy that needs to
/// see what the checks found together (a fallback that demotes, the CA's predicted words).
pub struct PassDef {
    pub name: &'static str,
    pub methods: &'static [Method],
    pub run: fn(&Context, &mut Vec<Finding>),
}

/// In order: the CA's fallback first (it changes severities), then the words the CA's walk
/// predicts, then the standalone client's expected refusals, then where each finding was seen.
pub const PASSES: &[PassDef] = &[
    // Issue 20 item 4: a self-probe that came back through a hairpin is no evidence of the
    // CA's path; labelled and ranked before any pass reads severities or adds the CA's words.
    PassDef {
        name: "seen-through-the-hairpin",
        methods: &[Method::Http01, Method::TlsAlpn01],
        run: |cx, findings| super::hairpin::label(cx, findings),
    },
    PassDef {
        name: "ipv4-is-only-the-fallback",
        methods: &[Method::Http01, Method::TlsAlpn01],
        run: |cx, findings| rank::ipv4_is_only_the_fallback(cx, findings),
    },
    PassDef {
        name: "predict-the-ca-words",
        methods: &[Method::Http01],
        run: |cx, findings| http01::path::predict(cx, findings),
    },
    PassDef {
        name: "standalone-between-runs",
        methods: &[Method::Http01, Method::TlsAlpn01],
        run: |_, findings| checks::standalone::between_runs(findings),
    },
    // Issue 19: the CA's own words, joined once every other finding is known.
    PassDef {
        name: "the-ca-said-joined",
        methods: &[Method::Http01, Method::Dns01, Method::TlsAlpn01],
        run: |cx, findings| super::ca::join::join(cx, findings),
    },
    PassDef {
        name: "origin",
        methods: &[Method::Http01, Method::Dns01, Method::TlsAlpn01],
        run: |cx, findings| origin::annotate(cx, findings),
    },
    // Issue 20 item 4: a closed port judged by an assumed http-01 says so.
    PassDef {
        name: "method-assumed",
        methods: &[Method::Http01],
        run: |cx, findings| method_assumed::annotate(cx, findings),
    },
];

/// The passes that apply to `method`, in order.
pub fn passes_for(method: Method) -> impl Iterator<Item = &'static PassDef> {
    PASSES.iter().filter(move |p| p.methods.contains(&method))
}

/// The checks that apply to `method`.
pub fn for_method(method: Method) -> impl Iterator<Item = &'static CheckDef> {
    REGISTRY.iter().filter(move |c| c.methods.contains(&method))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::Code;

    #[test]
    fn every_code_is_emitted_by_exactly_one_check() {
        for code in Code::ALL {
            let owners: Vec<&str> = REGISTRY
                .iter()
                .filter(|c| c.codes.contains(code))
                .map(|c| c.name)
                .collect();
            assert_eq!(owners.len(), 1, "{code} is declared by {owners:?}");
        }
    }

    #[test]
    fn every_method_has_checks_and_names_are_unique() {
        for method in Method::ALL {
            assert!(for_method(*method).count() > 0, "{}", method.as_str());
        }
        let mut names: Vec<&str> = REGISTRY
            .iter()
            .map(|c| c.name)
            .chain(PASSES.iter().map(|p| p.name))
            .collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), REGISTRY.len() + PASSES.len());
    }
}
