//! The all-in-one livechat: the core's gRPC server, the REST gateway, the
//! WebSocket gateway and the web pages in one process (SQLite and the in-process bus by default). The gateway
//! talks to the core over loopback gRPC exactly as the standalone
//! `http-gateway` does, so both deployments run the same code paths.

use std::net::SocketAddr;
use std::time::Duration;

use livechat_core::CoreConfig;
use livechat_http::{AppState, CoreClient, HttpConfig};
use livechat_ws::SessionConfig;
use tokio::net::TcpListener;

/// Where the all-in-one serves REST (and, later, WebSocket and pages).
pub const LIVECHAT_LISTEN: ([u8; 4], u16) = ([127, 0, 0, 1], 8080);

/// Runs core and gateway until `shutdown` resolves; then stops accepting,
/// finishes requests in flight, ends event streams and exits.
pub async fn run(
    core: CoreConfig,
    http: HttpConfig,
    grpc_listener: TcpListener,
    http_listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let running = livechat_core::start(&core).await?;
    let grpc_addr = loopback(grpc_listener.local_addr()?);
    let stop = running.stop.clone();
    let grpc = tokio::spawn(livechat_core::grpc::serve(running.core.clone(), grpc_listener, stop.clone()));

    let client = CoreClient::connect_lazy(
        &[format!("http://{grpc_addr}")],
        Some(Duration::from_millis(http.request_timeout_ms)),
    )
    .map_err(anyhow::Error::msg)?;
    let ws = livechat_ws::WsState {
        core: client.clone(),
        session: SessionConfig::default(),
        shutdown: stop.clone(),
    };
    let app = livechat_http::router(AppState::new(client, &http), &http).merge(livechat_ws::router(ws));
    tokio::spawn({
        let stop = stop.clone();
        async move {
            shutdown.await;
            stop.cancel();
        }
    });
    let served = livechat_ws::serve(app, http_listener, stop).await;
    let grpc_result = grpc.await;
    running.shutdown().await;
    served?;
    grpc_result??;
    Ok(())
}

/// The address to dial for a listener bound to a wildcard address.
fn loopback(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() { SocketAddr::from(([127, 0, 0, 1], addr.port())) } else { addr }
}
