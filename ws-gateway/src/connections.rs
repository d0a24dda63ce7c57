//! How many WebSockets one token, and one client address, may hold open at
//! once. Every connection costs memory and a stream on the core; without a
//! cap one visitor token could open thousands. Counted on this gateway
//! replica (a client spread over replicas by a load balancer gets the cap
//! on each).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use livechat_runtime::ApiError;

/// The caps, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct ConnectionLimits {
    /// WebSockets one token may hold open at once (an agent's tabs).
    #[arg(long, env = "LIVECHAT_WS_CONNECTIONS_PER_TOKEN", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub per_token: u32,
    /// WebSockets one client address may hold open at once (an office
    /// behind one NAT holds many).
    #[arg(long, env = "LIVECHAT_WS_CONNECTIONS_PER_ADDRESS", default_value_t = 500,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub per_address: u32,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self { per_token: 20, per_address: 500 }
    }
}

/// The open connections of this replica, by token (hashed: an unverified
/// bearer string of any size costs eight bytes) and by address.
#[derive(Debug, Default)]
pub struct Connections {
    limits: ConnectionLimits,
    hasher: RandomState,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    by_token: HashMap<u64, u32>,
    by_address: HashMap<IpAddr, u32>,
}

/// One admitted connection; dropping it gives its place back.
#[derive(Debug)]
pub struct Admitted {
    connections: Arc<Connections>,
    token: u64,
    address: IpAddr,
}

impl Connections {
    pub fn new(limits: ConnectionLimits) -> Arc<Self> {
        Arc::new(Self { limits, ..Self::default() })
    }

    /// A place for one more connection of `token` from `address`, or the
    /// 429 that refuses the upgrade.
    pub fn admit(self: &Arc<Self>, token: &str, address: IpAddr) -> Result<Admitted, ApiError> {
        let key = self.hasher.hash_one(token);
        let mut open = self.open.lock().expect("connections lock poisoned");
        let by_token = open.by_token.get(&key).copied().unwrap_or(0);
        let by_address = open.by_address.get(&address).copied().unwrap_or(0);
        if by_token >= self.limits.per_token || by_address >= self.limits.per_address {
            metrics::counter!("livechat_ws_connections_refused_total").increment(1);
            return Err(ApiError::rate_limited(1));
        }
        *open.by_token.entry(key).or_default() += 1;
        *open.by_address.entry(address).or_default() += 1;
        Ok(Admitted { connections: self.clone(), token: key, address })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.connections.open.lock().expect("connections lock poisoned");
        release(&mut open.by_token, &self.token);
        release(&mut open.by_address, &self.address);
    }
}

fn release<K: Hash + Eq>(counts: &mut HashMap<K, u32>, key: &K) {
    if let Some(n) = counts.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_token_gets_its_cap_and_a_place_back_when_one_closes() {
        let c = Connections::new(ConnectionLimits { per_token: 2, per_address: 100 });
        let one = c.admit("t", ip("192.0.2.1")).unwrap();
        let _two = c.admit("t", ip("192.0.2.2")).unwrap();
        assert_eq!(c.admit("t", ip("192.0.2.3")).unwrap_err().status.as_u16(), 429);
        assert!(c.admit("other", ip("192.0.2.3")).is_ok(), "another token is not affected");
        drop(one);
        assert!(c.admit("t", ip("192.0.2.3")).is_ok());
    }

    #[test]
    fn an_address_gets_its_cap_whatever_the_tokens() {
        let c = Connections::new(ConnectionLimits { per_token: 100, per_address: 2 });
        let _a = c.admit("a", ip("192.0.2.1")).unwrap();
        let _b = c.admit("b", ip("192.0.2.1")).unwrap();
        assert!(c.admit("c", ip("192.0.2.1")).is_err());
        assert!(c.admit("c", ip("192.0.2.9")).is_ok());
    }

    #[test]
    fn nothing_is_kept_once_every_connection_closed() {
        let c = Connections::new(ConnectionLimits::default());
        drop(c.admit("t", ip("192.0.2.1")).unwrap());
        let open = c.open.lock().unwrap();
        assert!(open.by_token.is_empty() && open.by_address.is_empty());
    }
}
