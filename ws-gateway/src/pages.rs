//! The agent console (`/`) and the demo visitor widget (`/widget`): static
//! files built into the binary, so running livechat needs no Node build.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

macro_rules! asset {
    ($path:literal, $mime:literal) => {
        get(|| async {
            ([(header::CONTENT_TYPE, $mime), (header::CACHE_CONTROL, "no-cache")], include_str!($path))
        })
    };
}

/// Routes for the pages and their scripts and styles.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", asset!("../static/console.html", "text/html; charset=utf-8"))
        .route("/widget", asset!("../static/widget.html", "text/html; charset=utf-8"))
        .route("/assets/console.js", asset!("../static/console.js", "text/javascript; charset=utf-8"))
        .route("/assets/widget.js", asset!("../static/widget.js", "text/javascript; charset=utf-8"))
        .route("/assets/chat.js", asset!("../static/chat.js", "text/javascript; charset=utf-8"))
        .route("/assets/app.css", asset!("../static/app.css", "text/css; charset=utf-8"))
        .route("/favicon.ico", get(|| async { axum::http::StatusCode::NO_CONTENT.into_response() }))
}
