//! A livechat cluster of real processes: N core replicas, N ws-gateways and
//! an http-gateway, on a fresh PostgreSQL database and a private RabbitMQ
//! exchange. Every process is the real `livechat` binary in one role.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ADMIN_PASSWORD: &str = "admin-password-1";
const JWT_SECRET: &str = "distributed-test-secret-0123456789abcdef";

/// The services the suite needs, from the environment; None: not asked for.
pub fn services() -> Option<(String, String)> {
    match (std::env::var("LIVECHAT_TEST_DATABASE_URL"), std::env::var("LIVECHAT_TEST_AMQP_URL")) {
        (Ok(db), Ok(amqp)) => Some((db, amqp)),
        _ => None,
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
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
            .env("RUST_LOG", "warn")
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

pub struct Cluster {
    pub cores: Vec<Proc>,
    pub gateways: Vec<Proc>,
    pub http: Proc,
}

async fn wait_tcp(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "{what} did not start listening on {port}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn wait_ready(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = reqwest::Client::new();
    loop {
        let ok = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            return;
        }
        assert!(Instant::now() < deadline, "{what} on {port} never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A fresh database on the test server, named after a new UUID.
async fn fresh_database(url: &str) -> String {
    use sea_orm::ConnectionTrait;
    let name = format!("lc_{}", uuid::Uuid::new_v4().simple());
    let admin = sea_orm::Database::connect(url)
        .await
        .unwrap_or_else(|e| panic!("LIVECHAT_TEST_DATABASE_URL={url} is set but unreachable: {e}"));
    admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.unwrap();
    let (base, _) = url.rsplit_once('/').expect("database URL has a path");
    format!("{base}/{name}")
}

impl Cluster {
    pub async fn start(cores: usize, gateways: usize) -> Cluster {
        let (db, amqp) = services().expect("checked by the caller");
        let db = fresh_database(&db).await;
        let exchange = format!("livechat.test.{}", uuid::Uuid::new_v4().simple());
        let mut core_procs = Vec::new();
        for i in 0..cores {
            let port = free_port();
            let envs = vec![
                ("LIVECHAT_DATABASE_URL".into(), db.clone()),
                ("LIVECHAT_AMQP_URL".into(), amqp.clone()),
                ("LIVECHAT_AMQP_EXCHANGE".into(), exchange.clone()),
                ("LIVECHAT_JWT_SECRET".into(), JWT_SECRET.into()),
                ("LIVECHAT_ADMIN_PASSWORD".into(), ADMIN_PASSWORD.into()),
                ("LIVECHAT_GRPC_LISTEN".into(), format!("127.0.0.1:{port}")),
                ("LIVECHAT_TIMER_INTERVAL_MS".into(), "200".into()),
            ];
            core_procs.push(Proc::spawn(&format!("core-{i}"), port, vec!["core-service".into()], envs));
            // The first replica migrates and bootstraps before the others race it.
            wait_tcp(port, "core").await;
        }
        let core_urls: Vec<String> =
            core_procs.iter().map(|c| format!("http://127.0.0.1:{}", c.port)).collect();
        let mut gateway_procs = Vec::new();
        for i in 0..gateways {
            let port = free_port();
            let envs = vec![
                ("LIVECHAT_LISTEN".into(), format!("127.0.0.1:{port}")),
                ("LIVECHAT_CORE_URL".into(), core_urls.join(",")),
            ];
            gateway_procs.push(Proc::spawn(&format!("ws-{i}"), port, vec!["ws-gateway".into()], envs));
        }
        let http_port = free_port();
        let http = Proc::spawn(
            "http",
            http_port,
            vec!["http-gateway".into()],
            vec![
                ("LIVECHAT_LISTEN".into(), format!("127.0.0.1:{http_port}")),
                ("LIVECHAT_CORE_URL".into(), core_urls.join(",")),
                ("LIVECHAT_LOGIN_RATE_PER_MIN".into(), "10000".into()),
                ("LIVECHAT_API_RATE_PER_SEC".into(), "10000".into()),
            ],
        );
        for g in &gateway_procs {
            wait_ready(g.port, &g.name).await;
        }
        wait_ready(http_port, "http-gateway").await;
        Cluster { cores: core_procs, gateways: gateway_procs, http }
    }

    pub fn api(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1", self.http.port)
    }

    pub fn ws(&self, gateway: usize, token: &str) -> String {
        format!("ws://127.0.0.1:{}/ws?access_token={token}", self.gateways[gateway].port)
    }
}
