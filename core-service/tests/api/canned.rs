//! Canned responses: personal ones stay personal, shared ones need the right.

use livechat_proto::v1 as pb;
use pb::CannedScope;

use livechat_test_support::grpc::*;

async fn create(
    app: &CoreApp,
    token: &str,
    shortcut: &str,
    body: &str,
    scope: CannedScope,
) -> Result<pb::CannedResponse, tonic::Status> {
    app.canned(token)
        .create_canned_response(pb::CreateCannedResponseRequest {
            shortcut: shortcut.into(),
            title: format!("Title of {shortcut}"),
            body: body.into(),
            scope: scope as i32,
        })
        .await
        .map(|r| r.into_inner())
}

async fn list(app: &CoreApp, token: &str, q: Option<&str>) -> Vec<pb::CannedResponse> {
    ok(
        app.canned(token)
            .list_canned_responses(pb::ListCannedResponsesRequest { q: q.map(str::to_string) })
            .await,
        "ListCannedResponses",
    )
    .canned_responses
}

fn shortcuts(list: &[pb::CannedResponse]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|c| c.shortcut.clone()).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_sees_their_own_and_shared_responses_but_not_anothers_personal_ones() {
    let app = spawn_core().await;
    let a = app.create_agent_full("agent").await;
    let b = app.create_agent_full("agent").await;
    let shared = create(&app, &app.admin_token(), "hello", "Hello! How can I help?", CannedScope::Shared)
        .await
        .unwrap();
    assert_eq!(shared.scope(), CannedScope::Shared);
    let mine = create(&app, &a.token, "mine", "A's text", CannedScope::Unspecified).await.unwrap();
    assert_eq!(mine.scope(), CannedScope::Personal, "personal when unspecified");
    assert_eq!(mine.owner_id, a.id);
    let theirs = create(&app, &b.token, "theirs", "B's text", CannedScope::Personal).await.unwrap();

    assert_eq!(shortcuts(&list(&app, &a.token, None).await), vec!["hello", "mine"]);
    assert_eq!(shortcuts(&list(&app, &b.token, None).await), vec!["hello", "theirs"]);

    // Someone else's personal response does not exist for A.
    expect_err(
        app.canned(&a.token)
            .update_canned_response(pb::UpdateCannedResponseRequest {
                id: theirs.id.clone(),
                body: Some("hijacked".into()),
                ..Default::default()
            })
            .await,
        "not_found",
    );
    expect_err(
        app.canned(&a.token)
            .delete_canned_response(pb::DeleteCannedResponseRequest { id: theirs.id.clone() })
            .await,
        "not_found",
    );
    let b_list = list(&app, &b.token, None).await;
    let still = b_list.iter().find(|c| c.id == theirs.id).expect("B's response survives");
    assert_eq!(still.body, "B's text");

    // The owner can change and delete their own.
    let changed = ok(
        app.canned(&a.token)
            .update_canned_response(pb::UpdateCannedResponseRequest {
                id: mine.id.clone(),
                body: Some("A's new text".into()),
                ..Default::default()
            })
            .await,
        "UpdateCannedResponse",
    );
    assert_eq!((changed.body.as_str(), changed.shortcut.as_str()), ("A's new text", "mine"));
    ok(
        app.canned(&a.token)
            .delete_canned_response(pb::DeleteCannedResponseRequest { id: mine.id.clone() })
            .await,
        "DeleteCannedResponse",
    );
    assert_eq!(shortcuts(&list(&app, &a.token, None).await), vec!["hello"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shortcut_is_unique_per_owner() {
    let app = spawn_core().await;
    let a = app.create_agent_full("agent").await;
    let b = app.create_agent_full("agent").await;
    create(&app, &a.token, "thanks", "Thank you!", CannedScope::Personal).await.unwrap();
    expect_err(create(&app, &a.token, "thanks", "Thanks again", CannedScope::Personal).await, "conflict");
    // Another owner may use the same shortcut.
    create(&app, &b.token, "thanks", "Many thanks", CannedScope::Personal).await.unwrap();
    let a_list = list(&app, &a.token, None).await;
    assert_eq!(a_list.len(), 1);
    assert_eq!(a_list[0].body, "Thank you!");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_responses_need_canned_manage_shared() {
    let app = spawn_core().await;
    let agent = app.create_agent_full("agent").await;
    let supervisor = app.create_agent_full("supervisor").await;

    expect_err(create(&app, &agent.token, "team", "Team text", CannedScope::Shared).await, "forbidden");
    let shared = create(&app, &supervisor.token, "team", "Team text", CannedScope::Shared).await.unwrap();
    assert_eq!(shared.scope(), CannedScope::Shared);

    // The agent sees it but cannot change or delete it.
    assert_eq!(shortcuts(&list(&app, &agent.token, None).await), vec!["team"]);
    expect_err(
        app.canned(&agent.token)
            .update_canned_response(pb::UpdateCannedResponseRequest {
                id: shared.id.clone(),
                body: Some("changed".into()),
                ..Default::default()
            })
            .await,
        "forbidden",
    );
    expect_err(
        app.canned(&agent.token)
            .delete_canned_response(pb::DeleteCannedResponseRequest { id: shared.id.clone() })
            .await,
        "forbidden",
    );
    // Nor turn a personal one into a shared one.
    let own = create(&app, &agent.token, "own", "Own text", CannedScope::Personal).await.unwrap();
    expect_err(
        app.canned(&agent.token)
            .update_canned_response(pb::UpdateCannedResponseRequest {
                id: own.id.clone(),
                scope: CannedScope::Shared as i32,
                ..Default::default()
            })
            .await,
        "forbidden",
    );
    let listed = list(&app, &agent.token, None).await;
    assert_eq!(listed.iter().find(|c| c.id == shared.id).unwrap().body, "Team text");
    assert_eq!(listed.iter().find(|c| c.id == own.id).unwrap().scope(), CannedScope::Personal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canned_search_matches_shortcut_title_and_body_ignoring_case() {
    let app = spawn_core().await;
    let admin = app.admin_token();
    create(&app, &admin, "refund", "We will refund you.", CannedScope::Personal).await.unwrap();
    create(&app, &admin, "ship", "Your PARCEL is on its way.", CannedScope::Personal).await.unwrap();
    create(&app, &admin, "bye", "Goodbye!", CannedScope::Shared).await.unwrap();

    assert_eq!(shortcuts(&list(&app, &admin, Some("REFUND")).await), vec!["refund"]);
    assert_eq!(shortcuts(&list(&app, &admin, Some("parcel")).await), vec!["ship"]);
    assert_eq!(shortcuts(&list(&app, &admin, Some("title of b")).await), vec!["bye"]);
    assert!(list(&app, &admin, Some("nothing-matches-this")).await.is_empty());
    assert_eq!(list(&app, &admin, None).await.len(), 3);
}
