//! Customers on Telegram, Messenger and WeChat reach agents through the
//! all-in-one, whose channel adapters run in its own process (no broker),
//! against fake platforms that check every call as the real ones would.
//! One scenario per test; `whole_path` is the story every channel tells.

#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is the failure report")]

mod faults;
mod inbound;
mod paths;

use livechat_test_support::TestAgent;
use livechat_test_support::app::{TestApp, spawn_configured};
use livechat_test_support::channels::{self, Customer, FakePlatform};
use livechat_test_support::ws::WsClient;
use serde_json::{Value, json};

/// The all-in-one with every channel configured against a fresh fake.
async fn app_with_channels(telegram_polls: bool, wechat_safe: bool) -> (TestApp, FakePlatform) {
    let fake = FakePlatform::start().await;
    let channels = channels::channels(&fake, telegram_polls, wechat_safe);
    let app = spawn_configured(|c| {
        c.without_limits();
        c.channels = channels;
    })
    .await;
    (app, fake)
}

/// An agent with the console open.
async fn agent_online(app: &TestApp) -> (TestAgent, WsClient) {
    let agent = app.create_named_agent("Bea").await;
    let (ws, _) = app.ws_welcomed(&agent.token).await;
    (agent, ws)
}

/// The next `room_queued` frame's room.
async fn queued_room(ws: &mut WsClient) -> Value {
    ws.wait_for_type("room_queued").await["room"].clone()
}

/// Waits for `text` as a message of `room` on the agent's socket.
async fn message_in(ws: &mut WsClient, room: &str, text: &str) -> Value {
    let (room, text) = (room.to_string(), text.to_string());
    ws.wait_for(&format!("{text:?} in {room}"), move |f| {
        f["type"] == "message"
            && f["message"]["room_id"] == room.as_str()
            && f["message"]["content"] == text.as_str()
    })
    .await["message"]
        .clone()
}

/// The story of every channel: the customer writes, an agent accepts and
/// answers, the customer writes again into the same room, the agent
/// closes, and the customer's next message opens a new room. Every agent
/// and system text reaches the customer in order, exactly once.
async fn whole_path(app: &TestApp, fake: &FakePlatform, customer: &Customer) {
    let (agent, mut ws) = agent_online(app).await;
    assert_eq!(customer.says("Hello, my order is late").await, 200);
    let room = queued_room(&mut ws).await;
    assert_eq!(room["channel"], customer.channel, "{room}");
    assert_eq!(room["visitor"]["name"], customer.name.as_str(), "{room}");
    assert_eq!(room["subject"], "Hello, my order is late");
    let room_id = room["id"].as_str().unwrap().to_string();

    ws.ack(json!({"type": "accept", "room_id": room_id})).await;
    fake.wait_for_text(&customer.id, "Bea has entered the chat").await;
    ws.ack(json!({"type": "send", "room_id": room_id, "content": "Let me check that for you"})).await;
    fake.wait_for_text(&customer.id, "Let me check that for you").await;

    assert_eq!(customer.says("Thanks!").await, 200);
    let again = message_in(&mut ws, &room_id, "Thanks!").await;
    assert_eq!(again["seq"], 4, "the second message lands in the same room: {again}");

    app.close(&agent.token, &room_id, None).await.ok(200);
    let texts = fake.wait_for_text(&customer.id, "This chat has been closed. Thank you!").await;
    assert_eq!(
        texts,
        ["Bea has entered the chat", "Let me check that for you", "This chat has been closed. Thank you!"],
        "the agent's and the system's texts, in order, once each; never the customer's own"
    );

    assert_eq!(customer.says("One more thing").await, 200);
    let next = queued_room(&mut ws).await;
    assert_ne!(next["id"], room_id.as_str(), "a closed room is not reopened");
    assert_eq!(next["channel"], customer.channel);
    assert!(fake.refused().is_empty(), "calls the platform would refuse: {:?}", fake.refused());
}
