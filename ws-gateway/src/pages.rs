//! The agent console (`/`) and the demo visitor widget (`/widget`): static
//! files built into the binary, so running livechat needs no Node build.

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tower_http::set_header::SetResponseHeaderLayer;

/// The pages load only their own scripts, styles and connections (no
/// inline script or style anywhere), and only this origin may frame them.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'self'";

/// Headers every page and asset carries: the CSP, and the older headers
/// that say the same to older browsers.
const PAGE_HEADERS: [(HeaderName, &str); 4] = [
    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
    (header::X_FRAME_OPTIONS, "SAMEORIGIN"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
];

macro_rules! asset {
    ($path:literal, $mime:literal) => {
        get(|| async {
            ([(header::CONTENT_TYPE, $mime), (header::CACHE_CONTROL, "no-cache")], include_str!($path))
        })
    };
}

/// Routes for the pages and their scripts and styles.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let pages = Router::new()
        .route("/", asset!("../static/console.html", "text/html; charset=utf-8"))
        .route("/widget", asset!("../static/widget.html", "text/html; charset=utf-8"))
        .route("/assets/console.js", asset!("../static/console.js", "text/javascript; charset=utf-8"))
        .route("/assets/widget.js", asset!("../static/widget.js", "text/javascript; charset=utf-8"))
        .route("/assets/chat.js", asset!("../static/chat.js", "text/javascript; charset=utf-8"))
        .route("/assets/app.css", asset!("../static/app.css", "text/css; charset=utf-8"))
        .route("/favicon.ico", get(|| async { axum::http::StatusCode::NO_CONTENT.into_response() }));
    PAGE_HEADERS.into_iter().fold(pages, |pages, (name, value)| {
        pages.layer(SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value)))
    })
}
