//! The core replicas a gateway balances over, kept in step with DNS and
//! with whether each one answers.
//!
//! Each configured URL names a host; every address the host resolves to is
//! one replica. A Kubernetes headless Service is such a name: it resolves to
//! the ready pods, and the set changes as pods come and go. The set is
//! resolved at once and again every `RESOLVE_EVERY`; a failed lookup keeps
//! the replicas already known, so a DNS blip never empties the balancer.
//!
//! DNS is slow to notice a dead pod, so each replica is also asked its
//! `grpc.health.v1` status every `CHECK_EVERY`: one that does not answer
//! within `CHECK_TIMEOUT` (killed, hung, unreachable) leaves the balance
//! set, within `CHECK_EVERY + CHECK_TIMEOUT`, and comes back as soon as it
//! answers again. Answering at all is what counts: a core whose database is
//! down still answers (and refuses calls at once with `unavailable`).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::mpsc::Sender;
use tonic::transport::channel::Change;
use tonic::transport::{Endpoint, Uri};

/// How often names are resolved again.
pub const RESOLVE_EVERY: Duration = Duration::from_secs(5);
/// How often each replica is asked whether it answers.
pub const CHECK_EVERY: Duration = Duration::from_millis(500);
/// How long an answer may take before the replica counts as gone.
pub const CHECK_TIMEOUT: Duration = Duration::from_millis(1000);

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

/// Keeps one replica in the balance set while it answers its health check,
/// and out of it while it does not, until aborted or the balancer is gone.
async fn watch(addr: SocketAddr, endpoint: Endpoint, changes: Sender<Change<SocketAddr, Endpoint>>) {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let probe = endpoint.clone().connect_timeout(CHECK_TIMEOUT).connect_lazy();
    let mut health = HealthClient::new(probe);
    let mut up = false;
    loop {
        let check = health.check(HealthCheckRequest { service: String::new() });
        let answers = matches!(tokio::time::timeout(CHECK_TIMEOUT, check).await, Ok(Ok(_)));
        if answers != up {
            up = answers;
            let change = if up {
                tracing::info!(%addr, "core replica answers; in the balance");
                Change::Insert(addr, endpoint.clone())
            } else {
                tracing::warn!(%addr, "core replica does not answer; out of the balance");
                Change::Remove(addr)
            };
            if changes.send(change).await.is_err() {
                return;
            }
        }
        tokio::select! {
            _ = changes.closed() => return,
            _ = tokio::time::sleep(CHECK_EVERY) => {}
        }
    }
}

/// Resolves `targets` until the channel is dropped, watching a replica per
/// new address (it joins the balance once it answers) and removing the ones
/// a name no longer resolves to.
pub async fn follow(
    targets: Vec<Target>,
    configure: impl Fn(Endpoint) -> Endpoint + Send + 'static,
    changes: Sender<Change<SocketAddr, Endpoint>>,
) {
    // Per target: the addresses it resolved to last time.
    let mut known: HashMap<usize, HashSet<SocketAddr>> = HashMap::new();
    // Per address: the task that watches it.
    let mut watchers: HashMap<SocketAddr, tokio::task::AbortHandle> = HashMap::new();
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
                if watchers.contains_key(&addr) {
                    continue;
                }
                tracing::info!(%addr, host = %target.host, "core replica found");
                let watcher = tokio::spawn(watch(addr, configure(endpoint), changes.clone()));
                watchers.insert(addr, watcher.abort_handle());
            }
            for addr in removed {
                if still_used(&addr, &known) {
                    continue;
                }
                tracing::info!(%addr, host = %target.host, "core replica removed");
                if let Some(watcher) = watchers.remove(&addr) {
                    watcher.abort();
                }
                if changes.send(Change::Remove(addr)).await.is_err() {
                    return;
                }
            }
        }
        tokio::select! {
            _ = changes.closed() => {
                watchers.values().for_each(tokio::task::AbortHandle::abort);
                return;
            }
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

    /// A core stand-in: the health service alone, until `stop` fires.
    async fn health_server(listener: tokio::net::TcpListener, stop: tokio::sync::oneshot::Receiver<()>) {
        let (_, service) = tonic_health::server::health_reporter();
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stop.await;
            })
            .await
            .unwrap();
    }

    /// The next change, within a check, its timeout and some slack.
    async fn next_change(
        rx: &mut tokio::sync::mpsc::Receiver<Change<SocketAddr, Endpoint>>,
    ) -> Change<SocketAddr, Endpoint> {
        let within = CHECK_EVERY + CHECK_TIMEOUT + Duration::from_millis(500);
        tokio::time::timeout(within, rx.recv()).await.expect("a change in time").expect("the follower runs")
    }

    #[tokio::test]
    async fn a_replica_joins_when_it_answers_leaves_when_it_dies_and_comes_back() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(health_server(listener, stopped));
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let targets = vec![Target::parse(&format!("http://{addr}")).unwrap()];
        let follower = tokio::spawn(follow(targets, |e| e, tx));
        match next_change(&mut rx).await {
            Change::Insert(a, endpoint) => {
                assert_eq!((a, endpoint.uri().port_u16()), (addr, Some(addr.port())))
            }
            Change::Remove(a) => panic!("{a} removed before it was added"),
        }
        // Killed: out of the balance within a check and its timeout.
        stop.send(()).unwrap();
        server.await.unwrap();
        assert!(matches!(next_change(&mut rx).await, Change::Remove(a) if a == addr));
        // Back on the same address: in again.
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let (_stop, stopped) = tokio::sync::oneshot::channel();
        tokio::spawn(health_server(listener, stopped));
        assert!(matches!(next_change(&mut rx).await, Change::Insert(a, _) if a == addr));
        drop(rx);
        tokio::time::timeout(RESOLVE_EVERY * 2, follower).await.unwrap().unwrap();
    }
}
