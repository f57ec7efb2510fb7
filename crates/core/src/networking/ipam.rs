//! Central address management: a subnet's CIDR, gateway and allocation
//! pools are checked here, and a port's address is the first free one of
//! the pools. The database's primary key on (subnet, address) is what makes
//! two ports in two pods unable to get one address; this module only picks
//! candidates, and the caller tries the next one when a racing create won.

use std::collections::HashSet;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use tricircle_common::{Error, Result};

/// One allocation pool, inclusive at both ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    pub start: IpAddr,
    pub end: IpAddr,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::bad_request(msg).with_type("HTTPBadRequest")
}

/// Parse a CIDR of the given IP version, normalised to its network address
/// (Neutron refuses host bits set only in some versions; we accept and
/// normalise, as `openstack subnet create` users expect).
pub fn parse_cidr(cidr: &str, ip_version: u8) -> Result<IpNet> {
    let net: IpNet = cidr.parse().map_err(|_| {
        bad(format!("Invalid input for cidr. Reason: '{cidr}' is not a valid IP subnet."))
    })?;
    let version_ok = matches!((net, ip_version), (IpNet::V4(_), 4) | (IpNet::V6(_), 6));
    if !version_ok {
        return Err(bad(format!(
            "Invalid input for operation: cidr '{cidr}' does not match the ip_version '{ip_version}'."
        )));
    }
    let usable = match net {
        IpNet::V4(n) => n.prefix_len() <= 30,
        IpNet::V6(n) => n.prefix_len() <= 126,
    };
    if !usable {
        return Err(bad(format!(
            "Invalid input for operation: the prefix of cidr '{cidr}' leaves no room for addresses."
        )));
    }
    Ok(net.trunc())
}

fn offset(net: &IpNet, n: u128) -> IpAddr {
    match net {
        IpNet::V4(v) => IpAddr::V4((u32::from(v.network()).wrapping_add(n as u32)).into()),
        IpNet::V6(v) => IpAddr::V6((u128::from(v.network()).wrapping_add(n)).into()),
    }
}

fn as_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v) => u32::from(v) as u128,
        IpAddr::V6(v) => u128::from(v),
    }
}

/// The last address a host may have: IPv4 keeps its broadcast address out.
fn last_host(net: &IpNet) -> IpAddr {
    match net {
        IpNet::V4(v) => IpAddr::V4((u32::from(v.broadcast()) - 1).into()),
        IpNet::V6(v) => IpAddr::V6(v.broadcast()),
    }
}

/// The default gateway: the first host address.
pub fn default_gateway(net: &IpNet) -> IpAddr {
    offset(net, 1)
}

/// The default pools: every host address but the gateway's.
pub fn default_pools(net: &IpNet, gateway: Option<IpAddr>) -> Vec<Pool> {
    let first = offset(net, 1);
    let last = last_host(net);
    let whole = Pool { start: first, end: last };
    match gateway {
        Some(g) if net.contains(&g) => {
            let g = as_u128(g);
            let mut out = Vec::new();
            if g > as_u128(first) {
                out.push(Pool { start: first, end: from_u128(net, g - 1) });
            }
            if g < as_u128(last) {
                out.push(Pool { start: from_u128(net, g + 1), end: last });
            }
            out
        }
        _ => vec![whole],
    }
}

fn from_u128(net: &IpNet, v: u128) -> IpAddr {
    match net {
        IpNet::V4(_) => IpAddr::V4((v as u32).into()),
        IpNet::V6(_) => IpAddr::V6(v.into()),
    }
}

/// Check a gateway address against the subnet.
pub fn check_gateway(net: &IpNet, gateway: IpAddr) -> Result<()> {
    let broadcast = matches!(net, IpNet::V4(_)) && gateway == net.broadcast();
    if !net.contains(&gateway) || gateway == net.network() || broadcast {
        return Err(bad(format!(
            "Invalid input for operation: gateway_ip {gateway} is not a host address of {net}."
        )));
    }
    Ok(())
}

/// Check pools asked for: inside the subnet, ordered, not overlapping, not
/// holding the gateway.
pub fn check_pools(net: &IpNet, pools: &[Pool], gateway: Option<IpAddr>) -> Result<()> {
    let mut sorted: Vec<&Pool> = pools.iter().collect();
    sorted.sort_by_key(|p| as_u128(p.start));
    for p in &sorted {
        if as_u128(p.start) > as_u128(p.end) || p.start.is_ipv4() != p.end.is_ipv4() {
            return Err(Error::bad_request(format!(
                "The allocation pool {}-{} is not valid.",
                p.start, p.end
            ))
            .with_type("InvalidAllocationPool"));
        }
        if !net.contains(&p.start) || !net.contains(&p.end) {
            return Err(Error::bad_request(format!(
                "The allocation pool {}-{} spans beyond the subnet cidr {net}.",
                p.start, p.end
            ))
            .with_type("OutOfBoundsAllocationPool"));
        }
        if let Some(g) = gateway
            && as_u128(p.start) <= as_u128(g)
            && as_u128(g) <= as_u128(p.end)
        {
            return Err(Error::conflict(format!(
                "Gateway ip {g} conflicts with allocation pool {}-{}.",
                p.start, p.end
            ))
            .with_type("GatewayConflictWithAllocationPools"));
        }
    }
    for w in sorted.windows(2) {
        if as_u128(w[0].end) >= as_u128(w[1].start) {
            return Err(Error::conflict(format!(
                "Found overlapping allocation pools: {}-{} and {}-{} for subnet {net}.",
                w[0].start, w[0].end, w[1].start, w[1].end
            ))
            .with_type("OverlappingAllocationPools"));
        }
    }
    Ok(())
}

