//! The tonic gRPC server: livechat.v1 services, grpc.health.v1, server
//! reflection, and the tower layer that authenticates every call.

mod admin;
mod auth_layer;
mod canned;
mod events;
mod feed;
mod gate;
mod local;
mod messages;
mod rooms;
pub mod status;
mod team;
mod users;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use livechat_proto::v1::{
    admin_service_server::AdminServiceServer, auth_service_server::AuthServiceServer,
    canned_response_service_server::CannedResponseServiceServer, event_service_server::EventServiceServer,
    message_service_server::MessageServiceServer, room_service_server::RoomServiceServer,
    team_service_server::TeamServiceServer, webhook_service_server::WebhookServiceServer,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::app::Core;

/// How long a stopping server waits for calls and streams in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How often the database and the bus are checked for grpc.health.v1.
const READINESS_EVERY: Duration = Duration::from_millis(500);
pub use auth_layer::AuthLayer;

/// The livechat.v1 services over one core.
fn livechat_services(core: &Arc<Core>, stop: &CancellationToken) -> tonic::service::RoutesBuilder {
    let mut b = tonic::service::Routes::builder();
    b.add_service(AuthServiceServer::new(users::AuthApi(core.clone())))
        .add_service(RoomServiceServer::new(rooms::RoomsApi(core.clone())))
        .add_service(MessageServiceServer::new(messages::MessagesApi(core.clone())))
        .add_service(CannedResponseServiceServer::new(canned::CannedApi(core.clone())))
        .add_service(AdminServiceServer::new(admin::AdminApi(core.clone())))
        .add_service(TeamServiceServer::new(team::TeamApi(core.clone())))
        .add_service(WebhookServiceServer::new(webhooks::WebhooksApi(core.clone())))
        .add_service(EventServiceServer::new(events::EventsApi { core: core.clone(), stop: stop.clone() }));
    b
}

/// Every gRPC service of one core: livechat.v1, grpc.health.v1 (kept in
/// step with readiness until `stop`) and reflection. Not yet authenticated:
/// serve them with `serve`, or call them in-process through `in_process`.
pub async fn services(core: &Arc<Core>, stop: &CancellationToken) -> anyhow::Result<tonic::service::Routes> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<RoomServiceServer<rooms::RoomsApi>>().await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(livechat_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    tokio::spawn(watch_readiness(core.clone(), health, stop.clone()));
    let mut b = livechat_services(core, stop);
    b.add_service(health_service).add_service(reflection);
    Ok(b.routes())
}

/// `services` behind the authentication layer, to be called in-process
/// (the all-in-one's gateways): the same checks as over the network.
pub fn in_process(core: &Arc<Core>, services: tonic::service::Routes) -> AuthenticatedServices {
    use tower::Layer;
    gate::GateLayer::new(core.clone()).layer(AuthLayer::new(core.clone()).layer(services))
}

/// The hot path's calls straight into the services, for the all-in-one's
/// gateways (`CoreClient::with_local_calls`): the same gate and
/// authentication as `in_process`, no encoding.
pub fn local_calls(
    core: &Arc<Core>,
    stop: &CancellationToken,
) -> Arc<dyn livechat_proto::client::LocalCalls> {
    Arc::new(local::Local::new(core, stop))
}

/// What `in_process` returns.
pub type AuthenticatedServices = gate::Gate<auth_layer::Authenticate<tonic::service::Routes>>;

/// Serves gRPC on `listener` until `stop` is cancelled, which also ends
/// the live event streams so that the graceful shutdown can finish.
pub async fn serve(core: Arc<Core>, listener: TcpListener, stop: CancellationToken) -> anyhow::Result<()> {
    let services = services(&core, &stop).await?;
    serve_services(core, services, listener, stop).await
}

/// `serve` with services built by `services` (shared with in-process callers).
pub async fn serve_services(
    core: Arc<Core>,
    services: tonic::service::Routes,
    listener: TcpListener,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let server = Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(20)))
        // One Subscribe stream per WebSocket, multiplexed over a gateway's
        // connection: the default of 200 streams would cap a gateway at 200 users.
        .max_concurrent_streams(Some(1_000_000))
        .layer(gate::GateLayer::new(core.clone()))
        .layer(AuthLayer::new(core))
        .add_routes(services)
        // Small request/response frames: without TCP_NODELAY each call can
        // wait ~40 ms on a delayed ACK.
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            stop.clone().cancelled_owned(),
        );
    tokio::pin!(server);
    tokio::select! {
        served = &mut server => served?,
        _ = async {
            stop.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => tracing::warn!("gRPC connections still open after the shutdown grace; closing them"),
    }
    Ok(())
}

/// Keeps grpc.health.v1 ("" and every service) in step with the database.
async fn watch_readiness(
    core: Arc<Core>,
    health: tonic_health::server::HealthReporter,
    stop: CancellationToken,
) {
    let mut was_ready = true;
    loop {
        let ready = core.ready();
        if ready != was_ready {
            let status = if ready {
                tonic_health::ServingStatus::Serving
            } else {
                tonic_health::ServingStatus::NotServing
            };
            health.set_service_status("", status).await;
            health.set_service_status("livechat.v1.RoomService", status).await;
            tracing::info!(ready, "readiness changed");
            was_ready = ready;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(READINESS_EVERY) => {}
        }
    }
}

/// The client a call is for: the address a gateway says it saw (after its
/// trusted proxies), else the peer of this connection. A direct caller may
/// claim any address: per-address limits slow it only as much as an
/// honest one, and the per-account and open-room limits still hold.
pub(crate) fn client_address<T>(req: &tonic::Request<T>) -> Option<std::net::IpAddr> {
    let claimed = req
        .metadata()
        .get(livechat_proto::client::CLIENT_ADDRESS)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    claimed.or_else(|| req.remote_addr().map(|a| a.ip()))
}
