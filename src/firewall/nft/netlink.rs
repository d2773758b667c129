//! The kernel's own bytecode for the nft ruleset (`nft --debug=netlink list ruleset`): what
//! the listing hides. With nftables 1.0.6 the `meta nfproto` match of an inet rule can be
//! missing from the listing (text and JSON); the bytecode still compares it.

use crate::facts::Family;
use crate::firewall::model::{Cond, Match, Rule};
use serde_json::Value;
use std::collections::HashMap;

/// Inet rules' families as the kernel holds them, by table, chain and handle: `Some` where the
/// bytecode compares `meta nfproto`, `None` where it does not.
pub type KernelFamilies = HashMap<(String, String, u64), Option<Family>>;

/// Reads `nft --debug=netlink list ruleset`: each rule is a header line
/// `FAMILY TABLE CHAIN HANDLE [POSITION]` followed by its expressions, one per line
/// (`  [ meta load nfproto => reg 1 ]`, `  [ cmp eq reg 1 0x00000002 ]`). Only inet rules
/// are kept; NFPROTO_IPV4 is 2, NFPROTO_IPV6 10.
pub fn kernel_families(netlink: &str) -> KernelFamilies {
    let mut out = KernelFamilies::new();
    let mut current: Option<(String, String, u64)> = None;
    let mut nfproto_reg: Option<String> = None;
    for line in netlink.lines() {
        let trimmed = line.trim();
        if let Some(expr) = trimmed.strip_prefix('[').and_then(|e| e.strip_suffix(']')) {
            let Some(key) = &current else { continue };
            let words: Vec<&str> = expr.split_whitespace().collect();
            match words.as_slice() {
                ["meta", "load", "nfproto", "=>", "reg", r] => {
                    nfproto_reg = Some((*r).to_string());
                    continue;
                }
                ["cmp", op @ ("eq" | "neq"), "reg", r, value, ..]
                    if nfproto_reg.as_deref() == Some(*r) =>
                {
                    let proto = u32::from_str_radix(value.trim_start_matches("0x"), 16)
                        .ok()
                        .map(|v| if v > 0xff { v >> 24 } else { v });
                    let family = match (proto, *op) {
                        (Some(2), "eq") | (Some(10), "neq") => Some(Family::Ipv4),
                        (Some(10), "eq") | (Some(2), "neq") => Some(Family::Ipv6),
                        _ => None,
                    };
                    if let (Some(f), Some(slot)) = (family, out.get_mut(key)) {
                        slot.get_or_insert(f);
                    }
                }
                _ => {}
            }
            nfproto_reg = None;
            continue;
        }
        nfproto_reg = None;
        current = None;
        if line.starts_with(char::is_whitespace) {
            continue;
        }
        let words: Vec<&str> = trimmed.split_whitespace().collect();
        if let ["inet", table, chain, handle, ..] = words.as_slice()
            && let Ok(handle) = handle.parse::<u64>()
        {
            let key = ((*table).to_string(), (*chain).to_string(), handle);
            out.insert(key.clone(), None);
            current = Some(key);
        }
    }
    out
}

/// The family a rule of a table for both families (`inet`) matches, where its listing may not
/// say: `reject with icmp` implies IPv4; otherwise the kernel's bytecode
/// (`nft --debug=netlink list ruleset`) shows a `meta nfproto` match the listing dropped. With
/// nftables 1.0.6, `meta nfproto ipv4 tcp dport 80 reject with tcp reset` lists as
/// `tcp dport 80 reject with tcp reset`; without the bytecode such a rule is undecidable, not a
/// drop of both families.
pub(super) fn family_from_kernel(
    family: &str,
    table: &str,
    kernel: Option<&KernelFamilies>,
    item: &Value,
    rule: &mut Rule,
    reject_family: Option<Family>,
    tcp_reset: bool,
) {
    if family != "inet"
        || rule
            .matches
            .iter()
            .any(|m| matches!(m.cond, Cond::NfProto(_)))
    {
        return;
    }
    let from_kernel = || {
        let key = (
            table.to_string(),
            item["chain"].as_str().unwrap_or("").to_string(),
            item["handle"].as_u64()?,
        );
        kernel?.get(&key).copied().flatten()
    };
    let implied = match reject_family {
        Some(f) => Some(f),
        None => {
            let kernel = from_kernel();
            if let Some(f) = kernel {
                // Say so where people read the rule: its listing does not show it.
                rule.at.text.push_str(&format!(
                    " (the kernel's bytecode also matches meta nfproto {})",
                    match f {
                        Family::Ipv4 => "ipv4",
                        Family::Ipv6 => "ipv6",
                    }
                ));
            }
            kernel
        }
    };
    if let Some(family) = implied {
        rule.matches.insert(
            0,
            Match {
                cond: Cond::NfProto(family),
                negated: false,
            },
        );
        return;
    }
    let seen = item["handle"].as_u64().is_some_and(|h| {
        kernel.is_some_and(|k| {
            k.contains_key(&(
                table.to_string(),
                item["chain"].as_str().unwrap_or("").to_string(),
                h,
            ))
        })
    });
    if tcp_reset && !seen {
        rule.matches.push(Match {
            cond: Cond::Unknown(
                "`reject with tcp reset` in an inet table without a visible family match: nft's listing can hide one (nftables 1.0.6), and the kernel's bytecode (nft --debug=netlink list ruleset) was not read"
                    .into(),
            ),
            negated: false,
        });
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// `nft --debug=netlink list ruleset` from nftables 1.0.6 for the rules of
    /// `reject_families_come_from_the_kernel_where_the_listing_hides_them` (`json.rs`).
    pub(crate) const ELIDED_NETLINK: &str = "inet t input 2
  [ meta load nfproto => reg 1 ]
  [ cmp eq reg 1 0x00000002 ]
  [ meta load l4proto => reg 1 ]
  [ cmp eq reg 1 0x00000006 ]
  [ payload load 2b @ transport header + 2 => reg 1 ]
  [ cmp eq reg 1 0x00005000 ]
  [ reject type 1 code 0 ]

inet t input 3 2
  [ meta load l4proto => reg 1 ]
  [ cmp eq reg 1 0x00000006 ]
  [ payload load 2b @ transport header + 2 => reg 1 ]
  [ cmp eq reg 1 0x00005100 ]
  [ reject type 1 code 0 ]

table inet t {
	chain input {
		type filter hook input priority filter; policy accept;
		tcp dport 80 reject with tcp reset
		tcp dport 81 reject with tcp reset
	}
}
";

    #[test]
    fn the_bytecode_says_which_inet_rules_compare_the_family() {
        let families = kernel_families(ELIDED_NETLINK);
        assert_eq!(
            families.get(&("t".into(), "input".into(), 2)),
            Some(&Some(Family::Ipv4))
        );
        assert_eq!(families.get(&("t".into(), "input".into(), 3)), Some(&None));
    }
}