/// Whether an address lies in one of the pools.
pub fn in_pools(pools: &[Pool], ip: IpAddr) -> bool {
    let v = as_u128(ip);
    pools.iter().any(|p| as_u128(p.start) <= v && v <= as_u128(p.end))
}

/// Up to `n` free addresses of the pools, lowest first, skipping `taken`.
pub fn free_addresses(pools: &[Pool], taken: &HashSet<IpAddr>, n: usize) -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut sorted: Vec<&Pool> = pools.iter().collect();
    sorted.sort_by_key(|p| as_u128(p.start));
    for p in sorted {
        let (mut v, end) = (as_u128(p.start), as_u128(p.end));
        while v <= end && out.len() < n {
            let ip = match p.start {
                IpAddr::V4(_) => IpAddr::V4((v as u32).into()),
                IpAddr::V6(_) => IpAddr::V6(v.into()),
            };
            if !taken.contains(&ip) {
                out.push(ip);
            }
            v += 1;
        }
        if out.len() >= n {
            break;
        }
    }
    out
}

/// Whether two subnets share any address.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn defaults_leave_out_network_gateway_and_broadcast() {
        let net = parse_cidr("10.0.0.0/24", 4).unwrap();
        assert_eq!(default_gateway(&net), ip("10.0.0.1"));
        assert_eq!(
            default_pools(&net, Some(ip("10.0.0.1"))),
            [Pool { start: ip("10.0.0.2"), end: ip("10.0.0.254") }]
        );
        // A gateway in the middle splits the pool.
        assert_eq!(default_pools(&net, Some(ip("10.0.0.100"))).len(), 2);
        let v6 = parse_cidr("fd00::/64", 6).unwrap();
        assert_eq!(default_gateway(&v6), ip("fd00::1"));
    }

    #[test]
    fn bad_cidrs_and_pools_are_refused() {
        assert!(parse_cidr("10.0.0.0/33", 4).is_err());
        assert!(parse_cidr("nonsense", 4).is_err());
        assert!(parse_cidr("fd00::/64", 4).is_err());
        assert_eq!(parse_cidr("10.0.0.7/24", 4).unwrap().to_string(), "10.0.0.0/24");
        let net = parse_cidr("10.0.0.0/24", 4).unwrap();
        assert!(check_gateway(&net, ip("10.0.1.1")).is_err());
        assert!(check_gateway(&net, ip("10.0.0.255")).is_err(), "broadcast");
        assert!(check_gateway(&net, ip("10.0.0.0")).is_err(), "network address");
        let outside = [Pool { start: ip("10.0.0.2"), end: ip("10.0.1.9") }];
        assert!(check_pools(&net, &outside, None).is_err());
        let overlapping = [
            Pool { start: ip("10.0.0.2"), end: ip("10.0.0.9") },
            Pool { start: ip("10.0.0.9"), end: ip("10.0.0.20") },
        ];
        assert_eq!(check_pools(&net, &overlapping, None).unwrap_err().status(), 409);
        let reversed = [Pool { start: ip("10.0.0.9"), end: ip("10.0.0.2") }];
        assert_eq!(
            check_pools(&net, &reversed, None).unwrap_err().type_name(),
            Some("InvalidAllocationPool")
        );
        let with_gw = [Pool { start: ip("10.0.0.1"), end: ip("10.0.0.9") }];
        assert_eq!(check_pools(&net, &with_gw, Some(ip("10.0.0.1"))).unwrap_err().status(), 409);
    }

    #[test]
    fn free_addresses_skip_what_is_taken() {
        let pools = [Pool { start: ip("10.0.0.2"), end: ip("10.0.0.6") }];
        let taken: HashSet<IpAddr> = [ip("10.0.0.2"), ip("10.0.0.4")].into();
        assert_eq!(free_addresses(&pools, &taken, 2), [ip("10.0.0.3"), ip("10.0.0.5")]);
        assert_eq!(free_addresses(&pools, &taken, 10).len(), 3);
        assert!(in_pools(&pools, ip("10.0.0.6")) && !in_pools(&pools, ip("10.0.0.7")));
        let a = parse_cidr("10.0.0.0/24", 4).unwrap();
        assert!(overlaps(&a, &parse_cidr("10.0.0.128/25", 4).unwrap()));
        assert!(!overlaps(&a, &parse_cidr("10.0.1.0/24", 4).unwrap()));
    }
}
