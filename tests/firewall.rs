//! The firewall evaluator on real rulesets: `nft -j list ruleset` and `iptables-save` output
//! captured in the lab (inside the facts files under tests/fixtures/), evaluated for the CA's
//! new inbound SYN. Covers policies, jumps, returns, gotos, named sets, verdict maps, allow-lists
//! and rejects, for nftables, iptables-nft and iptables-legacy.

// Tests panic on purpose: a broken fixture or lab step should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use acme_doctor::facts::Family;
use acme_doctor::firewall::{model::Packet, model::Verdict, ruleset};

fn firewall_facts(name: &str) -> acme_doctor::facts::FirewallFacts {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let run = acme_doctor::facts::from_json(value).unwrap().remove(0);
    run.host.firewall.expect("captured with firewall facts")
}

fn rules(name: &str) -> model::Ruleset {
    let fw = firewall_facts(name);
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
        return_iif: Some("h0".into()),
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
        rs.accepted_sources(&syn(Family::Ipv4, 80)),
        Some(vec!["198.51.100.0/24".parse().unwrap()])
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

// Hostile shapes: each used to take seconds to minutes, or memory without bound.
// They assert on the verdict and the work counter, never on time.

use acme_doctor::facts::IptablesBackend;
use acme_doctor::firewall::{eval, iptables, model, nft};

/// `levels` chains, each jumping `width` times to the next; the last accepts port 22 only,
/// and INPUT's policy drops. Without memoised chain results this is width^levels walks.
fn fan_out_dump(levels: usize, width: usize) -> String {
    let mut dump = String::from("*filter\n:INPUT DROP [0:0]\n");
    for l in 0..levels {
        dump.push_str(&format!(":c{l} - [0:0]\n"));
    }
    dump.push_str("-A INPUT -j c0\n");
    for l in 0..levels - 1 {
        for _ in 0..width {
            dump.push_str(&format!("-A c{l} -j c{}\n", l + 1));
        }
    }
    dump.push_str(&format!(
        "-A c{} -p tcp --dport 22 -j ACCEPT\nCOMMIT\n",
        levels - 1
    ));
    dump
}

#[test]
fn a_30_level_fan_out_is_linear_not_exponential() {
    let rs = iptables::ruleset(&fan_out_dump(30, 3), Family::Ipv4, IptablesBackend::Legacy);
    let (verdict, work) = rs.evaluate_counted(&syn(Family::Ipv4, 80), eval::WORK_BUDGET);
    dropped_by(verdict, "policy drop");
    assert!(work < 1_000, "{work} steps for 93 rules");
    let (verdict, _) = rs.evaluate_counted(&syn(Family::Ipv4, 22), eval::WORK_BUDGET);
    assert_eq!(verdict, Verdict::Accept);
    // The allow-list walk (sources left open) is memoised the same way.
    let (allowed, work) = rs.accepted_sources_counted(&syn(Family::Ipv4, 80), eval::WORK_BUDGET);
    assert_eq!(allowed, Some(vec![]));
    assert!(work < 1_000, "{work} steps");
}

#[test]
fn a_thousand_jumps_per_level_over_three_levels_is_linear() {
    let rs = iptables::ruleset(
        &fan_out_dump(3, 1_000),
        Family::Ipv4,
        IptablesBackend::Legacy,
    );
    let (verdict, work) = rs.evaluate_counted(&syn(Family::Ipv4, 80), eval::WORK_BUDGET);
    dropped_by(verdict, "policy drop");
    assert!(work < 10_000, "{work} steps for 2,001 rules");
}

#[test]
fn nft_fan_out_is_linear_too() {
    let mut items = vec![
        r#"{"chain": {"family": "inet", "table": "t", "name": "input", "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}}"#.to_string(),
        r#"{"rule": {"family": "inet", "table": "t", "chain": "input", "expr": [{"jump": {"target": "c0"}}]}}"#.to_string(),
    ];
    for l in 0..30 {
        items.push(format!(
            r#"{{"chain": {{"family": "inet", "table": "t", "name": "c{l}"}}}}"#
        ));
        for _ in 0..3 {
            if l < 29 {
                items.push(format!(
                    r#"{{"rule": {{"family": "inet", "table": "t", "chain": "c{l}", "expr": [{{"jump": {{"target": "c{}"}}}}]}}}}"#,
                    l + 1
                ));
            }
        }
    }
    let json: serde_json::Value =
        serde_json::from_str(&format!(r#"{{"nftables": [{}]}}"#, items.join(","))).unwrap();
    let (rs, _) = nft::ruleset(&json);
    let (verdict, work) = rs.evaluate_counted(&syn(Family::Ipv6, 80), eval::WORK_BUDGET);
    dropped_by(verdict, "policy drop");
    assert!(work < 1_000, "{work} steps");
}

#[test]
fn a_jump_loop_and_an_exhausted_budget_are_undecidable() {
    let dump = "*filter\n:INPUT ACCEPT [0:0]\n:a - [0:0]\n:b - [0:0]\n-A INPUT -j a\n-A a -j b\n-A b -j a\nCOMMIT\n";
    let rs = iptables::ruleset(dump, Family::Ipv4, IptablesBackend::Legacy);
    assert!(matches!(
        rs.evaluate(&syn(Family::Ipv4, 80)),
        Verdict::Undecidable { ref why, .. } if why.contains("loop")
    ));
    let rs = iptables::ruleset(&fan_out_dump(30, 3), Family::Ipv4, IptablesBackend::Legacy);
    let (verdict, work) = rs.evaluate_counted(&syn(Family::Ipv4, 80), 20);
    assert!(
        matches!(verdict, Verdict::Undecidable { ref why, .. } if why.contains("steps")),
        "{verdict:?}"
    );
    assert!(work <= 25, "the budget stops the walk at once: {work}");
}

/// A DROP policy and 20,000 `-s` accept rules (fail2ban, CrowdSec and country lists reach
/// this): the sources that get in come out of one walk, not one walk per source.
#[test]
fn allow_list_sources_come_from_one_walk() {
    let n: u32 = 20_000;
    let mut dump = String::from("*filter\n:INPUT DROP [0:0]\n");
    for i in 0..n {
        // 198.18.0.0/15, every other address, so no two merge.
        let a = u32::from(std::net::Ipv4Addr::new(198, 18, 0, 0)) + 2 * i;
        dump.push_str(&format!(
            "-A INPUT -s {}/32 -p tcp --dport 80 -j ACCEPT\n",
            std::net::Ipv4Addr::from(a)
        ));
    }
    dump.push_str("COMMIT\n");
    let rs = iptables::ruleset(&dump, Family::Ipv4, IptablesBackend::Legacy);
    let p = syn(Family::Ipv4, 80);
    dropped_by(rs.evaluate(&p), "policy drop");
    let (allowed, work) = rs.accepted_sources_counted(&p, eval::WORK_BUDGET);
    let allowed = allowed.unwrap();
    assert_eq!(allowed.len(), n as usize);
    assert_eq!(allowed[1], "198.18.0.2/32".parse().unwrap());
    assert!(work < 10 * u64::from(n), "{work} steps for {n} rules");
}

/// A named set used by many rules is built once and shared, not copied into each rule.
#[test]
fn a_named_set_is_shared_by_every_rule_that_uses_it() {
    let elems: Vec<String> = (0..10_000u32)
        .map(|i| format!("\"{}\"", std::net::Ipv4Addr::from(0xC612_0000 + 2 * i)))
        .collect();
    let mut items = vec![
        format!(
            r#"{{"set": {{"family": "inet", "table": "t", "name": "allow", "type": "ipv4_addr", "elem": [{}]}}}}"#,
            elems.join(",")
        ),
        r#"{"chain": {"family": "inet", "table": "t", "name": "input", "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}}"#.to_string(),
    ];
    for h in 0..200 {
        items.push(format!(
            r#"{{"rule": {{"family": "inet", "table": "t", "chain": "input", "handle": {h}, "expr": [{{"match": {{"op": "==", "left": {{"payload": {{"protocol": "ip", "field": "saddr"}}}}, "right": "@allow"}}}}, {{"match": {{"op": "==", "left": {{"payload": {{"protocol": "tcp", "field": "dport"}}}}, "right": 80}}}}, {{"accept": null}}]}}}}"#
        ));
    }
    let json: serde_json::Value =
        serde_json::from_str(&format!(r#"{{"nftables": [{}]}}"#, items.join(","))).unwrap();
    let (rs, _) = nft::ruleset(&json);
    let sets: Vec<_> = rs
        .chains
        .values()
        .flatten()
        .flat_map(|r| &r.matches)
        .filter_map(|m| match &m.cond {
            model::Cond::SAddr(set) => Some(set.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(sets.len(), 200);
    assert!(sets.iter().all(|s| std::sync::Arc::ptr_eq(s, &sets[0])));
    let p = syn(Family::Ipv4, 80);
    let (verdict, work) = rs.evaluate_counted(&p, eval::WORK_BUDGET);
    dropped_by(verdict, "policy drop");
    assert!(work < 1_000, "{work} steps");
    assert_eq!(rs.evaluate(&from(p.clone(), "198.18.0.2")), Verdict::Accept);
    let (allowed, work) = rs.accepted_sources_counted(&p, eval::WORK_BUDGET);
    assert_eq!(allowed.map(|a| a.len()), Some(10_000));
    assert!(
        work < 100_000,
        "{work} steps: the set is split once, not 200 times"
    );
}

/// A SYN from an arbitrary public source whose route back leaves by another interface than
/// the one it came in on (a multi-homed host, asymmetric routing).
fn asymmetric(p: Packet) -> Packet {
    Packet {
        return_iif: Some("wg0".into()),
        ..p
    }
}

/// The packaged ufw 0.36 (iptables-nft), `ufw allow 22` only: its IPv6 chains begin with
/// `-m rt --rt-type 0 -j DROP`, its `ufw-not-local` and `ufw-after-input` use `addrtype`, its
/// logging chains `limit`. None of them touches the CA's SYN; the policy decides.
#[test]
fn stock_ufw_ssh_only_drops_port_80_by_its_policy_on_both_families() {
    let rs = rules("fw-stock-ufw-ssh-only-host");
    assert!(rs.managers.iter().any(|m| m == "ufw"));
    dropped_by(
        rs.evaluate(&syn(Family::Ipv6, 80)),
        "ip6tables-nft (IPv6) filter INPUT: policy drop",
    );
    dropped_by(
        rs.evaluate(&syn(Family::Ipv4, 80)),
        "iptables-nft (IPv4) filter INPUT: policy drop",
    );
    for family in [Family::Ipv4, Family::Ipv6] {
        assert_eq!(rs.evaluate(&syn(family, 22)), Verdict::Accept, "{family:?}");
    }
}

#[test]
fn stock_ufw_allowing_80_accepts_it_on_both_families() {
    let rs = rules("fw-stock-ufw-allow-80-host");
    for family in [Family::Ipv4, Family::Ipv6] {
        assert_eq!(rs.evaluate(&syn(family, 80)), Verdict::Accept, "{family:?}");
        dropped_by(rs.evaluate(&syn(family, 443)), "policy drop");
    }
}

/// The packaged firewalld 1.3 (nftables backend), public zone: its IPv6 reverse-path filter
/// (`meta nfproto ipv6 fib saddr . mark . iif oif missing drop`) passes a SYN that arrives on
/// the interface its route back uses, and the zone's `reject with icmpx admin-prohibited`
/// turns port 80 away, on both families (icmpx has no family; the bytecode agrees).
#[test]
fn stock_firewalld_public_zone_rejects_port_80_after_its_reverse_path_filter() {
    let rs = rules("fw-stock-firewalld-public-host");
    assert!(rs.managers.iter().any(|m| m == "firewalld"));
    for family in [Family::Ipv4, Family::Ipv6] {
        match rs.evaluate(&syn(family, 80)) {
            Verdict::Reject { rule, refused } => {
                assert!(!refused, "admin-prohibited is no reset");
                assert!(rule.contains("filter_IN_public"), "{rule}");
                assert!(
                    rule.contains("reject with icmpx admin-prohibited"),
                    "{rule}"
                );
            }
            other => panic!("{family:?}: {other:?}"),
        }
        assert_eq!(rs.evaluate(&syn(family, 22)), Verdict::Accept, "{family:?}");
    }
    // Arriving elsewhere than the route back leaves, IPv6 fails the reverse-path filter.
    dropped_by(
        rs.evaluate(&asymmetric(syn(Family::Ipv6, 22))),
        "fib saddr . mark . iif oif missing",
    );
    assert_eq!(
        rs.evaluate(&asymmetric(syn(Family::Ipv4, 22))),
        Verdict::Accept
    );
    // Without the kernel's bytecode (a facts file from before it was read) the icmpx reject
    // still decides: nft never hides a family before icmpx.
    let mut fw = firewall_facts("fw-stock-firewalld-public-host");
    fw.nft_netlink = None;
    let (old, _) = ruleset(&fw);
    assert!(matches!(
        old.evaluate(&syn(Family::Ipv6, 80)),
        Verdict::Reject { .. }
    ));
}

#[test]
fn stock_firewalld_with_http_accepts_port_80() {
    let rs = rules("fw-stock-firewalld-http-host");
    for family in [Family::Ipv4, Family::Ipv6] {
        assert_eq!(rs.evaluate(&syn(family, 80)), Verdict::Accept, "{family:?}");
        assert!(matches!(
            rs.evaluate(&syn(family, 443)),
            Verdict::Reject { .. }
        ));
    }
}

/// `-m recent --update --hitcount 10 -j DROP` as the first INPUT rule: a first SYN from a new
/// source is in no list, so evaluation reaches the final `-j DROP`.
#[test]
fn the_recent_hardening_lets_evaluation_reach_the_final_drop() {
    let rs = rules("fw-stock-recent-hardening-host");
    for family in [Family::Ipv4, Family::Ipv6] {
        dropped_by(rs.evaluate(&syn(family, 80)), "line 11: -A INPUT -j DROP");
        assert_eq!(rs.evaluate(&syn(family, 22)), Verdict::Accept);
    }
    let rs = rules("fw-stock-recent-allow-80-host");
    for family in [Family::Ipv4, Family::Ipv6] {
        assert_eq!(rs.evaluate(&syn(family, 80)), Verdict::Accept);
    }
}

/// nftables 1.0.6 lists `meta nfproto ipv4 tcp dport 80 reject with tcp reset` (inet) as
/// `tcp dport 80 reject with tcp reset`, in `nft -j` too; the kernel's bytecode shows the
/// family. With it, IPv6 passes; without it, neither family is certain.
#[test]
fn an_elided_family_is_read_from_the_kernel() {
    let fw = firewall_facts("fw-nft-elided-family-host");
    let listing = serde_json::to_string(&fw.nft).unwrap();
    assert!(
        !listing.contains("nfproto"),
        "the captured listing shows no family match (nftables 1.0.6)"
    );
    let rs = rules("fw-nft-elided-family-host");
    match rs.evaluate(&syn(Family::Ipv4, 80)) {
        Verdict::Reject { rule, refused } => {
            assert!(refused);
            assert!(rule.contains("meta nfproto ipv4"), "{rule}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(rs.evaluate(&syn(Family::Ipv6, 80)), Verdict::Accept);
    let mut old = fw;
    old.nft_netlink = None;
    let (rs, _) = ruleset(&old);
    for family in [Family::Ipv4, Family::Ipv6] {
        assert!(
            matches!(rs.evaluate(&syn(family, 80)), Verdict::Undecidable { .. }),
            "{family:?}"
        );
    }
}

/// The forward path of a real Docker host, for the packet as the DNAT left it.
fn forwarded(rs: &model::Ruleset, p: &Packet, to: &str, oif: &str) -> Verdict {
    let translated = Packet {
        daddr: to.parse().unwrap(),
        ..p.clone()
    };
    rs.evaluate_forward(&translated, oif)
}

#[track_caller]
fn dnat_to(v: Verdict, addr: &str, port: u16) {
    match v {
        Verdict::Redirected { to, rule } => {
            assert_eq!(to.to, Some(addr.parse().unwrap()), "{rule}");
            assert_eq!(to.port, Some(port));
            assert_eq!(rule.chain.table, "nat");
            assert_eq!(rule.chain.chain, "DOCKER");
        }
        other => panic!("expected a DNAT to {addr}:{port}, got {other:?}"),
    }
}

#[test]
fn docker_20_10_dnat_is_followed_and_its_forward_path_accepts() {
    // iptables-nft: nft shows Docker's nat table with compat (xt) expressions, so the
    // iptables-nft-save view of it is evaluated.
    let rs = rules("docker-published_port_with_docker_proxy-host");
    let p = syn(Family::Ipv4, 80);
    dnat_to(rs.evaluate(&p), "192.0.2.130", 80);
    assert_eq!(
        forwarded(&rs, &p, "192.0.2.130", "docker0"),
        Verdict::Accept
    );
    // Not published: the host's own INPUT (policy accept here) takes it.
    assert_eq!(rs.evaluate(&syn(Family::Ipv4, 443)), Verdict::Accept);
    // A port Docker did not publish is dropped on its way to the container (FORWARD DROP).
    let other = Packet { dport: 22, ..p };
    dropped_by(
        forwarded(&rs, &other, "192.0.2.130", "docker0"),
        "filter FORWARD: policy drop",
    );
    // No ip6tables rules without "ip6tables": true.
    assert_eq!(rs.evaluate(&syn(Family::Ipv6, 80)), Verdict::Accept);
}

#[test]
fn docker_user_drop_stops_the_forwarded_connection() {
    let rs = rules("docker-docker_user_drop-host");
    let p = syn(Family::Ipv4, 80);
    dnat_to(rs.evaluate(&p), "192.0.2.130", 80);
    dropped_by(
        forwarded(&rs, &p, "192.0.2.130", "docker0"),
        "-A DOCKER-USER -p tcp -m tcp --dport 80 -j DROP",
    );
}

#[test]
fn docker_ip6tables_dnat_reaches_the_container_s_ipv6_address() {
    let rs = rules("docker-ipv6_and_ip6tables_on_is_healthy-host");
    for (family, to) in [
        (Family::Ipv4, "192.0.2.130"),
        (Family::Ipv6, "2001:db8:3::242:c000:282"),
    ] {
        let p = syn(family, 80);
        match rs.evaluate(&p) {
            Verdict::Redirected { to: r, .. } => {
                let got = r.to.unwrap();
                assert_eq!(Family::of(&got), family);
                if family == Family::Ipv4 {
                    assert_eq!(got, to.parse::<std::net::IpAddr>().unwrap());
                }
                assert_eq!(
                    forwarded(&rs, &p, &got.to_string(), "docker0"),
                    Verdict::Accept
                );
            }
            other => panic!("{family:?}: {other:?}"),
        }
    }
}
