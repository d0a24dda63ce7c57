//! When the platform says no: rate limits are waited out, outages are
//! retried then given up on (and counted), permanent refusals are told to
//! the agent, and long texts are split to the platform's limit.

use std::time::Duration;

use super::*;

/// An engaged room of `customer` with Bea, the join text already delivered.
async fn engaged(app: &TestApp, fake: &FakePlatform, customer: &Customer) -> (TestAgent, WsClient, String) {
    let (agent, mut ws) = agent_online(app).await;
    assert_eq!(customer.says("Hello").await, 200);
    let room_id = queued_room(&mut ws).await["id"].as_str().unwrap().to_string();
    ws.ack(json!({"type": "accept", "room_id": room_id})).await;
    fake.wait_for_text(&customer.id, "Bea has entered the chat").await;
    (agent, ws, room_id)
}

#[tokio::test]
async fn telegram_429_is_waited_out_and_the_message_delivered_once() {
    let (app, fake) = app_with_channels(false, false).await;
    let customer = Customer::telegram(&app.address, 7_300, "Ana");
    let (_agent, mut ws, room_id) = engaged(&app, &fake, &customer).await;
    let limited = json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1",
        "parameters": {"retry_after": 1}});
    fake.fail_next(1, 429, limited);
    let attempts_before = fake.attempts();
    let asked = tokio::time::Instant::now();
    ws.ack(json!({"type": "send", "room_id": room_id, "content": "after the limit"})).await;
    fake.wait_for_text(&customer.id, "after the limit").await;
    let sent = fake.sent().into_iter().find(|s| s.text == "after the limit").unwrap();
    assert!(sent.at - asked >= Duration::from_secs(1), "retry_after was honoured: {:?}", sent.at - asked);
    assert_eq!(fake.attempts() - attempts_before, 2, "one refused, one accepted");
    assert_eq!(fake.sent_to(&customer.id).iter().filter(|t| *t == "after the limit").count(), 1);
}

/// `livechat_adapter_dead_lettered_total` for messenger, from /metrics.
async fn dead_lettered_to_messenger(app: &TestApp) -> u64 {
    let metrics =
        app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("livechat_adapter_dead_lettered_total{channel=\"messenger\"} "))
        .map_or(0, |n| n.parse().unwrap())
}

#[tokio::test]
async fn a_platform_that_stays_down_is_given_up_on_counted_and_the_agent_told() {
    let (app, fake) = app_with_channels(false, false).await;
    let customer = Customer::messenger(&app.address, "psid-down");
    let (_agent, mut ws, room_id) = engaged(&app, &fake, &customer).await;
    let down = json!({"error": {"message": "An unexpected error has occurred.", "type": "OAuthException", "code": 2}});
    fake.fail_next(3, 500, down);
    let dead_letters_before = dead_lettered_to_messenger(&app).await;
    ws.ack(json!({"type": "send", "room_id": room_id, "content": "into the void"})).await;
    let note = message_in_with_prefix(&mut ws, &room_id, "Not delivered to messenger: ").await;
    assert_eq!(note["sender"]["kind"], "system", "{note}");
    assert!(note["content"].as_str().unwrap().contains("3 tries"), "{note}");
    // The counter is the test process's: another test may dead-letter a
    // messenger reply at the same time.
    let counted = dead_lettered_to_messenger(&app).await;
    assert!(counted > dead_letters_before, "counted: {dead_letters_before} before, {counted} after");
    // The note stays in the room: it is not sent to the customer, and the
    // next message goes out as usual.
    ws.ack(json!({"type": "send", "room_id": room_id, "content": "back again"})).await;
    let texts = fake.wait_for_text(&customer.id, "back again").await;
    assert_eq!(texts, ["Bea has entered the chat", "back again"]);
}

