//! livechat's REST API (docs/protocol.md "REST"): a stateless translator from
//! HTTP+JSON to the core's gRPC. Mounted by the all-in-one `livechat` and
//! run alone as `http-gateway`.
//!
//! The middleware stack, outermost first: request id (accepted from
//! `x-request-id` or generated, echoed back) → tracing span → CORS →
//! metrics → deadline → (per route) bearer authentication → per-token rate
//! limit → handler. Every failure becomes problem+json in `problem`.

pub mod cli;

pub mod config;
pub mod core_call;
pub mod extract;
pub mod middleware;
pub mod openapi;
pub mod routes;

/// problem+json lives in `livechat-runtime`: the ws-gateway's refused
/// upgrades and the adapters answer with the same body.
pub use livechat_runtime::problem;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::FromRef;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use livechat_proto::ErrorCode;
use livechat_runtime::ops::{self, CoreReadiness, OpsState};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use config::HttpConfig;
pub use core_call::CoreClient;
use problem::ApiError;
use routes::{admin, auth, canned, docs, messages, rooms, team, webhooks};

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub core: CoreClient,
    pub limits: Arc<middleware::Limits>,
    pub request_timeout: Duration,
    /// Liveness, readiness (the core serving) and metrics.
    pub ops: OpsState,
    /// The finished OpenAPI document, set once the router is built.
    pub openapi: Arc<OnceLock<serde_json::Value>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("core", &self.core).finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(core: CoreClient, cfg: &HttpConfig) -> Self {
        let limits = Arc::new(middleware::Limits::new(cfg));
        tokio::spawn(middleware::prune_limits(limits.clone()));
        Self {
            ops: OpsState::new(CoreReadiness(core.clone())),
            core,
            limits,
            request_timeout: Duration::from_millis(cfg.request_timeout_ms),
            openapi: Arc::default(),
        }
    }
}

impl FromRef<AppState> for OpsState {
    fn from_ref(s: &AppState) -> Self {
        s.ops.clone()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "livechat REST API", version = "1", description = "The livechat wire contract v1 (docs/protocol.md): rooms, messages, canned responses, administration and the team's presence."),
    modifiers(&BearerAuth),
    tags((name = "auth"), (name = "rooms"), (name = "messages"), (name = "canned responses"), (name = "admin"), (name = "team"), (name = "ratings"), (name = "webhooks"), (name = "operations"))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build(),
            ),
        );
    }
}

/// The /api/v1 routes with their OpenAPI description.
fn api(state: &AppState) -> OpenApiRouter<AppState> {
    let public = OpenApiRouter::new()
        .routes(routes!(auth::login))
        .routes(routes!(rooms::create))
        .routes(routes!(team::availability))
        .routes(routes!(docs::openapi_json));
    let protected = OpenApiRouter::new()
        .routes(routes!(auth::refresh))
        .routes(routes!(rooms::list))
        .routes(routes!(rooms::get))
        .routes(routes!(rooms::visitor))
        .routes(routes!(rooms::rate, rooms::rating))
        .routes(routes!(rooms::ratings_report))
        .routes(routes!(rooms::past))
        .routes(routes!(rooms::accept))
        .routes(routes!(rooms::decline))
        .routes(routes!(rooms::close))
        .routes(routes!(rooms::transfer))
        .routes(routes!(messages::history, messages::send))
        .routes(routes!(messages::notes, messages::add_note))
        .routes(routes!(canned::list, canned::create))
        .routes(routes!(canned::update, canned::delete))
        .routes(routes!(admin::get_settings, admin::put_settings))
        .routes(routes!(admin::get_workspace_settings, admin::put_workspace_settings))
        .routes(routes!(admin::list_agents, admin::create_agent))
        .routes(routes!(admin::patch_agent, admin::delete_agent))
        .routes(routes!(admin::list_groups, admin::create_group))
        .routes(routes!(admin::put_group))
        .routes(routes!(admin::audit))
        .routes(routes!(admin::get_capacity, admin::put_capacity))
        .routes(routes!(admin::export_visitor))
        .routes(routes!(admin::erase_visitor))
        .routes(routes!(team::list))
        .routes(routes!(team::set))
        .routes(routes!(webhooks::list, webhooks::create))
        .routes(routes!(webhooks::get, webhooks::patch, webhooks::delete))
        .routes(routes!(webhooks::test))
        .routes(routes!(webhooks::deliveries))
        .route_layer(from_fn_with_state(state.clone(), middleware::rate_limit))
        .route_layer(from_fn(middleware::require_bearer));
    public.merge(protected)
}

