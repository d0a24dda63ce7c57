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
//! SERVING within `CHECK_TIMEOUT` (killed, hung, unreachable, stopping,
//! or cut off from its database or broker) leaves the balance set, within
//! `CHECK_EVERY + CHECK_TIMEOUT`, and comes back as soon as it serves
//! again. A stopping core reports NOT_SERVING while it drains, so it
//! leaves the set before it closes its port: a rolling restart costs no
//! call. When no replica serves (a database outage hits them all), all
//! stay in the set, and calls get the cores' own `unavailable` at once.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
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

/// What the transport tells the watchers when a call's connection was
/// refused (a replica may have died): every watcher checks at once rather
/// than at its next tick, and the transport can wait for the dead one to
/// leave the set before it sends the call again.
#[derive(Debug)]
pub struct Suspicion {
    check_now: tokio::sync::Notify,
    /// Counts removals from the balance set.
    removed: tokio::sync::watch::Sender<u64>,
}

impl Default for Suspicion {
    fn default() -> Self {
        Self { check_now: tokio::sync::Notify::new(), removed: tokio::sync::watch::Sender::new(0) }
    }
}

impl Suspicion {
    /// Asks every replica now; resolves once one has left the set, or
    /// after `within` if none does.
    pub async fn refused(&self, within: Duration) {
        let mut removed = self.removed.subscribe();
        self.check_now.notify_waiters();
        let _ = tokio::time::timeout(within, removed.changed()).await;
    }
}

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

