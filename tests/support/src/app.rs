//! The production assembly per test: `livechat::run` (core, REST gateway,
//! WebSocket gateway, pages, in-process core channel) on two 127.0.0.1:0
//! listeners against a fresh [`TestDatabase`], and the [`Server`] lifecycle
//! that every assembly the kit spawns shares: dropping it shuts the server
//! down, then drops the database.

use std::sync::atomic::AtomicUsize;
use std::time::Duration;

pub use livechat_core::CoreConfig;
use livechat_core::{Clock, Secret};
pub use livechat_http::HttpConfig;
pub use livechat_ws::SessionConfig;
use reqwest::StatusCode;
use tokio::net::TcpListener;
use tokio::sync::{OnceCell, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::database::TestDatabase;
use crate::{ADMIN_PASSWORD, JWT_SECRET, TestAgent};

/// A server task and its database: told to stop when dropped, and the
/// database dropped after that (so a test cannot leak either).
pub struct Server {
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    // Declared last: dropped after the server has been told to stop.
    // None only once `into_database` took it for the next server.
    database: Option<TestDatabase>,
}

impl Server {
    /// Spawns `run(stop)` where `stop` resolves when the test is done with it.
    pub fn spawn<F>(database: TestDatabase, run: impl FnOnce(oneshot::Receiver<()>) -> F) -> Self
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(run(rx));
        Server { shutdown: Some(tx), task: Some(task), database: Some(database) }
    }

    /// The database URL the server uses.
    pub fn database_url(&self) -> &str {
        &self.database.as_ref().expect("the server has its database").url
    }

    /// Shuts the server down and hands its database over (for a restart).
    pub async fn into_database(mut self) -> TestDatabase {
        self.shut_down().await.expect("the server stopped cleanly");
        self.database.take().expect("the server has its database")
    }

    /// Panics with the server's result if it stopped: a start-up wait must
    /// not spin on a server that already failed.
    pub async fn assert_running(&mut self, what: &str) {
        if self.task.as_ref().is_some_and(|t| t.is_finished()) {
            let result = self.task.take().unwrap().await;
            panic!("{what} stopped while starting: {result:?}");
        }
    }

    /// Tells the server to shut down (as SIGTERM does) and waits until it
    /// has stopped; its result.
    pub async fn shut_down(&mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let task = self.task.take().expect("the server is running");
        tokio::time::timeout(Duration::from_secs(15), task)
            .await
            .expect("the server did not stop within 15 s of being told to")
            .expect("the server task panicked")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The configuration of one all-in-one test server.
pub struct AppConfig {
    pub core: CoreConfig,
    pub http: HttpConfig,
    pub session: SessionConfig,
    /// Channel adapters run in the process (none unless a test sets them).
    pub channels: livechat_adapter::Channels,
}

impl AppConfig {
    /// The kit's defaults on `database_url`: known secret and admin password,
    /// timers noticed within 100 ms, the gateways' own defaults.
    fn new(database_url: String) -> Self {
        let mut core = CoreConfig::for_database(database_url);
        core.jwt_secret = Some(Secret::new(JWT_SECRET));
        core.admin_password = Some(Secret::new(ADMIN_PASSWORD));
        // Expiry and grace are noticed within this of their deadline.
        core.timer_interval_ms = 100;
        // Every test's visitors come from 127.0.0.1: the per-address room
        // limit is tested on its own (`spawn_app_with`).
        core.rooms_per_ip_per_min = 100_000;
        core.open_rooms_per_ip = 100_000;
        let http = HttpConfig::default();
        AppConfig { core, http, session: SessionConfig::default(), channels: Default::default() }
    }

    /// Rate limits out of the way, for suites that test no limit but log
    /// in and send a lot.
    pub fn without_limits(&mut self) {
        self.http.login_rate_per_min = 100_000;
        self.core.login_failures_per_address = 100_000;
        self.core.login_failures_per_user = 100_000;
        self.http.api_rate_per_sec = 100_000;
        self.session.limits =
            livechat_ws::FrameLimits { messages_per_sec: u16::MAX, typing_per_sec: u16::MAX };
        self.session.connections = livechat_ws::ConnectionLimits { per_token: 100_000, per_address: 100_000 };
    }
}

/// A running all-in-one `livechat` for one test.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`: REST, WebSocket and pages.
    pub address: String,
    /// The core's gRPC listener, as adapters and tools reach it.
    pub grpc_address: String,
    pub client: reqwest::Client,
    pub database_url: String,
    /// The core's clock: `advance_clock` moves it.
    pub clock: Clock,
    pub(crate) admin: OnceCell<TestAgent>,
    pub(crate) agents_made: AtomicUsize,
    server: Server,
}

/// `livechat::run` with the gateways' default limits.
pub async fn spawn_app() -> TestApp {
    spawn_configured(|_| {}).await
}

/// As `spawn_app`, with a chance to change the configuration first.
pub async fn spawn_app_with(configure: impl FnOnce(&mut CoreConfig, &mut HttpConfig)) -> TestApp {
    spawn_configured(|c| configure(&mut c.core, &mut c.http)).await
}

/// `livechat::run` without rate limits (see `AppConfig::without_limits`).
pub async fn spawn_app_without_limits() -> TestApp {
    spawn_configured(AppConfig::without_limits).await
}

/// As `spawn_app_without_limits`, with these WebSocket session knobs (ping
/// interval, idle timeout), which the command line does not expose.
pub async fn spawn_app_with_session(session: SessionConfig) -> TestApp {
    spawn_configured(|c| {
        c.without_limits();
        c.session = session;
    })
    .await
}

/// `livechat::run_with_session` on a fresh database, once `/healthz` answers.
pub async fn spawn_configured(configure: impl FnOnce(&mut AppConfig)) -> TestApp {
    spawn_on(TestDatabase::fresh().await, configure).await
}

impl TestApp {
    /// Stops this server (as SIGTERM does) and starts a new one on the same
    /// database, configured afresh: what survives a restart.
    pub async fn restart(self, configure: impl FnOnce(&mut AppConfig)) -> TestApp {
        spawn_on(self.server.into_database().await, configure).await
    }
}

async fn spawn_on(database: TestDatabase, configure: impl FnOnce(&mut AppConfig)) -> TestApp {
    let database_url = database.url.clone();
    let mut config = AppConfig::new(database_url.clone());
    configure(&mut config);

    let grpc = TcpListener::bind("127.0.0.1:0").await.expect("bind gRPC listener");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind HTTP listener");
    let address = format!("http://{}", listener.local_addr().unwrap());
    let grpc_address = format!("http://{}", grpc.local_addr().unwrap());
    let clock = config.core.clock.clone();
    let AppConfig { core, http, session, channels } = config;
    let mut server = Server::spawn(database, |stop| {
        livechat::run_with_channels(core, http, session, channels, grpc, listener, async move {
            let _ = stop.await;
        })
    });
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest client");

    // The listener is bound before the core has migrated: /healthz answering
    // is what proves the whole process serves.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        server.assert_running("livechat").await;
        match client.get(format!("{address}/healthz")).timeout(Duration::from_secs(5)).send().await {
            Ok(r) if r.status() == StatusCode::OK => break,
            Ok(r) => {
                if Instant::now() > deadline {
                    panic!("/healthz answers {} after 60 s", r.status());
                }
            }
            Err(e) => {
                if Instant::now() > deadline {
                    panic!("livechat did not answer /healthz within 60 s: {e}");
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    TestApp {
        address,
        grpc_address,
        client,
        database_url,
        clock,
        admin: OnceCell::new(),
        agents_made: AtomicUsize::new(0),
        server,
    }
}

/// Moves a test server's time forward and waits until its timers have run
/// at the new time: what fell due (an expiry, a grace period) has happened.
pub async fn move_time(clock: &Clock, by: Duration) {
    clock.advance(by);
    tokio::time::timeout(Duration::from_secs(10), clock.timers_caught_up())
        .await
        .expect("the core's timers did not run within 10 s of the clock moving");
}

impl TestApp {
    /// Moves the core's time forward; returns once its timers have acted
    /// on the new time.
    pub async fn advance_clock(&self, by: Duration) {
        move_time(&self.clock, by).await
    }

    /// Tells the server to shut down (as SIGTERM does) and waits until it
    /// has stopped; its result.
    pub async fn shut_down(&mut self) -> anyhow::Result<()> {
        self.server.shut_down().await
    }
}
