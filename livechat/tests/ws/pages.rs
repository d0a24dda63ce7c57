//! The agent console and the widget as a browser gets them: a Content
//! Security Policy that allows only their own files, and no framing by
//! other sites.

use livechat_test_support::app::*;

#[tokio::test]
async fn the_pages_allow_only_their_own_scripts_and_only_this_origin_to_frame_them() {
    let app = spawn_app().await;
    for path in ["/", "/widget", "/widget/demo", "/assets/console.js", "/assets/app.css"] {
        let r = app.client.get(format!("{}{path}", app.address)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'self'"), "{path}: {csp}");
        assert_eq!(h["x-frame-options"], "SAMEORIGIN", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
    }
    // The pages themselves hold no inline script or style for the policy to block.
    for path in ["/", "/widget", "/widget/demo"] {
        let html =
            app.client.get(format!("{}{path}", app.address)).send().await.unwrap().text().await.unwrap();
        assert!(
            !html.contains("<script>") && !html.contains("<style") && !html.contains(" style="),
            "{path}"
        );
        assert!(!html.contains(" onclick=") && !html.contains(" onload="), "{path}");
    }
}

#[tokio::test]
async fn the_widget_may_be_framed_by_the_sites_an_operator_allows_and_the_console_never() {
    let app = livechat_test_support::app::spawn_configured(|c| {
        c.session.embedding.widget_frame_ancestors = vec!["https://shop.example.com".into()];
    })
    .await;
    let widget = app.client.get(format!("{}/widget", app.address)).send().await.unwrap();
    let csp = widget.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("frame-ancestors 'self' https://shop.example.com"), "{csp}");
    assert!(!widget.headers().contains_key("x-frame-options"), "XFO would forbid the shop");
    assert_eq!(widget.headers()["x-content-type-options"], "nosniff");
    let console = app.client.get(format!("{}/", app.address)).send().await.unwrap();
    let csp = console.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.ends_with("frame-ancestors 'self'"), "{csp}");
    assert_eq!(console.headers()["x-frame-options"], "SAMEORIGIN");
}

#[tokio::test]
async fn the_embed_script_is_served_for_other_sites_to_load() {
    let app = spawn_app().await;
    let r = app.client.get(format!("{}/embed.js", app.address)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    // It runs under the host site's policy, not ours, and frames /widget.
    assert!(!r.headers().contains_key("content-security-policy"));
    let js = r.text().await.unwrap();
    assert!(js.contains("/widget?embedded=1"), "the script opens the widget page");
    // The demo page uses it, from this origin.
    let demo =
        app.client.get(format!("{}/widget/demo", app.address)).send().await.unwrap().text().await.unwrap();
    assert!(demo.contains(r#"<script src="/embed.js" async></script>"#), "{demo}");
}

#[tokio::test]
async fn an_admin_lets_a_site_frame_the_widget_at_run_time() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let r = app
        .put(
            "/workspace-settings",
            Some(&admin.token),
            serde_json::json!({"widget_allowed_origins": ["https://shop.example.com/", "https://blog.example.org"]}),
        )
        .await;
    assert_eq!(
        r.json(200)["widget_allowed_origins"],
        serde_json::json!(["https://shop.example.com", "https://blog.example.org"])
    );
    let widget = app.client.get(format!("{}/widget", app.address)).send().await.unwrap();
    let csp = widget.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(
        csp.contains("frame-ancestors 'self' https://shop.example.com https://blog.example.org"),
        "{csp}"
    );
    assert!(!widget.headers().contains_key("x-frame-options"));
    // The console stays unframeable; a bad origin is refused, nothing changes.
    let console = app.client.get(format!("{}/", app.address)).send().await.unwrap();
    assert!(
        console.headers()["content-security-policy"].to_str().unwrap().ends_with("frame-ancestors 'self'")
    );
    let bad = app
        .put(
            "/workspace-settings",
            Some(&admin.token),
            serde_json::json!({"widget_allowed_origins": ["https://x.com; script-src *"]}),
        )
        .await;
    bad.invalid_field("widget_allowed_origins");
    let now = app.get("/workspace-settings", Some(&admin.token)).await;
    assert_eq!(now.json(200)["widget_allowed_origins"].as_array().unwrap().len(), 2);
}
