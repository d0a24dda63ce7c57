//! Settings of the core process, from flags or `LIVECHAT_*` environment
//! variables (what Kubernetes ConfigMaps and Secrets set). Secrets are held
//! in a type that never prints.

use std::net::SocketAddr;

/// Where `core-service` listens unless told otherwise.
pub const CORE_SERVICE_GRPC_LISTEN: ([u8; 4], u16) = ([0, 0, 0, 0], 50051);
/// Where the all-in-one `livechat` listens unless told otherwise.
pub const LIVECHAT_GRPC_LISTEN: ([u8; 4], u16) = ([127, 0, 0, 1], 50051);

pub use livechat_runtime::Secret;

/// Everything the core needs to run. `clap` reads it from flags and env.
#[derive(Debug, Clone, clap::Args)]
pub struct CoreConfig {
    /// Database URL: sqlite://file.db?mode=rwc or postgres://user@host/db.
    #[arg(
        long,
        env = "LIVECHAT_DATABASE_URL",
        default_value = "sqlite://livechat.db?mode=rwc",
        hide_env_values = true
    )]
    pub database_url: String,

    /// HS256 secret shared by every core replica (at least 32 bytes).
    /// The all-in-one binary generates one and keeps it in the database.
    #[arg(long, env = "LIVECHAT_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,

    /// Password of the `admin` agent created on a start with no agents.
    /// Unset: a random one is printed once.
    #[arg(long, env = "LIVECHAT_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<Secret>,

    /// Address of the gRPC server [default: 127.0.0.1:50051 for livechat,
    /// 0.0.0.0:50051 for core-service].
    #[arg(long, env = "LIVECHAT_GRPC_LISTEN")]
    pub grpc_listen: Option<SocketAddr>,

    /// RabbitMQ URL of the event bus between core replicas. Unset: the
    /// in-process bus (one replica only).
    #[arg(long, env = "LIVECHAT_AMQP_URL", hide_env_values = true)]
    pub amqp_url: Option<Secret>,

    /// RabbitMQ exchange the core replicas share.
    #[arg(long, env = "LIVECHAT_AMQP_EXCHANGE", default_value = "livechat.events")]
    pub amqp_exchange: String,

    /// Failed logins for one account from one client address before each
    /// next try from there waits (1 s, doubling, up to 15 minutes).
    #[arg(long, env = "LIVECHAT_LOGIN_FAILURES_PER_ADDRESS", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub login_failures_per_address: u32,

    /// Failed logins for one account from anywhere in 15 minutes before its
    /// attempts are spaced 2 s apart (slowed, never refused for good).
    #[arg(long, env = "LIVECHAT_LOGIN_FAILURES_PER_USER", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub login_failures_per_user: u32,

    /// Rooms a client address may open per minute (web visitors are
    /// anonymous, so their address is all there is to limit).
    #[arg(long, env = "LIVECHAT_ROOMS_PER_IP_PER_MIN", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub rooms_per_ip_per_min: u32,

    /// Rooms a client address may have queued or engaged at once.
    #[arg(long, env = "LIVECHAT_OPEN_ROOMS_PER_IP", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub open_rooms_per_ip: u32,

    /// Lifetime of an agent's access token, in seconds.
    #[arg(long, env = "LIVECHAT_AGENT_TOKEN_TTL_SECS", default_value_t = 8 * 3600,
          value_parser = clap::value_parser!(u64).range(60..=30 * 86400))]
    pub agent_token_ttl_secs: u64,

    /// Lifetime of a visitor's token, in seconds.
    #[arg(long, env = "LIVECHAT_VISITOR_TOKEN_TTL_SECS", default_value_t = 7 * 86400,
          value_parser = clap::value_parser!(u64).range(60..=90 * 86400))]
    pub visitor_token_ttl_secs: u64,

    /// How often the expiry and grace timers look for due rooms, in
    /// milliseconds (an expiry is noticed within this of its deadline).
    #[arg(long, env = "LIVECHAT_TIMER_INTERVAL_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(50..=5000))]
    pub timer_interval_ms: u64,

    /// Largest pool of database connections.
    #[arg(long, env = "LIVECHAT_DATABASE_MAX_CONNECTIONS", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_max_connections: u32,

    /// The core's time: the system's, except in tests that move it.
    #[arg(skip)]
    pub clock: crate::app::Clock,

    /// Set by the all-in-one when it runs channel adapters in its own
    /// process (no broker): outbound messages are then kept in the outbox
    /// until the adapter delivered them. Not a command-line option.
    #[arg(skip)]
    pub local_channels: bool,
}

impl CoreConfig {
    /// Defaults for a given database, as tests and embedders want them.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            jwt_secret: None,
            admin_password: None,
            grpc_listen: None,
            amqp_url: None,
            amqp_exchange: "livechat.events".into(),
            rooms_per_ip_per_min: 30,
            open_rooms_per_ip: 10,
            login_failures_per_address: 5,
            login_failures_per_user: 50,
            agent_token_ttl_secs: 8 * 3600,
            visitor_token_ttl_secs: 7 * 86400,
            timer_interval_ms: 1000,
            database_max_connections: 16,
            clock: crate::app::Clock::system(),
            local_channels: false,
        }
    }

    /// Refuses to start with a secret that ships as a placeholder in a
    /// template (k8s, docs): a server started from one is open to anyone
    /// who read the template.
    pub fn check_secrets(&self) -> anyhow::Result<()> {
        let given =
            [("LIVECHAT_JWT_SECRET", &self.jwt_secret), ("LIVECHAT_ADMIN_PASSWORD", &self.admin_password)];
        for (name, value) in given {
            if value.as_ref().is_some_and(Secret::is_placeholder) {
                anyhow::bail!(
                    "{name} is a template placeholder; set a real secret (for example `openssl rand -base64 48`)"
                );
            }
        }
        Ok(())
    }

    /// The database URL without its password, for banners and logs.
    pub fn database_url_for_logs(&self) -> String {
        redact_password(&self.database_url)
    }
}

/// A placeholder a template ships ("change-me…"), not a secret.
/// `postgres://user:***@host/db`; a URL that does not parse is not shown.
pub fn redact_password(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "(unparsable URL)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_a_banner() {
        assert_eq!(
            redact_password("postgres://lc:s3cret@db:5432/livechat"),
            "postgres://lc:***@db:5432/livechat"
        );
        assert_eq!(redact_password("sqlite://livechat.db?mode=rwc"), "sqlite://livechat.db?mode=rwc");
        assert_eq!(redact_password("not a url with s3cret"), "(unparsable URL)");
    }

    #[test]
    fn a_template_secret_stops_the_start() {
        let mut config = CoreConfig::for_database("sqlite::memory:");
        config.jwt_secret = Some(Secret::new("change-me-to-at-least-32-random-bytes-000000"));
        let e = config.check_secrets().unwrap_err().to_string();
        assert!(e.starts_with("LIVECHAT_JWT_SECRET is a template placeholder"), "{e}");
        config.jwt_secret = Some(Secret::new("k3Jd9w0pQ2mZr8vX1yT5uB7nC4eF6gH0"));
        config.admin_password = Some(Secret::new("Change-Me-Please"));
        assert!(config.check_secrets().unwrap_err().to_string().starts_with("LIVECHAT_ADMIN_PASSWORD"));
        config.admin_password = Some(Secret::new("a-real-password"));
        assert!(config.check_secrets().is_ok());
    }
}
