//! The all-in-one livechat: the core's gRPC server, the REST gateway, the
//! WebSocket gateway and the web pages in one process (SQLite and the
//! in-process bus by default). The gateways make the same gRPC calls as the
//! standalone binaries, with the same authentication layer, but through
//! the core's services in memory instead of a loopback socket.

pub mod channels;

use std::time::Duration;

use livechat_adapter::Channels;

use livechat_core::CoreConfig;
use livechat_http::{AppState, CoreClient, HttpConfig};
use livechat_ws::SessionConfig;
use tokio::net::TcpListener;

/// Where the all-in-one serves REST, WebSocket, the pages and the operator routes.
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
    run_with_session(core, http, SessionConfig::default(), grpc_listener, http_listener, shutdown).await
}

/// `run` with the WebSocket sessions' knobs chosen by the caller: the
/// command line sets their frame limits; the test kit also shortens ping
/// and idle times to test liveness in seconds, on the very assembly `run`
/// serves.
pub async fn run_with_session(
    core: CoreConfig,
    http: HttpConfig,
    session: SessionConfig,
    grpc_listener: TcpListener,
    http_listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_with_channels(core, http, session, Channels::default(), grpc_listener, http_listener, shutdown).await
}

/// `run_with_session` plus the channel adapters whose variables are set in
/// `channels`, their webhooks on the main listener.
pub async fn run_with_channels(
    mut core: CoreConfig,
    http: HttpConfig,
    session: SessionConfig,
    channels: Channels,
    grpc_listener: TcpListener,
    http_listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let configured = channels.configured().map_err(|e| anyhow::anyhow!(e))?;
    // Without a broker, outbound messages wait in the outbox for the adapters.
    core.local_channels = !configured.is_empty() && core.amqp_url.is_none();
    let running = livechat_core::start(&core).await?;
    let stop = running.stop.clone();
    let services = livechat_core::grpc::services(&running.core, &stop).await?;
    // Adapters and tools still reach the core over gRPC on its port.
    let grpc = tokio::spawn(livechat_core::grpc::serve_services(
        running.core.clone(),
        services.clone(),
        grpc_listener,
        stop.clone(),
    ));

    let timeout = Some(Duration::from_millis(http.request_timeout_ms));
    let client = CoreClient::in_process(livechat_core::grpc::in_process(&running.core, services), timeout)
        .with_local_calls(livechat_core::grpc::local_calls(&running.core, &stop), timeout);
    let ws = livechat_ws::WsState {
        core: client.clone(),
        connections: livechat_ws::Connections::new(session.connections),
        session,
        shutdown: stop.clone(),
        proxies: http.listener.proxies(),
    };
    let amqp = core.amqp_url.as_ref().map(|url| (url.expose().to_string(), core.amqp_exchange.clone()));
    let webhooks = channels::start(&channels, &running.core, amqp, &stop).await?;
    let app = livechat_http::router(AppState::new(client, &http), &http)
        .merge(livechat_ws::router(ws))
        .merge(webhooks);
    tokio::spawn({
        let stop = stop.clone();
        async move {
            shutdown.await;
            stop.cancel();
        }
    });
    let stopped = stop.clone();
    http.listener
        .serve_metrics(async move { stopped.cancelled().await })
        .await
        .map_err(|e| anyhow::anyhow!("LIVECHAT_METRICS_LISTEN: {e}"))?;
    let header_read_timeout = http.listener.header_read_timeout();
    let served = livechat_ws::serve(app, http_listener, header_read_timeout, stop).await;
    let grpc_result = grpc.await;
    running.shutdown().await;
    served?;
    grpc_result??;
    Ok(())
}
