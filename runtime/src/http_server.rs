//! The HTTP server loop every livechat HTTP listener runs: axum's routers
//! on hyper, as `axum::serve` does, plus what `axum::serve` cannot be told:
//! a deadline for a request's headers, so that connections that never
//! finish a request (slowloris) are closed instead of held forever. Each
//! request carries `ConnectInfo` with the peer's address; WebSocket
//! upgrades and HTTP/2 work as with `axum::serve`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// What every HTTP listener of livechat is told, from flags or
/// `LIVECHAT_*` variables (the REST and the WebSocket gateway read the same).
#[derive(Debug, Clone, clap::Args)]
pub struct ListenerConfig {
    /// Longest a client may take to send a request's headers, in ms
    /// (connections that never finish a request are closed).
    #[arg(long, env = "LIVECHAT_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(100..=300_000))]
    pub header_read_timeout_ms: u64,

    /// Proxies whose X-Forwarded-For is believed (comma-separated
    /// addresses or networks, like 10.0.0.0/8); empty: the TCP peer is the
    /// client.
    #[arg(long, env = "LIVECHAT_TRUSTED_PROXIES", value_delimiter = ',',
          value_parser = crate::client_address::parse_proxy)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Serve `/metrics` on this address instead of the main listener, for
    /// deployments whose main port faces the internet (unset: on it).
    #[arg(long, env = "LIVECHAT_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        Self { header_read_timeout_ms: 10_000, trusted_proxies: vec![], metrics_listen: None }
    }
}

impl ListenerConfig {
    /// Whether `/metrics` belongs on the main listener.
    pub fn metrics_on_main_listener(&self) -> bool {
        self.metrics_listen.is_none()
    }

    /// Binds `LIVECHAT_METRICS_LISTEN`, if set, and serves `/metrics` there
    /// until `shutdown`.
    pub async fn serve_metrics(
        &self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Some(addr) = self.metrics_listen else { return Ok(()) };
        let listener = TcpListener::bind(addr).await?;
        tracing::info!(%addr, "metrics listening");
        let router = crate::ops::metrics_router(crate::ops::metrics_handle());
        let timeout = self.header_read_timeout();
        tokio::spawn(async move {
            if let Err(e) = serve(listener, router, timeout, shutdown).await {
                tracing::warn!(error = %e, "the metrics listener stopped");
            }
        });
        Ok(())
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }

    pub fn proxies(&self) -> crate::client_address::TrustedProxies {
        crate::client_address::TrustedProxies::new(self.trusted_proxies.clone())
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops
/// accepting, lets every connection finish what it is doing, and returns
/// once they have all closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Dropped on shutdown: every connection then closes gracefully.
    let (stop_tx, stop_rx) = watch::channel(());
    // Each connection holds a clone; `closed()` resolves when all are gone.
    let (open_tx, open_rx) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: wait a moment, keep serving.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let service = router.clone().map_request(move |req: hyper::Request<hyper::body::Incoming>| {
            let mut req = req.map(axum::body::Body::new);
            req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            req
        });
        let mut stop = stop_rx.clone();
        let open = open_rx.clone();
        tokio::spawn(async move {
            let mut builder = Builder::new(TokioExecutor::new());
            builder.http1().timer(TokioTimer::new()).header_read_timeout(header_read_timeout);
            // CONNECT, for WebSockets over HTTP/2.
            builder.http2().enable_connect_protocol();
            let conn = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service));
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(open);
        });
    }
    drop(stop_tx);
    drop(open_rx);
    open_tx.closed().await;
    Ok(())
}