/// Asks one replica whether it answers, every `CHECK_EVERY`, and reports
/// each change (and the first answer) to `follow`, until aborted.
async fn watch(
    addr: SocketAddr,
    endpoint: Endpoint,
    reports: Sender<(SocketAddr, bool)>,
    suspicion: Arc<Suspicion>,
) {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let probe = endpoint.connect_timeout(CHECK_TIMEOUT).connect_lazy();
    let mut health = HealthClient::new(probe);
    let mut last = None;
    loop {
        let check = health.check(HealthCheckRequest { service: String::new() });
        let answers = matches!(
            tokio::time::timeout(CHECK_TIMEOUT, check).await,
            Ok(Ok(r)) if r.get_ref().status == ServingStatus::Serving as i32
        );
        if last != Some(answers) {
            last = Some(answers);
            if reports.send((addr, answers)).await.is_err() {
                return;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(CHECK_EVERY) => {}
            _ = suspicion.check_now.notified() => {}
        }
    }
}

/// The replicas known from DNS, which of them do not answer, and which are
/// in the balance set right now.
#[derive(Default)]
struct Members {
    endpoints: HashMap<SocketAddr, Endpoint>,
    watchers: HashMap<SocketAddr, tokio::task::AbortHandle>,
    down: HashSet<SocketAddr>,
    balanced: HashSet<SocketAddr>,
}

impl Members {
    /// Who should be balanced over: the replicas that answer; or, when
    /// none does, all of them, so that calls fail at once with
    /// `unavailable` instead of waiting for a replica that may never come.
    fn wanted(&self) -> HashSet<SocketAddr> {
        let up: HashSet<SocketAddr> =
            self.endpoints.keys().filter(|a| !self.down.contains(a)).copied().collect();
        if up.is_empty() { self.endpoints.keys().copied().collect() } else { up }
    }

    /// Sends the balancer what changed; false once it is gone.
    async fn apply(&mut self, changes: &Sender<Change<SocketAddr, Endpoint>>, suspicion: &Suspicion) -> bool {
        let wanted = self.wanted();
        for addr in self.balanced.difference(&wanted).copied().collect::<Vec<_>>() {
            tracing::warn!(%addr, "core replica out of the balance");
            self.balanced.remove(&addr);
            if changes.send(Change::Remove(addr)).await.is_err() {
                return false;
            }
            suspicion.removed.send_modify(|n| *n += 1);
        }
        for addr in wanted.difference(&self.balanced).copied().collect::<Vec<_>>() {
            let Some(endpoint) = self.endpoints.get(&addr) else { continue };
            tracing::info!(%addr, "core replica in the balance");
            self.balanced.insert(addr);
            if changes.send(Change::Insert(addr, endpoint.clone())).await.is_err() {
                return false;
            }
        }
        true
    }

    fn forget(&mut self, addr: SocketAddr) {
        if let Some(w) = self.watchers.remove(&addr) {
            w.abort();
        }
        self.endpoints.remove(&addr);
        self.down.remove(&addr);
    }
}

impl Drop for Members {
    fn drop(&mut self) {
        self.watchers.values().for_each(tokio::task::AbortHandle::abort);
    }
}

/// Resolves `targets` until the balancer is dropped, watching every
/// replica found, and keeps the balance set to the ones that answer.
pub async fn follow(
    targets: Vec<Target>,
    configure: impl Fn(Endpoint) -> Endpoint + Send + 'static,
    changes: Sender<Change<SocketAddr, Endpoint>>,
    suspicion: Arc<Suspicion>,
) {
    // Per target: the addresses it resolved to last time.
    let mut known: HashMap<usize, HashSet<SocketAddr>> = HashMap::new();
    let mut members = Members::default();
    let (reports, mut reported) = tokio::sync::mpsc::channel(64);
    let mut resolve = tokio::time::interval(RESOLVE_EVERY);
    loop {
        tokio::select! {
            _ = changes.closed() => return,
            Some((addr, answers)) = reported.recv() => {
                if !members.endpoints.contains_key(&addr) {
                    continue;
                }
                if answers { members.down.remove(&addr); } else { members.down.insert(addr); }
            }
            _ = resolve.tick() => {
                for (i, target) in targets.iter().enumerate() {
                    let now: HashSet<SocketAddr> = match target.resolve().await {
                        Ok(addrs) if !addrs.is_empty() => addrs.into_iter().collect(),
                        Ok(_) => continue,
                        Err(e) => {
                            tracing::warn!(host = %target.host, error = %e, "resolving the core failed; keeping the replicas known");
                            continue;
                        }
                    };
                    let before = known.entry(i).or_default().clone();
                    known.insert(i, now.clone());
                    let still_used = |addr: &SocketAddr| known.iter().any(|(j, set)| *j != i && set.contains(addr));
                    for addr in now.difference(&before) {
                        if members.endpoints.contains_key(addr) {
                            continue;
                        }
                        let Ok(endpoint) = Endpoint::from_shared(format!("{}://{addr}", target.scheme)) else {
                            continue;
                        };
                        tracing::info!(%addr, host = %target.host, "core replica found");
                        let endpoint = configure(endpoint);
                        let watcher = tokio::spawn(watch(*addr, endpoint.clone(), reports.clone(), suspicion.clone()));
                        members.watchers.insert(*addr, watcher.abort_handle());
                        members.endpoints.insert(*addr, endpoint);
                    }
                    for addr in before.difference(&now) {
                        if !still_used(addr) {
                            tracing::info!(%addr, host = %target.host, "core replica gone from DNS");
                            members.forget(*addr);
                        }
                    }
                }
            }
        }
        if !members.apply(&changes, &suspicion).await {
            return;
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
        serve_health(listener, service, stop).await;
    }

    async fn serve_health(
        listener: tokio::net::TcpListener,
        service: tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>,
        stop: tokio::sync::oneshot::Receiver<()>,
    ) {
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stop.await;
            })
            .await
            .unwrap();
    }

    /// A stand-in on `addr` (or a free port): its address and its stop.
    async fn core_at(
        addr: &str,
    ) -> (SocketAddr, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        (addr, stop, tokio::spawn(health_server(listener, stopped)))
    }

    /// The next change, within a check, its timeout and some slack.
    async fn next_change(
        rx: &mut tokio::sync::mpsc::Receiver<Change<SocketAddr, Endpoint>>,
    ) -> Change<SocketAddr, Endpoint> {
        let within = CHECK_EVERY + CHECK_TIMEOUT + Duration::from_millis(500);
        tokio::time::timeout(within, rx.recv()).await.expect("a change in time").expect("the follower runs")
    }

    fn inserted(change: Change<SocketAddr, Endpoint>) -> SocketAddr {
        match change {
            Change::Insert(a, _) => a,
            Change::Remove(a) => panic!("{a} removed, not inserted"),
        }
    }

    /// A follower of replicas `a` and `b`, once both are in the balance.
    async fn following_both(
        a: SocketAddr,
        b: SocketAddr,
    ) -> (tokio::sync::mpsc::Receiver<Change<SocketAddr, Endpoint>>, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let targets = vec![
            Target::parse(&format!("http://{a}")).unwrap(),
            Target::parse(&format!("http://{b}")).unwrap(),
        ];
        let follower = tokio::spawn(follow(targets, |e| e, tx, Arc::default()));
        let first: HashSet<SocketAddr> =
            [inserted(next_change(&mut rx).await), inserted(next_change(&mut rx).await)].into();
        assert_eq!(first, HashSet::from([a, b]));
        (rx, follower)
    }

    #[tokio::test]
    async fn a_dead_replica_leaves_the_balance_and_comes_back_when_it_answers() {
        let (a, stop_a, server_a) = core_at("127.0.0.1:0").await;
        let (b, _stop_b, _server_b) = core_at("127.0.0.1:0").await;
        let (mut rx, follower) = following_both(a, b).await;
        // A killed: out within a check and its timeout, B carries on.
        stop_a.send(()).unwrap();
        server_a.await.unwrap();
        assert!(matches!(next_change(&mut rx).await, Change::Remove(gone) if gone == a));
        // Back on the same address: in again.
        let (_, _stop_a2, _server_a2) = core_at(&a.to_string()).await;
        assert_eq!(inserted(next_change(&mut rx).await), a);
        drop(rx);
        tokio::time::timeout(RESOLVE_EVERY * 2, follower).await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_replica_that_reports_not_serving_leaves_the_balance_while_still_answering() {
        let (reporter, service) = tonic_health::server::health_reporter();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = listener.local_addr().unwrap();
        let (_stop_a, stopped) = tokio::sync::oneshot::channel();
        let _server_a = tokio::spawn(serve_health(listener, service, stopped));
        let (b, _stop_b, _server_b) = core_at("127.0.0.1:0").await;
        let (mut rx, follower) = following_both(a, b).await;
        // A begins to drain: out, though it still answers every call.
        reporter.set_service_status("", tonic_health::ServingStatus::NotServing).await;
        assert!(matches!(next_change(&mut rx).await, Change::Remove(gone) if gone == a));
        reporter.set_service_status("", tonic_health::ServingStatus::Serving).await;
        assert_eq!(inserted(next_change(&mut rx).await), a);
        drop(rx);
        tokio::time::timeout(RESOLVE_EVERY * 2, follower).await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_call_refused_by_a_replica_that_just_died_goes_to_the_live_one() {
        use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
        let (a, stop_a, server_a) = core_at("127.0.0.1:0").await;
        let (b, _stop_b, _server_b) = core_at("127.0.0.1:0").await;
        let client =
            crate::client::CoreClient::connect_lazy(&[format!("http://{a}"), format!("http://{b}")], None)
                .unwrap();
        let check = || async {
            HealthClient::new(client.transport()).check(HealthCheckRequest { service: String::new() }).await
        };
        // Both replicas in the balance and connected.
        tokio::time::sleep(CHECK_EVERY).await;
        for _ in 0..10 {
            check().await.unwrap();
        }
        stop_a.send(()).unwrap();
        server_a.await.unwrap();
        // At once, before any periodic check could notice: no call fails.
        for i in 0..20 {
            check().await.unwrap_or_else(|e| panic!("call {i} after the kill: {e:?}"));
        }
    }

    #[tokio::test]
    async fn when_no_replica_answers_all_stay_so_calls_fail_at_once() {
        let (a, stop_a, server_a) = core_at("127.0.0.1:0").await;
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let follower = tokio::spawn(follow(
            vec![Target::parse(&format!("http://{a}")).unwrap()],
            |e| e,
            tx,
            Arc::default(),
        ));
        assert_eq!(inserted(next_change(&mut rx).await), a);
        stop_a.send(()).unwrap();
        server_a.await.unwrap();
        // The only replica is down: it stays, so that a call is refused
        // (unavailable) rather than held for a replica that may not come.
        let within = CHECK_EVERY + CHECK_TIMEOUT + Duration::from_millis(500);
        assert!(tokio::time::timeout(within, rx.recv()).await.is_err(), "nothing removed");
        drop(rx);
        tokio::time::timeout(RESOLVE_EVERY * 2, follower).await.unwrap().unwrap();
    }
}
