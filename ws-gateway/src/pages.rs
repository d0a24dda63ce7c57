//! The agent console (`/`), the visitor widget (`/widget`), the script a
//! customer pastes into their own site (`/embed.js`) and its demo page
//! (`/widget/demo`): static files built into the binary, so running
//! livechat needs no Node build.

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

/// Which sites may show the visitor widget in a frame (the console never).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WidgetEmbedding {
    /// Origins allowed to frame /widget, comma-separated
    /// (https://shop.example.com); empty: this origin only.
    #[arg(long, env = "LIVECHAT_WIDGET_FRAME_ANCESTORS", value_delimiter = ',', value_parser = parse_origin)]
    pub widget_frame_ancestors: Vec<String>,
}

/// An origin as a CSP source: scheme, host and port, nothing else (a path,
/// a query or a `;` would change what the policy says).
pub fn parse_origin(raw: &str) -> Result<String, String> {
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("{raw:?} is not an origin: {e}"))?;
    let plain = matches!(url.scheme(), "http" | "https")
        && url.username().is_empty()
        && url.password().is_none()
        && matches!(url.path(), "" | "/")
        && url.query().is_none()
        && url.fragment().is_none()
        && url.host_str().is_some();
    if !plain {
        return Err(format!("{raw:?} is not an origin like https://shop.example.com"));
    }
    Ok(url.origin().ascii_serialization())
}

impl WidgetEmbedding {
    /// The widget page's policy: the pages' own, framed by these origins too.
    fn widget_policy(&self) -> String {
        let extra: String = self.widget_frame_ancestors.iter().map(|o| format!(" {o}")).collect();
        CONTENT_SECURITY_POLICY.replace("frame-ancestors 'self'", &format!("frame-ancestors 'self'{extra}"))
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
pub fn router<S: Clone + Send + Sync + 'static>(embedding: &WidgetEmbedding) -> Router<S> {
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
    pages.merge(widget(embedding)).merge(embed)
}

/// The widget page, which the sites in `embedding` may frame. (No
/// X-Frame-Options then: it cannot name several sites, and browsers that
/// know frame-ancestors ignore it.)
fn widget<S: Clone + Send + Sync + 'static>(embedding: &WidgetEmbedding) -> Router<S> {
    let policy = HeaderValue::from_str(&embedding.widget_policy()).expect("origins are checked at start");
    let page = Router::new()
        .route("/widget", asset!("../static/widget.html", "text/html; charset=utf-8"))
        .layer(SetResponseHeaderLayer::overriding(header::CONTENT_SECURITY_POLICY, policy));
    let page = if embedding.widget_frame_ancestors.is_empty() {
        page.layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("SAMEORIGIN"),
        ))
    } else {
        page
    };
    // nosniff and Referrer-Policy, as on every page.
    PAGE_HEADERS[2..].iter().fold(page, |page, (name, value)| {
        page.layer(SetResponseHeaderLayer::overriding(name.clone(), HeaderValue::from_static(value)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_origins_become_frame_ancestors() {
        assert_eq!(parse_origin("https://shop.example.com").unwrap(), "https://shop.example.com");
        assert_eq!(parse_origin("https://shop.example.com:8443/").unwrap(), "https://shop.example.com:8443");
        for bad in [
            "https://x.com; script-src *",
            "https://x.com/path",
            "javascript:alert(1)",
            "*",
            "https://u:p@x.com",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_widget_may_be_framed_by_the_allowed_sites_only() {
        let embedding = WidgetEmbedding { widget_frame_ancestors: vec!["https://shop.example.com".into()] };
        let policy = embedding.widget_policy();
        assert!(policy.contains("frame-ancestors 'self' https://shop.example.com"), "{policy}");
        assert_eq!(WidgetEmbedding::default().widget_policy(), CONTENT_SECURITY_POLICY);
    }
}
