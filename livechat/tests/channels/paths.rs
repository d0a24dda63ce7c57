//! The whole path on each channel, and each channel's own handshakes.

use livechat_test_support::channels::{
    Customer, Signing, VERIFY_TOKEN, WECHAT_AES_KEY, WECHAT_APP_ID, WECHAT_TOKEN, now_secs,
};

use super::*;

#[tokio::test]
async fn a_telegram_customer_is_answered_through_the_webhook() {
    let (app, fake) = app_with_channels(false, false).await;
    whole_path(&app, &fake, &Customer::telegram(&app.address, 7_001, "Ana")).await;
}

#[tokio::test]
async fn a_telegram_customer_is_answered_through_long_polling() {
    let (app, fake) = app_with_channels(true, false).await;
    let customer = Customer::telegram(&app.address, 7_002, "Ana");
    let (agent, mut ws) = agent_online(&app).await;
    let id = customer.next_id();
    let update: Value = serde_json::from_slice(&customer.body("Hi from polling", id)).unwrap();
    // Twice in one poll (as after a poller that died before confirming): stored once.
    fake.push_update(update.clone());
    fake.push_update(update);
    let room = queued_room(&mut ws).await;
    assert_eq!(room["channel"], "telegram");
    let room_id = room["id"].as_str().unwrap().to_string();
    ws.ack(json!({"type": "accept", "room_id": room_id})).await;
    fake.wait_for_text(&customer.id, "Bea has entered the chat").await;
    let history = app.history(&agent.token, &room_id, "").await;
    let contents: Vec<&str> = history.json(200)["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["Hi from polling", "Bea has entered the chat"]);
    // The offset moves past the update (with the next poll) once it is stored.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !fake.offsets().contains(&Some(id + 1)) {
        assert!(tokio::time::Instant::now() < deadline, "offsets asked: {:?}", fake.offsets());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // A webhook call in polling mode is not taken.
    let (status, _) =
        customer.deliver(&customer.body("via webhook", customer.next_id()), Signing::Right).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_messenger_customer_is_answered() {
    let (app, fake) = app_with_channels(false, false).await;
    whole_path(&app, &fake, &Customer::messenger(&app.address, "psid-42")).await;
}

#[tokio::test]
async fn messenger_subscribes_with_the_verify_token_only() {
    let (app, _fake) = app_with_channels(false, false).await;
    let url = |token: &str| {
        format!(
            "{}/webhooks/messenger?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444",
            app.address
        )
    };
    let ok = app.client.get(url(VERIFY_TOKEN)).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let wrong = app.client.get(url("guess")).send().await.unwrap();
    assert_eq!(wrong.status(), 403);
}

#[tokio::test]
async fn a_wechat_customer_is_answered_in_plain_mode() {
    let (app, fake) = app_with_channels(false, false).await;
    whole_path(&app, &fake, &Customer::wechat(&app.address, "oUser-plain", false)).await;
    assert_eq!(fake.tokens_issued(), 1, "the access token is cached across sends");
}

#[tokio::test]
async fn a_wechat_customer_is_answered_in_safe_mode() {
    let (app, fake) = app_with_channels(false, true).await;
    whole_path(&app, &fake, &Customer::wechat(&app.address, "oUser-safe", true)).await;
}

#[tokio::test]
async fn wechat_checks_the_server_with_the_signature() {
    use livechat_adapter::platform::wechat;
    let (app, _fake) = app_with_channels(false, false).await;
    let ts = &now_secs();
    let nonce = "263014780";
    let signature = wechat::signature(WECHAT_TOKEN, ts, nonce);
    let url = format!(
        "{}/webhooks/wechat?signature={signature}&timestamp={ts}&nonce={nonce}&echostr=1616140317555161061",
        app.address
    );
    let ok = app.client.get(&url).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1616140317555161061");
    let forged = url.replace(&signature, &"0".repeat(40));
    assert_eq!(app.client.get(forged).send().await.unwrap().status(), 401);
    // A signed URL from an hour ago (an access log, say) is not taken again.
    let old = (ts.parse::<i64>().unwrap() - 3600).to_string();
    let replayed = format!(
        "{}/webhooks/wechat?signature={}&timestamp={old}&nonce={nonce}&echostr=1",
        app.address,
        wechat::signature(WECHAT_TOKEN, &old, nonce)
    );
    assert_eq!(app.client.get(replayed).send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn wechat_safe_mode_decrypts_the_server_check() {
    use livechat_adapter::platform::wechat;
    let (app, _fake) = app_with_channels(false, true).await;
    let cipher = wechat::Cipher::new(WECHAT_AES_KEY, WECHAT_APP_ID).unwrap();
    let echostr = cipher.encrypt("echo-4711", *b"fedcba9876543210");
    let ts = &now_secs();
    let nonce = "263014780";
    let signed = wechat::msg_signature(WECHAT_TOKEN, ts, nonce, &echostr);
    let res = app
        .client
        .get(format!("{}/webhooks/wechat", app.address))
        .query(&[
            ("msg_signature", signed.as_str()),
            ("timestamp", ts),
            ("nonce", nonce),
            ("echostr", &echostr),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "echo-4711");
}
