//! The firewall evaluator on real rulesets: `nft -j list ruleset` and `iptables-save` output
//! captured in the lab (inside the facts files under tests/fixtures/), evaluated for the CA's
//! new inbound SYN. Covers policies, jumps, returns, gotos, named sets, verdict maps, allow-lists
//! and rejects, for nftables, iptables-nft and iptables-legacy.

// Tests panic on purpose: a broken fixture or lab step should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use acme_doctor::diagnose::firewall::{model::Packet, model::Verdict, ruleset};
use acme_doctor::facts::Family;

fn rules(name: &str) -> acme_doctor::diagnose::firewall::model::Ruleset {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let run = acme_doctor::facts::from_json(value).unwrap().remove(0);
    let fw = run.host.firewall.expect("captured with firewall facts");
    let (rs, missing) = ruleset(&fw);
    assert!(missing.is_empty(), "{name}: {missing:?}");
    rs
}

fn syn(family: Family, dport: u16) -> Packet {
    Packet {
        family,
        saddr: None,
        daddr: match family {
            Family::Ipv4 => "192.0.2.10".parse().unwrap(),
            Family::Ipv6 => "2001:db8:2::10".parse().unwrap(),
        },
        dport,
        iif: Some("h0".into()),
    }
}

fn from(p: Packet, saddr: &str) -> Packet {
    Packet {
        saddr: Some(saddr.parse().unwrap()),
        ..p
    }
}

#[track_caller]
fn dropped_by(v: Verdict, needle: &str) {
    match v {
        Verdict::Drop { rule } | Verdict::Reject { rule, .. } => {
            assert!(rule.contains(needle), "{rule:?} lacks {needle:?}");
        }
        other => panic!("expected a drop by {needle:?}, got {other:?}"),
    }
}

#[test]
fn nft_drop_for_ipv6_only_spares_ipv4() {
    let rs = rules("fw-nft-drop-v6-host");
    dropped_by(
        rs.evaluate(&syn(Family::Ipv6, 80)),
        "meta nfproto ipv6 tcp dport 80 counter drop",
    );
    assert_eq!(rs.evaluate(&syn(Family::Ipv4, 80)), Verdict::Accept);
}

#[test]
fn nft_reject_with_reset_reads_as_refused_and_only_on_the_external_interface() {
    let rs = rules("fw-nft-reject-v4-host");
    assert!(
        matches!(rs.evaluate(&syn(Family::Ipv4, 80)), Verdict::Reject { refused: true, ref rule } if rule.contains("reject with tcp reset"))
    );
    let on_lo = Packet {
        iif: Some("lo".into()),
        ..syn(Family::Ipv4, 80)
    };
    assert_eq!(
        rs.evaluate(&on_lo),
        Verdict::Accept,
        "a self-probe over lo passes: why the firewall must be evaluated"
    );
}

#[test]
fn iptables_legacy_policy_drop_is_named_with_its_chain() {
    let rs = rules("fw-legacy-policy-drop-host");
    dropped_by(
        rs.evaluate(&syn(Family::Ipv4, 80)),
        "iptables-legacy (IPv4) filter INPUT: policy drop",
    );
    assert_eq!(rs.evaluate(&syn(Family::Ipv4, 22)), Verdict::Accept);
    assert_eq!(
        rs.evaluate(&syn(Family::Ipv6, 80)),
        Verdict::Accept,
        "legacy IPv4 rules do not touch IPv6"
    );
}

#[test]
fn ip6tables_nft_drop_on_the_external_interface() {
    let rs = rules("fw-ip6tables-drop-host");
    dropped_by(
        rs.evaluate(&syn(Family::Ipv6, 80)),
        "nft ip6 filter INPUT handle 2: meta iifname h0 tcp dport 80",
    );
    assert_eq!(rs.evaluate(&syn(Family::Ipv4, 80)), Verdict::Accept);
    assert_eq!(
        rs.evaluate(&Packet {
            iif: Some("lo".into()),
            ..syn(Family::Ipv6, 80)
        }),
        Verdict::Accept
    );
}

#[test]
fn an_allow_list_admits_its_prefixes_only() {
    let rs = rules("fw-allowlist-host");
    dropped_by(rs.evaluate(&syn(Family::Ipv4, 80)), "policy drop");
    assert_eq!(
        rs.evaluate(&from(syn(Family::Ipv4, 80), "198.51.100.7")),
        Verdict::Accept
    );
    assert_eq!(
        rs.evaluate(&from(syn(Family::Ipv6, 80), "2001:db8:51::7")),
        Verdict::Accept
    );
    assert_eq!(
        rs.source_networks(Family::Ipv4),
        vec!["198.51.100.0/24".parse().unwrap()]
    );
}

#[test]
fn firewalld_style_zone_chains_reject_with_admin_prohibited() {
    let rs = rules("fw-firewalld-style-host");
    assert_eq!(rs.managers, ["firewalld"]);
    match rs.evaluate(&syn(Family::Ipv4, 80)) {
        Verdict::Reject { rule, refused } => {
            assert!(!refused, "admin-prohibited is not a refusal");
            assert!(rule.contains("admin-prohibited"), "{rule}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        rs.evaluate(&syn(Family::Ipv4, 22)),
        Verdict::Accept,
        "through five jumps into the allow chain"
    );
}

#[test]
fn ufw_style_chains_return_and_fall_to_the_policy() {
    let rs = rules("fw-ufw-style-host");
    assert!(rs.managers.iter().any(|m| m == "ufw"));
    dropped_by(rs.evaluate(&syn(Family::Ipv4, 80)), "policy drop");
    assert_eq!(
        rs.evaluate(&syn(Family::Ipv4, 22)),
        Verdict::Accept,
        "via ufw-not-local's RETURN and ufw-user-input"
    );
}

#[test]
fn sets_verdict_maps_jumps_and_returns_accept_what_they_should() {
    let rs = rules("fw-nft-rich-accept-host");
    assert_eq!(
        rs.evaluate(&syn(Family::Ipv4, 80)),
        Verdict::Accept,
        "audit returns early for 80, then the set accepts"
    );
    assert_eq!(
        rs.evaluate(&syn(Family::Ipv4, 443)),
        Verdict::Accept,
        "named set"
    );
    assert_eq!(rs.evaluate(&syn(Family::Ipv6, 80)), Verdict::Accept);
    dropped_by(rs.evaluate(&syn(Family::Ipv4, 8080)), "policy drop");
    dropped_by(
        rs.evaluate(&from(syn(Family::Ipv4, 80), "203.0.113.9")),
        "@blocked",
    );
}
