//! What the webhooks refuse, and what they take once however often the
//! platform delivers it.

use livechat_test_support::channels::Signing;

use super::*;

/// The three customers of a test, one per channel.
fn customers(app: &TestApp) -> [Customer; 3] {
    [
        Customer::telegram(&app.address, 7_100, "Ana"),
        Customer::messenger(&app.address, "psid-100"),
        Customer::wechat(&app.address, "oUser-100", false),
    ]
}

/// How many rooms wait in the queue.
async fn queued(app: &TestApp) -> usize {
    let admin = app.admin_token().await;
    app.list_rooms(&admin, "status=queued").await.json(200)["rooms"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_wrong_or_missing_signature_is_401_and_nothing_is_queued() {
    let (app, _fake) = app_with_channels(false, false).await;
    for customer in customers(&app) {
        for signing in [Signing::Wrong, Signing::Missing] {
            let (status, body) =
                customer.deliver(&customer.body("let me in", customer.next_id()), signing).await;
            assert_eq!(status, 401, "{} {signing:?}: {body}", customer.channel);
        }
    }
    assert_eq!(queued(&app).await, 0, "nothing reached the queue");
}

#[tokio::test]
async fn the_same_delivery_three_times_is_stored_once() {
    let (app, _fake) = app_with_channels(false, false).await;
    let admin = app.admin_token().await;
    for customer in customers(&app) {
        let body = customer.body("only once, please", customer.next_id());
        for _ in 0..3 {
            assert_eq!(customer.deliver(&body, Signing::Right).await.0, 200, "{}", customer.channel);
        }
    }
    let rooms = app.list_rooms(&admin, "status=queued").await.json(200)["rooms"].as_array().unwrap().clone();
    assert_eq!(rooms.len(), 3, "one room per customer: {rooms:?}");
    for room in rooms {
        let history = app.history(&admin, room["id"].as_str().unwrap(), "").await;
        let messages = history.json(200)["messages"].as_array().unwrap().clone();
        assert_eq!(messages.len(), 1, "{} stored once: {messages:?}", room["channel"]);
    }
}

#[tokio::test]
async fn a_body_that_does_not_parse_is_400_and_the_process_stays_up() {
    let (app, _fake) = app_with_channels(false, false).await;
    for customer in customers(&app) {
        for junk in [&b"{not json"[..], b"<xml><unclosed>", b"", &[0xff, 0xfe, 0x00]] {
            let (status, body) = customer.deliver(junk, Signing::Right).await;
            assert_eq!(status, 400, "{} {junk:?}: {body}", customer.channel);
        }
    }
    assert_eq!(queued(&app).await, 0);
    let health = app.client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    // And it still takes a good one.
    let [telegram, ..] = customers(&app);
    assert_eq!(telegram.says("still there?").await, 200);
    assert_eq!(queued(&app).await, 1);
}

#[tokio::test]
async fn a_photo_becomes_a_placeholder_not_silence() {
    let (app, _fake) = app_with_channels(false, false).await;
    let (_agent, mut ws) = agent_online(&app).await;
    let customer = Customer::telegram(&app.address, 7_200, "Ana");
    let update = json!({"update_id": customer.next_id(), "message": {
        "message_id": 5, "date": 1_764_400_000,
        "from": {"id": 7_200, "is_bot": false, "first_name": "Ana"},
        "chat": {"id": 7_200, "type": "private"},
        "photo": [{"file_id": "f1", "file_unique_id": "u1", "width": 90, "height": 90}],
        "caption": "the broken part"}});
    let (status, _) = customer.deliver(update.to_string().as_bytes(), Signing::Right).await;
    assert_eq!(status, 200);
    let room = queued_room(&mut ws).await;
    assert_eq!(room["subject"], "[photo] the broken part");
}

#[tokio::test]
async fn a_text_longer_than_a_message_is_kept_whole_in_several() {
    let (app, _fake) = app_with_channels(false, false).await;
    let admin = app.admin_token().await;
    let mut settings = livechat_test_support::rest::default_settings();
    settings["max_message_chars"] = json!(100);
    app.put("/settings", Some(&admin), settings).await.ok(200);
    let customer = Customer::messenger(&app.address, "psid-long");
    let text: String = (0..250).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    assert_eq!(customer.says(&text).await, 200);
    let rooms = app.list_rooms(&admin, "status=queued").await.json(200)["rooms"].as_array().unwrap().clone();
    let history = app.history(&admin, rooms[0]["id"].as_str().unwrap(), "").await;
    let parts: Vec<String> = history.json(200)["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(parts.iter().map(|p| p.chars().count()).collect::<Vec<_>>(), [100, 100, 50]);
    assert_eq!(parts.concat(), text);
}

#[tokio::test]
async fn a_redelivery_after_the_room_closed_opens_no_new_room() {
    let (app, _fake) = app_with_channels(false, false).await;
    let (agent, mut ws) = agent_online(&app).await;
    let customer = Customer::messenger(&app.address, "psid-late");
    let body = customer.body("delivered late", customer.next_id());
    assert_eq!(customer.deliver(&body, Signing::Right).await.0, 200);
    let room_id = queued_room(&mut ws).await["id"].as_str().unwrap().to_string();
    ws.ack(json!({"type": "accept", "room_id": room_id})).await;
    app.close(&agent.token, &room_id, None).await.ok(200);
    // Meta retries a delivery it thinks failed, after the chat ended.
    assert_eq!(customer.deliver(&body, Signing::Right).await.0, 200);
    assert_eq!(queued(&app).await, 0, "the old message opened no room");
    // A new message still does.
    assert_eq!(customer.says("a new question").await, 200);
    assert_eq!(queued(&app).await, 1);
}

#[tokio::test]
async fn safe_mode_wechat_refuses_a_forged_or_missing_msg_signature() {
    let (app, _fake) = app_with_channels(false, true).await;
    let customer = Customer::wechat(&app.address, "oUser-safe-forged", true);
    for signing in [Signing::Wrong, Signing::Missing] {
        let (status, body) = customer.deliver(&customer.body("let me in", customer.next_id()), signing).await;
        assert_eq!(status, 401, "{signing:?}: {body}");
    }
    assert_eq!(queued(&app).await, 0);
    assert_eq!(customer.says("signed and sealed").await, 200);
    assert_eq!(queued(&app).await, 1);
}
