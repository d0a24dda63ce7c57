//! The core replicas a gateway balances over, kept in step with DNS.
//!
//! Each configured URL names a host; every address the host resolves to is
//! one replica. A Kubernetes headless Service is such a name: it resolves to
//! the ready pods, and the set changes as pods come and go. The set is
//! resolved at once and again every `RESOLVE_EVERY`; a failed lookup keeps
//! the replicas already known, so a DNS blip never empties the balancer.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::mpsc::Sender;
use tonic::transport::channel::Change;
use tonic::transport::{Endpoint, Uri};

/// How often names are resolved again.
pub const RESOLVE_EVERY: Duration = Duration::from_secs(5);

/// One configured URL, split into what resolving needs.
#[derive(Debug, Clone)]
pub struct Target {
    scheme: String,
    host: String,
    port: u16,
}

impl Target {
    pub fn parse(url: &str) -> Result<Self, String> {
        let uri: Uri = url.trim().parse().map_err(|e| format!("LIVECHAT_CORE_URL {url:?}: {e}"))?;
        let scheme = uri.scheme_str().unwrap_or("http").to_string();
        let host = uri.host().ok_or_else(|| format!("LIVECHAT_CORE_URL {url:?}: no host"))?;
        // An IPv6 literal comes back in brackets; the resolver wants it bare.
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let port = uri.port_u16().unwrap_or(if scheme == "https" { 443 } else { 80 });
        Ok(Self { scheme, host, port })
    }

    async fn resolve(&self) -> std::io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host((self.host.as_str(), self.port)).await?.collect())
    }
}

/// Resolves `targets` until the channel is dropped, inserting an endpoint
/// per new address and removing the ones a name no longer resolves to.
pub async fn follow(
    targets: Vec<Target>,
    configure: impl Fn(Endpoint) -> Endpoint + Send + 'static,
    changes: Sender<Change<SocketAddr, Endpoint>>,
) {
    // Per target: the addresses it resolved to last time.
    let mut known: HashMap<usize, HashSet<SocketAddr>> = HashMap::new();
    loop {
        for (i, target) in targets.iter().enumerate() {
            let now: HashSet<SocketAddr> = match target.resolve().await {
                Ok(addrs) if !addrs.is_empty() => addrs.into_iter().collect(),
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(host = %target.host, error = %e, "resolving the core failed; keeping the replicas known");
                    continue;
                }
            };
            let before = known.entry(i).or_default();
            let still_used = |addr: &SocketAddr, known: &HashMap<usize, HashSet<SocketAddr>>| {
                known.iter().any(|(j, set)| *j != i && set.contains(addr))
            };
            let added: Vec<SocketAddr> = now.difference(before).copied().collect();
            let removed: Vec<SocketAddr> = before.difference(&now).copied().collect();
            *before = now;
            for addr in added {
                let Ok(endpoint) = Endpoint::from_shared(format!("{}://{addr}", target.scheme)) else {
                    continue;
                };
                tracing::info!(%addr, host = %target.host, "core replica added");
                if changes.send(Change::Insert(addr, configure(endpoint))).await.is_err() {
                    return;
                }
            }
            for addr in removed {
                if still_used(&addr, &known) {
                    continue;
                }
                tracing::info!(%addr, host = %target.host, "core replica removed");
                if changes.send(Change::Remove(addr)).await.is_err() {
                    return;
                }
            }
        }
        tokio::select! {
            _ = changes.closed() => return,
            _ = tokio::time::sleep(RESOLVE_EVERY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_without_a_port_uses_the_scheme_default() {
        let t = Target::parse("http://core.livechat.svc").unwrap();
        assert_eq!((t.scheme.as_str(), t.host.as_str(), t.port), ("http", "core.livechat.svc", 80));
        let t = Target::parse("https://core:8443").unwrap();
        assert_eq!((t.scheme.as_str(), t.port), ("https", 8443));
        let t = Target::parse("http://[::1]:50051").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 50051));
    }

    #[test]
    fn a_url_without_a_host_is_refused() {
        assert!(Target::parse("/just/a/path").is_err());
    }

    #[tokio::test]
    async fn a_name_becomes_one_endpoint_per_address_it_resolves_to() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let targets = vec![Target::parse("http://localhost:50051").unwrap()];
        let follower = tokio::spawn(follow(targets, |e| e, tx));
        let expected: HashSet<SocketAddr> =
            tokio::net::lookup_host(("localhost", 50051)).await.unwrap().collect();
        let mut inserted = HashSet::new();
        while inserted.len() < expected.len() {
            match rx.recv().await.unwrap() {
                Change::Insert(addr, endpoint) => {
                    assert_eq!(endpoint.uri().port_u16(), Some(50051));
                    inserted.insert(addr);
                }
                Change::Remove(addr) => panic!("nothing should be removed, {addr} was"),
            }
        }
        assert_eq!(inserted, expected);
        drop(rx);
        tokio::time::timeout(RESOLVE_EVERY * 2, follower).await.unwrap().unwrap();
    }
}
