//! Whose request it is, for limits keyed by address: the TCP peer, unless
//! the peer is one of `LIVECHAT_TRUSTED_PROXIES`; then the nearest address
//! in `X-Forwarded-For` that is not a trusted proxy. Nothing else is
//! believed: an untrusted client could write any `X-Forwarded-For` it
//! likes and get a fresh budget with each request.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The proxies (load balancers, ingress controllers) whose
/// `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

/// Parses one entry of `LIVECHAT_TRUSTED_PROXIES`: a network (`10.0.0.0/8`)
/// or a single address.
pub fn parse_proxy(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{s:?} is neither an address nor a network (like 10.0.0.0/8)"))
}

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The client's address for a request that came from `peer`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        // Right to left: each trusted hop appended the address it saw.
        let hops = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
        let mut hops: Vec<&str> = hops.flat_map(|v| v.split(',')).map(str::trim).collect();
        hops.reverse();
        for hop in hops {
            match hop.parse::<IpAddr>() {
                Ok(ip) if self.trusts(ip) => continue,
                Ok(ip) => return ip,
                // Garbage from beyond the trusted hops: the last trusted
                // hop is all we know for sure.
                Err(_) => break,
            }
        }
        peer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let proxies = TrustedProxies::new(vec![parse_proxy("10.0.0.0/8").unwrap()]);
        assert_eq!(proxies.client(ip("203.0.113.9"), &xff("1.2.3.4")), ip("203.0.113.9"));
        assert_eq!(TrustedProxies::default().client(ip("10.1.1.1"), &xff("1.2.3.4")), ip("10.1.1.1"));
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
        let proxies =
            TrustedProxies::new(vec![parse_proxy("10.0.0.0/8").unwrap(), parse_proxy("192.0.2.7").unwrap()]);
        // The client forged the first entry; the proxies appended the rest.
        let h = xff("6.6.6.6, 198.51.100.20, 192.0.2.7");
        assert_eq!(proxies.client(ip("10.0.0.5"), &h), ip("198.51.100.20"));
        assert_eq!(proxies.client(ip("10.0.0.5"), &HeaderMap::new()), ip("10.0.0.5"));
        assert_eq!(proxies.client(ip("10.0.0.5"), &xff("not-an-ip, 10.0.0.6")), ip("10.0.0.5"));
    }

    #[test]
    fn entries_are_networks_or_single_addresses() {
        assert!(parse_proxy("10.0.0.0/8").is_ok());
        assert!(parse_proxy(" 2001:db8::1 ").is_ok());
        assert!(parse_proxy("proxy.local").is_err());
    }
}
