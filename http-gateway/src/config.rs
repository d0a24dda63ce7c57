//! Settings of the REST gateway, from flags or `LIVECHAT_*` variables.

use std::net::SocketAddr;

/// Where `http-gateway` listens unless told otherwise.
pub const HTTP_GATEWAY_LISTEN: ([u8; 4], u16) = ([0, 0, 0, 0], 8081);

#[derive(Debug, Clone, clap::Args)]
pub struct HttpConfig {
    /// Browser origins allowed to call the API (comma-separated), e.g. the
    /// sites that embed the widget. Empty: same-origin only.
    #[arg(long, env = "LIVECHAT_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Longest a request may take before it is answered 503, in milliseconds.
    #[arg(long, env = "LIVECHAT_REQUEST_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(100..=300_000))]
    pub request_timeout_ms: u64,

    /// Login attempts per client IP per minute.
    #[arg(long, env = "LIVECHAT_LOGIN_RATE_PER_MIN", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub login_rate_per_min: u32,

    /// Requests per second per bearer token (burst: 4 seconds' worth).
    #[arg(long, env = "LIVECHAT_API_RATE_PER_SEC", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub api_rate_per_sec: u32,

    #[command(flatten)]
    pub listener: livechat_runtime::http_server::ListenerConfig,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            cors_origins: vec![],
            request_timeout_ms: 10_000,
            login_rate_per_min: 60,
            api_rate_per_sec: 50,
            listener: Default::default(),
        }
    }
}

/// For the standalone binary: where to listen.
pub fn listen_or_default(addr: Option<SocketAddr>) -> SocketAddr {
    addr.unwrap_or(HTTP_GATEWAY_LISTEN.into())
}
