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

#[tokio::test]
async fn metrics_move_to_their_own_listener_when_asked() {
    // A free port for LIVECHAT_METRICS_LISTEN.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let metrics_addr = probe.local_addr().unwrap();
    drop(probe);
    let app =
        livechat_test_support::app::spawn_configured(|c| c.http.listener.metrics_listen = Some(metrics_addr))
            .await;
    // Something to count.
    app.login("admin", "wrong-password").await;
    let main = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap();
    assert_eq!(main.status(), 404, "not on the public port any more");
    let own = app.client.get(format!("http://{metrics_addr}/metrics")).send().await.unwrap();
    assert_eq!(own.status(), 200);
    let text = own.text().await.unwrap();
    assert!(text.contains("livechat_login_failures_total"), "{text}");
    // The probes stay where the orchestrator looks for them.
    let health = app.client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    assert_eq!(health.status(), 200);
}
