//! The tonic gRPC server: livechat.v1 services, grpc.health.v1, server
//! reflection, and the tower layer that authenticates every call.

mod admin;
mod auth_layer;
mod canned;
mod convert;
mod events;
mod messages;
mod rooms;
pub mod status;
mod users;

use std::sync::Arc;
use std::time::Duration;

use livechat_proto::v1::{
    admin_service_server::AdminServiceServer, auth_service_server::AuthServiceServer,
    canned_response_service_server::CannedResponseServiceServer, event_service_server::EventServiceServer,
    message_service_server::MessageServiceServer, room_service_server::RoomServiceServer,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::app::Core;

/// How long a stopping server waits for calls and streams in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
pub use auth_layer::AuthLayer;

/// The gRPC services over one core, ready to be served or mounted.
pub fn routes(core: &Arc<Core>, stop: &CancellationToken) -> tonic::service::Routes {
    let mut b = tonic::service::Routes::builder();
    b.add_service(AuthServiceServer::new(users::AuthApi(core.clone())))
        .add_service(RoomServiceServer::new(rooms::RoomsApi(core.clone())))
        .add_service(MessageServiceServer::new(messages::MessagesApi(core.clone())))
        .add_service(CannedResponseServiceServer::new(canned::CannedApi(core.clone())))
        .add_service(AdminServiceServer::new(admin::AdminApi(core.clone())))
        .add_service(EventServiceServer::new(events::EventsApi { core: core.clone(), stop: stop.clone() }));
    b.routes()
}

/// Serves gRPC on `listener` until `shutdown` resolves; `stop` ends the
/// live event streams so that the graceful shutdown can finish.
pub async fn serve(core: Arc<Core>, listener: TcpListener, stop: CancellationToken) -> anyhow::Result<()> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<RoomServiceServer<rooms::RoomsApi>>().await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(livechat_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    tokio::spawn(watch_readiness(core.clone(), health, stop.clone()));

    let server = Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(20)))
        // One Subscribe stream per WebSocket, multiplexed over a gateway's
        // connection: the default of 200 streams would cap a gateway at 200 users.
        .max_concurrent_streams(Some(1_000_000))
        .layer(AuthLayer::new(core.clone()))
        .add_routes(routes(&core, &stop))
        .add_service(health_service)
        .add_service(reflection)
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
        let ready = core.ready().await.is_ok();
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
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}