#[tokio::test]
async fn a_blocked_bot_is_told_to_the_agent_once() {
    let (app, fake) = app_with_channels(false, false).await;
    let customer = Customer::telegram(&app.address, 7_400, "Ana");
    let (agent, mut ws, room_id) = engaged(&app, &fake, &customer).await;
    let blocked =
        json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"});
    fake.fail_next(1, 403, blocked);
    let attempts_before = fake.attempts();
    ws.ack(json!({"type": "send", "room_id": room_id, "content": "are you there?"})).await;
    let note = message_in_with_prefix(&mut ws, &room_id, "Not delivered to telegram: ").await;
    assert!(note["content"].as_str().unwrap().contains("blocked"), "{note}");
    assert_eq!(fake.attempts() - attempts_before, 1, "a permanent refusal is not retried");
    let history = app.history(&agent.token, &room_id, "").await;
    let notes = history.json(200)["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["content"].as_str().unwrap().starts_with("Not delivered"))
        .count();
    assert_eq!(notes, 1);
}

#[tokio::test]
async fn a_long_reply_is_split_at_the_platform_limit() {
    let (app, fake) = app_with_channels(false, false).await;
    let admin = app.admin_token().await;
    let mut settings = livechat_test_support::rest::default_settings();
    settings["max_message_chars"] = json!(10_000);
    app.put("/settings", Some(&admin), settings).await.ok(200);
    let customer = Customer::telegram(&app.address, 7_500, "Ana");
    let (_agent, mut ws, room_id) = engaged(&app, &fake, &customer).await;
    let long: String = "word ".repeat(1_000) + "end";
    ws.ack(json!({"type": "send", "room_id": room_id, "content": long})).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let texts = fake.sent_to(&customer.id);
        if texts.last().is_some_and(|t| t.ends_with("end")) {
            let pieces = &texts[1..];
            assert_eq!(pieces.len(), 2, "5003 characters in two sends of at most 4096");
            assert!(pieces.iter().all(|p| p.chars().count() <= 4096));
            assert_eq!(pieces.concat(), long, "nothing lost or reordered");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "sent: {texts:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn replies_waiting_for_a_platform_outlive_a_restart_of_the_all_in_one() {
    let fake = FakePlatform::start().await;
    let patient = |c: &mut livechat_test_support::app::AppConfig| {
        c.without_limits();
        c.channels = channels::channels(&fake, false, false);
        // Still retrying when the process stops.
        c.channels.policy.send_attempts = 1_000;
        c.channels.policy.retry_base_ms = 100;
        c.channels.policy.retry_max_ms = 100;
    };
    let app = spawn_configured(patient).await;
    let customer = Customer::telegram(&app.address, 7_600, "Ana");
    let (_agent, mut ws) = agent_online(&app).await;
    assert_eq!(customer.says("Hello").await, 200);
    let room_id = queued_room(&mut ws).await["id"].as_str().unwrap().to_string();
    fake.fail_next(1_000, 502, json!({"ok": false, "error_code": 502, "description": "Bad Gateway"}));
    ws.ack(json!({"type": "accept", "room_id": room_id})).await;
    ws.ack(json!({"type": "send", "room_id": room_id, "content": "first"})).await;
    ws.ack(json!({"type": "send", "room_id": room_id, "content": "second"})).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while fake.attempts() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "the adapter never tried");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(ws);
    let app = app.restart(patient).await;
    fake.recover();
    let texts = fake.wait_for_text(&customer.id, "second").await;
    assert_eq!(texts, ["Bea has entered the chat", "first", "second"], "in order, none lost, none twice");
    drop(app);
}

/// Waits for a message of `room` whose content starts with `prefix`.
async fn message_in_with_prefix(ws: &mut WsClient, room: &str, prefix: &str) -> Value {
    let (room, prefix) = (room.to_string(), prefix.to_string());
    ws.wait_for(&format!("a message starting {prefix:?}"), move |f| {
        f["type"] == "message"
            && f["message"]["room_id"] == room.as_str()
            && f["message"]["content"].as_str().is_some_and(|c| c.starts_with(prefix.as_str()))
    })
    .await["message"]
        .clone()
}

#[tokio::test]
async fn erasing_a_messenger_customer_leaves_nothing_in_any_table_or_the_outbox() {
    let (app, fake) = app_with_channels(false, false).await;
    let customer = Customer::messenger(&app.address, "psid-erase-me");
    let (agent, mut ws, room_id) = engaged(&app, &fake, &customer).await;
    assert_eq!(customer.says("my card ends in 4242").await, 200);
    message_in(&mut ws, &room_id, "my card ends in 4242").await;
    // A reply the platform never takes stays in the outbox as a dead letter.
    let down = json!({"error": {"message": "An unexpected error has occurred.", "type": "OAuthException", "code": 2}});
    fake.fail_next(3, 500, down);
    ws.ack(json!({"type": "send", "room_id": room_id, "content": "we refunded card 4242 today"})).await;
    message_in_with_prefix(&mut ws, &room_id, "Not delivered to messenger: ").await;
    app.close(&agent.token, &room_id, None).await.ok(200);
    let db = app.database_url.clone();
    let held = livechat_test_support::database::columns_containing(&db, "we refunded card 4242").await;
    assert!(held.iter().any(|c| c.starts_with("outbox.")), "the dead letter is in the outbox: {held:?}");

    let admin = app.admin_token().await;
    let erase = json!({"channel": "messenger", "external_id": "psid-erase-me"});
    let r = app.post("/visitor-data/erase", Some(&admin), erase).await;
    assert_eq!(r.json(200)["rooms"], 1);
    for text in ["my card ends in 4242", "we refunded card 4242", "psid-erase-me"] {
        let left = livechat_test_support::database::columns_containing(&db, text).await;
        assert!(left.is_empty(), "{text:?} is still in {left:?}");
    }
}
