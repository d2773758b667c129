//! The sets a ruleset matches on, built once and shared between rules: a named nft set of
//! 100,000 addresses exists once however many rules use it, and membership is a binary
//! search in sorted, disjoint intervals.

use crate::facts::Family;
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

/// Inclusive intervals of addresses, as numbers (IPv4 in the low 32 bits).
pub type Ranges = Vec<(u128, u128)>;

/// The largest address of a family, as a number.
pub fn max_of(family: Family) -> u128 {
    match family {
        Family::Ipv4 => u128::from(u32::MAX),
        Family::Ipv6 => u128::MAX,
    }
}

pub fn family_of(ip: &IpAddr) -> Family {
    match ip {
        IpAddr::V4(_) => Family::Ipv4,
        IpAddr::V6(_) => Family::Ipv6,
    }
}

pub fn number(ip: &IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(*a)),
        IpAddr::V6(a) => u128::from(*a),
    }
}

/// Sorts and merges overlapping or adjacent intervals.
pub fn normalise(mut ranges: Ranges) -> Ranges {
    ranges.sort_unstable();
    let mut out: Ranges = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// Whether `x` lies in one of the sorted, disjoint `ranges`.
fn in_ranges(ranges: &[(u128, u128)], x: u128) -> bool {
    let i = ranges.partition_point(|r| r.1 < x);
    ranges.get(i).is_some_and(|r| r.0 <= x)
}

/// A set of address prefixes, per family.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetSet {
    v4: Ranges,
    v6: Ranges,
}

impl NetSet {
    pub fn new(nets: impl IntoIterator<Item = IpNet>) -> Arc<NetSet> {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for net in nets {
            let range = (number(&net.network()), number(&net.broadcast()));
            match net {
                IpNet::V4(_) => v4.push(range),
                IpNet::V6(_) => v6.push(range),
            }
        }
        Arc::new(NetSet {
            v4: normalise(v4),
            v6: normalise(v6),
        })
    }

    pub fn ranges(&self, family: Family) -> &[(u128, u128)] {
        match family {
            Family::Ipv4 => &self.v4,
            Family::Ipv6 => &self.v6,
        }
    }

    pub fn contains(&self, ip: &IpAddr) -> bool {
        in_ranges(self.ranges(family_of(ip)), number(ip))
    }

    /// The set holds every address of the family (`0.0.0.0/0`, `::/0`): it matches even the
    /// arbitrary public source that no list names.
    pub fn covers(&self, family: Family) -> bool {
        self.ranges(family) == [(0, max_of(family))]
    }

    /// Intervals, both families: the size that evaluation work is counted in.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A set of destination ports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortSet {
    ranges: Vec<(u16, u16)>,
}

impl PortSet {
    pub fn new(ranges: impl IntoIterator<Item = (u16, u16)>) -> Arc<PortSet> {
        let wide = ranges
            .into_iter()
            .map(|(lo, hi)| (u128::from(lo.min(hi)), u128::from(lo.max(hi))))
            .collect();
        let ranges = normalise(wide)
            .into_iter()
            .map(|(lo, hi)| {
                (
                    u16::try_from(lo).unwrap_or(u16::MAX),
                    u16::try_from(hi).unwrap_or(u16::MAX),
                )
            })
            .collect();
        Arc::new(PortSet { ranges })
    }

    pub fn contains(&self, port: u16) -> bool {
        let i = self.ranges.partition_point(|r| r.1 < port);
        self.ranges.get(i).is_some_and(|r| r.0 <= port)
    }
}

/// The source addresses a packet may come from, during evaluation: disjoint intervals of one
/// family, and `arbitrary`, the public address in no list (the CA's; it is in a set only if
/// the set covers the whole family). One address or `arbitrary` alone for a concrete packet;
/// the whole family when deriving which sources an allow-list admits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Sources {
    ranges: BTreeMap<u128, u128>,
    pub arbitrary: bool,
}

