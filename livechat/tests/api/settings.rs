//! GET/PUT /settings.

use serde_json::json;

use livechat_test_support::{app::*, rest::*, shapes::*};

const KEYS: [&str; 7] = [
    "history_load_count",
    "room_idle_timeout_secs",
    "agent_grace_secs",
    "agent_join_message",
    "agent_leave_message",
    "close_message",
    "max_message_chars",
];

#[tokio::test]
async fn any_agent_reads_all_seven_settings_with_the_protocol_defaults() {
    let app = spawn_app().await;
    let bea = app.create_agent("agent").await;
    let r = app.settings(&bea.token).await;
    let s = r.json(200);
    assert_keys(s, &KEYS);
    assert_eq!(s, &default_settings());
    app.get("/settings", None).await.problem(401, "unauthorized");
}

#[tokio::test]
async fn a_plain_agent_cannot_change_settings() {
    let app = spawn_app().await;
    let bea = app.create_agent("agent").await;
    app.put("/settings", Some(&bea.token), json!({"history_load_count": 5})).await.problem(403, "forbidden");
    assert_eq!(app.settings(&bea.token).await.json(200), &default_settings());
}

#[tokio::test]
async fn a_settings_update_with_bad_values_names_every_bad_field_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let r = app
        .put(
            "/settings",
            Some(&admin),
            json!({"history_load_count": 0, "room_idle_timeout_secs": 1, "close_message": "Bye"}),
        )
        .await;
    r.problem(422, "invalid");
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, vec!["history_load_count", "room_idle_timeout_secs"], "{}", r.text);
    assert_eq!(
        app.settings(&admin).await.json(200),
        &default_settings(),
        "a refused update changes nothing, not even its good keys"
    );

    // Each bound of the docs/protocol.md table.
    for (key, bad) in [
        ("history_load_count", json!(501)),
        ("room_idle_timeout_secs", json!(4)),
        ("room_idle_timeout_secs", json!(604_801)),
        ("agent_grace_secs", json!(3601)),
        ("max_message_chars", json!(0)),
        ("max_message_chars", json!(100_001)),
    ] {
        app.put("/settings", Some(&admin), json!({key: bad})).await.invalid_field(key);
    }
    assert_eq!(app.settings(&admin).await.json(200), &default_settings());
}

#[tokio::test]
async fn a_good_settings_update_answers_the_whole_object_and_takes_effect() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let bea = app.create_agent("agent").await;
    let room = app.engaged_room(&bea, "Ana").await;
    for i in 0..3 {
        app.send(&room.visitor_token, &room.id, &format!("m{i}"), None).await.json(201);
    }
    assert_eq!(seqs(app.history(&bea.token, &room.id, "").await.json(200)).len(), 5);

    let r = app
        .put(
            "/settings",
            Some(&admin),
            json!({"history_load_count": 2, "close_message": "Goodbye from the test"}),
        )
        .await;
    let mut expected = default_settings();
    expected["history_load_count"] = json!(2);
    expected["close_message"] = json!("Goodbye from the test");
    assert_eq!(r.json(200), &expected, "PUT answers the whole object");
    assert_eq!(app.settings(&bea.token).await.json(200), &expected);

    // The default page size is the new history_load_count.
    let r = app.history(&bea.token, &room.id, "").await;
    assert_eq!(seqs(r.json(200)), vec![4, 5]);
    assert_eq!(r.body["has_more"], true);
    // And the default close text is the new one.
    app.close(&bea.token, &room.id, None).await.json(200);
    let r = app.history(&bea.token, &room.id, "limit=1").await;
    assert_eq!(r.json(200)["messages"][0]["content"], "Goodbye from the test");
}
