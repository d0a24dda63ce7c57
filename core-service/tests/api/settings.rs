//! Run-time settings: changed by an admin, in effect at once.

use livechat_proto::v1 as pb;
use pb::SenderKind;

use livechat_test_support::grpc::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settings_start_at_the_documented_defaults() {
    let app = spawn_core().await;
    let s = app.settings().await;
    assert_eq!(
        s,
        pb::Settings {
            history_load_count: 20,
            room_idle_timeout_secs: 120,
            agent_grace_secs: 30,
            agent_join_message: "{agent} has entered the chat".into(),
            agent_leave_message: "{agent} has left the chat".into(),
            close_message: "This chat has been closed. Thank you!".into(),
            max_message_chars: 4000,
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_load_count_changes_the_default_page_size_at_once() {
    let app = spawn_core().await;
    let (room, visitor) = app.create_room("Val", Some("m1")).await;
    for i in 2..=6 {
        app.send(&visitor, &room.id, &format!("m{i}")).await;
    }
    let before = app.history(&visitor, &room.id, None, None, None).await;
    assert_eq!((seqs(&before.messages), before.has_more), ((1..=6).collect(), false));

    let s = app
        .update_settings(pb::UpdateSettingsRequest { history_load_count: Some(3), ..Default::default() })
        .await;
    assert_eq!(s.history_load_count, 3);
    assert_eq!(s.room_idle_timeout_secs, 120, "other keys are left as they were");

    let page = app.history(&visitor, &room.id, None, None, None).await;
    assert_eq!((seqs(&page.messages), page.has_more), (vec![4, 5, 6], true));
    let page = app.history(&visitor, &room.id, None, Some(1), None).await;
    assert_eq!((seqs(&page.messages), page.has_more), (vec![2, 3, 4], true));
    assert_eq!(app.settings().await.history_load_count, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_over_max_message_chars_is_refused_as_too_large() {
    let app = spawn_core().await;
    let (room, visitor) = app.create_room("Wes", None).await;
    app.update_settings(pb::UpdateSettingsRequest { max_message_chars: Some(10), ..Default::default() })
        .await;

    // Characters count, not bytes: ten two-byte characters fit.
    let ten = "é".repeat(10);
    assert_eq!(app.send(&visitor, &room.id, &ten).await.content, ten);
    let eleven = "é".repeat(11);
    expect_err(app.try_send(&visitor, &room.id, &eleven, None).await, "too_large");
    expect_err(app.try_send(&visitor, &room.id, "0123456789a", None).await, "too_large");
    assert_eq!(app.all_messages(&visitor, &room.id).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_settings_update_changes_nothing_and_lists_every_bad_field() {
    let app = spawn_core().await;
    let before = app.settings().await;

    let status = expect_err(
        app.admin_api(&app.admin_token())
            .update_settings(pb::UpdateSettingsRequest {
                history_load_count: Some(0),
                room_idle_timeout_secs: Some(1),
                close_message: Some("A valid new close text".into()),
                ..Default::default()
            })
            .await,
        "invalid",
    );
    let mut fields: Vec<String> = detail(&status).errors.into_iter().map(|e| e.field).collect();
    fields.sort();
    assert_eq!(fields, vec!["history_load_count", "room_idle_timeout_secs"]);
    assert_eq!(app.settings().await, before, "nothing may change when one key is bad");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_at_their_limits_are_accepted() {
    let app = spawn_core().await;
    let s = app
        .update_settings(pb::UpdateSettingsRequest {
            history_load_count: Some(500),
            room_idle_timeout_secs: Some(5),
            agent_grace_secs: Some(0),
            max_message_chars: Some(1),
            ..Default::default()
        })
        .await;
    assert_eq!(
        (s.history_load_count, s.room_idle_timeout_secs, s.agent_grace_secs, s.max_message_chars),
        (500, 5, 0, 1)
    );
    for bad in [
        pb::UpdateSettingsRequest { history_load_count: Some(501), ..Default::default() },
        pb::UpdateSettingsRequest { agent_grace_secs: Some(3601), ..Default::default() },
        pb::UpdateSettingsRequest { max_message_chars: Some(0), ..Default::default() },
        pb::UpdateSettingsRequest { room_idle_timeout_secs: Some(604_801), ..Default::default() },
    ] {
        expect_err(app.admin_api(&app.admin_token()).update_settings(bad).await, "invalid");
    }
    assert_eq!(app.settings().await, s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_join_message_is_used_on_the_next_accept() {
    let app = spawn_core().await;
    app.update_settings(pb::UpdateSettingsRequest {
        agent_join_message: Some("{agent} is here to help".into()),
        ..Default::default()
    })
    .await;
    let (room, visitor) = app.create_room("Xia", Some("hi")).await;
    app.accept(&app.admin_token(), &room.id).await;
    let join = app.all_messages(&visitor, &room.id).await.pop().unwrap();
    assert_eq!(sender_kind(&join), SenderKind::System);
    assert_eq!(join.content, format!("{} is here to help", app.admin.name));
}
