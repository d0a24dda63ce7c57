//! livechat's core: the gRPC service that owns every rule and every byte of
//! state. Gateways and adapters are translators in front of it.
//!
//! Start reading at `app` (the use cases); `domain` holds the rules,
//! `store` and `bus` the I/O behind the traits in `app::ports`, and `grpc`
//! the wire. ARCHITECTURE.md at the repository root has the map.

pub mod app;
pub mod auth;
pub mod bus;
pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod store;
pub mod webhook_sender;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use livechat_runtime::{OpsState, Readiness};
use rand::RngCore;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use app::Clock;
pub use config::{CoreConfig, Secret};

use app::{Core, Hub, Policies};
use bus::InProcessBus;
use bus::amqp::AmqpBus;
use store::SqlStore;

/// Shortest JWT secret accepted (HS256 wants at least 256 bits).
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// A core wired to its store and bus, with its timers running.
pub struct Running {
    pub core: Arc<Core>,
    /// Cancel to stop the timers and end live streams.
    pub stop: CancellationToken,
    timers: tokio::task::JoinHandle<()>,
    /// The webhook dispatcher, which settles its tries in flight on stop.
    webhooks: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").field("core", &self.core).finish_non_exhaustive()
    }
}

impl Running {
    /// Stops the timers and waits for them to record presence one last
    /// time, and for the webhook tries in flight to be recorded.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.timers.await;
        let _ = self.webhooks.await;
    }
}

/// Connects and migrates the database, settles the JWT secret, creates the
/// first admin if there is no agent, and starts the timers.
pub async fn start(config: &CoreConfig) -> anyhow::Result<Running> {
    config.check_secrets()?;
    let replica_id = domain::new_id();
    // With a broker, changes record their events in the outbox.
    let outbox = match &config.amqp_url {
        Some(_) => store::OutboxMode::Broker { replica: replica_id.clone() },
        None if config.local_channels => store::OutboxMode::OutboundOnly,
        None => store::OutboxMode::Off,
    };
    let store =
        Arc::new(SqlStore::connect(&config.database_url, config.database_max_connections, outbox).await?);
    let secret = match &config.jwt_secret {
        Some(s) => s.expose().to_string(),
        None => {
            // The all-in-one keeps a generated secret in its database, so that
            // tokens survive restarts.
            let mut bytes = [0u8; 48];
            rand::rng().fill_bytes(&mut bytes);
            let generated = base64::engine::general_purpose::STANDARD.encode(bytes);
            use app::ports::Directory;
            store.meta_init("jwt_secret", &generated).await?
        }
    };
    if secret.len() < MIN_JWT_SECRET_BYTES {
        anyhow::bail!("LIVECHAT_JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes");
    }
    let stop = CancellationToken::new();
    let hub = Hub::new();
    let bus: Arc<dyn app::ports::Bus> = match &config.amqp_url {
        Some(url) => {
            let exchange = config.amqp_exchange.clone();
            AmqpBus::start(
                url.expose().to_string(),
                exchange,
                hub.clone(),
                stop.clone(),
                Duration::from_secs(10),
            )
            .await?
        }
        None => Arc::new(InProcessBus::new(hub.clone())),
    };
    let policies = Policies {
        agent_secs: config.agent_token_ttl_secs,
        visitor_secs: config.visitor_token_ttl_secs,
        login: domain::login::LoginPolicy {
            failures_per_address: config.login_failures_per_address,
            failures_per_account: config.login_failures_per_user,
        },
        rooms_per_ip_per_min: config.rooms_per_ip_per_min,
        open_rooms_per_ip: config.open_rooms_per_ip,
    };
    let keys = auth::TokenKeys::new(secret.as_bytes());
    let webhook_sender = Arc::new(webhook_sender::HttpWebhookSender);
    let outside = app::Outside { store, bus, webhook_sender };
    let core = Core::new(outside, hub, keys, policies, replica_id, config.clock.clone());

    let configured = config.admin_password.as_ref().map(Secret::expose);
    if let Some(generated) = core.bootstrap_admin(configured).await? {
        // Shown once, on the terminal of whoever started the first run.
        eprintln!(
            "\n  Created agent `admin` with password: {generated}\n  (set LIVECHAT_ADMIN_PASSWORD to choose it)\n"
        );
    } else if configured.is_some() {
        tracing::debug!("agents exist; LIVECHAT_ADMIN_PASSWORD is ignored");
    }

    let timers = tokio::spawn(
        core.clone()
            .run_timers(Duration::from_millis(config.timer_interval_ms), stop.clone().cancelled_owned()),
    );
    tokio::spawn(core.clone().run_relay(stop.clone().cancelled_owned()));
    let webhooks = tokio::spawn(core.clone().run_webhook_dispatcher(stop.clone().cancelled_owned()));
    if let Some(url) = &config.amqp_url {
        // Customers' messages from the channel adapters.
        let consume = bus::inbound::consume(
            url.expose().to_string(),
            config.amqp_exchange.clone(),
            core.clone(),
            stop.clone(),
        );
        tokio::spawn(consume);
    }
    Ok(Running { core, stop, timers, webhooks })
}

/// Runs the core's gRPC server on `listener` until `shutdown` resolves,
/// and, given `ops_listener`, `/healthz`, `/readyz` and `/metrics` on it.
/// Once `shutdown` resolves the replica drains for `drain`: it reports
/// itself not serving (gRPC health and `/readyz`), so that the gateways
/// take it out of their balance, and keeps serving what still comes.
pub async fn serve(
    config: CoreConfig,
    listener: TcpListener,
    ops_listener: Option<TcpListener>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    drain: Duration,
) -> anyhow::Result<()> {
    if ops_listener.is_some() {
        // Installed before the core starts, so that no count is lost.
        livechat_runtime::ops::metrics_handle();
    }
    let running = start(&config).await?;
    let stop = running.stop.clone();
    let core = running.core.clone();
    tokio::spawn(async move {
        shutdown.await;
        if !drain.is_zero() {
            core.begin_draining();
            tracing::info!(?drain, "draining: reported not serving, still serving");
            tokio::time::sleep(drain).await;
        }
        stop.cancel();
    });
    if let Some(ops_listener) = ops_listener {
        tracing::info!(addr = %ops_listener.local_addr()?, "operator routes listening");
        let ops = livechat_runtime::ops::router(OpsState::new(ReplicaReadiness(running.core.clone())));
        let stop = running.stop.clone();
        tokio::spawn(async move {
            let timeout = livechat_runtime::http_server::ListenerConfig::default().header_read_timeout();
            let served =
                livechat_runtime::http_server::serve(ops_listener, ops, timeout, stop.cancelled_owned())
                    .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "the operator routes stopped");
            }
        });
    }
    tracing::info!(addr = %listener.local_addr()?, "gRPC core listening");
    let served = grpc::serve(running.core.clone(), listener, running.stop.clone()).await;
    running.shutdown().await;
    served
}

/// A core replica is ready while its database answers and its bus is
/// connected (the same rule as its gRPC health status).
struct ReplicaReadiness(Arc<Core>);

impl Readiness for ReplicaReadiness {
    fn check(&self) -> futures::future::BoxFuture<'_, Result<(), String>> {
        let answer = if self.0.is_draining() {
            Err("shutting down".to_string())
        } else if !self.0.database_reachable() {
            Err("the database does not answer".to_string())
        } else if !self.0.ready() {
            Err("the event bus is not connected".to_string())
        } else {
            Ok(())
        };
        Box::pin(std::future::ready(answer))
    }
}
