//! Settings of the core process, from flags or `LIVECHAT_*` environment
//! variables (what Kubernetes ConfigMaps and Secrets set). Secrets are held
//! in a type that never prints.

use std::net::SocketAddr;

/// Where `core-service` listens unless told otherwise.
pub const CORE_SERVICE_GRPC_LISTEN: ([u8; 4], u16) = ([0, 0, 0, 0], 50051);
/// Where the all-in-one `livechat` listens unless told otherwise.
pub const LIVECHAT_GRPC_LISTEN: ([u8; 4], u16) = ([127, 0, 0, 1], 50051);

/// A value that must never reach a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::str::FromStr for Secret {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() { Err("must not be empty".into()) } else { Ok(Self(s.to_string())) }
    }
}

/// Everything the core needs to run. `clap` reads it from flags and env.
#[derive(Debug, Clone, clap::Args)]
pub struct CoreConfig {
    /// Database URL: sqlite://file.db?mode=rwc or postgres://user@host/db.
    #[arg(long, env = "LIVECHAT_DATABASE_URL", default_value = "sqlite://livechat.db?mode=rwc")]
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
            agent_token_ttl_secs: 8 * 3600,
            visitor_token_ttl_secs: 7 * 86400,
            timer_interval_ms: 1000,
            database_max_connections: 16,
            clock: crate::app::Clock::system(),
        }
    }
}