impl Sources {
    pub fn arbitrary() -> Sources {
        Sources {
            ranges: BTreeMap::new(),
            arbitrary: true,
        }
    }

    pub fn one(ip: &IpAddr) -> Sources {
        let n = number(ip);
        Sources {
            ranges: BTreeMap::from([(n, n)]),
            arbitrary: false,
        }
    }

    pub fn everything(family: Family) -> Sources {
        Sources {
            ranges: BTreeMap::from([(0, max_of(family))]),
            arbitrary: false,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty() && !self.arbitrary
    }

    /// Intervals held: what copying or hashing this costs.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn ranges(&self) -> impl Iterator<Item = (u128, u128)> + '_ {
        self.ranges.iter().map(|(a, b)| (*a, *b))
    }

    /// Adds `other`, disjoint from `self` (both come from one partition).
    pub fn absorb(&mut self, mut other: Sources, work: &mut u64) {
        if self.ranges.len() < other.ranges.len() {
            std::mem::swap(&mut self.ranges, &mut other.ranges);
        }
        // Insert the smaller side one by one: `BTreeMap::append` rebuilds the whole tree,
        // which made many small absorbs quadratic.
        *work += other.ranges.len() as u64;
        for (lo, hi) in other.ranges {
            self.ranges.insert(lo, hi);
        }
        self.arbitrary |= other.arbitrary;
    }

    /// Removes from `self` what lies in `set` (for `family`) and returns it. Costs the smaller
    /// side times a logarithm, counted in `work`.
    pub fn take(&mut self, set: &NetSet, family: Family, work: &mut u64) -> Sources {
        let c = set.ranges(family);
        let mut out = Sources {
            ranges: BTreeMap::new(),
            arbitrary: self.arbitrary && set.covers(family),
        };
        self.arbitrary &= !out.arbitrary;
        if c.is_empty() || self.ranges.is_empty() {
            return out;
        }
        if self.ranges.len() <= c.len() {
            // Walk our intervals, binary-searching the set.
            let old = std::mem::take(&mut self.ranges);
            for (s, e) in old {
                *work += 1;
                let mut j = c.partition_point(|r| r.1 < s);
                let mut cur = Some(s);
                while let (Some(from), Some(&(a, b))) = (cur, c.get(j)) {
                    if a > e {
                        break;
                    }
                    *work += 1;
                    let (x, y) = (a.max(from), b.min(e));
                    if from < x {
                        self.ranges.insert(from, x - 1);
                    }
                    out.ranges.insert(x, y);
                    cur = y.checked_add(1).filter(|n| *n <= e);
                    j += 1;
                }
                if let Some(from) = cur {
                    self.ranges.insert(from, e);
                }
            }
        } else {
            // Walk the set's intervals, cutting ours in place.
            for &(a, b) in c {
                *work += 1;
                let mut hits: Vec<(u128, u128)> = Vec::new();
                if let Some((&s, &e)) = self.ranges.range(..a).next_back()
                    && e >= a
                {
                    hits.push((s, e));
                }
                hits.extend(self.ranges.range(a..=b).map(|(s, e)| (*s, *e)));
                for (s, e) in hits {
                    *work += 1;
                    self.ranges.remove(&s);
                    let (x, y) = (s.max(a), e.min(b));
                    out.ranges.insert(x, y);
                    if s < x {
                        self.ranges.insert(s, x - 1);
                    }
                    if e > y {
                        self.ranges.insert(y + 1, e);
                    }
                }
            }
        }
        out
    }
}

