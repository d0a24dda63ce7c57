//! /healthz, /readyz, /metrics.

use livechat_test_support::app::*;

#[tokio::test]
async fn the_operator_endpoints_answer() {
    let app = spawn_app().await;
    let r = app.get("/healthz", None).await;
    assert_eq!(r.code(), 200, "{}", r.text);
    let r = app.get("/readyz", None).await;
    assert_eq!(r.code(), 200, "{}", r.text);

    app.create_room("Ana", None).await;
    let r = app.get("/metrics", None).await;
    assert_eq!(r.code(), 200);
    assert!(r.content_type().starts_with("text/plain"), "{}", r.content_type());
    assert!(r.text.contains("livechat_http_requests_total"), "the request counter is exported: {}", r.text);
}
