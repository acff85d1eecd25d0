//! Which address a request comes from: the TCP peer, or, when the peer is one of the
//! configured `trusted_proxies`, the nearest address in `X-Forwarded-For` that is not a
//! trusted proxy. Used to key per-address rate limits and recorded in the audit log.
//!
//! `X-Forwarded-For` is believed only from a trusted peer: anyone else could write any
//! address into it and so escape a per-address limit. The list is walked from the right
//! (the hop our proxy appended) leftwards, skipping trusted hops, so a client cannot
//! choose its address by prepending entries either. Parsing of the setting lives here, in
//! [`TrustedProxies::parse`], and nowhere else.

use std::net::IpAddr;

use poem::http::HeaderMap;

/// An IP network: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    bits: u128,
    prefix: u8,
}

impl Cidr {
    fn contains(&self, ip: IpAddr) -> bool {
        mask(canonical_bits(ip), self.prefix) == self.bits
    }
}

/// The `trusted_proxies` setting, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// Parses IPs (`10.0.0.1`, `::1`) and networks (`10.0.0.0/8`, `fd00::/8`). Errors name
    /// the entry that is neither.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<TrustedProxies, String> {
        entries
            .iter()
            .map(|entry| {
                let entry = entry.as_ref().trim();
                let invalid = || {
                    format!("`{entry}` in trusted_proxies is not an IP address or a network like 10.0.0.0/8")
                };
                let (addr, prefix) = match entry.split_once('/') {
                    Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| invalid())?)),
                    None => (entry, None),
                };
                let ip: IpAddr = addr.parse().map_err(|_| invalid())?;
                // IPv4 networks are kept as IPv4-mapped IPv6 ones, so one comparison
                // serves both families.
                let (max, offset) = if canonical(ip).is_ipv4() {
                    (32, 96)
                } else {
                    (128, 0)
                };
                let prefix = prefix.unwrap_or(max);
                if prefix > max {
                    return Err(invalid());
                }
                let prefix = prefix + offset;
                Ok(Cidr {
                    bits: mask(canonical_bits(ip), prefix),
                    prefix,
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    /// The client of a request (see [`client_ip`]).
    pub fn client_of(&self, req: &poem::Request) -> Option<IpAddr> {
        client_ip(
            req.remote_addr().as_socket_addr().map(|a| a.ip()),
            req.headers(),
            self,
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }
}

/// The client's address: the peer itself unless it is a trusted proxy, else the
/// rightmost `X-Forwarded-For` entry that is not a trusted proxy (the leftmost one when
/// every hop is trusted). An unreadable entry ends the walk at the last address known.
pub fn client_ip(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &TrustedProxies,
) -> Option<IpAddr> {
    let peer = peer.map(canonical)?;
    if trusted.is_empty() || !trusted.contains(peer) {
        return Some(peer);
    }
    let mut client = peer;
    // Several `X-Forwarded-For` lines are one list in order (RFC 9110 §5.3).
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            break;
        };
        client = ip;
        if !trusted.contains(ip) {
            break;
        }
    }
    Some(client)
}

/// One `X-Forwarded-For` entry: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or
/// `[2001:db8::1]:5678`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    hop.parse::<std::net::SocketAddr>()
        .ok()
        .map(|s| canonical(s.ip()))
}

/// IPv4-mapped IPv6 addresses (from dual-stack sockets) as the IPv4 address they are.
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// The address as 128 bits, IPv4 as IPv4-mapped IPv6.
pub fn canonical_bits(ip: IpAddr) -> u128 {
    match canonical(ip) {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn mask(bits: u128, prefix: u8) -> u128 {
    match prefix {
        0 => 0,
        p if p >= 128 => bits,
        p => bits & (u128::MAX << (128 - u32::from(p))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    #[test]
    fn parses_addresses_and_networks_and_names_a_bad_entry() {
        let t = TrustedProxies::parse(&["10.0.0.0/8", "192.168.1.7", "fd00::/8", "::1"])
            .expect("valid list");
        assert!(t.contains(ip("10.200.3.4")));
        assert!(t.contains(ip("192.168.1.7")));
        assert!(!t.contains(ip("192.168.1.8")));
        assert!(t.contains(ip("fd12::5")));
        assert!(t.contains(ip("::1")));
        assert!(
            t.contains(ip("::ffff:10.1.2.3")),
            "IPv4-mapped form matches"
        );
        assert!(!t.contains(ip("11.0.0.1")));
        for bad in ["10.0.0.0/33", "fd00::/129", "localhost", "10.0.0.0/x", ""] {
            let err = TrustedProxies::parse(&[bad]).expect_err(bad);
            assert!(err.contains("trusted_proxies"), "{err}");
        }
        assert!(
            TrustedProxies::parse(&["0.0.0.0/0"])
                .expect("all of IPv4")
                .contains(ip("8.8.8.8"))
        );
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_peer() {
        let none = TrustedProxies::default();
        let proxy = TrustedProxies::parse(&["10.0.0.0/8"]).expect("list");
        let h = xff(&["203.0.113.9"]);
        assert_eq!(
            client_ip(Some(ip("10.0.0.2")), &h, &none),
            Some(ip("10.0.0.2"))
        );
        assert_eq!(
            client_ip(Some(ip("198.51.100.1")), &h, &proxy),
            Some(ip("198.51.100.1"))
        );
        assert_eq!(
            client_ip(Some(ip("10.0.0.2")), &h, &proxy),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(
            client_ip(Some(ip("10.0.0.2")), &HeaderMap::new(), &proxy),
            Some(ip("10.0.0.2"))
        );
    }

    #[test]
    fn the_walk_goes_right_to_left_and_skips_trusted_hops() {
        let proxy = TrustedProxies::parse(&["10.0.0.0/8"]).expect("list");
        let peer = Some(ip("10.0.0.2"));
        // A client prepending a forged entry does not choose its address.
        let h = xff(&["1.1.1.1, 203.0.113.9, 10.0.0.7"]);
        assert_eq!(client_ip(peer, &h, &proxy), Some(ip("203.0.113.9")));
        // Several header lines are one list.
        let h = xff(&["1.1.1.1", "203.0.113.9:4711", "10.0.0.7"]);
        assert_eq!(client_ip(peer, &h, &proxy), Some(ip("203.0.113.9")));
        let h = xff(&["[2001:db8::5]:80"]);
        assert_eq!(client_ip(peer, &h, &proxy), Some(ip("2001:db8::5")));
        // Every hop trusted: the leftmost one.
        let h = xff(&["10.9.9.9, 10.0.0.7"]);
        assert_eq!(client_ip(peer, &h, &proxy), Some(ip("10.9.9.9")));
        // Garbage ends the walk at the last address known.
        let h = xff(&["203.0.113.9, garbage, 10.0.0.7"]);
        assert_eq!(client_ip(peer, &h, &proxy), Some(ip("10.0.0.7")));
        assert_eq!(client_ip(None, &h, &proxy), None);
    }
}
