//! Who the client is, for throttling: the TCP peer address, or, when the peer is one of
//! the configured `trusted_proxies`, the address that proxy (and any trusted proxy
//! before it) recorded in `X-Forwarded-For`. With no trusted proxies the header is
//! ignored: anyone can send it, and honouring it would let an attacker pick their key.

use std::net::{IpAddr, SocketAddr};

use poem::Request;

/// The parsed `trusted_proxies` setting.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<(IpAddr, u8)>,
}

impl TrustedProxies {
    /// Parses IP addresses and CIDR blocks (`10.0.0.0/8`, `::1`, `fd00::/8`).
    pub fn parse(entries: &[String]) -> anyhow::Result<TrustedProxies> {
        let mut nets = Vec::new();
        for entry in entries {
            let entry = entry.trim();
            let (addr, prefix) = match entry.split_once('/') {
                Some((a, p)) => (a, Some(p)),
                None => (entry, None),
            };
            let ip: IpAddr = addr.parse().map_err(|_| {
                anyhow::anyhow!("trusted_proxies: `{entry}` is not an IP address or CIDR block")
            })?;
            let ip = ip.to_canonical();
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                None => max,
                Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| {
                    anyhow::anyhow!("trusted_proxies: `{entry}` has a bad prefix length")
                })?,
            };
            nets.push((ip, prefix));
        }
        Ok(TrustedProxies { nets })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|(net, prefix)| match (net, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(*prefix)).unwrap_or(0);
                u32::from(*net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(*prefix)).unwrap_or(0);
                u128::from(*net) & mask == u128::from(ip) & mask
            }
            _ => false,
        })
    }

    /// The client of `req` (None when the peer is not an IP socket).
    pub fn client_of(&self, req: &Request) -> Option<IpAddr> {
        let peer = req.remote_addr().as_socket_addr().map(SocketAddr::ip)?;
        let forwarded: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        Some(self.client(peer, &forwarded.join(",")))
    }

    /// Walks `X-Forwarded-For` from the nearest hop while each hop is a trusted proxy.
    pub fn client(&self, peer: IpAddr, forwarded_for: &str) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.contains(client) {
            return client;
        }
        for hop in forwarded_for.rsplit(',').map(str::trim) {
            if hop.is_empty() {
                continue;
            }
            let Some(ip) = parse_hop(hop) else {
                // Not written by a trusted proxy: stop at the last hop we can vouch for.
                break;
            };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` element: an address, possibly with a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("parse")
    }

    #[test]
    fn the_header_counts_only_behind_a_trusted_proxy() {
        let none = proxies(&[]);
        assert_eq!(
            none.client(ip("203.0.113.7"), "198.51.100.1"),
            ip("203.0.113.7")
        );
        let lb = proxies(&["10.0.0.0/8", "::1"]);
        assert_eq!(
            lb.client(ip("10.1.2.3"), "198.51.100.1"),
            ip("198.51.100.1")
        );
        // A client-supplied value left of the real one is not believed.
        assert_eq!(
            lb.client(ip("10.1.2.3"), "1.1.1.1, 198.51.100.1"),
            ip("198.51.100.1")
        );
        // Through two trusted hops.
        assert_eq!(
            lb.client(ip("::1"), "198.51.100.1, 10.9.9.9"),
            ip("198.51.100.1")
        );
        // An untrusted peer's header is ignored.
        assert_eq!(lb.client(ip("192.0.2.5"), "198.51.100.1"), ip("192.0.2.5"));
        // Ports, IPv4-mapped addresses and garbage.
        assert_eq!(
            lb.client(ip("::ffff:10.0.0.1"), "198.51.100.1:4711"),
            ip("198.51.100.1")
        );
        assert_eq!(lb.client(ip("10.0.0.1"), "garbage"), ip("10.0.0.1"));
        assert_eq!(lb.client(ip("10.0.0.1"), ""), ip("10.0.0.1"));
    }

    #[test]
    fn bad_entries_are_refused() {
        for bad in ["nope", "10.0.0.0/33", "::/129", "10.0.0.0/x"] {
            assert!(TrustedProxies::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
        assert!(proxies(&["0.0.0.0/0"]).contains(ip("8.8.8.8")));
        assert!(!proxies(&["10.0.0.0/8"]).contains(ip("11.0.0.1")));
        assert!(proxies(&["fd00::/8"]).contains(ip("fd12::1")));
    }
}
