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

/// How long a client may take to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

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
        let service = router.clone().map_request(move |mut req: axum::extract::Request<_>| {
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
            let service = TowerToHyperService::new(
                service
                    .map_request(|req: hyper::Request<hyper::body::Incoming>| req.map(axum::body::Body::new)),
            );
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
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