/// The prefixes that exactly cover `lo..=hi` of a family, largest first.
pub fn prefixes(lo: u128, hi: u128, family: Family) -> Vec<IpNet> {
    let bits: u32 = match family {
        Family::Ipv4 => 32,
        Family::Ipv6 => 128,
    };
    // The last offset of a block of 2^size_bits addresses.
    let span = |size_bits: u32| {
        if size_bits >= 128 {
            u128::MAX
        } else {
            (1u128 << size_bits) - 1
        }
    };
    let mut out = Vec::new();
    let mut cur = lo;
    loop {
        // The largest aligned block at `cur` that stays within `hi`.
        let mut size_bits = cur.trailing_zeros().min(bits);
        while size_bits > 0 && cur.checked_add(span(size_bits)).is_none_or(|l| l > hi) {
            size_bits -= 1;
        }
        let len = u8::try_from(bits - size_bits).unwrap_or(0);
        let addr = match family {
            Family::Ipv4 => IpAddr::from(u32::try_from(cur).unwrap_or(u32::MAX).to_be_bytes()),
            Family::Ipv6 => IpAddr::from(cur.to_be_bytes()),
        };
        if let Ok(net) = IpNet::new(addr, len) {
            out.push(net);
        }
        let block_last = cur.saturating_add(span(size_bits));
        match block_last.checked_add(1) {
            Some(next) if block_last < hi => cur = next,
            _ => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Arc<NetSet> {
        NetSet::new(list.iter().map(|n| n.parse::<IpNet>().unwrap()))
    }

    #[test]
    fn membership_is_by_interval() {
        let s = nets(&["198.51.100.0/24", "198.51.101.0/24", "2001:db8::/32"]);
        assert_eq!(s.ranges(Family::Ipv4).len(), 1, "adjacent prefixes merge");
        assert!(s.contains(&"198.51.101.9".parse().unwrap()));
        assert!(!s.contains(&"198.51.102.1".parse().unwrap()));
        assert!(s.contains(&"2001:db8:5::1".parse().unwrap()));
        assert!(!s.covers(Family::Ipv4));
        assert!(nets(&["0.0.0.0/0"]).covers(Family::Ipv4));
        assert!(nets(&["::/0"]).covers(Family::Ipv6));
        let p = PortSet::new([(80, 80), (8000, 8080), (81, 81)]);
        assert!(p.contains(81) && p.contains(8050) && !p.contains(443));
    }

    #[test]
    fn taking_splits_a_partition_either_way_round() {
        for whole in [
            Sources::everything(Family::Ipv4),
            Sources {
                // Many small intervals: the other strategy.
                ranges: (0..100u128).map(|i| (i * 1000, i * 1000 + 10)).collect(),
                arbitrary: false,
            },
        ] {
            let mut rest = whole.clone();
            let set = nets(&["0.0.0.5/32", "0.0.3.0/24"]);
            let mut work = 0;
            let inside = rest.take(&set, Family::Ipv4, &mut work);
            for (lo, hi) in inside.ranges() {
                for x in [lo, hi] {
                    assert!(in_ranges(set.ranges(Family::Ipv4), x));
                }
            }
            for (lo, hi) in rest.ranges() {
                for x in [lo, hi] {
                    assert!(!in_ranges(set.ranges(Family::Ipv4), x));
                }
            }
            let mut back = rest.clone();
            back.absorb(inside, &mut work);
            let total = |s: &Sources| s.ranges().map(|(a, b)| b - a + 1).sum::<u128>();
            assert_eq!(total(&back), total(&whole));
        }
    }

    #[test]
    fn ranges_become_the_fewest_prefixes() {
        let v4 = |s: &str| number(&s.parse().unwrap());
        let got = prefixes(v4("198.51.100.0"), v4("198.51.101.255"), Family::Ipv4);
        assert_eq!(got, vec!["198.51.100.0/23".parse::<IpNet>().unwrap()]);
        let got = prefixes(v4("198.51.100.7"), v4("198.51.100.8"), Family::Ipv4);
        assert_eq!(got.len(), 2);
        assert_eq!(
            prefixes(0, u128::MAX, Family::Ipv6),
            vec!["::/0".parse::<IpNet>().unwrap()]
        );
        assert_eq!(
            prefixes(0, u128::from(u32::MAX), Family::Ipv4),
            vec!["0.0.0.0/0".parse::<IpNet>().unwrap()]
        );
    }
}
