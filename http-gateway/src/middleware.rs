//! The tower/axum middleware of the REST API, one concern each:
//! authentication, per-token rate limits, the request deadline, and
//! request metrics. Request ids, tracing, CORS and body limits are
//! tower-http layers assembled in `lib.rs`.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::AppState;
use crate::core_call::Token;
use crate::problem::ApiError;

/// Requires `Authorization: Bearer …` and hands the token to the handler.
/// Whether the token is any good is the core's decision, made on the call.
pub async fn require_bearer(mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string())
        .filter(|t| !t.is_empty());
    match token {
        Some(t) => {
            req.extensions_mut().insert(Token(t, None));
            next.run(req).await
        }
        None => ApiError::unauthorized("a bearer token is required").into_response(),
    }
}

/// Token-bucket limits keyed by token, and by client IP for logins.
pub struct Limits {
    /// Keyed by a hash of the token, not the token: an unverified bearer
    /// string of any size costs eight bytes here.
    per_token: DefaultKeyedRateLimiter<u64>,
    token_hasher: std::hash::RandomState,
    login_per_ip: DefaultKeyedRateLimiter<std::net::IpAddr>,
    /// Whose address a request is (see `client_address`).
    pub proxies: livechat_runtime::client_address::TrustedProxies,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Limits")
    }
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).expect("at least 1")
}

impl Limits {
    pub fn new(cfg: &crate::HttpConfig) -> Self {
        let per_token = Quota::per_second(nz(cfg.api_rate_per_sec))
            .allow_burst(nz(cfg.api_rate_per_sec.saturating_mul(4)));
        let per_ip = Quota::per_minute(nz(cfg.login_rate_per_min));
        Self {
            per_token: governor::RateLimiter::keyed(per_token),
            token_hasher: std::hash::RandomState::new(),
            login_per_ip: governor::RateLimiter::keyed(per_ip),
            proxies: cfg.listener.proxies(),
        }
    }

    /// Checks one login attempt from `ip`.
    pub fn login_attempt(&self, ip: std::net::IpAddr) -> Result<(), ApiError> {
        check(&self.login_per_ip, ip, "login")
    }

    /// Forgets idle keys so the limiters' memory stays bounded.
    pub fn prune(&self) {
        self.per_token.retain_recent();
        self.login_per_ip.retain_recent();
    }
}

/// One request against a keyed limit; over it, a 429 with how long to wait.
fn check(
    limiter: &DefaultKeyedRateLimiter<std::net::IpAddr>,
    ip: std::net::IpAddr,
    what: &'static str,
) -> Result<(), ApiError> {
    limiter.check_key(&ip).map_err(|not_until| {
        metrics::counter!("livechat_http_rate_limited_total", "limit" => what).increment(1);
        let wait =
            not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
        ApiError::rate_limited(wait.as_secs().max(1) as u32)
    })
}

/// Requests per bearer token.
pub async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(Token(t, _)) = req.extensions().get::<Token>()
        && let Err(not_until) = {
            use std::hash::BuildHasher;
            let key = state.limits.token_hasher.hash_one(t);
            state.limits.per_token.check_key(&key)
        }
    {
        let wait =
            not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
        return ApiError::rate_limited(wait.as_secs().max(1) as u32).into_response();
    }
    next.run(req).await
}

/// Answers 503 `unavailable` when a request takes longer than the deadline.
pub async fn deadline(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(state.request_timeout, next.run(req)).await {
        Ok(res) => res,
        Err(_) => ApiError::unavailable("the request timed out").into_response(),
    }
}

/// Counts requests by route and status, and times them.
pub async fn record_metrics(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    metrics::counter!("livechat_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("livechat_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    res
}

/// Keeps the limiters small; runs for the life of the gateway.
pub async fn prune_limits(state: Arc<Limits>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        state.prune();
    }
}
