//! Leaving without dropping anyone. On SIGTERM a split role first says it
//! is not ready, so that whatever routes work to it (a Kubernetes Service,
//! the gateways' replica sets) stops sending new work, and goes on serving
//! what still arrives for `LIVECHAT_SHUTDOWN_DRAIN_MS`; only then does it
//! stop. Meanwhile its HTTP/1 responses carry `Connection: close`, so that
//! clients leave their kept-alive connections before they are closed
//! (a request sent on a connection as it closes would fail).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

/// How long a stopping process keeps serving while not ready.
#[derive(Debug, Clone, clap::Args)]
pub struct DrainConfig {
    /// After SIGTERM, how long to keep serving while reporting not ready,
    /// in ms, so that traffic moves elsewhere before the process stops.
    #[arg(long, env = "LIVECHAT_SHUTDOWN_DRAIN_MS", default_value_t = 2_000,
          value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub shutdown_drain_ms: u64,
}

impl Default for DrainConfig {
    fn default() -> Self {
        Self { shutdown_drain_ms: 2_000 }
    }
}

impl DrainConfig {
    pub fn drain(&self) -> Duration {
        Duration::from_millis(self.shutdown_drain_ms)
    }

    /// Resolves when the process should stop: SIGTERM (or Ctrl-C), then
    /// the drain, with `draining` set from the signal on.
    pub async fn signal_then_drain(&self, draining: Draining) {
        crate::shutdown_signal().await;
        draining.begin();
        let drain = self.drain();
        tracing::info!(?drain, "draining: not ready, still serving");
        tokio::time::sleep(drain).await;
    }
}

/// Set once a stop has begun; read by `/readyz` and by `close_when_draining`.
#[derive(Debug, Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn begin(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// `router` with `Connection: close` on every response once `draining` is
/// set (except a WebSocket's 101, which must keep its connection).
pub fn close_when_draining(router: Router, draining: Draining) -> Router {
    router.layer(axum::middleware::map_response(move |mut res: Response| {
        let closing = draining.is_draining() && res.status() != StatusCode::SWITCHING_PROTOCOLS;
        async move {
            if closing {
                res.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            res
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    async fn connection_header(app: Router) -> Option<HeaderValue> {
        let req = axum::http::Request::get("/").body(axum::body::Body::empty()).unwrap();
        app.oneshot(req).await.unwrap().headers().get(header::CONNECTION).cloned()
    }

    #[tokio::test]
    async fn responses_ask_to_close_the_connection_only_while_draining() {
        let draining = Draining::default();
        let app = close_when_draining(
            Router::new().route("/", axum::routing::get(|| async { "hi" })),
            draining.clone(),
        );
        assert_eq!(connection_header(app.clone()).await, None);
        draining.begin();
        assert_eq!(connection_header(app).await, Some(HeaderValue::from_static("close")));
    }

    #[tokio::test]
    async fn a_websocket_upgrade_keeps_its_connection() {
        let draining = Draining::default();
        draining.begin();
        let upgrade = || async { StatusCode::SWITCHING_PROTOCOLS };
        let app = close_when_draining(Router::new().route("/", axum::routing::get(upgrade)), draining);
        assert_eq!(connection_header(app).await, None);
    }
}