/// The REST API under /api/v1 plus /healthz, /readyz and /metrics, with
/// the whole middleware stack. Unknown paths are problem+json 404s.
pub fn router(state: AppState, cfg: &HttpConfig) -> Router {
    let with_probes = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", api(&state))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz));
    // `/metrics` moves to its own listener when LIVECHAT_METRICS_LISTEN is set.
    let with_ops = if cfg.listener.metrics_on_main_listener() {
        with_probes.routes(routes!(ops::metrics))
    } else {
        with_probes
    };
    let (router, doc) = with_ops.split_for_parts();
    let mut doc = doc;
    openapi::document_errors(&mut doc);
    let _ = state.openapi.set(serde_json::to_value(&doc).expect("the OpenAPI document serializes"));
    let x_request_id = HeaderName::from_static("x-request-id");
    router
        .fallback(|| async { ApiError::not_found("no such route").into_response() })
        .method_not_allowed_fallback(|| async {
            ApiError {
                status: axum::http::StatusCode::METHOD_NOT_ALLOWED,
                ..ApiError::new(ErrorCode::Invalid, "method not allowed")
            }
            .into_response()
        })
        .layer(from_fn_with_state(state.clone(), middleware::deadline))
        // A handler that panics answers 500 problem+json; the process and
        // every other request carry on.
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(from_fn(middleware::record_metrics))
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
        .layer(cors(cfg))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            // The path only: a query string could carry a token.
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
        .with_state(state)
}

/// What a request whose handler panicked gets: the one internal error,
/// counted and logged (the panic message stays in the log).
fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    metrics::counter!("livechat_http_panics_total").increment(1);
    tracing::error!("a REST handler panicked");
    ApiError::internal("internal error").into_response()
}

fn cors(cfg: &HttpConfig) -> CorsLayer {
    let origins: Vec<HeaderValue> = cfg.cors_origins.iter().filter_map(|o| o.trim().parse().ok()).collect();
    let base = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, HeaderName::from_static("x-request-id")])
        .expose_headers([header::RETRY_AFTER, HeaderName::from_static("x-request-id")])
        .max_age(Duration::from_secs(600));
    if cfg.cors_origins.iter().any(|o| o.trim() == "*") {
        base.allow_origin(AllowOrigin::any())
    } else {
        base.allow_origin(origins)
    }
}

/// Serves the REST API on `listener` until `shutdown` resolves, finishing
/// requests in flight.
pub async fn serve(
    router: Router,
    listener: tokio::net::TcpListener,
    header_read_timeout: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    livechat_runtime::http_server::serve(listener, router, header_read_timeout, shutdown).await?;
    Ok(())
}

#[cfg(test)]
mod panics {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    async fn boom() -> &'static str {
        panic!("a bug")
    }

    #[tokio::test]
    async fn a_handler_that_panics_answers_500_problem_json_and_the_router_keeps_serving() {
        let app: Router = Router::new()
            .route("/boom", axum::routing::get(boom))
            .route("/fine", axum::routing::get(|| async { "ok" }))
            .layer(CatchPanicLayer::custom(panic_response));
        let boom = app.clone().oneshot(Request::get("/boom").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(boom.status(), 500);
        assert_eq!(boom.headers()["content-type"], "application/problem+json");
        let body = axum::body::to_bytes(boom.into_body(), 4096).await.unwrap();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["code"], "internal");
        assert!(!problem.to_string().contains("a bug"), "the panic message stays in the log");
        let fine = app.oneshot(Request::get("/fine").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(fine.status(), 200);
    }
}
