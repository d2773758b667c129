//! One condition of a rule judged for the CA's packet, on anything but the source address
//! (which the evaluator splits on instead): three-valued, so a match acme-doctor does not
//! model makes its rule undecidable, never a guessed verdict.

use super::model::{Cond, Hook, Packet, Stage};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tri {
    Yes,
    No,
    Unknown(String),
}

fn iface_matches(pattern: &str, name: &str) -> bool {
    match pattern
        .strip_suffix('*')
        .or_else(|| pattern.strip_suffix('+'))
    {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// A condition on anything but the source address (which evaluation splits on instead), at
/// `hook`, for the packet of the connection `stage` names.
pub(super) fn eval_static(
    cond: &Cond,
    p: &Packet,
    hook: Hook,
    oif: Option<&str>,
    stage: Stage,
) -> Tri {
    let yes = |b: bool| if b { Tri::Yes } else { Tri::No };
    match cond {
        Cond::L4Proto(names) => yes(names.iter().any(|n| n == "tcp" || n == "all" || n == "6")),
        Cond::DPort(ports) => yes(ports.contains(p.dport)),
        // Never asked: callers split on the source. Holding keeps the rule's other matches
        // decisive if one ever is.
        Cond::SAddr(_) => Tri::Yes,
        Cond::DAddr(nets) => yes(nets.contains(&p.daddr)),
        Cond::Iif(names) => match &p.iif {
            Some(iif) => yes(names.iter().any(|pat| iface_matches(pat, iif))),
            None => Tri::Unknown("the inbound interface is unknown".into()),
        },
        // Conntrack runs after ingress: what `ct state` says there is not modelled.
        Cond::CtState(_) if hook == Hook::Ingress => Tri::Unknown(
            "`ct state` at the ingress hook, before conntrack has seen the packet".into(),
        ),
        // The request travels on a connection conntrack has seen both ways.
        Cond::CtState(states) if stage == Stage::Request => {
            yes(states.iter().any(|s| s.eq_ignore_ascii_case("established")))
        }
        // After a DNAT (the forward path to a container) `ct status dnat` holds: firewalld
        // accepts such connections in its forward chain.
        Cond::CtState(states) => yes(states
            .iter()
            .any(|s| s.eq_ignore_ascii_case("new") || (hook == Hook::Forward && s == "dnat"))),
        Cond::NfProto(f) => yes(*f == p.family),
        Cond::AddrType { dst, types, on_iif } => addr_type(*dst, types, *on_iif),
        Cond::PktType(kinds) => yes(kinds
            .iter()
            .any(|k| k.eq_ignore_ascii_case("unicast") || k.eq_ignore_ascii_case("host"))),
        Cond::Rpf { strict, fails } => match (strict, &p.iif, &p.return_iif) {
            (true, Some(iif), Some(back)) => yes((iif != back) == *fails),
            (false, _, Some(_)) => yes(!*fails),
            _ => Tri::Unknown(
                "a reverse-path check, and the route back to the source is unknown".into(),
            ),
        },
        // The CA's first packet is a bare SYN; its request rides on ACK|PSH.
        Cond::TcpFlags { mask, comp } => yes(match stage {
            Stage::Syn => TCP_SYN,
            Stage::Request => TCP_ACK | TCP_PSH,
        } & mask
            == *comp),
        Cond::Length { min, max } => {
            let (lo, hi) = stage.length(p.family);
            if lo >= *min && hi <= *max {
                Tri::Yes
            } else if hi < *min || lo > *max {
                Tri::No
            } else {
                Tri::Unknown(format!(
                    "a length match ({min}-{max} bytes) and the CA's request is {lo}-{hi} bytes long"
                ))
            }
        }
        Cond::Payload(text) => match stage {
            Stage::Syn => Tri::No,
            Stage::Request => Tri::Unknown(format!(
                "a payload match `{text}`: what the CA's request carries is not compared"
            )),
        },
        Cond::Holds(holds, _) => yes(*holds),
        // On the forward path the destination is the container's address, not a local one.
        Cond::DstLocal => yes(hook != Hook::Forward),
        Cond::Oif(names) => match oif {
            Some(oif) if hook == Hook::Forward => {
                yes(names.iter().any(|pat| iface_matches(pat, oif)))
            }
            Some(_) => Tri::Unknown("an output interface match before routing".into()),
            None => Tri::Unknown("the output interface is unknown".into()),
        },
        Cond::Unknown(text) => Tri::Unknown(format!("cannot evaluate `{text}`")),
    }
}

/// The SYN bit, as `--tcp-flags` and nft number TCP flags.
pub const TCP_SYN: u8 = 0x02;
pub const TCP_PSH: u8 = 0x08;
pub const TCP_ACK: u8 = 0x10;

/// What the kernel's route lookup says of the CA's addresses: the destination is one of the
/// host's own (`local`), the source a public `unicast` address. Every other type (broadcast,
/// multicast, anycast, blackhole…) is neither. Looked up on the inbound interface alone, the
/// destination's type depends on which interface holds it, which the packet does not say.
fn addr_type(dst: bool, types: &[String], on_iif: bool) -> Tri {
    let has = |t: &str| types.iter().any(|x| x.eq_ignore_ascii_case(t));
    match (dst, on_iif) {
        (true, true) if has("local") || has("unicast") => Tri::Unknown(
            "an address-type match limited to the inbound interface (`--limit-iface-in`, `fib daddr . iif`)"
                .into(),
        ),
        (true, _) => {
            if has("local") {
                Tri::Yes
            } else {
                Tri::No
            }
        }
        (false, _) => {
            if has("unicast") {
                Tri::Yes
            } else {
                Tri::No
            }
        }
    }
}
