//! The pod's own IP address management: CIDR parsing, default gateway and allocation pools,
//! and first-free allocation inside the pools.
//!
//! Addresses are handled as integers (`u128` for both families), which makes pools simple
//! ranges. Allocation scans from the start of the pools, like Neutron's default IPAM driver, so
//! a fresh subnet hands out `.2`, `.3`, ... after the gateway at `.1`. What is in use is derived
//! from the ports themselves (plus the gateway), so there is no second ledger to drift.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::model::network::Pool;

/// Parse a CIDR; host bits must be zero (Neutron refuses `10.0.0.1/24` as a subnet CIDR too).
pub fn parse_cidr(s: &str) -> Result<IpNet, String> {
    let net: IpNet = s.parse().map_err(|_| format!("'{s}' is not a valid IP subnet"))?;
    if net.trunc() != net {
        return Err(format!(
            "'{s}' isn't a recognized IP subnet cidr, '{}' is recommended",
            net.trunc()
        ));
    }
    Ok(net)
}

pub fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

pub fn from_u128(v: u128, v6: bool) -> IpAddr {
    if v6 { IpAddr::V6(Ipv6Addr::from(v)) } else { IpAddr::V4(Ipv4Addr::from(v as u32)) }
}

/// First and last assignable address of a network (IPv4 excludes network and broadcast).
pub fn host_range(net: &IpNet) -> Option<(u128, u128)> {
    let first = to_u128(net.network());
    let last = to_u128(net.broadcast());
    match net {
        IpNet::V4(n) if n.prefix_len() >= 31 => Some((first, last)),
        IpNet::V4(_) => (last > first + 1).then_some((first + 1, last - 1)),
        IpNet::V6(_) => (last > first).then_some((first + 1, last)),
    }
}

/// Neutron's default gateway: the first host address.
pub fn default_gateway(net: &IpNet) -> Option<IpAddr> {
    host_range(net).map(|(a, _)| from_u128(a, matches!(net, IpNet::V6(_))))
}

/// The whole host range minus the gateway, as one or two pools.
pub fn default_pools(net: &IpNet, gateway: Option<IpAddr>) -> Vec<Pool> {
    let v6 = matches!(net, IpNet::V6(_));
    let Some((a, b)) = host_range(net) else { return Vec::new() };
    let mk = |x: u128, y: u128| Pool {
        start: from_u128(x, v6).to_string(),
        end: from_u128(y, v6).to_string(),
    };
    match gateway.map(to_u128).filter(|g| *g >= a && *g <= b) {
        None => vec![mk(a, b)],
        Some(g) => {
            let mut v = Vec::new();
            if g > a {
                v.push(mk(a, g - 1));
            }
            if g < b {
                v.push(mk(g + 1, b));
            }
            v
        }
    }
}

/// Parse and check pools against the CIDR; they must be inside it and not overlap.
pub fn check_pools(net: &IpNet, pools: &[Pool]) -> Result<Vec<(u128, u128)>, String> {
    let mut ranges = Vec::new();
    for p in pools {
        let s: IpAddr = p.start.parse().map_err(|_| format!("Invalid IP address {}", p.start))?;
        let e: IpAddr = p.end.parse().map_err(|_| format!("Invalid IP address {}", p.end))?;
        if !net.contains(&s) || !net.contains(&e) {
            return Err(format!(
                "The allocation pool {}-{} spans beyond the subnet cidr {net}.",
                p.start, p.end
            ));
        }
        let (s, e) = (to_u128(s), to_u128(e));
        if s > e {
            return Err(format!("Invalid allocation pool {}-{}", p.start, p.end));
        }
        ranges.push((s, e));
    }
    ranges.sort();
    for w in ranges.windows(2) {
        if w[1].0 <= w[0].1 {
            return Err("Found overlapping allocation pools".into());
        }
    }
    Ok(ranges)
}

pub fn in_pools(ip: IpAddr, pools: &[Pool]) -> bool {
    let v = to_u128(ip);
    pools.iter().any(|p| match (p.start.parse::<IpAddr>(), p.end.parse::<IpAddr>()) {
        (Ok(s), Ok(e)) => to_u128(s) <= v && v <= to_u128(e),
        _ => false,
    })
}

/// The first address in `pools` not in `used`.
pub fn next_free(pools: &[Pool], used: &HashSet<u128>, v6: bool) -> Option<IpAddr> {
    for p in pools {
        let (Ok(s), Ok(e)) = (p.start.parse::<IpAddr>(), p.end.parse::<IpAddr>()) else { continue };
        let (s, e) = (to_u128(s), to_u128(e));
        // Bounded scan: a pool can be huge (IPv6) but only `used.len()` addresses are taken.
        let mut x = s;
        let mut steps = 0usize;
        while x <= e && steps <= used.len() + 1 {
            if !used.contains(&x) {
                return Some(from_u128(x, v6));
            }
            x += 1;
            steps += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_neutron() {
        let net = parse_cidr("10.0.0.0/24").unwrap();
        let gw = default_gateway(&net).unwrap();
        assert_eq!(gw.to_string(), "10.0.0.1");
        let pools = default_pools(&net, Some(gw));
        assert_eq!(pools, vec![Pool { start: "10.0.0.2".into(), end: "10.0.0.254".into() }]);
        let used: HashSet<u128> = [to_u128(gw)].into();
        assert_eq!(next_free(&pools, &used, false).unwrap().to_string(), "10.0.0.2");
    }

    #[test]
    fn gateway_in_the_middle_splits_the_pool_and_exhaustion_is_detected() {
        let net = parse_cidr("192.168.1.0/29").unwrap();
        let gw: IpAddr = "192.168.1.3".parse().unwrap();
        let pools = default_pools(&net, Some(gw));
        assert_eq!(pools.len(), 2);
        assert!(!in_pools(gw, &pools));
        let mut used = HashSet::new();
        for _ in 0..5 {
            let ip = next_free(&pools, &used, false).unwrap();
            used.insert(to_u128(ip));
        }
        assert!(next_free(&pools, &used, false).is_none());
    }

    #[test]
    fn bad_cidrs_and_pools_are_refused() {
        assert!(parse_cidr("10.0.0.1/24").is_err());
        assert!(parse_cidr("nonsense").is_err());
        let net = parse_cidr("10.0.0.0/24").unwrap();
        let outside = [Pool { start: "10.0.1.1".into(), end: "10.0.1.5".into() }];
        assert!(check_pools(&net, &outside).is_err());
        let overlap = [
            Pool { start: "10.0.0.2".into(), end: "10.0.0.10".into() },
            Pool { start: "10.0.0.5".into(), end: "10.0.0.20".into() },
        ];
        assert!(check_pools(&net, &overlap).is_err());
    }

    #[test]
    fn ipv6_works() {
        let net = parse_cidr("fd00::/64").unwrap();
        let gw = default_gateway(&net).unwrap();
        assert_eq!(gw.to_string(), "fd00::1");
        let pools = default_pools(&net, Some(gw));
        let ip = next_free(&pools, &HashSet::new(), true).unwrap();
        assert_eq!(ip.to_string(), "fd00::2");
    }
}
