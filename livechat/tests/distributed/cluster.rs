//! A livechat cluster of real processes: N core replicas, N ws-gateways and
//! an http-gateway, on a fresh PostgreSQL database and a private RabbitMQ
//! exchange. Every process is the real `livechat` binary in one role.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use livechat_test_support::database::TestDatabase;

pub const ADMIN_PASSWORD: &str = "admin-password-1";
const JWT_SECRET: &str = "distributed-test-secret-0123456789abcdef";

/// The services the suite needs, from the environment; None: not asked for.
pub fn services() -> Option<(String, String)> {
    match (std::env::var("LIVECHAT_TEST_DATABASE_URL"), std::env::var("LIVECHAT_TEST_AMQP_URL")) {
        (Ok(db), Ok(amqp)) => Some((db, amqp)),
        _ => None,
    }
}

/// A port for a child process to listen on. Taken below the kernel's
/// ephemeral range (32768 and up), where a port the kernel hands out to
/// some outgoing connection cannot take it between this check and the
/// child's bind; each call moves on, so spares reserved for later stay
/// apart from ports given since.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const PORTS: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7919);
    for _ in 0..PORTS {
        let port = (FIRST + start.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % PORTS) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {FIRST} and {}", FIRST + PORTS);
}

/// A child process killed when dropped.
pub struct Proc {
    pub name: String,
    child: Option<Child>,
    pub port: u16,
    args: Vec<String>,
    envs: Vec<(String, String)>,
}

impl Proc {
    fn spawn(name: &str, port: u16, args: Vec<String>, envs: Vec<(String, String)>) -> Self {
        let mut p = Proc { name: name.into(), child: None, port, args, envs };
        p.start();
        p
    }

