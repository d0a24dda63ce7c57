//! The agent console (`/`), the visitor widget (`/widget`), the script a
//! customer pastes into their own site (`/embed.js`) and its demo page
//! (`/widget/demo`): static files built into the binary, so running
//! livechat needs no Node build.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use livechat_proto::client::CoreClient;
pub use livechat_proto::origin::parse_origin;
use livechat_proto::v1 as pb;
use tower_http::set_header::SetResponseHeaderLayer;

/// The pages load only their own scripts, styles and connections (no
/// inline script or style anywhere), and only this origin may frame them.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'self'";

/// Which sites may show the visitor widget in a frame (the console never):
/// these, from the operator, plus those an admin lists in the workspace
/// settings (`widget_allowed_origins`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WidgetEmbedding {
    /// Origins allowed to frame /widget, comma-separated
    /// (https://shop.example.com), besides those an admin sets at run time;
    /// empty: this origin and the admin's list only.
    #[arg(long, env = "LIVECHAT_WIDGET_FRAME_ANCESTORS", value_delimiter = ',', value_parser = parse_origin)]
    pub widget_frame_ancestors: Vec<String>,
}

/// The widget page's policy: the pages' own, framed by these origins too.
fn widget_policy(origins: &[String]) -> String {
    let extra: String = origins.iter().map(|o| format!(" {o}")).collect();
    CONTENT_SECURITY_POLICY.replace("frame-ancestors 'self'", &format!("frame-ancestors 'self'{extra}"))
}

/// How long the admin's list of sites is reused before the core is asked
/// again: a change reaches every gateway within this.
const WIDGET_ORIGINS_FRESH: Duration = Duration::from_secs(5);

/// The sites that may frame the widget now: the operator's, and the
/// admin's as the core last said (asked again after `WIDGET_ORIGINS_FRESH`;
/// while the core does not answer, the last answer stands).
pub struct WidgetFrames {
    core: CoreClient,
    fixed: Vec<String>,
    known: RwLock<Option<(Instant, Vec<String>)>>,
}

impl WidgetFrames {
    pub fn new(core: CoreClient, embedding: &WidgetEmbedding) -> Self {
        Self { core, fixed: embedding.widget_frame_ancestors.clone(), known: RwLock::new(None) }
    }

    async fn origins(&self) -> Vec<String> {
        let cached = self.known.read().expect("widget origins lock poisoned").clone();
        let admins = match cached {
            Some((at, list)) if at.elapsed() < WIDGET_ORIGINS_FRESH => list,
            stale => match self.core.admin().get_widget_policy(pb::GetWidgetPolicyRequest {}).await {
                Ok(r) => {
                    // Checked by the core already; checked again, since
                    // they go into a header.
                    let list: Vec<String> =
                        r.into_inner().allowed_origins.iter().filter_map(|o| parse_origin(o).ok()).collect();
                    *self.known.write().expect("widget origins lock poisoned") =
                        Some((Instant::now(), list.clone()));
                    list
                }
                Err(_) => stale.map(|(_, list)| list).unwrap_or_default(),
            },
        };
        let mut all = self.fixed.clone();
        all.extend(admins.into_iter().filter(|o| !self.fixed.contains(o)));
        all
    }
}

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
pub fn router<S: Clone + Send + Sync + 'static>(frames: Arc<WidgetFrames>) -> Router<S> {
    let pages = Router::new()
        .route("/", asset!("../static/console.html", "text/html; charset=utf-8"))
        .route("/assets/console.js", asset!("../static/console.js", "text/javascript; charset=utf-8"))
        .route("/assets/widget.js", asset!("../static/widget.js", "text/javascript; charset=utf-8"))
        .route("/assets/chat.js", asset!("../static/chat.js", "text/javascript; charset=utf-8"))
        .route("/assets/app.css", asset!("../static/app.css", "text/css; charset=utf-8"))
        .route("/widget/demo", asset!("../static/demo.html", "text/html; charset=utf-8"))
        .route("/favicon.ico", get(|| async { axum::http::StatusCode::NO_CONTENT.into_response() }));
    let pages = PAGE_HEADERS.into_iter().fold(pages, |pages, (name, value)| {
        pages.layer(SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value)))
    });
    // The embed script runs on the customer's pages, under their policy.
    let embed = Router::new()
        .route("/embed.js", asset!("../static/embed.js", "text/javascript; charset=utf-8"))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ));
    pages.merge(widget(frames)).merge(embed)
}

/// The widget page, which the allowed sites may frame. (No X-Frame-Options
/// then: it cannot name several sites, and browsers that know
/// frame-ancestors ignore it.)
fn widget<S: Clone + Send + Sync + 'static>(frames: Arc<WidgetFrames>) -> Router<S> {
    let page = get(move || {
        let frames = frames.clone();
        async move {
            let origins = frames.origins().await;
            let mut headers = axum::http::HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            // Every origin passed parse_origin: a valid header value.
            if let Ok(policy) = HeaderValue::from_str(&widget_policy(&origins)) {
                headers.insert(header::CONTENT_SECURITY_POLICY, policy);
            }
            if origins.is_empty() {
                headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN"));
            }
            // nosniff and Referrer-Policy, as on every page.
            for (name, value) in &PAGE_HEADERS[2..] {
                headers.insert(name.clone(), HeaderValue::from_static(value));
            }
            (headers, include_str!("../static/widget.html"))
        }
    });
    Router::new().route("/widget", page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_widget_may_be_framed_by_the_allowed_sites_only() {
        let policy = widget_policy(&["https://shop.example.com".into()]);
        assert!(policy.contains("frame-ancestors 'self' https://shop.example.com"), "{policy}");
        assert_eq!(widget_policy(&[]), CONTENT_SECURITY_POLICY);
    }
}