    fn start(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_livechat"))
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("LIVECHAT_LOG_FORMAT", "json")
            .env("RUST_LOG", std::env::var("LIVECHAT_TEST_PROCESS_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.name));
        self.child = Some(child);
    }

    /// SIGKILL: no goodbye, like a crashed pod.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        c.wait().ok()
    }

    pub fn restart(&mut self) {
        self.terminate();
        self.start();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Drop for Cluster {
    /// The cluster's exchanges and dead-letter queue are durable: once its
    /// processes are gone (so that none declares them again), nothing of it
    /// is left on the shared broker.
    fn drop(&mut self) {
        for p in self.cores.iter_mut().chain(self.gateways.iter_mut()).chain([&mut self.http]) {
            p.kill();
        }
        let Some((_, amqp)) = services() else { return };
        let exchange = self.exchange.clone();
        let cleanup = std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            runtime.block_on(delete_broker_objects(&amqp, &exchange))
        });
        if let Ok(Err(e)) = cleanup.join() {
            eprintln!("leaving the test exchange {} on the broker: {e}", self.exchange);
        }
    }
}

async fn delete_broker_objects(amqp: &str, exchange: &str) -> lapin::Result<()> {
    use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
    let conn = lapin::Connection::connect(amqp, lapin::ConnectionProperties::default()).await?;
    let channel = conn.create_channel().await?;
    use livechat_proto::bus::queues;
    let mut work = vec![queues::inbound(exchange)];
    work.extend(queues::CHANNELS.iter().map(|c| queues::outbound(exchange, c)));
    let dead = work.iter().map(|q| queues::dead_letters(q)).collect::<Vec<_>>();
    for queue in [format!("{exchange}.dead-letters")].into_iter().chain(work).chain(dead) {
        channel.queue_delete(queue.as_str().into(), QueueDeleteOptions::default()).await?;
    }
    for x in [format!("{exchange}.dead-letter"), exchange.to_string()] {
        channel.exchange_delete(x.as_str().into(), ExchangeDeleteOptions::default()).await?;
    }
    conn.close(200, "done".into()).await
}

pub struct Cluster {
    pub cores: Vec<Proc>,
    /// Where each core serves /healthz, /readyz and /metrics.
    pub core_ops_ports: Vec<u16>,
    /// Ports in the gateways' core list with no core yet: where a rolling
    /// restart starts a new replica before it stops an old one.
    pub spare_core_ports: Vec<u16>,
    pub gateways: Vec<Proc>,
    pub http: Proc,
    /// The cluster's private event exchange on the test broker.
    pub exchange: String,
    /// What every core, ws-gateway and http-gateway is started with.
    core_env: Vec<(String, String)>,
    gateway_env: Vec<(String, String)>,
    http_env: Vec<(String, String)>,
    // Declared last: dropped once the processes are gone.
    _database: TestDatabase,
}

/// A core on `port` with its operator routes on a port of their own.
fn spawn_core(env: &[(String, String)], port: u16) -> (Proc, u16) {
    let ops_port = free_port();
    let mut envs = env.to_vec();
    envs.push(("LIVECHAT_GRPC_LISTEN".into(), format!("127.0.0.1:{port}")));
    envs.push(("LIVECHAT_OPS_LISTEN".into(), format!("127.0.0.1:{ops_port}")));
    (Proc::spawn(&format!("core@{port}"), port, vec!["core-service".into()], envs), ops_port)
}

/// `livechat <role>` listening on a free port.
fn spawn_listening(name: &str, role: &str, env: &[(String, String)]) -> Proc {
    let port = free_port();
    let mut envs = env.to_vec();
    envs.push(("LIVECHAT_LISTEN".into(), format!("127.0.0.1:{port}")));
    Proc::spawn(name, port, vec![role.into()], envs)
}

async fn wait_tcp(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "{what} did not start listening on {port}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn wait_ready(port: u16, what: &str) {
    wait_readiness(port, what, true).await;
}

/// Polls `/readyz` until it says `ready` (200) or not (503).
pub async fn wait_readiness(port: u16, what: &str, ready: bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = reqwest::Client::new();
    loop {
        let status = client.get(format!("http://127.0.0.1:{port}/readyz")).send().await.map(|r| r.status());
        match status {
            Ok(s) if s.is_success() == ready && (ready || s.as_u16() == 503) => return,
            _ => {}
        }
        assert!(Instant::now() < deadline, "{what} on {port} never reported ready={ready}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The machine's PostgreSQL cluster, stopped; started again when dropped,
/// even when the scenario fails halfway, so later tests find it running.
pub struct PostgresOutage {
    version: String,
}

impl PostgresOutage {
    /// Stops the local cluster (`pg_ctlcluster`, as on the CI machine).
    pub fn begin(database_url: &str) -> Self {
        assert!(
            database_url.contains("@127.0.0.1") || database_url.contains("@localhost"),
            "the PostgreSQL restart scenario stops the local server; LIVECHAT_TEST_DATABASE_URL points elsewhere"
        );
        let version = std::fs::read_dir("/etc/postgresql")
            .expect("the PostgreSQL restart scenario needs a local Debian cluster under /etc/postgresql")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .next()
            .expect("a PostgreSQL version under /etc/postgresql");
        let outage = PostgresOutage { version };
        outage.ctl("stop");
        outage
    }

    fn ctl(&self, action: &str) {
        let out = Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &self.version, "main", action])
            .output()
            .unwrap_or_else(|e| panic!("pg_ctlcluster {action}: {e}"));
        assert!(out.status.success(), "pg_ctlcluster {action} failed: {out:?}");
    }
}

impl Drop for PostgresOutage {
    fn drop(&mut self) {
        self.ctl("start");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", 5432)).is_err() {
            assert!(Instant::now() < deadline, "PostgreSQL did not come back");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The machine's RabbitMQ, stopped (`rabbitmqctl stop_app`: the node stays,
/// its durable queues with it); started again when dropped, even when the
/// scenario fails halfway.
pub struct RabbitOutage;

impl RabbitOutage {
    pub fn begin() -> Self {
        rabbitmqctl("stop_app");
        RabbitOutage
    }
}

fn rabbitmqctl(action: &str) {
    let out = Command::new("rabbitmqctl")
        .arg(action)
        .output()
        .unwrap_or_else(|e| panic!("rabbitmqctl {action} (needed for the broker outage scenario): {e}"));
    assert!(out.status.success(), "rabbitmqctl {action} failed: {out:?}");
}

impl Drop for RabbitOutage {
    fn drop(&mut self) {
        rabbitmqctl("start_app");
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", 5672)).is_err() {
            assert!(Instant::now() < deadline, "RabbitMQ did not come back");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Cluster {
    pub async fn start(cores: usize, gateways: usize) -> Cluster {
        Self::start_with_spares(cores, gateways, 0).await
    }

    /// As `start`, with `spares` more core addresses in the gateways' list
    /// that nothing serves yet (for `roll_core`).
    pub async fn start_with_spares(cores: usize, gateways: usize, spares: usize) -> Cluster {
        let (_, amqp) = services().expect("checked by the caller");
        // A fresh database on the test server, named after a new UUID.
        let database = TestDatabase::fresh().await;
        let db = database.url.clone();
        let exchange = format!("livechat.test.{}", uuid::Uuid::new_v4().simple());
        let core_env: Vec<(String, String)> = vec![
            ("LIVECHAT_DATABASE_URL".into(), db.clone()),
            ("LIVECHAT_AMQP_URL".into(), amqp.clone()),
            ("LIVECHAT_AMQP_EXCHANGE".into(), exchange.clone()),
            ("LIVECHAT_JWT_SECRET".into(), JWT_SECRET.into()),
            ("LIVECHAT_ADMIN_PASSWORD".into(), ADMIN_PASSWORD.into()),
            ("LIVECHAT_TIMER_INTERVAL_MS".into(), "200".into()),
            // Faults are under test here, not the abuse limits.
            ("LIVECHAT_ROOMS_PER_IP_PER_MIN".into(), "10000".into()),
            ("LIVECHAT_OPEN_ROOMS_PER_IP".into(), "10000".into()),
            ("LIVECHAT_LOGIN_FAILURES_PER_ADDRESS".into(), "10000".into()),
        ];
        let mut core_procs = Vec::new();
        let mut core_ops_ports = Vec::new();
        for _ in 0..cores {
            let (core, ops_port) = spawn_core(&core_env, free_port());
            // The first replica migrates and bootstraps before the others race it.
            wait_tcp(core.port, "core").await;
            core_procs.push(core);
            core_ops_ports.push(ops_port);
        }
        let spare_core_ports: Vec<u16> = (0..spares).map(|_| free_port()).collect();
        let core_urls: Vec<String> = core_procs
            .iter()
            .map(|c| c.port)
            .chain(spare_core_ports.iter().copied())
            .map(|port| format!("http://127.0.0.1:{port}"))
            .collect();
        let gateway_env: Vec<(String, String)> = vec![
            ("LIVECHAT_CORE_URL".into(), core_urls.join(",")),
            // Faults are under test here, not the flood limits.
            ("LIVECHAT_WS_MESSAGES_PER_SEC".into(), "10000".into()),
        ];
        let http_env: Vec<(String, String)> = vec![
            ("LIVECHAT_CORE_URL".into(), core_urls.join(",")),
            ("LIVECHAT_LOGIN_RATE_PER_MIN".into(), "10000".into()),
            ("LIVECHAT_ROOMS_PER_IP_PER_MIN".into(), "10000".into()),
            ("LIVECHAT_API_RATE_PER_SEC".into(), "10000".into()),
        ];
        let gateway_procs: Vec<Proc> =
            (0..gateways).map(|i| spawn_listening(&format!("ws-{i}"), "ws-gateway", &gateway_env)).collect();
        let http = spawn_listening("http", "http-gateway", &http_env);
        for g in &gateway_procs {
            wait_ready(g.port, &g.name).await;
        }
        wait_ready(http.port, "http-gateway").await;
        Cluster {
            cores: core_procs,
            core_ops_ports,
            spare_core_ports,
            gateways: gateway_procs,
            http,
            exchange,
            core_env,
            gateway_env,
            http_env,
            _database: database,
        }
    }

    /// A rolling restart's step for core `i`, as Kubernetes runs it: a new
    /// replica on a spare address, ready, then the old one SIGTERMed (it
    /// drains, then exits 0); its address becomes the spare.
    pub async fn roll_core(&mut self, i: usize) {
        let port = self.spare_core_ports.pop().expect("a spare core address (start_with_spares)");
        let (core, ops_port) = spawn_core(&self.core_env, port);
        wait_ready(ops_port, &core.name).await;
        let mut old = std::mem::replace(&mut self.cores[i], core);
        self.core_ops_ports[i] = ops_port;
        let status = old.terminate().expect("the old core was running");
        assert!(status.success(), "a SIGTERMed core exits 0, got {status:?}");
        self.spare_core_ports.insert(0, old.port);
    }

    /// A new ws-gateway, ready (the caller puts it behind its Service).
    pub async fn new_gateway(&self, name: &str) -> Proc {
        let g = spawn_listening(name, "ws-gateway", &self.gateway_env);
        wait_ready(g.port, name).await;
        g
    }

    /// A new http-gateway, ready.
    pub async fn new_http(&self, name: &str) -> Proc {
        let h = spawn_listening(name, "http-gateway", &self.http_env);
        wait_ready(h.port, name).await;
        h
    }

    /// Core `i`'s Prometheus text.
    pub async fn core_metrics(&self, i: usize) -> String {
        let url = format!("http://127.0.0.1:{}/metrics", self.core_ops_ports[i]);
        let res = reqwest::get(&url).await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert!(res.status().is_success(), "GET {url}: {}", res.status());
        res.text().await.expect("a metrics body")
    }

    pub fn api(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1", self.http.port)
    }

    /// Starts `livechat adapter <channel>` on this cluster's broker queues,
    /// ready once its `/readyz` says the broker is connected.
    pub async fn adapter(&self, channel: &str, mut envs: Vec<(String, String)>) -> Proc {
        let (_, amqp) = services().expect("checked by the caller");
        let port = free_port();
        envs.push(("LIVECHAT_LISTEN".into(), format!("127.0.0.1:{port}")));
        envs.push(("LIVECHAT_AMQP_URL".into(), amqp));
        envs.push(("LIVECHAT_AMQP_EXCHANGE".into(), self.exchange.clone()));
        let p =
            Proc::spawn(&format!("adapter-{channel}"), port, vec!["adapter".into(), channel.into()], envs);
        wait_ready(port, &p.name).await;
        p
    }

    pub fn ws(&self, gateway: usize, token: &str) -> String {
        format!("ws://127.0.0.1:{}/ws?access_token={token}", self.gateways[gateway].port)
    }
}
